"""Nothing harmed that flexspace did not create; the same answer in threads as serially.

Device nodes, FIFOs and a user's own empty file as outputs; θp names that are result
column names; points 1e-13 apart through the CSV; a file-size limit while writing a map
(nothing lost, the error names the file); a thread pool equal to the serial map; solver
children of a serial map end with it."""
import concurrent.futures as cf
import os
import stat
import subprocess
import sys
import textwrap

import numpy as np
import psutil
import pyomo.environ as pyo
import pytest

import flexspace
from flexspace.crystallization.doe import DoEValidationError, load_doe
from flexspace.designspace import DesignSpaceMap, flexibility_index_map, monte_carlo_map
from flexspace.designspace import engine as maps_module
from flexspace.designspace.results import RESULT_COLUMNS
from flexspace.errors import ValidationError
from support.small_models import disk


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero", "/dev/full"])
def test_a_device_node_as_checkpoint_is_refused_and_left_alone(device):
    """/dev/null was unlinked (as root); /dev/zero and /dev/full were read until MemoryError."""
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    before = os.stat(device)
    with pytest.raises(ValidationError, match="not a regular file"):
        monte_carlo_map(disk(), grid=3, n_samples=100, out=device, progress=False)
    after = os.stat(device)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


def test_a_fifo_as_checkpoint_or_doe_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValidationError, match="not a regular file"):
        monte_carlo_map(disk(), grid=3, n_samples=100, out=str(fifo), progress=False)
    with pytest.raises(DoEValidationError, match="not a regular file"):
        load_doe(fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still there, untouched


def test_a_users_empty_file_survives_an_interrupted_first_point(tmp_path, monkeypatch):
    out = tmp_path / "mine.jsonl"
    out.write_bytes(b"")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(maps_module, "_mc_points", interrupted)
    with pytest.raises(KeyboardInterrupt):
        monte_carlo_map(disk(), grid=3, n_samples=100, out=str(out), progress=False)
    assert out.exists() and out.read_bytes() == b""


def test_a_new_checkpoint_interrupted_before_any_point_is_removed(tmp_path, monkeypatch):
    """The file this run created and never wrote to is removed (ours to remove)."""
    out = tmp_path / "new.jsonl"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(maps_module, "_mc_points", interrupted)
    with pytest.raises(KeyboardInterrupt):
        monte_carlo_map(disk(), grid=3, n_samples=100, out=str(out), progress=False)
    assert not out.exists()


@pytest.mark.parametrize("name", sorted(RESULT_COLUMNS) + ["violated:g", "only:g"])
def test_a_theta_p_named_after_a_result_column_is_refused_before_compute(name):
    with pytest.raises(ValidationError, match="rename the process parameter"):
        monte_carlo_map(disk((name, "b")), grid=3, n_samples=100, progress=False)


def test_points_1e_13_apart_survive_the_csv_round_trip(tmp_path):
    axes = [np.array([0.1, 0.1 + 1e-13, 0.2]), np.array([0.0, 1e-13])]
    m = monte_carlo_map(disk(), grid=axes, n_samples=200, progress=False)
    m.to_csv(tmp_path / "map.csv")
    back = DesignSpaceMap.from_csv(tmp_path / "map.csv")
    assert len(back.table) == 6
    assert np.array_equal(back.table[["a", "b"]].to_numpy(), m.table[["a", "b"]].to_numpy())
    assert (m.table.status == "ok").all()
    assert np.array_equal(back.probability, m.probability)


def test_metadata_naming_columns_the_csv_lacks_is_refused(tmp_path):
    m = monte_carlo_map(disk(), grid=3, n_samples=100, progress=False)
    m.to_csv(tmp_path / "map.csv")
    t = m.table.rename(columns={"a": "x"})
    t.to_csv(tmp_path / "map.csv", index=False)
    with pytest.raises(ValidationError, match=r"names the theta_p column\(s\) \['a'\]"):
        DesignSpaceMap.from_csv(tmp_path / "map.csv")


def test_a_file_size_limit_while_writing_a_map_loses_nothing_and_names_the_file(tmp_path):
    """RLIMIT_FSIZE (in a child, SIGXFSZ ignored): the CSV fits, its .json does not.  The old
    pair stays as it was, no temporary file is left, and the error names the file."""
    monte_carlo_map(disk(), grid=2, n_samples=100, progress=False).to_csv(tmp_path / "map.csv")  # an earlier map
    old_csv, old_json = (tmp_path / "map.csv").read_bytes(), (tmp_path / "map.json").read_bytes()
    script = textwrap.dedent("""
        import json, resource, signal, sys
        sys.path.insert(0, sys.argv[2])
        from support.small_models import disk
        from flexspace.designspace import monte_carlo_map
        m = monte_carlo_map(disk(), grid=3, n_samples=100, progress=False)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        limit = len(m.table.to_csv(index=False)) + 50   # the CSV fits, the metadata does not
        assert len(json.dumps(m.metadata(), indent=1)) > limit
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        try:
            m.to_csv(sys.argv[1] + "/map.csv")
        except OSError as exc:
            print("ERR", exc)
    """)
    # the metadata must be the larger file for this test to mean anything (checked in the child)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/: for support
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path), here], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ERR") and "map.json" in out.stdout, out.stdout
    assert (tmp_path / "map.csv").read_bytes() == old_csv
    assert (tmp_path / "map.json").read_bytes() == old_json
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.csv", "map.json"]


