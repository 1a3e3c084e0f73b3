"""Solver backends (issue 24): a backend written by a user — any object with ``solve(model,
request)`` and ``available()`` — runs the case 1 flexibility index through the public API; a
backend that does not declare itself global never earns a proof; anything else is refused,
naming the parameter; and get_solver applies options to a Solver instead of ignoring them."""
import pickle

import pyomo.environ as pyo
import pytest

import flexspace
from flexspace.errors import FlexspaceError, InputTypeError, ValidationError
from flexspace.formulations.results import ResultStatus
from flexspace.models.cases import case1
from flexspace.options import resolve_options
from flexspace.solvers import (Solver, SolveRequest, SolveResult, SolverStatus, available_solvers, get_solver,
                               register_backend, solver_names, unregister_backend)

THETA_P = (4.6, 450.0)

needs_scip = pytest.mark.skipif("scip" not in available_solvers(), reason="SCIP not installed")
needs_ipopt = pytest.mark.skipif("ipopt" not in available_solvers(), reason="Ipopt not installed")


class PyomoScip:
    """A user's global backend written against Pyomo directly (not flexspace's SCIP backend):
    ``scip_direct`` with the request's limits and its own status mapping."""

    name = "pyomo-scip"
    is_global = True
    supports_integers = True

    def __init__(self):
        self.calls = 0  # solves run in this process (no guard: ``guard`` is not declared)

    def available(self):
        from pyomo.contrib.solver.common.factory import SolverFactory

        return bool(SolverFactory("scip_direct").available())

    def solve(self, model, request: SolveRequest) -> SolveResult:
        from pyomo.contrib.solver.common.factory import SolverFactory
        from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition as TC

        self.calls += 1
        r = SolverFactory("scip_direct").solve(
            model, time_limit=request.time_limit, rel_gap=request.gap, abs_gap=request.abs_gap,
            load_solutions=False, raise_exception_on_nonoptimal_result=False,
            solver_options={"numerics/feastol": max(request.feas_tol, 1e-9), **request.solver_options})
        tc = r.termination_condition
        if tc == TC.convergenceCriteriaSatisfied and r.solution_status == SolutionStatus.optimal:
            r.solution_loader.load_vars()
            return SolveResult(SolverStatus.OPTIMAL, objective=r.incumbent_objective, bound=r.objective_bound)
        if tc == TC.provenInfeasible:
            return SolveResult(SolverStatus.INFEASIBLE, message=str(tc))
        return SolveResult(SolverStatus.ERROR, message=str(tc))


class NaiveIpopt:
    """A user's local backend that calls every converged Ipopt solve "optimal" and does not say
    whether it is global (so it is not)."""

    name = "naive-ipopt"

    def available(self):
        return pyo.SolverFactory("cyipopt").available(exception_flag=False)

    def solve(self, model, request: SolveRequest) -> SolveResult:
        from pyomo.opt import TerminationCondition as TC

        r = pyo.SolverFactory("cyipopt").solve(model, options={"print_level": 0, "max_wall_time": request.time_limit})
        tc = r.solver.termination_condition
        if tc in (TC.optimal, TC.locallyOptimal):
            obj = next(model.component_data_objects(pyo.Objective, active=True))
            return SolveResult(SolverStatus.OPTIMAL, objective=pyo.value(obj))  # an overclaim: only local
        if tc == TC.infeasible:
            return SolveResult(SolverStatus.INFEASIBLE)
        return SolveResult(SolverStatus.ERROR, message=str(tc))


@pytest.fixture(scope="module")
def scip_index():
    return flexspace.flexibility_index(case1.model(), THETA_P, "box", "scip")


# ----------------------------------------------------------------------------- (a) a user's backend runs the index
@needs_scip
def test_a_user_backend_object_runs_the_case1_index(scip_index):
    assert scip_index.ok and scip_index.is_global
    backend = PyomoScip()
    r = flexspace.flexibility_index(case1.model(), THETA_P, "box", solver=backend)
    assert backend.calls > 0  # the user's solve ran, in this process
    assert r.solver == "pyomo-scip" and r.is_global
    assert r.ok and r.status == ResultStatus.OK, str(r)
    assert r.delta == pytest.approx(scip_index.delta, rel=1e-4)


@needs_scip
def test_a_registered_backend_is_used_by_name(scip_index):
    register_backend(PyomoScip)
    try:
        assert "pyomo-scip" in solver_names() and "pyomo-scip" in available_solvers()
        r = flexspace.flexibility_index(case1.model(), THETA_P, "box", solver="Pyomo-SCIP")
        assert r.solver == "pyomo-scip" and r.ok
        assert r.delta == pytest.approx(scip_index.delta, rel=1e-4)
        with pytest.raises(ValidationError, match="taken"):
            register_backend(type("Other", (PyomoScip,), {}))
    finally:
        unregister_backend("pyomo-scip")
    assert "pyomo-scip" not in solver_names()


