"""Nonconvex recourse sweep: hypothesis-generated polynomial models against a numpy/scipy reference.

Every model (``tests/support/recourse_reference.py``: 1-2 θ ~ N(0, I), 1-2 controls in
[-1, 1], 1-3 CQAs of degree ≤ 4 in (θ, z)) is solved by every available solver, as a
flexibility test on the box δ = 1 and as a box index (δ_max = 2), and every *trusted*
answer (``ok``, ``bound``, ``nominal infeasible``, ``sampled``) is checked against the
reference (dense grids polished by local optimisers).  The table counts statuses and
answers off the reference ("off": must be 0).

    .venv/bin/python benchmarks/recourse_sweep.py --n 300 --workers 2 \
        --out benchmarks/results/recourse_sweep.md

Timings vary with the load of the machine; the counts do not.
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures as cf
import json
import os
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

SOLVERS = ("ipopt", "highs", "scip", "maingo", "gurobi")


def specs(n: int):
    """The first ``n`` models hypothesis draws (derandomised: the same list every run)."""
    from hypothesis import HealthCheck, given, settings

    from support.recourse_reference import poly_specs

    out = []

    @settings(max_examples=n, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(poly_specs())
    def collect(spec):
        if spec not in out:
            out.append(spec)

    collect()
    return out[:n]


def run_one(args):
    """All solvers on one model: rows (model, solver, what, status, value, seconds, off)."""
    i, spec, solvers, options = args
    warnings.simplefilter("ignore")
    from flexspace.errors import FlexspaceError
    from flexspace.formulations.recourse import RecourseAnalysis
    from support.recourse_reference import check, pyomo_model

    rows = []
    for solver in solvers:
        for what in ("test", "index"):
            t0 = time.perf_counter()
            try:
                ra = RecourseAnalysis(pyomo_model(spec), "box", solver, options)
                r = ra.test(delta=1.0) if what == "test" else ra.index()
                status = r.status.value
                value = r.chi if what == "test" else r.delta
                off = check(spec, r, what)
            except FlexspaceError:  # refused up front, with a message: not an answer
                status, value, off = "refused", float("nan"), ""
            except Exception as exc:  # noqa: BLE001 - a crash is a finding
                status, value, off = "CRASH", float("nan"), f"{type(exc).__name__}: {exc}"[:200]
            rows.append((i, solver, what, status, value, time.perf_counter() - t0, off, spec.describe()))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="models (default 300)")
    ap.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    ap.add_argument("--solvers", default=",".join(SOLVERS), help="comma-separated solver names")
    ap.add_argument("--time-limit", type=float, default=20.0, help="seconds per solve (default 20)")
    ap.add_argument("--iterations", type=int, default=25, help="bracket iterations (default 25)")
    ap.add_argument("--out", default=None, help="markdown file for the table")
    ap.add_argument("--rows", default=None,
                    help="JSON-lines file: each finished model is appended at once, and a rerun "
                         "with the same file skips the (model, solver) pairs already in it (resume; "
                         "delete a solver's rows to rerun it alone)")
    ap.add_argument("--report-only", action="store_true",
                    help="write the table of the models already in --rows (a partial run) and stop")
    a = ap.parse_args(argv)
    from flexspace.solvers import available_solvers

    solvers = [s for s in a.solvers.split(",") if s in available_solvers()]
    options = {"time_limit": a.time_limit, "bracket_iterations": a.iterations}
    models = model_list(a.n, a.rows)
    rows = load_rows(a.rows)
    done = {r[0] for r in rows}
    if a.report_only:
        text = report(rows, len(done), solvers, float("nan"), a)
        print(text)
        if a.out:
            with open(a.out, "w") as f:
                f.write(text)
        return 1 if any(r[6] for r in rows) else 0
    t0 = time.perf_counter()
    have = {(r[0], r[1]) for r in rows}  # a resume runs the (model, solver) pairs not yet in --rows
    todo = [(i, s, need, options) for i, s in enumerate(models)
            if (need := [x for x in solvers if (i, x) not in have])]
    finished = 0
    with cf.ProcessPoolExecutor(a.workers) as ex:
        for fut in cf.as_completed([ex.submit(run_one, job) for job in todo]):
            out = fut.result()
            rows += out
            append_rows(a.rows, out)
            finished += 1
            if finished % 10 == 0:
                print(f"{finished}/{len(todo)} jobs, {time.perf_counter() - t0:.0f} s", flush=True)
    text = report(rows, len(models), solvers, time.perf_counter() - t0, a)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    return 1 if any(r[6] for r in rows) else 0


def model_list(n: int, rows_path):
    """The ``n`` models; with ``--rows`` they are saved beside it (``<rows>.models.json``) on the
    first run and read back on a resume, so a resumed run continues the same list (hypothesis
    does not promise the same draws in another process)."""
    from support.recourse_reference import PolySpec

    side = None if not rows_path else rows_path + ".models.json"
    if side and os.path.exists(side):
        with open(side) as f:
            saved = json.load(f)
        models = [PolySpec(d["n_t"], d["n_z"], tuple(d["consts"]),
                           tuple(tuple((a, tuple(ea), tuple(eb)) for a, ea, eb in tk) for tk in d["terms"]))
                  for d in saved]
        if len(models) >= n:
            return models[:n]
    models = specs(n)
    if side:
        with open(side, "w") as f:
            json.dump([{"n_t": m.n_t, "n_z": m.n_z, "consts": m.consts, "terms": m.terms} for m in models], f)
    return models


def load_rows(path):
    """Rows of an earlier (interrupted) run, for resuming; none when there is no file."""
    if not path or not os.path.exists(path):
        return []
    with open(path) as f:
        return [tuple(json.loads(line)) for line in f if line.strip()]


def append_rows(path, rows) -> None:
    """Append one model's rows and flush them to disk: nothing finished is lost."""
    if not path:
        return
    with open(path, "a") as f:
        for r in rows:
            f.write(json.dumps(list(r)) + "\n")
        f.flush()
        os.fsync(f.fileno())


