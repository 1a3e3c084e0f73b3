"""Crystallization on OMLT-embedded surrogates (GitHub issue 6): the ε-constraint front of
:mod:`flexspace.crystallization.pareto`, the design space of
:mod:`flexspace.crystallization.design_space` and its command."""
import pandas as pd
import pytest

from flexspace.models.surrogate import SurrogateProcessModel
from flexspace.solvers import available_solvers

SOLVERS = set(available_solvers())
needs = lambda *names: pytest.mark.skipif(not set(names) <= SOLVERS, reason=f"needs {names}")  # noqa: E731


@needs("scip")
def test_epsilon_front_matches_or_beats_nsga2(cryst_doe):
    from flexspace.crystallization.design_space import fit_crystallization_surrogates
    from flexspace.crystallization.pareto import compare_with_nsga2

    f = fit_crystallization_surrogates(cryst_doe, "gbt", cqas=("D50", "DoA"), n_members=2)
    r = compare_with_nsga2(f["D50"], f["DoA"], n_cycles=1, n_points=6, pop_size=20, n_gen=15)
    assert r["eps"].n_failed == 0 and r["n_eps"] >= 2
    assert r["eps_max_violation"] <= 1e-7           # ε points satisfy NSGA-II's own Eq. 2-5 constraints
    assert r["eps_block_vs_predict"] <= 1e-5        # block optimum = predict() at the returned points
    assert r["hv_eps"] >= 0.95 * r["hv_nsga2"]


@needs("highs")
def test_crystallization_design_space_ordering_and_cli(cryst_doe, tmp_path):
    from flexspace.cli.crystallization_design_space import main
    from flexspace.crystallization.doe import save_doe

    path = save_doe(cryst_doe, tmp_path / "doe.csv")
    out = tmp_path / "ds"
    code = main(["--surrogate", "gbt", "--params", "seed_loading", "C", "--out", str(out), "--grid", "5",
                 "--n-samples", "500", "--doe", str(path)])
    assert code == 0
    df = pd.read_csv(out / "design_space.csv")
    assert len(df) == 25 and {"seed_loading", "C", "mc_probability", "fi_probability", "in_alg3"} <= set(df.columns)
    assert (out / "design_space.png").stat().st_size > 1000
    assert not (df["in_alg3"] & ~df["in_alg2"]).any()   # Alg 3 ⊆ Alg 2
    assert not (df["in_alg2"] & ~df["in_mc"]).any()     # Alg 2 ⊆ MC
    assert df["in_alg2"].any()


@needs("highs")
def test_design_space_small_grid_and_profile_validity(cryst_doe):
    from flexspace.crystallization.design_space import SurrogateSpec, run_design_space
    from flexspace.crystallization.profile import FEATURE_NAMES

    spec = SurrogateSpec("rf", params=("c0", "T2"), doe=cryst_doe, n_members=3)
    res = run_design_space(spec, n_grid=3, n_samples=300, verbose=False)
    df = res["table"]
    model = res["model"]
    assert isinstance(model, SurrogateProcessModel) and model.feature_names == list(FEATURE_NAMES)
    assert model.theta_p_names == ["c0", "T2"] and model.problem_class == "milp"
    assert list(model.limits) == list(model.embedded) == ["D50", "DoA", "crystallinity"]
    assert res["driver"].startswith("flexspace.designspace") and len(df) == 9
    assert res["ordering"]["holds"] and res["ordering"]["n_failed_alg2"] == 0
    # T2 up to 70 °C is above the seeding temperature for low c0: flagged, not hidden
    assert not df["profile_feasible"].all() and df["profile_feasible"].any()
