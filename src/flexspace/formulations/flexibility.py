"""Flexibility test and flexibility index of a process model (seed Eq. 1–36).

One formulation code path serves every uncertainty set (box Eq. 21/33, ellipsoid Eq. 24/34,
LDL ellipsoid Eq. 25–27, polyhedral and budget sets, a user's own): only the set's block
differs (:meth:`UncertaintySet.build`).  Two solution routes:

* **active-set enumeration** (what the seed solves): one NLP per constraint g_k,
  each NLP's status kept (:class:`SubproblemResult`);
* **single MINLP** with the big-M active-set selection of Eq. 3–5.

:class:`FlexibilityAnalysis` is the entry point; it builds each problem once per process
model and re-solves it for new θp, δ, or constraint k by changing fixed values and
(de)activating components — no Pyomo model is rebuilt per point.  It holds one part per
concern: :class:`~.flexindex.FlexIndexRoute` (the index), :class:`~.flextest.FlexTestRoute` (test and
extended test), :class:`~.domain_checks.DomainChecks` (the model's domain, per point or once
over a box) and :class:`~.certify.Certifier` (sampling and statuses).  The Pyomo blocks of
each seed equation are in :mod:`~.blocks`.
"""
from __future__ import annotations

import math
import time
from typing import Optional, Union

import numpy as np
import pyomo.environ as pyo

from ..errors import ValidationError
from ..models.evaluation import diagnostic_findings
from ..validation import check_number
from ..options import OptionsLike, resolve_options
from ..solvers import SolveResult, SolverStatus, get_solver
from .blocks import (Problem, add_active_set_selection, add_flexibility_index, add_flexibility_test,
                     add_uncertainty_set, check_global_bounds, check_method, ensure_valid_big_m, theta_dict,
                     untrusted_probe)
from .certify import Certifier
from .domain import DomainProof, add_domain_checks
from .domain_checks import AUTO_PROOF_AFTER, DomainChecks
from .flexindex import FlexIndexRoute
from .flextest import FlexTestRoute
from .results import (FlexibilityIndexResult, FlexibilityTestResult, Method, ResultStatus, SubproblemResult,
                      cap_test_value, theta_units)
from .scaling import check_scales
from .sets import SetHandle, SetKind, UncertaintySet, make_uncertainty_set

__all__ = [
    "Method",
    "SetKind",
    "SetHandle",
    "make_set",
    "add_uncertainty_set",
    "add_active_set_selection",
    "add_flexibility_test",
    "add_flexibility_index",
    "ensure_valid_big_m",
    "FlexibilityAnalysis",
    "flexibility_index",
    "flexibility_test",
    "extended_flexibility_test",
    "AUTO_PROOF_AFTER",
]

SetLike = Union[str, SetKind, UncertaintySet]


