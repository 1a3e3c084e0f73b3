"""Flexibility test and index **with recourse**: controls z adjusted once θm is known.

For a model with controls (``ProcessModel(..., controls=...)``) the classical definitions
(Halemane & Grossmann 1983; Swaney & Grossmann 1985; Grossmann & Floudas 1987) apply:

* feasibility function  ψ(θ) = min_z max_k g_k(θ, z)   (z within its bounds);
* flexibility test      χ(δ) = max_{θ ∈ set(δ)} ψ(θ)   (feasible ⇔ χ ≤ 0);
* flexibility index     δ* = max{δ : ∀θ ∈ set(δ) ∃z: g(θ, z) ≤ 0} = min{δ : ψ(θ) ≥ 0, θ ∈ set(δ)}.

Two solution routes, each with the condition under which it is exact (recorded on every
result as ``assumption``; ``assumption_verified`` is True when flexspace proved it: every g
linear in z at fixed θ for the KKT route, linear in (θ, z) for the vertex route):

``kkt`` — the active-set KKT reformulation of the inner problem ``min_{z,u} u s.t. g_k ≤ u``
    (Grossmann & Floudas 1987): multipliers λ_k ≥ 0 with Σλ_k = 1, stationarity
    Σ_k λ_k ∂g_k/∂z_j + ν⁺_j − ν⁻_j = 0 (ν±: multipliers of the bounds of z), slacks
    s_k = u − g_k ≥ 0, binaries y_k with λ_k ≤ y_k and s_k ≤ M_k (1 − y_k) (the same for the
    bounds of z), and at most n_z + 1 active constraints (valid by Carathéodory's theorem on
    the stationarity cone).  One MINLP, solved by a global solver (maingo, scip, gurobi).
    Exact when every g_k is convex in z at fixed θ (then KKT ⇔ inner optimum); otherwise
    the KKT points include non-optimal ones and the answer is only a bound.  Big-M values
    come from interval arithmetic on the variable bounds (valid, never heuristic).  Models
    with states x (equations h = 0) are refused on this route: write g explicitly in
    (θ, z), or use the vertex route.

``vertex`` — box sets only: the index is min over the 2^n_m vertex directions d of
    max{δ : ∃z g(θ̄ + δ D d, z) ≤ 0} (one NLP/LP each), the test max over the vertices of
    ψ(vertex).  Exact when the feasible region {θ : ∃z g ≤ 0} is convex, e.g. when g is
    jointly convex in (θ, z) (linear models always).  For a nonconvex region the worst θ
    may lie inside a face and this route overestimates δ; sampling certification (on by
    default when the assumption is not verified) then reports the result uncertified.

Entry point: :class:`RecourseAnalysis` (``.index(theta_p)``, ``.test(theta_p, delta=...)``,
``.extended_test(...)``); :class:`~flexspace.formulations.flexibility.FlexibilityAnalysis`
dispatches to it for models with controls, so Algorithms 2 and 3 accept them.
"""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.fbbt.fbbt import compute_bounds_on_expr
from pyomo.core.expr.calculus.derivatives import Modes, differentiate

from ..errors import ValidationError
from ..options import OptionsLike, resolve_options
from ..solvers import SolverStatus, get_solver
from ..validation import check_number
from .results import FlexibilityIndexResult, FlexibilityTestResult, Method, ResultStatus, SubproblemResult
from .sets import BoxSet, SetKind, UncertaintySet, _StrChoice

__all__ = ["RecourseMethod", "RecourseAnalysis", "RecourseIndexResult", "RecourseTestResult", "add_inner_kkt"]

#: Certification samples by default: with linear data (vectorised, closed form or one LP
#: each) and without (one Ipopt NLP per sample, ~20 ms each on this machine).
N_CERTIFY_LINEAR = 2000
N_CERTIFY_NLP = 100
#: certification samples set(δ (1 − SHRINK)): points exactly on the critical boundary have
#: ψ = 0 up to round-off and must not count as violations.
SHRINK = 1e-6

KKT_ASSUMPTION = "every g_k convex in z at fixed theta (KKT conditions of the inner problem are then sufficient)"
VERTEX_ASSUMPTION = ("the feasible region {theta : exists z, g <= 0} is convex (e.g. g jointly convex in (theta, z)): "
                     "the worst theta of a box is then a vertex")


