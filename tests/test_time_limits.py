"""Time limits and time-outs (issue: the README's SCIP example ran into every 60 s limit and
printed 40 lines of IDAES boilerplate).  Logic only, never wall-clock speed: the measured
overruns are printed by ``benchmarks/time_limits.py``.

* the time limit is per solve and counted from the start of ``Solver.solve``: start-up eats
  into what the solver is handed, and the guard kills at ``time_limit + guard_grace``, inside
  ``time_allowance`` = max(2 s, 5 %);
* a time-out result says so in one line and carries no diagnostics; IDAES's reports appear
  only when they found something;
* SCIP solves the README's first example (case 1, full form, ellipsoid test) within a node
  limit (it stalled on the expanded ellipsoid before), to the value sampling gives.
"""
import glob
import math
import os
import tempfile
import time

import numpy as np
import pyomo.environ as pyo
import pytest

import flexspace
from flexspace.formulations.results import FlexibilityTestResult, ResultStatus, SubproblemResult
from flexspace.models.cases import case1
from flexspace.models.evaluation import diagnostic_findings
from flexspace.solvers import Solver, SolveRequest, SolveResult, SolverStatus, available_solvers
from flexspace.solvers.solver import (KILLED, MIN_SOLVER_LIMIT, guard_grace, time_allowance, timeout_message)
from flexspace.solvers.util import squares_of_sums_kept

GUARDED = [n for n in ("scip", "maingo") if n in available_solvers()]
needs_guarded = pytest.mark.skipif(not GUARDED, reason="needs a guarded (global) solver")
needs_scip = pytest.mark.skipif("scip" not in available_solvers(), reason="SCIP not installed")
needs_ipopt = pytest.mark.skipif("ipopt" not in available_solvers(), reason="Ipopt not installed")


def _tiny():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(-1, 2), initialize=0.5)
    m.o = pyo.Objective(expr=(m.x - 1) ** 2)
    return m


class _Reporter:
    """A guarded local backend that answers at once and reports the time limit it was handed."""

    name = "limit-reporter"
    guard = True

    def available(self):
        return True

    def solve(self, model, request: SolveRequest) -> SolveResult:
        model.x.set_value(1.0)
        return SolveResult(SolverStatus.LOCALLY_OPTIMAL, objective=0.0, message=repr(request.time_limit))


class _TimesOut:
    """A global backend whose every solve runs out of time (no point, no bound)."""

    name = "times-out"
    is_global = True

    def available(self):
        return True

    def solve(self, model, request: SolveRequest) -> SolveResult:
        return SolveResult(SolverStatus.TIME_LIMIT, message="stopped")


class _Fails(_TimesOut):
    name = "fails"

    def solve(self, model, request: SolveRequest) -> SolveResult:
        return SolveResult(SolverStatus.ERROR, message="numerical trouble")


# ----------------------------------------------------------------------------- the budget
def test_allowance_and_grace():
    assert time_allowance(2) == 2 and time_allowance(40) == 2 and time_allowance(100) == 5
    for t in (0.5, 2, 5, 20, 60, 600):
        assert 0 < guard_grace(t) < time_allowance(t)  # the kill leaves time for the reap and the result


@pytest.mark.parametrize("guard", [True, False])
def test_start_up_counts_against_the_limit(monkeypatch, guard):
    """What the solver is handed is what is left after the start-up (here a 0.4 s delay
    injected into the model's capture or the request: sleep never returns early)."""
    from flexspace.solvers import guard as guard_mod

    s = Solver(_Reporter(), {"time_limit": 30}, hard_guard=guard)
    if guard:
        capture = guard_mod.ModelState.capture
        monkeypatch.setattr(guard_mod.ModelState, "capture", lambda self: (time.sleep(0.4), capture(self))[1])
    else:
        request = Solver._request
        monkeypatch.setattr(Solver, "_request", lambda self: (time.sleep(0.4), request(self))[1])
    r = s.solve(_tiny())
    assert r.status == SolverStatus.LOCALLY_OPTIMAL
    assert MIN_SOLVER_LIMIT <= float(r.message) <= 30 - 0.4
    assert s.remaining() == 30  # outside a solve: the whole limit
    s.close()


def test_the_remaining_limit_is_floored():
    s = Solver(_Reporter(), {"time_limit": 5})
    s._deadline = time.monotonic() - 10  # long past
    assert s.remaining() == MIN_SOLVER_LIMIT
    s._deadline = None


