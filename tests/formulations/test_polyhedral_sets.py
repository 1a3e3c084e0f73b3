"""PolyhedralSet and BudgetSet (issue 24): validation, geometry against independent numpy/scipy
computations, the flexibility index against an LP reference, and the Monte Carlo probabilities."""
import itertools
import json
import pickle

import numpy as np
import pyomo.environ as pyo
import pytest
from scipy.optimize import linprog

import flexspace
from flexspace import BoxSet, BudgetSet, FlexibilityAnalysis, PolyhedralSet, ResultStatus
from flexspace.errors import FlexspaceError
from flexspace.formulations import polyhedral
from flexspace.formulations.sets import UncertaintySet

NOM = np.array([1.0, 2.0, 3.0])
COV = np.array([[1.0, 0.3, 0.1], [0.3, 2.0, 0.2], [0.1, 0.2, 0.5]])
SD = np.sqrt(np.diag(COV))
#: a skewed, octahedron-like polytope in u = (θ − θ̄)/s (8 facets, 12 vertices)
A = np.array([[1, .5, 0], [-1, .2, .3], [0, 1, 0], [0, -1, .4], [.3, 0, 1], [0, 0, -1], [1, 1, 1], [-1, -1, -1]], float)
B = np.array([1, 1.2, 1, .8, 1.1, 1.3, 2, 1.5])
GAMMA = 1.5
#: two linear CQAs g_j = α_j θp + β_j + c_jᵀ θm ≤ 0
C = np.array([[1.0, 0.5, -0.3], [-0.4, 1.0, 0.8]])
ALPHA = np.array([0.8, -0.6])
BETA = np.array([-6.0, -5.0])
THETA_P = (0.5, 2.0, 4.0)


def poly():
    return PolyhedralSet(NOM, A, B, COV)


def budget(gamma=GAMMA):
    return BudgetSet(NOM, COV, gamma)


# --------------------------------------------------------------------------- independent references
def brute_vertices(A_, b_):
    """Vertices of {u : A u ≤ b} by solving every n×n subsystem (no Qhull, no LP)."""
    n, out = A_.shape[1], []
    for rows in itertools.combinations(range(A_.shape[0]), n):
        M = A_[list(rows)]
        if abs(np.linalg.det(M)) < 1e-12:
            continue
        u = np.linalg.solve(M, b_[list(rows)])
        if np.all(A_ @ u <= b_ + 1e-9) and not any(np.allclose(u, v) for v in out):
            out.append(u)
    return np.array(out)


def budget_rows(n, gamma):
    """The budget set as a polytope: |u_i| ≤ 1 and σᵀu ≤ Γ for every sign vector σ."""
    signs = np.array(list(itertools.product((-1.0, 1.0), repeat=n)))
    return np.vstack([np.eye(n), -np.eye(n), signs]), np.concatenate([np.ones(2 * n), np.full(len(signs), gamma)])


def same_rows(X, Y, tol=1e-8):
    return X.shape == Y.shape and all(np.min(np.max(np.abs(Y - x), axis=1)) < tol for x in X)


def sigma_poly(c):
    """max cᵀ(s ⊙ u) over {A u ≤ b}."""
    r = linprog(-(c * SD), A_ub=A, b_ub=B, bounds=[(None, None)] * 3, method="highs")
    assert r.status == 0
    return -r.fun


def sigma_budget(c, gamma=GAMMA):
    """max cᵀ(s ⊙ u) over the budget set written with t: t ≥ ±u, t ≤ 1, Σt ≤ Γ."""
    n, I, Z = 3, np.eye(3), np.zeros((3, 3))
    A_ub = np.block([[I, -I], [-I, -I], [Z, I], [np.zeros((1, n)), np.ones((1, n))]])
    b_ub = np.concatenate([np.zeros(2 * n), np.ones(n), [gamma]])
    r = linprog(np.concatenate([-(c * SD), np.zeros(n)]), A_ub=A_ub, b_ub=b_ub,
                bounds=[(None, None)] * n + [(0, None)] * n, method="highs")
    assert r.status == 0
    return -r.fun


def nominal_g(theta_p):
    return ALPHA * theta_p + BETA + C @ NOM


