"""The inner problem of a flexibility analysis with recourse, as Pyomo blocks.

The feasibility function ψ(θ) = min_z max_k g_k(θ, z) (Halemane & Grossmann 1983) is the
inner problem ``min_{z,u} u  s.t.  g_k(θ, z) ≤ u,  z in its bounds``.  Two blocks bound it
from above inside an outer problem over θ:

* :func:`add_inner_kkt` — its KKT conditions with the active set selected by binaries
  (Grossmann & Floudas 1987): u is then the value of *some* stationary point.  The global
  minimiser is one (the constraints ``g_k − u ≤ 0`` satisfy MFCQ: raising u strictly
  satisfies all of them), so maximising u over θ and the KKT system gives an upper bound of
  χ = max_θ ψ(θ), exact when every stationary point is a minimum (g convex in z at fixed θ,
  e.g. linear).  Integer and binary controls have no stationarity row: they stay free
  (discrete) variables of the outer problem, which is still a valid upper bound.
* :func:`add_control_cut` — ``u ≤ max_k g_k(θ, z_i)`` for a fixed control z_i
  (discretisation of the inner problem, Blankenship & Falk 1976): ψ(θ) ≤ max_k g_k(θ, z_i)
  for every z_i, so the cut keeps the bound valid and removes stationary points that are
  not minima (:mod:`flexspace.formulations.bracket` adds one per iteration).

Every big-M and multiplier bound comes from interval arithmetic on the current variable
bounds (θ's set, z's bounds): valid, never heuristic.  Bounds so wide that the constants
exceed what solver tolerances resolve are refused (:data:`MAX_BIG_M`).
"""
from __future__ import annotations

import math
from typing import List, Sequence

import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.fbbt.fbbt import compute_bounds_on_expr
from pyomo.core.expr.calculus.derivatives import Modes, differentiate
from pyomo.core.expr.visitor import replace_expressions

from ..errors import ValidationError

__all__ = ["add_inner_kkt", "add_inner_kkt_states", "add_control_cut", "interval", "MAX_BIG_M",
           "STATE_MULTIPLIER_BOUND"]

#: Largest big-M constant the KKT route accepts.  With a feasibility tolerance of 1e-8
#: (``SolveOptions.feas_tol``) a constant of 1e8 already blurs a complementarity by 1: larger
#: ones (e.g. a control bounded by ±1e12) gave δ = 0 where the truth is 1.897 (measured, the
#: HX network with SCIP).  Our choice; the refusal names the bounds to tighten.
MAX_BIG_M = 1e8


def interval(e, what: str):
    """(lo, hi) of ``e`` by interval arithmetic over the current variable bounds."""
    lo, hi = compute_bounds_on_expr(e) if not isinstance(e, (int, float)) else (float(e), float(e))
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValidationError(f"{what} is unbounded by interval arithmetic over the variable bounds; the KKT route "
                              "needs finite bounds on every variable (bound the controls and the states)")
    return float(lo), float(hi)


def _check_big_m(values, what: str) -> None:
    big = max((abs(v) for v in values), default=0.0)
    if big > MAX_BIG_M:
        raise ValidationError(f"{what}: the KKT route's big-M constants reach {big:.3g} (interval arithmetic over the "
                              f"variable bounds), beyond {MAX_BIG_M:.0e}, where solver tolerances blur the "
                              "complementarity conditions. Give the controls and states their physical ranges "
                              "(tighter bounds), or use method='vertex' for a box set")


def _epigraph(b: pyo.Block, g: Sequence, names: Sequence[str]) -> None:
    """The part shared by both KKT systems: u with its interval bounds, multipliers λ_k ∈ [0, 1]
    with Σλ_k = 1, slacks s_k = u − g_k ≥ 0 and binaries y_k (λ_k ≤ y_k, s_k ≤ M_k (1 − y_k))."""
    K = range(len(g))
    lo, hi = zip(*(interval(e, f"CQA {names[k]!r}") for k, e in enumerate(g)))
    _check_big_m(list(lo) + list(hi), "the CQAs' ranges")
    b.u = pyo.Var(bounds=(max(lo), max(hi)), initialize=max(hi))
    b.lam = pyo.Var(K, bounds=(0.0, 1.0), initialize=1.0 / len(g))
    b.y = pyo.Var(K, domain=pyo.Binary, initialize=1)
    b.s = pyo.Var(K, bounds=lambda _, k: (0.0, max(hi) - lo[k]), initialize=0.0)
    b.slack = pyo.Constraint(K, rule=lambda _, k: b.s[k] == b.u - g[k])
    b.sum_lam = pyo.Constraint(expr=sum(b.lam[k] for k in K) == 1)
    b.lam_y = pyo.Constraint(K, rule=lambda _, k: b.lam[k] <= b.y[k])
    b.s_y = pyo.Constraint(K, rule=lambda _, k: b.s[k] <= (max(hi) - lo[k]) * (1 - b.y[k]))


