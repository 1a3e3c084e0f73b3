"""Reading the user's Pyomo model and rewriting it on θ variables.

:func:`build_instance` makes the :class:`~flexspace.models.instance.ModelInstance` that
every formulation is written on: a clone of the user's model ``h(θp, x, θm) = 0`` (seed
Eq. 2) in which the θ components are replaced by plain ``Var`` objects, every equation and
inequality is rewritten on them (named ``Expression`` components substituted, so MAiNGO,
which rejects them, can read the result), θ-dependent variable bounds become constraints,
the user's constraint scaling factors are carried over, and the CQAs ``g_k ≤ 0`` (seed
Eq. 3) become expressions of θ and the states.  :class:`_Rewriter` does the substitution
and splits relations into ``lhs op rhs`` parts.
"""
from __future__ import annotations

import math
from typing import List

import numpy as np
import pyomo.environ as pyo
from pyomo.core.base.componentuid import ComponentUID
from pyomo.core.expr.relational_expr import EqualityExpression, InequalityExpression, RangedExpression
from pyomo.core.expr.visitor import identify_mutable_parameters, replace_expressions

from ..errors import InputTypeError, ValidationError
from . import bound_cqas
from .instance import ModelInstance, _has_variables

__all__ = ["build_instance", "cqa_expressions"]


class _Rewriter:
    """Substitutes the θ variables for the user's θ components in any expression
    (descending into named Expressions), and splits relations into ``lhs op rhs`` parts."""

    def __init__(self, sub: dict, theta_ids=()):
        self.sub = sub
        self.theta_ids = set(sub) | set(theta_ids)

    def _depends(self, e) -> bool:
        """True when ``e`` has a variable or a θ (so its value is not a constant)."""
        if isinstance(e, (int, float)):
            return False
        return _has_variables(e) or any(id(p) in self.theta_ids for p in identify_mutable_parameters(e))

    def __call__(self, e):
        if isinstance(e, (int, float)):
            return e
        return replace_expressions(e, substitution_map=self.sub, remove_named_expressions=True)

    def relation(self, expr, name: str) -> List[tuple]:
        """``(op, lhs, rhs)`` parts of a Pyomo relation, θ substituted on *both* sides
        (op ``"=="`` or ``"<="``; a ranged relation gives two ``"<="`` parts; a side
        without variables is a float)."""
        if isinstance(expr, EqualityExpression):
            pairs = [("==",) + tuple(expr.args)]
        elif isinstance(expr, InequalityExpression):
            pairs = [("<=",) + tuple(expr.args)]
        elif isinstance(expr, RangedExpression):
            a, b, c = expr.args
            same = a is c or (not self._depends(a) and not self._depends(c) and pyo.value(a) == pyo.value(c))
            # lo <= body <= lo is an equation (Pyomo's own reading: ConstraintData.equality)
            pairs = [("==", b, a)] if same else [("<=", a, b), ("<=", b, c)]
        else:
            raise InputTypeError(f"constraint {name!r}: expected a relation (==, <=, >= or a ranged inequality), "
                            f"got {type(expr).__name__}")
        out = []
        for op, lhs0, rhs0 in pairs:
            on_theta = self._depends(lhs0) or self._depends(rhs0)  # θ not yet substituted still counts
            lhs, rhs = self(lhs0), self(rhs0)
            lhs = lhs if _has_variables(lhs) else float(pyo.value(lhs))
            rhs = rhs if _has_variables(rhs) else float(pyo.value(rhs))
            if isinstance(lhs, float) and isinstance(rhs, float):
                if math.isinf(lhs) or math.isinf(rhs):
                    continue  # an infinite side of a ranged constraint: no constraint
                if on_theta:  # a CQA on θ alone: its parts are counted here, rewritten on θ by instance()
                    out.append((op, lhs, rhs))
                    continue
                raise ValidationError(f"constraint {name!r} involves no variable and no theta: {lhs} {op} {rhs}")
            if (isinstance(lhs, float) and math.isinf(lhs)) or (isinstance(rhs, float) and math.isinf(rhs)):
                continue
            out.append((op, lhs, rhs))
        return out

    def variable_bounds(self, proc, top) -> List[tuple]:
        """Variable bounds that are expressions of θ become constraints of ``top.h``
        (``x ≥ lb(θ)`` / ``x ≤ ub(θ)``); returns ``[(var, "lb"|"ub", expression of θ)]``.
        The variables keep a numeric outer bound (:meth:`ModelInstance.bound_states`)."""
        out = []
        for v in proc.component_data_objects(pyo.Var, descend_into=True):
            if v.fixed:
                continue
            for side in ("lb", "ub"):
                e = v.lower if side == "lb" else v.upper
                if e is None or isinstance(e, (int, float)):
                    continue
                if not any(id(p) in self.sub for p in identify_mutable_parameters(e)):
                    continue
                e = self(e)
                top.h.add(e - v <= 0 if side == "lb" else v - e <= 0)
                (v.setlb if side == "lb" else v.setub)(None)
                out.append((v, side, e))
        return out


def _carry_scaling(proc, top, pairs) -> None:
    """The user's constraint scaling factors (an active ``scaling_factor`` Suffix, e.g. IDAES's
    ``calculate_scaling_factors``) onto the rewritten constraints of ``h`` (``pairs``: original,
    rewritten): the originals are deactivated, so Ipopt (which reads the suffixes through
    PyNumero) would otherwise scale the variables only.  Variable factors stay where they are."""
    from pyomo.core.base.suffix import SuffixFinder

    if not any(s.local_name == "scaling_factor"
               for s in proc.component_data_objects(pyo.Suffix, active=True, descend_into=True)):
        return
    finder = SuffixFinder("scaling_factor", None, proc)
    found = [(new, finder.find(c)) for c, new in pairs]
    found = [(new, float(sf)) for new, sf in found if sf is not None]
    if found:
        top.scaling_factor = pyo.Suffix(direction=pyo.Suffix.EXPORT)
        for new, sf in found:
            top.scaling_factor[new] = sf


