"""Control variables z (recourse): their validation and the per-sample feasibility test.

A control is a Pyomo ``Var`` of the user's model that operators adjust once θ is known
(Halemane & Grossmann 1983; Grossmann & Floudas 1987): a design is feasible at θ when
*some* z within its bounds satisfies every CQA, ``∃ z ∈ [z_lo, z_hi]: g_k(θp, x, z, θm) ≤ 0``.

:func:`expand_controls` checks what :class:`~flexspace.models.base.ProcessModel` receives
as ``controls=`` (bounded, free, distinct from θ); :func:`recourse_feasibility` decides
feasibility sample by sample, in this order of preference:

* **linear data** (``controls_linear=f(theta_p, theta_m) -> (a (N, K), B (N, K, n_z))``,
  ``g = a + B z``): one control is decided in closed form for all samples at once (the
  interval of z allowed by each g_k, intersected with the bounds); several controls by one
  LP per sample (HiGHS through ``scipy.optimize.linprog``), which is exact;
* otherwise one small NLP per sample, ``min u  s.t.  h = 0, g_k ≤ u, z in bounds``, solved
  by Ipopt 50 samples per solve (independent copies, objective Σ u_i): exact when g is
  convex in (x, z) at fixed θ, a local answer otherwise (the returned ``how`` string says so).
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import pyomo.environ as pyo
from pyomo.core.base.component import ComponentData

from ..validation import ValidationError

__all__ = ["expand_controls", "recourse_feasibility", "interval_feasible", "FEAS_TOL"]

#: feasibility tolerance on g for recourse samples: the same order as Ipopt's default
#: ``constr_viol_tol`` (1e-4 is Ipopt's; we use 1e-7, well inside it, for LP and closed form).
FEAS_TOL = 1e-7


def _numeric_bound(e) -> Optional[float]:
    if e is None:
        return None
    if isinstance(e, (int, float)):
        return float(e)
    if hasattr(e, "is_constant") and e.is_constant():
        return float(pyo.value(e))
    return None


def expand_controls(comps: Dict[str, object], theta_ids: Dict[int, str], theta_names) -> Tuple[list, np.ndarray]:
    """Check the controls (already expanded to ``{name: VarData}``) and return their names and
    bounds (n_z, 2).  Refused: a Param, a fixed Var, a bound that is missing, infinite, an
    expression of θ or not below the other, and a component or name already used by θ."""
    names, bounds = [], []
    for nm, c in comps.items():
        if not isinstance(c, ComponentData) or getattr(c, "ctype", None) is not pyo.Var:
            raise ValidationError(f"controls {nm!r}: expected a Var of the model (operators set it once theta is "
                                  f"known), got {type(c).__name__} {getattr(c, 'name', c)!r}; declare it with "
                                  "pyo.Var(bounds=(lo, hi))")
        if c.fixed:
            raise ValidationError(f"controls {nm!r}: the Var {c.name!r} is fixed; a control must be free: unfix it")
        if id(c) in theta_ids or nm in theta_names:
            raise ValidationError(f"controls {nm!r} is also {theta_ids.get(id(c), 'a theta name')}: a Var is either "
                                  "a control or a parameter, not both; give distinct components and names")
        lo, hi = _numeric_bound(c.lower), _numeric_bound(c.upper)
        if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
            raise ValidationError(f"controls {nm!r}: expected finite numeric bounds lo < hi, got ({c.lower}, "
                                  f"{c.upper}); declare pyo.Var(bounds=(lo, hi)) with the control's physical range")
        names.append(nm)
        bounds.append((lo, hi))
    return names, np.array(bounds, dtype=float).reshape(-1, 2)


# --------------------------------------------------------------------------- feasibility
def interval_feasible(a: np.ndarray, b: np.ndarray, lo: float, hi: float, tol: float = FEAS_TOL) -> np.ndarray:
    """One control, ``g_k = a_k + b_k z``: is there z in [lo, hi] with every g_k ≤ tol?
    (closed form: each k with b_k > 0 caps z, b_k < 0 floors it, b_k = 0 needs a_k ≤ tol)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (tol - a) / b
    up = np.where(b > 0, r, np.inf).min(axis=1)
    down = np.where(b < 0, r, -np.inf).max(axis=1)
    const = np.all((b != 0) | (a <= tol), axis=1)
    zlo, zhi = np.maximum(down, lo), np.minimum(up, hi)
    return const & (zlo <= zhi + tol * max(1.0, abs(lo), abs(hi)))


