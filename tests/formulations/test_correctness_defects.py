"""One test per defect of the correctness issue, each through the public API and each
checked against an answer derived independently (closed form or by construction)."""
import math

import numpy as np
import pyomo.environ as pyo
import pytest
from scipy import stats

import flexspace
from flexspace import ProcessModel, ResultStatus, flexibility_index, flexibility_test
from flexspace.solvers import SolveResult, SolverStatus, get_solver

from support import trusted_status

SOLVERS = [s for s in ("ipopt", "maingo", "scip") if s in flexspace.available_solvers()]


# --------------------------------------------------------------------------- defect 1
def _exp_model():
    """x = p·exp(θ), CQA x ≤ 1.2: θ on the *constant* side of the equation."""
    m = pyo.ConcreteModel()
    m.p = pyo.Param(mutable=True, initialize=1.0)
    m.th = pyo.Param(mutable=True, initialize=0.0)
    m.x = pyo.Var(bounds=(0, 100), initialize=1.0)
    m.c = pyo.Constraint(expr=m.x == m.p * pyo.exp(m.th))
    m.q = pyo.Constraint(expr=m.x <= 1.2)
    return ProcessModel(m, {"p": m.p}, {"th": m.th}, {"q": m.q}, covariance=[[0.1 ** 2]],
                        theta_p_bounds=[(0.5, 2.0)])


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("uset", ["box", "ellipsoid", "ldl"])
def test_theta_on_the_constant_side_is_not_frozen(solver, uset):
    r = flexibility_index(_exp_model(), [1.0], uset, solver)
    assert r.status.value == trusted_status(solver)
    assert r.delta == pytest.approx(math.log(1.2) / 0.1, rel=1e-5)  # θ ≤ ln(1.2/p), σ = 0.1


def test_theta_in_bounds_of_inequalities_ranged_constraints_and_var_bounds():
    """cA = 1/(1 + τ k Ea) written with θ in an equation's constant side, the CQA's bound is
    a θ expression, and the state's upper bound is a θ expression (cap = Ea)."""
    m = pyo.ConcreteModel()
    m.tau = pyo.Param(mutable=True, initialize=2.0)
    m.k = pyo.Param(mutable=True, initialize=1.0)
    m.Ea = pyo.Param(mutable=True, initialize=1.0)
    m.cA = pyo.Var(bounds=(0, 10), initialize=0.3)
    m.bal = pyo.Constraint(expr=m.cA == 1 / (1 + m.tau * m.k * m.Ea))
    m.lim = pyo.Constraint(expr=pyo.inequality(0.0, m.cA, 0.4 * m.Ea))  # ranged, θ in the upper side
    model = ProcessModel(m, {"tau": m.tau}, {"k": m.k, "Ea": m.Ea}, {"lim": m.lim},
                         covariance=np.diag([0.1 ** 2, 1e-14]), check_square=True)
    assert model.g_names == ["lim.lower", "lim.upper"]
    inst = model.instance()
    inst.set_theta([2.0], [1.0, 1.0])
    assert pyo.value(inst.g[1]) == pytest.approx(pyo.value(inst.state_vars()[0]) - 0.4)
    inst.set_theta(None, [1.0, 2.0])  # the bound moves with Ea, and so does the equation
    assert pyo.value(inst.g[1]) == pytest.approx(pyo.value(inst.state_vars()[0]) - 0.8)
    # δ: cA = 1/(1 + 2k) ≤ 0.4 ⇔ k ≥ 0.75, σ_k = 0.1 ⇒ δ = 2.5 (Ea's σ is negligible)
    r = flexibility_index(model, [2.0], "box", SOLVERS[-1])
    assert r.status == ResultStatus.OK and r.delta == pytest.approx(2.5, rel=1e-3)


