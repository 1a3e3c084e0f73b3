"""The model's domain, defined once: where the process has a solution.

**Definition.**  θm is in the *domain* of the model at θp when ``h(θp, x, θm) = 0`` has
a solution x that satisfies every domain constraint ``d_j(x, θ) ≤ 0`` — the states'
bounds and the model's own inequalities (:attr:`ModelInstance.domain`).  Outside it the
process has no steady state the model admits: seed Algorithm 1 counts such a sample
infeasible, and so does flexspace everywhere — Monte Carlo, certification samples, the
capping check, the flexibility index and the flexibility test.  A set that contains a
θm outside the domain is not a feasible set.

**Proof that set(δ) lies in the domain** (global solvers).  set(δ) is convex and
contains θ̄m, where a solution exists (the nominal solve).  Continue that solution along
the segment to any θ in the set: by the implicit-function theorem the branch goes on
while ``J = ∂h/∂x`` is nonsingular and x stays strictly inside every ``d_j ≤ 0`` (x stays
bounded: every state has finite bounds, given or derived).  So set(δ) is in the domain if

(a) no solution in set(δ) *touches* a domain constraint: ``h = 0, d_j ≥ 0`` is
    infeasible — skipped when interval arithmetic (FBBT over the set's box) already
    gives ``d_j < 0``, else one global solve per j;
(b) J is nonsingular at every solution in set(δ): an interval test (``‖|I − C J_mid| +
    |C| J_rad‖∞ < 1`` with ``C = J_mid⁻¹``, over FBBT's box) or, when it is
    inconclusive, a global solve of ``h = 0, J v = 0, ‖v‖² = 1``.

A touching point or a singular point at size δ_d bounds the flexibility index from above
(``δ ≤ δ_d``); the conditions are sufficient, not necessary, so the bound is conservative.
"""
from __future__ import annotations

from typing import List, Optional

import numpy as np
import pyomo.environ as pyo

__all__ = ["DomainBlock", "DomainProof", "add_domain_checks"]


class DomainBlock:
    """Handles to the (deactivated) domain-check constraints on one problem.

    ``touch[j]``: ``d_j ≥ 0``; ``jac``: the singular-Jacobian block (None when h has no
    states, or J is not square — then the domain cannot be proven here: ``reason``)."""

    def __init__(self, block: pyo.Block, names: List[str], exprs: List, jac_exprs, states, reason: str = ""):
        self.block = block
        self.names = names
        self.exprs = exprs
        self.jac_exprs = jac_exprs
        self.states = states
        self.reason = reason

    @property
    def provable(self) -> bool:
        return not self.reason

    @property
    def touch(self):
        return self.block.touch

    @property
    def jac(self):
        return getattr(self.block, "jac", None)


def _jacobian(inst):
    """∂h/∂x of the equalities of h over the states they contain (None, reason) when not square."""
    from pyomo.core.expr.calculus.derivatives import Modes, differentiate
    from pyomo.core.expr.visitor import identify_variables

    eqs = [c for c in inst.model.h.values() if c.equality]
    theta_ids = {id(v) for v in inst.theta_p + inst.theta_m}
    seen, states = set(), []
    for c in eqs:
        for v in identify_variables(c.body, include_fixed=False):
            if id(v) not in theta_ids and id(v) not in seen:
                seen.add(id(v))
                states.append(v)
    if not states:
        return [], [], ""
    if len(states) != len(eqs):
        return None, states, (f"the equations of h ({len(eqs)}) and their states ({len(states)}) do not form a "
                              "square system: the Jacobian test does not apply")
    try:
        rows = [differentiate(c.body, wrt_list=states, mode=Modes.reverse_symbolic) for c in eqs]
    except Exception as exc:  # noqa: BLE001 - e.g. a function Pyomo cannot differentiate symbolically
        return None, states, f"the Jacobian of h cannot be formed symbolically ({type(exc).__name__}: {exc})"
    return rows, states, ""