@needs_guarded
def test_the_guard_kills_at_the_limit_plus_grace_counted_from_the_start(monkeypatch):
    """A hanging child is killed ``time_limit + guard_grace`` after solve() began: a 0.4 s
    start-up shortens the wait by as much; the kill is one line; nothing is left behind."""
    from flexspace.solvers import guard as guard_mod

    s = Solver(GUARDED[0], {"time_limit": 1.0})
    waits = []
    real = guard_mod.SolveServer.solve
    monkeypatch.setattr(guard_mod.SolveServer, "solve",
                        lambda self, state, job, seconds: (waits.append(seconds), real(self, state, job, seconds))[1])
    capture = guard_mod.ModelState.capture
    monkeypatch.setattr(guard_mod.ModelState, "capture", lambda self: (time.sleep(0.4), capture(self))[1])
    monkeypatch.setattr(s, "_solve_inproc", lambda m: time.sleep(60))  # the child hangs
    pattern = os.path.join(tempfile.gettempdir(), f"flexspace-solve-{os.getpid()}-*")
    before = set(glob.glob(pattern))  # live solver children of earlier tests keep their folders
    r = s.solve(_tiny())
    assert r.status == SolverStatus.TIME_LIMIT
    assert waits and waits[0] <= 1.0 + guard_grace(1.0) - 0.4
    assert "\n" not in r.message and r.message.startswith("time limit:") and "killed" in r.message
    assert s._slot.server is None or not s._slot.server.alive
    assert not set(glob.glob(pattern)) - before
    s.close()


def test_timeout_message_is_one_line():
    r = SolveResult(SolverStatus.TIME_LIMIT, objective=-0.5, bound=-0.4, time=60.2, has_point=True)
    line = timeout_message("scip", 60, r)
    assert line == ("time limit: scip stopped at 60.2 s (time_limit 60 s) without proving optimality "
                    "(best point -0.5, proven bound -0.4)")
    killed = timeout_message("maingo", 60, SolveResult(SolverStatus.TIME_LIMIT, time=62.5, message=KILLED))
    assert "killed" in killed and "no point, no bound" in killed and "\n" not in killed
    assert "without converging" in timeout_message("ipopt", 5, SolveResult(SolverStatus.TIME_LIMIT), False)


# ----------------------------------------------------------------------------- solver specifics
def test_maingo_limits_are_whole_seconds_rounded_up():
    from flexspace.solvers.backends.maingo import whole_seconds

    assert [whole_seconds(x) for x in (0.001, 0.99, 1.0, 1.01, 59.4, 60.0)] == [1, 1, 1, 2, 60, 60]


def test_maingo_no_point_at_its_limit_is_a_time_out():
    maingopy = pytest.importorskip("maingopy")
    from types import SimpleNamespace

    from flexspace.solvers.backends.maingo import _out_of_time

    opt = SimpleNamespace(_mymaingo=SimpleNamespace(get_status=lambda: maingopy.NO_FEASIBLE_POINT_FOUND))
    assert _out_of_time(opt, SimpleNamespace(wallclock_time=5.0, cpu_time=4.1), 4.3)
    assert not _out_of_time(opt, SimpleNamespace(wallclock_time=0.2, cpu_time=0.2), 5.0)  # another limit
    other = SimpleNamespace(_mymaingo=SimpleNamespace(get_status=lambda: maingopy.INFEASIBLE))
    assert not _out_of_time(other, SimpleNamespace(wallclock_time=5.0, cpu_time=5.0), 5.0)


@needs_ipopt
def test_ipopt_past_its_deadline_is_a_time_out_not_an_error():
    """Ipopt's iteration callback stops it at the deadline: TIME_LIMIT (before, Ipopt's own
    max_wall_time ended in "KeyError: b'Unknown status'", an ERROR)."""
    from flexspace.solvers.backends.ipopt import IpoptBackend, _Deadline

    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=-1.2)
    m.y = pyo.Var(initialize=1.0)
    m.o = pyo.Objective(expr=100 * (m.y - m.x ** 2) ** 2 + (1 - m.x) ** 2)
    r = IpoptBackend().solve(m, SolveRequest(0.0, 1e-5, 1e-9, 1e-8))
    assert r.status == SolverStatus.TIME_LIMIT and not r.status.ok
    assert IpoptBackend().solve(m, SolveRequest(600.0, 1e-5, 1e-9, 1e-8)).status == SolverStatus.LOCALLY_OPTIMAL
    d = _Deadline(600.0)
    assert d() and not d.expired


def test_squares_of_sums_become_squares_of_auxiliaries_and_are_restored():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 2))
    m.y = pyo.Var(bounds=(-1, 1))
    m.e = pyo.Constraint(expr=(2 * (m.x - 0.5)) ** 2 + (m.x + m.y) ** 2 + m.y ** 2 <= 3)
    m.o = pyo.Objective(expr=(m.x - 1) ** 2)  # one variable with a constant: also a sum
    before = (m.e.expr, m.o.expr)
    with squares_of_sums_kept(m):
        aux = [b for b in m.component_objects(pyo.Block) if b.local_name.startswith("_flexspace_squares")]
        assert len(aux) == 1 and len(aux[0].u) == 3 and len(aux[0].u_def) == 3
        assert [(v.lb, v.ub) for v in aux[0].u.values()] == [(-1.0, 3.0), (-1.0, 3.0), (-1.0, 1.0)]
        m.x.set_value(1.7)
        m.y.set_value(-0.3)
        for v, c in zip(aux[0].u.values(), aux[0].u_def.values()):  # u = its sum: the same value
            lhs, rhs = c.expr.args
            assert lhs is v
            v.set_value(pyo.value(rhs))
        assert pyo.value(m.e.body) == pytest.approx((2 * 1.2) ** 2 + 1.4 ** 2 + 0.09)
        assert pyo.value(m.o.expr) == pytest.approx(0.7 ** 2)
    assert (m.e.expr, m.o.expr) == before
    assert not [b for b in m.component_objects(pyo.Block) if b.local_name.startswith("_flexspace_squares")]


