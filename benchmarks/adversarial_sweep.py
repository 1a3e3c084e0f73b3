#!/usr/bin/env python
"""Adversarial sweep of flexspace's public API and CLI.

Run:  .venv/bin/python benchmarks/adversarial_sweep.py [--only AREA ...] [--work DIR]
Prints one line per case  `CATEGORY | id | area | call | outcome`  and the totals.

Categories: CLEAR, UNCLEAR, RAW, SILENT, OK, LOST, WRONG (see the report), plus REFUSED (a valid
input refused with a clear message; not a wrong result).
Each case says what it expects:
  bad    - invalid input: CLEAR if a FlexspaceError/ValueError/TypeError raised on purpose names
           one of `names`; UNCLEAR if it does not; RAW for an accidental exception; SILENT when
           nothing is raised (a warning naming the parameter counts as CLEAR, noted "warned").
  ok     - valid input: OK if it works (and `check` passes); WRONG/LOST if `check` fails or a
           valid input is refused.
  either - odd but defensible input: OK or a CLEAR refusal are both fine.
Light by design: case 1 with its vectorised simulator, ipopt, tiny grids, <= 200 samples.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import io
import json
import linecache
import math
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings

import numpy as np
import pyomo.environ as pyo

import flexspace
import flexspace.montecarlo
from flexspace import (BoxSet, Bisection, DesignSpaceMap, EllipsoidalSet, ProcessModel, SolveOptions,
                       extended_flexibility_test, flexibility_index, flexibility_index_map, flexibility_test,
                       flexibility_test_region, monte_carlo_map)
from flexspace.designspace.checkpoint import Checkpoint, CheckpointFile
from flexspace.errors import FlexspaceError
from flexspace.formulations.sets import SetKind, UncertaintySet
from flexspace.models.cases import case1
from flexspace.options import resolve_options

HERE = pathlib.Path(__file__).resolve().parent
ROOT = pathlib.Path(os.environ.get("FLEXSPACE_SWEEP_DIR", tempfile.gettempdir())) / "flexspace-sweep"
WORK = ROOT / "work"
VENV_BIN = pathlib.Path(sys.executable).parent  # the flexspace console script next to this Python
NAN, INF = float("nan"), float("inf")
I2 = [[1.0, 0.0], [0.0, 1.0]]
#: 150 certification samples: the fewest that make the scenario statement at the default
#: (ε, β) = (0.05, 1e-3) (N ≥ ln(1/β)/ε = 138); with fewer a local answer is "uncertified"
LIGHT = {"time_limit": 10, "n_certify": 150}
#: what a correct answer earns: "ok" (global, or proven convex), or "sampled" (a local solver's
#: scenario statement, flexspace.ResultStatus)
TRUSTED_OK = ("ok", "sampled")

# --------------------------------------------------------------------------- harness
RESULTS = []  # (cat, id, area, desc, outcome)
CASES = []


class Timeout(BaseException):
    pass


def _alarm(signum, frame):
    raise Timeout()


def case(area, desc, fn, expect="bad", names=(), check=None, timeout=60):
    CASES.append(dict(area=area, desc=desc, fn=fn, expect=expect, names=tuple(names), check=check,
                      timeout=timeout))


def _deliberate(exc) -> bool:
    """Raised on purpose by flexspace (a FlexspaceError, or a `raise` statement in flexspace's
    source), or Python's own argument-binding TypeError (it names the argument)."""
    if isinstance(exc, FlexspaceError):
        return True
    if isinstance(exc, TypeError) and ("unexpected keyword argument" in str(exc)
                                       or "positional argument" in str(exc)):
        return True
    tb, last = exc.__traceback__, None
    while tb is not None:
        last, tb = tb, tb.tb_next
    if last is None:
        return False
    fn = last.tb_frame.f_code.co_filename
    if "/flexspace/" not in fn:
        return False
    line = linecache.getline(fn, last.tb_lineno).strip()
    return line.startswith("raise")


def _short(exc) -> str:
    msg = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {msg[:150]}"


def _mentions(text, names) -> bool:
    t = text.lower()
    return any(n.lower() in t for n in names)


def classify(c, exc, value, warns):
    expect, names = c["expect"], c["names"]
    if isinstance(exc, Timeout):
        return ("SILENT" if expect == "bad" else "RAW"), f"no answer within {c['timeout']} s (killed)"
    if exc is not None:
        deliberate = _deliberate(exc)
        short = _short(exc)
        if not deliberate:
            return "RAW", short
        if not isinstance(exc, (FlexspaceError, ValueError, TypeError)):
            return "UNCLEAR", short + " [deliberate but not a ValueError/TypeError]"
        if expect == "ok":
            return "REFUSED", "valid input refused: " + short
        if not names or _mentions(str(exc), names):
            return "CLEAR", short
        return "UNCLEAR", short
    # no exception
    wtext = " | ".join(str(w.message) for w in warns)
    verdict = None
    if c["check"] is not None:
        try:
            verdict = c["check"](value)
        except Exception as e:  # noqa: BLE001
            verdict = ("WRONG", f"check crashed: {_short(e)}")
        if isinstance(verdict, np.bool_):
            verdict = bool(verdict)
        if verdict is True or verdict is None:
            verdict = None
        elif verdict is False:
            verdict = ("WRONG", "check failed")
        elif isinstance(verdict, str):
            verdict = ("WRONG", verdict)
    if verdict is not None and verdict[0] in ("WRONG!", "LOST!"):  # a trusted result that is wrong
        return verdict[0][:-1], verdict[1]
    if expect == "bad":
        if warns and (not names or _mentions(wtext, names)):
            return "CLEAR", "warned: " + " ".join(wtext.split())[:150]
        extra = f" (check: {verdict[1]})" if verdict else ""
        return "SILENT", "accepted: " + _describe(value) + extra
    if verdict is not None:
        return verdict
    return "OK", _describe(value)


def _describe(v) -> str:
    try:
        s = repr(v)
    except Exception:  # noqa: BLE001
        s = type(v).__name__
    return " ".join(s.split())[:150]


def run_case(i, c):
    exc = value = None
    warns = []
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(c["timeout"]))
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            with contextlib.redirect_stdout(io.StringIO()):
                value = c["fn"]()
            warns = [x for x in w if not issubclass(x.category, (DeprecationWarning, PendingDeprecationWarning,
                                                                  ResourceWarning))]
    except Timeout as e:
        exc = e
    except BaseException as e:  # noqa: BLE001
        if isinstance(e, KeyboardInterrupt):
            raise
        exc = e
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    cat, outcome = classify(c, exc, value, warns)
    RESULTS.append((cat, i, c["area"], c["desc"], outcome))
    print(f"{cat:7s} | {i:3d} | {c['area']:11s} | {c['desc']} -> {outcome}", flush=True)


# --------------------------------------------------------------------------- fixtures
_C1 = {}


def C1():
    if "m" not in _C1:
        _C1["m"] = case1.model()
    return _C1["m"]


def toy_pyomo(form="param"):
    m = pyo.ConcreteModel()
    if form == "var":
        m.tau = pyo.Var(initialize=20.0)
        m.k = pyo.Var(initialize=0.2)
        m.Ea = pyo.Var(initialize=1.0)
    elif form == "fixedvar":
        m.tau = pyo.Var(initialize=20.0)
        m.k = pyo.Var(initialize=0.2)
        m.Ea = pyo.Var(initialize=1.0)
        for v in (m.tau, m.k, m.Ea):
            v.fix()
    else:
        m.tau = pyo.Param(mutable=True, initialize=20.0)
        m.k = pyo.Param(mutable=True, initialize=0.2)
        m.Ea = pyo.Param(mutable=True, initialize=1.0)
    m.th = pyo.Param([0, 1], mutable=True, initialize={0: 0.2, 1: 1.0})
    m.cA = pyo.Var(bounds=(0, 1), initialize=0.5)
    if form == "indexed":
        m.bal = pyo.Constraint(expr=1.0 - m.cA - m.tau * m.th[0] * m.th[1] * m.cA == 0)
    else:
        m.bal = pyo.Constraint(expr=1.0 - m.cA - m.tau * m.k * m.Ea * m.cA == 0)
    m.conversion = pyo.Constraint(expr=m.cA <= 0.35)
    m.g_expr = pyo.Expression(expr=m.cA - 0.35)
    return m


COV = [[0.02 ** 2, 0.0], [0.0, 0.05 ** 2]]


def toy_sim(tp, tm):
    tau = np.atleast_2d(np.asarray(tp, float))[:, 0]
    tm = np.atleast_2d(tm)
    return (1.0 / (1.0 + tau * tm[:, 0] * tm[:, 1]) - 0.35)[:, None]


def toy(form="param", constraints=None, **kw):
    m = toy_pyomo(form)
    args = dict(theta_p={"tau": m.tau}, theta_m={"k": m.k, "Ea": m.Ea},
                constraints={"conversion": m.conversion} if constraints is None else constraints(m),
                covariance=COV, theta_p_bounds=[(5, 30)], name="toy")
    if form == "indexed":
        args["theta_m"] = {"k": m.th[0], "Ea": m.th[1]}
    args.update(kw)
    for k, v in list(args.items()):
        if callable(v) and k in ("theta_p", "theta_m"):
            args[k] = v(m)
    return ProcessModel(m, **args)


def _toy_delta(kind, tau=20.0):
    """Analytic flexibility index of the toy model: tau*k*Ea >= 1/0.35 - 1."""
    from scipy import optimize
    need = (1 / 0.35 - 1) / tau
    if kind == "box":
        f = lambda d: (0.2 - 0.02 * d) * (1 - 0.05 * d) - need  # noqa: E731
    else:
        t = np.linspace(0, 2 * np.pi, 20001)
        f = lambda d: np.min((0.2 + 0.02 * d * np.cos(t)) * (1 + 0.05 * d * np.sin(t))) - need  # noqa: E731
    return optimize.brentq(f, 0.0, 6.0)


TOY_ELL = None


def toy_index_check(r, kind="ellipsoid", tol=2e-3):
    global TOY_ELL
    ref = _toy_delta(kind)
    if r.status.value not in TRUSTED_OK:
        return f"status {r.status.value} (delta {r.delta})"
    if abs(r.delta - ref) > tol:
        return f"delta {r.delta:.6f} != analytic {ref:.6f}"
    return True


def toy_index(model_fn, kind="ellipsoid"):
    return lambda: flexibility_index(model_fn(), [20.0], kind, "ipopt", options=LIGHT)


C1_BOX_DELTA = 2.950703


def c1_box_check(r):
    if r.status.value not in TRUSTED_OK:
        return f"status {r.status.value}"
    return True if abs(r.delta - C1_BOX_DELTA) < 1e-3 else f"delta {r.delta} != {C1_BOX_DELTA}"


def c1_index(**kw):
    args = dict(theta_p=None, uncertainty_set="box", solver="ipopt", options=LIGHT)
    args.update(kw)
    return lambda: flexibility_index(C1(), **args)


def c1_test(**kw):
    args = dict(theta_p=None, uncertainty_set="box", solver="ipopt", options=LIGHT)
    args.update(kw)
    return lambda: flexibility_test(C1(), **args)


def c1_ext(delta_p=0.5, **kw):
    args = dict(confidence=0.85, uncertainty_set="box", solver="ipopt", options=LIGHT)
    args.update(kw)
    return lambda: extended_flexibility_test(C1(), delta_p, **args)


def c1_mc(**kw):
    args = dict(grid=3, n_samples=100, random_state=0, progress=False)
    args.update(kw)
    return lambda: monte_carlo_map(C1(), **args)


def c1_fi(**kw):
    args = dict(grid=2, uncertainty_set="box", solver="ipopt", options=LIGHT, progress=False)
    args.update(kw)
    return lambda: flexibility_index_map(C1(), **args)


def c1_region(**kw):
    args = dict(confidence=0.85, uncertainty_set="box", solver="ipopt", options={"time_limit": 10})
    args.update(kw)
    return lambda: flexibility_test_region(C1(), **args)


def shape_is(shape):
    return lambda d: True if d.shape == tuple(shape) else f"shape {d.shape} != {shape}"


def no_failed(d):
    return True if not d.failed.any() else f"failed points: {d.status_counts}"


def all_failed_is_silent(d):
    return f"returned a map, status {d.status_counts}; first message: {str(d.table.get('message', [''])[0])[:90]}"


_REF = {}


def mc_ref():
    if "mc" not in _REF:
        _REF["mc"] = monte_carlo_map(C1(), grid=3, n_samples=100, random_state=0, progress=False)
    return _REF["mc"]


def fi_ref():
    if "fi" not in _REF:
        _REF["fi"] = flexibility_index_map(C1(), grid=2, uncertainty_set="box", solver="ipopt", options=LIGHT,
                                           progress=False)
    return _REF["fi"]


def same_map(ref_fn, cols=("probability",)):
    def chk(d):
        ref = ref_fn()
        if d.shape != ref.shape:
            return f"shape {d.shape} != {ref.shape}"
        for c in cols:
            a, b = d.table[c].to_numpy(float), ref.table[c].to_numpy(float)
            if not np.allclose(a, b, equal_nan=True, rtol=1e-9, atol=1e-12):
                return f"{c} differs from a fresh run: {a[:4]} vs {b[:4]}"
        if list(d.table["status"]) != list(ref.table["status"]):
            return "status differs from a fresh run"
        return True
    return chk


def fresh(name):
    p = WORK / name
    if p.is_dir():
        shutil.rmtree(p)
    elif p.exists():
        p.unlink()
    return p


def tmpdir(name):
    p = fresh(name)
    p.mkdir(parents=True)
    return p


