"""The "harm" area of ``adversarial_sweep.py``: data loss, leaks, load/executor/history
dependence and the parmest path (the classes of the "nothing harmed" issue).

    .venv/bin/python benchmarks/adversarial_sweep.py --only harm

A case whose check returns ``("LOST!", why)`` is a data loss; ``("WRONG!", why)`` a trusted
wrong answer; ``"LEAK: ..."`` strings are reported as WRONG (a leak)."""
from __future__ import annotations

import concurrent.futures as cf
import errno
import json
import os
import stat
import subprocess
import sys
import textwrap
from unittest import mock

import numpy as np
import pandas as pd
import pyomo.environ as pyo

import flexspace
from adversarial_sweep import NAN, VENV_BIN, WORK, case, fresh, tmpdir  # noqa: F401 - the harness
from flexspace import DesignSpaceMap, ProcessModel, flexibility_index_map, monte_carlo_map
from flexspace.designspace import maps as maps_module
from flexspace.designspace.results import RESULT_COLUMNS

A = "harm"
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from support.small_models import case1_table, cstr_toy, disk, linear_control_model  # noqa: E402 - the tests' own small models


def _mc(**kw):
    return monte_carlo_map(disk(), grid=3, n_samples=100, progress=False, **kw)


# ----------------------------------------------------------------- outputs
def _device_intact():
    before = os.stat("/dev/null")
    try:
        _mc(out="/dev/null")
    except Exception:  # noqa: BLE001 - the refusal is judged by its own case
        pass
    after = os.stat("/dev/null") if os.path.exists("/dev/null") else None
    if after is None or not stat.S_ISCHR(after.st_mode) or after.st_rdev != before.st_rdev:
        return ("LOST!", "/dev/null was removed or replaced")
    return True


def _fifo(name):
    p = fresh(name)
    os.mkfifo(p)
    return p


def _users_empty_file_survives():
    p = fresh("mine.jsonl")
    p.write_bytes(b"")
    with mock.patch.object(maps_module, "_mc_points", side_effect=KeyboardInterrupt):
        try:
            _mc(out=str(p))
        except KeyboardInterrupt:
            pass
    return True if p.exists() else ("LOST!", "the user's empty file was deleted")


def _close_points_roundtrip():
    axes = [np.array([0.1, 0.1 + 1e-13, 0.2]), np.array([0.0, 1e-13])]
    d = monte_carlo_map(disk(), grid=axes, n_samples=100, progress=False)
    d.to_csv(fresh("close.csv"))
    back = DesignSpaceMap.from_csv(WORK / "close.csv")
    same = np.array_equal(back.table[["a", "b"]].to_numpy(), d.table[["a", "b"]].to_numpy())
    return True if same else ("LOST!", "points 1e-13 apart were merged by the CSV round trip")


def _enospc_keeps_old_files():
    d = _mc()
    d.to_csv(fresh("full.csv"))
    old = (WORK / "full.csv").read_bytes(), (WORK / "full.json").read_bytes()
    real, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 2:  # the metadata file: the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    with mock.patch("os.fsync", fsync):
        try:
            monte_carlo_map(disk(), grid=2, n_samples=50, progress=False).to_csv(WORK / "full.csv")
        except OSError as exc:
            if "full.json" not in str(exc):
                return f"the error names no file: {exc}"
    now = (WORK / "full.csv").read_bytes(), (WORK / "full.json").read_bytes()
    left = [p.name for p in WORK.iterdir() if p.name.startswith(".full.")]
    if now != old or left:
        return ("LOST!", f"a full disk changed the old map files or left {left}")
    return True