def _children():
    return {p.pid for p in psutil.Process().children(recursive=True)}


@pytest.mark.timeout(600)
def test_a_thread_pool_gives_the_serial_index_map_and_no_child_outlives_the_map():
    solver = next(s for s in ("scip", "maingo", "ipopt") if s in flexspace.available_solvers())
    grid = [np.linspace(-0.8, 0.8, 4), np.array([0.0, 0.5])]
    before = _children()
    serial = flexibility_index_map(disk(), grid=grid, solver=solver, uncertainty_set="box", progress=False)
    with cf.ThreadPoolExecutor(4) as ex:
        threaded = flexibility_index_map(disk(), grid=grid, solver=solver, uncertainty_set="box", workers=ex,
                                         chunk_size=1, progress=False)
    assert list(threaded.table.status) == list(serial.table.status)
    assert np.allclose(threaded.table.delta, serial.table.delta, rtol=1e-4, atol=1e-6, equal_nan=True)
    # the closed form: box index of t + a² + b² − 1 ≤ 0, t ∈ [−0.3δ, 0.3δ]: δ = (1 − a² − b²)/0.3
    a, b = np.meshgrid(*grid, indexing="ij")
    truth = np.clip((1 - a.ravel() ** 2 - b.ravel() ** 2) / 0.3, 0, None)
    ok = serial.table.status.to_numpy() == "ok"
    cap = serial.settings["options"]["delta_max"] or np.inf
    assert ok.any()
    assert np.allclose(serial.table.delta.to_numpy()[ok], np.minimum(truth, cap)[ok], rtol=1e-3, atol=1e-4)
    assert not [k for k in maps_module._CACHE if k[0] == os.getpid()]
    assert _children() <= before


def test_a_recourse_map_no_point_could_solve_is_refused_before_any_point():
    """Ipopt on the HX network's ellipsoid (recourse needs a KKT/MINLP route): one error up front."""
    from flexspace.models.cases import hx_network

    if "ipopt" not in flexspace.available_solvers():
        pytest.skip("needs ipopt")
    model = hx_network.model()
    with pytest.raises(ValidationError, match="needs the KKT route"):
        flexibility_index_map(model, grid=2, uncertainty_set="ellipsoid", solver="ipopt", progress=False)
    from flexspace.designspace import adaptive_flexibility_index_map

    with pytest.raises(ValidationError, match="needs the KKT route"):
        adaptive_flexibility_index_map(model, grid=3, uncertainty_set="ellipsoid", solver="ipopt")