# --------------------------------------------------------------------------- defect 2
def _hole_model(x_lb=0.0):
    """x² = k − tp: no real state for k < tp; CQA x ≤ 1.5 (violated for k > 3.25)."""
    m = pyo.ConcreteModel()
    m.tp = pyo.Param(mutable=True, initialize=1.0)
    m.k = pyo.Param(mutable=True, initialize=2.0)
    m.x = pyo.Var(bounds=(x_lb, 10), initialize=1.0)
    m.c = pyo.Constraint(expr=m.x ** 2 == m.k - m.tp)
    m.q = pyo.Constraint(expr=m.x <= 1.5)
    return ProcessModel(m, {"tp": m.tp}, {"k": m.k}, {"q": m.q}, covariance=[[0.5 ** 2]], theta_p_bounds=[(0, 2)])


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("x_lb", [0.0, -10.0])
def test_domain_hole_is_a_violation(solver, x_lb):
    """The hole starts at k = tp = 1, i.e. 2 σ below k̄ = 2: δ = 2 (box and ellipsoid), not 2.5."""
    model = _hole_model(x_lb)
    for uset in ("box", "ellipsoid"):
        r = flexibility_index(model, [1.0], uset, solver)
        if r.trusted:  # ok (global) or sampled (Ipopt)
            assert r.status in (ResultStatus.OK, ResultStatus.SAMPLED)
            assert r.delta <= 2.0 + 1e-5
            assert r.probability <= stats.norm.cdf(2.0) - stats.norm.cdf(-2.0) + 1e-5 or uset == "ellipsoid"
        else:
            assert r.status in (ResultStatus.UNCERTIFIED, ResultStatus.CONTRADICTED, ResultStatus.FAILED)


def test_domain_hole_monte_carlo_counts_failed_samples():
    from flexspace.montecarlo import monte_carlo_probability

    rng = np.random.default_rng(0)
    S = 2.0 + 0.5 * rng.standard_normal((200, 1))
    mc = monte_carlo_probability(_hole_model(), [1.0], samples=S)
    truth = np.mean((S[:, 0] >= 1.0) & (S[:, 0] <= 3.25))
    assert mc.probability == pytest.approx(truth, abs=1e-12)
    assert mc.n_failed == int(np.sum(S[:, 0] < 1.0))


# --------------------------------------------------------------------------- defect 3
def _lying_simulator_model():
    """Pyomo says g = θ − 3 (δ = 3); the simulator (the truth here) says g = θ − 1."""
    m = pyo.ConcreteModel()
    m.p = pyo.Param(mutable=True, initialize=0.0)
    m.th = pyo.Param(mutable=True, initialize=0.0)
    m.g = pyo.Expression(expr=m.th + m.p - 3.0)
    sim = lambda tp, tm: (tm[:, :1] + tp[0] - 1.0)  # noqa: E731
    return ProcessModel(m, {"p": m.p}, {"th": m.th}, {"g": m.g}, covariance=[[1.0]], simulator=sim,
                        theta_p_bounds=[(-1, 1)])


@pytest.mark.parametrize("solver", SOLVERS)
def test_contradicted_result_is_not_ok_and_not_in_region(solver):
    model = _lying_simulator_model()
    r = flexibility_index(model, [0.0], "ellipsoid", solver)
    # the Pyomo model is linear, so even Ipopt's answer is a proof (convex problem): sampling contradicts a proof
    expected = ResultStatus.CONTRADICTED
    assert r.status == expected and not r.ok
    assert r.delta_sampled is not None and 1.0 - 1e-9 <= r.delta_sampled < r.delta  # truth: 1
    dmap = flexspace.flexibility_index_map(model, grid=[[0.0]], uncertainty_set="ellipsoid", solver=solver)
    assert dmap.table["status"].iloc[0] == expected.value
    assert not dmap.region(0.5).any()  # P(set(3)) = 0.997 would be "in" at 0.5 if it counted
    assert dmap.summary(0.5)["untrusted_points"] == 1


# --------------------------------------------------------------------------- defect 4
@pytest.mark.parametrize("solver", SOLVERS)
def test_confidence_set_beyond_delta_max_is_not_clipped(solver):
    """20 θm, p_c = 0.99: δ = sqrt(χ²₂₀(0.99)) = 6.19 > δ_max = 6.  g = aᵀθ − b with b set so
    that max over the ellipsoid is +0.003 (closed form aᵀθ̄ + δ sqrt(aᵀΣa) − b)."""
    n = 20
    rng = np.random.default_rng(3)
    a = rng.uniform(0.5, 1.5, n)
    sd = rng.uniform(0.05, 0.2, n)
    cov = np.diag(sd ** 2)
    d = math.sqrt(stats.chi2.ppf(0.99, n))
    assert d > 6.0
    b = d * math.sqrt(a @ cov @ a) - 0.003
    m = pyo.ConcreteModel()
    m.tp = pyo.Param(mutable=True, initialize=0.0)
    m.th = pyo.Param(range(n), mutable=True, initialize=0.0)
    m.g = pyo.Expression(expr=sum(float(a[i]) * m.th[i] for i in range(n)) + m.tp - b)
    model = ProcessModel(m, {"tp": m.tp}, m.th, {"g": m.g}, covariance=cov)
    t = flexibility_test(model, [0.0], confidence=0.99, uncertainty_set="ellipsoid", solver=solver,
                         options={"time_limit": 15})
    assert not t.feasible
    if t.solved:  # MAiNGO may time out in 20 dimensions: then "failed", which is not feasible either
        assert t.chi == pytest.approx(0.003, abs=2e-4)


