"""Crystallization design space from OMLT-embedded ML surrogates (GitHub issue 6).

The surrogates of the data-driven workflow (one per CQA, trained on the in-silico lab's
DoE) become Pyomo blocks (:mod:`flexspace.surrogates.omlt_embed`) and a plug-in process
model (:mod:`flexspace.surrogates.omlt_process`):

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
``design_space.csv`` and ``design_space.png``.  The drivers of :mod:`flexspace.designspace`
are used when that package is importable; otherwise the same algorithms run as plain loops
over :meth:`flexspace.FlexibilityAnalysis.index` /
:func:`flexspace.montecarlo.monte_carlo_probability` (``result["driver"]`` says which).

Solver routing: tree ensembles and ReLU networks give MILPs (HiGHS with the box set, SCIP
with ellipsoids), smooth networks NLPs (default Ipopt with a-posteriori certification — see
:func:`default_solver` for why not MAiNGO here).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from .doe import generate_doe, thermocycle_profile
from .profile import CQA_NAMES, FEATURE_BOUNDS, FEATURE_NAMES

__all__ = ["SURROGATE_KINDS", "DEFAULT_PARAMS", "reference_profile", "design_input_bounds", "make_surrogate",
           "fit_crystallization_surrogates", "build_design_space_model", "auto_limits", "run_design_space",
           "FittedSurrogates"]

SURROGATE_KINDS = ("mlp", "rf", "gbt")
DEFAULT_PARAMS = ("seed_loading", "C")
DEFAULT_CQAS = ("D50", "DoA", "crystallinity")
LIMIT_SENSE = {"D50": ">=", "DoA": "<=", "crystallinity": ">="}


def reference_profile() -> np.ndarray:
    """The fixed profile around which θp varies: c0 = 40 mg/g, seed loading 0.10,
    C = 0.15 °C/min, H = 0.75 °C/min, two thermocycles (8 °C amplitude) ending at 10 °C."""
    return thermocycle_profile(40.0, 0.10, 0.15, 0.75, 10.0, cycles=2)


def design_input_bounds() -> np.ndarray:
    """Block input bounds: seed Table 2, with ``H`` down to 0 (0 = no heating, Eq. 4)."""
    b = np.array([FEATURE_BOUNDS[n] for n in FEATURE_NAMES], float)
    b[FEATURE_NAMES.index("H"), 0] = 0.0
    return b


def make_surrogate(kind: str, random_state: int = 0, activation: str = "relu"):
    """Unfitted, embeddable surrogate: ``rf`` (30 trees, depth ≤ 6), ``gbt`` (50 stages,
    depth 3) — ``StandardScaler`` + estimator pipelines as in :mod:`..surrogates.selection`
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
    raise ValueError(f"unknown surrogate {kind!r}; choose from {SURROGATE_KINDS}")


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

    from ...surrogates.uq import EnsembleRegressor

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
    return [np.linspace(lo, hi, n) for lo, hi in bounds]


def auto_limits(fitted: Mapping, params: Sequence[str], reference=None, n_grid: int = 21,
                quantile: float = 0.25, margin: float = 2.0, sigma: Optional[Mapping] = None) -> dict:
    """Data-driven default limits (a demonstration, not a specification): for each CQA
    the ``quantile`` (D50, crystallinity) or ``1 − quantile`` (DoA) of the surrogate's
    prediction over the θp grid, moved ``margin`` σ_k towards the worse side.  So at
    least ``1 − 3·quantile`` of the grid meets every limit with ``margin`` σ to spare and
    the map is neither empty nor full.  Pass your own limits for a real specification."""
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
                             reduced_space: bool = False, n_grid: int = 21):
    """The :class:`flexspace.ProcessModel` of the embedded surrogates (module docstring)."""
    from ...surrogates.omlt_process import surrogate_process_model

    params = list(params)
    if len(params) < 1:
        raise ValueError("give at least one parameter")
    for p in params:
        if p not in FEATURE_NAMES:
            raise ValueError(f"unknown parameter {p!r}; choose from {list(FEATURE_NAMES)}")
    x0 = reference_profile() if reference is None else np.asarray(reference, float)
    sig = fitted.sigma if sigma == "ensemble" else fitted.sigma_total
    lims = dict(limits) if limits is not None else auto_limits(fitted, params, x0, n_grid, sigma=sig)
    return surrogate_process_model(dict(fitted), lims, FEATURE_NAMES, params, x0, sig, design_input_bounds(),
                                   reduced_space=reduced_space, name=f"crystallization_{fitted.kind}")


