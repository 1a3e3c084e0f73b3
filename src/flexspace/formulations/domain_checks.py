"""The model's domain over an uncertainty set, for one :class:`~.flexibility.FlexibilityAnalysis`:
per point (global solves that lower δ, or make χ = +inf, where a θ has no solution) or
once over a θp box (:class:`~.domain.DomainProof`, bought when the per-point checks cost
more than :data:`AUTO_PROOF_AFTER` seconds).
"""
from __future__ import annotations

import time
from typing import Optional

import numpy as np
import pyomo.environ as pyo

from ..errors import ValidationError
from ..solvers import SolverStatus, get_solver
from ..validation import check_number
from .blocks import restore, snapshot, theta_dict, unfixed
from .domain import DomainProof, domain_subproblems, widened_box
from .results import DomainStatus, ResultStatus, SubproblemResult

#: Seconds of per-point domain solves after which :meth:`DomainChecks.use_box` (the
#: analysis' ``use_domain_box``) proves the domain once over the box instead.
AUTO_PROOF_AFTER = 1.0

class DomainChecks:
    """The domain proofs and checks of one analysis (``fa.domains``)."""

    def __init__(self, fa) -> None:
        self.fa = fa  #: the :class:`~flexspace.formulations.flexibility.FlexibilityAnalysis` served
        self._auto: Optional[dict] = None  # use_box's bookkeeping

    def prove(self, theta_p_lower=None, theta_p_upper=None, delta: Optional[float] = None,
                     time_limit: float = 10.0) -> Optional[DomainProof]:
        """Prove the model's domain checks once over a θp box × set(``delta``) (global
        solvers; ``delta`` default: δ_max, what a map's index needs; Algorithm 3 passes δm).

        Every later :meth:`index`, :meth:`test` or :meth:`extended_test` whose θp (box) and
        set lie inside skips the checks proven here (:class:`~.domain.DomainProof`: the
        same global proof, over a superset).  Default box: the model's ``theta_p_bounds``.
        Maps and Algorithm 3 call it once per process: measured on case 1 (full form,
        MAiNGO) the 9 checks take ~1 s over the whole box, against 9 solves at every point.
        ``time_limit`` caps each check (seconds); an unproven check stays per point.
        Returns the proof (also kept as ``self.fa.domain_proof``), or None when there is
        nothing to prove (no states and no model inequalities, ``domain_everywhere``) or
        the solver is local."""
        lower, upper = self._box_arg("prove_domain", theta_p_lower, theta_p_upper)
        if not self.fa.solver.is_global or self.fa.model.domain_everywhere or self.fa.model_has_controls:
            return None
        delta = self.fa.delta_max if delta is None else check_number("delta", delta, low=0)
        t0 = time.perf_counter()
        lo, hi = widened_box(lower, upper)
        c, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
        prob = self.fa.tester.extended_problem(c, half, half)
        if not prob.inst.state_vars() and not prob.inst.domain:
            return None
        prob.m.delta_p.set_value(1.0)
        prob.m.delta_m.set_value(delta)
        prob.set_m.bound_to(delta)
        prob.set_p.bound_to(1.0)
        prob.inst.set_theta(c, self.fa.model.theta_m_nominal)
        prob.inst.bound_states()
        box_lo = np.array([v.lb for v in prob.inst.theta_p], float)
        box_hi = np.array([v.ub for v in prob.inst.theta_p], float)
        solver = get_solver(self.fa.solver, self.fa.options.replace(time_limit=min(self.fa.options.time_limit,
                                                                                  float(time_limit))))
        with unfixed(prob.inst.theta_m + prob.inst.theta_p):
            proven, unproven = prove_over_box(prob, solver)
        self.fa.tester.drop_extended()  # the next extended test builds its own box
        self.fa.domain_proof = DomainProof(np.maximum(box_lo, lo), np.minimum(box_hi, hi), delta, proven,
                                        unproven, time.perf_counter() - t0)
        return self.fa.domain_proof

    def use_box(self, theta_p_lower=None, theta_p_upper=None, delta: Optional[float] = None) -> None:
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
        if not self.fa.solver.is_global or self.fa.model.domain_everywhere or self.fa.model_has_controls:
            self._auto = None
            return
        self._auto = {"box": (lower, upper, delta), "spent": 0.0, "next": AUTO_PROOF_AFTER, "due": False}

    def _box_arg(self, what: str, theta_p_lower, theta_p_upper):
        """A θp box argument, checked: (lower, upper); default the model's ``theta_p_bounds``."""
        b = None if self.fa.model.theta_p_bounds is None else np.asarray(self.fa.model.theta_p_bounds, float)
        if (theta_p_lower is None or theta_p_upper is None) and b is None:
            raise ValidationError(f"{what} needs theta_p_lower and theta_p_upper (the model has no theta_p_bounds)")
        lower = self.fa.theta_p_of(b[:, 0] if theta_p_lower is None else theta_p_lower)
        upper = self.fa.theta_p_of(b[:, 1] if theta_p_upper is None else theta_p_upper)
        if np.any(upper < lower):
            raise ValidationError(f"{what}: theta_p_upper {upper.tolist()} is below theta_p_lower "
                                  f"{lower.tolist()} in some coordinate")
        return lower, upper

    def add_cost(self, seconds: float) -> None:
        """Seconds of per-point domain work just spent: counted towards :meth:`use_domain_box`."""
        a = getattr(self, "_auto", None)
        if a is None:
            return
        a["spent"] += seconds
        a["due"] = a["due"] or a["spent"] >= a["next"]

    def auto_prove(self) -> None:
        """At the start of a call (never in the middle of one): the proof that became due."""
        a = getattr(self, "_auto", None)
        if a is None or not a["due"]:
            return
        a["due"], a["next"] = False, 2.0 * a["spent"]
        lower, upper, delta = a["box"]
        # its own budget (the analysis' time limit per check), never the time the point checks
        # happened to cost: a fast machine must not get a weaker proof
        proof = self.fa.prove_domain(lower, upper, delta, time_limit=float(self.fa.options.time_limit))
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
        if self.fa.domain_proof is None or not todo:
            return todo, []
        return self.fa.domain_proof.split(todo, *self._theta_p_box(prob), delta)

    def _proven_entirely(self, prob, delta: float) -> bool:
        """:attr:`domain_proof` proved every check over a box and set containing this
        problem's (no per-point work, not even interval arithmetic)."""
        p = self.fa.domain_proof
        return p is not None and p.complete and self.fa.solver.is_global and p.covers(*self._theta_p_box(prob), delta)

    def local_search(self, prob, res, theta_p) -> None:
        """Local solvers: sampling found θm without a solution; search the domain's edge with
        local solves (:meth:`index_domain`), lower δ to it and certify again.  Only done then:
        the search costs seconds on larger models, and sampling decides either way."""
        inst = prob.inst
        res.status, res.certified, res.delta_sampled = ResultStatus.OK, None, None
        inst.set_theta(self.fa.theta_p_of(theta_p), None)
        with unfixed(inst.theta_m):
            self.index_domain(prob, res)
        if self.fa.indexer.combine(res):
            self.fa.certifier.certify_index(res, theta_p)

    def index_domain(self, prob, res) -> None:
        """The index's domain checks (:meth:`_index_domain_checks`), their time counted."""
        self._timed(self._index_domain_checks, prob, res)

    def _timed(self, check, prob, res) -> None:
        """``check(prob, res)``, its seconds counted towards :meth:`use_box`'s proof."""
        t0 = time.perf_counter()
        try:
            check(prob, res)
        finally:
            self.add_cost(time.perf_counter() - t0)

    def _index_domain_checks(self, prob, res) -> None:
        """Prove that set(δ) lies in the model's domain, or lower δ to where it leaves it
        (global solvers; :mod:`flexspace.formulations.domain`)."""
        m, inst = prob.m, prob.inst
        if (not inst.state_vars() and not inst.domain) or self.fa.model.domain_everywhere:
            res.note_domain(*_declared(inst.state_vars(), "explicit model (no states, no inequalities): every "
                                                           "theta_m has a solution"))
            return
        if self._proven_entirely(prob, res.delta):
            res.note_domain(DomainStatus.PROVEN, f"proven up to delta: {self.fa.domain_proof.summary()}")
            return
        size_ub = self.fa.size_of(res.delta) * (1 + 1e-9) + 1e-12
        old = m.delta.ub
        m.delta.setub(min(size_ub, old))
        prob.set_m.bound_to(self.fa.delta_of(m.delta.ub))
        try:
            todo = domain_subproblems(prob.dom, inst)
            if todo is None:
                res.note_domain(DomainStatus.NOT_PROVEN, f"not proven ({prob.dom.why}): certified by sampling")
                res.certified = None
                return
            todo, once = self._proven_once(prob, todo, res.delta) if self.fa.solver.is_global else (todo, [])
            start = snapshot(m)
            for name, cons, blocks, _ in todo:
                restore(m, start)
                m.delta.set_value(0.0)
                prob.only(m.fx.obj, cons, blocks)
                r = self.fa.solver.solve(m)
                if not self.fa.solver.is_global and not r.status.ok:
                    continue  # local: nothing found (not a proof; the certification samples decide)
                res.subproblems.append(self.fa.indexer.subproblem_result(prob, name, r))
            n_int = len(prob.dom.names) + (prob.dom.jac is not None) - len(todo) - len(once)
            how = "global solves" if self.fa.solver.is_global else "local solves (not a proof: sampled)"
            res.note_domain(DomainStatus.PROVEN if self.fa.solver.is_global else DomainStatus.SEARCHED,
                            f"{'proven' if self.fa.solver.is_global else 'searched'} up to delta: {n_int} check(s) by "
                            f"interval arithmetic, {len(todo)} by {how}{once_note(once)} (a state bound or model "
                            "inequality reached, or a singular Jacobian, bounds delta)")
        finally:
            m.delta.setub(old)
            prob.set_m.bound_to(self.fa.delta_max)

    def test_domain(self, prob, res) -> None:
        """The test's domain checks (:meth:`_test_domain_checks`), their time counted."""
        self._timed(self._test_domain_checks, prob, res)

    def _test_domain_checks(self, prob, res) -> None:
        """Global solvers: is there a θ in the tested set without a solution (a state bound or
        model inequality reached, or a singular Jacobian)?  Yes: χ = +inf; a failed check:
        status failed; not provable: χ's proof does not cover the domain (status failed)."""
        if not self.fa.solver.is_global:
            res.note_domain(DomainStatus.NOT_CHECKED, "not checked (local solver)")
            return
        if (not prob.inst.state_vars() and not prob.inst.domain) or self.fa.model.domain_everywhere:
            res.note_domain(*_declared(prob.inst.state_vars(), "explicit model (no states, no inequalities)"))
            return
        if self._proven_entirely(prob, float(pyo.value(prob.m.delta_m))):
            res.note_domain(DomainStatus.PROVEN, f"proven: {self.fa.domain_proof.summary()}")
            return
        todo = domain_subproblems(prob.dom, prob.inst)
        if todo is None:
            res.status = ResultStatus.FAILED
            res.note_domain(DomainStatus.NOT_PROVEN, f"not provable ({prob.dom.why})")
            return
        todo, once = self._proven_once(prob, todo, float(pyo.value(prob.m.delta_m)))
        m = prob.m
        start = snapshot(m)
        for name, cons, blocks, objective in todo:
            restore(m, start)
            prob.only(objective, cons, blocks)
            r = self.fa.solver.solve(m)
            if r.status.ok:  # a point of the set where the solution ends: not feasible
                res.subproblems.append(SubproblemResult(name, float("inf"), r.status, time=r.time,
                                                        theta_m=[float(v.value) for v in prob.inst.theta_m],
                                                        message="a theta in the set reaches the domain's edge"))
                res.chi, res.chi_upper_bound, res.worst_constraint = float("inf"), float("inf"), name
                res.worst_theta_m = theta_dict(self.fa.model.theta_m_names, res.subproblems[-1].theta_m)
                res.note_domain(DomainStatus.LEFT, f"left: {name}")
                return
            if r.status != SolverStatus.INFEASIBLE:
                res.subproblems.append(SubproblemResult(name, float("nan"), r.status, time=r.time, message=r.message))
                res.status = ResultStatus.FAILED
                return
        n_int = len(prob.dom.names) + (prob.dom.jac is not None) - len(todo) - len(once)
        res.note_domain(DomainStatus.PROVEN, f"proven: {n_int} check(s) by interval arithmetic, {len(todo)} by global "
                                             f"solves{once_note(once)}")


def prove_over_box(prob, solver) -> tuple:
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
    start = snapshot(prob.m)
    for name, cons, blocks, objective in todo:
        restore(prob.m, start)
        prob.only(objective, cons, blocks)
        r = solver.solve(prob.m)
        if r.status == SolverStatus.INFEASIBLE and solver.is_global:
            proven.append(name)
        else:
            unproven[name] = ("a point of the box reaches the domain's edge" if r.status.ok
                              else f"{r.status.value}: {r.message[:120]}")
    return proven, unproven


def once_note(once) -> str:
    """The domain-report part for checks proven once over a θp box (:meth:`FlexibilityAnalysis.prove_domain`)."""
    return f", {len(once)} by global solves over the whole theta_p box (prove_domain)" if once else ""


def _declared(has_states, explicit_text: str) -> tuple:
    """The domain of a model that needs no check: declared by it, or explicit (no states)."""
    if has_states:
        return DomainStatus.DECLARED, "declared by the model (domain_everywhere=True)"
    return DomainStatus.EXPLICIT, explicit_text
