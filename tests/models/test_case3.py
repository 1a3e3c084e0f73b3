"""Case 3: the IDAES saponification CSTR.  The index at three θp equals an independent
scipy model of the same equations (brentq steady state, a scan of the ellipsoid's directions
refined by a bounded scalar search) within 1e-6; the three algorithms nest on a grid."""
import numpy as np
import pyomo.environ as pyo
import pytest
from pyomo.core.base.suffix import SuffixFinder

from flexspace import FlexibilityAnalysis, flexibility_index_map, flexibility_test_region, monte_carlo_map
from flexspace.models.cases import case3
from flexspace.solvers import available_solvers, has_user_scaling
from support.case3_reference import reference_index as _reference_index

THETA_PS = [(2.0e-3, 306.0), (1.5e-3, 310.0), (2.5e-3, 300.0)]
GLOBAL = [s for s in ("scip", "gurobi") if s in available_solvers()]


@pytest.fixture(scope="module")
def model():
    return case3.model()


def test_the_flowsheet_matches_the_numpy_simulator(model):
    tm = case3.THETA_M_NOMINAL * np.array([[1.0, 1.0], [1.2, 0.99], [0.8, 1.01]])
    for tp in THETA_PS:
        assert model.evaluate_pyomo(np.array(tp), tm) == pytest.approx(model.simulate(np.array(tp), tm), abs=1e-9)


@pytest.mark.skipif(not GLOBAL, reason="needs scip or gurobi")
@pytest.mark.parametrize("tp", THETA_PS)
def test_index_equals_an_independent_scipy_model(model, tp):
    ref = _reference_index(tp)
    r = FlexibilityAnalysis(model, "ellipsoid", GLOBAL[0], {"gap": 1e-9, "abs_gap": 1e-9}).index(np.array(tp))
    assert r.status.value == "ok", str(r)
    assert r.delta == pytest.approx(ref, abs=1e-6)
    # the proven bracket holds the reference (the lower bound is the global solver's, at its own
    # feasibility tolerance; δ is its point polished by Ipopt)
    assert r.delta_lower_bound <= ref + 1e-9 and ref <= r.delta + 1e-9
    assert r.units == {"V": "m**3", "T_in": "K", "Ea": "kJ/mol"} and f"V={tp[0]:g} m**3" in str(r)


@pytest.mark.skipif("ipopt" not in available_solvers(), reason="needs ipopt")
def test_local_index_matches_and_is_labelled_sampled_not_ok(model):
    ref = _reference_index(THETA_PS[0])
    r = FlexibilityAnalysis(model, "ellipsoid", "ipopt").index(np.array(THETA_PS[0]))
    assert r.status.value == "sampled" and not r.is_global
    assert r.delta == pytest.approx(ref, abs=1e-6)


@pytest.mark.skipif("maingo" not in available_solvers(), reason="needs maingo")
def test_maingo_fails_honestly_where_it_calls_the_flowsheet_infeasible(model):
    """MAiNGO (deltaEq 1e-8) calls this flowsheet's square system infeasible at the nominal θ;
    before the probe it returned δ = δ_max 'proven' (caught only by the simulator's sampling).
    A correct answer is also accepted, a false one never."""
    fa = FlexibilityAnalysis(model, "ellipsoid", "maingo")
    for tp in THETA_PS[:2]:  # the verdict holds for every later point of the analysis, not the first only
        r = fa.index(np.array(tp))
        if r.status.value == "failed":
            assert "cannot be trusted" in r.diagnostics
        else:
            assert r.status.value == "ok" and r.delta == pytest.approx(_reference_index(tp), abs=1e-6)


@pytest.mark.skipif("scip" not in available_solvers(), reason="needs scip")
def test_algorithm_3_inside_algorithm_2_inside_monte_carlo(model):
    grid = [np.linspace(1.0e-3, 3.0e-3, 9), np.linspace(298.15, 316.15, 9)]
    pc = 0.85
    mc = monte_carlo_map(model, grid=grid, n_samples=2000, random_state=0)
    assert (mc.axis_label(0), mc.axis_label(1)) == ("V [m**3]", "T_in [K]")  # the flowsheet's own units
    assert model.theta_m_units == ["", "kJ/mol"]
    fi = flexibility_index_map(model, grid=grid, uncertainty_set="ellipsoid", solver="scip")
    assert not fi.failed.any()
    a2, a1 = fi.region(pc), mc.region(pc)
    assert a2.any() and not a2.all()  # the CQAs bound the region inside the grid
    assert np.all(a1[a2])  # Alg 2 ⊆ MC
    reg = flexibility_test_region(model, pc, uncertainty_set="ellipsoid", solver="scip")
    pts = np.stack(np.meshgrid(*grid, indexing="ij"), axis=-1)  # (9, 9, 2), a2's layout
    inside = reg.contains(pts.reshape(-1, 2)).reshape(a2.shape)
    assert inside.any()  # the rectangle holds grid points: the check below is not vacuous
    assert reg.n_failed == 0 and np.all(a2[inside])  # Alg 3 ⊆ Alg 2


@pytest.mark.skipif("ipopt" not in available_solvers(), reason="needs ipopt")
def test_idaes_scaling_is_kept_and_used_with_the_same_answer():
    """IDAES's scaling factors survive into flexspace's problems (Ipopt then runs with
    user-scaling) and the answer is the same physics' answer."""
    scaled = case3.model(idaes_scaling=True)
    assert has_user_scaling(scaled.instance().model) and not has_user_scaling(case3.build_flowsheet())
    # the constraint factors follow the equations into flexspace's rewritten h (the originals are inactive)
    flowsheet, top = case3.build_flowsheet(idaes_scaling=True), scaled.instance().model
    ours = sorted(float(v) for v in top.scaling_factor.values())
    theirs = sorted(float(v) for c in flowsheet.component_data_objects(pyo.Constraint, active=True, descend_into=True)
                    for v in [SuffixFinder("scaling_factor", None, flowsheet).find(c)] if v is not None)
    assert ours and ours == theirs
    ref = _reference_index(THETA_PS[0])
    for solver in ["ipopt"] + GLOBAL[:1]:
        r = FlexibilityAnalysis(scaled, "ellipsoid", solver).index(np.array(THETA_PS[0]))
        assert r.status.value == ("ok" if solver != "ipopt" else "sampled"), str(r)
        assert r.delta == pytest.approx(ref, abs=1e-6)