# --------------------------------------------------------------------------- algorithms (fallback loops)
def _mc_map(model, grids, n_samples, random_state):
    from ...montecarlo import monte_carlo_probability, sample_theta_m

    S = sample_theta_m(model, n_samples, random_state)  # common random numbers over the grid
    P = np.full((len(grids[0]), len(grids[1])), np.nan)
    E = np.full_like(P, np.nan)
    F = np.zeros_like(P, dtype=int)
    for i, a in enumerate(grids[0]):
        for j, b in enumerate(grids[1]):
            r = monte_carlo_probability(model, [a, b], samples=S)
            P[i, j], E[i, j], F[i, j] = r.probability, r.std_error, r.n_failed
    return P, E, F


def _fi_map(fa, grids):
    D = np.full((len(grids[0]), len(grids[1])), np.nan)
    P = np.full_like(D, np.nan)
    status = np.empty(D.shape, dtype=object)
    certified = np.zeros(D.shape, dtype=bool)
    for i, a in enumerate(grids[0]):
        for j, b in enumerate(grids[1]):
            r = fa.index([a, b])
            status[i, j] = str(r.status.value if hasattr(r.status, "value") else r.status)
            if r.ok:
                D[i, j], P[i, j] = r.delta, r.probability
            certified[i, j] = bool(r.certified)
    return D, P, status, certified


def _alg3_rectangle(fa, center, p_c, tol=1e-5, max_iter=40):
    """Largest θp box around ``center`` (half-widths δp·(center − lo), δp·(hi − center))
    on which the extended flexibility test at confidence p_c passes (bisection, seed
    Algorithm 3).  Returns (δp, rectangle [[lo1, hi1], [lo2, hi2]], n_tests, status)."""
    model = fa.model
    b = model.theta_p_bounds
    dmin, dplus = center - b[:, 0], b[:, 1] - center
    tests = 0

    def chi(dp):
        nonlocal tests
        tests += 1
        r = fa.extended_test(dp, theta_p_nominal=center, delta_p_minus=dmin, delta_p_plus=dplus, confidence=p_c)
        return r.chi if r.ok else None

    c0 = chi(0.0)
    if c0 is None:
        return 0.0, None, tests, "failed at delta_p = 0"
    if c0 > 0:
        return 0.0, None, tests, "infeasible at the centre"
    lo, hi = 0.0, 1.0
    c1 = chi(hi)
    if c1 is None:
        return float("nan"), None, tests, "failed at delta_p = 1"
    if c1 <= 0:
        lo = hi
    else:
        for _ in range(max_iter):
            mid = 0.5 * (lo + hi)
            c = chi(mid)
            if c is None:
                return float("nan"), None, tests, f"failed at delta_p = {mid}"
            if c <= 0:
                lo = mid
                if c >= -tol:
                    break
            else:
                hi = mid
            if hi - lo < 1e-6:
                break
    rect = np.column_stack([center - lo * dmin, center + lo * dplus])
    return lo, rect, tests, "ok"


def _choose_center(grids, D):
    """Alg-3 centre: the grid point of largest δ closest to the centroid of those points."""
    if not np.any(np.isfinite(D)):
        return None
    best = np.nanmax(D)
    ii, jj = np.nonzero(np.isclose(D, best, rtol=0, atol=1e-9))
    ci, cj = ii.mean(), jj.mean()
    k = int(np.argmin((ii - ci) ** 2 + (jj - cj) ** 2))
    return np.array([grids[0][ii[k]], grids[1][jj[k]]])


def _designspace_drivers():
    try:
        from ... import designspace  # noqa: F401
        return designspace
    except Exception:  # noqa: BLE001 - the drivers are optional
        return None


