"""Ctrl-C latency of a 2-worker case-2 flexibility-index map.

A child Python runs ``flexibility_index_map(case2, workers=2, out=...)``; once the
checkpoint holds ``--after`` finished points it gets SIGINT (what Ctrl-C sends).  The table
gives the seconds from SIGINT to the child's exit, the points kept in the checkpoint, and
the processes of the run still alive afterwards (must be 0).

    .venv/bin/python benchmarks/ctrl_c_latency.py --repeat 3

Timings vary with the load of the machine; the target is ≤ 3 s.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import psutil

CHILD = textwrap.dedent("""
    import signal, sys, warnings
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (a background shell ignores it)
    warnings.simplefilter("ignore")
    from flexspace.designspace import flexibility_index_map
    from flexspace.models.cases import case2
    try:
        flexibility_index_map(case2.model, grid=(6, 6), solver=sys.argv[2], workers=2, out=sys.argv[1],
                              chunk_size=1, progress=False, options={"time_limit": float(sys.argv[3])})
    except KeyboardInterrupt:
        sys.exit(130)
""")


def records(path: str) -> int:
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as f:
        return max(0, sum(1 for _ in f) - 1)  # the first line is the header


def one(solver: str, time_limit: float, after: int) -> tuple:
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "map.jsonl")
        proc = subprocess.Popen([sys.executable, "-c", CHILD, out, solver, str(time_limit)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ps = psutil.Process(proc.pid)
        deadline = time.time() + 600
        while records(out) < after and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        family = [ps] + ps.children(recursive=True)
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        latency = time.perf_counter() - t0
        time.sleep(0.5)
        alive = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        kept = records(out)
        for p in alive:
            p.kill()
        return latency, kept, len(alive), proc.returncode


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--solver", default="maingo")
    ap.add_argument("--time-limit", type=float, default=60.0, help="per solve (s): long, so a solve is running")
    ap.add_argument("--after", type=int, default=2, help="finished points before SIGINT")
    a = ap.parse_args(argv)
    print(f"| run | SIGINT -> exit (s) | points kept | processes left | exit code |\n|---|---|---|---|---|")
    worst = 0.0
    for i in range(a.repeat):
        lat, kept, left, code = one(a.solver, a.time_limit, a.after)
        worst = max(worst, lat)
        print(f"| {i + 1} | {lat:.2f} | {kept} | {left} | {code} |", flush=True)
    print(f"\nworst latency {worst:.2f} s (target <= 3 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
