"""Uncertainty sets for θm: data (validated in the constructor) plus one method that
writes the set's constraints onto a Pyomo block, scaled by a δ variable or a fixed δ.

Shapes (``shared/spec/formulations.md``):

* :class:`BoxSet` — hyperrectangle, Eq. 21 (and Eq. 33 in the extended test):
  ``θ̄ − δ Δ⁻ ≤ θ ≤ θ̄ + δ Δ⁺``, default ``Δ± = sqrt(diag Σ)``.
* :class:`EllipsoidalSet` — ellipsoid, Eq. 24 (and Eq. 34):
  ``(θ − θ̄)ᵀ Σ⁻¹ (θ − θ̄) ≤ δ²``, δ a radius in standard-deviation units; with
  ``ldl=True`` (default) written in the LDL form of Eq. 25–27:
  ``Σ⁻¹ = L D Lᵀ``, ``w = Lᵀ (θ − θ̄)``, ``Σ_i D_ii w_i² ≤ δ²``.

Both share the probability conversions used by Algorithms 2 and 3:
``probability(δ)`` and ``delta_for_confidence(p_c)``.
"""
from __future__ import annotations

import abc
from typing import Optional, Sequence, Union

import numpy as np
import pyomo.environ as pyo
from scipy import linalg, optimize, stats

__all__ = ["UncertaintySet", "BoxSet", "EllipsoidalSet", "validate_covariance"]

DeltaLike = Union[float, pyo.Var, "pyo.core.base.var.VarData"]


# --------------------------------------------------------------------------- validation
def _as_vector(name: str, x, n: Optional[int] = None) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim == 0:
        a = a.reshape(1)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector, got an array of shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name} has length {a.shape[0]} but the set has dimension {n}")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise ValueError(f"{name} contains NaN or inf at index {bad.tolist()}: every entry must be finite")
    return a


def validate_covariance(cov, n: Optional[int] = None, name: str = "covariance", rtol: float = 1e-10) -> np.ndarray:
    """Return ``cov`` as a float array after checking shape, finiteness, symmetry and
    positive definiteness; raise ``ValueError`` naming the problem otherwise."""
    S = np.asarray(cov, dtype=float)
    if S.ndim == 0:
        S = S.reshape(1, 1)
    if S.ndim != 2 or S.shape[0] != S.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {S.shape}")
    if n is not None and S.shape[0] != n:
        raise ValueError(f"{name} is {S.shape[0]}x{S.shape[0]} but the nominal vector has length {n}")
    bad = np.argwhere(~np.isfinite(S))
    if bad.size:
        raise ValueError(f"{name} contains NaN or inf at entries {[tuple(map(int, b)) for b in bad]}")
    scale = max(np.max(np.abs(S)), 1e-300)
    diff = np.abs(S - S.T)
    offenders = np.argwhere(np.triu(diff > rtol * scale, 1))
    if offenders.size:
        shown = ", ".join(f"({i},{j})={S[i, j]:.6g} vs ({j},{i})={S[j, i]:.6g}" for i, j in offenders[:6])
        raise ValueError(
            f"{name} is not symmetric: {shown}. A covariance matrix must equal its transpose; "
            "decide which value is right and pass a symmetric matrix (e.g. (S + S.T) / 2 only if "
            "the asymmetry is rounding)."
        )
    S = 0.5 * (S + S.T)
    try:
        linalg.cholesky(S, lower=True)
    except linalg.LinAlgError:
        ev = np.linalg.eigvalsh(S)
        raise ValueError(
            f"{name} is not positive definite (smallest eigenvalue {ev.min():.4g}); a covariance of "
            "independent-enough parameters must be positive definite. Check for a dropped sign, a "
            "duplicated parameter, or an exactly correlated pair."
        ) from None
    return S


