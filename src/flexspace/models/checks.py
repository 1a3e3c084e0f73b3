"""Structural checks of a :class:`~flexspace.models.base.ProcessModel`, run by its constructor.

* :func:`check_square`: once θp, θm (and the controls z) are fixed, the model must have zero
  degrees of freedom (IDAES's ``degrees_of_freedom``), refused with the counts;
* :func:`check_cqa_states`: a variable of a CQA must be θ, a control, or a state that an
  equation determines;
* :func:`check_cqas_depend`: a warning for a CQA that is a constant and for a θ the model
  never uses symbolically; untransformed GDP Disjuncts are refused.
"""
from __future__ import annotations

import warnings

import pyomo.environ as pyo
from pyomo.core.expr.visitor import identify_variables

from ..errors import ValidationError
from .instance import _has_variables

__all__ = ["NotSquareError", "check_square", "check_cqa_states", "check_cqas_depend"]


class NotSquareError(ValidationError):
    """The model does not have zero degrees of freedom once θp and θm are fixed."""


def check_square(model) -> None:
    """Refuse a model that is not square once θp and θm are fixed (IDAES check); with
    controls, once θp, θm *and* the n_z controls z are fixed (so the model has n_z degrees
    of freedom, the controls, when θ is fixed)."""
    from idaes.core.util.model_statistics import (
        degrees_of_freedom,
        number_activated_equalities,
        number_variables_in_activated_equalities,
    )

    m = model._template.clone()
    for u in model._tp_uid + model._tm_uid + model._z_uid:
        c = u.find_component_on(m)
        if getattr(c, "ctype", None) is pyo.Var:
            c.fix()
    for spec in model._g_spec:
        if isinstance(spec, tuple):
            spec[0].find_component_on(m).deactivate()
    dof = degrees_of_freedom(m)
    if dof != 0:
        n_var = number_variables_in_activated_equalities(m)
        n_eq = number_activated_equalities(m)
        raise NotSquareError(
            f"model {model.name!r} is not square once theta_p and theta_m{' and the controls' if model.n_z else ''} "
            f"are fixed: {dof} degrees of "
            f"freedom ({n_var} unfixed variables in {n_eq} active equality constraints). Every state "
            "must be determined by the equations: fix the extra variables, or add the missing equations "
            "(a CQA must be passed as a constraint g <= 0, not as an equation)."
        )
    check_cqa_states(model)


def check_cqa_states(model) -> None:
    """A variable of a CQA must be θ, a control, or a state that an equation determines:
    one in no equation would act as a free extra control (IDAES's degrees-of-freedom count
    only looks at the equations, so it misses it)."""
    inst = model.instance()
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
            f"model {model.name!r}: the variable(s) {desc} appear in a CQA but in no equation, so nothing "
            "determines them: each would act as a free extra control. Fix them, add the equation that "
            "determines them, or declare them as controls (controls={...}) if operators set them")


def check_cqas_depend(model) -> None:
    """Warn about a CQA that depends on no state and no θ (it is a constant) and about a θ
    that the model never uses symbolically (its value may have been copied, e.g. into
    another Param's ``initialize``, and would stay frozen); refuse untransformed GDP
    Disjuncts."""
    from pyomo.gdp import Disjunct

    if any(True for _ in model._template.component_data_objects(Disjunct, active=True, descend_into=True)):
        raise ValidationError(f"model {model.name!r} has active Disjuncts: apply a GDP transformation (e.g. "
                              "pyo.TransformationFactory('gdp.bigm').apply_to(m)) before passing it")
    inst = model.instance()
    used = set()
    for e in [c.body for c in inst.model.h.values()] + [e for e in inst.g if not isinstance(e, (int, float))]:
        used.update(id(v) for v in identify_variables(e, include_fixed=True))
    unused = [n for n, v in zip(model.theta_p_names + model.theta_m_names, inst.theta_p + inst.theta_m)
              if id(v) not in used]
    if unused:  # a warning, not an error: a θp that the CQAs do not depend on is legitimate
        warnings.warn(f"theta {unused} appear in no equation, bound or CQA of model {model.name!r}: if their value "
                      "was copied (e.g. Param(initialize=m.theta) or pyo.value(m.theta) in a rule) it stays frozen "
                      "at the nominal. Use the theta component itself in the expressions", stacklevel=3)
    for nm, e in zip(model.g_names, inst.g):
        if not _has_variables(e):
            warnings.warn(f"CQA {nm!r} depends on no state and no theta (it is the constant {pyo.value(e):g}); "
                          "check that it is written on the model's variables", stacklevel=3)
