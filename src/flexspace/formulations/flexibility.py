"""Flexibility test and flexibility index as Pyomo blocks (seed Eq. 1–36).

One formulation code path serves the box (Eq. 21/33), ellipsoid (Eq. 24/34) and LDL
ellipsoid (Eq. 25–27): only the uncertainty-set block differs
(:meth:`UncertaintySet.build`).  Two solution routes:

* **active-set enumeration** (what the seed solves): one NLP per constraint g_k,
  each NLP's status kept (:class:`SubproblemResult`);
* **single MINLP** with the big-M active-set selection of Eq. 3–5.

Each seed equation block is written by one function:

=====================================  =========================================
:func:`add_uncertainty_set`            Eq. 6 / 21 / 24 / 25–27 / 33 / 34
:func:`add_active_set_selection`       Eq. 3–5 (big-M MINLP selection)
:func:`add_flexibility_test`           Eq. 1–7 (and 28–36 with θp free)
:func:`add_flexibility_index`          Eq. 8–15 / 16–23 (min δ)
=====================================  =========================================

:class:`FlexibilityAnalysis` builds each problem once per process model and re-solves
it for new θp, δ, or constraint k by changing fixed values and (de)activating
components — no Pyomo model is rebuilt per point.
"""
from __future__ import annotations

import contextlib
import math
import time
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import pyomo.environ as pyo

from ..errors import ValidationError
from ..validation import check_number
from ..options import OptionsLike, resolve_options
from ..solvers import SolveResult, Solver, SolverStatus, get_solver
from .results import (FlexibilityIndexResult, FlexibilityTestResult, Method, ResultStatus, SubproblemResult,
                      SCENARIO_STATEMENT, cap_test_value, scenario_epsilon, theta_units)
from .domain import DomainProof, add_domain_checks, domain_subproblems, widened_box
from .scaling import check_scales
from .sets import BoxSet, SetHandle, SetKind, UncertaintySet

__all__ = [
    "Method",
    "SetKind",
    "SetHandle",
    "make_set",
    "add_uncertainty_set",
    "add_active_set_selection",
    "add_flexibility_test",
    "add_flexibility_index",
    "FlexibilityAnalysis",
    "flexibility_index",
    "flexibility_test",
    "extended_flexibility_test",
]

SetLike = Union[str, SetKind, UncertaintySet]
#: Certification samples by default: with a vectorised simulator (one numpy call), and
#: without one (batched square Pyomo solves, ~1–3 s for 200 on the shipped cases).
N_CERTIFY_SIMULATOR = 2000
#: Seconds of per-point domain solves after which :meth:`FlexibilityAnalysis.use_domain_box`
#: proves the domain once over the box instead.
AUTO_PROOF_AFTER = 1.0
#: An index subproblem restricted to a smaller set (:meth:`FlexibilityAnalysis._restricted_solve`)
#: gets set(1.05 δ_known), not set(δ_known): with δ ≤ δ_known exactly, a δ_k a hair below
#: δ_known leaves the solver a sliver to find a point in (measured: MAiNGO timed out at 20 s
#: on case 2 where the unrestricted solve takes 0.1 s).
RESTRICT_MARGIN = 1.05
#: :meth:`FlexibilityAnalysis._polish`: Ipopt's ``tol`` and ``constr_viol_tol`` (our choice: two
#: orders below the default feas_tol 1e-8).
POLISH_TOL = 1e-10
N_CERTIFY_PYOMO = 200


def make_set(spec: SetLike, model) -> UncertaintySet:
    """A :class:`SetKind` or its string — ``"box"``, ``"ellipsoid"`` (explicit Σ⁻¹, Eq. 24),
    ``"ldl"`` (Eq. 25–27) — or a set object."""
    if isinstance(spec, UncertaintySet):
        if spec.dim != model.n_m:
            raise ValidationError(f"uncertainty set has dimension {spec.dim}, model has {model.n_m} uncertain parameters")
        return spec
    try:
        kind = SetKind.parse(spec)
    except ValueError as exc:
        raise ValidationError(f"{exc} (or an UncertaintySet object)") from None
    return UncertaintySet.of_kind(kind, model.theta_m_nominal, model.covariance)


# --------------------------------------------------------------------------- blocks
def add_uncertainty_set(block: pyo.Block, name: str, uset: UncertaintySet, theta: Sequence, delta,
                        squared: bool = False) -> SetHandle:
    """θ ∈ set(δ) as a sub-block (Eq. 6, 21, 24, 25–27; Eq. 33/34 with δ fixed);
    ``squared``: ``delta`` stands for δ² (ellipsoids, see :attr:`convex_in_delta_squared`).
    Returns the set's :class:`SetHandle` (``handle.bound_to(δ)`` bounds its variables)."""
    b = pyo.Block()
    block.add_component(name, b)
    return uset.build(b, list(theta), delta, squared=squared)


def add_active_set_selection(block: pyo.Block, g: Sequence, u, big_m: float) -> None:
    """Eq. 3–5: ``g_k + s_k = u``, ``0 ≤ s_k ≤ U (1 − y_k)``, ``Σ_k y_k = 1``, y binary.

    With ``u`` a variable this is the flexibility-test MINLP (max u); with ``u = 0``
    the flexibility-index MINLP (every g_k ≤ 0, one active)."""
    K = range(len(g))
    block.U = pyo.Param(mutable=True, initialize=float(big_m))
    block.s = pyo.Var(K, bounds=(0.0, big_m), initialize=0.0)
    block.y = pyo.Var(K, domain=pyo.Binary, initialize=0)
    block.slack_def = pyo.Constraint(K, rule=lambda b, k: g[k] + b.s[k] == u)
    block.big_m = pyo.Constraint(K, rule=lambda b, k: b.s[k] <= b.U * (1 - b.y[k]))
    block.one_active = pyo.Constraint(expr=sum(block.y[k] for k in K) == 1)


def ensure_valid_big_m(mb: pyo.Block, g: Sequence) -> Optional[float]:
    """Raise U of Eq. 4 (and the bounds of s and u) to a value that is *valid* on the current
    variable bounds: ``U ≥ max_k hi(g_k) − min_k lo(g_k)`` by interval arithmetic, so that no
    θ of the set is cut off by the big-M constraints.  A larger U stays valid, so the
    heuristic default is kept whenever it already suffices.  Returns the interval U, or None
    when some g_k has an unbounded interval: the MINLP route then cannot be trusted here and
    the caller records the subproblem as failed (use method="enumeration")."""
    from pyomo.contrib.fbbt.fbbt import compute_bounds_on_expr

    lo, hi = [], []
    for e in g:
        a, b = compute_bounds_on_expr(e)
        if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
            return None
        lo.append(a)
        hi.append(b)
    return _raise_big_m(mb, lo, hi)


def _raise_big_m(mb, lo, hi) -> float:
    need = max(max(hi) - min(lo), max(abs(x) for x in lo + hi)) * 1.01 + 1e-9
    if need > pyo.value(mb.U):
        mb.U.set_value(need)
        for v in mb.s.values():
            v.setub(need)
        if hasattr(mb, "u"):
            mb.u.setlb(-need)
            mb.u.setub(need)
    return need


def add_flexibility_test(block: pyo.Block, g: Sequence, big_m: float) -> None:
    """Flexibility test objective, Eq. 1 with Eq. 3–5 or enumerated.

    Adds ``obj_k: max g_k`` (one per k, for enumeration; deactivated) and a ``minlp``
    sub-block ``max u`` with the active-set selection (deactivated)."""
    K = range(len(g))
    block.obj_k = pyo.Objective(K, rule=lambda b, k: g[k], sense=pyo.maximize)
    block.obj_k.deactivate()
    mb = pyo.Block()
    block.add_component("minlp", mb)
    mb.u = pyo.Var(bounds=(-big_m, big_m), initialize=0.0)
    add_active_set_selection(mb, g, mb.u, big_m)
    mb.obj = pyo.Objective(expr=mb.u, sense=pyo.maximize)
    mb.deactivate()


def add_flexibility_index(block: pyo.Block, g: Sequence, delta: pyo.Var, big_m: float) -> None:
    """Flexibility index, Eq. 8–15 in θm at fixed θp (Eq. 16–23).

    Enumeration: ``min δ  s.t.  g_k ≥ 0`` for one k (constraint ``violate[k]``;
    choice: ``≥`` rather than ``=``, equivalent at the optimum).  MINLP: ``min δ`` with
    Eq. 3–5 and u = 0 (sub-block ``minlp``).  ``delta`` may be the variable δ² for
    ellipsoids (minimising δ² is minimising δ, and keeps Eq. 24/27 convex)."""
    K = range(len(g))
    block.obj = pyo.Objective(expr=delta, sense=pyo.minimize)
    # capping check (Eq. 1 at δ = δ_max): is g_k violated anywhere in set(δ_max)?
    block.max_g = pyo.Objective(K, rule=lambda b, k: g[k], sense=pyo.maximize)
    block.max_g.deactivate()
    block.violate = pyo.Constraint(K, rule=lambda b, k: g[k] >= 0)
    block.violate.deactivate()
    mb = pyo.Block()
    block.add_component("minlp", mb)
    add_active_set_selection(mb, g, 0.0, big_m)
    mb.deactivate()


# --------------------------------------------------------------------------- analysis
def _check_global_bounds(inst, solver: Solver) -> None:
    if not solver.is_global:
        return
    missing = [v.name for v in inst.state_vars() if v.lb is None or v.ub is None]
    if missing:
        raise ValidationError(
            f"the global solver {solver.name!r} needs finite bounds on every variable; these state variables "
            f"have none: {missing[:10]}{' ...' if len(missing) > 10 else ''}. Give them physical bounds "
            "(e.g. concentrations in [0, c_in]) in your Pyomo model, or use solver='ipopt' (local)."
        )