def report(rows, n, solvers, seconds, a) -> str:
    counts = collections.defaultdict(collections.Counter)
    times = collections.defaultdict(list)
    off = [r for r in rows if r[6]]
    for _, solver, what, status, _, t, _, _ in rows:
        counts[(solver, what)][status] += 1
        times[(solver, what)].append(t)
    statuses = ["ok", "bound", "sampled", "nominal infeasible", "uncertified", "failed", "contradicted", "refused",
                "CRASH"]
    lines = [f"# Nonconvex recourse sweep: {n} hypothesis models x {len(solvers)} solvers"
             + (f" (of the {a.n} asked for: a partial run)" if n < a.n else ""),
             "", f"`benchmarks/recourse_sweep.py --n {a.n} --workers {a.workers} --time-limit {a.time_limit} "
             f"--iterations {a.iterations}`" + (f", {seconds:.0f} s of wall clock (the last run, if resumed)." if seconds == seconds
                                               else f" (tabled from `--rows {a.rows}`)."), "",
             "| solver | problem | " + " | ".join(statuses) + " | off the reference | median s |",
             "|---|---|" + "---|" * (len(statuses) + 2)]
    for solver in solvers:
        for what in ("test", "index"):
            c = counts[(solver, what)]
            n_off = sum(1 for r in off if r[1] == solver and r[2] == what)
            med = sorted(times[(solver, what)])[len(times[(solver, what)]) // 2] if times[(solver, what)] else 0
            lines.append(f"| {solver} | {what} | " + " | ".join(str(c.get(s, 0)) for s in statuses)
                         + f" | **{n_off}** | {med:.2f} |")
    lines += ["", f"Trusted answers off the reference: **{len(off)}**."]
    for r in off[:50]:
        lines.append(f"- model {r[0]} ({r[7]}), {r[1]} {r[2]}: {r[6]}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
