"""Polyhedral uncertainty sets (issue 24): sets written by linear constraints in θ and δ,
so that a linear model gives LP/MILP flexibility problems (:attr:`UncertaintySet.is_linear`).

Both sets live in standardised coordinates ``u = (θ − θ̄) / s`` (``s`` = ``scale``, default
``sqrt(diag Σ)``: δ is then in standard-deviation units, like the box and the ellipsoid):

* :class:`PolyhedralSet` — ``set(δ) = {θ : A u ≤ δ b}`` with ``b > 0`` (θ̄ interior,
  set(0) = {θ̄}) and ``{u : A u ≤ b}`` bounded (checked by linear programs).
* :class:`BudgetSet` — Bertsimas & Sim (2004), "The price of robustness", Oper. Res. 52(1):
  ``|u_i| ≤ δ`` for every i and ``Σ_i |u_i| ≤ δ Γ``, budget ``Γ ∈ [1, n]`` (Γ = n is the
  box of half-widths s; Γ = 1 the cross-polytope).  Written with auxiliary ``t_i ≥ |u_i|``.

Neither has a closed-form probability under θm ~ N(θ̄, Σ).  Both gauges are positively
homogeneous of degree 1, so ``P(θm ∈ set(δ)) = P(gauge(θm) ≤ δ)``: flexspace draws **one**
fixed, seeded sample of N(θ̄, Σ) (:data:`MC_SAMPLES` = 200 000 draws, seed :data:`MC_SEED`),
keeps its sorted gauges, and reads :meth:`probability` as their empirical CDF and
:meth:`delta_for_confidence` as their empirical quantile.  That is a **Monte Carlo
estimate**: its standard error ``sqrt(p (1 − p) / N) ≤ 0.00112`` (at p = 0.5) is given by
:meth:`probability_standard_error`, and :attr:`probability_method` says so for tables.
"""
from __future__ import annotations

import abc
import itertools
from typing import Optional, Tuple

import numpy as np
import pyomo.environ as pyo
from scipy import linalg, optimize, stats

from ..validation import ValidationError, as_array, as_vector, check_number
from .sets import SetHandle, UncertaintySet, _rhs

__all__ = ["PolyhedralSet", "BudgetSet", "MC_SAMPLES", "MC_SEED", "MC_BETA"]

#: Draws of N(θ̄, Σ) behind :meth:`PolyhedralSet.probability` (standard error ≤ 0.00112).
MC_SAMPLES = 200_000
#: Seed of that sample (``numpy.random.default_rng``): probabilities are reproducible.
MC_SEED = 24
#: Risk of the one-sided Clopper–Pearson bounds the trusted probabilities and
#: :meth:`PolyhedralSet.delta_for_confidence` rest on (our choice: 1e-6, about 4.8 standard
#: errors, ≤ 0.0054 below the estimate at N = 200 000).
MC_BETA = 1e-6
#: Largest dimension whose vertices are enumerated (Qhull; the budget set has 2ⁿ facets).
MAX_VERTEX_DIM = 6


def _unit_vertices(A: np.ndarray, b: np.ndarray) -> Optional[np.ndarray]:
    """Vertices of the bounded polytope ``{u : A u ≤ b}`` (b > 0, so u = 0 is interior) as
    rows, deduplicated; None above :data:`MAX_VERTEX_DIM` or when Qhull fails."""
    n = A.shape[1]
    if n > MAX_VERTEX_DIM:
        return None
    if n == 1:
        a = A[:, 0]
        return np.array([[np.min(b[a > 0] / a[a > 0])], [np.max(b[a < 0] / a[a < 0])]])
    from scipy.spatial import HalfspaceIntersection, QhullError

    try:
        hs = HalfspaceIntersection(np.hstack([A, -b[:, None]]), np.zeros(n))
    except (QhullError, ValueError):
        return None
    V = hs.intersections
    scale = max(1.0, float(np.max(np.abs(V))))
    _, keep = np.unique(np.round(V / scale, 9), axis=0, return_index=True)
    return V[np.sort(keep)]


