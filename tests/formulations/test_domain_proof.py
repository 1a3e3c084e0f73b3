"""The model's domain proven once over a θp box (FlexibilityAnalysis.prove_domain), and the
index subproblems solved on the smaller set(δ) once a δ is known — both are speed-ups that
must never change an answer: each test compares with a closed form or with the same
analysis done point by point."""
import numpy as np
import pyomo.environ as pyo
import pytest

import flexspace
from flexspace import FlexibilityAnalysis, ProcessModel, ResultStatus
from flexspace.errors import ValidationError
from flexspace.designspace import flexibility_index_map

#: the map preset with a time limit far above need: no assertion may depend on machine speed
INDEX_MAP = flexspace.options.PRESETS["index_map"].replace(time_limit=600.0)
GLOBAL = [s for s in ("maingo", "scip") if s in flexspace.available_solvers()]
pytestmark = pytest.mark.skipif(not GLOBAL, reason="needs a global solver")


def _hole_model():
    """x² = k − tp (no real state for k < tp), CQA x ≤ 1.5 (violated for k > 2.25 + tp),
    k ~ N(2, 0.5²): δ(tp) = min((2 − tp)/0.5, (0.25 + tp)/0.5) — the domain's edge decides
    for tp > 0.875."""
    m = pyo.ConcreteModel()
    m.tp = pyo.Param(mutable=True, initialize=1.0)
    m.k = pyo.Param(mutable=True, initialize=2.0)
    m.x = pyo.Var(bounds=(0.0, 10), initialize=1.0)
    m.c = pyo.Constraint(expr=m.x ** 2 == m.k - m.tp)
    m.q = pyo.Constraint(expr=m.x <= 1.5)
    return ProcessModel(m, {"tp": m.tp}, {"k": m.k}, {"q": m.q}, covariance=[[0.5 ** 2]], theta_p_bounds=[(0, 1.9)])


def _bound_model():
    """x ∈ [−5, p], x = θ, θ ~ N(0.5, 0.1²): no solution for θ > p ⇒ δ(p) = (p − 0.5)/0.1."""
    m = pyo.ConcreteModel()
    m.p = pyo.Param(mutable=True, initialize=1.0)
    m.th = pyo.Param(mutable=True, initialize=0.5)
    m.x = pyo.Var(bounds=(-5, m.p), initialize=0.5)
    m.eq = pyo.Constraint(expr=m.x == m.th)
    m.g = pyo.Expression(expr=m.x - 10)
    return ProcessModel(m, {"p": m.p}, {"th": m.th}, {"g": m.g}, covariance=[[0.01]], theta_p_bounds=[(0.7, 1.0)])


