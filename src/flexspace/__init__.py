"""flexspace: probabilistic design spaces of pharmaceutical processes by flexibility analysis.

Main entry points::

    import flexspace
    from flexspace.models.cases import case1
    model = case1.model()          # or flexspace.ProcessModel(your_pyomo_model, ...)
    r = flexspace.flexibility_index(model, theta_p=[4.6, 500], uncertainty_set="ellipsoid", solver="maingo")
    print(r)
"""
from .formulations import (
    BoxSet,
    BudgetSet,
    EllipsoidalSet,
    FlexibilityAnalysis,
    FlexibilityIndexResult,
    FlexibilityTestResult,
    PolyhedralSet,
    ResultStatus,
    UncertaintySet,
    extended_flexibility_test,
    flexibility_index,
    flexibility_test,
)
from .models import ProcessModel
from .options import SolveOptions
from .solvers import SolverStatus, available_solvers, get_solver
from .designspace import (  # noqa: E402  (Algorithms 1-3 and their results)
    Bisection,
    DesignSpaceMap,
    flexibility_index_map,
    flexibility_test_region,
    monte_carlo_map,
)

__version__ = "0.1.0"
__all__ = [
    "BoxSet", "EllipsoidalSet", "PolyhedralSet", "BudgetSet", "UncertaintySet", "ProcessModel", "FlexibilityAnalysis",
    "flexibility_index", "flexibility_test", "extended_flexibility_test",
    "FlexibilityIndexResult", "FlexibilityTestResult", "ResultStatus", "SolverStatus",
    "get_solver", "available_solvers", "SolveOptions", "monte_carlo_map", "flexibility_index_map",
    "flexibility_test_region", "Bisection", "DesignSpaceMap",
]