# =========================================================================== A. options
def area_options():
    A = "options"
    bad = [
        ("time_limit", 0), ("time_limit", -1), ("time_limit", NAN), ("time_limit", "10"), ("time_limit", True),
        ("time_limit", None), ("time_limit", 1 + 0j), ("time_limit", [5]), ("gap", 0), ("gap", -1e-4),
        ("gap", NAN), ("gap", 2.0), ("abs_gap", -1), ("abs_gap", "x"), ("abs_gap", INF), ("feas_tol", 0),
        ("feas_tol", -1), ("feas_tol", NAN), ("delta_max", 0), ("delta_max", -3), ("delta_max", INF),
        ("delta_max", "6"), ("certify", "yes"), ("certify", 1), ("n_certify", 0), ("n_certify", 2.5),
        ("n_certify", 100.0), ("n_certify", True), ("n_certify", -5), ("random_state", -1),
        ("random_state", None), ("random_state", 1.5), ("random_state", "0"), ("local_presolve", "no"),
        ("local_presolve", 1),
    ]
    for k, v in bad:
        case(A, f"SolveOptions({k}={v!r})", (lambda k=k, v=v: SolveOptions(**{k: v})), "bad", [k])
    ok = [("time_limit", np.float64(5)), ("time_limit", np.int32(5)), ("abs_gap", 0), ("n_certify", np.int64(50)),
          ("random_state", np.int64(3)), ("certify", False), ("delta_max", 3)]
    for k, v in ok:
        case(A, f"SolveOptions({k}={v!r})", (lambda k=k, v=v: SolveOptions(**{k: v})), "ok",
             check=(lambda o, k=k, v=v: getattr(o, k) == v))
    case(A, "SolveOptions(time_limit=inf)", lambda: SolveOptions(time_limit=INF), "either", ["time_limit"])
    case(A, "SolveOptions(feas_tol=10)", lambda: SolveOptions(feas_tol=10.0), "either", ["feas_tol"])
    case(A, "SolveOptions(delta_max=1e9)", lambda: SolveOptions(delta_max=1e9), "either", ["delta_max"])
    case(A, "SolveOptions(certify=np.bool_(True))", lambda: SolveOptions(certify=np.bool_(True)), "either",
         ["certify"])
    case(A, "SolveOptions(5) positional", lambda: SolveOptions(5), "ok", check=lambda o: o.time_limit == 5)
    case(A, "SolveOptions(**to_dict()) round trip", lambda: SolveOptions(**SolveOptions(gap=1e-3).to_dict()), "ok",
         check=lambda o: o == SolveOptions(gap=1e-3))
    case(A, "SolveOptions().replace(foo=1)", lambda: SolveOptions().replace(foo=1), "bad", ["foo"])
    case(A, "SolveOptions().replace(time_limit=-1)", lambda: SolveOptions().replace(time_limit=-1), "bad",
         ["time_limit"])
    case(A, "SolveOptions(foo=1) (constructor)", lambda: SolveOptions(foo=1), "bad", ["foo"])
    case(A, "resolve_options('fast')", lambda: resolve_options("fast"), "bad", ["preset", "fast"])
    case(A, "resolve_options(5)", lambda: resolve_options(5), "bad", ["options"])
    case(A, "resolve_options(['time_limit', 5])", lambda: resolve_options(["time_limit", 5]), "bad", ["options"])
    case(A, "resolve_options({'timelimit': 5})", lambda: resolve_options({"timelimit": 5}), "bad", ["timelimit"])
    case(A, "resolve_options({'time_limit': 5}, 'index_map')", lambda: resolve_options({"time_limit": 5}, "index_map"),
         "ok", check=lambda o: o.time_limit == 5 and o.gap == flexspace.options.PRESETS["index_map"].gap)
    case(A, "resolve_options('index_map')", lambda: resolve_options("index_map"), "ok",
         check=lambda o: o.time_limit == 20)
    case(A, "flexibility_index(case1, options={'time_limit': 'abc'})", c1_index(options={"time_limit": "abc"}),
         "bad", ["time_limit"])
    case(A, "flexibility_index(case1, options={'n_certify': -5})", c1_index(options={"n_certify": -5}), "bad",
         ["n_certify"])
    case(A, "flexibility_index(case1, options={'solver': 'ipopt'})", c1_index(options={"solver": "ipopt"}), "bad",
         ["solver"])
    case(A, "flexibility_index(case1, options=SolveOptions(n_certify=10)) honours n_certify",
         c1_index(options=SolveOptions(time_limit=10, n_certify=10)), "ok",
         check=lambda r: True if r.certification.get("n_samples", 0) <= 20 else f"certification {r.certification}")
    case(A, "flexibility_index(case1, options={'delta_max': 1.0}) caps delta", c1_index(options={"time_limit": 10,
                                                                                              "delta_max": 1.0}),
         "ok", check=lambda r: True if r.delta <= 1.0 + 1e-6 else f"delta {r.delta} > delta_max 1.0")
    case(A, "flexibility_index(case1, options='bisection')", c1_index(options="bisection"), "ok", check=c1_box_check)
    case(A, "flexibility_index(case1, options=[('time_limit', 5)])", c1_index(options=[("time_limit", 5)]), "bad",
         ["options"])


# =========================================================================== B. Bisection
def area_bisection():
    A = "bisection"
    bad = [("step", "Bisection"), ("step", "newton"), ("step", None), ("eps_tol", 0), ("eps_tol", -1),
           ("eps_tol", NAN), ("eps_tol", "1e-5"), ("max_iter", 0), ("max_iter", 2.5), ("max_iter", -1),
           ("max_time", -1), ("max_time", NAN), ("delta_p_lower", -0.1), ("delta_p_upper", 0),
           ("delta_p_upper", NAN), ("move_step", 0), ("move_step", 1.5), ("move_rounds", -1), ("move_rounds", 1.5),
           ("max_rectangles", 0), ("max_rectangles", True)]
    for k, v in bad:
        case(A, f"Bisection({k}={v!r})", (lambda k=k, v=v: Bisection(**{k: v})), "bad", [k])
    case(A, "Bisection(delta_p_lower=0.5, delta_p_upper=0.5)", lambda: Bisection(delta_p_lower=0.5, delta_p_upper=0.5),
         "bad", ["delta_p_lower"])
    case(A, "Bisection(max_iter=np.int64(10))", lambda: Bisection(max_iter=np.int64(10)), "ok")
    case(A, "Bisection(max_time=0)", lambda: Bisection(max_time=0), "either", ["max_time"])
    case(A, "Bisection(delta_p_upper=2)", lambda: Bisection(delta_p_upper=2.0), "either", ["delta_p_upper"])
    case(A, "Bisection(delta_p_minus=[-1, 1]) constructor", lambda: Bisection(delta_p_minus=[-1, 1]), "bad",
         ["delta_p_minus"])
    case(A, "Bisection(delta_p_minus='ab') constructor", lambda: Bisection(delta_p_minus="ab"), "bad",
         ["delta_p_minus"])
    case(A, "region(case1, algorithm=Bisection(delta_p_minus=[-1, 1]))",
         lambda: c1_region(algorithm=Bisection(delta_p_minus=[-1, 1]))(), "bad", ["delta_p_minus"])
    case(A, "region(case1, algorithm=Bisection(delta_p_minus=[1, 2, 3]))",
         lambda: c1_region(algorithm=Bisection(delta_p_minus=[1, 2, 3]))(), "bad", ["delta_p_minus"])
    case(A, "region(case1, algorithm=Bisection(delta_p_plus=[nan, 1]))",
         lambda: c1_region(algorithm=Bisection(delta_p_plus=[NAN, 1]))(), "bad", ["delta_p_plus"])
    case(A, "region(case1, Bisection()) [reference, delta_p ~0.540]", c1_region(), "ok",
         check=lambda r: True if abs(r.delta_p - 0.540) < 0.01 and r.rectangle.converged else f"{r}")
    case(A, "region(case1, Bisection(step='illinois'))", c1_region(algorithm=Bisection(step="illinois")), "ok",
         check=lambda r: True if abs(r.delta_p - 0.540) < 0.01 and r.rectangle.converged else f"{r}")
    case(A, "region(case1, Bisection(eps_tol=1e-2)) (coarser tolerance)", c1_region(algorithm=Bisection(eps_tol=1e-2)),
         "ok", check=lambda r: True if r.delta_p > 0.45 else
         f"returned delta_p={r.delta_p:.4g} chi={r.rectangle.chi:.3g} marked converged={r.rectangle.converged} "
         f"after {r.n_solves} tests; the largest rectangle has delta_p~0.540")
    case(A, "region(case1, Bisection(max_iter=1))", c1_region(algorithm=Bisection(max_iter=1)), "either",
         check=lambda r: True if (not r.rectangle.converged or -1e-5 <= r.rectangle.chi <= 0) else f"{r}")
    case(A, "region(case1, Bisection(max_time=0))", c1_region(algorithm=Bisection(max_time=0)), "either",
         check=lambda r: True if not r.rectangle.converged or r.delta_p > 0.5 else f"{r}")
    case(A, "region(case1, Bisection(delta_p_upper=0.3)) (whole cap feasible)",
         c1_region(algorithm=Bisection(delta_p_upper=0.3)), "either", ["delta_p_upper", "delta_p^U"])
    case(A, "region(case1, Bisection(delta_p_lower=0.9)) (lower end infeasible)",
         c1_region(algorithm=Bisection(delta_p_lower=0.9)), "bad", ["delta_p_lower"])


# =========================================================================== C. sets
def area_sets():
    A = "sets"
    S = lambda *a, **k: (lambda: BoxSet(*a, **k))  # noqa: E731
    E = lambda *a, **k: (lambda: EllipsoidalSet(*a, **k))  # noqa: E731
    case(A, "BoxSet([1,2], I)", S([1, 2], I2), "ok", check=lambda s: s.dim == 2)
    case(A, "BoxSet([1,2], 3x2 cov)", S([1, 2], [[1, 0], [0, 1], [0, 0]]), "bad", ["covariance"])
    case(A, "BoxSet([1,2], non-symmetric)", S([1, 2], [[1, 0.2], [0.3, 1]]), "bad", ["symmetric"])
    case(A, "BoxSet([1,2], indefinite [[1,2],[2,1]])", S([1, 2], [[1, 2], [2, 1]]), "bad", ["positive definite"])
    case(A, "BoxSet([1,2], singular [[1,1],[1,1]])", S([1, 2], [[1, 1], [1, 1]]), "bad", ["singular",
                                                                                         "positive definite"])
    case(A, "BoxSet([1,2], zero variance diag(0,1))", S([1, 2], [[0, 0], [0, 1]]), "bad", ["covariance"])
    case(A, "BoxSet([1,2], negative variance)", S([1, 2], [[1, 0], [0, -1]]), "bad", ["covariance"])
    case(A, "BoxSet([1,2], NaN cov)", S([1, 2], [[1, NAN], [NAN, 1]]), "bad", ["covariance"])
    case(A, "BoxSet([1,2], inf cov)", S([1, 2], [[INF, 0], [0, 1]]), "bad", ["covariance"])
    case(A, "BoxSet([1,2], complex cov)", S([1, 2], [[1, 0], [0, 1 + 1j]]), "bad", ["covariance"])
    case(A, "BoxSet([1,2], 'I')", S([1, 2], "I"), "bad", ["covariance"])
    case(A, "BoxSet([1,2], [['1','0'],['0','1']]) (numeric strings)", S([1, 2], [["1", "0"], ["0", "1"]]), "bad",
         ["covariance"])
    case(A, "BoxSet([1,2], 3-D cov)", S([1, 2], np.ones((2, 2, 2))), "bad", ["covariance"])
    case(A, "BoxSet([1,2], 1-D cov [1,1])", S([1, 2], [1.0, 1.0]), "bad", ["covariance"])
    case(A, "BoxSet([1,nan], I)", S([1, NAN], I2), "bad", ["nominal"])
    case(A, "BoxSet([1,inf], I)", S([1, INF], I2), "bad", ["nominal"])
    case(A, "BoxSet([1+1j,2], I)", S([1 + 1j, 2], I2), "bad", ["nominal"])
    case(A, "BoxSet('12', I)", S("12", I2), "bad", ["nominal"])
    case(A, "BoxSet(['1','2'], I) (numeric strings)", S(["1", "2"], I2), "bad", ["nominal"])
    case(A, "BoxSet([True, False], I)", S([True, False], I2), "bad", ["nominal"])
    case(A, "BoxSet([[1,2]], I)", S([[1, 2]], I2), "bad", ["nominal"])
    case(A, "BoxSet(None, I)", S(None, I2), "bad", ["nominal"])
    case(A, "BoxSet([[1],[2,3]], I) ragged", S([[1], [2, 3]], I2), "bad", ["nominal"])
    case(A, "BoxSet([], None, [], []) empty", S([], None, [], []), "bad", ["nominal", "empty", "dimension"])
    case(A, "BoxSet([], np.zeros((0,0)))", S([], np.zeros((0, 0))), "bad", ["nominal", "covariance", "empty"])
    case(A, "BoxSet([1,2], None)", S([1, 2], None), "bad", ["covariance", "delta_minus"])
    case(A, "BoxSet([1,2], None, delta_minus=[1,1])", S([1, 2], None, delta_minus=[1, 1]), "bad", ["delta_plus"])
    case(A, "BoxSet([1,2], None, [1,1], [1,1])", S([1, 2], None, [1, 1], [1, 1]), "ok")
    case(A, "BoxSet([1,2], None, [1,1], [1,1]).probability(1)",
         lambda: BoxSet([1, 2], None, [1, 1], [1, 1]).probability(1.0), "bad", ["covariance"])
    case(A, "BoxSet([1,2], I, delta_minus=[-1,1])", S([1, 2], I2, delta_minus=[-1, 1]), "bad", ["delta_minus"])
    case(A, "BoxSet([1,2], I, delta_minus=[1])", S([1, 2], I2, delta_minus=[1]), "bad", ["delta_minus"])
    case(A, "BoxSet([1,2], I, delta_minus=1.0) (scalar)", S([1, 2], I2, delta_minus=1.0), "bad", ["delta_minus"])
    case(A, "BoxSet([1,2], I, delta_plus=[nan,1])", S([1, 2], I2, delta_plus=[NAN, 1]), "bad", ["delta_plus"])
    case(A, "BoxSet([1,2], I, delta_plus=['1','1'])", S([1, 2], I2, delta_plus=["1", "1"]), "bad", ["delta_plus"])
    case(A, "BoxSet([1,2], I, delta_plus=[1j,1])", S([1, 2], I2, delta_plus=[1j, 1]), "bad", ["delta_plus"])
    case(A, "BoxSet([1,2], I, delta_plus=[0,0]) one-sided", S([1, 2], I2, delta_plus=[0, 0]), "either",
         ["delta_plus"])
    case(A, "BoxSet(zero half-widths).delta_for_confidence(0.5)",
         lambda: BoxSet([1, 2], I2, [0, 0], [0, 0]).delta_for_confidence(0.5), "bad", ["half-width", "delta_minus",
                                                                                     "no box"])
    case(A, "BoxSet([1,2], 1e300*I).probability(1)", lambda: BoxSet([1, 2], np.eye(2) * 1e300).probability(1.0),
         "ok", check=lambda p: abs(p - 0.6827 ** 2) < 1e-3)
    case(A, "BoxSet([1,2], 1e-300*I).probability(1)", lambda: BoxSet([1, 2], np.eye(2) * 1e-300).probability(1.0),
         "ok", check=lambda p: abs(p - 0.6827 ** 2) < 1e-3)
    case(A, "BoxSet([1,2], diag(1e-200,1e200)).probability(1)",
         lambda: BoxSet([1, 2], np.diag([1e-200, 1e200])).probability(1.0), "ok",
         check=lambda p: abs(p - 0.6827 ** 2) < 1e-3)
    case(A, "BoxSet correlated(0.5, scaled 1e-12).probability(1)",
         lambda: BoxSet([1, 2], 1e-12 * np.array([[1, .5], [.5, 1]])).probability(1.0), "ok",
         check=lambda p: abs(p - BoxSet([1, 2], [[1, .5], [.5, 1]]).probability(1.0)) < 1e-4)
    case(A, "BoxSet correlated.delta_for_confidence(0.85)",
         lambda: (lambda s: s.probability(s.delta_for_confidence(0.85)))(BoxSet([0, 0], [[1, .6], [.6, 1]])), "ok",
         check=lambda p: abs(p - 0.85) < 1e-6)
    case(A, "BoxSet dim 6 correlated.probability(2)",
         lambda: BoxSet(np.zeros(6), 0.7 * np.eye(6) + 0.3).probability(2.0), "ok", check=lambda p: 0.7 < p < 0.9)
    B = lambda: BoxSet([1, 2], I2)  # noqa: E731
    case(A, "BoxSet.probability(-1)", lambda: B().probability(-1), "bad", ["delta"])
    case(A, "BoxSet.probability(nan)", lambda: B().probability(NAN), "bad", ["delta"])
    case(A, "BoxSet.probability('1')", lambda: B().probability("1"), "bad", ["delta"])
    case(A, "BoxSet.probability(inf)", lambda: B().probability(INF), "either", ["delta"])
    case(A, "BoxSet.delta_for_confidence(1)", lambda: B().delta_for_confidence(1.0), "bad", ["confidence"])
    case(A, "BoxSet.delta_for_confidence(0)", lambda: B().delta_for_confidence(0), "bad", ["confidence"])
    case(A, "BoxSet.delta_for_confidence(-0.5)", lambda: B().delta_for_confidence(-0.5), "bad", ["confidence"])
    case(A, "BoxSet.delta_for_confidence(0.85)", lambda: B().probability(B().delta_for_confidence(0.85)), "ok",
         check=lambda p: abs(p - 0.85) < 1e-8)
    case(A, "BoxSet.contains([[1,2,3]], 1) wrong width", lambda: B().contains([[1, 2, 3]], 1.0), "bad",
         ["points", "dimension", "columns"])
    case(A, "BoxSet.contains([1,2], -1)", lambda: B().contains([1, 2], -1), "bad", ["delta"])
    case(A, "BoxSet.sample(1, -5, 0)", lambda: B().sample(1.0, -5, 0), "bad", ["n"])
    case(A, "BoxSet.sample(1, 2.5, 0)", lambda: B().sample(1.0, 2.5, 0), "bad", ["n"])
    case(A, "BoxSet.sample(-1, 5, 0)", lambda: B().sample(-1.0, 5, 0), "bad", ["delta"])
    case(A, "BoxSet.gauge([[1,2,3]])", lambda: B().gauge([[1, 2, 3]]), "bad", ["points", "dimension", "columns"])
    case(A, "BoxSet([5.0], 4.0).probability(1) (scalar cov)", lambda: BoxSet([5.0], 4.0).probability(1.0), "ok",
         check=lambda p: abs(p - 0.682689) < 1e-5)
    case(A, "BoxSet([5.0, 6.0], 4.0) (scalar cov, n=2)", S([5.0, 6.0], 4.0), "bad", ["covariance"])
    case(A, "BoxSet(object array nominal)", S(np.array([1, 2], dtype=object), I2), "ok")
    case(A, "BoxSet([1,2], np.matrix(I))", S([1, 2], np.matrix(np.eye(2))), "ok")
    case(A, "BoxSet([0],[[1]],[0],[1]).probability(1) one-sided", lambda: BoxSet([0], [[1]], [0], [1]).probability(1),
         "ok", check=lambda p: abs(p - 0.341345) < 1e-5)
    # ellipsoids
    case(A, "EllipsoidalSet([1,2], None)", E([1, 2], None), "bad", ["covariance"])
    case(A, "EllipsoidalSet([1,2], I).probability(1)", lambda: EllipsoidalSet([1, 2], I2).probability(1.0), "ok",
         check=lambda p: abs(p - 0.393469) < 1e-5)
    case(A, "EllipsoidalSet([1,2], I, ldl='no')", E([1, 2], I2, ldl="no"), "bad", ["ldl"])
    case(A, "EllipsoidalSet([1,2], 1e-320*I) (subnormal)", lambda: EllipsoidalSet([1, 2], np.eye(2) * 1e-320).L,
         "either", ["covariance"], check=lambda L: bool(np.all(np.isfinite(L))))
    case(A, "EllipsoidalSet([1,2], 1e-300*I).mahalanobis", lambda: EllipsoidalSet([0, 0], np.eye(2) * 1e-300)
         .mahalanobis([[1e-150, 0]]), "ok", check=lambda d: abs(d[0] - 1) < 1e-9)
    case(A, "EllipsoidalSet([1,2], 1e300*I).mahalanobis", lambda: EllipsoidalSet([0, 0], np.eye(2) * 1e300)
         .mahalanobis([[1e150, 0]]), "ok", check=lambda d: abs(d[0] - 1) < 1e-9)
    case(A, "EllipsoidalSet corr 0.999999 (ill-conditioned, valid)",
         E([1, 2], [[1, 0.999999], [0.999999, 1]]), "ok")
    case(A, "EllipsoidalSet corr 1-1e-12 (numerically singular)",
         E([1, 2], [[1, 1 - 1e-12], [1 - 1e-12, 1]]), "bad", ["singular"])
    case(A, "EllipsoidalSet 3x3 pairwise-valid but indefinite",
         E([0, 0, 0], [[1, .9, -.9], [.9, 1, .9], [-.9, .9, 1]]), "bad", ["positive definite"])
    case(A, "EllipsoidalSet([1], [[2]]).delta_for_confidence(0.682689)",
         lambda: EllipsoidalSet([1], [[2]]).delta_for_confidence(0.682689), "ok", check=lambda d: abs(d - 1) < 1e-5)
    case(A, "EllipsoidalSet.delta_for_confidence(1.0)", lambda: EllipsoidalSet([1, 2], I2).delta_for_confidence(1.0),
         "bad", ["confidence"])
    case(A, "EllipsoidalSet.delta_for_confidence(True)",
         lambda: EllipsoidalSet([1, 2], I2).delta_for_confidence(True), "bad", ["confidence"])
    case(A, "EllipsoidalSet.mahalanobis([[1,2,3]])", lambda: EllipsoidalSet([1, 2], I2).mahalanobis([[1, 2, 3]]),
         "bad", ["points", "dimension", "columns"])
    case(A, "EllipsoidalSet([1,2], non-symmetric)", E([1, 2], [[1, 2], [3, 4]]), "bad", ["symmetric"])
    case(A, "EllipsoidalSet([nan,1], I)", E([NAN, 1], I2), "bad", ["nominal"])
    case(A, "EllipsoidalSet([1,2], 3x3)", E([1, 2], np.eye(3)), "bad", ["covariance"])
    case(A, "EllipsoidalSet(['a','b'], I)", E(["a", "b"], I2), "bad", ["nominal"])
    case(A, "EllipsoidalSet([1,2], I, ldl=False).kind", lambda: EllipsoidalSet([1, 2], I2, ldl=False).kind, "ok",
         check=lambda k: k == "ellipsoid")
    case(A, "EllipsoidalSet diag(1e-16,1e4) mixed units probability(2)",
         lambda: EllipsoidalSet([1e-8, 100], np.diag([1e-16, 1e4])).probability(2.0), "ok",
         check=lambda p: abs(p - 0.864665) < 1e-5)
    case(A, "EllipsoidalSet dim 30 delta_for_confidence(0.85)",
         lambda: EllipsoidalSet(np.zeros(30), np.eye(30)).delta_for_confidence(0.85), "ok",
         check=lambda d: 5 < d < 7)
    case(A, "EllipsoidalSet.sample(1, 0, 0) (n=0)", lambda: EllipsoidalSet([1, 2], I2).sample(1.0, 0, 0), "either",
         ["n"])
    case(A, "UncertaintySet.of_kind('circle', ...)", lambda: UncertaintySet.of_kind("circle", [1, 2], I2), "bad",
         ["uncertainty_set", "uncertainty set"])
    case(A, "UncertaintySet.of_kind('LDL', ...)", lambda: UncertaintySet.of_kind("LDL", [1, 2], I2), "ok",
         check=lambda s: s.kind == "ldl")
    case(A, "UncertaintySet.of_kind(None, ...)", lambda: UncertaintySet.of_kind(None, [1, 2], I2), "bad",
         ["uncertainty_set", "uncertainty set"])
    case(A, "SetKind.parse(' box ')", lambda: SetKind.parse(" box "), "either", ["uncertainty"])


