"""Flexibility index and test with recourse (controls), checked against independent answers:

* the heat-exchanger network (Grossmann & Floudas 1987, as stated in FlexJuMP's docs): the
  published box index 0.5 with ±10 K deviations, and the exact projection of its feasible
  region onto the temperatures by Fourier–Motzkin elimination of Qc (numpy, below) for the
  box and ellipsoid indices and the flexibility test;
* small nonlinear models with one control whose indices are derived by hand.

Timings on this shared machine are inflated (several agents share 2 cores).
"""
import itertools

import numpy as np
import pyomo.environ as pyo
import pytest
from scipy.optimize import linprog
from scipy.stats import chi2

from flexspace import ProcessModel
from flexspace.errors import ValidationError
from flexspace.formulations import FlexibilityAnalysis
from flexspace.formulations.bracket import VIOLATION_TOL
from flexspace.formulations.recourse import RecourseAnalysis, RecourseIndexResult
from flexspace.formulations.results import ResultStatus
from flexspace.formulations.sets import BoxSet
from flexspace.models.cases import case1, hx_network as hx
from flexspace.solvers import available_solvers

GLOBAL = [s for s in ("maingo", "scip", "gurobi") if s in available_solvers()]


# --------------------------------------------------------------------------- independent answers
def fourier_motzkin(A, b, j):
    """Eliminate variable ``j`` from ``A x <= b``: every pair (upper bound, lower bound) on x_j
    gives one inequality; rows without x_j are kept.  Returns (A', b') without column j; a row
    of A' that is all zero is a constant condition 0 <= b' (violated: infeasible everywhere)."""
    pos, neg, zero = (np.flatnonzero(A[:, j] > 0), np.flatnonzero(A[:, j] < 0), np.flatnonzero(A[:, j] == 0))
    rows = [A[p] / A[p, j] - A[q] / A[q, j] for p in pos for q in neg]
    rhs = [b[p] / A[p, j] - b[q] / A[q, j] for p in pos for q in neg]
    A2, b2 = np.vstack(rows + [A[zero]]), np.r_[rhs, b[zero]]
    return np.delete(A2, j, axis=1), b2


def box_index(C, d, center, half):
    """Largest δ with ``C θ <= d`` on the whole box ``center ± δ half`` (0 if the centre is infeasible)."""
    slack, width = d - C @ center, np.abs(C) @ half
    if np.any(slack < 0):
        return 0.0
    return float(np.min(slack[width > 0] / width[width > 0]))


def hx_system(theta_p=hx.THETA_P_NOMINAL):
    """The HX inequalities as ``A [T1, T3, T5, T8, Qc] <= b`` (FlexJuMP docs, the operating
    range at θp, and the bounds of Qc)."""
    qmin, qmax = theta_p
    A = np.column_stack([hx.COEF, hx.QC])
    b = -hx.CONST.copy()
    b[5] += qmax
    b[6] -= qmin
    A = np.vstack([A, [0, 0, 0, 0, -1.0], [0, 0, 0, 0, 1.0]])
    return A, np.r_[b, -hx.QC_BOUNDS[0], hx.QC_BOUNDS[1]]


def projection_indices():
    """Box (±10 K units) and ellipsoid (σ units, Σ = 11.11 I) indices of the projected polyhedron
    ``C T <= d``: the largest δ with every row satisfied at its worst point of set(δ) —
    ``(d − C θ̄) / Σ|C| Δ`` for the box, ``(d − C θ̄) / sqrt(C Σ Cᵀ)`` for the ellipsoid."""
    C, d = fourier_motzkin(*hx_system(), j=4)
    box = box_index(C, d, hx.T_NOMINAL, np.full(4, hx.BOX_HALF_WIDTH))
    keep = np.any(C != 0, axis=1)
    C, d = C[keep], d[keep]
    ell = np.min((d - C @ hx.T_NOMINAL) / np.sqrt(np.einsum("ij,jk,ik->i", C, hx.VARIANCE * np.eye(4), C)))
    return float(box), float(ell)


