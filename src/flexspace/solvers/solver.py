"""The :class:`Solver`: one backend with settings, a hard wall-clock guard, the check of a
global "optimal" from its numbers, objective targets, a second opinion and pickling;
:func:`get_solver` makes one from a name, a backend or another Solver."""
from __future__ import annotations

import os
import time
import traceback
from collections.abc import Mapping
from typing import Optional

import pyomo.environ as pyo

from ..errors import SolverUnavailableError
from ..options import OptionsLike, SolveOptions, resolve_options
from .backends.base import SolveRequest, spec_of, unavailable_reason
from .guard import exit_with_parent
from .registry import available_solvers, make_backend
from .status import SolveResult, SolverStatus, Targets, target_result
from .util import active_objective_value, max_violation, objective_sense, quiet_pyomo


class Solver:
    """A configured solver.  ``solve(model)`` returns a :class:`SolveResult`.

    Parameters
    ----------
    name : one of :func:`solver_names` (case-insensitive; also a name added with
        :func:`register_backend`), or a solver backend: an object or class with
        ``solve(model, request)`` and ``available()`` (:class:`SolverBackend`).
    options : a :class:`~flexspace.options.SolveOptions`, a preset name, a dict of
        changes to the ``"index"`` preset, or None (that preset).  The solver uses
        ``time_limit`` (per :meth:`solve` call, see :data:`~flexspace.options.SolveOptions`:
        what is left of it when the backend starts is the solver's own limit, and the hard
        guard enforces it), ``gap``, ``abs_gap`` (None: 1e-9) and ``feas_tol``.
    hard_guard : run the solve in a forked child killed at ``time_limit`` +
        :func:`guard_grace` after :meth:`solve` began.  Defaults to the backend's ``guard``:
        True for MAiNGO, SCIP, BARON, Gurobi and Ipopt (a backstop for a solver that overruns
        its own limit — Ipopt checks it only between iterations; it also isolates licence and
        native-library failures), False for HiGHS and for a user's backend that does not say.
    persistent_guard : keep one guard child per model and send it the model's state per
        solve (:class:`~flexspace.solvers.guard.SolveServer`, ~5x less overhead per solve)
        instead of forking per solve.
    solver_options : extra solver options, passed through.
    """

    def __init__(self, name, options: OptionsLike = None, *, hard_guard: Optional[bool] = None,
                 solver_options: Optional[dict] = None, persistent_guard: bool = True):
        opts = resolve_options(options)
        self.backend = make_backend(name)
        self.spec = spec_of(self.backend)
        if not self.backend.available():
            why = unavailable_reason(self.backend) or "its availability check failed"
            raise SolverUnavailableError(
                f"solver {self.spec.name!r} is not available on this machine: {why}. Available here: "
                f"{available_solvers()}; `flexspace solvers` shows each solver and what it needs."
            )
        self.name = self.spec.name
        self.options: SolveOptions = opts
        self.time_limit, self.gap, self.abs_gap, self.feas_tol = _numbers(opts)
        self.hard_guard = self.spec.guard if hard_guard is None else bool(hard_guard)
        self.persistent_guard = bool(persistent_guard)
        self.solver_options = dict(solver_options or {})
        from .guard import ServerSlot

        self._slot = ServerSlot()
        self.n_solves = 0
        self._targets: Optional[Targets] = None  # set by solve() for one solve only
        self._deadline: Optional[float] = None  # time.monotonic() of the solve's time limit, for one solve only
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
        Gurobi: the backend's ``honours_targets``); the others solve to optimality and ignore them."""
        return bool(getattr(self.backend, "honours_targets", False))

    # -- public
    def solve(self, model: pyo.Block, *, point_target: Optional[float] = None,
              bound_target: Optional[float] = None) -> SolveResult:
        """Solve ``model`` (its active objective and constraints); load the solution if usable.

        ``point_target`` / ``bound_target`` (in the objective's units and sense): a global
        solver that honours them stops as soon as a feasible point is at least as good as
        ``point_target`` (max: objective ≥ it) or its proven bound is at least as good as
        ``bound_target`` (max: bound ≤ it; min: bound ≥ it), with status ``TARGET``.

        Time: the call returns within ``time_limit + max(2 s, 5 %)`` wall-clock (the guard's
        fork, the model's translation and the teardown included; :func:`time_allowance`):
        the solver is given what is left of ``time_limit`` when it starts, and a guarded
        child still running at ``time_limit + guard_grace`` is killed.  A time-out is status
        ``TIME_LIMIT`` with a one-line message saying so (:func:`timeout_message`)."""
        self.n_solves += 1
        t0 = time.perf_counter()
        deadline = time.monotonic() + self.time_limit
        self._targets = None
        if (point_target is not None or bound_target is not None) and self.honours_targets:
            self._targets = Targets(None if point_target is None else float(point_target),
                                    None if bound_target is None else float(bound_target),
                                    objective_sense(model) == pyo.maximize)
        try:
            with quiet_pyomo():
                if self.hard_guard and hasattr(os, "fork"):
                    res = self._guarded_solve(model, deadline)
                else:
                    self._deadline = deadline
                    try:
                        res = self._solve_inproc(model)
                    except Exception as exc:  # noqa: BLE001 - a crash is a status, not an exception
                        res = SolveResult(SolverStatus.ERROR, message=f"{type(exc).__name__}: {exc}")
        finally:
            self._targets = self._deadline = None
        if self.is_global and res.status == SolverStatus.OPTIMAL:
            res = self._verified(model, res)
        res.time = time.perf_counter() - t0
        res.solver = self.name
        if res.status == SolverStatus.TIME_LIMIT:
            res.message = timeout_message(self.name, self.time_limit, res, self.is_global)
        res.has_point = bool(res.has_point or res.status.ok)
        return res

    def gap_tolerance(self, objective: float, bound: float) -> float:
        """How far a point's objective may lie from the proven bound for an "optimal" to be
        accepted: ``max(10 abs_gap, 2 gap·max(|objective|, |bound|), 1e3 feas_tol·(1 + |objective|))``."""
        return max(10.0 * self.abs_gap, 2.0 * self.gap * max(abs(objective), abs(bound)),
                   1e3 * self.feas_tol * (1 + abs(objective)))

    def _verified(self, model, res: SolveResult) -> SolveResult:
        """A global solver's "optimal" re-checked from its numbers, not its termination code:
        the returned point must satisfy the constraints (relative violation ≤ max(1e3 feas_tol,
        1e-5), as for objective targets) and its objective, evaluated by Pyomo, must lie within
        the gap of the proven bound, on the right side of it.  Otherwise the result is an
        ERROR saying which (measured: Gurobi reported "optimal" for a flexibility test with
        objective −0.0205 and bound +0.084)."""
        obj = active_objective_value(model)
        if obj is None:
            return SolveResult(SolverStatus.ERROR, bound=res.bound, message=(
                f"{self.name} reported optimal, but the objective cannot be evaluated at its point; not trusted"))
        viol = max_violation(model)
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
    def _guarded_solve(self, model: pyo.Block, deadline: float) -> SolveResult:
        """Solve in a forked child killed at ``deadline + guard_grace`` (:mod:`.guard`;
        ``deadline``: ``time.monotonic()`` at the time limit, counted from the start of
        :meth:`solve`, so the model's state, the fork and the translation count): the
        Solver's :class:`~.guard.SolveServer` for this model (one child that stays, fed the
        model's state per solve), or a fresh child per solve when ``persistent_guard`` is off
        or another thread holds the server.  The child gives the solver what is left until
        ``deadline``.  Plain ``os.fork`` (not ``multiprocessing``) so that it also works
        inside daemonic workers (Dask)."""
        from .guard import ModelState, fork_solve, variables_of

        warm_up(self.backend)
        kill_at = deadline + guard_grace(self.time_limit)
        job = (self._targets, deadline)
        try:
            if self.persistent_guard and self._slot.lock.acquire(blocking=False):
                try:
                    state = ModelState(model, self._settings_key())
                    server = self._slot.get(model, state, self._serve_one, exit_with_parent)
                    out = server.solve(state.capture(), job, kill_at - time.monotonic())
                finally:
                    self._slot.lock.release()
            else:
                out = fork_solve(lambda: self._serve_one(model, job), kill_at - time.monotonic(), exit_with_parent)
        except ChildProcessError as exc:
            return SolveResult(SolverStatus.ERROR, message=str(exc))
        if out is None:
            return SolveResult(SolverStatus.TIME_LIMIT, message=KILLED)
        res, vals = out
        if vals is not None:
            for v, x in zip(variables_of(model), vals):
                if not v.fixed:
                    v.set_value(x, skip_validation=True)
        return res

    def _serve_one(self, model: pyo.Block, job) -> tuple:
        """In the guard's child: one solve of ``job = (targets, deadline)`` → ``(SolveResult,
        values of the model's variables, or None without a usable point)``; an exception is
        an ERROR result."""
        from .guard import variables_of

        self._targets, self._deadline = job
        try:
            with quiet_pyomo():
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
                tuple(sorted((k, id(v)) for k, v in self.__dict__.items() if callable(v))),
                id(self.backend))

    def second_opinion(self) -> Optional["Solver"]:
        """The same solver with other numerical settings (the backend's
        ``second_opinion_options``, :data:`SECOND_OPINION` for the built-in ones), for a second,
        independent solve of a bound that decides a result; None for solvers without one.  The
        caller keeps the safer of the two bounds."""
        settings = getattr(self.backend, "second_opinion_options", None)
        if not settings:
            return None
        if self._second is None:
            other = Solver.__new__(Solver)
            d = self.__getstate__()
            d.update(solver_options={**self.solver_options, **settings}, n_solves=0, _targets=None, _deadline=None)
            other.__setstate__(d)
            self._second = other
        return self._second

    def with_options(self, options: OptionsLike = None, **kwargs) -> "Solver":
        """This Solver with other settings: itself when nothing changes, else a new Solver with
        the same backend (see :func:`get_solver`).  ``options``: a
        :class:`~flexspace.options.SolveOptions` or preset name replaces the settings; a dict
        changes only the fields it names (of this Solver's options); ``kwargs``
        (``hard_guard``, ``solver_options``, ``persistent_guard``) default to this Solver's."""
        if isinstance(options, Mapping):
            opts = self.options.replace(**dict(options))
        else:
            opts = self.options if options is None else resolve_options(options)
        keep = {"hard_guard": self.hard_guard, "solver_options": self.solver_options,
                "persistent_guard": self.persistent_guard}
        merged = {**keep, **kwargs}
        if _numbers(opts) == _numbers(self.options) and set(merged) == set(keep) \
                and all(_same(merged[k], keep[k]) for k in keep):
            return self
        return Solver(self.backend, opts, **merged)

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

    # -- the backend
    def _request(self) -> SolveRequest:
        """This Solver's settings (and the current solve's targets) for its backend; its
        ``time_limit`` is what is left of the solve's time limit now (:meth:`remaining`)."""
        return SolveRequest(self.remaining(), self.gap, self.abs_gap, self.feas_tol, dict(self.solver_options),
                            self._targets)

    def remaining(self) -> float:
        """Seconds left of the time limit of the solve under way (at least
        :data:`MIN_SOLVER_LIMIT`: a solver handed it stops at once, as timed out); outside a
        solve, ``time_limit``."""
        deadline = getattr(self, "_deadline", None)
        if deadline is None:
            return self.time_limit
        return max(MIN_SOLVER_LIMIT, deadline - time.monotonic())

    def _solve_inproc(self, model: pyo.Block) -> SolveResult:
        """One solve by the backend, in this process; what the backend returns must be a
        :class:`SolveResult`, or the solve is an ERROR."""
        res = self.backend.solve(model, self._request())
        if not isinstance(res, SolveResult):
            return SolveResult(SolverStatus.ERROR, message=(
                f"the solver backend {type(self.backend).__name__} returned {type(res).__name__}, not a "
                "flexspace.solvers.SolveResult; not trusted"))
        return res

    def _target_result(self, model, has_point: bool, bound: Optional[float], how: str) -> SolveResult:
        """A stop at this solve's objective targets, re-checked (:func:`.status.target_result`)."""
        return target_result(model, self._targets, self.feas_tol, has_point, bound, how)


