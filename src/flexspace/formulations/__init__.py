"""Flexibility formulations (seed Eq. 1–36): uncertainty sets, flexibility test and index."""
from .flexibility import (
    FlexibilityAnalysis,
    add_active_set_selection,
    add_flexibility_index,
    add_flexibility_test,
    add_uncertainty_set,
    extended_flexibility_test,
    flexibility_index,
    flexibility_test,
    make_set,
)
from .polyhedral import BudgetSet, PolyhedralSet
from .results import DomainStatus, FlexibilityIndexResult, FlexibilityTestResult, Method, ResultStatus, SubproblemResult
from .sets import BoxSet, EllipsoidalSet, SetHandle, SetKind, UncertaintySet, validate_covariance

__all__ = [
    "BoxSet", "EllipsoidalSet", "UncertaintySet", "SetKind", "SetHandle", "Method", "validate_covariance",
    "PolyhedralSet", "BudgetSet",
    "FlexibilityAnalysis",
    "flexibility_index", "flexibility_test", "extended_flexibility_test", "make_set",
    "add_uncertainty_set", "add_active_set_selection", "add_flexibility_test", "add_flexibility_index",
    "FlexibilityIndexResult", "FlexibilityTestResult", "ResultStatus", "DomainStatus", "SubproblemResult",
]