def _run_with_drivers(ds, model, grids, n_mc, random_state, uncertainty_set, solver, time_limit, p_c, timings,
                      maps, log):
    """MC map, Alg 2 map and Alg 3 rectangle through :mod:`flexspace.designspace`."""
    n1, n2 = len(grids[0]), len(grids[1])
    t0 = time.perf_counter()
    mc = ds.monte_carlo_map(model, grid=grids, n_samples=n_mc, random_state=random_state, progress=False)
    timings["mc_s"] = time.perf_counter() - t0
    log(f"Monte Carlo map ({n1}x{n2}, N={n_mc}): {timings['mc_s']:.1f} s")
    t0 = time.perf_counter()
    fi = ds.flexibility_index_map(model, grid=grids, uncertainty_set=uncertainty_set, solver=solver,
                                  time_limit=time_limit, progress=False)
    timings["alg2_s"] = time.perf_counter() - t0
    log(f"Algorithm 2 map ({solver}, {uncertainty_set}): {timings['alg2_s']:.1f} s")
    maps["mc"], maps["alg2"] = mc, fi
    mt, ft = mc.table, fi.table
    mc_P = mc.probability
    mc_E = mt["std_error"].to_numpy(float).reshape(n1, n2)
    mc_F = mt["n_failed"].to_numpy(float).reshape(n1, n2) if "n_failed" in mt else np.zeros((n1, n2))
    fi_P = fi.probability
    D = ft["delta"].to_numpy(float).copy().reshape(n1, n2)
    D[fi.failed] = np.nan
    status = ft["status"].astype(str).to_numpy().reshape(n1, n2)
    cert = ft["certified"].fillna(False).astype(bool).to_numpy().reshape(n1, n2)
    t0 = time.perf_counter()
    center = _choose_center(grids, D)
    rect, dp, n_tests = None, 0.0, 0
    if center is None or not np.nanmax(fi_P) >= p_c:
        a3_status = "no point reaches p_c"
    else:
        try:
            reg = ds.flexibility_test_region(model, confidence=p_c, theta_p_nominal=center,
                                             uncertainty_set=uncertainty_set, solver=solver, time_limit=time_limit)
            rect = np.column_stack([reg.lower, reg.upper])
            dp, n_tests = float(reg.delta_p), int(reg.n_solves)
            a3_status = "ok" if reg.rectangle.converged else "not converged"
            fi.rectangles = [(reg.lower, reg.upper)]
            mc.rectangles = [(reg.lower, reg.upper)]
            maps["alg3"] = reg
        except ds.BracketError as exc:  # includes NominalInfeasibleError
            a3_status = f"{type(exc).__name__}: {exc}"
            if "upper end" in str(exc):  # the whole θp box is feasible at p_c
                b = model.theta_p_bounds
                rect, dp, a3_status = np.array(b, float), 1.0, "whole box feasible (delta_p^U = 1)"
    timings["alg3_s"] = time.perf_counter() - t0
    log(f"Algorithm 3 rectangle: {a3_status}, delta_p = {dp:.4g}, {n_tests} tests, {timings['alg3_s']:.1f} s")
    return mc_P, mc_E, mc_F, D, fi_P, status, cert, center, dp, rect, n_tests, a3_status


def default_solver(model) -> str:
    """HiGHS for MILP surrogates (trees, ReLU nets, global); Ipopt for smooth nets.

    Not MAiNGO for the smooth nets of this model (measured, maingopy 0.10.3 through
    ``appsi_maingo``): on the index NLP of a tanh MLP with 11 of 13 inputs fixed, MAiNGO
    with flexspace's feasibility tolerance (1e-8) reports the problem *infeasible* (so
    δ would be capped at δ_max — a region over-stated), and with 1e-6/1e-7 it returns
    δ = 5.736/5.772 as "optimal" while the point δ = 5.577 (Ipopt; analytic −g/σ) is
    feasible.  Ipopt's results are certified a posteriori by sampling (the flexibility
    analysis does it for local solvers).  ``--solver maingo`` still works on request."""
    return "highs" if getattr(model, "problem_class", "nlp") == "milp" else "ipopt"