# =========================================================================== D. ProcessModel
def area_model():
    A = "model"
    ell = lambda r: toy_index_check(r, "ellipsoid")  # noqa: E731
    case(A, "toy: theta as mutable Params, Constraint CQA (index vs analytic)", toy_index(lambda: toy()), "ok",
         check=ell)
    case(A, "toy: theta as fixed Vars", toy_index(lambda: toy("fixedvar")), "ok", check=ell)
    case(A, "toy: theta as unfixed Vars", toy_index(lambda: toy("var")), "ok", check=ell)
    case(A, "toy: theta_m as entries of an indexed Param", toy_index(lambda: toy("indexed")), "ok", check=ell)
    case(A, "toy: theta_m = the indexed Param itself (m.th)",
         toy_index(lambda: toy("indexed", theta_m=lambda m: m.th)), "ok", check=ell)
    case(A, "toy: theta_m = {'K': m.th} (indexed under a dict name)",
         lambda: toy("indexed", theta_m=lambda m: {"K": m.th}).theta_m_names, "ok",
         check=lambda n: n == ["K[0]", "K[1]"] or f"names {n}")
    case(A, "toy: theta_p = [m.tau] (list)", lambda: toy(theta_p=lambda m: [m.tau]).theta_p_names, "ok",
         check=lambda n: n == ["tau"] or f"names {n}")
    case(A, "toy: theta_p = m.tau (single component)", lambda: toy(theta_p=lambda m: m.tau).theta_p_names, "ok",
         check=lambda n: n == ["tau"] or f"names {n}")
    case(A, "toy: CQA as named Expression", toy_index(lambda: toy(constraints=lambda m: {"c": m.g_expr})), "ok",
         check=ell)
    case(A, "toy: CQA as callable f(m)", toy_index(lambda: toy(constraints=lambda m: {"c": lambda b: b.cA - 0.35})),
         "ok", check=ell)
    case(A, "toy: CQA written 0.35 >= cA",
         toy_index(lambda: toy(constraints=lambda m: {"c": _add(m, "c2", pyo.Constraint(expr=0.35 >= m.cA))})),
         "ok", check=ell)
    case(A, "toy: CQA scaled 1000*(cA-0.35) <= 0",
         toy_index(lambda: toy(constraints=lambda m: {"c": _add(m, "c2", pyo.Constraint(
             expr=1000 * (m.cA - 0.35) <= 0))})), "ok", check=ell)
    case(A, "toy: CQA ranged (0, cA, 0.35)",
         toy_index(lambda: toy(constraints=lambda m: {"c": _add(m, "c2", pyo.Constraint(
             expr=pyo.inequality(0.0, m.cA, 0.35)))})), "ok", check=ell)
    case(A, "toy: CQA with theta on the bound side cA <= 0.35*Ea/Ea",
         toy_index(lambda: toy(constraints=lambda m: {"c": _add(m, "c2", pyo.Constraint(
             expr=m.cA <= 0.35 * m.Ea / m.Ea))})), "ok", check=ell)
    case(A, "toy: CQA list [m.conversion]", lambda: toy(constraints=lambda m: [m.conversion]).g_names, "ok",
         check=lambda n: n == ["conversion"] or f"names {n}")
    case(A, "toy: CQA indexed Constraint",
         lambda: toy(constraints=lambda m: _add(m, "ci", pyo.Constraint([1, 2], rule=lambda b, i: b.cA <= 0.3 + 0.05 * i)))
         .g_names, "ok", check=lambda n: len(n) == 2 or f"names {n}")
    case(A, "toy: CQA equality constraint", lambda: toy(constraints=lambda m: {"c": _add(
        m, "c2", pyo.Constraint(expr=m.cA == 0.35))}), "bad", ["equality"])
    case(A, "toy: CQA callable returning a constant", lambda: toy(constraints=lambda m: {"c": lambda b: -1.0}),
         "bad", ["CQA", "constant"])
    case(A, "toy: CQA callable returning a relation (cA <= 0.35)",
         lambda: toy(constraints=lambda m: {"c": lambda b: b.cA <= 0.35}), "bad", ["relation", "inequality", "CQA 'c'"])
    case(A, "index(toy with CQA callable returning a relation)", toy_index(lambda: toy(
        constraints=lambda m: {"c": lambda b: b.cA <= 0.35})), "bad", ["relation", "inequality", "CQA 'c'"],
         check=lambda r: True if toy_index_check(r) is True else ("WRONG!", f"accepted; result status "
                                                                   f"{r.status.value}, delta {r.delta} (analytic "
                                                                   f"{_toy_delta('ellipsoid'):.4f})"))
    case(A, "toy: CQA callable returning a string", lambda: toy(constraints=lambda m: {"c": lambda b: "cA-0.35"}),
         "bad", ["CQA", "'c'"])
    case(A, "toy: CQA callable with wrong signature (no args)", lambda: toy(constraints=lambda m: {"c": lambda: 1}),
         "bad", ["CQA", "'c'", "callable"])
    case(A, "toy: constraints={}", lambda: toy(constraints=lambda m: {}), "bad", ["constraint"])
    case(A, "ProcessModel(m, None, None, None, COV) (all None)", lambda: ProcessModel(toy_pyomo(), None, None, None,
                                                                                    COV), "bad", ["theta_p"])
    case(A, "toy: constraints=None (theta valid)", lambda: _toy_kw(constraints=None), "bad", ["constraints"])
    case(A, "toy: constraints='conversion' (a name)", lambda: _toy_kw(constraints="conversion"), "bad",
         ["constraints", "CQA"])
    case(A, "toy: constraints=[m.cA] (a Var)", lambda: toy(constraints=lambda m: [m.cA]), "either",
         ["constraints", "CQA"])
    case(A, "toy: CQA is a Constraint of another model", lambda: toy(constraints=lambda m: {"c": _foreign_con()}),
         "bad", ["constraint", "CQA", "model"])
    case(A, "toy: CQA deactivated Constraint", lambda: toy(constraints=lambda m: {"c": _deact(m.conversion)}),
         "either", ["deactivated", "CQA"])
    case(A, "toy: theta in both theta_p and theta_m", lambda: toy(theta_m=lambda m: {"k": m.k, "tau2": m.tau}),
         "bad", ["theta_p", "theta_m"])
    case(A, "toy: theta_m list with a duplicate [k, k]", lambda: toy(theta_m=lambda m: [m.k, m.k]), "bad",
         ["theta_m"])
    case(A, "toy: theta_m dict two names one component", lambda: toy(theta_m=lambda m: {"a": m.k, "b": m.k}),
         "bad", ["theta_m"])
    case(A, "toy: same name 'k' in theta_p and theta_m", lambda: toy(theta_p=lambda m: {"k": m.tau}), "bad",
         ["theta_p", "theta_m", "'k'"])
    case(A, "toy: theta_m non-mutable Param", lambda: _toy_immutable(), "bad", ["mutable"])
    case(A, "toy: theta_m an Expression", lambda: toy(theta_m=lambda m: {"k": m.g_expr, "Ea": m.Ea}), "bad",
         ["Param", "Var"])
    case(A, "toy: theta_p = 20.0 (a float)", lambda: toy(theta_p=lambda m: 20.0), "bad", ["theta_p"])
    case(A, "toy: theta_p = 'tau' (a name)", lambda: toy(theta_p=lambda m: "tau"), "bad", ["theta_p"])
    case(A, "toy: theta_p = None", lambda: toy(theta_p=lambda m: None), "bad", ["theta_p"])
    case(A, "toy: theta_m = {'k': 2*m.k, 'Ea': m.Ea} (bare expression)",
         lambda: toy(theta_m=lambda m: {"k": 2 * m.k, "Ea": m.Ea}), "bad", ["expression"])
    case(A, "toy: theta_m a Param of another model (name absent here)",
         lambda: toy(theta_m=lambda m: {"k": _foreign_param("zz"), "Ea": m.Ea}), "bad", ["theta_m", "'k'", "model"])
    case(A, "toy: theta_m a Param of another model with the same name",
         lambda: toy(theta_m=lambda m: {"k": _foreign_param("k"), "Ea": m.Ea}), "bad", ["theta_m", "model"])
    case(A, "toy: a theta the model never uses", lambda: toy(theta_p=lambda m: {"tau": m.tau, "u": _add(
        m, "unused", pyo.Param(mutable=True, initialize=1.0))}, theta_p_bounds=[(5, 30), (0, 2)]), "bad",
         ["unused", "appear in no"])
    case(A, "toy: theta_p = [] (no process parameter)", lambda: toy(theta_p=lambda m: [], theta_p_bounds=None),
         "either", ["theta_p"])
    case(A, "index(toy with theta_p = [])", lambda: flexibility_index(toy(theta_p=lambda m: [], theta_p_bounds=None),
                                                                      [], "ellipsoid", "ipopt", options=LIGHT),
         "either", ["theta_p"], check=ell)
    case(A, "toy: theta_m = [] with covariance zeros((0,0))",
         lambda: toy(theta_m=lambda m: [], covariance=np.zeros((0, 0))), "bad", ["theta_m", "covariance"])
    case(A, "toy: theta_m = [] with covariance []", lambda: toy(theta_m=lambda m: [], covariance=[]), "bad",
         ["theta_m"])
    for desc, cov, nm in [("3x3", np.eye(3) * 1e-4, ["covariance"]), ("non-symmetric", [[4e-4, 1e-5], [0, 25e-4]],
                                                                       ["symmetric"]),
                          ("NaN", [[NAN, 0], [0, 1]], ["covariance"]), ("complex", [[4e-4, 0], [0, 1j]], ["covariance"]),
                          ("strings", [["a", "b"], ["c", "d"]], ["covariance"]), ("None", None, ["covariance"]),
                          ("singular", [[1, 1], [1, 1]], ["singular", "positive"]), ("scalar 1.0", 1.0, ["covariance"]),
                          ("1-D diagonal [4e-4, 25e-4]", [4e-4, 25e-4], ["covariance"]),
                          ("negative definite", [[-4e-4, 0], [0, -25e-4]], ["covariance"])]:
        case(A, f"toy: covariance {desc}", (lambda cov=cov: toy(covariance=cov)), "bad", nm)
    case(A, "toy: theta_m_nominal wrong length", lambda: toy(theta_m_nominal=[0.2]), "bad", ["theta_m_nominal"])
    case(A, "toy: theta_m_nominal NaN", lambda: toy(theta_m_nominal=[0.2, NAN]), "bad", ["theta_m_nominal"])
    case(A, "toy: theta_m_nominal given (overrides Params)", lambda: toy(theta_m_nominal=[0.25, 1.0]).theta_m_nominal,
         "ok", check=lambda v: list(v) == [0.25, 1.0])
    case(A, "toy: theta_p_nominal outside bounds", lambda: toy(theta_p_nominal=[40.0]), "bad", ["theta_p_nominal"])
    case(A, "toy: theta_p_nominal wrong length", lambda: toy(theta_p_nominal=[20.0, 1.0]), "bad", ["theta_p_nominal"])
    case(A, "toy: theta_p_nominal 'abc'", lambda: toy(theta_p_nominal="abc"), "bad", ["theta_p_nominal"])
    for desc, b, nm in [("flat (5, 30)", (5, 30), ["theta_p_bounds"]), ("lo > hi", [(30, 5)], ["theta_p_bounds"]),
                        ("lo == hi", [(20, 20)], ["theta_p_bounds"]), ("NaN", [(NAN, 30)], ["theta_p_bounds"]),
                        ("inf", [(5, INF)], ["theta_p_bounds"]), ("strings ('a','b')", [("a", "b")], ["theta_p_bounds"]),
                        ("numeric strings ('5','30')", [("5", "30")], ["theta_p_bounds"]),
                        ("complex (5+1j, 30)", [(5 + 1j, 30)], ["theta_p_bounds"]),
                        ("dict {'tau': (5,30)}", {"tau": (5, 30)}, ["theta_p_bounds"]),
                        ("3 columns", [(5, 20, 30)], ["theta_p_bounds"]), ("ragged", [(5,), (30,)], ["theta_p_bounds"])]:
        case(A, f"toy: theta_p_bounds {desc}", (lambda b=b: toy(theta_p_bounds=b)), "bad", nm)
    for v in (0, -1, NAN, INF, "6", True, None):
        case(A, f"toy: delta_max={v!r}", (lambda v=v: toy(delta_max=v)), "bad", ["delta_max"])
    case(A, "toy: delta_max=np.int64(6)", lambda: toy(delta_max=np.int64(6)), "ok")
    case(A, "toy: delta_max=np.float32(6)", lambda: toy(delta_max=np.float32(6)), "ok")
    case(A, "toy: grid_shape=11 (an int for the one theta_p)", lambda: toy(grid_shape=11).grid_shape, "either",
         ["grid_shape"], check=lambda g: g == (11,) or f"grid_shape {g}")
    for v, exp in (((2.5,), "bad"), ((0,), "bad"), (("a",), "bad"), ((11, 11), "bad"), ((11,), "ok"),
                   ([np.int64(5)], "ok"), ((-3,), "bad"), ((True,), "bad")):
        case(A, f"toy: grid_shape={v!r}", (lambda v=v: toy(grid_shape=v)), exp, ["grid_shape"])
    case(A, "toy: factory='x'", lambda: toy(factory="x"), "bad", ["factory"])
    case(A, "toy: factory=lambda: None (accepted until used)", lambda: toy(factory=lambda: None), "either",
         ["factory"])
    case(A, "toy: domain_everywhere='no'", lambda: toy(domain_everywhere="no").domain_everywhere, "bad",
         ["domain_everywhere"])
    case(A, "toy: check_square='no'", lambda: toy(check_square="no"), "either", ["check_square"])
    case(A, "toy: not square (extra free variable)", lambda: _toy_not_square(), "bad", ["square"])
    case(A, "toy: over-determined (extra equation)", lambda: _toy_over(), "bad", ["square"])
    case(A, "ProcessModel(model=None, ...)", lambda: _toy_kw(model=None), "bad", ["model"])
    case(A, "ProcessModel(model='m', ...)", lambda: _toy_kw(model="m"), "bad", ["model"])
    case(A, "toy: theta_p an uninitialised Var", lambda: _toy_uninit_var(), "bad", ["tau", "theta_p_nominal",
                                                                                   "value"])
    case(A, "toy: theta_m a mutable Param without a value", lambda: _toy_uninit_param(), "bad",
         ["k", "theta_m_nominal", "value"])
    case(A, "toy: active GDP Disjunct", lambda: _toy_disjunct(), "bad", ["Disjunct"])
    case(A, "toy: simulator='abc'", lambda: toy(simulator="abc"), "bad", ["simulator"])
    case(A, "toy: simulator wrong shape, model.simulate()", lambda: toy(simulator=lambda tp, tm: np.zeros(3))
         .simulate([20.0], [[0.2, 1.0]]), "bad", ["simulator"])
    case(A, "toy: name=None", lambda: toy(name=None), "either", ["name"])
    case(A, "toy: theta_p Var with bounds narrower than theta_p_bounds",
         lambda: _toy_kw_var_bounds(), "either", ["tau", "bounds"])
    case(A, "toy with simulator: MC at nominal vs analytic", lambda: flexspace.montecarlo.monte_carlo_probability(
        toy(simulator=toy_sim), [20.0], 200, 0).probability, "ok", check=lambda p: 0.8 < p <= 1.0)
    case(A, "toy: index box vs analytic", toy_index(lambda: toy(), "box"), "ok",
         check=lambda r: toy_index_check(r, "box"))


