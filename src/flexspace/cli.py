"""Command line: ``flexspace solvers``, ``flexspace demo``, ``flexspace index``, ``flexspace crystallization``."""
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


def _load_model(name: str):
    from .models import case1, case2

    cases = {"case1": case1, "case2": case2}
    if name not in cases:
        raise SystemExit(f"unknown model {name!r}; choose from {sorted(cases)}")
    return cases[name].model()


def _cmd_index(args) -> int:
    from .formulations import flexibility_index

    model = _load_model(args.model)
    theta_p = args.theta_p if args.theta_p else None
    r = flexibility_index(model, theta_p, args.set, args.solver, method=args.method, time_limit=args.time_limit)
    print(r)
    if args.json:
        print(json.dumps(r.to_dict(), indent=2, default=str))
    return 0 if r.ok else 1


def _cmd_demo(args) -> int:
    """Case 1: flexibility index (box/ellipsoid × local/global) and Monte Carlo at the nominal
    point, then a Monte Carlo probability map with the flexibility-index region (figure)."""
    import numpy as np

    from .formulations import FlexibilityAnalysis
    from .models import case1
    from .montecarlo import monte_carlo_probability, sample_theta_m
    from .solvers import available_solvers

    os.makedirs(args.out, exist_ok=True)
    model = case1.model()
    tp = model.theta_p_nominal
    print(f"flexspace demo: case 1 ({model.description})")
    print(f"nominal theta_p: R_BA={tp[0]}, tau={tp[1]} s; covariance of (k1, k2) is a RECONSTRUCTION "
          "(10 % CV, see flexspace.models.case1)\n")
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

    # a design space: MC map on the seed's 11 x 21 grid, and Alg-2-style ellipsoid index map (local)
    t0 = time.perf_counter()
    R = np.linspace(*case1.THETA_P_BOUNDS[0], case1.GRID_SHAPE[0])
    T = np.linspace(*case1.THETA_P_BOUNDS[1], case1.GRID_SHAPE[1])
    samples = sample_theta_m(model, 1000, random_state=0)
    P = np.array([[monte_carlo_probability(model, (r, t), samples=samples).probability for t in T] for r in R])
    t_mc = time.perf_counter() - t0
    fa = FlexibilityAnalysis(model, "ellipsoid", "ipopt" if "ipopt" in avail else solvers[0])
    t0 = time.perf_counter()
    F = np.full(P.shape, np.nan)
    for i, r in enumerate(R):
        for j, t in enumerate(T):
            res = fa.index((r, t), certify=False)
            F[i, j] = res.probability if res.ok else np.nan
    t_fi = time.perf_counter() - t0
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, Z, title in ((axes[0], P, f"Monte Carlo (1000 samples, {t_mc:.2f} s)"),
                         (axes[1], F, f"Flexibility index, ellipsoid, {fa.solver.name} ({t_fi:.1f} s)")):
        im = ax.pcolormesh(T, R, Z, vmin=0, vmax=1, cmap="viridis", shading="nearest")
        ax.contour(T, R, np.nan_to_num(Z, nan=0.0), levels=[0.85], colors="w", linewidths=2)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("tau [s]")
    axes[0].set_ylabel("R_BA [-]")
    fig.colorbar(im, ax=axes, label="probability CQAs met (white: 0.85)")
    path = os.path.join(args.out, "case1_design_space.png")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    n85 = int(np.sum(P >= 0.85)), int(np.sum(F >= 0.85))
    print(f"\ndesign space at p_c = 0.85 on the 11x21 grid: Monte Carlo {n85[0]} points ({t_mc:.2f} s), "
          f"flexibility index {n85[1]} points ({t_fi:.1f} s)")
    print(f"figure: {path}")
    return 0


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
    i.set_defaults(func=_cmd_index)
    try:
        from .models.crystallization.cli import register
    except ImportError:  # pragma: no cover
        pass
    else:
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
