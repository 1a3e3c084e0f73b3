"""Helpers on Pyomo models shared by the solver backends and :class:`~.solver.Solver`: the
objective's sense and value, constraint violations, discrete variables, user scaling, abs()
rewritten for SCIP and Gurobi, loading an incumbent, and the quieting of Pyomo's logs for
the length of one solve (importing flexspace changes no logging state)."""
from __future__ import annotations

import contextlib
import logging
import math
from typing import List, Optional

import pyomo.environ as pyo


class _DropOutOfBoundsLoad(logging.Filter):
    """Solvers return values a hair outside variable bounds (within their feasibility
    tolerance); Pyomo's W1002 warning for loading them is noise: our results carry the status."""

    def filter(self, record):  # noqa: D401
        return getattr(record, "id", None) != "W1002"


@contextlib.contextmanager
def quiet_pyomo():
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


def objective_sense(model):
    """The sense of the active objective of ``model`` (minimise when it has none)."""
    for o in model.component_data_objects(pyo.Objective, active=True, descend_into=True):
        return o.sense
    return pyo.minimize


def finite(x) -> Optional[float]:
    """``x`` as a float, or None when it is not a finite number (MAiNGO reports an unknown
    bound as ±DBL_MAX)."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) and abs(x) < 1e300 else None


def active_objective_value(model) -> Optional[float]:
    """The value of the active objective at the model's current point (None if not finite)."""
    for o in model.component_data_objects(pyo.Objective, active=True, descend_into=True):
        return finite(pyo.value(o, exception=False))
    return None


def has_user_scaling(model) -> bool:
    """The model carries an active ``scaling_factor`` Suffix (IDAES's ``set_scaling_factor``,
    ``calculate_scaling_factors``): PyNumero hands its factors to Ipopt, and Ipopt uses them
    only with ``nlp_scaling_method = user-scaling`` (otherwise its gradient-based scaling
    silently replaces them).  A model transformed by ``core.scale_model`` has its suffixes
    deactivated, so it is not scaled twice."""
    return any(s.local_name == "scaling_factor"
               for s in model.component_data_objects(pyo.Suffix, active=True, descend_into=True))


def discrete_variables(model) -> List[str]:
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


def max_violation(model) -> float:
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


def load_if_any(r) -> bool:
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
def abs_as_sqrt(model):
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


@contextlib.contextmanager
def squares_of_sums_kept(model):
    """Each square ``(a·x + b)²`` of a linear expression with a constant or several variables,
    in the active constraints and objectives, written for one solve as ``u²`` with an auxiliary
    variable ``u = a·x + b`` (bounded by interval arithmetic); undone after it.

    For SCIP: PySCIPOpt's expressions are polynomials, so Pyomo's SCIP writer hands it the
    *expanded* square.  The flexibility problems' ellipsoid ``‖C⁻¹(θ − θ̄)‖² ≤ δ²`` then
    reaches SCIP as, for case 1, ``857 k1² − 532 k1 + 116364 k2² − 6202 k2 ≤ −161.5``: a
    constant far above δ² ≈ 3.8 and a gradient that cancels where the set meets its bounding
    box.  SCIP's dual bound stalled 6.6e-8 short of the optimum there (relative 3e-5, above the
    gap 1e-5) until every time limit (measured on 60 test subproblems of case 1, τ 380-520,
    R_BA 4-5.4, δ 1-2.5: 39 hit the 3 s limit; written with ``u``: all 60 solved in 1.6 s in
    all).  The same square, the same feasible set: only its form for the solver changes."""
    from pyomo.core.expr.numeric_expr import PowExpression
    from pyomo.core.expr.visitor import ExpressionReplacementVisitor

    aux = pyo.Block(concrete=True)
    aux.u = pyo.VarList()
    aux.u_def = pyo.ConstraintList()

    class _Rewrite(ExpressionReplacementVisitor):
        def exitNode(self, node, data):
            node = super().exitNode(node, data)
            if isinstance(node, PowExpression) and _square_of_sum(node):
                u = aux.u.add()
                lo, hi = _interval(node.args[0])
                u.setlb(lo)
                u.setub(hi)
                aux.u_def.add(u == node.args[0])
                return u ** 2
            return node

    changed = []
    for c in model.component_data_objects((pyo.Constraint, pyo.Objective), active=True, descend_into=True):
        e = c.expr
        if any(isinstance(n, PowExpression) and _square_of_sum(n) for n in _nodes(e)):
            changed.append((c, e))
            c.set_value(_Rewrite(remove_named_expressions=True).walk_expression(e))
    name = None
    if changed:
        from pyomo.common.modeling import unique_component_name

        name = unique_component_name(model, "_flexspace_squares")
        model.add_component(name, aux)
    try:
        yield
    finally:
        for c, e in changed:
            c.set_value(e)
        if name is not None:
            model.del_component(name)


def _square_of_sum(node) -> bool:
    """``node`` (a power) is the square of a linear expression with a constant or two or
    more variables (the squares a polynomial writer expands)."""
    from pyomo.repn.standard_repn import generate_standard_repn

    exponent = node.args[1]
    if not isinstance(exponent, (int, float)) or exponent != 2:
        return False
    base = node.args[0]
    if not getattr(base, "is_expression_type", lambda: False)():
        return False
    repn = generate_standard_repn(base, compute_values=True, quadratic=False)
    if not repn.is_linear() or not repn.linear_vars:
        return False
    return len(repn.linear_vars) >= 2 or repn.constant != 0


def _interval(e) -> tuple:
    """Bounds of ``e`` on its variables' bounds (None where unbounded)."""
    from pyomo.contrib.fbbt.fbbt import compute_bounds_on_expr

    lo, hi = compute_bounds_on_expr(e)
    lo = None if lo is None or not math.isfinite(lo) else float(lo)
    hi = None if hi is None or not math.isfinite(hi) else float(hi)
    return lo, hi


def _nodes(e):
    """Every node of an expression tree (depth first)."""
    stack = [e]
    while stack:
        n = stack.pop()
        yield n
        if hasattr(n, "args") and getattr(n, "is_expression_type", lambda: False)():
            stack.extend(a for a in n.args if not isinstance(a, (int, float)))


__all__ = ["quiet_pyomo", "objective_sense", "finite", "active_objective_value", "has_user_scaling",
           "discrete_variables", "max_violation", "load_if_any", "abs_as_sqrt", "squares_of_sums_kept"]
