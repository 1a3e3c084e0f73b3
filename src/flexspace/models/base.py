"""Plug-in process models: a user's Pyomo model plus which components are θp, θm and g.

A :class:`ProcessModel` is what every flexspace algorithm consumes.  It holds

* a private clone of the user's Pyomo model ``h(θp, x, θm) = 0`` (seed Eq. 2),
* which components are the process parameters θp and the uncertain parameters θm
  (mutable ``Param`` or ``Var``; scalar or indexed),
* which expressions are the CQA constraints ``g_k(θp, x, θm) ≤ 0`` (seed Eq. 3;
  feasible means ``g ≤ 0``): a named ``Expression``, a ``Constraint`` (``body ≤ ub``
  gives ``g = body − ub``, ``body ≥ lb`` gives ``g = lb − body``) or a callable
  ``f(m) -> expression``,
* the distribution of θm (nominal θ̄m and covariance Σ), θp nominal and bounds,
* optionally a vectorised numpy simulator for fast Monte Carlo.

The constructor checks, with IDAES's ``degrees_of_freedom``, that the model is square
once θp and θm are fixed, and refuses one that is not (with the counts).

:meth:`ProcessModel.instance` builds a fresh Pyomo model on which the formulations of
:mod:`flexspace.formulations` are written: θp and θm become plain ``Var`` objects
(``inst.theta_p``, ``inst.theta_m``), every equation of the user's model is rewritten
on them with named expressions substituted (so MAiNGO, which rejects named
``Expression`` components, can read it), and ``inst.g`` holds one expression per CQA.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import io
import json
import math
import logging
import warnings
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import pyomo.environ as pyo
from pyomo.core.base.component import ComponentData
from pyomo.core.expr.relational_expr import EqualityExpression, InequalityExpression, RangedExpression
from pyomo.core.expr.visitor import identify_mutable_parameters, identify_variables, replace_expressions
from pyomo.core.base.componentuid import ComponentUID

from ..validation import as_vector as _as_vector
from ..errors import InputTypeError
from ..validation import ValidationError, as_array, check_number, validate_covariance
from . import bound_cqas

__all__ = ["ProcessModel", "ModelInstance", "NotSquareError"]

Simulator = Callable[[np.ndarray, np.ndarray], np.ndarray]


class NotSquareError(ValidationError):
    """The model does not have zero degrees of freedom once θp and θm are fixed."""


def _expand(components, what: str, prefix: Optional[str] = None) -> Dict[str, object]:
    """Turn a dict / list / single component (scalar or indexed) into {name: data object};
    unnamed callables are called ``prefix0``, ``prefix1``, … (default ``what``)."""
    if components is None:
        raise ValidationError(f"{what} must be given ({_expected(what)})")
    if isinstance(components, str):
        raise ValidationError(f"{what}: {components!r} is a string; pass the component itself (e.g. m.{components}), "
                              f"not its name ({_expected(what)})")
    if isinstance(components, Mapping):
        items = list(components.items())
    else:
        if not isinstance(components, (list, tuple)):
            components = [components]
        items = [(None, c) for c in components]
    out: Dict[str, object] = {}
    for name, c in items:
        is_expr = getattr(c, "is_expression_type", None)
        if not isinstance(c, (ComponentData, pyo.Component)) and is_expr is not None and is_expr():
            raise InputTypeError(
                f"{what}: a bare expression ({c}) cannot be located in the copies flexspace makes; "
                "wrap it in a named pyo.Expression on the model, or pass a callable f(m) returning it.")
        if callable(c) and not isinstance(c, (ComponentData, pyo.Component)):
            _add_unique(out, name or f"{prefix or what}{len(out)}", c, what)
            continue
        if not isinstance(c, (ComponentData, pyo.Component)):
            raise InputTypeError(
                f"{what}: {c!r} is not a Pyomo component. Pass model components (e.g. m.k1, or an "
                "indexed m.k), a named Expression/Constraint, or a callable f(m) returning an expression "
                "(a bare expression cannot be located in the copies flexspace makes)."
            )
        if c.is_indexed():
            for idx, cd in c.items():
                _add_unique(out, f"{name}[{idx}]" if name else cd.name, cd, what)
        else:
            _add_unique(out, name or c.name, c, what)
    return out


_EXPECTED = {
    "theta_p": "the process parameters: mutable Params or Vars of the model, e.g. {'tau': m.tau}",
    "theta_m": "the uncertain parameters: mutable Params or Vars of the model, e.g. {'k': m.k}",
    "constraints": "the CQAs g_k <= 0: Constraints, Expressions or callables f(m) of the model",
}


def _expected(what: str) -> str:
    return _EXPECTED.get(what, "Pyomo components of the model")


def _check_owned(model, comps: Dict[str, object], what: str) -> None:
    """Every component must live in ``model`` (a component of another model would be looked
    up by name in the copies flexspace makes, silently or not at all)."""
    for nm, c in comps.items():
        if not isinstance(c, (ComponentData, pyo.Component)):
            continue
        b = c.parent_block()
        while b is not None and b is not model:
            b = b.parent_block()
        if b is None:
            raise ValidationError(f"{what} {nm!r}: component {c.name!r} is not a component of this model "
                                  "(it belongs to another Pyomo model); pass the component of the model you give")


def _current_values(comps: Dict[str, object], what: str) -> np.ndarray:
    """The components' current values; one without a value is named with the fix."""
    vals = []
    for nm, c in comps.items():
        v = pyo.value(c, exception=False)
        if v is None:
            raise ValidationError(f"{what} {nm!r} has no value: initialise it (initialize=...) or pass "
                                  f"{what}_nominal=[...]")
        vals.append(v)
    return np.array(vals, dtype=float)


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


def units_text(component) -> str:
    """The Pyomo units of a θ component as text, e.g. ``"m**3"``; "" when it has none (or a
    mutable Param without units) or Pyomo cannot read them."""
    try:
        u = pyo.units.get_units(component)
    except Exception:  # noqa: BLE001 - units are a label here, never a refusal
        return ""
    text = "" if u is None else str(u)
    return "" if text in ("dimensionless", "None") else text


def _add_unique(out: Dict[str, object], name: str, c, what: str) -> None:
    if name in out:
        raise ValidationError(f"{what}: two entries are named {name!r} (an automatic name like 'g0' can collide with one "
                         "you gave); pass a dict with distinct names")
    out[name] = c


def _check_distinct(tp: Dict[str, object], tm: Dict[str, object]) -> None:
    """A component (or name) may be θp or θm, once: a duplicate would silently drop one role."""
    seen: Dict[int, str] = {}
    for role, comps in (("theta_p", tp), ("theta_m", tm)):
        for nm, c in comps.items():
            if id(c) in seen:
                raise ValidationError(f"{role} {nm!r} is the same component as {seen[id(c)]}: a parameter is either a "
                                 "process parameter (theta_p) or an uncertain one (theta_m), not both or twice")
            seen[id(c)] = f"{role} {nm!r}"
    both = sorted(set(tp) & set(tm))
    if both:
        raise ValidationError(f"theta_p and theta_m share the names {both}; give each parameter a distinct name")