def reference_delta(theta_p, sigma):
    return float(np.min(-nominal_g(theta_p) / np.array([sigma(c) for c in C])))


def linear_process_model():
    m = pyo.ConcreteModel()
    m.p = pyo.Param(mutable=True, initialize=1.0)
    m.theta = pyo.Param(range(3), mutable=True, initialize=lambda m, i: float(NOM[i]))
    m.g = pyo.Expression(range(2), rule=lambda m, j: float(ALPHA[j]) * m.p + float(BETA[j])
                         + sum(float(C[j, i]) * m.theta[i] for i in range(3)))
    pm = flexspace.ProcessModel(m, theta_p=m.p, theta_m=m.theta, constraints=m.g, covariance=COV,
                                theta_m_nominal=NOM, name="linear polyhedral")
    pm.problem_class = "lp"  # ProcessModel has no such argument; FlexibilityAnalysis reads the attribute
    return pm


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize("make, words", [
    (lambda: PolyhedralSet(NOM, np.vstack([np.eye(3), -np.eye(3)[:2]]), np.ones(5), COV), ["A", "unbounded"]),
    (lambda: PolyhedralSet(NOM[:2], [[1.0, 0.0], [-1.0, 0.0]], [1.0, 1.0], COV[:2, :2]), ["A", "unbounded"]),
    (lambda: PolyhedralSet(NOM, A, np.where(np.arange(8) == 2, 0.0, B), COV), ["b", "> 0"]),
    (lambda: PolyhedralSet(NOM, A, -B, COV), ["b", "> 0"]),
    (lambda: PolyhedralSet(NOM, A[:, :2], B, COV), ["A", "shape"]),
    (lambda: PolyhedralSet(NOM, A, B[:5], COV), ["b", "length"]),
    (lambda: PolyhedralSet(NOM, np.where(A == 1, np.nan, A), B, COV), ["A", "finite"]),
    (lambda: PolyhedralSet(NOM, A, B), ["covariance", "scale"]),
    (lambda: PolyhedralSet(NOM, A, B, scale=[1.0, -1.0, 1.0]), ["scale", "> 0"]),
    (lambda: BudgetSet(NOM, COV, 0.5), ["budget"]),
    (lambda: BudgetSet(NOM, COV, 3.5), ["budget"]),
    (lambda: BudgetSet(NOM, COV, "2"), ["budget"]),
    (lambda: BudgetSet(NOM, None, 2.0), ["covariance", "scale"]),
])
def test_invalid_data_is_refused_naming_the_parameter(make, words):
    with pytest.raises(FlexspaceError) as exc:
        make()
    for w in words:
        assert w in str(exc.value), str(exc.value)


@pytest.mark.parametrize("uset", [poly(), budget()], ids=["polyhedral", "budget"])
def test_squared_and_wrong_width_builds_are_refused(uset):
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(3))
    with pytest.raises(FlexspaceError, match="squared"):
        uset.build(m, list(m.x.values()), 1.0, squared=True)
    with pytest.raises(FlexspaceError, match="dimension 3"):
        uset.build(m, list(m.x.values())[:2], 1.0)


def test_probabilities_need_the_covariance():
    s = PolyhedralSet(NOM, A, B, scale=SD)
    assert s.gauge(NOM[None, :]) == 0.0
    with pytest.raises(FlexspaceError, match="covariance"):
        s.probability(1.0)
    with pytest.raises(FlexspaceError, match="covariance"):
        BudgetSet(NOM, None, 2.0, scale=SD).delta_for_confidence(0.5)
    with pytest.raises(FlexspaceError, match="confidence"):
        poly().delta_for_confidence(1.0)


# --------------------------------------------------------------------------- geometry
@pytest.mark.parametrize("uset, rows", [(poly(), (A, B)), (budget(), budget_rows(3, GAMMA)),
                                        (budget(1.0), budget_rows(3, 1.0)), (budget(3.0), budget_rows(3, 3.0))],
                         ids=["polyhedral", "budget1.5", "budget1", "budget3"])
