"""Command line: ``flexspace solvers``, ``flexspace demo``, ``flexspace index``, ``flexspace run``,
``flexspace crystallization``."""
from __future__ import annotations

import argparse
import functools
import importlib
import inspect
import json
import math
import os
import sys
import time

from .common import SET_NAMES, check_out_dir, progress_for, stdout_to_stderr

CORE_SOLVERS = ("ipopt", "maingo", "scip", "highs")


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line ``error: ...`` with exit code 2."""

    def error(self, message):  # noqa: D401
        self.exit(2, f"error: {self.prog}: {message}\n")


def _checked(check, name, convert=float):
    """An argparse ``type`` that converts the text and runs a flexspace validator on it."""
    from ..validation import ValidationError

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            what = "an integer" if convert is int else "a number"
            raise argparse.ArgumentTypeError(f"{name} must be {what}, got {text!r}") from None
        try:
            check(name, value)
        except ValidationError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value
    parse.__name__ = name
    return parse


def _positive(name, value):
    from ..validation import check_number

    check_number(name, value, low=0, low_open=True)


def _count(name, value):
    from ..validation import check_number

    check_number(name, value, integer=True, low=1)


def _count_or_zero(name, value):
    from ..validation import check_number

    check_number(name, value, integer=True, low=0)


def _probability(name, value):
    from ..validation import check_probability

    check_probability(name, value)


def _cmd_solvers(args) -> int:
    from ..solvers import solver_table

    rows = solver_table(time_limit=args.time_limit)
    cols = ["name", "version", "available", "type", "problem", "check"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    print("  ".join("-" * widths[c] for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols))
    unavailable = [r for r in rows if not r["available"]]
    if unavailable:
        print("\nunavailable here, why and how to fix it:")
        for r in unavailable:  # one line each: its commands copy as they are
            print(f"  {r['name']}: {r['why'] or r['check']}")
    if args.check:
        missing = [r["name"] for r in rows if r["name"] in CORE_SOLVERS and not r["available"]]
        if missing:
            print(f"\nmissing or failing core solvers: {missing}; the reasons are above. The solvers' Python "
                  'packages: pip install "flexspace[solvers]" (from a source checkout: `make setup`)',
                  file=sys.stderr)
            return 1
    return 0


FORM_HELP = ("the design-space paper's full model, or the reduced-space form of the same steady state (the one MAiNGO "
             "solves on case 2)")


MODEL_HELP = ("a shipped case ({cases}), or your own model as module:factory or package.module:factory: a function "
              "returning a flexspace.ProcessModel, imported from the current directory or the installed packages "
              "(it may take a keyword `formulation`, passed when --formulation is not full)")


def _load_model(spec: str, formulation: str = "full"):
    """The positional ``case`` of ``run``/``index``: a shipped case name, or ``module:factory``
    (a user's zero-argument function returning a ProcessModel)."""
    from ..errors import ValidationError
    from ..models.cases import CASES, case_model

    if ":" in spec:
        return _user_model(spec, formulation)
    if spec not in CASES:
        raise ValidationError(f"unknown case {spec!r}: choose a shipped case ({', '.join(sorted(CASES))}), or give "
                              "your own model as module:factory (package.module:factory), a function returning a "
                              "flexspace.ProcessModel, e.g. `flexspace run mymodel:make` run from the directory "
                              "that holds mymodel.py")
    return case_model(spec, formulation)


def _user_model(spec: str, formulation: str):
    """``module:factory`` -> its ProcessModel, with a picklable ``factory`` for worker processes."""
    from ..errors import ValidationError

    factory = _import_factory(spec)
    takes = _accepts_formulation(spec, factory)
    if formulation != "full" and not takes:
        raise ValidationError(f"--formulation {formulation}: the factory {spec!r} takes no keyword `formulation`, so "
                              "only its full model exists; drop --formulation, or give the factory a parameter "
                              "formulation=\"full\" that builds the other forms")
    form = formulation if formulation != "full" else None
    model = _call_factory(spec, form, factory)
    if getattr(model, "factory", None) is None:  # workers rebuild it by re-importing it (the partial pickles)
        model.factory = functools.partial(_call_factory, spec, *([form] if form else []))
    return model


def _import_factory(spec: str):
    """Import ``module`` of ``module:factory`` (the current directory first on sys.path for the
    import only) and return its callable ``factory``; every failure is a ValidationError."""
    from ..errors import ValidationError

    module_name, _, attr = spec.partition(":")
    if module_name.endswith(".py"):
        raise ValidationError(f"model {spec!r}: give the module's name, not its file: "
                              f"{module_name[:-3].replace(os.sep, '.')}:{attr} (run from the directory that holds "
                              f"{os.path.basename(module_name)})")
    if not all(p.isidentifier() for p in module_name.split(".") + attr.split(".")):
        raise ValidationError(f"model {spec!r}: give module:factory with a dotted Python module name and a function "
                              "name, e.g. mymodel:make for the function make in mymodel.py (no path, no .py; run "
                              "from the directory that holds the file)")
    module = _import_module(spec, module_name)
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValidationError(f"model {spec!r}: module {module_name!r} ({getattr(module, '__file__', '?')}) has no "
                                  f"attribute {attr!r}; define a function {attr}() there returning a "
                                  "flexspace.ProcessModel, or fix the name after the ':'")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValidationError(f"model {spec!r}: {module_name}.{attr} is not callable (it is {obj!r:.40}, of type "
                              f"{type(obj).__name__}); name a zero-argument function that returns a "
                              "flexspace.ProcessModel")
    return obj


def _import_module(spec: str, module_name: str):
    from ..errors import ValidationError

    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        importlib.invalidate_caches()
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise ValidationError(f"model {spec!r}: module {module_name!r} not found (run from the directory that "
                                  f"holds it, or install it; searched {cwd} and the installed packages)") from None
        raise ValidationError(f"model {spec!r}: importing module {module_name!r} failed: {exc} (install the "
                              "missing package)") from None
    except Exception as exc:  # noqa: BLE001 - the user's module failed on import
        raise ValidationError(f"model {spec!r}: importing module {module_name!r} raised {type(exc).__name__}: "
                              f"{exc}{_where(exc)}; fix the module") from None
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def _accepts_formulation(spec: str, factory) -> bool:
    """Whether ``factory`` takes the keyword ``formulation``; a factory that needs arguments is refused."""
    from ..errors import ValidationError

    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins without a signature: called as they are
        return False
    try:
        sig.bind()
    except TypeError:
        raise ValidationError(f"model {spec!r}: the factory must be callable with no arguments, its signature is "
                              f"{sig}; give the other parameters defaults (or wrap it in a function)") from None
    try:
        sig.bind(formulation="full")
        return True
    except TypeError:
        return False


def _call_factory(spec: str, formulation=None, factory=None):
    """Call the user's ``module:factory`` (importing it when ``factory`` is not given) and check
    that it returned a ProcessModel.  Module-level, so ``functools.partial(_call_factory, spec)``
    pickles: worker processes rebuild the model with it."""
    from ..errors import ValidationError
    from ..models.base import ProcessModel

    if factory is None:
        factory = _import_factory(spec)
    try:
        model = factory() if formulation is None else factory(formulation=formulation)
    except Exception as exc:  # noqa: BLE001 - the user's factory failed
        raise ValidationError(f"model {spec!r}: the factory raised {type(exc).__name__}: {exc}{_where(exc)}; fix "
                              "the factory so that it returns a flexspace.ProcessModel") from None
    if not isinstance(model, ProcessModel):
        raise ValidationError(f"model {spec!r}: the factory returned {type(model).__name__} ({model!r:.60}), not a "
                              "flexspace.ProcessModel; return ProcessModel(m, theta_p=..., theta_m=..., "
                              "constraints=..., covariance=...)")
    return model


def _where(exc) -> str:
    """`` (at file:line)`` of the innermost frame of the traceback, to find the failing line."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def _what(spec: str) -> str:
    return f"model {spec!r}" if ":" in spec else f"case {spec!r}"


def _cmd_index(args) -> int:
    """The index at one point; with ``--json`` stdout holds the JSON alone (the human summary,
    warnings and solver output go to stderr)."""
    from ..formulations import flexibility_index

    with stdout_to_stderr(args.json):
        model = _load_model(args.case, args.formulation)
        theta_p = args.theta_p if args.theta_p else None
        r = flexibility_index(model, theta_p, args.uncertainty_set, args.solver, method=args.method,
                              options={"time_limit": args.time_limit})
        print(r)
    if args.json:
        from ..files import jsonable

        print(json.dumps(jsonable(r.to_dict()), indent=2, default=str, allow_nan=False),  # strict JSON: NaN -> null
              flush=True)
    return 0 if r.trusted else 1  # exact, a proven bound, or sampled (the status says which)


def _cmd_demo(args) -> int:
    """Case 1: flexibility index (box/ellipsoid × local/global) and Monte Carlo at the nominal
    point, then the design space by all three algorithms (Monte Carlo map, flexibility-index
    map with MAiNGO on 2 workers, Algorithm 3 rectangle) in one overlay figure."""
    from ..models.cases import case_model

    check_out_dir(args.out)
    model = case_model("case1")
    _demo_point(model)
    confidence = 0.85
    shape = "x".join(str(n) for n in model.grid_shape)
    print(f"\ndesign space on the design-space paper's {shape} grid, confidence = {confidence}:")
    mc_map, fi_map, region = _demo_maps(model, confidence)
    path = os.path.join(args.out, "case1_design_space.png")
    from ..designspace import design_space_figure

    design_space_figure([mc_map, fi_map], region, confidence).savefig(path, dpi=120, bbox_inches="tight")
    print(f"figure: {os.path.abspath(path)}")
    _demo_idaes_case()
    return 0


def _demo_idaes_case() -> None:
    """Case 3, the IDAES CSTR flowsheet, at its nominal θp: the ellipsoid index per solver (a few
    seconds) and Monte Carlo; its maps: ``flexspace run case3`` and ``benchmarks/bench_case3.py``."""
    from ..formulations import FlexibilityAnalysis
    from ..models.cases import case_model
    from ..montecarlo import monte_carlo_probability
    from ..solvers import available_solvers

    model = case_model("case3")
    tp = model.theta_p_nominal
    print(f"\ncase 3 ({model.description}) at V={tp[0]:g} m3, T_in={tp[1]:g} K; covariance of (k0, Ea) is an "
          "ASSUMPTION (see flexspace.models.cases.case3)")
    print(f"{'set':<10}{'solver':<8}{'type':<8}{'delta':>12}{'P(set)':>10}{'status':>12}{'time [s]':>10}")
    for sv in [s for s in ("ipopt", "scip") if s in available_solvers()]:
        t0 = time.perf_counter()
        r = FlexibilityAnalysis(model, "ellipsoid", sv, diagnose_failures=False).index(tp)
        print(f"{'ellipsoid':<10}{sv:<8}{'global' if r.is_global else 'local':<8}{r.delta:>12.7f}"
              f"{r.probability:>10.5f}{r.status.value:>12}{time.perf_counter() - t0:>10.2f}")
    mc = monte_carlo_probability(model, tp, 100000, random_state=0)
    print(f"Monte Carlo (100000 samples): P = {mc.probability:.5f} ± {mc.std_error:.5f}")


def _demo_point(model) -> None:
    import numpy as np

    from ..formulations import FlexibilityAnalysis
    from ..montecarlo import monte_carlo_probability
    from ..solvers import available_solvers

    tp = model.theta_p_nominal
    print(f"flexspace demo: case 1 ({model.description})")
    cv = np.sqrt(np.diag(model.covariance)) / model.theta_m_nominal
    print(f"nominal theta_p: R_BA={tp[0]}, tau={tp[1]} s; covariance of (k1, k2) is a RECONSTRUCTION "
          f"({', '.join(f'{100 * c:.3g} %' for c in cv)} CV, see flexspace.models.cases.case1)\n")
    solvers = [s for s in ("ipopt", "maingo") if s in available_solvers()]
    print(f"{'set':<10}{'solver':<8}{'type':<8}{'delta':>10}{'P(set)':>10}{'status':>20}  quality")
    for s in ("box", "ellipsoid"):
        for sv in solvers:
            r = FlexibilityAnalysis(model, s, sv).index(tp)
            print(f"{s:<10}{sv:<8}{'global' if r.is_global else 'local':<8}{r.delta:>10.5f}"
                  f"{r.probability:>10.5f}{r.status.value:>20}  {r.solve_quality}")
    mc = monte_carlo_probability(model, tp, 100000, random_state=0)
    print(f"\nMonte Carlo (100000 samples) at the nominal point: P = {mc.probability:.5f} "
          f"± {mc.std_error:.5f} (failed samples: {mc.n_failed})")


def _demo_maps(model, confidence):
    from ..designspace import flexibility_index_map, flexibility_test_region, make_grid, monte_carlo_map
    from ..solvers import available_solvers

    avail = available_solvers()
    n = math.prod(len(axis) for axis in make_grid(model))
    print(f"Algorithm 1: Monte Carlo map, {n} points, 1000 samples ...", flush=True)
    mc_map = monte_carlo_map(model, n_samples=1000, random_state=0, progress=progress_for("Algorithm 1"))
    fi_solver = "maingo" if "maingo" in avail else ("scip" if "scip" in avail else "ipopt")
    print(f"Algorithm 2: flexibility index map, {n} points, {fi_solver}, 2 workers ...", flush=True)
    fi_map = flexibility_index_map(model, uncertainty_set="ellipsoid", solver=fi_solver, workers=2,
                                   progress=progress_for("Algorithm 2"))
    # Algorithm 3 with SCIP: an extended test takes ~0.25 s with SCIP and 3-10 s with MAiNGO (measured)
    a3_solver = "scip" if "scip" in avail else fi_solver
    print(f"Algorithm 3: flexibility test rectangle, {a3_solver} ...", flush=True)
    t0 = time.perf_counter()
    region = flexibility_test_region(model, confidence, uncertainty_set="ellipsoid", solver=a3_solver)
    t_a3 = time.perf_counter() - t0
    rows = [("Algorithm 1: Monte Carlo (1000 samples)", "monte carlo", mc_map.run_info["elapsed_s"],
             int(mc_map.region(confidence).sum()), int(mc_map.failed.sum())),
            ("Algorithm 2: flexibility index (ellipsoid, 2 workers)", fi_solver, fi_map.run_info["elapsed_s"],
             int(fi_map.region(confidence).sum()), int(fi_map.failed.sum())),
            ("Algorithm 3: flexibility test rectangle (ellipsoid)", a3_solver, t_a3,
             int(region.contains(mc_map.points).sum()), region.n_failed)]
    print(f"{'method':<56}{'solver':<13}{'time [s]':>9}{'points in region':>18}{'failed':>8}")
    for name, sv, t, n, f in rows:
        print(f"{name:<56}{sv:<13}{t:>9.2f}{n:>18d}{f:>8d}")
    print(str(region))
    return mc_map, fi_map, region


def _cmd_run(args) -> int:
    """``flexspace run CASE|MODULE:FACTORY --method {mc,flexindex,flextest} ...``: DIR/map.csv, map.png,
    summary.json (map.png: for 1 or 2 theta_p)."""
    from ..designspace import DesignSpaceMap, make_grid
    from ..errors import ValidationError
    from ..files import jsonable as _jsonable
    from ..files import write_atomic

    model = _load_model(args.case, args.formulation)
    if model.n_p == 0:
        raise ValidationError(f"{_what(args.case)} has no process parameters (theta_p): maps need them; use "
                              f"`flexspace index {args.case}` for its flexibility index")
    _check_controls_flag(args, model)
    if args.solver is None:
        args.solver = "scip" if args.method == "flextest" else "maingo"
    if args.grid and len(args.grid) not in (1, model.n_p):
        raise ValidationError(f"--grid takes one number or one per theta_p ({model.n_p}: "
                              f"{', '.join(model.theta_p_names)}), got {len(args.grid)} numbers")
    if args.theta_p is not None and len(args.theta_p) != model.n_p:
        raise ValidationError(f"--theta-p takes {model.n_p} numbers ({', '.join(model.theta_p_names)}), "
                              f"got {len(args.theta_p)}")
    check_out_dir(args.out)
    axes = make_grid(model, tuple(args.grid) if args.grid else None)
    t0 = time.perf_counter()
    summary = {"settings": {k: v for k, v in vars(args).items() if k != "func"}}
    dmap, region = _run_method(args, model, axes)
    if region is not None:
        summary["region"] = region.to_dict()
        print(region)
        dmap = DesignSpaceMap.from_region(region, axes)  # grid points inside the rectangle(s): probability >= confidence
    dmap.to_csv(os.path.join(args.out, "map.csv"), metadata=False)  # plain CSV; metadata: summary.json
    summary["map_metadata"] = dmap.metadata()
    fig = _map_figure(dmap, region, args.confidence, f"flexspace run {args.case} --method {args.method}")
    if fig is not None:
        fig.savefig(os.path.join(args.out, "map.png"), dpi=120, bbox_inches="tight")
    else:
        summary["figure"] = f"map.png not drawn: the figure shows 1 or 2 theta_p, this model has {model.n_p}"
        print(summary["figure"])
    summary["map"] = dmap.summary(args.confidence)
    summary["time_s"] = time.perf_counter() - t0
    text = json.dumps(_jsonable(summary), indent=2, default=str).encode("utf-8")
    write_atomic([(os.path.join(args.out, "summary.json"), lambda f: f.write(text))])
    written = ", ".join(["map.csv"] + (["map.png"] if fig is not None else []) + ["summary.json"])
    print(f"{args.method} map of {args.case}: {dmap.status_counts}; {int(dmap.region(args.confidence).sum())} "
          f"points with probability >= {args.confidence}; {summary['time_s']:.2f} s -> {written} in "
          f"{os.path.abspath(args.out)}")
    if len(dmap.table) and (dmap.table["status"] == "failed").all():
        first = dmap.table["message"].iloc[0] if "message" in dmap.table else ""
        print(f"error: every point of the map failed (first message: {first})", file=sys.stderr)
        return 1
    return 0


def _map_figure(dmap, region, confidence, title):
    """The map's figure: the probability over the grid for 2 theta_p (the shipped cases), a curve
    over the axis for 1 (a user's model), None for 3 or more."""
    from ..designspace import design_space_figure

    if len(dmap.axes) == 2:
        return design_space_figure([dmap], region, confidence, title=title)
    if len(dmap.axes) != 1:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4.2))
    ax = fig.add_subplot()
    x, p, failed = dmap.axes[0], dmap.probability.ravel(), dmap.failed.ravel()
    ax.plot(x, p, "o-", label="probability")
    ax.axhline(confidence, color="k", linestyle="--", linewidth=1, label=f"confidence {confidence}")
    if failed.any():
        ax.plot(x[failed], [0.0] * int(failed.sum()), "rx", label="failed")
    for lo, hi in (dmap.rectangles or []):
        ax.axvspan(float(lo[0]), float(hi[0]), color="tab:red", alpha=0.15, label="Algorithm 3 interval")
    ax.set(xlabel=dmap.axis_label(0), ylabel="probability", ylim=(-0.05, 1.05), title=title)
    ax.legend(loc="best", fontsize=8)
    return fig