def _add(m, name, comp):
    m.add_component(name, comp)
    return comp


def _deact(c):
    c.deactivate()
    return c


def _foreign_con():
    o = pyo.ConcreteModel()
    o.y = pyo.Var(bounds=(0, 1))
    o.other = pyo.Constraint(expr=o.y <= 0.5)
    return o.other


def _foreign_param(name):
    o = pyo.ConcreteModel()
    o.add_component(name, pyo.Param(mutable=True, initialize=0.2))
    return o.component(name)


def _toy_kw(model="default", **kw):
    m = toy_pyomo()
    args = dict(theta_p={"tau": m.tau}, theta_m={"k": m.k, "Ea": m.Ea}, constraints={"conversion": m.conversion},
                covariance=COV, theta_p_bounds=[(5, 30)])
    args.update(kw)
    return ProcessModel(m if model == "default" else model, **args)


def _toy_kw_var_bounds():
    m = toy_pyomo("var")
    m.tau.setlb(10)
    m.tau.setub(25)
    return ProcessModel(m, {"tau": m.tau}, {"k": m.k, "Ea": m.Ea}, {"c": m.conversion}, COV, theta_p_bounds=[(5, 30)])


def _toy_immutable():
    m = toy_pyomo()
    m.kk = pyo.Param(initialize=0.2)
    return ProcessModel(m, {"tau": m.tau}, {"k": m.kk, "Ea": m.Ea}, {"c": m.conversion}, COV)


def _toy_not_square():
    m = toy_pyomo()
    m.extra = pyo.Var(initialize=0.0)
    m.bal.deactivate()
    m.bal3 = pyo.Constraint(expr=1.0 - m.cA - m.tau * m.k * m.Ea * m.cA + m.extra == 0)  # one free variable
    return ProcessModel(m, {"tau": m.tau}, {"k": m.k, "Ea": m.Ea}, {"c": m.conversion}, COV)


def _toy_over():
    m = toy_pyomo()
    m.bal_dup = pyo.Constraint(expr=m.cA * (1 + m.tau * m.k * m.Ea) == 1.0)
    return ProcessModel(m, {"tau": m.tau}, {"k": m.k, "Ea": m.Ea}, {"c": m.conversion}, COV)


def _toy_uninit_var():
    m = toy_pyomo()
    m.tv = pyo.Var()
    m.bal.deactivate()
    m.bal2 = pyo.Constraint(expr=1.0 - m.cA - m.tv * m.k * m.Ea * m.cA == 0)
    return ProcessModel(m, {"tau": m.tv}, {"k": m.k, "Ea": m.Ea}, {"c": m.conversion}, COV)


def _toy_uninit_param():
    m = toy_pyomo()
    m.kn = pyo.Param(mutable=True)
    m.bal.deactivate()
    m.bal2 = pyo.Constraint(expr=1.0 - m.cA - m.tau * m.kn * m.Ea * m.cA == 0)
    return ProcessModel(m, {"tau": m.tau}, {"k": m.kn, "Ea": m.Ea}, {"c": m.conversion}, COV)


def _toy_disjunct():
    from pyomo.gdp import Disjunct, Disjunction
    m = toy_pyomo()
    m.d1 = Disjunct()
    m.d1.c = pyo.Constraint(expr=m.cA <= 0.9)
    m.d2 = Disjunct()
    m.d2.c = pyo.Constraint(expr=m.cA >= 0.1)
    m.dj = Disjunction(expr=[m.d1, m.d2])
    return ProcessModel(m, {"tau": m.tau}, {"k": m.k, "Ea": m.Ea}, {"c": m.conversion}, COV)


