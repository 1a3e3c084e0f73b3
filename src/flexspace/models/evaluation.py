"""Numeric evaluation of a :class:`~flexspace.models.base.ProcessModel`'s CQAs g at samples
of θm, and IDAES diagnostics of the model at one θ.

* :func:`simulate`: the model's vectorised numpy simulator, shape-checked;
* :func:`evaluate_pyomo`: square Pyomo solves of ``h = 0`` (the slow path, as the seed's
  Monte Carlo did), batched as block-diagonal NLPs, with a per-sample fallback;
* :func:`diagnose`: IDAES's DiagnosticsToolbox on the user's own model at (θp, θm);
  :func:`diagnostic_findings`: only the parts of its report that found something.
"""
from __future__ import annotations

import io
import logging
import re
from typing import Optional

import numpy as np
import pyomo.environ as pyo

from ..errors import ValidationError
from .instance import ModelInstance

__all__ = ["simulate", "evaluate_pyomo", "diagnose", "diagnostic_findings"]


def simulate(model, theta_p, theta_m) -> np.ndarray:
    """g (N, K) at one θp for each row of θm (N, n_m), via the vectorised simulator."""
    if model.simulator is None:
        raise ValidationError(f"model {model.name!r} has no vectorised simulator; use a Pyomo-based evaluation")
    tm = np.atleast_2d(np.asarray(theta_m, float))
    g = np.asarray(model.simulator(np.asarray(theta_p, float), tm), dtype=float)
    if g.shape != (tm.shape[0], model.n_g):
        raise ValidationError(f"simulator returned shape {g.shape}, expected {(tm.shape[0], model.n_g)}")
    return g


def evaluate_pyomo(model, theta_p, theta_m, solver="ipopt", instance: Optional[ModelInstance] = None,
                   batch_size: int = 50) -> np.ndarray:
    """g (N, K) by square Pyomo solves; NaN rows where no solution was found (outside the
    model's domain, or the solver failed: counted infeasible by every caller).

    The slow path (the seed's Monte Carlo did this), used when no simulator exists.
    Samples are solved ``batch_size`` at a time as one block-diagonal NLP of independent
    copies (one solver call instead of ``batch_size``); a batch that fails — e.g. one
    sample has no solution — is solved sample by sample, each warm-started from the
    previous one and retried from the model's initial point."""
    from ..solvers import get_solver

    inst = instance or model.instance()
    slv = get_solver(solver)
    tm = np.atleast_2d(np.asarray(theta_m, float))
    m = inst.model
    if not hasattr(m, "_square_obj"):
        m._square_obj = pyo.Objective(expr=0.0)
    out = np.full((tm.shape[0], model.n_g), np.nan)
    inst.set_theta(theta_p, None)
    batch = int(batch_size) if inst.state_vars() and not slv.is_global else 1
    for lo in range(0, tm.shape[0], max(batch, 1)):
        rows = tm[lo:lo + batch]
        g = _solve_batch(model, inst, theta_p, rows, slv) if len(rows) > 1 else None
        out[lo:lo + len(rows)] = g if g is not None else _solve_each(model, inst, rows, slv)
    return out


def _solve_each(model, inst, rows, slv) -> np.ndarray:
    out = np.full((len(rows), model.n_g), np.nan)
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


def _solve_batch(model, inst, theta_p, rows, slv) -> Optional[np.ndarray]:
    """One solve of ``len(rows)`` independent copies of the square model; None on failure."""
    m = inst.model
    if not hasattr(m, "_g_expr"):
        m._g_expr = pyo.Expression(range(model.n_g), rule=lambda b, k: inst.g[k])
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
    return np.array([[pyo.value(c._g_expr[k]) for k in range(model.n_g)] for c in copies], float)


def diagnose(model, theta_p, theta_m, solver="ipopt") -> str:
    """Structural and numerical warnings from IDAES's DiagnosticsToolbox at (θp, θm)."""
    try:
        from idaes.core.util.diagnostics_tools.diagnostics_toolbox import DiagnosticsToolbox
    except ImportError:
        try:
            from idaes.core.util.model_diagnostics import DiagnosticsToolbox
        except Exception as exc:  # noqa: BLE001
            return f"IDAES diagnostics unavailable: {exc}"
    m = model._template.clone()  # the user's own model (its units intact) at θ
    for uid, x in zip(model._tp_uid + model._tm_uid, np.r_[np.asarray(theta_p, float).ravel(),
                                                       np.asarray(theta_m, float).ravel()]):
        c = uid.find_component_on(m)
        c.fix(float(x)) if getattr(c, "ctype", None) is pyo.Var else c.set_value(float(x))
    for u in model._z_uid:  # controls at their current values: the square model
        u.find_component_on(m).fix()
    for spec in model._g_spec:
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


#: a frame line of IDAES's reports (a row of "=")
_FRAME = re.compile(r"^={20,}\s*$", re.M)
#: "3 WARNINGS", "1 Cautions" (IDAES's counts; "0 WARNINGS" / "No warnings found!" is the boilerplate)
_COUNT = re.compile(r"^\s*(\d+)\s+(WARNINGS?|Cautions?)\b", re.M | re.I)


def diagnostic_findings(report: str) -> str:
    """What of :func:`diagnose`'s ``report`` can explain a failure: each of the toolbox's
    reports (structural, numerical) that counts at least one warning or caution, and any
    note of ours outside them (a check that could not run); "" when everything was clean —
    IDAES's "0 WARNINGS / No warnings found!" frames say nothing about a failed solve."""
    parts = _FRAME.split(report or "")
    kept = []
    for part in parts:
        text = part.strip("\n")
        if not text.strip():
            continue
        counts = [int(n) for n, _ in _COUNT.findall(text)]
        if counts and not any(counts):
            continue  # a clean report: boilerplate
        bar = "=" * 84
        kept.append(f"{bar}\n{text}\n{bar}" if counts else text.strip())
    return "\n".join(kept)
