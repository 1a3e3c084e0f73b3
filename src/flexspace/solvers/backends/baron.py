"""BARON (global, optional) through GAMS; the demo licence is size-limited."""
from __future__ import annotations

import pyomo.environ as pyo

from ..status import SolveResult, SolverStatus
from ..util import active_objective_value
from .base import Backend, SolveRequest


class BaronBackend(Backend):
    """BARON through Pyomo's ``gams`` interface; targets are ignored."""

    name = "baron"
    order = 50  #: its row in ``flexspace solvers``
    pyomo_name = "gams"
    is_global = True
    kind = "minlp"
    description = "BARON through GAMS (optional; demo licence is size-limited)"
    guard = True
    supports_integers = True

    @classmethod
    def version(cls):
        s = pyo.SolverFactory("gams")
        if not s.available(exception_flag=False):
            return None
        return "BARON via GAMS"

    @classmethod
    def unusable_reason(cls) -> str:
        from pyomo.common import Executable

        if not Executable("gams").available():
            return ("BARON runs through GAMS, and Pyomo found no `gams` executable (on PATH); it is not pip-installable: "
                    "install GAMS (https://www.gams.com) with a licence that includes BARON (the demo licence is "
                    "size-limited) and put its directory on PATH")
        return super().unusable_reason()

    def solve(self, model, request: SolveRequest) -> SolveResult:
        from pyomo.opt import TerminationCondition as TC

        s = pyo.SolverFactory("gams")
        r = s.solve(model, solver="baron", load_solutions=False,
                    add_options=[f"option reslim={request.time_limit};", f"option optcr={request.gap};"])
        tc = r.solver.termination_condition
        status = baron_status(tc)
        if tc == TC.optimal:
            model.solutions.load_from(r)
        obj = active_objective_value(model) if status.ok else None
        return SolveResult(status, objective=obj, message=str(tc))


def baron_status(tc) -> SolverStatus:
    """A ``pyomo.opt`` termination condition of the GAMS interface -> our status."""
    from pyomo.opt import TerminationCondition as TC

    if tc == TC.optimal:
        return SolverStatus.OPTIMAL
    if tc == TC.infeasible:
        return SolverStatus.INFEASIBLE
    if tc == TC.maxTimeLimit:
        return SolverStatus.TIME_LIMIT
    return SolverStatus.ERROR


#: what :mod:`flexspace.solvers.registry` finds in this module (one file per solver)
BACKEND = BaronBackend