def _check_controls_flag(args, model) -> None:
    """``--controls``: analyse with recourse (the case's controls z are set once θm is known).
    Required for a case with controls, refused for one without: the answer differs."""
    from ..errors import ValidationError

    if args.controls and not model.n_z:
        raise ValidationError(f"--controls: {_what(args.case)} has no control variables; drop --controls, or choose "
                              "a model with controls (e.g. the case hx_network)")
    if model.n_z and not args.controls:
        raise ValidationError(f"{_what(args.case)} has control variables {model.control_names}: pass --controls to "
                              "analyse it with recourse (the controls are adjusted once theta_m is known)")


def _run_method(args, model, axes):
    """(map, None) for Algorithms 1 and 2, (None, region) for Algorithm 3."""
    from ..designspace import flexibility_index_map, flexibility_test_region, monte_carlo_map

    ckpt = None if args.no_checkpoint else os.path.join(args.out, f"checkpoint_{args.method}.jsonl")
    if ckpt is not None and os.path.isdir(ckpt):
        from ..errors import ValidationError

        raise ValidationError(f"the checkpoint {ckpt!r} is a directory; remove it, choose another --out, or pass "
                              "--no-checkpoint")
    progress = progress_for(args.method, args.quiet)
    options = {"time_limit": args.time_limit}
    if args.method == "mc":
        return monte_carlo_map(model, axes, n_samples=args.n_samples, random_state=args.random_state,
                               workers=args.workers, out=ckpt, progress=progress), None
    if args.method == "flexindex":
        return flexibility_index_map(model, axes, args.uncertainty_set, args.solver, options=options,
                                     workers=args.workers, out=ckpt, progress=progress), None
    return None, flexibility_test_region(model, args.confidence, args.theta_p, args.uncertainty_set, args.solver,
                                         options=options, move_nominal=args.move_nominal)


