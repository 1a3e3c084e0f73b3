"""End-to-end data-driven digital design workflow (crystallization paper, Fig. 1, Steps 2–9) and its report.

:func:`run_workflow` runs, on the in-silico lab's DoE (or a user's DoE CSV):

2. DoE (the crystallization paper's Table 1 mix, missing-value pattern, 4 mechanistic hold-out runs);
3. pre-processing: per CQA the rows where it was measured; the hold-out runs are the test
   set (4/35 = 11 %, crystallization paper: 10–15 %); ``StandardScaler`` inside every pipeline;
4. model selection (RF, GBT, SVR, XGB; GridSearchCV K = 3, MSE);
5. Monte-Carlo cross-validation ensembles → mean ± σ (parity plots with error bars,
   crystallization paper, Figs. 3–4);
6. constrained synthetic data (copula, GAN, VAE);
7. weighted ERM (Eq. 1): generator, m, α chosen by validation loss on real rows; α-curves
   (Fig. 5); hold-out MSE/MAE before and after (Fig. 6);
8. re-evaluation on the hold-out set, prediction σ vs measurement σ, and calibrated 95 %
   intervals (conformal on the MCCV out-of-sample residuals of the real rows,
   :mod:`.calibration`) with their hold-out coverage;
9. NSGA-II per number of thermocycles (Figs. 7–8) inside the applicability domain and the
   process limits (yield, batch time, final temperature, redissolution; :mod:`.process`),
   validation of a 4-cycle point in the lab with 3 noisy replicates (Table 3), and the
   closed Step-8 loop (:mod:`.loop`): when the gate failed or the validation missed its
   interval, new lab runs, refit, re-design — within ≤ 3 iterations / ≤ 12 runs.

Every CQA model is fitted on a bounded scale (log D50, logit percentages;
:mod:`flexspace.surrogates.targets`), so no prediction leaves the physical range; the
out-of-sample metrics (MCCV, bootstrap OOB) are computed on real rows only.

Outputs in ``out_dir``: ``report.md``, ``figures/*.png``, ``data/*.csv`` and
``models/*.joblib`` (scikit-learn ``TransformedTargetRegressor`` around the plain
``StandardScaler`` + estimator pipeline, fitted on the CQA's bounded scale — ``.regressor_``
is the pipeline; inputs in :data:`FEATURE_NAMES` order with bounds :data:`FEATURE_BOUNDS`).  The same results are
returned as a :class:`WorkflowResult`.

One function per step: :func:`_step2_doe`, :func:`_steps3_4_selection`,
:func:`_steps6_7_erm`, :func:`_steps5_8_uq_holdout`, :func:`_step8_deploy`,
:func:`_step9_design`, then :func:`_figures` and :func:`_write_report` (in the order they
run; the seeds of every step are drawn up front by :func:`_start`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pandas as pd

from ..errors import ValidationError
from ..validation import check_number
from ..surrogates.erm import ALPHAS, M_VALUES, erm_search, erm_weights
from ..surrogates.selection import REDUCED_GRIDS, SEED_GRIDS, refit_like, regression_metrics, select_model
from ..surrogates.synthetic import make_generator, torch_available
from ..surrogates.targets import base_pipeline, inverse
from ..surrogates.uq import EnsembleRegressor
from sklearn.ensemble import RandomForestRegressor  # after ..surrogates: its check names the extra
from .calibration import TARGET_SCALE, fit_interval
from .doe import generate_doe, load_doe, save_doe, split_xy
from .lab import InSilicoLab
from .loop import LoopSettings, close_loop, fit_domain
from .process import ProcessLimits
from .profile import CQA_NAMES, CQA_UNITS, FEATURE_BOUNDS, FEATURE_NAMES, ProfileLatentTransform

__all__ = ["run_workflow", "WorkflowResult", "FEATURE_NAMES", "FEATURE_BOUNDS", "CQA_NAMES", "WorkflowSettings"]



class WorkflowSettings:
    """Default (full) and reduced (``quick``) settings of :func:`run_workflow`."""

    def __init__(self, quick: bool = False):
        self.quick = quick
        self.grids = REDUCED_GRIDS if quick else SEED_GRIDS
        self.holdout_kwargs = {"pop_size": 6, "n_gen": 2} if quick else {"pop_size": 12, "n_gen": 6}
        self.n_members = 8 if quick else 30
        self.erm_cqas = ("D50",) if quick else ("D50", "DoA")
        self.m_values = (5, 25) if quick else M_VALUES
        self.alphas = (0.0, 0.3, 0.6) if quick else ALPHAS
        self.gen_epochs = 150 if quick else 600
        self.nsga_pop = 12 if quick else 40
        self.nsga_gen = 5 if quick else 40
        self.n_jobs = 1 if quick else 2
        self.replicates = 3
        # closed Step-8 loop budget: ≤ 3 iterations, ≤ 12 added lab runs, 1 acquisition run each
        self.loop_iterations = 3
        self.max_loop_runs = 12
        self.n_acquire = 1


def _generator_factories(cqa: str, epochs: int, use_torch: bool) -> dict:
    tr = ProfileLatentTransform()
    scale = TARGET_SCALE[cqa]
    names = ["copula"] + (["gan", "vae"] if use_torch else [])
    out = {}
    for name in names:
        kw = {} if name == "copula" else {"epochs": epochs}
        out[name] = (lambda rs, name=name, kw=kw: make_generator(name, tr, scale, random_state=rs, **kw))
    return out


def _ensure_holdout(df: pd.DataFrame, random_state) -> pd.DataFrame:
    """User DoE without hold-out rows: hold out ~12 % of the rows (crystallization paper: 10–15 %)."""
    if (df["split"] == "holdout").any():
        return df
    rng = np.random.default_rng(random_state)
    n_h = max(1, int(round(0.12 * len(df))))
    idx = rng.choice(len(df), n_h, replace=False)
    df = df.copy()
    df.loc[df.index[idx], "split"] = "holdout"
    return df


@dataclass
class WorkflowResult:
    """What :func:`run_workflow` returns (the same results are written to ``out_dir``)."""

    #: The DoE used: 13 feature columns, the CQA columns (NaN = not measured), ``split``
    #: (``"train"`` / ``"holdout"``); written to ``data/doe.csv``.
    doe: pd.DataFrame
    #: Step 4, per CQA: the GridSearchCV table of every candidate model (``cv_MSE`` column).
    selection: dict[str, pd.DataFrame]
    #: Step 4, per CQA: the name of the selected model (e.g. ``"GBT"``).
    best_models: dict[str, str]
    #: Per CQA: the deployed pipeline (refitted on training + hold-out runs when
    #: ``deploy_on_all_runs``), the one saved as ``models/<CQA>.joblib`` and used in Step 9.
    pipelines: dict[str, object]
    #: Per CQA: the pipeline evaluated on the hold-out runs (trained on the training runs only).
    evaluated_pipelines: dict[str, object]
    #: Per CQA: whether synthetic rows were adopted (weighted ERM beat real-only on validation).
    augmented: dict[str, bool]
    #: Per CQA: the MCCV ensemble (:class:`~flexspace.surrogates.uq.EnsembleRegressor`) of the deployed model.
    ensembles: dict[str, object]
    #: Steps 5 and 8: hold-out metrics per CQA (``data/holdout_metrics.csv``).
    holdout: pd.DataFrame
    #: Steps 6–7: ERM before/after table (``data/erm_before_after.csv``).
    erm: pd.DataFrame
    #: Steps 6–7, per CQA with ERM: the :class:`~flexspace.surrogates.erm.ERMResult` (α-curves, best setting).
    erm_results: dict[str, object]
    #: Step 9: ``{n_cycles: Pareto front}`` (features and predicted CQAs; ``data/pareto_<n>cycles.csv``).
    pareto: dict[int, pd.DataFrame]
    #: Step 9: lab validation of the 4-cycle knee point (crystallization paper, Table 3; ``data/validation.csv``),
    #: ``None`` when D50 or DoA has no model.
    validation: Optional[pd.DataFrame]
    #: Step 9, per CQA: measured mean within ±2σ of the prediction.
    validation_within_2sigma: dict[str, bool]
    #: Wall time per step in seconds (``doe``, ``selection``, ``synthetic_erm``, ``uq``,
    #: ``deploy_refit``, ``nsga2_validation``, ``figures``, ``total``).
    timings: dict[str, float]
    #: Path of ``report.md``.
    report: Path
    #: The output directory.
    out_dir: Path
    #: Noise-free lab re-run of the DoE conditions (runs, mean s per batch, max mass-balance
    #: error, mean batch time in h); ``None`` for a user DoE.
    lab_stats: Optional[dict]
    # ---- domain, calibrated intervals, process limits, closed loop ------------------------
    #: Per CQA: the calibrated 95 % interval (:class:`~flexspace.surrogates.conformal.ConformalInterval`)
    #: of the final deployed model (``interval(mean) → (lo, hi)``, ``q_`` on the CQA's bounded scale).
    intervals: dict = field(default_factory=dict)
    #: The final applicability domain (:class:`~flexspace.surrogates.applicability.ApplicabilityDomain`,
    #: fitted on the DoE + loop runs); ``None`` without a design.
    domain: Optional[object] = None
    #: The process limits of the design (:class:`.process.ProcessLimits`).
    process_limits: Optional[object] = None
    #: The final recommended profile: the 13 features, ``<cqa>_pred/_lo/_hi/_sigma`` (95 %
    #: interval), ``batch_time_h``, ``final_T_degC``, ``yield_eq_%``, ``max_redissolution_%``,
    #: ``domain_distance`` (≤ 1 = inside), ``in_domain``, ``process_ok``, ``feasible``,
    #: ``n_cycles`` (``data/validated_profile.csv``).
    recommendation: Optional[pd.Series] = None
    #: One row per loop iteration (0 = design before the loop): runs added / cumulative,
    #: recommended point's metrics, per CQA prediction, interval, measured mean and
    #: ``<cqa>_within``, ``all_within_pi95``, ``decision`` (``data/loop_history.csv``).
    loop_history: Optional[pd.DataFrame] = None
    #: The validation table (Table 3 of the crystallization paper + interval columns) of every
    #: iteration; the last is ``validation``.
    validations: list = field(default_factory=list)
    #: Every lab point measured after the DoE (validations: mean of the replicates; acquisitions:
    #: one run), per CQA with the interval predicted *before* the measurement and ``covered``
    #: (``data/lab_points.csv``) — the empirical coverage on lab validation points.
    lab_points: Optional[pd.DataFrame] = None
    #: The lab runs the loop added to the data (features, CQAs, ``loop_iteration``; ``data/loop_runs.csv``).
    loop_runs: Optional[pd.DataFrame] = None
    #: Why the loop stopped (``"validation passed"``, ``"iteration budget spent"``, ``"run budget spent"``,
    #: ``"loop disabled"``).
    loop_stop_reason: str = ""
    #: Step-8 acceptance gate per CQA (hold-out RMSE ≤ 2 × measurement σ) before the loop.
    gate: dict = field(default_factory=dict)


@dataclass
class _Run:
    """State shared by the steps of one :func:`run_workflow` call."""

    out: Path
    S: WorkflowSettings
    use_torch: bool
    seeds: dict
    log: Callable[[str], None]
    timings: dict = field(default_factory=dict)
    limits: Optional[ProcessLimits] = None


def run_workflow(out_dir, quick: bool = False, random_state: int = 0, doe_csv=None, use_torch: bool | None = None,
                 verbose: bool = True, deploy_on_all_runs: bool = True, loop_iterations: int | None = None,
                 limits: ProcessLimits | None = None) -> WorkflowResult:
    """Run Steps 2–9 and write ``out_dir/report.md`` (see module docstring).

    Parameters
    ----------
    out_dir : path
    quick : reduced grids/ensembles/generations (the version run by the tests)
    random_state : seeds everything (lab noise, DoE, CV folds, generators, NSGA-II)
    doe_csv : optional user DoE CSV (validated by :func:`.doe.load_doe`); default: the lab's DoE
    use_torch : use the GAN/VAE generators (default: when torch is importable)
    deploy_on_all_runs : after the hold-out evaluation (Step 8), refit the selected pipelines
        (same hyper-parameters, same synthetic rows and α) on training + hold-out runs before
        the design step — the crystallization paper's Step 8 → Step 2 loop with the hold-out experiments as the
        additional data.  The validation experiment of Step 9 stays independent of both.
    loop_iterations : at most this many rounds of the closed Step-8 loop (new lab runs, refit,
        re-design; :func:`.loop.close_loop`); default 3, 0 disables the loop; always
        0 for a user DoE (the in-silico lab is not the user's process)
    limits : process limits of the design (:class:`.process.ProcessLimits`; default targets there)
    """
    t_start = time.perf_counter()
    if loop_iterations is not None:
        check_number("loop_iterations", loop_iterations, integer=True, low=0, high=10)
    if limits is not None and not isinstance(limits, ProcessLimits):
        raise ValidationError(f"limits must be a ProcessLimits, got {type(limits).__name__}")
    run = _start(out_dir, quick, random_state, use_torch, verbose)
    run.limits = limits or ProcessLimits()
    lab, doe, doe_source, lab_stats = _step2_doe(run, doe_csv)
    cqas, selection = _steps3_4_selection(run, doe)
    final, erm, before_after = _steps6_7_erm(run, doe, cqas, selection)
    ensembles, parity, holdout_table, uq_table = _steps5_8_uq_holdout(run, doe, cqas, selection, final, lab)
    deployed = _step8_deploy(run, doe, cqas, final, erm, ensembles, deploy_on_all_runs)
    gate = {r["CQA"]: bool(r["step8_accept"]) for _, r in holdout_table.iterrows() if "step8_accept" in r
            and pd.notna(r["step8_accept"])}
    n_loop = 0 if doe_csv is not None else (run.S.loop_iterations if loop_iterations is None else loop_iterations)
    loop = _step9_design(run, lab, deployed, doe, all(gate.values()), n_loop)
    pareto = loop.fronts if loop else {}
    validation, val_ok = (loop.validation, loop.val_ok) if loop else (None, {})
    if loop:
        deployed = loop.deployed
    t0 = time.perf_counter()
    figs = _figures(run.out / "figures", parity, erm, pareto)
    run.timings["figures"] = time.perf_counter() - t0
    run.timings["total"] = time.perf_counter() - t_start
    report = _write_report(run.out, doe, doe_source, selection, holdout_table, before_after, erm, pareto, validation,
                           val_ok, figs, run.timings, run.S, run.use_torch, random_state, lab_stats, uq_table,
                           _refit_note(deployed), loop)
    run.log(f"report written to {report} ({run.timings['total']:.1f} s)")
    return WorkflowResult(
        doe=doe, selection={c: r.table for c, r in selection.items()},
        best_models={c: r.best_name for c, r in selection.items()},
        pipelines={c: d["pipeline"] for c, d in deployed.items()},
        evaluated_pipelines={c: f["pipeline"] for c, f in final.items()},
        augmented={c: f["augmented"] for c, f in final.items()},
        ensembles={c: d["ensemble"] for c, d in deployed.items()}, holdout=holdout_table, erm=before_after,
        erm_results=erm, pareto=pareto, validation=validation, validation_within_2sigma=val_ok,
        timings=run.timings, report=report, out_dir=run.out, lab_stats=lab_stats,
        intervals={c: d["interval"] for c, d in deployed.items()}, domain=loop.domain if loop else None,
        process_limits=run.limits, recommendation=loop.recommendation if loop else None,
        loop_history=loop.history if loop else None, validations=loop.validations if loop else [],
        lab_points=loop.lab_points if loop else None, loop_runs=loop.added_runs if loop else None,
        loop_stop_reason=loop.stop_reason if loop else "", gate=gate)


def _start(out_dir, quick: bool, random_state: int, use_torch: bool | None, verbose: bool) -> _Run:
    """Output folders, settings and one seed per step (drawn in a fixed order from ``random_state``)."""
    out = Path(out_dir)
    for sub in ("figures", "data", "models"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    use_torch = torch_available() if use_torch is None else use_torch
    rng = np.random.default_rng(random_state)
    seeds = {k: int(rng.integers(2**31)) for k in ("lab", "doe", "select", "uq", "erm", "nsga", "valid")}
    log = (lambda msg: print(f"[crystallization] {msg}", flush=True)) if verbose else (lambda msg: None)
    return _Run(out, WorkflowSettings(quick), use_torch, seeds, log)


def _step2_doe(run: _Run, doe_csv):
    """Step 2: the lab's DoE (or the user's, with hold-out rows ensured), saved to ``data/doe.csv``;
    for the lab's DoE also a noise-free re-run (time per batch, mass balance).
    Returns ``(lab, doe, doe_source, lab_stats)``."""
    t0 = time.perf_counter()
    lab = InSilicoLab(random_state=run.seeds["lab"])
    if doe_csv is not None:
        doe = _ensure_holdout(load_doe(doe_csv), run.seeds["doe"])
        doe_source = f"user file `{doe_csv}`"
    else:
        doe = generate_doe(lab, random_state=run.seeds["doe"], holdout_kwargs=run.S.holdout_kwargs)
        doe_source = "in-silico lab (the crystallization paper's Table 1 mix, 4 mechanistic hold-out runs)"
    save_doe(doe, run.out / "data" / "doe.csv")
    run.timings["doe"] = time.perf_counter() - t0
    lab_stats = None
    if doe_csv is None:  # lab check on the DoE conditions: time per batch, mass balance
        t1 = time.perf_counter()
        chk = lab.run(doe[list(FEATURE_NAMES)].to_numpy(float))
        lab_stats = {"runs": len(chk), "mean_s_per_batch": (time.perf_counter() - t1) / len(chk),
                     "max_mass_balance_error": float(chk["mass_balance_error"].max()),
                     "mean_batch_time_h": float(chk["batch_time_min"].mean() / 60)}
    run.log(f"DoE ready ({len(doe)} runs, {run.timings['doe']:.1f} s)")
    return lab, doe, doe_source, lab_stats


def _steps3_4_selection(run: _Run, doe: pd.DataFrame):
    """Steps 3–4: per CQA with ≥ 6 measured training rows, model selection (GridSearchCV, K = 3,
    MSE) on its measured rows.  Returns ``(cqas, {cqa: SelectionResult})``."""
    t0 = time.perf_counter()
    selection = {}
    cqas = [c for c in CQA_NAMES if doe.loc[doe["split"] == "train", c].notna().sum() >= 6]
    for cqa in cqas:
        X, y = split_xy(doe, cqa, "train")
        Xh, yh = split_xy(doe, cqa, "holdout")
        res = select_model(X, y, Xh, yh, grids=run.S.grids, random_state=run.seeds["select"], n_jobs=run.S.n_jobs,
                           target_transform=TARGET_SCALE[cqa])
        selection[cqa] = res
        run.log(f"{cqa}: best {res.best_name} (cv MSE {res.table.loc[res.best_name, 'cv_MSE']:.3g})")
    run.timings["selection"] = time.perf_counter() - t0
    return cqas, selection


def _steps6_7_erm(run: _Run, doe: pd.DataFrame, cqas, selection):
    """Steps 6–7: constrained synthetic data and weighted ERM (Eq. 1) for the CQAs of
    ``S.erm_cqas``; synthetic rows are adopted only when they beat real-only on validation.
    Returns ``(final, erm, before_after)``: ``final[cqa]`` = pipeline, training X, y, w, augmented."""
    t0 = time.perf_counter()
    final, erm, before_after = {}, {}, []
    for cqa in cqas:
        X, y = split_xy(doe, cqa, "train")
        Xh, yh = split_xy(doe, cqa, "holdout")
        pipe = selection[cqa].best_pipeline
        final[cqa] = {"pipeline": pipe, "X": X, "y": y, "w": None, "augmented": False, "n_real": len(y), "alpha": 0.0}
        if cqa not in run.S.erm_cqas:
            continue
        r = erm_search(pipe, X, y, _generator_factories(cqa, run.S.gen_epochs, run.use_torch),
                       m_values=run.S.m_values, alphas=run.S.alphas, random_state=run.seeds["erm"])
        erm[cqa] = r
        r.curves.to_csv(run.out / "data" / f"erm_curves_{cqa}.csv", index=False)
        before_after.append(_erm_row(cqa, r, pipe, Xh, yh))
        if r.best["alpha"] > 0 and r.best["val_MSE"] < r.baseline_val_MSE:  # chosen on validation, not hold-out
            Xs, ys = r.synthetic
            final[cqa] = {"pipeline": r.pipeline, "X": np.vstack([X, Xs]), "y": np.concatenate([y, ys]),
                          "w": erm_weights(len(y), len(ys), r.best["alpha"]), "augmented": True, "n_real": len(y),
                          "alpha": float(r.best["alpha"])}
        run.log(f"{cqa}: ERM best {r.best} vs real-only val MSE {r.baseline_val_MSE:.3g}")
    run.timings["synthetic_erm"] = time.perf_counter() - t0
    before_after = pd.DataFrame(before_after)
    before_after.to_csv(run.out / "data" / "erm_before_after.csv", index=False)
    return final, erm, before_after


def _erm_row(cqa: str, r, pipe, Xh, yh) -> dict:
    """One row of the ERM before/after table (validation MSE; hold-out MSE/MAE when there are hold-out rows)."""
    row = {"CQA": cqa, "generator": r.best["generator"], "m": r.best["m"], "alpha": r.best["alpha"],
           "val_MSE_real_only": r.baseline_val_MSE, "val_MSE_weighted": r.best["val_MSE"]}
    if len(yh):
        b = regression_metrics(yh, pipe.predict(Xh))
        a = regression_metrics(yh, r.pipeline.predict(Xh))
        row.update({"holdout_MSE_before": b["MSE"], "holdout_MSE_after": a["MSE"],
                    "holdout_MAE_before": b["MAE"], "holdout_MAE_after": a["MAE"],
                    "MSE_change_%": 100 * (a["MSE"] - b["MSE"]) / b["MSE"] if b["MSE"] > 0 else np.nan,
                    "MAE_change_%": 100 * (a["MAE"] - b["MAE"]) / b["MAE"] if b["MAE"] > 0 else np.nan})
    return row


def _steps5_8_uq_holdout(run: _Run, doe: pd.DataFrame, cqas, selection, final, lab: InSilicoLab):
    """Steps 5 and 8: MCCV ensembles of the final models, hold-out re-evaluation against the
    measurement σ, and the other resampling UQ methods on the hold-out rows.
    Returns ``(ensembles, parity, holdout_table, uq_table)``."""
    t0 = time.perf_counter()
    ensembles, parity, holdout_rows, uq_rows = {}, {}, [], []
    meas_sd = {"D50": None, "DoA": lab.params.noise_doa, "crystallinity": lab.params.noise_crystallinity}
    for cqa in cqas:
        f = final[cqa]
        ens = EnsembleRegressor(f["pipeline"], "mccv", run.S.n_members, 0.8, run.seeds["uq"]).fit(
            f["X"], f["y"], f["w"], score_rows=np.arange(f["n_real"]))
        ensembles[cqa] = ens
        interval = fit_interval(ens, f["y"], f["n_real"], cqa)
        X, y = split_xy(doe, cqa, "train")
        Xh, yh = split_xy(doe, cqa, "holdout")
        mt, st = ens.predict(X, return_std=True)
        parity[cqa] = {"train": (y, mt, st)}
        sel = selection[cqa]
        row = {"CQA": cqa, "model": sel.best_name + (" + synthetic (ERM)" if f["augmented"] else ""),
               "n_train": len(y), "n_holdout": len(yh), "cv_MSE": sel.table.loc[sel.best_name, "cv_MSE"],
               "MCCV_out_of_sample_MSE": ens.mccv_mse_, "conformal_q": interval.q_}
        if len(yh):
            mh, sh = ens.predict(Xh, return_std=True)
            parity[cqa]["holdout"] = (yh, mh, sh)
            m = regression_metrics(yh, f["pipeline"].predict(Xh))
            sd_meas = meas_sd[cqa] if meas_sd[cqa] is not None else lab.params.noise_d50_rel * float(np.mean(yh))
            mu_h = f["pipeline"].predict(Xh)
            row.update({"holdout_MSE": m["MSE"], "holdout_MAE": m["MAE"], "holdout_R2": m["R2"],
                        "holdout_RMSE": float(np.sqrt(m["MSE"])),
                        "mean_pred_sigma": float(np.mean(sh)), "measurement_sigma": sd_meas,
                        "step8_accept": bool(np.sqrt(m["MSE"]) <= 2 * sd_meas),
                        "holdout_pi95_coverage": float(np.mean(interval.covers(mu_h, yh))),
                        "holdout_pi95_mean_half_width": float(np.mean(interval.half_width(mu_h))),
                        # the mechanistic hold-out runs are extreme conditions: share inside the training domain
                        "holdout_in_domain_fraction": float(np.mean(fit_domain(X).contains(Xh)))})
        holdout_rows.append(row)
        if len(yh):  # other resampling UQ methods on the same hold-out rows
            uq_rows.append(_uq_methods_row(run, cqa, f, ens, Xh, sh, m))
    holdout_table = pd.DataFrame(holdout_rows)
    holdout_table.to_csv(run.out / "data" / "holdout_metrics.csv", index=False)
    uq_table = pd.DataFrame(uq_rows)
    uq_table.to_csv(run.out / "data" / "uq_methods.csv", index=False)
    run.timings["uq"] = time.perf_counter() - t0
    return ensembles, parity, holdout_table, uq_table


def _uq_methods_row(run: _Run, cqa: str, f: dict, ens, Xh, sh, m: dict) -> dict:
    """Mean σ on the hold-out rows: MCCV (``sh``), bootstrap, and the trees of a random forest."""
    boot = EnsembleRegressor(f["pipeline"], "bootstrap", run.S.n_members, random_state=run.seeds["uq"]).fit(
        f["X"], f["y"], f["w"], score_rows=np.arange(f["n_real"]))
    _, sb = boot.predict(Xh, return_std=True)
    urow = {"CQA": cqa, "MCCV_mean_sigma": float(np.mean(sh)), "bootstrap_mean_sigma": float(np.mean(sb)),
            "bootstrap_OOB_MSE": boot.oob_mse_, "MCCV_out_of_sample_MSE": ens.mccv_mse_,
            "holdout_RMSE": float(np.sqrt(m["MSE"]))}
    inner = base_pipeline(f["pipeline"])
    if isinstance(inner[-1], RandomForestRegressor):  # tree spread, back on the CQA's scale
        trees = [t.predict(inner[:-1].transform(Xh)) for t in inner[-1].estimators_]
        urow["forest_trees_mean_sigma"] = float(np.mean(np.std(inverse(np.array(trees), TARGET_SCALE[cqa]),
                                                               axis=0, ddof=1)))
    return urow


def _step8_deploy(run: _Run, doe: pd.DataFrame, cqas, final, erm, ensembles, deploy_on_all_runs: bool) -> dict:
    """Step 8 → deployment: refit each final model (same hyper-parameters, same synthetic rows
    and α) on training + hold-out runs when asked, and save it to ``models/<CQA>.joblib``.
    Returns ``{cqa: final entry + ensemble, refit}``."""
    t0 = time.perf_counter()
    deployed = {c: dict(final[c], ensemble=ensembles[c], refit=False) for c in cqas}
    if deploy_on_all_runs:
        for cqa in cqas:
            X, y = split_xy(doe, cqa, "train")
            Xh, yh = split_xy(doe, cqa, "holdout")
            if not len(yh):
                continue
            f = final[cqa]
            Xa, ya, w = np.vstack([X, Xh]), np.concatenate([y, yh]), None
            if f["augmented"]:
                Xs, ys = f["X"][len(y):], f["y"][len(y):]
                w = erm_weights(len(ya), len(ys), erm[cqa].best["alpha"])
                Xa, ya = np.vstack([Xa, Xs]), np.concatenate([ya, ys])
            pipe = refit_like(f["pipeline"], Xa, ya, w)
            n_real = len(y) + len(yh)
            ens = EnsembleRegressor(f["pipeline"], "mccv", run.S.n_members, 0.8, run.seeds["uq"]).fit(
                Xa, ya, w, score_rows=np.arange(n_real))
            deployed[cqa] = dict(f, pipeline=pipe, X=Xa, y=ya, w=w, ensemble=ens, refit=True, n_real=n_real)
    for cqa in cqas:
        d = deployed[cqa]
        d["interval"] = fit_interval(d["ensemble"], d["y"], d["n_real"], cqa)
    for cqa in cqas:
        _save_model(deployed[cqa]["pipeline"], run.out / "models" / f"{cqa}.joblib")
    run.timings["deploy_refit"] = time.perf_counter() - t0
    return deployed


def _step9_design(run: _Run, lab: InSilicoLab, deployed: dict, doe: pd.DataFrame, gate_passed: bool,
                  loop_iterations: int):
    """Step 9 with the closed Step-8 loop (:func:`.loop.close_loop`): NSGA-II fronts for 1–4
    thermocycles inside the applicability domain and the process limits, the knee of the
    4-cycle front validated in the lab with ``S.replicates`` noisy runs, and — when the gate
    failed or the validation missed an interval — up to ``loop_iterations`` rounds of new lab
    runs, refit and re-design.  Returns the :class:`.loop.LoopOutcome` (None without D50 and
    DoA models); the final models replace ``models/<CQA>.joblib``."""
    t0 = time.perf_counter()
    outcome = None
    if "D50" in deployed and "DoA" in deployed:
        S = run.S
        settings = LoopSettings(pop_size=S.nsga_pop, n_gen=S.nsga_gen, replicates=S.replicates,
                                max_iterations=loop_iterations, max_runs=S.max_loop_runs, n_acquire=S.n_acquire,
                                n_members=S.n_members, limits=run.limits)
        X_real = doe[list(FEATURE_NAMES)].to_numpy(float)
        outcome = close_loop(lab, deployed, X_real, gate_passed, settings, np.random.default_rng(run.seeds["nsga"]),
                             run.log)
        d = run.out / "data"
        for nc, fr in outcome.fronts.items():
            fr.to_csv(d / f"pareto_{nc}cycles.csv", index=False)
        outcome.validation.to_csv(d / "validation.csv", index=False)
        outcome.recommendation.to_frame().T.to_csv(d / "validated_profile.csv", index=False)
        outcome.history.to_csv(d / "loop_history.csv", index=False)
        outcome.lab_points.to_csv(d / "lab_points.csv", index=False)
        outcome.added_runs.to_csv(d / "loop_runs.csv", index=False)
        for cqa, m in outcome.deployed.items():
            _save_model(m["pipeline"], run.out / "models" / f"{cqa}.joblib")
    run.timings["nsga2_validation"] = time.perf_counter() - t0
    return outcome


def _refit_note(deployed: dict) -> str:
    """The report's sentence on which models were deployed."""
    if any(d["refit"] for d in deployed.values()):
        return ("The deployed models (design, validation, `models/*.joblib`) were refitted with the same "
                "hyper-parameters (and synthetic rows/α where ERM was adopted) on training + hold-out runs: the "
                "the crystallization paper's Step 8 → Step 2 loop with the hold-out experiments as the added data. "
                "The validation experiment below is new data for them.")
    return "The deployed models are the evaluated ones (trained on the training runs only)."


