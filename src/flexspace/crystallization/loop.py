"""Step 9 design inside the applicability domain, lab validation, and the closed Step-8 loop.

What turns the crystallization paper's Step 9 into a recommendation that holds up in the (in-silico) lab:

* :func:`design_fronts` — NSGA-II per number of thermocycles (crystallization paper, Figs. 7–8) with, next to
  Eq. 2–5, the **applicability domain** (:class:`flexspace.surrogates.applicability.ApplicabilityDomain`)
  and the **process limits** (:class:`.process.ProcessLimits`) as constraints; every front
  point carries its predictions with calibrated 95 % intervals, its domain distance and its
  process metrics.
* :func:`recommend` — the knee of the 4-cycle front among its feasible points (the crystallization paper
  validates a 4-cycle optimum).
* :func:`validate` — crystallization paper, Table 3: ``replicates`` noisy lab runs at the recommendation vs the
  predictions (±2σ of the ensemble as before, and the calibrated 95 % interval).
* :func:`close_loop` — crystallization paper, Step 8 → Step 2: when the acceptance gate failed or the validated
  optimum missed an interval, the validation runs join the data together with
  ``n_acquire`` acquisition runs (the feasible front points of largest predictive spread,
  see :func:`acquire`), every model is refitted (same hyper-parameters, synthetic rows and
  α), the intervals and the domain are recalibrated and the design is re-optimised and
  re-validated — until the validation passes or ``max_iterations`` / ``max_runs`` is spent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from ..surrogates.nsga2 import knee_point, run_nsga2
from ..surrogates.applicability import ApplicabilityDomain
from ..surrogates.erm import erm_weights
from ..surrogates.selection import refit_like
from ..surrogates.uq import EnsembleRegressor
from .calibration import fit_interval, predict_with_intervals, replicate_noise_sd
from .thermocycles import CycleProfileSpace
from .lab import InSilicoLab
from .process import ProcessLimits, process_metrics
from .profile import CQA_NAMES, CQA_UNITS, FEATURE_NAMES

__all__ = ["LoopSettings", "fit_domain", "design_fronts", "recommend", "validate", "acquire", "refit_models",
           "close_loop"]


@dataclass
class LoopSettings:
    """Budget and settings of the design / validation loop.

    * ``max_iterations`` = 3 and ``max_runs`` = 12: the loop budget (at most 3 loop
      iterations, at most 12 added lab runs; every loop run counts — acquisition runs and
      the validation replicates of each re-optimised point).
    * ``n_acquire`` = 1 acquisition run per iteration: with 3 validation replicates an
      iteration costs 4 runs, so the 3 iterations fit the 12-run budget.
    * ``replicates`` = 3: the crystallization paper's Table-3 validation replicates.
    * ``pop_size`` = ``n_gen`` = 40 and ``n_members`` = 30: the workflow's full NSGA-II and
      MCCV-ensemble settings (:class:`flexspace.crystallization.workflow.WorkflowSettings`).
    """

    pop_size: int = 40
    n_gen: int = 40
    replicates: int = 3
    max_iterations: int = 3
    max_runs: int = 12
    n_acquire: int = 1
    n_members: int = 30
    limits: ProcessLimits = field(default_factory=ProcessLimits)


def fit_domain(X_real) -> ApplicabilityDomain:
    """Domain of the real inputs: 1-NN distance with the 95 % leave-one-out threshold and
    per-feature ranges ignoring the zero padding of inactive stages (``pad_value = 0``).
    Repeated conditions (validation replicates) count once: a duplicate's leave-one-out
    distance is 0 and would shrink the threshold."""
    return ApplicabilityDomain(k=1, quantile=0.95, pad_value=0.0).fit(np.unique(np.asarray(X_real, float), axis=0))


def design_fronts(models: dict, domain, limits: ProcessLimits, X_data, settings: LoopSettings, rng) -> dict:
    """NSGA-II (max D50, min DoA) per number of cycles under Eq. 2–5, the domain and the
    process limits.  Returns ``{n_cycles: front DataFrame}`` (features, ``<cqa>_pred/_lo/_hi/
    _sigma``, ``domain_distance``, ``in_domain``, process metrics, ``process_ok``,
    ``feasible``, ``n_cycles``), sorted by predicted D50."""
    pD, pA = models["D50"]["pipeline"], models["DoA"]["pipeline"]

    def objectives(F):
        return np.column_stack([-pD.predict(F), pA.predict(F)])

    def feature_constraints(F):
        return np.column_stack([domain.constraint(F), limits.constraint(F)])

    fronts = {}
    for nc in (1, 2, 3, 4):
        space = CycleProfileSpace(nc)
        start = space.initial_population(settings.pop_size, rng, X_data)
        Xd, _, _ = run_nsga2(space.problem(objectives, feature_constraints), settings.pop_size, settings.n_gen,
                             int(rng.integers(2**31)), sampling=start)
        fronts[nc] = describe_points(space.to_features(Xd), models, domain, limits, nc)
    return fronts


def describe_points(F, models: dict, domain, limits: ProcessLimits, n_cycles=None) -> pd.DataFrame:
    """Features, predictions with intervals, domain distance and process metrics of rows ``F``."""
    F = np.atleast_2d(np.asarray(F, float))
    fr = pd.DataFrame(F, columns=list(FEATURE_NAMES))
    fr = pd.concat([fr, predict_with_intervals(models, F), process_metrics(F)], axis=1)
    fr["domain_distance"] = domain.distance(F)
    fr["in_domain"] = domain.contains(F)
    fr["process_ok"] = limits.satisfied(F)
    fr["feasible"] = fr["in_domain"] & fr["process_ok"]
    if n_cycles is not None:
        fr["n_cycles"] = n_cycles
    return fr.sort_values("D50_pred").reset_index(drop=True)


def recommend(fronts: dict, n_cycles: int = 4) -> tuple[np.ndarray, pd.Series]:
    """Knee point (:func:`knee_point` on (−D50, DoA)) of the feasible points of the
    ``n_cycles`` front; if that front has none, of the feasible points of the front with most
    cycles that has some; if no front has any, the 4-cycle knee (its ``feasible`` is False)."""
    order = [n_cycles] + sorted((c for c in fronts if c != n_cycles), reverse=True)
    for nc in order:
        fr = fronts[nc][fronts[nc]["feasible"]]
        if len(fr):
            break
    else:
        fr = fronts[n_cycles]
    fr = fr.reset_index(drop=True)
    i = knee_point(np.column_stack([-fr["D50_pred"], fr["DoA_pred"]]))
    return fr.loc[i, list(FEATURE_NAMES)].to_numpy(float), fr.loc[i]


def validate(lab: InSilicoLab, x, models: dict, replicates: int, seed):
    """Table 3 of the crystallization paper at ``x``: ``replicates`` noisy lab runs vs the predictions.

    Returns ``(table, ok_2sigma, replicate_rows)``: per CQA the measured mean ± SD, the
    noise-free lab value, the ensemble mean ± σ (``within_2sigma``, ``σ_total`` as before),
    the deployed prediction with its calibrated 95 % interval (``within_pi95``: the measured
    mean inside it) and the lab's replicate noise SD; ``replicate_rows`` = the noisy runs
    (features + CQAs, for the loop to add to the data).  The table's ``lab_yield_%`` is the
    simulated batch's actual yield ``(c0 − c_end)/c0``."""
    x = np.asarray(x, float)
    sim = lab.simulate(x)
    noiseless = pd.DataFrame([sim.cqas()])
    meas = lab.add_noise(pd.concat([noiseless] * replicates, ignore_index=True), random_state=seed)
    pred = predict_with_intervals(models, x[None])
    rows, ok = [], {}
    for cqa in (c for c in CQA_NAMES if c in models):
        mu, sd = models[cqa]["ensemble"].predict(x[None], return_std=True)
        _, sd_tot = models[cqa]["ensemble"].predict(x[None], return_std=True, total=True)
        mm, ms = float(meas[cqa].mean()), float(meas[cqa].std(ddof=1))
        dev = abs(mm - mu[0])
        ok[cqa] = bool(dev <= 2 * sd[0])
        lo, hi = float(pred[f"{cqa}_lo"].iloc[0]), float(pred[f"{cqa}_hi"].iloc[0])
        rows.append({"CQA": cqa, "unit": CQA_UNITS[cqa], "measured_mean": mm, "measured_sd": ms,
                     "lab_noise_free": float(noiseless[cqa].iloc[0]), "predicted_mean": float(mu[0]),
                     "predicted_sigma": float(sd[0]), "abs_deviation": dev,
                     "deviation_in_sigma": dev / sd[0] if sd[0] > 0 else np.inf, "within_2sigma": ok[cqa],
                     "predicted_sigma_total": float(sd_tot[0]), "within_2sigma_total": bool(dev <= 2 * sd_tot[0]),
                     "predicted_deployed": float(pred[f"{cqa}_pred"].iloc[0]), "pi95_lower": lo, "pi95_upper": hi,
                     "pi95_half_width": 0.5 * (hi - lo), "within_pi95": bool(lo <= mm <= hi),
                     "replicate_noise_sd": replicate_noise_sd(lab.params, cqa, float(noiseless[cqa].iloc[0])),
                     "lab_yield_%": 100.0 * (x[0] / 1000.0 - sim.concentration) / (x[0] / 1000.0)})
    reps = pd.concat([pd.DataFrame(np.repeat(x[None], replicates, 0), columns=list(FEATURE_NAMES)),
                      meas.reset_index(drop=True)], axis=1)
    return pd.DataFrame(rows), ok, reps


