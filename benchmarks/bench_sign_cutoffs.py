"""Issue 14, part 1: decide signs, do not optimise past them (``SolveOptions.cutoffs``).

    .venv/bin/python benchmarks/bench_sign_cutoffs.py                 # every row, before and after
    .venv/bin/python benchmarks/bench_sign_cutoffs.py --only case1    # rows whose name contains "case1"
    .venv/bin/python benchmarks/bench_sign_cutoffs.py --after-only    # cut-offs on only

Each row runs the same configuration twice, back to back on the same machine state:
``cutoffs=False`` (before: every global subproblem solved to the gap) and ``cutoffs=True``
(after: each flexibility-test solve stops once its sign is proven — MAiNGO
``targetLowerBound``/``targetUpperBound``, SCIP ``limits/dual``/``limits/primal``, Gurobi
``BestBdStop``/``BestObjStop`` — and an index subproblem stops once its lower bound reaches
the best δ found).  Settings as in ``flexspace bench`` (full preset): 20 s per solve, an
Algorithm 3 budget of 150 s, case 2 with MAiNGO on its reduced-space form (``--time-limit``
and ``--budget`` change them).  Prints a table and writes ``benchmarks/results/sign_cutoffs.md``
with wall time *and* CPU time (this process, its solver children and map workers): on a
shared 2-core machine the wall time is inflated by other jobs (the load average is printed),
the CPU time much less so.
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import datetime, timezone

import numpy as np

TIME_LIMIT = 20.0
ALG3_BUDGET = 150.0
_LIMITS = {"time_limit": TIME_LIMIT, "budget": ALG3_BUDGET}
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "sign_cutoffs.md")


def _model(case, solver, algorithm):
    """The model form `flexspace bench` uses for this case, solver and algorithm."""
    from flexspace.cli.bench import BenchConfig
    from flexspace.models.cases import case_model

    pick = {tuple(x) for x in BenchConfig().reduced_for}
    return case_model(case, "reduced" if {(case, solver, algorithm), (case, solver, "*")} & pick else "full")


def _alg3(case, set_kind, solver, cutoffs, step="illinois"):
    from flexspace.designspace import Bisection, flexibility_test_region

    t0 = time.perf_counter()
    try:
        reg = flexibility_test_region(_model(case, solver, "alg3"), 0.85, uncertainty_set=set_kind, solver=solver,
                                      algorithm=Bisection(step=step, max_time=_LIMITS["budget"]),
                                      options={"time_limit": _LIMITS["time_limit"], "cutoffs": cutoffs})
    except Exception as exc:  # noqa: BLE001 - a failed configuration is a row
        return time.perf_counter() - t0, f"FAILED: {type(exc).__name__}: {str(exc)[:160]}", None
    r = reg.rectangle
    slow = max(reg.iterations, key=lambda it: it.time)
    res = (f"δp={r.delta_p:.5f}, χ={r.chi:.2e}, {'converged' if r.converged else 'NOT converged'}, "
           f"{reg.n_solves} tests ({reg.n_failed} failed), slowest test {slow.time:.1f} s, "
           f"rectangle {np.round(r.lower, 3).tolist()}–{np.round(r.upper, 3).tolist()}")
    return time.perf_counter() - t0, res, (r.lower, r.upper, r.converged)


def _alg2(case, set_kind, solver, cutoffs, workers=2):
    from flexspace.designspace import flexibility_index_map

    t0 = time.perf_counter()
    dm = flexibility_index_map(_model(case, solver, "alg2"), uncertainty_set=set_kind, solver=solver, workers=workers,
                               options={"time_limit": _LIMITS["time_limit"], "cutoffs": cutoffs}, progress=False)
    t = time.perf_counter() - t0
    region = dm.region(0.85)
    res = (f"{dm.status_counts}, {int(np.sum(dm.failed))} failed, {int(region.sum())} pts >= 0.85, "
           f"global={bool(dm.table['global'].all())}")
    return t, res, region


ROWS = [
    ("case1 Alg 3 MAiNGO ellipsoid (reduced form, default Illinois steps)",
     lambda c: _alg3("case1", "ellipsoid", "maingo", c), 5.0),
    ("case1 Alg 3 MAiNGO ellipsoid (reduced form), bisection steps",
     lambda c: _alg3("case1", "ellipsoid", "maingo", c, "bisection"), None),
    ("case1 Alg 3 MAiNGO box", lambda c: _alg3("case1", "box", "maingo", c), None),
    ("case1 Alg 3 SCIP ellipsoid", lambda c: _alg3("case1", "ellipsoid", "scip", c), None),
    ("case1 Alg 3 SCIP box", lambda c: _alg3("case1", "box", "scip", c), None),
    ("case2 Alg 3 MAiNGO ellipsoid (reduced form)", lambda c: _alg3("case2", "ellipsoid", "maingo", c), None),
    ("case2 Alg 3 SCIP ellipsoid", lambda c: _alg3("case2", "ellipsoid", "scip", c), None),
    ("case2 Alg 2 map MAiNGO ellipsoid (reduced), 2 workers", lambda c: _alg2("case2", "ellipsoid", "maingo", c), 8.0),
    ("case2 Alg 2 map MAiNGO box (reduced), 2 workers", lambda c: _alg2("case2", "box", "maingo", c), 8.0),
    ("case1 Alg 2 map MAiNGO ellipsoid, 2 workers (seed grid)", lambda c: _alg2("case1", "ellipsoid", "maingo", c),
     None),
]


def _same(a, b) -> str:
    """Do the before/after runs give the same region / rectangle?"""
    if a is None or b is None:
        return "-"
    if isinstance(a, tuple):
        same = np.allclose(a[0], b[0], rtol=1e-3) and np.allclose(a[1], b[1], rtol=1e-3)
        return "same rectangle" if same else "DIFFERENT rectangle"
    return "same region" if np.array_equal(a, b) else f"DIFFERENT region ({int(np.sum(a != b))} points)"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="", help="run the rows whose name contains one of these comma-separated texts")
    ap.add_argument("--after-only", action="store_true", help="cut-offs on only (no 'before' run)")
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--time-limit", type=float, default=TIME_LIMIT, help="seconds per solve")
    ap.add_argument("--budget", type=float, default=ALG3_BUDGET, help="seconds per Algorithm 3 bisection")
    args = ap.parse_args(argv)
    _LIMITS.update(time_limit=args.time_limit, budget=args.budget)
    rows = []
    for name, run, target in ROWS:
        if args.only and not any(part in name for part in args.only.split(",")):
            continue
        load0 = os.getloadavg()[0]
        tb, cb, rb, kb = (float("nan"), float("nan"), "not run", None) if args.after_only else _cpu(run, False)
        if not args.after_only:
            print(f"  {name} [before]: {tb:.2f} s (CPU {cb:.2f} s)  {rb}", flush=True)
        ta, ca, ra, ka = _cpu(run, True)
        print(f"  {name} [after]: {ta:.2f} s (CPU {ca:.2f} s)  {ra}", flush=True)
        rows.append((name, tb, ta, cb, ca, target, rb, ra, _same(kb, ka), 0.5 * (load0 + os.getloadavg()[0])))
    _report(rows, args.out, " ".join(["benchmarks/bench_sign_cutoffs.py"] + list(argv or [])))


def _cpu(run, cutoffs):
    """``run(cutoffs)`` with the CPU seconds of this process and its reaped children (the
    solver processes of the wall-clock guard, the map's worker processes)."""
    t0 = os.times()
    wall, res, key = run(cutoffs)
    t1 = os.times()
    cpu = sum(getattr(t1, a) - getattr(t0, a) for a in ("user", "system", "children_user", "children_system"))
    return wall, cpu, res, key


def _report(rows, out, command):
    head = (f"# Sign cut-offs (issue 14, part 1): before (cutoffs=False) and after (cutoffs=True)\n\n"
            f"- run: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.node()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}; per-solve time limit {_LIMITS['time_limit']} s, Algorithm 3 "
            f"budget {_LIMITS['budget']} s; before and after run back to back per row\n"
            "- CPU = CPU seconds of the benchmark process, its solver processes and map workers (less "
            "sensitive to other jobs than the wall time); targets are judged on the wall time\n"
            "- load = 1-minute load average around the row (2 cores: > 2 means other jobs inflated the times)\n"
            f"- command: `.venv/bin/python {command}`\n\n")
    lines = ["| measurement | before [s] | after [s] | before CPU [s] | after CPU [s] | target | pass | same answer "
             "| load | before: result | after: result |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, tb, ta, cb, ca, target, rb, ra, same, load in rows:
        ok = "-" if target is None else ("PASS" if ta < target and "FAILED" not in ra else "FAIL")
        tg = "-" if target is None else f"< {target:g}"
        lines.append(f"| {name} | {tb:.2f} | {ta:.2f} | {cb:.2f} | {ca:.2f} | {tg} | {ok} | {same} | {load:.1f} "
                     f"| {rb} | {ra} |")
    text = head + "\n".join(lines) + "\n"
    print("\n" + text)
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
