"""Timing and acceptance figures of the crystallization digital twin (issue 5).

    python benchmarks/crystallization_bench.py            # lab timings, mass balance, sweep
    python benchmarks/crystallization_bench.py --full     # + full `run_workflow` wall time
    python benchmarks/crystallization_bench.py --quick    # + reduced `run_workflow` wall time

Prints tables; asserts nothing (speed targets: one batch < 0.5 s, full run < 10 min).
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import pandas as pd

from flexspace.crystallization import InSilicoLab
from flexspace.crystallization.doe import random_profile, thermocycle_profile


def lab_timings(n_per_type: int = 10, random_state: int = 0) -> pd.DataFrame:
    lab = InSilicoLab()
    lab.simulate(random_profile(1, np.random.default_rng(0)))  # warm-up
    rng = np.random.default_rng(random_state)
    rows = []
    for k, label in ((1, "linear"), (2, "cool+heat"), (3, "1 cycle"), (5, "2 cycles"), (7, "3 cycles"), (9, "4 cycles")):
        ts, mb, steps, bt = [], [], [], []
        for _ in range(n_per_type):
            x = random_profile(k, rng)
            t = time.perf_counter()
            r = lab.simulate(x)
            ts.append(time.perf_counter() - t)
            mb.append(r.mass_balance_error)
            steps.append(r.n_steps)
            bt.append(r.batch_time_min)
        rows.append({"profile": label, "runs": n_per_type, "mean_s": np.mean(ts), "max_s": np.max(ts),
                     "mean_steps": np.mean(steps), "mean_batch_h": np.mean(bt) / 60, "max_mass_balance_err": np.max(mb)})
    # worst case in Table 2: 4 cycles at the slowest cooling rate
    x = thermocycle_profile(55.2, 0.05, 0.05, 0.5, 1.0, 4, amplitude=15.0)
    t = time.perf_counter()
    r = lab.simulate(x)
    rows.append({"profile": "4 cycles, C=0.05 (slowest)", "runs": 1, "mean_s": time.perf_counter() - t,
                 "max_s": time.perf_counter() - t, "mean_steps": r.n_steps, "mean_batch_h": r.batch_time_min / 60,
                 "max_mass_balance_err": r.mass_balance_error})
    return pd.DataFrame(rows)


def thermocycle_sweep(n_bases: int = 8, random_state: int = 1) -> pd.DataFrame:
    lab = InSilicoLab()
    rng = np.random.default_rng(random_state)
    rows = []
    for _ in range(n_bases):
        c0, sd = rng.uniform(24.8, 55.2), rng.uniform(0.05, 0.15)
        C, H, Te = rng.uniform(0.05, 0.3), rng.uniform(0.5, 1.0), rng.uniform(5, 20)
        for n in range(5):
            rows.append({"cycles": n, **lab.simulate(thermocycle_profile(c0, sd, C, H, Te, n)).cqas()})
    return pd.DataFrame(rows).groupby("cycles").agg(["mean", "std"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    pd.set_option("display.width", 160)
    print("== in-silico lab: time per batch and mass balance ==")
    print(lab_timings().to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print("\n== thermocycle sweep (8 seeded bases x 0-4 cycles, noise-free) ==")
    print(thermocycle_sweep().to_string(float_format=lambda v: f"{v:.2f}"))
    for flag, quick in (("quick", True), ("full", False)):
        if getattr(a, flag):
            from flexspace.crystallization.workflow import run_workflow

            with tempfile.TemporaryDirectory() as d:
                t = time.perf_counter()
                res = run_workflow(d, quick=quick, random_state=0, verbose=False)
                wall = time.perf_counter() - t
            print(f"\n== run_workflow({flag}) wall time: {wall:.1f} s ==")
            print(pd.Series(res.timings).to_string(float_format=lambda v: f"{v:.1f}"))
            print(res.validation.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
            print(res.erm.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