def acquire(fronts: dict, models: dict, domain, n: int, exclude) -> np.ndarray:
    """``n`` acquisition points: among the feasible points of all fronts (inside the domain,
    within the process limits), the ones of largest predictive spread — the sum over CQAs of
    the ensemble σ divided by its median over the candidates — picked greedily with a
    minimum spacing of half the domain threshold to each other and to ``exclude`` (assumed:
    closer points would mostly re-measure what the replicates at ``exclude`` already show)."""
    cand = pd.concat(list(fronts.values()), ignore_index=True)
    cand = cand[cand["feasible"]].reset_index(drop=True)
    if not len(cand) or n <= 0:
        return np.empty((0, len(FEATURE_NAMES)))
    score = sum(cand[f"{c}_sigma"] / max(float(cand[f"{c}_sigma"].median()), 1e-12) for c in models)
    F = cand[list(FEATURE_NAMES)].to_numpy(float)
    Z = F / domain.scale_
    taken = [np.asarray(exclude, float) / domain.scale_]
    picked = []
    for i in np.argsort(-score.to_numpy()):
        if min(np.linalg.norm(Z[i] - t) for t in taken) < 0.5 * domain.threshold_:
            continue
        picked.append(i)
        taken.append(Z[i])
        if len(picked) == n:
            break
    return F[picked]


