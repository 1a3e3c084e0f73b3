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

**Objective targets** (``solve(model, point_target=..., bound_target=...)``): when only
the side of a threshold matters (the sign of χ in a flexibility test; whether δ_k can
still beat the best δ of an index), a global solver may stop as soon as a feasible point
reaches ``point_target`` or its proven bound passes ``bound_target``.  Measured honoured
by MAiNGO (``targetUpperBound`` / ``targetLowerBound``, status ``BOUND_TARGETS``), SCIP
10 (``limits/primal`` / ``limits/dual``, status ``primallimit`` / ``duallimit``) and
Gurobi (``BestObjStop`` / ``BestBdStop``); the others ignore targets and solve to
optimality.  Such a stop is :attr:`SolverStatus.TARGET`, never ``OPTIMAL``: the result
carries the proven bound and, when the solver had one, a feasible point whose objective
is re-evaluated by Pyomo; which side was proven is re-checked from those numbers (a stop
that proves neither is an ``ERROR``).  The wall-clock guard still applies.
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

from ..errors import SolverUnavailableError, ValidationError
from ..options import OptionsLike, resolve_options

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
    "objective_sense",
    "SECOND_OPINION",
]


class SolverStatus(str, enum.Enum):
    """Outcome of one solve, independent of the Pyomo interface that produced it."""

    OPTIMAL = "optimal"  #: global optimum within the gap (global solver) or LP/MILP optimum
    LOCALLY_OPTIMAL = "locally optimal"  #: KKT point of a local NLP solver
    INFEASIBLE = "infeasible"  #: proven (global) or locally detected (local solver) infeasible
    #: stopped at an objective target (``point_target`` / ``bound_target``): the bound or a
    #: feasible point proves which side of the target the optimum lies on; not an optimum
    TARGET = "target reached"
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
    """Status, objective value, bound and wall time of one solve.

    ``objective``: the value at the returned point (for ``TARGET``: at the solver's feasible
    point, evaluated by Pyomo; None without a point); ``bound``: the proven bound on the
    optimum in the objective's sense (global solvers); ``has_point``: the model's variables
    hold a feasible point of the solver (always for ``ok`` statuses)."""

    status: SolverStatus
    objective: Optional[float] = None
    bound: Optional[float] = None
    time: float = 0.0
    message: str = ""
    solver: str = ""
    has_point: bool = False

    def bound_passes(self, value: float, maximize: bool) -> bool:
        """The proven bound shows the optimum is ≤ ``value`` (maximisation) or ≥ ``value``
        (minimisation): only from an OPTIMAL or TARGET result of a solve with a bound."""
        if self.status not in (SolverStatus.OPTIMAL, SolverStatus.TARGET) or self.bound is None:
            return False
        return self.bound <= value if maximize else self.bound >= value

    def point_reaches(self, value: float, maximize: bool) -> bool:
        """A feasible point shows the optimum is ≥ ``value`` (maximisation) or ≤ ``value``."""
        if not (self.has_point or self.status.ok) or self.objective is None:
            return False
        return self.objective >= value if maximize else self.objective <= value


