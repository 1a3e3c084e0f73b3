"""Adaptive vs dense Algorithm 2 map: case 1, MAiNGO, ellipsoid, p_c = 0.85 (issue 14, part 2).

    .venv/bin/python benchmarks/adaptive_map.py --n 101 --dense-only   # the dense reference, once (long)
    .venv/bin/python benchmarks/adaptive_map.py --n 101                # adaptive run + comparison
    .venv/bin/python benchmarks/adaptive_map.py --n 101 --partial-dense  # compare with the dense points so far

The dense map checkpoints to ``benchmarks/results/tmp/adaptive_map_dense_<n>.jsonl`` (git-ignored)
and its wall time to ``..._<n>.json`` next to it, so it is computed once and then read back (a
resume that solves nothing; failed points are not retried: it stays the map of one run).  The
adaptive map is always run afresh and timed.  Printed and written to
``benchmarks/results/adaptive_map_<n>.md``:

* points solved and wall time of both runs;
* regions: dense; adaptive solved points only (``region(0.85)``); adaptive solved + inferred
  (``region(0.85, include_inferred=True)``), and the number of fine points where the last one
  differs from the dense region (the acceptance asks for 0);
* whether every fine point where the dense region changes between grid neighbours was solved by the
  adaptive run, and the agreement of δ at the points both solved.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import time

import numpy as np

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
CONFIDENCE = 0.85


def _dense(n, workers):
    """The dense map (resumed from its checkpoint when there is one) and its wall time."""
    from flexspace.designspace import CheckpointFile, flexibility_index_map
    from flexspace.models.cases import case1

    (RESULTS / "tmp").mkdir(parents=True, exist_ok=True)
    ckpt, side = RESULTS / "tmp" / f"adaptive_map_dense_{n}.jsonl", RESULTS / "tmp" / f"adaptive_map_dense_{n}.json"
    t0 = time.perf_counter()
    d = flexibility_index_map(case1.model(), grid=(n, n), uncertainty_set="ellipsoid", solver="maingo",
                              workers=workers, out=CheckpointFile(str(ckpt), retry_failed=False), progress=False)
    elapsed = time.perf_counter() - t0
    if d.run_info["resumed"] == 0:  # computed in one go: this run's wall time is the dense time
        side.write_text(json.dumps({"elapsed_s": elapsed, "workers": workers, "status_counts": d.status_counts,
                                    "date": datetime.datetime.now(datetime.timezone.utc).isoformat()}, indent=1))
    info = json.loads(side.read_text()) if side.is_file() else None
    wall = info["elapsed_s"] if info else None
    how = (f"one run, {info['workers']} workers, {info['date'][:16]}Z" if info else
           f"resumed over several runs (sum of per-point solve times "
           f"{float(d.table['time'].sum()):.0f} s)")
    return d, wall, how


def _partial_dense(n, shape):
    """The dense points finished so far in the checkpoint (read as plain JSON lines):
    (known mask, membership as DesignSpaceMap.region decides it, δ)."""
    from flexspace.designspace.results import TRUSTED_STATUSES

    known, member, delta = np.zeros(shape, bool), np.zeros(shape, bool), np.full(shape, np.nan)
    path = RESULTS / "tmp" / f"adaptive_map_dense_{n}.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if "i" not in rec:
            continue
        row, ij = rec["row"], np.unravel_index(int(rec["i"]), shape)
        p = row.get("probability")
        known[ij] = True
        member[ij] = row.get("status") in TRUSTED_STATUSES and p is not None and np.isfinite(p) and p >= CONFIDENCE
        delta[ij] = np.nan if row.get("delta") is None else row["delta"]
    return known, member, delta


def _boundary(member, known):
    """Known fine points whose membership differs from a known grid neighbour's."""
    b = np.zeros_like(member)
    for ax in range(member.ndim):
        lo, hi = [slice(None)] * member.ndim, [slice(None)] * member.ndim
        lo[ax], hi[ax] = slice(None, -1), slice(1, None)
        lo, hi = tuple(lo), tuple(hi)
        diff = (member[lo] != member[hi]) & known[lo] & known[hi]
        b[lo] |= diff
        b[hi] |= diff
    return b