def _clopper_pearson_lower(k: int, n: int) -> float:
    """The one-sided Clopper–Pearson lower confidence bound of a binomial proportion (k of n)
    at confidence 1 − :data:`MC_BETA` (Clopper & Pearson 1934)."""
    return 0.0 if k <= 0 else float(stats.beta.ppf(MC_BETA, k, n - k + 1))


class _StandardisedSet(UncertaintySet):
    """Shared part of the linear sets in ``u = (θ − θ̄) / s``: the subclass gives the gauge
    in u (:meth:`_gauge_u`) and the per-coordinate extremes of set(1) (``_umin``, ``_umax``)."""

    is_linear = True
    is_convex = True  # an intersection of half-spaces
    probability_is_estimate = True
    #: how :meth:`probability` is computed (for results and tables)
    probability_method = (f"monte carlo (N={MC_SAMPLES}, seed={MC_SEED}); trusted values are one-sided "
                          f"Clopper-Pearson bounds at confidence 1 - {MC_BETA:g}")

    def _init_scale(self, scale, who: str) -> None:
        if scale is None:
            if self._cov is None:
                raise ValidationError(f"{who} needs covariance (scale defaults to sqrt(diag covariance)) or scale "
                                      "(the unit of each theta_m, e.g. its standard deviation)")
            s = np.sqrt(np.diag(self._cov))
        else:
            s = as_vector("scale", scale, self.dim)
        bad = np.flatnonzero(~(s > 0))
        if bad.size:
            raise ValidationError(f"scale must be > 0 (the unit of each theta_m); not at index {bad.tolist()}")
        self._scale = np.array(s, dtype=float)

    @property
    def scale(self) -> np.ndarray:
        return self._scale.copy()

    def _u(self, points) -> np.ndarray:
        return (self._points(points) - self._nominal) / self._scale

    @abc.abstractmethod
    def _gauge_u(self, U: np.ndarray) -> np.ndarray:
        """The gauge of each row of U (standardised coordinates)."""

    @abc.abstractmethod
    def _unit_vertices(self) -> Optional[np.ndarray]:
        """The vertices of set(1) in u (None when not enumerated)."""

    # -- geometry
    def gauge(self, points) -> np.ndarray:
        """The smallest δ with the point in set(δ) (positively homogeneous: gauge(θ̄ + t d) = t gauge(θ̄ + d))."""
        return self._gauge_u(self._u(points))

    def contains(self, points, delta, tol=1e-9) -> np.ndarray:
        return self.gauge(points) <= self._check_delta(delta) + tol

    def bounds(self, delta: float) -> Tuple[np.ndarray, np.ndarray]:
        """The bounding box of set(δ): ``θ̄ + δ s [umin, umax]`` (from the LPs of set(1))."""
        d = float(delta)
        return self._nominal + d * self._scale * self._umin, self._nominal + d * self._scale * self._umax

    def half_widths(self, delta: float) -> np.ndarray:
        return float(delta) * self._scale * np.maximum(-self._umin, self._umax)

    def _center_half(self, delta: float) -> Tuple[np.ndarray, np.ndarray]:
        lo, hi = self.bounds(delta)
        return 0.5 * (lo + hi), 0.5 * np.abs(hi - lo)

    def vertices(self, delta: float) -> Optional[np.ndarray]:
        """The vertices of set(δ) as rows for dim ≤ :data:`MAX_VERTEX_DIM` (else None)."""
        d = self._check_delta(delta)
        cache = self.__dict__.setdefault("_vertex_cache", {})
        if "unit" not in cache:
            cache["unit"] = self._unit_vertices()
        V = cache["unit"]
        return None if V is None else self._nominal + d * V * self._scale

    def sample(self, delta, n, rng, boundary_fraction=0.5) -> np.ndarray:
        """``n`` points of set(δ) (plus its vertices when known, first): a share
        ``boundary_fraction`` on the boundary (random directions scaled to gauge δ), the rest
        inside (the same with radius ``r^(1/dim)``, r uniform)."""
        n = self._check_n(n)
        rng = np.random.default_rng(rng)
        d = self._check_delta(delta)
        z = rng.standard_normal((n, self.dim))
        g = self._gauge_u(z)
        z = z / np.where(g > 0, g, 1.0)[:, None]
        nb = int(round(check_number("boundary_fraction", boundary_fraction, low=0, high=1) * n))
        r = np.ones(n)
        r[nb:] = rng.uniform(size=n - nb) ** (1.0 / self.dim)
        pts = self._nominal + d * (z * r[:, None]) * self._scale
        V = self.vertices(d)
        return pts if V is None else np.vstack([V, pts])

    # -- Monte Carlo probability (no closed form)
    def _mc_gauges(self) -> np.ndarray:
        """Sorted gauges of the fixed sample of N(θ̄, Σ) (computed once, not pickled)."""
        cache = self.__dict__.get("_mc_cache")
        if cache is None:
            S = self._require_cov(f"{type(self).__name__}.probability (Monte Carlo over N(theta_bar, covariance))")
            C = linalg.cholesky(S, lower=True)
            g = np.empty(MC_SAMPLES)
            rng = np.random.default_rng(MC_SEED)
            for start in range(0, MC_SAMPLES, 50_000):  # bounded memory for large dim
                stop = min(start + 50_000, MC_SAMPLES)
                z = rng.standard_normal((stop - start, self.dim))
                g[start:stop] = self._gauge_u((z @ C.T) / self._scale)
            cache = self.__dict__["_mc_cache"] = np.sort(g)
        return cache

    def probability(self, delta) -> float:
        """P(θm ∈ set(δ)) for θm ~ N(θ̄, Σ): a **Monte Carlo estimate** (the empirical CDF of
        the gauge over :data:`MC_SAMPLES` seeded draws; see :meth:`probability_standard_error`)."""
        d = self._check_delta(delta)
        g = self._mc_gauges()
        return float(np.searchsorted(g, d, side="right") / g.size)

    def probability_standard_error(self, delta) -> float:
        """Standard error ``sqrt(p (1 − p) / N)`` of :meth:`probability` at δ (≤ 0.00112)."""
        p = self.probability(delta)
        return float(np.sqrt(p * (1.0 - p) / MC_SAMPLES))

    def probability_lower_bound(self, delta) -> float:
        """A one-sided Clopper–Pearson lower bound of P(θm ∈ set(δ)) at confidence
        1 − :data:`MC_BETA` from the same draws: what regions trust (the estimate
        :meth:`probability` may lie above the truth by a few standard errors)."""
        d = self._check_delta(delta)
        g = self._mc_gauges()
        return _clopper_pearson_lower(int(np.searchsorted(g, d, side="right")), g.size)

    def delta_for_confidence(self, p_c) -> float:
        """The smallest δ whose :meth:`probability_lower_bound` reaches p_c, so that
        P(θm ∈ set(δ)) ≥ p_c holds at confidence 1 − :data:`MC_BETA` (never the bare empirical
        quantile, which may fall short of p_c by a few standard errors).  Refused when even
        the largest sampled gauge cannot certify p_c (p_c too close to 1 for N draws)."""
        p = self._check_p(p_c)
        g = self._mc_gauges()
        n = g.size
        lo, hi = int(np.ceil(p * n)), n  # the bound is increasing in the count k
        if _clopper_pearson_lower(hi, n) < p:
            raise ValidationError(f"confidence {p} cannot be certified by {n} Monte Carlo draws (the largest is "
                                  f"{_clopper_pearson_lower(n, n):.6f}): use a lower confidence")
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if _clopper_pearson_lower(mid, n) >= p else (mid + 1, hi)
        return float(g[lo - 1])

    def __getstate__(self):
        d = dict(self.__dict__)
        d.pop("_mc_cache", None)  # caches, not data: pickles (and fingerprints) stay the same
        d.pop("_vertex_cache", None)
        return d

    def _theta_u(self, theta):
        """u_i = (θ_i − θ̄_i)/s_i as Pyomo expressions."""
        return [(theta[i] - float(self._nominal[i])) / float(self._scale[i]) for i in range(self.dim)]

    def _check_build(self, theta, squared) -> None:
        if len(theta) != self.dim:
            raise ValidationError(f"{type(self).__name__} of dimension {self.dim} given {len(theta)} variables")
        if squared:
            raise ValidationError(f"{type(self).__name__} is linear in delta; it cannot be built in delta squared "
                                  "(squared=True is for ellipsoids): call build(..., squared=False)")


