"""Bounded target scales: predictions that cannot leave the physical range.

A regressor fitted on a raw percentage can predict 128 % (gradient boosting and SVR
extrapolate); one fitted on a raw size can predict a negative size.  :func:`bounded_regressor`
wraps a plain scikit-learn pipeline in :class:`sklearn.compose.TransformedTargetRegressor`
so that it is fitted on a transformed target ``z = g(y)`` and predicts ``g⁻¹(ẑ)``:

* ``"log"``: ``g(y) = log(y)`` — strictly positive quantities (e.g. a median size);
* ``"logit100"``: ``g(y) = logit((y + δ) / (100 + 2δ))`` — percentages in ``[0, 100]``;
  ``δ = PERCENT_MARGIN`` keeps ``g`` finite at exactly 0 or 100 % (measurements clipped to
  the range), and ``g⁻¹`` maps every real number into ``(−δ, 100 + δ)`` which
  :func:`inverse` clips to ``[0, 100]``;
* ``None`` / ``"identity"``: no transform.

The wrapper is a standard scikit-learn estimator (picklable, ``fit(X, y,
model__sample_weight=w)`` passes the weights to the pipeline's ``model`` step), so the
ensembles, weighted ERM and ``joblib`` files work unchanged.  :func:`base_pipeline` gives the
inner pipeline (e.g. to embed it, in the transformed scale).
"""
from __future__ import annotations

import numpy as np
from sklearn.compose import TransformedTargetRegressor

from ..errors import ValidationError

__all__ = ["TRANSFORMS", "PERCENT_MARGIN", "forward", "inverse", "bounded_regressor", "base_pipeline",
           "transform_of", "physical_bounds"]

#: Margin δ of the ``logit100`` scale in percentage points (assumed: 0.5 points, well below
#: the crystallization paper's Table-3 measurement SDs of 6.7–12.7 points, so the stretch near 0/100 % stays
#: bounded: ``g(100) = logit(100.5/101) ≈ 5.3``).
PERCENT_MARGIN = 0.5
TRANSFORMS = (None, "identity", "log", "logit100")
#: Smallest value accepted on the log scale (positive quantities measured as 0 are clipped here).
LOG_FLOOR = 1e-6


def _check(name):
    if name not in TRANSFORMS:
        raise ValidationError(f"target transform must be one of {list(TRANSFORMS)}, got {name!r}")
    return None if name == "identity" else name


def forward(y, name):
    """``g(y)`` of the scale ``name`` (see module docstring)."""
    name = _check(name)
    y = np.asarray(y, float)
    if name == "log":
        return np.log(np.maximum(y, LOG_FLOOR))
    if name == "logit100":
        d = PERCENT_MARGIN
        p = (np.clip(y, 0.0, 100.0) + d) / (100.0 + 2 * d)
        return np.log(p / (1.0 - p))
    return y


def inverse(z, name):
    """``g⁻¹(z)``: always inside the physical range of the scale."""
    name = _check(name)
    z = np.asarray(z, float)
    if name == "log":
        return np.exp(np.clip(z, -700, 700))
    if name == "logit100":
        d = PERCENT_MARGIN
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -700, 700)))
        return np.clip(p * (100.0 + 2 * d) - d, 0.0, 100.0)
    return z


def physical_bounds(name) -> tuple[float, float]:
    """Range every prediction on scale ``name`` lies in."""
    name = _check(name)
    return {"log": (0.0, np.inf), "logit100": (0.0, 100.0)}.get(name, (-np.inf, np.inf))


# module-level (picklable) functions for TransformedTargetRegressor
def _log_f(y):
    return forward(y, "log")


def _log_i(z):
    return inverse(z, "log")


def _logit_f(y):
    return forward(y, "logit100")


def _logit_i(z):
    return inverse(z, "logit100")


_FUNCS = {"log": (_log_f, _log_i), "logit100": (_logit_f, _logit_i)}


def bounded_regressor(pipeline, transform):
    """``pipeline`` fitted on ``g(y)``, predicting ``g⁻¹(ẑ)`` (``pipeline`` itself when
    ``transform`` is None/"identity")."""
    name = _check(transform)
    if name is None:
        return pipeline
    f, fi = _FUNCS[name]
    return TransformedTargetRegressor(regressor=pipeline, func=f, inverse_func=fi, check_inverse=False)


def base_pipeline(estimator):
    """The inner (fitted, when available) pipeline of a :func:`bounded_regressor`."""
    if isinstance(estimator, TransformedTargetRegressor):
        return getattr(estimator, "regressor_", estimator.regressor)
    return estimator


def transform_of(estimator):
    """Name of the target scale of ``estimator`` (None for a plain pipeline)."""
    if isinstance(estimator, TransformedTargetRegressor):
        for name, (f, _) in _FUNCS.items():
            if estimator.func is f:
                return name
    return None
