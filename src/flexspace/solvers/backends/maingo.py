"""MAiNGO (deterministic global MINLP) through Pyomo's ``appsi_maingo``.

Measured traps: with its default relative gap MAiNGO can take 100x longer than with
``epsilonR = 1e-4``, so the gap is always set.  Pyomo passes the time limit as ``maxTime``,
MAiNGO's limit on *CPU* time (on a loaded machine a solve then overran its wall-clock limit),
and MAiNGO cuts its limits to whole seconds (a limit of 0.99 s stopped it at once, before
its first node): it is given ``maxTime`` and ``maxwTime`` (wall clock), both rounded up to
whole seconds (:func:`whole_seconds`).  It runs under the hard wall-clock guard by default,
as a backstop.  Objective targets: ``targetUpperBound`` / ``targetLowerBound``, status
``BOUND_TARGETS``."""
from __future__ import annotations

import math
from typing import Optional

from ..status import SolveResult, SolverStatus, Targets, target_result
from ..util import finite
from .base import Backend, SolveRequest


class MaingoBackend(Backend):
    """MAiNGO: ``OPTIMAL`` only for a proven global optimum; a feasible point without that
    proof is ``TIME_LIMIT`` with the point kept."""

    name = "maingo"
    order = 20  #: its row in ``flexspace solvers``
    pyomo_name = "appsi_maingo"
    is_global = True
    kind = "minlp"
    description = "MAiNGO (maingopy), deterministic global MINLP"
    extra = "solvers"
    requires = {"maingopy": "maingopy"}
    guard = True
    supports_integers = True
    honours_targets = True

    @classmethod
    def version(cls):
        from pyomo.contrib.appsi.solvers import MAiNGO

        opt = MAiNGO()
        return opt.version() if opt.available() else None

    def solve(self, model, request: SolveRequest) -> SolveResult:
        opt = _configured(request)
        r = opt.solve(model)
        if request.targets is not None and _stopped_at_target(opt):
            return target_result(model, request.targets, request.feas_tol, _load_point(opt),
                                 finite(r.best_objective_bound), "MAiNGO BOUND_TARGETS")
        status, msg, unproven = maingo_status(r)
        if status == SolverStatus.ERROR and _out_of_time(opt, r, request.time_limit):
            status, msg = SolverStatus.TIME_LIMIT, "MAiNGO reached its time limit without a feasible point"
        has_point = _load_point(opt) if unproven else False
        if status.ok:
            r.solution_loader.load_vars()
        return SolveResult(status, objective=finite(r.best_feasible_objective),
                           bound=finite(r.best_objective_bound), message=msg, has_point=has_point)


def _configured(request: SolveRequest):
    """A Pyomo MAiNGO interface with the request's gaps, tolerances, targets and options."""
    import maingopy
    from pyomo.contrib.appsi.solvers import MAiNGO

    if not hasattr(maingopy, "abs"):  # Pyomo 6.10's writer calls maingopy.abs; maingopy names it fabs
        maingopy.abs = maingopy.fabs

    opt = MAiNGO()
    opt.config.mip_gap = request.gap
    opt.config.tolerances.epsilonR = request.gap
    opt.config.tolerances.epsilonA = request.abs_gap
    opt.config.tolerances.deltaIneq = request.feas_tol
    opt.config.tolerances.deltaEq = request.feas_tol
    opt.maingo_options["writeResultFile"] = 0  # else MAiNGO writes MAiNGOresult.txt into the cwd
    # Kelley + simplex linearisation points for the lower-bounding LP: with the default
    # (mid-point only) MAiNGO did not close the gap on convex ellipsoid constraints with
    # n >= 4 in 30 s; with this it takes 0.25 s (measured, linear g, n = 5).
    opt.maingo_options["LBP_linPoints"] = 5
    opt.maingo_options["maxwTime"] = whole_seconds(request.time_limit)  # wall clock (module docstring)
    _set_targets(opt, request.targets)
    for k, v in request.solver_options.items():
        opt.maingo_options[k] = v
    opt.config.time_limit = whole_seconds(request.time_limit)  # Pyomo's MAiNGO interface: maxTime (CPU)
    opt.config.load_solution = False
    return opt


def whole_seconds(seconds: float) -> int:
    """A time limit as MAiNGO keeps it: whole seconds, rounded up (at least 1)."""
    return max(1, math.ceil(float(seconds) - 1e-9))


def maingo_status(r) -> tuple:
    """An appsi MAiNGO result -> ``(status, message, feasible point without proof)``."""
    from pyomo.contrib.appsi.base import TerminationCondition as ATC

    tc = r.termination_condition
    if tc == ATC.optimal and getattr(r, "globally_optimal", True) is False:
        # Pyomo maps MAiNGO's FEASIBLE_POINT (limit reached, optimality unproven) to "optimal";
        # its point is feasible and its bound proven: both are kept, the status says neither is optimal
        return (SolverStatus.TIME_LIMIT,
                "MAiNGO returned a feasible point without proving global optimality (time or node limit)", True)
    if tc == ATC.optimal:
        return SolverStatus.OPTIMAL, str(tc), False
    if tc in (ATC.infeasible, ATC.infeasibleOrUnbounded):
        return SolverStatus.INFEASIBLE, str(tc), False
    if tc == ATC.maxTimeLimit:
        return SolverStatus.TIME_LIMIT, str(tc), False
    return SolverStatus.ERROR, str(tc), False


def _set_targets(opt, t: Optional[Targets]) -> None:
    """MAiNGO minimises (Pyomo negates a maximisation): ``targetUpperBound`` stops once the
    incumbent of the minimisation is ≤ it, ``targetLowerBound`` once its lower bound is ≥ it."""
    if t is None:
        return
    sign = -1.0 if t.maximize else 1.0
    if t.point is not None:
        opt.maingo_options["targetUpperBound"] = sign * t.point
    if t.bound is not None:
        opt.maingo_options["targetLowerBound"] = sign * t.bound


def _out_of_time(opt, r, time_limit: float) -> bool:
    """MAiNGO's NO_FEASIBLE_POINT_FOUND (which Pyomo reports as ``unknown``) at its time limit:
    a time-out without a point, not an error."""
    import maingopy

    try:
        if opt._mymaingo.get_status() != maingopy.NO_FEASIBLE_POINT_FOUND:
            return False
    except Exception:  # noqa: BLE001 - an interface change: keep the ERROR
        return False
    spent = max(finite(getattr(r, "wallclock_time", None)) or 0.0, finite(getattr(r, "cpu_time", None)) or 0.0)
    return spent >= whole_seconds(time_limit) - 0.5


def _stopped_at_target(opt) -> bool:
    import maingopy

    return opt._mymaingo.get_status() == maingopy.BOUND_TARGETS


def _load_point(opt) -> bool:
    """Load MAiNGO's solution point after a BOUND_TARGETS stop (Pyomo's appsi interface
    refuses to load one then: it only loads for GLOBALLY_OPTIMAL / FEASIBLE_POINT).  The
    point is checked by :func:`~flexspace.solvers.status.target_result` before it is used."""
    try:
        point = opt._mymaingo.get_solution_point()
        ids = opt._pyomo_var_to_solver_var_id_map
        for vid, (var, *_rest) in opt._vars.items():
            if vid in ids and not var.fixed:
                var.set_value(point[ids[vid]], skip_validation=True)
    except Exception:  # noqa: BLE001 - no point (or an interface change): the bound alone decides
        return False
    return True


#: what :mod:`flexspace.solvers.registry` finds in this module (one file per solver)
BACKEND = MaingoBackend
