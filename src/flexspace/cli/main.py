"""Command line: ``flexspace solvers``, ``flexspace demo``, ``flexspace index``, ``flexspace run``,
``flexspace crystallization``."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

CORE_SOLVERS = ("ipopt", "maingo", "scip", "highs")


def _cmd_solvers(args) -> int:
    from .solvers import solver_table

    rows = solver_table(time_limit=args.time_limit)
    cols = ["name", "version", "available", "type", "problem", "check"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    print("  ".join("-" * widths[c] for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols))
    if args.check:
        missing = [r["name"] for r in rows if r["name"] in CORE_SOLVERS and not r["available"]]
        if missing:
            print(f"\nmissing or failing core solvers: {missing} (run `make setup`)", file=sys.stderr)
            return 1
    return 0


FORM_HELP = ("the seed's full model, or the reduced-space form of the same steady state (the one MAiNGO "
             "solves on case 2)")


def _load_model(name: str, formulation: str = "full"):
    from .models import case1, case2

    cases = {"case1": case1, "case2": case2}
    if name not in cases:
        raise SystemExit(f"unknown model {name!r}; choose from {sorted(cases)}")
    return cases[name].model(formulation=formulation)


def _cmd_index(args) -> int:
    from .formulations import flexibility_index

    model = _load_model(args.model, args.formulation)
    theta_p = args.theta_p if args.theta_p else None
    r = flexibility_index(model, theta_p, args.set, args.solver, method=args.method, time_limit=args.time_limit)
    print(r)
    if args.json:
        print(json.dumps(r.to_dict(), indent=2, default=str))
    return 0 if r.ok else 1


def _cmd_demo(args) -> int:
    """Case 1: flexibility index (box/ellipsoid × local/global) and Monte Carlo at the nominal
    point, then the design space by all three algorithms (Monte Carlo map, flexibility-index
    map with MAiNGO on 2 workers, Algorithm 3 rectangle) in one overlay figure."""
    import numpy as np

    from .designspace import flexibility_index_map, flexibility_test_region, monte_carlo_map
    from .formulations import FlexibilityAnalysis
    from .models import case1
    from .montecarlo import monte_carlo_probability
    from .solvers import available_solvers

    os.makedirs(args.out, exist_ok=True)
    model = case1.model()
    tp = model.theta_p_nominal
    print(f"flexspace demo: case 1 ({model.description})")
    cv = np.sqrt(np.diag(model.covariance)) / model.theta_m_nominal
    print(f"nominal theta_p: R_BA={tp[0]}, tau={tp[1]} s; covariance of (k1, k2) is a RECONSTRUCTION "
          f"({', '.join(f'{100 * c:.3g} %' for c in cv)} CV, see flexspace.models.case1)\n")
    avail = available_solvers()
    solvers = [s for s in ("ipopt", "maingo") if s in avail]
    print(f"{'set':<10}{'solver':<8}{'type':<8}{'delta':>10}{'P(set)':>10}{'status':>20}  quality")
    for s in ("box", "ellipsoid"):
        for sv in solvers:
            r = FlexibilityAnalysis(model, s, sv).index(tp)
            print(f"{s:<10}{sv:<8}{'global' if r.is_global else 'local':<8}{r.delta:>10.5f}"
                  f"{r.probability:>10.5f}{r.status.value:>20}  {r.solve_quality}")
    mc = monte_carlo_probability(model, tp, 100000, random_state=0)
    print(f"\nMonte Carlo (100000 samples) at the nominal point: P = {mc.probability:.5f} "
          f"± {mc.std_error:.5f} (failed samples: {mc.n_failed})")

    p_c = 0.85
    print(f"\ndesign space on the seed's {case1.GRID_SHAPE[0]}x{case1.GRID_SHAPE[1]} grid, p_c = {p_c}:")
    mc_map = monte_carlo_map(model, n_samples=1000, random_state=0)
    fi_solver = "maingo" if "maingo" in avail else ("scip" if "scip" in avail else "ipopt")
    fi_map = flexibility_index_map(model, uncertainty_set="ellipsoid", solver=fi_solver, workers=2)
    # Algorithm 3 with SCIP: an extended test takes ~0.25 s with SCIP and 3-10 s with MAiNGO (measured)
    a3_solver = "scip" if "scip" in avail else fi_solver
    t0 = time.perf_counter()
    region = flexibility_test_region(model, p_c, uncertainty_set="ellipsoid", solver=a3_solver)
    t_a3 = time.perf_counter() - t0
    rows = [("Algorithm 1: Monte Carlo (1000 samples)", "monte carlo", mc_map.run_info["elapsed_s"],
             int(mc_map.region(p_c).sum()), int(mc_map.failed.sum())),
            (f"Algorithm 2: flexibility index (ellipsoid, 2 workers)", fi_solver, fi_map.run_info["elapsed_s"],
             int(fi_map.region(p_c).sum()), int(fi_map.failed.sum())),
            ("Algorithm 3: flexibility test bisection (ellipsoid)", a3_solver, t_a3,
             int(region.contains(mc_map.points).sum()), region.n_failed)]
    print(f"{'method':<56}{'solver':<13}{'time [s]':>9}{'points in region':>18}{'failed':>8}")
    for name, sv, t, n, f in rows:
        print(f"{name:<56}{sv:<13}{t:>9.2f}{n:>18d}{f:>8d}")
    print(str(region))
    path = os.path.join(args.out, "case1_design_space.png")
    _overlay_figure(mc_map, fi_map, region, p_c, path)
    print(f"figure: {path}")
    return 0


def _overlay_figure(mc_map, fi_map, region, p_c, path, title=None):
    """Two panels (Monte Carlo, flexibility index) with the other maps' p_c contours and the
    Algorithm 3 rectangle(s) overlaid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    maps = [m for m in (mc_map, fi_map) if m is not None]
    fig, axes = plt.subplots(1, len(maps), figsize=(5.6 * len(maps), 4.4), squeeze=False)
    for ax, m in zip(axes[0], maps):
        m.plot(ax=ax, p_c=p_c, rectangles=[region] if region is not None else [])
        for other, color in ((mc_map, "orange"), (fi_map, "cyan")):
            if other is None or other is m:
                continue
            a0, a1 = other.axes
            ax.contour(a1, a0, np.nan_to_num(other.probability, nan=0.0), levels=[p_c], colors=color,
                       linewidths=1.5, linestyles=":")
        if len(maps) > 1:
            ax.text(0.01, 0.01, "dotted: the other map's p_c contour", transform=ax.transAxes, fontsize=7,
                    color="w")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def _cmd_run(args) -> int:
    """``flexspace run {case1,case2} --method {mc,flexindex,flextest} ...``: DIR/map.csv, map.png, summary.json."""
    from .designspace import flexibility_index_map, flexibility_test_region, monte_carlo_map
    from .designspace.checkpoint import _jsonable
    from .models import case1, case2

    case = {"case1": case1, "case2": case2}[args.model]
    model = case.model(formulation=args.formulation)
    if args.solver is None:
        args.solver = "scip" if args.method == "flextest" else "maingo"
    os.makedirs(args.out, exist_ok=True)
    shape = tuple(args.grid) if args.grid else case.GRID_SHAPE
    t0 = time.perf_counter()
    settings = {"model": args.model, "method": args.method, "set": args.set, "solver": args.solver,
                "samples": args.samples, "confidence": args.confidence, "workers": args.workers,
                "grid": list(shape), "time_limit": args.time_limit, "random_state": args.seed}
    ckpt = None if args.no_checkpoint else os.path.join(args.out, f"checkpoint_{args.method}.jsonl")
    progress = False if args.quiet else None
    summary = {"settings": settings}
    dmap, region = None, None
    if args.method == "mc":
        dmap = monte_carlo_map(model, shape=shape, n_samples=args.samples, random_state=args.seed,
                               workers=args.workers, out=ckpt, progress=progress)
    elif args.method == "flexindex":
        dmap = flexibility_index_map(model, shape=shape, uncertainty_set=args.set, solver=args.solver,
                                     time_limit=args.time_limit, workers=args.workers, out=ckpt, progress=progress)
    else:
        region = flexibility_test_region(model, args.confidence, args.theta_p, args.set, args.solver,
                                         time_limit=args.time_limit, move_nominal=args.move_nominal)
        summary["region"] = region.to_dict()
        print(region)
        # the map CSV for Algorithm 3: grid points inside the rectangle(s) have probability >= p_c (proven)
        dmap = _region_as_map(model, region, shape)
    dmap.to_csv(os.path.join(args.out, "map.csv"))
    _overlay_figure(dmap, None, region, args.confidence, os.path.join(args.out, "map.png"),
                    title=f"flexspace run {args.model} --method {args.method}")
    summary["map"] = dmap.summary(args.confidence)
    summary["time_s"] = time.perf_counter() - t0
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(_jsonable(summary), f, indent=2, default=str)
    print(f"{args.method} map of {args.model}: {dmap.status_counts}; {int(dmap.region(args.confidence).sum())} "
          f"points with probability >= {args.confidence}; {summary['time_s']:.2f} s -> {args.out}/map.csv, "
          f"map.png, summary.json")
    return 0


