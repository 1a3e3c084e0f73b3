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

import io
import math
import logging
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import pyomo.environ as pyo
from pyomo.core.base.component import ComponentData
from pyomo.core.expr.visitor import replace_expressions
from pyomo.core.base.componentuid import ComponentUID

from ..formulations.sets import _as_vector, validate_covariance

__all__ = ["ProcessModel", "ModelInstance", "NotSquareError"]

Simulator = Callable[[np.ndarray, np.ndarray], np.ndarray]


class NotSquareError(ValueError):
    """The model does not have zero degrees of freedom once θp and θm are fixed."""


def _expand(components, what: str) -> Dict[str, object]:
    """Turn a dict / list / single component (scalar or indexed) into {name: data object}."""
    if components is None:
        raise ValueError(f"{what} must be given")
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
            raise TypeError(
                f"{what}: a bare expression ({c}) cannot be located in the copies flexspace makes; "
                "wrap it in a named pyo.Expression on the model, or pass a callable f(m) returning it.")
        if callable(c) and not isinstance(c, (ComponentData, pyo.Component)):
            out[name or f"{what}{len(out)}"] = c
            continue
        if not isinstance(c, (ComponentData, pyo.Component)):
            raise TypeError(
                f"{what}: {c!r} is not a Pyomo component. Pass model components (e.g. m.k1, or an "
                "indexed m.k), a named Expression/Constraint, or a callable f(m) returning an expression "
                "(a bare expression cannot be located in the copies flexspace makes)."
            )
        if c.is_indexed():
            for idx, cd in c.items():
                out[f"{name}[{idx}]" if name else cd.name] = cd
        else:
            out[name or c.name] = c
    return out


def _check_theta(name: str, c) -> None:
    if isinstance(c, pyo.Var) or getattr(c, "ctype", None) is pyo.Var:
        return
    if getattr(c, "ctype", None) is pyo.Param:
        if not c.parent_component().mutable:
            raise TypeError(f"{name}: Param {c.name!r} is not mutable; declare it with mutable=True")
        return
    raise TypeError(f"{name}: {getattr(c, 'name', c)!r} must be a mutable Param or a Var")