@dataclass(frozen=True)
class _Targets:
    """Objective targets of one solve, in the objective's own sense."""

    point: Optional[float]
    bound: Optional[float]
    maximize: bool


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
    persistent_guard : keep one guard child per model and send it the model's state per
        solve (:class:`~flexspace.solvers.guard.SolveServer`, ~5x less overhead per solve)
        instead of forking per solve.
    solver_options : extra solver options, passed through.
    """

    def __init__(self, name: str, options: OptionsLike = None, *, hard_guard: Optional[bool] = None,
                 solver_options: Optional[dict] = None, persistent_guard: bool = True):
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
        self.persistent_guard = bool(persistent_guard)
        self.solver_options = dict(solver_options or {})
        from .guard import ServerSlot

        self._slot = ServerSlot()
        self.n_solves = 0
        self._targets: Optional[_Targets] = None  # set by solve() for one solve only
        self._second: Optional["Solver"] = None  # second_opinion(), made on first use

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

    @property
    def honours_targets(self) -> bool:
        """True when :meth:`solve` passes objective targets to the solver (MAiNGO, SCIP,
        Gurobi); the others solve to optimality and ignore them."""
        return self.name in _TARGET_SOLVERS

    # -- public
    def solve(self, model: pyo.Block, *, point_target: Optional[float] = None,
              bound_target: Optional[float] = None) -> SolveResult:
        """Solve ``model`` (its active objective and constraints); load the solution if usable.

        ``point_target`` / ``bound_target`` (in the objective's units and sense): a global
        solver that honours them stops as soon as a feasible point is at least as good as
        ``point_target`` (max: objective ≥ it) or its proven bound is at least as good as
        ``bound_target`` (max: bound ≤ it; min: bound ≥ it), with status ``TARGET``."""
        self.n_solves += 1
        t0 = time.perf_counter()
        self._targets = None
        if (point_target is not None or bound_target is not None) and self.honours_targets:
            self._targets = _Targets(None if point_target is None else float(point_target),
                                     None if bound_target is None else float(bound_target),
                                     objective_sense(model) == pyo.maximize)
        try:
            with _quiet_pyomo():
                if self.hard_guard and hasattr(os, "fork"):
                    res = self._guarded_solve(model)
                else:
                    try:
                        res = self._solve_inproc(model)
                    except Exception as exc:  # noqa: BLE001 - a crash is a status, not an exception
                        res = SolveResult(SolverStatus.ERROR, message=f"{type(exc).__name__}: {exc}")
        finally:
            self._targets = None
        if self.is_global and res.status == SolverStatus.OPTIMAL:
            res = self._verified(model, res)
        res.time = time.perf_counter() - t0
        res.solver = self.name
        res.has_point = bool(res.has_point or res.status.ok)
        return res

    def gap_tolerance(self, objective: float, bound: float) -> float:
        """How far a point's objective may lie from the proven bound for an "optimal" to be
        accepted: max(10 abs_gap, 2 gap·max(|objective|, |bound|), 1e3 feas_tol·(1 + |objective|))."""
        return max(10.0 * self.abs_gap, 2.0 * self.gap * max(abs(objective), abs(bound)),
                   1e3 * self.feas_tol * (1 + abs(objective)))

    def _verified(self, model, res: SolveResult) -> SolveResult:
        """A global solver's "optimal" re-checked from its numbers, not its termination code:
        the returned point must satisfy the constraints (relative violation ≤ max(1e3 feas_tol,
        1e-5), as for objective targets) and its objective, evaluated by Pyomo, must lie within
        the gap of the proven bound, on the right side of it.  Otherwise the result is an
        ERROR saying which (measured: Gurobi reported "optimal" for a flexibility test with
        objective −0.0205 and bound +0.084)."""
        obj = _active_objective_value(model)
        if obj is None:
            return SolveResult(SolverStatus.ERROR, bound=res.bound, message=(
                f"{self.name} reported optimal, but the objective cannot be evaluated at its point; not trusted"))
        viol = _max_violation(model)
        if viol > max(1e3 * self.feas_tol, 1e-5):
            return SolveResult(SolverStatus.ERROR, bound=res.bound, message=(
                f"{self.name} reported optimal, but its point violates a constraint or bound by {viol:.3g} "
                "(relative); not trusted"))
        if res.bound is None:
            return res
        maximize = objective_sense(model) == pyo.maximize
        tol = self.gap_tolerance(obj, res.bound)
        gap = (res.bound - obj) if maximize else (obj - res.bound)
        if gap > tol or gap < -tol:
            side = "beyond" if gap > tol else "on the wrong side of"
            return SolveResult(SolverStatus.ERROR, bound=res.bound, objective=obj, message=(
                f"{self.name} reported optimal, but its proven bound {res.bound:.9g} is {side} the gap from the "
                f"objective {obj:.9g} at its point (tolerance {tol:.3g}); not trusted"))
        res.objective = obj
        return res

    # -- guard
    def _guarded_solve(self, model: pyo.Block) -> SolveResult:
        """Solve in a forked child killed at the deadline (:mod:`.guard`): the Solver's
        :class:`~.guard.SolveServer` for this model (one child that stays, fed the model's
        state per solve), or a fresh child per solve when ``persistent_guard`` is off or
        another thread holds the server.  Plain ``os.fork`` (not ``multiprocessing``) so
        that it also works inside daemonic workers (Dask)."""
        from .guard import ModelState, fork_solve, variables_of

        seconds = self.time_limit + max(2.0, 0.1 * self.time_limit)
        targets = self._targets
        try:
            if self.persistent_guard and self._slot.lock.acquire(blocking=False):
                try:
                    state = ModelState(model, self._settings_key())
                    server = self._slot.get(model, state, self._serve_one, exit_with_parent)
                    out = server.solve(state.capture(), targets, seconds)
                finally:
                    self._slot.lock.release()
            else:
                out = fork_solve(lambda: self._serve_one(model, targets), seconds, exit_with_parent)
        except ChildProcessError as exc:
            return SolveResult(SolverStatus.ERROR, message=str(exc))
        if out is None:
            return SolveResult(SolverStatus.TIME_LIMIT, message=(
                f"hard wall-clock guard: no answer after {seconds:.1f} s; solver process killed"))
        res, vals = out
        if vals is not None:
            for v, x in zip(variables_of(model), vals):
                if not v.fixed:
                    v.set_value(x, skip_validation=True)
        return res

    def _serve_one(self, model: pyo.Block, targets) -> tuple:
        """In the guard's child: one solve → ``(SolveResult, values of the model's
        variables, or None without a usable point)``; an exception is an ERROR result."""
        from .guard import variables_of

        self._targets = targets
        try:
            with _quiet_pyomo():
                r = self._solve_inproc(model)
            vals = [v.value for v in variables_of(model)] if (r.status.ok or r.has_point) else None
            return r, vals
        except BaseException as exc:  # noqa: BLE001 - a crash is a status, not an exception
            return SolveResult(SolverStatus.ERROR, message=f"{type(exc).__name__}: {exc}\n"
                               + traceback.format_exc(limit=3)), None

    def _settings_key(self) -> tuple:
        """What the guard's child copied from this Solver: a change forks a new child."""
        return (self.name, self.time_limit, self.gap, self.abs_gap, self.feas_tol,
                tuple(sorted((k, repr(v)) for k, v in self.solver_options.items())),
                # a method replaced on this instance (a test's fault injection) reaches the child too
                tuple(sorted((k, id(v)) for k, v in self.__dict__.items() if callable(v))))

    def second_opinion(self) -> Optional["Solver"]:
        """The same solver with other numerical settings (:data:`SECOND_OPINION`), for a second,
        independent solve of a bound that decides a result; None for solvers without one.  The
        caller keeps the safer of the two bounds."""
        settings = SECOND_OPINION.get(self.name)
        if settings is None:
            return None
        if self._second is None:
            other = Solver.__new__(Solver)
            d = self.__getstate__()
            d.update(solver_options={**self.solver_options, **settings}, n_solves=0, _targets=None)
            other.__setstate__(d)
            self._second = other
        return self._second

    def close(self) -> None:
        """End this Solver's guard child (also done when the Solver is garbage-collected)."""
        self._slot.close()
        if self._second is not None:
            self._second.close()

    def __getstate__(self):
        d = dict(self.__dict__)
        d.pop("_slot", None)  # a child process and a lock do not travel
        d["_second"] = None
        return d

    def __setstate__(self, d):
        from .guard import ServerSlot

        self.__dict__.update(d)
        self._slot = ServerSlot()

    # -- per interface
    def _solve_inproc(self, model: pyo.Block) -> SolveResult:
        if self.name == "ipopt":
            return self._solve_ipopt(model)
        if self.name == "highs":
            return self._solve_appsi(model, "highs")
        if self.name == "baron":
            return self._solve_baron(model)
        if self.name == "maingo":
            return self._solve_appsi(model, "maingo")
        with _abs_as_sqrt(model):  # Pyomo's SCIP and Gurobi writers reject abs() of an expression
            if self.name == "scip":
                return self._solve_scip(model)
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
        if has_user_scaling(model):  # the model's own (e.g. IDAES) scaling factors, as IDAES's ipopt_v2 uses them
            opts["nlp_scaling_method"] = "user-scaling"
        opts.update(self.solver_options)
        discrete = _discrete_variables(model)
        if discrete:  # PyNumero ends the Python process on a discrete variable: never hand one over
            return SolveResult(SolverStatus.ERROR, message=(
                f"Ipopt solves continuous problems only; the model has the integer or binary variables "
                f"{discrete[:5]}{' ...' if len(discrete) > 5 else ''}: use a global MINLP solver (maingo, scip, gurobi)"))
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
            import maingopy
            from pyomo.contrib.appsi.solvers import MAiNGO

            if not hasattr(maingopy, "abs"):  # Pyomo 6.10's writer calls maingopy.abs; maingopy names it fabs
                maingopy.abs = maingopy.fabs

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
            _maingo_targets(opt, self._targets)
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
        if which == "maingo" and self._targets is not None and _maingo_stopped_at_target(opt):
            return self._target_result(model, _maingo_load_point(opt), _finite(r.best_objective_bound),
                                       "MAiNGO BOUND_TARGETS")
        has_point = False
        if tc == ATC.optimal and getattr(r, "globally_optimal", True) is False:
            # Pyomo maps MAiNGO's FEASIBLE_POINT (limit reached, optimality unproven) to "optimal";
            # its point is feasible and its bound proven: both are kept, the status says neither is optimal
            status = SolverStatus.TIME_LIMIT
            msg = "MAiNGO returned a feasible point without proving global optimality (time or node limit)"
            has_point = _maingo_load_point(opt)
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
                           bound=_finite(r.best_objective_bound), message=msg, has_point=has_point)

    def _solve_scip(self, model) -> SolveResult:
        from pyomo.contrib.solver.common.factory import SolverFactory as SF2
        from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition as TC

        opt = SF2("scip_direct")
        sopts = {"numerics/feastol": max(self.feas_tol, 1e-9)}
        t = self._targets
        if t is not None:  # SCIP >= 10: "at least as good as", in the objective's sense
            sopts.update({k: v for k, v in (("limits/primal", t.point), ("limits/dual", t.bound)) if v is not None})
        sopts.update(self.solver_options)
        r = opt.solve(model, time_limit=self.time_limit, rel_gap=self.gap, abs_gap=self.abs_gap,
                      load_solutions=False, raise_exception_on_nonoptimal_result=False,
                      solver_options=sopts)
        tc = r.termination_condition
        if tc == TC.objectiveLimit and t is not None:
            return self._target_result(model, _load_if_any(r), _finite(r.objective_bound), f"SCIP {tc.name}")
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
        has_point = status == SolverStatus.TIME_LIMIT and _load_if_any(r)  # the incumbent, not an optimum
        return SolveResult(status, objective=_finite(r.incumbent_objective),
                           bound=_finite(r.objective_bound), message=str(tc), has_point=has_point)

    def _target_result(self, model, has_point: bool, bound: Optional[float], how: str) -> SolveResult:
        """A stop at an objective target, re-checked: the point's objective is evaluated by
        Pyomo and the point used only when its constraint and bound violations are within
        max(1e3 feas_tol, 1e-5) relative (measured: MAiNGO's points on case 2 leave equality
        residuals of 1.3e-6 with deltaEq = 1e-8); the bound is taken as the solver proved it.
        TARGET only when one of them really reaches its target, else ERROR."""
        t = self._targets
        obj = None
        if has_point:
            viol = _max_violation(model)
            obj = _active_objective_value(model) if viol <= max(1e3 * self.feas_tol, 1e-5) else None
        res = SolveResult(SolverStatus.TARGET, objective=obj, bound=bound, has_point=obj is not None)
        point = t.point is not None and res.point_reaches(t.point, t.maximize)
        proven = t.bound is not None and res.bound_passes(t.bound, t.maximize)
        side = "<=" if t.maximize else ">="
        if point:
            res.message = (f"{how}: a feasible point reaches the target {t.point:.6g} (objective {obj:.6g}); "
                           "stopped there, not optimal")
        elif proven:
            res.message = (f"{how}: the proven bound {bound:.6g} {side} the target {t.bound:.6g}; "
                           "stopped there, not optimal")
        else:
            res.status, res.has_point = SolverStatus.ERROR, False
            res.message = (f"{how}: the solver stopped at an objective target, but neither its point (objective "
                           f"{obj}) nor its bound ({bound}) proves it; not trusted")
        return res

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
        t = self._targets
        if t is not None:
            sopts.update({k: v for k, v in (("BestObjStop", t.point), ("BestBdStop", t.bound)) if v is not None})
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
        if tc == TC.objectiveLimit and t is not None:
            return self._target_result(model, _load_if_any(r), _finite(r.objective_bound), f"Gurobi {tc.name}")
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