# ----------------------------------------------------------------------------- results
def test_a_time_out_result_is_one_line_without_diagnostics():
    """Every solve of this (user's) solver runs out of time: the test fails, says so in one
    line, and the model is not diagnosed (no IDAES report at all)."""
    t = flexspace.flexibility_test(case1.model(), [4.6, 450], confidence=0.85, solver=_TimesOut(),
                                   options={"time_limit": 7})
    assert t.status == ResultStatus.FAILED and not t.feasible and t.timed_out
    assert t.diagnostics == ""
    text = str(t)
    lines = [ln for ln in text.splitlines() if ln.strip().startswith("time limit:")]
    assert len(lines) == 1 and "times-out stopped at" in lines[0] and "time_limit 7 s" in lines[0]
    assert "diagnostics" not in text and "WARNING" not in text and "No warnings found" not in text
    assert t.timeout == lines[0].strip()


def test_a_failed_solve_gets_only_the_diagnostics_that_found_something():
    """An ERROR (not a time-out) is diagnosed, but case 1 is clean: no IDAES boilerplate."""
    t = flexspace.flexibility_test(case1.model(), [4.6, 450], confidence=0.85, solver=_Fails(),
                                   options={"time_limit": 7})
    assert t.status == ResultStatus.FAILED and not t.timed_out and t.timeout == ""
    assert "No warnings found" not in str(t) and "No cautions found" not in str(t)


def test_timeout_line_names_the_subproblems():
    msg = "time limit: scip stopped at 2.0 s (time_limit 2 s) without proving optimality (proven bound 1)"
    subs = [SubproblemResult("yield", float("nan"), SolverStatus.TIME_LIMIT, message=msg),
            SubproblemResult("purity", -0.08, SolverStatus.OPTIMAL)]
    r = FlexibilityTestResult(status=ResultStatus.FAILED, set_kind="ellipsoid", solver="scip", is_global=True,
                              method="enumeration", theta_p={"tau": 450.0}, subproblems=subs)
    assert r.timed_out and r.timeout.startswith(msg) and "subproblem yield" in r.timeout
    subs.append(SubproblemResult("other", float("nan"), SolverStatus.ERROR, message="boom"))
    assert not r.timed_out and r.timeout == ""  # an error too: diagnosed, no time-out line


def test_diagnostic_findings_keeps_reports_with_warnings_only():
    bar = "=" * 84
    clean = (f"{bar}\nModel Statistics\n\n{'-' * 84}\n0 WARNINGS\n\n    No warnings found!\n\n{'-' * 84}\n"
             f"0 Cautions\n\n    No cautions found!\n{bar}\n")
    bad = (f"{bar}\nModel Statistics\n\n{'-' * 84}\n2 WARNINGS\n\n    WARNING: 1 Variable at or outside bounds\n"
           f"{'-' * 84}\n0 Cautions\n\n    No cautions found!\n{bar}\n")
    assert diagnostic_findings(clean + clean) == ""
    kept = diagnostic_findings(clean + bad + "\n(numerical checks skipped: no solver)\n")
    assert "2 WARNINGS" in kept and "No warnings found" not in kept and "numerical checks skipped" in kept
    assert diagnostic_findings("") == ""


# ----------------------------------------------------------------------------- the README's example
@needs_scip
def test_readme_scip_example_solves_within_a_node_limit():
    """Case 1, full form, ellipsoid test at (4.6, 450), p_c 0.85: SCIP proves χ (its yield
    subproblem took > 19 000 nodes without closing the gap before the ellipsoid was sent as
    squares of auxiliaries; here 1000 nodes per solve are far above need), and χ equals the
    maximum of g over a dense sampling of the ellipse's boundary (where g's maximum lies)."""
    model = case1.model()
    s = Solver("scip", {"time_limit": 600}, solver_options={"limits/nodes": 1000})
    t = flexspace.flexibility_test(model, [4.6, 450], confidence=0.85, solver=s, options={"time_limit": 600})
    assert t.status == ResultStatus.OK and t.proven_feasible, str(t)
    ang = np.linspace(0.0, 2 * math.pi, 200001)
    L = np.linalg.cholesky(model.covariance)
    theta_m = model.theta_m_nominal + t.delta_m * np.c_[np.cos(ang), np.sin(ang)] @ L.T
    chi_ref = float(np.max(case1.simulator(np.array([4.6, 450.0]), theta_m)))
    assert t.chi == pytest.approx(chi_ref, abs=2e-8)
    assert t.chi_upper_bound is not None and chi_ref <= t.chi_upper_bound + 1e-9
