"""``flexspace crystallization design-space`` (GitHub issue 6, item 5).

Usage::

    flexspace crystallization design-space --surrogate {mlp,rf,gbt} --params NAME NAME --out DIR
        [--grid 21] [--confidence 0.85] [--n-samples 2000] [--uncertainty-set box]
        [--solver highs] [--time-limit 60] [--random-state 0] [--doe FILE.csv]
        [--limit D50>=18 --limit DoA<=85 ...] [--sigma ensemble|total] [--activation relu|tanh]

fits the surrogates on the in-silico lab's DoE (or ``--doe``), embeds them through OMLT,
maps the design space over the two parameters (Monte Carlo, Algorithm 2) and finds the
Algorithm 3 rectangle, then writes ``DIR/design_space.csv``, ``DIR/design_space.png`` and
``DIR/design_space.md`` (see :mod:`flexspace.crystallization.design_space`).

:func:`register_design_space` adds the sub-command to the ``crystallization`` parser.
"""
from __future__ import annotations

import argparse
import sys

from ..crystallization.profile import CQA_NAMES, FEATURE_NAMES


def error_line(exc: BaseException) -> str:
    """The exception's message on one line (``error: ...`` output of the commands)."""
    return " ".join(str(exc).split())


def _find_crystallization_subparsers(subparsers):
    """The sub-command action of the ``crystallization`` parser (created by :func:`.crystallization.register`)."""
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
    p.add_argument("--confidence", type=float, default=0.85,
                   help="p_c, the probability the region must reach (default 0.85)")
    p.add_argument("--n-samples", type=int, default=2000, help="Monte Carlo samples per grid point (default 2000)")
    p.add_argument("--uncertainty-set", default="box", choices=("box", "ellipsoid", "ldl"),
                   help="uncertainty set (default box)")
    p.add_argument("--solver", default=None, help="default: highs (trees, ReLU MLP), ipopt (smooth MLP; see design_space.default_solver)")
    p.add_argument("--random-state", type=int, default=0, help="seed of the DoE, the fits and the MC samples")
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
    from ..crystallization.design_space import DEFAULT_CQAS, SurrogateSpec, run_design_space
    from ..crystallization.doe import DoEValidationError, load_doe, require_measured

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
        if doe is not None:  # one surrogate per CQA, fitted on every row where it was measured
            require_measured(doe, DEFAULT_CQAS, source=args.doe, purpose="design-space (one surrogate per CQA)")
    except (ValueError, DoEValidationError) as exc:
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 2
    spec = SurrogateSpec(kind=args.surrogate, params=args.params, limits=limits, sigma=args.sigma,
                         activation=args.activation, doe=doe)
    res = run_design_space(spec, args.out, n_grid=args.grid, confidence=args.confidence, n_samples=args.n_samples,
                           uncertainty_set=args.uncertainty_set, solver=args.solver,
                           options={"time_limit": args.time_limit}, random_state=args.random_state)
    t = res["timings"]
    print(f"MC {t['mc_s']:.1f} s, Alg 2 {t['alg2_s']:.1f} s, Alg 3 {t['alg3_s']:.1f} s; ordering {res['ordering']}")
    print(f"map: {res['csv']}\nfigure: {res['figure']}")
    return 0 if res["ordering"]["n_failed_alg2"] == 0 else 1


def main(argv=None) -> int:
    """Stand-alone entry: ``python -m flexspace.cli.crystallization_design_space --out DIR ...``.

    Builds ``flexspace crystallization design-space`` alone (the full command is registered by
    :func:`flexspace.cli.crystallization.register`, which imports this module)."""
    parser = argparse.ArgumentParser(prog="flexspace")
    crystallization = parser.add_subparsers(dest="command").add_parser("crystallization")
    register_design_space(crystallization.add_subparsers(dest="crystallization_command"))
    args = parser.parse_args(["crystallization", "design-space", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