# =========================================================================== E. index / test / extended test
def area_analysis():
    A = "analysis"
    case(A, "index(case1) nominal, box, ipopt", c1_index(), "ok", check=c1_box_check)
    case(A, "index(case1, theta_p=[4.6, 500])", c1_index(theta_p=[4.6, 500]), "ok", check=c1_box_check)
    case(A, "index(case1, theta_p=(4.6, 500))", c1_index(theta_p=(4.6, 500)), "ok", check=c1_box_check)
    case(A, "index(case1, theta_p=np.array)", c1_index(theta_p=np.array([4.6, 500.0])), "ok", check=c1_box_check)
    case(A, "index(case1, theta_p={'R_BA':4.6,'tau':500})", c1_index(theta_p={"R_BA": 4.6, "tau": 500}), "ok",
         check=c1_box_check)
    case(A, "index(case1, theta_p={'R_BA':4.6})", c1_index(theta_p={"R_BA": 4.6}), "bad", ["theta_p", "tau"])
    case(A, "index(case1, theta_p={'R_BA':4.6,'tau':500,'x':1})", c1_index(theta_p={"R_BA": 4.6, "tau": 500, "x": 1}),
         "bad", ["theta_p", "'x'"])
    bad = [("[4.6]", [4.6]), ("[4.6, 500, 1]", [4.6, 500, 1]), ("[nan, 500]", [NAN, 500]), ("[inf, 500]", [INF, 500]),
           ("'4.6 500'", "4.6 500"), ("[4.6, '500']", [4.6, "500"]), ("[[4.6, 500]]", [[4.6, 500]]),
           ("[4.6+0j, 500]", [4.6 + 0j, 500]), ("4.6", 4.6), ("[True, 500]", [True, 500]), ("[]", []),
           ("[None, 500]", [None, 500])]
    for d, v in bad:
        case(A, f"index(case1, theta_p={d})", c1_index(theta_p=v), "bad", ["theta_p"])
    case(A, "index(case1, theta_p=[100, 500]) outside theta_p_bounds", c1_index(theta_p=[100, 500]), "either",
         ["theta_p"])
    for d, v, nm in [("'circle'", "circle", ["uncertainty"]), ("None", None, ["uncertainty"]), ("3", 3, ["uncertainty"]),
                     ("BoxSet of dim 3", BoxSet([1, 2, 3], np.eye(3)), ["dimension", "uncertainty"]),
                     ("['box']", ["box"], ["uncertainty"])]:
        case(A, f"index(case1, uncertainty_set={d})", c1_index(uncertainty_set=v), "bad", nm)
    case(A, "index(case1, uncertainty_set='BOX')", c1_index(uncertainty_set="BOX"), "ok", check=c1_box_check)
    case(A, "index(case1, uncertainty_set=SetKind.BOX)", c1_index(uncertainty_set=SetKind.BOX), "ok",
         check=c1_box_check)
    case(A, "index(case1, uncertainty_set=BoxSet(nominal, cov)) == 'box'",
         lambda: flexibility_index(C1(), None, BoxSet(C1().theta_m_nominal, C1().covariance), "ipopt", options=LIGHT),
         "ok", check=c1_box_check)
    case(A, "index(case1, 'ellipsoid') == 'ldl'", lambda: (c1_index(uncertainty_set="ellipsoid")().delta,
                                                          c1_index(uncertainty_set="ldl")().delta), "ok",
         check=lambda t: abs(t[0] - t[1]) < 1e-4 or f"{t}")
    for d, v, nm in [("'foo'", "foo", ["foo", "solver"]), ("'highs'", "highs", ["highs"]), ("None", None, ["solver"]),
                     ("5", 5, ["solver"]), ("'baron'", "baron", ["baron"]), ("''", "", ["solver"])]:
        case(A, f"index(case1, solver={d})", c1_index(solver=v), "bad", nm)
    case(A, "index(case1, solver='IPOPT')", c1_index(solver="IPOPT"), "either", ["solver"], check=c1_box_check)
    case(A, "index(case1, solver=get_solver('ipopt'))", c1_index(solver=flexspace.get_solver("ipopt")), "ok",
         check=c1_box_check)
    for d, v, nm in [("'foo'", "foo", ["method"]), ("'minlp' with ipopt", "minlp", ["minlp", "method"]),
                     ("None", None, ["method"]), ("1", 1, ["method"])]:
        case(A, f"index(case1, method={d})", c1_index(method=v), "bad", nm)
    case(A, "index(case1, method='ENUMERATION')", c1_index(method="ENUMERATION"), "either", ["method"],
         check=c1_box_check)
    case(A, "index(case1, big_m=-1)", c1_index(big_m=-1.0), "bad", ["big_m"])
    case(A, "index(case1, big_m='x')", c1_index(big_m="x"), "bad", ["big_m"])
    case(A, "test(case1, delta=1, big_m=-1)", c1_test(delta=1.0, big_m=-1.0), "bad", ["big_m"])
    case(A, "test(case1, delta=1, big_m=nan)", c1_test(delta=1.0, big_m=NAN), "bad", ["big_m"])
    case(A, "index(case1, foo=1) unknown kwarg", c1_index(foo=1), "bad", ["foo"])
    case(A, "index(case1, square_solver='foo')", c1_index(square_solver="foo"), "bad", ["foo", "solver"])
    # flexibility test
    case(A, "test(case1, delta=1.0) feasible", c1_test(delta=1.0), "ok",
         check=lambda r: True if r.feasible and r.chi <= 0 else f"chi {r.chi} feasible {r.feasible}")
    case(A, "test(case1, delta=4.0) infeasible", c1_test(delta=4.0), "ok",
         check=lambda r: True if (not r.feasible and r.chi > 0) else f"chi {r.chi} feasible {r.feasible}")
    case(A, "test(case1, delta=0)", c1_test(delta=0.0), "ok", check=lambda r: r.feasible or f"chi {r.chi}")
    case(A, "test(case1, confidence=0.5)", c1_test(confidence=0.5), "ok", check=lambda r: r.feasible or f"chi {r.chi}")
    for d, kw, nm in [("delta=-1", dict(delta=-1.0), ["delta"]), ("delta=nan", dict(delta=NAN), ["delta"]),
                      ("delta=inf", dict(delta=INF), ["delta"]), ("delta='1'", dict(delta="1"), ["delta"]),
                      ("delta=True", dict(delta=True), ["delta"]), ("delta=[1]", dict(delta=[1.0]), ["delta"]),
                      ("delta=1, confidence=0.5", dict(delta=1.0, confidence=0.5), ["delta", "confidence"]),
                      ("no delta, no confidence", dict(), ["delta", "confidence"]),
                      ("confidence=0", dict(confidence=0), ["confidence"]),
                      ("confidence=1", dict(confidence=1), ["confidence"]),
                      ("confidence=1.5", dict(confidence=1.5), ["confidence"]),
                      ("confidence=nan", dict(confidence=NAN), ["confidence"]),
                      ("confidence='0.5'", dict(confidence="0.5"), ["confidence"]),
                      ("confidence=-0.1", dict(confidence=-0.1), ["confidence"]),
                      ("theta_p=[4.6]", dict(delta=1.0, theta_p=[4.6]), ["theta_p"]),
                      ("method='x'", dict(delta=1.0, method="x"), ["method"])]:
        case(A, f"test(case1, {d})", c1_test(**kw), "bad", nm)
    case(A, "test(case1, confidence=1-1e-12)", c1_test(confidence=1 - 1e-12), "either", ["confidence"],
         check=lambda r: r.status.value in ("ok", "failed", "sampled") or (r.status.value == "bound"
                                                                           and not r.feasible) or f"{r.status}")
    case(A, "test(case1, delta=1e6)", c1_test(delta=1e6), "either", ["delta"],
         check=lambda r: (not r.feasible) or f"feasible at delta=1e6? chi {r.chi}")
    # extended
    case(A, "extended_test(case1, delta_p=0.5, confidence=0.85)", c1_ext(0.5), "ok",
         check=lambda r: r.feasible or f"chi {r.chi}")
    case(A, "extended_test(case1, delta_p=0.6, confidence=0.85) infeasible", c1_ext(0.6), "ok",
         check=lambda r: (not r.feasible) or f"chi {r.chi}")
    for d, dp, kw, nm in [("delta_p=-1", -1.0, {}, ["delta_p"]), ("delta_p=nan", NAN, {}, ["delta_p"]),
                          ("delta_p='0.5'", "0.5", {}, ["delta_p"]), ("delta_p=None", None, {}, ["delta_p"]),
                          ("delta_p=inf", INF, {}, ["delta_p"]),
                          ("delta_p_minus=[1]", 0.5, dict(delta_p_minus=[1]), ["delta_p_minus"]),
                          ("delta_p_minus=[-1,-1]", 0.5, dict(delta_p_minus=[-1, -1]), ["delta_p_minus"]),
                          ("delta_p_plus=[nan,1]", 0.5, dict(delta_p_plus=[NAN, 1]), ["delta_p_plus"]),
                          ("delta_m=-1 (and no confidence)", 0.5, dict(delta_m=-1.0, confidence=None), ["delta"]),
                          ("delta_m=1 and confidence=0.85", 0.5, dict(delta_m=1.0), ["delta", "confidence"]),
                          ("theta_p_nominal=[4.6]", 0.5, dict(theta_p_nominal=[4.6]), ["theta_p"]),
                          ("theta_p_nominal=[10, 500] outside bounds", 0.2, dict(theta_p_nominal=[10.0, 500.0]),
                           ["theta_p_nominal", "bounds"]),
                          ("theta_p_nominal=[4.6, 100] outside bounds", 0.2, dict(theta_p_nominal=[4.6, 100.0]),
                           ["theta_p_nominal", "bounds"])]:
        case(A, f"extended_test(case1, {d})", c1_ext(dp, **kw), "bad", nm)
    case(A, "extended_test(case1, delta_p=2) (box beyond bounds)", c1_ext(2.0), "either", ["delta_p"])
    case(A, "extended_test(toy without theta_p_bounds)", lambda: extended_flexibility_test(
        toy(theta_p_bounds=None), 0.5, confidence=0.85, uncertainty_set="box", solver="ipopt", options=LIGHT), "bad",
         ["delta_p_minus", "theta_p_bounds"])
    case(A, "FlexibilityAnalysis(case1,'box','ipopt').index twice (reuse)", lambda: (lambda fa: (
        fa.index([4.6, 500]).delta, fa.index([4.6, 500]).delta))(flexspace.FlexibilityAnalysis(C1(), "box", "ipopt",
                                                                                                LIGHT)), "ok",
         check=lambda t: abs(t[0] - t[1]) < 1e-6 and abs(t[0] - C1_BOX_DELTA) < 1e-3 or f"{t}")


# =========================================================================== F. maps & region
def area_maps():
    A = "maps"
    case(A, "monte_carlo_map(case1, grid=3)", c1_mc(), "ok", check=shape_is((3, 3)))
    case(A, "monte_carlo_map(case1, grid=(3,2))", c1_mc(grid=(3, 2)), "ok", check=shape_is((3, 2)))
    case(A, "monte_carlo_map(case1, grid=(3,))", c1_mc(grid=(3,)), "either", ["grid"], check=shape_is((3, 3)))
    case(A, "monte_carlo_map(case1, grid=np.array([3,2]))", c1_mc(grid=np.array([3, 2])), "ok", check=shape_is((3, 2)))
    case(A, "monte_carlo_map(case1, grid=[3, np.int64(2)])", c1_mc(grid=[3, np.int64(2)]), "ok",
         check=shape_is((3, 2)))
    case(A, "monte_carlo_map(case1, grid=None) (seed grid 11x21)", c1_mc(grid=None, n_samples=50), "ok",
         check=shape_is((11, 21)))
    case(A, "monte_carlo_map(case1, grid=[[4,5],[400,500]]) axes", c1_mc(grid=[[4, 5], [400, 500]]), "ok",
         check=lambda d: d.points.tolist() == [[4, 400], [4, 500], [5, 400], [5, 500]] or f"{d.points.tolist()}")
    for d, g, nm in [("0", 0, ["grid"]), ("-1", -1, ["grid"]), ("(3,0)", (3, 0), ["grid"]), ("3.0", 3.0, ["grid"]),
                     ("(3.5, 2)", (3.5, 2), ["grid"]), ("True", True, ["grid"]), ("'abc'", "abc", ["grid"]),
                     ("(3,3,3)", (3, 3, 3), ["grid"]), ("[[4,5]] (one axis)", [[4, 5]], ["grid"]),
                     ("[[4,nan],[400]]", [[4, NAN], [400]], ["grid"]), ("[[],[400]]", [[], [400]], ["grid"]),
                     ("[[4,5],[400,'x']]", [[4, 5], [400, "x"]], ["grid"]),
                     ("{'R_BA':[4,5],'tau':[400]}", {"R_BA": [4, 5], "tau": [400]}, ["grid"]),
                     ("[3, None]", [3, None], ["grid"]), ("(2**40, 1) (too many points)", (2 ** 40, 1), ["grid"])]:
        case(A, f"monte_carlo_map(case1, grid={d})", c1_mc(grid=g), "bad", nm, timeout=20)
    case(A, "monte_carlo_map(case1, grid=[[5,4,4],[500]]) (unsorted, duplicate)", c1_mc(grid=[[5, 4, 4], [500]]),
         "either", ["grid"])
    case(A, "monte_carlo_map(case1, grid=[[3,7],[500]]) (outside bounds)", c1_mc(grid=[[3, 7], [500]]), "either",
         ["grid"])
    case(A, "monte_carlo_map(toy 1-θp, grid=[[4,5],[400,500]])",
         lambda: monte_carlo_map(toy(simulator=toy_sim), grid=[[10, 20], [1, 2]], n_samples=50, progress=False),
         "bad", ["grid"])
    for v in (0, -5, 2.5, "100", None, True, 100.0, 10 ** 13):
        case(A, f"monte_carlo_map(case1, n_samples={v!r})", (lambda v=v: c1_mc(n_samples=v)()), "bad",
             ["n_samples"])
    case(A, "monte_carlo_map(case1, n_samples=np.int64(50))", c1_mc(n_samples=np.int64(50)), "ok")
    for v in (-1, 1.5, "0", np.random.default_rng(0), [0]):
        case(A, f"monte_carlo_map(case1, random_state={v!r})", (lambda v=v: c1_mc(random_state=v)()), "bad",
             ["random_state"])
    case(A, "monte_carlo_map(case1, random_state=None)", c1_mc(random_state=None), "either", ["random_state"])
    case(A, "monte_carlo_map(case1, random_state=np.int64(3))", c1_mc(random_state=np.int64(3)), "ok")
    case(A, "monte_carlo_map(case1, random_state=2**64)", c1_mc(random_state=2 ** 64), "either", ["random_state"])
    for v in (0, -2, 1.5, "2", True, object()):
        case(A, f"monte_carlo_map(case1, workers={v!r})", (lambda v=v: c1_mc(workers=v)()), "bad", ["workers"])
    case(A, "monte_carlo_map(case1, workers=2) == serial", c1_mc(workers=2), "ok", check=same_map(mc_ref))
    case(A, "monte_carlo_map(case1, workers=ThreadPoolExecutor(2)) == serial",
         lambda: _with_pool(cf.ThreadPoolExecutor(2), lambda ex: c1_mc(workers=ex)()), "ok", check=same_map(mc_ref))
    for v in (0, -1, 2.5, "4"):
        case(A, f"monte_carlo_map(case1, chunk_size={v!r})", (lambda v=v: c1_mc(chunk_size=v)()), "bad",
             ["chunk_size"])
    case(A, "monte_carlo_map(case1, chunk_size=1) == default", c1_mc(chunk_size=1), "ok", check=same_map(mc_ref))
    case(A, "monte_carlo_map(case1, chunk_size=1000)", c1_mc(chunk_size=1000), "ok", check=same_map(mc_ref))
    for v in ("yes", 1):
        case(A, f"monte_carlo_map(case1, progress={v!r})", (lambda v=v: c1_mc(progress=v)()), "bad", ["progress"])
    case(A, "monte_carlo_map(case1, progress=True)", lambda: _quiet_stderr(c1_mc(progress=True)), "ok")
    case(A, "monte_carlo_map(case1, batch='grid') == 'point'", c1_mc(batch="grid"), "ok", check=same_map(mc_ref))
    case(A, "monte_carlo_map(case1, batch='GRID')", c1_mc(batch="GRID"), "bad", ["batch"])
    case(A, "monte_carlo_map(case1, batch=None)", c1_mc(batch=None), "bad", ["batch"])
    case(A, "monte_carlo_map(toy no simulator, pyomo_solver='foo')", lambda: monte_carlo_map(
        toy(), grid=2, n_samples=10, progress=False, pyomo_solver="foo"), "bad", ["pyomo_solver", "unknown solver"],
         check=all_failed_is_silent)
    case(A, "monte_carlo_map(toy no simulator, pyomo_solver='ipopt') vs simulator",
         lambda: (monte_carlo_map(toy(), grid=2, n_samples=30, progress=False).probability,
                  monte_carlo_map(toy(simulator=toy_sim), grid=2, n_samples=30, progress=False).probability), "ok",
         check=lambda t: np.allclose(t[0], t[1]) or f"{t}")
    case(A, "monte_carlo_map(case1, pyomo_solver='foo') (simulator model)", c1_mc(pyomo_solver="foo"), "either",
         ["pyomo_solver"])
    case(A, "monte_carlo_map(model=case1.model factory)", lambda: monte_carlo_map(case1.model, grid=3, n_samples=100,
                                                                                  progress=False), "ok",
         check=same_map(mc_ref))
    case(A, "monte_carlo_map(model='case1')", lambda: monte_carlo_map("case1", grid=3, n_samples=100), "bad",
         ["model"])
    case(A, "monte_carlo_map(model=None)", lambda: monte_carlo_map(None, grid=3, n_samples=100), "bad", ["model"])
    case(A, "monte_carlo_map(model=lambda: 5)", lambda: monte_carlo_map(lambda: 5, grid=3, n_samples=100), "bad",
         ["model", "factory"])
    case(A, "monte_carlo_map(toy with simulator='abc')", lambda: monte_carlo_map(toy(simulator="abc"), grid=2,
                                                                               n_samples=10, progress=False), "bad",
         ["simulator"], check=all_failed_is_silent)
    case(A, "monte_carlo_map(toy simulator returning wrong shape)", lambda: monte_carlo_map(
        toy(simulator=lambda tp, tm: np.zeros((3, 3))), grid=2, n_samples=10, progress=False), "bad", ["simulator"],
         check=all_failed_is_silent)
    case(A, "monte_carlo_map(case1, 3, 100, 0, 'grid') (batch positional)", lambda: monte_carlo_map(
        C1(), 3, 100, 0, "grid"), "bad", ["positional"])
    # out paths
    case(A, "monte_carlo_map(case1, out=<a directory>)", lambda: c1_mc(out=str(tmpdir("outdir")))(), "bad",
         ["out", "directory"])
    case(A, "monte_carlo_map(case1, out='/proc/nope/x.jsonl')", c1_mc(out="/proc/nope/x.jsonl"), "bad", ["out"])
    case(A, "monte_carlo_map(case1, out=<file>/x.jsonl) (parent is a file)", lambda: c1_mc(
        out=str(_afile() / "x.jsonl"))(), "bad", ["out"])
    case(A, "monte_carlo_map(case1, out=5)", c1_mc(out=5), "bad", ["out"])
    case(A, "monte_carlo_map(case1, out='')", c1_mc(out=""), "bad", ["path", "out"])
    case(A, "monte_carlo_map(case1, out=pathlib.Path)", lambda: c1_mc(out=fresh("p.jsonl"))(), "ok",
         check=same_map(mc_ref))
    case(A, "monte_carlo_map(case1, out=CheckpointFile(p, retry_failed='yes'))",
         lambda: c1_mc(out=CheckpointFile(str(fresh("q.jsonl")), retry_failed="yes"))(), "bad", ["retry_failed"])
    case(A, "monte_carlo_map(case1, out=b'bytes/path.jsonl')", lambda: c1_mc(out=str(fresh("b.jsonl")).encode())(),
         "either", ["out"])
    # flexibility index map
    case(A, "flexibility_index_map(case1, grid=2, box, ipopt)", c1_fi(), "ok", check=no_failed)
    case(A, "flexibility_index_map(case1, uncertainty_set='circle')", c1_fi(uncertainty_set="circle"), "bad",
         ["uncertainty_set", "uncertainty set"])
    case(A, "flexibility_index_map(case1, uncertainty_set=BoxSet object)", lambda: c1_fi(
        uncertainty_set=BoxSet(C1().theta_m_nominal, C1().covariance))(), "bad", ["by name", "uncertainty"])
    case(A, "flexibility_index_map(case1, uncertainty_set=5)", c1_fi(uncertainty_set=5), "bad", ["uncertainty"])
    case(A, "flexibility_index_map(case1, uncertainty_set='BOX')", c1_fi(uncertainty_set="BOX"), "ok",
         check=same_map(fi_ref))
    case(A, "flexibility_index_map(case1, solver='foo')", c1_fi(solver="foo"), "bad", ["foo", "solver"])
    case(A, "flexibility_index_map(case1, solver='IPOPT')", c1_fi(solver="IPOPT"), "either", ["solver"],
         check=same_map(fi_ref))
    case(A, "flexibility_index_map(case1, solver='highs')", c1_fi(solver="highs"), "bad", ["highs"],
         check=all_failed_is_silent)
    case(A, "flexibility_index_map(case1, method='minlp', solver='ipopt')", c1_fi(method="minlp"), "bad",
         ["minlp", "method"], check=all_failed_is_silent)
    case(A, "flexibility_index_map(case1, method='foo')", c1_fi(method="foo"), "bad", ["method"])
    case(A, "flexibility_index_map(case1, options={'time_limit': -1})", c1_fi(options={"time_limit": -1}), "bad",
         ["time_limit"])
    case(A, "flexibility_index_map(case1, options='fast')", c1_fi(options="fast"), "bad", ["preset", "fast"])
    case(A, "flexibility_index_map(case1, options={'n_certify': 20})", c1_fi(options={"time_limit": 10,
                                                                                     "n_certify": 20}), "ok",
         check=no_failed)
    case(A, "flexibility_index_map(case1, workers=2) == serial", c1_fi(workers=2), "ok",
         check=same_map(fi_ref, ("probability", "delta")))
    case(A, "flexibility_index_map(case1, workers=0)", c1_fi(workers=0), "bad", ["workers"])
    case(A, "flexibility_index_map(case1, chunk_size=0)", c1_fi(chunk_size=0), "bad", ["chunk_size"])
    case(A, "flexibility_index_map(case1, progress='x')", c1_fi(progress="x"), "bad", ["progress"])
    case(A, "flexibility_index_map(case1, grid=2.5)", c1_fi(grid=2.5), "bad", ["grid"])
    case(A, "flexibility_index_map(case1, out=<a directory>)", lambda: c1_fi(out=str(tmpdir("outdir2")))(), "bad",
         ["out", "directory"])
    case(A, "flexibility_index_map('case1')", lambda: flexibility_index_map("case1", 2, "box", "ipopt"), "bad",
         ["model"])
    case(A, "flexibility_index_map(case1, grid=[[3,7],[500]]) outside bounds", c1_fi(grid=[[3, 7], [500]]), "either",
         ["grid"])
    # Algorithm 3 region
    for d, v in [("0", 0), ("1", 1), ("nan", NAN), ("'0.85'", "0.85"), ("None", None), ("1.5", 1.5)]:
        case(A, f"flexibility_test_region(case1, confidence={d})", c1_region(confidence=v), "bad", ["confidence"])
    for d, v in [("[10, 500] outside", [10, 500]), ("[4.6]", [4.6]), ("[nan, 500]", [NAN, 500]),
                 ("'x'", "x")]:
        case(A, f"flexibility_test_region(case1, theta_p_nominal={d})", c1_region(theta_p_nominal=v), "bad",
             ["theta_p_nominal"])
    case(A, "flexibility_test_region(case1, algorithm='bisection')", c1_region(algorithm="bisection"), "bad",
         ["algorithm"])
    case(A, "flexibility_test_region(case1, uncertainty_set='circle')", c1_region(uncertainty_set="circle"), "bad",
         ["uncertainty"])
    case(A, "flexibility_test_region(case1, solver='foo')", c1_region(solver="foo"), "bad", ["solver", "foo"])
    case(A, "flexibility_test_region(case1, solver='highs')", c1_region(solver="highs"), "bad", ["highs"])
    case(A, "flexibility_test_region(case1, options={'foo': 1})", c1_region(options={"foo": 1}), "bad", ["foo"])
    case(A, "flexibility_test_region(case1, move_nominal='yes')", c1_region(move_nominal="yes"), "bad",
         ["move_nominal"])
    case(A, "flexibility_test_region(case1, cover=[1, 2])", c1_region(cover=[1, 2]), "bad", ["cover"])
    case(A, "flexibility_test_region(case1, analysis='x')", c1_region(analysis="x"), "bad", ["analysis"])
    case(A, "flexibility_test_region(case1, theta_p_nominal=[4, 350]) (a corner)",
         c1_region(theta_p_nominal=[4.0, 350.0]), "either", ["theta_p_nominal"])
    case(A, "flexibility_test_region(toy without theta_p_bounds)", lambda: flexibility_test_region(
        toy(theta_p_bounds=None), 0.85, None, "box", "ipopt"), "bad", ["theta_p_bounds"])
    case(A, "flexibility_test_region(None)", lambda: flexibility_test_region(None, 0.85), "bad", ["model"])
    case(A, "flexibility_test_region(case1, cover=mc map)", lambda: c1_region(cover=mc_ref())(), "ok",
         check=lambda r: len(r.rectangles) >= 1 or f"{r}")


