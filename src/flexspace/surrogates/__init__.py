"""Data-driven surrogates (seed Steps 4–9): model selection, ensemble UQ, constrained
synthetic data, weighted ERM (Eq. 1) and NSGA-II design.

torch is optional: :mod:`flexspace.surrogates.deep` (GAN/VAE) imports it lazily; everything
else needs only numpy, scipy, pandas, scikit-learn, xgboost and pymoo.
"""
from .design import SurrogateDesignProblem, knee_point, run_nsga2
from .erm import ALPHAS, M_VALUES, ERMResult, erm_search, erm_weights, fit_weighted
from .selection import (MODEL_NAMES, REDUCED_GRIDS, SEED_GRIDS, SelectionResult, make_pipeline, refit_like,
                        regression_metrics, select_model)
from .synthetic import (ConstrainedGenerator, GaussianCopulaGenerator, IdentityTransform, TargetTransform,
                        make_generator, torch_available)
from .uq import EnsembleRegressor, forest_tree_std

__all__ = [
    "SurrogateDesignProblem", "knee_point", "run_nsga2", "ALPHAS", "M_VALUES", "ERMResult", "erm_search",
    "erm_weights", "fit_weighted", "MODEL_NAMES", "REDUCED_GRIDS", "SEED_GRIDS", "SelectionResult",
    "make_pipeline", "refit_like", "regression_metrics", "select_model", "ConstrainedGenerator",
    "GaussianCopulaGenerator", "IdentityTransform", "TargetTransform", "make_generator", "torch_available",
    "EnsembleRegressor", "forest_tree_std",
]
