"""What limits the design space: which CQA is active where, and which CQA to relax.

* :func:`limiting_cqa` — per grid point, the fraction of θm samples that violate each CQA
  and the CQA violated most often (the *limiting* CQA).  Flexibility-index maps already
  carry the analogue per point (``worst_constraint``: the CQA that bounds δ); this gives it
  for Monte Carlo maps (Algorithm 1), from the model's vectorised simulator.
* :func:`rank_cqas` — for each CQA, how many grid points join the Monte Carlo region
  (P ≥ confidence) when that CQA alone is relaxed; a table sorted by the points gained.
  This is the ``rankinequalities`` idea of FlexJuMP (Stuber et al.) done by sampling on
  the simulator instead of by an optimisation problem per inequality.

Both use common random numbers: the same θm samples (``sample_theta_m``, ``random_state``)
at every point and for every relaxation, so differences between CQAs are not sampling
noise between runs.  A sample whose simulation fails (any g not finite) counts as
infeasible, as in :func:`~flexspace.designspace.monte_carlo_map`, is reported separately
(``failed``) and is never attributed to a CQA.  The layer on a map:
:func:`flexspace.designspace.plotting.plot_limiting_cqa`.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Union

import numpy as np

from ..errors import ValidationError
from ..validation import check_number, check_probability, check_random_state
from .maps import make_grid
from .results import DesignSpaceMap

__all__ = ["limiting_cqa", "rank_cqas", "cqa_scales"]

#: the ``limiting`` label of a point where no sample violates any CQA
NONE = ""


def _grid_of(model, dmap_or_grid):
    """(axes, points) from a DesignSpaceMap (checked against the model) or a grid spec."""
    if isinstance(dmap_or_grid, DesignSpaceMap):
        dmap = dmap_or_grid
        if list(dmap.theta_p_names) != list(model.theta_p_names):
            raise ValidationError(f"the map is over {dmap.theta_p_names}, the model has process parameters "
                                  f"{model.theta_p_names}: give the model the map was computed for")
        g_names = dmap.settings.get("model", {}).get("g_names")
        if g_names is not None and list(g_names) != list(model.g_names):
            raise ValidationError(f"the map was computed for CQAs {g_names}, the model has {model.g_names}")
        return list(dmap.axes), dmap.points
    import itertools

    axes = make_grid(model, dmap_or_grid)
    return axes, np.array(list(itertools.product(*axes)), dtype=float).reshape(-1, len(axes))


def _samples(model, n_samples, random_state):
    from ..montecarlo import sample_theta_m

    if model.simulator is None:
        raise ValidationError(f"model {model.name!r} has no vectorised simulator: the limiting CQA is counted "
                              "from simulated samples; give the ProcessModel a simulator=")
    check_random_state("random_state", random_state)
    return sample_theta_m(model, n_samples, random_state)


def _violations(g: np.ndarray):
    """(failed (N,), violated (N, K)) of one point's g; failed samples violate no CQA."""
    failed = ~np.all(np.isfinite(g), axis=1)
    violated = (np.nan_to_num(g, nan=0.0, posinf=0.0, neginf=0.0) > 0.0) & ~failed[:, None]
    return failed, violated


