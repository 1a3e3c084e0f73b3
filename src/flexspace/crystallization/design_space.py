"""Crystallization design space from OMLT-embedded ML surrogates (the design-space paper's
Algorithms 1-3 on the crystallization paper's CQA models).

The surrogates of the data-driven workflow (one per CQA, trained on the in-silico lab's
DoE) become Pyomo blocks (:mod:`flexspace.surrogates.omlt_embed`) and a plug-in process
model (:class:`flexspace.models.surrogate.SurrogateProcessModel`, built by
:func:`flexspace.surrogates.omlt_process.surrogate_process_model`):

* θp = two chosen profile features (default ``seed_loading`` and ``C``), every other
  feature fixed at a reference profile (default: :func:`reference_profile`, a two-cycle
  thermocycle profile; feasible for Eq. 2–5 whatever the rates and seed loading are);
* θm = an additive error per CQA, σ_k from Monte-Carlo cross-validation ensembles
  (:class:`flexspace.surrogates.uq.EnsembleRegressor`): the mean ensemble SD over the
  training rows (``sigma="ensemble"``, model uncertainty) or that plus the out-of-sample
  residual variance (``sigma="total"``, a predictive SD);
* g = CQA limits: D50 ≥ L_D50, DoA ≤ U_DoA, crystallinity ≥ L_cryst.

:func:`run_design_space` maps it on an ``n × n`` grid with Monte Carlo (Algorithm 1) and
the flexibility index (Algorithm 2) and finds the Algorithm 3 rectangle (extended
flexibility test + bisection), then checks the ordering Alg 3 ⊆ Alg 2 ⊆ MC and writes
``design_space.csv`` and ``design_space.png``.  Algorithms 1-3 are the one implementation
in :mod:`flexspace.designspace` (:func:`~flexspace.designspace.monte_carlo_map`,
:func:`~flexspace.designspace.flexibility_index_map`,
:func:`~flexspace.designspace.flexibility_test_region`, which accepts a bisection step only
when the extended test is proven); a grid point is in a region only by
:meth:`~flexspace.designspace.DesignSpaceMap.region`.

Solver routing: tree ensembles and ReLU networks give MILPs (HiGHS with the box set, SCIP
with ellipsoids), smooth networks NLPs (default Ipopt with a-posteriori certification — see
:func:`default_solver` for why not MAiNGO here).
"""
from __future__ import annotations

import dataclasses
import numbers
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ..errors import InputTypeError, UnknownNameError, ValidationError
from ..models.surrogate import SurrogateProcessModel
from ..options import OptionsLike, resolve_options
from ..surrogates.omlt_process import EmbeddingSpec, surrogate_process_model
from .doe import generate_doe, thermocycle_profile
from .profile import CQA_NAMES, CQA_UNITS, FEATURE_BOUNDS, FEATURE_NAMES

__all__ = ["SURROGATE_KINDS", "DEFAULT_PARAMS", "reference_profile", "design_input_bounds", "make_surrogate",
           "fit_crystallization_surrogates", "build_design_space_model", "auto_limits", "run_design_space",
           "FittedSurrogates", "SurrogateSpec", "SurrogateLike", "DEFAULT_OPTIONS", "AUTO_LIMITS_GRID", "FEATURE_UNITS",
           "axis_label", "alg3_not_converged_reason"]

SURROGATE_KINDS = ("mlp", "rf", "gbt")
DEFAULT_PARAMS = ("seed_loading", "C")
DEFAULT_CQAS = ("D50", "DoA", "crystallinity")
LIMIT_SENSE = {"D50": ">=", "DoA": "<=", "crystallinity": ">="}
SIGMA_KINDS = ("ensemble", "total")
#: Points per θp axis of the grid on which :func:`auto_limits` takes its quantiles: fixed, so
#: that the default limits (the problem being mapped) do not change with the map's grid size.
AUTO_LIMITS_GRID = 21
#: Unit of each of the 13 profile features (axis labels; crystallization paper, Table 2).
FEATURE_UNITS = {"c0": "mg/g solvent", "seed_loading": "g seed/g solute", "C": "°C/min", "H": "°C/min",
                 **{f"T{i}": "°C" for i in range(2, 11)}}


def axis_label(name: str) -> str:
    """``name [unit]`` of a profile feature (axis labels of the design-space figures)."""
    return f"{name} [{FEATURE_UNITS[name]}]" if name in FEATURE_UNITS else name


def reference_profile() -> np.ndarray:
    """The fixed profile around which θp varies: c0 = 40 mg/g, seed loading 0.10,
    C = 0.15 °C/min, H = 0.75 °C/min, two thermocycles (8 °C amplitude) ending at 10 °C."""
    return thermocycle_profile(40.0, 0.10, 0.15, 0.75, 10.0, cycles=2)


