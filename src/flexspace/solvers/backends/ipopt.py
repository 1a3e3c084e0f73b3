"""Ipopt (local NLP) through PyNumero's ``cyipopt`` interface."""
from __future__ import annotations

import pyomo.environ as pyo

from ..status import SolveResult, SolverStatus
from ..util import active_objective_value, discrete_variables, has_user_scaling
from .base import Backend, SolveRequest


class IpoptBackend(Backend):
    """Ipopt: a KKT point is ``LOCALLY_OPTIMAL``, never a certificate."""

    name = "ipopt"
    order = 10  #: its row in ``flexspace solvers``
    pyomo_name = "cyipopt"
    is_global = False
    kind = "nlp"
    description = "Ipopt 3.14 (cyipopt-wheels + PyNumero ASL), local NLP"
    guard = False
    supports_integers = False

    @classmethod
    def version(cls):
        from pyomo.contrib.pynumero.asl import AmplInterface

        if not AmplInterface.available():
            return None
        import cyipopt

        s = pyo.SolverFactory("cyipopt")
        if not s.available(exception_flag=False):
            return None
        v = getattr(cyipopt, "IPOPT_VERSION", None)
        return ".".join(map(str, v)) if isinstance(v, tuple) else "unknown"

    def solve(self, model, request: SolveRequest) -> SolveResult:
        from pyomo.opt import TerminationCondition as TC

        opts = {
            "print_level": 0,
            "tol": 1e-10,
            "constr_viol_tol": request.feas_tol,
            "max_wall_time": request.time_limit,
            "max_iter": 3000,
        }
        if has_user_scaling(model):  # the model's own (e.g. IDAES) scaling factors, as IDAES's ipopt_v2 uses them
            opts["nlp_scaling_method"] = "user-scaling"
        opts.update(request.solver_options)
        discrete = discrete_variables(model)
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
        status = ipopt_status(tc)
        obj = active_objective_value(model) if status.ok else None
        return SolveResult(status, objective=obj, message=str(r.solver.message))


def ipopt_status(tc) -> SolverStatus:
    """Ipopt's (``pyomo.opt``) termination condition -> our status."""
    from pyomo.opt import TerminationCondition as TC

    if tc in (TC.optimal, TC.locallyOptimal):
        return SolverStatus.LOCALLY_OPTIMAL
    if tc == TC.infeasible:  # (pyomo.opt has no locally/globallyInfeasible members)
        return SolverStatus.INFEASIBLE
    if tc in (TC.maxTimeLimit,):
        return SolverStatus.TIME_LIMIT
    return SolverStatus.ERROR


#: what :mod:`flexspace.solvers.registry` finds in this module (one file per solver)
BACKEND = IpoptBackend
