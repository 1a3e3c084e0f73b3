"""Issue 15, items 1–4 on the crystallization side: process limits, design inside the
applicability domain, calibrated intervals, the closed Step-8 loop, the domain in Pyomo."""
import numpy as np
import pandas as pd
import pytest

from flexspace.crystallization.calibration import TARGET_SCALE, fit_interval, within_physical_bounds
from flexspace.crystallization.doe import sample_profiles
from flexspace.crystallization.kinetics import solubility
from flexspace.crystallization.lab import InSilicoLab
from flexspace.crystallization.loop import LoopSettings, close_loop, design_fronts, fit_domain, recommend
from flexspace.crystallization.process import (ProcessLimits, batch_time_h, equilibrium_yield, final_temperature,
                                               matched_linear_control, max_redissolution)
from flexspace.crystallization.profile import CQA_NAMES, encode_profile, seeding_temperature
from flexspace.errors import ValidationError
from flexspace.solvers import available_solvers
from flexspace.surrogates.selection import make_pipeline, refit_like
from flexspace.surrogates.targets import bounded_regressor
from flexspace.surrogates.uq import EnsembleRegressor

MIX = {1: 8, 3: 3, 5: 3, 7: 3, 9: 5}


def test_process_metrics_by_hand():
    x = encode_profile(40.0, 0.1, [20.0, 40.0, 15.0], C=0.2, H=0.5)
    t1 = float(seeding_temperature(40.0))
    assert np.isclose(batch_time_h(x)[0], ((t1 - 20) / 0.2 + 20 / 0.5 + 25 / 0.2) / 60)
    assert final_temperature(x)[0] == 15.0
    assert np.isclose(equilibrium_yield(x)[0], 100 * (0.04 - solubility(15.0)) / 0.04)
    assert np.isclose(max_redissolution(x)[0], 100 * (solubility(40.0) - solubility(20.0)) / (0.044 - solubility(20.0)))
    lim = ProcessLimits(min_yield_pct=60, max_batch_time_h=5, max_final_T_degC=20, max_redissolution_pct=80)
    G = lim.constraint(x)
    assert G.shape == (1, 4) and (G[0, 1] > 0) == (batch_time_h(x)[0] > 5)
    xc = matched_linear_control(x)
    assert np.isclose(batch_time_h(xc)[0], batch_time_h(x)[0]) and final_temperature(xc)[0] == 15.0
    with pytest.raises(ValidationError, match="min_yield_pct"):
        ProcessLimits(min_yield_pct=150)


@pytest.fixture(scope="module")
def small_case():
    X = sample_profiles(MIX, random_state=0)
    lab = InSilicoLab(random_state=0)
    Y = lab.measure(X, random_state=1)
    deployed = {}
    for cqa in CQA_NAMES:
        pipe = bounded_regressor(make_pipeline("RF", n_estimators=20, min_samples_leaf=2), TARGET_SCALE[cqa])
        y = Y[cqa].to_numpy(float)
        ens = EnsembleRegressor(pipe, "mccv", 8, 0.8, 0).fit(X, y, score_rows=np.arange(len(y)))
        deployed[cqa] = {"pipeline": refit_like(pipe, X, y), "X": X, "y": y, "w": None, "augmented": False,
                         "n_real": len(y), "alpha": 0.0, "ensemble": ens, "interval": fit_interval(ens, y, len(y), cqa),
                         "refit": False}
    return lab, X, deployed


def test_fronts_inside_domain_limits_and_bounds(small_case):
    lab, X, deployed = small_case
    dom = fit_domain(X)
    lim = ProcessLimits()
    fronts = design_fronts(deployed, dom, lim, X, LoopSettings(pop_size=16, n_gen=6), np.random.default_rng(0))
    assert sorted(fronts) == [1, 2, 3, 4]
    allf = pd.concat(fronts.values())
    assert allf["feasible"].mean() > 0.5 and fronts[4]["feasible"].any()
    feas = allf[allf["feasible"]]
    assert (feas["domain_distance"] <= 1 + 1e-9).all() and lim.satisfied(feas[list(X_cols())].to_numpy()).all()
    assert within_physical_bounds(allf, CQA_NAMES)
    assert (allf["crystallinity_hi"] <= 100).all() and (allf["D50_lo"] > 0).all()
    x, rec = recommend(fronts)
    assert rec["feasible"] and dom.contains(x[None])[0] and rec["n_cycles"] == 4


def X_cols():
    from flexspace.crystallization.profile import FEATURE_NAMES

    return FEATURE_NAMES


def test_close_loop_respects_budget_and_records_iterations(small_case):
    lab, X, deployed = small_case
    s = LoopSettings(pop_size=12, n_gen=3, replicates=2, max_iterations=2, max_runs=6, n_acquire=1, n_members=6)
    out = close_loop(lab, deployed, X, gate_passed=False, settings=s, rng=np.random.default_rng(1))
    h = out.history
    n_it = int(h["iteration"].max())
    assert 1 <= n_it <= 2 and len(h) == n_it + 1 and len(out.validations) == n_it + 1
    assert h["runs_cumulative"].iloc[-1] <= 6 and (h["runs_added"].iloc[1:] == 3).all()
    assert out.stop_reason in ("validation passed", "iteration budget spent", "run budget spent")
    assert out.stop_reason != "validation passed" or h["all_within_pi95"].iloc[-1]
    # the validation replicates of every previous point and the acquisitions joined the data
    assert len(out.added_runs) == n_it * (2 + 1)
    assert all(out.deployed[c]["n_real"] == len(X) + len(out.added_runs) for c in CQA_NAMES)
    assert out.domain.X_.shape[0] == len(np.unique(np.vstack([X, out.added_runs[list(X_cols())]]), axis=0))
    lp = out.lab_points
    assert set(lp["kind"]) == {"validation", "acquisition"} and len(lp) == 3 * (2 * n_it + 1)
    assert (lp["covered"] == ((lp["measured"] >= lp["pi95_lower"]) & (lp["measured"] <= lp["pi95_upper"]))).all()
    assert {"within_pi95", "pi95_lower", "pi95_upper", "replicate_noise_sd", "lab_yield_%"} <= set(out.validation)


@pytest.mark.skipif("scip" not in set(available_solvers()), reason="needs scip")
def test_epsilon_front_respects_domain_ranges(small_case):
    from flexspace.crystallization.pareto import build_design_model, epsilon_constraint_front
    from flexspace.surrogates.omlt_embed import embed_surrogate
    from flexspace.crystallization.design_space import design_input_bounds

    lab, X, deployed = small_case
    dom = fit_domain(X)
    Y = InSilicoLab().run(X)
    d50 = refit_like(make_pipeline("GBT", n_estimators=10, max_depth=2), X, Y["D50"])
    doa = refit_like(make_pipeline("GBT", n_estimators=10, max_depth=2), X, Y["DoA"])
    front = epsilon_constraint_front(d50, doa, n_cycles=1, n_points=3, domain=dom, options={"time_limit": 30})
    assert len(front.X) >= 1
    assert (dom.range_violation(front.features) <= 1e-6).all()
    b = design_input_bounds()
    m = build_design_model(embed_surrogate(d50, b), embed_surrogate(doa, b), 1, dom, ellipsoid=True)
    assert len(m.domain_range) > 0 and m.domain_ellipsoid.body.polynomial_degree() == 2