def design_input_bounds() -> np.ndarray:
    """Block input bounds: crystallization paper, Table 2, with ``H`` down to 0 (0 = no heating, Eq. 4)."""
    b = np.array([FEATURE_BOUNDS[n] for n in FEATURE_NAMES], float)
    b[FEATURE_NAMES.index("H"), 0] = 0.0
    return b


@dataclass(frozen=True)
class SurrogateSpec:
    """What :func:`run_design_space` fits and embeds: the data, the surrogates, θp, θm and g.

    Attributes
    ----------
    kind : surrogate type, one of :data:`SURROGATE_KINDS` (:func:`make_surrogate`).
    params : the two profile features that are θp (names in
        :data:`~flexspace.crystallization.profile.FEATURE_NAMES`); every other feature is
        fixed at :func:`reference_profile`.
    limits : ``{cqa: (">=", L) | ("<=", U)}``, the CQA limits g.  None: data-driven
        limits (:func:`auto_limits`, a demonstration, not a specification).
    sigma : θm standard deviation per CQA: ``"ensemble"`` (MCCV ensemble spread, model
        uncertainty) or ``"total"`` (that plus the out-of-sample residual variance).
    activation : MLP hidden activation (``kind="mlp"`` only): ``"relu"`` gives a MILP,
        ``"tanh"`` a smooth NLP.
    n_members : MCCV ensemble members behind σ (:class:`flexspace.surrogates.uq.EnsembleRegressor`).
    doe : the training DoE (13 feature columns + CQA columns, e.g.
        :func:`~flexspace.crystallization.doe.load_doe`).  None: generated by the in-silico
        lab (:func:`~flexspace.crystallization.doe.generate_doe`).
    doe_kwargs : keyword arguments of ``generate_doe`` when ``doe`` is None.  None: a
        small hold-out search (``{"holdout_kwargs": {"pop_size": 6, "n_gen": 2}}``).

    The random state of the DoE, the fits and the Monte Carlo samples is
    :func:`run_design_space`'s ``random_state``.
    """

    kind: str = "gbt"
    params: Sequence[str] = DEFAULT_PARAMS
    limits: Optional[Mapping] = None
    sigma: str = "ensemble"
    activation: str = "relu"
    n_members: int = 10
    doe: Optional[pd.DataFrame] = field(default=None, compare=False, repr=False)
    doe_kwargs: Optional[Mapping] = None

    def __post_init__(self):
        if self.kind not in SURROGATE_KINDS:
            raise UnknownNameError(f"unknown surrogate {self.kind!r}; choose from {SURROGATE_KINDS}")
        if self.sigma not in SIGMA_KINDS:
            raise ValidationError(f"sigma must be one of {SIGMA_KINDS}, got {self.sigma!r}")
        if isinstance(self.n_members, bool) or not isinstance(self.n_members, numbers.Integral) \
                or self.n_members < 2:
            raise ValidationError(f"n_members must be an int >= 2 (ensemble members), got {self.n_members!r}")

    def replace(self, **changes) -> "SurrogateSpec":
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)


#: ``run_design_space(surrogate=...)``: a :class:`SurrogateSpec`, a surrogate kind
#: (``"gbt"``), a dict of changes to ``SurrogateSpec()``, or None for ``SurrogateSpec()``.
SurrogateLike = Union[SurrogateSpec, str, Mapping, None]

#: ``run_design_space(options=None)``: 60 s per solve, as changes to the preset of each
#: algorithm (``"index_map"`` for Algorithm 2, ``"bisection"`` for Algorithm 3).
DEFAULT_OPTIONS = {"time_limit": 60.0}


def _resolve_surrogate(surrogate: SurrogateLike) -> SurrogateSpec:
    if isinstance(surrogate, SurrogateSpec):
        return surrogate
    if surrogate is None:
        return SurrogateSpec()
    if isinstance(surrogate, str):
        return SurrogateSpec(kind=surrogate)
    if isinstance(surrogate, Mapping):
        return SurrogateSpec(**dict(surrogate))
    raise InputTypeError(f"surrogate must be a SurrogateSpec, a kind {SURROGATE_KINDS}, a dict or None; "
                         f"got {type(surrogate).__name__}")


