"""Control variables z (recourse): their validation, the inner problem ψ(θ), and the
per-sample feasibility test.

A control is a Pyomo ``Var`` of the user's model that operators adjust once θ is known
(Halemane & Grossmann 1983; Grossmann & Floudas 1987): a design is feasible at θ when
*some* z within its bounds (and its domain: integer and binary controls are kept so)
satisfies every CQA, ``∃ z: g_k(θp, x, z, θm) ≤ 0`` — that is, when the feasibility
function ``ψ(θ) = min_z max_k g_k ≤ 0``.

:func:`expand_controls` checks what :class:`~flexspace.models.base.ProcessModel` receives
as ``controls=``; :class:`InnerProblem` solves ψ at one θ and says what the answer proves
(:class:`PsiValue`: a proven lower bound and an upper bound, the value of max_k g at a
control found); :func:`recourse_feasibility` decides feasibility sample by sample:

* **linear data** (``controls_linear=f(theta_p, theta_m) -> (a (N, K), B (N, K, n_z))``,
  ``g = a + B z``): one control in closed form for all samples at once, several by one LP
  per sample (HiGHS through ``scipy.optimize.linprog``) — exact;
* an inner problem **proven convex** (every g and h linear in (z, x) at fixed θ, continuous
  controls): one NLP per sample with the given solver (a local optimum is global) — exact;
* otherwise a **global** solver per sample (the given one, or the first available of
  maingo, scip, gurobi) — exact; without one, a local solver from several starting points,
  and a sample where no control was found is *undecided* (reported failed, counted
  infeasible), never infeasible: only "a control was found" is proven.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import pyomo.environ as pyo
from pyomo.core.base.component import ComponentData

from ..validation import ValidationError

__all__ = ["expand_controls", "recourse_feasibility", "interval_feasible", "FEAS_TOL", "InnerProblem", "PsiValue",
           "inner_is_convex", "is_linear", "GLOBAL_SOLVERS"]

#: global MINLP solvers in the order the inner problem takes them when it needs one
GLOBAL_SOLVERS = ("maingo", "scip", "gurobi")
#: starting points of a local solver on an inner problem not proven convex (midpoint, the
#: model's initial point, the corners of up to 2 controls and random points; our choice)
N_LOCAL_STARTS = 6

#: feasibility tolerance on g for recourse samples: the same order as Ipopt's default
#: ``constr_viol_tol`` (1e-4 is Ipopt's; we use 1e-7, well inside it, for LP and closed form).
FEAS_TOL = 1e-7


def _numeric_bound(e) -> Optional[float]:
    from .bound_cqas import numeric_bound

    return numeric_bound(e)


#: half-width of the range local starts are drawn from on a side where a control has no bound
#: (our choice; only where a local solver runs without a range: ``ProcessModel.unbounded_controls``)
START_SPAN = 1.0


def working_range(bounds, values=None) -> np.ndarray:
    """The controls' bounds (n_z, 2) with a missing side replaced by a finite one for starting
    points only: the other bound (or the current value, or 0) ± :data:`START_SPAN`·max(1, |x|)."""
    zb = np.array(bounds, float, copy=True).reshape(-1, 2)
    for i, (lo, hi) in enumerate(zb):
        x = values[i] if values is not None and i < len(values) and values[i] is not None else None
        ref = x if x is not None else (hi if np.isfinite(hi) else lo if np.isfinite(lo) else 0.0)
        span = START_SPAN * max(1.0, abs(ref))
        if not np.isfinite(lo):
            zb[i, 0] = min(ref, hi if np.isfinite(hi) else ref) - span
        if not np.isfinite(hi):
            zb[i, 1] = max(ref, zb[i, 0]) + span
    return zb


def _infinite(e) -> bool:
    try:
        return math.isinf(float(pyo.value(e)))
    except (TypeError, ValueError):
        return False


def expand_controls(comps: Dict[str, object], theta_ids: Dict[int, str], theta_names) -> Tuple[list, np.ndarray]:
    """Check the controls (already expanded to ``{name: VarData}``) and return their names and
    bounds (n_z, 2), NaN where a bound is missing or infinite (derived later by FBBT).  A bound
    written as an expression of constants (IDAES: ``max(0.8, 0)``) is evaluated.  Refused: a
    Param, a fixed Var, a bound that is an expression of θ or not below the other, and a
    component or name already used by θ.
    Integer and binary controls are accepted (a binary's bounds are (0, 1)); their domain
    stays on the model, so global solvers treat them as discrete and Ipopt never sees them."""
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
        if c.is_integer() and lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
            lo, hi = float(math.ceil(lo - 1e-9)), float(math.floor(hi + 1e-9))
        for e, x in ((c.lower, lo), (c.upper, hi)):
            if e is not None and x is None and not _infinite(e):
                raise ValidationError(f"controls {nm!r}: the bound {e} depends on a parameter (theta?); a control's "
                                      "bounds must be numbers: declare pyo.Var(bounds=(lo, hi))")
        if lo is not None and hi is not None and lo >= hi:
            raise ValidationError(f"controls {nm!r}: expected bounds lo < hi, got ({c.lower}, {c.upper})")
        lo = math.nan if lo is None else lo  # missing: derived by FBBT (ProcessModel), or refused there
        hi = math.nan if hi is None else hi
        names.append(nm)
        bounds.append((lo, hi))
    return names, np.array(bounds, dtype=float).reshape(-1, 2)


def check_controls_linear(model) -> None:
    """``controls_linear`` must describe the model's own g: at θ̄p and three θm (nominal, ±1σ)
    and z at its lower bound, upper bound and midpoint, a + B z must equal g evaluated on the
    Pyomo model (a flipped sign gave Monte Carlo P = 0 against the true 0.97).  Checked where
    g is explicit in (θ, z); a model with states would need a solve per point, and is not."""
    inst = model.instance()
    if inst.state_vars():
        return
    sd = np.sqrt(np.clip(np.diag(np.asarray(model.covariance, float)), 0, None))
    tm = np.array([model.theta_m_nominal, model.theta_m_nominal + sd, model.theta_m_nominal - sd], float)
    a, B = model.controls_linear(np.asarray(model.theta_p_nominal, float), tm)
    a, B = np.asarray(a, float), np.asarray(B, float)
    if a.shape != (3, model.n_g) or B.shape != (3, model.n_g, model.n_z):
        raise ValidationError(f"controls_linear of {model.name!r} must return a (N, K) = {(3, model.n_g)} and B "
                              f"(N, K, n_z) = {(3, model.n_g, model.n_z)} for N = 3 samples, got {a.shape} and "
                              f"{B.shape}")
    lo, hi = model.control_bounds[:, 0], model.control_bounds[:, 1]
    for i, theta_m in enumerate(tm):
        inst.set_theta(model.theta_p_nominal, theta_m)
        for z in (lo, hi, 0.5 * (lo + hi)):
            for v, x in zip(inst.controls, z):
                v.set_value(float(x), skip_validation=True)
            g = np.array([pyo.value(e) for e in inst.g], float)
            pred = a[i] + B[i] @ z
            bad = np.flatnonzero(~np.isclose(pred, g, rtol=1e-6, atol=1e-9 * max(1.0, float(np.max(np.abs(g))))))
            if bad.size:
                k = int(bad[0])
                raise ValidationError(
                    f"controls_linear of {model.name!r} does not match the model: CQA {model.g_names[k]!r} at "
                    f"theta_p = {np.round(model.theta_p_nominal, 6).tolist()}, theta_m = {np.round(theta_m, 6).tolist()}, "
                    f"z = {np.round(z, 6).tolist()} is {g[k]:.6g} on the Pyomo model but a + B z = {pred[k]:.6g}; "
                    "fix controls_linear (a sign?) or drop it (the Pyomo model is then solved per sample)")


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
    integer = np.asarray(getattr(model, "control_integer", np.zeros(nz, bool)), bool)
    if nz == 1 and not integer.any():
        ok = interval_feasible(a0, B0[:, :, 0], zb[0, 0], zb[0, 1])
        return ok & ~failed, failed, "recourse, linear in z: closed form (one control)"
    from scipy.optimize import Bounds, LinearConstraint, milp

    ok = np.zeros(N, bool)
    for i in np.flatnonzero(~failed):
        r = milp(np.zeros(nz), constraints=LinearConstraint(B0[i], -np.inf, FEAS_TOL - a0[i]),
                 bounds=Bounds(zb[:, 0], zb[:, 1]), integrality=integer.astype(int))
        if r.status == 0:
            ok[i] = True
        elif r.status != 2:  # neither solved nor proven infeasible: a failed sample
            failed[i] = True
    kind = "MILP" if integer.any() else "LP"
    return ok, failed, f"recourse, linear in z: one {kind} per sample (HiGHS through scipy)"


def recourse_feasibility(model, theta_p, theta_m, solver="ipopt") -> Tuple[np.ndarray, np.ndarray, str]:
    """Per sample (rows of ``theta_m``): feasible (some z in bounds makes every g ≤ 0),
    failed (no answer, or — local solver on an inner problem not proven convex — no control
    found, which proves nothing; counted infeasible by callers), and how it was decided
    (module docstring)."""
    tm = np.atleast_2d(np.asarray(theta_m, float))
    if getattr(model, "controls_linear", None) is not None:
        return _linear_feasible(model, theta_p, tm)
    inner = InnerProblem(model, _sample_solver(model, solver))
    ok, failed = np.zeros(tm.shape[0], bool), np.zeros(tm.shape[0], bool)
    todo = np.arange(tm.shape[0])
    how = ""
    if inner.solver.is_global and not inner.convex and not np.any(model.control_integer):
        # a control found by a local solver proves feasibility: only the samples it leaves undecided
        # go to the global solver (measured: 150 samples of the peer's poly model, 7 s -> 1 s)
        pre = _local_prescreen(model, theta_p, tm)
        if pre is not None:
            ok, todo = pre, np.flatnonzero(~pre)
            how = f"a local solver found a control for {int(ok.sum())}, then "
    for i in todo:
        v = inner.solve(theta_p, tm[i])
        ok[i] = v.upper <= FEAS_TOL
        # "no control found" is a proof only when the lower bound says so
        failed[i] = not ok[i] and not v.lower > FEAS_TOL
    return ok, failed, f"recourse: {how}one inner problem per sample ({inner.describe()})"


def _local_prescreen(model, theta_p, tm) -> Optional[np.ndarray]:
    """Samples for which Ipopt (from the model's start, then the control bounds' midpoint) finds
    a control with every g ≤ FEAS_TOL — each a proof of feasibility; None without Ipopt."""
    from ..solvers import available_solvers

    if "ipopt" not in available_solvers():
        return None
    local = InnerProblem(model, "ipopt")
    starts = local._starts()[:2]
    ok = np.zeros(tm.shape[0], bool)
    for i, row in enumerate(tm):
        local.inst.set_theta(theta_p, row)
        if local.inst.state_vars():
            local.inst.bound_states()
        for st in starts:
            if local._solve_local(st).upper <= FEAS_TOL:
                ok[i] = True
                break
    return ok


def _sample_solver(model, solver):
    """The solver that decides samples exactly: the given one when the inner problem is proven
    convex or the solver is global, else the first available global solver; without one the
    given (local) solver, whose 'no control found' is then undecided."""
    from ..solvers import available_solvers, get_solver

    slv = get_solver(solver)
    if slv.is_global or inner_is_convex(model):
        return slv
    avail = available_solvers()
    for name in GLOBAL_SOLVERS:
        if name in avail:
            return get_solver(name, {"time_limit": slv.time_limit})
    return slv


def inner_is_convex(model) -> bool:
    """The inner problem min_z max_k g_k is proven convex at every fixed θ: every control is
    continuous and every g and every equation of h is linear in the unfixed variables (z, x)
    once θ is fixed (then a local optimum is the global one)."""
    cached = getattr(model, "_inner_convex", None)
    if cached is None:
        cached = is_linear(model.instance(), theta_free=False)
        model._inner_convex = cached
    return cached


def is_linear(inst, theta_free: bool, integers_ok: bool = False) -> bool:
    """Every CQA and every active constraint of h is linear in the unfixed variables — (z, x),
    or (θ, z, x) with ``theta_free`` — for *every* value of θ; an integer control makes it
    False (a convexity argument needs continuous controls) unless ``integers_ok``.

    The fixed θ get generic nonzero values while the degrees are computed: Pyomo counts a
    product with a fixed variable whose value is 0 as a constant, so at a nominal θ of 0 a
    term θ·z² would pass as degree 0 (measured: HiGHS then received a quadratic model)."""
    if not integers_ok and any(not v.is_continuous() for v in inst.controls):
        return False
    theta = inst.theta_p + inst.theta_m
    old = [(v, v.value, v.fixed) for v in theta]
    for i, v in enumerate(theta):
        if theta_free:
            v.unfix()
        else:
            v.set_value(0.5 + 0.137 * i, skip_validation=True)  # generic: never 0, never equal
    try:
        exprs = list(inst.g) + [c.body for c in inst.model.h.values() if c.active]
        return all(isinstance(e, (int, float)) or _degree_at_most_one(e) for e in exprs)
    finally:
        for v, x, fixed in old:
            v.set_value(x, skip_validation=True)
            v.fixed = fixed


def _degree_at_most_one(e) -> bool:
    d = e.polynomial_degree()
    return d is not None and d <= 1


@dataclass
class PsiValue:
    """ψ(θ) = min_z max_k g_k at one θ, with what the solve proves.

    ``lower``: a proven lower bound of ψ(θ) (a global solver's bound; a local solver's value
    only on a convex inner problem; −inf when nothing is proven, +inf when no control exists
    — proven infeasible).  ``upper``: max_k g_k at the control the solver returned, so ψ(θ) ≤
    upper (+inf when none was found).  ``z``: that control."""

    lower: float
    upper: float
    z: Optional[np.ndarray]
    status: object
    time: float = 0.0
    message: str = ""

    @property
    def value(self) -> float:
        return self.upper if math.isfinite(self.upper) else self.lower

    @property
    def decided(self) -> bool:
        return math.isfinite(self.lower) and math.isfinite(self.upper)


class InnerProblem:
    """ψ(θ) = min u s.t. g_k(θ, z, x) ≤ u, h = 0, z in its bounds (integers kept), solved
    again and again on one Pyomo model with θ fixed at each point.

    A global solver's answer carries its proven bound; a local solver (Ipopt) starts from
    several points (``N_LOCAL_STARTS``) unless the inner problem is proven convex, and its
    value is then only an upper bound of ψ.  An integer control with Ipopt is refused here,
    before any solve (PyNumero ends the process on a discrete variable)."""

    def __init__(self, model, solver, options=None):
        from ..solvers import get_solver

        self.model = model
        self.solver = get_solver(solver, options)
        self.convex = inner_is_convex(model)
        self.inst = inst = model.instance()
        if any(not v.is_continuous() for v in inst.controls) and not self.solver.supports_integers:
            names = [n for n, v in zip(model.control_names, inst.controls) if not v.is_continuous()]
            raise ValidationError(f"controls {names} are integer or binary; solver {self.solver.name!r} handles "
                                  "continuous variables only. Use a global MINLP solver (maingo, scip, gurobi), or "
                                  "highs for a model linear in (theta, z)")
        m = inst.model
        m._psi_u = pyo.Var(initialize=0.0)
        m._psi_g = pyo.Constraint(range(model.n_g), rule=lambda _, k: inst.g[k] <= m._psi_u)
        m._psi_obj = pyo.Objective(expr=m._psi_u)
        self._start = [(v, v.value) for v in inst.controls + inst.state_vars()]
        for v, x in zip(inst.controls, working_range(model.control_bounds).mean(axis=1)):
            if v.value is None:
                v.set_value(float(np.round(x)) if not v.is_continuous() else float(x))

    def describe(self) -> str:
        if self.solver.is_global:
            return f"{self.solver.name}, global: exact"
        if self.convex:
            return f"{self.solver.name}, inner problem proven convex (linear in z and x): exact"
        return (f"{self.solver.name} from {N_LOCAL_STARTS} starting points, inner problem not proven convex: "
                "a control found is proven, 'none found' is undecided")

    def solve(self, theta_p, theta_m) -> PsiValue:
        """ψ at (θp, θm) (``theta_p`` None keeps the current θp)."""
        inst = self.inst
        inst.set_theta(theta_p, theta_m)
        if inst.state_vars():
            inst.bound_states()
        if self.solver.is_global:
            return self._solve_global()
        starts = [None] if self.convex else self._starts()
        best = None
        for st in starts:
            v = self._solve_local(st)
            if best is None or v.upper < best.upper:
                best = v
        return best

    def _u_bounds(self):
        from pyomo.contrib.fbbt.fbbt import compute_bounds_on_expr

        lo, hi = [], []
        for e in self.inst.g:
            a, b = (float(e), float(e)) if isinstance(e, (int, float)) else compute_bounds_on_expr(e)
            if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
                return None
            lo.append(a)
            hi.append(b)
        return max(lo), max(hi)

    def _g_max(self) -> float:
        try:
            return float(max(pyo.value(e) for e in self.inst.g))
        except (ValueError, ZeroDivisionError, OverflowError):
            return math.inf

    def _z(self) -> np.ndarray:
        return np.array([float(v.value) for v in self.inst.controls])

    def _solve_global(self) -> PsiValue:
        from ..solvers import SolverStatus

        m = self.inst.model
        ub = self._u_bounds()
        if ub is None:
            free = [v.name for v in self.inst.controls + self.inst.state_vars() if v.lb is None or v.ub is None]
            names = ", ".join(n[len("process."):] if n.startswith("process.") else n for n in free[:5])
            return PsiValue(-math.inf, math.inf, None, SolverStatus.ERROR, message=(
                "a CQA is unbounded by interval arithmetic at this theta: the global solver needs finite bounds on "
                f"every control and state it uses; FBBT left {len(free)} without a finite range (e.g. {names}): give "
                "them bounds on the model (pyo.Var(bounds=...)), or use a local solver"))
        # u's box from interval arithmetic, padded: a zero-width box (g constant at this θ) made
        # MAiNGO call the problem infeasible
        pad = 1e-3 * max(1.0, ub[1] - ub[0], abs(ub[0]), abs(ub[1]))
        m._psi_u.setlb(ub[0] - pad)
        m._psi_u.setub(ub[1] + pad)
        m._psi_u.set_value(ub[1])
        self._restore()
        r = self.solver.solve(m)
        if r.status == SolverStatus.INFEASIBLE:
            if not self.inst.state_vars() and not any(c.active for c in self.inst.model.h.values()):
                # without equations h, u = max_k g_k(θ, z) is feasible for every z: the claim is wrong
                return PsiValue(-math.inf, math.inf, None, SolverStatus.ERROR, r.time, (
                    f"the solver called the inner problem infeasible, which it cannot be without equations "
                    f"(any control z with u = max g is feasible): a solver error, not trusted ({r.message[:120]})"))
            return PsiValue(math.inf, math.inf, None, r.status, r.time, "no control and state solve h = 0 here "
                            "(proven infeasible): no recourse at this theta")
        lower = r.bound if r.bound is not None and (r.status.ok or r.status == SolverStatus.TIME_LIMIT) else -math.inf
        upper = self._g_max() if (r.status.ok or r.has_point) else math.inf
        return PsiValue(float(lower), upper, self._z() if math.isfinite(upper) else None, r.status, r.time,
                        r.message)

    def _solve_local(self, start) -> PsiValue:
        m = self.inst.model
        m._psi_u.setlb(None)
        m._psi_u.setub(None)
        self._restore()
        if start is not None:
            for v, x in zip(self.inst.controls, start):
                v.set_value(float(x), skip_validation=True)
        m._psi_u.set_value(self._g_max() if start is not None else 0.0)
        r = self.solver.solve(m)
        upper = self._g_max() if r.status.ok else math.inf
        lower = upper if (self.convex and r.status.ok) else -math.inf
        return PsiValue(lower, upper, self._z() if r.status.ok else None, r.status, r.time, r.message)

    def _restore(self) -> None:
        for v, x in self._start:
            if x is not None:
                v.set_value(x, skip_validation=True)

    def _starts(self) -> list:
        """Starting controls of the local multistart: the model's own, the midpoint, the corners
        (up to 2 controls), random points (fixed seed: the same starts every time)."""
        zb = working_range(self.model.control_bounds, [x for _, x in self._start])
        own = [x if x is not None else 0.5 * (lo + hi) for (_, x), (lo, hi) in zip(self._start, zb)]
        pts = [np.array(own, float), zb.mean(axis=1)]
        if zb.shape[0] <= 2:
            import itertools

            pts += [np.array(c, float) for c in itertools.product(*zb.tolist())]
        rng = np.random.default_rng(0)
        while len(pts) < N_LOCAL_STARTS:
            pts.append(zb[:, 0] + rng.random(zb.shape[0]) * (zb[:, 1] - zb[:, 0]))
        return pts[:max(N_LOCAL_STARTS, len(pts))]


ControlsLinear = Callable[[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray]]