def _expand_cqas(model, gs: Dict[str, object], theta_ids=()) -> Dict[str, object]:
    """CQA specs: a Constraint becomes ``(uid, part)`` (a ranged one gives ``name.lower`` and
    ``name.upper``); an Expression a ComponentUID; a callable stays.  Equalities are refused."""
    out: Dict[str, object] = {}
    for nm, c in gs.items():
        if isinstance(c, (ComponentData, pyo.Component)) and getattr(c, "ctype", None) is pyo.Constraint:
            e = c.expr
            if isinstance(e, EqualityExpression):
                raise ValidationError(f"CQA {nm!r} is an equality; a CQA must be an inequality g <= 0 (an equation "
                                 "belongs to the model h = 0)")
            parts = _Rewriter({}, theta_ids).relation(e, nm)
            if len(parts) == 1:
                _add_unique(out, nm, (ComponentUID(c), 0), "constraints")
            else:
                for i, side in enumerate(("lower", "upper")):
                    _add_unique(out, f"{nm}.{side}", (ComponentUID(c), i), "constraints")
        elif callable(c) and not isinstance(c, (ComponentData, pyo.Component)):
            _check_cqa_signature(nm, c, model)
            _add_unique(out, nm, c, "constraints")
        else:
            _add_unique(out, nm, ComponentUID(c), "constraints")
    return out


def _check_cqa_signature(name: str, f, model) -> None:
    """A CQA callable is called as ``f(m)``; a different signature is refused here rather
    than failing inside the first solve."""
    try:
        inspect.signature(f).bind(model)
    except TypeError:
        raise ValidationError(f"CQA {name!r}: the callable must take the model as its one argument, f(m) -> g "
                              f"(e.g. lambda m: m.cA - 0.35); its signature is {inspect.signature(f)}") from None
    except ValueError:  # builtins without a signature: called as they are
        return


def _has_variables(e) -> bool:
    if isinstance(e, (int, float)):
        return False
    return any(True for _ in identify_variables(e, include_fixed=True))


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


def _theta_p_bounds(bounds, names: List[str], nominal: np.ndarray) -> Optional[np.ndarray]:
    """``theta_p_bounds`` validated: (n_p, 2), finite, lo < hi, the nominal point inside."""
    if bounds is None:
        return None
    if isinstance(bounds, Mapping):
        raise ValidationError("theta_p_bounds must be a sequence of (lo, hi) pairs in the order of theta_p "
                              f"({names}), got a mapping")
    b = as_array("theta_p_bounds", bounds)
    if b.shape != (len(names), 2):
        raise ValidationError(f"theta_p_bounds must have shape ({len(names)}, 2), got {b.shape}")
    if not np.all(np.isfinite(b)):
        raise ValidationError(f"theta_p_bounds contains NaN or inf: {b.tolist()}; give finite (lo, hi) pairs")
    if np.any(b[:, 0] >= b[:, 1]):
        raise ValidationError(f"theta_p_bounds needs lo < hi in every row, got {b.tolist()}")
    out = np.flatnonzero((nominal < b[:, 0]) | (nominal > b[:, 1]))
    if out.size:
        bad = ", ".join(f"{names[i]}={nominal[i]:g} not in [{b[i, 0]:g}, {b[i, 1]:g}]" for i in out)
        raise ValidationError(f"theta_p_nominal is outside theta_p_bounds ({bad}); give a nominal point inside "
                              "the bounds (theta_p_nominal=...) or widen theta_p_bounds")
    return b


def _check_theta(name: str, c) -> None:
    if isinstance(c, pyo.Var) or getattr(c, "ctype", None) is pyo.Var:
        return
    if getattr(c, "ctype", None) is pyo.Param:
        if not c.parent_component().mutable:
            raise InputTypeError(f"{name}: Param {c.name!r} is not mutable; declare it with mutable=True")
        return
    raise InputTypeError(f"{name}: {getattr(c, 'name', c)!r} must be a mutable Param or a Var")