def _save_model(pipeline, path: Path):
    import joblib

    joblib.dump(pipeline, path)


# ------------------------------------------------------------------------------ figures
def _figures(fig_dir: Path, parity, erm, pareto) -> dict[str, str]:
    """Parity plots with error bars (Figs. 3–4/6), α-curves (Fig. 5), Pareto fronts (Figs. 7–8).

    Uses :class:`matplotlib.figure.Figure` directly (no pyplot state, backend-independent).
    Returns ``{key: path relative to the output directory}``."""
    out = {}
    if parity:
        out["parity"] = _parity_figure(fig_dir, parity)
    for cqa, r in erm.items():
        out[f"alpha_{cqa}"] = _alpha_figure(fig_dir, cqa, r)
    if pareto:
        out["pareto"] = _pareto_figure(fig_dir, pareto)
        if all("crystallinity_pred" in fr for fr in pareto.values()):
            out["pareto_cryst"] = _pareto_crystallinity_figure(fig_dir, pareto)
    return out


def _parity_figure(fig_dir: Path, parity) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2 * len(parity), 4))
    for j, (cqa, d) in enumerate(parity.items()):
        ax = fig.add_subplot(1, len(parity), j + 1)
        for split, mk, col in (("train", "o", "tab:blue"), ("holdout", "s", "tab:red")):
            if split in d:
                y, m, s = d[split]
                ax.errorbar(y, m, yerr=s, fmt=mk, color=col, ms=4, capsize=2, label=f"{split} (n={len(y)})")
        lims = np.concatenate([np.concatenate(d[s][:2]) for s in d])
        lo, hi = float(np.min(lims)), float(np.max(lims))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set_xlabel(f"measured {cqa} [{CQA_UNITS[cqa]}]")
        ax.set_ylabel(f"predicted {cqa} (mean ± σ)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(fig_dir / "parity.png", dpi=120)
    return "figures/parity.png"


def _alpha_figure(fig_dir: Path, cqa: str, r) -> str:
    from matplotlib.figure import Figure

    c = r.curves
    gens = list(c["generator"].unique())
    fig = Figure(figsize=(4.2 * len(gens), 3.8))
    for j, g in enumerate(gens):
        ax = fig.add_subplot(1, len(gens), j + 1)
        for m, sub in c[c["generator"] == g].groupby("m"):
            ax.plot(sub["alpha"], sub["val_MSE"], "-o", ms=3, label=f"m={m}")
        ax.axhline(r.baseline_val_MSE, color="k", lw=0.8, ls=":", label="real only")
        ax.set_title(f"{cqa}: {g}")
        ax.set_xlabel("α (Eq. 1)")
        ax.set_ylabel("validation MSE (real rows)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(fig_dir / f"alpha_curve_{cqa}.png", dpi=120)
    return f"figures/alpha_curve_{cqa}.png"


def _pareto_figure(fig_dir: Path, pareto) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    for nc, fr in pareto.items():
        ax.plot(fr["D50_pred"], fr["DoA_pred"], "o", ms=4, label=f"{nc} cycle(s)")
    ax.set_xlabel("predicted D50 [µm] (maximise)")
    ax.set_ylabel("predicted DoA [%] (minimise)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(fig_dir / "pareto_fronts.png", dpi=120)
    return "figures/pareto_fronts.png"


def _pareto_crystallinity_figure(fig_dir: Path, pareto) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.8, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    allf = pd.concat(pareto.values())
    markers = {1: "o", 2: "s", 3: "^", 4: "D"}
    sc = None
    for nc, fr in pareto.items():
        sc = ax.scatter(fr["D50_pred"], fr["DoA_pred"], c=fr["crystallinity_pred"], marker=markers[nc],
                        vmin=allf["crystallinity_pred"].min(), vmax=allf["crystallinity_pred"].max(),
                        cmap="viridis", label=f"{nc} cycle(s)")
    fig.colorbar(sc, ax=ax, label="predicted crystallinity [%]")
    ax.set_xlabel("predicted D50 [µm]")
    ax.set_ylabel("predicted DoA [%]")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(fig_dir / "pareto_crystallinity.png", dpi=120)
    return "figures/pareto_crystallinity.png"


# ------------------------------------------------------------------------------ report
def _md(df: pd.DataFrame, floatfmt: str = ".3g") -> str:
    """Small markdown table writer (no tabulate dependency)."""
    def fmt(v):
        if isinstance(v, (float, np.floating)):
            return "nan" if not np.isfinite(v) else format(float(v), floatfmt)
        if isinstance(v, dict):
            return ", ".join(f"{k}={v[k]}" for k in v)
        return str(v)
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _write_report(out: Path, doe, doe_source, selection, holdout_table, before_after, erm, pareto, validation,
                  val_ok, figs, timings, S, use_torch, random_state, lab_stats=None, uq_table=None,
                  refit_note: str = "", loop=None) -> Path:
    """``out/report.md``: one section per step of the crystallization paper's workflow, then the timings."""
    L = _report_doe(doe, doe_source, S, use_torch, random_state, lab_stats)
    L += _report_models(selection, holdout_table, uq_table, before_after, erm, figs)
    L += _report_design(pareto, validation, figs, refit_note)
    L += _report_loop(loop)
    L += ["## Timings (s)", "", _md(pd.DataFrame([timings]), ".1f"), "",
          "Files: `data/doe.csv` (loads with `flexspace.crystallization.doe.load_doe`), "
          "`data/*.csv`, `models/<CQA>.joblib` (scikit-learn TransformedTargetRegressor — log D50, logit "
          "percentages — around a StandardScaler + estimator Pipeline; inputs in `FEATURE_NAMES` order).", ""]
    path = out / "report.md"
    path.write_text("\n".join(L), encoding="utf-8")
    return path


def _report_doe(doe, doe_source, S, use_torch, random_state, lab_stats) -> list[str]:
    """Report header (settings, inputs) and Step 2 (DoE mix, hold-out runs, lab check)."""
    L = [f"# Crystallization digital twin — workflow report", "",
         f"Settings: {'quick (reduced)' if S.quick else 'default (full)'}; random_state = {random_state}; "
         f"generators: copula{', GAN, VAE (torch)' if use_torch else ' only (torch not available)'}.",
         f"Data source: {doe_source}.", "",
         "Inputs (13, `flexspace.crystallization.profile.FEATURE_NAMES`): " + ", ".join(
             f"`{n}` [{FEATURE_BOUNDS[n][0]:g}, {FEATURE_BOUNDS[n][1]:g}]" for n in FEATURE_NAMES)
         + " — c0 in mg/g solvent, T in °C (0 = no stage, Eq. 4), C and H in °C/min; T1 = seeding temperature "
           "of c0 (not a feature).", "", "## Step 2 — DoE", ""]
    train = doe[doe["split"] == "train"]
    mix = train["profile_type"].value_counts().rename_axis("profile type").reset_index(name="runs")
    L += [_md(mix), "", "Measured CQAs in the training runs: " + ", ".join(
        f"{c} {int(train[c].notna().sum())}" for c in CQA_NAMES) + f"; hold-out runs: {int((doe['split'] == 'holdout').sum())}.",
        "", "Hold-out runs:", "", _md(doe[doe["split"] == "holdout"][["run_id", "profile_type", "c0", "seed_loading",
                                                                          "C", "H", *CQA_NAMES]]), ""]
    if lab_stats:
        L += ["In-silico lab on these conditions (noise-free re-run): "
              f"{lab_stats['mean_s_per_batch']:.3f} s per batch on average, mean batch time "
              f"{lab_stats['mean_batch_time_h']:.1f} h, max mass-balance error {lab_stats['max_mass_balance_error']:.1e} "
              "(solute integrated from the rate laws vs crystal + amorphous mass from the discretised PSD; the "
              "finite-volume growth coupling is conservative, so this closes to round-off unless agglomeration, "
              "consolidation or clipping lose mass).", ""]
    return L


def _report_models(selection, holdout_table, uq_table, before_after, erm, figs) -> list[str]:
    """Report sections of Step 4 (selection), Steps 5 and 8 (UQ, hold-out) and Steps 6–7 (ERM)."""
    L = ["## Step 4 — model selection (GridSearchCV, K = 3, MSE)", ""]
    for cqa, r in selection.items():
        t = r.table.reset_index().rename(columns={"index": "model"})
        L += [f"**{cqa}** — best: {r.best_name}", "", _md(t), ""]
    L += ["## Steps 5 and 8 — uncertainty (Monte-Carlo CV ensembles) and hold-out re-evaluation", "",
          _md(holdout_table), "",
          "Acceptance (crystallization paper, Step 8): prediction error comparable to measurement uncertainty; "
          "here `step8_accept` = hold-out RMSE ≤ 2 × measurement σ (criterion assumed by this package). "
          "A CQA that fails it would, "
          "in the crystallization paper's workflow, send the project back to Step 2 for more experiments in the "
          "region of the hold-out runs.", ""]
    if uq_table is not None and len(uq_table):
        L += ["UQ methods on the hold-out rows (mean σ of the prediction; ensemble spread only):", "",
              _md(uq_table), ""]
    if "parity" in figs:
        L += [f"![parity]({figs['parity']})", ""]
    L += ["## Steps 6–7 — synthetic data and weighted ERM (Eq. 1)", ""]
    if len(before_after):
        L += [_md(before_after), "",
              "Generator, m and α are selected on validation folds of the real training rows only; the hold-out "
              "columns are reported as measured, whichever way they go. A model is deployed with synthetic data only "
              "if its validation MSE beats the real-only model. Note: the best of "
              f"{len(next(iter(erm.values())).curves)} noisy 3-fold estimates is optimistically biased, so a validation "
              "gain need not carry over to the hold-out runs.", ""]
        for cqa in erm:
            L += [f"![alpha {cqa}]({figs[f'alpha_{cqa}']})", ""]
    return L


def _report_loop(loop) -> list[str]:
    """Report section of the closed Step-8 loop: iterations, lab points, coverage."""
    if loop is None:
        return []
    h = loop.history
    cols = ["iteration", "runs_added", "runs_cumulative", "n_cycles", "domain_distance", "batch_time_h",
            "yield_eq_%", "final_T_degC", "max_redissolution_%", "all_within_pi95", "decision"]
    lp = loop.lab_points
    cov = lp.groupby("CQA")["covered"].agg(["mean", "size"]).reset_index() if len(lp) else pd.DataFrame()
    L = ["## Step 8 → 2 loop: new lab runs, refit, re-design", "",
         "Design constraints: Eq. 2–5, the applicability domain (1-NN distance ≤ the 95 % leave-one-out "
         "distance of the runs, per-feature ranges of the runs) and the process limits "
         + ", ".join(f"{k} = {v:g}" for k, v in loop.limits.to_dict().items()) + ". Intervals: conformal 95 % "
         "from the MCCV out-of-sample residuals of the real rows.", "", _md(h[[c for c in cols if c in h]]), "",
         f"Stopped: {loop.stop_reason}. Lab points measured after the DoE (intervals predicted before measuring):", ""]
    if len(cov):
        L += [_md(cov.rename(columns={"mean": "coverage", "size": "points"})), ""]
    return L


def _report_design(pareto, validation, figs, refit_note: str) -> list[str]:
    """Report section of Step 9: front summary, figures, lab validation (crystallization paper, Table 3)."""
    L = ["## Step 9 — NSGA-II design (max D50, min DoA; Eq. 2–5; Table 2 bounds)", "", refit_note, ""]
    if pareto:
        summ = pd.DataFrame([{"cycles": nc, "points": len(fr), "max D50_pred": fr["D50_pred"].max(),
                              "min DoA_pred": fr["DoA_pred"].min(),
                              "mean crystallinity_pred": fr.get("crystallinity_pred", pd.Series([np.nan])).mean()}
                             for nc, fr in pareto.items()])
        L += [_md(summ), ""]
        for key in ("pareto", "pareto_cryst"):
            if key in figs:
                L += [f"![{key}]({figs[key]})", ""]
    if validation is not None:
        L += ["### Validation of the 4-cycle knee point in the in-silico lab (crystallization paper, Table 3)", "",
              _md(validation), ""]
        for _, r in validation.iterrows():
            verdict = "within" if r["within_2sigma"] else "NOT within"
            L.append(f"- {r['CQA']}: measured {r['measured_mean']:.2f} ± {r['measured_sd']:.2f} vs predicted "
                     f"{r['predicted_mean']:.2f} ± {r['predicted_sigma']:.2f} {r['unit']} — {verdict} ±2σ "
                     f"(deviation {r['abs_deviation']:.2f} = {r['deviation_in_sigma']:.2f} σ); with the "
                     f"out-of-sample residual added (σ_total = {r['predicted_sigma_total']:.2f}) it is "
                     f"{'within' if r['within_2sigma_total'] else 'NOT within'} ±2σ_total.")
        L += ["", "σ is the MCCV ensemble spread (as in the crystallization paper's Table 3); σ_total adds the "
              "ensemble's out-of-sample MSE in quadrature.", ""]
    return L
