"""Issue 15, items 1–2 (generic parts): applicability domain, bounded targets, conformal
intervals on real rows only."""
import numpy as np
import pytest

from flexspace.errors import ValidationError
from flexspace.surrogates.conformal import ConformalInterval
from flexspace.surrogates.applicability import ApplicabilityDomain
from flexspace.surrogates.selection import make_pipeline, refit_like, select_model
from flexspace.surrogates.targets import base_pipeline, bounded_regressor, forward, inverse, transform_of
from flexspace.surrogates.uq import EnsembleRegressor


def test_bounded_targets_never_leave_the_physical_range():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (40, 2))
    y = np.clip(130 * X[:, 0] - 10, 0, 100)           # saturates at 0 and 100 %
    raw = refit_like(make_pipeline("SVR", C=20.0, kernel="linear"), X, y)
    far = np.array([[3.0, 0.5], [-2.0, 0.5]])
    assert raw.predict(far).max() > 100 and raw.predict(far).min() < 0   # the raw model extrapolates
    b = refit_like(bounded_regressor(make_pipeline("SVR", C=20.0, kernel="linear"), "logit100"), X, y)
    p = b.predict(far)
    assert np.all((p >= 0) & (p <= 100)) and p[0] > 99 and p[1] < 1
    assert transform_of(b) == "logit100" and base_pipeline(b) is b.regressor_
    d = refit_like(bounded_regressor(make_pipeline("SVR", C=20.0, kernel="linear"), "log"), X, 1 + y)
    assert d.predict(np.array([[-50.0, 0.0]]))[0] > 0
    np.testing.assert_allclose(inverse(forward([0.0, 37.5, 100.0], "logit100"), "logit100"), [0, 37.5, 100], atol=1e-9)
    with pytest.raises(ValidationError, match="target transform"):
        forward([1.0], "sqrt")


def test_select_model_with_transform_scores_in_original_units():
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 1, (30, 3))
    y = 10 + 20 * X[:, 0]
    grids = {"RF": {"n_estimators": [10], "max_depth": [None]}, "SVR": {"kernel": ["rbf"], "C": [1.0]}}
    r = select_model(X, y, grids=grids, models=("RF", "SVR"), target_transform="log")
    assert set(r.best_params) == set(grids[r.best_name])                     # prefixes removed
    assert r.table["cv_MSE"].min() < np.var(y)                               # MSE in µm², not log units
    assert transform_of(r.best_pipeline) == "log"


def test_ensemble_scores_real_rows_only_and_conformal_coverage():
    rng = np.random.default_rng(2)
    n, m = 60, 20
    X = rng.uniform(-1, 1, (n + m, 2))
    y = 3 * X[:, 0] + rng.normal(0, 0.5, n + m)
    y[n:] += 25.0                                                           # absurd "synthetic" rows
    ens = EnsembleRegressor(make_pipeline("RF", n_estimators=20), "mccv", 20, 0.8, 0).fit(
        X, y, score_rows=np.arange(n))
    assert np.isnan(ens.oob_pred_[n:]).all() and np.isfinite(ens.oob_pred_[:n]).sum() > 0.9 * n
    clean = EnsembleRegressor(make_pipeline("RF", n_estimators=20), "mccv", 20, 0.8, 0).fit(X[:n], y[:n])
    ci = ConformalInterval(0.95).fit(y[:n], clean.oob_pred_)
    Xt = rng.uniform(-1, 1, (400, 2))
    yt = 3 * Xt[:, 0] + rng.normal(0, 0.5, 400)
    cov = ci.covers(clean.predict(Xt), yt).mean()
    assert 0.88 <= cov <= 0.995 and ci.finite_sample_ok_
    assert np.all(ci.half_width(clean.predict(Xt)) < 2.5)                    # not inflated (σ = 0.5 + model error)
    scores = np.abs(y[:n] - clean.oob_pred_)
    emp = ConformalInterval(0.95, finite_sample=False).fit(y[:n], clean.oob_pred_)
    assert np.isclose(emp.q_, np.quantile(scores[np.isfinite(scores)], 0.95)) and emp.q_ <= ci.q_
    pc = ConformalInterval(0.95, "logit100", (0.0, 100.0)).fit([10, 50, 90, 99], [12, 40, 95, 97])
    lo, hi = pc.interval([99.0, 1.0])
    assert hi.max() <= 100 and lo.min() >= 0 and not pc.finite_sample_ok_
    with pytest.raises(ValidationError, match="level"):
        ConformalInterval(1.5)


def test_applicability_domain_threshold_range_and_ellipsoid():
    rng = np.random.default_rng(3)
    X = rng.normal(0, 1, (50, 3))
    X[:25, 2] = 0.0                                                          # padded entries
    X[25:, 2] = rng.uniform(10, 20, 25)
    d = ApplicabilityDomain(k=1, quantile=0.95, pad_value=0.0).fit(X)
    assert np.isclose(d.threshold_, np.quantile(d.loo_distances_, 0.95))
    assert d.lower_[2] >= 10 and d.upper_[2] <= 20                          # range of active entries only
    assert d.contains(X).all() and np.mean(d.loo_distances_ <= d.threshold_) >= 0.94
    far = np.array([[8.0, 8.0, 15.0], [0.0, 0.0, 25.0], [0.0, 0.0, 0.0]])
    G = d.constraint(far)
    assert G.shape == (3, 2) and G[0, 1] > 0 and G[1, 0] > 0 and G[2, 0] < 0   # pad value passes the range test
    assert d.distance(far[:1])[0] > 1 and not d.contains(far[:2]).any()
    mu, P, r2 = d.mahalanobis()
    q = np.einsum("ij,jk,ik->i", X - mu, P, X - mu)
    assert np.mean(q <= r2 + 1e-9) >= 0.9 and np.all(np.linalg.eigvalsh(P) > 0)
    with pytest.raises(ValidationError, match="rows"):
        ApplicabilityDomain(k=3).fit(X[:4])
