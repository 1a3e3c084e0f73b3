"""A tiny version of the benchmark (issue 4) keeps the runner working: tables, figures, agreement metrics."""
import json

import numpy as np
import pytest

from flexspace.cli.bench import region_agreement, run_benchmarks


def test_region_agreement_metrics():
    mc = np.array([0.9, 0.9, 0.5, 0.84])
    se = np.array([0.01, 0.01, 0.01, 0.02])
    a = region_agreement(np.array([True, False, True, True]), mc, se)
    assert a["iou"] == pytest.approx(1 / 4)  # ∩ = {0}; ∪ = {0, 1, 2, 3}
    assert a["over_vs_mc"] == 1  # point 2 (MC 0.5); point 3 is within one SE of 0.85


@pytest.mark.parametrize("case", ["case1", "case3"])  # case 3: the IDAES flowsheet has its place too
def test_tiny_benchmark_writes_tables_and_figures(tmp_path, case):
    res = run_benchmarks("tiny", str(tmp_path), cases=(case,), log=lambda *a: None)
    md = (tmp_path / f"{case}.md").read_text()
    assert "| Alg 1 (Monte Carlo) |" in md and "| Alg 2 (flex index) | box | ipopt |" in md
    assert "versions:" in md and "UTC" in md
    for fig in ("fig1_mc", "fig2_alg2_alg3", "fig3_theta_m"):
        assert (tmp_path / f"{case}_{fig}.png").stat().st_size > 1000
    rows = json.loads((tmp_path / f"{case}.json").read_text())["rows"]
    alg2 = [r for r in rows if r["method"].startswith("Alg 2")][0]
    assert alg2["failed"] == 0 and 0.0 <= alg2["iou"] <= 1.0
    # the flexibility region is conservative: Alg 2 (certified) never exceeds the MC region beyond its SE
    assert alg2["over_vs_mc"] == 0 and alg2["uncertified"] == 0
    assert res[case]["mc"].probability.shape == (3, 3)
