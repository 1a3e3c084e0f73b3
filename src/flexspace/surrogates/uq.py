"""Ensemble uncertainty quantification (crystallization paper, Step 5, Fig. 4).

:class:`EnsembleRegressor` wraps any scikit-learn regressor (typically the selected
``StandardScaler`` + model pipeline) and fits ``n_members`` clones on resampled training
rows:

* ``method="mccv"`` — Monte-Carlo cross-validation: each member sees a random subset of
  ``train_fraction`` of the rows (without replacement); every row's out-of-sample
  prediction is the mean of the members that did not see it (``oob_pred_``), and
  ``mccv_mse_`` is the MSE of these predictions — on the ``score_rows`` of ``fit`` only
  (the real rows when synthetic rows are mixed in), the residuals that
  :class:`~.conformal.ConformalInterval` calibrates on;
* ``method="bootstrap"`` — rows drawn with replacement; rows a member did not see are its
  out-of-bag rows (``oob_mse_``).

For random forests, :func:`forest_tree_std` gives the spread over the trees of one fitted
forest (the "out-of-bag/trees" estimate that the model allows without refitting).

Every prediction returns the ensemble mean and standard deviation
(``predict(X, return_std=True)``).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone

from ..errors import InputTypeError, ValidationError


class EnsembleRegressor(BaseEstimator, RegressorMixin):
    """Resampling ensemble giving mean ± standard deviation predictions."""

    def __init__(self, estimator=None, method: str = "mccv", n_members: int = 30, train_fraction: float = 0.8,
                 random_state=None):
        self.estimator = estimator
        self.method = method
        self.n_members = n_members
        self.train_fraction = train_fraction
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None, score_rows=None):
        """Fit the members.  ``score_rows`` (boolean mask or indices, default all rows):
        the rows on which the out-of-sample errors are measured — pass the real rows when
        ``X, y`` also hold synthetic rows, so that ``mccv_mse_``/``oob_mse_`` and the
        out-of-sample predictions ``oob_pred_`` are about real data only.

        After fitting: ``oob_pred_[i]`` = mean prediction for row ``i`` of the members that
        did not see it (NaN if every member saw it or it is not a scored row)."""
        if self.method not in ("mccv", "bootstrap"):
            raise ValidationError(f"method must be 'mccv' or 'bootstrap', got {self.method!r}")
        if self.estimator is None:
            raise ValidationError("EnsembleRegressor needs an estimator (e.g. the selected pipeline)")
        X, y = np.asarray(X, float), np.asarray(y, float)
        n = len(y)
        scored = np.ones(n, bool)
        if score_rows is not None:
            scored = np.zeros(n, bool)
            scored[np.asarray(score_rows)] = True
        rng = np.random.default_rng(self.random_state)
        self.members_, oob_sum, oob_cnt = [], np.zeros(n), np.zeros(n)
        n_tr = max(2, int(round(self.train_fraction * n)))
        for _ in range(self.n_members):
            idx = rng.choice(n, size=n if self.method == "bootstrap" else n_tr,
                             replace=self.method == "bootstrap")
            est = clone(self.estimator)
            if sample_weight is None:
                est.fit(X[idx], y[idx])
            else:
                est.fit(X[idx], y[idx], model__sample_weight=np.asarray(sample_weight, float)[idx])
            self.members_.append(est)
            out = np.setdiff1d(np.arange(n), idx)
            out = out[scored[out]]
            if len(out):
                oob_sum[out] += est.predict(X[out])
                oob_cnt[out] += 1
        seen = oob_cnt > 0
        self.oob_pred_ = np.where(seen, oob_sum / np.maximum(oob_cnt, 1), np.nan)
        self.oob_y_ = np.where(seen, y, np.nan)
        mse = float(np.mean((self.oob_pred_[seen] - y[seen]) ** 2)) if seen.any() else float("nan")
        self.oob_mse_ = mse
        self.mccv_mse_ = mse
        return self

    def predict(self, X, return_std: bool = False, total: bool = False):
        """Ensemble mean (and SD with ``return_std``).  The SD is the spread of the members
        (model/epistemic uncertainty); ``total=True`` adds the out-of-sample residual
        variance (``oob_mse_``) in quadrature — a predictive SD for a new measurement."""
        P = np.array([m.predict(np.asarray(X, float)) for m in self.members_])
        mean = P.mean(axis=0)
        if return_std:
            sd = P.std(axis=0, ddof=1) if len(P) > 1 else np.zeros_like(mean)
            if total:
                sd = np.sqrt(sd ** 2 + (self.oob_mse_ if np.isfinite(self.oob_mse_) else 0.0))
            return mean, sd
        return mean


def forest_tree_std(pipeline, X) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SD over the trees of a fitted ``StandardScaler`` + RandomForest pipeline."""
    forest = pipeline[-1]
    if not hasattr(forest, "estimators_"):
        raise InputTypeError("forest_tree_std needs a fitted forest as the last pipeline step")
    Xs = pipeline[:-1].transform(np.asarray(X, float))
    P = np.array([t.predict(Xs) for t in forest.estimators_])
    return P.mean(axis=0), P.std(axis=0, ddof=1)