@needs_scip
def test_a_user_backend_solver_pickles_and_keeps_its_settings():
    s = Solver(PyomoScip, {"time_limit": 12.0}, solver_options={"limits/nodes": 10 ** 6})
    t = pickle.loads(pickle.dumps(s))
    assert isinstance(t.backend, PyomoScip) and t.name == "pyomo-scip" and t.is_global
    assert t.time_limit == 12.0 and t.solver_options == {"limits/nodes": 10 ** 6}
    m, expected = flexspace.solvers._check_problem("nlp")
    r = t.solve(m)
    assert r.status == SolverStatus.OPTIMAL and r.objective == pytest.approx(expected, abs=1e-6)


def test_a_global_backends_optimal_is_checked_from_its_numbers():
    """A backend that declares itself global is held to the same check as the built-in ones: an
    "optimal" whose bound is far from its point's objective is not trusted."""

    class Liar:
        name, is_global = "liar", True

        def available(self):
            return True

        def solve(self, model, request):
            model.x.set_value(0.1)
            return SolveResult(SolverStatus.OPTIMAL, objective=0.1, bound=0.5)

    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 1))
    m.o = pyo.Objective(expr=m.x, sense=pyo.maximize)
    r = Solver(Liar()).solve(m)
    assert r.status == SolverStatus.ERROR and "not trusted" in r.message


def test_a_backend_returning_something_else_is_an_error_and_a_crash_is_too():
    class Raw:
        def available(self):
            return True

        def solve(self, model, request):
            return {"status": "ok"}

    class Crash(Raw):
        def solve(self, model, request):
            raise RuntimeError("licence server down")

    m, _ = flexspace.solvers._check_problem("nlp")
    r = Solver(Raw()).solve(m)
    assert r.status == SolverStatus.ERROR and "not a flexspace.solvers.SolveResult" in r.message and r.solver == "raw"
    r = Solver(Crash()).solve(m)
    assert r.status == SolverStatus.ERROR and "licence server down" in r.message


def test_an_unavailable_backend_is_refused():
    class Absent(NaiveIpopt):
        name = "absent"

        def available(self):
            return False

    with pytest.raises(flexspace.errors.SolverUnavailableError, match="'absent' is not available"):
        get_solver(Absent())


# ----------------------------------------------------------------------------- why a solver is unavailable
def test_why_unavailable_names_the_missing_package_and_its_pip_command(monkeypatch):
    """A ``Backend`` with ``requires`` and ``extra``: a module that does not import is named with
    the extra's pip command; without an extra, with the distribution's own."""
    import sys

    from flexspace.solvers import Backend, unavailable_reason
    from flexspace.solvers.backends import base

    class Needs(Backend):
        name = "needs"
        extra = "solvers"
        requires = {"flexspace_test_absent_module": "absent-dist"}

        @classmethod
        def version(cls):
            return None

    class NoExtra(Needs):
        name = "no-extra"
        extra = None

    class Broken(Needs):
        name = "broken"
        requires = {"json": "json"}

    monkeypatch.setattr(base, "_AVAIL_CACHE", {})
    why = unavailable_reason(Needs)
    assert "absent-dist (module flexspace_test_absent_module) is not installed" in why
    assert 'pip install "flexspace[solvers]"' in why
    assert why.index('pip install "flexspace[solvers]"') < why.index("make setup")
    assert "pip install absent-dist" in unavailable_reason(NoExtra())
    real_import = __import__

    def json_is_broken(name, *args, **kwargs):
        if name == "json":
            raise ImportError("libfoo.so: cannot open shared object file")
        return real_import(name, *args, **kwargs)

    with monkeypatch.context() as mp:
        mp.setattr("builtins.__import__", json_is_broken)
        why = unavailable_reason(Broken)
    assert "installed but does not import" in why and "libfoo.so" in why
    assert 'pip install --force-reinstall "flexspace[solvers]"' in why
    assert sys.modules.get("json") is not None


def test_why_unavailable_of_a_backend_that_gives_no_reason():
    from flexspace.solvers import unavailable_reason

    class Absent(NaiveIpopt):
        name = "absent"

        def available(self):
            return False

    class Raises(Absent):
        def why_unavailable(self):
            raise RuntimeError("probe exploded")

    class Present(Absent):
        def available(self):
            return True

    assert "available() returned False" in unavailable_reason(Absent())
    assert "probe exploded" in unavailable_reason(Raises())
    assert unavailable_reason(Present()) is None