def _afile():
    p = WORK / "afile"
    p.write_text("x")
    return p


def _with_pool(ex, fn):
    try:
        return fn(ex)
    finally:
        ex.shutdown(wait=True)


def _quiet_stderr(fn):
    with contextlib.redirect_stderr(io.StringIO()):
        return fn()


# =========================================================================== G. DesignSpaceMap
def area_dmap():
    A = "dmap"
    M = mc_ref
    case(A, "map.region(0.85)", lambda: M().region(0.85), "ok", check=lambda r: r.shape == (3, 3))
    for d, kw, nm in [("1.5", dict(confidence=1.5), ["confidence"]), ("0", dict(confidence=0), ["confidence"]),
                      ("nan", dict(confidence=NAN), ["confidence"]), ("'0.9'", dict(confidence="0.9"), ["confidence"]),
                      ("n_se=-1", dict(n_se=-1), ["n_se"]), ("n_se=nan", dict(n_se=NAN), ["n_se"]),
                      ("n_se='2'", dict(n_se="2"), ["n_se"])]:
        case(A, f"map.region({d})", (lambda kw=kw: M().region(**kw)), "bad", nm)
    case(A, "map.region(n_se=2) superset of region()", lambda: (M().region(0.85), M().region(0.85, n_se=2)), "ok",
         check=lambda t: bool(np.all(t[1] | ~t[0])))
    case(A, "map.region(np.float64(0.9))", lambda: M().region(np.float64(0.9)), "ok")
    case(A, "map.summary(confidence=2)", lambda: M().summary(confidence=2), "bad", ["confidence"])
    case(A, "map.summary()", lambda: M().summary(), "ok", check=lambda s: s["points"] == 9)
    case(A, "map.to_csv(<directory>)", lambda: M().to_csv(tmpdir("csvdir")), "bad", ["path", "directory"])
    case(A, "map.to_csv('/proc/nope/x.csv')", lambda: M().to_csv("/proc/nope/x.csv"), "bad", ["path"])
    case(A, "mc map to_csv/from_csv round trip", lambda: _roundtrip(M(), "rt_mc.csv"), "ok", check=_rt_check)
    case(A, "flexindex map to_csv/from_csv round trip", lambda: _roundtrip(fi_ref(), "rt_fi.csv"), "ok",
         check=_rt_check)
    case(A, "map.to_csv('m') (no suffix) round trip", lambda: _roundtrip(M(), "rt_nosuffix"), "ok", check=_rt_check)
    case(A, "map.to_csv('m.json') (suffix .json): is the CSV still there?", lambda: _csv_json(M()), "ok",
         check=lambda t: True if t else ("LOST", "the CSV written to m.json was overwritten by its own metadata "
                                                 "(to_csv writes path.with_suffix('.json')); from_csv then fails"))
    case(A, "map.to_csv('results.csv') next to an unrelated results.json", lambda: _sidecar_clobber(M()), "bad",
         ["results.json", "exists", "overwrite"], check=lambda ok: True if ok else "the unrelated results.json was "
                                                                                  "overwritten without a warning")
    case(A, "map.to_csv('m.csv.gz') round trip", lambda: _roundtrip(M(), "rt_map.csv.gz"), "either", ["path"],
         check=_rt_check)
    case(A, "round trip of a map with awkward float axes", lambda: _roundtrip(monte_carlo_map(
        C1(), grid=[[4.1, 4.3000000000000001, 15 / 3], [350 + 1e-9, 400]], n_samples=50, progress=False), "awk.csv"),
         "ok", check=_rt_check)
    case(A, "round trip (no metadata) of a map with a duplicated axis value", lambda: (lambda d: (
        d.to_csv(fresh("dup.csv"), metadata=False), DesignSpaceMap.from_csv(WORK / "dup.csv"))[1])(
        monte_carlo_map(C1(), grid=[[5, 4, 4], [500]], n_samples=50, progress=False)), "either", ["grid", "row"])
    case(A, "DesignSpaceMap.from_csv(<missing file>)", lambda: DesignSpaceMap.from_csv(WORK / "nope.csv"), "bad",
         ["nope.csv", "path"])
    case(A, "from_csv(CSV without a probability column)", lambda: DesignSpaceMap.from_csv(_write(
        "noprob.csv", "a,b\n1,2\n")), "bad", ["probability"])
    case(A, "from_csv(CSV without status column).region()", lambda: DesignSpaceMap.from_csv(_write(
        "nostatus.csv", "x,probability\n1,0.9\n2,0.5\n")).region(0.85), "bad", ["status"])
    case(A, "from_csv(empty file)", lambda: DesignSpaceMap.from_csv(_write("empty.csv", "")), "bad", ["empty", "csv"])
    case(A, "from_csv(CSV sorted differently, no metadata) keeps probabilities on their points",
         lambda: _shuffled_roundtrip(), "ok", check=lambda t: bool(np.array_equal(t[0], t[1])) or
         f"region differs: original {t[0].astype(int).tolist()} vs read {t[1].astype(int).tolist()}")
    case(A, "from_csv with a stale .json of another same-shape map", lambda: _stale_sidecar(), "bad",
         ["axes", "metadata", "json"], check=lambda t: True if t[0] == t[1] else
         f"axes from the stale .json {t[0]} but the table's points are {t[1]}")
    case(A, "from_csv with a stale .json of a different-shape map", lambda: _stale_sidecar(shape=(2, 2)), "bad",
         ["rows", "json", "shape"])
    case(A, "DesignSpaceMap(...) with 3 rows for a 2x2 grid", lambda: DesignSpaceMap.from_rows(
        "mc", ["a", "b"], [[1, 2], [3, 4]], [{"probability": 1, "status": "ok"}] * 3), "bad", ["rows", "grid"])
    case(A, "from_rows: failed / NaN / uncertified points never in region", lambda: DesignSpaceMap.from_rows(
        "flexindex", ["a", "b"], [[1, 2], [3, 4]], [{"probability": 0.99, "status": "ok"},
                                                    {"probability": NAN, "status": "ok"},
                                                    {"probability": 0.99, "status": "failed"},
                                                    {"probability": 0.99, "status": "uncertified"}]).region(0.85),
         "ok", check=lambda r: r.ravel().tolist() == [True, False, False, False] or f"{r.ravel().tolist()}")
    case(A, "map.plot(confidence=1.5)", lambda: M().plot(confidence=1.5), "bad", ["confidence"])
    case(A, "map.plot()", lambda: M().plot(), "ok")
    case(A, "DesignSpaceMap.from_region(region, axes)", lambda: DesignSpaceMap.from_region(
        c1_region()(), M().axes), "ok", check=lambda d: d.shape == (3, 3))
    case(A, "map.to_csv(path, metadata='no')", lambda: M().to_csv(fresh("meta_no.csv"), metadata="no"), "either",
         ["metadata"])


def _write(name, text):
    p = fresh(name)
    p.write_text(text)
    return p


def _roundtrip(d, name):
    p = fresh(name)
    side = p.with_suffix(".json")
    if side.exists():
        side.unlink()
    d.to_csv(p)
    return d, DesignSpaceMap.from_csv(p)


def _rt_check(t, lost=False):
    a, b = t
    bad = "LOST" if lost else "WRONG"
    if a.shape != b.shape:
        return (bad, f"shape {b.shape} != {a.shape}")
    if not np.allclose(a.probability, b.probability, equal_nan=True):
        return (bad, "probabilities differ after the round trip")
    if list(a.table["status"]) != list(b.table["status"]):
        return (bad, "statuses differ")
    if not np.array_equal(a.region(0.85), b.region(0.85)):
        return (bad, "region differs")
    if a.settings != b.settings:
        return (bad, "settings differ")
    return True


def _csv_json(d):
    import pandas as pd
    p = fresh("rt_map.json")
    d.to_csv(p)
    try:
        t = pd.read_csv(p)
        return "probability" in t.columns and len(t) == len(d.table)
    except Exception:  # noqa: BLE001
        return False


def _sidecar_clobber(d):
    p = fresh("results.csv")
    j = p.with_suffix(".json")
    j.write_text('{"my": "own notes"}')
    d.to_csv(p)
    return j.read_text() == '{"my": "own notes"}'


def _shuffled_roundtrip():
    d = mc_ref()
    p = fresh("shuffled.csv")
    d.table.sort_values(["tau", "R_BA"]).to_csv(p, index=False)  # same rows, tau-major order
    return d.region(0.5), DesignSpaceMap.from_csv(p).region(0.5)


def _stale_sidecar(shape=(3, 3)):
    a = mc_ref()
    b = monte_carlo_map(C1(), grid=[[4.2, 4.4, 4.6], [450, 500, 550]], n_samples=100, progress=False) \
        if shape == (3, 3) else monte_carlo_map(C1(), grid=2, n_samples=100, progress=False)
    pa, pb = fresh("stale_a.csv"), fresh("stale_b.csv")
    a.to_csv(pa)
    b.to_csv(pb, metadata=False)
    shutil.copy(pa.with_suffix(".json"), pb.with_suffix(".json"))  # a leftover .json from another map
    r = DesignSpaceMap.from_csv(pb)
    return [ax.tolist() for ax in r.axes], [sorted(set(r.points[:, i].tolist())) for i in range(2)]


