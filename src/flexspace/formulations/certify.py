"""Certification by sampling, for one :class:`~.flexibility.FlexibilityAnalysis`: what status a
result's evidence supports (a local answer is never ``ok`` unless the problem is proven
convex; a global one is ``contradicted`` when sampling finds a violation).
"""
from __future__ import annotations

import math

import numpy as np

from .results import DomainStatus, FlexibilityIndexResult, ResultStatus, SCENARIO_STATEMENT, scenario_epsilon

#: Certification samples by default: with a vectorised simulator (one numpy call), and
#: without one (batched square Pyomo solves, ~1–3 s for 200 on the shipped cases).
N_CERTIFY_SIMULATOR = 2000
N_CERTIFY_PYOMO = 200

class Certifier:
    """Sampling certification and result statuses of one analysis (``fa.certifier``)."""

    def __init__(self, fa) -> None:
        self.fa = fa  #: the :class:`~flexspace.formulations.flexibility.FlexibilityAnalysis` served

    def certify_index(self, res, theta_p) -> None:
        """Decide ``certified`` and the status: sample set(δ) when asked (default: local
        solvers; global ones when sampling is cheap or the domain is not proven).  A proven
        answer (global, or a local solver on a proven convex problem) stays ``ok`` unless
        sampling contradicts it; a local answer on a problem not proven convex is never
        ``ok``: ``sampled`` (clean samples reaching the scenario level of ``certify_epsilon``
        and ``certify_beta``) or ``uncertified``."""
        exact = self.fa.solver.is_global or self.convex_proven
        domain_unproven = self.fa.solver.is_global and res.certified is None \
            and res.domain_status is DomainStatus.NOT_PROVEN
        certify = self.fa.options.certify
        if certify is None:
            # a global solver can be wrong too (measured: MAiNGO on a tanh-MLP surrogate over-stated δ by 3 %)
            certify = not self.fa.solver.is_global or self.fa.model.simulator is not None or domain_unproven
        if certify:
            self._certify(res, theta_p)
        else:
            res.certified = bool(exact) if exact else None
        if domain_unproven and not certify:
            res.certified = False
            res.certification["note"] = "the domain was not proven and sampling was switched off"
        if not exact and res.delta < self.fa.delta_max - 1e-9 and math.isfinite(res.delta):
            res.delta_upper_bound = res.delta  # the local solver's point violates at this set size
        self._status_after_sampling(res, exact)

    def _status_after_sampling(self, res, exact: bool) -> None:
        """The status a result's evidence supports (see :meth:`certify_index`)."""
        if res.certified is False:
            res.status = ResultStatus.CONTRADICTED if exact else ResultStatus.UNCERTIFIED
        elif not exact:
            eps = res.certification.get("epsilon", 1.0)
            res.status = ResultStatus.SAMPLED if res.certified and eps <= self.fa.options.certify_epsilon \
                else ResultStatus.UNCERTIFIED

    @property
    def convex_proven(self) -> bool:
        """Every CQA and every equation or inequality of the model is linear in (θ, x) and the
        set is convex (:attr:`~.sets.UncertaintySet.is_convex`, declared by the set): each
        subproblem is then convex, so a local optimum is global."""
        if getattr(self, "_convex", None) is None:
            from ..models.controls import is_linear

            self._convex = bool(self.fa.uset.is_convex) and is_linear(self.fa.model.instance(), theta_free=True)
        return self._convex

    def _certify(self, res: FlexibilityIndexResult, theta_p) -> None:
        """A-posteriori check of a region: sample set(δ) (boundary + interior), evaluate g;
        a violation or a sample without a solution (the domain) contradicts the region.

        For a global solve the sampled set is set(δ_lower_bound), the region the solver
        proved (δ itself is the incumbent, up to ``gap`` above the true index, so its
        boundary may legitimately touch a violation).  ``delta_sampled``: the largest set
        size free of every bad sample (a sampled estimate)."""
        delta = res.delta
        if self.fa.solver.is_global and res.delta_lower_bound is not None and math.isfinite(res.delta_lower_bound):
            delta = min(delta, res.delta_lower_bound)
        pts = self.fa.uset.sample(delta, self.n_certify(), np.random.default_rng(self.fa.options.random_state))
        g, how = self.sampled_g(theta_p, pts)
        failed_rows = ~np.all(np.isfinite(g), axis=1)
        # feasibility tolerance per CQA, relative to its scale at the nominal point (a boundary
        # sample sits at g = 0 up to the solver's own tolerance: measured 1.8e-6 on g ~ 15)
        g_nom = np.abs(np.array([res.nominal_g[n] for n in self.fa.model.g_names], float)) if res.nominal_g else 0.0
        tol = 1e-6 * (1.0 + g_nom)
        bad = failed_rows | np.any(np.nan_to_num(g, nan=np.inf) > tol, axis=1)
        worst = float(np.nanmax(g)) if np.any(np.isfinite(g)) else float("nan")
        res.certified = not bool(bad.any())
        if bad.any():
            res.delta_sampled = float(np.min(self.fa.uset.gauge(pts[bad]))) * (1 - 1e-9)
        res.certification = {"n_samples": int(pts.shape[0]), "delta": float(delta), "max_g": worst,
                             "failed_samples": int(failed_rows.sum()), "violating_samples": int(bad.sum()),
                             "tolerance": float(np.max(tol)), "evaluated_by": how,
                             **self._scenario(self.n_certify())}

    def n_certify(self) -> int:
        if self.fa.options.n_certify is not None:
            return int(self.fa.options.n_certify)
        return N_CERTIFY_SIMULATOR if self.fa.model.simulator is not None else N_CERTIFY_PYOMO

    def sampled_g(self, theta_p, pts):
        """g at θp for each row of ``pts`` (NaN rows: no solution), and how it was evaluated."""
        if self.fa.model.simulator is not None:
            return self.fa.model.simulate(theta_p, pts), "vectorised simulator"
        g = self.fa.pyomo_g(theta_p, pts)
        return g, f"square Pyomo solves ({self.fa.square_solver.name})"

    def _scenario(self, n: int, where: str = "") -> dict:
        """The scenario statement of ``n`` clean samples (:func:`~.results.scenario_epsilon`)."""
        eps = scenario_epsilon(n, self.fa.options.certify_beta)
        text = SCENARIO_STATEMENT.format(eps=eps, conf=1 - self.fa.options.certify_beta, n=n)
        return {"epsilon": eps, "beta": self.fa.options.certify_beta, "statement": text + where}

    def _certify_local_test(self, res, theta_ps, delta, n_per_point: int) -> None:
        """A local solver's χ ≤ 0 is not a proof: sample set(δ) at each θp; a violation or a
        sample without a solution makes the status ``uncertified`` (never feasible); clean
        samples make it ``sampled`` (the scenario statement, over the θp points checked) —
        or keep ``ok`` on a proven convex problem."""
        rng = np.random.default_rng(self.fa.options.random_state)
        n_bad = n = 0
        worst = -np.inf
        for tp in theta_ps:
            pts = self.fa.uset.sample(delta, n_per_point, rng)
            g, how = self.sampled_g(tp, pts)
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

    def local_test_status(self, res, theta_ps, delta, n_per_point: int) -> None:
        """A local solver's test: a point with χ > 0 proves infeasibility (a proven ``bound``,
        or ``ok`` on a proven convex problem); χ ≤ 0 is certified by sampling."""
        if res.chi > 0 and res.worst_theta_m is not None:
            res.chi_lower_bound = res.chi
            if not self.convex_proven:
                res.status = ResultStatus.BOUND
            return
        self._certify_local_test(res, theta_ps, delta, n_per_point)