def add_domain_checks(block: pyo.Block, inst) -> DomainBlock:
    """Write the domain checks (a) and (b) onto ``block`` (all deactivated)."""
    names = [n for n, _ in inst.domain]
    exprs = [e for _, e in inst.domain]
    block.touch = pyo.Constraint(range(len(exprs)), rule=lambda b, j: exprs[j] >= 0)
    block.touch.deactivate()
    # objectives for the feasibility form (flexibility test): some solvers reject a constant one
    block.touch_obj = pyo.Objective(range(len(exprs)), rule=lambda b, j: exprs[j], sense=pyo.maximize)
    block.touch_obj.deactivate()
    edges = restricted_arguments(inst)
    block.edge = pyo.Constraint([i for i, (kind, _) in enumerate(edges) if kind in ("sqrt", "pow")],
                                rule=lambda b, i: edges[i][1] <= 0)
    block.edge.deactivate()
    block.edge_obj = pyo.Objective(list(block.edge.keys()), rule=lambda b, i: -edges[i][1], sense=pyo.maximize)
    block.edge_obj.deactivate()
    rows, states, reason = _jacobian(inst)
    if rows:
        n = len(states)
        jb = pyo.Block()
        block.add_component("jac", jb)
        jb.v = pyo.Var(range(n), bounds=(-1.0, 1.0), initialize=1.0 / np.sqrt(n))
        jb.null = pyo.Constraint(range(n), rule=lambda b, i: sum(rows[i][j] * b.v[j] for j in range(n)
                                                                if not _is_zero(rows[i][j])) == 0)
        jb.norm = pyo.Constraint(expr=sum(jb.v[j] ** 2 for j in range(n)) == 1)
        jb.obj = pyo.Objective(expr=jb.v[0], sense=pyo.maximize)
        jb.obj.deactivate()
        jb.deactivate()
    dom = DomainBlock(block, names, exprs, rows, states, reason)
    dom.edges = edges
    return dom


_LIMITED = ("sqrt", "log", "log10", "asin", "acos")


def restricted_arguments(inst) -> List[tuple]:
    """``(kind, argument)`` of every function in h and g that is defined on part of the
    line only: sqrt, log, log10, asin, acos, a non-integer power, a division.  A solution
    branch can end where such an argument leaves its domain, without reaching a bound and
    without a singular Jacobian, so the domain proof must look at them too."""
    from pyomo.core.expr.numeric_expr import DivisionExpression, PowExpression, UnaryFunctionExpression

    out = []

    def walk(e):
        if not hasattr(e, "is_expression_type") or not e.is_expression_type():
            return
        if isinstance(e, UnaryFunctionExpression) and e.getname() in _LIMITED:
            out.append((e.getname(), e.args[0]))
        elif isinstance(e, PowExpression):
            base, ex = e.args
            if not _has_vars(ex):
                x = pyo.value(ex)
                if float(x) != int(x) or x < 0:
                    out.append(("pow" if x > 0 else "div", base))
            else:
                out.append(("log", base))  # a variable exponent: base^y = exp(y log base)
        elif isinstance(e, DivisionExpression) and _has_vars(e.args[1]):
            out.append(("div", e.args[1]))
        for a in e.args:
            walk(a)

    for c in inst.model.h.values():
        walk(c.body)
    for e in inst.g:
        walk(e)
    return out


def _has_vars(e) -> bool:
    from pyomo.core.expr.visitor import identify_variables

    return not isinstance(e, (int, float)) and any(True for _ in identify_variables(e, include_fixed=False))


def _argument_safe(kind: str, arg) -> bool:
    """Interval arithmetic over the current bounds keeps ``arg`` inside the function's domain."""
    from pyomo.contrib.fbbt.fbbt import compute_bounds_on_expr

    lo, hi = compute_bounds_on_expr(arg)
    if lo is None or hi is None:
        return False
    if kind in ("sqrt", "pow"):
        # strictly: FBBT itself assumes a solution and clips the argument at 0, the edge we look for
        return lo > 1e-12
    if kind in ("log", "log10"):
        return lo > 0
    if kind == "div":
        return lo > 0 or hi < 0
    return lo >= -1 and hi <= 1  # asin, acos


def _is_zero(e) -> bool:
    return isinstance(e, (int, float)) and e == 0


# --------------------------------------------------------------------------- interval side
def interval_checks(dom: DomainBlock, inst) -> tuple:
    """FBBT over the current variable bounds (θ bounded by the set's box), then
    ``(needed, jacobian_proven)``: the indices j whose ``d_j < 0`` interval arithmetic does
    *not* prove, and whether the interval Jacobian test proves J nonsingular.  Variable
    bounds are restored afterwards."""
    from pyomo.contrib.fbbt.fbbt import compute_bounds_on_expr

    from ..models.base import fbbt_h

    saved = [(v, v.lb, v.ub) for v in inst.model.component_data_objects(pyo.Var, descend_into=True)]
    try:
        try:
            fbbt_h(inst)
        except Exception:  # noqa: BLE001 - FBBT inconclusive/infeasible here: prove nothing by intervals
            return list(range(len(dom.exprs))), False, list(range(len(dom.edges)))
        needed = []
        for j, e in enumerate(dom.exprs):
            _, hi = compute_bounds_on_expr(e)
            if hi is None or hi >= -1e-9:
                needed.append(j)
        jac_ok = _interval_nonsingular(dom.jac_exprs)
        unsafe = [i for i, (kind, arg) in enumerate(dom.edges) if not _argument_safe(kind, arg)]
    finally:
        for v, lb, ub in saved:
            v.setlb(lb)
            v.setub(ub)
    needed = [j for j in needed if not _multiple_of_an_equation(dom.exprs[j], inst)]
    if dom.edges:  # _never_crossed's FBBT would use these functions' own domains as bounds
        return needed, jac_ok, unsafe
    return _never_crossed(dom, inst, needed, saved), jac_ok, unsafe