@dataclass
class ModelInstance:
    """A fresh Pyomo model of the process, written on plain θ variables.

    ``model.process`` is the clone of the user's model (its own equations
    deactivated), ``model.h`` the rewritten equations, ``theta_p``/``theta_m`` lists of
    ``VarData`` and ``g`` a list of expressions (feasible ⇔ ``g ≤ 0``).

    ``domain`` lists ``(name, d)`` with ``d ≤ 0`` holding at every solution: the model's
    inequalities and the states' bounds.  The model's *domain* at θ is where
    ``h(θp, x, θm) = 0`` has a solution inside them (seed Alg. 1 counts a sample outside it
    infeasible); :mod:`flexspace.formulations.domain` proves where it ends."""

    model: pyo.ConcreteModel
    theta_p: List
    theta_m: List
    g: List
    g_names: List[str]
    theta_bounds: List[tuple] = field(default_factory=list)  #: (var, "lb"|"ub", bound expression of θ)
    domain: List[tuple] = field(default_factory=list)
    _states: Optional[List] = field(default=None, repr=False)
    _unbounded: Optional[List] = field(default=None, repr=False)
    controls: List = field(default_factory=list)  #: the control variables z (recourse), VarData
    #: C: FBBT of the states may use every CQA ≤ C (valid wherever ψ ≤ C; the analyses cap
    #: test values at C: :mod:`flexspace.models.bound_cqas`); None: h alone
    cqa_cap: Optional[float] = None

    def set_theta(self, theta_p=None, theta_m=None, fix: bool = True) -> None:
        for vs, vals in ((self.theta_p, theta_p), (self.theta_m, theta_m)):
            if vals is None:
                continue
            for v, x in zip(vs, np.asarray(vals, float)):
                if fix:
                    v.fix(float(x))
                else:
                    v.set_value(float(x))

    def solve_square(self, solver):
        """Solve h = 0 for the states at the current (fixed) θ with the model's constant
        objective active; a model without states (e.g. explicit g(θ)) needs no solve."""
        from ..solvers import SolveResult, SolverStatus

        if not self.state_vars():
            worst = max((pyo.value(d) for _, d in self.domain), default=-1.0)
            if worst > 1e-9:  # an inequality of the model on θ alone is violated: outside the domain
                return SolveResult(SolverStatus.INFEASIBLE, message=f"a model inequality is violated by {worst:.3g}")
            return SolveResult(SolverStatus.OPTIMAL, message="no state variables: nothing to solve")
        return solver.solve(self.model)

    def g_values(self) -> np.ndarray:
        return np.array([pyo.value(e) for e in self.g], dtype=float)

    def state_vars(self) -> List:
        """Unfixed variables appearing in the model equations or the CQAs (the states x)."""
        if self._states is None:
            seen, out = set(), []
            theta_ids = {id(v) for v in self.theta_p + self.theta_m + self.controls}
            exprs = [c.body for c in self.model.h.values()] + list(self.g)
            for e in exprs:
                for v in identify_variables(e, include_fixed=False):
                    if id(v) not in seen and id(v) not in theta_ids:
                        seen.add(id(v))
                        out.append(v)
            self._states = out
        return self._states

    def bound_domain(self) -> List[tuple]:
        """``(name, d)`` for every finite numeric bound of a state: ``x − ub`` and ``lb − x``
        (θ-dependent bounds are constraints of ``h`` and already in :attr:`domain`)."""
        dependent = {(id(v), side) for v, side, _ in self.theta_bounds}
        out = []
        for v in self.state_vars():
            if v.ub is not None and (id(v), "ub") not in dependent:
                out.append((f"bound {v.name} <= {v.ub:g}", v - float(v.ub)))
            if v.lb is not None and (id(v), "lb") not in dependent:
                out.append((f"bound {v.name} >= {v.lb:g}", float(v.lb) - v))
        return out

    def bound_states(self) -> None:
        """Numeric bounds implied by the θ variables' current bounds (a θ variable without
        both bounds counts at its current value), for the states that need them: a
        θ-dependent bound ``x ≤ ub(θ)`` gives ``x ≤ max ub`` over the θ box (interval
        arithmetic), and a state the user left unbounded gets the bounds FBBT derives from
        h.  Both are relaxations (every solution satisfies them).  Call it whenever θp or
        the θ bounds change: the derived bounds are valid only for them."""
        from pyomo.contrib.fbbt.fbbt import compute_bounds_on_expr

        if self._unbounded is None:
            self._unbounded = [(v, v.lb is None, v.ub is None) for v in self.state_vars()
                               if v.lb is None or v.ub is None]
        if not self.theta_bounds and not self._unbounded:
            return
        free = [v for v in self.theta_p + self.theta_m if v.fixed and v.lb is not None and v.ub is not None]
        for v in free:
            v.unfix()
        try:
            for v, side, e in self.theta_bounds:
                lo, hi = compute_bounds_on_expr(e)
                (v.setlb if side == "lb" else v.setub)(lo if side == "lb" else hi)
            if self._unbounded:
                for v, no_lb, no_ub in self._unbounded:
                    v.setlb(None if no_lb else v.lb)
                    v.setub(None if no_ub else v.ub)
                keep = [(v, v.lb, v.ub) for v in self.state_vars() + self.theta_p + self.theta_m + self.controls]
                capped = self._cap_cqas()
                try:
                    self._fbbt_missing(keep)
                finally:
                    for c in capped:
                        c.deactivate()
        finally:
            for v in free:
                v.fix()

    def _fbbt_missing(self, keep) -> None:
        """FBBT over h for the states' missing bounds only (``keep``: every bound before)."""
        try:
            fbbt_h(self)
        except Exception:  # noqa: BLE001 - FBBT could not bound h here: the missing bounds stay missing
            for v, no_lb, no_ub in self._unbounded:
                v.setlb(None if no_lb else v.lb)
                v.setub(None if no_ub else v.ub)
        # θ keeps its box and the controls their range: FBBT here (with g ≤ C) tightens them for
        # this θ only, and the inner problems reuse the instance at other θ
        restore = {id(v) for v in self.theta_p + self.theta_m + self.controls}
        for v, lb, ub in keep:  # only the states' missing bounds come from FBBT
            if lb is not None or id(v) in restore:
                v.setlb(lb)
            if ub is not None or id(v) in restore:
                v.setub(ub)
        _pad_derived(self._unbounded)

    def _cap_cqas(self) -> List:
        """With :attr:`cqa_cap` C: temporary constraints g_k ≤ C for FBBT (deactivated after)."""
        if self.cqa_cap is None:
            return []
        m = self.model
        if not hasattr(m, "_cqa_cap"):
            m._cqa_cap = pyo.ConstraintList()
            for g in self.g:
                if _has_variables(g):
                    m._cqa_cap.add(g <= self.cqa_cap)
        for c in m._cqa_cap.values():
            c.activate()
        return list(m._cqa_cap.values())


#: An FBBT-derived interval narrower than this (relative) is widened to it: at a fixed θ FBBT
#: pins an explicit state to [x, x] up to round-off, which MAiNGO then called infeasible
#: (measured: x·fh1 = 1 with x unbounded, fh1 = 1.4; widened by 1e-9 still infeasible, by 1e-7
#: solved).  A wider bound is still a relaxation; intervals wider than this are left alone.
FBBT_PAD = 1e-7


def _pad_derived(unbounded) -> None:
    for v, no_lb, no_ub in unbounded:
        lb, ub = v.lb, v.ub
        if lb is None or ub is None:
            continue
        pad = FBBT_PAD * max(1.0, abs(lb), abs(ub))
        if ub - lb >= pad:
            continue
        if no_lb:
            v.setlb(lb - pad)
        if no_ub:
            v.setub(ub + pad)


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


#: FBBT's feasibility tolerance (Pyomo's default).  A constraint on which FBBT reports
#: infeasibility is skipped for that pass with its variables' bounds restored (see fbbt_h).
FBBT_FEASIBILITY_TOL = 1e-8


def fbbt_h(inst, passes: int = 3) -> None:
    """Feasibility-based bound tightening over the equations of ``h`` alone (a few passes).
    Bounds only ever tighten to a relaxation of h's solutions.  A constraint on which FBBT
    declares infeasibility is *skipped* (its variables' bounds restored), not trusted: on a
    scaled IDAES enthalpy equation (0 == 1e-4·(1e4·h − poly(100·T)), a degree-5 polynomial near
    1e14) round-off alone made Pyomo's FBBT call a fixed T infeasible (measured on the IDAES HX
    flowsheet).  So this never proves h infeasible; callers treat bounds as inconclusive."""
    from pyomo.common.errors import InfeasibleConstraintException
    from pyomo.contrib.fbbt.fbbt import fbbt

    cons = [c for c in inst.model.h.values() if c.active]
    if hasattr(inst.model, "_cqa_cap"):
        cons += [c for c in inst.model._cqa_cap.values() if c.active]
    for _ in range(passes):
        for c in cons:
            saved = [(v, v.lb, v.ub) for v in identify_variables(c.body, include_fixed=False)]
            try:
                fbbt(c, deactivate_satisfied_constraints=False, feasibility_tol=FBBT_FEASIBILITY_TOL)
            except (InfeasibleConstraintException, ValueError, ArithmeticError):
                for v, lb, ub in saved:
                    v.setlb(lb)
                    v.setub(ub)


