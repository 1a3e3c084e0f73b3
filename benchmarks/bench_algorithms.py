"""Speed of the three design-space algorithms against the targets of issue 3.

    .venv/bin/python benchmarks/bench_algorithms.py            # the four acceptance timings
    .venv/bin/python benchmarks/bench_algorithms.py --extra    # + case 2 global maps / region (slow)

Prints one table row per measurement: wall-clock time (best of ``--repeat`` for the fast
ones), the target, and what the run produced (point statuses, region size), so a fast
but wrong run is visible.  Timings on a shared 2-core machine are noisy: rerun when quiet.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def _best(fn, repeat):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--extra", action="store_true", help="also case 2 Algorithm 2 (SCIP box) and Algorithm 3")
    args = ap.parse_args(argv)

    from flexspace.designspace import flexibility_index_map, flexibility_test_region, monte_carlo_map
    from flexspace.models.cases import case1, case2

    m1, m2 = case1.model(), case2.model()
    rows = []

    def add(name, t, target, result):
        ok = "" if target is None else ("PASS" if t < target else "FAIL")
        rows.append((name, t, target, ok, result))
        print(f"  measured: {name}: {t:.3f} s", flush=True)

    t, mc1 = _best(lambda: monte_carlo_map(m1, n_samples=1000, progress=False), args.repeat)
    add("case1 MC map 11x21, 1000 samples (Alg 1)", t, 0.5,
        f"{mc1.status_counts}, {int(mc1.region(0.85).sum())} pts >= 0.85, {int(mc1.table.n_failed.sum())} failed samples")
    t, mc2 = _best(lambda: monte_carlo_map(m2, n_samples=1000, progress=False), args.repeat)
    add("case2 MC map 21x11, 1000 samples (Alg 1)", t, 10.0,
        f"{mc2.status_counts}, {int(mc2.region(0.85).sum())} pts >= 0.85, {int(mc2.table.n_failed.sum())} failed samples")
    t, fi1 = _best(lambda: flexibility_index_map(m1, uncertainty_set="ellipsoid", solver="maingo", workers=2,
                                                 progress=False), 1)
    add("case1 Alg 2 map 11x21, MAiNGO ellipsoid, 2 workers", t, 15.0,
        f"{fi1.status_counts}, {int(fi1.region(0.85).sum())} pts >= 0.85, global={bool(fi1.table['global'].all())}")
    t, r1 = _best(lambda: flexibility_test_region(m1, 0.85, uncertainty_set="ellipsoid", solver="scip"), args.repeat)
    add("case1 Alg 3 bisection, SCIP ellipsoid, p_c 0.85", t, 2.0,
        f"delta_p={r1.delta_p:.5f}, chi={r1.rectangle.chi:.2e}, {len(r1.iterations)} tests, "
        f"converged={r1.rectangle.converged}")
    if args.extra:
        t, r1b = _best(lambda: flexibility_test_region(m1, 0.85, uncertainty_set="ellipsoid", solver="scip",
                                                       step="illinois"), args.repeat)
        add("case1 Alg 3 Illinois steps, SCIP ellipsoid", t, None,
            f"delta_p={r1b.delta_p:.5f}, {len(r1b.iterations)} tests")
        t, fi1s = _best(lambda: flexibility_index_map(m1, uncertainty_set="ellipsoid", solver="maingo",
                                                      progress=False), 1)
        add("case1 Alg 2 map 11x21, MAiNGO ellipsoid, serial", t, None, f"{fi1s.status_counts}")
        t, fi2 = _best(lambda: flexibility_index_map(m2, uncertainty_set="box", solver="scip", workers=2,
                                                     progress=False), 1)
        add("case2 Alg 2 map 21x11, SCIP box, 2 workers", t, None,
            f"{fi2.status_counts}, {int(fi2.region(0.85).sum())} pts >= 0.85")
        t, r2 = _best(lambda: flexibility_test_region(m2, 0.85, (14.0, 1200.0), "box", "scip", time_limit=30), 1)
        add("case2 Alg 3 bisection, SCIP box, centre (14, 1200)", t, None,
            f"delta_p={r2.delta_p:.5f}, {len(r2.iterations)} tests, failed tests={r2.n_failed}")

    print(f"\nflexspace design-space benchmarks ({platform.node()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}; best of {args.repeat} where cheap)")
    w = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{w}}  {'time [s]':>9}  {'target':>8}  {'':4}  result")
    print("-" * (w + 40))
    for name, t, target, ok, res in rows:
        tg = f"< {target:g}" if target is not None else "-"
        print(f"{name:<{w}}  {t:>9.3f}  {tg:>8}  {ok:4}  {res}")


if __name__ == "__main__":
    main()