def psi_lp(theta_m, theta_p=hx.THETA_P_NOMINAL):
    """ψ(θ) = min_Qc max_k g_k by an LP (scipy/HiGHS) on variables (Qc, u)."""
    a, B = hx.linear_data(theta_p, np.atleast_2d(theta_m))
    r = linprog([0.0, 1.0], A_ub=np.column_stack([B[0, :, 0], -np.ones(len(a[0]))]), b_ub=-a[0],
                bounds=[hx.QC_BOUNDS, (None, None)], method="highs")
    assert r.status == 0
    return r.fun


def box10(model):
    return BoxSet(hx.T_NOMINAL, model.covariance, delta_minus=np.full(4, 10.0), delta_plus=np.full(4, 10.0))


@pytest.fixture(scope="module")
def hx_model():
    return hx.model()


# --------------------------------------------------------------------------- HX network
def test_fourier_motzkin_reproduces_the_published_box_index():
    box, ell = projection_indices()
    assert box == pytest.approx(hx.PUBLISHED_BOX_INDEX, abs=1e-12)
    assert ell == pytest.approx(1.8974614715, rel=1e-8)


@pytest.mark.parametrize("solver", GLOBAL)
def test_hx_box_index_kkt_is_the_published_half(hx_model, solver):
    r = RecourseAnalysis(hx_model, box10(hx_model), solver).index(method="kkt")
    assert isinstance(r, RecourseIndexResult) and r.status == ResultStatus.OK
    assert abs(r.delta - 0.5) <= 1e-6, r.delta
    assert r.solve_quality == "global" and r.assumption_verified and r.route == "kkt"
    theta = np.array([r.worst_theta_m[n] for n in hx_model.theta_m_names])
    assert np.max(np.abs(theta - hx.T_NOMINAL)) == pytest.approx(5.0, abs=1e-5)  # on the ±5 K box
    # the critical θ is on the edge of the feasible region: the index counts ψ >= τ as a violation
    assert -1e-6 <= psi_lp(theta) <= VIOLATION_TOL + 1e-6
    a, B = hx.linear_data(hx.THETA_P_NOMINAL, theta)
    g = a[0] + B[0, :, 0] * r.critical_z["Qc"]
    assert np.max(g) <= 1e-5 and set(r.active_constraints) <= set(hx.G_NAMES)
    assert all(g[hx.G_NAMES.index(k)] >= -1e-5 for k in r.active_constraints)


def test_hx_box_index_by_vertex_enumeration(hx_model):
    r = RecourseAnalysis(hx_model, box10(hx_model), "highs").index(method="vertex")
    assert r.status == ResultStatus.OK and abs(r.delta - 0.5) <= 1e-9 and r.route == "vertex"
    assert len([s for s in r.subproblems if s.constraint.startswith("vertex")]) == 16
    assert r.assumption_verified and "convex" in r.assumption


@pytest.mark.parametrize("uset", ["ellipsoid", "ldl"])
def test_hx_ellipsoid_index_matches_the_projection(hx_model, uset):
    _, ell = projection_indices()
    r = RecourseAnalysis(hx_model, uset, "scip").index()
    assert r.status == ResultStatus.OK and r.route == "exact"
    assert r.delta == pytest.approx(ell, rel=1e-5)
    assert r.probability == pytest.approx(chi2.cdf(r.delta ** 2, 4), rel=1e-9)  # P(θ in the ellipsoid)


def test_hx_flexibility_test_matches_vertex_lps(hx_model):
    """χ(δ) of a linear model over a box is max over the vertices of ψ (ψ is convex in θ)."""
    ra = RecourseAnalysis(hx_model, box10(hx_model), "scip")
    for delta in (0.49, 1.0):
        exact = max(psi_lp(hx.T_NOMINAL + delta * 10.0 * np.array(s)) for s in itertools.product((-1, 1), repeat=4))
        kkt = ra.test(delta=delta)
        vtx = RecourseAnalysis(hx_model, box10(hx_model), "highs").test(delta=delta, method="vertex")
        assert kkt.chi == pytest.approx(exact, abs=1e-6) and vtx.chi == pytest.approx(exact, abs=1e-6)
        assert kkt.feasible == (delta < 0.5) == vtx.feasible


