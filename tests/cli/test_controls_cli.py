"""``flexspace run --controls``: recourse through the command line on the shipped HX network."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from flexspace.cli.main import main


def test_hx_network_flexindex_with_controls(tmp_path, capsys):
    """Box index 0.5 at the nominal cooler range (Grossmann & Floudas 1987, FlexJuMP docs)."""
    out = tmp_path / "hx"
    rc = main(["run", "hx_network", "--controls", "--method", "flexindex", "--uncertainty-set", "box",
               "--solver", "scip", "--grid", "2", "--quiet", "--no-checkpoint", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    table = pd.read_csv(out / "map.csv")
    assert set(table["status"]) <= {"ok", "nominal infeasible"} and len(table) == 4
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["controls"] is True


@pytest.mark.parametrize("argv, words", [
    (["run", "hx_network", "--method", "mc"], "pass --controls"),
    (["run", "case1", "--controls", "--method", "mc"], "--controls: case 'case1' has no control variables"),
])
def test_controls_flag_must_match_the_case(tmp_path, capsys, argv, words):
    rc = main(argv + ["--out", str(tmp_path / "o"), "--quiet", "--no-checkpoint"])
    err = capsys.readouterr().err
    assert rc == 2 and words in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o" / "map.csv").exists()