def make_set(spec: SetLike, model) -> UncertaintySet:
    """A set name — ``"box"``, ``"ellipsoid"`` (explicit Σ⁻¹, Eq. 24), ``"ldl"`` (Eq. 25–27) —
    or a set object (any :class:`UncertaintySet`), checked against the model's θm."""
    return make_uncertainty_set(spec, model.theta_m_nominal, model.covariance)


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
        self.square_solver = get_solver(square_solver, self.options)  # the analysis' tolerances too
        self._eval = None
        #: a :class:`~flexspace.formulations.domain.DomainProof` from :meth:`prove_domain`
        self.domain_proof: Optional[DomainProof] = None
        #: the analysis' parts, one per concern (each keeps its own built problem)
        self.indexer = FlexIndexRoute(self)
        self.tester = FlexTestRoute(self)
        self.domains = DomainChecks(self)
        self.certifier = Certifier(self)

    def _check_problem_class(self) -> None:
        """An LP/MILP solver only for a model that declares itself piecewise linear (e.g. a tree
        surrogate, ``problem_class == "milp"``) and a linear set (:attr:`UncertaintySet.is_linear`)."""
        if self.solver.spec.kind not in ("lp", "milp"):
            return
        linear = getattr(self.model, "problem_class", "nlp") in ("lp", "milp")
        if not linear or not self.uset.is_linear:
            why = "the model is nonlinear" if not linear else f"the {self.set_kind} set is not linear"
            raise ValidationError(f"solver {self.solver.name!r} solves LP/MILP only and {why}: use 'ipopt' "
                                  "(local), 'maingo' or 'scip' (global)")

    @property
    def squared(self) -> bool:
        return bool(self.uset.convex_in_delta_squared)

    def size_of(self, delta: float) -> float:
        """δ -> the index problem's size variable (δ² for ellipsoids)."""
        return delta * delta if self.squared else delta

    def delta_of(self, size: Optional[float]) -> Optional[float]:
        if size is None:
            return None
        return math.sqrt(max(size, 0.0)) if self.squared else size

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
        return self.pyomo_g(theta_p, self.model.theta_m_nominal[None, :])[0]

    def pyomo_g(self, theta_p, theta_m) -> np.ndarray:
        """g(θp, θm) for each row of ``theta_m`` by square Pyomo solves (NaN rows: no solution),
        on one instance built once and re-solved per point."""
        if self._eval is None:
            self._eval = self.model.instance()
        return self.model.evaluate_pyomo(theta_p, theta_m, self.square_solver, instance=self._eval)

    @property
    def model_has_controls(self) -> bool:
        return bool(getattr(self.model, "n_z", 0))

    def close(self) -> None:
        """End the solver guard children this analysis holds (done also when it is garbage-
        collected); the analysis stays usable and starts new ones on its next solve.  Also a
        context manager: ``with FlexibilityAnalysis(...) as fa: ...``."""
        polisher = getattr(self.indexer, "_polisher", None)  # Ipopt, guarded: a child of its own
        for solver in {id(s): s for s in (self.solver, self.square_solver, polisher) if s is not None}.values():
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

    def _initialise(self, prob: Problem, theta_p, solver=None) -> SolveResult:
        """Square solve at (θp, θ̄m) to initialise the states (local solvers need it); with
        ``solver``, the same solve by that solver (the global solvers' probe, :meth:`prepare`)."""
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

    def new_problem(self, kind: str, build) -> Problem:
        """A fresh instance; ``build(prob)`` declares the set sizes and set blocks (keeping the
        handles on ``prob``); θm bounded by set(δ_max), states bounded at the nominal θp."""
        inst = self.model.instance()
        prob = Problem(inst, kind)
        build(prob)
        prob.set_m.bound_to(self.delta_max)
        inst.set_theta(self.model.theta_p_nominal, None)
        inst.bound_states()
        check_global_bounds(inst, self.solver)
        return prob

    def with_domain(self, prob: Problem) -> Problem:
        """The domain checks (not for models that declare a solution everywhere)."""
        if not self.model.domain_everywhere:
            prob.m.dom = pyo.Block()
            prob.dom = add_domain_checks(prob.m.dom, prob.inst)
        return prob

    # ------------------------------------------------------------------ the questions
    def index(self, theta_p=None, method: str = "enumeration") -> FlexibilityIndexResult:
        """Flexibility index δm at fixed θp (Eq. 16–23 by enumeration, Eq. 8–15 as MINLP):
        :meth:`FlexIndexRoute.run <flexspace.formulations.flexindex.FlexIndexRoute.run>` (a model with
        controls: :meth:`recourse`)."""
        if self.model_has_controls:
            return self.recourse().index(theta_p, method=method)
        return self.indexer.run(theta_p, method)

    def test(self, theta_p=None, delta: Optional[float] = None, confidence: Optional[float] = None,
             method: str = "enumeration", window: Optional[float] = None) -> FlexibilityTestResult:
        """Flexibility test χ at fixed θp over θm ∈ set(δ) (Eq. 1–7); ``delta`` or ``confidence``:
        :meth:`FlexTestRoute.run <flexspace.formulations.flextest.FlexTestRoute.run>`."""
        if self.model_has_controls:
            return self.recourse().test(theta_p, delta=delta, confidence=confidence, method=method)
        return self.tester.run(theta_p, delta, confidence, method, window)

    def extended_test(self, delta_p: float, theta_p_nominal=None, delta_p_minus=None, delta_p_plus=None,
                      delta_m: Optional[float] = None, confidence: Optional[float] = None,
                      method: str = "enumeration", window: Optional[float] = None) -> FlexibilityTestResult:
        """Extended flexibility test over (θp, θm) (Eq. 28–36):
        :meth:`FlexTestRoute.run_extended <flexspace.formulations.flextest.FlexTestRoute.run_extended>`."""
        if self.model_has_controls:  # ``window`` not handed on: measured on the HX network's Algorithm 3
            # (box, p_c 0.02, SCIP), the recourse bracket stopped at the sign took 51 solves / 98 s against
            # 32 solves / 48 s solved to the gap, for the same rectangle
            return self.recourse().extended_test(delta_p, theta_p_nominal, delta_p_minus, delta_p_plus, delta_m,
                                                 confidence, method)
        return self.tester.run_extended(delta_p, theta_p_nominal, delta_p_minus, delta_p_plus, delta_m, confidence,
                                        method, window)

    def prove_domain(self, theta_p_lower=None, theta_p_upper=None, delta: Optional[float] = None,
                     time_limit: float = 10.0) -> Optional[DomainProof]:
        """Prove the model's domain checks once over a θp box × set(``delta``):
        :meth:`DomainChecks.prove <flexspace.formulations.domain_checks.DomainChecks.prove>`."""
        return self.domains.prove(theta_p_lower, theta_p_upper, delta, time_limit)

    def use_domain_box(self, theta_p_lower=None, theta_p_upper=None, delta: Optional[float] = None) -> None:
        """Declare the θp box and set size this analysis will be asked about:
        :meth:`DomainChecks.use_box <flexspace.formulations.domain_checks.DomainChecks.use_box>`."""
        self.domains.use_box(theta_p_lower, theta_p_upper, delta)

    @property
    def convex_proven(self) -> bool:
        """Every CQA and every equation or inequality of the model is linear in (θ, x)
        (:attr:`Certifier.convex_proven <flexspace.formulations.certify.Certifier.convex_proven>`)."""
        return self.certifier.convex_proven

    # ------------------------------------------------------------------ shared steps
    def begin(self, result_cls, method, theta_p, **fields):
        """The prologue shared by :meth:`index`, :meth:`test` and :meth:`extended_test`:
        the clock started, ``method`` checked, θp resolved and the result begun with the
        analysis' provenance.  Returns ``(t0, result, theta_p)``."""
        self.domains.auto_prove()
        t0 = time.perf_counter()
        method = check_method(method, self.solver)
        theta_p = self.theta_p_of(theta_p)
        res = result_cls(status=ResultStatus.OK, set_kind=self.set_kind, solver=self.solver.name,
                         is_global=self.solver.is_global, method=method,
                         theta_p=theta_dict(self.model.theta_p_names, theta_p),
                         _theta_m_names=list(self.model.theta_m_names), units=theta_units(self.model), **fields)
        return t0, res, theta_p

    def prepare(self, prob, res, t0, theta_p, initialise: bool, theta_m):
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

    def nominal_check(self, res, theta_p) -> bool:
        """g at (θp, θ̄m): False (result final) when it cannot be evaluated or is violated."""
        g_nom = self.nominal_g(theta_p)
        res.nominal_g = theta_dict(self.model.g_names, g_nom)
        if not np.all(np.isfinite(g_nom)):
            res.status = ResultStatus.FAILED
            res.diagnostics = "the model could not be evaluated at the nominal theta_m (no solution found there)"
            return False
        if np.any(g_nom > 0):
            k = int(np.argmax(g_nom))
            res.status = ResultStatus.NOMINAL_INFEASIBLE
            res.delta, res.probability = 0.0, 0.0
            res.worst_constraint = self.model.g_names[k]
            res.worst_theta_m = theta_dict(self.model.theta_m_names, self.model.theta_m_nominal)
            res.certified = True
            res.certification = {"note": "nominal point infeasible: g_k(theta_p, nominal theta_m) > 0"}
            return False
        return True

    def _fail_init(self, res, init, t0, theta_p, diagnose: bool = True):
        res.status = ResultStatus.FAILED
        res.subproblems.append(SubproblemResult("nominal square solve", float("nan"), init.status,
                                                time=init.time, message=init.message))
        return self.finish(res, t0, theta_p, diagnose=diagnose)

    def finish(self, res, t0, theta_p, diagnose: bool = True):
        """The epilogue of every route.  A failed result gets IDAES's diagnostics of the model
        only where they can explain the failure: not for a time-out (its one line says it
        all, ``result.timeout``), and only the reports that found something
        (:func:`~flexspace.models.evaluation.diagnostic_findings`)."""
        cap_test_value(res, getattr(self.model, "test_cap", None))
        if res.status == ResultStatus.FAILED and self.diagnose_failures and diagnose and not res.timed_out:
            try:
                found = diagnostic_findings(self.model.diagnose(theta_p, self.model.theta_m_nominal,
                                                                solver=self.square_solver))
            except Exception as exc:  # noqa: BLE001
                found = f"(diagnostics failed: {exc})"
            if found:
                res.diagnostics = (res.diagnostics + "\n" if res.diagnostics else "") + found
        if res.status == ResultStatus.FAILED:
            res.certified = False
        res.time = time.perf_counter() - t0
        return res

    def theta_p_of(self, theta_p) -> np.ndarray:
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

    def delta_m_of(self, delta, confidence) -> float:
        if (delta is None) == (confidence is None):
            raise ValidationError("give exactly one of delta (set size) or confidence (probability p_c)")
        if confidence is not None:
            return self.uset.delta_for_confidence(confidence)
        return check_number("delta", delta, low=0)


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