def test_flexibility_analysis_and_algorithm_2_dispatch_to_recourse(hx_model):
    from flexspace import flexibility_index_map

    r = FlexibilityAnalysis(hx_model, box10(hx_model), "scip").index()
    assert isinstance(r, RecourseIndexResult) and abs(r.delta - 0.5) <= 1e-6
    grid = [np.array([20.0, 90.0]), np.array([80.0, 200.0])]
    dmap = flexibility_index_map(hx_model, grid, "box", "scip", progress=False)
    delta = np.asarray(dmap.table["delta"], float)
    # independent: the projection at each θp; box in σ units (Δ = sqrt(11.11))
    for tp, d in zip(dmap.points, delta):
        ref = box_index(*fourier_motzkin(*hx_system(tp), j=4), hx.T_NOMINAL, np.full(4, np.sqrt(hx.VARIANCE)))
        assert d == pytest.approx(ref, abs=1e-5), (tp, d, ref)


# --------------------------------------------------------------------------- nonlinear, by hand
def nonlinear_model(convex=True):
    """θm = (t1, t2) ~ N(0, I), control z, θp = a (nominal 1 or 0.5).

    convex (a = 1, z ∈ [−2, 2]): ``upper = z − t1 − a ≤ 0``, ``lower = t2² − z ≤ 0``.
    Some z exists iff t2² ≤ a + t1 (the bounds of z never bind for δ < 1).  By hand:
    * box (Δ = σ = 1): the worst vertex is (−δ, ±δ): δ² = a − δ ⇒ δ = (√(1 + 4a) − 1)/2
      = (√5 − 1)/2 = 0.6180340 for a = 1;
    * ellipsoid: the nearest point of t1 = t2² − a to 0 minimises t1² + t1 + a (t1 ≥ −a)
      at t1 = −1/2: δ² = a − 1/4 ⇒ δ = √0.75 = 0.8660254.
    g is linear in z (KKT route exact) and jointly convex (vertex route exact).

    nonconvex (a = 0.5, z ∈ [−5, 5]): ``lower = t2 − z``, ``upper = z − a − t1²``: feasible iff
    t2 ≤ a + t1², a nonconvex region; the worst point of the box is the face centre (0, δ):
    δ = a = 0.5, while every vertex (±δ, δ) stays feasible (δ ≤ a + δ²) — vertex
    enumeration is wrong here, the KKT route (g linear in z) is exact."""
    m = pyo.ConcreteModel()
    m.a = pyo.Param(mutable=True, initialize=1.0 if convex else 0.5)
    m.t1 = pyo.Param(mutable=True, initialize=0.0)
    m.t2 = pyo.Param(mutable=True, initialize=0.0)
    m.z = pyo.Var(bounds=(-2, 2) if convex else (-5, 5), initialize=0.0)
    if convex:
        gs = {"upper": lambda b: b.z - b.t1 - b.a, "lower": lambda b: b.t2 ** 2 - b.z}
    else:
        gs = {"lower": lambda b: b.t2 - b.z, "upper": lambda b: b.z - b.a - b.t1 ** 2}
    return ProcessModel(m, {"a": m.a}, {"t1": m.t1, "t2": m.t2}, gs, np.eye(2), theta_p_bounds=[(0.1, 2.0)],
                        controls={"z": m.z}, delta_max=3.0, name="nonlinear recourse")


@pytest.mark.parametrize("uset, solver, hand", [("box", "maingo", (5 ** 0.5 - 1) / 2),
                                                ("ellipsoid", "maingo", 0.75 ** 0.5),
                                                ("box", "scip", (5 ** 0.5 - 1) / 2)])
def test_nonlinear_index_kkt_equals_hand_value(uset, solver, hand):
    r = RecourseAnalysis(nonlinear_model(), uset, solver).index(method="kkt")
    assert r.status == ResultStatus.OK and r.solve_quality == "global" and r.assumption_verified
    assert abs(r.delta - hand) <= 1e-5, (r.delta, hand)
    assert set(r.active_constraints) == {"upper", "lower"}


