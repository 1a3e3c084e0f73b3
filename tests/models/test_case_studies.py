"""Case 1 and case 2: simulators vs Pyomo, and the flexibility region is conservative vs Monte Carlo."""
import numpy as np
import pytest

import flexspace
from flexspace import FlexibilityAnalysis, ResultStatus
from flexspace.models.cases import case1, case2
from flexspace.montecarlo import monte_carlo_probability, sample_theta_m


@pytest.mark.parametrize("case", [case1, case2])
def test_simulator_matches_pyomo(case):
    model = case.model()
    tm = sample_theta_m(model, 5, random_state=3)
    lo, hi = case.THETA_P_BOUNDS[:, 0], case.THETA_P_BOUNDS[:, 1]
    for tp in (lo + 0.3 * (hi - lo), lo + 0.8 * (hi - lo)):
        g_sim = model.simulate(tp, tm)
        g_pyo = model.evaluate_pyomo(tp, tm, solver="ipopt")
        assert np.allclose(g_sim, g_pyo, rtol=1e-6, atol=1e-9)


def test_case1_closed_form_satisfies_balances():
    cA, cB, cC, cD = case1.steady_state(4.6, 450.0, 0.31, 0.027)
    k1, k2, tau = 0.31, 0.027, 450.0
    assert case1.CA_IN - cA - tau * k1 * cA * cB == pytest.approx(0, abs=1e-12)
    assert -cC + tau * (k1 * cA * cB - k2 * cC) == pytest.approx(0, abs=1e-12)


def test_case2_batched_newton_residual_and_failures():
    model = case2.model()
    tm = sample_theta_m(model, 2000, random_state=0)
    c = case2.steady_state(20.0, 1100.0, tm)
    r, _ = case2.rates(c, tm)
    res = case2.feed(np.array(20.0)) - c + 1100.0 * r @ case2.NU.T
    assert np.max(np.abs(res)) < 1e-10
    bad = tm.copy()
    bad[0, 2] = -1.0  # a negative rate constant: the sample is marked failed, not feasible
    assert np.isnan(model.simulate([20.0, 1100.0], bad)[0]).all()


def test_case2_reduced_space_model_matches_simulator():
    """The 3-state reduced form of case 2 (for MAiNGO) is the same steady state as the
    7-state balances: g from square Ipopt solves equals the batched-Newton simulator."""
    red = case2.model(formulation="reduced")
    assert red.delta_max == case2.DELTA_MAX
    tm = sample_theta_m(red, 6, random_state=5)
    for tp in ((12.0, 500.0), (20.0, 1100.0), (28.0, 1400.0)):
        assert np.allclose(red.evaluate_pyomo(tp, tm, solver="ipopt"), red.simulate(tp, tm), rtol=1e-7, atol=1e-10)


def test_case2_delta_max_keeps_rate_constants_positive():
    """Case 2's default δ_max keeps set(δ_max) inside k > 0 (k4 is 5.93 σ from 0), so the
    simulator can certify a capped point; an analysis picks the model's cap by default."""
    model = case2.model()
    sd = np.sqrt(np.diag(model.covariance))
    assert np.all(model.theta_m_nominal - model.delta_max * sd > 0)
    assert FlexibilityAnalysis(model, "box", "ipopt").delta_max == case2.DELTA_MAX
    assert FlexibilityAnalysis(model, "box", "ipopt", {"delta_max": 4.0}).delta_max == 4.0


def test_case2_covariance_as_transcribed_is_refused():
    with pytest.raises(ValueError, match=r"not symmetric: \(0,3\)=0\.001523 vs \(3,0\)=-0\.001523"):
        case2.model(covariance=case2.COVARIANCE_AS_TRANSCRIBED)


CASE1_POINTS = [(4.2, 380.0), (4.6, 420.0), (5.0, 500.0), (5.4, 450.0)]
CASE1_REDUCED = case1.model(formulation="reduced")


@pytest.mark.parametrize("tp", CASE1_POINTS)
def test_case1_region_is_conservative_vs_monte_carlo(case1_model, tp):
    """P(θm ∈ E(δ)) from a global flexibility index ≤ Monte Carlo probability + its SE.

    Three global routes: every one that proves its answer must be conservative; one that
    does not must be FAILED (never feasible).  MAiNGO on the reduced-space formulation
    (the route the package recommends for MAiNGO) must prove every point.  Measured: MAiNGO
    full-space times out at (4.2, 380), SCIP full-space at (5.4, 450)."""
    mc = monte_carlo_probability(case1_model, tp, n_samples=20000, random_state=1)
    assert mc.n_failed == 0
    results = {}
    for name, model, solver in (("maingo-reduced", CASE1_REDUCED, "maingo"), ("maingo-full", case1_model, "maingo"),
                                ("scip-full", case1_model, "scip")):
        r = flexspace.flexibility_index(model, tp, "ellipsoid", solver, options={"time_limit": 15},
                                        diagnose_failures=False)
        results[name] = r
        if r.ok:
            assert r.status == ResultStatus.OK and r.is_global and r.certified
            assert r.probability <= mc.probability + mc.std_error, (name, r.probability, mc)
        else:
            assert r.status == ResultStatus.FAILED and np.isnan(r.probability) and r.certified is False
    assert results["maingo-reduced"].ok
    proven = [r.delta for r in results.values() if r.ok]
    assert max(proven) - min(proven) < 1e-4  # the global routes agree where they prove