# --------------------------------------------------------------------------- base class
class UncertaintySet(abc.ABC):
    """θm ∈ set(δ): data + :meth:`build` onto a Pyomo block (PyROS style)."""

    kind: str = ""

    def __init__(self, nominal, covariance=None):
        self._nominal = _as_vector("nominal", nominal)
        n = self._nominal.size
        self._cov = None if covariance is None else validate_covariance(covariance, n)

    # -- data
    @property
    def dim(self) -> int:
        return self._nominal.size

    @property
    def nominal(self) -> np.ndarray:
        return self._nominal.copy()

    @property
    def covariance(self) -> Optional[np.ndarray]:
        return None if self._cov is None else self._cov.copy()

    def _require_cov(self, what: str) -> np.ndarray:
        if self._cov is None:
            raise ValueError(f"{what} needs the covariance of θm; construct the set with covariance=Σ")
        return self._cov

    # -- the Pyomo side
    #: True when the set's constraints are convex in δ² (ellipsoids): the flexibility index
    #: then minimises δ² — a convex formulation — instead of δ (nonconvex ``… ≤ δ²``).
    convex_in_delta_squared: bool = False

    @abc.abstractmethod
    def build(self, block: pyo.Block, theta: Sequence, delta: DeltaLike, squared: bool = False) -> None:
        """Write ``θ ∈ set(δ)`` onto ``block`` (``theta``: Pyomo VarData, one per dimension;
        ``delta``: a Pyomo Var (flexibility index), a mutable Param or a number (flexibility
        test)).  With ``squared=True`` the argument stands for δ² (only for sets with
        :attr:`convex_in_delta_squared`)."""

    @abc.abstractmethod
    def half_widths(self, delta: float) -> np.ndarray:
        """Half-width of the set's bounding box in each coordinate at ``delta`` (used as
        variable bounds, which global solvers need)."""

    # -- numpy side
    @abc.abstractmethod
    def contains(self, points, delta: float, tol: float = 1e-9) -> np.ndarray:
        """Boolean mask: which rows of ``points`` (m, n) lie in set(δ)."""

    @abc.abstractmethod
    def gauge(self, points) -> np.ndarray:
        """For each row of ``points``: the smallest δ with the point in set(δ)."""

    @abc.abstractmethod
    def sample(self, delta: float, n: int, rng, boundary_fraction: float = 0.5) -> np.ndarray:
        """``n`` points in set(δ): a share on its boundary, the rest uniform inside."""

    @abc.abstractmethod
    def probability(self, delta: float) -> float:
        """P(θm ∈ set(δ)) for θm ~ N(θ̄, Σ) (Algorithm 2, step 7)."""

    @abc.abstractmethod
    def delta_for_confidence(self, p_c: float) -> float:
        """δm with P(θm ∈ set(δm)) = p_c (Algorithm 3, step 4)."""

    @staticmethod
    def _check_p(p_c: float) -> float:
        p = float(p_c)
        if not (0.0 < p < 1.0):
            raise ValueError(f"confidence p_c must lie strictly between 0 and 1, got {p_c!r}")
        return p

    @staticmethod
    def _check_delta(delta: float) -> float:
        d = float(delta)
        if not np.isfinite(d) or d < 0:
            raise ValueError(f"delta must be a finite number >= 0, got {delta!r}")
        return d

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim})"


def _rhs(delta: DeltaLike):
    return float(delta) if isinstance(delta, (int, float, np.floating)) else delta