def _linear_feasible(model, theta_p, tm) -> Tuple[np.ndarray, np.ndarray, str]:
    a, B = model.controls_linear(np.asarray(theta_p, float), tm)
    a, B = np.asarray(a, float), np.asarray(B, float)
    N, K, nz = tm.shape[0], model.n_g, model.n_z
    if a.shape != (N, K) or B.shape != (N, K, nz):
        raise ValidationError(f"controls_linear of {model.name!r} must return a (N, K) = {(N, K)} and B (N, K, n_z) = "
                              f"{(N, K, nz)}, got {a.shape} and {B.shape}")
    failed = ~(np.all(np.isfinite(a), axis=1) & np.all(np.isfinite(B), axis=(1, 2)))
    a0, B0 = np.nan_to_num(a, nan=1.0), np.nan_to_num(B)
    zb = model.control_bounds
    if nz == 1:
        ok = interval_feasible(a0, B0[:, :, 0], zb[0, 0], zb[0, 1])
        return ok & ~failed, failed, "recourse, linear in z: closed form (one control)"
    from scipy.optimize import linprog

    ok = np.zeros(N, bool)
    for i in np.flatnonzero(~failed):
        r = linprog(np.zeros(nz), A_ub=B0[i], b_ub=FEAS_TOL - a0[i], bounds=list(map(tuple, zb)), method="highs")
        if r.status == 0:
            ok[i] = True
        elif r.status != 2:  # neither solved nor proven infeasible: a failed sample
            failed[i] = True
    return ok, failed, "recourse, linear in z: one LP per sample (HiGHS)"


def recourse_feasibility(model, theta_p, theta_m, solver="ipopt") -> Tuple[np.ndarray, np.ndarray, str]:
    """Per sample (rows of ``theta_m``): feasible (some z in bounds makes every g ≤ 0),
    failed (no answer: counted infeasible by callers), and how it was decided."""
    tm = np.atleast_2d(np.asarray(theta_m, float))
    if getattr(model, "controls_linear", None) is not None:
        return _linear_feasible(model, theta_p, tm)
    return _nlp_feasible(model, theta_p, tm, solver)


def _inner_problem(model):
    """The instance with ``min u  s.t.  g_k ≤ u`` added (h and the control bounds kept)."""
    inst = model.instance()
    m = inst.model
    lo = [float(b) for b in model.control_bounds[:, 0]]
    m._rc_u = pyo.Var(initialize=0.0)
    m._rc_g = pyo.Constraint(range(model.n_g), rule=lambda b, k: inst.g[k] <= m._rc_u)
    m._rc_obj = pyo.Objective(expr=m._rc_u)
    for v, x in zip(inst.controls, lo):
        if v.value is None:
            v.set_value(x)
    return inst


def _nlp_feasible(model, theta_p, tm, solver, batch: int = 50) -> Tuple[np.ndarray, np.ndarray, str]:
    """ψ(θ) = min_z max_k g_k per sample; ``batch`` samples at a time as one NLP of independent
    copies with objective Σ u_i (separable: each u_i is minimised), a failed batch sample by
    sample.  Batch size 50: the square-solve batching of ``ProcessModel.evaluate_pyomo``."""
    from ..solvers import get_solver

    slv = get_solver(solver)
    inst = _inner_problem(model)
    inst.set_theta(theta_p, None)
    u = np.full(tm.shape[0], np.nan)
    size = batch if not slv.is_global else 1
    for lo in range(0, tm.shape[0], size):
        rows = tm[lo:lo + size]
        got = _solve_batch(inst, rows, slv) if len(rows) > 1 else None
        u[lo:lo + len(rows)] = got if got is not None else _solve_each(inst, rows, slv)
    failed = ~np.isfinite(u)
    how = (f"recourse: one NLP per sample ({slv.name}, {size} per solve); "
           + ("global" if slv.is_global else "exact when g is convex in (x, z), else a local answer"))
    return ~failed & (np.nan_to_num(u, nan=1.0) <= FEAS_TOL), failed, how


def _solve_each(inst, rows, slv) -> np.ndarray:
    out = np.full(len(rows), np.nan)
    start = [(v, v.value) for v in inst.controls + inst.state_vars()]
    for i, row in enumerate(rows):
        inst.set_theta(None, row)
        for v, x in start:
            v.set_value(x, skip_validation=True)
        inst.model._rc_u.set_value(0.0)
        r = slv.solve(inst.model)
        if r.status.ok:
            out[i] = float(pyo.value(inst.model._rc_u))
    return out


def _solve_batch(inst, rows, slv) -> Optional[np.ndarray]:
    big = pyo.ConcreteModel()
    copies = []
    for i, row in enumerate(rows):
        c = inst.model.clone()
        c._rc_obj.deactivate()
        for v, x in zip(c.theta_m.values(), row):
            v.fix(float(x))
        big.add_component(f"sample_{i}", c)
        copies.append(c)
    big.obj = pyo.Objective(expr=sum(c._rc_u for c in copies))
    if not slv.solve(big).status.ok:
        return None
    return np.array([float(pyo.value(c._rc_u)) for c in copies])


ControlsLinear = Callable[[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray]]
