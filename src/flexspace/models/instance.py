"""The instance a formulation is written on: :class:`ModelInstance` (a fresh Pyomo model of
the process on plain θ variables, built by :func:`flexspace.models.rewrite.build_instance`)
and feasibility-based bound tightening over its equations (:func:`fbbt_h`).

The states' bounds derived here are relaxations (every solution of ``h = 0`` satisfies
them); the model's *domain* at θ (seed Alg. 1 counts a sample outside it infeasible) is
proven by :mod:`flexspace.formulations.domain`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
import pyomo.environ as pyo
from pyomo.core.expr.visitor import identify_variables

__all__ = ["ModelInstance", "fbbt_h", "FBBT_PAD", "FBBT_FEASIBILITY_TOL"]


def _has_variables(e) -> bool:
    if isinstance(e, (int, float)):
        return False
    return any(True for _ in identify_variables(e, include_fixed=True))


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