def limiting_cqa(model, dmap_or_grid=None, n_samples: int = 1000, random_state=0):
    """The limiting CQA at every point of a map or grid, by Monte Carlo (a sampled estimate).

    ``dmap_or_grid``: a :class:`DesignSpaceMap` (its points, in its order), or a grid as for
    :func:`~flexspace.designspace.make_grid` (None: the model's default grid; one point:
    one value per axis, e.g. ``[[4.6], [500.0]]``).  θm samples: ``n_samples`` draws with
    ``random_state``, the same at every point; pass the map's own ``n_samples`` and
    ``random_state`` to reproduce its probabilities exactly.

    Returns a ``pandas.DataFrame`` aligned with the points (θp columns first), with
    ``probability`` (all g_k ≤ 0, failed samples infeasible), ``failed`` (fraction of samples
    whose simulation failed), ``violated:<cqa>`` (fraction of samples violating that CQA),
    ``only:<cqa>`` (fraction violating that CQA and no other: what relaxing it alone can
    recover), ``limiting`` (the CQA violated by the most samples; ties go to the CQA listed
    first in ``model.g_names``; "" where no sample violates any CQA) and ``limiting_share``
    (fraction of the infeasible, non-failed samples that violate the limiting CQA)."""
    import pandas as pd

    n_samples = check_number("n_samples", n_samples, integer=True, low=1, hint="samples per grid point, e.g. 1000")
    axes, points = _grid_of(model, dmap_or_grid)
    tm = _samples(model, n_samples, random_state)
    names = list(model.g_names)
    rows = []
    for tp in points:
        failed, violated = _violations(model.simulate(tp, tm))
        frac = violated.mean(axis=0)
        bad = violated.any(axis=1)
        only = (violated & (violated.sum(axis=1) == 1)[:, None]).mean(axis=0)
        k = int(np.argmax(frac))
        lim = names[k] if frac[k] > 0 else NONE
        share = float(violated[:, k].sum() / bad.sum()) if bad.any() else float("nan")
        row = {n: float(v) for n, v in zip(model.theta_p_names, tp)}
        row.update(probability=float(np.mean(~failed & ~bad)), failed=float(failed.mean()))
        row.update({f"violated:{n}": float(f) for n, f in zip(names, frac)})
        row.update({f"only:{n}": float(f) for n, f in zip(names, only)})
        row.update(limiting=lim, limiting_share=share)
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs.update(g_names=names, axes=[a.tolist() for a in axes], n_samples=n_samples,
                     random_state=random_state)
    return out


def cqa_scales(model, n_samples: int = 1000, random_state=0, theta_p=None) -> Dict[str, float]:
    """The scale s_k of each CQA used by :func:`rank_cqas`: the standard deviation of g_k over
    the θm samples at ``theta_p`` (default the model's nominal θp), failed samples left out.
    A CQA that does not vary with θm there (s_k = 0 or no finite sample) gets the scale
    ``max(|median g_k|, 1e-12)`` instead, so that a relative relaxation stays meaningful."""
    tm = _samples(model, n_samples, random_state)
    tp = model.theta_p_nominal if theta_p is None else np.asarray(theta_p, float)
    g = model.simulate(tp, tm)
    g = g[np.all(np.isfinite(g), axis=1)]
    out = {}
    for k, n in enumerate(model.g_names):
        s = float(np.std(g[:, k])) if len(g) > 1 else 0.0
        if not (np.isfinite(s) and s > 0):
            s = max(abs(float(np.median(g[:, k]))) if len(g) else 0.0, 1e-12)
        out[n] = s
    return out


def _relax_amounts(model, relax, n_samples, random_state):
    """``relax`` -> (absolute amount per CQA, scale per CQA or None, how it was defined)."""
    names = list(model.g_names)
    if isinstance(relax, Mapping):
        unknown = sorted(set(relax) - set(names))
        if unknown or set(relax) != set(names):
            raise ValidationError(f"relax: give an absolute amount for every CQA {names} "
                                  f"(unknown: {unknown}, missing: {sorted(set(names) - set(relax))})")
        amounts = {n: check_number(f"relax[{n!r}]", relax[n], low=0) for n in names}
        return amounts, {n: float("nan") for n in names}, "absolute"
    relax = check_number("relax", relax, low=0, hint="a fraction of each CQA's scale, e.g. 0.05")
    scales = cqa_scales(model, n_samples, random_state)
    return {n: relax * scales[n] for n in names}, scales, f"{relax:g} x std of g_k at nominal theta_p"