class ProcessModel:
    """A user's Pyomo model made into a flexspace model.

    Parameters
    ----------
    model : a Pyomo ``ConcreteModel`` of ``h(θp, x, θm) = 0`` (square once θ fixed).
    theta_p : process parameters θp: components (mutable Params or Vars) as a list, a
        ``{name: component}`` dict, or an indexed component.
    theta_m : uncertain model parameters θm, same forms.
    constraints : CQA constraints ``g_k ≤ 0``: ``{name: Expression | Constraint | f(m)}``
        or a list of them.
    theta_m_nominal : θ̄m; default: the components' current values.
    covariance : Σ of θm (symmetric positive definite; refused otherwise).
    theta_p_nominal : θ̄p; default: the components' current values.
    theta_p_bounds : ``[(lo, hi), ...]`` range of θp for maps and bisection.
    simulator : optional vectorised ``f(theta_p (n_p,), theta_m (N, n_m)) -> g (N, K)``;
        a row of NaN marks a sample whose simulation failed.
    name, description : labels; ``sources``: where the defaults come from.
    check_square : run the IDAES degrees-of-freedom check (default True).
    delta_max : default cap on δ (σ units) for analyses of this model (default 6).
        Choose it so that set(δ_max) stays where the model is defined: e.g. case 2's
        k4 is 5.93 σ from zero, so its box at δ = 6 contains k4 ≤ 0 and the simulator
        cannot certify such points (case 2 ships 5.5).
    domain_everywhere : the model declares that h = 0 has a solution for *every* θ (e.g.
        an OMLT surrogate embedding, exact for every input inside its bounds).  Default
        False: global solvers then prove that each set lies in the model's domain
        (:mod:`flexspace.formulations.domain`); with True that proof is skipped and the
        result's ``domain`` says it was declared.
    grid_shape : default points per θp axis of a map over ``theta_p_bounds`` (default 11
        per axis).
    factory : a picklable zero-argument callable that rebuilds this model (e.g.
        ``functools.partial(my_module.make_model, ...)``); worker processes use it when the
        model itself does not pickle.  The shipped cases set it.
    controls : control variables z (recourse), keyword only: Vars of the model with finite
        numeric bounds, same forms as ``theta_p``.  Operators set them once θ is known: a
        θ is feasible when some z in its bounds makes every g ≤ 0.  The model must be square
        once θp, θm *and* z are fixed.  Analysed by
        :class:`flexspace.formulations.recourse.RecourseAnalysis`.
    controls_linear : optional ``f(theta_p (n_p,), theta_m (N, n_m)) -> (a (N, K), B (N, K, n_z))``
        with ``g = a + B z`` (a model linear in z): Monte Carlo with recourse is then
        vectorised (closed form for one control, one LP per sample otherwise).
    """

    def __init__(
        self,
        model: pyo.Block,
        theta_p,
        theta_m,
        constraints,
        covariance,
        theta_m_nominal=None,
        theta_p_nominal=None,
        theta_p_bounds=None,
        simulator: Optional[Simulator] = None,
        name: str = "model",
        description: str = "",
        sources: str = "",
        check_square: bool = True,
        delta_max: float = 6.0,
        domain_everywhere: bool = False,
        *,
        grid_shape: Optional[Sequence[int]] = None,
        factory: Optional[Callable[[], "ProcessModel"]] = None,
        controls=None, controls_linear=None,
        bounds_as_cqas=False, bound_cqa_margin: float = bound_cqas.BOUND_CQA_MARGIN,
    ):
        if not isinstance(model, pyo.Block):
            raise ValidationError(f"model must be a Pyomo ConcreteModel (or Block) of the process, got "
                                  f"{type(model).__name__}")
        tp = _expand(theta_p, "theta_p")
        tm = _expand(theta_m, "theta_m")
        for nm, c in list(tp.items()) + list(tm.items()):
            _check_theta(nm, c)
        _check_distinct(tp, tm)
        gs = _expand(constraints, "constraints", prefix="g")
        for what, comps in (("theta_m", tm), ("constraints", gs)):
            if not comps and not (what == "constraints" and bounds_as_cqas):
                raise ValidationError(f"{what} is empty: give at least one ({_expected(what)})")
            _check_owned(model, comps, what)
        gs = _expand_cqas(model, gs, {id(c) for c in list(tp.values()) + list(tm.values())})
        self.name = name
        self.description = description
        self.sources = sources
        self.theta_p_names = list(tp)
        self.theta_m_names = list(tm)
        #: units of each θp / θm as Pyomo states them ("" for none): θ and Σ are in these units
        self.theta_p_units, self.theta_m_units = [units_text(c) for c in tp.values()], [units_text(c) for c in tm.values()]
        self.bound_cqa_margin = bound_cqas.check_margin(bound_cqa_margin)
        self._bound_cqas = bound_cqas.collect(model, bounds_as_cqas, {id(c) for c in list(tp.values()) + list(tm.values())})
        for b in self._bound_cqas:
            _add_unique(gs, b.name, b, "constraints")
        if not gs:
            raise ValidationError(f"constraints is empty and bounds_as_cqas found no bounds: give at least one CQA "
                                  f"({_expected('constraints')})")
        self.g_names = list(gs)
        self._template = model.clone()
        cuid = lambda c: ComponentUID(c)  # noqa: E731
        self._tp_uid = [cuid(c) for c in tp.values()]
        self._tm_uid = [cuid(c) for c in tm.values()]
        self._g_spec = list(gs.values())
        cur = _current_values
        self.theta_m_nominal = _as_vector("theta_m_nominal",
                                          cur(tm, "theta_m") if theta_m_nominal is None else theta_m_nominal, len(tm))
        self.covariance = validate_covariance(covariance, len(tm))
        self.theta_p_nominal = _as_vector("theta_p_nominal",
                                          cur(tp, "theta_p") if theta_p_nominal is None else theta_p_nominal, len(tp))
        self.theta_p_bounds = _theta_p_bounds(theta_p_bounds, self.theta_p_names, self.theta_p_nominal)
        self._set_analysis_fields(delta_max, domain_everywhere, simulator, grid_shape, factory, len(tp))
        self.simulator = simulator
        self._set_controls(model, controls, controls_linear, tp, tm)
        if check_square:
            self.check_square()
        self._check_cqas_depend()

    def _set_analysis_fields(self, delta_max, domain_everywhere, simulator, grid_shape, factory, n_p) -> None:
        """Validate and keep the fields the analyses read (δ_max, domain flag, simulator,
        grid shape, factory)."""
        self.delta_max = check_number("delta_max", delta_max, low=0, low_open=True, hint="sigma units, e.g. 6")
        if not isinstance(domain_everywhere, bool):
            raise ValidationError(f"domain_everywhere must be True or False, got {domain_everywhere!r}")
        self.domain_everywhere = domain_everywhere
        if simulator is not None and not callable(simulator):
            raise ValidationError(f"simulator must be a function f(theta_p, theta_m) -> g, got {simulator!r}")
        self.grid_shape = None if grid_shape is None else tuple(
            check_number("grid_shape", n, integer=True, low=1) for n in np.atleast_1d(np.asarray(grid_shape, object)))
        if self.grid_shape is not None and (len(self.grid_shape) != n_p or min(self.grid_shape) < 1):
            raise ValidationError(f"grid_shape must give a positive number of points for each of the {n_p} "
                             f"process parameters, got {grid_shape!r}")
        if factory is not None and not callable(factory):
            raise ValidationError(f"factory must be a zero-argument callable returning the model, got {factory!r}")
        self.factory = factory

    def _check_cqas_depend(self) -> None:
        """Warn about a CQA that depends on no state and no θ (it is a constant) and about a θ
        that the model never uses symbolically (its value may have been copied, e.g. into
        another Param's ``initialize``, and would stay frozen); refuse untransformed GDP
        Disjuncts."""
        from pyomo.gdp import Disjunct

        if any(True for _ in self._template.component_data_objects(Disjunct, active=True, descend_into=True)):
            raise ValidationError(f"model {self.name!r} has active Disjuncts: apply a GDP transformation (e.g. "
                             "pyo.TransformationFactory('gdp.bigm').apply_to(m)) before passing it")
        inst = self.instance()
        used = set()
        for e in [c.body for c in inst.model.h.values()] + [e for e in inst.g if not isinstance(e, (int, float))]:
            used.update(id(v) for v in identify_variables(e, include_fixed=True))
        unused = [n for n, v in zip(self.theta_p_names + self.theta_m_names, inst.theta_p + inst.theta_m)
                  if id(v) not in used]
        if unused:  # a warning, not an error: a θp that the CQAs do not depend on is legitimate
            warnings.warn(f"theta {unused} appear in no equation, bound or CQA of model {self.name!r}: if their value "
                          "was copied (e.g. Param(initialize=m.theta) or pyo.value(m.theta) in a rule) it stays frozen "
                          "at the nominal. Use the theta component itself in the expressions", stacklevel=3)
        for nm, e in zip(self.g_names, inst.g):
            if not _has_variables(e):
                warnings.warn(f"CQA {nm!r} depends on no state and no theta (it is the constant {pyo.value(e):g}); "
                              "check that it is written on the model's variables", stacklevel=3)

    # ------------------------------------------------------------------ sizes
    @property
    def n_p(self) -> int:
        return len(self.theta_p_names)

    @property
    def n_m(self) -> int:
        return len(self.theta_m_names)

    @property
    def n_g(self) -> int:
        return len(self.g_names)

    @property
    def bound_cqa_names(self) -> List[str]:
        """The CQAs made of variable bounds (``bounds_as_cqas``), ``"<var>.lb"`` / ``"<var>.ub"``,
        in ``g_names`` order: every result's per-CQA rows carry these names."""
        return [b.name for b in self._bound_cqas]

    @property
    def n_z(self) -> int:
        """Number of control variables (0: no recourse)."""
        return len(self.control_names)

    def _set_controls(self, model, controls, controls_linear, tp, tm) -> None:
        """Validate and keep the controls z (:func:`flexspace.models.controls.expand_controls`):
        names, bounds (n_z, 2), where they live in the copies, and the optional linear data
        ``controls_linear(theta_p, theta_m) -> (a (N, K), B (N, K, n_z))`` with g = a + B z."""
        from .controls import expand_controls

        zs = {} if controls is None else _expand(controls, "controls")
        _check_owned(model, zs, "controls")  # another model's z must not map to this one's by name
        ids = {id(c): f"theta_p {n!r}" for n, c in tp.items()}
        ids.update({id(c): f"theta_m {n!r}" for n, c in tm.items()})
        self.control_names, self.control_bounds = expand_controls(zs, ids, set(tp) | set(tm))
        #: per control: integer or binary (kept discrete by every route; never handed to Ipopt)
        self.control_integer = np.array([not c.is_continuous() for c in zs.values()], dtype=bool)
        self._z_uid = [ComponentUID(c) for c in zs.values()]
        soft = {(b.uid, b.side) for b in self._bound_cqas}
        for i, u in enumerate(self._z_uid):  # a bound read as a CQA: the hard range is wider by the margin
            for j, side, sign in ((0, "lb", -1.0), (1, "ub", 1.0)):
                if (u, side) in soft and np.isfinite(self.control_bounds[i, j]):
                    self.control_bounds[i, j] += sign * self.bound_cqa_margin
        #: controls whose missing bounds FBBT derived: {name: (lo, hi)} (reported in results)
        self.derived_control_bounds: Dict[str, tuple] = {}
        self.derived_bounds_box: Optional[tuple] = None
        #: C when some range rests on "every CQA ≤ C" (a test value above C is then a bound):
        #: always with bounds read as CQAs: their hard range is widened by C only, so a θ where
        #: a state would leave it has no solution (χ = inf) where the soft bound gives a finite
        #: value; with controls the widened range also restricts z (ψ_C ≥ ψ)
        self.test_cap: Optional[float] = self.bound_cqa_margin if self._bound_cqas else None
        #: controls still without a finite range: {name: what FBBT found, with the fix}; local
        #: solvers run without it, global solvers and routes that need a range refuse
        self.unbounded_controls: Dict[str, str] = {}
        if np.isnan(self.control_bounds).any():
            self._derive_control_bounds()
        if controls_linear is not None and (not callable(controls_linear) or not zs):
            raise ValidationError("controls_linear must be a function f(theta_p, theta_m) -> (a, B) with g = a + B z, "
                                  f"and needs controls=...; got {controls_linear!r} with {len(zs)} controls")
        self.controls_linear = controls_linear
        if controls_linear is not None:  # it must describe this model's g (a flipped sign is refused)
            from .controls import check_controls_linear

            check_controls_linear(self)

    def _derive_control_bounds(self) -> None:
        """Bounds of the controls that have none, by FBBT over h with θm in its box at δ_max and
        θp in its bounds (a relaxation: every solution there satisfies them), reported in
        :attr:`derived_control_bounds`.  When h alone leaves a control unbounded, FBBT also
        uses every CQA capped at the margin C (g_k ≤ C): the bounds then hold wherever ψ ≤ C,
        which leaves signs, indices and regions exact and a test value above C a bound
        (:mod:`flexspace.models.bound_cqas`); :attr:`test_cap` records C.  A control still
        unbounded is refused with the range FBBT found."""
        inst = self._control_fbbt_instance()
        #: the θ box the derived bounds hold in: (θp lo, θp hi, θm lo, θm hi); analyses refuse beyond it
        self.derived_bounds_box = tuple(np.array([v.lb for v in vs] if j == 0 else [v.ub for v in vs], float)
                                        for vs in (inst.theta_p, inst.theta_m) for j in (0, 1))
        fbbt_h(inst, passes=10)
        if any(v.lb is None or v.ub is None for v, b in zip(inst.controls, self.control_bounds) if np.isnan(b).any()):
            inst = self._control_fbbt_instance()
            inst.cqa_cap = self.bound_cqa_margin
            inst._cap_cqas()
            fbbt_h(inst, passes=10)
            self.test_cap = self.bound_cqa_margin
        for i, (nm, v) in enumerate(zip(self.control_names, inst.controls)):
            if not np.isnan(self.control_bounds[i]).any():
                continue
            found = tuple(x if x is not None and math.isfinite(x) else None for x in (v.lb, v.ub))
            for j in (0, 1):
                if np.isnan(self.control_bounds[i, j]) and found[j] is not None:
                    self.control_bounds[i, j] = float(found[j])
            if np.isnan(self.control_bounds[i]).any():
                self.unbounded_controls[nm] = (
                    f"control {nm!r} has no bound{'s' if found == (None, None) else ''} and FBBT over the model "
                    f"(theta within delta_max = {self.delta_max:g} sigma, every CQA <= {self.bound_cqa_margin:g}) "
                    f"finds only [{found[0]}, {found[1]}]: give it the range it needs, pyo.Var(bounds=(lo, hi))")
            else:
                self.derived_control_bounds[nm] = tuple(map(float, self.control_bounds[i]))

    def _control_fbbt_instance(self) -> ModelInstance:
        inst = self.instance()
        sd = np.sqrt(np.clip(np.diag(np.asarray(self.covariance, float)), 0, None))
        lo_m, hi_m = self.theta_m_nominal - self.delta_max * sd, self.theta_m_nominal + self.delta_max * sd
        lo_p, hi_p = ((self.theta_p_nominal, self.theta_p_nominal) if self.theta_p_bounds is None
                      else (self.theta_p_bounds[:, 0], self.theta_p_bounds[:, 1]))
        for v, a, b in zip(inst.theta_p + inst.theta_m, np.r_[lo_p, lo_m], np.r_[hi_p, hi_m]):
            v.unfix()
            v.setlb(float(a))
            v.setub(float(b))
        return inst

    def recourse_feasibility(self, theta_p, theta_m, solver="ipopt"):
        """Per row of ``theta_m``: (feasible, failed, how) — feasible when some z within its
        bounds makes every g ≤ 0 (:func:`flexspace.models.controls.recourse_feasibility`)."""
        from .controls import recourse_feasibility

        return recourse_feasibility(self, theta_p, theta_m, solver)

    def __repr__(self) -> str:
        return (f"ProcessModel({self.name!r}, theta_p={self.theta_p_names}, theta_m={self.theta_m_names}, "
                f"g={self.g_names}, simulator={'yes' if self.simulator else 'no'})")

    @classmethod
    def from_parmest(cls, model: "ProcessModel", data, outputs, measurement_std=None, **kwargs) -> "ProcessModel":
        """``model`` with θ̄m and Σ estimated from an experiment table by Pyomo's parmest: see
        :func:`flexspace.models.estimation.process_model_from_parmest` for the arguments."""
        from .estimation import process_model_from_parmest

        return process_model_from_parmest(model, data, outputs, measurement_std, **kwargs)

    # ------------------------------------------------------------------ checks
    def check_square(self) -> None:
        """Refuse a model that is not square once θp and θm are fixed (IDAES check); with
        controls, once θp, θm *and* the n_z controls z are fixed (so the model has n_z degrees
        of freedom, the controls, when θ is fixed)."""
        from idaes.core.util.model_statistics import (
            degrees_of_freedom,
            number_activated_equalities,
            number_variables_in_activated_equalities,
            number_unused_variables,
        )

        m = self._template.clone()
        for u in self._tp_uid + self._tm_uid + self._z_uid:
            c = u.find_component_on(m)
            if getattr(c, "ctype", None) is pyo.Var:
                c.fix()
        for spec in self._g_spec:
            if isinstance(spec, tuple):
                spec[0].find_component_on(m).deactivate()
        dof = degrees_of_freedom(m)
        if dof != 0:
            n_var = number_variables_in_activated_equalities(m)
            n_eq = number_activated_equalities(m)
            raise NotSquareError(
                f"model {self.name!r} is not square once theta_p and theta_m{' and the controls' if self.n_z else ''} "
                f"are fixed: {dof} degrees of "
                f"freedom ({n_var} unfixed variables in {n_eq} active equality constraints). Every state "
                "must be determined by the equations: fix the extra variables, or add the missing equations "
                "(a CQA must be passed as a constraint g <= 0, not as an equation)."
            )
        self._check_cqa_states()

    def _check_cqa_states(self) -> None:
        """A variable of a CQA must be θ, a control, or a state that an equation determines:
        one in no equation would act as a free extra control (IDAES's degrees-of-freedom count
        only looks at the equations, so it misses it)."""
        inst = self.instance()
        known = {id(v) for v in list(inst.theta_p) + list(inst.theta_m) + list(inst.controls)}
        in_eq = set()
        for c in inst.model.component_data_objects(pyo.Constraint, active=True, descend_into=True):
            if c.equality:
                in_eq.update(id(v) for v in identify_variables(c.body, include_fixed=False))
        free = {}
        for name, g in zip(inst.g_names, inst.g):
            for v in identify_variables(g, include_fixed=False):
                if id(v) not in known and id(v) not in in_eq:
                    free.setdefault(v.name[len("process."):] if v.name.startswith("process.") else v.name, name)
        if free:
            desc = ", ".join(f"{v!r} (in CQA {g!r})" for v, g in free.items())
            raise NotSquareError(
                f"model {self.name!r}: the variable(s) {desc} appear in a CQA but in no equation, so nothing "
                "determines them: each would act as a free extra control. Fix them, add the equation that "
                "determines them, or declare them as controls (controls={...}) if operators set them")

    # ------------------------------------------------------------------ instances
    def instance(self) -> ModelInstance:
        """A fresh Pyomo model with θ as plain Vars and every equation rewritten on them.

        The rewrite is symbolic, never by value: θ (and any expression of θ) is replaced
        wherever Pyomo can hold it — either side of an equation or inequality (Pyomo stores
        a parameter-only side as the constraint's *bound*), ranged constraints, named
        ``Expression`` components, indexed Params, θ declared as fixed Vars, and variable
        bounds given as expressions of θ (those become constraints of ``h``; the variable
        keeps a numeric bound, see :meth:`ModelInstance.relax_theta_bounds`)."""
        top = pyo.ConcreteModel(name=f"flexspace_{self.name}")
        top.process = self._template.clone()
        proc = top.process
        top.theta_p = pyo.Var(range(self.n_p), initialize=lambda m, i: float(self.theta_p_nominal[i]))
        top.theta_m = pyo.Var(range(self.n_m), initialize=lambda m, i: float(self.theta_m_nominal[i]))
        top.theta_p.fix()
        top.theta_m.fix()
        sub = {}
        for uid, v in zip(self._tp_uid + self._tm_uid, list(top.theta_p.values()) + list(top.theta_m.values())):
            c = uid.find_component_on(proc)
            if c is None:
                raise ValueError(f"component {uid} not found on the model copy")
            if getattr(c, "ctype", None) is pyo.Var:
                c.fix()
            sub[id(c)] = v
        rewrite = _Rewriter(sub)
        g_exprs = self._cqa_expressions(proc, rewrite)  # before the constraints that define them are deactivated
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
                             list(self.g_names))
        inst.theta_bounds = theta_bounds
        # g ≤ C in the states' FBBT only with controls: ψ_C ≥ ψ there; without controls the cap would
        # cut θ with ψ > C out of the problem while the derived bounds are not domain edges
        inst.cqa_cap = getattr(self, "test_cap", None) if self._z_uid else None
        inst.controls = [u.find_component_on(proc) for u in self._z_uid]
        for v, (lo, hi) in zip(inst.controls, getattr(self, "control_bounds", ())):
            v.setlb(None if np.isnan(lo) else float(lo))
            v.setub(None if np.isnan(hi) else float(hi))
        dependent = [(f"bound {v.name} {'>=' if side == 'lb' else '<='} (theta expression)",
                      e - v if side == "lb" else v - e) for v, side, e in theta_bounds]
        inst.domain = domain + dependent + inst.bound_domain()
        return inst

    def _cqa_expressions(self, proc, rewrite) -> List:
        """g_k as expressions of the θ variables (a ranged CQA constraint gives two, named
        ``name.lower`` and ``name.upper``: see :func:`_expand_cqas`)."""
        out = []
        for name, spec in zip(self.g_names, self._g_spec):
            if isinstance(spec, bound_cqas.BoundCQA):
                out.append(bound_cqas.cqa_expression(spec, proc, rewrite, self.bound_cqa_margin))
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

    # ------------------------------------------------------------------ identity
    def fingerprint(self) -> str:
        """A hex digest of everything that determines this model's answers, the same in every
        process and run: :meth:`fingerprint_parts` hashed together.  Checkpoints store it, so a
        map is never resumed into rows computed for another model."""
        text = json.dumps(self.fingerprint_parts(), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def fingerprint_parts(self) -> Dict[str, str]:
        """The fingerprint by part, so that a refusal can say what changed: ``equations``
        (every equation of a fresh :meth:`instance` as text, non-θ parameters by value, and
        the variables' bounds and domains), ``cqas`` (names and expressions), ``theta``
        (names, nominal values, θp bounds), ``covariance``, ``analysis`` (``delta_max``,
        ``domain_everywhere``), ``simulator`` (module, qualified name and a hash of its source,
        of the module-level functions and constants it uses, its defaults and closure) —
        each a hex digest — and ``flexspace`` (the version)."""
        inst = self.instance()
        theta = inst.theta_p + inst.theta_m
        for v in theta:
            v.unfix()  # θ stays a name in the text; other fixed values and Params print as numbers
        theta_ids = {id(v) for v in theta}
        eqs = [_expr_text(c.expr) for c in inst.model.h.values() if c.active]
        eqs += [f"{v.name} in {v.domain.name} [{v.lb!r}, {v.ub!r}]" + (f" fixed {v.value!r}" if v.fixed else "")
                for v in inst.model.component_data_objects(pyo.Var, descend_into=True) if id(v) not in theta_ids]
        bounds = None if self.theta_p_bounds is None else np.asarray(self.theta_p_bounds, float).tolist()
        parts = {
            "equations": eqs,
            "cqas": [f"{n}: {_expr_text(e)}" for n, e in zip(self.g_names, inst.g)],
            "theta": [self.theta_p_names, self.theta_m_names, np.asarray(self.theta_p_nominal, float).tolist(),
                      np.asarray(self.theta_m_nominal, float).tolist(), bounds],
            "covariance": np.asarray(self.covariance, float).tolist(),
            "analysis": [float(self.delta_max), bool(self.domain_everywhere)],
            "simulator": _callable_identity(self.simulator),
        }
        if self.n_z:  # only models with controls have this part: the others keep their fingerprints
            parts["controls"] = [self.control_names, self.control_bounds.tolist(),
                                 _callable_identity(self.controls_linear)]
        out = {k: hashlib.sha256(json.dumps(v).encode("utf-8")).hexdigest() for k, v in parts.items()}
        out["flexspace"] = _flexspace_version()
        return out

    # ------------------------------------------------------------------ simulation
    def simulate(self, theta_p, theta_m) -> np.ndarray:
        """g (N, K) at one θp for each row of θm (N, n_m), via the vectorised simulator."""
        if self.simulator is None:
            raise ValidationError(f"model {self.name!r} has no vectorised simulator; use a Pyomo-based evaluation")
        tm = np.atleast_2d(np.asarray(theta_m, float))
        g = np.asarray(self.simulator(np.asarray(theta_p, float), tm), dtype=float)
        if g.shape != (tm.shape[0], self.n_g):
            raise ValidationError(f"simulator returned shape {g.shape}, expected {(tm.shape[0], self.n_g)}")
        return g

    def evaluate_pyomo(self, theta_p, theta_m, solver="ipopt", instance: Optional[ModelInstance] = None,
                       batch_size: int = 50) -> np.ndarray:
        """g (N, K) by square Pyomo solves; NaN rows where no solution was found (outside the
        model's domain, or the solver failed: counted infeasible by every caller).

        The slow path (the seed's Monte Carlo did this), used when no simulator exists.
        Samples are solved ``batch_size`` at a time as one block-diagonal NLP of independent
        copies (one solver call instead of ``batch_size``); a batch that fails — e.g. one
        sample has no solution — is solved sample by sample, each warm-started from the
        previous one and retried from the model's initial point."""
        from ..solvers import get_solver

        inst = instance or self.instance()
        slv = get_solver(solver)
        tm = np.atleast_2d(np.asarray(theta_m, float))
        m = inst.model
        if not hasattr(m, "_square_obj"):
            m._square_obj = pyo.Objective(expr=0.0)
        out = np.full((tm.shape[0], self.n_g), np.nan)
        inst.set_theta(theta_p, None)
        batch = int(batch_size) if inst.state_vars() and not slv.is_global else 1
        for lo in range(0, tm.shape[0], max(batch, 1)):
            rows = tm[lo:lo + batch]
            g = self._solve_batch(inst, theta_p, rows, slv) if len(rows) > 1 else None
            out[lo:lo + len(rows)] = g if g is not None else self._solve_each(inst, rows, slv)
        return out

    def _solve_each(self, inst, rows, slv) -> np.ndarray:
        out = np.full((len(rows), self.n_g), np.nan)
        start = [(v, v.value) for v in inst.state_vars()]  # the model's own initial values
        for i, row in enumerate(rows):
            inst.set_theta(None, row)
            res = inst.solve_square(slv)
            if not res.status.ok:
                # warm start from the previous sample failed (e.g. it left x where the Jacobian is
                # singular): a sample counts as failed only if the model's initial point fails too
                for v, x in start:
                    v.set_value(x, skip_validation=True)
                res = inst.solve_square(slv)
            if res.status.ok:
                out[i] = inst.g_values()
        return out

    def _solve_batch(self, inst, theta_p, rows, slv) -> Optional[np.ndarray]:
        """One solve of ``len(rows)`` independent copies of the square model; None on failure."""
        m = inst.model
        if not hasattr(m, "_g_expr"):
            m._g_expr = pyo.Expression(range(self.n_g), rule=lambda b, k: inst.g[k])
        big = pyo.ConcreteModel()
        copies = []
        for i, row in enumerate(rows):
            c = m.clone()
            for o in c.component_data_objects(pyo.Objective, active=True):
                o.deactivate()
            for v, x in zip(c.theta_p.values(), np.asarray(theta_p, float)):
                v.fix(float(x))
            for v, x in zip(c.theta_m.values(), row):
                v.fix(float(x))
            big.add_component(f"sample_{i}", c)
            copies.append(c)
        big.obj = pyo.Objective(expr=0.0)
        if not slv.solve(big).status.ok:
            return None
        return np.array([[pyo.value(c._g_expr[k]) for k in range(self.n_g)] for c in copies], float)

    def diagnose(self, theta_p, theta_m, solver="ipopt") -> str:
        """Structural and numerical warnings from IDAES's DiagnosticsToolbox at (θp, θm)."""
        try:
            from idaes.core.util.diagnostics_tools.diagnostics_toolbox import DiagnosticsToolbox
        except ImportError:
            try:
                from idaes.core.util.model_diagnostics import DiagnosticsToolbox
            except Exception as exc:  # noqa: BLE001
                return f"IDAES diagnostics unavailable: {exc}"
        m = self._template.clone()  # the user's own model (its units intact) at θ
        for uid, x in zip(self._tp_uid + self._tm_uid, np.r_[np.asarray(theta_p, float).ravel(),
                                                           np.asarray(theta_m, float).ravel()]):
            c = uid.find_component_on(m)
            c.fix(float(x)) if getattr(c, "ctype", None) is pyo.Var else c.set_value(float(x))
        for u in self._z_uid:  # controls at their current values: the square model
            u.find_component_on(m).fix()
        for spec in self._g_spec:
            if isinstance(spec, tuple):
                spec[0].find_component_on(m).deactivate()
        buf = io.StringIO()
        logger = logging.getLogger("idaes")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            dt = DiagnosticsToolbox(m)
            dt.report_structural_issues(stream=buf)
            try:
                from ..solvers import get_solver

                for o in m.component_data_objects(pyo.Objective, active=True, descend_into=True):
                    o.deactivate()
                m._flexspace_square_obj = pyo.Objective(expr=0.0)
                get_solver(solver).solve(m)
                dt.report_numerical_issues(stream=buf)
            except Exception as exc:  # noqa: BLE001
                buf.write(f"\n(numerical checks skipped: {exc})\n")
        except Exception as exc:  # noqa: BLE001
            buf.write(f"DiagnosticsToolbox failed: {type(exc).__name__}: {exc}")
        finally:
            logger.setLevel(level)
        return buf.getvalue()


# --------------------------------------------------------------------------- fingerprints
def _expr_text(e) -> str:
    """An expression as text, the same in every process: component names, numbers by value."""
    from pyomo.core.expr import expression_to_string

    if isinstance(e, (int, float)):
        return repr(float(e))
    return expression_to_string(e, compute_values=True)


def _flexspace_version() -> str:
    try:
        from importlib.metadata import version

        return version("flexspace")
    except Exception:  # noqa: BLE001 - not installed (a source tree on sys.path)
        return "unknown"


def _callable_identity(f, seen=None) -> str:
    """What a callable computes, as text that is the same in every process and run (never an
    ``id`` or an address): ``module.qualname``, a hash of its source (of its bytecode when the
    source is not available), its defaults and closure, and — recursively — the module-level
    functions of its own package and the constants (numbers, strings, arrays) it uses."""
    seen = set() if seen is None else seen
    if f is None:
        return "None"
    if isinstance(f, functools.partial):
        args = [_value_text(a, seen) for a in f.args]
        args += [f"{k}={_value_text(v, seen)}" for k, v in sorted(f.keywords.items())]
        return f"partial({_callable_identity(f.func, seen)}; {', '.join(args)})"
    if inspect.ismethod(f):
        return f"method({_callable_identity(f.__func__, seen)}; self={_value_text(f.__self__, seen)})"
    name = f"{getattr(f, '__module__', None)}.{getattr(f, '__qualname__', None)}"
    if not inspect.isfunction(f):  # a builtin, a class or a callable object: its class's source and state
        cls = f if inspect.isclass(f) or inspect.isbuiltin(f) else type(f)
        cname = f"{cls.__module__}.{cls.__qualname__}"
        state = "" if cls is f else _value_text(getattr(f, "__dict__", {}), seen)
        return f"{cname}#{_source_hash(cls)} {state}"
    if name in seen:
        return name
    seen.add(name)
    code = f.__code__
    parts = [f"{name}#{_source_hash(f)}", _value_text(f.__defaults__, seen), _value_text(f.__kwdefaults__, seen)]
    if f.__closure__:
        parts.append(_value_text([_cell(c) for c in f.__closure__], seen))
    for g in sorted(_global_names(code)):
        if g in f.__globals__:
            parts.append(f"{g}={_global_text(f.__globals__[g], f, seen)}")
    return "; ".join(parts)


def _cell(c):
    try:
        return c.cell_contents
    except ValueError:  # an empty cell
        return None


def _global_names(code) -> set:
    names = set(code.co_names)
    for c in code.co_consts:
        if inspect.iscode(c):
            names |= _global_names(c)
    return names


def _global_text(v, f, seen) -> str:
    """A global a function uses: functions of its own top-level package recursively,
    constants by value, anything else (modules, classes of other packages) by name."""
    if inspect.ismodule(v):
        return f"module {v.__name__}"
    if inspect.isfunction(v) or isinstance(v, functools.partial):
        own = (getattr(v, "__module__", "") or "").split(".")[0] == (f.__module__ or "").split(".")[0]
        return _callable_identity(v, seen) if own else f"{v.__module__}.{v.__qualname__}"
    return _value_text(v, seen, shallow=True)


def _source_hash(obj) -> str:
    try:
        text = inspect.getsource(obj)
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        text = _code_text(code) if code is not None else "no source"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _code_text(code) -> str:
    consts = [_code_text(c) if inspect.iscode(c) else repr(c) for c in code.co_consts]
    return f"{code.co_code.hex()}|{consts}|{code.co_names}|{code.co_varnames}"


def _value_text(v, seen, shallow: bool = False) -> str:
    """A value as stable text: numbers, strings, arrays (hashed), containers recursively;
    a function by its identity; another object by its type (and attributes unless shallow)."""
    if v is None or isinstance(v, (bool, int, float, complex, str, bytes)):
        return repr(v)
    if isinstance(v, np.ndarray) or isinstance(v, np.generic):
        a = np.ascontiguousarray(v)
        return f"array{a.shape}{a.dtype}#{hashlib.sha256(a.tobytes()).hexdigest()[:16]}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value_text(x, seen, shallow) for x in v) + "]"
    if isinstance(v, dict):
        items = sorted(v.items(), key=lambda kv: repr(kv[0]))
        return "{" + ", ".join(f"{k!r}: {_value_text(x, seen, shallow)}" for k, x in items) + "}"
    if callable(v) and not inspect.isclass(v):
        return _callable_identity(v, seen)
    cls = type(v)
    if shallow or not hasattr(v, "__dict__"):
        return f"<{cls.__module__}.{cls.__qualname__}>"
    return f"<{cls.__module__}.{cls.__qualname__} {_value_text(vars(v), seen, shallow=True)}>"
