"""Monte Carlo probability of the CQAs (seed Algorithm 1), vectorised.

:func:`monte_carlo_probability` gives P(all g_k ≤ 0) at one θp; the grid driver of the
algorithms issue builds maps on it.  Samples are drawn once (common random numbers
across θp points, ``random_state``); a sample whose simulation fails (NaN) is counted
and reported, never silently dropped nor counted feasible.
"""
from __future__ import annotations

from dataclasses import dataclass

import os

import numpy as np

from .errors import ValidationError
from .validation import check_number, check_random_state

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
    n = check_number("n_samples", n, integer=True, low=1, hint="samples per grid point, e.g. 1000")
    _check_memory(n, model)
    rng = np.random.default_rng(check_random_state("random_state", random_state))
    C = np.linalg.cholesky(model.covariance)
    return model.theta_m_nominal + rng.standard_normal((n, model.n_m)) @ C.T


def _available_bytes() -> int:
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # not POSIX: assume 4 GiB
        return 4 << 30


def _check_memory(n: int, model) -> None:
    """The samples and one evaluation of g must fit in half of the free memory."""
    need = n * (model.n_m + len(model.g_names) + 2) * 8
    free = _available_bytes()
    if need > free // 2:
        raise ValidationError(
            f"n_samples={n} needs about {need / 2**30:.1f} GiB (samples of {model.n_m} parameters and "
            f"{len(model.g_names)} CQAs), more than half of the {free / 2**30:.1f} GiB free; use at most "
            f"{max(1, free // 2 // ((model.n_m + len(model.g_names) + 2) * 8))} samples, or average several maps "
            "run with different random_state values")


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
