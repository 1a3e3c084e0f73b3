"""``flexspace crystallization`` command (registered by :func:`register`).

Usage::

    flexspace crystallization run --out DIR [--quick] [--random-state N] [--doe FILE.csv] [--no-torch]

runs Steps 2–9 of the crystallization paper (:func:`flexspace.crystallization.workflow.run_workflow`) and writes
``DIR/report.md`` (every step) and ``DIR/report.html``, the engineer's report
(:func:`flexspace.crystallization.report.write_report`: recommendation, validation, gates,
figures, in one file); ``flexspace crystallization design-space ...`` is registered by
:func:`.crystallization_design_space.register_design_space`.
"""
from __future__ import annotations

import argparse
import os
import sys

from .crystallization_design_space import OneLineErrorParser, checked, error_line, register_design_space


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``crystallization`` command with its ``run`` sub-command to ``subparsers``."""
    p = subparsers.add_parser("crystallization", help="crystallization digital twin (in-silico lab, ML, NSGA-II)",
                              description="Data-driven digital design of a crystallization process "
                                          "(Barhate et al., PSE 2025) on the in-silico lab or your own DoE.")
    sub = p.add_subparsers(dest="crystallization_command")
    run = sub.add_parser("run", help="run the workflow (DoE → models → UQ → synthetic data → NSGA-II → report)")
    run.add_argument("--out", required=True,
                     help="output directory (report.html, report.md, figures/, data/, models/)")
    run.add_argument("--quick", action="store_true", help="reduced grids/ensembles/generations (about a minute)")
    run.add_argument("--random-state", type=checked("seed", "--random-state"), default=0,
                     help="seed of everything random, >= 0 (default 0)")
    run.add_argument("--doe", default=None, help="your own DoE CSV (13 feature columns + CQA columns)")
    run.add_argument("--no-torch", action="store_true", help="copula generator only (skip GAN/VAE)")
    run.set_defaults(func=_run)
    register_design_space(sub)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    return p


def _run(args) -> int:
    from ..crystallization.doe import DoEValidationError
    from ..crystallization.report import write_report
    from ..crystallization.workflow import run_workflow
    from ..errors import ValidationError
    from .common import check_out_dir

    try:
        check_out_dir(args.out)
        res = run_workflow(args.out, quick=args.quick, random_state=args.random_state, doe_csv=args.doe,
                           use_torch=False if args.no_torch else None)
    except (DoEValidationError, ValidationError) as exc:  # bad --doe file/table: one line, exit 2
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 2
    val = res.validation
    if val is not None:
        print(val[["CQA", "measured_mean", "measured_sd", "predicted_mean", "predicted_sigma", "within_2sigma"]]
              .to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    rep = write_report(res)
    for g in rep.gates:
        print(f"{g['verdict']:>12}  {g['gate']}")
    print(f"report: {os.path.abspath(rep.path)} (engineer's report, one file)\n"
          f"step-by-step report: {os.path.abspath(res.report)}")
    return 0


def main(argv=None) -> int:
    """Stand-alone entry (``python -m flexspace.cli.crystallization run --out DIR``)."""
    parser = OneLineErrorParser(prog="flexspace")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["crystallization", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