class PolyhedralSet(_StandardisedSet):
    """Polytope ``set(δ) = {θ : A ((θ − θ̄) / s) ≤ δ b}``.

    Parameters
    ----------
    nominal : θ̄ (n,)
    A : (m, n) constraint matrix acting on ``u = (θ − θ̄)/s``; ``{u : A u ≤ b}`` must be bounded.
    b : (m,) right-hand side, every entry > 0 (θ̄ interior; set(0) = {θ̄}).
    covariance : Σ (n, n); gives the default scale and is needed for probabilities.
    scale : s (n,) > 0; default ``sqrt(diag Σ)`` (A then acts in standard-deviation units).

    :meth:`probability` and :meth:`delta_for_confidence` are Monte Carlo estimates
    (:data:`MC_SAMPLES` = 200 000 seeded draws, standard error ≤ 0.00112).
    """

    name = "polyhedral"

    def __init__(self, nominal, A, b, covariance=None, scale=None):
        super().__init__(nominal, covariance)
        n = self.dim
        A = as_array("A", A)
        if A.ndim == 1 and n == 1:
            A = A[:, None]
        if A.ndim != 2 or A.shape[1] != n or A.shape[0] == 0:
            raise ValidationError(f"A must be a 2-D array of shape (m, {n}) (one row per constraint, one column per "
                                  f"theta_m), got shape {A.shape}")
        if not np.all(np.isfinite(A)):
            raise ValidationError("A contains NaN or inf: every entry must be finite")
        b = as_vector("b", b, A.shape[0])
        bad = np.flatnonzero(~(b > 0))
        if bad.size:
            raise ValidationError(f"b must be > 0 elementwise (so that the nominal point is interior and set(0) is "
                                  f"the nominal point); not at index {bad.tolist()}: scale the rows of A so b > 0")
        self._A, self._b = np.array(A, dtype=float), np.array(b, dtype=float)
        self._init_scale(scale, "PolyhedralSet")
        self._umin, self._umax = self._extremes()

    def _extremes(self) -> Tuple[np.ndarray, np.ndarray]:
        """min and max of each u_i over ``{u : A u ≤ b}`` (2n LPs); unbounded is refused."""
        n = self.dim
        lo, hi = np.empty(n), np.empty(n)
        for i in range(n):
            for sign, out in ((1.0, lo), (-1.0, hi)):
                c = np.zeros(n)
                c[i] = sign
                r = optimize.linprog(c, A_ub=self._A, b_ub=self._b, bounds=[(None, None)] * n, method="highs")
                if r.status == 3 or (r.status == 0 and not np.isfinite(r.fun)):
                    raise ValidationError(
                        f"A and b describe an unbounded set: u[{i}] = (theta_m[{i}] - nominal)/scale is unbounded "
                        f"{'below' if sign > 0 else 'above'} on {{u : A u <= b}}; add rows to A that bound every "
                        "direction (e.g. the rows of a box, +-e_i)")
                if r.status != 0:
                    raise ValidationError(f"the bounding LP of the polytope A u <= b failed ({r.message}); check A "
                                          "and b (finite, well scaled)")
                out[i] = sign * r.fun
        return lo, hi

    @property
    def A(self) -> np.ndarray:
        return self._A.copy()

    @property
    def b(self) -> np.ndarray:
        return self._b.copy()

    def parameters(self) -> dict:
        return {"nominal": self._nominal, "A": self._A, "b": self._b, "covariance": self._cov,
                "scale": self._scale}

    def _gauge_u(self, U):
        return np.maximum(np.max((U @ self._A.T) / self._b, axis=1), 0.0)

    def _unit_vertices(self):
        return _unit_vertices(self._A, self._b)

    def build(self, block, theta, delta, squared=False) -> SetHandle:
        """``Σ_i (A_ki / s_i)(θ_i − θ̄_i) ≤ δ b_k`` for each row k (linear in θ and δ)."""
        self._check_build(theta, squared)
        d, u = _rhs(delta), self._theta_u(theta)
        A, b = self._A, self._b

        def row(_, k):
            nz = np.flatnonzero(A[k])
            if nz.size == 0:
                return pyo.Constraint.Skip  # 0 ≤ δ b_k holds for every δ ≥ 0
            return sum(float(A[k, i]) * u[i] for i in nz) <= float(b[k]) * d

        block.polytope = pyo.Constraint(range(A.shape[0]), rule=row)
        return self._handle(block, theta, delta, squared)

    def __repr__(self) -> str:
        return f"PolyhedralSet(dim={self.dim}, rows={self._A.shape[0]})"