def test_geometry_agrees_with_independent_computations(uset, rows):
    A_, b_ = rows
    V = brute_vertices(A_, b_)
    for delta in (0.7, 2.0):
        got = uset.vertices(delta)
        assert same_rows(got, NOM + delta * V * SD), delta
        lo, hi = uset.bounds(delta)
        assert lo == pytest.approx(NOM + delta * SD * V.min(axis=0), abs=1e-9)
        assert hi == pytest.approx(NOM + delta * SD * V.max(axis=0), abs=1e-9)
        assert uset.half_widths(delta) == pytest.approx(np.maximum(NOM - lo, hi - NOM), abs=1e-9)
    # gauge: the smallest δ with A u ≤ δ b, and contains just inside / outside it
    rng = np.random.default_rng(3)
    pts = NOM + rng.normal(size=(500, 3)) * SD * 2
    U = (pts - NOM) / SD
    g = np.max((U @ A_.T) / b_, axis=1)
    assert uset.gauge(pts) == pytest.approx(g, rel=1e-12)
    assert np.all(uset.contains(pts, 1.0) == np.all(U @ A_.T <= b_ + 1e-9, axis=1))
    on = (pts - NOM) / g[:, None]  # independent boundary points: A u ≤ b tight
    assert np.max(((on / SD) @ A_.T) / b_, axis=1) == pytest.approx(np.ones(len(g)), rel=1e-12)
    assert np.all(uset.contains(NOM + on * (1 - 1e-7), 1.0)) and not np.any(uset.contains(NOM + on * (1 + 1e-7), 1.0))
    assert uset.gauge(NOM + 2.5 * (pts - NOM)) == pytest.approx(2.5 * g, rel=1e-12)  # 1-homogeneous


@pytest.mark.parametrize("uset", [poly(), budget()], ids=["polyhedral", "budget"])
def test_sample_lies_in_the_set_with_its_vertices_and_boundary(uset):
    pts = uset.sample(1.3, 400, np.random.default_rng(0), boundary_fraction=0.5)
    nv = uset.vertices(1.0).shape[0]
    assert pts.shape == (nv + 400, 3)
    g = uset.gauge(pts)
    assert np.all(g <= 1.3 + 1e-9)
    assert g[: nv + 200] == pytest.approx(np.full(nv + 200, 1.3), rel=1e-9)
    assert np.all(g[nv + 200:] < 1.3)
    assert uset.sample(0.0, 5, 1) == pytest.approx(np.tile(NOM, (nv + 5, 1)))


def test_budget_auxiliaries_and_large_dimension_without_vertices():
    s = budget()
    pts = s.sample(1.0, 50, 2)
    assert s.n_auxiliary == 3
    t = s.auxiliary_values(pts)
    lo, hi = s.auxiliary_bounds(1.0)
    assert np.all(t >= lo) and np.all(t <= hi) and np.all(t.sum(axis=1) <= GAMMA + 1e-9)
    big = BudgetSet(np.zeros(8), np.eye(8), 3.0)
    assert big.vertices(1.0) is None and big.sample(1.0, 10, 0).shape == (10, 8)
    assert PolyhedralSet(np.zeros(8), np.vstack([np.eye(8), -np.eye(8)]), np.ones(16), np.eye(8)).vertices(1.) is None


@pytest.mark.parametrize("uset", [poly(), budget()], ids=["polyhedral", "budget"])
@pytest.mark.parametrize("delta", ["var", "param", 1.2])
def test_build_is_linear_and_holds_exactly_the_set(uset, delta):
    from pyomo.repn import generate_standard_repn

    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(3), initialize=lambda m, i: float(NOM[i]))
    d = {"var": lambda: pyo.Var(bounds=(0, 3.0), initialize=1.2),
         "param": lambda: pyo.Param(mutable=True, initialize=1.2)}.get(delta, lambda: None)()
    if d is not None:
        m.d = d
    m.set = pyo.Block()
    h = uset.build(m.set, list(m.x.values()), delta if d is None else m.d)
    aux = list(m.set.t.values()) if uset.n_auxiliary else []
    assert uset.is_linear and [id(v) for v in h.auxiliary] == [id(v) for v in aux]
    cons = list(m.set.component_data_objects(pyo.Constraint))
    assert all(generate_standard_repn(c.body).is_linear() for c in cons)
    if delta == "var":  # auxiliaries bounded from the Var's upper bound
        assert all(v.ub is not None and v.ub <= 3.01 for v in h.auxiliary)
    inside, outside = uset.sample(1.2, 40, 5), NOM + 1.001 * (uset.vertices(1.2) - NOM)
    for pts, ok in ((inside, True), (outside, False)):
        for p, t in zip(pts, uset.auxiliary_values(pts) if uset.n_auxiliary else [None] * len(pts)):
            for v, x in zip(m.x.values(), p):
                v.set_value(float(x))
            for v, x in zip(h.auxiliary, t if t is not None else []):
                v.set_value(float(x))
            feas = all((c.upper is None or pyo.value(c.body) <= pyo.value(c.upper) + 1e-9)
                       and (c.lower is None or pyo.value(c.body) >= pyo.value(c.lower) - 1e-9) for c in cons)
            assert feas == ok
    h.bound_to(1.2)
    lo, hi = uset.bounds(1.2)
    assert all(v.lb <= a + 1e-9 and v.ub >= b - 1e-9 for v, a, b in zip(m.x.values(), lo, hi))


