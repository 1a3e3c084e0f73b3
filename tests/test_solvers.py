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
    with pytest.raises(UnknownSolverError, match=r"unknown solver 'gurobi'.*available here: \[.*'maingo'"):
        get_solver("gurobi")


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