def add_inner_kkt(b: pyo.Block, g: Sequence, z: Sequence, z_bounds, names: Sequence[str]) -> None:
    """KKT conditions of ``min_{z,u} u s.t. g_k(θ, z) ≤ u, z in bounds`` on block ``b``
    (module docstring): multipliers λ_k ≥ 0 with Σλ_k = 1, stationarity
    Σ_k λ_k ∂g_k/∂z_j + ν⁺_j − ν⁻_j = 0 for each continuous control, slacks s_k = u − g_k ≥ 0,
    binaries y_k (λ_k ≤ y_k, s_k ≤ M_k (1 − y_k)) and w± for the bounds of z, and at most
    n_z + 1 active constraints (Carathéodory's theorem on the stationarity cone)."""
    K = range(len(g))
    cont = [j for j, v in enumerate(z) if v.is_continuous()]
    _epigraph(b, g, names)
    J = range(len(cont))
    dg = [[differentiate(g[k], wrt=z[j], mode=Modes.reverse_symbolic) for j in cont] for k in K]
    nmax = [max(max(abs(x) for x in interval(dg[k][i], f"d{names[k]}/dz")) for k in K) for i in J]
    _check_big_m(nmax, "the CQAs' derivatives in the controls")
    b.nu_lo = pyo.Var(J, bounds=lambda _, i: (0.0, nmax[i]), initialize=0.0)
    b.nu_hi = pyo.Var(J, bounds=lambda _, i: (0.0, nmax[i]), initialize=0.0)
    b.w_lo = pyo.Var(J, domain=pyo.Binary, initialize=0)
    b.w_hi = pyo.Var(J, domain=pyo.Binary, initialize=0)
    b.stat = pyo.Constraint(J, rule=lambda _, i: sum(b.lam[k] * dg[k][i] for k in K) + b.nu_hi[i] - b.nu_lo[i] == 0)
    zb = np.asarray(z_bounds, float)[cont].reshape(-1, 2)
    width = zb[:, 1] - zb[:, 0]
    _check_big_m(width, "the controls' bounds")
    zc = [z[j] for j in cont]
    b.nu_lo_w = pyo.Constraint(J, rule=lambda _, i: b.nu_lo[i] <= nmax[i] * b.w_lo[i])
    b.nu_hi_w = pyo.Constraint(J, rule=lambda _, i: b.nu_hi[i] <= nmax[i] * b.w_hi[i])
    b.at_lo = pyo.Constraint(J, rule=lambda _, i: zc[i] - zb[i, 0] <= width[i] * (1 - b.w_lo[i]))
    b.at_hi = pyo.Constraint(J, rule=lambda _, i: zb[i, 1] - zc[i] <= width[i] * (1 - b.w_hi[i]))
    n_act = sum(b.y[k] for k in K) + sum(b.w_lo[i] + b.w_hi[i] for i in J)
    b.count = pyo.Constraint(expr=n_act <= len(cont) + 1)
    b.continuous = cont  # which controls have stationarity rows (positions in z)


#: With states x and equations h(θ, z, x) = 0, the multipliers μ of h are bounded by this
#: value in the KKT system of :func:`add_inner_kkt_states`.  An *assumption* (our choice, stated in
#: every result that uses it): no interval argument bounds μ, and a true multiplier beyond it
#: would cut the inner minimiser off.  The results say so and are never ``ok``.
STATE_MULTIPLIER_BOUND = 1e3


def _rows(h) -> List[tuple]:
    """(expression, is_equality) for each active row of the ConstraintList ``h``: e = 0, or e ≤ 0."""
    out = []
    for c in h.values():
        if not c.active:
            continue
        if c.equality:
            out.append((c.body - c.upper, True))
            continue
        if c.has_ub():
            out.append((c.body - c.upper, False))
        if c.has_lb():
            out.append((c.lower - c.body, False))
    return out


