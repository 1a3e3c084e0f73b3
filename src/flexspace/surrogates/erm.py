"""Weighted expected-risk minimisation with synthetic data (crystallization paper, Eq. 1, Step 7, Fig. 5).

Crystallization paper, Eq. 1 (Jain, Montanari & Sasoglu, arXiv:2402.04376):

    L_{n,m}(θ; α) = (1 − α)/n Σ_{i≤n} L(θ, z_i) + α/m Σ_{i≤m} L(θ, z_i^s)

i.e. sample weights ``(1 − α)/n`` on the ``n`` real rows and ``α/m`` on the ``m``
synthetic rows.  :func:`erm_weights` returns these weights multiplied by ``n`` (the
minimiser of Eq. 1 is unchanged; for estimators whose regularisation is not scale-free,
e.g. SVR's ``C``, this makes ``α = 0`` reproduce the unweighted real-data fit exactly).

:func:`erm_search` chooses the generator, ``m ∈ {5, 10, 15, 20, 25}`` and ``α`` on a grid
by K-fold validation loss on **real rows only**: in every fold the generators are fitted
on the fold's real training rows (no leakage of validation rows into synthetic data), ``m``
synthetic rows are added with Eq.-1 weights, and the MSE is measured on the fold's real
validation rows.  ``α = 0`` is the real-data-only baseline.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from ..errors import ValidationError
from .selection import refit_like

M_VALUES = (5, 10, 15, 20, 25)
ALPHAS = tuple(np.round(np.linspace(0.0, 0.9, 10), 2))


def erm_weights(n: int, m: int, alpha: float) -> np.ndarray:
    """Eq.-1 sample weights ``[(1−α)/n]*n + [α/m]*m``, scaled by ``n``."""
    if not 0.0 <= alpha < 1.0:
        raise ValidationError(f"alpha must be in [0, 1), got {alpha}")
    syn = np.full(m, alpha / m if m else 0.0)
    return n * np.concatenate([np.full(n, (1.0 - alpha) / n), syn])


@dataclass
class ERMResult:
    """Validation-loss surface and the selected configuration."""

    curves: pd.DataFrame            # columns: generator, m, alpha, val_MSE (fold mean), val_MSE_sd (fold sd)
    best: dict                      # generator, m, alpha, val_MSE
    baseline_val_MSE: float         # α = 0 (real rows only)
    pipeline: object = None         # refitted weighted model (best configuration)
    synthetic: tuple = field(default=None, repr=False)  # (X_syn, y_syn) used for the refit


def fit_weighted(pipeline, X, y, X_syn, y_syn, alpha: float):
    """Refit a clone of ``pipeline`` on real + synthetic rows with Eq.-1 weights."""
    n, m = len(y), len(y_syn)
    if m == 0 or alpha == 0:
        return refit_like(pipeline, X, y)
    return refit_like(pipeline, np.vstack([X, X_syn]), np.concatenate([y, y_syn]), erm_weights(n, m, alpha))


def erm_search(pipeline, X, y, generator_factories: dict, m_values=M_VALUES, alphas=ALPHAS, cv: int = 3,
               random_state=0) -> ERMResult:
    """Grid search over generator × m × α by K-fold validation MSE on real rows.

    ``generator_factories``: ``{name: callable(random_state) -> unfitted generator}``.
    The best configuration is refitted on all real rows (generator fitted on all of them).
    """
    X, y = np.asarray(X, float), np.asarray(y, float)
    rng = np.random.default_rng(random_state)
    folds = KFold(n_splits=min(cv, len(y)), shuffle=True, random_state=int(rng.integers(2**31)))
    m_max = max(m_values)
    records = []
    for f, (tr, va) in enumerate(folds.split(X)):
        base = refit_like(pipeline, X[tr], y[tr])
        base_mse = float(np.mean((base.predict(X[va]) - y[va]) ** 2))
        for gname, factory in generator_factories.items():
            gen = factory(int(rng.integers(2**31))).fit(X[tr], y[tr])
            Xs, ys = gen.sample(m_max, random_state=int(rng.integers(2**31)))
            for m in m_values:
                for a in alphas:
                    if a == 0:
                        mse = base_mse
                    else:
                        p = fit_weighted(pipeline, X[tr], y[tr], Xs[:m], ys[:m], a)
                        mse = float(np.mean((p.predict(X[va]) - y[va]) ** 2))
                    records.append((f, gname, m, float(a), mse))
    raw = pd.DataFrame(records, columns=["fold", "generator", "m", "alpha", "val_MSE"])
    grouped = raw.groupby(["generator", "m", "alpha"], as_index=False)["val_MSE"]
    curves = grouped.mean().merge(grouped.std(ddof=1).rename(columns={"val_MSE": "val_MSE_sd"}),
                                  on=["generator", "m", "alpha"])  # sd over the folds (NaN with one fold)
    i = curves["val_MSE"].idxmin()
    best = curves.loc[i].to_dict()
    baseline = float(curves.loc[curves["alpha"] == 0, "val_MSE"].iloc[0])
    # refit the chosen configuration on all real rows
    gname, m, a = best["generator"], int(best["m"]), float(best["alpha"])
    syn = (np.empty((0, X.shape[1])), np.empty(0))
    if a > 0:
        gen = generator_factories[gname](int(rng.integers(2**31))).fit(X, y)
        syn = gen.sample(m, random_state=int(rng.integers(2**31)))
    final = fit_weighted(pipeline, X, y, syn[0], syn[1], a)
    return ERMResult(curves, {"generator": gname, "m": m, "alpha": a, "val_MSE": float(best["val_MSE"])},
                     baseline, final, syn)