# --------------------------------------------------------------------------- objective targets
#: Settings of :meth:`Solver.second_opinion`, per solver.  SCIP 10 (PySCIPOpt 6.3) at
#: ``numerics/feastol`` 1e-8 proved a wrong bound of a KKT relaxation (recourse sweep model 225:
#: "optimal" −0.19954 where the maximum is −0.170577, which SCIP itself finds with θ fixed there
#: and at feastol 1e-7 or its default 1e-6; also wrong at 1e-9: −0.19286).  The second opinion
#: uses 1e-7, not 1e-6: a feasibility tolerance must stay below the index's violation threshold
#: τ = 1e-6 (``bracket.VIOLATION_TOL``; at 1e-6 the HX index at Qc = (80, 80) came out 0, not
#: 0.2).  Measured, not a proof: two settings that agree are more trustworthy than one, and where
#: they disagree the safer bound is kept.  MAiNGO and Gurobi: no wrong bound seen in the same sweep.
SECOND_OPINION = {"scip": {"numerics/feastol": 1e-7, "randomization/randomseedshift": 1}}

#: solvers whose objective-target options :meth:`Solver.solve` sets (tested in tests/test_solvers.py)
_TARGET_SOLVERS = frozenset({"maingo", "scip", "gurobi"})


def objective_sense(model):
    """The sense of the active objective of ``model`` (minimise when it has none)."""
    for o in model.component_data_objects(pyo.Objective, active=True, descend_into=True):
        return o.sense
    return pyo.minimize


