"""One implementation of the seed's Algorithms 1-3: the crystallization design space calls
only :mod:`flexspace.designspace` (no loop copies, no ``driver`` switch), and its regions
are the maps' own :meth:`DesignSpaceMap.region`."""
import argparse
import inspect

import numpy as np
import pytest

import flexspace.designspace as ds
from flexspace.crystallization import design_space
from flexspace.options import PRESETS
from flexspace.solvers import available_solvers


def test_no_second_copy_of_the_algorithms_and_no_driver_switch():
    for name in ("_mc_map", "_fi_map", "_alg3_rectangle", "_designspace_drivers", "_run_with_drivers"):
        assert not hasattr(design_space, name), name
    assert "driver" not in inspect.signature(design_space.run_design_space).parameters
    from flexspace.cli import crystallization, crystallization_design_space

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    crystallization.register(sub)
    p = crystallization_design_space.register_design_space(sub)
    assert not any("driver" in s for a in p._actions for s in a.option_strings)  # noqa: SLF001


@pytest.mark.skipif("highs" not in available_solvers(), reason="needs highs")
def test_regions_come_from_designspace_map_and_rectangle_from_flexibility_test_region(cryst_doe, monkeypatch):
    calls = {"alg3": 0, "failed_point": None}
    real_region, real_fi_map = ds.flexibility_test_region, ds.flexibility_index_map

    def counting_region(*a, **k):
        calls["alg3"] += 1
        calls["alg3_options"] = k["options"]
        return real_region(*a, **k)

    def fi_map_with_a_failed_point(*a, **k):
        # a point whose raw probability column says "feasible" but whose status is "failed":
        # only DesignSpaceMap.region/failed may decide, and they exclude it
        calls["alg2_options"] = k["options"]
        m = real_fi_map(*a, **k)
        i = int(np.nanargmin(m.table["probability"].to_numpy(float)))
        m.table.loc[i, ["probability", "status"]] = [1.0, "failed"]
        calls["failed_point"] = i
        return m

    monkeypatch.setattr(ds, "flexibility_test_region", counting_region)
    monkeypatch.setattr(ds, "flexibility_index_map", fi_map_with_a_failed_point)
    p_c = 0.85
    spec = design_space.SurrogateSpec("gbt", params=("seed_loading", "C"), doe=cryst_doe, n_members=3)
    res = design_space.run_design_space(spec, n_grid=4, n_samples=300, confidence=p_c, verbose=False)
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
    # options=None: 60 s per solve on each algorithm's own preset
    assert calls["alg2_options"] == PRESETS["index_map"].replace(time_limit=60.0)
    assert calls["alg3_options"] == PRESETS["bisection"].replace(time_limit=60.0)
    reg = res["maps"]["alg3"]
    assert isinstance(reg, ds.FlexTestRegion) and res["alg3_status"] in ("ok", "not converged")
    np.testing.assert_allclose(res["rectangle"], np.column_stack([reg.lower, reg.upper]))
    assert res["delta_p"] == reg.delta_p and res["alg3_tests"] == reg.n_solves
    np.testing.assert_array_equal(df["in_alg3"].to_numpy(), reg.contains(fi.points))
    assert res["ordering"]["holds"]


def test_one_name_per_concept_and_small_signatures():
    """``run_design_space`` and ``surrogate_process_model`` take about ten parameters and
    name their concepts as the core does (``confidence``, ``n_samples``, ``random_state``,
    ``uncertainty_set``, ``options``); so do the crystallization commands."""
    from flexspace.cli import crystallization
    from flexspace.surrogates.omlt_process import surrogate_process_model

    for f in (design_space.run_design_space, surrogate_process_model):
        assert len(inspect.signature(f).parameters) <= 10, f.__name__
    names = set(inspect.signature(design_space.run_design_space).parameters)
    assert {"confidence", "n_samples", "random_state", "uncertainty_set", "options"} <= names
    assert not names & {"p_c", "n_mc", "time_limit", "seed"}
    parser = argparse.ArgumentParser()
    crystallization.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["crystallization", "design-space", "--out", "x", "--confidence", "0.9", "--n-samples",
                              "10", "--uncertainty-set", "ellipsoid", "--random-state", "3"])
    assert (args.confidence, args.n_samples, args.uncertainty_set, args.random_state) == (0.9, 10, "ellipsoid", 3)
    assert parser.parse_args(["crystallization", "run", "--out", "x", "--random-state", "2"]).random_state == 2
    for old in (["design-space", "--out", "x", "--pc", "0.9"], ["design-space", "--out", "x", "--n-mc", "10"],
                ["design-space", "--out", "x", "--set", "box"], ["run", "--out", "x", "--seed", "1"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["crystallization", *old])


def test_surrogate_spec_resolution_and_validation():
    spec = design_space._resolve_surrogate("rf")
    assert spec == design_space.SurrogateSpec(kind="rf") and spec.params == design_space.DEFAULT_PARAMS
    assert design_space._resolve_surrogate(None) == design_space.SurrogateSpec()
    assert design_space._resolve_surrogate({"kind": "mlp", "activation": "tanh"}).activation == "tanh"
    assert spec.replace(n_members=4).n_members == 4
    for bad in ({"kind": "svm"}, {"sigma": "both"}, {"n_members": 1}, {"nonsense": 1}):
        with pytest.raises((ValueError, TypeError)):
            design_space._resolve_surrogate(bad)
