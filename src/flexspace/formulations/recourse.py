"""Flexibility test and index **with recourse**: controls z adjusted once θm is known.

For a model with controls (``ProcessModel(..., controls=...)``) the classical definitions
(Halemane & Grossmann 1983; Swaney & Grossmann 1985; Grossmann & Floudas 1987) apply:

* feasibility function  ψ(θ) = min_z max_k g_k(θ, z)   (z within its bounds and domain);
* flexibility test      χ(δ) = max_{θ ∈ set(δ)} ψ(θ)   (feasible ⇔ χ ≤ 0);
* flexibility index     δ* = inf{δ : some θ ∈ set(δ) has ψ(θ) ≥ τ} (τ =
  :data:`~flexspace.formulations.bracket.VIOLATION_TOL`).

Three routes; a result is ``ok`` only where flexspace *proved* what makes it exact, otherwise
a proven ``bound`` (its safe side in the value fields) or ``sampled`` / ``uncertified``:

``exact`` (default with a global MINLP solver: maingo, scip, gurobi) — χ or δ bracketed
    between the KKT relaxation with control cuts (upper bound of χ, lower bound of δ) and
    global solves of ψ at θ points (:mod:`flexspace.formulations.bracket`); ``ok`` once the
    bounds meet within the gap, for any g (nonconvex in z, integer controls).
``kkt`` — the KKT relaxation alone (one bracket iteration): ``ok`` when its bound is met by
    ψ at its own θ (always, when g is linear in z), else a proven ``bound``.
``vertex`` (default for a box with a local or LP solver) — ψ at the 2^n vertices (test) or
    the largest δ along each vertex direction (index).  Exact when ψ is convex in θ, which
    flexspace proves only for g (and h) linear in (θ, z, x): then ``ok``.  Otherwise the
    worst case may lie inside a face: a vertex ψ proven > 0 gives a ``bound`` (χ > 0 proven),
    and anything else is certified by sampling the set — ``sampled`` (the scenario statement
    only) or ``uncertified``.

Models with states x (equations h = 0): ``vertex`` (box, default), ``decision_rule`` (a safe
bound), or ``kkt`` (default for other sets with a global solver): the KKT system then includes
the multipliers of h, bounded by an *assumption*
(:data:`~flexspace.formulations.kkt.STATE_MULTIPLIER_BOUND`), and no constraint qualification
is proven, so its bound is an estimate; only ψ solved globally at θ points is proven (χ ≥ it:
``bound`` when > 0), never ``ok``.  The ``exact`` route (control cuts) is not built for states:
a cut at a fixed control needs its own states, and θ where h has no solution at that control
would be removed wrongly.  Entry point:
:class:`RecourseAnalysis` (``.index(theta_p)``, ``.test(theta_p, delta=...)``,
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

from ..errors import ValidationError
from ..models.controls import InnerProblem, inner_is_convex, is_linear, working_range
from ..options import OptionsLike, resolve_options
from ..solvers import get_solver
from ..validation import check_number
from .bracket import VIOLATION_TOL, Bracket, _Relaxation, bracket_index, bracket_test, probe_index_upper
from .decision_rules import decision_rule_index, decision_rule_test
from .kkt import STATE_MULTIPLIER_BOUND, add_inner_kkt
from .scaling import check_scales
from .results import (DomainStatus, FlexibilityIndexResult, FlexibilityTestResult, Method, ResultStatus, SubproblemResult,
                      cap_test_value, scenario_epsilon, theta_units, SCENARIO_STATEMENT)
from ..validation import StrChoice
from .sets import BoxSet, SetKind, make_uncertainty_set

__all__ = ["RecourseMethod", "RecourseAnalysis", "RecourseIndexResult", "RecourseTestResult", "add_inner_kkt"]

#: Certification samples by default: with linear data (vectorised, closed form or one LP
#: each) and without (one inner problem per sample; 150 reach the default scenario level
#: ε = ln(1/β)/N ≤ 0.05 at β = 1e-3, see :class:`~flexspace.options.SolveOptions`).
N_CERTIFY_LINEAR = 2000
N_CERTIFY_NLP = 150
#: certification samples set(δ (1 − SHRINK)): points exactly on the critical boundary have
#: ψ = 0 up to round-off and must not count as violations.
SHRINK = 1e-6

EXACT_CONDITION = ("bracket closed: a global solve of psi at a theta reaches the KKT relaxation's proven bound "
                   "(any g: nonconvex in z, integer controls)")
KKT_CONDITION = "every g_k convex in z at fixed theta (KKT conditions of the inner problem are then sufficient)"
KKT_STATES_CONDITION = ("with states: the inner minimiser is a KKT point (a constraint qualification, e.g. LICQ of h "
                        "in x, not proven) with multipliers of h within +-{M:g} (assumed), and g convex in (z, x); "
                        "never ok: the lower bound of chi (psi at a theta, global) is the only proven number")
RULE_CONDITION = "never exact: a decision rule (linear or ReLU) restricts the recourse (a safe bound: chi <= chi_rule, delta >= delta_rule)"
GRID_CONDITION = ("never exact: psi at a grid of the set (options.grid_points per axis); the worst grid point is "
                  "a lower bound of chi (proven where psi is solved globally), as the peer's sampling")
VERTEX_CONDITION = ("psi convex in theta, proven for g and h linear in (theta, z, x): the worst theta of a box is "
                    "then a vertex")


class RecourseMethod(StrChoice):
    """How a flexibility problem with recourse is solved (module docstring)."""

    EXACT = "exact"  #: KKT relaxation + control cuts + global ψ solves, bracketed to the gap
    KKT = "kkt"  #: the KKT relaxation alone: exact when g is convex in z, else a bound
    VERTEX = "vertex"  #: the vertices of a box: exact when g is linear in (θ, z)
    RULE = "decision_rule"  #: z = a linear rule of θ: a safe bound (χ ≤ χ_r, δ ≥ δ_r), any solver, states too
    RELU_RULE = "relu_rule"  #: z = a ReLU network of θ (with a linear skip): a safe bound, as ``decision_rule``
    GRID = "grid"  #: ψ on a grid of the set's box (``options.grid_points`` per axis): a lower bound of χ (test only)

    @classmethod
    def parse(cls, value, param: str = "method") -> "RecourseMethod":
        return super().parse(value, param)


_RULES = (RecourseMethod.RULE, RecourseMethod.RELU_RULE)


def check_route(model, uncertainty_set, solver, method="auto", options: OptionsLike = None,
                index: bool = True) -> None:
    """Refuse, before any compute, a recourse analysis the model, set and solver cannot run
    (a map would otherwise be a grid of failed points): the route of ``method``, and an
    LP/MILP solver only on a linear inner problem."""
    ra = RecourseAnalysis(model, uncertainty_set, solver, options)
    try:
        ra._check_lp_solver(index)
        _resolve_method(method, ra.solver, ra.uset, ra._has_h())
    finally:
        ra.solver.close()


def _resolve_method(method, solver, uset, has_h: bool = False) -> RecourseMethod:
    """``auto`` (and the recourse-free names ``enumeration``/``minlp``, so drivers written for
    models without controls work): the exact route with a global MINLP solver on g written
    in (θ, z), else vertex for a box.  Refused before any compute: the exact or KKT route
    without a MINLP solver or on a model with equations h = 0, vertex on a set that is not
    a box."""
    kind, box = uset.kind, isinstance(uset, BoxSet)  # the vertex route walks a box's corners
    key = str(getattr(method, "value", method)).lower()
    minlp = solver.supports_integers and solver.spec.kind == "minlp"
    if key in ("auto", "enumeration", "minlp"):
        if minlp and not has_h:
            key = "exact"
        elif box:
            key = "vertex"
        elif minlp:
            key = "kkt"  # states: an estimate on assumptions, with a proven lower bound
        else:
            raise ValidationError(f"recourse on a {kind} set needs the KKT route (method 'exact' or 'kkt'), a MINLP for a global solver "
                                  f"(maingo, scip, gurobi) on g written explicitly in (theta, z); solver "
                                  f"{solver.name!r}{' and a model with equations h = 0' if has_h else ''} cannot. "
                                  "Use a box set (vertex route), or a global MINLP solver and explicit CQAs")
    m = RecourseMethod.parse(key)
    if m is RecourseMethod.RELU_RULE and solver.name == "scip":
        raise ValidationError("method='relu_rule' with solver 'scip': the rule's |a| terms reach SCIP as sqrt(a^2) "
                              "through Pyomo's writer, and SCIP found no answer in 400 s on the HX network (4 theta, 4 "
                              "hinges; measured). Use maingo or gurobi (proven bounds), ipopt (sampled), or "
                              "method='decision_rule' (linear) with scip")
    if m in _RULES or m is RecourseMethod.GRID:
        return m
    if m is RecourseMethod.EXACT and has_h:
        raise ValidationError("the exact route (method 'exact') needs g written explicitly in (theta, z); this model has "
                              "states and equations h = 0. Use method='kkt' (an estimate resting on a constraint "
                              "qualification, with a proven lower bound of chi), method='vertex' (box set), "
                              "method='decision_rule' (a safe bound), or write the CQAs as expressions of theta and "
                              "the controls")
    if m is not RecourseMethod.VERTEX and not minlp:
        raise ValidationError(f"method={m.value!r} solves a MINLP; solver {solver.name!r} cannot (use maingo, scip or "
                              "gurobi, or method='vertex' for a box set)")
    if m is RecourseMethod.VERTEX and not box:
        raise ValidationError(f"method='vertex' enumerates the vertices of a box; the set is a {kind}: use "
                              "method='exact' with a global solver, or a box set")
    return m


# --------------------------------------------------------------------------- results
def _only_psi_proven(res, br: Bracket, index: bool) -> None:
    """A bracket whose relaxation rests on assumptions (:data:`KKT_STATES_CONDITION`): its bound
    is an estimate, not a proof.  Test: χ = the largest ψ proven at a θ (as on the exact route;
    the relaxation's value, an upper estimate of χ if its assumptions hold, is in the
    diagnostics), ``bound`` when it is > 0 (infeasible, proven), else ``uncertified``.  Index:
    δ = the relaxation's value, its lower bound dropped, the proven upper bound kept,
    ``uncertified``."""
    res.assumption_verified = False
    if index:
        res.delta_lower_bound = None
        res.status = ResultStatus.UNCERTIFIED
        return
    if math.isfinite(br.upper):
        note = f"KKT relaxation with states: chi <= {br.upper:.6g} if its assumptions hold (not proven)"
        res.diagnostics = f"{res.diagnostics}; {note}" if res.diagnostics else note
    res.chi_upper_bound = None
    res.status = ResultStatus.BOUND if br.lower > 0 else ResultStatus.UNCERTIFIED


def _extra_dict(res) -> dict:
    return {"route": res.route, "critical_z": res.critical_z, "active_constraints": list(res.active_constraints),
            "assumption": res.assumption, "assumption_verified": res.assumption_verified,
            "bracket": list(res.bracket)}


def _extra_lines(res) -> str:
    z = ", ".join(f"{k}={v:.6g}" for k, v in (res.critical_z or {}).items())
    out = (f"\n  recourse    : route={res.route}, critical z = ({z}), active = {res.active_constraints}"
           f"\n  exact if    : {res.assumption} [{'proven' if res.assumption_verified else 'not proven'}]")
    if res.bracket:
        it, lo, hi, _ = res.bracket[-1]
        out += f"\n  bracket     : {len(res.bracket)} iteration(s), last {lo:.9g} .. {hi:.9g}"
    return out


@dataclass
class _RecourseFields:
    """What a result with recourse adds: the critical z, the active constraints, the route,
    its exactness condition and (exact route) the bracket's history."""

    route: str = ""  #: "exact", "kkt" or "vertex"
    critical_z: Optional[Dict[str, float]] = None  #: the optimal controls at the critical θ
    active_constraints: List[str] = field(default_factory=list)  #: active g_k (and control bounds) there
    assumption: str = ""  #: what makes the route exact
    assumption_verified: bool = False  #: True when flexspace proved it for this result
    bracket: List[tuple] = field(default_factory=list)  #: (iteration, lower, upper, seconds)

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