# --------------------------------------------------------------------------- box
class BoxSet(UncertaintySet):
    """Hyperrectangle ``θ̄ − δΔ⁻ ≤ θ ≤ θ̄ + δΔ⁺`` (seed Eq. 21; Eq. 33 with fixed δ).

    Parameters
    ----------
    nominal : θ̄ (n,)
    covariance : Σ (n, n); needed for the default half-widths and for probabilities.
    delta_minus, delta_plus : Δ⁻, Δ⁺ (n,), ≥ 0; default ``sqrt(diag Σ)`` so δ is in σ units.
    """

    kind = "box"

    def __init__(self, nominal, covariance=None, delta_minus=None, delta_plus=None):
        super().__init__(nominal, covariance)
        n = self.dim
        if delta_minus is None or delta_plus is None:
            if self._cov is None:
                raise ValueError("BoxSet needs either covariance (Δ± default to sqrt(diag Σ)) or both "
                                 "delta_minus and delta_plus")
            sd = np.sqrt(np.diag(self._cov))
        dm = sd if delta_minus is None else _as_vector("delta_minus", delta_minus, n)
        dp = sd if delta_plus is None else _as_vector("delta_plus", delta_plus, n)
        for nm, v in (("delta_minus", dm), ("delta_plus", dp)):
            neg = np.flatnonzero(v < 0)
            if neg.size:
                raise ValueError(f"{nm} must be >= 0 (it is a half-width); negative at index {neg.tolist()}")
        self.delta_minus = np.array(dm, dtype=float)
        self.delta_plus = np.array(dp, dtype=float)

    def build(self, block, theta, delta, squared=False) -> None:
        n = self.dim
        if len(theta) != n:
            raise ValueError(f"BoxSet of dimension {n} given {len(theta)} variables")
        if squared:
            raise ValueError("a box is linear in delta; it cannot be written in delta squared")
        d = _rhs(delta)
        block.box_lower = pyo.Constraint(
            range(n), rule=lambda b, i: theta[i] >= float(self._nominal[i]) - float(self.delta_minus[i]) * d)
        block.box_upper = pyo.Constraint(
            range(n), rule=lambda b, i: theta[i] <= float(self._nominal[i]) + float(self.delta_plus[i]) * d)

    def half_widths(self, delta: float) -> np.ndarray:
        return float(delta) * np.maximum(self.delta_minus, self.delta_plus)

    def contains(self, points, delta, tol=1e-9):
        P = np.atleast_2d(np.asarray(points, float)) - self._nominal
        d = self._check_delta(delta)
        return np.all((P >= -d * self.delta_minus - tol) & (P <= d * self.delta_plus + tol), axis=1)

    def gauge(self, points):
        P = np.atleast_2d(np.asarray(points, float)) - self._nominal
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(P >= 0, P / self.delta_plus, -P / self.delta_minus)
        return np.max(np.nan_to_num(r, nan=0.0, posinf=np.inf), axis=1)

    def sample(self, delta, n, rng, boundary_fraction=0.5):
        rng = np.random.default_rng(rng)
        d = self._check_delta(delta)
        lo, hi = self._nominal - d * self.delta_minus, self._nominal + d * self.delta_plus
        U = rng.uniform(size=(n, self.dim))
        pts = lo + U * (hi - lo)
        nb = int(round(boundary_fraction * n))
        if nb:
            # boundary: push one random coordinate of each of the first nb points to a face
            idx = rng.integers(0, self.dim, size=nb)
            side = rng.integers(0, 2, size=nb)
            pts[np.arange(nb), idx] = np.where(side == 1, hi[idx], lo[idx])
        # always include every vertex for small dimensions (the worst case of a monotone g)
        if self.dim <= 8:
            corners = np.array(np.meshgrid(*[[0, 1]] * self.dim, indexing="ij")).reshape(self.dim, -1).T
            pts = np.vstack([lo + corners * (hi - lo), pts])
        return pts

    def probability(self, delta):
        d = self._check_delta(delta)
        S = self._require_cov("BoxSet.probability")
        upper, lower = d * self.delta_plus, -d * self.delta_minus
        sd = np.sqrt(np.diag(S))
        if d == 0:
            return 0.0
        offdiag = S - np.diag(np.diag(S))
        if self.dim == 1 or not np.any(offdiag):
            # independent coordinates: exact product of 1-D normal probabilities
            return float(np.prod(stats.norm.cdf(upper / sd) - stats.norm.cdf(lower / sd)))
        # Genz's quasi-Monte-Carlo integration, seeded so that the result is reproducible
        p = stats.multivariate_normal.cdf(upper, mean=np.zeros(self.dim), cov=S, maxpts=200000 * self.dim,
                                          abseps=1e-10, releps=1e-8, lower_limit=lower,
                                          rng=np.random.default_rng(12345))
        return float(np.clip(p, 0.0, 1.0))

    def delta_for_confidence(self, p_c):
        p = self._check_p(p_c)
        hi = 1.0
        while self.probability(hi) < p:
            hi *= 2.0
            if hi > 1e3:
                raise ValueError(f"no box reaches probability {p}; check the covariance and half-widths")
        return float(optimize.brentq(lambda d: self.probability(d) - p, 0.0, hi, xtol=1e-12, rtol=1e-12))