def test_why_unavailable_of_ipopt_without_pynumeros_asl_library(monkeypatch):
    """cyipopt installed, libpynumero_ASL.so not found: say so, where Pyomo looked, how to build it."""
    import os

    from pyomo.common import envvar
    from pyomo.contrib.pynumero.asl import AmplInterface

    from flexspace.solvers.backends import base
    from flexspace.solvers.backends.ipopt import IpoptBackend

    pytest.importorskip("cyipopt")
    monkeypatch.setattr(AmplInterface, "available", classmethod(lambda cls: False))
    monkeypatch.setattr(base, "_AVAIL_CACHE", {})
    why = IpoptBackend.why_unavailable()
    assert why.startswith("cyipopt is installed, but PyNumero's ASL library libpynumero_ASL.so")
    assert os.path.join(envvar.PYOMO_CONFIG_DIR, "lib") in why and "~/.pyomo/lib" in why
    assert "bash scripts/build_pynumero_asl.sh" in why and "libamplsolver-dev" in why
    with pytest.raises(flexspace.errors.SolverUnavailableError) as exc:
        Solver("ipopt")
    assert "libpynumero_ASL.so" in str(exc.value) and "run `make setup`" not in str(exc.value)


def test_why_unavailable_is_none_for_an_available_solver():
    from flexspace.solvers import unavailable_reason
    from flexspace.solvers.registry import backend_class

    for name in available_solvers():
        assert unavailable_reason(backend_class(name)) is None, name


# ----------------------------------------------------------------------------- (b) no proof from a local backend
@needs_ipopt
def test_a_backend_that_is_not_declared_global_never_gives_ok():
    backend = NaiveIpopt()
    assert not Solver(backend).is_global and not Solver(backend).supports_integers
    r = flexspace.flexibility_index(case1.model(), THETA_P, "box", solver=backend)
    assert not r.is_global and r.solver == "naive-ipopt"
    assert r.status != ResultStatus.OK and not r.ok, str(r)
    assert r.status in (ResultStatus.SAMPLED, ResultStatus.UNCERTIFIED), str(r)
    with pytest.raises(ValueError, match="MINLP route needs a solver that handles binaries"):
        flexspace.flexibility_index(case1.model(), THETA_P, "box", solver=backend, method="minlp")


# ----------------------------------------------------------------------------- (c) not a backend: refused
@pytest.mark.parametrize("bad", [object(), 42, None, type("OnlySolve", (), {"solve": lambda self, m, r: None})()])
def test_an_object_without_solve_and_available_is_refused_naming_the_parameter(bad):
    with pytest.raises(InputTypeError, match=r"^solver must be a solver name .*solve\(model, request\) and available\(\)"):
        get_solver(bad)
    with pytest.raises(FlexspaceError, match="^solver must be"):
        flexspace.flexibility_index(case1.model(), THETA_P, "box", solver=bad)


def test_register_backend_refuses_non_backends_and_nameless_ones():
    with pytest.raises(InputTypeError, match="register_backend"):
        register_backend(NaiveIpopt())  # an instance, not a class
    with pytest.raises(ValidationError, match="'name'"):
        register_backend(type("Nameless", (), {"solve": NaiveIpopt.solve, "available": NaiveIpopt.available}))
    with pytest.raises(ValidationError, match="built-in"):
        unregister_backend("scip")


# ----------------------------------------------------------------------------- get_solver(Solver, options)
@needs_scip
def test_get_solver_applies_options_to_a_solver_instead_of_ignoring_them():
    s = Solver("scip", {"time_limit": 7.0, "gap": 1e-6}, hard_guard=False, solver_options={"limits/nodes": 99})
    assert get_solver(s) is s
    assert get_solver(s, {"time_limit": 7.0}) is s  # nothing changes: the same Solver (and guard child)
    t = get_solver(s, {"time_limit": 3.0})  # a dict changes only what it names
    assert t is not s and t.backend is s.backend
    assert (t.time_limit, t.gap, t.abs_gap, t.feas_tol) == (3.0, s.gap, s.abs_gap, s.feas_tol)
    assert t.hard_guard is False and t.solver_options == {"limits/nodes": 99}
    assert s.time_limit == 7.0  # the given Solver is left unchanged
    index = resolve_options("index")
    u = get_solver(s, "index")  # a preset (or a SolveOptions) replaces the settings
    assert (u.time_limit, u.gap, u.feas_tol) == (index.time_limit, index.gap, index.feas_tol)
    assert get_solver(s, hard_guard=True).hard_guard is True
    with pytest.raises(ValidationError, match="time_limt"):
        get_solver(s, {"time_limt": 3.0})


@needs_scip
def test_an_analysis_handed_a_solver_solves_with_its_own_options():
    s = Solver("scip", {"time_limit": 5.0})
    fa = flexspace.FlexibilityAnalysis(case1.model(), "box", s, {"time_limit": 30.0})
    assert fa.solver.time_limit == 30.0 and fa.solver.name == "scip" and s.time_limit == 5.0
    same = flexspace.FlexibilityAnalysis(case1.model(), "box", fa.solver, fa.options)
    assert same.solver is fa.solver