class RecourseMethod(_StrChoice):
    """How a flexibility problem with recourse is solved."""

    KKT = "kkt"  #: active-set KKT reformulation, one MINLP (global solver)
    VERTEX = "vertex"  #: vertex enumeration of a box set (convex feasible region)

    @classmethod
    def parse(cls, value, param: str = "method") -> "RecourseMethod":
        return super().parse(value, param)


def _resolve_method(method, solver, kind, has_h: bool = False) -> RecourseMethod:
    """``auto`` (and the recourse-free names ``enumeration``/``minlp``, so drivers written for
    models without controls work): KKT with a MINLP solver (g explicit in θ and z), else
    vertex for a box.  Refused before any compute: KKT without a MINLP solver or on a model
    with equations h = 0, vertex on a set that is not a box."""
    key = str(getattr(method, "value", method)).lower()
    if key in ("auto", "enumeration", "minlp"):
        if solver.supports_integers and solver.spec.kind == "minlp" and not has_h:
            key = "kkt"
        elif kind is SetKind.BOX:
            key = "vertex"
        else:
            raise ValidationError(f"recourse on a {kind} set needs the KKT route, a MINLP for a global solver "
                                  f"(maingo, scip, gurobi) on g written explicitly in (theta, z); solver "
                                  f"{solver.name!r}{' and a model with equations h = 0' if has_h else ''} cannot. "
                                  "Use a box set (vertex route), or a global MINLP solver and explicit CQAs")
    m = RecourseMethod.parse(key)
    if m is RecourseMethod.KKT and has_h:
        raise ValidationError("the KKT route needs g written explicitly in (theta, z); this model has states and "
                              "equations h = 0. Use method='vertex' (box set) or write the CQAs as expressions of "
                              "theta and the controls")
    if m is RecourseMethod.KKT and not (solver.supports_integers and solver.spec.kind == "minlp"):
        raise ValidationError(f"method='kkt' solves a MINLP; solver {solver.name!r} cannot (use maingo, scip or "
                              "gurobi, or method='vertex' for a box set)")
    if m is RecourseMethod.VERTEX and kind is not SetKind.BOX:
        raise ValidationError(f"method='vertex' enumerates the vertices of a box; the set is a {kind}: use "
                              "method='kkt' with a global solver, or a box set")
    return m


# --------------------------------------------------------------------------- results
def _quality(res, base: str) -> str:
    if res.status == ResultStatus.FAILED or res.assumption_verified:
        return base
    return f"{base} (assuming {res.assumption.split(' (')[0]})"


def _extra_dict(res) -> dict:
    return {"route": res.route, "critical_z": res.critical_z, "active_constraints": list(res.active_constraints),
            "assumption": res.assumption, "assumption_verified": res.assumption_verified}


def _extra_lines(res) -> str:
    z = ", ".join(f"{k}={v:.6g}" for k, v in (res.critical_z or {}).items())
    return (f"\n  recourse    : route={res.route}, critical z = ({z}), active = {res.active_constraints}"
            f"\n  exact if    : {res.assumption} [{'verified' if res.assumption_verified else 'assumed'}]")


@dataclass
class _RecourseFields:
    """What a result with recourse adds: the critical z, the active constraints, the route
    and its exactness condition (mixed into the index and test results)."""

    route: str = ""  #: "kkt" or "vertex"
    critical_z: Optional[Dict[str, float]] = None  #: the optimal controls at the critical θ
    active_constraints: List[str] = field(default_factory=list)  #: active g_k (and control bounds) there
    assumption: str = ""  #: when the route is exact
    assumption_verified: bool = False  #: True when flexspace proved it (every g linear in (θ, z))

    @property
    def solve_quality(self) -> str:
        return _quality(self, super().solve_quality)

    def to_dict(self) -> dict:
        return {**super().to_dict(), **_extra_dict(self)}

    def __str__(self) -> str:
        return super().__str__() + _extra_lines(self)


@dataclass
class RecourseIndexResult(_RecourseFields, FlexibilityIndexResult):
    """A flexibility index with recourse: :class:`FlexibilityIndexResult` plus the critical z,
    the active constraints, the route and its exactness condition."""