# --------------------------------------------------------------------------- defect 5
class _StubSolver:
    """A local solver that answers every optimisation with a fixed status."""

    is_global = False
    supports_integers = False

    def __init__(self, status):
        self.name, self.status = "stub", status

    def solve(self, model):
        if self.status == SolverStatus.OPTIMAL:  # "optimal", but δ is NaN
            for v in model.component_data_objects(pyo.Var):
                if v.local_name == "delta":
                    v.set_value(float("nan"), skip_validation=True)
        return SolveResult(self.status)


@pytest.mark.parametrize("status", [SolverStatus.INFEASIBLE, SolverStatus.OPTIMAL])
def test_local_infeasible_or_nan_subproblem_is_not_a_proof(status, monkeypatch):
    model = _exp_model()
    fa = flexspace.FlexibilityAnalysis(model, "box", "ipopt")
    monkeypatch.setattr(fa, "solver", _StubSolver(status))
    monkeypatch.setattr(fa.indexer, "_local_capping_check", lambda *a, **k: None)
    r = fa.index([1.0])
    assert r.status == ResultStatus.FAILED and math.isnan(r.delta) and not r.ok


# --------------------------------------------------------------------------- defect 6
def _tiny():
    m = pyo.ConcreteModel()
    m.a = pyo.Param(mutable=True, initialize=1.0)
    m.b = pyo.Param(mutable=True, initialize=0.0)
    m.x = pyo.Var(bounds=(-10, 10))
    m.c = pyo.Constraint(expr=m.x == m.a + m.b)
    m.g0 = pyo.Expression(expr=m.x - 3)
    m.c0 = pyo.Param(mutable=True, initialize=-1.0)  # a constant, neither θ nor state
    return m


def test_one_component_as_theta_p_and_theta_m_is_refused():
    m = _tiny()
    with pytest.raises(ValueError, match="is the same component as theta_p 'a'"):
        ProcessModel(m, {"a": m.a}, {"a2": m.a}, {"g": m.g0}, covariance=[[1.0]])
    with pytest.raises(ValueError, match="share the names"):
        ProcessModel(m, {"a": m.a}, {"a": m.b}, {"g": m.g0}, covariance=[[1.0]])


def test_cqa_name_collision_is_refused():
    m = _tiny()
    with pytest.raises(ValueError, match="two entries are named 'g0'"):
        ProcessModel(m, {"a": m.a}, {"b": m.b}, [lambda mm: mm.x - 2, m.g0], covariance=[[1.0]])


def test_unknown_theta_p_key_nominal_outside_bounds_and_constant_cqa():
    m = _tiny()
    model = ProcessModel(m, {"a": m.a}, {"b": m.b}, {"g": m.g0}, covariance=[[1.0]])
    with pytest.raises(ValueError, match="unknown"):
        flexibility_index(model, {"a": 1.0, "tau": 3.0}, "box", "ipopt")
    with pytest.raises(ValueError, match="theta_p_nominal is outside theta_p_bounds"):
        ProcessModel(m, {"a": m.a}, {"b": m.b}, {"g": m.g0}, covariance=[[1.0]], theta_p_bounds=[(2, 3)])
    with pytest.warns(UserWarning, match="depends on no state and no theta"):
        ProcessModel(m, {"a": m.a}, {"b": m.b}, {"g": m.g0, "const": lambda mm: mm.c0 * 2},
                     covariance=[[1.0]])


# --------------------------------------------------------------------------- review findings
GLOBAL = [s for s in ("scip", "maingo") if s in flexspace.available_solvers()][:1]


def _one_state(build):
    m = pyo.ConcreteModel()
    m.p = pyo.Param(mutable=True, initialize=1.0)
    m.th = pyo.Param(mutable=True, initialize=0.5)
    build(m)
    return m


