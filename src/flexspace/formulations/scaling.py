"""Scales that solver tolerances cannot resolve, refused before any compute with the fix.

Every solver works to absolute tolerances of about ``feas_tol`` (1e-8 by default) on
constraints and variable bounds, and to ~1e-8 relative on large values.  Two kinds of data
fall below that and gave δ = 0 labelled ``ok`` where the truth is 2.1–6 (measured: Σ =
diag(1e-20) with a CQA slack of 1e-9 with MAiNGO and SCIP; θ̄m = 1e15 with σ = 1 with Ipopt;
θ̄m = 1e-15 with σ = 1e-16 and g × 1e16 with SCIP):

* a set narrower than ``MIN_SET_WIDTH`` × feas_tol × max(1, |θ̄|) in some θm (the tolerance
  then blurs more than a tenth of its extent);
* a CQA whose values over the nominal point and one set half-width along each θm all stay
  below ``MIN_CQA_RANGE`` × feas_tol (its sign is then decided by round-off).

flexspace refuses them with a message naming the parameter and the fix (state θm in units
where its σ is about 1, e.g. θ' = (θ − θ̄)/σ; multiply the CQA by a constant), rather than
rescaling silently: a CQA's scale is the user's, and only its sign matters.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pyomo.environ as pyo

from ..errors import ValidationError

__all__ = ["check_scales", "MIN_SET_WIDTH", "MIN_CQA_RANGE"]

#: smallest set half-width (δ = 1) per θm, in units of feas_tol × max(1, |θ̄m|): 10, so that the
#: tolerance blurs at most a tenth of it (our choice; it refuses every measured failure in the
#: module docstring, and keeps a θm whose σ is 1e-7, i.e. nearly certain, usable)
MIN_SET_WIDTH = 10.0
#: smallest range of a CQA over the probe points, in units of ``feas_tol`` (our choice: 1e3
#: keeps the solvers' feasibility tolerance below 0.1 % of the CQA's scale)
MIN_CQA_RANGE = 1e3


def check_scales(model, uset, feas_tol: float) -> None:
    """Refuse θm sets and CQAs too small for the solvers' tolerances (module docstring)."""
    nominal = np.asarray(uset.nominal, float)
    half = np.asarray(uset.half_widths(1.0), float)
    for name, c, h in zip(model.theta_m_names, nominal, half):
        if not h >= MIN_SET_WIDTH * feas_tol * max(1.0, abs(c)):
            raise ValidationError(
                f"theta_m {name!r}: the uncertainty set spans only {h:.3g} at delta = 1 around {c:.6g} "
                f"(below {MIN_SET_WIDTH:g} x feas_tol {feas_tol:g} x max(1, |nominal|)): solver tolerances would "
                f"blur it. State {name} in units where its standard deviation is about 1 (e.g. use "
                f"{name}' = ({name} - {c:.6g}) / {h:.3g} as the model's parameter) and pass the covariance in "
                "those units")
    g = _probe_cqas(model, nominal, half)
    if g is None:
        return
    span = np.nanmax(np.abs(g), axis=0)
    for name, r in zip(model.g_names, span):
        if np.isfinite(r) and r < MIN_CQA_RANGE * feas_tol:
            raise ValidationError(
                f"CQA {name!r} stays within +-{r:.3g} at the nominal theta_m and one set half-width along each "
                f"theta_m, below {MIN_CQA_RANGE:g} x the feasibility tolerance {feas_tol:g}: its sign would be "
                f"decided by solver round-off. Multiply the CQA by a constant (e.g. {1.0 / max(r, 1e-300):.3g}); "
                "only its sign matters")


def _probe_cqas(model, nominal, half) -> Optional[np.ndarray]:
    """g at θ̄m and θ̄m ± half-width along each axis (θp nominal): by the simulator, or by
    evaluating an explicit model (no states, no controls); None when that needs a solve."""
    pts = [nominal] + [nominal + s * h * e for h, e in zip(half, np.eye(len(nominal))) for s in (1.0, -1.0)]
    pts = np.array(pts)
    if model.simulator is not None:
        try:
            return np.asarray(model.simulate(model.theta_p_nominal, pts), float)
        except Exception:  # noqa: BLE001 - the analysis reports a failing simulator itself
            return None
    if getattr(model, "n_z", 0):
        return None
    inst = model.instance()
    if inst.state_vars():
        return None
    out = np.full((len(pts), model.n_g), np.nan)
    for i, p in enumerate(pts):
        inst.set_theta(model.theta_p_nominal, p)
        for k, e in enumerate(inst.g):
            try:
                val = pyo.value(e, exception=False)
            except (ValueError, ZeroDivisionError, OverflowError):  # outside the function's domain there
                val = None
            out[i, k] = np.nan if val is None else float(val)
    return out
