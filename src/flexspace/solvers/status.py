"""A solve's outcome in our own terms: :class:`SolverStatus`, :class:`SolveResult`, and the
objective targets of one solve (:class:`Targets`) with the re-check of a stop at one
(:func:`target_result`).  Every backend maps its solver's termination codes onto
:class:`SolverStatus` beside its solve routine (``backends/<solver>.py``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..validation import StrChoice
from .util import active_objective_value, max_violation


class SolverStatus(StrChoice):
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
class Targets:
    """Objective targets of one solve, in the objective's own sense."""

    point: Optional[float]
    bound: Optional[float]
    maximize: bool


def target_result(model, targets: Targets, feas_tol: float, has_point: bool, bound: Optional[float],
                  how: str) -> SolveResult:
    """A stop at an objective target, re-checked: the point's objective is evaluated by
    Pyomo and the point used only when its constraint and bound violations are within
    max(1e3 feas_tol, 1e-5) relative (measured: MAiNGO's points on case 2 leave equality
    residuals of 1.3e-6 with deltaEq = 1e-8); the bound is taken as the solver proved it.
    TARGET only when one of them really reaches its target, else ERROR."""
    t = targets
    obj = None
    if has_point:
        viol = max_violation(model)
        obj = active_objective_value(model) if viol <= max(1e3 * feas_tol, 1e-5) else None
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


__all__ = ["SolverStatus", "SolveResult", "Targets", "target_result"]
