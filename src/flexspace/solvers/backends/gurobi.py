"""Gurobi (>= 12, global MINLP) through Pyomo's ``gurobi_direct_minlp`` (extra ``gurobi``).

The pip licence is size-limited, and Gurobi's nonlinear interface knows only some
functions (:func:`gurobi_unsupported`).  Objective targets: ``BestObjStop`` / ``BestBdStop``."""
from __future__ import annotations

from typing import List, Optional

import pyomo.environ as pyo

from ..status import SolveResult, SolverStatus, target_result
from ..util import abs_as_sqrt, finite, load_if_any
from .base import Backend, SolveRequest

#: unary functions Pyomo's gurobi_direct_minlp writer maps to gurobipy.nlfunc (Pyomo 6.10)
GUROBI_FUNCTIONS = frozenset({"exp", "log", "log10", "sin", "cos", "tan", "sqrt"})


class GurobiBackend(Backend):
    """Gurobi (>= 12): spatial branch and bound, so ``OPTIMAL`` is a global optimum within
    ``gap`` / ``abs_gap``.  Functions the interface cannot express, and models beyond the
    size-limited licence (Gurobi error 10010), come back as ERROR with a message saying so;
    they never raise."""

    name = "gurobi"
    order = 60  #: its row in ``flexspace solvers``
    pyomo_name = "gurobi_direct_minlp"
    is_global = True
    kind = "minlp"
    description = "Gurobi >= 12 (gurobipy, optional extra), global MINLP; pip licence is size-limited"
    extra = "gurobi"
    requires = {"gurobipy": "gurobipy"}
    guard = True
    supports_integers = True
    honours_targets = True

    @classmethod
    def version(cls):
        return gurobi_version()

    @classmethod
    def unusable_reason(cls) -> str:
        return gurobi_unusable() or super().unusable_reason()

    def solve(self, model, request: SolveRequest) -> SolveResult:
        with abs_as_sqrt(model):  # Pyomo's Gurobi writer handles abs() of a variable only
            return _solve(model, request)


def _solve(model, request: SolveRequest) -> SolveResult:
    import gurobipy
    from pyomo.contrib.solver.common.factory import SolverFactory as SF2
    from pyomo.contrib.solver.common.results import TerminationCondition as TC

    bad = gurobi_unsupported(model)
    if bad:
        return SolveResult(SolverStatus.ERROR, message=(
            "Gurobi's nonlinear interface (gurobi_direct_minlp) cannot express "
            + "; ".join(bad) + "; it supports + - * /, powers with a constant base or exponent, abs of a "
            f"variable and {', '.join(sorted(GUROBI_FUNCTIONS))}. Use another solver (maingo, scip, ipopt)."))
    sopts = {"OutputFlag": 0, "NonConvex": 2, "FeasibilityTol": min(max(request.feas_tol, 1e-9), 1e-2)}
    t = request.targets
    if t is not None:
        sopts.update({k: v for k, v in (("BestObjStop", t.point), ("BestBdStop", t.bound)) if v is not None})
    sopts.update(request.solver_options)

    def run(extra=None):
        opt = SF2("gurobi_direct_minlp")
        return opt.solve(model, time_limit=request.time_limit, rel_gap=request.gap, abs_gap=request.abs_gap,
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
    if tc == TC.objectiveLimit and t is not None:
        return target_result(model, t, request.feas_tol, load_if_any(r), finite(r.objective_bound),
                             f"Gurobi {tc.name}")
    if tc == TC.interrupted:
        # Gurobi traps SIGINT and stops: give the Ctrl-C back to Python (as for Ipopt)
        raise KeyboardInterrupt("Gurobi was interrupted (SIGINT)")
    status, msg = gurobi_status(r)
    if status.ok:
        r.solution_loader.load_vars()
    return SolveResult(status, objective=finite(r.incumbent_objective),
                       bound=finite(r.objective_bound), message=msg)


def gurobi_status(r) -> tuple:
    """A ``pyomo.contrib.solver`` result of Gurobi -> ``(status, message)``."""
    from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition as TC

    tc, sol = r.termination_condition, r.solution_status
    if tc == TC.convergenceCriteriaSatisfied and sol == SolutionStatus.optimal:
        return SolverStatus.OPTIMAL, "optimal (global, within the gap)"
    if tc == TC.provenInfeasible:
        return SolverStatus.INFEASIBLE, "proven infeasible"
    if tc == TC.maxTimeLimit:
        return SolverStatus.TIME_LIMIT, ("time limit: " + ("incumbent found, global optimality not proven"
                                                           if sol == SolutionStatus.feasible
                                                           else "no feasible point found"))
    if tc == TC.infeasibleOrUnbounded:
        return SolverStatus.ERROR, "Gurobi: infeasible or unbounded (not resolved)"
    if tc == TC.unbounded:
        return SolverStatus.ERROR, "Gurobi: unbounded"
    # node/iteration/solution limit, SUBOPTIMAL, NUMERIC, objective limit, unknown
    return SolverStatus.ERROR, f"Gurobi stopped without proving optimality: {tc.name}, solution {sol.name}"


def gurobi_version():
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


def gurobi_unusable() -> Optional[str]:
    """Why an importable gurobipy cannot be used (too old, no ``gurobi_direct_minlp`` in this
    Pyomo, no licence), with the fix; None when none of these applies."""
    import gurobipy

    ver = tuple(gurobipy.gurobi.version())
    if ver < (12, 0, 0):
        return (f"gurobipy {'.'.join(map(str, ver))} is too old: Pyomo's gurobi_direct_minlp needs Gurobi >= 12; "
                'upgrade it: pip install --upgrade "flexspace[gurobi]"')
    try:
        from pyomo.contrib.solver.common.factory import SolverFactory as SF2

        SF2("gurobi_direct_minlp")
    except Exception as exc:  # noqa: BLE001 - the reason is the message
        return (f"this Pyomo has no gurobi_direct_minlp interface ({type(exc).__name__}: {exc}); upgrade Pyomo: "
                "pip install --upgrade pyomo")
    try:
        env = gurobipy.Env(empty=True)
        env.setParam("OutputFlag", 0)
        env.start()
    except gurobipy.GurobiError as exc:
        return (f"Gurobi did not start: {exc} (check the licence file named by GRB_LICENSE_FILE or gurobi.lic; "
                "pip's gurobipy carries a size-limited licence that needs no file)")
    env.dispose()
    return None


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
            # abs() is solved as sqrt(e**2) (abs_as_sqrt)
            if not has_var or node.is_named_expression_type() or isinstance(node, plain + (AbsExpression,)):
                return has_var
            if isinstance(node, UnaryFunctionExpression):
                if node.getname() not in GUROBI_FUNCTIONS:
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


#: what :mod:`flexspace.solvers.registry` finds in this module (one file per solver)
BACKEND = GurobiBackend
