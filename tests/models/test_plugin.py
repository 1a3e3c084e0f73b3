"""Plug-in models: the README's user model, the square check, bad inputs, failures never feasible."""
import numpy as np
import pyomo.environ as pyo
import pytest

import flexspace
from flexspace import ResultStatus
from flexspace.models import NotSquareError
from flexspace.solvers import SolveResult, SolverStatus


def user_model():
    """The README example: an exothermic first-order reaction in a CSTR (made up for the test)."""
    m = pyo.ConcreteModel()
    m.tau = pyo.Var(initialize=10.0)                  # θp: residence time (a Var, fixed by flexspace)
    m.k = pyo.Param(mutable=True, initialize=0.2)     # θm: rate constant
    m.Ea = pyo.Param(mutable=True, initialize=1.0)    # θm: a second uncertain factor
    m.cA = pyo.Var(bounds=(0, 1), initialize=0.5)     # state
    m.bal = pyo.Constraint(expr=1.0 - m.cA - m.tau * m.k * m.Ea * m.cA == 0)
    m.g_conv = pyo.Constraint(expr=m.cA <= 0.35)      # CQA as a Constraint: conversion >= 65 %
    return flexspace.ProcessModel(
        m, theta_p={"tau": m.tau}, theta_m={"k": m.k, "Ea": m.Ea}, constraints={"conversion": m.g_conv},
        covariance=[[0.02 ** 2, 0.0], [0.0, 0.05 ** 2]], theta_p_bounds=[(5, 30)], name="user")


def test_user_model_index_matches_analytic():
    model = user_model()
    # feasible ⇔ cA = 1/(1 + τ k Ea) ≤ 0.35 ⇔ k·Ea ≥ (1/0.35 − 1)/τ; at the boundary solve for δ by sampling
    r = flexspace.flexibility_index(model, [20.0], "ellipsoid", "maingo")
    assert r.status == ResultStatus.OK and r.certified
    kE = (1 / 0.35 - 1) / 20.0
    th = np.array(list(r.worst_theta_m.values()))
    assert th[0] * th[1] == pytest.approx(kE, rel=1e-5)  # the worst point lies on the CQA boundary
    local = flexspace.flexibility_index(model, [20.0], "ellipsoid", "ipopt")
    assert local.delta == pytest.approx(r.delta, rel=1e-5) and local.certified


def test_not_square_is_refused_with_counts():
    m = pyo.ConcreteModel()
    m.p = pyo.Param(mutable=True, initialize=1.0)
    m.k = pyo.Param(mutable=True, initialize=1.0)
    m.x = pyo.Var()
    m.y = pyo.Var()
    m.e = pyo.Constraint(expr=m.x + m.y == m.p * m.k)
    m.g = pyo.Expression(expr=m.x - 1)
    with pytest.raises(NotSquareError, match=r"1 degrees of freedom \(2 unfixed variables in 1 active equality"):
        flexspace.ProcessModel(m, theta_p=m.p, theta_m=m.k, constraints=m.g, covariance=[[1.0]])


def test_bare_expression_and_immutable_param_refused():
    m = pyo.ConcreteModel()
    m.p = pyo.Param(mutable=True, initialize=1.0)
    m.k = pyo.Param(initialize=1.0)
    m.kk = pyo.Param(mutable=True, initialize=1.0)
    with pytest.raises(TypeError, match="not mutable"):
        flexspace.ProcessModel(m, theta_p=m.p, theta_m=m.k, constraints=lambda b: b.kk - 2, covariance=[[1.0]])
    with pytest.raises(TypeError, match="bare expression"):
        flexspace.ProcessModel(m, theta_p=m.p, theta_m=m.kk, constraints=[m.kk - 2], covariance=[[1.0]])


def test_nan_in_bounds_is_refused():
    m = pyo.ConcreteModel()
    m.p = pyo.Param(mutable=True, initialize=1.0)
    m.k = pyo.Param(mutable=True, initialize=1.0)
    with pytest.raises(ValueError, match="theta_p_bounds contains NaN"):
        flexspace.ProcessModel(m, theta_p=m.p, theta_m=m.k, constraints=lambda b: b.k - 2, covariance=[[1.0]],
                               theta_p_bounds=[(0.0, np.nan)])


def test_unknown_solver_and_set(case1_model):
    with pytest.raises(ValueError, match="unknown solver 'cplex'"):
        flexspace.flexibility_index(case1_model, None, "ellipsoid", "cplex")
    with pytest.raises(ValueError, match="unknown uncertainty set 'sphere'"):
        flexspace.flexibility_index(case1_model, None, "sphere", "ipopt")
    with pytest.raises(ValueError, match="MINLP route needs a solver that handles binaries"):
        flexspace.flexibility_index(case1_model, None, "box", "ipopt", method="minlp")


@pytest.mark.parametrize("status", [SolverStatus.TIME_LIMIT, SolverStatus.ERROR])
def test_failed_or_timed_out_solve_is_never_feasible(case1_model, monkeypatch, status):
    fa = flexspace.FlexibilityAnalysis(case1_model, "ellipsoid", "maingo")
    monkeypatch.setattr(fa.solver, "solve", lambda m: SolveResult(status, message="injected"))
    r = fa.index((4.6, 450.0))
    assert r.status == ResultStatus.FAILED and not r.ok
    assert np.isnan(r.delta) and np.isnan(r.probability) and r.certified is False
    assert all(s.status == status for s in r.subproblems)
    if status == SolverStatus.TIME_LIMIT:  # a time-out says so in one line, with no diagnostics
        assert r.timed_out and r.diagnostics == "" and r.timeout.startswith("time limit:")
    else:  # IDAES's reports only where they found something: never the "No warnings found" frames
        assert not r.timed_out and "No warnings found" not in r.diagnostics
    t = fa.test((4.6, 450.0), confidence=0.85)
    assert t.status == ResultStatus.FAILED and not t.feasible


def test_results_tables(case1_model):
    r = flexspace.flexibility_index(case1_model, (4.6, 450.0), "box", "scip")
    df = r.to_dataframe()
    cqa_rows = [c for c in df["constraint"] if not c.startswith("domain: ")]  # domain checks follow the CQAs
    assert cqa_rows == ["yield", "purity"] and "theta_m.k1" in df.columns
    d = r.to_dict()
    assert d["global"] is True and d["quality"] == "global" and d["theta_p.tau"] == 450.0
    assert "Flexibility index (box" in str(r)


def test_extended_test_is_monotone_in_delta_p(case1_model):
    """χ(δp) of the extended test (Eq. 28–36) grows with the θp box; small box feasible."""
    fa = flexspace.FlexibilityAnalysis(case1_model, "ellipsoid", "maingo", {"time_limit": 600.0})  # far above need
    chis = [fa.extended_test(dp, confidence=0.85).chi for dp in (0.05, 0.3, 0.8)]
    assert chis[0] <= chis[1] <= chis[2] and chis[0] < 0 < chis[2]
