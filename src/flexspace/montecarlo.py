"""Monte Carlo probability of the CQAs (design-space paper, Algorithm 1), vectorised.

:func:`monte_carlo_probability` gives P(all g_k ≤ 0) at one θp; the grid drivers of
:mod:`flexspace.designspace` build maps on it.  Samples are drawn once (common random numbers
across θp points, ``random_state``); a sample whose simulation fails (NaN) is counted
and reported, never silently dropped nor counted feasible.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .errors import ValidationError
from .validation import check_number, check_random_state

__all__ = ["MonteCarloResult", "sample_theta_m", "iter_theta_m", "max_chunk", "monte_carlo_probability"]


@dataclass
class MonteCarloResult:
    probability: float  #: feasible samples / all samples (failed samples count as infeasible)
    std_error: float  #: binomial standard error sqrt(p (1 − p) / N)
    n_samples: int
    n_failed: int  #: samples whose simulation failed
    evaluated_by: str


def sample_theta_m(model, n: int, random_state=0) -> np.ndarray:
    """N samples of θm ~ N(θ̄m, Σ) (Cholesky of Σ; reproducible through ``random_state``).
    All N are held in memory: more than fit in half the free memory is refused (the
    probability functions stream large N in chunks instead, :func:`iter_theta_m`)."""
    n = check_n_samples(n)
    _check_memory(n, model)
    return next(iter_theta_m(model, n, random_state, chunk=n))


def iter_theta_m(model, n: int, random_state=0, chunk: Optional[int] = None):
    """The same N samples as :func:`sample_theta_m`, in chunks of ``chunk`` rows (default:
    what fits in an eighth of the free memory): numpy's generator draws the same stream
    whether it is asked for N rows at once or in pieces, so results do not depend on the
    chunk size."""
    n = check_n_samples(n)
    chunk = max_chunk(model) if chunk is None else chunk
    rng = np.random.default_rng(check_random_state("random_state", random_state))
    C = np.linalg.cholesky(model.covariance)
    for start in range(0, n, chunk):
        yield model.theta_m_nominal + rng.standard_normal((min(chunk, n - start), model.n_m)) @ C.T


#: Largest sample count per θp.  Case 1's simulator evaluates ~10^7 samples/s here (the
#: Monte Carlo map of 231 points × 1000 samples takes 0.03 s, benchmarks/bench_mc_speed.py),
#: so 1e10 samples already take ~20 min per point, and their binomial standard error
#: sqrt(p(1-p)/N) ≤ 5e-6 is far below any confidence level's resolution.
MAX_SAMPLES = 10 ** 10


def check_n_samples(n_samples) -> int:
    """``n_samples`` as an int in [1, :data:`MAX_SAMPLES`]."""
    return check_number("n_samples", n_samples, integer=True, low=1, high=MAX_SAMPLES,
                        hint="samples per grid point, e.g. 1000; beyond 1e10 the standard error is < 5e-6")


def _row_bytes(model) -> int:
    return (model.n_m + len(model.g_names) + 2) * 8


def max_chunk(model) -> int:
    """Samples per chunk when N is streamed: an eighth of the free memory (at least 10,000)."""
    return max(10_000, _available_bytes() // 8 // _row_bytes(model))


def _available_bytes() -> int:
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # not POSIX: assume 4 GiB
        return 4 << 30


def _check_memory(n: int, model) -> None:
    """The samples and one evaluation of g must fit in half of the free memory."""
    need = n * _row_bytes(model)
    free = _available_bytes()
    if need > free // 2:
        raise ValidationError(
            f"n_samples={n} needs about {need / 2**30:.1f} GiB (samples of {model.n_m} parameters and "
            f"{len(model.g_names)} CQAs), more than half of the {free / 2**30:.1f} GiB free; use at most "
            f"{max(1, free // 2 // _row_bytes(model))} samples here, or monte_carlo_probability / "
            "monte_carlo_map without samples=, which stream them in chunks")


def monte_carlo_probability(model, theta_p, n_samples: int = 1000, random_state=0, samples=None,
                            solver="ipopt") -> MonteCarloResult:
    """P(all g_k(θp, θm) ≤ 0) over θm ~ N(θ̄m, Σ) at one θp (design-space paper, Algorithm 1, one grid point).

    Uses the model's vectorised simulator when it has one; otherwise one square Pyomo
    solve per sample (slow: the design-space paper's way).  A model with controls (recourse) counts a
    sample feasible when some z in bounds makes every g ≤ 0
    (:meth:`~flexspace.models.base.ProcessModel.recourse_feasibility`)."""
    if samples is None and model.simulator is not None:
        n_samples = check_n_samples(n_samples)
        if n_samples > max_chunk(model):
            return _streamed_probability(model, theta_p, n_samples, random_state)
    tm = sample_theta_m(model, n_samples, random_state) if samples is None else np.asarray(samples, float)
    if getattr(model, "n_z", 0):  # controls: feasible when some z in bounds makes every g <= 0
        ok, failed, how = model.recourse_feasibility(theta_p, tm, solver)
        p, n = float(np.mean(ok & ~failed)), tm.shape[0]
        return MonteCarloResult(p, float(np.sqrt(max(p * (1 - p), 1.0 / n) / n)), n, int(failed.sum()), how)
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


def _streamed_probability(model, theta_p, n_samples: int, random_state) -> MonteCarloResult:
    """:func:`monte_carlo_probability` with the simulator, the samples drawn and evaluated
    chunk by chunk (memory stays flat; the same samples and counts as in one piece)."""
    n_ok = n_failed = 0
    for tm in iter_theta_m(model, n_samples, random_state):
        g = model.simulate(theta_p, tm)
        failed = ~np.all(np.isfinite(g), axis=1)
        n_failed += int(failed.sum())
        n_ok += int(np.sum(~failed & np.all(np.nan_to_num(g, nan=1.0) <= 0.0, axis=1)))
    p = n_ok / n_samples
    return MonteCarloResult(p, float(np.sqrt(max(p * (1 - p), 1.0 / n_samples) / n_samples)), n_samples, n_failed,
                            "vectorised simulator (streamed in chunks)")