@dataclass
class RecourseTestResult(_RecourseFields, FlexibilityTestResult):
    """A flexibility test with recourse (χ = max_θ min_z max_k g_k)."""


# --------------------------------------------------------------------------- blocks
def _interval(e, what: str):
    lo, hi = compute_bounds_on_expr(e) if not isinstance(e, (int, float)) else (float(e), float(e))
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValidationError(f"{what} is unbounded by interval arithmetic over the variable bounds; the KKT route "
                              "needs finite bounds on every variable (bound the controls and the states)")
    return float(lo), float(hi)


def add_inner_kkt(b: pyo.Block, g, z, z_bounds, names) -> None:
    """KKT conditions of ``min_{z,u} u s.t. g_k(θ, z) ≤ u, z in bounds`` on block ``b``
    (module docstring; Grossmann & Floudas 1987).  Every big-M and multiplier bound comes
    from interval arithmetic on the *current* variable bounds (θ's set, z's bounds)."""
    K, J = range(len(g)), range(len(z))
    lo, hi = zip(*(_interval(e, f"CQA {names[k]!r}") for k, e in enumerate(g)))
    b.u = pyo.Var(bounds=(max(lo), max(hi)), initialize=max(hi))
    b.lam = pyo.Var(K, bounds=(0.0, 1.0), initialize=1.0 / len(g))
    b.y = pyo.Var(K, domain=pyo.Binary, initialize=1)
    b.s = pyo.Var(K, bounds=lambda _, k: (0.0, max(hi) - lo[k]), initialize=0.0)
    b.slack = pyo.Constraint(K, rule=lambda _, k: b.s[k] == b.u - g[k])
    b.sum_lam = pyo.Constraint(expr=sum(b.lam[k] for k in K) == 1)
    b.lam_y = pyo.Constraint(K, rule=lambda _, k: b.lam[k] <= b.y[k])
    b.s_y = pyo.Constraint(K, rule=lambda _, k: b.s[k] <= (max(hi) - lo[k]) * (1 - b.y[k]))
    dg = [[differentiate(g[k], wrt=z[j], mode=Modes.reverse_symbolic) for j in J] for k in K]
    nmax = [max(max(abs(x) for x in _interval(dg[k][j], f"d{names[k]}/dz")) for k in K) for j in J]
    b.nu_lo = pyo.Var(J, bounds=lambda _, j: (0.0, nmax[j]), initialize=0.0)
    b.nu_hi = pyo.Var(J, bounds=lambda _, j: (0.0, nmax[j]), initialize=0.0)
    b.w_lo = pyo.Var(J, domain=pyo.Binary, initialize=0)
    b.w_hi = pyo.Var(J, domain=pyo.Binary, initialize=0)
    b.stat = pyo.Constraint(J, rule=lambda _, j: sum(b.lam[k] * dg[k][j] for k in K) + b.nu_hi[j] - b.nu_lo[j] == 0)
    zb = np.asarray(z_bounds, float)
    width = zb[:, 1] - zb[:, 0]
    b.nu_lo_w = pyo.Constraint(J, rule=lambda _, j: b.nu_lo[j] <= nmax[j] * b.w_lo[j])
    b.nu_hi_w = pyo.Constraint(J, rule=lambda _, j: b.nu_hi[j] <= nmax[j] * b.w_hi[j])
    b.at_lo = pyo.Constraint(J, rule=lambda _, j: z[j] - zb[j, 0] <= width[j] * (1 - b.w_lo[j]))
    b.at_hi = pyo.Constraint(J, rule=lambda _, j: zb[j, 1] - z[j] <= width[j] * (1 - b.w_hi[j]))
    n_act = sum(b.y[k] for k in K) + sum(b.w_lo[j] + b.w_hi[j] for j in J)
    b.count = pyo.Constraint(expr=n_act <= len(z) + 1)


