"""Applicability domain of a data-driven model: where its predictions may be trusted.

A surrogate fitted on a few dozen runs is only evidence near those runs; an optimiser left
alone walks to the corners where the model extrapolates (measured: 68–82 % of the Pareto
points used trough temperatures colder than any training run).
:class:`ApplicabilityDomain` combines two tests on the model inputs:

1. **Per-feature range**: every feature within ``[min, max]`` of the training inputs
   (entries equal to ``pad_value`` — e.g. 0 for "no such stage" in a zero-padded encoding —
   are ignored both when fitting the range and when checking a point).
2. **Nearest-neighbour distance** in the standardised input space (z-scores with the
   training mean and SD): ``d(x)`` = mean Euclidean distance to the ``k`` nearest training
   rows.  The threshold is calibrated on the training data itself: the ``quantile`` (default
   95 %) of the leave-one-out distances ``d₋ᵢ(xᵢ)`` — a candidate is accepted when it is at
   least as close to the data as 95 % of the training runs are to the others.  This is the
   usual k-NN applicability domain of QSAR models (Sahigara et al., Molecules 17 (2012)
   4791) with the threshold set by the data rather than by a fixed constant; k-NN is
   preferred over a Mahalanobis distance to the centroid because DoE data are not
   elliptical (several profile families; a centroid test would accept the empty middle
   between them), and it needs no covariance inverse of 13 features from ~30 rows.

:meth:`ApplicabilityDomain.mahalanobis` also provides a convex ellipsoid (shrinkage
covariance, radius = the same quantile of the training rows' squared distances) for
mathematical-programming formulations, where a k-NN test would need binaries.

``distance(X)`` is reported relative to the threshold (``≤ 1`` = inside); ``constraint(X)``
returns ``G ≤ 0`` columns (range violation, distance − 1) for an optimiser.
"""
from __future__ import annotations

import numpy as np

from ..errors import ValidationError
from ..validation import as_array

__all__ = ["ApplicabilityDomain"]


class ApplicabilityDomain:
    """k-NN + per-feature-range applicability domain.

    Parameters
    ----------
    k : neighbours in the distance (default 1: the nearest training run, the most
        permissive choice that still refuses empty regions for sparse DoEs)
    quantile : quantile of the leave-one-out distances used as the threshold (default 0.95)
    pad_value : feature value meaning "not present" (ignored by the range test), or None
    range_margin : fraction of each feature's span added on both sides of its range
        (default 0: no extrapolation beyond the runs)
    """

    def __init__(self, k: int = 1, quantile: float = 0.95, pad_value=None, range_margin: float = 0.0):
        if not (isinstance(k, int) and k >= 1):
            raise ValidationError(f"k must be an int >= 1, got {k!r}")
        if not 0.0 < quantile <= 1.0:
            raise ValidationError(f"quantile must be in (0, 1], got {quantile!r} (e.g. 0.95)")
        if range_margin < 0:
            raise ValidationError(f"range_margin must be >= 0, got {range_margin!r}")
        self.k, self.quantile, self.pad_value, self.range_margin = k, float(quantile), pad_value, float(range_margin)

    def fit(self, X):
        X = as_array("X", X)
        if X.ndim != 2 or len(X) < self.k + 2:
            raise ValidationError(f"X must be 2-D with at least k + 2 = {self.k + 2} rows, got shape {X.shape}")
        self.X_ = X.copy()
        self.mean_ = X.mean(axis=0)
        sd = X.std(axis=0)
        self.scale_ = np.where(sd > 0, sd, 1.0)
        Z = self._z(X)
        D = np.sqrt(((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1))
        np.fill_diagonal(D, np.inf)
        self.loo_distances_ = np.sort(D, axis=1)[:, : self.k].mean(axis=1)
        self.threshold_ = float(np.quantile(self.loo_distances_, self.quantile))
        M = np.ma.masked_equal(X, self.pad_value) if self.pad_value is not None else np.ma.asarray(X)
        lo, hi = M.min(axis=0).filled(np.nan), M.max(axis=0).filled(np.nan)
        span = np.where(np.isfinite(hi - lo), hi - lo, 0.0)
        self.lower_, self.upper_ = lo - self.range_margin * span, hi + self.range_margin * span
        return self

    def _z(self, X):
        return (np.asarray(X, float) - self.mean_) / self.scale_

    def raw_distance(self, X) -> np.ndarray:
        """Mean distance to the ``k`` nearest training rows (standardised units)."""
        Z = self._z(np.atleast_2d(X))
        D = np.sqrt(((Z[:, None, :] - self._z(self.X_)[None, :, :]) ** 2).sum(-1))
        return np.sort(D, axis=1)[:, : self.k].mean(axis=1)

    def distance(self, X) -> np.ndarray:
        """Distance relative to the threshold (``≤ 1``: inside)."""
        return self.raw_distance(X) / max(self.threshold_, 1e-12)

    def range_violation(self, X) -> np.ndarray:
        """Largest violation of a feature range, in units of that feature's training SD (≤ 0 inside)."""
        X = np.atleast_2d(np.asarray(X, float))
        lo = np.where(np.isfinite(self.lower_), self.lower_, -np.inf)
        hi = np.where(np.isfinite(self.upper_), self.upper_, np.inf)
        v = np.maximum(lo - X, X - hi) / self.scale_
        if self.pad_value is not None:
            v = np.where(X == self.pad_value, -np.inf, v)
        return np.max(v, axis=1)

    def constraint(self, X) -> np.ndarray:
        """``G ≤ 0`` columns ``[range violation, distance − 1]`` for an optimiser."""
        return np.column_stack([self.range_violation(X), self.distance(X) - 1.0])

    def contains(self, X) -> np.ndarray:
        """Boolean per row: inside both tests."""
        return np.all(self.constraint(X) <= 1e-9, axis=1)

    def mahalanobis(self, shrinkage: float = 0.1):
        """``(mean, P, r²)`` of the convex ellipsoid ``(x − mean)ᵀ P (x − mean) ≤ r²``.

        ``P`` = inverse of the shrunk covariance ``(1 − λ) S + λ diag(S)`` of the training
        inputs (λ = ``shrinkage``; default 0.1, assumed — enough to make ``S`` of 13 features
        from ~30 rows invertible); ``r²`` = the ``quantile`` of the training rows' squared
        distances."""
        S = np.cov(self.X_, rowvar=False)
        S = (1 - shrinkage) * S + shrinkage * np.diag(np.where(np.diag(S) > 0, np.diag(S), 1.0))
        P = np.linalg.pinv(S)
        d = self.X_ - self.mean_
        r2 = float(np.quantile(np.einsum("ij,jk,ik->i", d, P, d), self.quantile))
        return self.mean_.copy(), P, r2