@pytest.mark.parametrize("solver", GLOBAL)
@pytest.mark.parametrize("build, grid, closed_form", [
    (_hole_model, [0.0, 0.5, 1.0, 1.5], lambda tp: min((2 - tp) / 0.5, (0.25 + tp) / 0.5)),
    (_bound_model, [0.7, 0.8, 0.9, 1.0], lambda p: (p - 0.5) / 0.1),
])
def test_a_domain_left_inside_the_box_is_not_proven_once_and_still_bounds_delta(solver, build, grid, closed_form):
    model = build()
    fa = FlexibilityAnalysis(model, "box", solver, {"time_limit": 600.0})
    proof = fa.prove_domain([min(grid)], [max(grid)])
    assert proof is not None and not proof.complete and proof.unproven  # the edge is inside the box
    dm = flexibility_index_map(model, grid=[np.array(grid)], uncertainty_set="box", solver=solver, progress=False,
                              options=INDEX_MAP)
    assert list(dm.table["status"]) == ["ok"] * len(grid)
    np.testing.assert_allclose(dm.table["delta"], [closed_form(x) for x in grid], rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def case1_pointwise():
    """Case 1 (full form, MAiNGO): δ at three points without and with the proof over the seed box."""
    from flexspace.models.cases import case_model

    model = case_model("case1", "full")
    pts = [model.theta_p_nominal, np.array([4.2, 380.0]), np.array([5.0, 450.0])]
    plain = FlexibilityAnalysis(model, "ellipsoid", "maingo", INDEX_MAP)
    once = FlexibilityAnalysis(model, "ellipsoid", "maingo", INDEX_MAP)
    proof = once.prove_domain()
    return proof, [plain.index(p) for p in pts], [once.index(p) for p in pts]


@pytest.mark.skipif("maingo" not in flexspace.available_solvers(), reason="needs MAiNGO")
def test_case1_domain_proven_once_gives_the_same_index_as_point_by_point(case1_pointwise):
    proof, plain, once = case1_pointwise
    assert proof.complete and "domain: singular Jacobian" in proof.proven
    for a, b in zip(plain, once):
        assert a.status == b.status == ResultStatus.OK
        assert b.delta == pytest.approx(a.delta, rel=1e-5)
        assert "prove_domain" in b.domain and "prove_domain" not in a.domain
        assert not any(s.constraint.startswith("domain") for s in b.subproblems)
        assert any(s.constraint.startswith("domain") for s in a.subproblems)


@pytest.mark.skipif("maingo" not in flexspace.available_solvers(), reason="needs MAiNGO")
def test_a_point_outside_the_proven_box_is_checked_point_by_point():
    from flexspace.models.cases import case_model

    model = case_model("case1", "full")
    fa = FlexibilityAnalysis(model, "ellipsoid", "maingo", INDEX_MAP)
    fa.prove_domain([4.5, 490.0], [4.7, 510.0])
    inside, outside = fa.index([4.6, 500.0]), fa.index([5.0, 450.0])
    assert "prove_domain" in inside.domain
    assert "prove_domain" not in outside.domain and any(s.constraint.startswith("domain")
                                                        for s in outside.subproblems)
    with pytest.raises(ValidationError, match="theta_p_upper"):
        fa.prove_domain([5.0, 500.0], [4.0, 510.0])


@pytest.mark.skipif("maingo" not in flexspace.available_solvers(), reason="needs MAiNGO")
def test_a_constraint_solved_on_the_smaller_set_reports_that_set_not_delta_max():
    """Case 2 (reduced, MAiNGO) at (20, 1200): ACm is active (δ ≈ 4.056); conversion is then
    solved on set(1.05 δ) only, where it has no violation — its result must say "no violation
    up to 1.05 δ", never "up to δ_max" (which nobody proved)."""
    from flexspace.models.cases import case_model

    fa = FlexibilityAnalysis(case_model("case2", "reduced"), "ellipsoid", "maingo", INDEX_MAP)
    r = fa.index([20.0, 1200.0])
    assert r.status == ResultStatus.OK and r.worst_constraint == "ACm"
    conv = next(s for s in r.subproblems if s.constraint == "conversion")
    if conv.status.value == "infeasible":
        assert not conv.capped and r.delta < conv.value < fa.delta_max
        assert conv.value == pytest.approx(1.05 * r.delta, rel=1e-6)
        assert f"{conv.value:.6g}" in conv.message
    else:  # solved (δ_conv ≤ 1.05 δ) or cut off at the best δ: either way at least δ
        assert conv.value >= r.delta - 1e-9


@pytest.mark.skipif("maingo" not in flexspace.available_solvers(), reason="needs MAiNGO")
def test_use_domain_box_proves_once_only_after_the_point_checks_have_cost_a_second():
    from flexspace.formulations import flexibility as F
    from flexspace.models.cases import case_model

    model = case_model("case1", "full")
    fa = FlexibilityAnalysis(model, "ellipsoid", "maingo", INDEX_MAP)
    fa.use_domain_box()
    pts = [np.array([a, b]) for a in np.linspace(4.3, 5.3, 10) for b in np.linspace(420.0, 540.0, 8)]
    results, spent = [], 0.0
    for p in pts:
        before = fa.domain_proof
        r = fa.index(p)
        results.append(r)
        if before is None:
            spent += r.time  # ≥ the domain work counted towards AUTO_PROOF_AFTER
        elif len(results) > 3 + results.index(next(x for x in results if "prove_domain" in x.domain)):
            break
    assert fa.domain_proof is not None and fa.domain_proof.complete
    assert spent >= F.AUTO_PROOF_AFTER  # not bought before the per-point checks had cost that much
    assert any("prove_domain" not in r.domain for r in results)  # the first points: point by point
    assert "prove_domain" in results[-1].domain
    plain = FlexibilityAnalysis(model, "ellipsoid", "maingo", INDEX_MAP)
    for p, r in list(zip(pts, results))[len(results) - 2:]:
        assert r.status == plain.index(p).status and r.delta == pytest.approx(plain.index(p).delta, rel=1e-5)
