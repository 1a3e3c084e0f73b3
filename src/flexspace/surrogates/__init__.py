"""Data-driven surrogates (crystallization paper, Steps 4–9): model selection, ensemble UQ, constrained
synthetic data, weighted ERM (Eq. 1) and NSGA-II design; bounded target scales
(:mod:`.targets`), conformal prediction intervals (:mod:`.conformal`) and the
applicability domain of a model (:mod:`.domain`).

Needs the optional ``ml`` extra (scikit-learn, pymoo, OMLT, ONNX, xgboost-cpu:
``pip install "flexspace[ml]"``); importing this package without it raises
:class:`~flexspace.errors.MissingExtraError` naming that command.  torch is optional on top:
:mod:`flexspace.surrogates.deep` (GAN/VAE) imports it lazily (``flexspace[deep]``).
"""
from ..errors import require_extra

#: import names of the ``ml`` extra (pyproject.toml), checked before anything is imported
ML_MODULES = ("sklearn", "pymoo", "omlt", "onnx", "skl2onnx", "xgboost")
require_extra("ml", ML_MODULES, "flexspace.surrogates (and the crystallization workflow)")

from .conformal import ConformalInterval
from .nsga2 import SurrogateDesignProblem, knee_point, run_nsga2
from .applicability import ApplicabilityDomain
from .erm import ALPHAS, M_VALUES, ERMResult, erm_search, erm_weights, fit_weighted
from .selection import (MODEL_NAMES, REDUCED_GRIDS, SEED_GRIDS, SelectionResult, make_pipeline, refit_like,
                        regression_metrics, select_model)
from .synthetic import (ConstrainedGenerator, GaussianCopulaGenerator, IdentityTransform, TargetTransform,
                        make_generator, torch_available)
from .targets import base_pipeline, bounded_regressor
from .uq import EnsembleRegressor, forest_tree_std

__all__ = [
    "SurrogateDesignProblem", "knee_point", "run_nsga2", "ALPHAS", "M_VALUES", "ERMResult", "erm_search",
    "erm_weights", "fit_weighted", "MODEL_NAMES", "REDUCED_GRIDS", "SEED_GRIDS", "SelectionResult",
    "make_pipeline", "refit_like", "regression_metrics", "select_model", "ConstrainedGenerator",
    "GaussianCopulaGenerator", "IdentityTransform", "TargetTransform", "make_generator", "torch_available",
    "EnsembleRegressor", "forest_tree_std", "ConformalInterval", "ApplicabilityDomain", "bounded_regressor",
    "base_pipeline",
]
