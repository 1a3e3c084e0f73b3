"""Model selection, ensemble UQ, constrained generators, weighted ERM (Eq. 1), NSGA-II."""
import numpy as np
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from flexspace.crystallization import InSilicoLab, ProfileLatentTransform, check_profiles
from flexspace.crystallization.thermocycles import CycleProfileSpace
from flexspace.crystallization.doe import TABLE1_MIX, sample_profiles
from flexspace.surrogates import (REDUCED_GRIDS, EnsembleRegressor, erm_search, erm_weights, forest_tree_std,
                                  knee_point, make_generator, make_pipeline, run_nsga2, select_model)


@pytest.fixture(scope="module")
def data():
    X = sample_profiles(TABLE1_MIX, random_state=5)
    Y = InSilicoLab().run(X)
    return X, Y["D50"].to_numpy(), Y["DoA"].to_numpy()


def test_select_model_reduced_grid(data):
    X, y, _ = data
    res = select_model(X[:27], y[:27], X[27:], y[27:], grids=REDUCED_GRIDS, random_state=0)
    assert set(res.table.index) == {"RF", "GBT", "SVR", "XGB"}
    assert res.best_name == res.table["cv_MSE"].astype(float).idxmin()
    assert {"cv_MSE", "holdout_MSE", "holdout_R2", "params"} <= set(res.table.columns)
    p = res.best_pipeline
    assert isinstance(p, Pipeline) and isinstance(p[0], StandardScaler) and p.steps[-1][0] == "model"
    assert p.predict(X[27:]).shape == (4,)


def test_mccv_and_bootstrap_ensembles(data):
    X, y, _ = data
    for method in ("mccv", "bootstrap"):
        ens = EnsembleRegressor(make_pipeline("RF", n_estimators=20), method, n_members=6, random_state=0).fit(X, y)
        m, s = ens.predict(X[:5], return_std=True)
        assert m.shape == s.shape == (5,) and np.all(s > 0)
        assert np.isfinite(ens.oob_mse_)
        m2, s2 = EnsembleRegressor(make_pipeline("RF", n_estimators=20), method, 6, random_state=0).fit(X, y).predict(
            X[:5], return_std=True)
        np.testing.assert_allclose(m, m2)
        np.testing.assert_allclose(s, s2)
    rf = make_pipeline("RF", n_estimators=30).fit(X, y)
    mt, st = forest_tree_std(rf, X[:5])
    np.testing.assert_allclose(mt, rf.predict(X[:5]))
    assert np.all(st >= 0)


@pytest.mark.parametrize("name", ["copula", "gan", "vae"])
def test_generators_are_feasible_by_construction(name, data):
    if name != "copula":
        pytest.importorskip("torch")
    X, y, _ = data
    kw = {} if name == "copula" else {"epochs": 60}
    gen = make_generator(name, ProfileLatentTransform(), "log", random_state=0, **kw).fit(X, y)
    Xs, ys = gen.sample(40, random_state=1)
    Xs2, ys2 = gen.sample(40, random_state=1)
    assert Xs.shape == (40, 13) and ys.shape == (40,)
    assert not check_profiles(Xs)  # Eq. 2-5 and Table 2 hold for every generated row, none discarded
    assert np.all(ys > 0)
    np.testing.assert_allclose(Xs, Xs2)
    np.testing.assert_allclose(ys, ys2)
    # refitting with the same random_state reproduces the generator exactly
    Xs3, ys3 = make_generator(name, ProfileLatentTransform(), "log", random_state=0, **kw).fit(X, y).sample(
        40, random_state=1)
    np.testing.assert_array_equal(Xs, Xs3)
    np.testing.assert_array_equal(ys, ys3)


def test_erm_weights_eq1():
    w = erm_weights(20, 5, 0.35)
    assert w.shape == (25,)
    assert w[:20].sum() / 20 == pytest.approx(0.65) and w[20:].sum() / 20 == pytest.approx(0.35)
    np.testing.assert_allclose(erm_weights(20, 5, 0.0)[:20], 1.0)
    with pytest.raises(ValueError):
        erm_weights(20, 5, 1.0)


def test_erm_search_curves_and_baseline(data):
    X, y, _ = data
    pipe = make_pipeline("SVR", C=10.0)
    fac = {"copula": lambda rs: make_generator("copula", ProfileLatentTransform(), "log", random_state=rs)}
    r = erm_search(pipe, X, y, fac, m_values=(5, 10), alphas=(0.0, 0.3, 0.6), random_state=0)
    assert len(r.curves) == 1 * 2 * 3
    a0 = r.curves[r.curves["alpha"] == 0.0]["val_MSE"]
    assert np.allclose(a0, r.baseline_val_MSE)  # α = 0 is the real-only model
    # the fold spread: α = 0 trains on the same real rows for every m, so its sd is the same for both m
    sd0 = r.curves[r.curves["alpha"] == 0.0]["val_MSE_sd"].to_numpy()
    assert np.all(np.isfinite(sd0) & (sd0 > 0)) and np.allclose(sd0, sd0[0])
    assert r.best["val_MSE"] == pytest.approx(r.curves["val_MSE"].min())
    assert r.pipeline.predict(X[:3]).shape == (3,)
    if r.best["alpha"] > 0:
        assert len(r.synthetic[1]) == r.best["m"]


def test_cycle_space_and_nsga2_feasible(data):
    X, y, doa = data
    pD = make_pipeline("RF", n_estimators=20).fit(X, y)
    pA = make_pipeline("RF", n_estimators=20).fit(X, doa)
    space = CycleProfileSpace(2)
    assert space.n_var == 2 + 5 + 2
    rng = np.random.default_rng(0)
    init = space.sample_feasible(12, rng)
    assert np.all(space.constraints(init) <= 1e-9)
    assert not check_profiles(space.to_features(init))
    prob = space.problem(lambda F: np.column_stack([-pD.predict(F), pA.predict(F)]))
    Xd, F, G = run_nsga2(prob, pop_size=12, n_gen=4, random_state=0, sampling=init)
    assert np.all(G <= 1e-9)
    feats = space.to_features(Xd)
    assert not check_profiles(feats)
    assert 0 <= knee_point(F) < len(F)


def test_package_imports_without_torch():
    """torch is optional: importing the package and the workflow must not import it."""
    import subprocess
    import sys

    code = ("import sys, flexspace.surrogates, flexspace.crystallization.workflow, "
            "flexspace.cli.crystallization; assert 'torch' not in sys.modules, 'torch imported eagerly'")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