def refit_models(deployed: dict, new: pd.DataFrame, n_members: int, seed) -> dict:
    """Every CQA model refitted with ``new`` lab rows (features + CQA columns) added to its
    real rows: same hyper-parameters, same synthetic rows and α (Eq.-1 weights recomputed for
    the new ``n``), new MCCV ensemble scored on the real rows, new conformal interval."""
    out = {}
    for cqa, d in deployed.items():
        rows = new[new[cqa].notna()]
        n_real = d["n_real"]
        Xr = np.vstack([d["X"][:n_real], rows[list(FEATURE_NAMES)].to_numpy(float)])
        yr = np.concatenate([d["y"][:n_real], rows[cqa].to_numpy(float)])
        Xs, ys = d["X"][n_real:], d["y"][n_real:]
        w = erm_weights(len(yr), len(ys), d["alpha"]) if d["augmented"] else None
        Xa, ya = np.vstack([Xr, Xs]), np.concatenate([yr, ys])
        pipe = refit_like(d["pipeline"], Xa, ya, w)
        ens = EnsembleRegressor(d["pipeline"], "mccv", n_members, 0.8, seed).fit(Xa, ya, w,
                                                                                 score_rows=np.arange(len(yr)))
        out[cqa] = dict(d, pipeline=pipe, X=Xa, y=ya, w=w, n_real=len(yr), ensemble=ens,
                        interval=fit_interval(ens, ya, len(yr), cqa), refit=True)
    return out


@dataclass
class LoopOutcome:
    """What :func:`close_loop` returns (the workflow copies it into its ``WorkflowResult``)."""

    deployed: dict                 # final models per CQA (pipeline, ensemble, interval, data)
    domain: ApplicabilityDomain    # final applicability domain (all real inputs incl. loop runs)
    fronts: dict                   # final fronts per number of cycles
    recommendation: pd.Series      # final recommended point (features, predictions, metrics)
    validation: pd.DataFrame       # its validation table
    val_ok: dict                   # within ±2σ per CQA (ensemble spread)
    history: pd.DataFrame          # one row per iteration (0 = the design before the loop)
    validations: list              # validation table per iteration
    lab_points: pd.DataFrame       # every lab point measured after the DoE, predicted before measuring
    added_runs: pd.DataFrame       # the lab runs added to the data by the loop
    stop_reason: str
    limits: ProcessLimits = field(default_factory=ProcessLimits)  # the process limits of the design


def _point_rows(iteration: int, kind: str, pred: pd.DataFrame, measured: pd.DataFrame, n_rep: int) -> list[dict]:
    """Coverage records: per CQA, the interval predicted before the measurement and the measured value
    (mean of ``n_rep`` replicates)."""
    rows = []
    for cqa in (c for c in CQA_NAMES if f"{c}_pred" in pred):
        for j in range(len(pred)):
            lo, hi, y = pred[f"{cqa}_lo"].iloc[j], pred[f"{cqa}_hi"].iloc[j], float(measured[cqa].iloc[j])
            rows.append({"iteration": iteration, "kind": kind, "CQA": cqa, "replicates": n_rep,
                         "predicted": float(pred[f"{cqa}_pred"].iloc[j]), "pi95_lower": float(lo),
                         "pi95_upper": float(hi), "half_width": 0.5 * float(hi - lo), "measured": y,
                         "covered": bool(lo <= y <= hi)})
    return rows