def _compare(ad, known, member, delta):
    solved = (ad.table["status"].to_numpy() != "inferred").reshape(ad.shape)
    ra, ri = ad.region(CONFIDENCE), ad.region(CONFIDENCE, include_inferred=True)
    bnd = _boundary(member, known)
    both = solved & known & np.isfinite(delta)
    dd = np.abs(ad.table["delta"].to_numpy(float).reshape(ad.shape)[both] - delta[both])
    return {"dense_known": int(known.sum()), "dense_region": int((member & known).sum()),
            "adaptive_solved_region": int(ra.sum()), "adaptive_with_inferred": int(ri.sum()),
            "adaptive_with_inferred_on_known": int((ri & known).sum()),
            "differing_points": int(((ri != member) & known).sum()),
            "differing_at_solved": int(((ra != member) & solved & known).sum()),
            "dense_boundary_points": int(bnd.sum()), "boundary_points_not_solved": int((bnd & ~solved).sum()),
            "max_abs_delta_diff_at_solved": float(dd.max()) if dd.size else float("nan"),
            "inferred_in": ad.run_info["inferred_in"], "inferred_out": ad.run_info["inferred_out"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=101, help="points per axis of the fine grid")
    ap.add_argument("--coarse-step", type=int, default=None, help="fine steps between coarse points")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dense-only", action="store_true", help="compute (or resume) the dense map and stop")
    ap.add_argument("--partial-dense", action="store_true",
                    help="do not compute the dense map: compare with the points its checkpoint holds so far")
    args = ap.parse_args(argv)

    from flexspace.designspace import adaptive_flexibility_index_map
    from flexspace.models.cases import case1

    if args.dense_only:
        d, wall, how = _dense(args.n, args.workers)
        print(f"dense {args.n}x{args.n}: {d.status_counts}, wall {wall} s ({how})")
        return
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    ad = adaptive_flexibility_index_map(case1.model(), grid=(args.n, args.n), confidence=CONFIDENCE,
                                        uncertainty_set="ellipsoid", solver="maingo", coarse_step=args.coarse_step,
                                        workers=args.workers)
    t_ad = time.perf_counter() - t0
    load1 = os.getloadavg()
    if args.partial_dense:
        known, member, delta = _partial_dense(args.n, ad.shape)
        dense, t_dense, how = None, None, f"partial: the {int(known.sum())} points its checkpoint holds"
    else:
        dense, t_dense, how = _dense(args.n, args.workers)
        known = np.ones(ad.shape, bool)
        member, delta = dense.region(CONFIDENCE), dense.table["delta"].to_numpy(float).reshape(ad.shape)
    cmp_ = _compare(ad, known, member, delta)
    _report(args, ad, t_ad, dense, t_dense, how, cmp_, (load0, load1))


def _report(args, ad, t_ad, dense, t_dense, how, c, loads):
    n = args.n
    lines = [
        f"# Adaptive vs dense Algorithm 2 map — case 1, MAiNGO, ellipsoid, p_c = {CONFIDENCE}, {n}x{n}",
        "",
        f"{platform.node()}, {os.cpu_count()} cores (shared with other jobs: load average "
        f"{loads[0][0]:.1f} before / {loads[1][0]:.1f} after the adaptive run — timings are inflated), "
        f"python {platform.python_version()}, "
        f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M')}Z.",
        f"Command: `.venv/bin/python benchmarks/adaptive_map.py --n {n}"
        f"{'' if args.coarse_step is None else f' --coarse-step {args.coarse_step}'} --workers {args.workers}"
        f"{' --partial-dense' if args.partial_dense else ''}`",
        "",
        "| run | points solved | wall time [s] | statuses | region points (p >= 0.85) |",
        "|---|---|---|---|---|",
        f"| dense ({how}) | {c['dense_known']} | "
        f"{'n/a' if t_dense is None else f'{t_dense:.1f}'} | {'-' if dense is None else dense.status_counts} | "
        f"{c['dense_region']} |",
        f"| adaptive, {args.workers} workers, coarse step {ad.settings['adaptive']['coarse_step']} | "
        f"{ad.run_info['solved']} (rounds {ad.run_info['rounds']}) | {t_ad:.1f} | {ad.status_counts} | "
        f"{c['adaptive_solved_region']} solved in; {c['adaptive_with_inferred']} solved + inferred in "
        f"({c['adaptive_with_inferred_on_known']} on the dense points) |",
        "",
        f"* dense points where adaptive (solved + inferred) and dense regions differ: **{c['differing_points']}** "
        f"(of which at solved points: {c['differing_at_solved']})",
        f"* fine points where the dense region changes between grid neighbours: {c['dense_boundary_points']}; "
        f"of these not solved by the adaptive run: **{c['boundary_points_not_solved']}**",
        f"* inferred (not solved) points: {c['inferred_in']} inside, {c['inferred_out']} outside — labelled "
        "status `inferred`, counted only by `region(0.85, include_inferred=True)`",
        f"* max |δ_adaptive − δ_dense| at points both solved: {c['max_abs_delta_diff_at_solved']:.2e} "
        "(same solver and gap; warm starts differ with the order of points)",
        f"* adaptive / dense wall time: "
        f"{'n/a' if t_dense is None else f'{t_ad / t_dense:.3f}'}; points solved: "
        f"{ad.run_info['solved'] / ad.run_info['points']:.3f} of the fine grid",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    out = RESULTS / f"adaptive_map_{n}.md"
    out.write_text(text, encoding="utf-8")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