class _Problem:
    """One built Pyomo problem plus its instance and the handles of its set blocks
    (``set_m``: θm ∈ set(δm); ``set_p``: the θp box of the extended test)."""

    def __init__(self, inst, kind: str):
        self.inst = inst
        self.m = inst.model
        self.kind = kind
        self.set_m: Optional[SetHandle] = None
        self.set_p: Optional[SetHandle] = None
        m = self.m
        m.square_obj = pyo.Objective(expr=0.0)
        m.square_obj.deactivate()
        #: the global solvers' probe: the square system at a fixed θ, maximising g_0 (its one
        #: point is the optimum); MAiNGO called it infeasible on the IDAES CSTR of case 3 at
        #: deltaEq 1e-8 where its constant-objective solve passed (measured)
        g0 = next((g for g in inst.g if not isinstance(g, (int, float))), 0.0)
        m.probe_obj = pyo.Objective(expr=g0, sense=pyo.maximize)
        m.probe_obj.deactivate()

    @property
    def set_handles(self) -> List[SetHandle]:
        return [h for h in (self.set_p, self.set_m) if h is not None]

    def only(self, objective, constraints=(), blocks=()):
        """Deactivate every formulation objective/constraint, then activate the given ones."""
        m = self.m
        for o in m.component_data_objects(pyo.Objective, active=True, descend_into=True):
            o.deactivate()
        for name in ("fx", "ft"):
            b = getattr(m, name, None)
            if b is not None:
                if hasattr(b, "violate"):
                    b.violate.deactivate()
                b.minlp.deactivate()
        dom = getattr(m, "dom", None)
        if dom is not None:
            for c in (dom.touch, dom.touch_obj, dom.edge, dom.edge_obj):
                c.deactivate()
            if hasattr(dom, "jac"):
                dom.jac.deactivate()
        objective.activate()
        for c in constraints:
            c.activate()
        for b in blocks:
            b.activate()


