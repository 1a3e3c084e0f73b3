"""Solver layer: names, statuses, the hard wall-clock guard, failures never feasible."""
import time

import pyomo.environ as pyo
import pytest

from flexspace.cli import main
from flexspace.solvers import Solver, SolverStatus, UnknownSolverError, available_solvers, get_solver, solver_table

CORE = ["ipopt", "maingo", "scip", "highs"]


def test_core_solvers_available():
    assert set(CORE) <= set(available_solvers())


def test_solver_table_check_solves():
    rows = {r["name"]: r for r in solver_table()}
    for name in CORE:
        assert rows[name]["available"], rows[name]
        assert rows[name]["check"].startswith("ok")
    assert rows["maingo"]["type"] == "global" and rows["ipopt"]["type"] == "local"


def test_cli_solvers_check_exit_code(capsys):
    assert main(["solvers", "--check"]) == 0
    assert "maingo" in capsys.readouterr().out


def test_unknown_solver_lists_available():
    with pytest.raises(UnknownSolverError, match=r"unknown solver 'cplex'.*available here: \[.*'maingo'"):
        get_solver("cplex")


def _nlp():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(-2, 2), initialize=0.5)
    m.c = pyo.Constraint(expr=m.x ** 2 >= 5)  # infeasible on [-2, 2]
    m.o = pyo.Objective(expr=m.x)
    return m


@pytest.mark.parametrize("name", ["maingo", "scip"])
def test_infeasible_is_reported(name):
    r = Solver(name, {"time_limit": 20}).solve(_nlp())
    assert r.status == SolverStatus.INFEASIBLE and not r.status.ok


def test_hard_guard_kills_a_hanging_solve(monkeypatch):
    s = Solver("maingo", {"time_limit": 0.5})
    monkeypatch.setattr(s, "_solve_inproc", lambda m: time.sleep(30))
    t0 = time.perf_counter()
    r = s.solve(_nlp())
    assert r.status == SolverStatus.TIME_LIMIT and "guard" in r.message
    assert time.perf_counter() - t0 < 10


def test_crash_is_error_status(monkeypatch):
    s = Solver("ipopt")

    def boom(m):
        raise RuntimeError("solver crashed")

    monkeypatch.setattr(s, "_solve_inproc", boom)
    r = s.solve(_nlp())
    assert r.status == SolverStatus.ERROR and "crashed" in r.message


def test_bad_time_limit():
    with pytest.raises(ValueError, match="time_limit"):
        Solver("ipopt", {"time_limit": -1})


# --------------------------------------------------------------------------- Gurobi (optional extra)
def _has_gurobipy():
    try:
        import gurobipy  # noqa: F401
    except ImportError:
        return False
    return True


needs_gurobi = pytest.mark.skipif(not _has_gurobipy(), reason="gurobipy not installed (optional extra 'gurobi')")


def test_gurobi_listed_only_when_usable():
    rows = {r["name"]: r for r in solver_table()}
    row = rows["gurobi"]
    assert row["type"] == "global" and row["problem"] == "minlp" and row["pyomo"] == "gurobi_direct_minlp"
    if not _has_gurobipy():
        assert "gurobi" not in available_solvers() and not row["available"]
    else:
        assert "gurobi" in available_solvers()
        assert row["available"] and row["check"].startswith("ok"), row
        assert "licence" in row["version"]


