"""Checkpoints under faults: nothing finished is ever lost.

SIGKILL mid-map (serial and with a process pool) then resume equals an uninterrupted map
and leaves no orphan process; a corrupt line mid-file is skipped, kept and reported; a
second writer is refused; a changed model is refused saying what changed; a failed
point is retried on resume; a validation error leaves no file behind."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import psutil
import pyomo.environ as pyo
import pytest

from flexspace import ProcessModel
from flexspace.designspace import CheckpointMismatchError, flexibility_index_map, monte_carlo_map
from flexspace.designspace.checkpoint import CheckpointFile, CheckpointLockedError, CheckpointWarning
from flexspace.models.cases import case1

KILL_GRID = [np.linspace(4.0, 5.4, 3), np.linspace(380.0, 550.0, 4)]  # 12 points
MC_GRID = [np.linspace(4.0, 6.0, 4), np.linspace(350.0, 550.0, 5)]  # 20 points
IPOPT_GRID = [np.array([4.0, 5.0]), np.array([400.0, 520.0])]


def _same(a, b, cols=("probability", "delta", "std_error", "status", "solver", "certified"), atol=1e-12):
    ta, tb = a.to_dataframe(), b.to_dataframe()
    assert len(ta) == len(tb)
    for c in cols:
        if c not in ta:
            continue
        x, y = ta[c].to_numpy(), tb[c].to_numpy()
        if x.dtype.kind == "f":
            assert np.allclose(x, y, equal_nan=True, rtol=0, atol=atol), (c, x, y)
        else:
            assert list(x) == list(y), c


def _records(path):
    lines = open(path, "rb").read().split(b"\n")
    assert lines[-1] == b"", "the file must end with a complete line"
    return [json.loads(x) for x in lines[1:-1]]


def _child(script: str, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *map(str, args)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_records(path, n, proc, timeout=120.0):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(path) and sum(1 for _ in open(path, "rb")) - 1 >= n:
            return
        time.sleep(0.05)
    err = proc.stderr.read().decode() if proc.poll() is not None else ""
    raise AssertionError(f"the child did not write {n} records in time (exit {proc.poll()}): {err[-2000:]}")


def _alive(procs):
    """Processes of ``procs`` still running (a zombie has exited; the same pid reused is not it)."""
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def _marked(marker: str):
    """Every live process whose command line names ``marker`` (forked children keep it)."""
    out = []
    for p in psutil.process_iter(["cmdline"]):
        if any(marker in a for a in (p.info["cmdline"] or [])):
            out.append(p)
    return out


# ----------------------------------------------------------------------------- SIGKILL, resume, orphans
_KILL_CHILD = """
import sys, time
import numpy as np
from flexspace.designspace import flexibility_index_map
from flexspace.models.cases import case1
from flexspace.solvers import Solver
# slow solves (in the solver guard's forked child) so that the kill lands mid-map, mid-solve
_solve = Solver._solve_inproc
Solver._solve_inproc = lambda self, m: (time.sleep(0.3), _solve(self, m))[1]
grid = [np.linspace(4.0, 5.4, 3), np.linspace(380.0, 550.0, 4)]
flexibility_index_map(case1.model(), grid=grid, solver="maingo", workers=int(sys.argv[2]), chunk_size=1,
                      out=sys.argv[1], progress=False)