# --------------------------------------------------------------------------- ellipsoid
class EllipsoidalSet(UncertaintySet):
    """Ellipsoid ``(θ − θ̄)ᵀ Σ⁻¹ (θ − θ̄) ≤ δ²`` (seed Eq. 24; Eq. 34 with fixed δ).

    δ is a radius in standard-deviation units (δ = 1 is the 1-σ ellipsoid), so
    ``P(θm ∈ E(δ)) = F_χ²_n(δ²)``.

    With ``ldl=False`` the quadratic form of Eq. 24 is written as ``‖C⁻¹(θ − θ̄)‖²``
    (C the Cholesky factor of Σ) in the original variables.
    With ``ldl=True`` (default) the set is written in the LDL form of Eq. 25–27:
    ``Σ⁻¹ = L D Lᵀ`` (L unit lower triangular, D diagonal > 0), linear equalities
    ``w = Lᵀ (θ − θ̄)`` and the separable convex constraint ``Σ_i D_ii w_i² ≤ δ²``.
    Σ⁻¹ is obtained from the Cholesky factor of Σ (``cho_solve``), never from ``inv``.
    """

    kind = "ellipsoid"
    convex_in_delta_squared = True

    def __init__(self, nominal, covariance, ldl: bool = True):
        if covariance is None:
            raise ValueError("EllipsoidalSet needs the covariance matrix Σ")
        super().__init__(nominal, covariance)
        self.ldl = bool(ldl)
        self._chol = linalg.cholesky(self._cov, lower=True)  # Σ = C Cᵀ
        P = linalg.cho_solve((self._chol, True), np.eye(self.dim))  # Σ⁻¹
        self._precision = 0.5 * (P + P.T)
        G = linalg.cholesky(self._precision, lower=True)  # Σ⁻¹ = G Gᵀ
        g = np.diag(G)
        self.L = G / g  # unit lower triangular
        self.D = g ** 2  # Σ⁻¹ = L diag(D) Lᵀ

    @property
    def label(self) -> str:
        return "ldl" if self.ldl else "ellipsoid"

    def build(self, block, theta, delta, squared=False) -> None:
        n = self.dim
        if len(theta) != n:
            raise ValueError(f"EllipsoidalSet of dimension {n} given {len(theta)} variables")
        d = _rhs(delta)
        rhs = d if squared else d ** 2
        nom = [float(v) for v in self._nominal]
        if self.ldl:
            # Eq. 25-27: w = Lᵀ(θ − θ̄); Σ D_ii w_i² ≤ δ²
            sd_w = 1.0 / np.sqrt(self.D)  # |w_i| ≤ δ / sqrt(D_ii)
            dmax = _upper_of(delta)
            if dmax is not None and squared:
                dmax = float(np.sqrt(dmax))
            block.w = pyo.Var(range(n), initialize=0.0,
                              bounds=lambda b, i: (None, None) if dmax is None else
                              (-1.0001 * dmax * sd_w[i] - 1e-9, 1.0001 * dmax * sd_w[i] + 1e-9))
            L = self.L
            block.w_def = pyo.Constraint(
                range(n),
                rule=lambda b, i: b.w[i] == sum(float(L[j, i]) * (theta[j] - nom[j]) for j in range(i, n)))
            block.ellipsoid = pyo.Constraint(
                expr=sum(float(self.D[i]) * block.w[i] ** 2 for i in range(n)) <= rhs)
        else:
            # Eq. 24 as a sum of squares ||C⁻¹(θ − θ̄)||² (Σ = C Cᵀ): the same quadratic form,
            # but global solvers see its convexity; the expanded sum of bilinear terms is relaxed
            # badly (seed §3.2; measured here: MAiNGO times out on it for n >= 3).
            Ci = linalg.solve_triangular(self._chol, np.eye(n), lower=True)
            block.ellipsoid = pyo.Constraint(
                expr=sum(sum(float(Ci[i, j]) * (theta[j] - nom[j]) for j in range(i + 1)) ** 2
                         for i in range(n)) <= rhs)

    def half_widths(self, delta: float) -> np.ndarray:
        return float(delta) * np.sqrt(np.diag(self._cov))

    def mahalanobis(self, points) -> np.ndarray:
        """sqrt((θ − θ̄)ᵀ Σ⁻¹ (θ − θ̄)) for each row, through the Cholesky factor."""
        P = np.atleast_2d(np.asarray(points, float)) - self._nominal
        z = linalg.solve_triangular(self._chol, P.T, lower=True)
        return np.sqrt(np.sum(z * z, axis=0))

    def contains(self, points, delta, tol=1e-9):
        return self.mahalanobis(points) <= self._check_delta(delta) + tol

    def gauge(self, points):
        return self.mahalanobis(points)

    def sample(self, delta, n, rng, boundary_fraction=0.5):
        rng = np.random.default_rng(rng)
        d = self._check_delta(delta)
        z = rng.standard_normal((n, self.dim))
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        nb = int(round(boundary_fraction * n))
        r = np.ones(n)
        r[nb:] = rng.uniform(size=n - nb) ** (1.0 / self.dim)
        # principal axes (±δ along each eigenvector) are included explicitly
        ev, V = np.linalg.eigh(self._cov)
        axes = np.vstack([V.T * np.sqrt(ev)[:, None], -(V.T * np.sqrt(ev)[:, None])])
        return self._nominal + d * np.vstack([axes, (z * r[:, None]) @ self._chol.T])

    def probability(self, delta):
        d = self._check_delta(delta)
        return float(stats.chi2.cdf(d * d, df=self.dim))

    def delta_for_confidence(self, p_c):
        return float(np.sqrt(stats.chi2.ppf(self._check_p(p_c), df=self.dim)))


def _upper_of(delta) -> Optional[float]:
    if isinstance(delta, (int, float, np.floating)):
        return float(delta)
    ub = getattr(delta, "ub", None)
    return None if ub is None else float(ub)