#: the least time limit handed to a solver (seconds): what is left of a solve's limit, once the
#: model's state, the fork and the translation have used it up
MIN_SOLVER_LIMIT = 0.01
#: the result of a guard child killed at its deadline (:meth:`Solver._guarded_solve`)
KILLED = "no answer: the hard wall-clock guard killed the solver process"


#: (process id, backend class) whose ``warm_up()`` has run (:func:`warm_up`)
_WARM: set = set()


def warm_up(backend) -> None:
    """The backend's optional ``warm_up()``, once per process, before the guard forks its first
    child: what it loads (Ipopt: PyNumero's ASL) is then inherited by every child instead of
    loaded again in each.  A failing warm-up is ignored (the solve itself reports)."""
    fn = getattr(backend, "warm_up", None)
    key = (os.getpid(), backend if isinstance(backend, type) else type(backend))
    if key in _WARM or not callable(fn):
        return
    _WARM.add(key)
    try:
        with quiet_pyomo():
            fn()
    except Exception:  # noqa: BLE001 - only a speed-up
        pass


def time_allowance(time_limit: float) -> float:
    """How far past ``time_limit`` one :meth:`Solver.solve` may return: max(2 s, 5 %)."""
    return max(2.0, 0.05 * float(time_limit))


def guard_grace(time_limit: float) -> float:
    """How long after ``time_limit`` (from the start of :meth:`Solver.solve`) the hard guard
    kills a solver child that has not answered: 3/4 of :func:`time_allowance`; the rest is
    for the kill, the reap and the result."""
    return 0.75 * time_allowance(time_limit)


