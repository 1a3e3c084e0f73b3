"""``flexspace crystallization`` on the command line: every bad input is refused in one line
naming the flag, what it expects and what it got, with exit code 2 and before any compute;
``design-space --grid 1`` works, its limits do not depend on the grid, Algorithm 3 says why
it did not converge, and the figure's axes carry units."""
import re
import types

import numpy as np
import pandas as pd
import pytest

from flexspace.cli import crystallization_design_space as cli_ds
from flexspace.cli.main import main
from flexspace.crystallization import design_space as ds
from flexspace.solvers import available_solvers


@pytest.fixture()
def no_compute(monkeypatch):
    """Any fit, map or workflow run fails the test: the refusal must come first."""
    import flexspace.crystallization.workflow as wf

    def boom(*a, **k):
        raise AssertionError("compute started before the input was refused")

    monkeypatch.setattr(ds, "run_design_space", boom)
    monkeypatch.setattr(wf, "run_workflow", boom)


def _refused(argv, capsys):
    """Run the CLI; return its one-line stderr after checking exit code 2."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refusals
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2, (argv, code, err)
    assert len(err.splitlines()) == 1 and err.startswith("error:"), err
    assert "Traceback" not in err
    return err


BAD_DESIGN_SPACE = [
    (["--confidence", "1.5"], ["--confidence", "(0, 1)", "1.5"]),
    (["--confidence", "0"], ["--confidence", "(0, 1)", "got 0"]),
    (["--grid", "0"], ["--grid", ">= 1", "got 0"]),
    (["--grid", "2.5"], ["--grid", "an integer", "'2.5'"]),
    (["--random-state", "-1"], ["--random-state", ">= 0", "-1"]),
    (["--n-samples", "0"], ["--n-samples", ">= 1", "got 0"]),
    (["--time-limit", "-5"], ["--time-limit", "> 0", "-5"]),
    (["--limit", "D50>=abc"], ["--limit", "number", "'abc'"]),
    (["--limit", "D50>=nan"], ["--limit", "finite", "'nan'"]),
    (["--limit", "size>=3"], ["--limit", "unknown CQA", "'size'"]),
    (["--limit", "D50=3"], ["--limit", "CQA>=VALUE or CQA<=VALUE", "'D50=3'"]),
    (["--limit", "D50>=18", "--limit", "D50<=10"], ["--limit", "D50 is limited twice", "D50>=18", "D50<=10"]),
    (["--params", "c0", "c0"], ["--params", "two different", "'c0'"]),
    (["--params", "c0", "T11"], ["--params", "unknown parameter", "'T11'"]),
    (["--solver", "cplex9"], ["--solver", "must be one of", "'cplex9'"]),
]


@pytest.mark.parametrize("extra,words", BAD_DESIGN_SPACE, ids=[" ".join(a) for a, _ in BAD_DESIGN_SPACE])
def test_design_space_bad_input_one_line_exit_2(extra, words, tmp_path, capsys, no_compute):
    err = _refused(["crystallization", "design-space", "--out", str(tmp_path / "o"), *extra], capsys)
    for w in words:
        assert w in err, (w, err)


@pytest.mark.parametrize("command", ["design-space", "run"])
def test_out_is_an_existing_file(command, tmp_path, capsys, no_compute):
    f = tmp_path / "a_file"
    f.write_text("x")
    err = _refused(["crystallization", command, "--out", str(f)], capsys)
    assert "--out" in err and "not a directory" in err and str(f) in err
    assert f.read_text() == "x"


def test_run_bad_random_state(tmp_path, capsys, no_compute):
    err = _refused(["crystallization", "run", "--out", str(tmp_path / "o"), "--random-state", "-1"], capsys)
    assert "--random-state" in err and ">= 0" in err and "-1" in err


def test_standalone_entries_refuse_in_one_line(tmp_path, capsys, no_compute):
    from flexspace.cli import crystallization as cli_run

    with pytest.raises(SystemExit) as e:
        cli_ds.main(["--out", str(tmp_path / "o"), "--grid", "0"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--grid" in err
    with pytest.raises(SystemExit) as e:
        cli_run.main(["run", "--out", str(tmp_path / "o"), "--random-state", "x"])
    assert e.value.code == 2 and "--random-state must be an integer, got 'x'" in capsys.readouterr().err


def test_run_design_space_checks_its_inputs_before_fitting(monkeypatch):
    monkeypatch.setattr(ds, "_fit_and_embed", lambda *a, **k: pytest.fail("fitted before checking"))
    for kw, name in (({"n_grid": 0}, "n_grid"), ({"confidence": 1.5}, "confidence"),
                     ({"n_samples": 0}, "n_samples"), ({"random_state": -1}, "random_state"),
                     ({"uncertainty_set": "sphere"}, "uncertainty_set")):
        with pytest.raises(ValueError, match=name):
            ds.run_design_space("gbt", **kw)


# ------------------------------------------------------------------------------ design space itself
class _Stop(Exception):
    pass


def test_limits_do_not_change_with_the_grid(cryst_doe, monkeypatch):
    seen = {}

    def capture(model, grids, run, timings, log):
        seen[len(grids[0])] = dict(model.limits)
        raise _Stop

    monkeypatch.setattr(ds, "_run_algorithms", capture)
    spec = ds.SurrogateSpec("gbt", params=("seed_loading", "C"), doe=cryst_doe, n_members=2)
    for n in (3, 11):
        with pytest.raises(_Stop):
            ds.run_design_space(spec, n_grid=n, n_samples=10, verbose=False)
    assert set(seen) == {3, 11}
    assert seen[3] == seen[11]
    assert set(seen[3]) == {"D50", "DoA", "crystallinity"}


@pytest.mark.skipif("highs" not in available_solvers(), reason="needs highs")
def test_grid_1_through_the_cli(cryst_doe, tmp_path, capsys):
    cryst_doe.to_csv(tmp_path / "doe.csv", index=False)
    out = tmp_path / "ds"
    code = main(["crystallization", "design-space", "--out", str(out), "--grid", "1", "--n-samples", "200",
                 "--doe", str(tmp_path / "doe.csv"), "--params", "seed_loading", "C", "--time-limit", "30"])
    assert code in (0, 1)  # 1 = an Algorithm 2 solve failed (said so); never a crash
    stdout = capsys.readouterr().out
    table = pd.read_csv(out / "design_space.csv")
    assert len(table) == 1
    bounds = ds.design_input_bounds()
    mid = bounds[[1, 11]].mean(axis=1)  # seed_loading, C: the 1-point axis is the midpoint
    np.testing.assert_allclose(table[["seed_loading", "C"]].to_numpy()[0], mid)
    assert (out / "design_space.png").stat().st_size > 1000
    summary = (out / "design_space.md").read_text()
    assert "grid 1 x 1" in summary and "limits (auto_limits on a fixed 21x21 grid)" in summary
    assert "limits:" in stdout and "Algorithm 3:" in stdout
    if "not converged" in stdout:  # the reason is given, in the output and in the summary
        reason = re.search(r"not converged because (.+)", stdout).group(1)
        assert reason and reason[:40] in summary


def test_design_space_figure_axes_carry_units(cryst_doe):
    """The figure of a 1 x 2 grid (a 1-point axis) on a mocked result: labels ``name [unit]``."""
    g = [np.array([0.1]), np.array([0.1, 0.3])]
    table = pd.DataFrame({"mc_probability": [0.9, 0.5], "fi_probability": [0.88, np.nan]})
    model = types.SimpleNamespace(theta_p_bounds=np.array([[0.0, 0.2], [0.1, 0.5]]))
    res = {"grids": g, "table": table, "confidence": 0.85, "params": ["seed_loading", "C"], "kind": "gbt",
           "solver": "highs", "rectangle": np.array([[0.05, 0.15], [0.1, 0.2]]), "model": model}
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        ds._plot(res, Path(d) / "f.png")
        assert (Path(d) / "f.png").stat().st_size > 1000
    fig = res["figure_object"]
    plot_axes = [ax for ax in fig.axes if ax.get_xlabel()]
    assert [ax.get_xlabel() for ax in plot_axes] == ["seed_loading [g seed/g solute]"] * 2
    assert plot_axes[0].get_ylabel() == "C [°C/min]"
    assert any("[-]" in ax.get_ylabel() for ax in fig.axes)  # the probability colour bar


def test_alg3_reasons():
    from flexspace.designspace import FlexTestRegion, Rectangle, StepStatus
    from flexspace.designspace.region import Iteration

    def region(iterations, notes=(), chi=-0.3):
        rect = Rectangle(np.zeros(2), 0.25, np.zeros(2), np.ones(2), chi, False, iterations)
        return FlexTestRegion(["a", "b"], 0.85, 1.0, "box", "highs", True, 1e-5, [rect], 1.0, len(iterations), 0,
                              list(notes))

    ok = Iteration(0.25, -0.3, None, StepStatus.FEASIBLE, 0.1, [0, 0], "bisection")
    bad = Iteration(0.5, float("nan"), None, StepStatus.FAILED, 0.1, [0, 0], "bisection", "D50: time limit")
    assert "bracket closed at delta_p = 0.25" in ds.alg3_not_converged_reason(region([ok]))
    r = ds.alg3_not_converged_reason(region([ok, bad]))
    assert "1 of 2 extended tests failed" in r and "D50: time limit" in r
    assert "max_time=5 s ran out" in ds.alg3_not_converged_reason(region([ok], ["max_time=5 s ran out: ..."]))
    assert "max_iter = 2 was spent" in ds.alg3_not_converged_reason(region([ok, ok]), max_iter=2)
    done = region([ok])
    done.rectangles[0].converged = True
    assert ds.alg3_not_converged_reason(done) == ""
