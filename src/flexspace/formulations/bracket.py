"""The exact route for recourse that may be nonconvex: χ and δ bracketed between proven bounds.

With controls z, the flexibility test is a max-min problem, χ = max_{θ ∈ T} ψ(θ) with
ψ(θ) = min_z max_k g_k(θ, z) (Halemane & Grossmann 1983).  When g is not convex in z the
KKT reformulation of the inner problem (Grossmann & Floudas 1987) also admits stationary
points that are not minima, so on its own it only bounds χ from above.  This module closes
the gap by discretising the inner problem (Blankenship & Falk 1976; for max-min and
semi-infinite programs Falk & Hoffman 1977, Mitsos 2011; for flexibility with nonconvex
recourse Floudas, Gümüş & Ierapetritou 2001):

* **upper bound** (test): the relaxation ``max u over θ ∈ T(δ)`` with the KKT system of
  the inner problem (:func:`~flexspace.formulations.kkt.add_inner_kkt`) and one cut
  ``u ≤ max_k g_k(θ, z_i)`` per control z_i found so far
  (:func:`~flexspace.formulations.kkt.add_control_cut`), solved globally: its proven bound
  is ≥ χ, because the true worst θ with its optimal control satisfies every constraint;
* **lower bound**: ψ solved globally at the relaxation's θ̂
  (:class:`~flexspace.models.controls.InnerProblem`): χ ≥ ψ(θ̂) ≥ the solver's bound;
* the optimal control at θ̂ becomes the next cut, which removes θ̂'s spurious stationary
  point; repeat until the bounds meet within the gap (status ``ok``) or the iterations run
  out (status ``bound``: both bounds reported, the safe one in the value fields).

The index δ* = inf{δ : some θ ∈ T(δ) has ψ(θ) ≥ τ} (τ = :data:`VIOLATION_TOL`) is bracketed
the same way: the relaxation ``min δ`` with u ≥ τ and the cuts gives δ_L ≤ δ*; a θ with a
proven ψ(θ) ≥ τ gives δ* ≤ its gauge (the relaxation's θ̂, or a point a relative ``gap``
further out on the same ray).

A relaxation bound below a proven lower bound (beyond the tolerance) is a numerical
contradiction and fails the result; it is never reported as an answer.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
import pyomo.environ as pyo

from ..solvers import SolverStatus, objective_sense
from .kkt import add_control_cut, add_inner_kkt, add_inner_kkt_states

__all__ = ["Bracket", "bracket_test", "bracket_index", "probe_index_upper", "VIOLATION_TOL"]

#: A θ counts as violating for the index when ψ(θ) ≥ τ = 1e-6 (in the CQAs' units): with
#: ψ ≥ 0 a design whose feasible region merely touches zero (e.g. two CQAs that pin a control,
#: Qc_min = Qc_max) would get δ = 0.  Our choice, the same order as the solvers' feasibility
#: tolerances; the result's ``certification`` states it.
VIOLATION_TOL = 1e-6


@dataclass
class Bracket:
    """Proven bounds of χ (test) or δ (index) and what produced them."""

    lower: float = -math.inf
    upper: float = math.inf
    converged: bool = False
    iterations: int = 0
    #: θ (θp, θm) and control where the bound on the unsafe side was proven (test: the θ of
    #: the lower bound; index: the θ of the upper bound)
    theta_p: Optional[np.ndarray] = None
    theta_m: Optional[np.ndarray] = None
    z: Optional[np.ndarray] = None
    #: index: the last relaxation point θ̂ (the critical θ on the edge of set(δ_L)) and ψ's control there
    theta_hat: Optional[np.ndarray] = None
    z_hat: Optional[np.ndarray] = None
    failed: str = ""  #: why the bracket could not be completed ("" when it could)
    history: List[tuple] = field(default_factory=list)  #: (iteration, lower, upper, seconds)
    solves: List = field(default_factory=list)  #: (name, SolveResult-like, value) of every solve
    time: float = 0.0

    def gap_closed(self, rel: float, abs_: float) -> bool:
        if not (math.isfinite(self.lower) and math.isfinite(self.upper)):
            return False
        tol = max(4.0 * abs_, 4.0 * rel * max(1.0, abs(self.lower), abs(self.upper)))
        return self.upper - self.lower <= tol


class _Relaxation:
    """The relaxation model (KKT system + cuts) with θ free in its set, for one problem."""

    def __init__(self, ra, inst, names, delta: Optional[float] = None):
        self.ra, self.inst, self.m = ra, inst, inst.model
        self.names = names
        self.delta = delta  #: the tested set size (flexibility test; None for the index)
        self.n_cuts = 0
        self.cuts: List[np.ndarray] = []
        self.fbbt: List[str] = []

    @property
    def states(self) -> bool:
        """The model has states x and rows h: KKT with assumed multiplier bounds, no cuts."""
        return self.ra._has_h()

    def add_kkt(self, u_lb: Optional[float] = None) -> None:
        m, inst = self.m, self.inst
        m.kkt = pyo.Block()
        if self.states:
            inst.bound_states()  # over θ's set (the instance was bounded at the nominal θ)
            #: states whose missing bounds FBBT derived over the set (reported in the result)
            self.fbbt = [v.name for v, *_ in (inst._unbounded or [])]
            add_inner_kkt_states(m.kkt, inst.g, inst.controls, inst.state_vars(), inst.model.h, self.names)
        else:
            add_inner_kkt(m.kkt, inst.g, inst.controls, self.ra.model.control_bounds, self.names)
        if u_lb is not None:
            m.kkt.u.setlb(max(u_lb, m.kkt.u.lb))

    def add_cut(self, z) -> bool:
        """One cut for control ``z``; False when the same control is already cut, or when the
        model has states (a cut would need its own states solving h at z, and where h has no
        solution at that z it would wrongly remove θ: not built)."""
        if self.states:
            return False
        z = np.asarray(z, float)
        if any(np.allclose(z, c, rtol=1e-9, atol=1e-12) for c in self.cuts):
            return False
        b = pyo.Block()
        self.m.add_component(f"cut_{self.n_cuts}", b)
        add_control_cut(b, self.inst.g, self.inst.controls, z, self.m.kkt.u, self.names)
        self.cuts.append(z)
        self.n_cuts += 1
        return True

    def theta(self):
        return (np.array([float(v.value) for v in self.inst.theta_p]),
                np.array([float(v.value) for v in self.inst.theta_m]))


def _tolerances(ra):
    return float(ra.solver.gap), float(ra.solver.abs_gap)


def _psi(ra, inner, bracket, tp, tm, name):
    v = inner.solve(tp, tm)
    bracket.solves.append((name, v.status, v.lower, v.time, v.message))
    return v


# --------------------------------------------------------------------------- test
def bracket_test(ra, rel: _Relaxation, tp_nominal, iterations: int, window: Optional[float] = None) -> Bracket:
    """χ over the set already built on the relaxation's model (θm in set(``rel.delta``), and
    θp when free), bracketed in at most ``iterations`` relaxation solves.

    First a lower bound from ψ at the nominal θ, the set's directions and a compass search
    from the best of them; each relaxation solve is then asked to stop once its proven bound
    is within the tolerance of that lower bound (an objective target: the solvers that honour
    targets stop at the root node when the lower bound is already right).  ``window``
    (Algorithm 3's ε_tol) stops as soon as the sign and whether χ ∈ [−window, 0] are proven."""
    t0 = time.perf_counter()
    br = Bracket()
    rel_gap, abs_gap = _tolerances(ra)
    m = rel.m
    m.bracket_obj = pyo.Objective(expr=m.kkt.u, sense=pyo.maximize)
    inner = ra.inner()
    _seed_lower(ra, inner, br, rel, tp_nominal)
    for it in range(1, iterations + 1):
        br.iterations = it
        # half the closing tolerance: the bound then lands well inside it
        target = br.lower + 0.5 * _tolerance(br, rel_gap, abs_gap) if math.isfinite(br.lower) else None
        r, bound = _relax(ra, m, br, f"relaxation {it}", target, _tolerance(br, rel_gap, abs_gap))
        if bound is not None:
            br.upper = min(br.upper, bound)
        if br.gap_closed(rel_gap, abs_gap) or _sign_decided(br, window):
            br.converged = br.gap_closed(rel_gap, abs_gap)
            br.history.append((it, br.lower, br.upper, time.perf_counter() - t0))
            break
        if not (r.status.ok or r.has_point):
            br.failed = f"relaxation {it}: {r.status.value} ({r.message[:160]})"
            break
        tp, tm = rel.theta()
        v = _psi(ra, inner, br, tp, tm, f"psi at relaxation point {it}")
        _lower(br, v, tp, tm)
        if r.status != SolverStatus.OPTIMAL and not br.gap_closed(rel_gap, abs_gap):
            _search_lower(ra, inner, br, rel, tp, tm)  # the relaxation's point is only an incumbent
        br.history.append((it, br.lower, br.upper, time.perf_counter() - t0))
        if _contradiction(br, rel_gap, abs_gap):
            break
        if br.gap_closed(rel_gap, abs_gap) or _sign_decided(br, window):
            br.converged = br.gap_closed(rel_gap, abs_gap)
            break
        if v.z is None or not rel.add_cut(v.z):
            if v.z is None:
                br.failed = f"psi at relaxation point {it}: {v.status} ({v.message[:160]})"
            break
    m.bracket_obj.deactivate()
    br.time = time.perf_counter() - t0
    return br


_BOUND_STATUSES = (SolverStatus.OPTIMAL, SolverStatus.TIME_LIMIT, SolverStatus.TARGET)


def _relax(ra, m, br: Bracket, name: str, target: Optional[float], tol: float):
    """One relaxation solve: ``(result, its proven bound or None)``; a minimisation a global
    solver proves infeasible has the bound ``math.inf``.  When the solver has a second opinion
    (:meth:`~flexspace.solvers.Solver.second_opinion`) the bound is used only once a second
    solve confirms it: asked to stop when its own bound reaches the first (within ``tol``/4)
    or when it finds a point beyond the first bound by ``tol`` (which disproves it).  The safer
    of the two bounds is returned, with the result that gave it; None when the second solve
    proves nothing."""
    maximize = objective_sense(m) == pyo.maximize
    r = ra.solver.solve(m, bound_target=target)
    br.solves.append((name, r.status, r.bound, r.time, r.message))
    bound = _bound_of(r, ra.solver.is_global, maximize)
    alt = ra.solver.second_opinion()
    if alt is None or bound is None:
        return r, bound
    point = [(v, v.value) for v in m.component_data_objects(pyo.Var, descend_into=True)]
    # a budget of its own: 10x the first solve (at least 4 s), rounded up to a power of 2 so
    # that the guard's child is reused; a second solve that runs out proves nothing
    alt.time_limit = min(ra.solver.time_limit, 2.0 ** math.ceil(math.log2(max(4.0, 10.0 * (r.time or 0.0)))))
    if math.isinf(bound):  # an infeasible relaxation (minimisation): confirmed or not used
        r2 = alt.solve(m)
    else:
        sgn = 1.0 if maximize else -1.0
        aim = bound if target is None else (max(bound, target) if maximize else min(bound, target))
        r2 = alt.solve(m, bound_target=aim + sgn * 0.25 * tol, point_target=bound + sgn * tol)
    br.solves.append((f"{name}, second opinion", r2.status, r2.bound, r2.time, r2.message))
    b2 = _bound_of(r2, alt.is_global, maximize)
    if b2 is not None and ((b2 > bound + tol) if maximize else (b2 < bound - tol)):  # the first bound was wrong
        return r2, b2
    for v, x in point:  # the first solve's point (the second may stop at a poorer one)
        v.set_value(x, skip_validation=True)
    return r, (None if b2 is None else (max(bound, b2) if maximize else min(bound, b2)))


def _bound_of(r, is_global: bool, maximize: bool) -> Optional[float]:
    if r.status == SolverStatus.INFEASIBLE and is_global and not maximize:
        return math.inf
    if r.bound is not None and r.status in _BOUND_STATUSES:
        return float(r.bound)
    return None


def _tolerance(br: Bracket, rel: float, abs_: float) -> float:
    """The bracket's closing tolerance (:meth:`Bracket.gap_closed`) at its current bounds."""
    big = max(1.0, abs(br.lower) if math.isfinite(br.lower) else 1.0, abs(br.upper) if math.isfinite(br.upper) else 1.0)
    return max(4.0 * abs_, 4.0 * rel * big)


def _seed_lower(ra, inner, br: Bracket, rel: _Relaxation, tp) -> None:
    """ψ at the nominal θ and at the set's directions (scaled to the tested set), a compass
    search from the best, and their optimal controls as the first cuts."""
    nominal = ra.model.theta_m_nominal
    points = [nominal] + [nominal + rel.delta * u for u in _directions(ra.uset)]
    best = None
    for j, tm in enumerate(points):
        v = _psi(ra, inner, br, tp, tm, "psi at the nominal theta" if j == 0 else f"psi at direction {j}")
        _lower(br, v, tp, tm)
        if v.z is not None and (j == 0 or len(points) <= 9):
            rel.add_cut(v.z)
        if best is None or v.lower > best[0]:
            best = (v.lower, tm)
    if best is not None and math.isfinite(best[0]):
        _search_lower(ra, inner, br, rel, tp, best[1])
        if br.z is not None:
            rel.add_cut(br.z)


def _search_lower(ra, inner, br: Bracket, rel: _Relaxation, tp, tm, evaluations: int = 40) -> None:
    """Compass search of ψ's proven value around the relaxation's incumbent θ (θm, and θp
    when free), inside the relaxation's bounds and set: used when the relaxation solver
    stopped without proving its optimum, whose point is then only a start.  Every point
    evaluated is a proven lower bound of χ; the search only raises ``br.lower``."""
    free = [v for v in rel.inst.theta_p + rel.inst.theta_m if not v.fixed]
    if not free:
        return
    lo = np.array([v.lb for v in free], float)
    hi = np.array([v.ub for v in free], float)
    n_p = sum(1 for v in rel.inst.theta_p if not v.fixed)
    x = np.concatenate([np.asarray(tp, float)[:n_p], np.asarray(tm, float)]) if n_p else np.asarray(tm, float)
    best = br.lower if math.isfinite(br.lower) else -math.inf
    step = 0.25 * (hi - lo)
    done = 0
    while done < evaluations and np.max(step) > 1e-6 * max(1.0, float(np.max(hi - lo))):
        moved = False
        for i in range(len(x)):
            for sgn in (1.0, -1.0):
                y = x.copy()
                y[i] = min(max(y[i] + sgn * step[i], lo[i]), hi[i])
                tp_y = np.concatenate([y[:n_p], np.asarray(tp, float)[n_p:]]) if n_p else tp
                tm_y = y[n_p:]
                if not _in_set(rel, tm_y) or done >= evaluations:
                    continue
                v = _psi(ra, inner, br, tp_y, tm_y, "psi, search around the relaxation point")
                done += 1
                if v.lower > best:
                    best, x, moved = v.lower, y, True
                    _lower(br, v, tp_y, tm_y)
        if not moved:
            step = 0.5 * step


def _in_set(rel: _Relaxation, tm) -> bool:
    """θm lies in the tested set(δ) of the relaxation (the test's δ is fixed)."""
    return bool(rel.ra.uset.contains(np.asarray(tm, float)[None, :], rel.delta)[0])


def _lower(br: Bracket, v, tp, tm) -> None:
    if math.isfinite(v.lower) or v.lower == math.inf:
        if v.lower > br.lower:
            br.lower, br.theta_p, br.theta_m, br.z = v.lower, np.array(tp, float), np.array(tm, float), v.z


def _contradiction(br: Bracket, rel: float, abs_: float) -> bool:
    tol = max(10.0 * abs_, 10.0 * rel * max(1.0, abs(br.upper) if math.isfinite(br.upper) else 1.0), 1e-7)
    if math.isfinite(br.upper) and br.lower > br.upper + tol:
        br.failed = (f"numerical contradiction: a proven lower bound {br.lower:.9g} exceeds the relaxation's proven "
                     f"upper bound {br.upper:.9g}; not trusted (scale the model or tighten its bounds)")
        return True
    return False


def _sign_decided(br: Bracket, window: Optional[float]) -> bool:
    """Algorithm 3 needs the sign of χ and whether χ ∈ [−window, 0]."""
    if window is None:
        return False
    if br.lower > 0:  # infeasible, proven
        return True
    return br.upper <= 0 and (br.lower >= -window or br.upper < -window)


# --------------------------------------------------------------------------- index
def probe_index_upper(ra, tp):
    """A first proven upper bound of δ*: ψ solved at the set's directions (the vertices of a box
    of up to 3 dimensions, else ±each half-width; ±each principal axis of an ellipsoid) at
    set sizes δ_max/32, δ_max/16, …, δ_max, stopping at the first size with a proven
    violation ψ ≥ τ.  Returns ``(Bracket with upper/theta_m/z and the solves, controls found)``."""
    br = Bracket(lower=0.0, upper=ra.delta_max)
    nominal = ra.model.theta_m_nominal
    dirs = _directions(ra.uset)
    inner = ra.inner()
    cuts = []
    for k in range(5, -1, -1):
        d = ra.delta_max / 2 ** k
        for j, u in enumerate(dirs):
            point = nominal + d * u
            v = _psi(ra, inner, br, tp, point, f"probe delta={d:.4g} direction {j}")
            if v.z is not None:
                cuts.append(v.z)
            if v.lower >= VIOLATION_TOL:
                g = float(ra.uset.gauge(point[None, :])[0])
                if br.theta_m is None or g < br.upper:  # also a violation at δ_max itself: δ* < δ_max
                    br.upper, br.theta_m, br.z = g, point, v.z
        if br.theta_m is not None:
            _refine_on_ray(ra, inner, br, tp, d / 2, cuts)
            break
    return br, cuts[-2 * len(dirs):]


def _better_control(rel_z, v, inner):
    """Of the relaxation's control and the inner solve's (both at the current θ of ``inner``),
    the one with the smaller max_k g: solvers stop within their tolerances, so either may be
    a hair better, and the critical control reported is the better one."""
    if rel_z is None or v.z is None:
        return v.z if v.z is not None else rel_z
    vals = []
    for z in (rel_z, v.z):
        for var, x in zip(inner.inst.controls, z):
            var.set_value(float(x), skip_validation=True)
        vals.append(inner._g_max())
    return rel_z if vals[0] <= vals[1] else v.z


def _refine_on_ray(ra, inner, br, tp, lo: float, cuts, steps: int = 14) -> None:
    """Bisection on the ray of the probe's violating point between gauge ``lo`` (probed
    without a violation) and its gauge: every point found with a proven ψ ≥ τ lowers the upper
    bound (ψ need not be monotone on the ray; any proven violation is a valid bound)."""
    nominal = ra.model.theta_m_nominal
    u = (br.theta_m - nominal) / br.upper
    hi = br.upper
    for i in range(steps):
        mid = 0.5 * (lo + hi)
        v = _psi(ra, inner, br, tp, nominal + mid * u, f"probe refinement {i}")
        if v.z is not None:
            cuts.append(v.z)
        if v.lower >= VIOLATION_TOL:
            hi = mid
            br.upper, br.theta_m, br.z = mid, nominal + mid * u, v.z
        else:
            lo = mid


def _directions(uset) -> np.ndarray:
    """Directions of gauge 1 that probe a set: the set's vertices (:meth:`~UncertaintySet.vertices`,
    n ≤ 3) or ±half-widths along each axis for a polytope, the covariance's principal axes
    otherwise; every direction scaled so that θ̄ + d lies on the set's boundary."""
    n = uset.dim
    c = uset.nominal
    corners = uset.vertices(1.0) if n <= 3 else None  # never 2ⁿ corners for a large box
    if corners is not None:
        out = np.asarray(corners, float) - c
    elif uset.is_linear or uset.covariance is None:
        h = uset.half_widths(1.0)
        out = np.vstack([np.diag(h), -np.diag(h)])
    else:
        ev, V = np.linalg.eigh(uset.covariance)
        ax = V.T * np.sqrt(ev)[:, None]
        out = np.vstack([ax, -ax])
    keep = np.any(np.abs(out) > 0, axis=1)
    out = out[keep]
    g = uset.gauge(c + out)
    return out / np.where(g > 0, g, 1.0)[:, None]


def bracket_index(ra, rel: _Relaxation, tp, sq: bool, iterations: int, start: Bracket, cuts, cap: float) -> Bracket:
    """δ* bracketed (module docstring) in at most ``iterations`` relaxation solves; the
    relaxation's model has θm free in set(δ ≤ ``cap``) with the size variable ``m.delta`` (δ²
    when ``sq``) and the KKT block with u ≥ τ; the nominal θ is feasible.  ``start``: the
    probe's upper bound (:func:`probe_index_upper`); ``cuts``: controls to cut first."""
    t0 = time.perf_counter()
    br = start
    rel_gap, abs_gap = _tolerances(ra)
    m = rel.m
    m.bracket_obj = pyo.Objective(expr=m.delta)
    inner = ra.inner()
    v = _psi(ra, inner, br, tp, ra.model.theta_m_nominal, "psi at the nominal theta")
    for z in ([v.z] if v.z is not None else []) + list(cuts):
        rel.add_cut(z)
    size = (lambda s: math.sqrt(max(s, 0.0))) if sq else (lambda s: max(s, 0.0))
    nominal = ra.model.theta_m_nominal
    eta = max(rel_gap, 1e-9)
    for it in range(1, iterations + 1):
        br.iterations = it
        r, bound = _relax(ra, m, br, f"relaxation {it}", None, max(abs_gap, rel_gap * max(1.0, br.upper)))
        if r.status == SolverStatus.INFEASIBLE and ra.solver.is_global and bound == math.inf:
            if br.theta_m is not None and br.upper <= cap * (1 + 1e-12):  # θ_m: where ψ ≥ τ was proven
                # a θ of set(cap) with ψ ≥ τ is proven, so its global minimiser is a feasible
                # point of this relaxation: "infeasible" is the solver's numerical error (seen:
                # SCIP on a quartic with δ = δ_max claimed where ψ = 4.47 at the probe)
                br.failed = (f"numerical contradiction: the solver reports the relaxation over set({cap:.6g}) "
                             f"infeasible, but psi >= {VIOLATION_TOL:g} is proven at delta = {br.upper:.9g}; "
                             "not trusted")
                break
            br.lower = cap  # no θ of set(cap) with ψ ≥ τ: δ* ≥ cap, proven
            br.converged = br.upper <= cap * (1 + 1e-3) or cap >= ra.delta_max
            break
        if bound is not None and math.isfinite(bound):
            br.lower = max(br.lower, min(size(bound), cap))
        if not (r.status.ok or r.has_point):
            br.failed = f"relaxation {it}: {r.status.value} ({r.message[:160]})"
            break
        _, tm = rel.theta()
        rel_z = np.array([float(v.value) for v in rel.inst.controls])
        new_z = _index_points(ra, inner, br, tp, tm, nominal + (1.0 + eta) * (tm - nominal), it, cap, rel_z)
        br.history.append((it, br.lower, br.upper, time.perf_counter() - t0))
        if br.lower > br.upper + max(10 * abs_gap, 10 * rel_gap * max(1.0, br.upper), 1e-7):
            br.failed = (f"numerical contradiction: the relaxation's bound delta >= {br.lower:.9g} exceeds a proven "
                         f"violation at delta = {br.upper:.9g}; not trusted (scale the model or tighten its bounds)")
            break
        if br.gap_closed(rel_gap, abs_gap):
            br.converged = True
            break
        if not any([rel.add_cut(z) for z in new_z]):
            if not new_z:
                br.failed = f"psi at relaxation point {it}: no control found"
            break
    m.bracket_obj.deactivate()
    br.lower = min(br.lower, br.upper)
    br.time = time.perf_counter() - t0
    return br


def _index_points(ra, inner, br, tp, tm, beyond, it, cap, rel_z=None) -> list:
    """ψ at the relaxation's θ̂ and just beyond it on its ray: a proven violation there is an
    upper bound of δ*; returns the optimal controls found (the next cuts).  ``rel_z``: the
    relaxation's own control at θ̂ (kept as θ̂'s critical control when it is the better one)."""
    new_z = []
    for name, point in ((f"psi at relaxation point {it}", tm), (f"psi just beyond relaxation point {it}", beyond)):
        g = float(ra.uset.gauge(point[None, :])[0])
        if name.startswith("psi just") and g > cap * (1 + 1e-12):
            continue
        v = _psi(ra, inner, br, tp, point, name)
        if v.lower >= VIOLATION_TOL and g < br.upper:
            br.upper, br.theta_m, br.z = g, np.array(point, float), v.z
        if name.startswith("psi at"):
            br.theta_hat, br.z_hat = np.array(point, float), _better_control(rel_z, v, inner)
        if v.z is not None:
            new_z.append(v.z)
        if v.lower >= VIOLATION_TOL:
            break
    return new_z
