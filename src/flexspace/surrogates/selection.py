"""ML model selection per CQA (crystallization paper, Step 4, §2.4).

RandomForest, GradientBoosting, SVR and XGBoost, each as a plain scikit-learn
``Pipeline([("scaler", StandardScaler()), ("model", estimator)])`` (kept plain so that
they can be embedded, e.g. through OMLT), tuned by ``GridSearchCV`` with K = 3
folds and MSE loss.  The best model has the lowest validation (CV) MSE; the hold-out R²
is reported next to it (crystallization paper: "lowest validation MSE and highest test R²").

Grids of the crystallization paper (§2.4): RF n_estimators 10–200, max_depth up to 30, min_samples_split
(2, 5, 10), min_samples_leaf (1, 2, 4); GBT n_estimators 10–200, learning_rate 0.01–0.2,
max_depth (3, 5, 7), subsample (0.5, 0.75, 1.0); XGBoost the same plus colsample_bytree
(0.3, 0.7, 1.0); SVR kernel (linear, poly, rbf, sigmoid), C 0.1–20.  The crystallization paper also lists
GBT ``alpha`` (0.1, 0.5, 0.9); in scikit-learn ``alpha`` only acts with the huber/quantile
losses, so with the MSE loss used here it would only triplicate identical fits and is
left out.  :data:`SEED_GRIDS` samples the crystallization paper's ranges; :data:`REDUCED_GRIDS` is a small
grid for tests and ``--quick``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

from ..errors import UnknownNameError

MODEL_NAMES = ("RF", "GBT", "SVR", "XGB")

#: The grids of the crystallization paper (§2.4; see the module docstring).
SEED_GRIDS: dict[str, dict[str, list]] = {
    "RF": {"n_estimators": [10, 50, 100, 200], "max_depth": [None, 10, 30],
           "min_samples_split": [2, 5, 10], "min_samples_leaf": [1, 2, 4]},
    "GBT": {"n_estimators": [10, 50, 100, 200], "learning_rate": [0.01, 0.1, 0.2],
            "max_depth": [3, 5, 7], "subsample": [0.5, 0.75, 1.0]},
    "XGB": {"n_estimators": [10, 100, 200], "learning_rate": [0.01, 0.1, 0.2],
            "max_depth": [3, 5, 7], "subsample": [0.5, 0.75, 1.0], "colsample_bytree": [0.3, 0.7, 1.0]},
    "SVR": {"kernel": ["linear", "poly", "rbf", "sigmoid"], "C": [0.1, 0.5, 1.0, 5.0, 10.0, 20.0]},
}
REDUCED_GRIDS: dict[str, dict[str, list]] = {
    "RF": {"n_estimators": [30], "max_depth": [None], "min_samples_leaf": [1, 2]},
    "GBT": {"n_estimators": [50], "learning_rate": [0.1], "max_depth": [3], "subsample": [0.75]},
    "XGB": {"n_estimators": [50], "learning_rate": [0.1], "max_depth": [3], "subsample": [0.75],
            "colsample_bytree": [0.7]},
    "SVR": {"kernel": ["rbf", "linear"], "C": [1.0, 20.0]},
}


def make_estimator(name: str, random_state=0):
    """Unfitted estimator ``name`` ∈ MODEL_NAMES with a fixed ``random_state``."""
    if name == "RF":
        return RandomForestRegressor(random_state=random_state, n_jobs=1)
    if name == "GBT":
        return GradientBoostingRegressor(random_state=random_state)
    if name == "SVR":
        return SVR()
    if name == "XGB":
        from xgboost import XGBRegressor

        return XGBRegressor(random_state=random_state, n_jobs=1, verbosity=0)
    raise UnknownNameError(f"unknown model {name!r}; choose from {MODEL_NAMES}")


def make_pipeline(name: str, random_state=0, **params) -> Pipeline:
    """``Pipeline([("scaler", StandardScaler()), ("model", estimator)])``."""
    est = make_estimator(name, random_state)
    if params:
        est.set_params(**params)
    return Pipeline([("scaler", StandardScaler()), ("model", est)])


@dataclass
class SelectionResult:
    """Outcome of :func:`select_model` for one CQA."""

    best_name: str
    best_pipeline: Pipeline
    table: pd.DataFrame
    searches: dict = field(default_factory=dict, repr=False)

    @property
    def best_params(self) -> dict:
        return dict(self.table.loc[self.best_name, "params"])


def regression_metrics(y_true, y_pred) -> dict[str, float]:
    """MSE, MAE and R² (R² is NaN for fewer than two points)."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    return {"MSE": float(mean_squared_error(y_true, y_pred)), "MAE": float(mean_absolute_error(y_true, y_pred)),
            "R2": float(r2_score(y_true, y_pred)) if len(y_true) > 1 else float("nan")}


def select_model(X, y, X_test=None, y_test=None, grids: dict | None = None, models=MODEL_NAMES, cv: int = 3,
                 random_state=0, n_jobs: int = 1, target_transform=None) -> SelectionResult:
    """Grid-search every model with K-fold CV (MSE) and pick the lowest CV MSE.

    Returns the refitted best pipeline (trained on all of ``X, y``) and a table with, per
    model, the best parameters, the CV (validation) MSE and — when a test set is given —
    the hold-out MSE, MAE and R².  ``target_transform`` (``"log"``, ``"logit100"``, see
    :mod:`.targets`) fits every candidate on the transformed target; the MSEs stay in the
    original units (predictions are transformed back before scoring).
    """
    from .targets import bounded_regressor

    grids = SEED_GRIDS if grids is None else grids
    X, y = np.asarray(X, float), np.asarray(y, float)
    folds = KFold(n_splits=min(cv, len(y)), shuffle=True, random_state=random_state)
    rows, searches = {}, {}
    prefix = "model__" if target_transform in (None, "identity") else "regressor__model__"
    for name in models:
        grid = {f"{prefix}{k}": v for k, v in grids[name].items()}
        est = bounded_regressor(make_pipeline(name, random_state), target_transform)
        gs = GridSearchCV(est, grid, cv=folds, scoring="neg_mean_squared_error",
                          n_jobs=n_jobs, refit=True, error_score=np.nan)
        gs.fit(X, y)
        searches[name] = gs
        row = {"cv_MSE": float(-gs.best_score_),
               "params": {k.removeprefix(prefix): v for k, v in gs.best_params_.items()}}
        if X_test is not None and len(y_test):
            m = regression_metrics(y_test, gs.best_estimator_.predict(np.asarray(X_test, float)))
            row.update({"holdout_MSE": m["MSE"], "holdout_MAE": m["MAE"], "holdout_R2": m["R2"]})
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    best = str(table["cv_MSE"].astype(float).idxmin())
    return SelectionResult(best, searches[best].best_estimator_, table, searches)


def refit_like(pipeline: Pipeline, X, y, sample_weight=None) -> Pipeline:
    """Clone ``pipeline`` and fit it, passing ``sample_weight`` to the final estimator."""
    p = clone(pipeline)
    if sample_weight is None:
        return p.fit(X, y)
    return p.fit(X, y, model__sample_weight=np.asarray(sample_weight, float))
