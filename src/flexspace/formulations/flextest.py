"""The flexibility test χ at fixed θp (seed Eq. 1–7) and the extended test over a θp box
(Eq. 28–36) for one :class:`~.flexibility.FlexibilityAnalysis`; with cut-offs a test asked
only for the sign of χ stops as soon as it is decided.
"""
from __future__ import annotations

import math
from typing import List, Optional

import numpy as np
import pyomo.environ as pyo

from ..errors import ValidationError
from ..solvers import SolveResult, SolverStatus
from ..validation import check_number
from .blocks import (Problem, add_flexibility_test, add_uncertainty_set, ensure_valid_big_m, no_big_m_result,
                     ordered, restore, snapshot, theta_dict, unfixed)
from .results import FlexibilityTestResult, ResultStatus, SubproblemResult
from .sets import BoxSet




class FlexTestRoute:
    """The flexibility test and extended test of one analysis (``fa.tester``)."""

    def __init__(self, fa) -> None:
        self.fa = fa  #: the :class:`~flexspace.formulations.flexibility.FlexibilityAnalysis` served
        self._test: Optional[Problem] = None
        self._ext: Optional[Problem] = None

    def drop_extended(self) -> None:
        """Forget the built extended problem (its θp box); the next extended test builds its own."""
        self._ext = None

    def problem(self) -> Problem:
        if self._test is None:
            def build(prob):
                prob.m.delta_m = pyo.Param(mutable=True, initialize=1.0)
                prob.set_m = add_uncertainty_set(prob.m, "set_m", self.fa.uset, prob.inst.theta_m, prob.m.delta_m)

            prob = self.fa.new_problem("test", build)
            prob.m.ft = pyo.Block()
            add_flexibility_test(prob.m.ft, prob.inst.g, self.fa.big_m)
            self._test = self.fa.with_domain(prob)
        return self._test

    def run(self, theta_p=None, delta: Optional[float] = None, confidence: Optional[float] = None,
             method: str = "enumeration", window: Optional[float] = None) -> FlexibilityTestResult:
        """Flexibility test χ at fixed θp over θm ∈ set(δ) (Eq. 1–7); ``delta`` or ``confidence``.

        The θm bounds come from the requested δ (never clipped at δ_max).  Global solvers
        also check the model's domain over the set: a θm there without a solution makes
        χ = +inf (not feasible), reported as the worst constraint.  ``window``: None solves
        χ to the gap; a number asks for its sign only (see :meth:`extended_test`)."""
        if self.fa.model_has_controls:
            return self.fa.recourse().test(theta_p, delta=delta, confidence=confidence, method=method)
        t0, res, theta_p = self.fa.begin(FlexibilityTestResult, method, theta_p)
        delta = res.delta_m = self.fa.delta_m_of(delta, confidence)
        prob = self.problem()
        prob.m.delta_m.set_value(delta)
        prob.set_m.bound_to(delta)
        failed = self.fa.prepare(prob, res, t0, theta_p, not self.fa.solver.is_global, self.fa.model.theta_m_nominal)
        if failed is not None:
            return failed
        self._run_free(prob, res, prob.inst.theta_m, None,
                       None if window is None else check_number("window", window, low=0))
        if res.solved and not self.fa.solver.is_global:
            self.fa.certifier.local_test_status(res, [theta_p], delta, self.fa.certifier.n_certify())
        elif res.solved:
            res.certified = self.fa.solver.is_global
        return self.fa.finish(res, t0, theta_p)

    def _run_free(self, prob, res, free, p_free, window: Optional[float] = None) -> None:
        """Unfix ``free`` θ, run the test subproblems and the domain check, fix them again.
        Sign-only (``window`` given, cut-offs on): the domain check is skipped once a feasible
        point proved χ > 0 (it could only confirm that the test fails)."""
        with unfixed(free):
            self._run_test(prob, prob.m.ft, res.method, res, p_free, window)
            if res.solved and not (self._sign_only(window) and res.chi > 0 and res.worst_theta_m is not None):
                self.fa.domains.test_domain(prob, res)

    @property
    def _cutoffs(self) -> bool:
        return bool(self.fa.options.cutoffs)

    def _sign_only(self, window: Optional[float]) -> bool:
        """A test asked only for the sign of χ (``window`` not None) with cut-offs on."""
        return window is not None and self._cutoffs

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
            return self.fa.solver.solve(m)
        return self.fa.solver.solve(m, point_target=max(self.fa.solver.abs_gap, 1e-9), bound_target=0.0)

    def _run_test(self, prob, fblock, method, res, p_free, window: Optional[float] = None):
        """max g_k per constraint (or the MINLP); with cut-offs each solve stops at its sign and
        a proven χ > 0 ends the test (:meth:`_test_solve`; ``window``: Algorithm 3's ε_tol)."""
        m, inst = prob.m, prob.inst
        start = snapshot(m)
        targets = [(k, fblock.obj_k[k], []) for k in range(self.fa.model.n_g)] if method == "enumeration" \
            else [(None, fblock.minlp.obj, [fblock.minlp])]
        targets = ordered(self.fa.model.g_names, targets, getattr(self, "_test_first", None))
        skipped = False
        for i, (k, obj, blocks) in enumerate(targets):
            restore(m, start)
            prob.only(obj, [], blocks)
            if k is None and ensure_valid_big_m(fblock.minlp, inst.g) is None:  # valid on the requested set
                res.subproblems.append(no_big_m_result())
                continue
            r = self._test_solve(m, res.subproblems, window)
            name = self.fa.model.g_names[k] if k is not None else "minlp"
            sp = test_subproblem(name, r, obj, inst)
            res.subproblems.append(sp)
            if self._sign_only(window) and sp.theta_m is not None and sp.value > 0 and i + 1 < len(targets):
                skipped = [self.fa.model.g_names[t[0]] for t in targets[i + 1:] if t[0] is not None]
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
        if self.fa.solver.is_global:
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
        res.worst_theta_m = theta_dict(self.fa.model.theta_m_names, worst.theta_m)
        if p_free is not None:
            res.worst_theta_p = theta_dict(self.fa.model.theta_p_names, worst.theta_p)

    def run_extended(self, delta_p: float, theta_p_nominal=None, delta_p_minus=None, delta_p_plus=None,
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
        if self.fa.model_has_controls:
            return self.fa.recourse().extended_test(delta_p, theta_p_nominal, delta_p_minus, delta_p_plus, delta_m,
                                                 confidence, method)
        t0, res, center = self.fa.begin(FlexibilityTestResult, method, theta_p_nominal)
        dmin, dplus = self._p_halfwidths(delta_p_minus, delta_p_plus)
        dm = res.delta_m = self.fa.delta_m_of(delta_m, confidence)
        dp = res.delta_p = check_number("delta_p", delta_p, low=0)
        b = self.fa.model.theta_p_bounds
        if b is not None and (np.any(center < b[:, 0]) or np.any(center > b[:, 1])):
            raise ValidationError(f"theta_p_nominal {center.tolist()} is outside the theta_p bounds "
                                  f"{np.asarray(b).tolist()}; choose a point inside them")
        prob = self.extended_problem(center, dmin, dplus)
        prob.m.delta_p.set_value(dp)
        prob.m.delta_m.set_value(dm)
        prob.set_m.bound_to(dm)
        # θp: the requested box (Eq. 33), clipped to the model's theta_p_bounds (Algorithm 3's
        # rectangles are clipped the same way); never a smaller box
        prob.set_p.bound_to(dp, within=self.fa.model.theta_p_bounds)
        failed = self.fa.prepare(prob, res, t0, center, not self.fa.solver.is_global, self.fa.model.theta_m_nominal)
        if failed is not None:
            return failed
        inst = prob.inst
        window = None if window is None else check_number("window", window, low=0)
        self._run_free(prob, res, inst.theta_m + inst.theta_p, inst.theta_p, window)
        res.certified = True if (res.solved and self.fa.solver.is_global) else None
        if res.solved and not self.fa.solver.is_global:
            self.fa.certifier.local_test_status(res, box_points(center - dp * dmin, center + dp * dplus, self.fa.model),
                                     dm, 400 if self.fa.model.simulator is not None else 20)
        return self.fa.finish(res, t0, center)

    def extended_problem(self, center, dmin, dplus) -> Problem:
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
                prob.set_m = add_uncertainty_set(m, "set_m", self.fa.uset, inst.theta_m, m.delta_m)

            prob = self.fa.new_problem("extended", build)
            prob.key = key
            # θp bounds until a test sets them for its δp (θp was fixed while the states were bounded)
            prob.set_p.bound_to(10.0, within=self.fa.model.theta_p_bounds)
            prob.m.ft = pyo.Block()
            add_flexibility_test(prob.m.ft, prob.inst.g, self.fa.big_m)
            self._ext = self.fa.with_domain(prob)
        return self._ext

    def _p_halfwidths(self, dmin, dplus):
        from .sets import _as_vector

        if dmin is None or dplus is None:
            if self.fa.model.theta_p_bounds is None:
                raise ValidationError("give delta_p_minus and delta_p_plus (or theta_p_bounds on the model)")
        c = self.fa.model.theta_p_nominal
        b = self.fa.model.theta_p_bounds
        dmin = (c - b[:, 0]) if dmin is None else _as_vector("delta_p_minus", dmin, self.fa.model.n_p)
        dplus = (b[:, 1] - c) if dplus is None else _as_vector("delta_p_plus", dplus, self.fa.model.n_p)
        if np.any(dmin < 0) or np.any(dplus < 0):
            raise ValidationError("delta_p_minus/delta_p_plus must be >= 0")
        return np.asarray(dmin, float), np.asarray(dplus, float)


def box_points(lo, hi, model, n_random: int = 6) -> List[np.ndarray]:
    """θp points that sample a box: its corners (up to 16), centre and a few random points,
    clipped to the model's θp bounds."""
    import itertools

    if model.theta_p_bounds is not None:
        lo = np.maximum(lo, model.theta_p_bounds[:, 0])
        hi = np.minimum(hi, model.theta_p_bounds[:, 1])
    corners = [np.array(c, float) for c in itertools.islice(itertools.product(*zip(lo, hi)), 16)]
    rng = np.random.default_rng(0)
    return corners + [0.5 * (lo + hi)] + [lo + rng.random(len(lo)) * (hi - lo) for _ in range(n_random)]


def test_subproblem(name, r: SolveResult, obj, inst) -> SubproblemResult:
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
