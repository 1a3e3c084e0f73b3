"""Models users write, checked against answers computed without flexspace.

The models and their references live in ``tests/support/user_models.py``: probabilities in closed
form where they exist, otherwise a vectorised numpy Monte Carlo (200 000 samples; a θm for
which the model has no solution counts as infeasible); flexibility indices in closed form, or
(two-parameter models) by a numpy ray search over the boundary of the set.

The one property every flexibility index must have: the probability of its set,
P(θm ∈ set(δ)), can never exceed the true probability that all CQAs hold (the set is a
subset of the feasible region).  A result whose ``status`` is "ok" claims to be correct;
"nominal infeasible" claims δ = 0.  Other statuses ("failed", "uncertified",
"contradicted") make no claim and are only required to be honest (never "feasible").

The full model × θp × set × solver matrix is marked ``slow``; the unmarked subset covers
every model and every θp point, and every set and every solver (Latin square).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

import flexspace
from flexspace.montecarlo import monte_carlo_probability

from support import trusted_status
from support.user_models import (HOLE, LIN_A, LIN_C, LIN_S, USER_MODELS, delta_reference, hole_interval,
                          linear_max_over_ellipsoid, reference_probability)

AVAILABLE = flexspace.available_solvers()
SOLVERS = ("ipopt", "maingo", "scip")
SETS = ("box", "ellipsoid", "ldl")
COMBOS = list(itertools.product(SETS, SOLVERS))
KW = {"options": {"time_limit": 30.0}}


def _need(solver):
    if solver not in AVAILABLE:
        pytest.skip(f"solver {solver!r} not available here ({AVAILABLE})")


_MODELS = {}


def built(name):
    if name not in _MODELS:
        _MODELS[name] = USER_MODELS[name]["build"]()
    return _MODELS[name]


@pytest.fixture(scope="module")
def reference():
    """{(model, θp): (p_true, standard error)} — computed once for the module."""
    return {(name, tp): reference_probability(name, tp)
            for name, spec in USER_MODELS.items() for tp in spec["data"]["tps"]}


@pytest.fixture(scope="module")
def reference_delta():
    """{(model, θp, set): δ}: the closed form where there is one, else the numpy ray search
    (models with <= 2 uncertain parameters) — computed once for the module."""
    out = {}
    for name, spec in USER_MODELS.items():
        for tp in spec["data"]["tps"]:
            for s in SETS:
                if spec["delta"] is not None:
                    out[(name, tp, s)] = spec["delta"](tp, s)
                elif len(spec["data"]["theta_m_nominal"]) <= 2:
                    out[(name, tp, s)] = delta_reference(name, tp, "box" if s == "box" else "ellipsoid")
    return out


# --------------------------------------------------------------------------- the matrix
POINTS = [(name, tp) for name, spec in USER_MODELS.items() for tp in spec["data"]["tps"]]
# 20-D: MAiNGO (ellipsoid and LDL) and SCIP (explicit ellipsoid) time out (measured: 30 s), and the
# probability of a correlated 20-D box takes ~10 s (Genz integration): full matrix only
SLOW_ONLY = {("linear20", s, sol) for s, sol in COMBOS if sol == "maingo" or s == "box"} | {
    ("linear20", "ellipsoid", "scip")}


def _fast_subset():
    """Latin square over the (set, solver) pairs: each point takes the next pair of a cycle
    (skipping pairs that are slow-only for its model), so that all 9 pairs appear overall."""
    fast, i = set(), 0
    for name, tp in POINTS:
        for _ in range(len(COMBOS)):
            s, sol = COMBOS[(i * 4) % len(COMBOS)]
            i += 1
            if (name, s, sol) not in SLOW_ONLY:
                fast.add((name, tp, s, sol))
                break
    return fast


FAST = _fast_subset()
CASES = [pytest.param(name, tp, s, sol, id=f"{name}-{tp:.4g}-{s}-{sol}",
                      marks=() if (name, tp, s, sol) in FAST else (pytest.mark.slow,))
         for (name, tp), (s, sol) in itertools.product(POINTS, COMBOS)]


def test_fast_subset_covers_every_model_point_set_and_solver():
    assert {(c[0], c[1]) for c in FAST} == set(POINTS)
    assert {c[2] for c in FAST} == set(SETS) and {c[3] for c in FAST} == set(SOLVERS)
    assert {(c[2], c[3]) for c in FAST} == set(COMBOS)


def test_references_are_sane(reference, reference_delta):
    """The data were chosen so that every θp point is feasible at θ̄m with room for the set, and
    the exact probabilities agree with the numpy Monte Carlo (a check of the references)."""
    for (name, tp), (p, se) in reference.items():
        spec = USER_MODELS[name]
        g0 = spec["g"](tp, np.asarray([spec["data"]["theta_m_nominal"]], float))
        assert np.all(np.isfinite(g0)) and np.all(g0 < 0), (name, tp, g0)
        assert 0.5 < p < 1.0, (name, tp, p)
        if spec["p_true"] is not None:  # closed form vs numpy MC of the numpy g
            d = spec["data"]
            rng = np.random.default_rng(3)
            th = np.asarray(d["theta_m_nominal"]) + rng.standard_normal(
                (200_000, len(d["theta_m_nominal"]))) @ np.linalg.cholesky(np.asarray(d["covariance"])).T
            g = spec["g"](tp, th)
            p_mc = np.mean(np.all(np.isfinite(g), axis=1) & np.all(np.nan_to_num(g, nan=1.0) <= 0, axis=1))
            assert p_mc == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / 200_000) + 1e-9)
        for s in SETS:  # the interior: 0 < δ < δ_max, and ray search == closed form where both exist
            dref = reference_delta.get((name, tp, s))
            if dref is not None:
                assert 0.2 < dref < 6.0, (name, tp, s, dref)
            if spec["delta"] is not None and len(spec["data"]["theta_m_nominal"]) <= 2:
                assert delta_reference(name, tp, "box" if s == "box" else "ellipsoid") == pytest.approx(
                    spec["delta"](tp, s), rel=1e-6)


@pytest.mark.parametrize("name, tp, uset, solver", CASES)
def test_index_probability_never_exceeds_the_truth(reference, reference_delta, name, tp, uset, solver):
    _need(solver)
    spec = USER_MODELS[name]
    p_true, se = reference[(name, tp)]
    r = flexspace.flexibility_index(built(name), [tp], uset, solver, **KW)
    status = r.status.value
    if status == "nominal infeasible":
        # claims g(θp, θ̄m) > 0, which the reference contradicts for every point here
        pytest.fail(f"nominal point is feasible by the reference (p_true={p_true:.4f}), got:\n{r}")
    if status != "ok":
        return  # no claim made
    # 1e-6: the index is solved to a relative gap (1e-5), which moves P(set(δ)) by < 1e-6 here
    assert r.probability <= p_true + 3 * se + 1e-6, (
        f"P(set(δ)) = {r.probability:.6f} exceeds the true probability {p_true:.6f} ± {se:.1e}\n{r}")
    exact = reference_delta.get((name, tp, uset))
    if exact is not None:
        assert r.delta == pytest.approx(exact, rel=1e-4), f"reference δ = {exact:.8g}\n{r}"
        if r.delta_lower_bound is not None:
            assert r.delta_lower_bound <= exact * (1 + 1e-5), f"reference δ = {exact:.8g}\n{r}"


# --------------------------------------------------------------------------- Monte Carlo
@pytest.mark.parametrize("name", list(USER_MODELS))
def test_monte_carlo_matches_numpy_on_the_same_samples(name):
    """Per-sample Pyomo solves (no simulator) give the numpy verdicts on common random numbers;
    a sample with no solution (domain hole) is infeasible, never feasible."""
    _need("ipopt")
    spec = USER_MODELS[name]
    d = spec["data"]
    mean = np.asarray(d["theta_m_nominal"], float)
    rng = np.random.default_rng(99)
    S = mean + rng.standard_normal((150, mean.size)) @ np.linalg.cholesky(np.asarray(d["covariance"])).T
    tp = d["tps"][0]
    g = spec["g"](tp, S)
    fin = np.all(np.isfinite(g), axis=1)
    assert np.min(np.abs(g[fin])) > 1e-6  # no sample on a CQA boundary
    p_np = float(np.mean(fin & np.all(np.nan_to_num(g, nan=1.0) <= 0, axis=1)))
    r = monte_carlo_probability(built(name), [tp], samples=S, solver="ipopt")
    assert r.n_samples == S.shape[0]
    assert r.probability == p_np, f"{name}: MC {r.probability} (failed {r.n_failed}) vs numpy {p_np}"
    if name.startswith("hole"):
        assert (~fin).sum() > 5  # the samples do reach the hole
        assert r.n_failed <= (~fin).sum()


# --------------------------------------------------------------------------- confidence > δ_max
R99 = math.sqrt(stats.chi2.ppf(0.99, LIN_A.size))  # 6.129 > δ_max = 6


@pytest.mark.parametrize("uset, solver", [
    pytest.param(s, sol, id=f"{s}-{sol}", marks=(pytest.mark.slow,) if ("linear20", s, sol) in SLOW_ONLY else ())
    for s, sol in itertools.product(["ellipsoid", "ldl"], SOLVERS)])
def test_confidence_099_in_20_dimensions_is_not_clipped_at_delta_max(uset, solver):
    """p_c = 0.99 in 20 dimensions gives δ = 6.13 > δ_max = 6.  With b between the maximum of
    a·θ over the δ_max-box-clipped ellipsoid (a·θ̄ + 6.09 s) and over the true one (a·θ̄ + 6.13 s),
    the true χ = max a·θ − b is > 0: the design is NOT feasible at 99 %."""
    _need(solver)
    assert R99 > built("linear20").delta_max
    b = LIN_C + 6.11 * LIN_S
    assert linear_max_over_ellipsoid(R99) - b > 0.02
    t = flexspace.flexibility_test(built("linear20"), [b], confidence=0.99, uncertainty_set=uset, solver=solver,
                                   **KW)
    assert not t.feasible, str(t)
    if t.status.value == "ok":
        assert t.delta_m == pytest.approx(R99, rel=1e-6), str(t)
        assert t.chi == pytest.approx(linear_max_over_ellipsoid(R99) - b, rel=1e-3), str(t)


# --------------------------------------------------------------------------- design spaces on the hole
@pytest.mark.parametrize("name, solver", [
    # an Ipopt map point takes ~10 s here (certification by square solves): one model in the fast run
    pytest.param(n, sol, id=f"{sol}-{n}", marks=(pytest.mark.slow,) if (sol, n) == ("ipopt", "hole_sym") else ())
    for sol in SOLVERS for n in ("hole", "hole_sym")])
def test_index_map_region_lies_in_the_true_region(name, solver):
    """Algorithm 2 on a model with a domain hole: every point of region(p_c) truly has
    P(all CQAs) >= p_c (closed form), and only status-ok points are in it."""
    _need(solver)
    p_c = 0.85
    # p_true: 0.84 (CQA side), 0.997, 0.93 (1.5 σ from the hole), 0.69 (0.5 σ from the hole)
    grid = [np.array([0.5, 0.7, 0.85, 0.95])]
    mp = flexspace.flexibility_index_map(built(name), grid=grid, uncertainty_set="ellipsoid", solver=solver,
                                         progress=False)
    inside = np.asarray(mp.region(p_c)).ravel()
    status = mp.table["status"].astype(str).to_numpy()
    p_true = np.array([USER_MODELS[name]["p_true"](tp) for tp in grid[0]])
    assert np.all(status[inside] == trusted_status(solver)), mp.table  # ok (global) or sampled (Ipopt)
    bad = inside & (p_true < p_c)
    assert not bad.any(), f"in region({p_c}) but truly P < p_c at tp = {grid[0][bad]}:\n{mp.table}"
    ok = status == trusted_status(solver)
    assert np.all(mp.table["probability"].to_numpy(float)[ok] <= p_true[ok] + 1e-6), mp.table


@pytest.mark.parametrize("name", ["hole", "hole_sym"])
@pytest.mark.parametrize("solver", ["scip", "maingo"])
def test_flexibility_test_region_stays_out_of_the_hole(name, solver):
    """Algorithm 3: the θp rectangle at p_c = 0.85 must lie inside the exact interval
    [k̄ + δσ − 0.6, k̄ − δσ] (k must stay above tp — the hole — and below tp + 0.6 — the CQA)."""
    _need(solver)
    lo, hi = hole_interval(0.85)
    assert HOLE["tp_bounds"][0][0] < lo < 0.7 < hi < HOLE["tp_bounds"][0][1]
    reg = flexspace.flexibility_test_region(built(name), confidence=0.85, theta_p_nominal=[0.7],
                                            uncertainty_set="ellipsoid", solver=solver,
                                            algorithm=flexspace.Bisection(max_time=60))
    assert reg.lower[0] >= lo - 1e-4 and reg.upper[0] <= hi + 1e-4, str(reg)