@dataclass
class ModelInstance:
    """A fresh Pyomo model of the process, written on plain θ variables.

    ``model.process`` is the clone of the user's model (its own equations
    deactivated), ``model.h`` the rewritten equations, ``theta_p``/``theta_m`` lists of
    ``VarData`` and ``g`` a list of expressions (feasible ⇔ ``g ≤ 0``)."""

    model: pyo.ConcreteModel
    theta_p: List
    theta_m: List
    g: List
    g_names: List[str]

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
            return SolveResult(SolverStatus.OPTIMAL, message="no state variables: nothing to solve")
        return solver.solve(self.model)

    def g_values(self) -> np.ndarray:
        return np.array([pyo.value(e) for e in self.g], dtype=float)

    def state_vars(self) -> List:
        """Unfixed variables appearing in the model equations (the states x)."""
        from pyomo.core.expr.visitor import identify_variables

        seen, out = set(), []
        theta_ids = {id(v) for v in self.theta_p + self.theta_m}
        for c in self.model.h.values():
            for v in identify_variables(c.body, include_fixed=False):
                if id(v) not in seen and id(v) not in theta_ids:
                    seen.add(id(v))
                    out.append(v)
        for e in self.g:
            for v in identify_variables(e, include_fixed=False):
                if id(v) not in seen and id(v) not in theta_ids:
                    seen.add(id(v))
                    out.append(v)
        return out


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
    ):
        tp = _expand(theta_p, "theta_p")
        tm = _expand(theta_m, "theta_m")
        for nm, c in list(tp.items()) + list(tm.items()):
            _check_theta(nm, c)
        gs = _expand(constraints, "g")
        if not gs:
            raise ValueError("constraints: give at least one CQA constraint g_k <= 0")
        self.name = name
        self.description = description
        self.sources = sources
        self.theta_p_names = list(tp)
        self.theta_m_names = list(tm)
        self.g_names = list(gs)
        self._template = model.clone()
        cuid = lambda c: ComponentUID(c)  # noqa: E731
        self._tp_uid = [cuid(c) for c in tp.values()]
        self._tm_uid = [cuid(c) for c in tm.values()]
        self._g_spec = [(cuid(c) if not callable(c) or isinstance(c, (ComponentData, pyo.Component)) else c)
                        for c in gs.values()]
        cur = lambda cs: np.array([pyo.value(c) for c in cs.values()], dtype=float)  # noqa: E731
        self.theta_m_nominal = _as_vector("theta_m_nominal", cur(tm) if theta_m_nominal is None else theta_m_nominal,
                                          len(tm))
        self.covariance = validate_covariance(covariance, len(tm))
        self.theta_p_nominal = _as_vector("theta_p_nominal", cur(tp) if theta_p_nominal is None else theta_p_nominal,
                                          len(tp))
        self.theta_p_bounds = None
        if theta_p_bounds is not None:
            b = np.asarray(theta_p_bounds, dtype=float)
            if b.shape != (len(tp), 2):
                raise ValueError(f"theta_p_bounds must have shape ({len(tp)}, 2), got {b.shape}")
            if not np.all(np.isfinite(b)):
                raise ValueError(f"theta_p_bounds contains NaN or inf: {b.tolist()}; give finite (lo, hi) pairs")
            if np.any(b[:, 0] >= b[:, 1]):
                raise ValueError(f"theta_p_bounds needs lo < hi in every row, got {b.tolist()}")
            self.theta_p_bounds = b
        if not (isinstance(delta_max, (int, float, np.floating)) and math.isfinite(delta_max) and delta_max > 0):
            raise ValueError(f"delta_max must be a positive finite number (sigma units), got {delta_max!r}")
        self.delta_max = float(delta_max)
        self.simulator = simulator
        if check_square:
            self.check_square()

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

    def __repr__(self) -> str:
        return (f"ProcessModel({self.name!r}, theta_p={self.theta_p_names}, theta_m={self.theta_m_names}, "
                f"g={self.g_names}, simulator={'yes' if self.simulator else 'no'})")

    # ------------------------------------------------------------------ checks
    def check_square(self) -> None:
        """Refuse a model that is not square once θp and θm are fixed (IDAES check)."""
        from idaes.core.util.model_statistics import (
            degrees_of_freedom,
            number_activated_equalities,
            number_variables_in_activated_equalities,
            number_unused_variables,
        )

        m = self._template.clone()
        for u in self._tp_uid + self._tm_uid:
            c = u.find_component_on(m)
            if getattr(c, "ctype", None) is pyo.Var:
                c.fix()
        for spec in self._g_spec:
            if isinstance(spec, ComponentUID):
                c = spec.find_component_on(m)
                if getattr(c, "ctype", None) is pyo.Constraint:
                    c.deactivate()
        dof = degrees_of_freedom(m)
        if dof != 0:
            n_var = number_variables_in_activated_equalities(m)
            n_eq = number_activated_equalities(m)
            raise NotSquareError(
                f"model {self.name!r} is not square once theta_p and theta_m are fixed: {dof} degrees of "
                f"freedom ({n_var} unfixed variables in {n_eq} active equality constraints). Every state "
                "must be determined by the equations: fix the extra variables, or add the missing equations "
                "(a CQA must be passed as a constraint g <= 0, not as an equation)."
            )

    # ------------------------------------------------------------------ instances
    def instance(self) -> ModelInstance:
        """A fresh Pyomo model with θ as plain Vars and all equations rewritten on them."""
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
        # CQA expressions (before deactivating constraints that define them)
        g_exprs = []
        for nm, spec in zip(self.g_names, self._g_spec):
            if isinstance(spec, ComponentUID):
                c = spec.find_component_on(proc)
                if getattr(c, "ctype", None) is pyo.Constraint:
                    if c.has_ub() and not c.has_lb():
                        e = c.body - c.upper
                    elif c.has_lb() and not c.has_ub():
                        e = c.lower - c.body
                    else:
                        raise ValueError(f"constraint {nm!r} must be a one-sided inequality to be a CQA g <= 0")
                    c.deactivate()
                else:
                    e = c.expr if hasattr(c, "expr") else c
            else:
                e = spec(proc)
            g_exprs.append(replace_expressions(e, substitution_map=sub, remove_named_expressions=True))
        top.h = pyo.ConstraintList()
        for c in list(proc.component_data_objects(pyo.Constraint, active=True, descend_into=True)):
            body = replace_expressions(c.body, substitution_map=sub, remove_named_expressions=True)
            lo = None if c.lower is None else pyo.value(c.lower)
            up = None if c.upper is None else pyo.value(c.upper)
            if c.equality:
                top.h.add(body == up)
            else:
                top.h.add(pyo.inequality(lo, body, up))
            c.deactivate()
        for o in proc.component_data_objects(pyo.Objective, active=True, descend_into=True):
            o.deactivate()
        return ModelInstance(top, list(top.theta_p.values()), list(top.theta_m.values()), g_exprs,
                             list(self.g_names))

    # ------------------------------------------------------------------ simulation
    def simulate(self, theta_p, theta_m) -> np.ndarray:
        """g (N, K) at one θp for each row of θm (N, n_m), via the vectorised simulator."""
        if self.simulator is None:
            raise ValueError(f"model {self.name!r} has no vectorised simulator; use a Pyomo-based evaluation")
        tm = np.atleast_2d(np.asarray(theta_m, float))
        g = np.asarray(self.simulator(np.asarray(theta_p, float), tm), dtype=float)
        if g.shape != (tm.shape[0], self.n_g):
            raise ValueError(f"simulator returned shape {g.shape}, expected {(tm.shape[0], self.n_g)}")
        return g

    def evaluate_pyomo(self, theta_p, theta_m, solver="ipopt", instance: Optional[ModelInstance] = None) -> np.ndarray:
        """g (N, K) by square Pyomo solves (one per row of θm); NaN rows where the solve failed.

        The slow path (the seed's Monte Carlo did this); used when no simulator exists."""
        from ..solvers import get_solver

        inst = instance or self.instance()
        slv = get_solver(solver)
        tm = np.atleast_2d(np.asarray(theta_m, float))
        m = inst.model
        if not hasattr(m, "_square_obj"):
            m._square_obj = pyo.Objective(expr=0.0)
        out = np.full((tm.shape[0], self.n_g), np.nan)
        inst.set_theta(theta_p, None)
        for i, row in enumerate(tm):
            inst.set_theta(None, row)
            res = inst.solve_square(slv)
            if res.status.ok:
                out[i] = inst.g_values()
        return out

    def diagnose(self, theta_p, theta_m, solver="ipopt") -> str:
        """Structural and numerical warnings from IDAES's DiagnosticsToolbox at (θp, θm)."""
        try:
            from idaes.core.util.diagnostics_tools.diagnostics_toolbox import DiagnosticsToolbox
        except ImportError:
            try:
                from idaes.core.util.model_diagnostics import DiagnosticsToolbox
            except Exception as exc:  # noqa: BLE001
                return f"IDAES diagnostics unavailable: {exc}"
        inst = self.instance()
        inst.set_theta(theta_p, theta_m)
        buf = io.StringIO()
        logging.getLogger("idaes").setLevel(logging.ERROR)
        try:
            dt = DiagnosticsToolbox(inst.model)
            dt.report_structural_issues(stream=buf)
            try:
                from ..solvers import get_solver

                inst.model._square_obj = pyo.Objective(expr=0.0)
                get_solver(solver).solve(inst.model)
                dt.report_numerical_issues(stream=buf)
            except Exception as exc:  # noqa: BLE001
                buf.write(f"\n(numerical checks skipped: {exc})\n")
        except Exception as exc:  # noqa: BLE001
            buf.write(f"DiagnosticsToolbox failed: {type(exc).__name__}: {exc}")
        return buf.getvalue()
