"""Conformal prediction intervals from the out-of-sample predictions of a resampling ensemble.

The spread of an ensemble (:class:`~.uq.EnsembleRegressor`) is epistemic only and is
typically far too small for a new *measurement* (measured on the crystallization workflow:
MCCV σ of D50 ≈ 0.8 µm against a 6.3 µm validation error).  :class:`ConformalInterval`
calibrates the interval on the ensemble's own out-of-sample residuals instead — the
"jackknife+-after-bootstrap" / CV+ idea (Barber, Candès, Ramdas & Tibshirani, Ann. Statist.
49 (2021) 486; Kim, Xu & Barber, NeurIPS 2020): every real row ``i`` has an out-of-sample prediction ``μ₋ᵢ`` (mean of
the members that did not see it, ``EnsembleRegressor.oob_pred_``), the conformity score is

    sᵢ = |g(yᵢ) − g(μ₋ᵢ)|

on a score scale ``g`` of :mod:`.targets` (e.g. log for sizes: a relative interval), and the
``(1 − a)`` interval at a new point is

    [g⁻¹(g(μ(x)) − q),  g⁻¹(g(μ(x)) + q)] ∩ bounds,   q = ⌈(n + 1)(1 − a)⌉-th smallest sᵢ.

``bounds`` clips the interval to the physical range (a crystallinity interval never passes
100 %; clipping only removes impossible values, so coverage is unchanged).  A logit score
scale is available but stretches the interval of a mid-range prediction by the residuals
seen near 0 or 100 %, so percentages are better scored in their own units and clipped.  Only
real rows are scored (``score_rows`` of the ensemble's fit): synthetic rows say nothing
about the error of a new experiment.

``finite_sample=True`` uses the rank ``⌈(n + 1)(1 − a)⌉`` above, which guarantees coverage
≥ 1 − a for exchangeable data; with fewer than ``1/a − 1`` scores that rank is past the end,
the quantile is the largest score and ``finite_sample_ok_`` is False.  Note that for
``a = 0.05`` and n ≤ 38 the rank is n itself: the interval is set by the single largest
residual.  ``finite_sample=False`` uses the empirical ``1 − a`` quantile (linear
interpolation), whose coverage is ≥ 1 − a − 1/(n + 1) (e.g. ≥ 92 % for n = 35) — the price of
not letting one outlier set the width.
"""
from __future__ import annotations

import numpy as np

from ..errors import ValidationError
from .targets import forward, inverse

__all__ = ["ConformalInterval"]


class ConformalInterval:
    """Split-conformal / CV+ interval on a bounded target scale.

    Parameters
    ----------
    level : coverage of the interval (default 0.95, a 95 % interval)
    transform : scale of the scores (:mod:`.targets`: ``None``, ``"log"``, ``"logit100"``)
    bounds : ``(lo, hi)`` the interval is clipped to (the physical range), default none
    finite_sample : rank ``⌈(n + 1) level⌉`` (guaranteed coverage) or the empirical quantile
        (module docstring)
    """

    def __init__(self, level: float = 0.95, transform=None, bounds=(-np.inf, np.inf), finite_sample: bool = True):
        if not 0.0 < level < 1.0:
            raise ValidationError(f"level must be in (0, 1), got {level!r} (e.g. 0.95)")
        self.level = float(level)
        self.transform = transform
        self.bounds = (float(bounds[0]), float(bounds[1]))
        self.finite_sample = bool(finite_sample)

    def fit(self, y, oob_pred):
        """Calibrate on measured ``y`` and out-of-sample predictions (NaN rows are skipped)."""
        y, p = np.asarray(y, float), np.asarray(oob_pred, float)
        if y.shape != p.shape:
            raise ValidationError(f"y and oob_pred must have the same shape, got {y.shape} and {p.shape}")
        ok = np.isfinite(y) & np.isfinite(p)
        if ok.sum() < 2:
            raise ValidationError(f"conformal calibration needs ≥ 2 out-of-sample residuals, got {int(ok.sum())}")
        s = np.sort(np.abs(forward(y[ok], self.transform) - forward(p[ok], self.transform)))
        n = len(s)
        k = int(np.ceil((n + 1) * self.level))
        self.finite_sample_ok_ = k <= n
        self.q_ = float(s[min(k, n) - 1]) if self.finite_sample else float(np.quantile(s, self.level))
        self.n_calibration_ = n
        self.scores_ = s
        return self

    def interval(self, mean):
        """``(lower, upper)`` arrays around the point predictions ``mean``."""
        z = forward(np.asarray(mean, float), self.transform)
        lo, hi = self.bounds
        return (np.clip(inverse(z - self.q_, self.transform), lo, hi),
                np.clip(inverse(z + self.q_, self.transform), lo, hi))

    def half_width(self, mean):
        """Half the interval length at ``mean`` (original units)."""
        lo, hi = self.interval(mean)
        return 0.5 * (hi - lo)

    def covers(self, mean, y):
        """Boolean per point: ``y`` inside the interval around ``mean``."""
        lo, hi = self.interval(mean)
        y = np.asarray(y, float)
        return (y >= lo) & (y <= hi)
