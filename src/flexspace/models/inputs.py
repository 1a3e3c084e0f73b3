"""Validation of what a user passes to :class:`~flexspace.models.base.ProcessModel`.

θp, θm, the CQAs and the controls are given as components of the user's Pyomo model (a
list, a ``{name: component}`` dict, an indexed component, or a callable ``f(m)`` for a
CQA); :func:`_expand` turns each into ``{name: component data}`` and the checks here refuse,
with the fix, anything the copies flexspace makes could not locate or would read wrongly:
strings and bare expressions, components of another model, θ that is not a mutable Param
or a Var, a component given twice, CQA equalities and CQA callables of the wrong signature,
θ without a value, θp bounds that are not finite (lo, hi) pairs around the nominal point,
and analysis settings of the wrong type.
"""
from __future__ import annotations

import inspect
from typing import Dict, List, Mapping, Optional

import numpy as np
import pyomo.environ as pyo
from pyomo.core.base.component import ComponentData
from pyomo.core.base.componentuid import ComponentUID
from pyomo.core.expr.relational_expr import EqualityExpression

from ..errors import InputTypeError, ValidationError
from ..validation import as_array, check_number
from .rewrite import _Rewriter

__all__ = ["units_text", "theta_p_display_units", "check_analysis_fields"]


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


def units_text(component) -> str:
    """The Pyomo units of a θ component as text, e.g. ``"m**3"``; "" when it has none (or a
    mutable Param without units) or Pyomo cannot read them."""
    try:
        u = pyo.units.get_units(component)
    except Exception:  # noqa: BLE001 - units are a label here, never a refusal
        return ""
    text = "" if u is None else str(u)
    return "" if text in ("dimensionless", "None") else text


def theta_p_display_units(given, components: Dict[str, object]) -> List[str]:
    """The units of each θp for labels and printed results: the Pyomo units of its
    component (:func:`units_text`); for a θp whose component has none, the text ``given``
    (``ProcessModel(theta_p_units={name: text})``) names.  ``given`` may not contradict
    Pyomo's units (refused: it is only for parameters Pyomo states no units of)."""
    names = list(components)
    pyomo_units = [units_text(c) for c in components.values()]
    if given is None:
        return pyomo_units
    if not isinstance(given, Mapping):
        raise ValidationError(f"theta_p_units must be a dict {{theta_p name: units text}}, e.g. {{'tau': 's'}}, "
                              f"got {type(given).__name__}")
    unknown = [k for k in given if k not in names]
    if unknown:
        raise ValidationError(f"theta_p_units names {unknown}, which are not process parameters {names}")
    out = []
    for name, stated in zip(names, pyomo_units):
        text = given.get(name, "")
        if not isinstance(text, str):
            raise ValidationError(f"theta_p_units[{name!r}] must be a text such as 's' or 'mol/L', got {text!r}")
        text = "" if text.strip() in ("dimensionless", "-") else text.strip()
        if stated and text and text != stated:
            raise ValidationError(f"theta_p_units[{name!r}] = {text!r}, but the Pyomo model states {stated!r} for it: "
                                  "theta_p_units is for parameters without Pyomo units; drop the entry")
        out.append(stated or text)
    return out


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


def check_analysis_fields(delta_max, domain_everywhere, simulator, grid_shape, factory, n_p) -> tuple:
    """The fields the analyses read, validated: ``(delta_max, domain_everywhere, grid_shape,
    factory)`` (the simulator is only checked to be callable)."""
    delta_max = check_number("delta_max", delta_max, low=0, low_open=True, hint="sigma units, e.g. 6")
    if not isinstance(domain_everywhere, bool):
        raise ValidationError(f"domain_everywhere must be True or False, got {domain_everywhere!r}")
    if simulator is not None and not callable(simulator):
        raise ValidationError(f"simulator must be a function f(theta_p, theta_m) -> g, got {simulator!r}")
    shape = None if grid_shape is None else tuple(
        check_number("grid_shape", n, integer=True, low=1) for n in np.atleast_1d(np.asarray(grid_shape, object)))
    if shape is not None and (len(shape) != n_p or min(shape) < 1):
        raise ValidationError(f"grid_shape must give a positive number of points for each of the {n_p} "
                              f"process parameters, got {grid_shape!r}")
    if factory is not None and not callable(factory):
        raise ValidationError(f"factory must be a zero-argument callable returning the model, got {factory!r}")
    return delta_max, domain_everywhere, shape, factory