def add_inner_kkt_states(b: pyo.Block, g: Sequence, z: Sequence, x: Sequence, h, names: Sequence[str]) -> None:
    """KKT conditions of ``min_{z,x,u} u s.t. g_k ≤ u, h = 0 (and the model's inequalities
    d ≤ 0), z and x in their bounds`` on block ``b`` (states x: the model's variables solved
    by h).  As :func:`add_inner_kkt`, plus multipliers μ ∈ [−M, M] of the equations
    (M = :data:`STATE_MULTIPLIER_BOUND`, assumed), π ≥ 0 of the inequalities with binaries, and
    a stationarity row per continuous control and state.  The global minimiser satisfies the
    system only under a constraint qualification (LICQ of h in x: not proven here) with its
    multipliers inside M: the caller labels every result that uses it as resting on both."""
    K = range(len(g))
    cont = [v for v in z if v.is_continuous()]
    _epigraph(b, g, names)
    rows = _rows(h)
    eq = [e for e, is_eq in rows if is_eq]
    ineq = [e for e, is_eq in rows if not is_eq]
    M = STATE_MULTIPLIER_BOUND
    b.mu = pyo.Var(range(len(eq)), bounds=(-M, M), initialize=0.0)
    b.pi = pyo.Var(range(len(ineq)), bounds=(0.0, M), initialize=0.0)
    b.yi = pyo.Var(range(len(ineq)), domain=pyo.Binary, initialize=0)
    dlo = [interval(e, "an inequality of the model")[0] for e in ineq]
    _check_big_m(dlo, "the model's inequalities")
    b.pi_y = pyo.Constraint(range(len(ineq)), rule=lambda _, l: b.pi[l] <= M * b.yi[l])
    b.d_y = pyo.Constraint(range(len(ineq)), rule=lambda _, l: -ineq[l] <= -dlo[l] * (1 - b.yi[l]))
    V = cont + list(x)
    J = range(len(V))

    def grad(e, v):
        return 0.0 if isinstance(e, (int, float)) else differentiate(e, wrt=v, mode=Modes.reverse_symbolic)

    stat = [sum(b.lam[k] * grad(g[k], V[j]) for k in K) + sum(b.mu[i] * grad(e, V[j]) for i, e in enumerate(eq))
            + sum(b.pi[l] * grad(e, V[j]) for l, e in enumerate(ineq)) for j in J]  # plain: MAiNGO reads no Expression
    nmax = [max(abs(t) for t in interval(stat[j], "a stationarity row (states)")) for j in J]
    _check_big_m(nmax, "the KKT multipliers of the variable bounds (states)")
    vb = []
    for v in V:
        if v.lb is None or v.ub is None:
            raise ValidationError(f"variable {v.name!r} has no finite bounds; the KKT route with states needs them "
                                  "(give the state its physical range)")
        vb.append((float(v.lb), float(v.ub)))
    width = [max(b_ - a, 0.0) for a, b_ in vb]
    _check_big_m(width, "the bounds of the controls and states")
    b.nu_lo = pyo.Var(J, bounds=lambda _, j: (0.0, nmax[j]), initialize=0.0)
    b.nu_hi = pyo.Var(J, bounds=lambda _, j: (0.0, nmax[j]), initialize=0.0)
    b.w_lo = pyo.Var(J, domain=pyo.Binary, initialize=0)
    b.w_hi = pyo.Var(J, domain=pyo.Binary, initialize=0)
    b.stat = pyo.Constraint(J, rule=lambda _, j: stat[j] + b.nu_hi[j] - b.nu_lo[j] == 0)
    b.nu_lo_w = pyo.Constraint(J, rule=lambda _, j: b.nu_lo[j] <= nmax[j] * b.w_lo[j])
    b.nu_hi_w = pyo.Constraint(J, rule=lambda _, j: b.nu_hi[j] <= nmax[j] * b.w_hi[j])
    b.at_lo = pyo.Constraint(J, rule=lambda _, j: V[j] - vb[j][0] <= width[j] * (1 - b.w_lo[j]))
    b.at_hi = pyo.Constraint(J, rule=lambda _, j: vb[j][1] - V[j] <= width[j] * (1 - b.w_hi[j]))
    b.continuous = [i for i, v in enumerate(z) if v.is_continuous()]


def add_control_cut(b: pyo.Block, g: Sequence, z: Sequence, z_value, u, names: Sequence[str]) -> None:
    """``u ≤ max_k g_k(θ, z_value)`` on block ``b``: binaries pick the k (Σ sel_k = 1) and
    ``u ≤ g_k(θ, z_value) + M_k (1 − sel_k)`` with M_k = ub(u) − lb(g_k(θ, z_value)) by interval
    arithmetic (valid for every θ of the current bounds).  One CQA needs no binary."""
    sub = {id(v): float(x) for v, x in zip(z, np.asarray(z_value, float))}
    gz: List = [e if isinstance(e, (int, float)) else replace_expressions(e, substitution_map=sub,
                                                                          remove_named_expressions=True) for e in g]
    b.z_value = [float(x) for x in np.asarray(z_value, float)]
    if len(gz) == 1:
        b.cut = pyo.Constraint(expr=u <= gz[0])
        return
    K = range(len(gz))
    lo = [interval(e, f"CQA {names[k]!r} at a fixed control")[0] for k, e in enumerate(gz)]
    M = [max(u.ub - lo[k], 0.0) for k in K]
    _check_big_m(M, "the cut of a fixed control")
    b.sel = pyo.Var(K, domain=pyo.Binary, initialize=0)
    b.one = pyo.Constraint(expr=sum(b.sel[k] for k in K) == 1)
    b.cut = pyo.Constraint(K, rule=lambda _, k: u <= gz[k] + M[k] * (1 - b.sel[k]))
