"""The control variables z of a :class:`~flexspace.models.base.ProcessModel`, set up by its
constructor: validated (:func:`flexspace.models.controls.expand_controls`), their bounds
widened where a bound is read as a CQA, and missing bounds derived by FBBT over ``h`` with
θ in its box at δ_max (a relaxation; :func:`derive_control_bounds`).
"""
from __future__ import annotations

import math
from typing import Dict, Optional

import numpy as np
from pyomo.core.base.componentuid import ComponentUID

from ..errors import ValidationError
from .inputs import _check_owned, _expand
from .instance import ModelInstance, fbbt_h

__all__ = ["set_controls", "derive_control_bounds", "control_fbbt_instance"]


def set_controls(model, block, controls, controls_linear, tp, tm) -> None:
    """Validate and keep the controls z (:func:`flexspace.models.controls.expand_controls`):
    names, bounds (n_z, 2), where they live in the copies, and the optional linear data
    ``controls_linear(theta_p, theta_m) -> (a (N, K), B (N, K, n_z))`` with g = a + B z.
    ``model`` is the ProcessModel being built, ``block`` the user's Pyomo model, ``tp`` and
    ``tm`` its θp and θm as ``{name: component}``."""
    from .controls import expand_controls

    zs = {} if controls is None else _expand(controls, "controls")
    _check_owned(block, zs, "controls")  # another model's z must not map to this one's by name
    ids = {id(c): f"theta_p {n!r}" for n, c in tp.items()}
    ids.update({id(c): f"theta_m {n!r}" for n, c in tm.items()})
    model.control_names, model.control_bounds = expand_controls(zs, ids, set(tp) | set(tm))
    #: per control: integer or binary (kept discrete by every route; never handed to Ipopt)
    model.control_integer = np.array([not c.is_continuous() for c in zs.values()], dtype=bool)
    model._z_uid = [ComponentUID(c) for c in zs.values()]
    soft = {(b.uid, b.side) for b in model._bound_cqas}
    for i, u in enumerate(model._z_uid):  # a bound read as a CQA: the hard range is wider by the margin
        for j, side, sign in ((0, "lb", -1.0), (1, "ub", 1.0)):
            if (u, side) in soft and np.isfinite(model.control_bounds[i, j]):
                model.control_bounds[i, j] += sign * model.bound_cqa_margin
    #: controls whose missing bounds FBBT derived: {name: (lo, hi)} (reported in results)
    model.derived_control_bounds: Dict[str, tuple] = {}
    model.derived_bounds_box: Optional[tuple] = None
    #: C when some range rests on "every CQA ≤ C" (a test value above C is then a bound):
    #: always with bounds read as CQAs: their hard range is widened by C only, so a θ where
    #: a state would leave it has no solution (χ = inf) where the soft bound gives a finite
    #: value; with controls the widened range also restricts z (ψ_C ≥ ψ)
    model.test_cap: Optional[float] = model.bound_cqa_margin if model._bound_cqas else None
    #: controls still without a finite range: {name: what FBBT found, with the fix}; local
    #: solvers run without it, global solvers and routes that need a range refuse
    model.unbounded_controls: Dict[str, str] = {}
    if np.isnan(model.control_bounds).any():
        derive_control_bounds(model)
    if controls_linear is not None and (not callable(controls_linear) or not zs):
        raise ValidationError("controls_linear must be a function f(theta_p, theta_m) -> (a, B) with g = a + B z, "
                              f"and needs controls=...; got {controls_linear!r} with {len(zs)} controls")
    model.controls_linear = controls_linear
    if controls_linear is not None:  # it must describe this model's g (a flipped sign is refused)
        from .controls import check_controls_linear

        check_controls_linear(model)


def derive_control_bounds(model) -> None:
    """Bounds of the controls that have none, by FBBT over h with θm in its box at δ_max and
    θp in its bounds (a relaxation: every solution there satisfies them), reported in
    ``model.derived_control_bounds``.  When h alone leaves a control unbounded, FBBT also
    uses every CQA capped at the margin C (g_k ≤ C): the bounds then hold wherever ψ ≤ C,
    which leaves signs, indices and regions exact and a test value above C a bound
    (:mod:`flexspace.models.bound_cqas`); ``model.test_cap`` records C.  A control still
    unbounded is refused with the range FBBT found."""
    inst = control_fbbt_instance(model)
    #: the θ box the derived bounds hold in: (θp lo, θp hi, θm lo, θm hi); analyses refuse beyond it
    model.derived_bounds_box = tuple(np.array([v.lb for v in vs] if j == 0 else [v.ub for v in vs], float)
                                    for vs in (inst.theta_p, inst.theta_m) for j in (0, 1))
    fbbt_h(inst, passes=10)
    if any(v.lb is None or v.ub is None for v, b in zip(inst.controls, model.control_bounds) if np.isnan(b).any()):
        inst = control_fbbt_instance(model)
        inst.cqa_cap = model.bound_cqa_margin
        inst._cap_cqas()
        fbbt_h(inst, passes=10)
        model.test_cap = model.bound_cqa_margin
    for i, (nm, v) in enumerate(zip(model.control_names, inst.controls)):
        if not np.isnan(model.control_bounds[i]).any():
            continue
        found = tuple(x if x is not None and math.isfinite(x) else None for x in (v.lb, v.ub))
        for j in (0, 1):
            if np.isnan(model.control_bounds[i, j]) and found[j] is not None:
                model.control_bounds[i, j] = float(found[j])
        if np.isnan(model.control_bounds[i]).any():
            model.unbounded_controls[nm] = (
                f"control {nm!r} has no bound{'s' if found == (None, None) else ''} and FBBT over the model "
                f"(theta within delta_max = {model.delta_max:g} sigma, every CQA <= {model.bound_cqa_margin:g}) "
                f"finds only [{found[0]}, {found[1]}]: give it the range it needs, pyo.Var(bounds=(lo, hi))")
        else:
            model.derived_control_bounds[nm] = tuple(map(float, model.control_bounds[i]))


def control_fbbt_instance(model) -> ModelInstance:
    """A fresh instance with θp in its bounds (at its nominal without bounds) and θm in its box
    at δ_max: the θ box over which the controls' bounds are derived."""
    inst = model.instance()
    sd = np.sqrt(np.clip(np.diag(np.asarray(model.covariance, float)), 0, None))
    lo_m, hi_m = model.theta_m_nominal - model.delta_max * sd, model.theta_m_nominal + model.delta_max * sd
    lo_p, hi_p = ((model.theta_p_nominal, model.theta_p_nominal) if model.theta_p_bounds is None
                  else (model.theta_p_bounds[:, 0], model.theta_p_bounds[:, 1]))
    for v, a, b in zip(inst.theta_p + inst.theta_m, np.r_[lo_p, lo_m], np.r_[hi_p, hi_m]):
        v.unfix()
        v.setlb(float(a))
        v.setub(float(b))
    return inst