def _region_as_map(model, region, shape):
    """Algorithm 3 on the grid: inside a rectangle -> probability p_c (a lower bound), outside -> 0 (not certified)."""
    import numpy as np

    from .designspace import DesignSpaceMap
    from .designspace.maps import _points, make_grid

    axes = make_grid(model, shape=shape)
    pts = _points(axes)
    inside = region.contains(pts)
    # probability: p_c inside a rectangle (a lower bound, proven when the solver is global); 0 outside
    # (not certified by Algorithm 3 — not a computed probability)
    rows = [{"probability": region.confidence if ins else 0.0, "std_error": float("nan"),
             "status": "inside rectangle" if ins else "outside rectangle (not certified)", "solver": region.solver,
             "global": region.is_global, "certified": region.certified if ins else False} for ins in inside]
    dm = DesignSpaceMap.from_rows("flextest", model.theta_p_names, axes, rows,
                                  settings={"algorithm": "flexibility test (Algorithm 3)", "set": region.set_kind,
                                            "solver": region.solver})
    dm.rectangles = [(r.lower, r.upper) for r in region.rectangles]
    return dm


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="flexspace", description="Probabilistic design spaces by flexibility analysis")
    sub = p.add_subparsers(dest="command")
    s = sub.add_parser("solvers", help="table of solvers: version, availability, global/local, a check solve")
    s.add_argument("--check", action="store_true", help="exit non-zero if ipopt/maingo/scip/highs is missing")
    s.add_argument("--time-limit", type=float, default=20.0)
    s.set_defaults(func=_cmd_solvers)
    d = sub.add_parser("demo", help="case 1: flexibility indices, Monte Carlo, and a design-space figure")
    d.add_argument("--out", default="demo_out")
    d.set_defaults(func=_cmd_demo)
    i = sub.add_parser("index", help="flexibility index of a shipped case at one theta_p")
    i.add_argument("model", choices=["case1", "case2"])
    i.add_argument("--theta-p", type=float, nargs="+", default=None)
    i.add_argument("--set", default="ellipsoid", choices=["box", "ellipsoid", "ldl"])
    i.add_argument("--solver", default="maingo")
    i.add_argument("--method", default="enumeration", choices=["enumeration", "minlp"])
    i.add_argument("--time-limit", type=float, default=60.0)
    i.add_argument("--json", action="store_true")
    i.add_argument("--formulation", default="full", choices=["full", "reduced"], help=FORM_HELP)
    i.set_defaults(func=_cmd_index)
    r = sub.add_parser("run", help="design space of a shipped case by Algorithm 1 (mc), 2 (flexindex) or 3 (flextest)")
    r.add_argument("model", choices=["case1", "case2"])
    r.add_argument("--method", default="mc", choices=["mc", "flexindex", "flextest"])
    r.add_argument("--set", default="ellipsoid", choices=["box", "ellipsoid", "ldl"])
    r.add_argument("--solver", default=None, help="default: maingo (flexindex), scip (flextest)")
    r.add_argument("--samples", type=int, default=1000, help="Monte Carlo samples per grid point")
    r.add_argument("--confidence", type=float, default=0.85, help="p_c")
    r.add_argument("--workers", type=int, default=1)
    r.add_argument("--out", default="flexspace_out")
    r.add_argument("--grid", type=int, nargs="+", default=None, help="points per theta_p axis (default: the seed's)")
    r.add_argument("--time-limit", type=float, default=20.0)
    r.add_argument("--seed", type=int, default=0, help="random_state of the Monte Carlo samples")
    r.add_argument("--theta-p", type=float, nargs="+", default=None, help="Algorithm 3 nominal point")
    r.add_argument("--move-nominal", action="store_true", help="Algorithm 3: also move the nominal point")
    r.add_argument("--no-checkpoint", action="store_true", help="do not write/resume DIR/checkpoint_*.jsonl")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--formulation", default="full", choices=["full", "reduced"], help=FORM_HELP)
    r.set_defaults(func=_cmd_run)
    from .bench import register as register_bench

    register_bench(sub)
    from .models.crystallization.cli import register

    register(sub)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
