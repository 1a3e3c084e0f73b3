"""Adversarial DoE tables and files: each gives a DoEValidationError (or a UserWarning) that
names the file, the rows and the columns, and the CLI prints it as one ``error:`` line."""
import warnings

import numpy as np
import pandas as pd
import pytest

from flexspace.cli.main import main as flexspace_main
from flexspace.crystallization.doe import (MIN_TRAIN_ROWS, DoEValidationError, load_doe, min_rows_needed,
                                           require_measured, sample_profiles, save_doe, validate_doe)
from flexspace.crystallization.profile import FEATURE_NAMES
from flexspace.errors import FlexspaceError, ValidationError


def _table(n: int = 12, seed: int = 0) -> pd.DataFrame:
    """A valid DoE: feasible profiles (linear cooling and 2-cycle), random D50/DoA, run ids R01.."""
    X = sample_profiles({1: n // 2, 5: n - n // 2}, random_state=seed)
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(X, columns=list(FEATURE_NAMES))
    df["D50"] = rng.uniform(10, 80, n)
    df["DoA"] = rng.uniform(5, 90, n)
    df.insert(0, "run_id", [f"R{i + 1:02d}" for i in range(n)])
    return df


def _error(df, **kw) -> str:
    with pytest.raises(DoEValidationError) as ei:
        validate_doe(df, **kw)
    return str(ei.value)


def _file_error(path) -> str:
    with pytest.raises(DoEValidationError) as ei:
        load_doe(path)
    assert str(path) in str(ei.value)  # the file is named
    return str(ei.value)


def test_valid_table_passes_and_error_is_a_validation_error():
    out = validate_doe(_table())
    assert len(out) == 12 and (out["split"] == "train").all()
    assert issubclass(DoEValidationError, ValidationError)
    assert issubclass(DoEValidationError, FlexspaceError) and issubclass(DoEValidationError, ValueError)


def test_inf_values_name_column_and_row(tmp_path):
    df = _table()
    df.loc[2, "c0"] = np.inf
    df.loc[4, "D50"] = -np.inf
    df.to_csv(tmp_path / "inf.csv", index=False)
    msg = _file_error(tmp_path / "inf.csv")
    assert "['c0'], row 3 (R03)" in msg and "['D50'], row 5 (R05)" in msg
    assert "expected a finite number" in msg and "'inf'" in msg and "'-inf'" in msg


def test_header_only_table_says_how_many_rows_are_needed(tmp_path):
    _table().head(0).to_csv(tmp_path / "header.csv", index=False)
    msg = _file_error(tmp_path / "header.csv")
    assert "no data rows (header only)" in msg
    assert f"at least {min_rows_needed(False)} runs" in msg and min_rows_needed(False) == 7
    assert f">= {MIN_TRAIN_ROWS} measured training rows" in msg and "K = 3" in msg


def test_one_row_table_says_how_many_rows_are_needed():
    msg = _error(_table().head(1))
    assert "too few rows" in msg and f">= {MIN_TRAIN_ROWS} measured training rows" in msg
    assert ">= 7 rows are needed" in msg and "found 1 row(s)" in msg and "D50 1" in msg


def test_six_training_rows_with_holdout_are_enough_but_five_are_not():
    df = _table(8)
    df["split"] = ["train"] * 6 + ["holdout"] * 2
    assert len(validate_doe(df)) == 8
    df.loc[5, "split"] = "holdout"
    msg = _error(df)
    assert "too few rows" in msg and "D50 5" in msg and "holds out" not in msg


def test_all_nan_cqa_column_is_named():
    df = _table()
    df["DoA"] = np.nan
    msg = _error(df)
    assert "['DoA']" in msg and "no measured value in any of the 12 rows" in msg and "delete the column" in msg


def test_constant_cqa_is_named():
    df = _table()
    df["D50"] = 42.0
    msg = _error(df)
    assert "CQA 'D50' is constant" in msg and "all 12 measured values are 42" in msg
    assert "cannot learn a constant" in msg


def test_no_training_rows_when_every_row_is_holdout():
    df = _table()
    df["split"] = "holdout"
    msg = _error(df)
    assert "no training rows" in msg and "all 12 rows are 'holdout'" in msg and "['split']" in msg


def test_no_training_rows_when_every_cqa_is_nan():
    df = _table()
    df[["D50", "DoA"]] = np.nan
    msg = _error(df)
    assert "no training rows" in msg and "no row has a measured CQA" in msg and "'D50'" in msg


def test_no_training_rows_when_only_holdout_rows_are_measured():
    df = _table()
    df["split"] = ["holdout"] * 3 + ["train"] * 9
    df.loc[3:, ["D50", "DoA"]] = np.nan
    msg = _error(df)
    assert "no training rows" in msg and "none of the 9 'train' rows has a measured CQA" in msg


def test_duplicate_rows_warn_with_row_numbers():
    df = pd.concat([_table(), _table().iloc[[2]].assign(run_id="R99")], ignore_index=True)
    with pytest.warns(UserWarning, match=r"duplicate rows 3 \(R03\) = 13 \(R99\)"):
        out = validate_doe(df)
    assert len(out) == 13  # a warning, not an error


def test_duplicate_run_ids_warn_with_row_numbers():
    df = _table()
    df.loc[7, "run_id"] = "R02"
    with pytest.warns(UserWarning, match=r"duplicate run_id 'R02' in rows 2, 8"):
        validate_doe(df)


def test_cqa_with_too_few_rows_warns_it_will_not_be_modelled():
    df = _table()
    df.loc[3:, "DoA"] = np.nan
    with pytest.warns(UserWarning, match=r"\['DoA'\] have too few measured training rows"):
        validate_doe(df)


def test_non_numeric_and_empty_cells_name_column_and_rows(tmp_path):
    df = _table()
    df["T2"] = df["T2"].astype(object)
    df.loc[1, "T2"] = "cold"
    df.loc[7, "T2"] = "1,5"
    df["DoA"] = df["DoA"].astype(object)
    df.loc[4, "DoA"] = "n/a?"
    df.loc[8, "c0"] = np.nan
    df.to_csv(tmp_path / "text.csv", index=False)
    msg = _file_error(tmp_path / "text.csv")
    assert "['T2'], rows 2 (R02), 8 (R08): non-numeric feature value" in msg and "'cold', '1,5'" in msg
    assert "['DoA'], row 5 (R05): non-numeric CQA value" in msg
    assert "['c0'], row 9 (R09)" in msg and "empty cell" in msg


def test_negative_values_break_the_existing_bounds():
    df = _table()
    df.loc[0, "c0"] = -30.0
    df.loc[9, "D50"] = -3.0
    df.loc[10, "DoA"] = -1.0
    msg = _error(df)
    assert "['c0'], row 1 (R01)" in msg and "Table-2" in msg
    assert "['D50'], row 10 (R10)" in msg and "expected > 0 µm" in msg
    assert "['DoA'], row 11 (R11)" in msg and "expected 0-100 %" in msg


def test_bad_split_labels_show_what_was_found():
    df = _table().assign(split="train")
    df.loc[5, "split"] = "Train"
    msg = _error(df)
    assert "['split'], row 6 (R06)" in msg and "found 'Train'" in msg


def test_not_a_dataframe_is_a_type_error():
    with pytest.raises(TypeError, match="expects a pandas DataFrame"):
        validate_doe([[1, 2, 3]])


@pytest.mark.parametrize("name, content, words", [
    ("missing.csv", None, "no such file"),
    ("adir", "dir", "a directory"),
    ("doe.xlsx", b"PK\x03\x04rest", "an Excel workbook"),
    ("doe.dat", b"\x00\x01\x02binary", "binary data"),
    ("empty.csv", b"", "an empty file"),
    ("semi.csv", b"c0;seed_loading;T2\n30;0.1;20\n", "separated by ';'"),
    ("latin.csv", "c0,D50\n30,\xb5m\n".encode("latin-1"), "not UTF-8"),
])
def test_file_problems(tmp_path, name, content, words):
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
        _table().to_csv(path / "doe.csv", index=False)
    elif content is not None:
        path.write_bytes(content)
    msg = _file_error(path)
    assert words in msg and "expected a CSV text file" in msg


def test_save_doe_round_trip_without_a_cqa(tmp_path):
    out = validate_doe(_table().drop(columns=["DoA"]))
    assert out["DoA"].isna().all()
    back = load_doe(save_doe(out, tmp_path / "d.csv"))
    assert back["D50"].notna().sum() == 12 and back["DoA"].isna().all()


def test_require_measured_names_missing_cqas():
    with pytest.raises(DoEValidationError, match=r"columns \['DoA', 'crystallinity'\].*found D50 12, DoA 0"):
        require_measured(validate_doe(_table().drop(columns=["DoA"])), purpose="design-space")


def _cli(capsys, argv):
    code = flexspace_main(argv)
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("command", ["run", "design-space"])
@pytest.mark.parametrize("case", ["missing", "directory", "excel", "inf", "one_row", "constant"])
def test_cli_prints_one_error_line(tmp_path, capsys, command, case):
    path = tmp_path / {"directory": "d", "excel": "doe.xlsx"}.get(case, "doe.csv")
    df = _table()
    if case == "directory":
        path.mkdir()
    elif case == "excel":
        path.write_bytes(b"PK\x03\x04")
    elif case != "missing":
        df.loc[2, "T2"] = np.inf if case == "inf" else df.loc[2, "T2"]
        df = df.head(1) if case == "one_row" else df.assign(DoA=50.0) if case == "constant" else df
        df.to_csv(path, index=False)
    code, err = _cli(capsys, ["crystallization", command, "--out", str(tmp_path / "o"), "--doe", str(path)])
    assert code == 2 and err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert str(path) in err
    words = {"missing": "no such file", "directory": "a directory", "excel": "Excel", "inf": "['T2'], row 3 (R03)",
             "one_row": "too few rows", "constant": "CQA 'DoA' is constant"}[case]
    assert words in err


def test_cli_design_space_needs_every_cqa(tmp_path, capsys):
    _table().to_csv(tmp_path / "doe.csv", index=False)  # D50 and DoA, no crystallinity
    code, err = _cli(capsys, ["crystallization", "design-space", "--out", str(tmp_path / "o"),
                              "--doe", str(tmp_path / "doe.csv")])
    assert code == 2 and err.startswith("error: ") and "\n" not in err
    assert "['crystallinity']" in err and "crystallinity 0" in err


@pytest.mark.parametrize("col, scale, words", [("D50", 1e-3, "looks like mm"), ("DoA", 1e-2, "looks like a fraction")])
def test_a_cqa_column_in_other_units_is_warned_about(col, scale, words):
    df = _table()
    df[col] = df[col] * scale
    with pytest.warns(UserWarning, match=f"CQA '{col}'.*{words}"):
        validate_doe(df)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        validate_doe(_table())  # the units of the seed: no warning