@pytest.mark.parametrize("solver", GLOBAL)
def test_theta_dependent_state_bound_is_a_domain_edge(solver):
    """x ∈ [−5, cmax(θp)], x = θ, θ ~ N(0.5, 0.1²): no solution for θ > 1 = cmax ⇒ δ = 5."""
    def build(m):
        m.x = pyo.Var(bounds=(-5, m.p), initialize=0.5)
        m.eq = pyo.Constraint(expr=m.x == m.th)
        m.g = pyo.Expression(expr=m.x - 10)
    m = _one_state(build)
    model = ProcessModel(m, {"p": m.p}, {"th": m.th}, {"g": m.g}, covariance=[[0.01]])
    assert flexibility_index(model, [1.0], "box", solver).delta == pytest.approx(5.0, rel=1e-5)
    assert not flexibility_test(model, [1.0], delta=5.5, uncertainty_set="box", solver=solver).feasible


@pytest.mark.parametrize("solver", GLOBAL)
def test_function_domain_edge_sqrt(solver):
    """x = p·sqrt(θ), θ ~ N(1, 0.3²): no solution for θ < 0 ⇒ δ = 1/0.3 (bounds never reached)."""
    def build(m):
        m.th.set_value(1.0)
        m.x = pyo.Var(bounds=(-10, 10), initialize=1.0)
        m.eq = pyo.Constraint(expr=m.x == m.p * pyo.sqrt(m.th))
        m.g = pyo.Expression(expr=m.x - 10.0)
    m = _one_state(build)
    model = ProcessModel(m, {"p": m.p}, {"th": m.th}, {"g": m.g}, covariance=[[0.09]])
    r = flexibility_index(model, [1.0], "box", solver, options={"certify": False})
    assert r.status != ResultStatus.OK or r.delta <= 1 / 0.3 + 1e-5
    assert not flexibility_test(model, [1.0], delta=5.0, uncertainty_set="box", solver=solver).feasible


@pytest.mark.parametrize("solver", GLOBAL)
def test_model_inequality_on_theta_alone_bounds_the_index(solver):
    """No states, model inequality θ ≤ 1.5, θ ~ N(0.5, 0.6²) ⇒ δ = 1/0.6."""
    def build(m):
        m.valid = pyo.Constraint(expr=m.th <= 1.5)
        m.g = pyo.Expression(expr=m.p * m.th - 10)
    m = _one_state(build)
    model = ProcessModel(m, {"p": m.p}, {"th": m.th}, {"g": m.g}, covariance=[[0.36]], check_square=False)
    assert flexibility_index(model, [1.0], "box", solver).delta == pytest.approx(1 / 0.6, rel=1e-5)


def test_ranged_cqa_with_equal_theta_sides_keeps_both():
    m = pyo.ConcreteModel()
    m.lo = pyo.Param(mutable=True, initialize=1.0)
    m.hi = pyo.Param(mutable=True, initialize=1.0)
    m.p = pyo.Param(mutable=True, initialize=0.95)
    m.x = pyo.Var(bounds=(-5, 5))
    m.eq = pyo.Constraint(expr=m.x == m.p)
    m.spec = pyo.Constraint(expr=pyo.inequality(m.lo, m.x, m.hi))
    model = ProcessModel(m, {"p": m.p}, {"lo": m.lo, "hi": m.hi}, {"spec": m.spec}, covariance=np.eye(2) * 0.01)
    assert model.g_names == ["spec.lower", "spec.upper"]
    r = flexibility_index(model, [0.95], "box", "ipopt")
    assert r.status == ResultStatus.NOMINAL_INFEASIBLE  # x = 0.95 < lo = 1


@pytest.mark.parametrize("solver", GLOBAL)
def test_extended_test_uses_the_whole_requested_box(solver):
    """x = p + θ ≤ 5 over p ∈ 1 ± 50·0.1 (no theta_p_bounds): p = 6 violates (χ = 1.1 at θ's edge)."""
    def build(m):
        m.x = pyo.Var(bounds=(-100, 100))
        m.eq = pyo.Constraint(expr=m.x == m.p + m.th)
        m.q = pyo.Constraint(expr=m.x <= 5)
    m = _one_state(build)
    m.th.set_value(0.0)
    model = ProcessModel(m, {"p": m.p}, {"th": m.th}, {"q": m.q}, covariance=[[0.01]])
    t = flexspace.extended_flexibility_test(model, 50.0, [1.0], [0.1], [0.1], delta_m=1.0, uncertainty_set="box",
                                            solver=solver)
    assert not t.feasible and t.chi == pytest.approx(1.1, abs=1e-4)
