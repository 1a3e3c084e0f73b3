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
    extra = "solvers"
    requires = {"cyipopt": "cyipopt-wheels"}
    #: in the guard's child too: Ipopt checks its limit only between iterations, and one iteration
    #: of a large dense model took seconds (a 2000-variable NLP overran a 5 s limit by 4 s in
    #: process); the guard's cost was within noise (15 case 1 / case 2 indices: 1.4-1.9 s either way)
    guard = True
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

    @classmethod
    def warm_up(cls) -> None:
        """One tiny solve in this process, before the guard forks its first Ipopt child: the
        children inherit PyNumero's ASL and Ipopt loaded (else every fresh child loaded them
        again: measured 160 ms per child, +70 % on the model tests)."""
        m = pyo.ConcreteModel()
        m.x = pyo.Var(initialize=0.0)
        m.o = pyo.Objective(expr=(m.x - 1.0) ** 2)
        pyo.SolverFactory("cyipopt").solve(m, tee=False, options={"print_level": 0})

    @classmethod
    def unusable_reason(cls) -> str:
        from pyomo.contrib.pynumero.asl import AmplInterface

        if not AmplInterface.available():
            return pynumero_asl_missing()
        return super().unusable_reason()

    def solve(self, model, request: SolveRequest) -> SolveResult:
        """One Ipopt solve.  The time limit is kept by an iteration callback against the wall
        clock from here on (:class:`_Deadline`), so PyNumero's translation of the model counts
        too; Ipopt's own ``max_wall_time`` starts only with Ipopt and its stop is a status that
        Pyomo's cyipopt interface (6.10) does not know (it raised ``KeyError: b'Unknown
        status'``)."""
        from pyomo.opt import TerminationCondition as TC

        clock = _Deadline(request.time_limit)
        opts = {
            "print_level": 0,
            "tol": 1e-10,
            "constr_viol_tol": request.feas_tol,
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
        r = s.solve(model, tee=False, options=opts, load_solutions=True, intermediate_callback=clock)
        tc = r.solver.termination_condition
        if tc == TC.userInterrupt and clock.expired:
            return SolveResult(SolverStatus.TIME_LIMIT, message=f"Ipopt stopped at its time limit ({r.solver.message})")
        if tc == TC.userInterrupt:
            # Ipopt traps SIGINT itself and stops with "User_Requested_Stop": give the Ctrl-C back to
            # Python, so that a run stops (and a checkpoint keeps only finished points) instead of
            # recording this solve as a failure and carrying on
            raise KeyboardInterrupt("Ipopt was interrupted (SIGINT)")
        status = ipopt_status(tc)
        obj = active_objective_value(model) if status.ok else None
        return SolveResult(status, objective=obj, message=str(r.solver.message))


class _Deadline:
    """Ipopt's iteration callback: stop (return False) once ``seconds`` of wall clock have
    passed since it was made; ``expired`` tells that stop from a Ctrl-C."""

    def __init__(self, seconds: float):
        import time

        self._now = time.monotonic
        self.at = time.monotonic() + float(seconds)
        self.expired = False

    def __call__(self, *args) -> bool:
        if self._now() >= self.at:
            self.expired = True
        return not self.expired


def pynumero_asl_missing() -> str:
    """Why Ipopt is unusable when cyipopt imports but PyNumero's ASL library is missing: where
    Pyomo looked, and how to build the library (pip cannot install it)."""
    import os
    import sys

    from pyomo.common import envvar

    lib = os.path.join(envvar.PYOMO_CONFIG_DIR, "lib")
    return (f"cyipopt is installed, but PyNumero's ASL library libpynumero_ASL.so, through which Pyomo's cyipopt "
            f"interface evaluates the model, was not found: Pyomo looked in {lib} ($PYOMO_CONFIG_DIR/lib, default "
            "~/.pyomo/lib), then in LD_LIBRARY_PATH and PATH. pip cannot install it: build it from a source checkout "
            f"of flexspace with `bash scripts/build_pynumero_asl.sh {sys.executable}` (`make setup` runs it; it needs "
            "Debian's libamplsolver-dev, cmake and a C++ compiler: apt-get install libamplsolver-dev cmake g++), which "
            f"writes {os.path.join(lib, 'libpynumero_ASL.so')}; the other solvers do not need it")


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