class FlexibilityAnalysis:
    """Flexibility index / test for one process model, one uncertainty set and one solver.

    Problems are built once (lazily) and re-solved for each θp, δ and constraint.

    Parameters
    ----------
    model : :class:`~flexspace.models.base.ProcessModel`
    uncertainty_set : ``"box"``, ``"ellipsoid"``, ``"ldl"`` or an :class:`UncertaintySet`.
    solver : a solver name or :class:`~flexspace.solvers.Solver`.
    options : :class:`~flexspace.options.SolveOptions` (time limit, gaps, δ_max, certification,
        local presolve), a preset name, a dict of changes to the ``"index"`` preset, or
        None.  ``δ_k = δ_max`` is reported as *capped*; δ is the solver's incumbent, and for
        global solvers the proven bound is kept as ``delta_lower_bound`` (the guaranteed,
        conservative value, within ``gap`` of δ).
    big_m : U of Eq. 4 for the MINLP route; default ``10 (1 + max|g|)`` over the
        nominal point and, when the model has a simulator, samples of set(δ_max)
        (a heuristic: give your own when you know bounds on g).
    square_solver : solver for the square solves that initialise states at θ̄m
        (default Ipopt when available, else ``solver``).
    """

    def __init__(self, model, uncertainty_set: SetLike = "ellipsoid", solver="maingo", options: OptionsLike = None,
                 *, big_m: Optional[float] = None, square_solver=None, diagnose_failures: bool = True):
        self.options = resolve_options(options)
        self.model = model
        self.uset = make_set(uncertainty_set, model)
        #: the :class:`SetKind` of the set used (also on every result)
        self.set_kind: SetKind = self.uset.kind
        self.solver = get_solver(solver, self.options)
        self._check_problem_class()
        check_scales(model, self.uset, self.options.feas_tol)
        delta_max = self.options.delta_max
        self.delta_max = float(getattr(model, "delta_max", 6.0) if delta_max is None else delta_max)
        self._big_m = None if big_m is None else check_number("big_m", big_m, low=0, low_open=True)
        self.diagnose_failures = diagnose_failures
        if square_solver is None:
            from ..solvers import available_solvers

            square_solver = "ipopt" if "ipopt" in available_solvers() else self.solver
        self.square_solver = get_solver(square_solver, {"time_limit": self.options.time_limit})
        self._index: Optional[_Problem] = None
        self._test: Optional[_Problem] = None
        self._ext: Optional[_Problem] = None
        self._eval = None
        #: a :class:`~flexspace.formulations.domain.DomainProof` from :meth:`prove_domain`
        self.domain_proof: Optional[DomainProof] = None
        self._auto: Optional[dict] = None  # use_domain_box's bookkeeping

    # ------------------------------------------------------------------ helpers
    def _check_problem_class(self) -> None:
        """An LP/MILP solver only for a model that declares itself piecewise linear (e.g. a tree
        surrogate, ``problem_class == "milp"``) and a box set (an ellipsoid is quadratic)."""
        if self.solver.spec.kind not in ("lp", "milp"):
            return
        linear = getattr(self.model, "problem_class", "nlp") in ("lp", "milp")
        if not linear or self.set_kind != "box":
            why = "the model is nonlinear" if not linear else f"the {self.set_kind} set is quadratic"
            raise ValidationError(f"solver {self.solver.name!r} solves LP/MILP only and {why}: use 'ipopt' "
                                  "(local), 'maingo' or 'scip' (global)")

    @property
    def _sq(self) -> bool:
        return bool(self.uset.convex_in_delta_squared)

    def _size(self, delta: float) -> float:
        """δ -> the index problem's size variable (δ² for ellipsoids)."""
        return delta * delta if self._sq else delta

    def _delta(self, size: Optional[float]) -> Optional[float]:
        if size is None:
            return None
        return math.sqrt(max(size, 0.0)) if self._sq else size

    @property
    def big_m(self) -> float:
        if self._big_m is None:
            g = [np.abs(self.nominal_g(self.model.theta_p_nominal))]
            if self.model.simulator is not None:
                pts = self.uset.sample(self.delta_max, 256, np.random.default_rng(0))
                vals = self.model.simulate(self.model.theta_p_nominal, pts)
                g.append(np.abs(vals[np.all(np.isfinite(vals), axis=1)]).ravel())
            self._big_m = float(10.0 * (1.0 + max(np.max(x) if x.size else 0.0 for x in g)))
        return self._big_m

    def nominal_g(self, theta_p) -> np.ndarray:
        """g(θp, θ̄m): from the simulator when there is one, else a square Pyomo solve."""
        if self.model.simulator is not None:
            return self.model.simulate(theta_p, self.model.theta_m_nominal[None, :])[0]
        if self._eval is None:
            self._eval = self.model.instance()  # built once, re-solved per θp
        return self.model.evaluate_pyomo(theta_p, self.model.theta_m_nominal[None, :], self.square_solver,
                                         instance=self._eval)[0]

    @property
    def model_has_controls(self) -> bool:
        return bool(getattr(self.model, "n_z", 0))

    def close(self) -> None:
        """End the solver guard children this analysis holds (done also when it is garbage-
        collected); the analysis stays usable and starts new ones on its next solve.  Also a
        context manager: ``with FlexibilityAnalysis(...) as fa: ...``."""
        for solver in {id(s): s for s in (self.solver, self.square_solver)}.values():
            solver.close()

    def __enter__(self) -> "FlexibilityAnalysis":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def recourse(self):
        """For a model with controls: the :class:`~flexspace.formulations.recourse.RecourseAnalysis`
        that answers :meth:`index`, :meth:`test` and :meth:`extended_test` (built once)."""
        if getattr(self, "_rc", None) is None:
            from .recourse import RecourseAnalysis

            self._rc = RecourseAnalysis(self.model, self.uset, self.solver, self.options,
                                        rule_analysis=lambda m: FlexibilityAnalysis(m, self.uset, self.solver,
                                                                                    self.options))
        return self._rc

    def _theta_dict(self, names, values) -> Dict[str, float]:
        return {n: float(v) for n, v in zip(names, values)}

    def _initialise(self, prob: _Problem, theta_p, solver=None) -> SolveResult:
        """Square solve at (θp, θ̄m) to initialise the states (local solvers need it); with
        ``solver``, the same solve by that solver (the global solvers' probe, :meth:`_prepare`)."""
        inst = prob.inst
        inst.set_theta(theta_p, self.model.theta_m_nominal)
        inst.bound_states()  # derived state bounds are valid for this θp only
        prob.only(prob.m.square_obj)
        for h in prob.set_handles:
            h.block.deactivate()
        if solver is not None:
            prob.only(prob.m.probe_obj)
        res = inst.solve_square(solver or self.square_solver)
        for h in prob.set_handles:
            h.block.activate()
        return res

    def _new_problem(self, kind: str, build) -> _Problem:
        """A fresh instance; ``build(prob)`` declares the set sizes and set blocks (keeping the
        handles on ``prob``); θm bounded by set(δ_max), states bounded at the nominal θp."""
        inst = self.model.instance()
        prob = _Problem(inst, kind)
        build(prob)
        prob.set_m.bound_to(self.delta_max)
        inst.set_theta(self.model.theta_p_nominal, None)
        inst.bound_states()
        _check_global_bounds(inst, self.solver)
        return prob

    def _with_domain(self, prob: _Problem) -> _Problem:
        """The domain checks (not for models that declare a solution everywhere)."""
        if not self.model.domain_everywhere:
            prob.m.dom = pyo.Block()
            prob.dom = add_domain_checks(prob.m.dom, prob.inst)
        return prob

    def prove_domain(self, theta_p_lower=None, theta_p_upper=None, delta: Optional[float] = None,
                     time_limit: float = 10.0) -> Optional[DomainProof]:
        """Prove the model's domain checks once over a θp box × set(``delta``) (global
        solvers; ``delta`` default: δ_max, what a map's index needs; Algorithm 3 passes δm).

        Every later :meth:`index`, :meth:`test` or :meth:`extended_test` whose θp (box) and
        set lie inside skips the checks proven here (:class:`~.domain.DomainProof`: the
        same global proof, over a superset).  Default box: the model's ``theta_p_bounds``.
        Maps and Algorithm 3 call it once per process: measured on case 1 (full form,
        MAiNGO) the 9 checks take ~1 s over the whole box, against 9 solves at every point.
        ``time_limit`` caps each check (seconds); an unproven check stays per point.
        Returns the proof (also kept as ``self.domain_proof``), or None when there is
        nothing to prove (no states and no model inequalities, ``domain_everywhere``) or
        the solver is local."""
        lower, upper = self._box_arg("prove_domain", theta_p_lower, theta_p_upper)
        if not self.solver.is_global or self.model.domain_everywhere or self.model_has_controls:
            return None
        delta = self.delta_max if delta is None else check_number("delta", delta, low=0)
        t0 = time.perf_counter()
        lo, hi = widened_box(lower, upper)
        c, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
        prob = self._ext_problem(c, half, half)
        if not prob.inst.state_vars() and not prob.inst.domain:
            return None
        prob.m.delta_p.set_value(1.0)
        prob.m.delta_m.set_value(delta)
        prob.set_m.bound_to(delta)
        prob.set_p.bound_to(1.0)
        prob.inst.set_theta(c, self.model.theta_m_nominal)
        prob.inst.bound_states()
        box_lo = np.array([v.lb for v in prob.inst.theta_p], float)
        box_hi = np.array([v.ub for v in prob.inst.theta_p], float)
        solver = get_solver(self.solver.name, self.options.replace(time_limit=min(self.options.time_limit,
                                                                                  float(time_limit))))
        with _free(prob.inst.theta_m + prob.inst.theta_p):
            proven, unproven = _prove_over_box(prob, solver)
        self._ext = None  # the next extended test builds its own box
        self.domain_proof = DomainProof(np.maximum(box_lo, lo), np.minimum(box_hi, hi), delta, proven,
                                        unproven, time.perf_counter() - t0)
        return self.domain_proof

    def use_domain_box(self, theta_p_lower=None, theta_p_upper=None, delta: Optional[float] = None) -> None:
        """Declare the θp box (default: ``theta_p_bounds``) and set size (default δ_max) this
        analysis will be asked about (maps and Algorithm 3 do).  Once the domain checks
        solved point by point have cost more than :data:`AUTO_PROOF_AFTER` seconds, they are
        proven once over this box (:meth:`prove_domain`, with the analysis' own time limit per
        check) and covered points skip them; a proof that does not cover every check
        is retried when the per-point cost has doubled.  So the proof is bought only when it
        pays: measured, case 1 (full form, MAiNGO) spends ~0.2 s per point on 9 checks that
        one 1 s proof replaces; case 2 (reduced form) 5 ms per point on one check whose
        proof over the box takes 1.8 s."""
        lower, upper = self._box_arg("use_domain_box", theta_p_lower, theta_p_upper)
        delta = None if delta is None else check_number("delta", delta, low=0)
        if not self.solver.is_global or self.model.domain_everywhere or self.model_has_controls:
            self._auto = None
            return
        self._auto = {"box": (lower, upper, delta), "spent": 0.0, "next": AUTO_PROOF_AFTER, "due": False}

    def _box_arg(self, what: str, theta_p_lower, theta_p_upper):
        """A θp box argument, checked: (lower, upper); default the model's ``theta_p_bounds``."""
        b = None if self.model.theta_p_bounds is None else np.asarray(self.model.theta_p_bounds, float)
        if (theta_p_lower is None or theta_p_upper is None) and b is None:
            raise ValidationError(f"{what} needs theta_p_lower and theta_p_upper (the model has no theta_p_bounds)")
        lower = self._theta_p(b[:, 0] if theta_p_lower is None else theta_p_lower)
        upper = self._theta_p(b[:, 1] if theta_p_upper is None else theta_p_upper)
        if np.any(upper < lower):
            raise ValidationError(f"{what}: theta_p_upper {upper.tolist()} is below theta_p_lower "
                                  f"{lower.tolist()} in some coordinate")
        return lower, upper

    def _domain_cost(self, seconds: float) -> None:
        """Seconds of per-point domain work just spent: counted towards :meth:`use_domain_box`."""
        a = getattr(self, "_auto", None)
        if a is None:
            return
        a["spent"] += seconds
        a["due"] = a["due"] or a["spent"] >= a["next"]

    def _auto_prove(self) -> None:
        """At the start of a call (never in the middle of one): the proof that became due."""
        a = getattr(self, "_auto", None)
        if a is None or not a["due"]:
            return
        a["due"], a["next"] = False, 2.0 * a["spent"]
        lower, upper, delta = a["box"]
        # its own budget (the analysis' time limit per check), never the time the point checks
        # happened to cost: a fast machine must not get a weaker proof (issue 22)
        proof = self.prove_domain(lower, upper, delta, time_limit=float(self.options.time_limit))
        if proof is None or proof.complete:
            self._auto = None

    def _theta_p_box(self, prob):
        """This problem's θp box: the fixed values, or the bounds where θp is free."""
        lo = np.array([v.value if v.fixed else v.lb for v in prob.inst.theta_p], float)
        hi = np.array([v.value if v.fixed else v.ub for v in prob.inst.theta_p], float)
        return lo, hi

    def _proven_once(self, prob, todo, delta: float):
        """``todo`` minus the checks :attr:`domain_proof` covers at this problem's θp and set
        size ``delta``."""
        if self.domain_proof is None or not todo:
            return todo, []
        return self.domain_proof.split(todo, *self._theta_p_box(prob), delta)

    def _proven_entirely(self, prob, delta: float) -> bool:
        """:attr:`domain_proof` proved every check over a box and set containing this
        problem's (no per-point work, not even interval arithmetic)."""
        p = self.domain_proof
        return p is not None and p.complete and self.solver.is_global and p.covers(*self._theta_p_box(prob), delta)

    # ------------------------------------------------------------------ problems
    def _index_problem(self) -> _Problem:
        if self._index is None:
            def build(prob):
                m = prob.m
                # the set's size variable: δ, or δ² for ellipsoids (convex formulation)
                m.delta = pyo.Var(bounds=(0.0, self._size(self.delta_max)), initialize=0.0)
                prob.set_m = add_uncertainty_set(m, "set_m", self.uset, prob.inst.theta_m, m.delta, squared=self._sq)

            prob = self._new_problem("index", build)
            prob.m.fx = pyo.Block()
            add_flexibility_index(prob.m.fx, prob.inst.g, prob.m.delta, self.big_m)
            self._index = self._with_domain(prob)
        return self._index

    def _test_problem(self) -> _Problem:
        if self._test is None:
            def build(prob):
                prob.m.delta_m = pyo.Param(mutable=True, initialize=1.0)
                prob.set_m = add_uncertainty_set(prob.m, "set_m", self.uset, prob.inst.theta_m, prob.m.delta_m)

            prob = self._new_problem("test", build)
            prob.m.ft = pyo.Block()
            add_flexibility_test(prob.m.ft, prob.inst.g, self.big_m)
            self._test = self._with_domain(prob)
        return self._test

    # ------------------------------------------------------------------ index
    def index(self, theta_p=None, method: str = "enumeration") -> FlexibilityIndexResult:
        """Flexibility index δm at fixed θp (Eq. 16–23 by enumeration, Eq. 8–15 as MINLP).

        Global solvers also prove that set(δ) lies in the model's domain
        (:mod:`flexspace.formulations.domain`): a θm without a solution bounds δ.
        ``options.certify`` (default: True for local solvers, for global solvers when the
        model has a vectorised simulator or when the domain cannot be proven) samples set(δ)
        through the model (boundary and interior, ``options.random_state``): a violation or
        a failed sample makes the status ``uncertified`` (local) or ``contradicted``
        (global), never ``ok``.  ``options.n_certify``: samples (default 2000 with a
        vectorised simulator, else 200 square solves); the count used is in
        ``result.certification``."""
        if self.model_has_controls:
            return self.recourse().index(theta_p, method=method)
        t0, res, theta_p = self._begin(FlexibilityIndexResult, method, theta_p, delta_max=self.delta_max)
        if not self._nominal_check(res, theta_p):
            return self._finish(res, t0, theta_p)
        prob = self._index_problem()
        inst = prob.inst
        presolve = self.solver.is_global and self.options.local_presolve and self.square_solver.name == "ipopt"
        need_init = not self.solver.is_global or self.model.simulator is None or presolve
        failed = self._prepare(prob, res, t0, theta_p, need_init, None)
        if failed is not None:
            return failed
        with _free(inst.theta_m):
            self._index_subproblems(prob, res.method, presolve, res)
            if self._combine(res) and self.solver.is_global:
                self._index_domain(prob, res)
        if self._combine(res):
            self._certify_index(res, theta_p)
            if res.status == ResultStatus.UNCERTIFIED and res.certification.get("failed_samples"):
                self._local_domain_search(prob, res, theta_p)
        return self._finish(res, t0, theta_p)

    def _begin(self, result_cls, method, theta_p, **fields):
        """The prologue shared by :meth:`index`, :meth:`test` and :meth:`extended_test`:
        the clock started, ``method`` checked, θp resolved and the result begun with the
        analysis' provenance.  Returns ``(t0, result, theta_p)``."""
        self._auto_prove()
        t0 = time.perf_counter()
        method = _check_method(method, self.solver)
        theta_p = self._theta_p(theta_p)
        res = result_cls(status=ResultStatus.OK, set_kind=self.set_kind, solver=self.solver.name,
                         is_global=self.solver.is_global, method=method,
                         theta_p=self._theta_dict(self.model.theta_p_names, theta_p),
                         _theta_m_names=list(self.model.theta_m_names), units=theta_units(self.model), **fields)
        return t0, res, theta_p

    def _prepare(self, prob, res, t0, theta_p, initialise: bool, theta_m):
        """After the set bounds: the square solve at (θp, θ̄m) when ``initialise`` (its failure
        is the result, returned), then θ fixed at (θp, ``theta_m``: None keeps θm) and the
        state bounds derived for this θp.  None when the problem is ready."""
        untrusted = self._probe(prob)
        if untrusted is not None:
            res.diagnostics = untrusted
            return self._fail_init(res, untrusted_probe(), t0, theta_p, diagnose=False)
        if initialise:
            init = self._initialise(prob, theta_p)
            if not init.status.ok:
                return self._fail_init(res, init, t0, theta_p)
        prob.inst.set_theta(theta_p, theta_m)
        prob.inst.bound_states()
        return None

    def _probe(self, prob) -> Optional[str]:
        """The global solver's numerics on this model, tested once per analysis at the model's
        nominal point (θ̄p, θ̄m) — the same point in every process, so every worker reaches
        the same verdict: the square system, maximising g_0.  If the solver calls it infeasible
        where the local square solve finds a solution, none of its infeasibility claims on this
        model can be trusted: the reason, returned for every point of the analysis.  Both
        failing (or no local solver) is no verdict.  None: go on."""
        if getattr(self, "_untrusted", None) is not None:
            return self._untrusted
        if not self.solver.is_global or getattr(self, "_probed", False) or not prob.inst.state_vars():
            return None
        self._probed = True
        tp0 = self.model.theta_p_nominal
        probe = self._initialise(prob, tp0, self.solver)
        if probe.status != SolverStatus.INFEASIBLE or self.square_solver.name == self.solver.name \
                or not self._initialise(prob, tp0).status.ok:
            return None
        self._untrusted = (f"{self.solver.name} calls the model's equations h = 0 infeasible at the nominal point "
                           f"(theta_p = {list(map(float, tp0))}), where {self.square_solver.name} solves them: its "
                           "infeasibility claims on this model cannot be trusted (numerics: badly scaled equations or "
                           "a feasibility tolerance below their round-off). Scale the model, raise options.feas_tol, "
                           "or use another global solver")
        return self._untrusted

    def _local_domain_search(self, prob, res, theta_p) -> None:
        """Local solvers: sampling found θm without a solution; search the domain's edge with
        local solves (:meth:`_index_domain`), lower δ to it and certify again.  Only done then:
        the search costs seconds on larger models, and sampling decides either way."""
        inst = prob.inst
        res.status, res.certified, res.delta_sampled = ResultStatus.OK, None, None
        inst.set_theta(self._theta_p(theta_p), None)
        with _free(inst.theta_m):
            self._index_domain(prob, res)
        if self._combine(res):
            self._certify_index(res, theta_p)

    def _nominal_check(self, res, theta_p) -> bool:
        """g at (θp, θ̄m): False (result final) when it cannot be evaluated or is violated."""
        g_nom = self.nominal_g(theta_p)
        res.nominal_g = self._theta_dict(self.model.g_names, g_nom)
        if not np.all(np.isfinite(g_nom)):
            res.status = ResultStatus.FAILED
            res.diagnostics = "the model could not be evaluated at the nominal theta_m (no solution found there)"
            return False
        if np.any(g_nom > 0):
            k = int(np.argmax(g_nom))
            res.status = ResultStatus.NOMINAL_INFEASIBLE
            res.delta, res.probability = 0.0, 0.0
            res.worst_constraint = self.model.g_names[k]
            res.worst_theta_m = self._theta_dict(self.model.theta_m_names, self.model.theta_m_nominal)
            res.certified = True
            res.certification = {"note": "nominal point infeasible: g_k(theta_p, nominal theta_m) > 0"}
            return False
        return True

    def _fail_init(self, res, init, t0, theta_p, diagnose: bool = True):
        res.status = ResultStatus.FAILED
        res.subproblems.append(SubproblemResult("nominal square solve", float("nan"), init.status,
                                                time=init.time, message=init.message))
        return self._finish(res, t0, theta_p, diagnose=diagnose)

    def _index_subproblems(self, prob, method, presolve, res) -> None:
        """One index NLP per g_k (enumeration) or the MINLP; appends SubproblemResults."""
        m = prob.m
        start = _snapshot(m)
        targets = [(k, [m.fx.violate[k]], []) for k in range(self.model.n_g)] if method == "enumeration" \
            else [(None, [], [m.fx.minlp])]
        first, hint = self._sampled_first(prob) if method == "enumeration" else (None, None)
        for k, cons, blocks in self._ordered(targets, first or getattr(self, "_index_first", None)):
            if k is not None and not self.solver.is_global:
                # local solvers: the cheap capping check first (an index NLP with no violation up to
                # δ_max makes Ipopt grind for seconds before it fails; measured 1.5 s vs 0.03 s)
                capped = self._local_capping_check(prob, k, start)
                if capped is not None:
                    res.subproblems.append(capped)
                    continue
            _restore(m, start)
            m.delta.set_value(0.0)
            prob.only(m.fx.obj, cons, blocks)
            if k is None and ensure_valid_big_m(m.fx.minlp, prob.inst.g) is None:
                res.subproblems.append(_no_big_m())
                continue
            hint_k = hint if k is not None and first is not None and self.model.g_names[k] == first else None
            r, size_ub = self._index_solve(prob, k, hint_k, presolve, res.subproblems, start)
            if k is not None:
                r = self._polish(prob, r)
            name = self.model.g_names[k] if k is not None else "minlp"
            sp = self._index_result(prob, name, r, size_ub)
            if k is None and r.status.ok:
                ys = [pyo.value(y) for y in m.fx.minlp.y.values()]
                sp.constraint = "minlp:" + self.model.g_names[int(np.argmax(ys))]
            res.subproblems.append(sp)

    def _index_solve(self, prob, k, hint, presolve, done, start) -> tuple:
        """One index subproblem → ``(SolveResult, the δ-size bound it was solved with or None)``.

        Global solvers, enumeration: once a δ_j is known, on set(1.05 δ_j) only (with the
        cut-off at the best δ); the first one on set(1.05 γ) when the simulator's sampled
        crossing γ is known (``hint``).  A restricted solve that fails, or (for the hint)
        finds nothing, is repeated on set(δ_max): a restriction never costs an answer."""
        m = prob.m
        best = self._best_delta(done) if k is not None and self.solver.is_global else None
        restricted = None
        if best is not None:  # δ_k ≥ the best δ, or g_k is active: solve on set(1.05 best) only
            size_ub = min(self._size(best * RESTRICT_MARGIN), m.delta.ub)
            restricted = self._restricted_solve(prob, size_ub, **self._index_targets(done, k))
            if restricted.status.ok or restricted.status in (SolverStatus.INFEASIBLE, SolverStatus.TARGET):
                return restricted, size_ub
        elif hint is not None:
            restricted = self._restricted_solve(prob, min(hint, m.delta.ub))
            if restricted.status.ok:
                return restricted, None
        elif presolve and k is not None:
            return self._tightened_global_solve(prob)
        if restricted is not None:  # the restriction did not answer: the full set, from the same start
            _restore(m, start)
            m.delta.set_value(0.0)
        r = self.solver.solve(m, **self._index_targets(done, k))
        if restricted is not None:
            r.time += restricted.time
        return r, None

    def _index_targets(self, done, k) -> dict:
        """``options.cutoffs``, enumeration with a global solver: stop the index NLP of g_k as
        soon as its proven lower bound reaches the smallest δ solved so far (bound across k):
        δ_k can then not be the minimum.  The previous point's active constraint is solved first."""
        if k is None or not self._cutoffs or not self.solver.is_global:
            return {}
        found = [s.value for s in done if s.status.ok and math.isfinite(s.value)]
        if not found or min(found) >= self.delta_max - 1e-9:
            return {}
        return {"bound_target": self._size(min(found))}

    def _index_result(self, prob, name, r, size_ub: Optional[float] = None) -> SubproblemResult:
        """A subproblem's δ_k.  Only a *global* solver's "infeasible" proves that nothing
        violates up to the δ bound it was solved with (``size_ub``, default the problem's:
        capped at δ_max); a local solver's is a failed subproblem."""
        m, inst = prob.m, prob.inst
        if r.status.ok:
            val = self._delta(float(pyo.value(m.delta)))
            if math.isfinite(val):
                val = max(val, 0.0)  # a solver may return δ a hair below its bound 0
            else:
                return SubproblemResult(name, float("nan"), SolverStatus.ERROR, time=r.time,
                                        message=f"the solver returned delta = {val}")
            return SubproblemResult(name, val, r.status, capped=val >= self.delta_max - 1e-9, time=r.time,
                                    bound=self._delta(r.bound), theta_m=[float(v.value) for v in inst.theta_m],
                                    message=r.message)
        if r.status == SolverStatus.TARGET and r.bound is not None:  # cut off: δ_k ≥ bound ≥ the best δ
            lb = self._delta(r.bound)
            val = max(self._delta(float(pyo.value(m.delta))), lb) if r.has_point else lb
            return SubproblemResult(name, val, r.status, time=r.time, bound=lb,
                                    theta_m=[float(v.value) for v in inst.theta_m] if r.has_point else None,
                                    message=f"{r.message}; cut off: delta_k >= {lb:.6g} >= the best delta so far, "
                                            "so g_k is not the active constraint")
        if r.status == SolverStatus.INFEASIBLE and self.solver.is_global:
            ub = self._delta(m.delta.ub if size_ub is None else size_ub)
            return SubproblemResult(name, ub, r.status, capped=ub >= self.delta_max - 1e-9, time=r.time,
                                    message=f"proven infeasible: no violation up to delta = {ub:.6g}")
        why = ("a local solver's 'infeasible' is not a proof that nothing violates"
               if r.status == SolverStatus.INFEASIBLE else r.message)
        return SubproblemResult(name, float("nan"), r.status, time=r.time, message=why)

    def _combine(self, res) -> bool:
        """δ = min over the subproblems (δ_k, domain bounds); False (and status failed) when
        any subproblem has no answer."""
        if any(not (s.status.ok or s.status in (SolverStatus.INFEASIBLE, SolverStatus.TARGET))
               or not math.isfinite(s.value) for s in res.subproblems):
            res.status = ResultStatus.FAILED
            res.delta = res.probability = float("nan")
            return False
        # on a tie, a solved δ_k before one that was cut off at the best δ
        best = min(res.subproblems, key=lambda s: (s.value, s.status == SolverStatus.TARGET))
        self._index_first = best.constraint.replace("minlp:", "")
        res.delta = float(best.value)
        if self.solver.is_global:
            lbs = [s.bound if s.bound is not None and not s.capped else s.value for s in res.subproblems]
            res.delta_lower_bound = float(max(0.0, min(min(lbs), res.delta)))
        res.probability = self.uset.probability(res.delta)
        res.worst_constraint = best.constraint.replace("minlp:", "")
        if best.theta_m is not None:
            res.worst_theta_m = self._theta_dict(self.model.theta_m_names, best.theta_m)
        return True

    def _index_domain(self, prob, res) -> None:
        t0 = time.perf_counter()
        try:
            self._index_domain_checks(prob, res)
        finally:
            self._domain_cost(time.perf_counter() - t0)

    def _index_domain_checks(self, prob, res) -> None:
        """Prove that set(δ) lies in the model's domain, or lower δ to where it leaves it
        (global solvers; :mod:`flexspace.formulations.domain`)."""
        m, inst = prob.m, prob.inst
        if (not inst.state_vars() and not inst.domain) or self.model.domain_everywhere:
            res.domain = ("declared by the model (domain_everywhere=True)" if inst.state_vars()
                          else "explicit model (no states, no inequalities): every theta_m has a solution")
            return
        if self._proven_entirely(prob, res.delta):
            res.domain = f"proven up to delta: {self.domain_proof.summary()}"
            return
        size_ub = self._size(res.delta) * (1 + 1e-9) + 1e-12
        old = m.delta.ub
        m.delta.setub(min(size_ub, old))
        prob.set_m.bound_to(self._delta(m.delta.ub))
        try:
            todo = domain_subproblems(prob.dom, inst)
            if todo is None:
                res.domain = f"not proven ({prob.dom.why}): certified by sampling"
                res.certified = None
                return
            todo, once = self._proven_once(prob, todo, res.delta) if self.solver.is_global else (todo, [])
            start = _snapshot(m)
            for name, cons, blocks, _ in todo:
                _restore(m, start)
                m.delta.set_value(0.0)
                prob.only(m.fx.obj, cons, blocks)
                r = self.solver.solve(m)
                if not self.solver.is_global and not r.status.ok:
                    continue  # local: nothing found (not a proof; the certification samples decide)
                res.subproblems.append(self._index_result(prob, name, r))
            n_int = len(prob.dom.names) + (prob.dom.jac is not None) - len(todo) - len(once)
            how = "global solves" if self.solver.is_global else "local solves (not a proof: sampled)"
            res.domain = (f"{'proven' if self.solver.is_global else 'searched'} up to delta: {n_int} check(s) by "
                          f"interval arithmetic, {len(todo)} by {how}{_once_note(once)} (a state bound or model "
                          "inequality reached, or a singular Jacobian, bounds delta)")
        finally:
            m.delta.setub(old)
            prob.set_m.bound_to(self.delta_max)

    def _sampled_first(self, prob) -> tuple:
        """``(constraint to solve first, δ-size bound for its solve)`` from the vectorised
        simulator (global solvers), or ``(None, None)``.

        256 fixed samples of set(δ_max) in one simulator call: the g_k violated by the
        smallest-gauge sample goes first, and a line search along that sample's ray (two
        more calls of 64 points) finds where g_k turns positive, at gauge γ.  If the
        simulator is right, δ_k ≤ γ, so the first global solve runs on set(1.001 γ) —
        a hint only: a solve that finds nothing there is repeated on set(δ_max), and every
        δ is still a global solver's point.  Measured on case 2 at (19, 1100): the last
        point's active constraint first cost 2.0 s, the sampled one on set(γ) 0.14 s."""
        if not self.solver.is_global or self.model.simulator is None:
            return None, None
        if getattr(self, "_order_samples", None) is None:
            self._order_samples = self.uset.sample(self.delta_max, 256, np.random.default_rng(0))
        pts, tp = self._order_samples, [v.value for v in prob.inst.theta_p]
        g = self._simulate_quietly(tp, pts)
        if g is None:
            return None, None
        gauge = self.uset.gauge(pts)
        est = [np.min(gauge[g[:, k] > 0], initial=np.inf) for k in range(self.model.n_g)]
        k = int(np.argmin(est))
        if not math.isfinite(est[k]):
            return None, None
        ray = pts[np.flatnonzero((g[:, k] > 0) & (gauge == est[k]))[0]] - self.uset.nominal
        lo, hi = 0.0, 1.0
        for _ in range(2):  # the first t in [lo, hi] where g_k > 0 on the ray, twice refined
            t = np.linspace(lo, hi, 65)[1:]
            gk = self._simulate_quietly(tp, self.uset.nominal + t[:, None] * ray)
            hit = np.flatnonzero(gk[:, k] > 0) if gk is not None else np.array([], int)
            if hit.size == 0:
                break
            lo, hi = (t[hit[0] - 1] if hit[0] > 0 else lo), t[hit[0]]
        return self.model.g_names[k], self._size(hi * est[k] * RESTRICT_MARGIN)

    def _simulate_quietly(self, theta_p, pts) -> Optional[np.ndarray]:
        """g at ``pts`` by the vectorised simulator, or None if it fails or has the wrong shape."""
        try:
            g = np.asarray(self.model.simulate(theta_p, pts), float)
        except Exception:  # noqa: BLE001 - a hint only: no hint
            return None
        return g if g.shape == (pts.shape[0], self.model.n_g) else None

    def _best_delta(self, done) -> Optional[float]:
        """The smallest δ_k solved so far at a feasible point (a point the solver returned
        with g_k ≥ 0 on set(δ_k)), below δ_max; None if none yet."""
        found = [s.value for s in done if s.status.ok and s.theta_m is not None and math.isfinite(s.value)
                 and not s.capped]
        return min(found) if found else None

    def _restricted_solve(self, prob, size_ub: float, **targets) -> SolveResult:
        """Global solve of one index subproblem with δ ≤ ``size_ub`` and θm (and the set's
        auxiliary variables) bounded by set(size_ub) instead of set(δ_max).

        Bound tightening from the point's own solution: once g_j gave δ_j at a feasible
        point, the index δ ≤ δ_j, so g_k matters only where δ_k ≤ δ_j — "infeasible" on the
        smaller set proves δ_k > δ_j (reported as a violation-free bound at size_ub, never
        as δ).  Every answer is still a global proof, on a smaller, tighter problem.
        Measured on case 2 (reduced form, MAiNGO): a non-active constraint proven in 0.02 s
        instead of 0.5–1.4 s on set(δ_max)."""
        m = prob.m
        if size_ub >= m.delta.ub:
            return self.solver.solve(m, **targets)
        old = [(v, v.lb, v.ub) for v in [m.delta] + prob.set_m.variables]
        m.delta.setub(size_ub)
        prob.set_m.bound_to(self._delta(size_ub))  # θm and the set's auxiliary variables
        try:
            return self.solver.solve(m, **targets)
        finally:
            for v, lb, ub in old:
                v.setlb(lb)
                v.setub(ub)

    def _tightened_global_solve(self, prob) -> tuple:
        """Global solve of one index subproblem after a local (Ipopt) solve of the same NLP;
        returns ``(result, the δ-size bound it was solved with, or None)``.

        The local optimum is a feasible point, so its δ_loc bounds the global δ_k from
        above: the global solver gets ``δ ≤ δ_loc (1 + 1e-3)`` and θm bounds from
        set(δ_loc) instead of set(δ_max) — tighter relaxations.  Measured on case 2 at
        (20, 1100): SCIP on the LDL form with gap 1e-3 went from a time-out to 1.5 s; MAiNGO
        still timed out.  The local point is also the global solver's starting point."""
        m = prob.m
        rl = self.square_solver.solve(m)
        if not rl.status.ok:
            return self.solver.solve(m), None
        size_ub = float(pyo.value(m.delta)) * (1.0 + 1e-3) + 1e-9
        if size_ub >= m.delta.ub:
            size_ub = None
        r = self.solver.solve(m) if size_ub is None else self._restricted_solve(prob, size_ub)
        r.time += rl.time
        return r, size_ub

    def _polish(self, prob, r: SolveResult) -> SolveResult:
        """A global solver's index point, re-solved by Ipopt from that point with the bounds
        unrelaxed and constraints met to ``POLISH_TOL``.

        A global solver's point satisfies each constraint only to its feasibility tolerance,
        and on a badly scaled model that tolerance moves δ_k: measured on case 3 (IDAES CSTR,
        g_k violated by ~3e-8 at SCIP's point) δ_k came out 1.4e-6 *below* an independent
        scipy root.  Ipopt's polished point is feasible to 1e-10, hence a valid upper bound on
        δ_k; it is used only if it lies within the solver's own acceptance tolerance of the
        proven bound (:meth:`~flexspace.solvers.Solver.gap_tolerance`, as for its "optimal":
        the same optimum, refined), and the proven lower bound is never raised by it.  A
        polished point *below* the proven bound (beyond that tolerance) refutes the global
        solver: the subproblem is an error.  Anything else keeps the global point (and says
        why in the message)."""
        if not (r.status.ok and self.solver.is_global and self.square_solver.name == "ipopt"):
            return r
        m = prob.m
        snap, size_g = _snapshot(m), float(pyo.value(m.delta))
        if getattr(self, "_polisher", None) is None:  # one per analysis, not one per subproblem
            self._polisher = get_solver("ipopt", {"time_limit": self.options.time_limit, "feas_tol": POLISH_TOL},
                                        solver_options={"bound_relax_factor": 0.0, "tol": POLISH_TOL})
        rl = self._polisher.solve(m)
        size_l = float(pyo.value(m.delta)) if rl.status.ok else float("nan")
        ref = size_g if r.bound is None else r.bound
        tol = self.solver.gap_tolerance(size_g, ref)
        if rl.status.ok and size_l < ref - tol:  # a feasible point below the proven bound: the bound is false
            return SolveResult(SolverStatus.ERROR, time=r.time + rl.time, message=(
                f"{r.message}; but Ipopt found a point with size {size_l:.10g} below the proven bound {ref:.10g} "
                f"(tolerance {tol:.3g}): the global solver's claim is not trusted"))
        if not (rl.status.ok and abs(size_l - ref) <= tol):
            _restore(m, snap)
            r.message = f"{r.message}; not polished (Ipopt: {rl.status.value}, size {size_l:.10g})"
            return r
        bound = None if r.bound is None else min(r.bound, size_l)
        return SolveResult(r.status, objective=size_l, bound=bound, time=r.time + rl.time, has_point=True,
                           message=f"{r.message}; polished by Ipopt to 1e-10 (size {size_g:.10g} -> {size_l:.10g})")

    def _local_capping_check(self, prob, k, start) -> Optional[SubproblemResult]:
        """Maximise g_k over set(δ_max) with the local solver: a negative maximum means no
        violation was found up to δ_max, so δ_k is capped (result returned); otherwise None.
        Local, hence not a proof: certification then samples the region."""
        m = prob.m
        _restore(m, start)
        m.delta.fix(self._size(self.delta_max))
        prob.only(m.fx.max_g[k])
        r = self.solver.solve(m)
        m.delta.unfix()
        if r.status.ok and pyo.value(m.fx.max_g[k]) < 0:
            return SubproblemResult(self.model.g_names[k], self.delta_max, SolverStatus.INFEASIBLE, capped=True,
                                    time=r.time, theta_m=[float(v.value) for v in prob.inst.theta_m],
                                    message=f"local max of g_k over set(delta_max) = {pyo.value(m.fx.max_g[k]):.4g}"
                                            " < 0: capped")
        return None

    def _finish(self, res, t0, theta_p, diagnose: bool = True):
        cap_test_value(res, getattr(self.model, "test_cap", None))
        if res.status == ResultStatus.FAILED and self.diagnose_failures and diagnose:
            try:
                res.diagnostics = (res.diagnostics + "\n" if res.diagnostics else "") + self.model.diagnose(
                    theta_p, self.model.theta_m_nominal, solver=self.square_solver)
            except Exception as exc:  # noqa: BLE001
                res.diagnostics += f"\n(diagnostics failed: {exc})"
        if res.status == ResultStatus.FAILED:
            res.certified = False
        res.time = time.perf_counter() - t0
        return res

    def _certify_index(self, res, theta_p) -> None:
        """Decide ``certified`` and the status: sample set(δ) when asked (default: local
        solvers; global ones when sampling is cheap or the domain is not proven).  A proven
        answer (global, or a local solver on a proven convex problem) stays ``ok`` unless
        sampling contradicts it; a local answer on a problem not proven convex is never
        ``ok``: ``sampled`` (clean samples reaching the scenario level of ``certify_epsilon``
        and ``certify_beta``) or ``uncertified``."""
        exact = self.solver.is_global or self.convex_proven
        domain_unproven = self.solver.is_global and res.certified is None and res.domain.startswith("not proven")
        certify = self.options.certify
        if certify is None:
            # a global solver can be wrong too (measured: MAiNGO on a tanh-MLP surrogate over-stated δ by 3 %)
            certify = not self.solver.is_global or self.model.simulator is not None or domain_unproven
        if certify:
            self._certify(res, theta_p)
        else:
            res.certified = bool(exact) if exact else None
        if domain_unproven and not certify:
            res.certified = False
            res.certification["note"] = "the domain was not proven and sampling was switched off"
        if not exact and res.delta < self.delta_max - 1e-9 and math.isfinite(res.delta):
            res.delta_upper_bound = res.delta  # the local solver's point violates at this set size
        self._status_after_sampling(res, exact)

    def _status_after_sampling(self, res, exact: bool) -> None:
        """The status a result's evidence supports (see :meth:`_certify_index`)."""
        if res.certified is False:
            res.status = ResultStatus.CONTRADICTED if exact else ResultStatus.UNCERTIFIED
        elif not exact:
            eps = res.certification.get("epsilon", 1.0)
            res.status = ResultStatus.SAMPLED if res.certified and eps <= self.options.certify_epsilon \
                else ResultStatus.UNCERTIFIED

    @property
    def convex_proven(self) -> bool:
        """Every CQA and every equation or inequality of the model is linear in (θ, x): each
        subproblem is then convex (the sets are convex), so a local optimum is global."""
        if getattr(self, "_convex", None) is None:
            from ..models.controls import is_linear

            self._convex = is_linear(self.model.instance(), theta_free=True)
        return self._convex

    def _certify(self, res: FlexibilityIndexResult, theta_p) -> None:
        """A-posteriori check of a region: sample set(δ) (boundary + interior), evaluate g;
        a violation or a sample without a solution (the domain) contradicts the region.

        For a global solve the sampled set is set(δ_lower_bound), the region the solver
        proved (δ itself is the incumbent, up to ``gap`` above the true index, so its
        boundary may legitimately touch a violation).  ``delta_sampled``: the largest set
        size free of every bad sample (a sampled estimate)."""
        delta = res.delta
        if self.solver.is_global and res.delta_lower_bound is not None and math.isfinite(res.delta_lower_bound):
            delta = min(delta, res.delta_lower_bound)
        pts = self.uset.sample(delta, self._n_certify(), np.random.default_rng(self.options.random_state))
        g, how = self._sampled_g(theta_p, pts)
        failed_rows = ~np.all(np.isfinite(g), axis=1)
        # feasibility tolerance per CQA, relative to its scale at the nominal point (a boundary
        # sample sits at g = 0 up to the solver's own tolerance: measured 1.8e-6 on g ~ 15)
        g_nom = np.abs(np.array([res.nominal_g[n] for n in self.model.g_names], float)) if res.nominal_g else 0.0
        tol = 1e-6 * (1.0 + g_nom)
        bad = failed_rows | np.any(np.nan_to_num(g, nan=np.inf) > tol, axis=1)
        worst = float(np.nanmax(g)) if np.any(np.isfinite(g)) else float("nan")
        res.certified = not bool(bad.any())
        if bad.any():
            res.delta_sampled = float(np.min(self.uset.gauge(pts[bad]))) * (1 - 1e-9)
        res.certification = {"n_samples": int(pts.shape[0]), "delta": float(delta), "max_g": worst,
                             "failed_samples": int(failed_rows.sum()), "violating_samples": int(bad.sum()),
                             "tolerance": float(np.max(tol)), "evaluated_by": how,
                             **self._scenario(self._n_certify())}

    def _n_certify(self) -> int:
        if self.options.n_certify is not None:
            return int(self.options.n_certify)
        return N_CERTIFY_SIMULATOR if self.model.simulator is not None else N_CERTIFY_PYOMO

    def _sampled_g(self, theta_p, pts):
        """g at θp for each row of ``pts`` (NaN rows: no solution), and how it was evaluated."""
        if self.model.simulator is not None:
            return self.model.simulate(theta_p, pts), "vectorised simulator"
        if self._eval is None:
            self._eval = self.model.instance()
        g = self.model.evaluate_pyomo(theta_p, pts, self.square_solver, instance=self._eval)
        return g, f"square Pyomo solves ({self.square_solver.name})"

    def _scenario(self, n: int, where: str = "") -> dict:
        """The scenario statement of ``n`` clean samples (:func:`~.results.scenario_epsilon`)."""
        eps = scenario_epsilon(n, self.options.certify_beta)
        text = SCENARIO_STATEMENT.format(eps=eps, conf=1 - self.options.certify_beta, n=n)
        return {"epsilon": eps, "beta": self.options.certify_beta, "statement": text + where}

    def _certify_local_test(self, res, theta_ps, delta, n_per_point: int) -> None:
        """A local solver's χ ≤ 0 is not a proof: sample set(δ) at each θp; a violation or a
        sample without a solution makes the status ``uncertified`` (never feasible); clean
        samples make it ``sampled`` (the scenario statement, over the θp points checked) —
        or keep ``ok`` on a proven convex problem."""
        rng = np.random.default_rng(self.options.random_state)
        n_bad = n = 0
        worst = -np.inf
        for tp in theta_ps:
            pts = self.uset.sample(delta, n_per_point, rng)
            g, how = self._sampled_g(tp, pts)
            tol = 1e-6 * (1.0 + np.nan_to_num(np.nanmax(np.abs(g), axis=0), nan=0.0)) if np.isfinite(g).any() else 1e-6
            bad = ~np.all(np.isfinite(g), axis=1) | np.any(np.nan_to_num(g, nan=np.inf) > tol, axis=1)
            n_bad, n = n_bad + int(bad.sum()), n + n_per_point
            if np.isfinite(g).any():
                worst = max(worst, float(np.nanmax(g)))
        where = f" (at {len(theta_ps)} theta_p points of the box)" if len(theta_ps) > 1 else ""
        res.certified = n_bad == 0
        res.certification = {"n_samples": n, "theta_p_points": len(theta_ps), "violating_samples": n_bad,
                             "max_g": worst, "evaluated_by": how, **self._scenario(n, where)}
        self._status_after_sampling(res, self.convex_proven)

    def _local_test_status(self, res, theta_ps, delta, n_per_point: int) -> None:
        """A local solver's test: a point with χ > 0 proves infeasibility (a proven ``bound``,
        or ``ok`` on a proven convex problem); χ ≤ 0 is certified by sampling."""
        if res.chi > 0 and res.worst_theta_m is not None:
            res.chi_lower_bound = res.chi
            if not self.convex_proven:
                res.status = ResultStatus.BOUND
            return
        self._certify_local_test(res, theta_ps, delta, n_per_point)

    # ------------------------------------------------------------------ test
    def test(self, theta_p=None, delta: Optional[float] = None, confidence: Optional[float] = None,
             method: str = "enumeration", window: Optional[float] = None) -> FlexibilityTestResult:
        """Flexibility test χ at fixed θp over θm ∈ set(δ) (Eq. 1–7); ``delta`` or ``confidence``.

        The θm bounds come from the requested δ (never clipped at δ_max).  Global solvers
        also check the model's domain over the set: a θm there without a solution makes
        χ = +inf (not feasible), reported as the worst constraint.  ``window``: None solves
        χ to the gap; a number asks for its sign only (see :meth:`extended_test`)."""
        if self.model_has_controls:
            return self.recourse().test(theta_p, delta=delta, confidence=confidence, method=method)
        t0, res, theta_p = self._begin(FlexibilityTestResult, method, theta_p)
        delta = res.delta_m = self._delta_m(delta, confidence)
        prob = self._test_problem()
        prob.m.delta_m.set_value(delta)
        prob.set_m.bound_to(delta)
        failed = self._prepare(prob, res, t0, theta_p, not self.solver.is_global, self.model.theta_m_nominal)
        if failed is not None:
            return failed
        self._run_free(prob, res, prob.inst.theta_m, None,
                       None if window is None else check_number("window", window, low=0))
        if res.solved and not self.solver.is_global:
            self._local_test_status(res, [theta_p], delta, self._n_certify())
        elif res.solved:
            res.certified = self.solver.is_global
        return self._finish(res, t0, theta_p)

    def _run_free(self, prob, res, free, p_free, window: Optional[float] = None) -> None:
        """Unfix ``free`` θ, run the test subproblems and the domain check, fix them again.
        Sign-only (``window`` given, cut-offs on): the domain check is skipped once a feasible
        point proved χ > 0 (it could only confirm that the test fails)."""
        with _free(free):
            self._run_test(prob, prob.m.ft, res.method, res, p_free, window)
            if res.solved and not (self._sign_only(window) and res.chi > 0 and res.worst_theta_m is not None):
                self._test_domain(prob, res)

    @property
    def _cutoffs(self) -> bool:
        return bool(self.options.cutoffs)

    def _sign_only(self, window: Optional[float]) -> bool:
        """A test asked only for the sign of χ (``window`` not None) with cut-offs on."""
        return window is not None and self._cutoffs

    def _ordered(self, targets, first: Optional[str]):
        """The subproblems with constraint ``first`` (the last worst one) solved first: with
        cut-offs a positive χ_k there ends the test after one solve."""
        if first is None:
            return targets
        hit = [t for t in targets if t[0] is not None and self.model.g_names[t[0]] == first]
        return hit + [t for t in targets if t not in hit]

    def _test_solve(self, m, done, window: Optional[float]):
        """One max-g_k solve.  Sign only (``window`` not None, ``options.cutoffs``): stop once
        the sign is decided — a point with g_k ≥ τ proves χ > 0 (τ = the absolute gap, > 0);
        a bound ≤ 0 proves g_k ≤ 0 on the whole set.  Whether χ is in Algorithm 3's window
        [−window, 0] is then read off the best point found (the solver's incumbent, which
        it finds before it proves the bound): a point ≥ −window with a bound ≤ 0 proves it;
        a weaker point only costs a further bisection step, never a wrong answer.
        (Measured on case 1, MAiNGO: asking for the bound to reach the best point instead
        made the last step cost 7 s; Algorithm 3 aims its steps at χ = −window/2, where a
        gap of window/2 decides.)"""
        if not self._sign_only(window):
            return self.solver.solve(m)
        return self.solver.solve(m, point_target=max(self.solver.abs_gap, 1e-9), bound_target=0.0)

    def _run_test(self, prob, fblock, method, res, p_free, window: Optional[float] = None):
        """max g_k per constraint (or the MINLP); with cut-offs each solve stops at its sign and
        a proven χ > 0 ends the test (:meth:`_test_solve`; ``window``: Algorithm 3's ε_tol)."""
        m, inst = prob.m, prob.inst
        start = _snapshot(m)
        targets = [(k, fblock.obj_k[k], []) for k in range(self.model.n_g)] if method == "enumeration" \
            else [(None, fblock.minlp.obj, [fblock.minlp])]
        targets = self._ordered(targets, getattr(self, "_test_first", None))
        skipped = False
        for i, (k, obj, blocks) in enumerate(targets):
            _restore(m, start)
            prob.only(obj, [], blocks)
            if k is None and ensure_valid_big_m(fblock.minlp, inst.g) is None:  # valid on the requested set
                res.subproblems.append(_no_big_m())
                continue
            r = self._test_solve(m, res.subproblems, window)
            name = self.model.g_names[k] if k is not None else "minlp"
            sp = _test_subproblem(name, r, obj, inst)
            res.subproblems.append(sp)
            if self._sign_only(window) and sp.theta_m is not None and sp.value > 0 and i + 1 < len(targets):
                skipped = [self.model.g_names[t[0]] for t in targets[i + 1:] if t[0] is not None]
                res.diagnostics = (f"chi > 0 proven by a feasible point of {name} (g = {sp.value:.6g}); "
                                   f"not solved (cut-offs): {skipped}")
                break
        self._combine_test(res, p_free, skipped=bool(skipped))

    def _combine_test(self, res, p_free, skipped: bool = False) -> None:
        """χ = the largest g_k found at a feasible point (a proven lower bound of χ; the optimum
        when every subproblem was solved to the gap), χ's upper bound = the largest proven
        bound (None when a subproblem has none or was skipped after χ > 0 was proven)."""
        subs = res.subproblems
        if any(not (s.status.ok or s.status == SolverStatus.TARGET) for s in subs):
            res.status = ResultStatus.FAILED
            return
        at_point = [s for s in subs if s.theta_m is not None and math.isfinite(s.value)]
        bounds = [s.bound for s in subs]
        if self.solver.is_global:
            res.chi_upper_bound = None if (skipped or any(b is None for b in bounds)) else float(max(bounds))
        if not at_point:  # every subproblem decided by its bound alone: χ ≤ that bound, no point known
            res.chi = float(res.chi_upper_bound) if res.chi_upper_bound is not None else float("nan")
            if not math.isfinite(res.chi):
                res.status = ResultStatus.FAILED
            return
        worst = max(at_point, key=lambda s: s.value)
        res.chi = float(worst.value)
        res.worst_constraint = worst.constraint
        self._test_first = worst.constraint
        res.worst_theta_m = self._theta_dict(self.model.theta_m_names, worst.theta_m)
        if p_free is not None:
            res.worst_theta_p = self._theta_dict(self.model.theta_p_names, worst.theta_p)

    def _test_domain(self, prob, res) -> None:
        t0 = time.perf_counter()
        try:
            self._test_domain_checks(prob, res)
        finally:
            self._domain_cost(time.perf_counter() - t0)

    def _test_domain_checks(self, prob, res) -> None:
        """Global solvers: is there a θ in the tested set without a solution (a state bound or
        model inequality reached, or a singular Jacobian)?  Yes: χ = +inf; a failed check:
        status failed; not provable: χ's proof does not cover the domain (status failed)."""
        if not self.solver.is_global:
            res.domain = "not checked (local solver)"
            return
        if (not prob.inst.state_vars() and not prob.inst.domain) or self.model.domain_everywhere:
            res.domain = ("declared by the model (domain_everywhere=True)" if prob.inst.state_vars()
                          else "explicit model (no states, no inequalities)")
            return
        if self._proven_entirely(prob, float(pyo.value(prob.m.delta_m))):
            res.domain = f"proven: {self.domain_proof.summary()}"
            return
        todo = domain_subproblems(prob.dom, prob.inst)
        if todo is None:
            res.status = ResultStatus.FAILED
            res.domain = f"not provable ({prob.dom.why})"
            return
        todo, once = self._proven_once(prob, todo, float(pyo.value(prob.m.delta_m)))
        m = prob.m
        start = _snapshot(m)
        for name, cons, blocks, objective in todo:
            _restore(m, start)
            prob.only(objective, cons, blocks)
            r = self.solver.solve(m)
            if r.status.ok:  # a point of the set where the solution ends: not feasible
                res.subproblems.append(SubproblemResult(name, float("inf"), r.status, time=r.time,
                                                        theta_m=[float(v.value) for v in prob.inst.theta_m],
                                                        message="a theta in the set reaches the domain's edge"))
                res.chi, res.chi_upper_bound, res.worst_constraint = float("inf"), float("inf"), name
                res.worst_theta_m = self._theta_dict(self.model.theta_m_names, res.subproblems[-1].theta_m)
                res.domain = f"left: {name}"
                return
            if r.status != SolverStatus.INFEASIBLE:
                res.subproblems.append(SubproblemResult(name, float("nan"), r.status, time=r.time, message=r.message))
                res.status = ResultStatus.FAILED
                return
        n_int = len(prob.dom.names) + (prob.dom.jac is not None) - len(todo) - len(once)
        res.domain = f"proven: {n_int} check(s) by interval arithmetic, {len(todo)} by global solves{_once_note(once)}"

    # ------------------------------------------------------------------ extended test
    def extended_test(self, delta_p: float, theta_p_nominal=None, delta_p_minus=None, delta_p_plus=None,
                      delta_m: Optional[float] = None, confidence: Optional[float] = None,
                      method: str = "enumeration", window: Optional[float] = None) -> FlexibilityTestResult:
        """Extended flexibility test over (θp, θm) (Eq. 28–36): max g over the θp box
        ``θ̄p − δp Δ⁻ ≤ θp ≤ θ̄p + δp Δ⁺`` and θm ∈ set(δm) (δm fixed, from p_c).

        ``window`` None: χ solved to the gap.  ``window`` = w ≥ 0 (Algorithm 3 passes ε_tol)
        with ``options.cutoffs``: only the sign of χ, and whether χ ∈ [−w, 0], is decided —
        each global solve stops once its bound or a feasible point decides it, and a proven
        χ > 0 skips the remaining constraints; ``chi`` is then the largest g found at a
        feasible point (a lower bound of χ, exact to the gap only inside the window) and
        ``chi_upper_bound`` the proven bound."""
        if self.model_has_controls:
            return self.recourse().extended_test(delta_p, theta_p_nominal, delta_p_minus, delta_p_plus, delta_m,
                                                 confidence, method)
        t0, res, center = self._begin(FlexibilityTestResult, method, theta_p_nominal)
        dmin, dplus = self._p_halfwidths(delta_p_minus, delta_p_plus)
        dm = res.delta_m = self._delta_m(delta_m, confidence)
        dp = res.delta_p = check_number("delta_p", delta_p, low=0)
        b = self.model.theta_p_bounds
        if b is not None and (np.any(center < b[:, 0]) or np.any(center > b[:, 1])):
            raise ValidationError(f"theta_p_nominal {center.tolist()} is outside the theta_p bounds "
                                  f"{np.asarray(b).tolist()}; choose a point inside them")
        prob = self._ext_problem(center, dmin, dplus)
        prob.m.delta_p.set_value(dp)
        prob.m.delta_m.set_value(dm)
        prob.set_m.bound_to(dm)
        # θp: the requested box (Eq. 33), clipped to the model's theta_p_bounds (Algorithm 3's
        # rectangles are clipped the same way); never a smaller box
        prob.set_p.bound_to(dp, within=self.model.theta_p_bounds)
        failed = self._prepare(prob, res, t0, center, not self.solver.is_global, self.model.theta_m_nominal)
        if failed is not None:
            return failed
        inst = prob.inst
        window = None if window is None else check_number("window", window, low=0)
        self._run_free(prob, res, inst.theta_m + inst.theta_p, inst.theta_p, window)
        res.certified = True if (res.solved and self.solver.is_global) else None
        if res.solved and not self.solver.is_global:
            self._local_test_status(res, _box_points(center - dp * dmin, center + dp * dplus, self.model),
                                     dm, 400 if self.model.simulator is not None else 20)
        return self._finish(res, t0, center)

    def _ext_problem(self, center, dmin, dplus) -> _Problem:
        """The extended test over θp ∈ box(δp) around ``center`` (Eq. 33; a :class:`BoxSet`
        with half-widths ``dmin``/``dplus``, handle ``set_p``) and θm ∈ set(δm)."""
        key = (tuple(center), tuple(dmin), tuple(dplus))
        if self._ext is None or self._ext.key != key:
            def build(prob):
                m, inst = prob.m, prob.inst
                m.delta_p = pyo.Param(mutable=True, initialize=0.0)
                m.delta_m = pyo.Param(mutable=True, initialize=1.0)
                pset = BoxSet(center, delta_minus=dmin, delta_plus=dplus)
                prob.set_p = add_uncertainty_set(m, "set_p", pset, inst.theta_p, m.delta_p)
                prob.set_m = add_uncertainty_set(m, "set_m", self.uset, inst.theta_m, m.delta_m)

            prob = self._new_problem("extended", build)
            prob.key = key
            # θp bounds until a test sets them for its δp (θp was fixed while the states were bounded)
            prob.set_p.bound_to(10.0, within=self.model.theta_p_bounds)
            prob.m.ft = pyo.Block()
            add_flexibility_test(prob.m.ft, prob.inst.g, self.big_m)
            self._ext = self._with_domain(prob)
        return self._ext

    # ------------------------------------------------------------------ input checks
    def _theta_p(self, theta_p) -> np.ndarray:
        from .sets import _as_vector

        if theta_p is None:
            return self.model.theta_p_nominal.copy()
        if isinstance(theta_p, dict):
            missing = [n for n in self.model.theta_p_names if n not in theta_p]
            unknown = [n for n in theta_p if n not in self.model.theta_p_names]
            if missing or unknown:
                raise ValidationError(f"theta_p has unknown keys {unknown} and is missing {missing}; expected exactly the "
                                 f"keys {self.model.theta_p_names}")
            theta_p = [theta_p[n] for n in self.model.theta_p_names]
        return _as_vector("theta_p", theta_p, self.model.n_p)

    def _p_halfwidths(self, dmin, dplus):
        from .sets import _as_vector

        if dmin is None or dplus is None:
            if self.model.theta_p_bounds is None:
                raise ValidationError("give delta_p_minus and delta_p_plus (or theta_p_bounds on the model)")
        c = self.model.theta_p_nominal
        b = self.model.theta_p_bounds
        dmin = (c - b[:, 0]) if dmin is None else _as_vector("delta_p_minus", dmin, self.model.n_p)
        dplus = (b[:, 1] - c) if dplus is None else _as_vector("delta_p_plus", dplus, self.model.n_p)
        if np.any(dmin < 0) or np.any(dplus < 0):
            raise ValidationError("delta_p_minus/delta_p_plus must be >= 0")
        return np.asarray(dmin, float), np.asarray(dplus, float)

    def _delta_m(self, delta, confidence) -> float:
        if (delta is None) == (confidence is None):
            raise ValidationError("give exactly one of delta (set size) or confidence (probability p_c)")
        if confidence is not None:
            return self.uset.delta_for_confidence(confidence)
        return check_number("delta", delta, low=0)


