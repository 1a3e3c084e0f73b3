"""flexspace: probabilistic design spaces of pharmaceutical processes by flexibility analysis.

Main entry points::

    import flexspace
    model = flexspace.models.case1.model()          # or flexspace.ProcessModel(your_pyomo_model, ...)
    r = flexspace.flexibility_index(model, theta_p=[4.6, 500], uncertainty_set="ellipsoid", solver="maingo")
    print(r)
"""
import logging as _logging

from .formulations import (
    BoxSet,
    EllipsoidalSet,
    FlexibilityAnalysis,
    FlexibilityIndexResult,
    FlexibilityTestResult,
    ResultStatus,
    UncertaintySet,
    extended_flexibility_test,
    flexibility_index,
    flexibility_test,
)
from .models import ProcessModel
from .solvers import SolverStatus, available_solvers, get_solver

# Pyomo's appsi interfaces log a warning for every non-optimal termination; our results carry the status.
_logging.getLogger("pyomo.contrib.appsi").setLevel(_logging.ERROR)


class _DropOutOfBoundsLoad(_logging.Filter):
    """Solvers return values a hair outside variable bounds (within their feasibility
    tolerance); Pyomo's W1002 warning for loading them is noise for our users."""

    def filter(self, record):  # noqa: D401
        return getattr(record, "id", None) != "W1002"


_logging.getLogger("pyomo.core").addFilter(_DropOutOfBoundsLoad())

__version__ = "0.1.0"
__all__ = [
    "BoxSet", "EllipsoidalSet", "UncertaintySet", "ProcessModel", "FlexibilityAnalysis",
    "flexibility_index", "flexibility_test", "extended_flexibility_test",
    "FlexibilityIndexResult", "FlexibilityTestResult", "ResultStatus", "SolverStatus",
    "get_solver", "available_solvers",
]

# design-space drivers (issue 3): Algorithms 1-3, maps, checkpoints, executors
from .designspace import DesignSpaceMap, flexibility_index_map, flexibility_test_region, monte_carlo_map  # noqa: E402

__all__ += ["monte_carlo_map", "flexibility_index_map", "flexibility_test_region", "DesignSpaceMap"]