def _cqa_value(name: str, e):
    """What a CQA function returned must be g (a number or a Pyomo expression, feasible when
    g <= 0): a relation or anything else is refused (a relation would be read as its truth value)."""
    from pyomo.core.expr.expr_common import ExpressionType

    relational = hasattr(e, "is_expression_type") and e.is_expression_type(ExpressionType.RELATIONAL)
    if relational or isinstance(e, bool):
        raise ValidationError(f"CQA {name!r} returned a relation ({e}); return g, feasible when g <= 0 "
                              "(e.g. for m.cA <= 0.35 return m.cA - 0.35)")
    if not (isinstance(e, (int, float)) or hasattr(e, "is_potentially_variable")):
        raise ValidationError(f"CQA {name!r} returned {type(e).__name__} {e!r}; return a Pyomo expression g "
                              "(feasible when g <= 0)")
    return e


def build_instance(model) -> ModelInstance:
    """A fresh Pyomo model of ``model`` (a :class:`~flexspace.models.base.ProcessModel`) with
    θ as plain Vars and every equation rewritten on them.

    The rewrite is symbolic, never by value: θ (and any expression of θ) is replaced
    wherever Pyomo can hold it — either side of an equation or inequality (Pyomo stores
    a parameter-only side as the constraint's *bound*), ranged constraints, named
    ``Expression`` components, indexed Params, θ declared as fixed Vars, and variable
    bounds given as expressions of θ (those become constraints of ``h``; the variable
    keeps a numeric bound, see :meth:`ModelInstance.bound_states`)."""
    top = pyo.ConcreteModel(name=f"flexspace_{model.name}")
    top.process = model._template.clone()
    proc = top.process
    top.theta_p = pyo.Var(range(model.n_p), initialize=lambda m, i: float(model.theta_p_nominal[i]))
    top.theta_m = pyo.Var(range(model.n_m), initialize=lambda m, i: float(model.theta_m_nominal[i]))
    top.theta_p.fix()
    top.theta_m.fix()
    sub = {}
    for uid, v in zip(model._tp_uid + model._tm_uid, list(top.theta_p.values()) + list(top.theta_m.values())):
        c = uid.find_component_on(proc)
        if c is None:
            raise ValidationError(f"component {uid} not found on the model copy")
        if getattr(c, "ctype", None) is pyo.Var:
            c.fix()
        sub[id(c)] = v
    rewrite = _Rewriter(sub)
    g_exprs = cqa_expressions(model, proc, rewrite)  # before the constraints that define them are deactivated
    top.h = pyo.ConstraintList()
    domain: List[tuple] = []
    pairs = []
    for c in list(proc.component_data_objects(pyo.Constraint, active=True, descend_into=True)):
        for op, lhs, rhs in rewrite.relation(c.expr, c.name):
            pairs.append((c, top.h.add(lhs == rhs if op == "==" else lhs <= rhs)))
            if op == "<=":
                domain.append((f"constraint {c.name}", lhs - rhs))
        c.deactivate()
    _carry_scaling(proc, top, pairs)
    for o in proc.component_data_objects(pyo.Objective, active=True, descend_into=True):
        o.deactivate()
    theta_bounds = rewrite.variable_bounds(proc, top)
    inst = ModelInstance(top, list(top.theta_p.values()), list(top.theta_m.values()), g_exprs,
                         list(model.g_names))
    inst.theta_bounds = theta_bounds
    # g ≤ C in the states' FBBT only with controls: ψ_C ≥ ψ there; without controls the cap would
    # cut θ with ψ > C out of the problem while the derived bounds are not domain edges
    inst.cqa_cap = getattr(model, "test_cap", None) if model._z_uid else None
    inst.controls = [u.find_component_on(proc) for u in model._z_uid]
    for v, (lo, hi) in zip(inst.controls, getattr(model, "control_bounds", ())):
        v.setlb(None if np.isnan(lo) else float(lo))
        v.setub(None if np.isnan(hi) else float(hi))
    dependent = [(f"bound {v.name} {'>=' if side == 'lb' else '<='} (theta expression)",
                  e - v if side == "lb" else v - e) for v, side, e in theta_bounds]
    inst.domain = domain + dependent + inst.bound_domain()
    return inst


def cqa_expressions(model, proc, rewrite) -> List:
    """g_k of ``model`` as expressions of the θ variables on ``proc`` (the clone being
    rewritten); a ranged CQA constraint gives two, named ``name.lower`` and ``name.upper``
    (see :func:`flexspace.models.inputs._expand_cqas`)."""
    out = []
    for name, spec in zip(model.g_names, model._g_spec):
        if isinstance(spec, bound_cqas.BoundCQA):
            out.append(bound_cqas.cqa_expression(spec, proc, rewrite, model.bound_cqa_margin))
        elif isinstance(spec, tuple):  # (uid, part) of a CQA constraint
            uid, part = spec
            c = uid.find_component_on(proc)
            op, lhs, rhs = rewrite.relation(c.expr, c.name)[part]
            out.append(lhs - rhs)
            c.deactivate()
        elif isinstance(spec, ComponentUID):
            c = spec.find_component_on(proc)
            out.append(rewrite(c.expr if hasattr(c, "expr") else c))
        else:
            out.append(rewrite(_cqa_value(name, spec(proc))))
    return out
