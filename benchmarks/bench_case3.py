"""Case 3 (issue 23): the IDAES saponification CSTR with every solver and the three algorithms.

Prints markdown tables:

1. the ellipsoid index at three θp per solver: δ, status, |δ − the independent scipy
   reference| (``tests/support/case3_reference.py``) and wall time;
2. on the case's 11 × 11 grid at p_c = 0.85: Algorithm 1 (Monte Carlo, 2000 samples per point,
   the numpy simulator), Algorithm 2 (ellipsoid index map) per solver and Algorithm 3
   (rectangle) per solver: time, points in the region, failed points, and the nesting
   Alg 3 ⊆ Alg 2 ⊆ MC counted point by point (points of the smaller region outside the larger).

A solver whose first two map points both fail is not run on the whole map (the row says so).

Run: ``.venv/bin/python benchmarks/bench_case3.py [--out FILE]`` (about 10 min on 2 cores)."""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

P_C = 0.85
POINTS = [(2.0e-3, 306.0), (1.5e-3, 310.0), (2.5e-3, 300.0)]
SOLVERS = ("ipopt", "scip", "maingo", "gurobi")


def index_table(model, solvers, lines) -> None:
    from flexspace import FlexibilityAnalysis
    from support.case3_reference import reference_index

    lines += ["| θp (V [m³], T_in [K]) | solver | δ | status | \\|δ − scipy\\| | time [s] |", "|---|---|---|---|---|---|"]
    for tp in POINTS:
        ref = reference_index(tp)
        for s in solvers:
            t0 = time.perf_counter()
            r = FlexibilityAnalysis(model, "ellipsoid", s, {"gap": 1e-9, "abs_gap": 1e-9},
                                    diagnose_failures=False).index(np.array(tp))
            err = abs(r.delta - ref) if np.isfinite(r.delta) else float("nan")
            lines.append(f"| {tp} | {s} | {r.delta:.9f} | {r.status.value} | {err:.1e} | "
                         f"{time.perf_counter() - t0:.1f} |")
            print(lines[-1], flush=True)
        lines.append(f"| {tp} | scipy reference | {ref:.9f} | | | |")


def _outside(small, large) -> int:
    return int(np.sum(small & ~large))


def algorithm_table(model, solvers, lines) -> None:
    from flexspace import FlexibilityAnalysis, flexibility_index_map, flexibility_test_region, monte_carlo_map
    from flexspace.designspace import make_grid

    grid = make_grid(model)
    pts = np.stack(np.meshgrid(*grid, indexing="ij"), axis=-1).reshape(-1, 2)
    t0 = time.perf_counter()
    mc = monte_carlo_map(model, grid=grid, n_samples=2000, random_state=0)
    a1 = mc.region(P_C)
    lines += ["", f"| algorithm | solver | time [s] | points in region (of {a1.size}) | failed | outside the "
              "larger region |", "|---|---|---|---|---|---|",
              f"| 1 Monte Carlo (2000) | simulator | {time.perf_counter() - t0:.1f} | {int(a1.sum())} | 0 | |"]
    print(lines[-1], flush=True)
    a2s = {}
    for s in solvers:
        probe = [FlexibilityAnalysis(model, "ellipsoid", s, "index_map", diagnose_failures=False).index(pts[i])
                 for i in (int(np.argmax(mc.probability.ravel())), pts.shape[0] // 2)]
        if all(r.status.value == "failed" for r in probe):
            why = next((f"{p.constraint}: {p.status.value}" for p in probe[0].subproblems
                        if not p.status.ok and not p.message.startswith("proven infeasible")), "failed")
            lines.append(f"| 2 index map (ellipsoid) | {s} | | | | not run: both probe points failed ({why}) |")
            print(lines[-1], flush=True)
            continue
        t0 = time.perf_counter()
        fi = flexibility_index_map(model, grid=grid, uncertainty_set="ellipsoid", solver=s)
        a2s[s] = a2 = fi.region(P_C)
        lines.append(f"| 2 index map (ellipsoid) | {s} | {time.perf_counter() - t0:.1f} | {int(a2.sum())} | "
                     f"{int(fi.failed.sum())} | {_outside(a2, a1)} outside MC |")
        print(lines[-1], flush=True)
    for s in [s for s in solvers if s in a2s]:
        t0 = time.perf_counter()
        reg = flexibility_test_region(model, P_C, uncertainty_set="ellipsoid", solver=s)
        inside = reg.contains(pts).reshape(a1.shape)
        a2 = a2s.get("scip", a2s[s])
        lines.append(f"| 3 rectangle (ellipsoid) | {s} | {time.perf_counter() - t0:.1f} | {int(inside.sum())} | "
                     f"{reg.n_failed} | {_outside(inside, a2)} outside Alg 2 ({'scip' if 'scip' in a2s else s}), "
                     f"{_outside(inside, a1)} outside MC; δp = {reg.rectangle.delta_p:.4g} |")
        print(lines[-1], flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="markdown file for the tables")
    a = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    from flexspace.models.cases import case3
    from flexspace.solvers import available_solvers

    model = case3.model()
    solvers = [s for s in SOLVERS if s in available_solvers()]
    lines = [f"# Case 3 (IDAES CSTR): solvers and algorithms, p_c = {P_C}", ""]
    index_table(model, solvers, lines)
    algorithm_table(model, solvers, lines)
    if a.out:
        tmp = a.out + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
