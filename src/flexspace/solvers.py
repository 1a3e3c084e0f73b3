"""One small solver layer: a name -> a configured Pyomo solver -> a status in our own enum.

Names: ``"ipopt"`` (local NLP, Ipopt through PyNumero's ``cyipopt``), ``"maingo"``
(global MINLP, ``appsi_maingo``), ``"scip"`` (global MINLP, ``scip_direct``),
``"highs"`` (LP/MILP, ``appsi_highs``) and the optional ``"baron"`` (global, through
GAMS; demo licence only for small models) and ``"gurobi"`` (global MINLP through
``gurobi_direct_minlp``, extra ``gurobi``; the pip licence is size-limited and Gurobi's
nonlinear interface knows only some functions: see :func:`gurobi_unsupported`).

Two measured traps (``shared/spec/solvers.md``) shape this module:

* MAiNGO with its default relative gap can take 100x longer than with
  ``epsilonR = 1e-4``; the gap is therefore always set explicitly.
* Neither MAiNGO nor SCIP reliably honours its own time limit.  Every solve of a
  global solver therefore runs under a *hard wall-clock guard*: the solve runs in a
  forked child process which is killed when the limit is reached, and the result is
  recorded as :attr:`SolverStatus.TIME_LIMIT`.  The child sends back the values of
  all variables, which the parent loads into its own model.

A failed solve is never feasible: every result carries a :class:`SolverStatus`, and
only ``OPTIMAL`` / ``LOCALLY_OPTIMAL`` have usable solutions (``INFEASIBLE`` is a
statement about the problem, certified only by a global solver).
"""
from __future__ import annotations

import contextlib
import logging
import enum
import math
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import pyomo.environ as pyo

from .errors import SolverUnavailableError, ValidationError
from .options import OptionsLike, resolve_options

__all__ = [
    "SolverStatus",
    "SolveResult",
    "Solver",
    "get_solver",
    "available_solvers",
    "solver_names",
    "UnknownSolverError",
    "solver_table",
    "gurobi_unsupported",
]


class SolverStatus(str, enum.Enum):
    """Outcome of one solve, independent of the Pyomo interface that produced it."""

    OPTIMAL = "optimal"  #: global optimum within the gap (global solver) or LP/MILP optimum
    LOCALLY_OPTIMAL = "locally optimal"  #: KKT point of a local NLP solver
    INFEASIBLE = "infeasible"  #: proven (global) or locally detected (local solver) infeasible
    TIME_LIMIT = "time limit"  #: solver's own limit or our hard wall-clock guard
    ERROR = "error"  #: anything else: crash, numerical trouble, iteration limit, unavailable

    @property
    def ok(self) -> bool:
        """True when the solve returned a usable (optimal or locally optimal) point."""
        return self in (SolverStatus.OPTIMAL, SolverStatus.LOCALLY_OPTIMAL)

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.value


@dataclass
class SolveResult:
    """Status, objective value, bound and wall time of one solve."""

    status: SolverStatus
    objective: Optional[float] = None
    bound: Optional[float] = None
    time: float = 0.0
    message: str = ""
    solver: str = ""


class UnknownSolverError(ValidationError):
    """Raised for a solver name flexspace does not know."""


@dataclass
class _Spec:
    name: str
    pyomo_name: str
    is_global: bool
    kind: str  # "nlp" (continuous nonlinear), "minlp", "milp"
    description: str
    guard: bool  # run under the hard wall-clock guard by default
    supports_integers: bool = True


_SPECS: Dict[str, _Spec] = {
    "ipopt": _Spec("ipopt", "cyipopt", False, "nlp", "Ipopt 3.14 (cyipopt-wheels + PyNumero ASL), local NLP", False, False),
    "maingo": _Spec("maingo", "appsi_maingo", True, "minlp", "MAiNGO (maingopy), deterministic global MINLP", True),
    "scip": _Spec("scip", "scip_direct", True, "minlp", "SCIP (pyscipopt), global MINLP", True),
    "highs": _Spec("highs", "appsi_highs", True, "milp", "HiGHS (highspy), LP/MILP only", False),
    "baron": _Spec("baron", "gams", True, "minlp", "BARON through GAMS (optional; demo licence is size-limited)", True),
    "gurobi": _Spec("gurobi", "gurobi_direct_minlp", True, "minlp",
                    "Gurobi >= 12 (gurobipy, optional extra), global MINLP; pip licence is size-limited", True),
}