def timeout_message(name: str, time_limit: float, res: SolveResult, is_global: bool = True) -> str:
    """One line for a solve that hit its time limit: who stopped it, when, and what it had."""
    if res.message == KILLED:
        head = (f"time limit: {name} gave no answer by {res.time:.1f} s (time_limit {time_limit:g} s); "
                "the hard wall-clock guard killed it")
    else:
        head = (f"time limit: {name} stopped at {res.time:.1f} s (time_limit {time_limit:g} s) without "
                + ("proving optimality" if is_global else "converging"))
    have = [f"{what} {x:.9g}" for what, x in (("best point", res.objective if res.has_point else None),
                                                ("proven bound", res.bound)) if x is not None]
    return head + (f" ({', '.join(have)})" if have else " (no point, no bound)")


def _numbers(opts: SolveOptions) -> tuple:
    """The settings a Solver takes from its options: time limit, gap, absolute gap, feasibility tolerance."""
    return (float(opts.time_limit), float(opts.gap), 1e-9 if opts.abs_gap is None else float(opts.abs_gap),
            float(opts.feas_tol))


def _same(a, b) -> bool:
    """Keyword settings compared by value (a bool as a bool: ``hard_guard=1`` is True)."""
    if isinstance(b, bool):
        return bool(a) == b
    if isinstance(b, dict):
        return dict(a or {}) == b
    return a == b


