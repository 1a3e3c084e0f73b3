"""Process models: the plug-in base class, θm and Σ from data (parmest), and the shipped
case studies."""
from .base import ModelInstance, NotSquareError, ProcessModel
from .estimation import EstimationError, ParameterEstimate, estimate_theta_m, process_model_from_parmest

__all__ = ["ProcessModel", "ModelInstance", "NotSquareError", "estimate_theta_m", "process_model_from_parmest",
           "ParameterEstimate", "EstimationError"]