# =========================================================================== H. checkpoints
def area_checkpoint():
    A = "checkpoint"

    def mk(name):
        p = fresh(name)
        c1_mc(out=str(p))()
        return p

    def resume_changed(name, **kw):
        def f():
            p = mk(name)
            return c1_mc(out=str(p), **kw)()
        return f

    case(A, "resume with same settings (all resumed, equal)", lambda: (lambda p: c1_mc(out=str(p))())(mk("same.jsonl")),
         "ok", check=lambda d: same_map(mc_ref)(d) if d.run_info["resumed"] == 9 and d.run_info["computed"] == 0
         else f"run_info {d.run_info}")
    case(A, "resume with different n_samples", resume_changed("ns.jsonl", n_samples=50), "bad", ["n_samples"])
    case(A, "resume with different random_state", resume_changed("rs.jsonl", random_state=1), "bad", ["random_state"])
    case(A, "resume with a different grid", resume_changed("grid.jsonl", grid=4), "bad", ["grid"])
    case(A, "resume with workers=2 (execution setting only)", resume_changed("wk.jsonl", workers=2), "ok",
         check=same_map(mc_ref))
    case(A, "resume with chunk_size=1 / batch='grid'", resume_changed("cs.jsonl", chunk_size=1, batch="grid"), "ok",
         check=same_map(mc_ref))
    case(A, "resume with a model of another covariance", lambda: monte_carlo_map(
        case1.model(covariance=np.asarray(C1().covariance) * 1.5), grid=3, n_samples=100, progress=False,
        out=str(mk("cov.jsonl"))), "bad", ["covariance"])
    case(A, "resume an mc checkpoint with flexibility_index_map", lambda: c1_fi(grid=3, out=str(mk("alg.jsonl")))(),
         "bad", ["algorithm", "monte carlo", "flexibility index"])
    case(A, "flexindex resume with another time_limit", lambda: (lambda p: (c1_fi(out=str(p))(), c1_fi(
        out=str(p), options={"time_limit": 5, "n_certify": 50})()))(fresh("fi_tl.jsonl")), "bad", ["time_limit"])
    case(A, "flexindex resume with same settings", lambda: (lambda p: (c1_fi(out=str(p))(), c1_fi(out=str(p))())[1])(
        fresh("fi_same.jsonl")), "ok", check=lambda d: same_map(fi_ref, ("probability", "delta"))(d)
         if d.run_info["resumed"] == 4 else f"run_info {d.run_info}")
    case(A, "truncated last line (torn write) then resume", lambda: _torn(mk("torn.jsonl")), "ok", check=_torn_check)
    case(A, "corrupt middle line then resume", lambda: _corrupt_middle(mk("corrupt.jsonl")), "ok",
         check=_corrupt_check)
    case(A, "last record lacks only its newline", lambda: _no_newline(mk("nonl.jsonl")), "ok",
         check=lambda t: (same_map(mc_ref)(t[0]) if t[0].run_info["resumed"] == 9 else
                          ("LOST", f"a complete last record was recomputed/dropped: {t[0].run_info}")))
    case(A, "partial checkpoint (4 records removed) resumes the rest", lambda: _partial(mk("part.jsonl")), "ok",
         check=lambda d: same_map(mc_ref)(d) if d.run_info["computed"] == 4 else f"{d.run_info}")
    case(A, "record with out-of-range index i=99 appended", lambda: _append(mk("oor.jsonl"), {"i": 99, "row": {}}),
         "ok", check=lambda t: same_map(mc_ref)(t) if t.run_info["checkpoint"]["invalid_records"] else
         f"{t.run_info['checkpoint']}")
    case(A, "record with wrong types (probability 'abc') for point 0", lambda: _bad_type(mk("badtype.jsonl")), "ok",
         check=lambda d: same_map(mc_ref)(d))
    case(A, "a failed record is retried on resume", lambda: _failed_rec(mk("failed.jsonl"), True), "ok",
         check=lambda d: same_map(mc_ref)(d) if d.run_info["computed"] == 1 else f"{d.run_info}")
    case(A, "a failed record is kept with retry_failed=False", lambda: _failed_rec(mk("failed2.jsonl"), False), "ok",
         check=lambda d: True if d.table["status"][0] == "failed" else "failed record not kept")
    case(A, "header only (no records) then resume", lambda: _header_only(mk("hdr.jsonl")), "ok",
         check=same_map(mc_ref))
    case(A, "torn header (no newline) then resume", lambda: _torn_header(mk("thdr.jsonl")), "ok",
         check=same_map(mc_ref))
    case(A, "empty existing file as out", lambda: c1_mc(out=str(_write("empty.jsonl", "")))(), "ok",
         check=same_map(mc_ref))
    for nm, text in [("foreign.csv", "a,b\n1,2\n"), ("foreign.jsonl", '{"a": 1}\n{"b": 2}\n'),
                     ("foreign_nonl.txt", "hello"), ("foreign.bin", "\x00\x01\x02\xff"),
                     ("foreign_list.json", "[1, 2, 3]\n")]:
        case(A, f"existing foreign file as out ({nm})", (lambda nm=nm, text=text: _foreign(nm, text)), "bad",
             ["not a flexspace checkpoint", "checkpoint"], check=lambda t: True)
        # after the refusal: is the foreign file untouched?
        case(A, f"foreign file untouched after the refusal ({nm})", (lambda nm=nm, text=text: _foreign_after(
            nm, text)), "ok", check=lambda ok: True if ok else ("LOST", "the foreign file was modified"))
    case(A, "checkpoint of format version 1", lambda: _old_version(mk("v1.jsonl")), "bad", ["format"])
    case(A, "file locked by another open Checkpoint", lambda: _locked(mk("lock.jsonl")), "bad", ["locked",
                                                                                                 "another process"])
    case(A, "random_state=None with a checkpoint, then resume", lambda: _rs_none(), "bad",
         ["random_state", "reproduc", "seed"])
    case(A, "resume with a different simulator", lambda: _other_sim(), "bad", ["simulator"])
    case(A, "kill -9 during a map, then resume (no finished record lost)", _kill_resume, "ok", timeout=120,
         check=_kill_check)
    case(A, "KeyboardInterrupt inside a map (simulator model, serial), then resume", _interrupt_resume, "ok",
         check=_interrupt_check)
    case(A, "resume: the previous map's points are identical after 3 resumes", lambda: _triple(mk("triple.jsonl")),
         "ok", check=same_map(mc_ref))


def _read(p):
    return pathlib.Path(p).read_bytes()


def _torn(p):
    data = _read(p)
    pathlib.Path(p).write_bytes(data[:-25])  # cut into the last record
    d = c1_mc(out=str(p))()
    lines = [json.loads(x) for x in _read(p).decode().splitlines()]
    return d, lines


def _torn_check(t):
    d, lines = t
    idx = {r["i"] for r in lines[1:]}
    if idx != set(range(9)):
        return ("LOST", f"records in file after resume: {sorted(idx)}")
    return same_map(mc_ref)(d) if d.run_info["computed"] == 1 else f"run_info {d.run_info}"


def _corrupt_middle(p):
    lines = _read(p).split(b"\n")
    lines[4] = b'{"i": 3, "row": {"probab'  # a garbled line in the middle
    pathlib.Path(p).write_bytes(b"\n".join(lines))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        d = c1_mc(out=str(p))()
    return d, [str(x.message) for x in w], _read(p)


def _corrupt_check(t):
    d, w, data = t
    if b'{"i": 3, "row": {"probab' not in data:
        return ("LOST", "the corrupt line was removed from the file")
    if not w:
        return "no warning about the corrupt line"
    return same_map(mc_ref)(d)


def _no_newline(p):
    data = _read(p).rstrip(b"\n")
    pathlib.Path(p).write_bytes(data)
    return c1_mc(out=str(p))(), _read(p)


def _partial(p):
    lines = _read(p).split(b"\n")
    pathlib.Path(p).write_bytes(b"\n".join(lines[:6]) + b"\n")  # header + 5 records
    return c1_mc(out=str(p))()