def solver_names() -> List[str]:
    """All solver names flexspace knows (available or not)."""
    return list(_SPECS)


def _spec(name: str) -> _Spec:
    key = str(name).lower()
    if key not in _SPECS:
        avail = [n for n in _SPECS if _is_available(n)]
        raise UnknownSolverError(
            f"unknown solver {name!r}; flexspace knows {sorted(_SPECS)}, of which available here: "
            f"{avail}. Run `flexspace solvers` for details."
        )
    return _SPECS[key]


_AVAIL_CACHE: Dict[str, bool] = {}


def _is_available(name: str) -> bool:
    if name not in _AVAIL_CACHE:
        try:
            _AVAIL_CACHE[name] = bool(_raw_version(name) is not None)
        except Exception:  # noqa: BLE001 - availability probe must never raise
            _AVAIL_CACHE[name] = False
    return _AVAIL_CACHE[name]


def _raw_version(name: str):
    """Version tuple/string of a solver, or None when it cannot be used here."""
    if name == "ipopt":
        from pyomo.contrib.pynumero.asl import AmplInterface

        if not AmplInterface.available():
            return None
        import cyipopt

        s = pyo.SolverFactory("cyipopt")
        if not s.available(exception_flag=False):
            return None
        v = getattr(cyipopt, "IPOPT_VERSION", None)
        return ".".join(map(str, v)) if isinstance(v, tuple) else "unknown"
    if name == "maingo":
        from pyomo.contrib.appsi.solvers import MAiNGO

        opt = MAiNGO()
        return opt.version() if opt.available() else None
    if name == "highs":
        from pyomo.contrib.appsi.solvers import Highs

        opt = Highs()
        return opt.version() if opt.available() else None
    if name == "scip":
        from pyomo.contrib.solver.common.factory import SolverFactory as SF2

        opt = SF2("scip_direct")
        if not opt.available():
            return None
        import pyscipopt

        return f"{pyscipopt.Model().version()} (PySCIPOpt {pyscipopt.__version__})"
    if name == "baron":
        s = pyo.SolverFactory("gams")
        if not s.available(exception_flag=False):
            return None
        return "BARON via GAMS"
    if name == "gurobi":
        return _gurobi_version()
    return None


def available_solvers() -> List[str]:
    """Names of the solvers usable on this machine."""
    return [n for n in _SPECS if _is_available(n)]


def _fmt_version(v) -> str:
    if isinstance(v, tuple):
        return ".".join(str(x) for x in v)
    return str(v)


# --------------------------------------------------------------------------- solving
class _DropOutOfBoundsLoad(logging.Filter):
    """Solvers return values a hair outside variable bounds (within their feasibility
    tolerance); Pyomo's W1002 warning for loading them is noise: our results carry the status."""

    def filter(self, record):  # noqa: D401
        return getattr(record, "id", None) != "W1002"


@contextlib.contextmanager
def _quiet_pyomo():
    """During one of our solves only: Pyomo's appsi interfaces log a warning for every
    non-optimal termination, and ``pyomo.core`` warns when loading values within the
    solver's tolerance outside a bound; our results carry both.  The logger level and
    filter are restored afterwards (importing flexspace changes no logging state)."""
    appsi, core = logging.getLogger("pyomo.contrib.appsi"), logging.getLogger("pyomo.core")
    level, flt = appsi.level, _DropOutOfBoundsLoad()
    appsi.setLevel(logging.ERROR)
    core.addFilter(flt)
    try:
        yield
    finally:
        appsi.setLevel(level)
        core.removeFilter(flt)


