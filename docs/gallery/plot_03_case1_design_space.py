"""
A design-space map of case 1
============================

The design space is the region of process parameters θp where the CQAs hold with
probability at least p_c = 0.85 over θm ~ N(θ̄m, Σ).  flexspace computes it by the three
algorithms of the design-space paper (see :doc:`/guide/designspace`):

1. a Monte Carlo map — the probability at each grid point, the same θm samples everywhere;
2. a flexibility-index map — at each grid point, the probability of the largest
   uncertainty set inside which every CQA holds (a conservative estimate, proven by a
   global solver);
3. a rectangle in θp found by bisection with the extended flexibility test (Eq. 28–36).

To keep this page fast the grid is a coarse 5 × 5 (the paper's is 11 × 21), and the
reduced-space form of case 1 is used, which MAiNGO solves quickly everywhere.
"""

# %%
# Algorithm 1: Monte Carlo
# ------------------------
import matplotlib.pyplot as plt

from flexspace import flexibility_index_map, flexibility_test_region, monte_carlo_map
from flexspace.models.cases import case1

model = case1.model(formulation="reduced")
grid = (5, 5)  # points per θp axis over the model's theta_p_bounds

mc = monte_carlo_map(model, grid, n_samples=2000, random_state=0, progress=False)
print(mc.summary(0.85))

# %%
# Algorithm 2: flexibility-index map
# ----------------------------------
# One global flexibility index per grid point (``workers=2`` would solve on two processes;
# ``out="fi.jsonl"`` would checkpoint each finished point, see :doc:`/guide/checkpoints`).
fi = flexibility_index_map(model, grid, uncertainty_set="ellipsoid", solver="maingo", progress=False)
print(fi.status_counts)
fi.table[["R_BA", "tau", "delta", "probability", "status", "worst_constraint"]].head(10)

# %%
# Algorithm 3: the largest rectangle around the nominal point
# -----------------------------------------------------------
# Each step is an extended flexibility test over (θp, θm); a step counts as feasible only
# when it is proven.
box = flexibility_test_region(model, confidence=0.85, uncertainty_set="ellipsoid", solver="maingo")
print(box)

# %%
# The figure
# ----------
# :meth:`DesignSpaceMap.plot <flexspace.designspace.DesignSpaceMap.plot>` draws the
# probability over the grid, the white p_c contour, the Algorithm 3 rectangle (dashed) and
# other maps' contours (dotted).  It draws on the axes it is given (or on a new
# ``matplotlib.figure.Figure``, without touching pyplot).
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
mc.plot(ax=axes[0], confidence=0.85, rectangles=[box], overlays=[fi])
fi.plot(ax=axes[1], confidence=0.85, rectangles=[box], overlays=[mc])
fig.tight_layout()

# %%
# Which grid points are in the design space (rows: R_BA, columns: τ); the flexibility
# index map is the more conservative of the two:
print("Monte Carlo:\n", mc.region(0.85).astype(int))
print("flexibility index (ellipsoid):\n", fi.region(0.85).astype(int))