def _is_linear(inst, in_z_only: bool = False, integers_ok: bool = False) -> bool:
    """Every g (and every model equation) is linear in all variables (θ, z, x), or — with
    ``in_z_only`` — in (z, x) for every fixed θ (:func:`~flexspace.models.controls.is_linear`)."""
    return is_linear(inst, theta_free=not in_z_only, integers_ok=integers_ok)


# --------------------------------------------------------------------------- analysis
class RecourseAnalysis:
    """Flexibility index / test of a model with controls, for one set and one solver.

    Parameters
    ----------
    model : a :class:`~flexspace.ProcessModel` with ``controls``.
    uncertainty_set : ``"box"``, ``"ellipsoid"``, ``"ldl"`` or an :class:`UncertaintySet`
        (e.g. a :class:`BoxSet` with your own half-widths).
    solver : a solver name or :class:`~flexspace.solvers.Solver`; a global MINLP solver for the
        exact and KKT routes, any NLP/LP solver for the vertex route.
    options : :class:`~flexspace.options.SolveOptions` or preset/dict (``delta_max``,
        ``certify``, ``n_certify``, ``certify_epsilon``, ``certify_beta``,
        ``bracket_iterations``, ``random_state``, ``time_limit``, gaps).
    """

    def __init__(self, model, uncertainty_set="box", solver="maingo", options: OptionsLike = None,
                 rule_analysis=None):
        #: ``f(model without controls) -> analysis`` for the decision-rule route (set by
        #: :meth:`FlexibilityAnalysis.recourse`)
        self.rule_analysis = rule_analysis
        if not getattr(model, "n_z", 0):
            raise ValidationError(f"model {getattr(model, 'name', model)!r} has no controls; RecourseAnalysis needs "
                                  "ProcessModel(..., controls={...}) (use FlexibilityAnalysis without recourse)")
        self.options = resolve_options(options)
        self.model = model
        self.uset = make_uncertainty_set(uncertainty_set, model.theta_m_nominal, model.covariance)
        self.set_kind: SetKind = self.uset.kind
        check_scales(model, self.uset, self.options.feas_tol)
        self.solver = get_solver(solver, self.options)
        if np.any(model.control_integer) and not self.solver.supports_integers:
            names = [n for n, i in zip(model.control_names, model.control_integer) if i]
            raise ValidationError(f"controls {names} are integer or binary; solver {self.solver.name!r} handles "
                                  "continuous variables only. Use a global MINLP solver (maingo, scip, gurobi), or "
                                  "highs for a model linear in (theta, z)")
        unbounded = getattr(model, "unbounded_controls", {})
        if unbounded and (self.solver.is_global or self.solver.spec.kind != "nlp"):
            raise ValidationError(f"solver {self.solver.name!r} needs a finite range for every control: "
                                  + "; ".join(unbounded.values()) + ". A local solver (ipopt) runs without it")
        dmax = self.options.delta_max
        self.delta_max = float(getattr(model, "delta_max", 6.0) if dmax is None else dmax)
        self._linear: Optional[bool] = None
        self._inner: Optional[InnerProblem] = None

    # ------------------------------------------------------------------ helpers
    @property
    def linear(self) -> bool:
        """Every g (and h) is linear in (θ, z, x), controls continuous: ψ is convex in θ."""
        if self._linear is None:
            self._linear = _is_linear(self.model.instance())
        return self._linear

    @property
    def linear_in_z(self) -> bool:
        """Every g (and h) is linear in (z, x) at fixed θ, controls continuous: the inner
        problem is convex (KKT conditions sufficient, local solves exact)."""
        return inner_is_convex(self.model)

    @property
    def inner_exact(self) -> bool:
        """ψ at a fixed θ is solved with a proof: a global solver, or a convex inner problem."""
        return self.solver.is_global or self.linear_in_z

    def inner(self) -> InnerProblem:
        """The inner problem ψ(θ) with this analysis' solver (built once)."""
        if self._inner is None:
            self._inner = InnerProblem(self.model, self.solver)
        return self._inner

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

    def _check_lp_solver(self, index: bool) -> None:
        """An LP/MILP solver (HiGHS) only where its problems are linear: ψ at a fixed θ needs g
        (and h) linear in (z, x); the index's ray problems need them linear in (θ, z, x)."""
        if self.solver.spec.kind not in ("lp", "milp"):
            return
        inst = self.model.instance()
        if not _is_linear(inst, in_z_only=True, integers_ok=True):
            raise ValidationError(f"solver {self.solver.name!r} solves LP/MILP only; the inner problem of model "
                                  f"{self.model.name!r} is nonlinear in the controls (or states). Use ipopt (local) or a "
                                  "global solver (maingo, scip, gurobi)")
        if index and not _is_linear(inst, integers_ok=True):
            raise ValidationError(f"solver {self.solver.name!r} solves LP/MILP only; the vertex index of model "
                                  f"{self.model.name!r} solves problems nonlinear in theta. Use ipopt (local), a "
                                  "global solver (maingo, scip, gurobi), or the flexibility test")

    def _check_derived_box(self, theta_ps, delta: float) -> None:
        """Controls whose bounds FBBT derived (:attr:`ProcessModel.derived_control_bounds`) have
        them only inside the θ box they were derived on; an analysis reaching beyond it (θp
        outside, or set(δ) wider than the θm box) is refused before it computes."""
        box = getattr(self.model, "derived_bounds_box", None)
        if box is None:
            return
        lo_p, hi_p, lo_m, hi_m = box
        lo, hi = self.uset.bounds(delta)
        tol = 1e-9 * (1.0 + np.abs(np.r_[lo_m, hi_m]).max(initial=0.0))
        out_p = any(np.any(np.asarray(tp, float) < lo_p - 1e-9 * (1 + np.abs(lo_p)))
                    or np.any(np.asarray(tp, float) > hi_p + 1e-9 * (1 + np.abs(hi_p))) for tp in theta_ps)
        if out_p or np.any(lo < lo_m - tol) or np.any(hi > hi_m + tol):
            raise ValidationError(
                f"the controls' derived bounds {self.model.derived_control_bounds} hold for theta_p in "
                f"[{lo_p.tolist()}, {hi_p.tolist()}] and theta_m in [{lo_m.tolist()}, {hi_m.tolist()}] (delta_max = "
                f"{self.model.delta_max:g} sigma) only; this analysis reaches theta_p {[list(map(float, t)) for t in theta_ps]}"
                f", theta_m in [{lo.tolist()}, {hi.tolist()}]: give the controls explicit bounds "
                "(pyo.Var(bounds=(lo, hi))), or the model theta_p_bounds / delta_max that cover the analysis")

    def _begin(self, cls, method, theta_p, **fields):
        t0 = time.perf_counter()
        self._check_lp_solver(cls is RecourseIndexResult)
        route = _resolve_method(method, self.solver, self.uset, self._has_h())
        tp = self._theta_p(theta_p)
        states = route is RecourseMethod.KKT and self._has_h()
        cond = {RecourseMethod.EXACT: EXACT_CONDITION, RecourseMethod.KKT: KKT_CONDITION,
                RecourseMethod.VERTEX: VERTEX_CONDITION, RecourseMethod.RULE: RULE_CONDITION,
                RecourseMethod.RELU_RULE: RULE_CONDITION, RecourseMethod.GRID: GRID_CONDITION}[route]
        if states:
            cond = KKT_STATES_CONDITION.format(M=STATE_MULTIPLIER_BOUND)
        verified = {RecourseMethod.EXACT: False, RecourseMethod.KKT: self.linear_in_z and not states,
                    RecourseMethod.VERTEX: self.linear, RecourseMethod.RULE: False,
                    RecourseMethod.RELU_RULE: False, RecourseMethod.GRID: False}[route]
        res = cls(status=ResultStatus.OK, set_kind=self.set_kind, solver=self.solver.name,
                  is_global=self.solver.is_global, method=Method.ENUMERATION if route in (RecourseMethod.VERTEX,
                                                                                         RecourseMethod.GRID)
                  else Method.MINLP, theta_p=dict(zip(self.model.theta_p_names, map(float, tp))),
                  _theta_m_names=list(self.model.theta_m_names), units=theta_units(self.model), route=route.value,
                  assumption=cond,
                  assumption_verified=verified, **self._domain_note(), **fields)
        return t0, res, tp, route

    def _has_h(self) -> bool:
        """The model has states or equations h (the KKT routes need g explicit in θ and z)."""
        if getattr(self, "_h", None) is None:
            inst = self.model.instance()
            self._h = bool(inst.state_vars()) or any(c.active for c in inst.model.h.values())
        return self._h

    def _domain_note(self) -> dict:
        """What every recourse result says of the domain (typed and in words)."""
        if getattr(self, "_domain", None) is None:
            explicit = not self.model.instance().state_vars()
            self._domain = {"domain_status": DomainStatus.EXPLICIT if explicit else DomainStatus.PER_SOLVE,
                            "domain": "explicit model (g in theta and z, no states): every theta has a value"
                            if explicit else "states solved with h = 0 in each subproblem (the model's domain over "
                                             "the set is not proven)"}
        return self._domain

    def _finish(self, res, t0):
        cap_test_value(res, getattr(self.model, "test_cap", None))
        if res.status == ResultStatus.FAILED:
            res.certified = False
        res.time = time.perf_counter() - t0
        return res

    def _instance(self, theta_p):
        inst = self.model.instance()
        inst.set_theta(theta_p, self.model.theta_m_nominal)
        for v, (lo, hi) in zip(inst.controls, working_range(self.model.control_bounds)):
            if v.value is None:
                v.set_value(0.5 * (lo + hi) if v.is_continuous() else float(round(0.5 * (lo + hi))))
        if inst.state_vars():
            inst.bound_states()
        return inst

    def psi(self, theta_p, theta_m):
        """ψ(θ) = min_z max_k g_k at one θ: ``(value, z, PsiValue)`` — the value is max_k g at
        the control found (an upper bound of ψ; exact when ``PsiValue.lower`` equals it)."""
        v = self.inner().solve(self._theta_p(theta_p), np.asarray(theta_m, float))
        z = None if v.z is None else dict(zip(self.model.control_names, map(float, v.z)))
        return v.upper, z, v

    def _nominal_check(self, res, tp) -> bool:
        """ψ at θ̄m: False (result final) when it failed, or proves the nominal point infeasible,
        or a local solver found no control there (not a proof: ``uncertified``)."""
        v = self.inner().solve(tp, self.model.theta_m_nominal)
        res.subproblems.append(SubproblemResult("nominal psi", v.upper, v.status, time=v.time,
                                                bound=v.lower if math.isfinite(v.lower) else None,
                                                message=v.message))
        if not math.isfinite(v.upper) and not v.lower == math.inf:
            res.status = ResultStatus.FAILED
            return False
        res.nominal_g = {"psi (min_z max_k g at nominal theta_m)": v.upper}
        nominal = dict(zip(self.model.theta_m_names, map(float, self.model.theta_m_nominal)))
        if v.lower >= VIOLATION_TOL:
            res.status = ResultStatus.NOMINAL_INFEASIBLE
            res.delta, res.probability, res.delta_lower_bound, res.delta_upper_bound = 0.0, 0.0, 0.0, 0.0
            res.critical_z = None if v.z is None else dict(zip(self.model.control_names, map(float, v.z)))
            res.worst_theta_m = nominal
            return False
        if v.upper >= VIOLATION_TOL:  # a local solver found no control: proves nothing
            res.status = ResultStatus.UNCERTIFIED
            res.delta, res.probability = 0.0, 0.0
            res.worst_theta_m = nominal
            res.certification = {"note": f"no control found at the nominal theta by {self.inner().describe()}; "
                                         "this proves nothing (use a global solver)"}
            return False
        return True

    # ------------------------------------------------------------------ index
    def index(self, theta_p=None, method: str = "auto") -> RecourseIndexResult:
        """Flexibility index with recourse δ* at θp (module docstring for the routes)."""
        t0, res, tp, route = self._begin(RecourseIndexResult, method, theta_p, delta_max=self.delta_max)
        self._check_derived_box([tp], self.delta_max)
        if not self._nominal_check(res, tp):
            return self._finish(res, t0)
        if route in _RULES:
            decision_rule_index(self, res, tp, relu=route is RecourseMethod.RELU_RULE)
            if res.solved and math.isfinite(res.delta):
                res.probability = self.uset.probability(res.delta)
            return self._finish(res, t0)
        if route is RecourseMethod.GRID:
            raise ValidationError("method='grid' samples psi for a flexibility test; an index needs a route that "
                                  "finds the largest set: 'vertex' (box), 'exact'/'kkt' (global) or 'decision_rule'")
        if route is RecourseMethod.VERTEX:
            self._index_vertex(res, tp)
        else:
            self._index_bracket(res, tp, 1 if route is RecourseMethod.KKT else self.options.bracket_iterations)
        if res.solved and math.isfinite(res.delta):
            res.probability = self.uset.probability(res.delta)
            _certify(self, res, tp, res.delta)
        return self._finish(res, t0)

    def _index_bracket(self, res, tp, iterations: int) -> None:
        """The exact (or KKT) route for the index: a probe for a proven violation first, whose
        set size caps the relaxation (set(δ_max) can make its big-M constants unusable), then
        the bracket (:func:`~flexspace.formulations.bracket.bracket_index`)."""
        start, cuts = probe_index_upper(self, tp)
        cap = min(self.delta_max, start.upper * (1.0 + 1e-3)) if start.upper < self.delta_max else self.delta_max
        inst = self._instance(tp)
        m = inst.model
        sq = bool(self.uset.convex_in_delta_squared)
        m.delta = pyo.Var(bounds=(0.0, cap ** 2 if sq else cap), initialize=0.0)
        m.set_m = pyo.Block()
        handle = self.uset.build(m.set_m, inst.theta_m, m.delta, squared=sq)
        handle.bound_to(cap)
        for v in inst.theta_m:
            v.unfix()
        rel = _Relaxation(self, inst, self.model.g_names)
        try:
            rel.add_kkt(u_lb=VIOLATION_TOL)
        except ValidationError as exc:
            raise ValidationError(f"{exc}. The relaxation spans set(delta = {cap:.4g}); a smaller "
                                  "options.delta_max also shrinks it") from None
        if m.kkt.u.lb > m.kkt.u.ub:  # ψ < τ on the whole set by interval arithmetic
            br = Bracket(lower=cap, upper=cap, converged=True)
        else:
            br = bracket_index(self, rel, tp, sq, iterations, start, cuts, cap)
        self._record_bracket(res, br, index=True, assumed=rel.states)
        self._note_fbbt(res, rel)
        res.certification["violation_tol"] = VIOLATION_TOL

    @staticmethod
    def _note_fbbt(res, rel: _Relaxation) -> None:
        if rel.fbbt:
            res.certification["state_bounds"] = f"derived by FBBT over the set for {', '.join(rel.fbbt)}"

    def _record_bracket(self, res, br: Bracket, index: bool, assumed: bool = False) -> None:
        """A bracket onto the result: status ok (closed), bound (open, the safe side proven) or
        failed; the safe value in ``delta`` / ``chi``, both bounds, the critical θ and z.
        ``assumed``: the relaxation's bound rests on assumptions (a model with states)."""
        res.bracket = list(br.history)
        for name, status, value, t, msg in br.solves:
            res.subproblems.append(SubproblemResult(name, float("nan") if value is None else float(value), status,
                                                    time=t, message=str(msg)[:300]))
        names = self.model.control_names
        theta, z = (br.theta_hat, br.z_hat) if index and br.theta_hat is not None else (br.theta_m, br.z)
        res.critical_z = None if z is None else dict(zip(names, map(float, z)))
        if theta is not None:
            res.worst_theta_m = dict(zip(self.model.theta_m_names, map(float, theta)))
        if z is not None:
            res.active_constraints = self._active_at(theta, z)
            res.worst_constraint = ", ".join(res.active_constraints)
        if br.failed and not br.converged:
            res.diagnostics = br.failed
        if br.failed.startswith("numerical contradiction"):
            res.status = ResultStatus.FAILED
        if index:
            res.delta = res.delta_lower_bound = float(br.lower)
            res.delta_upper_bound = float(br.upper) if br.upper < self.delta_max or br.converged else None
            ok = br.converged or br.lower >= self.delta_max - 1e-12
        else:
            res.chi_upper_bound = float(br.upper) if math.isfinite(br.upper) else None
            res.chi_lower_bound = float(br.lower) if br.lower > -math.inf else None
            # χ: the value proven at a θ (as a global solver's incumbent), else the upper bound
            res.chi = float(br.lower) if br.lower > -math.inf else (
                float(br.upper) if math.isfinite(br.upper) else float("nan"))
            ok = br.converged
            if res.chi_upper_bound is None and (res.chi_lower_bound is None or res.chi_lower_bound <= 0):
                res.status = ResultStatus.FAILED
        if res.status == ResultStatus.FAILED:
            return
        res.status = ResultStatus.OK if ok else ResultStatus.BOUND
        res.assumption_verified = bool(ok)
        if assumed:
            _only_psi_proven(res, br, index)


    def _vertices(self):
        n = self.model.n_m
        box = self.uset
        for signs in itertools.product((-1.0, 1.0), repeat=n):
            s = np.array(signs)
            yield s, np.where(s > 0, box.delta_plus, -box.delta_minus)

    def _index_vertex(self, res, tp) -> None:
        """min over vertex directions d of max{δ : ∃z g(θ̄ + δ d, z) ≤ 0} (one NLP/LP each):
        exact when ψ is convex in θ (proven: linear model); otherwise an upper bound of δ
        (when each ray is solved with a proof) that sampling then checks."""
        inst = self._instance(tp)
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
        if self.linear:
            res.delta_lower_bound = res.delta_upper_bound = res.delta
        else:
            res.status = ResultStatus.UNCERTIFIED  # the certification below decides
            ray_proof = self.solver.is_global  # each ray solved globally: its δ is an upper bound
            res.delta_upper_bound = res.delta if ray_proof and res.delta < self.delta_max else None

    def _active_at(self, theta_m, z, tol: float = 1e-6) -> List[str]:
        """The CQAs (and control bounds) active at θm and control z (θp as last set)."""
        inst = self.inner().inst
        inst.set_theta(None, theta_m)
        for v, x in zip(inst.controls, z):
            v.set_value(float(x), skip_validation=True)
        return self._active(inst, tol)

    def _active(self, inst, tol: float = 1e-6) -> List[str]:
        g = np.array([pyo.value(e) for e in inst.g], dtype=float)
        act = [n for n, x in zip(self.model.g_names, g) if x >= np.max(g) - tol * (1 + abs(np.max(g)))]
        for n, v, (lo, hi) in zip(self.model.control_names, inst.controls, self.model.control_bounds):
            act += [f"{n} at lower bound"] if v.value <= lo + tol * (1 + abs(lo)) else []
            act += [f"{n} at upper bound"] if v.value >= hi - tol * (1 + abs(hi)) else []
        return act

    # ------------------------------------------------------------------ certification
    def test(self, theta_p=None, delta: Optional[float] = None, confidence: Optional[float] = None,
             method: str = "auto") -> RecourseTestResult:
        """Flexibility test with recourse χ = max_{θ ∈ set(δ)} min_z max_k g_k at θp."""
        t0, res, tp, route = self._begin(RecourseTestResult, method, theta_p)
        if (delta is None) == (confidence is None):
            raise ValidationError("give exactly one of delta (set size) or confidence (probability p_c)")
        d = self.uset.delta_for_confidence(confidence) if confidence is not None else check_number(
            "delta", delta, low=0)
        res.delta_m = d
        self._check_derived_box([tp], d)
        if route in _RULES:
            decision_rule_test(self, res, tp, d, relu=route is RecourseMethod.RELU_RULE)
        elif route in (RecourseMethod.VERTEX, RecourseMethod.GRID):
            self._test_points(res, tp, d, grid=route is RecourseMethod.GRID)
            if res.status == ResultStatus.UNCERTIFIED:
                _certify(self, res, tp, d)
        else:
            inst = self._instance(tp)
            self._test_bracket(res, inst, tp, d, free_p=False, route=route)
            if res.status == ResultStatus.UNCERTIFIED:
                _certify(self, res, tp, d)
        return self._finish(res, t0)

    def _test_bracket(self, res, inst, tp, d, free_p: bool, route, window: Optional[float] = None) -> None:
        m = inst.model
        m.set_m = pyo.Block()
        self.uset.build(m.set_m, inst.theta_m, float(d)).bound_to(d)
        for v in inst.theta_m + (inst.theta_p if free_p else []):
            v.unfix()
        rel = _Relaxation(self, inst, self.model.g_names, delta=float(d))
        rel.add_kkt()
        iterations = 1 if route is RecourseMethod.KKT else self.options.bracket_iterations
        br = bracket_test(self, rel, tp, iterations, window=window)
        self._record_bracket(res, br, index=False, assumed=rel.states)
        self._note_fbbt(res, rel)
        if free_p and br.theta_p is not None:
            res.worst_theta_p = dict(zip(self.model.theta_p_names, map(float, br.theta_p)))

    def _grid(self, d):
        """Points of a grid over set(δ)'s box (``options.grid_points`` per axis) inside the set,
        named by their grid indices."""
        n = self.options.grid_points
        lo, hi = self.uset.bounds(d)
        for idx in itertools.product(range(n), repeat=self.model.n_m):
            th = lo + (hi - lo) * np.array(idx, float) / (n - 1)
            if isinstance(self.uset, BoxSet) or bool(self.uset.contains(th[None, :], d)[0]):
                yield "grid " + ",".join(map(str, idx)), th

    def _test_points(self, res, tp, d, grid: bool = False) -> None:
        """ψ at the 2^n vertices of set(δ) (or at a grid of it): χ exactly at the vertices when
        ψ is convex in θ (linear model); otherwise their proven ψ is a lower bound of χ (> 0:
        infeasible, proven)."""
        if grid:
            points = list(self._grid(d))
            if not points:
                raise ValidationError(
                    f"method='grid': none of the {self.options.grid_points}^{self.model.n_m} grid points of the "
                    f"{self.set_kind} set's box lies in the set: use an odd options.grid_points (the nominal "
                    "point is then on the grid) or a box set")
        else:
            points = [("vertex " + "".join("+" if x > 0 else "-" for x in s), self.model.theta_m_nominal + d * step)
                      for s, step in self._vertices()]
        best = None
        for name, theta in points:
            psi, z, v = self.psi(tp, theta)
            tm = list(map(float, theta))
            if not math.isfinite(psi) and v.lower != math.inf:
                res.status = ResultStatus.FAILED
                res.subproblems.append(SubproblemResult(name, float("nan"), v.status, time=v.time, message=v.message))
                return
            res.subproblems.append(SubproblemResult(name, psi, v.status, time=v.time,
                                                    bound=v.lower if math.isfinite(v.lower) else None, theta_m=tm))
            if best is None or psi > best[0]:
                best = (psi, tm, z, v.lower)
        res.chi, tm, res.critical_z, lower = best
        res.worst_theta_m = dict(zip(self.model.theta_m_names, tm))
        res.worst_constraint = max(res.subproblems, key=lambda s: s.value).constraint
        proven_lower = max((s.bound for s in res.subproblems if s.bound is not None), default=None)
        if self.linear and not grid:
            res.chi_lower_bound, res.chi_upper_bound = proven_lower, res.chi
        elif proven_lower is not None and proven_lower > 0:
            res.status, res.chi_lower_bound = ResultStatus.BOUND, proven_lower
        else:
            res.status = ResultStatus.UNCERTIFIED  # the certification decides
            res.chi_lower_bound = proven_lower

    # ------------------------------------------------------------------ extended test
    def extended_test(self, delta_p: float, theta_p_nominal=None, delta_p_minus=None, delta_p_plus=None,
                      delta_m: Optional[float] = None, confidence: Optional[float] = None,
                      method: str = "auto", window: Optional[float] = None) -> RecourseTestResult:
        """Extended test with recourse over θp in the box ``θ̄p − δp Δ⁻ ≤ θp ≤ θ̄p + δp Δ⁺`` (clipped
        to the model's θp bounds) and θm ∈ set(δm): the exact route with θp free too (the KKT
        conditions are in z only, so they hold for every θp).  ``window``: Algorithm 3's
        ε_tol; the bracket stops once the sign of χ and χ ∈ [−window, 0] are decided."""
        t0, res, center, route = self._begin(RecourseTestResult, "exact" if method in ("auto", "enumeration",
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
        lo_p, hi_p = center - dp * dmin, center + dp * dplus
        if b is not None:
            lo_p, hi_p = np.maximum(lo_p, b[:, 0]), np.minimum(hi_p, b[:, 1])
        self._check_derived_box([lo_p, hi_p], dm)
        inst = self._instance(center)
        pset = BoxSet(center, delta_minus=dmin, delta_plus=dplus)
        inst.model.set_p = pyo.Block()
        pset.build(inst.model.set_p, inst.theta_p, float(dp)).bound_to(dp, within=b)
        self._test_bracket(res, inst, center, dm, free_p=True, route=route,
                           window=None if window is None else check_number("window", window, low=0))
        return self._finish(res, t0)


def _certify(ra, res, tp, delta) -> None:
    """Sample set(δ (1 − SHRINK)) and decide each sample with recourse
    (:meth:`ProcessModel.recourse_feasibility`, exact where it can be).  By default only
    for results that are not proven (``uncertified`` so far); ``options.certify=True``
    checks proven ones too.  The scenario statement (ε at ``certify_beta``) is recorded;
    an unproven result becomes ``sampled`` when the samples are clean and ε reaches
    ``certify_epsilon``, else stays ``uncertified`` — or, for a test, becomes a proven
    ``bound`` when a violation was decided exactly (χ ≥ ψ there > 0); a proven result that
    sampling contradicts becomes ``contradicted``."""
    proven = res.status in (ResultStatus.OK, ResultStatus.BOUND)
    certify = ra.options.certify if ra.options.certify is not None else not proven
    if not certify or delta <= 0:
        return
    linear = ra.model.controls_linear is not None
    n = ra.options.n_certify or (N_CERTIFY_LINEAR if linear else N_CERTIFY_NLP)
    pts = ra.uset.sample(max(delta, 0.0) * (1.0 - SHRINK), n, np.random.default_rng(ra.options.random_state))
    ok, failed, how = ra.model.recourse_feasibility(tp, pts, ra.solver if ra.inner_exact else "ipopt")
    bad, decided_bad = ~ok, ~ok & ~failed
    eps = scenario_epsilon(n, ra.options.certify_beta)
    res.certification.update({
        "n_samples": n, "violations": int(decided_bad.sum()), "failed_samples": int(failed.sum()), "how": how,
        "epsilon": eps, "beta": ra.options.certify_beta,
        "statement": SCENARIO_STATEMENT.format(eps=eps, conf=1 - ra.options.certify_beta, n=n)})
    res.certified = not bad.any()
    if bad.any() and isinstance(res, RecourseIndexResult):
        if decided_bad.any():  # decided exactly: δ* is at most the smallest violating gauge
            g = float(np.min(ra.uset.gauge(pts[decided_bad])))
            res.delta_upper_bound = min(res.delta_upper_bound or g, g)
        res.delta_sampled = float(np.min(ra.uset.gauge(pts[bad]))) * (1 - 1e-9)
    if proven:
        if bad.any() and (res.status == ResultStatus.OK or isinstance(res, RecourseIndexResult)):
            res.status = ResultStatus.CONTRADICTED
    elif not bad.any() and eps <= ra.options.certify_epsilon:
        res.status = ResultStatus.SAMPLED
    elif isinstance(res, RecourseTestResult) and decided_bad.any():
        _violation_bound(ra, res, tp, pts[decided_bad])


def _violation_bound(ra, res, tp, pts, n_max: int = 5) -> None:
    """χ ≥ ψ(θ) > 0 at samples decided infeasible: ψ solved (with a proof) at up to
    ``n_max`` of them makes the test a proven ``bound`` (infeasible)."""
    best = None
    for point in pts[:n_max]:
        v = ra.inner().solve(tp, point)
        if v.lower > 0 and (best is None or v.lower > best[0]):
            best = (v.lower, point, v.z)
    if best is None:
        return
    res.status, res.chi_lower_bound = ResultStatus.BOUND, float(best[0])
    res.chi = max(res.chi, res.chi_lower_bound) if math.isfinite(res.chi) else res.chi_lower_bound
    res.worst_theta_m = dict(zip(ra.model.theta_m_names, map(float, best[1])))
    res.critical_z = None if best[2] is None else dict(zip(ra.model.control_names, map(float, best[2])))

# ------------------------------------------------------------------ test