SOLVER_HELP = ("solver name (default {default}); `flexspace solvers` lists them with what is installed here "
               "and how to install the others")


def build_parser() -> argparse.ArgumentParser:
    import flexspace  # (`from .. import __version__` would read as a unit of its own to the layer check)
    from ..models.cases import CASES
    from .bench import register as register_bench
    from .crystallization import register as register_crystallization

    p = _Parser(prog="flexspace", description="Probabilistic design spaces by flexibility analysis")
    p.add_argument("--version", action="version", version=f"flexspace {flexspace.__version__}",
                   help="print the version of flexspace and exit")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    s = sub.add_parser("solvers", help="table of solvers: version, availability, global/local, a check solve; "
                       "for each unavailable solver why and how to install it")
    s.add_argument("--check", action="store_true", help="exit non-zero if ipopt/maingo/scip/highs is missing")
    s.add_argument("--time-limit", type=_checked(_positive, "--time-limit"), default=20.0,
                   help="seconds per check solve (default 20)")
    s.set_defaults(func=_cmd_solvers)
    d = sub.add_parser("demo", help="case 1: flexibility indices, Monte Carlo, and a design-space figure")
    d.add_argument("--out", default="demo_out", metavar="DIR",
                   help="output directory of the figure, created if missing (default: demo_out in the current "
                        "directory); its absolute path is printed")
    d.set_defaults(func=_cmd_demo)
    _add_index(sub, sorted(CASES))
    _add_run(sub, sorted(CASES))
    register_bench(sub)
    register_crystallization(sub)
    return p


