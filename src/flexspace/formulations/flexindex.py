"""The flexibility index δm at fixed θp (seed Eq. 16–23 by enumeration, Eq. 8–15 as one MINLP)
for one :class:`~.flexibility.FlexibilityAnalysis`: one NLP per CQA g_k, restricted and
cut off by what earlier subproblems proved, global points polished by Ipopt.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import pyomo.environ as pyo

from ..solvers import SolveResult, SolverStatus, get_solver
from .blocks import (Problem, add_flexibility_index, add_uncertainty_set, ensure_valid_big_m, no_big_m_result,
                     ordered, restore, snapshot, theta_dict, unfixed)
from .results import FlexibilityIndexResult, ResultStatus, SubproblemResult

#: An index subproblem restricted to a smaller set (:meth:`FlexIndexRoute._restricted_solve`)
#: gets set(1.05 δ_known), not set(δ_known): with δ ≤ δ_known exactly, a δ_k a hair below
#: δ_known leaves the solver a sliver to find a point in (measured: MAiNGO timed out at 20 s
#: on case 2 where the unrestricted solve takes 0.1 s).
RESTRICT_MARGIN = 1.05
#: :meth:`FlexIndexRoute._polish`: Ipopt's ``tol`` and ``constr_viol_tol`` (our choice: two
#: orders below the default feas_tol 1e-8).
POLISH_TOL = 1e-10

class FlexIndexRoute:
    """The flexibility index of one analysis (``fa.indexer``); its problem is built once."""

    def __init__(self, fa) -> None:
        self.fa = fa  #: the :class:`~flexspace.formulations.flexibility.FlexibilityAnalysis` served
        self._index: Optional[Problem] = None

    def problem(self) -> Problem:
        if self._index is None:
            def build(prob):
                m = prob.m
                # the set's size variable: δ, or δ² for ellipsoids (convex formulation)
                m.delta = pyo.Var(bounds=(0.0, self.fa.size_of(self.fa.delta_max)), initialize=0.0)
                prob.set_m = add_uncertainty_set(m, "set_m", self.fa.uset, prob.inst.theta_m, m.delta, squared=self.fa.squared)

            prob = self.fa.new_problem("index", build)
            prob.m.fx = pyo.Block()
            add_flexibility_index(prob.m.fx, prob.inst.g, prob.m.delta, self.fa.big_m)
            self._index = self.fa.with_domain(prob)
        return self._index

    def run(self, theta_p=None, method: str = "enumeration") -> FlexibilityIndexResult:
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
        if self.fa.model_has_controls:
            return self.fa.recourse().index(theta_p, method=method)
        t0, res, theta_p = self.fa.begin(FlexibilityIndexResult, method, theta_p, delta_max=self.fa.delta_max)
        if not self.fa.nominal_check(res, theta_p):
            return self.fa.finish(res, t0, theta_p)
        prob = self.problem()
        inst = prob.inst
        presolve = self.fa.solver.is_global and self.fa.options.local_presolve and self.fa.square_solver.name == "ipopt"
        need_init = not self.fa.solver.is_global or self.fa.model.simulator is None or presolve
        failed = self.fa.prepare(prob, res, t0, theta_p, need_init, None)
        if failed is not None:
            return failed
        with unfixed(inst.theta_m):
            self._index_subproblems(prob, res.method, presolve, res)
            if self.combine(res) and self.fa.solver.is_global:
                self.fa.domains.index_domain(prob, res)
        if self.combine(res):
            self.fa.certifier.certify_index(res, theta_p)
            if res.status == ResultStatus.UNCERTIFIED and res.certification.get("failed_samples"):
                self.fa.domains.local_search(prob, res, theta_p)
        return self.fa.finish(res, t0, theta_p)

    def _index_subproblems(self, prob, method, presolve, res) -> None:
        """One index NLP per g_k (enumeration) or the MINLP; appends SubproblemResults."""
        m = prob.m
        start = snapshot(m)
        targets = [(k, [m.fx.violate[k]], []) for k in range(self.fa.model.n_g)] if method == "enumeration" \
            else [(None, [], [m.fx.minlp])]
        first, hint = self._sampled_first(prob) if method == "enumeration" else (None, None)
        for k, cons, blocks in ordered(self.fa.model.g_names, targets, first or getattr(self, "_index_first", None)):
            if k is not None and not self.fa.solver.is_global:
                # local solvers: the cheap capping check first (an index NLP with no violation up to
                # δ_max makes Ipopt grind for seconds before it fails; measured 1.5 s vs 0.03 s)
                capped = self._local_capping_check(prob, k, start)
                if capped is not None:
                    res.subproblems.append(capped)
                    continue
            restore(m, start)
            m.delta.set_value(0.0)
            prob.only(m.fx.obj, cons, blocks)
            if k is None and ensure_valid_big_m(m.fx.minlp, prob.inst.g) is None:
                res.subproblems.append(no_big_m_result())
                continue
            hint_k = hint if k is not None and first is not None and self.fa.model.g_names[k] == first else None
            r, size_ub = self._index_solve(prob, k, hint_k, presolve, res.subproblems, start)
            if k is not None:
                r = self._polish(prob, r)
            name = self.fa.model.g_names[k] if k is not None else "minlp"
            if k is None and r.status.ok:
                r = self._check_minlp_point(prob, r, res.nominal_g)
            sp = self.subproblem_result(prob, name, r, size_ub)
            if k is None and r.status.ok:
                ys = [pyo.value(y) for y in m.fx.minlp.y.values()]
                sp.constraint = "minlp:" + self.fa.model.g_names[int(np.argmax(ys))]
            res.subproblems.append(sp)

    def _check_minlp_point(self, prob, r: SolveResult, nominal_g) -> SolveResult:
        """The MINLP route's answer checked at its own point: θm must lie in set(δ) and violate
        some CQA (max_k g_k ≥ −tol), as every answer of Eq. 8–15 does.  The big-M selection
        of Eq. 3–5 lets a solver's integrality and feasibility tolerances (scaled by M) pass a
        point that violates nothing — measured: Gurobi ``optimal`` δ = 1.8e-6 for a true
        9.4e-6 on a badly scaled linear model, its point at g = −0.8.  Such an answer is an
        error, never a δ (``method='enumeration'`` has no big-M)."""
        inst, uset = prob.inst, self.fa.uset
        theta = np.array([[float(v.value) for v in inst.theta_m]])
        delta = self.fa.delta_of(float(pyo.value(prob.m.delta)))
        g = np.array([float(pyo.value(gk)) for gk in inst.g if not isinstance(gk, (int, float))] or [-np.inf])
        scale = 1.0 + max((abs(float(x)) for x in (nominal_g or {}).values()), default=0.0)  # g's size at θ̄m
        in_set = bool(uset.contains(theta, delta * (1 + 1e-6) + 1e-9, tol=1e-7 * (1.0 + np.abs(uset.nominal)).max())[0])
        if in_set and np.max(g) >= -1e-6 * scale:
            return r
        return SolveResult(SolverStatus.ERROR, time=r.time, message=(
            f"{r.message}; but its point {'violates no CQA (max g = %.3g)' % np.max(g) if in_set else 'is outside set(delta)'}"
            ": the big-M selection (Eq. 3-5) let tolerances through; use method='enumeration'"))

    def _index_solve(self, prob, k, hint, presolve, done, start) -> tuple:
        """One index subproblem → ``(SolveResult, the δ-size bound it was solved with or None)``.

        Global solvers, enumeration: once a δ_j is known, on set(1.05 δ_j) only (with the
        cut-off at the best δ); the first one on set(1.05 γ) when the simulator's sampled
        crossing γ is known (``hint``).  A restricted solve that fails, or (for the hint)
        finds nothing, is repeated on set(δ_max): a restriction never costs an answer."""
        m = prob.m
        best = self._best_delta(done) if k is not None and self.fa.solver.is_global else None
        restricted = None
        if best is not None:  # δ_k ≥ the best δ, or g_k is active: solve on set(1.05 best) only
            size_ub = min(self.fa.size_of(best * RESTRICT_MARGIN), m.delta.ub)
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
            restore(m, start)
            m.delta.set_value(0.0)
        r = self.fa.solver.solve(m, **self._index_targets(done, k))
        if restricted is not None:
            r.time += restricted.time
        return r, None

    def _index_targets(self, done, k) -> dict:
        """``options.cutoffs``, enumeration with a global solver: stop the index NLP of g_k as
        soon as its proven lower bound reaches the smallest δ solved so far (bound across k):
        δ_k can then not be the minimum.  The previous point's active constraint is solved first."""
        if k is None or not self.fa.options.cutoffs or not self.fa.solver.is_global:
            return {}
        found = [s.value for s in done if s.status.ok and math.isfinite(s.value)]
        if not found or min(found) >= self.fa.delta_max - 1e-9:
            return {}
        return {"bound_target": self.fa.size_of(min(found))}

    def subproblem_result(self, prob, name, r, size_ub: Optional[float] = None) -> SubproblemResult:
        """A subproblem's δ_k.  Only a *global* solver's "infeasible" proves that nothing
        violates up to the δ bound it was solved with (``size_ub``, default the problem's:
        capped at δ_max); a local solver's is a failed subproblem."""
        m, inst = prob.m, prob.inst
        if r.status.ok:
            val = self.fa.delta_of(float(pyo.value(m.delta)))
            if math.isfinite(val):
                val = max(val, 0.0)  # a solver may return δ a hair below its bound 0
            else:
                return SubproblemResult(name, float("nan"), SolverStatus.ERROR, time=r.time,
                                        message=f"the solver returned delta = {val}")
            return SubproblemResult(name, val, r.status, capped=val >= self.fa.delta_max - 1e-9, time=r.time,
                                    bound=self.fa.delta_of(r.bound), theta_m=[float(v.value) for v in inst.theta_m],
                                    message=r.message)
        if r.status == SolverStatus.TARGET and r.bound is not None:  # cut off: δ_k ≥ bound ≥ the best δ
            lb = self.fa.delta_of(r.bound)
            val = max(self.fa.delta_of(float(pyo.value(m.delta))), lb) if r.has_point else lb
            return SubproblemResult(name, val, r.status, time=r.time, bound=lb,
                                    theta_m=[float(v.value) for v in inst.theta_m] if r.has_point else None,
                                    message=f"{r.message}; cut off: delta_k >= {lb:.6g} >= the best delta so far, "
                                            "so g_k is not the active constraint")
        if r.status == SolverStatus.INFEASIBLE and self.fa.solver.is_global:
            ub = self.fa.delta_of(m.delta.ub if size_ub is None else size_ub)
            return SubproblemResult(name, ub, r.status, capped=ub >= self.fa.delta_max - 1e-9, time=r.time,
                                    message=f"proven infeasible: no violation up to delta = {ub:.6g}")
        why = ("a local solver's 'infeasible' is not a proof that nothing violates"
               if r.status == SolverStatus.INFEASIBLE else r.message)
        return SubproblemResult(name, float("nan"), r.status, time=r.time, message=why)

    def combine(self, res) -> bool:
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
        if self.fa.solver.is_global:
            lbs = [s.bound if s.bound is not None and not s.capped else s.value for s in res.subproblems]
            res.delta_lower_bound = float(max(0.0, min(min(lbs), res.delta)))
        res.probability = self.fa.uset.probability(res.delta)
        res.worst_constraint = best.constraint.replace("minlp:", "")
        if best.theta_m is not None:
            res.worst_theta_m = theta_dict(self.fa.model.theta_m_names, best.theta_m)
        return True

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
        if not self.fa.solver.is_global or self.fa.model.simulator is None:
            return None, None
        if getattr(self, "_order_samples", None) is None:
            self._order_samples = self.fa.uset.sample(self.fa.delta_max, 256, np.random.default_rng(0))
        pts, tp = self._order_samples, [v.value for v in prob.inst.theta_p]
        g = self._simulate_quietly(tp, pts)
        if g is None:
            return None, None
        gauge = self.fa.uset.gauge(pts)
        est = [np.min(gauge[g[:, k] > 0], initial=np.inf) for k in range(self.fa.model.n_g)]
        k = int(np.argmin(est))
        if not math.isfinite(est[k]):
            return None, None
        ray = pts[np.flatnonzero((g[:, k] > 0) & (gauge == est[k]))[0]] - self.fa.uset.nominal
        lo, hi = 0.0, 1.0
        for _ in range(2):  # the first t in [lo, hi] where g_k > 0 on the ray, twice refined
            t = np.linspace(lo, hi, 65)[1:]
            gk = self._simulate_quietly(tp, self.fa.uset.nominal + t[:, None] * ray)
            hit = np.flatnonzero(gk[:, k] > 0) if gk is not None else np.array([], int)
            if hit.size == 0:
                break
            lo, hi = (t[hit[0] - 1] if hit[0] > 0 else lo), t[hit[0]]
        return self.fa.model.g_names[k], self.fa.size_of(hi * est[k] * RESTRICT_MARGIN)

    def _simulate_quietly(self, theta_p, pts) -> Optional[np.ndarray]:
        """g at ``pts`` by the vectorised simulator, or None if it fails or has the wrong shape."""
        try:
            g = np.asarray(self.fa.model.simulate(theta_p, pts), float)
        except Exception:  # noqa: BLE001 - a hint only: no hint
            return None
        return g if g.shape == (pts.shape[0], self.fa.model.n_g) else None

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
            return self.fa.solver.solve(m, **targets)
        old = [(v, v.lb, v.ub) for v in [m.delta] + prob.set_m.variables]
        m.delta.setub(size_ub)
        prob.set_m.bound_to(self.fa.delta_of(size_ub))  # θm and the set's auxiliary variables
        try:
            return self.fa.solver.solve(m, **targets)
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
        rl = self.fa.square_solver.solve(m)
        if not rl.status.ok:
            return self.fa.solver.solve(m), None
        size_ub = float(pyo.value(m.delta)) * (1.0 + 1e-3) + 1e-9
        if size_ub >= m.delta.ub:
            size_ub = None
        r = self.fa.solver.solve(m) if size_ub is None else self._restricted_solve(prob, size_ub)
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
        if not (r.status.ok and self.fa.solver.is_global and self.fa.square_solver.name == "ipopt"):
            return r
        m = prob.m
        snap, size_g = snapshot(m), float(pyo.value(m.delta))
        if getattr(self, "_polisher", None) is None:  # one per analysis, not one per subproblem
            self._polisher = get_solver("ipopt", {"time_limit": self.fa.options.time_limit, "feas_tol": POLISH_TOL},
                                        solver_options={"bound_relax_factor": 0.0, "tol": POLISH_TOL})
        rl = self._polisher.solve(m)
        size_l = float(pyo.value(m.delta)) if rl.status.ok else float("nan")
        ref = size_g if r.bound is None else r.bound
        tol = self.fa.solver.gap_tolerance(size_g, ref)
        if rl.status.ok and size_l < ref - tol:  # a feasible point below the proven bound: the bound is false
            return SolveResult(SolverStatus.ERROR, time=r.time + rl.time, message=(
                f"{r.message}; but Ipopt found a point with size {size_l:.10g} below the proven bound {ref:.10g} "
                f"(tolerance {tol:.3g}): the global solver's claim is not trusted"))
        if not (rl.status.ok and abs(size_l - ref) <= tol):
            restore(m, snap)
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
        restore(m, start)
        m.delta.fix(self.fa.size_of(self.fa.delta_max))
        prob.only(m.fx.max_g[k])
        r = self.fa.solver.solve(m)
        m.delta.unfix()
        if r.status.ok and pyo.value(m.fx.max_g[k]) < 0:
            return SubproblemResult(self.fa.model.g_names[k], self.fa.delta_max, SolverStatus.INFEASIBLE, capped=True,
                                    time=r.time, theta_m=[float(v.value) for v in prob.inst.theta_m],
                                    message=f"local max of g_k over set(delta_max) = {pyo.value(m.fx.max_g[k]):.4g}"
                                            " < 0: capped")
        return None