def _never_crossed(dom: DomainBlock, inst, needed: List[int], saved) -> List[int]:
    """Drop from ``needed`` the d_j that the *equations* of h alone keep ≤ 0 (FBBT with no
    state bounds and no inequality): e.g. an initial condition ``A(0) == 1`` on its bound
    ``A ≤ 1``.  Such a constraint can be touched but never crossed, so the solution branch
    never leaves through it.  (Checked with every state bound removed, so that two bounds
    cannot vouch for each other.)"""
    from pyomo.contrib.fbbt.fbbt import compute_bounds_on_expr, fbbt

    if not needed:
        return needed
    theta_ids = {id(v) for v in inst.theta_p + inst.theta_m}
    try:
        for v, _, _ in saved:
            if id(v) not in theta_ids:
                v.setlb(None)
                v.setub(None)
        eqs = [c for c in inst.model.h.values() if c.active and c.equality]
        try:
            for _ in range(3):
                for c in eqs:
                    fbbt(c, deactivate_satisfied_constraints=False)
        except Exception:  # noqa: BLE001 - inconclusive: keep every check
            return needed
        keep = []
        for j in needed:
            _, hi = compute_bounds_on_expr(dom.exprs[j])
            if hi is None or hi > 1e-9:
                keep.append(j)
        return keep
    finally:
        for v, lb, ub in saved:
            v.setlb(lb)
            v.setub(ub)


def _linear_key(e):
    """``{var id: coefficient}`` and constant of a linear expression (None if not linear)."""
    from pyomo.repn import generate_standard_repn

    r = generate_standard_repn(e, compute_values=True, quadratic=False)
    if not r.is_linear() or r.nonlinear_expr is not None:
        return None
    return {id(v): float(c) for v, c in zip(r.linear_vars, r.linear_coefs) if c != 0}, float(r.constant)


def _multiple_of_an_equation(d, inst) -> bool:
    """``d`` is a constant multiple of an equation of h (``x(0) == x0`` against the bound
    ``x ≤ x0``): d = 0 at every solution, so it is never crossed (intervals cannot see it)."""
    kd = _linear_key(d)
    if kd is None or not kd[0]:
        return False
    for c in inst.model.h.values():
        if not (c.active and c.equality):
            continue
        kh = _linear_key(c.body - c.upper)
        if kh is None or set(kh[0]) != set(kd[0]):
            continue
        i = next(iter(kd[0]))
        f = kd[0][i] / kh[0][i]
        if all(abs(kd[0][v] - f * kh[0][v]) <= 1e-12 * (1 + abs(kd[0][v])) for v in kd[0]) \
                and abs(kd[1] - f * kh[1]) <= 1e-12 * (1 + abs(kd[1])):
            return True
    return False


def _interval_nonsingular(rows) -> bool:
    """Every matrix in the interval Jacobian is nonsingular (sufficient test)."""
    from pyomo.contrib.fbbt.fbbt import compute_bounds_on_expr

    if rows is None:
        return False
    if not rows:
        return True
    n = len(rows)
    lo = np.zeros((n, n))
    hi = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            e = rows[i][j]
            if isinstance(e, (int, float)):
                lo[i, j] = hi[i, j] = float(e)
                continue
            a, b = compute_bounds_on_expr(e)
            if a is None or b is None:
                return False
            lo[i, j], hi[i, j] = a, b
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        return False
    mid, rad = 0.5 * (lo + hi), 0.5 * (hi - lo)
    # outward rounding: widen by a few ulps of the entries, and refuse ill-conditioned centres
    rad = rad + 8 * np.finfo(float).eps * (np.abs(mid) + np.abs(rad)) + 1e-300
    if not np.isfinite(np.linalg.cond(mid)) or np.linalg.cond(mid) > 1e8:
        return False
    try:
        C = np.linalg.inv(mid)
    except np.linalg.LinAlgError:
        return False
    K = np.abs(np.eye(n) - C @ mid) + np.abs(C) @ rad
    return bool(np.max(np.sum(K, axis=1)) < 1.0 - 1e-6)


