"""``flexspace crystallization design-space``: the design space of the crystallization CQA models.

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
from pathlib import Path

from ..crystallization.profile import CQA_NAMES, FEATURE_NAMES
from .common import SET_NAMES


def error_line(exc: BaseException) -> str:
    """The exception's message on one line (``error: ...`` output of the commands)."""
    return " ".join(str(exc).split())


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse whose errors are one line ``error: ...`` with exit code 2 (as ``flexspace``'s
    own parser), for the stand-alone entries of the crystallization commands."""

    def error(self, message):  # noqa: D401
        self.exit(2, f"error: {self.prog}: {message}\n")


def checked(kind: str, flag: str):
    """An argparse ``type`` for ``flag``: ``kind`` is ``"count"`` (int >= 1), ``"seed"``
    (int >= 0), ``"probability"`` (in (0, 1)) or ``"positive"`` (a number > 0).  The message
    names the flag, what it expects and what it got (checked before any compute)."""
    from ..validation import ValidationError, check_number, check_probability, check_random_state

    integer = kind in ("count", "seed")
    checks = {"count": lambda v: check_number(flag, v, integer=True, low=1),
              "seed": lambda v: check_random_state(flag, v),
              "probability": lambda v: check_probability(flag, v),
              "positive": lambda v: check_number(flag, v, low=0, low_open=True)}
    check = checks[kind]

    def parse(text):
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{flag} must be {'an integer' if integer else 'a number'}, got {text!r}") from None
        try:
            check(value)
        except ValidationError as exc:
            raise argparse.ArgumentTypeError(error_line(exc)) from None
        return value
    parse.__name__ = flag
    return parse


def parse_limit(text: str):
    """``--limit`` text ``CQA>=V`` or ``CQA<=V`` → ``(cqa, (op, V))``; an argparse ``type``
    whose errors name the flag, the form expected and what was given."""
    import math

    s = text.replace(" ", "")
    for op in (">=", "<="):
        if op in s:
            name, val = s.split(op, 1)
            break
    else:
        raise argparse.ArgumentTypeError(f"--limit must be CQA>=VALUE or CQA<=VALUE (e.g. D50>=18), got {text!r}")
    if name not in CQA_NAMES:
        raise argparse.ArgumentTypeError(f"--limit {text!r}: unknown CQA {name!r}; choose from {list(CQA_NAMES)}")
    try:
        value = float(val)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--limit {text!r}: the value must be a number (e.g. {name}{op}18), "
                                         f"got {val!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"--limit {text!r}: the value must be a finite number, got {val!r}")
    return name, (op, value)


def _one_limit_per_cqa(pairs):
    """``--limit`` pairs as ``{cqa: (op, V)}``; a CQA given twice is refused (one limit per
    CQA: the later one must not silently replace the earlier)."""
    if not pairs:
        return None
    from ..errors import ValidationError

    seen = {}
    for name, lim in pairs:
        if name in seen:
            raise ValidationError(f"--limit: {name} is limited twice ({name}{seen[name][0]}{seen[name][1]:g} and "
                                  f"{name}{lim[0]}{lim[1]:g}); one limit per CQA is supported: keep one")
        seen[name] = lim
    return seen


def _feature(text: str) -> str:
    if text not in FEATURE_NAMES:
        raise argparse.ArgumentTypeError(f"unknown parameter {text!r}; choose from {list(FEATURE_NAMES)}")
    return text


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
    p.add_argument("--params", nargs=2, metavar="NAME", default=["seed_loading", "C"], type=_feature,
                   help=f"two θp features (default seed_loading C); choose from {', '.join(FEATURE_NAMES)}")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--grid", type=checked("count", "--grid"), default=21,
                   help="grid points per parameter, >= 1 (default 21; 1 = the midpoint of each axis)")
    p.add_argument("--confidence", type=checked("probability", "--confidence"), default=0.85,
                   help="p_c, the probability the region must reach (default 0.85)")
    p.add_argument("--n-samples", type=checked("count", "--n-samples"), default=2000,
                   help="Monte Carlo samples per grid point, >= 1 (default 2000)")
    p.add_argument("--uncertainty-set", default="box", choices=SET_NAMES,
                   help="uncertainty set (default box)")
    p.add_argument("--solver", default=None,
                   help="default: highs (trees, ReLU MLP), ipopt (smooth MLP; see design_space.default_solver)")
    p.add_argument("--random-state", type=checked("seed", "--random-state"), default=0,
                   help="seed of the DoE, the fits and the MC samples, >= 0 (default 0)")
    p.add_argument("--doe", default=None, help="your own DoE CSV (13 features + CQA columns)")
    p.add_argument("--limit", action="append", default=None, metavar="CQA<=V|CQA>=V", type=parse_limit,
                   help="a CQA limit, repeatable (default: data-driven limits, see design_space.auto_limits)")
    p.add_argument("--sigma", choices=("ensemble", "total"), default="ensemble",
                   help="θm standard deviation: ensemble spread (default) or + out-of-sample residuals")
    p.add_argument("--activation", choices=("relu", "tanh"), default="relu", help="MLP activation (default relu)")
    p.add_argument("--time-limit", type=checked("positive", "--time-limit"), default=60.0,
                   help="seconds per solve, > 0 (default 60)")
    p.set_defaults(func=_run)
    return p


def _check_solver(name) -> None:
    """``--solver``: a solver flexspace knows and that is installed here (checked before any fit)."""
    from ..errors import ValidationError
    from ..solvers import available_solvers, solver_names

    if name is None:
        return
    if name.lower() not in solver_names():
        raise ValidationError(f"--solver must be one of {sorted(solver_names())}, got {name!r}")
    if name.lower() not in available_solvers():
        from ..solvers import unavailable_reason
        from ..solvers.registry import backend_class

        raise ValidationError(f"--solver {name!r} is not available here: "
                              f"{unavailable_reason(backend_class(name))}; available: {available_solvers()} "
                              "(see `flexspace solvers`)")


def _run(args) -> int:
    from ..crystallization.design_space import DEFAULT_CQAS, SurrogateSpec, run_design_space
    from ..crystallization.doe import DoEValidationError, load_doe, require_measured
    from ..errors import ValidationError
    from .common import check_out_dir

    try:
        if args.params[0] == args.params[1]:
            raise ValidationError(f"--params must be two different features, got {args.params[0]!r} twice")
        _check_solver(args.solver)
        check_out_dir(args.out)
        limits = _one_limit_per_cqa(args.limit)
        doe = load_doe(args.doe) if args.doe else None
        if doe is not None:  # one surrogate per CQA, fitted on every row where it was measured
            require_measured(doe, DEFAULT_CQAS, source=args.doe, purpose="design-space (one surrogate per CQA)")
    except (ValueError, OSError, DoEValidationError) as exc:
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 2
    spec = SurrogateSpec(kind=args.surrogate, params=args.params, limits=limits, sigma=args.sigma,
                         activation=args.activation, doe=doe)
    res = run_design_space(spec, args.out, n_grid=args.grid, confidence=args.confidence, n_samples=args.n_samples,
                           uncertainty_set=args.uncertainty_set, solver=args.solver,
                           options={"time_limit": args.time_limit}, random_state=args.random_state)
    t = res["timings"]
    print(f"MC {t['mc_s']:.1f} s, Alg 2 {t['alg2_s']:.1f} s, Alg 3 {t['alg3_s']:.1f} s; ordering {res['ordering']}")
    print(f"limits: {res['limits']}")
    print(f"Algorithm 3: {res['alg3_status']}, delta_p = {res['delta_p']:.4g}"
          + (f"; not converged because {res['alg3_reason']}" if res["alg3_reason"] else ""))
    out = Path(args.out).resolve()
    print(f"map: {Path(res['csv']).resolve()}\nfigure: {Path(res['figure']).resolve()}\n"
          f"summary: {out / 'design_space.md'}")
    return 0 if res["ordering"]["n_failed_alg2"] == 0 else 1


def main(argv=None) -> int:
    """Stand-alone entry: ``python -m flexspace.cli.crystallization_design_space --out DIR ...``.

    Builds ``flexspace crystallization design-space`` alone (the full command is registered by
    :func:`flexspace.cli.crystallization.register`, which imports this module)."""
    parser = OneLineErrorParser(prog="flexspace")
    crystallization = parser.add_subparsers(dest="command").add_parser("crystallization")
    register_design_space(crystallization.add_subparsers(dest="crystallization_command"))
    args = parser.parse_args(["crystallization", "design-space", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
