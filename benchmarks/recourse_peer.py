"""The peer's nonconvex recourse problems on every solver, against independent references.

The nonlinear HX network example and the "poly" test model of IDAES PR #1398
(``tests/support/peer_problems.py``): the flexibility test on the box δ = 1 and the box index,
with ipopt, highs, scip, maingo and gurobi.  Prints a table of status, value, proven bounds and
time; "off" marks a trusted answer (ok, bound, sampled) that contradicts the reference.

    .venv/bin/python benchmarks/recourse_peer.py [--out benchmarks/results/recourse_peer.md]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.7g}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="markdown file for the table")
    a = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    from flexspace.errors import FlexspaceError
    from flexspace.formulations.recourse import RecourseAnalysis
    from flexspace.solvers import available_solvers
    from support import peer_problems as peer

    refs = {"nonlinear HX": (peer.nonlinear_hx, peer.hx_reference()), "poly": (peer.poly, peer.poly_reference())}
    lines = ["| problem | solver | what | status | value | proven bounds | reference | s | off |",
             "|---|---|---|---|---|---|---|---|---|"]
    n_off = 0
    for name, (build, (chi, delta)) in refs.items():
        for solver in ("ipopt", "highs", "scip", "maingo", "gurobi"):
            if solver not in available_solvers():
                continue
            for what in ("test", "index"):
                pm, box = build()
                t0 = time.perf_counter()
                try:
                    ra = RecourseAnalysis(pm, box, solver)
                    r = ra.test(delta=1.0) if what == "test" else ra.index()
                except FlexspaceError as exc:
                    lines.append(f"| {name} | {solver} | {what} | refused | - | - | - | "
                                 f"{time.perf_counter() - t0:.1f} | {str(exc)[:60]}... |")
                    continue
                ref = chi if what == "test" else delta
                if what == "test":
                    val, lo, hi = r.chi, r.chi_lower_bound, r.chi_upper_bound
                else:
                    val, lo, hi = r.delta, r.delta_lower_bound, r.delta_upper_bound
                off = _off(r, what, ref, val, lo, hi)
                n_off += bool(off)
                lines.append(f"| {name} | {solver} | {what} | {r.status.value} | {_fmt(val)} | [{_fmt(lo)}, {_fmt(hi)}] | "
                             f"{ref:.7g} | {time.perf_counter() - t0:.1f} | {off} |")
    text = "\n".join(lines) + f"\n\nTrusted answers off the reference: **{n_off}**.\n"
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    return 1 if n_off else 0


def _off(r, what, ref, val, lo, hi) -> str:
    tol = 1e-4 * max(1.0, abs(ref))
    st = r.status.value
    if st == "ok" and abs(val - ref) > tol:
        return "OFF"
    if st in ("ok", "bound"):
        if lo is not None and lo > ref + tol or hi is not None and hi < ref - tol:
            return "OFF"
    if st == "sampled" and what == "test" and r.feasible and ref > 0:
        return "check eps"  # a sampled feasibility claim on an infeasible design: see its statement
    return ""


if __name__ == "__main__":
    sys.exit(main())
