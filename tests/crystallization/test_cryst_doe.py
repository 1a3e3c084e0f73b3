"""DoE generator (Table 1 mix, missing pattern, hold-out), CSV round trip, validator errors."""
import numpy as np
import pandas as pd
import pytest

from flexspace.crystallization import InSilicoLab
from flexspace.crystallization.doe import (MEASURED_COUNTS, TABLE1_MIX, DoEValidationError, generate_doe,
                                                  load_doe, save_doe, validate_doe)
from flexspace.crystallization.profile import FEATURE_NAMES, check_profiles


@pytest.fixture(scope="module")
def doe():
    return generate_doe(InSilicoLab(), random_state=0, holdout_kwargs={"pop_size": 4, "n_gen": 1})


def test_table1_mix_and_missing_pattern(doe):
    train = doe[doe["split"] == "train"]
    assert len(train) == 31 and (doe["split"] == "holdout").sum() == 4
    counts = train["profile_type"].value_counts().to_dict()
    assert counts == {"linear cooling": 18, "linear cooling + heating": 2, "1 cycle": 1, "2 cycle": 4,
                      "3 cycle": 3, "4 cycle": 3}
    assert sum(TABLE1_MIX.values()) == 31
    for cqa, n in MEASURED_COUNTS.items():
        assert train[cqa].notna().sum() == n
    # crystallinity rows ⊂ DoA rows; hold-out rows have everything measured
    assert not (train["crystallinity"].notna() & train["DoA"].isna()).any()
    assert doe.loc[doe["split"] == "holdout", ["D50", "DoA", "crystallinity"]].notna().all().all()
    assert not check_profiles(doe[list(FEATURE_NAMES)].to_numpy())


def test_deterministic_for_a_seed(doe):
    again = generate_doe(InSilicoLab(), random_state=0, holdout_kwargs={"pop_size": 4, "n_gen": 1})
    pd.testing.assert_frame_equal(doe, again)


def test_csv_round_trip(doe, tmp_path):
    p = save_doe(doe, tmp_path / "doe.csv")
    back = load_doe(p)
    np.testing.assert_allclose(back[list(FEATURE_NAMES)].to_numpy(), doe[list(FEATURE_NAMES)].to_numpy())
    assert back["D50"].notna().sum() == doe["D50"].notna().sum()


def _bad(doe, tmp_path, edit):
    df = doe.copy()
    res = edit(df)
    df = df if res is None else res
    p = tmp_path / "bad.csv"
    df.to_csv(p, index=False)
    with pytest.raises(DoEValidationError) as ei:
        load_doe(p)
    return str(ei.value)


def test_heating_stage_that_cools(doe, tmp_path):
    i = doe.index[doe["profile_type"] == "2 cycle"][0]
    rid = doe.loc[i, "run_id"]
    msg = _bad(doe, tmp_path, lambda d: d.__setitem__("T3", d["T3"].where(d.index != i, d.loc[i, "T2"] - 2.0)))
    assert rid in msg and "T3" in msg and "Eq. 2" in msg


def test_profile_restarting_after_zero(doe, tmp_path):
    i = doe.index[doe["profile_type"] == "linear cooling"][0]
    rid = doe.loc[i, "run_id"]
    msg = _bad(doe, tmp_path, lambda d: d.__setitem__("T4", d["T4"].where(d.index != i, 3.0)))
    assert rid in msg and "T4" in msg and "Eq. 4" in msg


def test_out_of_bound_values(doe, tmp_path):
    rid0, rid1 = doe.loc[0, "run_id"], doe.loc[1, "run_id"]

    def edit(d):
        d.loc[0, "c0"] = 80.0
        d.loc[1, "C"] = 0.9

    msg = _bad(doe, tmp_path, edit)
    assert rid0 in msg and "c0" in msg and rid1 in msg and "'C'" in msg and "Table-2" in msg


def test_missing_and_unknown_columns(doe, tmp_path):
    msg = _bad(doe, tmp_path, lambda d: d.drop(columns=["seed_loading", "H"]))
    assert "missing required column" in msg and "seed_loading" in msg and "'H'" in msg
    msg = _bad(doe, tmp_path, lambda d: d.insert(5, "stirrer_rpm", 300))
    assert "unknown column" in msg and "stirrer_rpm" in msg


def test_non_numeric_and_bad_cqa(doe):
    d = doe.copy()
    d["T2"] = d["T2"].astype(object)
    d.loc[2, "T2"] = "cold"
    d.loc[3, "DoA"] = 140.0
    with pytest.raises(DoEValidationError) as ei:
        validate_doe(d)
    msg = str(ei.value)
    assert doe.loc[2, "run_id"] in msg and "non-numeric" in msg
    assert doe.loc[3, "run_id"] in msg and "DoA" in msg
    assert isinstance(ei.value, ValueError) and len(ei.value.problems) == 2


def test_user_doe_without_optional_columns(doe):
    user = doe[list(FEATURE_NAMES) + ["D50"]].head(10)
    out = validate_doe(user)
    assert (out["split"] == "train").all() and out["run_id"].iloc[0] == "row1"
    assert out["DoA"].isna().all()
