"""Design-space drivers: Algorithm 1 (MC map), 2 (flexibility-index map), 3 (bisection
region); executors, checkpoint/resume, results, CLI.  The Dask and ordering tests are in
test_designspace_parallel.py / test_designspace_ordering.py."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from flexspace.designspace import (Bisection, BracketError, CheckpointMismatchError, DesignSpaceMap, NominalInfeasibleError,
                                   flexibility_index_map, flexibility_test_region, monte_carlo_map)
from flexspace.models.cases import case1
from flexspace.montecarlo import monte_carlo_probability, sample_theta_m

SMALL = [np.linspace(4.0, 6.0, 4), np.linspace(350.0, 550.0, 5)]


def _same(a: DesignSpaceMap, b: DesignSpaceMap, cols=("probability", "std_error", "status", "solver"), atol=1e-12):
    """Equal maps.  Flexibility-index maps: numbers equal within the solver gap (atol=1e-4),
    because each solve is warm-started from the previous point's solution, which depends
    on the order in which a worker met the points."""
    ta, tb = a.to_dataframe(), b.to_dataframe()
    for c in cols:
        if c not in ta:
            continue
        x, y = ta[c].to_numpy(), tb[c].to_numpy()
        if x.dtype.kind == "f":
            assert np.allclose(x, y, equal_nan=True, rtol=0, atol=atol), (c, np.max(np.abs(x - y)))
        else:
            assert list(x) == list(y), c


# ----------------------------------------------------------------------------- Algorithm 1
def test_mc_map_matches_monte_carlo_probability_and_grid_batch(case1_model):
    m = monte_carlo_map(case1_model, n_samples=500, random_state=3, progress=False)
    assert m.shape == case1.GRID_SHAPE and m.status_counts == {"ok": 231}
    samples = sample_theta_m(case1_model, 500, random_state=3)
    for k in (0, 57, 230):
        tp = m.points[k]
        r = monte_carlo_probability(case1_model, tp, samples=samples)
        assert m.table.probability[k] == r.probability and m.table.std_error[k] == r.std_error
    g = monte_carlo_map(case1_model, n_samples=500, random_state=3, batch="grid", progress=False)
    _same(m, g, cols=("probability", "std_error", "n_failed"))
    assert 0 < m.region(0.85).sum() < 231


def test_mc_map_counts_failed_samples_as_infeasible():
    model = case1.model()
    sim = model.simulator

    def flaky(tp, tm):  # every 10th sample "fails" (NaN row)
        g = sim(tp, tm)
        g[::10] = np.nan
        return g

    model.simulator = flaky
    m = monte_carlo_map(model, grid=SMALL, n_samples=200, progress=False)
    assert (m.table.n_failed == 20).all()
    assert m.table.probability.max() <= 0.9 + 1e-12  # failed samples never count as feasible
    assert "20 failed samples" in m.table.message[0]


def test_mc_map_without_simulator_falls_back_and_says_so():
    model = case1.model()
    model.simulator = None
    with pytest.warns(UserWarning, match="one square Pyomo solve per sample"):
        m = monte_carlo_map(model, grid=[[4.6], [450.0, 500.0]], n_samples=5, progress=False)
    assert m.table.evaluated_by[0].startswith("per-sample Pyomo solves")
    ref = monte_carlo_map(case1.model(), grid=[[4.6], [450.0, 500.0]], n_samples=5, progress=False)
    assert np.allclose(m.probability, ref.probability)


# ----------------------------------------------------------------------------- Algorithm 2
def test_flexindex_map_process_pool_equals_serial_and_marks_failures(case1_model):
    serial = flexibility_index_map(case1_model, grid=SMALL, solver="maingo", progress=False)
    pooled = flexibility_index_map(case1_model, grid=SMALL, solver="maingo", workers=2, chunk_size=3,
                                   progress=False)
    _same(serial, pooled, cols=("probability", "status", "solver", "global", "certified"), atol=1e-4)
    assert set(serial.table.status) <= {"ok", "nominal infeasible", "failed"}
    assert serial.table["global"].all() and serial.run_info["executor"] == "serial"
    assert pooled.run_info["executor"] == "ProcessPoolExecutor"
    # a point that cannot be solved in the time given is marked failed, never inside the region
    hard = flexibility_index_map(case1_model, grid=[[4.0], [350.0]], solver="maingo",
                                 options={"gap": 1e-6, "abs_gap": 1e-12, "time_limit": 0.3}, progress=False)
    assert hard.table.status[0] == "failed" and np.isnan(hard.probability).all()
    assert not hard.region(1e-9).any() and hard.failed.all()  # not even at the lowest confidence


# ----------------------------------------------------------------------------- checkpoints
_CHILD = r"""
import signal, sys
# a Ctrl-C as in a terminal: pytest (or a test before this one) may leave SIGINT ignored,
# and a child process inherits an ignored disposition
signal.signal(signal.SIGINT, signal.default_int_handler)
from flexspace.designspace import flexibility_index_map
from flexspace.formulations import FlexibilityAnalysis
from flexspace.models.cases import case1
import numpy as np
import time
# a slow child (0.5 s more per point) so that the interrupt lands mid-map however loaded the machine is
_index = FlexibilityAnalysis.index
FlexibilityAnalysis.index = lambda self, *a, **k: (time.sleep(0.5), _index(self, *a, **k))[1]
grid = [np.linspace(4.0, 5.4, 6), np.linspace(380.0, 550.0, 8)]
flexibility_index_map(case1.model(), grid=grid, solver="maingo", out=sys.argv[1], progress=False)
"""


def test_checkpoint_resume_after_sigint_equals_uninterrupted(tmp_path, case1_model):
    path = tmp_path / "ck.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 120
    n = 0
    while time.time() < deadline and proc.poll() is None:
        if path.exists():
            n = sum(1 for _ in open(path)) - 1
            if n >= 4:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "the child finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    assert proc.returncode != 0  # it was interrupted
    done = sum(1 for _ in open(path)) - 1
    assert 4 <= done < 48
    grid = [np.linspace(4.0, 5.4, 6), np.linspace(380.0, 550.0, 8)]
    resumed = flexibility_index_map(case1_model, grid=grid, solver="maingo", out=str(path), progress=False)
    assert resumed.run_info["resumed"] == done and resumed.run_info["computed"] == 48 - done
    full = flexibility_index_map(case1_model, grid=grid, solver="maingo", progress=False)
    _same(resumed, full, cols=("probability", "delta", "status", "solver", "certified"), atol=1e-4)
    # a second resume computes nothing
    again = flexibility_index_map(case1_model, grid=grid, solver="maingo", out=str(path), progress=False)
    assert again.run_info["computed"] == 0
    _same(again, resumed, cols=("probability", "delta", "status", "solver", "certified"))


def test_checkpoint_refuses_other_settings_and_drops_torn_record(tmp_path, case1_model):
    path = tmp_path / "mc.jsonl"
    a = monte_carlo_map(case1_model, grid=SMALL, n_samples=300, out=str(path), progress=False)
    with pytest.raises(CheckpointMismatchError, match="n_samples: file has 300, this run has 400"):
        monte_carlo_map(case1_model, grid=SMALL, n_samples=400, out=str(path), progress=False)
    lines = open(path).read().splitlines(keepends=True)
    with open(path, "w") as f:  # the last record torn by a kill mid-write, and one record missing
        f.writelines(lines[:-2])
        f.write(lines[-1][:17])
    b = monte_carlo_map(case1_model, grid=SMALL, n_samples=300, out=str(path), progress=False)
    assert b.run_info["computed"] == 2
    _same(a, b)
    assert all(json.loads(x) for x in open(path))  # the file is whole again


# ----------------------------------------------------------------------------- results
def test_map_csv_round_trip_region_and_plot(tmp_path, case1_model):
    m = flexibility_index_map(case1_model, grid=[[4.0, 4.6, 5.2], [350.0, 450.0, 550.0]], solver="maingo",
                              progress=False)
    m.rectangles = [(np.array([4.3, 420.0]), np.array([5.3, 520.0]))]
    p = tmp_path / "m.csv"
    m.to_csv(p)
    b = DesignSpaceMap.from_csv(p)
    _same(m, b, cols=("probability", "delta", "status", "solver", "global"))
    assert b.kind == "flexindex" and b.shape == (3, 3) and len(b.rectangles) == 1
    assert np.array_equal(m.region(0.85), b.region(0.85))
    df = m.to_dataframe()
    assert list(df.columns[:8]) == ["R_BA", "tau", "probability", "std_error", "status", "solver", "global",
                                    "certified"]
    ax = b.plot()
    ax.figure.savefig(tmp_path / "m.png")
    assert (tmp_path / "m.png").stat().st_size > 1000


# ----------------------------------------------------------------------------- Algorithm 3
def test_bisection_converges_with_history(case1_model):
    r = flexibility_test_region(case1_model, 0.85, uncertainty_set="ellipsoid", solver="scip")
    rect = r.rectangle
    assert rect.converged and -1e-5 <= rect.chi <= 0
    assert r.is_global and r.solver == "scip" and r.n_failed == 0
    its = r.iterations
    assert its[0].delta_p == 0.0 and its[0].status == "feasible" and its[1].delta_p == 1.0
    assert its[1].status == "infeasible" and its[-1].status == "feasible"
    assert all(it.status in ("feasible", "infeasible", "undecided", "failed") for it in its)
    assert np.all(rect.lower <= case1_model.theta_p_nominal) and np.all(case1_model.theta_p_nominal <= rect.upper)
    assert 0 < rect.delta_p < 1
    d = r.to_dict()
    assert d["global"] and d["rectangles"][0]["iterations"]


def test_bisection_budget_keeps_a_proven_rectangle(case1_model):
    """max_time runs out after the bracket check: the returned rectangle is the last proven-
    feasible one (here δp = 0), marked not converged, and the note says why."""
    r = flexibility_test_region(case1_model, 0.85, uncertainty_set="ellipsoid", solver="scip",
                                algorithm=Bisection(max_time=0.0))
    rect = r.rectangle
    assert not rect.converged and rect.delta_p == 0.0 and rect.iterations[0].status == "feasible"
    assert any("max_time" in n for n in r.notes)
    full = flexibility_test_region(case1_model, 0.85, uncertainty_set="ellipsoid", solver="scip")
    assert full.rectangle.delta_p > rect.delta_p


def test_bisection_bracket_errors(case1_model):
    with pytest.raises(NominalInfeasibleError, match=r"chi\(delta_p\^L=0\) = .* is not < 0"):
        flexibility_test_region(case1_model, 0.85, theta_p_nominal=(6.0, 450.0), solver="scip")
    with pytest.raises(BracketError, match=r"chi\(delta_p\^U=0.1\) = .* <= 0"):
        flexibility_test_region(case1_model, 0.85, solver="scip", algorithm=Bisection(delta_p_upper=0.1))


def test_move_nominal_and_cover(case1_model):
    base = flexibility_test_region(case1_model, 0.85, solver="scip")
    moved = flexibility_test_region(case1_model, 0.85, solver="scip", move_nominal=True,
                                    algorithm=Bisection(move_rounds=1))
    assert moved.rectangle.volume >= base.rectangle.volume
    assert moved.rectangle.converged
    fi = flexibility_index_map(case1_model, grid=[np.linspace(4, 6, 6), np.linspace(350, 550, 6)],
                               solver="maingo", progress=False)
    cov = flexibility_test_region(case1_model, 0.85, solver="scip", cover=fi,
                                  algorithm=Bisection(max_rectangles=3))
    assert 2 <= len(cov.rectangles) <= 3
    inside = cov.contains(fi.points).reshape(fi.shape)
    assert inside.sum() > base.contains(fi.points).sum()  # more of the region is covered
    # every rectangle is inside the flexibility-index region (up to the solver gap)
    assert not (inside & ~fi.region(0.85 - 1e-3)).any()


# ----------------------------------------------------------------------------- CLI
def test_cli_run_writes_map_png_summary(tmp_path):
    from flexspace.cli import main

    out = tmp_path / "run"
    assert main(["run", "case1", "--method", "mc", "--n-samples", "200", "--grid", "5", "6", "--out", str(out),
                 "--quiet"]) == 0
    for f in ("map.csv", "map.png", "summary.json"):
        assert (out / f).exists()
    m = DesignSpaceMap.from_csv(out / "map.csv")
    assert m.shape == (5, 6) and m.table.status.notna().all()
    s = json.loads((out / "summary.json").read_text())
    assert s["settings"]["n_samples"] == 200 and s["map"]["points"] == 30 and "time_s" in s
    assert main(["run", "case1", "--method", "flexindex", "--grid", "3", "3", "--out", str(out / "fi"),
                 "--quiet"]) == 0
    fi = DesignSpaceMap.from_csv(out / "fi" / "map.csv")
    assert {"global", "certified", "solver"} <= set(fi.table.columns) and (fi.table.solver == "maingo").all()


def test_mc_grid_batch_refuses_a_simulator_that_cannot_batch_theta_p():
    model = case1.model()
    sim = model.simulator

    def one_point_only(tp, tm):  # silently wrong for theta_p of shape (N, 2)
        tp = np.asarray(tp, float).reshape(-1, 2)[0]
        return sim(tp, tm)

    model.simulator = one_point_only
    with pytest.raises(ValueError, match="batch='point'"):
        monte_carlo_map(model, grid=SMALL, n_samples=50, batch="grid", progress=False)
    assert monte_carlo_map(model, grid=SMALL, n_samples=50, progress=False).status_counts == {"ok": 20}
