"""Profile encoding (13 features), decoder and Eq. 2–5 feasibility checks."""
import numpy as np
import pytest

from flexspace.crystallization.profile import (ACTIVE_T_MIN, FEATURE_BOUNDS, FEATURE_NAMES, LOWER, UPPER,
                                                      ProfileLatentTransform, check_profiles, decode_profile,
                                                      encode_profile, is_feasible, n_cycles, n_stages,
                                                      seeding_temperature)


def test_thirteen_features_with_table2_bounds():
    assert len(FEATURE_NAMES) == 13
    assert FEATURE_BOUNDS["c0"] == (24.8, 55.2) and FEATURE_BOUNDS["seed_loading"] == (0.05, 0.15)
    assert FEATURE_BOUNDS["C"] == (0.05, 0.3) and FEATURE_BOUNDS["H"] == (0.5, 1.0)
    assert FEATURE_BOUNDS["T7"] == (0.0, 70.0)
    assert np.all(LOWER < UPPER)


def test_seeding_temperature_within_bounds_and_monotone():
    t = seeding_temperature([24.8, 40.0, 55.2])
    assert np.all(np.diff(t) > 0)
    assert 30 < t[0] < 40 and 50 < t[-1] < 60


def test_encode_decode_profile_four_cycles():
    x = encode_profile(45.0, 0.1, [20, 38, 15, 33, 10, 28, 8, 22, 5], 0.2, 0.75)
    assert n_stages(x[None])[0] == 9 and n_cycles(x[None])[0] == 4
    assert is_feasible(x[None])[0]
    t, T = decode_profile(x)
    assert len(t) == 10 and T[0] == pytest.approx(float(seeding_temperature(45.0)))
    assert T[-1] == 5.0
    # duration of stage 1 at C = 0.2 °C/min
    assert t[1] == pytest.approx((T[0] - 20.0) / 0.2)
    lin = encode_profile(45.0, 0.1, [5.0], 0.1, 0.8)
    assert lin[-1] == 0.0 and n_cycles(lin[None])[0] == 0  # H padded to 0 (Eq. 4)


@pytest.mark.parametrize("setpoints,H,fragment", [
    ([20, 15, 5], 0.7, "Eq. 2"),                 # heating stage that cools
    ([20, 38, 25, 30], 0.7, None),               # feasible control case
    ([20, 38, 40], 0.7, "Eq. 3"),                # cooling stage that heats
    ([20, 38, 5], 0.0, "H = 0"),                 # heating stage without a heating rate
    ([20, 60, 5], 0.7, "Eq. 5"),                 # heating above the seeding temperature
])
def test_check_profiles_flags_each_rule(setpoints, H, fragment):
    x = encode_profile(45.0, 0.1, setpoints, 0.2, H)
    msgs = " ".join(v.message for v in check_profiles(x[None]))
    if fragment is None:
        assert msgs == ""
    else:
        assert fragment in msgs


def test_restart_after_zero_and_bounds():
    x = encode_profile(45.0, 0.1, [20, 30, 10], 0.2, 0.7)
    x[5] = 0.0  # T4 = 0
    x[6] = 25.0  # T5 after the zero → restart
    v = check_profiles(x[None])
    assert any("Eq. 4" in e.message and "T5" in e.columns for e in v)
    y = encode_profile(60.0, 0.3, [5], 0.5)
    cols = {c for e in check_profiles(y[None]) for c in e.columns}
    assert {"c0", "seed_loading", "C"} <= cols
    z = encode_profile(45.0, 0.1, [0.5], 0.2)
    assert any(f"ACTIVE_T_MIN={ACTIVE_T_MIN:g}" in e.message for e in check_profiles(z[None]))


def test_latent_transform_round_trip_and_any_latent_is_feasible():
    tr = ProfileLatentTransform()
    rng = np.random.default_rng(0)
    k = rng.integers(1, 10, 500)
    Z = rng.normal(0, 3, (500, tr.n_latent))
    X = tr.decode(k, Z)
    assert not check_profiles(X), "every decoded latent must satisfy Table 2 and Eq. 2-5"
    assert np.array_equal(n_stages(X), k)
    k2, Z2 = tr.encode(X)
    assert np.array_equal(k2, k)
    np.testing.assert_allclose(tr.decode(k2, Z2), X, atol=1e-8)
