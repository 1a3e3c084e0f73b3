"""``flexspace crystallization design-space`` (GitHub issue 6, item 5).

Usage::

    flexspace crystallization design-space --surrogate {mlp,rf,gbt} --params NAME NAME --out DIR
        [--grid 21] [--pc 0.85] [--n-mc 2000] [--set box] [--solver highs] [--seed 0]
        [--doe FILE.csv] [--limit D50>=18 --limit DoA<=85 ...] [--sigma ensemble|total]
        [--activation relu|tanh]

fits the surrogates on the in-silico lab's DoE (or ``--doe``), embeds them through OMLT,
maps the design space over the two parameters (Monte Carlo, Algorithm 2) and finds the
Algorithm 3 rectangle, then writes ``DIR/design_space.csv``, ``DIR/design_space.png`` and
``DIR/design_space.md`` (see :mod:`.design_space`).

:func:`register_design_space` adds the sub-command to the ``crystallization`` parser.
"""
from __future__ import annotations

import argparse
import sys

from .profile import CQA_NAMES, FEATURE_NAMES


def _find_crystallization_subparsers(subparsers):
    """The sub-command action of the ``crystallization`` parser (created by :func:`.cli.register`)."""
    parser = subparsers.choices.get("crystallization") if hasattr(subparsers, "choices") else None
    if parser is None:
        return None
    for action in parser._actions:  # noqa: SLF001 - argparse has no public accessor
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            return action
    return None


def register_design_space(subparsers) -> argparse.ArgumentParser:
    """Add ``design-space`` under ``crystallization``.

    ``subparsers`` may be the top-level sub-parsers action (the ``crystallization``
    parser must already be registered there) or the ``crystallization`` parser's own
    sub-parsers action."""
    target = _find_crystallization_subparsers(subparsers) or subparsers
    if "design-space" in getattr(target, "choices", {}):  # already registered (idempotent)
        return target.choices["design-space"]
    p = target.add_parser(
        "design-space", help="design space of OMLT-embedded surrogates (MC, flexibility index, Alg. 3)",
        description="Fit surrogates, embed them in Pyomo through OMLT, and map the probabilistic design space "
                    "over two profile features: Monte Carlo (Alg. 1), flexibility index (Alg. 2), extended "
                    "flexibility test rectangle (Alg. 3).")
    p.add_argument("--surrogate", choices=("mlp", "rf", "gbt"), default="gbt", help="surrogate type (default gbt)")
    p.add_argument("--params", nargs=2, metavar="NAME", default=["seed_loading", "C"],
                   help=f"two θp features (default seed_loading C); choose from {', '.join(FEATURE_NAMES)}")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--grid", type=int, default=21, help="grid points per parameter (default 21)")
    p.add_argument("--pc", type=float, default=0.85, help="confidence level p_c (default 0.85)")
    p.add_argument("--n-mc", type=int, default=2000, help="Monte Carlo samples per grid point (default 2000)")
    p.add_argument("--set", default="box", choices=("box", "ellipsoid", "ldl"), help="uncertainty set (default box)")
    p.add_argument("--solver", default=None, help="default: highs (trees, ReLU MLP), ipopt (smooth MLP; see design_space.default_solver)")
    p.add_argument("--seed", type=int, default=0, help="random_state (DoE, fits, MC samples)")
    p.add_argument("--doe", default=None, help="your own DoE CSV (13 features + CQA columns)")
    p.add_argument("--limit", action="append", default=None, metavar="CQA<=V|CQA>=V",
                   help="a CQA limit, repeatable (default: data-driven limits, see design_space.auto_limits)")
    p.add_argument("--sigma", choices=("ensemble", "total"), default="ensemble",
                   help="θm standard deviation: ensemble spread (default) or + out-of-sample residuals")
    p.add_argument("--activation", choices=("relu", "tanh"), default="relu", help="MLP activation (default relu)")
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds per solve (default 60)")
    p.set_defaults(func=_run)
    return p


def _parse_limits(items):
    if not items:
        return None
    out = {}
    for it in items:
        s = it.replace(" ", "")
        for op in (">=", "<="):
            if op in s:
                name, val = s.split(op, 1)
                if name not in CQA_NAMES:
                    raise ValueError(f"--limit {it!r}: unknown CQA {name!r}; choose from {CQA_NAMES}")
                out[name] = (op, float(val))
                break
        else:
            raise ValueError(f"--limit {it!r}: write CQA>=VALUE or CQA<=VALUE")
    return out


def _run(args) -> int:
    from .design_space import run_design_space
    from .doe import DoEValidationError, load_doe

    for p in args.params:
        if p not in FEATURE_NAMES:
            print(f"error: unknown parameter {p!r}; choose from {list(FEATURE_NAMES)}", file=sys.stderr)
            return 2
    if args.params[0] == args.params[1]:
        print("error: give two different parameters", file=sys.stderr)
        return 2
    try:
        limits = _parse_limits(args.limit)
        doe = load_doe(args.doe) if args.doe else None
    except (ValueError, DoEValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    res = run_design_space(args.surrogate, args.params, args.out, n_grid=args.grid, p_c=args.pc, n_mc=args.n_mc,
                           uncertainty_set=args.set, solver=args.solver, doe=doe, limits=limits, sigma=args.sigma,
                           random_state=args.seed, time_limit=args.time_limit, activation=args.activation)
    t = res["timings"]
    print(f"MC {t['mc_s']:.1f} s, Alg 2 {t['alg2_s']:.1f} s, Alg 3 {t['alg3_s']:.1f} s; ordering {res['ordering']}")
    print(f"map: {res['csv']}\nfigure: {res['figure']}")
    return 0 if res["ordering"]["n_failed_alg2"] == 0 else 1


def main(argv=None) -> int:
    """Stand-alone entry: ``python -m flexspace.models.crystallization.cli_design_space --out DIR ...``."""
    from . import cli as ccli

    parser = argparse.ArgumentParser(prog="flexspace")
    sub = parser.add_subparsers(dest="command")
    ccli.register(sub)
    register_design_space(sub)
    args = parser.parse_args(["crystallization", "design-space", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