def test_local_vertex_route_is_sampled_when_convex_and_uncertified_when_not():
    """A local vertex route on a nonlinear model proves nothing (convexity of psi in theta is not
    proven for nonlinear g): clean samples give 'sampled' with the scenario statement, never ok."""
    ok = RecourseAnalysis(nonlinear_model(), "box", "ipopt", {"n_certify": 150}).index()
    assert ok.route == "vertex" and not ok.is_global
    assert ok.status == ResultStatus.SAMPLED and ok.certified is True and not ok.ok
    assert ok.solve_quality.startswith("local, sampled: no violation region of sampling mass > 0.046")
    assert ok.certification["epsilon"] == pytest.approx(np.log(1e3) / 150)
    assert ok.delta == pytest.approx((5 ** 0.5 - 1) / 2, abs=1e-6)
    bad = RecourseAnalysis(nonlinear_model(convex=False), "box", "ipopt", {"n_certify": 40}).index()
    assert bad.delta > 0.5 + 1e-3  # vertex enumeration misses the face centre ...
    assert bad.status == ResultStatus.UNCERTIFIED and bad.certified is False  # ... and sampling says so
    assert bad.certification["violations"] > 0 and not bad.ok
    exact = RecourseAnalysis(nonlinear_model(convex=False), "box", "maingo").index(method="kkt")
    assert exact.status == ResultStatus.OK and abs(exact.delta - 0.5) <= 1e-5


def test_routes_and_models_that_do_not_fit_are_refused(hx_model):
    with pytest.raises(ValidationError, match="MINLP"):
        RecourseAnalysis(hx_model, "box", "ipopt").index(method="kkt")
    with pytest.raises(ValidationError, match="box"):
        RecourseAnalysis(hx_model, "ellipsoid", "scip").index(method="vertex")
    with pytest.raises(ValidationError, match="KKT route"):
        RecourseAnalysis(hx_model, "ellipsoid", "ipopt").index()
    with pytest.raises(ValidationError, match="no controls"):
        RecourseAnalysis(case1.model(), "box", "scip")


def test_extended_test_with_recourse_matches_vertex_lps(hx_model):
    """Algorithm 3's subproblem: θp over a box too.  ψ is jointly convex in (θp, θm) for this
    linear model, so χ is the largest ψ over the vertices of both boxes (64 LPs)."""
    ra = RecourseAnalysis(hx_model, box10(hx_model), "scip")
    dmin, dplus = np.array([20.0, 100.0]), np.array([70.0, 40.0])
    for dp, dm in ((0.5, 0.3), (1.0, 0.45)):
        r = ra.extended_test(dp, hx.THETA_P_NOMINAL, dmin, dplus, delta_m=dm)
        tps = itertools.product(*[(c - dp * a, c + dp * b) for c, a, b in zip(hx.THETA_P_NOMINAL, dmin, dplus)])
        exact = max(psi_lp(hx.T_NOMINAL + dm * 10.0 * np.array(s), np.array(tp))
                    for tp in tps for s in itertools.product((-1, 1), repeat=4))
        assert r.status == ResultStatus.OK and r.chi == pytest.approx(exact, abs=1e-6), (dp, dm, r.chi, exact)
        assert set(r.worst_theta_p) == {"Qc_min", "Qc_max"}


def test_model_with_states_uses_the_vertex_route():
    """x = z + t (a state), g = x − p ≤ 0, g2 = t2 − x ≤ 0, z ∈ [−1, 1], p = 1.  By hand: some z
    with t2 ≤ z + t ≤ p exists iff t2 − t ≤ 1 (z ≤ 1), t − 1 ≤ p (z ≥ −1) and t2 ≤ p; on the
    box |t|, |t2| ≤ δ the first is the tightest, at (t, t2) = (−δ, δ): 2δ ≤ 1 ⇒ δ = 0.5, with z
    at its upper bound.  On the ellipsoid (Σ = I) the same constraint binds at δ √2 = 1:
    δ = 0.70711, which the KKT route with states (the default there) estimates, never `ok`; the
    exact route refuses a model with equations h."""
    m = pyo.ConcreteModel()
    m.p, m.t, m.t2 = (pyo.Param(mutable=True, initialize=v) for v in (1.0, 0.0, 0.0))
    m.z = pyo.Var(bounds=(-1, 1), initialize=0.0)
    m.x = pyo.Var(bounds=(-10, 10), initialize=0.0)
    m.h = pyo.Constraint(expr=m.x == m.z + m.t)
    pm = ProcessModel(m, {"p": m.p}, {"t": m.t, "t2": m.t2}, {"g": lambda b: b.x - b.p, "g2": lambda b: b.t2 - b.x},
                      np.eye(2), controls={"z": m.z})
    for solver in ("maingo", "ipopt"):
        r = RecourseAnalysis(pm, "box", solver, {"n_certify": 30}).index()  # auto: vertex (the model has h)
        assert r.route == "vertex" and r.status == ResultStatus.OK and abs(r.delta - 0.5) <= 1e-6
        assert "z at upper bound" in r.active_constraints
    with pytest.raises(ValidationError, match="explicitly"):
        RecourseAnalysis(pm, "ellipsoid", "maingo").index(method="exact")
    r = RecourseAnalysis(pm, "ellipsoid", "maingo", {"n_certify": 30}).index()
    assert r.route == "kkt" and r.status not in (ResultStatus.OK, ResultStatus.BOUND)
    assert r.delta == pytest.approx(2 ** -0.5, abs=1e-4) and r.delta_lower_bound is None
    assert r.delta_upper_bound >= 2 ** -0.5 - 1e-6  # proven: ψ ≥ τ at a θ of that gauge