def _box_points(lo, hi, model, n_random: int = 6) -> List[np.ndarray]:
    """θp points that sample a box: its corners (up to 16), centre and a few random points,
    clipped to the model's θp bounds."""
    import itertools

    if model.theta_p_bounds is not None:
        lo = np.maximum(lo, model.theta_p_bounds[:, 0])
        hi = np.minimum(hi, model.theta_p_bounds[:, 1])
    corners = [np.array(c, float) for c in itertools.islice(itertools.product(*zip(lo, hi)), 16)]
    rng = np.random.default_rng(0)
    return corners + [0.5 * (lo + hi)] + [lo + rng.random(len(lo)) * (hi - lo) for _ in range(n_random)]


@contextlib.contextmanager
def _free(variables):
    """Unfix ``variables`` (the θ a subproblem optimises over) for the block; fix them after."""
    for v in variables:
        v.unfix()
    try:
        yield
    finally:
        for v in variables:
            v.fix()


def _prove_over_box(prob, solver) -> tuple:
    """Solve every domain check of ``prob`` (θ already free and bounded by the box and the
    set); returns ``(proven names, {name: why not})``.  Only a global solver's
    "infeasible" proves a check."""
    dom = prob.dom
    todo = domain_subproblems(dom, prob.inst)
    if todo is None:
        return [], {"all": f"not provable here ({dom.why})"}
    every = ([f"domain: {n}" for n in dom.names] + [f"domain: {e[0]} argument reaches 0" for e in dom.edges]
             + (["domain: singular Jacobian"] if dom.jac is not None else []))
    proven, unproven = [n for n in every if n not in {t[0] for t in todo}], {}  # by interval arithmetic
    start = _snapshot(prob.m)
    for name, cons, blocks, objective in todo:
        _restore(prob.m, start)
        prob.only(objective, cons, blocks)
        r = solver.solve(prob.m)
        if r.status == SolverStatus.INFEASIBLE and solver.is_global:
            proven.append(name)
        else:
            unproven[name] = ("a point of the box reaches the domain's edge" if r.status.ok
                              else f"{r.status.value}: {r.message[:120]}")
    return proven, unproven