def _history_row(iteration: int, runs: int, cum: int, rec: pd.Series, val: pd.DataFrame, reason: str) -> dict:
    row = {"iteration": iteration, "runs_added": runs, "runs_cumulative": cum, "n_cycles": int(rec["n_cycles"]),
           "feasible": bool(rec["feasible"]), "domain_distance": float(rec["domain_distance"]),
           "batch_time_h": float(rec["batch_time_h"]), "yield_eq_%": float(rec["yield_eq_%"]),
           "final_T_degC": float(rec["final_T_degC"]), "max_redissolution_%": float(rec["max_redissolution_%"])}
    for _, v in val.iterrows():
        c = v["CQA"]
        row.update({f"{c}_pred": v["predicted_deployed"], f"{c}_lo": v["pi95_lower"], f"{c}_hi": v["pi95_upper"],
                    f"{c}_measured": v["measured_mean"], f"{c}_within": bool(v["within_pi95"])})
    row["all_within_pi95"] = bool(val["within_pi95"].all())
    row["decision"] = reason
    return row


def _stop_reason(it: int, val: pd.DataFrame, gate_passed: bool, cum: int, s: LoopSettings) -> str:
    """Why the loop stops after iteration ``it`` ('' = continue)."""
    ok = bool(val["within_pi95"].all())
    if ok and (gate_passed or it >= 1):
        return "validation passed"
    if it >= s.max_iterations:
        return "iteration budget spent"
    if cum + s.n_acquire + s.replicates > s.max_runs:
        return "run budget spent"
    return ""


def close_loop(lab: InSilicoLab, deployed: dict, X_real, gate_passed: bool, settings: LoopSettings, rng,
               log: Callable[[str], None] = lambda m: None) -> LoopOutcome:
    """Design, validate, and (when the gate failed or the validation missed) loop: see module
    docstring.  ``X_real``: all real inputs so far (defines the domain); ``rng``: a numpy
    Generator seeding NSGA-II, the lab noise and the ensembles."""
    s = settings
    domain = fit_domain(X_real)
    fronts = design_fronts(deployed, domain, s.limits, X_real, s, rng)
    x, rec = recommend(fronts)
    val, ok, reps = validate(lab, x, deployed, s.replicates, int(rng.integers(2**31)))
    points = _point_rows(0, "validation", predict_with_intervals(deployed, x[None]), reps[list(CQA_NAMES)].mean()
                         .to_frame().T, s.replicates)
    validations, added, cum, it = [val], [], 0, 0
    reason = _stop_reason(0, val, gate_passed, 0, s) if s.max_iterations > 0 else "loop disabled"
    history = [_history_row(0, 0, 0, rec, val, reason or "loop")]
    while not reason:
        it += 1
        Xa = acquire(fronts, deployed, domain, s.n_acquire, x)
        meas = lab.measure(Xa, random_state=int(rng.integers(2**31))) if len(Xa) else pd.DataFrame(columns=CQA_NAMES)
        points += _point_rows(it, "acquisition", predict_with_intervals(deployed, Xa), meas, 1) if len(Xa) else []
        new = pd.concat([reps, pd.concat([pd.DataFrame(Xa, columns=list(FEATURE_NAMES)), meas.reset_index(drop=True)],
                                         axis=1)], ignore_index=True)
        new["loop_iteration"] = it
        added.append(new)
        X_real = np.vstack([X_real, new[list(FEATURE_NAMES)].to_numpy(float)])
        deployed = refit_models(deployed, new, s.n_members, int(rng.integers(2**31)))
        domain = fit_domain(X_real)
        fronts = design_fronts(deployed, domain, s.limits, X_real, s, rng)
        x, rec = recommend(fronts)
        val, ok, reps = validate(lab, x, deployed, s.replicates, int(rng.integers(2**31)))
        points += _point_rows(it, "validation", predict_with_intervals(deployed, x[None]),
                              reps[list(CQA_NAMES)].mean().to_frame().T, s.replicates)
        cum += len(Xa) + s.replicates
        validations.append(val)
        reason = _stop_reason(it, val, gate_passed, cum, s)
        history.append(_history_row(it, len(Xa) + s.replicates, cum, rec, val, reason or "loop"))
        log(f"loop iteration {it}: {cum} lab runs, all within 95 % interval: {bool(val['within_pi95'].all())}")
    added_runs = pd.concat(added, ignore_index=True) if added else pd.DataFrame(columns=[*FEATURE_NAMES, *CQA_NAMES])
    return LoopOutcome(deployed, domain, fronts, rec, val, ok, pd.DataFrame(history), validations,
                       pd.DataFrame(points), added_runs, reason, s.limits)
