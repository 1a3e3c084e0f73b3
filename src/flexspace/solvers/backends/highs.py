"""HiGHS (LP/MILP) through Pyomo's ``appsi_highs``."""
from __future__ import annotations

from ..status import SolveResult, SolverStatus
from ..util import finite
from .base import Backend, SolveRequest


class HighsBackend(Backend):
    """HiGHS: an LP/MILP optimum is ``OPTIMAL``."""

    name = "highs"
    order = 40  #: its row in ``flexspace solvers``
    pyomo_name = "appsi_highs"
    is_global = True
    kind = "milp"
    description = "HiGHS (highspy), LP/MILP only"
    extra = "solvers"
    requires = {"highspy": "highspy"}
    guard = False
    supports_integers = True

    @classmethod
    def version(cls):
        from pyomo.contrib.appsi.solvers import Highs

        opt = Highs()
        return opt.version() if opt.available() else None

    def solve(self, model, request: SolveRequest) -> SolveResult:
        from pyomo.contrib.appsi.solvers import Highs

        opt = Highs()
        opt.config.mip_gap = request.gap
        for k, v in request.solver_options.items():
            opt.highs_options[k] = v
        opt.config.time_limit = request.time_limit
        opt.config.load_solution = False
        r = opt.solve(model)
        tc = r.termination_condition
        status = highs_status(tc)
        if status.ok:
            r.solution_loader.load_vars()
        return SolveResult(status, objective=finite(r.best_feasible_objective),
                           bound=finite(r.best_objective_bound), message=str(tc), has_point=False)


def highs_status(tc) -> SolverStatus:
    """An appsi termination condition -> our status."""
    from pyomo.contrib.appsi.base import TerminationCondition as ATC

    if tc == ATC.optimal:
        return SolverStatus.OPTIMAL
    if tc in (ATC.infeasible, ATC.infeasibleOrUnbounded):
        return SolverStatus.INFEASIBLE
    if tc == ATC.maxTimeLimit:
        return SolverStatus.TIME_LIMIT
    return SolverStatus.ERROR


#: what :mod:`flexspace.solvers.registry` finds in this module (one file per solver)
BACKEND = HighsBackend