"""


@pytest.fixture(scope="module")
def full_maingo_map(case1_model):
    return flexibility_index_map(case1_model, grid=KILL_GRID, solver="maingo", progress=False)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigkill_mid_map_resumes_to_the_uninterrupted_map_and_leaves_no_orphans(tmp_path, case1_model,
                                                                                full_maingo_map, workers):
    path = tmp_path / f"kill{workers}.jsonl"
    proc = _child(_KILL_CHILD, path, workers)
    _wait_records(path, 2, proc)
    me = psutil.Process(proc.pid)
    want = 1 if workers == 1 else 3  # the solver child; or two workers and a solver child
    deadline = time.time() + 30
    kids = []
    while time.time() < deadline:
        kids = _alive(me.children(recursive=True))
        if len(kids) >= want:
            break
        time.sleep(0.01)
    assert len(kids) >= want, f"expected {want} child processes, saw {kids}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    t_kill = time.time()
    while time.time() < t_kill + 5 and (_alive(kids) or _marked(str(path))):
        time.sleep(0.1)
    assert not _alive(kids), f"orphans alive 5 s after the kill: {_alive(kids)}"
    assert not _marked(str(path)), f"orphans alive 5 s after the kill: {_marked(str(path))}"

    done = len({r["i"] for r in _records(path)})  # a record torn by the kill would be dropped here
    assert 2 <= done < 12
    resumed = flexibility_index_map(case1_model, grid=KILL_GRID, solver="maingo", out=str(path), progress=False)
    ck = resumed.run_info["checkpoint"]
    assert resumed.run_info["resumed"] == done and resumed.run_info["computed"] == 12 - done
    assert ck["unreadable_lines"] == [] and ck["invalid_records"] == []
    _same(resumed, full_maingo_map, atol=1e-4)
    assert len({r["i"] for r in _records(path)}) == 12


# ----------------------------------------------------------------------------- corrupt lines
def test_a_corrupt_line_mid_file_is_skipped_kept_and_reported(tmp_path, case1_model):
    path = tmp_path / "mc.jsonl"
    full = monte_carlo_map(case1_model, grid=MC_GRID, n_samples=300, out=str(path), progress=False)
    lines = open(path).read().splitlines(keepends=True)
    assert len(lines) == 21
    # line 6 (point 4) replaced by garbage; point 9 kept only as a record with a missing key;
    # point 13 only as a record with a wrong type; a foreign JSON line in between
    bad = dict(json.loads(lines[14]))
    bad["row"] = dict(bad["row"], probability="high")
    lines[5] = "\x00\x00 garbage {not json\n"
    lines[10] = json.dumps({"i": 9, "row": {"status": "ok"}}) + "\n"
    lines[14] = json.dumps(bad) + "\n"
    lines.insert(17, '{"something": "else"}\n')
    with open(path, "w") as f:
        f.writelines(lines)
    before = open(path, "rb").read()

    with pytest.warns(CheckpointWarning, match=r"1 unreadable line\(s\) \(line 6\) and 3 invalid record\(s\) "
                                               r"\(line 11, 15, 18\)"):
        b = monte_carlo_map(case1_model, grid=MC_GRID, n_samples=300, out=str(path), progress=False)
    ck = b.run_info["checkpoint"]
    assert ck["unreadable_lines"] == [6] and ck["invalid_records"] == [11, 15, 18]
    assert b.run_info["computed"] == 3 and b.run_info["resumed"] == 17  # points 4, 9, 13: never trusted
    _same(b, full)
    after = open(path, "rb").read()
    assert after.startswith(before), "the file was rewritten: every line before must stay as it was"
    assert len(after.splitlines()) == 22 + 3  # nothing cut: 3 records appended

    # opening again reports the same lines and computes nothing; no record after the bad line was lost
    with pytest.warns(CheckpointWarning, match="line 6"):
        c = monte_carlo_map(case1_model, grid=MC_GRID, n_samples=300, out=str(path), progress=False)
    assert c.run_info["computed"] == 0
    _same(c, full)


def test_a_foreign_file_is_refused_untouched_and_a_torn_header_is_restarted(tmp_path, case1_model):
    path = tmp_path / "notes.txt"
    path.write_text("my precious notes\nline two\n")
    with pytest.raises(CheckpointMismatchError, match="not a flexspace checkpoint"):
        monte_carlo_map(case1_model, grid=MC_GRID, n_samples=100, out=str(path), progress=False)
    assert path.read_text() == "my precious notes\nline two\n"
    torn = tmp_path / "torn.jsonl"
    torn.write_text('{"flexspace_checkpoint": 2, "settings": {"algor')  # killed while writing the first line
    m = monte_carlo_map(case1_model, grid=MC_GRID, n_samples=100, out=str(torn), progress=False)
    assert m.run_info["computed"] == 20 and m.run_info["checkpoint"]["torn_last_line_dropped"]
    assert len(_records(torn)) == 20


# ----------------------------------------------------------------------------- one writer
_WRITER = """
import sys, time
import numpy as np
import flexspace.montecarlo as mc
from flexspace.designspace import monte_carlo_map
from flexspace.models.cases import case1
_p = mc.monte_carlo_probability
mc.monte_carlo_probability = lambda *a, **k: (time.sleep(0.15), _p(*a, **k))[1]
grid = [np.linspace(4.0, 6.0, 4), np.linspace(350.0, 550.0, 5)]
monte_carlo_map(case1.model(), grid=grid, n_samples=300, out=sys.argv[1], chunk_size=1, progress=False)
"""


def test_a_second_writer_is_refused_and_the_file_stays_consistent(tmp_path, case1_model):
    path = tmp_path / "shared.jsonl"
    proc = _child(_WRITER, path)
    _wait_records(path, 2, proc)
    for workers in (None, 2):
        with pytest.raises(CheckpointLockedError, match="another process is writing") as err:
            monte_carlo_map(case1_model, grid=MC_GRID, n_samples=300, out=str(path), workers=workers, progress=False)
        assert str(path) in str(err.value) and isinstance(err.value, RuntimeError)
    assert proc.poll() is None, "the first writer must still be running (the refusal touched nothing)"
    assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()[-2000:]
    recs = _records(path)
    assert sorted(r["i"] for r in recs) == list(range(20))  # every point once, no torn line
    again = monte_carlo_map(case1_model, grid=MC_GRID, n_samples=300, out=str(path), progress=False)
    assert again.run_info["computed"] == 0
    _same(again, monte_carlo_map(case1_model, grid=MC_GRID, n_samples=300, progress=False))


# ----------------------------------------------------------------------------- a changed model
def _case1_with_yield_limit(limit: float) -> ProcessModel:
    m = case1.build_pyomo(*case1.THETA_P_NOMINAL)
    m.g_yield_changed = pyo.Expression(expr=limit * (case1.CA_IN - m.cA) - m.cD)
    return ProcessModel(m, theta_p={"R_BA": m.R_BA, "tau": m.tau}, theta_m={"k1": m.k1, "k2": m.k2},
                        constraints={"yield": m.g_yield_changed, "purity": m.g_purity}, covariance=case1.COVARIANCE,
                        theta_m_nominal=case1.K_NOMINAL, theta_p_nominal=case1.THETA_P_NOMINAL,
                        theta_p_bounds=case1.THETA_P_BOUNDS, simulator=case1.simulator, name="case1")


def test_a_changed_model_or_options_are_refused_saying_what_changed(tmp_path, case1_model):
    path = tmp_path / "fi.jsonl"
    opts = {"time_limit": 20}
    a = flexibility_index_map(case1_model, grid=IPOPT_GRID, solver="ipopt", options=opts, out=str(path),
                              progress=False)
    changed = _case1_with_yield_limit(0.97)
    fresh = flexibility_index_map(changed, grid=IPOPT_GRID, solver="ipopt", options=opts, progress=False)
    assert not np.allclose(fresh.to_dataframe()["probability"], a.to_dataframe()["probability"]), \
        "the changed limit must change the answer (else this test proves nothing)"
    with pytest.raises(CheckpointMismatchError, match=r"the model's CQAs changed.*delete the file or choose "
                                                      r"another `out`") as err:
        flexibility_index_map(changed, grid=IPOPT_GRID, solver="ipopt", options=opts, out=str(path), progress=False)
    assert "equations" not in str(err.value) and "covariance" not in str(err.value)
    with pytest.raises(CheckpointMismatchError, match="covariance changed"):
        flexibility_index_map(case1.model(covariance=case1.COVARIANCE * 1.2), grid=IPOPT_GRID, solver="ipopt",
                              options=opts, out=str(path), progress=False)
    with pytest.raises(CheckpointMismatchError, match="solve options changed: time_limit 20 -> 30"):
        flexibility_index_map(case1_model, grid=IPOPT_GRID, solver="ipopt", options={"time_limit": 30},
                              out=str(path), progress=False)
    # the same model built again (a new object, the same equations): resumed
    same = flexibility_index_map(case1.model(), grid=IPOPT_GRID, solver="ipopt", options=opts, out=str(path),
                                 progress=False)
    assert same.run_info["computed"] == 0
    _same(same, a)


def test_a_changed_simulator_is_refused(tmp_path, case1_model):
    path = tmp_path / "mc.jsonl"
    monte_carlo_map(case1_model, grid=MC_GRID, n_samples=100, out=str(path), progress=False)
    m = case1.model()
    m.simulator = lambda tp, tm: case1.simulator(tp, tm) + 0.01
    with pytest.raises(CheckpointMismatchError, match="the model's simulator changed"):
        monte_carlo_map(m, grid=MC_GRID, n_samples=100, out=str(path), progress=False)


# ----------------------------------------------------------------------------- failed points
def test_a_transient_failure_is_retried_on_resume(tmp_path, case1_model, monkeypatch):
    from flexspace.formulations import FlexibilityAnalysis

    path = tmp_path / "retry.jsonl"
    index, calls = FlexibilityAnalysis.index, []

    def flaky(self, *a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise TimeoutError("solver time-out (transient)")
        return index(self, *a, **k)

    with monkeypatch.context() as mp:
        mp.setattr(FlexibilityAnalysis, "index", flaky)
        first = flexibility_index_map(case1_model, grid=IPOPT_GRID, solver="ipopt", out=str(path), progress=False)
    assert first.status_counts.get("failed") == 1
    failed_i = int(np.flatnonzero(first.to_dataframe()["status"].to_numpy() == "failed")[0])

    kept = flexibility_index_map(case1_model, grid=IPOPT_GRID, solver="ipopt", progress=False,
                                 out=CheckpointFile(path, retry_failed=False))
    assert kept.run_info["computed"] == 0 and kept.status_counts.get("failed") == 1

    retried = flexibility_index_map(case1_model, grid=IPOPT_GRID, solver="ipopt", out=str(path), progress=False)
    assert retried.run_info["computed"] == 1 and retried.run_info["checkpoint"]["retried_failed"] == [failed_i]
    assert "failed" not in retried.status_counts
    _same(retried, flexibility_index_map(case1_model, grid=IPOPT_GRID, solver="ipopt", progress=False), atol=1e-6)
    again = flexibility_index_map(case1_model, grid=IPOPT_GRID, solver="ipopt", out=str(path), progress=False)
    assert again.run_info["computed"] == 0 and "failed" not in again.status_counts
    assert [r["i"] for r in _records(path)].count(failed_i) == 2  # appended, never rewritten


# ----------------------------------------------------------------------------- errors leave no file
def test_an_error_before_the_first_point_leaves_no_file_that_blocks_the_corrected_run(tmp_path, case1_model,
                                                                                      monkeypatch):
    from flexspace.formulations import FlexibilityAnalysis

    path = tmp_path / "sub" / "err.jsonl"
    with pytest.raises(ValueError):
        flexibility_index_map(case1_model, grid=IPOPT_GRID, solver="ipopt", options={"time_limit": -1},
                              out=str(path), progress=False)
    with pytest.raises(ValueError, match="out must be a file path"):
        monte_carlo_map(case1_model, grid=MC_GRID, out=123, progress=False)
    with monkeypatch.context() as mp:  # an error raised where the problems are built (after the file is open)
        def broken(self, *a, **k):
            raise ValueError("this solver cannot read that set")

        mp.setattr(FlexibilityAnalysis, "__init__", broken)
        with pytest.raises(ValueError, match="cannot read that set"):
            flexibility_index_map(case1_model, grid=IPOPT_GRID, solver="ipopt", uncertainty_set="box",
                                  out=str(path), progress=False)
    assert not path.exists()
    ok = flexibility_index_map(case1_model, grid=IPOPT_GRID, solver="ipopt", uncertainty_set="ellipsoid",
                               out=str(path), progress=False)
    assert ok.run_info["computed"] == 4 and len(_records(path)) == 4


# ----------------------------------------------------------------------------- the solver guard's child
_GUARD = """
import sys, time
import flexspace.solvers as s
if sys.argv[2] == "pipe":
    s._PDEATHSIG[:] = [None]  # as on a system without prctl: the watchdog pipe
_solve = s.Solver._solve_inproc
s.Solver._solve_inproc = lambda self, m: (time.sleep(60), _solve(self, m))[1]
m, _ = s._check_problem("nlp")
s.Solver("ipopt", {"time_limit": 120}, hard_guard=True).solve(m)
"""


@pytest.mark.parametrize("mode", ["prctl", "pipe"])
def test_the_solver_guard_child_dies_with_its_parent(tmp_path, mode):
    proc = _child(_GUARD, tmp_path / "marker", mode)
    me = psutil.Process(proc.pid)
    deadline = time.time() + 60
    kids = []
    while time.time() < deadline and not kids and proc.poll() is None:
        kids = _alive(me.children())
        time.sleep(0.02)
    assert kids, proc.stderr.read().decode()[-2000:]
    time.sleep(0.3)  # the child is set up and sleeping in its solve
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    t = time.time()
    while time.time() < t + 5 and _alive(kids):
        time.sleep(0.05)
    assert not _alive(kids), f"{mode}: the guard's child outlived its parent"
