"""Algorithm 3's nominal point from a map: the centre maximising δp (analytic regions, case 1)."""
import itertools

import numpy as np
import pytest

from flexspace.designspace import DesignSpaceMap, flexibility_test_region
from flexspace.designspace.centre import chebyshev_centre, nominal_point
from flexspace.designspace.region import Bisection
from flexspace.errors import ValidationError

AXES = [np.linspace(0.0, 10.0, 11), np.linspace(0.0, 20.0, 21)]


def box_map(inside):
    """A map over AXES with probability 1 where ``inside(x, y)`` and 0 elsewhere (status ok)."""
    rows = [{"probability": 1.0 if inside(x, y) else 0.0, "std_error": 0.0, "status": "ok", "solver": "exact",
             "global": True, "certified": True} for x, y in itertools.product(*AXES)]
    return DesignSpaceMap.from_rows("mc", ["x", "y"], AXES, rows)


def brute_force_delta(points, inside, c, dmin, dplus, grid=np.linspace(0, 1, 1001)):
    """The largest δ on a fine grid whose rectangle c + δ[−Δ⁻, Δ⁺] holds no point outside the
    region and stays inside the grid's extent (checked point by point, no gauge formula)."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    a, b = c - grid[:, None] * dmin, c + grid[:, None] * dplus  # (D, n) rectangles
    in_hull = np.all((a >= lo - 1e-12) & (b <= hi + 1e-12), axis=1)
    held = np.all((points[None] >= a[:, None] - 1e-12) & (points[None] <= b[:, None] + 1e-12), axis=2)
    ok = in_hull & ~np.any(held & ~inside, axis=1)
    return grid[np.argmin(ok)] - grid[1] if not ok.all() else grid[-1]  # the last δ before the first failure


@pytest.mark.parametrize("shape", ["bounds", "cube"])
def test_centre_of_a_corner_box_matches_brute_force(shape):
    dmap = box_map(lambda x, y: x <= 6 and y >= 4)
    pts, inside = dmap.points, dmap.region(0.5).ravel()
    width = np.array([10.0, 20.0])
    dm = dp = (width if shape == "cube" else None)
    c = chebyshev_centre(dmap, 0.5, delta_p_minus=dm, delta_p_plus=dp)
    halfw = (lambda p: (width, width)) if shape == "cube" else (lambda p: (p, width - p))
    brute = np.array([brute_force_delta(pts, inside, p, *halfw(p)) for p in pts[inside]])
    # by hand: default shape -> delta = min((7 - cx)/(10 - cx), (cy - 3)/cy) is largest (0.7) at cx = 0, cy >= 10;
    # cube -> the scaled Chebyshev radius, min(cx/10, (7 - cx)/10, (20 - cy)/20, (cy - 3)/20) = 0.3 at cx in {3, 4}
    expected = 0.7 if shape == "bounds" else 0.3
    assert c.delta_p == pytest.approx(expected, abs=1e-12)
    assert brute.max() == pytest.approx(expected, abs=1e-3)  # the gauge's value is the supremum of brute force
    assert brute[list(np.flatnonzero(inside)).index(c.index)] == pytest.approx(brute.max(), abs=1e-3)
    assert c.n_region_points == int(inside.sum()) and inside[c.index]
    if shape == "bounds":
        assert c.point[0] == 0.0 and c.point[1] >= 10.0
    else:
        assert c.point[0] in (3.0, 4.0) and c.point[1] in (11.0, 12.0)


def test_centre_of_a_diamond_is_its_middle():
    # |x - 5|/5 + |y - 10|/10 <= 0.8: symmetric about (5, 10), the unique cube centre there
    dmap = box_map(lambda x, y: abs(x - 5) / 5 + abs(y - 10) / 10 <= 0.8 + 1e-12)
    c = chebyshev_centre(dmap, 0.5, delta_p_minus=[10, 20], delta_p_plus=[10, 20])
    assert c.point.tolist() == [5.0, 10.0]
    c_default = chebyshev_centre(dmap, 0.5)  # distances to the bounds: also symmetric at the middle
    assert c_default.point.tolist() == [5.0, 10.0]


def test_unproven_points_count_as_outside():
    rows = [{"probability": 1.0, "std_error": 0.0, "status": "uncertified" if x >= 7 else "ok", "solver": "s",
             "global": False, "certified": x < 7} for x, y in itertools.product(*AXES)]
    dmap = DesignSpaceMap.from_rows("flexindex", ["x", "y"], AXES, rows)
    c = chebyshev_centre(dmap, 0.5)
    assert c.point[0] == 0.0 and c.delta_p == pytest.approx(0.7)


def test_refusals():
    with pytest.raises(ValidationError, match="empty"):
        chebyshev_centre(box_map(lambda x, y: False), 0.5)
    with pytest.raises(ValidationError, match="DesignSpaceMap"):
        chebyshev_centre(np.zeros((11, 21)), 0.5)
    with pytest.raises(ValidationError, match="containing the map's grid"):
        chebyshev_centre(box_map(lambda x, y: True), 0.5, bounds=[[1, 10], [0, 20]])


def test_nominal_point_choices(case1_model):
    from flexspace.designspace import monte_carlo_map

    dmap = monte_carlo_map(case1_model, n_samples=500, random_state=0)
    c, info = nominal_point(case1_model, dmap, 0.85)
    assert info["source"].startswith("map centre") and dmap.region(0.85).ravel()[info["index"]]
    c2, _ = nominal_point(case1_model, "centre", 0.85, cover=dmap)
    assert np.array_equal(c, c2)
    c3, info3 = nominal_point(case1_model, None, 0.85)
    assert np.array_equal(c3, case1_model.theta_p_nominal) and info3["source"] == "model theta_p_nominal"
    with pytest.raises(ValidationError, match="'centre'"):
        nominal_point(case1_model, "center", 0.85, cover=dmap)
    with pytest.raises(ValidationError, match="needs a map"):
        nominal_point(case1_model, "centre", 0.85)
    with pytest.raises(ValidationError, match="outside the theta_p bounds"):
        nominal_point(case1_model, [3.0, 500.0], 0.85)


def test_case1_rectangle_from_the_centre_is_at_least_as_large(case1_model):
    """Algorithm 3 (SCIP, ellipsoid, p_c 0.85, coarse ε_tol 1e-3 for speed) from the model's
    nominal point and from the Monte Carlo map's centre; the result reports the centre."""
    from flexspace.designspace import monte_carlo_map

    dmap = monte_carlo_map(case1_model, n_samples=1000, random_state=0)
    alg = Bisection(eps_tol=1e-3)
    default = flexibility_test_region(case1_model, 0.85, None, "ellipsoid", "scip", algorithm=alg)
    centred = flexibility_test_region(case1_model, 0.85, dmap, "ellipsoid", "scip", algorithm=alg)
    assert default.rectangle.converged and centred.rectangle.converged
    assert centred.delta_p >= default.delta_p and centred.rectangle.volume >= default.rectangle.volume
    assert centred.nominal["source"].startswith("map centre")
    assert np.array_equal(centred.rectangle.center, centred.nominal["point"])
    assert "nominal" in centred.to_dict() and "map centre" in str(centred)
