"""Algorithm 3 with sign cut-offs (issue 14): the same rectangle as with full solves, every
accepted step proven, the convergence claim backed by a point and a bound."""
import numpy as np

from flexspace.designspace import flexibility_test_region
from flexspace.designspace.region import StepStatus
from flexspace.models.cases import case1

# case 1, ellipsoid, p_c 0.85, SCIP with full solves (cutoffs=False): benchmarks/results/case1.md
# (the same rectangle for ipopt, maingo and scip there)
FULL_LOWER = np.array([4.31933594, 429.83398438])
FULL_UPPER = np.array([5.25488281, 523.38867188])
FULL_DELTA_P = 0.4677734375


def test_case1_rectangle_unchanged_with_cutoffs():
    reg = flexibility_test_region(case1.model(), 0.85, uncertainty_set="ellipsoid", solver="scip",
                                  options={"time_limit": 30, "cutoffs": True})
    r = reg.rectangle
    assert r.converged and reg.n_failed == 0
    assert abs(r.delta_p - FULL_DELTA_P) < 2e-3
    np.testing.assert_allclose(r.lower, FULL_LOWER, rtol=2e-3)
    np.testing.assert_allclose(r.upper, FULL_UPPER, rtol=2e-3)
    # the converged step: χ found at a point inside the window, its proven bound ≤ 0
    last = [it for it in r.iterations if it.status == StepStatus.FEASIBLE and it.delta_p == r.delta_p][-1]
    assert last.chi_at_point and -reg.eps_tol <= last.chi <= 0
    assert last.chi_upper_bound is not None and last.chi_upper_bound <= 1e-9
    # every infeasible step proven by a point with g > 0; every feasible step by a bound ≤ 0
    for it in r.iterations:
        if it.status == StepStatus.INFEASIBLE:
            assert it.chi > 0 and it.chi_at_point
        elif it.status == StepStatus.FEASIBLE:
            assert it.chi_upper_bound is not None and it.chi_upper_bound <= 1e-9
