"""The seed's Monte Carlo (one Pyomo square solve per sample, Ipopt) vs flexspace's vectorised
Monte Carlo, measured side by side in one run (issue 4, item 2).

    .venv/bin/python benchmarks/bench_mc_speed.py [--case case1|case2] [--subgrid 3] [--samples 40]

Prints the per-sample cost of both routes, the extrapolated full-grid time of the per-sample
route (grid × 1000 samples) and the ratio.
"""
from __future__ import annotations

import argparse
import platform
import time
from datetime import datetime, timezone

import numpy as np

from flexspace.models.cases import case1, case2
from flexspace.montecarlo import monte_carlo_probability, sample_theta_m


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", default="case1", choices=["case1", "case2"])
    ap.add_argument("--subgrid", type=int, default=3, help="per-sample Pyomo route on a k x k sub-grid")
    ap.add_argument("--samples", type=int, default=40, help="samples per sub-grid point for the Pyomo route")
    args = ap.parse_args(argv)
    case = case1 if args.case == "case1" else case2
    model = case.model()
    b = case.THETA_P_BOUNDS
    axes = [np.linspace(lo, hi, n) for (lo, hi), n in zip(b, case.GRID_SHAPE)]
    grid = np.array(np.meshgrid(*axes, indexing="ij")).reshape(2, -1).T
    n_full = 1000

    # vectorised: the whole grid, 1000 samples per point (common random numbers)
    samples = sample_theta_m(model, n_full, random_state=0)
    t0 = time.perf_counter()
    P = np.array([monte_carlo_probability(model, tp, samples=samples).probability for tp in grid])
    t_vec = time.perf_counter() - t0

    # per-sample Pyomo (the seed's way): one square Ipopt solve per sample, on a sub-grid
    sub = np.array(np.meshgrid(*[np.linspace(lo, hi, args.subgrid) for lo, hi in b], indexing="ij")).reshape(2, -1).T
    inst = model.instance()
    sm = samples[: args.samples]
    t0 = time.perf_counter()
    agree = 0
    for tp in sub:
        g_pyo = model.evaluate_pyomo(tp, sm, solver="ipopt", instance=inst)
        agree += int(np.allclose(g_pyo, model.simulate(tp, sm), rtol=1e-6, atol=1e-9, equal_nan=False))
    t_pyo = time.perf_counter() - t0
    n_pyo = len(sub) * len(sm)
    per_pyo = t_pyo / n_pyo
    per_vec = t_vec / (len(grid) * n_full)
    full_pyo = per_pyo * len(grid) * n_full

    print(f"# Monte Carlo speed, {args.case} ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{platform.processor() or platform.machine()}, Python {platform.python_version()})")
    print(f"| route | samples timed | wall time [s] | per sample [s] | full grid {len(grid)}x{n_full} [s] |")
    print("|---|---|---|---|---|")
    print(f"| per-sample Pyomo + Ipopt (seed) | {n_pyo} | {t_pyo:.2f} | {per_pyo:.2e} | {full_pyo:.0f} (extrapolated) |")
    print(f"| vectorised numpy (flexspace) | {len(grid) * n_full} | {t_vec:.3f} | {per_vec:.2e} | {t_vec:.3f} (measured) |")
    print(f"\nratio (per-sample Pyomo / vectorised): {full_pyo / t_vec:.0f}x; "
          f"sub-grid points where both routes agree to 1e-6: {agree}/{len(sub)}; "
          f"points with P >= 0.85: {int(np.sum(P >= 0.85))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