@pytest.mark.parametrize("uset", [poly(), budget(), PolyhedralSet(NOM, A, B, scale=[1, 2, 3.0])],
                         ids=["polyhedral", "budget", "scale"])
def test_round_trip_pickle_and_name(uset):
    before = pickle.dumps(uset)
    data = json.loads(json.dumps(uset.to_dict()))
    back = UncertaintySet.from_dict(data)
    assert type(back) is type(uset) and back.kind == uset.name and data["name"] == uset.name
    for k, v in uset.parameters().items():
        assert np.array_equal(np.asarray(back.parameters()[k], float), np.asarray(v, float)) if v is not None \
            else back.parameters()[k] is None
    pts = uset.sample(1.0, 30, 1)
    assert back.gauge(pts) == pytest.approx(uset.gauge(pts), rel=1e-14)
    if uset.covariance is not None:
        uset.probability(1.0)  # fills the Monte Carlo cache: not data, not pickled
    assert pickle.dumps(uset) == before
    assert pickle.loads(before).vertices(1.0) == pytest.approx(uset.vertices(1.0))
    assert flexspace.PolyhedralSet is PolyhedralSet and flexspace.formulations.BudgetSet is BudgetSet


# --------------------------------------------------------------------------- index vs LP reference
@pytest.fixture(scope="module")
def lin_model():
    return linear_process_model()


@pytest.mark.parametrize("make, sigma", [(poly, sigma_poly), (budget, sigma_budget)], ids=["polyhedral", "budget"])
@pytest.mark.parametrize("solver", ["scip", "highs", "ipopt"])
def test_index_matches_lp_reference(lin_model, make, sigma, solver):
    fa = FlexibilityAnalysis(lin_model, make(), solver)
    for theta_p in THETA_P:
        expected = reference_delta(theta_p, sigma)
        assert 0.3 < expected < 5.0
        r = fa.index([theta_p])
        assert r.delta == pytest.approx(expected, rel=1e-6), (theta_p, str(r))
        # a local solver is "ok" only on a proven convex problem: a linear model over a linear set is one
        assert r.status == ResultStatus.OK, str(r)
        if not fa.solver.is_global:
            assert fa.convex_proven
    # the CQA that limits δ changes with θp: the reference is not one line
    limits = [np.argmin(-nominal_g(tp) / np.array([sigma(c) for c in C])) for tp in THETA_P]
    assert len(set(limits)) == 2


def test_budget_minlp_route_matches_reference(lin_model):
    r = flexspace.flexibility_index(lin_model, [1.5], budget(), "scip", method="minlp", options={"gap": 1e-8})
    assert r.delta == pytest.approx(reference_delta(1.5, sigma_budget), rel=1e-6)


@pytest.mark.parametrize("make, sigma", [(poly, sigma_poly), (budget, sigma_budget)], ids=["polyhedral", "budget"])
def test_flexibility_test_flips_at_the_index(lin_model, make, sigma):
    star = reference_delta(1.5, sigma)
    fa = FlexibilityAnalysis(lin_model, make(), "scip")
    below, above = fa.test([1.5], delta=0.95 * star), fa.test([1.5], delta=1.05 * star)
    sig = np.array([sigma(c) for c in C])
    assert below.feasible and below.chi == pytest.approx(np.max(nominal_g(1.5) + 0.95 * star * sig), abs=1e-6)
    assert not above.feasible and above.chi == pytest.approx(np.max(nominal_g(1.5) + 1.05 * star * sig), abs=1e-6)


