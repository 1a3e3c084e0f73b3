"""Design spaces on a θp grid and in θp rectangles: the seed's three algorithms.

* :func:`monte_carlo_map` — Algorithm 1 (Monte Carlo probability map);
* :func:`flexibility_index_map` — Algorithm 2 (flexibility index in θm per grid point);
* :func:`flexibility_test_region` — Algorithm 3 (bisection on the θp rectangle with the
  extended flexibility test), plus moving the nominal point and covering the region
  with several rectangles;
* :func:`adaptive_flexibility_index_map`, :func:`adaptive_monte_carlo_map` — the same maps
  solved on a coarse lattice and refined only where the region can change (:mod:`.adaptive`);
* :func:`chebyshev_centre` — the map point around which Algorithm 3's rectangle can grow
  most (its nominal point with ``theta_p_nominal=map``; :mod:`.centre`);
* :class:`DesignSpaceMap` — the maps' result object (table, CSV, region, plot);
* :func:`limiting_cqa`, :func:`rank_cqas` — which CQA limits the design space where, and
  which one to relax (:mod:`.limits`; layer: :func:`plot_limiting_cqa`);
* :mod:`.plotting` — figures on a ``matplotlib.figure.Figure`` (no backend change).

Grid drivers run serially, on any ``concurrent.futures.Executor`` (process pool, Dask
``Client.get_executor()``), and checkpoint/resume with ``out=path``.
"""
from .adaptive import adaptive_flexibility_index_map, adaptive_monte_carlo_map
from .centre import MapCentre, chebyshev_centre
from .checkpoint import CheckpointFile, CheckpointLockedError, CheckpointMismatchError, CheckpointWarning
from .limits import cqa_scales, limiting_cqa, rank_cqas
from .maps import flexibility_index_map, make_grid, monte_carlo_map
from .plotting import design_space_figure, plot_design_space, plot_limiting_cqa
from .region import (Bisection, BracketError, FlexTestRegion, NominalInfeasibleError, Rectangle, StepStatus,
                     flexibility_test_region)
from .results import DesignSpaceMap

__all__ = ["monte_carlo_map", "flexibility_index_map", "flexibility_test_region", "Bisection", "DesignSpaceMap",
           "FlexTestRegion", "Rectangle", "StepStatus", "BracketError", "NominalInfeasibleError",
           "CheckpointMismatchError", "CheckpointFile", "CheckpointLockedError",
           "CheckpointWarning", "make_grid", "plot_design_space", "design_space_figure",
           "limiting_cqa", "rank_cqas", "cqa_scales", "plot_limiting_cqa",
           "adaptive_flexibility_index_map", "adaptive_monte_carlo_map", "chebyshev_centre", "MapCentre"]