def _fsize_keeps_old_files():
    d = tmpdir("fsize")
    _mc().to_csv(d / "m.csv")
    old = (d / "m.csv").read_bytes(), (d / "m.json").read_bytes()
    code = textwrap.dedent(f"""
        import json, resource, signal, sys
        sys.path.insert(0, {os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests")!r})
        from support.small_models import disk
        from flexspace.designspace import monte_carlo_map
        m = monte_carlo_map(disk(), grid=4, n_samples=100, progress=False)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        lim = max(len(m.table.to_csv(index=False)), len(json.dumps(m.metadata(), indent=1))) - 10  # one fits not
        resource.setrlimit(resource.RLIMIT_FSIZE, (lim, lim))
        try:
            m.to_csv({str(d / 'm.csv')!r})
        except OSError as exc:
            print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    now = (d / "m.csv").read_bytes(), (d / "m.json").read_bytes()
    if now != old or sorted(p.name for p in d.iterdir()) != ["m.csv", "m.json"]:
        return ("LOST!", "a file-size limit changed the old map files or left a temporary file")
    named = "m.json" in out.stdout or "m.csv" in out.stdout
    return True if named else f"the error names no file: {out.stdout.strip()} {out.stderr[-200:]}"


# ----------------------------------------------------------------- executors, history, leaks
def _solver():
    return next(s for s in ("scip", "maingo", "ipopt") if s in flexspace.available_solvers())


def _threads_equal_serial():
    grid = [np.linspace(-0.8, 0.8, 4), np.array([0.0, 0.5])]
    kw = dict(grid=grid, solver=_solver(), uncertainty_set="box", progress=False)
    serial = flexibility_index_map(disk(), **kw)
    with cf.ThreadPoolExecutor(4) as ex:
        threaded = flexibility_index_map(disk(), workers=ex, chunk_size=1, **kw)
    if list(serial.table.status) != list(threaded.table.status) or not np.allclose(
            serial.table.delta, threaded.table.delta, rtol=1e-4, atol=1e-6, equal_nan=True):
        return ("WRONG!", f"threads {threaded.table.delta.tolist()} vs serial {serial.table.delta.tolist()}")
    return True


def _no_leak_after_serial_map():
    import psutil

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    flexibility_index_map(disk(), grid=[np.array([0.0, 0.5]), np.array([0.0])], solver=_solver(),
                          uncertainty_set="box", progress=False)
    cached = [k for k in maps_module._CACHE if k[0] == os.getpid()]
    extra = {p.pid for p in psutil.Process().children(recursive=True)} - before
    if cached or extra:
        return f"LEAK: {len(cached)} cached analyses, {len(extra)} child processes after the map"
    return True


def _reuse_equals_fresh():
    from flexspace.formulations import FlexibilityAnalysis
    from flexspace.models.cases import hx_network

    avail = flexspace.available_solvers()
    last = "gurobi" if "gurobi" in avail else "scip"
    m = hx_network.model()
    for s in [x for x in ("scip", "maingo", "gurobi") if x in avail and x != last]:
        FlexibilityAnalysis(m, "ellipsoid", s, {"time_limit": 30}).index()
    reused = FlexibilityAnalysis(m, "ellipsoid", last, {"time_limit": 60}).index()
    fresh_r = FlexibilityAnalysis(hx_network.model(), "ellipsoid", last, {"time_limit": 60}).index()
    if reused.status != fresh_r.status or abs(reused.delta - fresh_r.delta) > 1e-5:
        return ("WRONG!", f"reused {reused.status.value} {reused.delta} vs fresh {fresh_r.status.value} {fresh_r.delta}")
    return True


# ----------------------------------------------------------------- parmest
def _sigma_invariant():
    from flexspace.models.cases import case1
    from flexspace.models.estimation import estimate_theta_m

    th = [estimate_theta_m(case1.model(), case1_table(), ["cA", "cD"], s).theta_m for s in (0.01, 1.0, 100.0)]
    spread = max(float(np.max(np.abs(t - th[1]) / np.abs(th[1]))) for t in th)
    return True if spread <= 1e-6 else ("WRONG!", f"theta-hat moves with a common sigma: {th}")


def _estimate(data, outputs, sigma=0.01):
    from flexspace.models.cases import case1
    from flexspace.models.estimation import estimate_theta_m

    return estimate_theta_m(case1.model(), data, outputs, sigma)


# ----------------------------------------------------------------- models
def _foreign_control():
    other, _ = cstr_toy()
    other.z = pyo.Var(bounds=(0, 1))
    m, args = cstr_toy()
    m.z = pyo.Var(bounds=(0, 1))
    return ProcessModel(m, controls={"z": other.z}, **args)


def _cqa_only_state():
    m, args = cstr_toy()
    m.x = pyo.Var(bounds=(0, 1), initialize=0.5)
    m.c2 = pyo.Constraint(expr=m.cA + m.x <= 0.9)
    args["constraints"] = {"c": m.conversion, "c2": m.c2}
    return ProcessModel(m, **args)


def _stale_meta():
    d = _mc()
    d.to_csv(fresh("meta.csv"))
    d.table.rename(columns={"a": "x"}).to_csv(WORK / "meta.csv", index=False)
    return DesignSpaceMap.from_csv(WORK / "meta.csv")


def _doe_in_mm():
    from flexspace.crystallization.doe import sample_profiles, validate_doe
    from flexspace.crystallization.profile import FEATURE_NAMES

    X = sample_profiles({1: 6, 5: 6}, random_state=0)
    df = pd.DataFrame(X, columns=list(FEATURE_NAMES))
    df["D50"] = np.random.default_rng(0).uniform(0.01, 0.08, 12)
    return validate_doe(df)


def _strict_json():
    out = subprocess.run([str(VENV_BIN / "flexspace"), "index", "case1", "--solver", "ipopt", "--json",
                          "--uncertainty-set", "box"], capture_output=True, text=True, timeout=300)
    text = out.stdout[out.stdout.index("{"):]

    def bad(tok):
        raise ValueError(f"non-JSON token {tok}")

    json.loads(text, parse_constant=bad)
    return True


def _verdict(v):
    """The case function returns its own verdict (True, a message, or ("LOST!"/"WRONG!", why))."""
    return v


def area_harm():
    case(A, "checkpoint out='/dev/null'", lambda: _mc(out="/dev/null"), "bad", ["out", "regular file"])
    case(A, "/dev/null intact after being given as a checkpoint", _device_intact, "ok", check=_verdict)
    case(A, "checkpoint out=<FIFO>", lambda: _mc(out=str(_fifo("ck.fifo"))), "bad", ["regular file"], timeout=20)
    case(A, "load_doe(<FIFO>)", lambda: __import__("flexspace.crystallization.doe", fromlist=["load_doe"]).load_doe(
        _fifo("doe.fifo")), "bad", ["regular file"], timeout=20)
    case(A, "a user's empty checkpoint file, Ctrl-C in the first point", _users_empty_file_survives, "ok", check=_verdict)
    for col in sorted(RESULT_COLUMNS) + ["violated:g"]:
        case(A, f"theta_p named {col!r}", (lambda c=col: monte_carlo_map(disk((c, "b")), grid=3, n_samples=50,
                                                                         progress=False)), "bad", ["rename", col])
    case(A, "points 1e-13 apart through to_csv/from_csv", _close_points_roundtrip, "ok", check=_verdict)
    case(A, "metadata naming theta_p columns the CSV lacks", _stale_meta, "bad", ["'a'", "lacks"])
    case(A, "to_csv on a full disk (ENOSPC while writing the .json)", _enospc_keeps_old_files, "ok", check=_verdict)
    case(A, "to_csv under a file-size limit the .json exceeds", _fsize_keeps_old_files, "ok", check=_verdict, timeout=180)
    case(A, "flexibility_index_map in a ThreadPoolExecutor(4) equals serial", _threads_equal_serial, "ok", check=_verdict,
         timeout=300)
    case(A, "no cached analysis or solver child after a serial map", _no_leak_after_serial_map, "ok", check=_verdict, timeout=300)
    case(A, "HX ellipsoid index on a model reused across solvers equals a fresh model", _reuse_equals_fresh, "ok", check=_verdict,
         timeout=600)
    case(A, "parmest: theta-hat for sigma in {0.01, 1, 100}", _sigma_invariant, "ok", check=_verdict, timeout=300)
    case(A, "parmest: only cA measured (k2 not identifiable)", lambda: _estimate(
        case1_table()[["R_BA", "tau", "cA"]], ["cA"], 2e-4), "bad", ["k2", "identifiable"], timeout=300)
    case(A, "parmest: duplicated output column", lambda: _estimate(case1_table(), ["cA", "cA", "cD"]), "bad",
         ["more than once"])
    case(A, "parmest: tau -> -tau", lambda: _estimate(case1_table().assign(tau=lambda d: -d.tau), ["cA", "cD"]),
         "bad", ["tau", "theta_p_bounds"])
    case(A, "a control of another model", _foreign_control, "bad", ["controls 'z'", "not a component"])
    case(A, "a state in a CQA and in no equation", _cqa_only_state, "bad", ["'x'", "no equation"])
    case(A, "controls_linear with a flipped sign", lambda: linear_control_model(+1.0), "bad", ["controls_linear", "does not match"])
    case(A, "a DoE with D50 in mm", _doe_in_mm, "bad", ["D50", "mm"])
    case(A, "ipopt recourse map on an ellipsoid (no point could solve)", lambda: flexibility_index_map(
        __import__("flexspace.models.cases.hx_network", fromlist=["model"]).model(), grid=2,
        uncertainty_set="ellipsoid", solver="ipopt", progress=False), "bad", ["KKT"])
    case(A, "flexspace index --json is strict JSON", _strict_json, "ok", check=_verdict, timeout=300)