def make_surrogate(kind: str, random_state: int = 0, activation: str = "relu"):
    """Unfitted, embeddable surrogate: ``rf`` (30 trees, depth ≤ 6), ``gbt`` (50 stages,
    depth 3) — ``StandardScaler`` + estimator pipelines as in :mod:`flexspace.surrogates.selection`
    — or ``mlp`` (one hidden layer of 10, ``activation``, L-BFGS, inputs and target
    standardised)."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "rf":
        est = RandomForestRegressor(n_estimators=30, max_depth=6, min_samples_leaf=2, random_state=random_state,
                                    n_jobs=1)
        return Pipeline([("scaler", StandardScaler()), ("model", est)])
    if kind == "gbt":
        est = GradientBoostingRegressor(n_estimators=50, max_depth=3, learning_rate=0.1, random_state=random_state)
        return Pipeline([("scaler", StandardScaler()), ("model", est)])
    if kind == "mlp":
        est = MLPRegressor(hidden_layer_sizes=(10,), activation=activation, solver="lbfgs", alpha=1.0,
                           max_iter=5000, random_state=random_state)
        return TransformedTargetRegressor(Pipeline([("scaler", StandardScaler()), ("model", est)]),
                                          transformer=StandardScaler())
    raise UnknownNameError(f"unknown surrogate {kind!r}; choose from {SURROGATE_KINDS}")


class FittedSurrogates(dict):
    """``{cqa: fitted estimator}`` plus ``sigma`` (ensemble) and ``sigma_total`` dicts."""

    kind: str
    sigma: dict
    sigma_total: dict
    n_rows: dict


def fit_crystallization_surrogates(doe: pd.DataFrame, kind: str, cqas: Sequence[str] = DEFAULT_CQAS,
                                   n_members: int = 10, random_state: int = 0,
                                   activation: str = "relu") -> FittedSurrogates:
    """Fit one surrogate per CQA on every row where it was measured (training and hold-out
    runs, as the workflow deploys), and its MCCV ensemble σ."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from ..surrogates.uq import EnsembleRegressor

    out = FittedSurrogates()
    out.kind, out.sigma, out.sigma_total, out.n_rows = kind, {}, {}, {}
    for k in cqas:
        sub = doe[doe[k].notna()]
        X, y = sub[list(FEATURE_NAMES)].to_numpy(float), sub[k].to_numpy(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = make_surrogate(kind, random_state, activation).fit(X, y)
            ens = EnsembleRegressor(make_surrogate(kind, random_state, activation), method="mccv",
                                    n_members=n_members, random_state=random_state).fit(X, y)
            _, sd = ens.predict(X, return_std=True)
            _, sdt = ens.predict(X, return_std=True, total=True)
        out[k] = est
        out.sigma[k] = float(np.mean(sd))
        out.sigma_total[k] = float(np.mean(sdt))
        out.n_rows[k] = len(y)
    return out


def _grid(bounds, n):
    """``n`` points per axis from lower to upper bound; ``n = 1``: the midpoint of each axis."""
    if n == 1:
        return [np.array([0.5 * (lo + hi)]) for lo, hi in bounds]
    return [np.linspace(lo, hi, n) for lo, hi in bounds]


def auto_limits(fitted: Mapping, params: Sequence[str], reference=None, n_grid: int = AUTO_LIMITS_GRID,
                quantile: float = 0.25, margin: float = 2.0, sigma: Optional[Mapping] = None) -> dict:
    """Data-driven default limits (a demonstration, not a specification): for each CQA
    the ``quantile`` (D50, crystallinity) or ``1 − quantile`` (DoA) of the surrogate's
    prediction over the θp grid, moved ``margin`` σ_k towards the worse side.  So at
    least ``1 − 3·quantile`` of the grid meets every limit with ``margin`` σ to spare and
    the map is neither empty nor full.  Pass your own limits for a real specification.

    The quantiles are taken on their own ``n_grid`` grid (default :data:`AUTO_LIMITS_GRID`),
    not on the map's: :func:`run_design_space` maps the same limits at every grid size."""
    x0 = reference_profile() if reference is None else np.asarray(reference, float)
    idx = [FEATURE_NAMES.index(p) for p in params]
    b = design_input_bounds()[idx]
    g1, g2 = _grid(b, n_grid)
    P1, P2 = np.meshgrid(g1, g2, indexing="ij")
    X = np.repeat(x0[None, :], P1.size, axis=0)
    X[:, idx[0]], X[:, idx[1]] = P1.ravel(), P2.ravel()
    lims = {}
    for k, est in fitted.items():
        pred = np.asarray(est.predict(X), float)
        sense = LIMIT_SENSE.get(k, ">=")
        q = quantile if sense == ">=" else 1 - quantile
        s = float((sigma or getattr(fitted, "sigma", {})).get(k, 0.0)) * margin
        val = np.quantile(pred, q) - s if sense == ">=" else np.quantile(pred, q) + s
        lims[k] = (sense, float(np.round(val, 3)))
    return lims


def build_design_space_model(fitted: FittedSurrogates, params: Sequence[str] = DEFAULT_PARAMS, reference=None,
                             limits: Optional[Mapping] = None, sigma: str = "ensemble",
                             reduced_space: bool = False) -> SurrogateProcessModel:
    """The :class:`~flexspace.models.surrogate.SurrogateProcessModel` of the embedded surrogates
    (module docstring).  ``limits=None``: :func:`auto_limits` on its fixed grid
    (:data:`AUTO_LIMITS_GRID`), whatever grid the map is computed on."""
    params = list(params)
    if len(params) < 1:
        raise ValidationError("give at least one parameter")
    for p in params:
        if p not in FEATURE_NAMES:
            raise UnknownNameError(f"unknown parameter {p!r}; choose from {list(FEATURE_NAMES)}")
    x0 = reference_profile() if reference is None else np.asarray(reference, float)
    sig = fitted.sigma if sigma == "ensemble" else fitted.sigma_total
    lims = dict(limits) if limits is not None else auto_limits(fitted, params, x0, sigma=sig)
    return surrogate_process_model(dict(fitted), lims, FEATURE_NAMES, params, x0, sig, design_input_bounds(),
                                   name=f"crystallization_{fitted.kind}",
                                   embedding=EmbeddingSpec(reduced_space=reduced_space))


# --------------------------------------------------------------------------- Algorithms 1-3
#: ``result["driver"]``: the design-space paper's Algorithms 1-3 have one implementation,
#: :mod:`flexspace.designspace`
DRIVER = "flexspace.designspace (monte_carlo_map, flexibility_index_map, flexibility_test_region)"


def _choose_center(grids, D):
    """Alg-3 centre: the grid point of largest δ closest to the centroid of those points."""
    if not np.any(np.isfinite(D)):
        return None
    best = np.nanmax(D)
    ii, jj = np.nonzero(np.isclose(D, best, rtol=0, atol=1e-9))
    ci, cj = ii.mean(), jj.mean()
    k = int(np.argmin((ii - ci) ** 2 + (jj - cj) ** 2))
    return np.array([grids[0][ii[k]], grids[1][jj[k]]])


def _run_maps(model, grids, run, timings, log):
    """Algorithm 1 (:func:`flexspace.designspace.monte_carlo_map`) and Algorithm 2
    (:func:`flexspace.designspace.flexibility_index_map`) on the grid; returns both maps."""
    from .. import designspace

    n1, n2 = len(grids[0]), len(grids[1])
    t0 = time.perf_counter()
    mc = designspace.monte_carlo_map(model, grid=grids, n_samples=run["n_samples"], random_state=run["random_state"],
                                     progress=False)
    timings["mc_s"] = time.perf_counter() - t0
    log(f"Monte Carlo map ({n1}x{n2}, N={run['n_samples']}): {timings['mc_s']:.1f} s")
    t0 = time.perf_counter()
    fi = designspace.flexibility_index_map(model, grid=grids, uncertainty_set=run["uncertainty_set"],
                                           solver=run["solver"], options=run["map_options"], progress=False)
    timings["alg2_s"] = time.perf_counter() - t0
    log(f"Algorithm 2 map ({run['solver']}, {run['uncertainty_set']}): {timings['alg2_s']:.1f} s")
    return mc, fi


def _fi_delta(fi):
    """δ of the Algorithm 2 map on the grid, NaN where the map says the point failed."""
    D = fi.table["delta"].to_numpy(float).copy().reshape(fi.shape)
    D[fi.failed] = np.nan
    return D


def _run_alg3(model, fi, grids, run):
    """Algorithm 3 (:func:`flexspace.designspace.flexibility_test_region`, proven steps
    only) around the grid point of largest δ, when the Algorithm 2 region is not empty.
    A bracket error (e.g. :class:`~flexspace.designspace.NominalInfeasibleError`) is
    reported as the status; a box feasible as a whole (upper end of the bracket proven
    feasible) is the rectangle with δp = 1."""
    from .. import designspace

    center = _choose_center(grids, _fi_delta(fi))
    out = {"center": center, "rectangle": None, "delta_p": 0.0, "n_tests": 0, "region": None, "reason": ""}
    if center is None or not fi.region(run["confidence"]).any():
        out["status"] = "no point reaches p_c"
        return out
    try:
        reg = designspace.flexibility_test_region(model, confidence=run["confidence"], theta_p_nominal=center,
                                                  uncertainty_set=run["uncertainty_set"], solver=run["solver"],
                                                  options=run["region_options"])
    except designspace.BracketError as exc:  # includes NominalInfeasibleError
        out["status"] = f"{type(exc).__name__}: {exc}"
        if "upper end" in str(exc):  # the whole θp box is feasible at p_c
            out.update(rectangle=np.array(model.theta_p_bounds, float), delta_p=1.0,
                       status="whole box feasible (delta_p^U = 1)")
        return out
    converged = reg.rectangle.converged
    out.update(rectangle=np.column_stack([reg.lower, reg.upper]), delta_p=float(reg.delta_p),
               n_tests=int(reg.n_solves), status="ok" if converged else "not converged", region=reg,
               reason="" if converged else alg3_not_converged_reason(reg))
    return out


def alg3_not_converged_reason(reg, max_iter: Optional[int] = None) -> str:
    """Why Algorithm 3 stopped before χ reached its window ``−ε_tol ≤ χ ≤ 0`` at the largest
    feasible δp: the time budget ran out (the region's notes), extended tests failed or were
    undecided (solver statuses), the test budget ``max_iter`` was spent, or the bracket closed
    on a proven-feasible δp whose χ stays below the window (χ jumps there, as it does for
    piecewise-constant tree surrogates).  ``max_iter``: the :class:`~flexspace.designspace.Bisection`
    test budget (default: ``Bisection().max_iter``, the one :func:`_run_alg3` uses).  Empty when
    the rectangle converged."""
    from ..designspace import Bisection

    rect = reg.rectangle
    if rect.converged:
        return ""
    why = list(reg.notes)
    bad = [it for it in rect.iterations if str(getattr(it.status, "value", it.status)) in ("failed", "undecided")]
    if bad:
        last = bad[-1]
        why.append(f"{len(bad)} of {len(rect.iterations)} extended tests failed or were not proven "
                   f"(last at delta_p = {last.delta_p:.4g}: {last.message[:160] or last.status})")
    max_iter = Bisection().max_iter if max_iter is None else int(max_iter)
    n_bisect = sum(1 for it in rect.iterations if it.phase != "bracket")
    if n_bisect >= max_iter:
        why.append(f"the test budget max_iter = {max_iter} was spent")
    if not why:
        why.append(f"the bracket closed at delta_p = {rect.delta_p:.4g} with chi = {rect.chi:.4g} below the "
                   f"stopping window [-{reg.eps_tol:g}, 0]: chi jumps across that delta_p (as it does "
                   "for piecewise-constant tree surrogates): the rectangle is proven feasible, no larger one was found")
    return "; ".join(why)


def _profile_validity(model, params, P1, P2, log):
    """Is the profile at each grid point a valid one (Table 2, Eq. 2-5)?  Temperature
    parameters can leave the valid set (e.g. T above the seeding temperature)."""
    from .profile import is_feasible

    Xg = np.repeat(model.fixed_values[None, :], P1.size, axis=0)
    Xg[:, FEATURE_NAMES.index(params[0])] = P1.ravel()
    Xg[:, FEATURE_NAMES.index(params[1])] = P2.ravel()
    prof_ok = np.asarray(is_feasible(Xg), bool)
    if not prof_ok.all():
        log(f"warning: {int((~prof_ok).sum())} grid points are not valid profiles (Table 2 / Eq. 2-5): "
            "see the profile_feasible column")
    return prof_ok


def _in_rectangle(P1, P2, rect, bounds):
    if rect is None:
        return np.zeros(P1.shape, dtype=bool)
    eps = 1e-9 * (np.abs(bounds).max() + 1)
    return ((P1 >= rect[0, 0] - eps) & (P1 <= rect[0, 1] + eps) & (P2 >= rect[1, 0] - eps)
            & (P2 <= rect[1, 1] + eps))


def _ordering(in_mc, in_fi, in_a3, fi):
    """Sizes of the three regions (grid points) and the points that break Alg 3 ⊆ Alg 2 ⊆ MC."""
    o = {"n_in_mc": int(in_mc.sum()), "n_alg2": int(in_fi.sum()), "n_alg3": int(in_a3.sum()),
         "alg3_not_in_alg2": int((in_a3 & ~in_fi).sum()), "alg2_not_in_mc": int((in_fi & ~in_mc).sum()),
         "n_failed_alg2": int(fi.failed.sum())}
    o["holds"] = o["alg3_not_in_alg2"] == 0 and o["alg2_not_in_mc"] == 0
    return o


def _design_table(params, P1, P2, mc, fi, in_mc, in_fi, in_a3, prof_ok):
    """One row per grid point; the regions are the maps' own :meth:`DesignSpaceMap.region`."""
    ft = fi.table
    n_failed = mc.table["n_failed"].to_numpy(float) if "n_failed" in mc.table else np.zeros(P1.size)
    return pd.DataFrame({params[0]: P1.ravel(), params[1]: P2.ravel(), "mc_probability": mc.probability.ravel(),
                         "mc_std_error": mc.std_error.ravel(), "mc_failed": n_failed, "fi_delta": _fi_delta(fi).ravel(),
                         "fi_probability": fi.probability.ravel(), "fi_status": ft["status"].astype(str).to_numpy(),
                         "fi_certified": ft["certified"].fillna(False).astype(bool).to_numpy(),
                         "in_mc": in_mc.ravel(), "in_alg2": in_fi.ravel(), "in_alg3": in_a3.ravel(),
                         "profile_feasible": prof_ok})


def default_solver(model: SurrogateProcessModel) -> str:
    """HiGHS for MILP surrogates (trees, ReLU nets, global); Ipopt for smooth nets.

    Not MAiNGO for the smooth nets of this model (measured, maingopy 0.10.3 through
    ``appsi_maingo``): on the index NLP of a tanh MLP with 11 of 13 inputs fixed, MAiNGO
    with flexspace's feasibility tolerance (1e-8) reports the problem *infeasible* (so
    δ would be capped at δ_max — a region over-stated), and with 1e-6/1e-7 it returns
    δ = 5.736/5.772 as "optimal" while the point δ = 5.577 (Ipopt; analytic −g/σ) is
    feasible.  Ipopt's results are certified a posteriori by sampling (the flexibility
    analysis does it for local solvers).  ``--solver maingo`` still works on request."""
    return "highs" if model.problem_class == "milp" else "ipopt"


def _fit_and_embed(spec: SurrogateSpec, random_state, timings):
    """DoE (generated when ``spec.doe`` is None) → fitted surrogates → embedded process model."""
    t0 = time.perf_counter()
    doe = spec.doe
    if doe is None:
        doe = generate_doe(random_state=random_state,
                           **(spec.doe_kwargs or {"holdout_kwargs": {"pop_size": 6, "n_gen": 2}}))
    timings["doe_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fitted = fit_crystallization_surrogates(doe, spec.kind, random_state=random_state, n_members=spec.n_members,
                                            activation=spec.activation)
    timings["fit_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = build_design_space_model(fitted, spec.params, limits=spec.limits, sigma=spec.sigma)
    timings["embed_s"] = time.perf_counter() - t0
    return fitted, model


def run_design_space(surrogate: SurrogateLike = None, out_dir=None, *, n_grid: int = 21, confidence: float = 0.85,
                     n_samples: int = 2000, uncertainty_set="box", solver: Optional[str] = None,
                     options: OptionsLike = None, random_state: int = 0, verbose: bool = True) -> dict:
    """Fit surrogates, embed them, map the design space (MC, Alg 2, Alg 3), check the
    ordering, write ``out_dir/design_space.csv`` and ``.png`` (when ``out_dir`` is given).

    Parameters
    ----------
    surrogate : what is fitted and embedded — a :class:`SurrogateSpec` (kind, θp
        ``params``, ``limits``, ``sigma``, ``activation``, ``n_members``, ``doe``), a kind
        (``"gbt"``), a dict of changes to ``SurrogateSpec()``, or None for ``SurrogateSpec()``.
    out_dir : where the CSVs, ``design_space.md`` and ``design_space.png`` go (None: nothing written).
    n_grid : grid points per θp axis (1: the midpoint of each axis); the default limits of
        :func:`auto_limits` do not depend on it.
    confidence : p_c, the probability a point of the design space must reach.
    n_samples : Monte Carlo samples per grid point (Algorithm 1).
    uncertainty_set : a set name (``"box"``, ``"ellipsoid"``, ``"ldl"``) or an
        :class:`~flexspace.formulations.UncertaintySet` (Algorithms 2 and 3).
    solver : default :func:`default_solver` (HiGHS for MILP surrogates, Ipopt for smooth nets).
    options : :class:`~flexspace.options.SolveOptions` for Algorithms 2 and 3, a preset name,
        or a dict of changes to each algorithm's preset (``"index_map"``, ``"bisection"``).
        None: :data:`DEFAULT_OPTIONS` (60 s per solve).
    random_state : seed of the DoE, the fits and the Monte Carlo samples.
    verbose : print one line per step.

    Algorithms 1-3 are those of :mod:`flexspace.designspace`; a grid point is in a region
    only by :meth:`DesignSpaceMap.region` (failed points never are).  Returns a dict with
    the model, the maps, the rectangle, timings and the ordering check."""
    _check_run_inputs(n_grid, confidence, n_samples, uncertainty_set, random_state)
    spec = _resolve_surrogate(surrogate)
    opts = DEFAULT_OPTIONS if options is None else options
    run = {"confidence": confidence, "n_samples": n_samples, "uncertainty_set": uncertainty_set,
           "random_state": random_state, "map_options": resolve_options(opts, "index_map"),
           "region_options": resolve_options(opts, "bisection")}
    log = (lambda s: print(f"[design-space] {s}", flush=True)) if verbose else (lambda s: None)
    timings = {}
    fitted, model = _fit_and_embed(spec, random_state, timings)
    run["solver"] = solver or default_solver(model)
    sig = fitted.sigma if spec.sigma == "ensemble" else fitted.sigma_total
    log(f"{spec.kind}: limits {model.limits}, sigma {({k: round(v, 3) for k, v in sig.items()})}, "
        f"solver {run['solver']}")
    grids = _grid(model.theta_p_bounds, n_grid)
    maps, a3 = _run_algorithms(model, grids, run, timings, log)
    res = _collect(spec, model, fitted, grids, maps, a3, run, timings, log)
    if out_dir is not None:
        _write_outputs(res, Path(out_dir))
    return res


def _check_run_inputs(n_grid, confidence, n_samples, uncertainty_set, random_state) -> None:
    """The scalar inputs of :func:`run_design_space`, refused before any fit or solve."""
    from ..formulations.sets import UncertaintySet, set_names
    from ..validation import check_choice, check_number, check_probability, check_random_state

    check_number("n_grid", n_grid, integer=True, low=1, hint="points per theta_p axis, e.g. 21")
    check_probability("confidence", confidence)
    check_number("n_samples", n_samples, integer=True, low=1, hint="Monte Carlo samples per grid point, e.g. 2000")
    if not isinstance(uncertainty_set, UncertaintySet):  # a set object is checked against the model later
        check_choice("uncertainty_set", uncertainty_set, set_names())
    check_random_state("random_state", random_state)


def _run_algorithms(model, grids, run, timings, log):
    """Algorithms 1 and 2 on the grid, then Algorithm 3; its rectangle is drawn on both maps."""
    mc, fi = _run_maps(model, grids, run, timings, log)
    maps = {"mc": mc, "alg2": fi}
    t0 = time.perf_counter()
    a3 = _run_alg3(model, fi, grids, run)
    timings["alg3_s"] = time.perf_counter() - t0
    if a3["region"] is not None:
        reg = a3["region"]
        fi.rectangles = [(reg.lower, reg.upper)]
        mc.rectangles = [(reg.lower, reg.upper)]
        maps["alg3"] = reg
    log(f"Algorithm 3 rectangle: {a3['status']}, delta_p = {a3['delta_p']:.4g}, {a3['n_tests']} tests, "
        f"{timings['alg3_s']:.1f} s" + (f"; why: {a3['reason']}" if a3.get("reason") else ""))
    return maps, a3


def _collect(spec, model, fitted, grids, maps, a3, run, timings, log) -> dict:
    """The result dict of :func:`run_design_space`: regions, ordering check and design table."""
    params, mc, fi, p_c = spec.params, maps["mc"], maps["alg2"], run["confidence"]
    P1, P2 = np.meshgrid(grids[0], grids[1], indexing="ij")
    prof_ok = _profile_validity(model, params, P1, P2, log)
    in_mc, in_fi = mc.region(p_c), fi.region(p_c)
    in_a3 = _in_rectangle(P1, P2, a3["rectangle"], model.theta_p_bounds)
    ordering = _ordering(in_mc, in_fi, in_a3, fi)
    log(f"ordering Alg3 ⊆ Alg2 ⊆ MC: {ordering}")
    df = _design_table(params, P1, P2, mc, fi, in_mc, in_fi, in_a3, prof_ok)
    return {"model": model, "fitted": fitted, "grids": grids, "table": df, "rectangle": a3["rectangle"],
            "delta_p": a3["delta_p"], "alg3_center": a3["center"], "alg3_status": a3["status"],
            "alg3_reason": a3.get("reason", ""), "limits": dict(model.limits),
            "alg3_tests": a3["n_tests"], "timings": timings, "ordering": ordering, "solver": run["solver"],
            "uncertainty_set": run["uncertainty_set"], "confidence": p_c, "driver": DRIVER, "params": params,
            "kind": spec.kind, "surrogate": spec, "maps": maps}


def _write_outputs(res, out: Path):
    """``design_space.csv``, the maps' own CSVs (restorable with DesignSpaceMap.from_csv),
    ``design_space.md`` and ``design_space.png`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    res["table"].to_csv(out / "design_space.csv", index=False)
    res["maps"]["mc"].to_csv(out / "mc_map.csv")
    res["maps"]["alg2"].to_csv(out / "alg2_map.csv")
    res["map_csvs"] = [out / "mc_map.csv", out / "alg2_map.csv"]
    _write_meta(res, out / "design_space.md")
    res["csv"] = out / "design_space.csv"
    res["figure"] = _plot(res, out / "design_space.png")


def _write_meta(res, path):
    m = res["model"]
    n = AUTO_LIMITS_GRID
    origin = "given" if res["surrogate"].limits is not None else f"auto_limits on a fixed {n}x{n} grid"
    units = {k: (op, v, CQA_UNITS.get(k, "")) for k, (op, v) in m.limits.items()}
    lines = [f"# Crystallization design space ({res['kind']} surrogates, OMLT)", "",
             f"- theta_p: {[axis_label(n) for n in res['params']]} (bounds {m.theta_p_bounds.tolist()}); "
             f"grid {len(res['grids'][0])} x {len(res['grids'][1])}; other features fixed at "
             f"{dict(zip(FEATURE_NAMES, np.round(m.fixed_values, 4).tolist()))}",
             f"- limits ({origin}): {units}", f"- theta_m: additive errors, sigma {np.sqrt(np.diag(m.covariance)).round(4).tolist()}",
             f"- solver {res['solver']}, set {res['uncertainty_set']}, p_c = {res['confidence']}",
             f"- Algorithm 3: {res['alg3_status']}, centre {None if res['alg3_center'] is None else res['alg3_center'].tolist()}, "
             f"delta_p = {res['delta_p']}, rectangle {None if res['rectangle'] is None else res['rectangle'].tolist()}"
             + (f"; not converged because {res['alg3_reason']}" if res.get("alg3_reason") else ""),
             f"- ordering: {res['ordering']}", f"- timings (s): { {k: round(v, 2) for k, v in res['timings'].items()} }",
             f"- driver: {res['driver']}", ""]
    Path(path).write_text("\n".join(lines))


def _plot(res, path):
    """MC and Algorithm 2 probability maps with the p_c contour and the Algorithm 3 rectangle;
    axes ``name [unit]``.  A grid with a 1-point axis is drawn as coloured cells (no contour).

    Draws on :class:`matplotlib.figure.Figure` directly (no pyplot state, the backend is left alone)."""
    from matplotlib.figure import Figure

    g1, g2 = res["grids"]
    df = res["table"]
    n1, n2 = len(g1), len(g2)
    fig = Figure(figsize=(11, 4.6))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, col, title in ((axes[0], "mc_probability", "Monte Carlo (Alg. 1)"),
                           (axes[1], "fi_probability", "flexibility index (Alg. 2)")):
        Z = df[col].to_numpy(float).reshape(n1, n2)
        cs = _probability_panel(ax, g1, g2, Z, res["confidence"], res["model"].theta_p_bounds)
        ax.set_title(f"{title}: red = p_c {res['confidence']}")
        ax.set_xlabel(axis_label(res["params"][0]))
        _draw_rectangle(ax, res["rectangle"])
    axes[0].set_ylabel(axis_label(res["params"][1]))
    fig.colorbar(cs, ax=axes, label="probability all CQAs within limits [-]")
    fig.suptitle(f"crystallization design space, {res['kind']} surrogates (OMLT, {res['solver']}); dashed: Alg. 3")
    fig.savefig(path, dpi=110)
    res["figure_object"] = fig
    return Path(path)


def _probability_panel(ax, g1, g2, Z, p_c, bounds):
    """Filled contours and the p_c contour on a 2-D grid; coloured cells when an axis has one point."""
    from matplotlib.colors import Normalize

    if len(g1) >= 2 and len(g2) >= 2:
        cs = ax.contourf(g1, g2, Z.T, levels=np.linspace(0, 1, 11), cmap="viridis")
        ax.contour(g1, g2, Z.T, levels=[p_c], colors="red", linewidths=2)
        return cs
    e1, e2 = _cell_edges(g1, bounds[0]), _cell_edges(g2, bounds[1])
    cs = ax.pcolormesh(e1, e2, np.ma.masked_invalid(Z.T), cmap="viridis", norm=Normalize(0, 1))
    P1, P2 = np.meshgrid(g1, g2, indexing="ij")
    ok = np.nan_to_num(Z, nan=-1.0) >= p_c
    ax.scatter(P1[ok], P2[ok], marker="o", facecolors="none", edgecolors="red", s=60, label=f"p >= p_c")
    ax.set_xlim(bounds[0])
    ax.set_ylim(bounds[1])
    return cs


def _cell_edges(g, bound):
    """Cell edges around the grid points of one axis (the whole bound for a 1-point axis)."""
    g = np.asarray(g, float)
    if len(g) == 1:
        return np.array([bound[0], bound[1]], float)
    mid = 0.5 * (g[1:] + g[:-1])
    return np.concatenate([[g[0] - (mid[0] - g[0])], mid, [g[-1] + (g[-1] - mid[-1])]])


def _draw_rectangle(ax, r):
    from matplotlib.patches import Rectangle

    if r is not None:
        ax.add_patch(Rectangle((r[0, 0], r[1, 0]), r[0, 1] - r[0, 0], r[1, 1] - r[1, 0], fill=False,
                               edgecolor="white", linestyle="--", linewidth=2, label="Alg. 3"))