class BudgetSet(_StandardisedSet):
    """Budget set of Bertsimas & Sim (2004): ``|u_i| ≤ δ`` and ``Σ_i |u_i| ≤ δ Γ`` with
    ``u = (θ − θ̄)/s``.

    Parameters
    ----------
    nominal : θ̄ (n,)
    covariance : Σ (n, n) (may be None when ``scale`` is given; probabilities need it).
    budget : Γ ∈ [1, n]: how many coordinates may reach their bound together (Γ = n: the box).
    scale : s (n,) > 0; default ``sqrt(diag Σ)``.

    Built with n auxiliary variables ``t_i``: ``t_i ≥ ±u_i``, ``t_i ≤ δ``, ``Σ t_i ≤ δ Γ``.
    Probabilities are Monte Carlo estimates (:data:`MC_SAMPLES` seeded draws).
    """

    name = "budget"

    def __init__(self, nominal, covariance, budget, scale=None):
        super().__init__(nominal, covariance)
        n = self.dim
        self.budget = check_number("budget", budget, low=1, high=n,
                                   hint=f"Gamma of Bertsimas & Sim, between 1 (cross-polytope) and n = {n} (box)")
        self._init_scale(scale, "BudgetSet")
        self._umin, self._umax = -np.ones(n), np.ones(n)  # Γ ≥ 1: each u_i reaches ±1

    def parameters(self) -> dict:
        return {"nominal": self._nominal, "covariance": self._cov, "budget": self.budget, "scale": self._scale}

    def _gauge_u(self, U):
        a = np.abs(U)
        return np.maximum(np.max(a, axis=1), np.sum(a, axis=1) / self.budget)

    def _unit_vertices(self):
        n = self.dim
        if n > MAX_VERTEX_DIM:
            return None
        signs = np.array(list(itertools.product((-1.0, 1.0), repeat=n)))
        A = np.vstack([np.eye(n), -np.eye(n), signs])
        b = np.concatenate([np.ones(2 * n), np.full(len(signs), self.budget)])
        return _unit_vertices(A, b)

    @property
    def n_auxiliary(self) -> int:
        return self.dim

    def auxiliary_values(self, points) -> np.ndarray:
        """``t = |u|`` for each row (the tightest t of a point)."""
        return np.abs(self._u(points))

    def auxiliary_bounds(self, delta: float) -> Tuple[np.ndarray, np.ndarray]:
        """``0 ≤ t_i ≤ δ``, the upper bound padded by 1e-4 relative + 1e-9."""
        hi = 1.0001 * self._check_delta(delta) + 1e-9
        return np.zeros(self.dim), np.full(self.dim, hi)

    def build(self, block, theta, delta, squared=False) -> SetHandle:
        self._check_build(theta, squared)
        d, u = _rhs(delta), self._theta_u(theta)
        n = range(self.dim)
        block.t = pyo.Var(n, bounds=(0.0, None), initialize=0.0)
        block.t_upper = pyo.Constraint(n, rule=lambda b, i: b.t[i] >= u[i])
        block.t_lower = pyo.Constraint(n, rule=lambda b, i: b.t[i] >= -u[i])
        block.t_max = pyo.Constraint(n, rule=lambda b, i: b.t[i] <= d)
        block.budget = pyo.Constraint(expr=sum(block.t[i] for i in n) <= float(self.budget) * d)
        return self._handle(block, theta, delta, squared, block.t.values())

    def __repr__(self) -> str:
        return f"BudgetSet(dim={self.dim}, budget={self.budget:g})"