def _maingo_targets(opt, t: Optional[_Targets]) -> None:
    """MAiNGO minimises (Pyomo negates a maximisation): ``targetUpperBound`` stops once the
    incumbent of the minimisation is ≤ it, ``targetLowerBound`` once its lower bound is ≥ it."""
    if t is None:
        return
    sign = -1.0 if t.maximize else 1.0
    if t.point is not None:
        opt.maingo_options["targetUpperBound"] = sign * t.point
    if t.bound is not None:
        opt.maingo_options["targetLowerBound"] = sign * t.bound


def _maingo_stopped_at_target(opt) -> bool:
    import maingopy

    return opt._mymaingo.get_status() == maingopy.BOUND_TARGETS


def _maingo_load_point(opt) -> bool:
    """Load MAiNGO's solution point after a BOUND_TARGETS stop (Pyomo's appsi interface
    refuses to load one then: it only loads for GLOBALLY_OPTIMAL / FEASIBLE_POINT).  The
    point is checked by :meth:`Solver._target_result` before it is used."""
    try:
        point = opt._mymaingo.get_solution_point()
        ids = opt._pyomo_var_to_solver_var_id_map
        for vid, (var, *_rest) in opt._vars.items():
            if vid in ids and not var.fixed:
                var.set_value(point[ids[vid]], skip_validation=True)
    except Exception:  # noqa: BLE001 - no point (or an interface change): the bound alone decides
        return False
    return True