@pytest.mark.parametrize("set_kind", ["box", "ellipsoid"])
@pytest.mark.parametrize("solver", ["scip", "maingo"])
@pytest.mark.parametrize("tp", CASE1_POINTS[1:3])
def test_case1_enumeration_and_minlp_agree(case1_model, solver, tp, set_kind):
    fa = FlexibilityAnalysis(case1_model, set_kind, solver, {"time_limit": 30})
    e, m = fa.index(tp), fa.index(tp, method="minlp")
    assert e.ok and m.ok, (str(e), str(m))
    assert e.delta == pytest.approx(m.delta, abs=1e-5)


CASE2_POINTS = [(20.0, 1100.0), (25.0, 1300.0), (16.0, 1000.0)]


@pytest.mark.parametrize("tp", CASE2_POINTS)
def test_case2_local_region_is_conservative_vs_monte_carlo(case2_model, tp):
    """Ipopt (scenario-certified by sampling, never proven) ellipsoid index on case 2 vs Monte Carlo."""
    r = flexspace.flexibility_index(case2_model, tp, "ldl", "ipopt")
    assert r.status == ResultStatus.SAMPLED and r.certified and r.trusted and not r.ok, str(r)
    mc = monte_carlo_probability(case2_model, tp, n_samples=20000, random_state=1)
    assert mc.n_failed == 0
    assert r.probability <= mc.probability + mc.std_error, (r.probability, mc)


def test_nominal_infeasible_gives_zero_not_crash(case1_model):
    r = flexspace.flexibility_index(case1_model, (6.0, 450.0), "ellipsoid", "maingo")
    assert r.status == ResultStatus.NOMINAL_INFEASIBLE
    assert r.delta == 0.0 and r.probability == 0.0 and r.worst_constraint == "purity"
    assert "nominal infeasible" in str(r)


CASE2_REDUCED = case2.model(formulation="reduced")


@pytest.mark.parametrize("tp", CASE2_POINTS + [(12.0, 800.0)])
def test_case2_maingo_region_is_conservative_vs_monte_carlo(tp):
    """MAiNGO (global) ellipsoid index on case 2's reduced-space form: P(θm ∈ E(δ)) ≤ MC + SE,
    and the LDL form gives the same δ.  Measured: < 2 s per index (the seven-state form times
    out at 60 s)."""
    mc = monte_carlo_probability(CASE2_REDUCED, tp, n_samples=20000, random_state=1)
    assert mc.n_failed == 0
    r = flexspace.flexibility_index(CASE2_REDUCED, tp, "ellipsoid", "maingo", options={"time_limit": 30},
                                    diagnose_failures=False)
    assert r.status in (ResultStatus.OK, ResultStatus.NOMINAL_INFEASIBLE), str(r)
    assert r.is_global and (r.certified or r.status == ResultStatus.NOMINAL_INFEASIBLE)
    assert r.probability <= mc.probability + mc.std_error, (r.probability, mc)
    ldl = flexspace.flexibility_index(CASE2_REDUCED, tp, "ldl", "maingo", options={"time_limit": 30},
                                      diagnose_failures=False)
    assert ldl.status == r.status and ldl.delta == pytest.approx(r.delta, rel=2e-5)


@pytest.mark.parametrize("set_kind", ["box", "ellipsoid"])
@pytest.mark.parametrize("tp", [(20.0, 1100.0), (16.0, 1000.0)])
def test_case2_enumeration_and_minlp_agree(tp, set_kind):
    """Case 2, MAiNGO: one NLP per g_k and the big-M MINLP give the same δ to 1e-5."""
    fa = FlexibilityAnalysis(CASE2_REDUCED, set_kind, "maingo", {"time_limit": 30}, diagnose_failures=False)
    e, m = fa.index(tp), fa.index(tp, method="minlp")
    assert e.ok and m.ok and e.is_global and m.is_global, (str(e), str(m))
    assert e.delta == pytest.approx(m.delta, abs=1e-5)


def test_case2_global_box_is_conservative_vs_monte_carlo(case2_model):
    """SCIP (global) box index on case 2's seven-state form at (20, 1100)."""
    r = flexspace.flexibility_index(case2_model, (20.0, 1100.0), "box", "scip", options={"time_limit": 30})
    assert r.status == ResultStatus.OK and r.is_global
    mc = monte_carlo_probability(case2_model, (20.0, 1100.0), n_samples=20000, random_state=1)
    assert r.probability <= mc.probability + mc.std_error, (r.probability, mc)