def get_solver(name, options: OptionsLike = None, **kwargs) -> Solver:
    """A configured :class:`Solver`.

    ``name``: a solver name (:func:`solver_names`, case-insensitive, or one added with
    :func:`register_backend`), a solver backend (an object or class with
    ``solve(model, request)`` and ``available()``: :class:`SolverBackend`), or a
    :class:`Solver`.  ``options`` and ``kwargs``: see :class:`Solver`.

    A :class:`Solver` is returned **as is** when neither ``options`` nor ``kwargs`` are given,
    or when they change none of its settings; otherwise a **new Solver** with the same backend
    and the given settings is returned (the given one is left unchanged; see
    :meth:`Solver.with_options`): a :class:`~flexspace.options.SolveOptions` or a preset name
    replaces its ``time_limit``, ``gap``, ``abs_gap`` and ``feas_tol``; a dict changes only the
    fields it names; ``hard_guard``, ``solver_options`` and ``persistent_guard`` not given are
    kept.  So an analysis handed a Solver solves with the analysis' options, never silently
    with other ones."""
    if isinstance(name, Solver):
        if options is None and not kwargs:
            return name
        return name.with_options(options, **kwargs)
    return Solver(name, options, **kwargs)


__all__ = ["Solver", "get_solver", "time_allowance", "guard_grace", "timeout_message"]