def _load_if_any(r) -> bool:
    """Load the incumbent of a ``pyomo.contrib.solver`` result when there is one."""
    from pyomo.contrib.solver.common.results import SolutionStatus

    if r.solution_status not in (SolutionStatus.feasible, SolutionStatus.optimal):
        return False
    try:
        r.solution_loader.load_vars()
    except Exception:  # noqa: BLE001
        return False
    return True


@contextlib.contextmanager
def _abs_as_sqrt(model):
    """|e| written as sqrt(e²) (equal everywhere) in the active constraints and objectives for
    one solve, restored after it: Pyomo's writers for SCIP and Gurobi (abs of a variable only)
    reject ``abs()`` of an expression (measured, Pyomo 6.10), which a CQA such as
    |θ − z| − 0.25 needs.  (MAiNGO gets its own fabs: with sqrt(e²) it stalled for 60 s
    per solve on that CQA.)"""
    from pyomo.core.expr.numeric_expr import AbsExpression
    from pyomo.core.expr.visitor import ExpressionReplacementVisitor

    class _Rewrite(ExpressionReplacementVisitor):
        def exitNode(self, node, data):
            node = super().exitNode(node, data)
            if isinstance(node, AbsExpression):
                return pyo.sqrt(node.args[0] ** 2)
            return node

    changed = []
    for c in model.component_data_objects((pyo.Constraint, pyo.Objective), active=True, descend_into=True):
        e = c.expr
        if any(isinstance(n, AbsExpression) for n in _nodes(e)):
            changed.append((c, e))
            c.set_value(_Rewrite(remove_named_expressions=True).walk_expression(e))
    try:
        yield
    finally:
        for c, e in changed:
            c.set_value(e)