def _region_counts(model, points, tm, amounts, confidence):
    """Feasible fraction per point, unrelaxed and with each CQA relaxed alone: (P, K + 1)."""
    names = list(model.g_names)
    shift = np.array([amounts[n] for n in names], float)
    probs = np.empty((len(points), len(names) + 1))
    for i, tp in enumerate(points):
        g = model.simulate(tp, tm)
        failed = ~np.all(np.isfinite(g), axis=1)
        ok = np.nan_to_num(g, nan=np.inf) <= 0.0  # (N, K)
        probs[i, 0] = np.mean(~failed & ok.all(axis=1))
        for k in range(len(names)):
            okk = ok.copy()
            okk[:, k] = np.nan_to_num(g[:, k], nan=np.inf) <= shift[k]
            probs[i, k + 1] = np.mean(~failed & okk.all(axis=1))
    return probs


def rank_cqas(model, grid=None, relax: Union[float, Mapping[str, float]] = 0.05, n_samples: int = 1000,
              confidence: float = 0.85, random_state=0):
    """Rank the CQAs by how much the Monte Carlo design space grows when each one is relaxed.

    For each CQA k alone, g_k ≤ 0 becomes g_k ≤ r_k and the region {θp on the grid :
    P(all CQAs hold) ≥ ``confidence``} is recomputed with the same θm samples.  ``relax``:
    a number ε ≥ 0 → r_k = ε·s_k, s_k the standard deviation of g_k over the θm samples at
    the model's nominal θp (:func:`cqa_scales`), so CQAs in different units are relaxed by a
    comparable amount; or a mapping {cqa: absolute amount r_k} for every CQA.

    Returns a ``pandas.DataFrame``, one row per CQA sorted by ``gained`` (ties: by the mean
    probability gain), with ``cqa``, ``relax`` (r_k), ``scale`` (s_k; NaN for absolute
    amounts), ``base_points`` and ``relaxed_points`` (region sizes), ``gained``,
    ``gained_fraction`` (of the grid), ``mean_probability_gain`` (over the grid) and
    ``limiting_points`` (points outside the unrelaxed region where k is the limiting CQA).

    This is a sampled estimate: probabilities carry Monte Carlo error (about
    sqrt(p(1−p)/n_samples)), so a point near the confidence level can flip and a gain of
    one or two points is not significant; common random numbers make the comparison between
    CQAs (and the ordering) much less noisy than the probabilities themselves.  It counts
    grid points, so it resolves the region only to the grid spacing; relaxing one CQA at a
    time ignores interactions (relaxing two CQAs can gain more than the sum); s_k is
    measured at one θp only; and it needs the model's vectorised simulator (failed samples
    stay infeasible under every relaxation)."""
    import pandas as pd

    confidence = check_probability("confidence", confidence)
    n_samples = check_number("n_samples", n_samples, integer=True, low=1, hint="samples per grid point, e.g. 1000")
    axes, points = _grid_of(model, grid)
    tm = _samples(model, n_samples, random_state)
    amounts, scales, how = _relax_amounts(model, relax, n_samples, random_state)
    probs = _region_counts(model, points, tm, amounts, confidence)
    inside = probs >= confidence
    lim = limiting_cqa(model, axes, n_samples, random_state)["limiting"].to_numpy()
    rows = []
    for k, n in enumerate(model.g_names):
        rows.append({"cqa": n, "relax": amounts[n], "scale": scales[n], "base_points": int(inside[:, 0].sum()),
                     "relaxed_points": int(inside[:, k + 1].sum()),
                     "gained": int((inside[:, k + 1] & ~inside[:, 0]).sum()),
                     "gained_fraction": float((inside[:, k + 1] & ~inside[:, 0]).mean()),
                     "mean_probability_gain": float(np.mean(probs[:, k + 1] - probs[:, 0])),
                     "limiting_points": int(((lim == n) & ~inside[:, 0]).sum())})
    out = pd.DataFrame(rows).sort_values(["gained", "mean_probability_gain"], ascending=False, kind="stable")
    out = out.reset_index(drop=True)
    out.attrs.update(relaxation=how, confidence=confidence, n_samples=n_samples, random_state=random_state,
                     grid_points=len(points))
    return out
