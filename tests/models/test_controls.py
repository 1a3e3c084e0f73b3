"""Control variables (recourse) in the plug-in model: validation, the square check with
controls, the fingerprint, and the per-sample feasibility with recourse (closed form, LP,
NLP) checked against the exact projection of the heat-exchanger network."""
import numpy as np
import pyomo.environ as pyo
import pytest

from flexspace import ProcessModel
from flexspace.errors import ValidationError
from flexspace.models.base import NotSquareError
from flexspace.models.cases import case1, hx_network as hx
from flexspace.models.controls import interval_feasible
from flexspace.montecarlo import monte_carlo_probability, sample_theta_m


def hx_projection():
    """Fourier–Motzkin elimination of Qc from the HX inequalities (g1..g7 and 0 <= Qc <= 1000)
    at the nominal θp: rows (C, d) with the feasible T-region {T : C T <= d}, computed with
    numpy from the published coefficients (independent of flexspace's formulations)."""
    qmin, qmax = hx.THETA_P_NOMINAL
    A = np.column_stack([hx.COEF, hx.QC])  # A [T, Qc] <= b
    b = -hx.CONST.copy()
    b[5] += qmax
    b[6] -= qmin
    A = np.vstack([A, [0, 0, 0, 0, -1.0], [0, 0, 0, 0, 1.0]])
    b = np.r_[b, -hx.QC_BOUNDS[0], hx.QC_BOUNDS[1]]
    pos, neg = np.flatnonzero(A[:, 4] > 0), np.flatnonzero(A[:, 4] < 0)
    rows = [A[i, :4] / A[i, 4] - A[j, :4] / A[j, 4] for i in pos for j in neg]
    rhs = [b[i] / A[i, 4] - b[j] / A[j, 4] for i in pos for j in neg]
    zero = np.flatnonzero(A[:, 4] == 0)
    C, d = np.vstack(rows + [A[zero, :4]]), np.r_[rhs, b[zero]]
    keep = np.any(C != 0, axis=1)
    return C[keep], d[keep]


def _bounded_model():
    m = pyo.ConcreteModel()
    m.p = pyo.Param(mutable=True, initialize=1.0)
    m.t = pyo.Param(mutable=True, initialize=0.0)
    m.z = pyo.Var(bounds=(-1, 1), initialize=0.0)
    m.x = pyo.Var(bounds=(-10, 10), initialize=0.0)
    m.h = pyo.Constraint(expr=m.x == m.z + m.t)
    m.g = pyo.Expression(expr=m.x - m.p)
    args = dict(theta_p={"p": m.p}, theta_m={"t": m.t}, constraints={"g": m.g}, covariance=[[1.0]],
                controls={"z": m.z})
    return m, args


def test_hx_model_has_one_bounded_control_and_no_states():
    m = hx.model()
    assert m.n_z == 1 and m.control_names == ["Qc"]
    np.testing.assert_array_equal(m.control_bounds, [list(hx.QC_BOUNDS)])
    inst = m.instance()
    assert len(inst.controls) == 1 and inst.state_vars() == []
    assert "controls" in m.fingerprint_parts()
    assert "controls" not in case1.model().fingerprint_parts()  # models without controls: fingerprint unchanged
    assert case1.model().n_z == 0


def test_model_with_a_state_and_a_control_is_square_once_z_is_fixed():
    m, args = _bounded_model()
    pm = ProcessModel(m, **args)  # x = z + t: one dof with θ fixed, the control
    assert pm.n_z == 1 and [v.name for v in pm.instance().state_vars()] == ["process.x"]
    m2, args2 = _bounded_model()
    m2.v = pyo.Var(initialize=0.0)
    m2.w = pyo.Var(initialize=0.0)
    m2.h2 = pyo.Constraint(expr=m2.v + m2.w == 1)  # one more degree of freedom than the control
    with pytest.raises(NotSquareError, match="and the controls"):
        ProcessModel(m2, **args2)


