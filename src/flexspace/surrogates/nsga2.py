"""Design by multi-objective optimisation with NSGA-II (pymoo) — crystallization paper, Step 9, Figs. 7–8.

The pymoo :class:`~pymoo.core.problem.Problem` definition (:class:`SurrogateDesignProblem`)
is kept separate from the algorithm (:func:`run_nsga2`).  The problem is generic: a
mapping from decision variables to model features, a vectorised objective function
(to be minimised; negate what is maximised) and inequality constraints ``G ≤ 0``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from pymoo.core.problem import Problem


class SurrogateDesignProblem(Problem):
    """Vectorised design problem ``min F(features(x))  s.t.  G(x) ≤ 0,  xl ≤ x ≤ xu``.

    Parameters
    ----------
    to_features : callable ``(n, n_var) → (n, n_features)``
    objectives : callable ``(n, n_features) → (n, n_obj)``, all minimised
    constraints : callable ``(n, n_var) → (n, n_ieq)`` or None
    xl, xu : decision-variable bounds
    n_obj : number of objectives
    """

    def __init__(self, to_features: Callable, objectives: Callable, constraints: Callable | None,
                 xl, xu, n_obj: int = 2, n_ieq_constr: int = 0):
        self.to_features = to_features
        self.objectives = objectives
        self.constraints = constraints
        super().__init__(n_var=len(xl), n_obj=n_obj, n_ieq_constr=n_ieq_constr,
                         xl=np.asarray(xl, float), xu=np.asarray(xu, float))

    def _evaluate(self, x, out, *args, **kwargs):
        feats = self.to_features(x)
        out["F"] = np.asarray(self.objectives(feats), dtype=float)
        if self.constraints is not None:
            out["G"] = np.asarray(self.constraints(x), dtype=float)


def run_nsga2(problem: Problem, pop_size: int = 40, n_gen: int = 40, random_state: int = 0, sampling=None):
    """Solve ``problem`` with NSGA-II; returns ``(X, F, G)`` of the final non-dominated set
    (feasible points only when any exist).  ``sampling``: optional initial population
    (array ``(pop_size, n_var)``), e.g. feasible profiles."""
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.optimize import minimize

    algo = NSGA2(pop_size=pop_size) if sampling is None else NSGA2(pop_size=pop_size, sampling=np.asarray(sampling))
    res = minimize(problem, algo, ("n_gen", n_gen), seed=int(random_state), verbose=False)
    X, F = res.X, res.F
    if X is None:  # no feasible point: return the least-infeasible population members
        pop = res.pop
        cv = pop.get("CV").ravel()
        keep = np.argsort(cv)[: max(1, pop_size // 4)]
        return pop.get("X")[keep], pop.get("F")[keep], pop.get("G")[keep]
    X, F = np.atleast_2d(X), np.atleast_2d(F)
    G = problem.evaluate(X, return_values_of=["G"]) if problem.n_ieq_constr else np.zeros((len(X), 0))
    return X, F, np.atleast_2d(G)


def knee_point(F) -> int:
    """Index of the point of a 2-objective front closest to the utopia point after
    min–max normalisation (used to pick the design to validate, crystallization paper, Fig. 7 circle)."""
    F = np.atleast_2d(np.asarray(F, float))
    span = np.ptp(F, axis=0)
    Fn = (F - F.min(axis=0)) / np.where(span > 0, span, 1.0)
    return int(np.argmin(np.linalg.norm(Fn, axis=1)))