def test_lp_solver_needs_a_declared_linear_model():
    pm = linear_process_model()
    del pm.problem_class
    with pytest.raises(FlexspaceError, match="LP/MILP"):
        FlexibilityAnalysis(pm, poly(), "highs")


# --------------------------------------------------------------------------- Monte Carlo probability
@pytest.mark.parametrize("make", [poly, budget], ids=["polyhedral", "budget"])
def test_probability_against_an_independent_monte_carlo(make):
    uset = make()
    n = 400_000
    theta = np.random.default_rng(987654).multivariate_normal(NOM, COV, size=n)
    A_, b_ = (A, B) if isinstance(uset, PolyhedralSet) else budget_rows(3, GAMMA)
    U = (theta - NOM) / SD
    for delta in (0.8, 1.6):
        inside = np.all(U @ A_.T <= delta * b_, axis=1)
        assert np.array_equal(inside[:20000], uset.contains(theta[:20000], delta))
        p_ref = inside.mean()
        p = uset.probability(delta)
        se = np.hypot(np.sqrt(p_ref * (1 - p_ref) / n), uset.probability_standard_error(delta))
        assert abs(p - p_ref) <= 3 * se, (delta, p, p_ref, se)
        assert uset.probability_standard_error(delta) <= 0.00112
    assert uset.probability(0.0) == 0.0 and "monte carlo" in uset.probability_method
    assert str(polyhedral.MC_SAMPLES) in uset.probability_method


@pytest.mark.parametrize("make", [poly, budget], ids=["polyhedral", "budget"])
@pytest.mark.parametrize("p", [0.3, 0.5, 0.9, 0.99])
def test_delta_for_confidence_inverts_the_trusted_probability(make, p):
    """The smallest δ whose lower confidence bound reaches p (a δm Algorithm 3 may trust)."""
    uset = make()
    d = uset.delta_for_confidence(p)
    assert uset.probability_lower_bound(d) >= p and uset.probability_lower_bound(d * (1 - 1e-9)) < p
    assert uset.probability(d) > p  # the estimate sits a few standard errors above


def test_budget_equal_to_n_is_the_box():
    box, b3 = BoxSet(NOM, COV), budget(3.0)
    for delta in (0.5, 1.0, 2.0):
        assert same_rows(b3.vertices(delta), box.vertices(delta))
        se = b3.probability_standard_error(delta)
        assert b3.probability(delta) == pytest.approx(box.probability(delta), abs=3 * se)


def test_flexibility_test_at_a_confidence_uses_the_monte_carlo_delta(lin_model):
    uset = budget()
    r = flexspace.flexibility_test(lin_model, [1.5], confidence=0.5, uncertainty_set=uset, solver="highs")
    d = uset.delta_for_confidence(0.5)
    sig = np.array([sigma_budget(c) for c in C])
    assert r.chi == pytest.approx(np.max(nominal_g(1.5) + d * sig), abs=1e-6)


# --------------------------------------------------------------------------- trusted probabilities
def test_monte_carlo_probabilities_are_trusted_only_through_a_lower_confidence_bound():
    """The estimate may exceed the truth by a few standard errors: the trusted value is the
    Clopper-Pearson bound, and delta_for_confidence certifies p_c through it."""
    from flexspace.formulations.polyhedral import MC_BETA, MC_SAMPLES

    cov = np.array([[1.0, 0.3], [0.3, 2.0]])
    s = BudgetSet([0.0, 0.0], cov, 1.5)
    for p in (0.5, 0.85, 0.95):
        d = s.delta_for_confidence(p)
        assert s.probability_lower_bound(d) >= p
        assert s.probability(d) > s.probability_lower_bound(d)
        se = np.sqrt(p * (1 - p) / MC_SAMPLES)
        assert s.probability(d) - p < 7 * se  # conservative by about 4.8 SE (MC_BETA), not more
    assert MC_BETA == pytest.approx(1e-6)
    assert s.probability_is_estimate and "Clopper-Pearson" in s.probability_method
