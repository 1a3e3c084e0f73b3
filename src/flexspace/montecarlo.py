"""Monte Carlo probability of the CQAs (seed Algorithm 1), vectorised.

:func:`monte_carlo_probability` gives P(all g_k ≤ 0) at one θp; the grid driver of the
algorithms issue builds maps on it.  Samples are drawn once (common random numbers
across θp points, ``random_state``); a sample whose simulation fails (NaN) is counted
and reported, never silently dropped nor counted feasible.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MonteCarloResult", "sample_theta_m", "monte_carlo_probability"]


@dataclass
class MonteCarloResult:
    probability: float  #: feasible samples / all samples (failed samples count as infeasible)
    std_error: float  #: binomial standard error sqrt(p (1 − p) / N)
    n_samples: int
    n_failed: int  #: samples whose simulation failed
    evaluated_by: str


def sample_theta_m(model, n: int, random_state=0) -> np.ndarray:
    """N samples of θm ~ N(θ̄m, Σ) (Cholesky of Σ; reproducible through ``random_state``)."""
    rng = np.random.default_rng(random_state)
    C = np.linalg.cholesky(model.covariance)
    return model.theta_m_nominal + rng.standard_normal((int(n), model.n_m)) @ C.T


def monte_carlo_probability(model, theta_p, n_samples: int = 1000, random_state=0, samples=None,
                            solver="ipopt") -> MonteCarloResult:
    """P(all g_k(θp, θm) ≤ 0) over θm ~ N(θ̄m, Σ) at one θp (seed Algorithm 1, one grid point).

    Uses the model's vectorised simulator when it has one; otherwise one square Pyomo
    solve per sample (slow: the seed's way)."""
    tm = sample_theta_m(model, n_samples, random_state) if samples is None else np.asarray(samples, float)
    if model.simulator is not None:
        g = model.simulate(theta_p, tm)
        how = "vectorised simulator"
    else:
        g = model.evaluate_pyomo(theta_p, tm, solver=solver)
        how = f"per-sample Pyomo solves ({solver})"
    failed = ~np.all(np.isfinite(g), axis=1)
    ok = ~failed & np.all(np.nan_to_num(g, nan=1.0) <= 0.0, axis=1)
    n = tm.shape[0]
    p = float(np.mean(ok))
    return MonteCarloResult(p, float(np.sqrt(max(p * (1 - p), 1.0 / n) / n)), n, int(failed.sum()), how)