class Solver:
    """A configured solver.  ``solve(model)`` returns a :class:`SolveResult`.

    Parameters
    ----------
    name : one of :func:`solver_names`.
    options : a :class:`~flexspace.options.SolveOptions`, a preset name, a dict of
        changes to the ``"index"`` preset, or None (that preset).  The solver uses
        ``time_limit`` (passed to the solver *and* enforced by the hard guard), ``gap``,
        ``abs_gap`` (None: 1e-9) and ``feas_tol``.
    hard_guard : run the solve in a forked child killed at ``time_limit + grace``.
        Defaults to True for MAiNGO, SCIP, BARON and Gurobi (the first two do not honour
        limits; the guard also isolates licence and native-library failures).
    solver_options : extra solver options, passed through.
    """

    def __init__(self, name: str, options: OptionsLike = None, *, hard_guard: Optional[bool] = None,
                 solver_options: Optional[dict] = None):
        opts = resolve_options(options)
        self.spec = _spec(name)
        if not _is_available(self.spec.name):
            raise SolverUnavailableError(
                f"solver {self.spec.name!r} is not available on this machine "
                f"(available: {available_solvers()}); run `make setup` and `flexspace solvers`."
            )
        self.name = self.spec.name
        self.time_limit = float(opts.time_limit)
        self.gap = float(opts.gap)
        self.abs_gap = 1e-9 if opts.abs_gap is None else float(opts.abs_gap)
        self.feas_tol = float(opts.feas_tol)
        self.hard_guard = self.spec.guard if hard_guard is None else bool(hard_guard)
        self.solver_options = dict(solver_options or {})
        self.n_solves = 0

    # -- properties
    @property
    def is_global(self) -> bool:
        """True for deterministic global solvers (their optimum is a certificate)."""
        return self.spec.is_global

    @property
    def supports_integers(self) -> bool:
        return self.spec.supports_integers

    def __repr__(self) -> str:
        return (f"Solver({self.name!r}, global={self.is_global}, time_limit={self.time_limit}, "
                f"gap={self.gap}, hard_guard={self.hard_guard})")

    # -- public
    def solve(self, model: pyo.Block) -> SolveResult:
        """Solve ``model`` (its active objective and constraints); load the solution if usable."""
        self.n_solves += 1
        t0 = time.perf_counter()
        with _quiet_pyomo():
            if self.hard_guard and hasattr(os, "fork"):
                res = self._guarded_solve(model)
            else:
                try:
                    res = self._solve_inproc(model)
                except Exception as exc:  # noqa: BLE001 - a crash is a status, not an exception
                    res = SolveResult(SolverStatus.ERROR, message=f"{type(exc).__name__}: {exc}")
        res.time = time.perf_counter() - t0
        res.solver = self.name
        return res

    # -- guard
    def _guarded_solve(self, model: pyo.Block) -> SolveResult:
        """Solve in a forked child; kill it at the deadline.  Plain ``os.fork`` (not
        ``multiprocessing``) so that it also works inside daemonic workers (Dask)."""
        import pickle
        import select
        import signal

        variables = list(model.component_data_objects(pyo.Var, descend_into=True))
        rfd, wfd = os.pipe()
        parent = os.getpid()
        # without prctl: a pipe whose write end only this process holds; EOF tells the child we died
        watch_r, watch_w = (None, None) if _pdeathsig_available() else os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            code = 0
            try:
                os.close(rfd)
                if watch_w is not None:
                    os.close(watch_w)
                exit_with_parent(parent, watch_r)  # no orphan solver when this process is killed
                try:
                    r = self._solve_inproc(model)
                    vals = [v.value for v in variables] if r.status.ok else None
                    payload = (r, vals)
                except BaseException as exc:  # noqa: BLE001
                    payload = (SolveResult(SolverStatus.ERROR, message=f"{type(exc).__name__}: {exc}\n"
                                           + traceback.format_exc(limit=3)), None)
                data = pickle.dumps(payload)
                with os.fdopen(wfd, "wb") as f:
                    f.write(data)
            except BaseException:  # noqa: BLE001
                code = 1
            finally:
                os._exit(code)
        os.close(wfd)
        if watch_r is not None:
            os.close(watch_r)
        deadline = time.monotonic() + self.time_limit + max(2.0, 0.1 * self.time_limit)
        chunks, timed_out = [], False
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                ready, _, _ = select.select([rfd], [], [], left)
                if not ready:
                    continue
                chunk = os.read(rfd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        except BaseException:  # Ctrl-C while waiting: do not leave the solver running
            timed_out = True
            raise
        finally:
            os.close(rfd)
            if timed_out:
                with contextlib.suppress(ProcessLookupError):  # it may have exited just now
                    os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            if watch_w is not None:
                os.close(watch_w)
        if timed_out:
            return SolveResult(SolverStatus.TIME_LIMIT, message=(
                f"hard wall-clock guard: no answer after {self.time_limit + max(2.0, 0.1 * self.time_limit):.1f} s;"
                " solver process killed"))
        try:
            res, vals = pickle.loads(b"".join(chunks))
        except Exception:  # noqa: BLE001
            return SolveResult(SolverStatus.ERROR, message="solver process died without a result")
        if vals is not None:
            for v, x in zip(variables, vals):
                if not v.fixed:
                    v.set_value(x, skip_validation=True)
        return res

    # -- per interface
    def _solve_inproc(self, model: pyo.Block) -> SolveResult:
        if self.name == "ipopt":
            return self._solve_ipopt(model)
        if self.name == "maingo":
            return self._solve_appsi(model, "maingo")
        if self.name == "highs":
            return self._solve_appsi(model, "highs")
        if self.name == "scip":
            return self._solve_scip(model)
        if self.name == "baron":
            return self._solve_baron(model)
        if self.name == "gurobi":
            return self._solve_gurobi(model)
        raise UnknownSolverError(self.name)  # pragma: no cover

    def _solve_ipopt(self, model) -> SolveResult:
        from pyomo.opt import TerminationCondition as TC

        opts = {
            "print_level": 0,
            "tol": 1e-10,
            "constr_viol_tol": self.feas_tol,
            "max_wall_time": self.time_limit,
            "max_iter": 3000,
        }
        opts.update(self.solver_options)
        s = pyo.SolverFactory("cyipopt")
        r = s.solve(model, tee=False, options=opts, load_solutions=True)
        tc = r.solver.termination_condition
        if tc == TC.userInterrupt:
            # Ipopt traps SIGINT itself and stops with "User_Requested_Stop": give the Ctrl-C back to
            # Python, so that a run stops (and a checkpoint keeps only finished points) instead of
            # recording this solve as a failure and carrying on
            raise KeyboardInterrupt("Ipopt was interrupted (SIGINT)")
        if tc in (TC.optimal, TC.locallyOptimal):
            status = SolverStatus.LOCALLY_OPTIMAL
        elif tc == TC.infeasible:  # (pyomo.opt has no locally/globallyInfeasible members)
            status = SolverStatus.INFEASIBLE
        elif tc in (TC.maxTimeLimit,):
            status = SolverStatus.TIME_LIMIT
        else:
            status = SolverStatus.ERROR
        obj = _active_objective_value(model) if status.ok else None
        return SolveResult(status, objective=obj, message=str(r.solver.message))

    def _solve_appsi(self, model, which) -> SolveResult:
        from pyomo.contrib.appsi.base import TerminationCondition as ATC

        if which == "maingo":
            from pyomo.contrib.appsi.solvers import MAiNGO

            opt = MAiNGO()
            opt.config.mip_gap = self.gap
            opt.config.tolerances.epsilonR = self.gap
            opt.config.tolerances.epsilonA = self.abs_gap
            opt.config.tolerances.deltaIneq = self.feas_tol
            opt.config.tolerances.deltaEq = self.feas_tol
            opt.maingo_options["writeResultFile"] = 0  # else MAiNGO writes MAiNGOresult.txt into the cwd
            # Kelley + simplex linearisation points for the lower-bounding LP: with the default
            # (mid-point only) MAiNGO did not close the gap on convex ellipsoid constraints with
            # n >= 4 in 30 s; with this it takes 0.25 s (measured, linear g, n = 5).
            opt.maingo_options["LBP_linPoints"] = 5
            for k, v in self.solver_options.items():
                opt.maingo_options[k] = v
        else:
            from pyomo.contrib.appsi.solvers import Highs

            opt = Highs()
            opt.config.mip_gap = self.gap
            for k, v in self.solver_options.items():
                opt.highs_options[k] = v
        opt.config.time_limit = self.time_limit
        opt.config.load_solution = False
        r = opt.solve(model)
        tc = r.termination_condition
        msg = str(tc)
        if tc == ATC.optimal and getattr(r, "globally_optimal", True) is False:
            # Pyomo maps MAiNGO's FEASIBLE_POINT (limit reached, optimality unproven) to "optimal"
            status = SolverStatus.TIME_LIMIT
            msg = "MAiNGO returned a feasible point without proving global optimality (time or node limit)"
        elif tc == ATC.optimal:
            status = SolverStatus.OPTIMAL
        elif tc in (ATC.infeasible, ATC.infeasibleOrUnbounded):
            status = SolverStatus.INFEASIBLE
        elif tc == ATC.maxTimeLimit:
            status = SolverStatus.TIME_LIMIT
        else:
            status = SolverStatus.ERROR
        if status.ok:
            r.solution_loader.load_vars()
        return SolveResult(status, objective=_finite(r.best_feasible_objective),
                           bound=_finite(r.best_objective_bound), message=msg)

    def _solve_scip(self, model) -> SolveResult:
        from pyomo.contrib.solver.common.factory import SolverFactory as SF2
        from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition as TC

        opt = SF2("scip_direct")
        sopts = {"numerics/feastol": max(self.feas_tol, 1e-9)}
        sopts.update(self.solver_options)
        r = opt.solve(model, time_limit=self.time_limit, rel_gap=self.gap, abs_gap=self.abs_gap,
                      load_solutions=False, raise_exception_on_nonoptimal_result=False,
                      solver_options=sopts)
        tc = r.termination_condition
        if tc == TC.convergenceCriteriaSatisfied and r.solution_status == SolutionStatus.optimal:
            status = SolverStatus.OPTIMAL
        elif tc in (TC.provenInfeasible, TC.locallyInfeasible, TC.infeasibleOrUnbounded):
            status = SolverStatus.INFEASIBLE
        elif tc == TC.maxTimeLimit:
            status = SolverStatus.TIME_LIMIT
        else:
            status = SolverStatus.ERROR
        if status.ok:
            r.solution_loader.load_vars()
        return SolveResult(status, objective=_finite(r.incumbent_objective),
                           bound=_finite(r.objective_bound), message=str(tc))

    def _solve_baron(self, model) -> SolveResult:
        from pyomo.opt import TerminationCondition as TC

        s = pyo.SolverFactory("gams")
        r = s.solve(model, solver="baron", load_solutions=False,
                    add_options=[f"option reslim={self.time_limit};", f"option optcr={self.gap};"])
        tc = r.solver.termination_condition
        if tc == TC.optimal:
            status = SolverStatus.OPTIMAL
            model.solutions.load_from(r)
        elif tc == TC.infeasible:
            status = SolverStatus.INFEASIBLE
        elif tc == TC.maxTimeLimit:
            status = SolverStatus.TIME_LIMIT
        else:
            status = SolverStatus.ERROR
        obj = _active_objective_value(model) if status.ok else None
        return SolveResult(status, objective=obj, message=str(tc))

    def _solve_gurobi(self, model) -> SolveResult:
        """Gurobi (>= 12) through Pyomo's ``gurobi_direct_minlp``: spatial branch and bound,
        so OPTIMAL is a global optimum within ``gap`` / ``abs_gap``.  Functions the interface
        cannot express, and models beyond the size-limited licence (Gurobi error 10010), come
        back as ERROR with a message saying so; they never raise."""
        import gurobipy
        from pyomo.contrib.solver.common.factory import SolverFactory as SF2
        from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition as TC

        bad = gurobi_unsupported(model)
        if bad:
            return SolveResult(SolverStatus.ERROR, message=(
                "Gurobi's nonlinear interface (gurobi_direct_minlp) cannot express "
                + "; ".join(bad) + "; it supports + - * /, powers with a constant base or exponent, abs of a "
                f"variable and {', '.join(sorted(_GUROBI_FUNCTIONS))}. Use another solver (maingo, scip, ipopt)."))
        sopts = {"OutputFlag": 0, "NonConvex": 2, "FeasibilityTol": min(max(self.feas_tol, 1e-9), 1e-2)}
        sopts.update(self.solver_options)

        def run(extra=None):
            opt = SF2("gurobi_direct_minlp")
            return opt.solve(model, time_limit=self.time_limit, rel_gap=self.gap, abs_gap=self.abs_gap,
                             load_solutions=False, raise_exception_on_nonoptimal_result=False,
                             solver_options={**sopts, **(extra or {})})

        try:
            r = run()
            tc = r.termination_condition
            if tc == TC.infeasibleOrUnbounded:  # presolve could not tell which: ask again without dual reductions
                r = run({"DualReductions": 0})
                tc = r.termination_condition
        except gurobipy.GurobiError as exc:
            errno = getattr(exc, "errno", None)
            if errno == 10010 or "too large for size-limited" in str(exc):
                msg = (f"Gurobi unavailable for this model size: its size-limited licence refused the model "
                       f"(error 10010: {exc}); use another solver or a full Gurobi licence")
            else:
                msg = f"Gurobi error {errno}: {exc}"
            return SolveResult(SolverStatus.ERROR, message=msg)
        except ValueError as exc:  # e.g. a function gurobi_unsupported does not know about
            return SolveResult(SolverStatus.ERROR, message=f"gurobi_direct_minlp cannot translate the model: {exc}")
        sol = r.solution_status
        if tc == TC.interrupted:
            # Gurobi traps SIGINT and stops: give the Ctrl-C back to Python (as for Ipopt)
            raise KeyboardInterrupt("Gurobi was interrupted (SIGINT)")
        if tc == TC.convergenceCriteriaSatisfied and sol == SolutionStatus.optimal:
            status, msg = SolverStatus.OPTIMAL, "optimal (global, within the gap)"
        elif tc == TC.provenInfeasible:
            status, msg = SolverStatus.INFEASIBLE, "proven infeasible"
        elif tc == TC.maxTimeLimit:
            status = SolverStatus.TIME_LIMIT
            msg = ("time limit: " + ("incumbent found, global optimality not proven" if sol == SolutionStatus.feasible
                                     else "no feasible point found"))
        elif tc == TC.infeasibleOrUnbounded:
            status, msg = SolverStatus.ERROR, "Gurobi: infeasible or unbounded (not resolved)"
        elif tc == TC.unbounded:
            status, msg = SolverStatus.ERROR, "Gurobi: unbounded"
        else:  # node/iteration/solution limit, SUBOPTIMAL, NUMERIC, objective limit, unknown
            status = SolverStatus.ERROR
            msg = f"Gurobi stopped without proving optimality: {tc.name}, solution {sol.name}"
        if status.ok:
            r.solution_loader.load_vars()
        return SolveResult(status, objective=_finite(r.incumbent_objective),
                           bound=_finite(r.objective_bound), message=msg)


# --------------------------------------------------------------------------- Gurobi helpers
#: unary functions Pyomo's gurobi_direct_minlp writer maps to gurobipy.nlfunc (Pyomo 6.10)
_GUROBI_FUNCTIONS = frozenset({"exp", "log", "log10", "sin", "cos", "tan", "sqrt"})


def _gurobi_version():
    """``"13.0.3 (size-limited licence)"``, or None when gurobipy (>= 12), Pyomo's
    ``gurobi_direct_minlp`` or a licence is missing.  Uses its own empty environment, started
    silently and disposed, so that nothing is printed and no licence is held."""
    import gurobipy
    from pyomo.contrib.solver.common.factory import SolverFactory as SF2

    ver = tuple(gurobipy.gurobi.version())
    if ver < (12, 0, 0):
        return None
    SF2("gurobi_direct_minlp")  # raises when Pyomo is too old to have it
    try:
        env = gurobipy.Env(empty=True)
        env.setParam("OutputFlag", 0)
        env.start()
    except gurobipy.GurobiError:
        return None  # no (valid) licence
    try:
        m = gurobipy.Model(env=env)
        try:
            m.addVars(2001)
            m.optimize()
            lic = "full licence"
        except gurobipy.GurobiError:
            lic = "size-limited licence"
        finally:
            m.dispose()
    finally:
        env.dispose()
    return f"{'.'.join(map(str, ver))} ({lic})"


def gurobi_unsupported(model) -> List[str]:
    """What in ``model``'s active objective and constraints Pyomo's ``gurobi_direct_minlp``
    cannot send to Gurobi (empty when everything can): unary functions other than
    exp/log/log10/sin/cos/tan/sqrt (e.g. ``tanh()``), ``abs()`` of anything but a variable,
    powers with variables in base *and* exponent, ``Expr_if`` and other node types.
    Sub-expressions without free variables are evaluated by Pyomo and always fine."""
    from pyomo.common.numeric_types import native_types
    from pyomo.core.expr.numeric_expr import (AbsExpression, DivisionExpression, LinearExpression,
                                              MonomialTermExpression, NegationExpression, PowExpression,
                                              ProductExpression, SumExpression, UnaryFunctionExpression)
    from pyomo.core.expr.relational_expr import RelationalExpression
    from pyomo.core.expr.visitor import StreamBasedExpressionVisitor

    plain = (SumExpression, LinearExpression, NegationExpression, ProductExpression, MonomialTermExpression,
             DivisionExpression, RelationalExpression)  # (a relation only occurs inside Expr_if: reported there)
    issues: List[str] = []

    def add(text):
        if text not in issues:
            issues.append(text)

    class _Scan(StreamBasedExpressionVisitor):
        def beforeChild(self, node, child, child_idx):
            if type(child) in native_types:
                return False, False
            if not child.is_expression_type():
                return False, bool(child.is_variable_type() and not child.fixed)
            return True, None

        def exitNode(self, node, data):
            has_var = any(data)
            if not has_var or node.is_named_expression_type() or isinstance(node, plain):
                return has_var
            if isinstance(node, AbsExpression):
                arg = node.args[0]
                if not (getattr(arg, "is_variable_type", lambda: False)()):
                    add("abs() of an expression (write it on an auxiliary variable)")
            elif isinstance(node, UnaryFunctionExpression):
                if node.getname() not in _GUROBI_FUNCTIONS:
                    add(f"the function {node.getname()}()")
            elif isinstance(node, PowExpression):
                if data[0] and data[1]:
                    add("a power with variables in both base and exponent (x**y)")
            else:
                add(f"the expression type {type(node).__name__}")
            return has_var

        def initializeWalker(self, expr):
            walk, result = self.beforeChild(None, expr, 0)
            return (True, None) if walk else (False, result)

    scan = _Scan()
    for o in model.component_data_objects(pyo.Objective, active=True, descend_into=True):
        scan.walk_expression(o.expr)
    for c in model.component_data_objects(pyo.Constraint, active=True, descend_into=True):
        scan.walk_expression(c.body)
    return issues


# --------------------------------------------------------------------------- child processes
_PDEATHSIG: list = []  # [prctl function or None], probed once


def _prctl():
    if not _PDEATHSIG:
        fn = None
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                fn = ctypes.CDLL(None, use_errno=True).prctl
            except (OSError, AttributeError):  # pragma: no cover - no libc prctl
                fn = None
        _PDEATHSIG.append(fn)
    return _PDEATHSIG[0]


def _pdeathsig_available() -> bool:
    return _prctl() is not None


def exit_with_parent(parent_pid: int, watch_fd: Optional[int] = None) -> None:
    """Make this child process die when its parent ``parent_pid`` dies (no orphans after a
    SIGKILL of a map): on Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``; elsewhere (or if prctl
    fails) a daemon thread that waits for EOF on ``watch_fd`` (the read end of a pipe whose
    write end only the parent holds) or, without one, for the parent process id to change.
    Used by the solver guard's forked child and, as their ``initializer``, by the maps' pool
    workers (so the chain map → worker → solver child is covered link by link)."""
    import signal
    import threading

    prctl, armed = _prctl(), False
    if prctl is not None:
        armed = prctl(1, int(signal.SIGKILL), 0, 0, 0) == 0  # 1 = PR_SET_PDEATHSIG
    if not armed:
        threading.Thread(target=_watch_parent, args=(watch_fd, os.getppid()), daemon=True,
                         name="flexspace-parent-watch").start()
    if os.getppid() != parent_pid and not _pid_alive(parent_pid):
        os._exit(1)  # the parent died before the death signal was armed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - alive, owned by someone else
        return True
    return True


def _watch_parent(watch_fd: Optional[int], ppid: int) -> None:  # pragma: no cover - non-Linux fallback
    if watch_fd is not None:
        while True:
            try:
                if not os.read(watch_fd, 1):
                    break
            except InterruptedError:
                continue
            except OSError:
                break
    else:
        while os.getppid() == ppid:
            time.sleep(0.5)
    os._exit(1)


def _finite(x) -> Optional[float]:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _active_objective_value(model) -> Optional[float]:
    for o in model.component_data_objects(pyo.Objective, active=True, descend_into=True):
        return _finite(pyo.value(o, exception=False))
    return None


def get_solver(name, options: OptionsLike = None, **kwargs) -> Solver:
    """Return a configured :class:`Solver`; ``name`` may already be a :class:`Solver`
    (returned as is).  ``options``: see :class:`Solver`."""
    if isinstance(name, Solver):
        return name
    return Solver(name, options, **kwargs)


# --------------------------------------------------------------------------- the table
def _check_problem(kind: str):
    """A 1-line check problem with a known optimum: min (x-1)^2 + (y-2)^2 on a disc (NLP)
    or a small knapsack (MILP)."""
    m = pyo.ConcreteModel()
    if kind == "milp":
        m.x = pyo.Var([0, 1, 2], domain=pyo.Binary)
        m.c = pyo.Constraint(expr=3 * m.x[0] + 4 * m.x[1] + 5 * m.x[2] <= 8)
        m.o = pyo.Objective(expr=-(4 * m.x[0] + 5 * m.x[1] + 6 * m.x[2]))
        return m, -10.0
    m.x = pyo.Var(bounds=(-3, 3), initialize=0.1)
    m.y = pyo.Var(bounds=(-3, 3), initialize=0.1)
    m.c = pyo.Constraint(expr=m.x ** 2 + m.y ** 2 <= 1)
    m.o = pyo.Objective(expr=(m.x - 1) ** 2 + (m.y - 2) ** 2)
    return m, (math.sqrt(5) - 1) ** 2


def solver_table(time_limit: float = 20.0) -> List[dict]:
    """One row per known solver: name, version, available, global/local, a check solve."""
    rows = []
    for name, spec in _SPECS.items():
        row = {"name": name, "pyomo": spec.pyomo_name, "version": "", "available": False,
               "type": "global" if spec.is_global else "local", "problem": spec.kind, "check": ""}
        try:
            v = _raw_version(name)
        except Exception as exc:  # noqa: BLE001
            v = None
            row["check"] = f"unavailable: {type(exc).__name__}: {exc}"[:80]
        if v is None:
            row["check"] = row["check"] or "unavailable"
            rows.append(row)
            continue
        row["version"] = _fmt_version(v)
        m, expected = _check_problem("milp" if spec.kind == "milp" else "nlp")
        try:
            res = Solver(name, {"time_limit": time_limit}).solve(m)
            ok = res.status.ok and res.objective is not None and abs(res.objective - expected) < 1e-4
            row["available"] = bool(ok)
            row["check"] = (f"{'ok' if ok else 'FAILED'}: {res.status.value}, obj={res.objective!r} "
                            f"(expected {expected:.6f}), {res.time:.2f} s")
        except Exception as exc:  # noqa: BLE001
            row["check"] = f"FAILED: {type(exc).__name__}: {exc}"[:100]
        rows.append(row)
    return rows
