"""A nominal point for Algorithm 3 from a design-space map: the grid point of the map's
region around which Algorithm 3's rectangle can grow largest (a Chebyshev-type centre).

Algorithm 3 grows ``R(c, δp) = {θp : c − δp Δ⁻ ≤ θp ≤ c + δp Δ⁺}`` around its nominal point
c (:mod:`.region`; by default Δ⁻ = c − θp^lo and Δ⁺ = θp^hi − c, so the volume is
δp^n_p × vol(box) wherever c lies and "largest rectangle" means "largest δp").  A grid
point q lies in R(c, δ) exactly when its *gauge* from c is at most δ:

    γ_c(q) = max_i  (q_i − c_i) / Δ⁺_i  if q_i > c_i,   (c_i − q_i) / Δ⁻_i  if q_i < c_i,   0 if q_i = c_i.

On the map, the grid estimate of Algorithm 3's answer at c is

    δ̂p(c) = min( min over grid points q outside the region of γ_c(q),  δ_hull(c) ),

δ_hull keeping R inside the grid's extent (beyond it the map says nothing).  The centre is
the region point maximising δ̂p; ties go to the larger scaled ∞-distance to the nearest
point outside the region, then to the first point in grid order.  With Δ⁻ = Δ⁺ = the grid's
extent per axis, δ̂p is the classic Chebyshev radius of the region in the ∞-norm scaled by
the θp ranges (a distance transform of the region mask).

"Outside the region" is every grid point not in ``DesignSpaceMap.region(confidence)``:
probability below p_c, and also failed or unproven points — the centre never relies on an
unproven point.  δ̂p is a grid estimate (the true boundary lies between a region point and
its neighbour outside); Algorithm 3 then computes the rectangle itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import ValidationError
from ..validation import as_vector, check_probability

__all__ = ["MapCentre", "chebyshev_centre", "nominal_point"]

#: gauge evaluations per block (bounds memory for large grids to ~50 MB of float64)
_BLOCK = 6_000_000


@dataclass
class MapCentre:
    """The chosen centre: ``point`` (θp), its row ``index`` in the map, the grid estimate
    ``delta_p`` of Algorithm 3's δp there, ``chebyshev_radius`` (scaled ∞-distance to the
    nearest point outside the region, in fractions of the grid's extent) and the size of the
    region it was chosen from."""

    point: np.ndarray
    index: int
    delta_p: float
    chebyshev_radius: float
    confidence: float
    n_region_points: int

    def to_dict(self) -> dict:
        return {"point": self.point.tolist(), "index": self.index, "delta_p_grid": self.delta_p,
                "chebyshev_radius": self.chebyshev_radius, "confidence": self.confidence,
                "n_region_points": self.n_region_points}

    def _repr_html_(self) -> str:
        """Jupyter's view: the point and what it was chosen by (escaped HTML)."""
        from .display import centre_html

        return centre_html(self)


def _halfwidths(c, bounds, delta_p_minus, delta_p_plus):
    """Δ⁻, Δ⁺ per candidate row of ``c`` (N, n): given vectors, or the distances to the bounds."""
    dmin = c - bounds[:, 0] if delta_p_minus is None else np.broadcast_to(delta_p_minus, c.shape)
    dplus = bounds[:, 1] - c if delta_p_plus is None else np.broadcast_to(delta_p_plus, c.shape)
    return dmin, dplus