def _once_note(once) -> str:
    """The domain-report part for checks proven once over a θp box (:meth:`FlexibilityAnalysis.prove_domain`)."""
    return f", {len(once)} by global solves over the whole theta_p box (prove_domain)" if once else ""


def _no_big_m() -> SubproblemResult:
    return SubproblemResult("minlp", float("nan"), SolverStatus.ERROR,
                            message="no valid big-M: a CQA is unbounded on the set's box by interval arithmetic "
                                    "(bound the states it uses, or use method='enumeration')")


def _test_subproblem(name, r: SolveResult, obj, inst) -> SubproblemResult:
    """One max-g_k solve as a SubproblemResult: its value at the solver's point (optimal, or a
    feasible point of a stop at a target), the proven bound, the point; NaN and the solver's
    status when it failed.  A TARGET stop decided by its bound alone has value = the bound and
    no point (θ None)."""
    point = r.status.ok or (r.status == SolverStatus.TARGET and r.has_point)
    val = float(pyo.value(obj)) if point else float("nan")
    if point and math.isfinite(val):
        return SubproblemResult(name, val, r.status, time=r.time, bound=r.bound,
                                theta_m=[float(v.value) for v in inst.theta_m],
                                theta_p=[float(v.value) for v in inst.theta_p], message=r.message)
    if r.status == SolverStatus.TARGET and r.bound is not None:
        return SubproblemResult(name, float(r.bound), r.status, time=r.time, bound=r.bound,
                                message=r.message + " (no feasible point: the value is the proven bound)")
    return SubproblemResult(name, float("nan"), r.status if not r.status.ok else SolverStatus.ERROR,
                            time=r.time, message=r.message or f"objective value {val}")