def run_design_space(kind: str = "gbt", params: Sequence[str] = DEFAULT_PARAMS, out_dir=None, n_grid: int = 21,
                     p_c: float = 0.85, n_mc: int = 2000, uncertainty_set: str = "box", solver: Optional[str] = None,
                     doe: Optional[pd.DataFrame] = None, limits: Optional[Mapping] = None, sigma: str = "ensemble",
                     random_state: int = 0, n_members: int = 10, time_limit: float = 60.0, verbose: bool = True,
                     activation: str = "relu", doe_kwargs: Optional[dict] = None, driver: str = "auto") -> dict:
    """Fit surrogates, embed them, map the design space (MC, Alg 2, Alg 3), check the
    ordering, write ``out_dir/design_space.csv`` and ``.png`` (when ``out_dir`` is given).

    ``driver``: ``"auto"`` (the :mod:`flexspace.designspace` drivers when importable, else
    plain loops) or ``"loops"``.  Returns a dict with the model, the maps, the rectangle,
    timings and the ordering check."""
    import flexspace

    log = (lambda s: print(f"[design-space] {s}", flush=True)) if verbose else (lambda s: None)
    timings = {}
    t0 = time.perf_counter()
    if doe is None:
        doe = generate_doe(random_state=random_state, **(doe_kwargs or {"holdout_kwargs": {"pop_size": 6, "n_gen": 2}}))
    timings["doe_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fitted = fit_crystallization_surrogates(doe, kind, random_state=random_state, n_members=n_members,
                                            activation=activation)
    timings["fit_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = build_design_space_model(fitted, params, limits=limits, sigma=sigma, n_grid=n_grid)
    timings["embed_s"] = time.perf_counter() - t0
    solver = solver or default_solver(model)
    log(f"{kind}: limits {model.limits}, sigma {({k: round(v, 3) for k, v in (fitted.sigma if sigma == 'ensemble' else fitted.sigma_total).items()})}, solver {solver}")
    b = model.theta_p_bounds
    grids = _grid(b, n_grid)

    ds = _designspace_drivers() if driver != "loops" else None
    maps = {}
    if ds is not None:
        mc_P, mc_E, mc_F, D, fi_P, status, cert, center, dp, rect, n_tests, a3_status = _run_with_drivers(
            ds, model, grids, n_mc, random_state, uncertainty_set, solver, time_limit, p_c, timings, maps, log)
        driver_name = ("flexspace.designspace (monte_carlo_map, flexibility_index_map, "
                       "flexibility_test_region)")
    else:
        t0 = time.perf_counter()
        mc_P, mc_E, mc_F = _mc_map(model, grids, n_mc, random_state)
        timings["mc_s"] = time.perf_counter() - t0
        log(f"Monte Carlo map ({n_grid}x{n_grid}, N={n_mc}): {timings['mc_s']:.1f} s")
        fa = flexspace.FlexibilityAnalysis(model, uncertainty_set, solver, time_limit=time_limit)
        t0 = time.perf_counter()
        D, fi_P, status, cert = _fi_map(fa, grids)
        timings["alg2_s"] = time.perf_counter() - t0
        log(f"Algorithm 2 map ({solver}, {uncertainty_set}): {timings['alg2_s']:.1f} s")
        t0 = time.perf_counter()
        center = _choose_center(grids, D)
        if center is not None and np.nanmax(fi_P) >= p_c:
            dp, rect, n_tests, a3_status = _alg3_rectangle(fa, center, p_c)
        else:
            dp, rect, n_tests, a3_status = 0.0, None, 0, "no point reaches p_c"
        timings["alg3_s"] = time.perf_counter() - t0
        log(f"Algorithm 3 rectangle: {a3_status}, delta_p = {dp:.4g}, {n_tests} tests, {timings['alg3_s']:.1f} s")
        driver_name = "flexspace loops (FlexibilityAnalysis.index / monte_carlo_probability)"

    P1, P2 = np.meshgrid(grids[0], grids[1], indexing="ij")
    # is the profile at each grid point a valid one (Table 2, Eq. 2-5)?  Temperature
    # parameters can leave the valid set (e.g. T above the seeding temperature).
    from .profile import is_feasible

    Xg = np.repeat(model.fixed_values[None, :], P1.size, axis=0)
    Xg[:, FEATURE_NAMES.index(params[0])] = P1.ravel()
    Xg[:, FEATURE_NAMES.index(params[1])] = P2.ravel()
    prof_ok = np.asarray(is_feasible(Xg), bool)
    if not prof_ok.all():
        log(f"warning: {int((~prof_ok).sum())} grid points are not valid profiles (Table 2 / Eq. 2-5): "
            "see the profile_feasible column")
    in_mc = mc_P >= p_c
    in_fi = np.nan_to_num(fi_P, nan=-1.0) >= p_c  # failed solves are never feasible
    if rect is not None:
        eps = 1e-9 * (np.abs(b).max() + 1)
        in_a3 = ((P1 >= rect[0, 0] - eps) & (P1 <= rect[0, 1] + eps) & (P2 >= rect[1, 0] - eps)
                 & (P2 <= rect[1, 1] + eps))
    else:
        in_a3 = np.zeros_like(in_mc)
    ordering = {
        "n_mc": int(in_mc.sum()), "n_alg2": int(in_fi.sum()), "n_alg3": int(in_a3.sum()),
        "alg3_not_in_alg2": int((in_a3 & ~in_fi).sum()), "alg2_not_in_mc": int((in_fi & ~in_mc).sum()),
        "n_failed_alg2": int(np.sum(~np.isfinite(fi_P))),
    }
    ordering["holds"] = ordering["alg3_not_in_alg2"] == 0 and ordering["alg2_not_in_mc"] == 0
    log(f"ordering Alg3 ⊆ Alg2 ⊆ MC: {ordering}")
    df = pd.DataFrame({params[0]: P1.ravel(), params[1]: P2.ravel(), "mc_probability": mc_P.ravel(),
                       "mc_std_error": mc_E.ravel(), "mc_failed": mc_F.ravel(), "fi_delta": D.ravel(),
                       "fi_probability": fi_P.ravel(), "fi_status": status.ravel(), "fi_certified": cert.ravel(),
                       "in_mc": in_mc.ravel(), "in_alg2": in_fi.ravel(), "in_alg3": in_a3.ravel(),
                       "profile_feasible": prof_ok})
    res = {"model": model, "fitted": fitted, "grids": grids, "table": df, "rectangle": rect, "delta_p": dp,
           "alg3_center": center, "alg3_status": a3_status, "alg3_tests": n_tests, "timings": timings,
           "ordering": ordering, "solver": solver, "uncertainty_set": uncertainty_set, "p_c": p_c,
           "driver": driver_name, "params": params, "kind": kind, "maps": maps}
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        df.to_csv(out / "design_space.csv", index=False)
        if maps:  # the algorithms issue's map files (restorable with DesignSpaceMap.from_csv)
            maps["mc"].to_csv(out / "mc_map.csv")
            maps["alg2"].to_csv(out / "alg2_map.csv")
            res["map_csvs"] = [out / "mc_map.csv", out / "alg2_map.csv"]
        _write_meta(res, out / "design_space.md")
        res["csv"] = out / "design_space.csv"
        res["figure"] = _plot(res, out / "design_space.png")
    return res


def _write_meta(res, path):
    m = res["model"]
    lines = [f"# Crystallization design space ({res['kind']} surrogates, OMLT)", "",
             f"- theta_p: {res['params']} (bounds {m.theta_p_bounds.tolist()}); other features fixed at "
             f"{dict(zip(FEATURE_NAMES, np.round(m.fixed_values, 4).tolist()))}",
             f"- limits: {m.limits}", f"- theta_m: additive errors, sigma {np.sqrt(np.diag(m.covariance)).round(4).tolist()}",
             f"- solver {res['solver']}, set {res['uncertainty_set']}, p_c = {res['p_c']}",
             f"- Algorithm 3: {res['alg3_status']}, centre {None if res['alg3_center'] is None else res['alg3_center'].tolist()}, "
             f"delta_p = {res['delta_p']}, rectangle {None if res['rectangle'] is None else res['rectangle'].tolist()}",
             f"- ordering: {res['ordering']}", f"- timings (s): { {k: round(v, 2) for k, v in res['timings'].items()} }",
             f"- driver: {res['driver']}", ""]
    Path(path).write_text("\n".join(lines))


def _plot(res, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    g1, g2 = res["grids"]
    df = res["table"]
    n1, n2 = len(g1), len(g2)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), sharey=True)
    for ax, col, title in ((axes[0], "mc_probability", "Monte Carlo (Alg. 1)"),
                           (axes[1], "fi_probability", "flexibility index (Alg. 2)")):
        Z = df[col].to_numpy(float).reshape(n1, n2)
        cs = ax.contourf(g1, g2, Z.T, levels=np.linspace(0, 1, 11), cmap="viridis")
        ax.contour(g1, g2, Z.T, levels=[res["p_c"]], colors="red", linewidths=2)
        ax.set_title(f"{title}: red = p_c {res['p_c']}")
        ax.set_xlabel(res["params"][0])
        if res["rectangle"] is not None:
            r = res["rectangle"]
            ax.add_patch(Rectangle((r[0, 0], r[1, 0]), r[0, 1] - r[0, 0], r[1, 1] - r[1, 0], fill=False,
                                   edgecolor="white", linestyle="--", linewidth=2, label="Alg. 3"))
    axes[0].set_ylabel(res["params"][1])
    fig.colorbar(cs, ax=axes, label="probability all CQAs within limits")
    fig.suptitle(f"crystallization design space, {res['kind']} surrogates (OMLT, {res['solver']}); dashed: Alg. 3")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