@pytest.mark.parametrize("solver", ["scip", "ipopt"])
def test_linear_decision_rule_gives_safe_bounds(hx_model, solver):
    """z = z0 + K (θ − θ̄) restricts the recourse: χ ≤ χ_rule and δ ≥ δ_rule, labelled a bound
    (never ok); checked against the exact values (vertex LPs, the published 0.5)."""
    ra = FlexibilityAnalysis(hx_model, box10(hx_model), solver)  # the rule's model is analysed by it
    t = ra.test(delta=0.4, method="decision_rule")
    exact = max(psi_lp(hx.T_NOMINAL + 0.4 * 10.0 * np.array(s)) for s in itertools.product((-1, 1), repeat=4))
    assert t.status == ResultStatus.BOUND and t.proven_feasible and t.chi_upper_bound >= exact - 1e-6
    assert "linear rule" in t.certification["decision_rule"] and not t.ok
    r = ra.index(method="decision_rule")
    assert r.status == ResultStatus.BOUND and 0.3 < r.delta <= 0.5 + 1e-6 and r.delta_lower_bound == r.delta


def test_relu_decision_rule_gives_a_safe_bound(hx_model):
    """z = z0 + K d + W relu(A d + b): a restriction of the recourse, so δ_rule ≤ δ* = 0.5 (the
    published box index), labelled a bound; the rule's equations compute what the rule does."""
    from flexspace.formulations.decision_rules import ReluRule, fit_relu_rule

    if "maingo" not in available_solvers():
        pytest.skip("maingo: the rule's nonsmooth subproblems (|a|) are solved globally by MAiNGO here")
    ra = FlexibilityAnalysis(hx_model, box10(hx_model), "maingo")
    r = ra.index(method="relu_rule")
    assert r.status == ResultStatus.BOUND and 0.3 < r.delta <= 0.5 + 1e-6 and r.delta_lower_bound == r.delta
    assert "ReLU rule" in r.certification["decision_rule"] and r.route == "relu_rule"
    if "scip" in available_solvers():
        with pytest.raises(ValidationError, match="relu_rule"):
            FlexibilityAnalysis(hx_model, box10(hx_model), "scip").index(method="relu_rule")
    rule = fit_relu_rule(hx_model, hx.THETA_P_NOMINAL, box10(hx_model), 1.0, "ipopt", hidden=3, n=30)
    assert isinstance(rule, ReluRule) and rule.W.shape == (1, 3)
    m = pyo.ConcreteModel()
    x = hx.T_NOMINAL + np.array([3.0, -2.0, 5.0, -7.0])
    m.th = pyo.Var(range(4), initialize=lambda _, i: float(x[i]))
    assert pyo.value(rule.expression(0, [m.th[i] for i in range(4)])) == pytest.approx(rule(x)[0], rel=1e-12)


def test_decision_rule_that_fails_proves_nothing():
    from support.peer_problems import poly

    pm, box = poly()
    t = FlexibilityAnalysis(pm, box, "scip").test(delta=1.0, method="decision_rule")
    assert t.status == ResultStatus.UNCERTIFIED and not t.feasible and "proves nothing" in t.diagnostics
