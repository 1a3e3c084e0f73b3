"""One implementation of the seed's Algorithms 1-3: the crystallization design space calls
only :mod:`flexspace.designspace` (no loop copies, no ``driver`` switch), and its regions
are the maps' own :meth:`DesignSpaceMap.region`."""
import argparse
import inspect

import numpy as np
import pandas as pd
import pytest

import flexspace.designspace as ds
from flexspace.models.crystallization import design_space
from flexspace.solvers import available_solvers


def test_no_second_copy_of_the_algorithms_and_no_driver_switch():
    for name in ("_mc_map", "_fi_map", "_alg3_rectangle", "_designspace_drivers", "_run_with_drivers"):
        assert not hasattr(design_space, name), name
    assert "driver" not in inspect.signature(design_space.run_design_space).parameters
    from flexspace.models.crystallization import cli, cli_design_space

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    cli.register(sub)
    p = cli_design_space.register_design_space(sub)
    assert not any("driver" in s for a in p._actions for s in a.option_strings)  # noqa: SLF001


@pytest.fixture(scope="module")
def doe():
    from flexspace.models.crystallization.doe import TABLE1_MIX, sample_profiles, validate_doe
    from flexspace.models.crystallization.lab import InSilicoLab
    from flexspace.models.crystallization.profile import FEATURE_NAMES

    X = sample_profiles(TABLE1_MIX, random_state=0)
    Y = InSilicoLab(random_state=0).measure(X, random_state=1)
    df = pd.concat([pd.DataFrame(X, columns=list(FEATURE_NAMES)), Y[["D50", "DoA", "crystallinity"]]], axis=1)
    return validate_doe(df)


@pytest.mark.skipif("highs" not in available_solvers(), reason="needs highs")
def test_regions_come_from_designspace_map_and_rectangle_from_flexibility_test_region(doe, monkeypatch):
    calls = {"alg3": 0, "failed_point": None}
    real_region, real_fi_map = ds.flexibility_test_region, ds.flexibility_index_map

    def counting_region(*a, **k):
        calls["alg3"] += 1
        return real_region(*a, **k)

    def fi_map_with_a_failed_point(*a, **k):
        # a point whose raw probability column says "feasible" but whose status is "failed":
        # only DesignSpaceMap.region/failed may decide, and they exclude it
        m = real_fi_map(*a, **k)
        i = int(np.nanargmin(m.table["probability"].to_numpy(float)))
        m.table.loc[i, ["probability", "status"]] = [1.0, "failed"]
        calls["failed_point"] = i
        return m

    monkeypatch.setattr(ds, "flexibility_test_region", counting_region)
    monkeypatch.setattr(ds, "flexibility_index_map", fi_map_with_a_failed_point)
    p_c = 0.85
    res = design_space.run_design_space("gbt", ("seed_loading", "C"), None, n_grid=4, n_mc=300, p_c=p_c, doe=doe,
                                        n_members=3, verbose=False)
    df, mc, fi = res["table"], res["maps"]["mc"], res["maps"]["alg2"]
    assert isinstance(mc, ds.DesignSpaceMap) and isinstance(fi, ds.DesignSpaceMap)
    assert res["driver"].startswith("flexspace.designspace")
    np.testing.assert_array_equal(df["in_mc"].to_numpy(), mc.region(p_c).ravel())
    np.testing.assert_array_equal(df["in_alg2"].to_numpy(), fi.region(p_c).ravel())
    i = calls["failed_point"]
    assert fi.failed.ravel()[i] and not df["in_alg2"].iloc[i] and np.isnan(df["fi_probability"].iloc[i])
    assert res["ordering"]["n_failed_alg2"] == int(fi.failed.sum()) == 1
    assert res["ordering"]["n_alg2"] == int(fi.region(p_c).sum()) > 0
    # Algorithm 3: exactly one call of flexspace.designspace.flexibility_test_region, its rectangle reported
    assert calls["alg3"] == 1
    reg = res["maps"]["alg3"]
    assert isinstance(reg, ds.FlexTestRegion) and res["alg3_status"] in ("ok", "not converged")
    np.testing.assert_allclose(res["rectangle"], np.column_stack([reg.lower, reg.upper]))
    assert res["delta_p"] == reg.delta_p and res["alg3_tests"] == reg.n_solves
    np.testing.assert_array_equal(df["in_alg3"].to_numpy(), reg.contains(fi.points))
    assert res["ordering"]["holds"]