def _nodes(e):
    """Every node of an expression tree (depth first)."""
    stack = [e]
    while stack:
        n = stack.pop()
        yield n
        if hasattr(n, "args") and getattr(n, "is_expression_type", lambda: False)():
            stack.extend(a for a in n.args if not isinstance(a, (int, float)))


def has_user_scaling(model) -> bool:
    """The model carries an active ``scaling_factor`` Suffix (IDAES's ``set_scaling_factor``,
    ``calculate_scaling_factors``): PyNumero hands its factors to Ipopt, and Ipopt uses them
    only with ``nlp_scaling_method = user-scaling`` (otherwise its gradient-based scaling
    silently replaces them).  A model transformed by ``core.scale_model`` has its suffixes
    deactivated, so it is not scaled twice."""
    return any(s.local_name == "scaling_factor"
               for s in model.component_data_objects(pyo.Suffix, active=True, descend_into=True))


def _discrete_variables(model) -> List[str]:
    """Names of the unfixed integer or binary variables in the active objective and constraints."""
    from pyomo.core.expr.visitor import identify_variables

    seen, out = set(), []
    exprs = [o.expr for o in model.component_data_objects(pyo.Objective, active=True, descend_into=True)]
    exprs += [c.body for c in model.component_data_objects(pyo.Constraint, active=True, descend_into=True)]
    for e in exprs:
        for v in identify_variables(e, include_fixed=False):
            if id(v) not in seen:
                seen.add(id(v))
                if not v.is_continuous():
                    out.append(v.name)
    return out


def _max_violation(model) -> float:
    """Largest violation of the model's active constraints (relative to ``1 + |bound|``) and of
    the bounds of the variables they use (relative to ``1 + |bound|``, beyond 1e-6) at the
    current values; inf when a body cannot be evaluated."""
    from pyomo.core.expr.visitor import identify_variables

    worst, used = 0.0, {}
    for c in model.component_data_objects(pyo.Constraint, active=True, descend_into=True):
        body = pyo.value(c.body, exception=False)
        if body is None or not math.isfinite(body):
            return math.inf
        for v in identify_variables(c.body, include_fixed=False):
            used[id(v)] = v
        lo, hi = pyo.value(c.lower), pyo.value(c.upper)
        if lo is not None:
            worst = max(worst, (lo - body) / (1.0 + abs(lo)))
        if hi is not None:
            worst = max(worst, (body - hi) / (1.0 + abs(hi)))
    for v in used.values():
        lo, hi = v.bounds
        x = v.value
        if x is None:
            return math.inf
        if lo is not None:
            worst = max(worst, (lo - x) / (1.0 + abs(lo)) - 1e-6)
        if hi is not None:
            worst = max(worst, (x - hi) / (1.0 + abs(hi)) - 1e-6)
    return worst


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
    exp/log/log10/sin/cos/tan/sqrt (e.g. ``tanh()``), (``abs()`` is rewritten as sqrt(e²) before solving),
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
            # abs() is solved as sqrt(e**2) (_abs_as_sqrt)
            if not has_var or node.is_named_expression_type() or isinstance(node, plain + (AbsExpression,)):
                return has_var
            if isinstance(node, UnaryFunctionExpression):
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
    return x if math.isfinite(x) and abs(x) < 1e300 else None  # MAiNGO reports an unknown bound as ±DBL_MAX


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