def _gauge(c, q, dmin, dplus) -> np.ndarray:
    """γ_c(q) for candidates c (N, n) and points q (M, n) -> (N, M); ``inf`` along an axis
    where the rectangle does not extend (Δ = 0) but q differs from c."""
    d = q[None, :, :] - c[:, None, :]
    scale = np.where(d > 0, dplus[:, None, :], dmin[:, None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(d == 0, 0.0, np.abs(d) / scale)
    g[np.isnan(g)] = np.inf
    return g.max(axis=2)


def chebyshev_centre(design_map, confidence: float = 0.85, bounds=None, delta_p_minus=None,
                     delta_p_plus=None) -> MapCentre:
    """The region point of ``design_map`` (a :class:`~flexspace.designspace.DesignSpaceMap`)
    at p_c = ``confidence`` that maximises the grid estimate of Algorithm 3's δp (module
    docstring).  ``bounds``: the θp bounds that define the default Δ⁻/Δ⁺ (default: the grid's
    extent; pass ``model.theta_p_bounds`` to match Algorithm 3 on that model);
    ``delta_p_minus``/``delta_p_plus``: Algorithm 3's fixed half-widths when it uses them
    (:class:`~flexspace.designspace.Bisection`).  An empty region is refused."""
    from .results import DesignSpaceMap

    if not isinstance(design_map, DesignSpaceMap):
        raise ValidationError(f"design_map must be a DesignSpaceMap (from monte_carlo_map or flexibility_index_map), "
                              f"got {type(design_map).__name__}")
    confidence = check_probability("confidence", confidence)
    pts = design_map.points
    n = pts.shape[1]
    lo_g, hi_g = pts.min(axis=0), pts.max(axis=0)
    b = np.column_stack([lo_g, hi_g]) if bounds is None else np.asarray(bounds, float)
    if b.shape != (n, 2) or not np.all(np.isfinite(b)) or np.any(b[:, 0] > lo_g) or np.any(b[:, 1] < hi_g):
        raise ValidationError(f"bounds must be ({n}, 2) finite (lo, hi) pairs containing the map's grid "
                              f"{np.column_stack([lo_g, hi_g]).tolist()}, got {np.asarray(bounds).tolist()}")
    dm = None if delta_p_minus is None else as_vector("delta_p_minus", delta_p_minus, n)
    dp = None if delta_p_plus is None else as_vector("delta_p_plus", delta_p_plus, n)
    for name, v in (("delta_p_minus", dm), ("delta_p_plus", dp)):
        if v is not None and np.any(v < 0):
            raise ValidationError(f"{name} must be >= 0 per axis, got {v.tolist()}")
    inside = design_map.region(confidence).ravel()
    if not inside.any():
        raise ValidationError(f"the map's region at confidence={confidence} is empty: there is no feasible grid point "
                              "to centre Algorithm 3 on; lower the confidence or map a larger theta_p range")
    cand, bad = np.flatnonzero(inside), pts[~inside]
    width = np.where(hi_g > lo_g, hi_g - lo_g, 1.0)
    delta, radius = _scores(pts[cand], bad, b, dm, dp, lo_g, hi_g, width)
    order = np.lexsort((cand, -radius, -delta))  # largest δ̂p, then largest radius, then first in grid order
    i = int(order[0])
    return MapCentre(pts[cand[i]].copy(), int(cand[i]), float(delta[i]), float(radius[i]), float(confidence),
                     int(inside.sum()))


def _scores(c_all, bad, bounds, dm, dp, lo_g, hi_g, width):
    """δ̂p and the scaled ∞-distance to the nearest bad point for every candidate (blocked)."""
    n = c_all.shape[1]
    delta = np.empty(len(c_all))
    radius = np.empty(len(c_all))
    step = max(1, _BLOCK // max(len(bad) * n, 1))
    for s in range(0, len(c_all), step):
        c = c_all[s:s + step]
        dmin, dplus = _halfwidths(c, bounds, dm, dp)
        with np.errstate(divide="ignore", invalid="ignore"):
            hull = np.minimum(np.where(dplus > 0, (hi_g - c) / dplus, np.inf),
                              np.where(dmin > 0, (c - lo_g) / dmin, np.inf)).min(axis=1)
        g = _gauge(c, bad, dmin, dplus).min(axis=1) if len(bad) else np.full(len(c), np.inf)
        delta[s:s + step] = np.minimum(hull, g)
        r = np.abs(bad[None, :, :] - c[:, None, :]) / width
        radius[s:s + step] = r.max(axis=2).min(axis=1) if len(bad) else np.inf
    return delta, radius


def nominal_point(model, theta_p_nominal, confidence: float, delta_p_minus=None, delta_p_plus=None,
                  cover=None) -> tuple:
    """Algorithm 3's nominal point and how it was chosen: ``(c, info)``.

    ``theta_p_nominal``: None (the model's θ̄p), a θp vector, a ``DesignSpaceMap`` (its
    :func:`chebyshev_centre` at ``confidence``, with Algorithm 3's rectangle shape on the
    model's θp bounds) or ``"centre"`` (the same on the map given as ``cover``)."""
    from .results import DesignSpaceMap

    bounds = np.asarray(model.theta_p_bounds, float)
    dmap: Optional[DesignSpaceMap] = None
    if isinstance(theta_p_nominal, DesignSpaceMap):
        dmap = theta_p_nominal
    elif isinstance(theta_p_nominal, str):
        if theta_p_nominal != "centre" or not isinstance(cover, DesignSpaceMap):
            raise ValidationError(f"theta_p_nominal={theta_p_nominal!r}: the only word accepted is 'centre', and it "
                                  "needs a map (cover=DesignSpaceMap); or pass the map itself as theta_p_nominal")
        dmap = cover
    if dmap is not None:
        if list(dmap.theta_p_names) != list(model.theta_p_names):
            raise ValidationError(f"the map is over theta_p {dmap.theta_p_names}, the model's theta_p are "
                                  f"{model.theta_p_names}; map this model")
        centre = chebyshev_centre(dmap, confidence, bounds, delta_p_minus, delta_p_plus)
        return centre.point, {"source": "map centre (largest grid estimate of delta_p)", **centre.to_dict()}
    given = theta_p_nominal is not None
    c0 = as_vector("theta_p_nominal", theta_p_nominal if given else model.theta_p_nominal, model.n_p)
    if np.any(c0 < bounds[:, 0]) or np.any(c0 > bounds[:, 1]):
        raise ValidationError(f"theta_p_nominal {c0.tolist()} is outside the theta_p bounds {bounds.tolist()}; "
                              "choose a nominal point inside them, or pass a DesignSpaceMap to use its centre")
    return c0, {"source": "given" if given else "model theta_p_nominal", "point": c0.tolist()}