def domain_subproblems(dom: DomainBlock, inst) -> Optional[List[tuple]]:
    """The domain subproblems still to solve after the interval checks, as
    ``(name, constraints, blocks, feasibility objective)``; None when the domain cannot be
    proven here (the reason in ``dom.why``)."""
    dom.why = dom.reason
    if not dom.provable:
        return None
    missing = [v.name for v in inst.state_vars() if v.lb is None or v.ub is None]
    if missing:
        dom.why = f"states without finite bounds on this set: {missing[:5]}"
        return None
    needed, jac_ok, unsafe = interval_checks(dom, inst)
    bad = [dom.edges[i][0] for i in unsafe if dom.edges[i][0] not in ("sqrt", "pow")]
    if bad:
        dom.why = f"the argument of {bad[0]} may leave its domain on this set (interval arithmetic)"
        return None
    out = [(f"domain: {dom.names[j]}", [dom.touch[j]], [], dom.block.touch_obj[j]) for j in needed]
    out += [(f"domain: {dom.edges[i][0]} argument reaches 0", [dom.block.edge[i]], [], dom.block.edge_obj[i])
            for i in unsafe]
    if dom.jac is not None and not jac_ok:
        out.append(("domain: singular Jacobian", [], [dom.jac], dom.jac.obj))
    return out


# --------------------------------------------------------------------------- one proof for many points
class DomainProof:
    """Domain checks proven *once* over a whole θp box × set(δ) (a map's grid box, or
    Algorithm 3's θp bounds, with θm in set(δ_max)).

    A check (a)/(b) of the module docstring that is infeasible with θp free in the box and
    θm anywhere in set(δ) is infeasible at every θp of the box and every smaller set: the
    per-point solves of that check add nothing and are skipped.  Each point's proof is
    still a global solve — the same one, over a superset.  Checks that are not proven here
    (a touching point somewhere in the box, a time-out) stay per point.

    ``lower``/``upper``: the θp box actually used (the requested box widened by 1e-5 of
    its span and centre, so that the per-point boxes' own 1e-6 padding stays inside);
    ``delta``: the set size; ``proven``: names of the proven checks; ``unproven``: name ->
    why not; ``time``: seconds spent."""

    def __init__(self, lower, upper, delta: float, proven, unproven: dict, time_s: float):
        self.lower = np.asarray(lower, float)
        self.upper = np.asarray(upper, float)
        self.delta = float(delta)
        self.proven = frozenset(proven)
        self.unproven = dict(unproven)
        self.time = float(time_s)

    @property
    def complete(self) -> bool:
        """Every check was proven: a covered point needs no domain work at all."""
        return not self.unproven

    def covers(self, lower, upper, delta: float) -> bool:
        """True when the θp box [lower, upper] and set(delta) lie inside the proof's."""
        lo, hi = np.asarray(lower, float), np.asarray(upper, float)
        return bool(delta <= self.delta and np.all(lo >= self.lower) and np.all(hi <= self.upper))

    def split(self, todo: List[tuple], lower, upper, delta: float):
        """``todo`` (from :func:`domain_subproblems`) -> (still to solve, proven by this proof)."""
        if not self.covers(lower, upper, delta):
            return todo, []
        return [t for t in todo if t[0] not in self.proven], [t for t in todo if t[0] in self.proven]

    def summary(self) -> str:
        return (f"all {len(self.proven)} domain checks proven once over the theta_p box "
                f"{np.round(self.lower, 6).tolist()}..{np.round(self.upper, 6).tolist()} and set({self.delta:g}) "
                "(prove_domain: interval arithmetic or global solves)")

    def __repr__(self) -> str:
        return (f"DomainProof(box={self.lower.tolist()}..{self.upper.tolist()}, delta={self.delta:g}, "
                f"proven={sorted(self.proven)}, unproven={list(self.unproven)}, time={self.time:.2f} s)")


def widened_box(lower, upper):
    """The box a :class:`DomainProof` is solved over: ``[lower, upper]`` widened by 1e-5 of
    its span and centre (covers the per-point boxes' 1e-6 relative padding)."""
    lo, hi = np.asarray(lower, float), np.asarray(upper, float)
    pad = 1e-5 * (np.abs(hi - lo) + np.abs(0.5 * (lo + hi))) + 1e-9
    return lo - pad, hi + pad