def _is_linear(inst, in_z_only: bool = False) -> bool:
    """Every g (and every model equation) is linear in all variables (θ, z, x), or — with
    ``in_z_only`` — in the unfixed ones once θ is fixed (then g is convex in z)."""
    exprs = list(inst.g) + [c.body for c in inst.model.h.values() if c.active]
    theta = [] if in_z_only else inst.theta_p + inst.theta_m
    for v in theta:
        v.unfix()
    try:
        return all(isinstance(e, (int, float)) or (e.polynomial_degree() is not None and e.polynomial_degree() <= 1)
                   for e in exprs)
    finally:
        for v in theta:
            v.fix()


# --------------------------------------------------------------------------- analysis
class RecourseAnalysis:
    """Flexibility index / test of a model with controls, for one set and one solver.

    Parameters
    ----------
    model : a :class:`~flexspace.ProcessModel` with ``controls``.
    uncertainty_set : ``"box"``, ``"ellipsoid"``, ``"ldl"`` or an :class:`UncertaintySet`
        (e.g. a :class:`BoxSet` with your own half-widths).
    solver : a solver name or :class:`~flexspace.solvers.Solver`; a global MINLP solver for the
        KKT route, any NLP/LP solver for the vertex route.
    options : :class:`~flexspace.options.SolveOptions` or preset/dict (``delta_max``,
        ``certify``, ``n_certify``, ``random_state``, ``time_limit``, gaps).
    """

    def __init__(self, model, uncertainty_set="box", solver="maingo", options: OptionsLike = None):
        if not getattr(model, "n_z", 0):
            raise ValidationError(f"model {getattr(model, 'name', model)!r} has no controls; RecourseAnalysis needs "
                                  "ProcessModel(..., controls={...}) (use FlexibilityAnalysis without recourse)")
        self.options = resolve_options(options)
        self.model = model
        if isinstance(uncertainty_set, UncertaintySet):
            if uncertainty_set.dim != model.n_m:
                raise ValidationError(f"uncertainty_set has dimension {uncertainty_set.dim}, the model has "
                                      f"{model.n_m} uncertain parameters {model.theta_m_names}")
            self.uset = uncertainty_set
        else:
            self.uset = UncertaintySet.of_kind(uncertainty_set, model.theta_m_nominal, model.covariance)
        self.set_kind: SetKind = self.uset.kind
        self.solver = get_solver(solver, self.options)
        dmax = self.options.delta_max
        self.delta_max = float(getattr(model, "delta_max", 6.0) if dmax is None else dmax)
        self._linear: Optional[bool] = None
        self._linear_z: Optional[bool] = None

    # ------------------------------------------------------------------ helpers
    @property
    def linear(self) -> bool:
        """Every g is linear in (θ, z): both routes are then exact (assumption verified)."""
        if self._linear is None:
            self._linear = _is_linear(self.model.instance())
        return self._linear

    @property
    def linear_in_z(self) -> bool:
        """Every g is linear in (z, x) at fixed θ: the KKT route is then exact (verified)."""
        if self._linear_z is None:
            self._linear_z = _is_linear(self.model.instance(), in_z_only=True)
        return self._linear_z

    def _theta_p(self, theta_p) -> np.ndarray:
        from ..validation import as_vector

        if theta_p is None:
            return self.model.theta_p_nominal.copy()
        if isinstance(theta_p, dict):
            if set(theta_p) != set(self.model.theta_p_names):
                raise ValidationError(f"theta_p has the keys {sorted(theta_p)}; expected exactly "
                                      f"{self.model.theta_p_names}")
            theta_p = [theta_p[n] for n in self.model.theta_p_names]
        return as_vector("theta_p", theta_p, self.model.n_p)

    def _begin(self, cls, method, theta_p, **fields):
        t0 = time.perf_counter()
        route = _resolve_method(method, self.solver, self.set_kind, self._has_h())
        tp = self._theta_p(theta_p)
        res = cls(status=ResultStatus.OK, set_kind=self.set_kind, solver=self.solver.name,
                  is_global=self.solver.is_global, method=Method.MINLP if route is RecourseMethod.KKT
                  else Method.ENUMERATION, theta_p=dict(zip(self.model.theta_p_names, map(float, tp))),
                  _theta_m_names=list(self.model.theta_m_names), route=route.value,
                  assumption=KKT_ASSUMPTION if route is RecourseMethod.KKT else VERTEX_ASSUMPTION,
                  assumption_verified=self.linear_in_z if route is RecourseMethod.KKT else self.linear,
                  domain=self._domain_text(), **fields)
        return t0, res, tp, route

    def _has_h(self) -> bool:
        """The model has states or equations h (the KKT route needs g explicit in θ and z)."""
        if getattr(self, "_h", None) is None:
            inst = self.model.instance()
            self._h = bool(inst.state_vars()) or any(c.active for c in inst.model.h.values())
        return self._h

    def _domain_text(self) -> str:
        if getattr(self, "_domain", None) is None:
            explicit = not self.model.instance().state_vars()
            self._domain = ("explicit model (g in theta and z, no states): every theta has a value" if explicit else
                            "states solved with h = 0 in each subproblem (the model's domain over the set is not "
                            "proven)")
        return self._domain

    def _finish(self, res, t0):
        res.time = time.perf_counter() - t0
        return res

    def _instance(self, theta_p, kkt: bool):
        inst = self.model.instance()
        if kkt and self._has_h():  # checked in _begin already; kept for direct callers
            raise ValidationError(f"the KKT route needs g written explicitly in (theta, z); model "
                                  f"{self.model.name!r} has states/equations h = 0: use method='vertex' (box set)")
        inst.set_theta(theta_p, self.model.theta_m_nominal)
        for v, (lo, hi) in zip(inst.controls, self.model.control_bounds):
            if v.value is None:
                v.set_value(0.5 * (lo + hi))
        if inst.state_vars():
            inst.bound_states()
        return inst

    def psi(self, theta_p, theta_m):
        """ψ(θ) = min_z max_k g_k at one θ (inner LP/NLP with the analysis' solver; exact for a
        global solver, or a local solver when g is convex in z).  Returns (ψ, z, SolveResult)."""
        inst = self._instance(theta_p, kkt=False)
        inst.set_theta(None, theta_m)
        m = inst.model
        m._u = pyo.Var(initialize=0.0, bounds=self._u_bounds(inst))
        m._g = pyo.Constraint(range(self.model.n_g), rule=lambda _, k: inst.g[k] <= m._u)
        m._obj = pyo.Objective(expr=m._u)
        r = self.solver.solve(m)
        z = {n: float(v.value) for n, v in zip(self.model.control_names, inst.controls)} if r.status.ok else None
        return (float(m._u.value) if r.status.ok else float("nan")), z, r

    def _u_bounds(self, inst):
        if not self.solver.is_global:
            return (None, None)
        lo, hi = zip(*(_interval(e, f"CQA {n!r}") for n, e in zip(self.model.g_names, inst.g)))
        return (max(lo), max(hi))

    def _nominal_check(self, res, tp) -> bool:
        psi, z, r = self.psi(tp, self.model.theta_m_nominal)
        if not r.status.ok:
            res.status = ResultStatus.FAILED
            res.subproblems.append(SubproblemResult("nominal psi", float("nan"), r.status, time=r.time,
                                                    message=r.message))
            return False
        res.nominal_g = {"psi (min_z max_k g at nominal theta_m)": psi}
        if psi > 1e-9:
            res.status = ResultStatus.NOMINAL_INFEASIBLE
            res.delta, res.probability = 0.0, 0.0
            res.critical_z = z
            res.worst_theta_m = dict(zip(self.model.theta_m_names, map(float, self.model.theta_m_nominal)))
            res.certified = True
            return False
        return True

    # ------------------------------------------------------------------ index
    def index(self, theta_p=None, method: str = "auto") -> RecourseIndexResult:
        """Flexibility index with recourse δ* at θp (KKT MINLP, or vertex enumeration for a box)."""
        t0, res, tp, route = self._begin(RecourseIndexResult, method, theta_p, delta_max=self.delta_max)
        if not self._nominal_check(res, tp):
            return self._finish(res, t0)
        if route is RecourseMethod.KKT:
            self._index_kkt(res, tp)
        else:
            self._index_vertex(res, tp)
        if res.status == ResultStatus.OK:
            res.probability = self.uset.probability(res.delta)
            self._certify(res, tp, res.delta)
        return self._finish(res, t0)

    def _index_kkt(self, res, tp) -> None:
        inst = self._instance(tp, kkt=True)
        m = inst.model
        sq = bool(self.uset.convex_in_delta_squared)
        m.delta = pyo.Var(bounds=(0.0, self.delta_max ** 2 if sq else self.delta_max), initialize=0.0)
        m.set_m = pyo.Block()
        handle = self.uset.build(m.set_m, inst.theta_m, m.delta, squared=sq)
        handle.bound_to(self.delta_max)
        for v in inst.theta_m:
            v.unfix()
        m.kkt = pyo.Block()
        add_inner_kkt(m.kkt, inst.g, inst.controls, self.model.control_bounds, self.model.g_names)
        m.kkt.u.setlb(max(0.0, m.kkt.u.lb))  # ψ(θ) ≥ 0: θ on or beyond the edge of the feasible region
        m.obj = pyo.Objective(expr=m.delta)
        r = self.solver.solve(m) if m.kkt.u.ub >= 0 else None
        if r is None or r.status == SolverStatus.INFEASIBLE and self.solver.is_global:
            why = "psi < 0 everywhere by interval arithmetic" if r is None else "proven infeasible"
            res.subproblems.append(SubproblemResult("kkt", self.delta_max, SolverStatus.INFEASIBLE, capped=True,
                                                    time=0.0 if r is None else r.time,
                                                    message=f"{why}: feasible up to delta_max"))
            res.delta = res.delta_lower_bound = self.delta_max
            return
        if not r.status.ok:
            res.status = ResultStatus.FAILED
            res.subproblems.append(SubproblemResult("kkt", float("nan"), r.status, time=r.time, message=r.message))
            res.delta = res.probability = float("nan")
            return
        val = float(m.delta.value)
        res.delta = max(0.0, math.sqrt(max(val, 0.0)) if sq else val)
        if r.bound is not None and self.solver.is_global:
            res.delta_lower_bound = max(0.0, math.sqrt(max(r.bound, 0.0)) if sq else r.bound)
        self._record_kkt(res, inst, m.kkt, r, "kkt")

    def _record_kkt(self, res, inst, b, r, name) -> None:
        """θm, z, active constraints of a solved KKT problem onto the result."""
        tm = [float(v.value) for v in inst.theta_m]
        res.worst_theta_m = dict(zip(self.model.theta_m_names, tm))
        res.critical_z = {n: float(v.value) for n, v in zip(self.model.control_names, inst.controls)}
        act = [n for k, n in enumerate(self.model.g_names) if round(b.y[k].value) == 1]
        for j, n in enumerate(self.model.control_names):
            act += [f"{n} at lower bound"] if round(b.w_lo[j].value) == 1 else []
            act += [f"{n} at upper bound"] if round(b.w_hi[j].value) == 1 else []
        res.active_constraints = act
        res.worst_constraint = ", ".join(act)
        val = res.delta if isinstance(res, RecourseIndexResult) else float(b.u.value)
        res.subproblems.append(SubproblemResult(name, val, r.status, capped=False, time=r.time, bound=r.bound,
                                                theta_m=tm, message=r.message))

    def _vertices(self):
        n = self.model.n_m
        box = self.uset
        for signs in itertools.product((-1.0, 1.0), repeat=n):
            s = np.array(signs)
            yield s, np.where(s > 0, box.delta_plus, -box.delta_minus)

    def _index_vertex(self, res, tp) -> None:
        """min over vertex directions d of max{δ : ∃z g(θ̄ + δ d, z) ≤ 0} (one NLP/LP each)."""
        inst = self._instance(tp, kkt=False)
        m = inst.model
        m.delta = pyo.Var(bounds=(0.0, self.delta_max), initialize=0.0)
        m.dirn = pyo.Param(range(self.model.n_m), mutable=True, initialize=0.0)
        nominal = self.model.theta_m_nominal
        for v in inst.theta_m:
            v.unfix()
        m.on_ray = pyo.Constraint(range(self.model.n_m),
                                  rule=lambda _, i: inst.theta_m[i] == float(nominal[i]) + m.delta * m.dirn[i])
        lo, hi = self.uset.bounds(self.delta_max)
        for v, a, b in zip(inst.theta_m, lo, hi):
            v.setlb(float(a) - 1e-9)
            v.setub(float(b) + 1e-9)
        m.feas = pyo.Constraint(range(self.model.n_g), rule=lambda _, k: inst.g[k] <= 0)
        m.obj = pyo.Objective(expr=m.delta, sense=pyo.maximize)
        best = None
        for s, d in self._vertices():
            for i, x in enumerate(d):
                m.dirn[i].set_value(float(x))
            m.delta.set_value(0.0)
            r = self.solver.solve(m)
            name = "vertex " + "".join("+" if x > 0 else "-" for x in s)
            if not r.status.ok:
                res.status = ResultStatus.FAILED
                res.delta = res.probability = float("nan")
                res.subproblems.append(SubproblemResult(name, float("nan"), r.status, time=r.time, message=r.message))
                return
            val = min(max(float(m.delta.value), 0.0), self.delta_max)
            sp = SubproblemResult(name, val, r.status, capped=val >= self.delta_max - 1e-9, time=r.time,
                                  theta_m=[float(v.value) for v in inst.theta_m], message=r.message)
            res.subproblems.append(sp)
            if best is None or val < best[0]:
                best = (val, sp, {n: float(v.value) for n, v in zip(self.model.control_names, inst.controls)},
                        self._active(inst))
        res.delta, sp, res.critical_z, res.active_constraints = best
        res.worst_theta_m = dict(zip(self.model.theta_m_names, sp.theta_m))
        res.worst_constraint = ", ".join(res.active_constraints)

    def _active(self, inst, tol: float = 1e-6) -> List[str]:
        g = np.array([pyo.value(e) for e in inst.g], dtype=float)
        act = [n for n, x in zip(self.model.g_names, g) if x >= np.max(g) - tol * (1 + abs(np.max(g)))]
        for n, v, (lo, hi) in zip(self.model.control_names, inst.controls, self.model.control_bounds):
            act += [f"{n} at lower bound"] if v.value <= lo + tol * (1 + abs(lo)) else []
            act += [f"{n} at upper bound"] if v.value >= hi - tol * (1 + abs(hi)) else []
        return act

    # ------------------------------------------------------------------ certification
    def _certify(self, res, tp, delta) -> None:
        """Sample set(δ (1 − SHRINK)) and decide each sample with recourse
        (:meth:`ProcessModel.recourse_feasibility`).  On by default for local solvers and when
        the route's assumption is not verified; a violation makes the result ``uncertified``
        (local) or ``contradicted`` (global)."""
        certify = self.options.certify
        if certify is None:
            certify = not self.solver.is_global or not res.assumption_verified
        if not certify:
            res.certified = True if self.solver.is_global else None
            return
        linear = self.model.controls_linear is not None
        n = self.options.n_certify or (N_CERTIFY_LINEAR if linear else N_CERTIFY_NLP)
        rng = np.random.default_rng(self.options.random_state)
        pts = self.uset.sample(max(delta, 0.0) * (1.0 - SHRINK), n, rng)
        ok, failed, how = self.model.recourse_feasibility(tp, pts, "ipopt")
        bad = int(np.sum(~ok))
        res.certification = {"n_samples": n, "violations": bad, "failed_samples": int(failed.sum()), "how": how}
        res.certified = bad == 0
        if bad:
            res.status = ResultStatus.CONTRADICTED if self.solver.is_global else ResultStatus.UNCERTIFIED

    # ------------------------------------------------------------------ test
    def test(self, theta_p=None, delta: Optional[float] = None, confidence: Optional[float] = None,
             method: str = "auto") -> RecourseTestResult:
        """Flexibility test with recourse χ = max_{θ ∈ set(δ)} min_z max_k g_k at θp."""
        t0, res, tp, route = self._begin(RecourseTestResult, method, theta_p)
        if (delta is None) == (confidence is None):
            raise ValidationError("give exactly one of delta (set size) or confidence (probability p_c)")
        d = self.uset.delta_for_confidence(confidence) if confidence is not None else check_number(
            "delta", delta, low=0)
        res.delta_m = d
        if route is RecourseMethod.KKT:
            inst = self._instance(tp, kkt=True)
            self._test_kkt(res, inst, d, free_p=None)
        else:
            self._test_vertex(res, tp, d)
        if res.solved:
            res.certified = True if self.solver.is_global else None
        return self._finish(res, t0)

    def _test_kkt(self, res, inst, d, free_p) -> None:
        m = inst.model
        m.set_m = pyo.Block()
        self.uset.build(m.set_m, inst.theta_m, float(d)).bound_to(d)
        for v in inst.theta_m + (inst.theta_p if free_p is not None else []):
            v.unfix()
        m.kkt = pyo.Block()
        add_inner_kkt(m.kkt, inst.g, inst.controls, self.model.control_bounds, self.model.g_names)
        m.obj = pyo.Objective(expr=m.kkt.u, sense=pyo.maximize)
        r = self.solver.solve(m)
        if not r.status.ok:
            res.status = ResultStatus.FAILED
            res.subproblems.append(SubproblemResult("kkt", float("nan"), r.status, time=r.time, message=r.message))
            return
        res.chi = float(m.kkt.u.value)
        res.chi_upper_bound = float(r.bound) if (self.solver.is_global and r.bound is not None) else None
        self._record_kkt(res, inst, m.kkt, r, "kkt")
        if free_p is not None:
            res.worst_theta_p = dict(zip(self.model.theta_p_names, (float(v.value) for v in inst.theta_p)))

    def _test_vertex(self, res, tp, d) -> None:
        best = None
        for s, step in self._vertices():
            psi, z, r = self.psi(tp, self.model.theta_m_nominal + d * step)
            name = "vertex " + "".join("+" if x > 0 else "-" for x in s)
            tm = list(map(float, self.model.theta_m_nominal + d * step))
            if not r.status.ok:
                res.status = ResultStatus.FAILED
                res.subproblems.append(SubproblemResult(name, float("nan"), r.status, time=r.time, message=r.message))
                return
            res.subproblems.append(SubproblemResult(name, psi, r.status, time=r.time, bound=r.bound, theta_m=tm))
            if best is None or psi > best[0]:
                best = (psi, tm, z)
        res.chi, tm, res.critical_z = best
        res.worst_theta_m = dict(zip(self.model.theta_m_names, tm))
        res.worst_constraint = max(res.subproblems, key=lambda s: s.value).constraint

    # ------------------------------------------------------------------ extended test
    def extended_test(self, delta_p: float, theta_p_nominal=None, delta_p_minus=None, delta_p_plus=None,
                      delta_m: Optional[float] = None, confidence: Optional[float] = None,
                      method: str = "auto") -> RecourseTestResult:
        """Extended test with recourse over θp in the box ``θ̄p − δp Δ⁻ ≤ θp ≤ θ̄p + δp Δ⁺`` (clipped
        to the model's θp bounds) and θm ∈ set(δm): one KKT MINLP with θp free (the KKT
        conditions are in z only, so they hold for every θp)."""
        t0, res, center, route = self._begin(RecourseTestResult, "kkt" if method in ("auto", "enumeration",
                                                                                     "minlp") else method,
                                             theta_p_nominal)
        if (delta_m is None) == (confidence is None):
            raise ValidationError("give exactly one of delta_m (set size) or confidence (probability p_c)")
        dm = self.uset.delta_for_confidence(confidence) if confidence is not None else check_number(
            "delta_m", delta_m, low=0)
        dp = check_number("delta_p", delta_p, low=0)
        b = self.model.theta_p_bounds
        if b is None and (delta_p_minus is None or delta_p_plus is None):
            raise ValidationError("extended_test: give delta_p_minus and delta_p_plus, or theta_p_bounds on the model")
        dmin = np.asarray(center - b[:, 0] if delta_p_minus is None else delta_p_minus, float)
        dplus = np.asarray(b[:, 1] - center if delta_p_plus is None else delta_p_plus, float)
        res.delta_m, res.delta_p = dm, dp
        inst = self._instance(center, kkt=True)
        pset = BoxSet(center, delta_minus=dmin, delta_plus=dplus)
        inst.model.set_p = pyo.Block()
        pset.build(inst.model.set_p, inst.theta_p, float(dp)).bound_to(dp, within=b)
        self._test_kkt(res, inst, dm, free_p=True)
        if res.solved:
            res.certified = True if self.solver.is_global else None
        return self._finish(res, t0)