def _check_method(method, solver: Solver) -> Method:
    m = Method.parse(method)
    if m is Method.MINLP and not solver.supports_integers:
        raise ValidationError(f"the MINLP route needs a solver that handles binaries; {solver.name!r} does not "
                         "(use 'maingo' or 'scip', or method='enumeration')")
    return m


def untrusted_probe() -> SolveResult:
    """The subproblem row of a point failed because the solver's probe failed (:meth:`FlexibilityAnalysis._probe`)."""
    return SolveResult(SolverStatus.INFEASIBLE, message="the global solver called the square system infeasible "
                                                         "where a local solver solved it: not trusted")


def _snapshot(m) -> List:
    return [(v, v.value) for v in m.component_data_objects(pyo.Var, descend_into=True) if not v.fixed]


def _restore(m, snap) -> None:
    for v, x in snap:
        v.set_value(x, skip_validation=True)


# --------------------------------------------------------------------------- functions
def flexibility_index(model, theta_p=None, uncertainty_set: SetLike = "ellipsoid", solver="maingo",
                      method: str = "enumeration", options: OptionsLike = None, **kwargs) -> FlexibilityIndexResult:
    """Flexibility index δm of ``model`` at θp (seed Eq. 16–23; MINLP Eq. 8–15).

    ``options`` and ``kwargs`` (``big_m``, ``square_solver``): see :class:`FlexibilityAnalysis`;
    to solve many θp, build one :class:`FlexibilityAnalysis` and call
    :meth:`FlexibilityAnalysis.index` repeatedly."""
    fa = FlexibilityAnalysis(model, uncertainty_set, solver, options, **kwargs)
    return fa.index(theta_p, method=method)


def flexibility_test(model, theta_p=None, delta: Optional[float] = None, confidence: Optional[float] = None,
                     uncertainty_set: SetLike = "ellipsoid", solver="maingo", method: str = "enumeration",
                     options: OptionsLike = None, **kwargs) -> FlexibilityTestResult:
    """Flexibility test χ of ``model`` at θp over θm ∈ set(δ) (seed Eq. 1–7)."""
    fa = FlexibilityAnalysis(model, uncertainty_set, solver, options, **kwargs)
    return fa.test(theta_p, delta=delta, confidence=confidence, method=method)


def extended_flexibility_test(model, delta_p: float, theta_p_nominal=None, delta_p_minus=None, delta_p_plus=None,
                              delta_m: Optional[float] = None, confidence: Optional[float] = None,
                              uncertainty_set: SetLike = "ellipsoid", solver="maingo", method: str = "enumeration",
                              options: OptionsLike = None, **kwargs) -> FlexibilityTestResult:
    """Extended flexibility test over (θp, θm) (seed Eq. 28–36)."""
    fa = FlexibilityAnalysis(model, uncertainty_set, solver, options, **kwargs)
    return fa.extended_test(delta_p, theta_p_nominal, delta_p_minus, delta_p_plus, delta_m, confidence, method)