@pytest.mark.parametrize("bad, match", [
    (lambda m: {"controls": {"z": m.p}}, "expected a Var"),
    # a missing bound is derived by FBBT or reported (tests/models/test_idaes_flowsheets.py); one that
    # depends on theta cannot be a control's range
    (lambda m: {"controls": {"z": m.z_theta}}, "depends on a parameter"),
    (lambda m: {"controls": {"t": m.z}}, "is also"),
    (lambda m: {"controls_linear": 3}, "controls_linear"),
])
def test_bad_controls_are_refused_with_the_fix(bad, match):
    m, args = _bounded_model()
    m.z_theta = pyo.Var(bounds=(0.0, m.p), initialize=0.0)
    args.update(bad(m))
    with pytest.raises(ValidationError, match=match):
        ProcessModel(m, **args)


def test_fixed_control_is_refused():
    m, args = _bounded_model()
    m.z.fix(0.0)
    with pytest.raises(ValidationError, match="fixed"):
        ProcessModel(m, **args)


def test_interval_feasibility_matches_brute_force():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(400, 4)), rng.normal(size=(400, 4))
    b[:, 0] = np.where(rng.random(400) < 0.2, 0.0, b[:, 0])
    zs = np.linspace(-2, 2, 40001)
    brute = np.array([np.any(np.all(a[i][:, None] + b[i][:, None] * zs[None, :] <= 1e-7, axis=0))
                      for i in range(400)])
    assert np.array_equal(interval_feasible(a, b, -2.0, 2.0), brute)


def test_recourse_feasibility_agrees_with_projection_linear_lp_and_nlp():
    m = hx.model()
    C, d = hx_projection()
    tm = sample_theta_m(m, 400, random_state=1) * 1.0
    tm = hx.T_NOMINAL + 3.0 * (tm - hx.T_NOMINAL)  # spread out: many infeasible samples
    exact = np.all(tm @ C.T <= d + 1e-9, axis=1)
    ok, failed, how = m.recourse_feasibility(hx.THETA_P_NOMINAL, tm)
    assert "closed form" in how and not failed.any()
    assert np.array_equal(ok, exact) and 0.3 < exact.mean() < 0.9
    # several controls' path (one LP per sample) on the same data, and the NLP path (Ipopt) on a few samples
    from flexspace.models import controls as ctl

    two = hx.model()
    two.control_bounds = np.vstack([two.control_bounds, [[0.0, 1.0]]])
    two.control_names = ["Qc", "dummy"]
    two.controls_linear = lambda tp, t: (lambda a, B: (a, np.concatenate([B, np.zeros_like(B)], axis=2)))(
        *hx.linear_data(tp, t))
    ok2, failed2, how2 = ctl.recourse_feasibility(two, hx.THETA_P_NOMINAL, tm)
    assert "LP" in how2 and np.array_equal(ok2, exact) and not failed2.any()
    nl = hx.model()
    nl.controls_linear = None
    ok3, failed3, how3 = nl.recourse_feasibility(hx.THETA_P_NOMINAL, tm[:25])
    # without the linear data: one inner problem per sample, exact because g is linear in Qc
    assert "proven convex" in how3 and not failed3.any() and np.array_equal(ok3, exact[:25])


def test_monte_carlo_with_recourse_matches_projection_probability():
    """Stochastic flexibility of the HX network: Monte Carlo with recourse (20 000 samples)
    against the probability of the exact projection (10^6 independent samples)."""
    m = hx.model()
    C, d = hx_projection()
    mc = monte_carlo_probability(m, hx.THETA_P_NOMINAL, n_samples=20000, random_state=7)
    ref_samples = sample_theta_m(m, 1_000_000, random_state=123)
    p_ref = float(np.mean(np.all(ref_samples @ C.T <= d, axis=1)))
    assert "recourse" in mc.evaluated_by and mc.n_failed == 0
    assert abs(mc.probability - p_ref) <= 3 * mc.std_error, (mc.probability, p_ref, mc.std_error)
    assert 0.9 < p_ref < 0.99  # about 0.97: the box index 0.5 (±5 K) is pessimistic