def test_a_model_solved_by_other_solvers_first_gives_the_fresh_answer():
    """The HX network's ellipsoid index (1.8974615): the same ProcessModel solved by SCIP, then
    by Gurobi, equals a fresh model's answer (MAiNGO left out: it spends its whole time limit
    on this recourse ellipsoid and reports a bound)."""
    from flexspace.formulations import FlexibilityAnalysis
    from flexspace.models.cases import hx_network

    solvers = [s for s in ("gurobi", "scip") if s in flexspace.available_solvers()]
    if len(solvers) < 2:
        pytest.skip("needs two global solvers")
    model = hx_network.model()
    for s in solvers[1:]:
        FlexibilityAnalysis(model, "ellipsoid", s, {"time_limit": 600}).index()
    reused = FlexibilityAnalysis(model, "ellipsoid", solvers[0], {"time_limit": 600}).index()
    fresh = FlexibilityAnalysis(hx_network.model(), "ellipsoid", solvers[0], {"time_limit": 600}).index()
    assert reused.status == fresh.status and reused.delta == pytest.approx(fresh.delta, abs=1e-6)
    if fresh.status.value == "ok":
        assert fresh.delta == pytest.approx(1.8974615, abs=1e-4)


def test_an_adaptive_monte_carlo_map_with_an_unknown_pyomo_solver_is_refused_up_front():
    from flexspace.designspace import adaptive_monte_carlo_map
    from support.small_models import cstr_toy

    m, args = cstr_toy()
    with pytest.raises(flexspace.errors.FlexspaceError, match="unknown solver 'nosuch'"):
        adaptive_monte_carlo_map(flexspace.ProcessModel(m, **args), grid=3, n_samples=20, pyomo_solver="nosuch")


def test_a_checkpoint_that_hits_a_file_size_limit_keeps_its_records_and_resumes(tmp_path):
    """RLIMIT_FSIZE on the checkpoint mid-map (in a child): the error names the file, the
    records written stay, and the resumed map equals an uninterrupted one."""
    out = tmp_path / "ck.jsonl"
    script = textwrap.dedent("""
        import resource, signal, sys
        sys.path.insert(0, sys.argv[2])
        from support.small_models import disk
        from flexspace.designspace import monte_carlo_map
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2500, 2500))
        try:
            monte_carlo_map(disk(), grid=5, n_samples=200, out=sys.argv[1], progress=False)
            print("FINISHED")
        except OSError as exc:
            print("ERR", exc)
    """)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    run = subprocess.run([sys.executable, "-c", script, str(out), here], capture_output=True, text=True, timeout=300)
    assert run.stdout.startswith("ERR") and str(out) in run.stdout, (run.stdout, run.stderr[-500:])
    kept = sum(1 for _ in open(out, "rb")) - 1
    assert kept >= 1
    resumed = monte_carlo_map(disk(), grid=5, n_samples=200, out=str(out), progress=False)
    assert resumed.run_info["resumed"] >= kept - 1  # a torn last line is cut and recomputed
    plain = monte_carlo_map(disk(), grid=5, n_samples=200, progress=False)
    assert np.array_equal(resumed.probability, plain.probability)


def test_a_full_disk_while_writing_a_map_loses_nothing_and_names_the_file(tmp_path, monkeypatch):
    """ENOSPC on the second file (the .json): the earlier pair stays byte for byte, no
    temporary file is left, and the error names the file."""
    import errno

    monte_carlo_map(disk(), grid=2, n_samples=100, progress=False).to_csv(tmp_path / "map.csv")
    old = (tmp_path / "map.csv").read_bytes(), (tmp_path / "map.json").read_bytes()
    new = monte_carlo_map(disk(), grid=3, n_samples=100, progress=False)
    real, calls = os.fsync, []

    def full(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="map.json"):
        new.to_csv(tmp_path / "map.csv")
    monkeypatch.undo()
    assert ((tmp_path / "map.csv").read_bytes(), (tmp_path / "map.json").read_bytes()) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.csv", "map.json"]


@pytest.mark.parametrize("name", ["map.csv.gz", "map.csv.bz2"])
def test_a_compressed_map_name_round_trips(tmp_path, name):
    m = monte_carlo_map(disk(), grid=3, n_samples=100, progress=False)
    m.to_csv(tmp_path / name)
    back = DesignSpaceMap.from_csv(tmp_path / name)
    assert np.array_equal(back.probability, m.probability)