def _append(p, rec):
    with open(p, "a") as f:
        f.write(json.dumps(rec) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return c1_mc(out=str(p))()


def _bad_type(p):
    lines = _read(p).decode().splitlines()
    rec = json.loads(lines[1])
    rec["row"]["probability"] = "abc"
    lines.append(json.dumps(rec))
    pathlib.Path(p).write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return c1_mc(out=str(p))()


def _failed_rec(p, retry):
    lines = _read(p).decode().splitlines()
    rec = json.loads(lines[1])
    rec["row"]["status"] = "failed"
    lines.append(json.dumps(rec))
    pathlib.Path(p).write_text("\n".join(lines) + "\n")
    return c1_mc(out=CheckpointFile(str(p), retry_failed=retry))()


def _header_only(p):
    lines = _read(p).split(b"\n")
    pathlib.Path(p).write_bytes(lines[0] + b"\n")
    return c1_mc(out=str(p))()


def _torn_header(p):
    lines = _read(p).split(b"\n")
    pathlib.Path(p).write_bytes(lines[0][:40])
    return c1_mc(out=str(p))()


def _foreign(nm, text):
    p = fresh(nm)
    p.write_bytes(text.encode("latin-1"))
    return c1_mc(out=str(p))()


def _foreign_after(nm, text):
    p = fresh("after_" + nm)
    raw = text.encode("latin-1")
    p.write_bytes(raw)
    try:
        c1_mc(out=str(p))()
    except Exception:  # noqa: BLE001
        pass
    return p.exists() and p.read_bytes() == raw


def _old_version(p):
    lines = _read(p).decode().splitlines()
    h = json.loads(lines[0])
    h["flexspace_checkpoint"] = 1
    lines[0] = json.dumps(h)
    pathlib.Path(p).write_text("\n".join(lines) + "\n")
    return c1_mc(out=str(p))()


def _locked(p):
    fd = os.open(str(p), os.O_RDWR)
    import fcntl
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        return c1_mc(out=str(p))()
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _rs_none():
    p = fresh("rsnone.jsonl")
    c1_mc(out=str(p), random_state=None, n_samples=50)()
    lines = _read(p).split(b"\n")
    pathlib.Path(p).write_bytes(b"\n".join(lines[:5]) + b"\n")  # keep 4 records
    d = c1_mc(out=str(p), random_state=None, n_samples=50)()
    return f"resumed {d.run_info['resumed']} points drawn from other (unseeded) samples, computed " \
           f"{d.run_info['computed']}"


def _other_sim():
    p = fresh("sim.jsonl")
    m1 = toy(simulator=toy_sim)
    monte_carlo_map(m1, grid=3, n_samples=50, out=str(p), progress=False)
    m2 = toy(simulator=lambda tp, tm: toy_sim(tp, tm) - 0.01)
    return monte_carlo_map(m2, grid=3, n_samples=50, out=str(p), progress=False)


KILL_SCRIPT = r"""
import sys, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[2])
import adversarial_sweep as sweep
from flexspace import monte_carlo_map
monte_carlo_map(sweep.toy(), grid=12, n_samples=40, out=sys.argv[1], progress=False)
"""


def _records(p):
    out = []
    for line in _read(p).split(b"\n")[1:]:
        try:
            out.append(json.loads(line)["i"])
        except Exception:  # noqa: BLE001
            pass
    return out


def _kill_resume():
    p = fresh("kill.jsonl")
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(p), str(HERE)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.time()
    while time.time() - t0 < 60:
        time.sleep(0.2)
        if p.exists() and len(_records(p)) >= 3:
            break
        if proc.poll() is not None:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = sorted(set(_records(p)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = monte_carlo_map(toy(), grid=12, n_samples=40, out=str(p), progress=False)
        ref = monte_carlo_map(toy(), grid=12, n_samples=40, progress=False)
    return before, d, ref, sorted(set(_records(p)))


def _kill_check(t):
    before, d, ref, after = t
    if not before:
        return "no record was written before the kill (test did not exercise a resume)"
    if d.run_info["resumed"] < len(before):
        return ("LOST", f"{len(before)} records before the kill, only {d.run_info['resumed']} resumed")
    if after != list(range(12)):
        return ("LOST", f"records after resume {after}")
    if not np.allclose(d.probability, ref.probability, equal_nan=True):
        return "resumed map differs from a fresh one"
    return True


class _Interrupting:
    def __init__(self, n):
        self.calls, self.n = 0, n

    def __call__(self, tp, tm):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return toy_sim(tp, tm)


def _interrupt_resume():
    p = fresh("interrupt.jsonl")
    m = toy(simulator=_Interrupting(7))  # call 1 is the map's up-front check of the simulator's output shape
    try:
        monte_carlo_map(m, grid=12, n_samples=40, out=str(p), progress=False)
        return "not interrupted"
    except KeyboardInterrupt:
        pass
    return len(set(_records(p))) if p.exists() else 0


def _interrupt_check(n):
    if isinstance(n, str):
        return n
    if n < 5:
        return ("LOST", f"5 grid points had finished before Ctrl-C, the checkpoint holds {n} (the serial chunk of "
                        "up to 64 points is written only when the whole chunk returns)")
    return True


def _triple(p):
    for _ in range(2):
        c1_mc(out=str(p))()
    return c1_mc(out=str(p))()


# =========================================================================== I. CLI
CLI = []


def cli(desc, args, expect="bad", names=(), check=None, timeout=90, pre=None):
    CLI.append(dict(area="cli", desc="flexspace " + desc, args=args, expect=expect, names=tuple(names), check=check,
                    timeout=timeout, pre=pre))


def run_cli_case(i, c):
    if c["pre"]:
        c["pre"]()
    cmd = [str(VENV_BIN / "flexspace")] + c["args"]
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(WORK), start_new_session=True,
                         text=True)
    try:
        out, err = p.communicate(timeout=c["timeout"])
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        timed_out = True
    rc = p.returncode
    lines = [x for x in err.strip().splitlines() if x.strip()]
    exp = c["expect"]
    if timed_out:
        cat = "SILENT" if exp == "bad" else "RAW"
        outcome = f"still computing after {c['timeout']} s (killed); stderr tail: {' '.join(lines[-1:])[:120]}"
    elif "Traceback" in err:
        cat = "RAW"
        outcome = f"rc={rc} traceback: {lines[-1][:150] if lines else ''}"
    elif rc == 0:
        if exp == "bad":
            cat, outcome = "SILENT", f"rc=0; stdout: {' '.join(out.split())[:120]}"
        else:
            v = c["check"](out, err) if c["check"] else True
            cat, outcome = ("OK", f"rc=0 ({time.time() - t0:.1f} s)") if v is True else (
                (v[0], v[1]) if isinstance(v, tuple) else ("WRONG", str(v)))
    else:
        errlines = [x for x in lines if x.startswith("error:")]
        msg = " ".join(lines)[:150]
        if rc == 2 and len(lines) == 1 and errlines:
            if exp == "ok":
                cat, outcome = "REFUSED", "valid command refused: " + msg
            elif not c["names"] or _mentions(lines[0], c["names"]):
                cat, outcome = "CLEAR", msg
            else:
                cat, outcome = "UNCLEAR", msg
        elif exp == "either" and (rc in (0, 1) or not lines):
            cat, outcome = "OK", f"rc={rc}"
        elif rc == 1 and exp == "ok":
            cat, outcome = "OK", f"rc=1 (a result that is not ok) {msg}"
        else:
            cat = "UNCLEAR"
            outcome = f"rc={rc}, {len(lines)} stderr line(s): {msg}"
    RESULTS.append((cat, i, "cli", c["desc"], outcome))
    print(f"{cat:7s} | {i:3d} | {'cli':11s} | {c['desc']} -> {outcome}", flush=True)


def area_cli():
    o = lambda n: str(WORK / n)  # noqa: E731
    q = ["--quiet", "--no-checkpoint"]
    # top level
    cli("(no arguments)", [], "either")
    cli("bogus", ["bogus"], "bad", ["bogus", "choice"])
    cli("--version", ["--version"], "either")
    # run: argument validation
    cli("run case3", ["run", "case3", "--out", o("c3")], "bad", ["case3"])
    cli("run (missing case)", ["run"], "bad", ["case"])
    for a, nm in [(["--grid", "0"], ["--grid"]), (["--grid", "-3"], ["--grid"]), (["--grid", "2.5"], ["--grid"]),
                  (["--grid", "3", "3", "3"], ["--grid"]), (["--grid"], ["--grid"]), (["--grid", "x"], ["--grid"]),
                  (["--n-samples", "0"], ["--n-samples"]), (["--n-samples", "abc"], ["--n-samples"]),
                  (["--n-samples", "1e3"], ["--n-samples"]), (["--n-samples", "-5"], ["--n-samples"]),
                  (["--n-samples", "10000000000000"], ["n_samples", "--n-samples"]),
                  (["--confidence", "1"], ["--confidence"]), (["--confidence", "nan"], ["--confidence"]),
                  (["--confidence", "inf"], ["--confidence"]), (["--confidence", "0"], ["--confidence"]),
                  (["--confidence", "85%"], ["--confidence"]), (["--workers", "0"], ["--workers"]),
                  (["--workers", "1.5"], ["--workers"]), (["--random-state", "-1"], ["--random-state"]),
                  (["--random-state", "x"], ["--random-state"]), (["--time-limit", "0"], ["--time-limit"]),
                  (["--time-limit", "-5"], ["--time-limit"]), (["--time-limit", "nan"], ["--time-limit"]),
                  (["--method", "foo"], ["--method"]), (["--uncertainty-set", "circle"], ["--uncertainty-set"]),
                  (["--formulation", "foo"], ["--formulation"]), (["--bogus-flag"], ["--bogus-flag"]),
                  (["--theta-p", "1"], ["--theta-p"]), (["--theta-p", "a", "b"], ["--theta-p"])]:
        cli("run case1 " + " ".join(a), ["run", "case1", "--out", o("cli_bad")] + q + a, "bad", nm)
    cli("run case1 --method flexindex --solver foo", ["run", "case1", "--method", "flexindex", "--solver", "foo",
                                                       "--grid", "2", "--out", o("cli_foo")] + q, "bad", ["foo"])
    cli("run case1 --method flexindex --solver highs --uncertainty-set box (nonlinear model)",
        ["run", "case1", "--method", "flexindex", "--solver", "highs", "--uncertainty-set", "box", "--grid", "2",
         "--time-limit", "5", "--out", o("cli_highs")] + q, "bad", ["highs"])
    cli("run case1 --method flextest --solver foo", ["run", "case1", "--method", "flextest", "--solver", "foo",
                                                      "--out", o("cli_foo3")] + q, "bad", ["foo"])
    cli("run case1 --method flextest --theta-p nan 500", ["run", "case1", "--method", "flextest", "--solver", "ipopt",
                                                          "--theta-p", "nan", "500", "--out", o("cli_tp")] + q,
        "bad", ["theta_p"])
    cli("run case1 --method flextest --theta-p 100 500 (outside bounds)",
        ["run", "case1", "--method", "flextest", "--solver", "ipopt", "--theta-p", "100", "500", "--out",
         o("cli_tp2")] + q, "bad", ["theta_p"])
    cli("run case1 --method mc --theta-p 4.6 500 (ignored by mc)", ["run", "case1", "--method", "mc", "--grid", "2",
                                                                     "--n-samples", "50", "--theta-p", "4.6", "500",
                                                                     "--out", o("cli_ign")] + q, "either")
    cli("run case1 --out <existing file>", ["run", "case1", "--out", str(_afile())] + q, "bad", ["--out"])
    cli("run case1 --out /proc/nope", ["run", "case1", "--out", "/proc/nope"] + q, "bad", ["--out"])
    cli("run case1 --out ''", ["run", "case1", "--out", ""] + q, "bad", ["--out"])
    cli("run case1 --out (missing value)", ["run", "case1", "--out"], "bad", ["--out"])
    # run: valid
    cli("run case1 --method mc --grid 3 --n-samples 100", ["run", "case1", "--method", "mc", "--grid", "3",
                                                           "--n-samples", "100", "--out", o("cli_mc"), "--quiet"],
        "ok", check=lambda out, err: _files_ok(o("cli_mc"), ["map.csv", "map.png", "summary.json"]))
    cli("run case1 --method flexindex --solver ipopt --grid 2 box", ["run", "case1", "--method", "flexindex",
                                                                    "--solver", "ipopt", "--uncertainty-set", "box",
                                                                    "--grid", "2", "--time-limit", "5", "--out",
                                                                    o("cli_fi"), "--quiet"], "ok",
        check=lambda out, err: _files_ok(o("cli_fi"), ["map.csv", "summary.json"]))
    cli("run case1 --method flextest --solver ipopt box", ["run", "case1", "--method", "flextest", "--solver",
                                                           "ipopt", "--uncertainty-set", "box", "--grid", "3",
                                                           "--time-limit", "5", "--out", o("cli_ft"), "--quiet"],
        "ok", check=lambda out, err: _files_ok(o("cli_ft"), ["map.csv", "summary.json"]))
    # run: checkpoints through the CLI
    cli("run case1 mc: resume with the same settings", ["run", "case1", "--grid", "3", "--n-samples", "100", "--out",
                                                        o("cli_mc"), "--quiet"], "ok",
        check=lambda out, err: _resumed(o("cli_mc"), 9))
    cli("run case1 mc: resume with another --n-samples", ["run", "case1", "--grid", "3", "--n-samples", "50", "--out",
                                                          o("cli_mc"), "--quiet"], "bad", ["n_samples"])
    cli("run case1 mc: foreign checkpoint_mc.jsonl in --out", ["run", "case1", "--grid", "3", "--n-samples", "100",
                                                               "--out", o("cli_foreign"), "--quiet"], "bad",
        ["checkpoint"], pre=_cli_foreign)
    cli("run case1 mc: --no-checkpoint ignores a foreign checkpoint file", ["run", "case1", "--grid", "2",
                                                                           "--n-samples", "50", "--out",
                                                                           o("cli_foreign"), "--quiet",
                                                                           "--no-checkpoint"], "ok")
    cli("run case1 mc: checkpoint path is a directory", ["run", "case1", "--grid", "2", "--n-samples", "50", "--out",
                                                         o("cli_ckdir"), "--quiet"], "bad", ["--no-checkpoint", "not a file", "checkpoint file"],
        pre=lambda: (WORK / "cli_ckdir" / "checkpoint_mc.jsonl").mkdir(parents=True, exist_ok=True))
    # index
    cli("index case1 --solver ipopt box", ["index", "case1", "--solver", "ipopt", "--uncertainty-set", "box",
                                           "--time-limit", "5"], "ok",
        check=lambda out, err: True if "2.9507" in out else f"delta not in output: {out[:100]}")
    cli("index case1 --solver ipopt --json", ["index", "case1", "--solver", "ipopt", "--uncertainty-set", "box",
                                              "--time-limit", "5", "--json"], "ok")
    for a, nm in [(["--theta-p", "4.6"], ["theta_p"]), (["--theta-p", "a", "b"], ["--theta-p"]),
                  (["--theta-p", "nan", "500"], ["theta_p"]), (["--theta-p"], ["--theta-p"]),
                  (["--solver", "foo"], ["foo"]), (["--solver", "highs"], ["highs"]),
                  (["--method", "minlp"], ["minlp"]), (["--method", "x"], ["--method"]),
                  (["--time-limit", "0"], ["--time-limit"]), (["--time-limit", "1e999"], ["--time-limit"]),
                  (["--uncertainty-set", "x"], ["--uncertainty-set"]), (["--formulation", "x"], ["--formulation"])]:
        base = ["index", "case1", "--uncertainty-set", "box", "--time-limit", "5"]
        if "--solver" not in a:
            base += ["--solver", "ipopt"]
        cli("index case1 " + " ".join(a), base + a, "bad", nm)
    cli("index case9", ["index", "case9"], "bad", ["case9"])
    cli("index (missing case)", ["index"], "bad", ["case"])
    cli("index case1 --theta-p 100 500 (outside bounds)", ["index", "case1", "--solver", "ipopt", "--uncertainty-set",
                                                           "box", "--time-limit", "5", "--theta-p", "100", "500"],
        "either")
    # solvers
    cli("solvers --time-limit 0", ["solvers", "--time-limit", "0"], "bad", ["--time-limit"])
    cli("solvers --time-limit abc", ["solvers", "--time-limit", "abc"], "bad", ["--time-limit"])
    cli("solvers --check --bogus", ["solvers", "--check", "--bogus"], "bad", ["--bogus"])
    cli("solvers --time-limit 5", ["solvers", "--time-limit", "5"], "ok",
        check=lambda out, err: True if "ipopt" in out else "no ipopt row")
    # bench
    cli("bench --quick --tiny", ["bench", "--quick", "--tiny"], "bad", ["--tiny", "--quick"])
    cli("bench --cases case9", ["bench", "--cases", "case9"], "bad", ["case9"])
    cli("bench --tiny --out <existing file>", ["bench", "--tiny", "--out", str(_afile())], "bad", ["--out"])
    cli("bench --tiny --out /proc/nope", ["bench", "--tiny", "--out", "/proc/nope"], "bad", ["--out"])
    cli("bench --tiny --cases case1", ["bench", "--tiny", "--cases", "case1", "--out", o("bench_ok")], "ok",
        timeout=120, check=lambda out, err: _files_ok(o("bench_ok"), ["case1.md", "case1.json"]))
    # demo
    cli("demo --out <existing file>", ["demo", "--out", str(_afile())], "bad", ["--out"])
    # crystallization (only refusals that should come before any compute)
    cli("crystallization (no sub-command)", ["crystallization"], "either")
    cli("crystallization run (missing --out)", ["crystallization", "run"], "bad", ["--out"])
    cli("crystallization run --random-state x", ["crystallization", "run", "--out", o("cr"), "--random-state", "x"],
        "bad", ["--random-state"])
    cli("crystallization run --random-state -1", ["crystallization", "run", "--out", o("cr"), "--random-state", "-1",
                                                  "--quick", "--no-torch"], "bad", ["--random-state", "random_state"],
        timeout=30)
    cli("crystallization run --doe /nonexistent.csv", ["crystallization", "run", "--out", o("cr2"), "--doe",
                                                       "/nonexistent.csv", "--quick", "--no-torch"], "bad",
        ["nonexistent", "--doe"], timeout=30)
    cli("crystallization run --out <existing file>", ["crystallization", "run", "--out", str(_afile()), "--quick",
                                                      "--no-torch"], "bad", ["--out"], timeout=30)
    cli("crystallization design-space --params foo bar", ["crystallization", "design-space", "--params", "foo", "bar",
                                                           "--out", o("ds")], "bad", ["foo"])
    cli("crystallization design-space --params C C", ["crystallization", "design-space", "--params", "C", "C",
                                                       "--out", o("ds")], "bad", ["different", "params"])
    cli("crystallization design-space --limit D50=18", ["crystallization", "design-space", "--limit", "D50=18",
                                                         "--out", o("ds")], "bad", ["--limit"])
    cli("crystallization design-space --limit XYZ>=1", ["crystallization", "design-space", "--limit", "XYZ>=1",
                                                         "--out", o("ds")], "bad", ["XYZ"])
    cli("crystallization design-space --limit D50>=abc", ["crystallization", "design-space", "--limit", "D50>=abc",
                                                           "--out", o("ds")], "bad", ["--limit"])
    cli("crystallization design-space --surrogate svm", ["crystallization", "design-space", "--surrogate", "svm",
                                                          "--out", o("ds")], "bad", ["--surrogate"])
    cli("crystallization design-space --doe /nonexistent.csv", ["crystallization", "design-space", "--doe",
                                                                 "/nonexistent.csv", "--out", o("ds")], "bad",
        ["nonexistent", "--doe"], timeout=30)
    cli("crystallization design-space --grid 0", ["crystallization", "design-space", "--grid", "0", "--out",
                                                   o("ds0")], "bad", ["--grid", "n_grid"], timeout=25)
    cli("crystallization design-space --confidence 1.5", ["crystallization", "design-space", "--confidence", "1.5",
                                                           "--out", o("ds1")], "bad", ["--confidence", "confidence"],
        timeout=25)
    cli("crystallization design-space --time-limit -1", ["crystallization", "design-space", "--time-limit", "-1",
                                                          "--out", o("ds2")], "bad", ["time_limit", "--time-limit"],
        timeout=25)


def _cli_foreign():
    d = WORK / "cli_foreign"
    d.mkdir(parents=True, exist_ok=True)
    (d / "checkpoint_mc.jsonl").write_text("my notes\n")


def _files_ok(d, names):
    missing = [n for n in names if not (pathlib.Path(d) / n).exists()]
    return True if not missing else f"missing outputs {missing}"


def _resumed(d, n):
    s = json.loads((pathlib.Path(d) / "summary.json").read_text())
    r = s["map"].get("resumed")
    return True if r == n else f"summary resumed={r}, expected {n}"


# =========================================================================== main
AREAS = {"options": area_options, "bisection": area_bisection, "sets": area_sets, "model": area_model,
         "analysis": area_analysis, "maps": area_maps, "dmap": area_dmap, "checkpoint": area_checkpoint,
         "cli": area_cli, "harm": lambda: _harm_area()}


def _harm_area():
    """Data loss, leaks, executors, history and parmest (``sweep_harm.py``)."""
    sys.path.insert(0, str(HERE))
    sys.modules.setdefault("adversarial_sweep", sys.modules[__name__])  # one harness, also when run as a script
    from sweep_harm import area_harm

    area_harm()


def _src_snapshot():
    src = pathlib.Path(flexspace.__file__).parent
    return {str(p.relative_to(src)): p.stat().st_mtime for p in src.rglob("*.py")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--json", default=str(ROOT / "results.json"))
    a = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    areas = a.only or list(AREAS)
    t0 = time.time()
    snap0 = _src_snapshot()
    for name in areas:
        AREAS[name]()
    i = 0
    for c in CASES:
        i += 1
        run_case(i, c)
    for c in CLI:
        i += 1
        run_cli_case(i, c)
    order = ["LOST", "WRONG", "RAW", "SILENT", "UNCLEAR", "REFUSED", "CLEAR", "OK"]
    counts = {k: sum(1 for r in RESULTS if r[0] == k) for k in order}
    print("\nTOTALS: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + f"  (cases {len(RESULTS)}, "
          f"{time.time() - t0:.0f} s)")
    snap1 = _src_snapshot()
    changed = sorted(k for k in set(snap0) | set(snap1) if snap0.get(k) != snap1.get(k))
    if changed:
        print(f"WARNING: flexspace sources changed during the sweep (results mix versions): {changed}")
    else:
        print(f"flexspace sources unchanged during the sweep (newest source mtime "
              f"{time.strftime('%H:%M:%S', time.localtime(max(snap0.values())))})")
    with open(a.json, "w") as f:
        json.dump([dict(cat=r[0], id=r[1], area=r[2], call=r[3], outcome=r[4]) for r in RESULTS], f, indent=1)


if __name__ == "__main__":
    main()