def _add_index(sub, cases) -> None:
    i = sub.add_parser("index", help="flexibility index of a shipped case or your own model (module:factory) at "
                       "one theta_p")
    i.add_argument("case", metavar="CASE|MODULE:FACTORY", help=MODEL_HELP.format(cases=", ".join(cases)))
    i.add_argument("--theta-p", type=float, nargs="+", default=None, metavar="X",
                   help="the process parameters theta_p, one number each (default: the model's nominal theta_p)")
    i.add_argument("--uncertainty-set", default="ellipsoid", choices=SET_NAMES,
                   help="the uncertainty set of theta_m that is scaled by delta (default ellipsoid)")
    i.add_argument("--solver", default="maingo", help=SOLVER_HELP.format(default="maingo"))
    i.add_argument("--method", default="enumeration", choices=["enumeration", "minlp"],
                   help="enumeration: one NLP per constraint g_k (default); minlp: one MINLP with the big-M "
                        "active-set selection of the design-space paper's Eq. 3-5 (needs maingo, scip or gurobi)")
    i.add_argument("--time-limit", type=_checked(_positive, "--time-limit"), default=60.0,
                   help="seconds per solve (default 60)")
    i.add_argument("--json", action="store_true",
                   help="write the result as JSON to stdout, and nothing else there (the summary, warnings and "
                        "solver output go to stderr): `flexspace index case1 --json | python -m json.tool`")
    i.add_argument("--formulation", default="full", choices=["full", "reduced"], help=FORM_HELP)
    i.set_defaults(func=_cmd_index)


