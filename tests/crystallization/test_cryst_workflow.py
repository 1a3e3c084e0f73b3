"""Reduced end-to-end workflow (steps 2–9), report, CLI registration and user DoE files."""
import argparse

import joblib
import numpy as np
import pandas as pd
import pytest

from flexspace.cli.crystallization import register
from flexspace.crystallization.profile import CQA_NAMES, FEATURE_NAMES
from flexspace.crystallization.workflow import WorkflowResult, run_workflow


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cryst")
    return run_workflow(out, quick=True, random_state=0, verbose=False)


def test_quick_workflow_outputs(quick_run):
    r = quick_run
    assert isinstance(r, WorkflowResult)
    out = r.out_dir
    text = (out / "report.md").read_text(encoding="utf-8")
    for section in ("Step 2", "Step 4", "Steps 5 and 8", "Steps 6–7", "Step 9", "Table 3"):
        assert section in text
    for fig in ("parity.png", "alpha_curve_D50.png", "pareto_fronts.png", "pareto_crystallinity.png"):
        assert (out / "figures" / fig).stat().st_size > 1000
    assert set(r.best_models) == set(CQA_NAMES)
    X = r.doe[list(FEATURE_NAMES)].to_numpy()
    for cqa in CQA_NAMES:
        pipe = joblib.load(out / "models" / f"{cqa}.joblib")
        # the saved model is the deployed one, refitted on training + hold-out runs (Step 8 → 2)
        np.testing.assert_allclose(pipe.predict(X), r.pipelines[cqa].predict(X))
        assert r.pipelines[cqa] is not r.evaluated_pipelines[cqa]
    assert "refitted with the same hyper-parameters" in text
    assert sorted(r.pareto) == [1, 2, 3, 4]
    assert all(len(f) > 0 for f in r.pareto.values())


def test_validation_table_reports_2sigma_honestly(quick_run):
    v = quick_run.validation
    assert list(v["CQA"]) == list(CQA_NAMES)
    recomputed = (v["abs_deviation"] <= 2 * v["predicted_sigma"]).to_numpy()
    assert np.array_equal(recomputed, v["within_2sigma"].to_numpy())
    assert (v["measured_sd"] > 0).all() and (v["predicted_sigma"] > 0).all()
    text = (quick_run.out_dir / "report.md").read_text(encoding="utf-8")
    for _, row in v.iterrows():
        line = next(ln for ln in text.splitlines() if ln.startswith(f"- {row['CQA']}: measured"))
        assert ("NOT within ±2σ (" in line) == (not row["within_2sigma"])
    assert (v["predicted_sigma_total"] >= v["predicted_sigma"]).all()
    uq = pd.read_csv(quick_run.out_dir / "data" / "uq_methods.csv")
    assert (uq["bootstrap_mean_sigma"] > 0).all() and (uq["MCCV_mean_sigma"] > 0).all()


def test_erm_before_after_reported(quick_run):
    e = quick_run.erm
    assert list(e["CQA"]) == ["D50"]
    assert {"holdout_MSE_before", "holdout_MSE_after", "holdout_MAE_before", "holdout_MAE_after"} <= set(e.columns)
    assert (e["val_MSE_weighted"] <= e["val_MSE_real_only"] + 1e-12).all()


def test_cli_register_and_run_user_doe(quick_run, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="flexspace")
    register(parser.add_subparsers(dest="command"))
    user = quick_run.doe.drop(columns=["profile_type", "n_cycles"])
    user.to_csv(tmp_path / "user.csv", index=False)
    args = parser.parse_args(["crystallization", "run", "--out", str(tmp_path / "o"), "--quick", "--random-state", "1",
                              "--doe", str(tmp_path / "user.csv"), "--no-torch"])
    assert args.func(args) == 0
    assert (tmp_path / "o" / "report.md").exists()
    assert "user file" in (tmp_path / "o" / "report.md").read_text(encoding="utf-8")
    bad = user.copy()
    bad.loc[0, "seed_loading"] = 0.5
    bad.to_csv(tmp_path / "bad.csv", index=False)
    args = parser.parse_args(["crystallization", "run", "--out", str(tmp_path / "b"), "--doe", str(tmp_path / "bad.csv")])
    assert args.func(args) == 2
    assert "seed_loading" in capsys.readouterr().err


def test_design_inside_domain_with_calibrated_intervals_and_loop(quick_run):
    """Issue 15: bounded fronts, recommendation inside the domain and the process limits,
    calibrated intervals, every loop iteration recorded within the budget."""
    from flexspace.crystallization.calibration import within_physical_bounds

    r = quick_run
    assert all(within_physical_bounds(fr, CQA_NAMES) for fr in r.pareto.values())
    rec = r.recommendation
    assert rec["in_domain"] and rec["process_ok"] and rec["domain_distance"] <= 1
    assert r.domain.contains(rec[list(FEATURE_NAMES)].to_numpy(float)[None])[0]
    h = r.loop_history
    assert len(h) == len(r.validations) and h["runs_cumulative"].iloc[-1] <= 12 and h["iteration"].max() <= 3
    assert h["feasible"].all() and (h["domain_distance"] <= 1 + 1e-9).all()
    assert r.loop_stop_reason in ("validation passed", "iteration budget spent", "run budget spent")
    if not all(r.gate.values()):
        assert h["iteration"].max() >= 1          # a failed gate always triggers the loop
    v = r.validation
    assert ((v["measured_mean"] >= v["pi95_lower"]) & (v["measured_mean"] <= v["pi95_upper"])
            == v["within_pi95"]).all()
    assert set(r.intervals) == set(CQA_NAMES) and (r.holdout["holdout_pi95_coverage"].between(0, 1)).all()
    assert r.holdout["holdout_in_domain_fraction"].between(0, 1).all()
    assert len(r.lab_points) == 3 * (len(h) + int(h["iteration"].max()))   # validations + 1 acquisition each
    assert (r.out_dir / "data" / "loop_history.csv").exists() and "Step 8 → 2 loop" in \
        (r.out_dir / "report.md").read_text(encoding="utf-8")
    assert len(r.loop_runs) == int(h["iteration"].max()) * 4
