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


def test_index_json_is_strict_json(capsys):
    """``flexspace index --json``: stdout is the JSON alone, NaN and inf written as null (strict JSON
    parsers accept it)."""
    rc = main(["index", "case1", "--solver", "ipopt", "--uncertainty-set", "box", "--json"])
    text = capsys.readouterr().out
    assert rc in (0, 1)

    def refuse(token):
        raise ValueError(f"non-JSON token {token}")

    d = json.loads(text, parse_constant=refuse)  # stdout holds the JSON alone
    assert d["status"] in ("ok", "sampled", "bound", "nominal infeasible", "uncertified", "failed")


def test_a_recourse_map_no_point_could_solve_is_refused_up_front(tmp_path, capsys):
    """Ipopt on the HX network's ellipsoid: recourse needs a KKT/MINLP route; exit 2 before any point."""
    rc = main(["run", "hx_network", "--controls", "--method", "flexindex", "--uncertainty-set", "ellipsoid",
               "--solver", "ipopt", "--grid", "2", "--quiet", "--no-checkpoint", "--out", str(tmp_path / "o")])
    assert rc == 2 and "KKT route" in capsys.readouterr().err
    assert not (tmp_path / "o" / "map.csv").exists()