def test_gurobi_absent_means_unavailable(monkeypatch):
    import builtins

    from flexspace.errors import SolverUnavailableError
    from flexspace.solvers.backends import base

    real_import = builtins.__import__

    def no_gurobipy(name, *args, **kwargs):
        if name == "gurobipy" or name.startswith("gurobipy."):
            raise ImportError("No module named 'gurobipy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gurobipy)
    monkeypatch.setattr(base, "_AVAIL_CACHE", {})  # availability is probed once per process
    assert "gurobi" not in available_solvers()
    assert {"maingo", "scip"} <= set(available_solvers())
    with pytest.raises(SolverUnavailableError, match="gurobi"):
        Solver("gurobi")


@needs_gurobi
def test_gurobi_check_problem_optimum():
    from flexspace.solvers import _check_problem

    m, expected = _check_problem("nlp")
    r = Solver("gurobi", {"time_limit": 20, "gap": 1e-8}).solve(m)
    assert r.status == SolverStatus.OPTIMAL and r.solver == "gurobi"
    assert r.objective == pytest.approx(expected, abs=1e-6)
    # the objective is flat along the circle near the optimum: the point is known less precisely
    assert pyo.value(m.x) == pytest.approx(1 / 5 ** 0.5, abs=1e-3) and pyo.value(m.y) == pytest.approx(2 / 5 ** 0.5, abs=1e-3)


def _two_optima():
    """min -(x-1)^2 on [0, 3]: local minimum at x = 0 (-1), global at x = 3 (-4)."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 3), initialize=0.2)
    m.o = pyo.Objective(expr=-(m.x - 1) ** 2)
    return m


@needs_gurobi
def test_gurobi_finds_global_optimum_a_local_solver_misses():
    m = _two_optima()
    r = Solver("gurobi", {"time_limit": 20}).solve(m)
    assert r.status == SolverStatus.OPTIMAL
    assert r.objective == pytest.approx(-4.0, abs=1e-6) and pyo.value(m.x) == pytest.approx(3.0, abs=1e-6)
    assert r.bound == pytest.approx(-4.0, abs=1e-3)
    local = _two_optima()
    rl = Solver("ipopt").solve(local)  # started near 0, Ipopt stops at the local optimum
    assert rl.status == SolverStatus.LOCALLY_OPTIMAL and pyo.value(local.x) == pytest.approx(0.0, abs=1e-6)


@needs_gurobi
def test_gurobi_infeasible_and_unbounded():
    assert Solver("gurobi", {"time_limit": 20}).solve(_nlp()).status == SolverStatus.INFEASIBLE
    m = pyo.ConcreteModel()
    m.x = pyo.Var()
    m.o = pyo.Objective(expr=m.x)
    r = Solver("gurobi", {"time_limit": 20}).solve(m)
    assert r.status == SolverStatus.ERROR and "unbounded" in r.message


@needs_gurobi
@pytest.mark.parametrize("expr, named", [
    (lambda m: pyo.tanh(m.x), "tanh()"),
    (lambda m: pyo.asin(m.x / 4), "asin()"),
    (lambda m: m.x ** m.y, "x**y"),
    (lambda m: pyo.Expr_if(m.x >= 1, m.x, 2 * m.x), "Expr_if"),
])
def test_gurobi_unsupported_function_is_a_clear_error(expr, named):
    from flexspace.solvers import gurobi_unsupported

    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0.1, 3))
    m.y = pyo.Var(bounds=(0.1, 3))
    m.o = pyo.Objective(expr=expr(m))
    assert any(named in s for s in gurobi_unsupported(m))
    r = Solver("gurobi", {"time_limit": 20}).solve(m)
    assert r.status == SolverStatus.ERROR and not r.status.ok
    assert named in r.message and "Gurobi" in r.message


@needs_gurobi
def test_gurobi_supported_functions_and_constant_subexpressions():
    from flexspace.solvers import gurobi_unsupported

    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0.5, 3), initialize=1)
    m.y = pyo.Var(bounds=(0.5, 3), initialize=1)
    m.p = pyo.Param(initialize=2.0, mutable=True)
    m.e = pyo.Expression(expr=pyo.exp(-m.x) + pyo.log(m.y) + m.x / m.y + pyo.sqrt(m.y) + 2 ** m.x + abs(m.y))
    m.c = pyo.Constraint(expr=m.x * m.y >= 1 + pyo.tanh(m.p))  # tanh of a constant: evaluated by Pyomo
    m.o = pyo.Objective(expr=m.e)
    assert gurobi_unsupported(m) == []
    r = Solver("gurobi", {"time_limit": 20}).solve(m)
    assert r.status == SolverStatus.OPTIMAL
    assert r.objective == pytest.approx(pyo.value(m.e), abs=1e-5)
    assert pyo.value(m.x * m.y) >= 1 + pyo.value(pyo.tanh(m.p)) - 1e-6


@needs_gurobi
def test_gurobi_model_too_large_for_licence_is_a_failed_solve():
    from flexspace.solvers import _raw_version

    if "size-limited" not in str(_raw_version("gurobi")):
        pytest.skip("full Gurobi licence: no size limit to hit")
    n = 300
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(n), bounds=(0.1, 3))
    m.c = pyo.Constraint(range(n), rule=lambda m, i: pyo.exp(m.x[i]) <= 5)
    m.o = pyo.Objective(expr=sum(m.x.values()))
    r = Solver("gurobi", {"time_limit": 20}).solve(m)  # never raises
    assert r.status == SolverStatus.ERROR and not r.status.ok
    assert "size-limited licence" in r.message and "10010" in r.message


@needs_gurobi
def test_gurobi_time_limit_is_not_optimal():
    import numpy as np

    rng = np.random.default_rng(0)
    n = 60
    q = rng.normal(size=(n, n))
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(n), bounds=(-1, 1))
    m.c = pyo.Constraint(range(n // 2), rule=lambda m, i: sum(
        pyo.sin(3 * m.x[j] + i) * m.x[(j + i) % n] for j in range(0, n, 7)) <= 0.3)
    m.o = pyo.Objective(expr=sum(q[i, j] * m.x[i] * m.x[j] for i in range(n) for j in range(n)))
    t0 = time.perf_counter()
    r = Solver("gurobi", {"time_limit": 0.5}).solve(m)
    assert r.status == SolverStatus.TIME_LIMIT and not r.status.ok
    assert time.perf_counter() - t0 < 10


@needs_gurobi
def test_gurobi_flexibility_index_case1_matches_maingo():
    import flexspace
    from flexspace.models.cases import case1

    rg = flexspace.flexibility_index(case1.model(), None, "box", "gurobi", options={"time_limit": 30})
    if rg.solved:
        rm = flexspace.flexibility_index(case1.model(), None, "box", "maingo", options={"time_limit": 30})
        assert rm.solved and rg.is_global
        print(f"gurobi: delta={rg.delta:.6f} in {rg.time:.2f} s; maingo: delta={rm.delta:.6f} in {rm.time:.2f} s")
        assert rg.delta == pytest.approx(rm.delta, rel=1e-4)
    else:  # licence or function limits: a failed result that says why
        reasons = " ".join([rg.diagnostics] + [s.message for s in rg.subproblems])
        print(f"gurobi could not solve case 1: {reasons}")
        assert rg.status.value == "failed"
        assert "size-limited" in reasons or "cannot express" in reasons


# --------------------------------------------------------------------------- objective targets (issue 14)
def _wavy(c, maximize=True):
    """A small nonconvex problem: max x y e^x − y³ + c over a disc; optimum 1.962117 + c."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(-2, 2), initialize=0.3)
    m.y = pyo.Var(bounds=(-2, 2), initialize=0.3)
    m.c = pyo.Constraint(expr=m.x ** 2 + m.y ** 2 <= 1.5)
    e = m.x * m.y * pyo.exp(m.x) - m.y ** 3 + c
    m.o = pyo.Objective(expr=e if maximize else -e, sense=pyo.maximize if maximize else pyo.minimize)
    return m


_WAVY_OPT = 1.9621186


def _target_solvers():
    return [n for n in ("maingo", "scip", "gurobi") if n in available_solvers()]


@pytest.mark.parametrize("name", _target_solvers())
@pytest.mark.parametrize("maximize", [True, False])
def test_bound_target_is_honoured_and_not_an_optimum(name, maximize):
    """χ = max = 1.96 − 20 < 0: the solver stops once its bound proves the sign; the status says
    so (not OPTIMAL), the bound is the proof, and it stopped before closing the gap."""
    sign = 1 if maximize else -1
    s = Solver(name, {"time_limit": 20, "gap": 1e-9, "abs_gap": 1e-12})
    full = s.solve(_wavy(-20, maximize))
    assert full.status == SolverStatus.OPTIMAL and abs(sign * full.objective - (_WAVY_OPT - 20)) < 1e-5
    r = s.solve(_wavy(-20, maximize), point_target=sign * 1e-6, bound_target=0.0)
    assert r.status == SolverStatus.TARGET and not r.status.ok
    assert r.bound is not None and sign * r.bound <= 0.0 and r.bound_passes(0.0, maximize)
    assert sign * r.bound > sign * full.bound + 1.0  # stopped early: the bound was not closed
    assert "not optimal" in r.message
    if r.objective is not None:  # a point, if any, is a real point below the bound
        assert r.has_point and sign * r.objective <= sign * r.bound + 1e-9


@pytest.mark.parametrize("name", _target_solvers())
def test_point_target_is_honoured_with_a_real_point(name):
    """χ = 1.96 + 5 > 0: the solver stops at a feasible point with objective ≥ the target; the
    point is loaded into the model and its objective evaluated there."""
    s = Solver(name, {"time_limit": 20, "gap": 1e-9, "abs_gap": 1e-12})
    m = _wavy(5)
    r = s.solve(m, point_target=1e-6, bound_target=0.0)
    assert r.status == SolverStatus.TARGET and r.has_point and r.point_reaches(1e-6, True)
    assert r.objective >= 1e-6 and abs(pyo.value(m.o) - r.objective) < 1e-9
    assert pyo.value(m.x) ** 2 + pyo.value(m.y) ** 2 <= 1.5 + 1e-6
    assert r.bound is None or r.bound >= _WAVY_OPT + 5 - 1e-6  # a bound, if any, is valid


def test_unproven_target_stop_is_an_error():
    """A stop the numbers do not back (neither the point nor the bound reaches its target) is
    never taken as a decided sign."""
    from flexspace.solvers import _Targets

    s = Solver("scip")
    m = _wavy(0)
    m.x.set_value(0.0)
    m.y.set_value(0.0)  # objective 0 < point target 1
    s._targets = _Targets(point=1.0, bound=-1.0, maximize=True)
    r = s._target_result(m, True, 3.0, "test")
    assert r.status == SolverStatus.ERROR and not r.has_point and "not trusted" in r.message
    m.x.set_value(1.9)  # outside the disc: not a feasible point, so it proves nothing
    m.y.set_value(1.9)
    r = s._target_result(m, True, None, "test")
    assert r.status == SolverStatus.ERROR and r.objective is None


def test_targets_time_limit_is_not_a_decision(monkeypatch):
    """A solve with targets that runs into the wall-clock guard is TIME_LIMIT: no bound, no
    point, nothing decided."""
    s = Solver("maingo", {"time_limit": 0.5})
    monkeypatch.setattr(s, "_solve_inproc", lambda m: time.sleep(30))
    r = s.solve(_wavy(-20), point_target=1e-6, bound_target=0.0)
    assert r.status == SolverStatus.TIME_LIMIT and not r.has_point
    assert not r.bound_passes(0.0, True) and not r.point_reaches(1e-6, True)


def test_targets_ignored_by_local_solvers():
    s = Solver("ipopt")
    assert not s.honours_targets and Solver("scip").honours_targets
    r = s.solve(_wavy(-20), point_target=1e-6, bound_target=0.0)
    assert r.status == SolverStatus.LOCALLY_OPTIMAL


def test_user_scaling_is_detected_once_and_not_after_scale_model():
    """An active ``scaling_factor`` Suffix anywhere in the model makes Ipopt use it (user-scaling);
    ``core.scale_model`` deactivates the suffixes it applied, so a scaled model is not scaled twice."""
    from flexspace.solvers import has_user_scaling

    m = pyo.ConcreteModel()
    m.b = pyo.Block()
    m.b.x = pyo.Var(initialize=1e4)
    m.b.c = pyo.Constraint(expr=m.b.x == 1e4)
    m.o = pyo.Objective(expr=0)
    assert not has_user_scaling(m)
    m.b.scaling_factor = pyo.Suffix(direction=pyo.Suffix.EXPORT)
    m.b.scaling_factor[m.b.x] = 1e-4
    assert has_user_scaling(m)
    scaled = pyo.TransformationFactory("core.scale_model").create_using(m)
    assert not has_user_scaling(scaled)
