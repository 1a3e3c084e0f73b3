"""θm and Σ from data with Pyomo parmest, then the design space — case 1 (seed §3.1).

1. Synthetic experiments: case 1's closed-form steady state at the true rate constants
   (k1, k2) = (0.31051, 0.026650) on a 3 × 3 grid of θp = (R_BA, τ), measuring cA and cD
   with Gaussian noise (σ below; seeded).
2. parmest fits (k1, k2) and their covariance Σ̂ (:func:`flexspace.models.estimation.
   process_model_from_parmest`); the estimate must lie within 3 standard errors of the truth.
3. Σ̂ is checked against the sample covariance of θ̂ over ``N_REPEAT`` independent noise
   draws (each fit's own Σ̂ averaged): each variance ratio must lie in the 99 % chi-square
   interval for N_REPEAT − 1 degrees of freedom.  (Checked once with 1000 draws through
   scipy's least_squares on the closed form: ratios 0.955 and 0.995 at this noise.)
4. Monte Carlo design-space maps (Algorithm 1, seed grid 11 × 21, p_c = 0.85) of the model
   with (θ̂, Σ̂) and of the model with the true (θm, Σ): IoU and differing grid points.
   The noise was chosen so that Σ̂ is of the size of the shipped (reconstructed) Σ.

Run:  .venv/bin/python examples/parmest_case1.py  [--repeat N]   (about 2–3 min for N = 100 here)
"""
import sys
import time

import numpy as np
import pandas as pd
from scipy import stats

from flexspace.designspace import monte_carlo_map
from flexspace.models.cases import case1
from flexspace.models.estimation import estimate_theta_m, process_model_from_parmest

#: measurement noise (mol/L), chosen so that the standard errors of (k1, k2) are about the
#: shipped covariance's 11 % coefficient of variation (see the output)
NOISE = {"cA": 6e-4, "cD": 1.5e-2}
R_LEVELS, TAU_LEVELS = (4.0, 5.0, 6.0), (350.0, 450.0, 550.0)
CONFIDENCE, N_SAMPLES = 0.85, 1000
N_REPEAT = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 100


def experiments(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for R in R_LEVELS:
        for tau in TAU_LEVELS:
            cA, _, _, cD = case1.steady_state(R, tau, *case1.K_NOMINAL)
            rows.append({"R_BA": R, "tau": tau, "cA": float(cA) + rng.normal(0, NOISE["cA"]),
                         "cD": float(cD) + rng.normal(0, NOISE["cD"])})
    return pd.DataFrame(rows)


def main() -> None:
    truth = case1.model()
    data = experiments(seed=0)
    t0 = time.perf_counter()
    fitted = process_model_from_parmest(truth, data, ["cA", "cD"], measurement_std=NOISE)
    est = fitted.parameter_estimate
    print(est, f"\n  ({time.perf_counter() - t0:.1f} s)")
    z = (est.theta_m - case1.K_NOMINAL) / est.standard_errors
    print(f"true (k1, k2) = {case1.K_NOMINAL.tolist()}; (estimate - truth) / SE = {np.round(z, 2).tolist()} "
          f"-> {'within' if np.all(np.abs(z) <= 3) else 'NOT within'} 3 SE")
    print(f"Sigma_hat SPD: eigenvalues {np.linalg.eigvalsh(est.covariance).tolist()}")
    print(f"CV of the estimate: {np.round(est.standard_errors / est.theta_m, 3).tolist()} "
          f"(shipped Sigma: {np.round(np.sqrt(np.diag(case1.COVARIANCE)) / case1.K_NOMINAL, 3).tolist()})")

    t0 = time.perf_counter()
    fits = [estimate_theta_m(truth, experiments(seed=1000 + r), ["cA", "cD"], NOISE) for r in range(N_REPEAT)]
    sample_cov = np.cov(np.array([f.theta_m for f in fits]), rowvar=False)
    mean_cov = np.mean([f.covariance for f in fits], axis=0)
    lo, hi = (stats.chi2.ppf(q, N_REPEAT - 1) / (N_REPEAT - 1) for q in (0.005, 0.995))
    ratio = np.diag(sample_cov) / np.diag(mean_cov)
    corr_s = sample_cov[0, 1] / np.sqrt(sample_cov[0, 0] * sample_cov[1, 1])
    corr_m = mean_cov[0, 1] / np.sqrt(mean_cov[0, 0] * mean_cov[1, 1])
    print(f"\n{N_REPEAT} repeated fits ({time.perf_counter() - t0:.1f} s): sample covariance of theta_hat\n{sample_cov}\n"
          f"mean Sigma_hat of the fits\n{mean_cov}\nvariance ratio sample / Sigma_hat = {np.round(ratio, 3).tolist()} "
          f"(tolerance: the 99 % chi-square interval [{lo:.2f}, {hi:.2f}] for {N_REPEAT - 1} dof -> "
          f"{'inside' if np.all((ratio >= lo) & (ratio <= hi)) else 'OUTSIDE'}); correlation sample {corr_s:.3f} vs "
          f"Sigma_hat {corr_m:.3f} (sampling SE ~{(1 - corr_s ** 2) / np.sqrt(N_REPEAT):.2f})")

    t0 = time.perf_counter()
    ref = monte_carlo_map(truth, n_samples=N_SAMPLES, random_state=0).region(CONFIDENCE)
    new = monte_carlo_map(fitted, n_samples=N_SAMPLES, random_state=0).region(CONFIDENCE)
    iou = (ref & new).sum() / max((ref | new).sum(), 1)
    print(f"\nMonte Carlo maps (11 x 21, p_c = {CONFIDENCE}, {N_SAMPLES} samples, {time.perf_counter() - t0:.1f} s): "
          f"region points true {int(ref.sum())}, estimated {int(new.sum())}; IoU = {iou:.3f}; "
          f"{int((ref ^ new).sum())} grid points differ")


if __name__ == "__main__":
    main()