def _add_run(sub, cases) -> None:
    r = sub.add_parser("run", help="design space of a shipped case or your own model (module:factory) by "
                       "Algorithm 1 (mc), 2 (flexindex) or 3 (flextest)")
    r.add_argument("case", metavar="CASE|MODULE:FACTORY", help=MODEL_HELP.format(cases=", ".join(cases)))
    r.add_argument("--method", default="mc", choices=["mc", "flexindex", "flextest"],
                   help="mc: Algorithm 1, Monte Carlo probability per grid point (default); flexindex: Algorithm 2, "
                        "flexibility index per grid point; flextest: Algorithm 3, the rectangle of theta_p proven "
                        "to reach --confidence")
    r.add_argument("--uncertainty-set", default="ellipsoid", choices=SET_NAMES,
                   help="uncertainty set of theta_m for flexindex and flextest (default ellipsoid)")
    r.add_argument("--solver", default=None, help="solver name (default: maingo for flexindex, scip for flextest); "
                   "`flexspace solvers` lists them with what is installed here and how to install the others")
    r.add_argument("--n-samples", type=_checked(_count, "--n-samples", int), default=1000,
                   help="Monte Carlo samples per grid point (default 1000)")
    r.add_argument("--confidence", type=_checked(_probability, "--confidence"), default=0.85,
                   help="p_c, the probability the region must reach, in (0, 1) (default 0.85)")
    r.add_argument("--workers", type=_checked(_count, "--workers", int), default=1,
                   help="worker processes, >= 1 (default 1)")
    r.add_argument("--out", default="flexspace_out", metavar="DIR",
                   help="output directory of map.csv, map.png, summary.json and the checkpoint, created if "
                        "missing (default: flexspace_out in the current directory); its absolute path is printed")
    r.add_argument("--grid", type=_checked(_count, "--grid", int), nargs="+", default=None, metavar="N",
                   help="points per theta_p axis: one number, or one per theta_p (default: the design-space paper's)")
    r.add_argument("--time-limit", type=_checked(_positive, "--time-limit"), default=20.0,
                   help="seconds per solve (default 20)")
    r.add_argument("--random-state", type=_checked(_count_or_zero, "--random-state", int), default=0,
                   help="seed of the Monte Carlo samples, >= 0 (default 0)")
    r.add_argument("--theta-p", type=float, nargs="+", default=None, metavar="X",
                   help="flextest: the nominal point the rectangle grows from (default: the model's nominal theta_p)")
    r.add_argument("--move-nominal", action="store_true", help="flextest: also move the nominal point")
    r.add_argument("--no-checkpoint", action="store_true", help="do not write/resume DIR/checkpoint_*.jsonl")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--formulation", default="full", choices=["full", "reduced"], help=FORM_HELP)
    r.add_argument("--controls", action="store_true",
                   help="recourse: the case's control variables (e.g. hx_network's Qc) are adjusted once theta_m is "
                        "known; required for a case with controls, an error for one without")
    r.set_defaults(func=_cmd_run)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from ..errors import FlexspaceError

    try:
        return int(args.func(args) or 0)
    except (FlexspaceError, ValueError, TypeError, RuntimeError, OSError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted (finished grid points are in the checkpoint; run again to resume)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
