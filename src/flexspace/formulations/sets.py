"""Uncertainty sets for θm: data (validated in the constructor), the set's geometry, and
one method that writes the set's constraints onto a Pyomo block, scaled by a δ variable
or a fixed δ (PyROS style: :meth:`UncertaintySet.build` returns a :class:`SetHandle`).

Shapes (equation numbers of the design-space paper):

* :class:`BoxSet` — hyperrectangle, Eq. 21 (and Eq. 33 in the extended test):
  ``θ̄ − δ Δ⁻ ≤ θ ≤ θ̄ + δ Δ⁺``, default ``Δ± = sqrt(diag Σ)``.
* :class:`EllipsoidalSet` — ellipsoid, Eq. 24 (and Eq. 34):
  ``(θ − θ̄)ᵀ Σ⁻¹ (θ − θ̄) ≤ δ²``, δ a radius in standard-deviation units; with
  ``ldl=True`` (default) written in the LDL form of Eq. 25–27:
  ``Σ⁻¹ = L D Lᵀ``, ``w = Lᵀ (θ − θ̄)``, ``Σ_i D_ii w_i² ≤ δ²``.

Every set shares the probability conversions used by Algorithms 2 and 3:
``probability(δ)`` and ``delta_for_confidence(p_c)``.  Polyhedral and budget sets
(:mod:`~.polyhedral`) and a user's own subclass follow the same protocol.

**The set protocol** (what every entry point asks of a set, and all it asks): ``dim``,
``nominal``, ``covariance``, ``kind``/``name`` (what results and tables print), ``is_linear``,
``convex_in_delta_squared``, :meth:`~UncertaintySet.build` (→ :class:`SetHandle`),
``half_widths``/``bounds``, ``gauge``, ``contains``, ``sample``, ``probability``,
``delta_for_confidence``, ``vertices`` (optional) and ``parameters``/``to_dict``/``from_dict``
(checkpoints and fingerprints).  Adding a set kind is one file: a subclass.  Sets built from
a name alone (θ̄m, Σ) are in the one registry :func:`set_names` / :func:`set_from_name`;
:func:`make_uncertainty_set` is the one place an ``uncertainty_set`` argument (a name, an
object or its ``to_dict``) becomes a set.

Everything the formulations need to know about a set's geometry lives here: its
:class:`SetKind` (:attr:`UncertaintySet.kind`), the bounding box of set(δ)
(:meth:`UncertaintySet.bounds`), its auxiliary variables and their bounds
(:meth:`UncertaintySet.auxiliary_bounds`, the LDL ``w`` of Eq. 25–27), and
:meth:`SetHandle.bound_to`, which writes all of those bounds onto a built set.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import pyomo.environ as pyo
from scipy import linalg, optimize, stats

from ..validation import as_vector as _as_vector
from ..errors import InputTypeError, UnknownNameError, UnsupportedError
from ..validation import StrChoice, ValidationError, as_array, check_number, check_probability, validate_covariance

__all__ = ["SetKind", "SetHandle", "UncertaintySet", "BoxSet", "EllipsoidalSet", "validate_covariance", "set_names",
           "set_from_name", "make_uncertainty_set"]

DeltaLike = Union[float, pyo.Var, "pyo.core.base.var.VarData"]


# --------------------------------------------------------------------------- kinds
class SetKind(StrChoice):
    """The shape of an uncertainty set (:attr:`UncertaintySet.kind`)."""

    BOX = "box"  #: hyperrectangle, Eq. 21 / 33
    ELLIPSOID = "ellipsoid"  #: ellipsoid in the original variables, Eq. 24 / 34
    LDL = "ldl"  #: ellipsoid in the LDL form, Eq. 25–27

    @classmethod
    def parse(cls, value, param: str = "uncertainty_set") -> "SetKind":
        return super().parse(value, param)


# --------------------------------------------------------------------------- base class
class UncertaintySet(abc.ABC):
    """θm ∈ set(δ): data + :meth:`build` onto a Pyomo block (PyROS style)."""

    def __init__(self, nominal, covariance=None):
        self._nominal = _as_vector("nominal", nominal)
        n = self._nominal.size
        if n == 0:
            raise ValidationError("nominal is empty: an uncertainty set needs at least one uncertain parameter "
                                  "(one entry of theta_m per dimension)")
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
            raise ValidationError(f"{what} needs the covariance of θm; construct the set with covariance=Σ")
        return self._cov

    #: the set's name: what results, tables, checkpoints and the command line call it.  A
    #: user's subclass sets its own (default: the class name in lower case).
    name: str = ""

    @property
    def kind(self) -> str:
        """Which shape (and formulation) this set is: a :class:`SetKind` for the shipped
        shapes, :attr:`name` for any other (a ``str`` either way)."""
        return self.name or type(self).__name__.lower()

    #: True when :meth:`build` writes constraints linear in θ and δ (a box, a polyhedron, a
    #: budget set): with a linear model the problems are then LP/MILP.  The safe default is
    #: False (a set wrongly called nonlinear only keeps LP/MILP solvers away).
    is_linear: bool = False

    #: True when every set(δ) is convex (the shipped sets are).  A local solver's answer is
    #: exact only on a convex problem, so a set not declared convex never lets a local
    #: answer be ``ok``: the safe default is False.
    is_convex: bool = False

    #: True when :meth:`probability` is an estimate (e.g. Monte Carlo) rather than a closed
    #: form: :meth:`probability_lower_bound` then gives the value a region may trust.
    probability_is_estimate: bool = False

    def probability_lower_bound(self, delta: float) -> float:
        """A value ≤ P(θm ∈ set(δ)) that regions may trust: :meth:`probability` itself for a
        closed form; a set whose probability is an estimate returns a one-sided confidence
        bound (and says so in its docstring)."""
        return self.probability(delta)

    def vertices(self, delta: float) -> Optional[np.ndarray]:
        """The vertices of set(δ) as rows when the set is a polytope whose vertices the worst
        case may be sought at (the vertex route of recourse), else ``None``."""
        return None

    @staticmethod
    def of_kind(kind, nominal, covariance) -> "UncertaintySet":
        """The set of ``kind`` (a :class:`SetKind` or its string) with the default half-widths."""
        return set_from_name(kind, nominal, covariance)

    # -- data round trip (checkpoints, fingerprints, worker processes)
    def parameters(self) -> dict:
        """The constructor's arguments that rebuild this set (``type(self)(**parameters())``).
        The default reads each parameter of ``__init__`` from the attribute of the same name
        (or ``_name``); a subclass whose attributes differ from its arguments overrides it."""
        import inspect
        out = {}
        for pname, par in inspect.signature(type(self).__init__).parameters.items():
            if pname == "self" or par.kind in (par.VAR_POSITIONAL, par.VAR_KEYWORD):
                continue
            for attr in (pname, "_" + pname):
                if attr in self.__dict__:
                    out[pname] = self.__dict__[attr]
                    break
            else:
                if par.default is par.empty:
                    raise UnsupportedError(
                        f"{type(self).__name__}.parameters(): no attribute {pname!r} or {'_' + pname!r} holds the "
                        f"constructor argument {pname!r}; override parameters() to return the constructor's arguments")
        return out

    def to_dict(self) -> dict:
        """JSON-able data that :meth:`from_dict` turns back into an equal set: the class (as
        ``module:qualname``), its name and its constructor arguments."""
        from ..files import jsonable
        cls = type(self)
        return {"class": f"{cls.__module__}:{cls.__qualname__}", "name": str(self.kind),
                "parameters": jsonable(self.parameters())}

    @staticmethod
    def from_dict(data: dict) -> "UncertaintySet":
        """The set :meth:`to_dict` described.  The class is imported by its module path and
        must be an :class:`UncertaintySet` subclass (a checkpoint cannot name any other code)."""
        import importlib
        if not isinstance(data, dict) or "class" not in data:
            raise ValidationError(f"an uncertainty set's data must be a dict from UncertaintySet.to_dict(), got {data!r}")
        module, _, qual = str(data["class"]).partition(":")
        try:
            obj = importlib.import_module(module)
            for part in qual.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise ValidationError(f"uncertainty set class {data['class']!r} cannot be imported ({exc}): make its module "
                                  f"importable (on sys.path) where the set is rebuilt") from None
        if not (isinstance(obj, type) and issubclass(obj, UncertaintySet)):
            raise ValidationError(f"{data['class']!r} is not an UncertaintySet subclass")
        return obj(**dict(data.get("parameters", {})))

    # -- the Pyomo side
    #: True when the set's constraints are convex in δ² (ellipsoids): the flexibility index
    #: then minimises δ² — a convex formulation — instead of δ (nonconvex ``… ≤ δ²``).
    convex_in_delta_squared: bool = False

    @abc.abstractmethod
    def build(self, block: pyo.Block, theta: Sequence, delta: DeltaLike, squared: bool = False) -> "SetHandle":
        """Write ``θ ∈ set(δ)`` onto ``block`` (``theta``: Pyomo VarData, one per dimension;
        ``delta``: a Pyomo Var (flexibility index), a mutable Param or a number (flexibility
        test)).  With ``squared=True`` the argument stands for δ² (only for sets with
        :attr:`convex_in_delta_squared`).  Auxiliary variables get the bounds of set(δ's
        upper value) when it is known (a number, or a Var with an upper bound).  Returns the
        :class:`SetHandle` of what was built."""

    def _handle(self, block, theta, delta, squared, auxiliary=()) -> "SetHandle":
        handle = SetHandle(self, block, list(theta), delta, squared, list(auxiliary))
        dmax = _upper_of(delta)
        if handle.auxiliary and dmax is not None:
            handle.bound_auxiliary(float(np.sqrt(dmax)) if squared else dmax)
        return handle

    @abc.abstractmethod
    def half_widths(self, delta: float) -> np.ndarray:
        """Half-width of the set's bounding box in each coordinate at ``delta``, symmetric
        about the nominal point (for a box with ``Δ⁻ ≠ Δ⁺`` the larger side)."""

    def bounds(self, delta: float) -> Tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)``: the smallest box containing set(δ) (variable bounds, which
        global solvers need); by default ``θ̄ ∓ half_widths(δ)``."""
        h = self.half_widths(delta)
        return self._nominal - h, self._nominal + h

    def _center_half(self, delta: float) -> Tuple[np.ndarray, np.ndarray]:
        """:meth:`bounds` as centre and half-width (the form :meth:`SetHandle.bound_to` pads)."""
        return self._nominal, self.half_widths(delta)

    # -- auxiliary variables of the formulation (none unless a subclass has them)
    @property
    def n_auxiliary(self) -> int:
        """Number of auxiliary variables :meth:`build` adds (the LDL ``w``)."""
        return 0

    def auxiliary_values(self, points) -> np.ndarray:
        """The auxiliary variables at each row of ``points`` (m, n): shape (m, n_auxiliary)."""
        return np.zeros((np.atleast_2d(points).shape[0], 0))

    def auxiliary_bounds(self, delta: float) -> Tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)`` of the auxiliary variables over set(δ) (slightly padded)."""
        return np.zeros(0), np.zeros(0)

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
        return check_probability("confidence", p_c)

    @staticmethod
    def _check_delta(delta: float) -> float:
        return check_number("delta", delta, low=0)

    def _points(self, points) -> np.ndarray:
        """``points`` as an (m, dim) float array; a wrong width is named, not broadcast."""
        P = np.atleast_2d(as_array("points", points))
        if P.ndim != 2 or P.shape[1] != self.dim:
            raise ValidationError(f"points must have shape (m, {self.dim}) (one column per theta_m), "
                                  f"got shape {np.shape(points)}")
        return P

    @staticmethod
    def _check_n(n) -> int:
        return check_number("n", n, integer=True, low=0, hint="the number of points to draw")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim})"


# --------------------------------------------------------------------------- handle
@dataclass
class SetHandle:
    """What :meth:`UncertaintySet.build` wrote onto a block (cf. PyROS's
    ``UncertaintyQuantification``): the problem keeps it to find and re-bound its set.

    ``theta``: the θ variables constrained to the set; ``auxiliary``: the variables the
    formulation added (the LDL ``w``; empty otherwise); ``delta``: the size the set was
    built with (a Var, a mutable Param or a number; it stands for δ² when ``squared``)."""

    uset: "UncertaintySet"
    block: pyo.Block
    theta: List
    delta: object
    squared: bool = False
    auxiliary: List = field(default_factory=list)

    @property
    def kind(self) -> SetKind:
        return self.uset.kind

    @property
    def variables(self) -> List:
        """θ and the auxiliary variables: everything :meth:`bound_to` bounds."""
        return self.theta + self.auxiliary

    def bound_to(self, delta_value: float, within=None) -> None:
        """Set every variable bound implied by set(δ) (δ itself, also when the set was built
        in δ²): θ in :meth:`UncertaintySet.bounds` (clipped to ``within``, an (n, 2) array
        of outer bounds, when given) padded by 1e-6 relative, and the auxiliary variables
        in :meth:`UncertaintySet.auxiliary_bounds`."""
        if within is None:
            center, half = self.uset._center_half(delta_value)
        else:
            within = np.asarray(within, float)
            lo, hi = self.uset.bounds(delta_value)
            lo, hi = np.maximum(lo, within[:, 0]), np.minimum(hi, within[:, 1])
            center, half = 0.5 * (lo + hi), 0.5 * np.abs(hi - lo)
        for v, c, h in zip(self.theta, center, half):
            pad = 1e-6 * (abs(h) + abs(c)) + 1e-12  # a point box (δ = 0) keeps lb < ub
            v.setlb(float(c - h - pad))
            v.setub(float(c + h + pad))
        self.bound_auxiliary(delta_value)

    def bound_auxiliary(self, delta_value: float) -> None:
        """Only the auxiliary variables' bounds for set(δ)."""
        lo, hi = self.uset.auxiliary_bounds(delta_value)
        for v, a, b in zip(self.auxiliary, lo, hi):
            v.setlb(float(a))
            v.setub(float(b))


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

    kind = SetKind.BOX
    name = "box"
    is_linear = True
    is_convex = True

    def __init__(self, nominal, covariance=None, delta_minus=None, delta_plus=None):
        super().__init__(nominal, covariance)
        n = self.dim
        if delta_minus is None or delta_plus is None:
            if self._cov is None:
                raise ValidationError("BoxSet needs either covariance (Δ± default to sqrt(diag Σ)) or both "
                                 "delta_minus and delta_plus")
            sd = np.sqrt(np.diag(self._cov))
        dm = sd if delta_minus is None else _as_vector("delta_minus", delta_minus, n)
        dp = sd if delta_plus is None else _as_vector("delta_plus", delta_plus, n)
        for nm, v in (("delta_minus", dm), ("delta_plus", dp)):
            neg = np.flatnonzero(v < 0)
            if neg.size:
                raise ValidationError(f"{nm} must be >= 0 (it is a half-width); negative at index {neg.tolist()}")
        self.delta_minus = np.array(dm, dtype=float)
        self.delta_plus = np.array(dp, dtype=float)

    def build(self, block, theta, delta, squared=False) -> "SetHandle":
        n = self.dim
        if len(theta) != n:
            raise ValidationError(f"BoxSet of dimension {n} given {len(theta)} variables")
        if squared:
            raise ValidationError("a box is linear in delta; it cannot be written in delta squared")
        d = _rhs(delta)
        block.box_lower = pyo.Constraint(
            range(n), rule=lambda b, i: theta[i] >= float(self._nominal[i]) - float(self.delta_minus[i]) * d)
        block.box_upper = pyo.Constraint(
            range(n), rule=lambda b, i: theta[i] <= float(self._nominal[i]) + float(self.delta_plus[i]) * d)
        return self._handle(block, theta, delta, squared)

    def half_widths(self, delta: float) -> np.ndarray:
        return float(delta) * np.maximum(self.delta_minus, self.delta_plus)

    def parameters(self) -> dict:
        return {"nominal": self._nominal, "covariance": self._cov, "delta_minus": self.delta_minus,
                "delta_plus": self.delta_plus}

    def vertices(self, delta: float) -> np.ndarray:
        """The 2ⁿ corners of the box."""
        lo, hi = self.bounds(delta)
        corners = np.array(np.meshgrid(*[[0, 1]] * self.dim, indexing="ij")).reshape(self.dim, -1).T
        return lo + corners * (hi - lo)

    def bounds(self, delta: float) -> Tuple[np.ndarray, np.ndarray]:
        """The box itself: ``θ̄ − δΔ⁻``, ``θ̄ + δΔ⁺``."""
        d = float(delta)
        return self._nominal - d * self.delta_minus, self._nominal + d * self.delta_plus

    def _center_half(self, delta: float) -> Tuple[np.ndarray, np.ndarray]:
        if np.array_equal(self.delta_minus, self.delta_plus):
            return super()._center_half(delta)
        lo, hi = self.bounds(delta)
        return 0.5 * (lo + hi), 0.5 * np.abs(hi - lo)

    def contains(self, points, delta, tol=1e-9):
        P = self._points(points) - self._nominal
        d = self._check_delta(delta)
        return np.all((P >= -d * self.delta_minus - tol) & (P <= d * self.delta_plus + tol), axis=1)

    def gauge(self, points):
        P = self._points(points) - self._nominal
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(P >= 0, P / self.delta_plus, -P / self.delta_minus)
        return np.max(np.nan_to_num(r, nan=0.0, posinf=np.inf), axis=1)

    def sample(self, delta, n, rng, boundary_fraction=0.5):
        n = self._check_n(n)
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

    def __getstate__(self):
        d = dict(self.__dict__)
        d.pop("_p_cache", None)  # a cache, not data: pickles (and fingerprints) stay the same
        return d

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
        # Genz's quasi-Monte-Carlo integration, seeded so that the result is reproducible; one
        # per δ (a map asks for P(δ) and P(δ lower bound) at every point)
        cache = self.__dict__.setdefault("_p_cache", {})
        if d in cache:
            return cache[d]
        try:
            p = _box_cdf(upper, lower, S, self.dim)
        except np.linalg.LinAlgError:
            # badly scaled units (the correlations are fine: validate_covariance checked them): the
            # same probability in standardised coordinates
            p = _box_cdf(upper / sd, lower / sd, S / np.outer(sd, sd), self.dim)
        if len(cache) > 10000:
            cache.clear()
        cache[d] = float(np.clip(p, 0.0, 1.0))
        return cache[d]

    def delta_for_confidence(self, p_c):
        p = self._check_p(p_c)
        hi = 1.0
        while self.probability(hi) < p:
            hi *= 2.0
            if hi > 1e3:
                raise ValidationError(f"no box reaches probability {p}; check the covariance and half-widths")
        return float(optimize.brentq(lambda d: self.probability(d) - p, 0.0, hi, xtol=1e-12, rtol=1e-12))


# --------------------------------------------------------------------------- ellipsoid
def _box_cdf(upper, lower, cov, dim) -> float:
    """P(lower ≤ θ − θ̄ ≤ upper) by Genz's QMC (scipy), seeded.  Tolerances 1e-8 absolute,
    1e-7 relative, at most 50 000·dim points: measured on case 2 (5-D, P ≈ 0.82) within 5e-8
    of a 200 000·dim, 1e-10 run and 4x faster (0.06 s against 0.26 s per call)."""
    return stats.multivariate_normal.cdf(upper, mean=np.zeros(dim), cov=cov, maxpts=50000 * dim, abseps=1e-8,
                                         releps=1e-7, lower_limit=lower, rng=np.random.default_rng(12345))


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

    convex_in_delta_squared = True
    is_convex = True

    def __init__(self, nominal, covariance, ldl: bool = True):
        if not isinstance(ldl, (bool, np.bool_)):
            raise ValidationError(f"ldl must be True (the LDL form, Eq. 25-27) or False, got {ldl!r}")
        if covariance is None:
            raise ValidationError("EllipsoidalSet needs the covariance matrix Σ")
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
    def kind(self) -> SetKind:
        return SetKind.LDL if self.ldl else SetKind.ELLIPSOID

    @property
    def name(self) -> str:
        return self.kind.value

    def parameters(self) -> dict:
        return {"nominal": self._nominal, "covariance": self._cov, "ldl": self.ldl}

    def build(self, block, theta, delta, squared=False) -> "SetHandle":
        n = self.dim
        if len(theta) != n:
            raise ValidationError(f"EllipsoidalSet of dimension {n} given {len(theta)} variables")
        d = _rhs(delta)
        rhs = d if squared else d ** 2
        nom = [float(v) for v in self._nominal]
        if self.ldl:
            # Eq. 25-27: w = Lᵀ(θ − θ̄); Σ D_ii w_i² ≤ δ²  (w bounded by _handle: auxiliary_bounds)
            block.w = pyo.Var(range(n), initialize=0.0)
            L = self.L
            block.w_def = pyo.Constraint(
                range(n),
                rule=lambda b, i: b.w[i] == sum(float(L[j, i]) * (theta[j] - nom[j]) for j in range(i, n)))
            block.ellipsoid = pyo.Constraint(
                expr=sum(float(self.D[i]) * block.w[i] ** 2 for i in range(n)) <= rhs)
            return self._handle(block, theta, delta, squared, block.w.values())
        else:
            # Eq. 24 as a sum of squares ||C⁻¹(θ − θ̄)||² (Σ = C Cᵀ): the same quadratic form,
            # but global solvers see its convexity; the expanded sum of bilinear terms is relaxed
            # badly (seed §3.2; measured here: MAiNGO times out on it for n >= 3).
            Ci = linalg.solve_triangular(self._chol, np.eye(n), lower=True)
            block.ellipsoid = pyo.Constraint(
                expr=sum(sum(float(Ci[i, j]) * (theta[j] - nom[j]) for j in range(i + 1)) ** 2
                         for i in range(n)) <= rhs)
            return self._handle(block, theta, delta, squared)

    def half_widths(self, delta: float) -> np.ndarray:
        return float(delta) * np.sqrt(np.diag(self._cov))

    @property
    def n_auxiliary(self) -> int:
        return self.dim if self.ldl else 0

    def auxiliary_values(self, points) -> np.ndarray:
        """LDL form: ``w = Lᵀ (θ − θ̄)`` for each row (Eq. 26)."""
        if not self.ldl:
            return super().auxiliary_values(points)
        return (self._points(points) - self._nominal) @ self.L

    def auxiliary_bounds(self, delta: float) -> Tuple[np.ndarray, np.ndarray]:
        """LDL form: ``Σ_i D_ii w_i² ≤ δ²`` gives ``|w_i| ≤ δ / sqrt(D_ii)`` (reached at
        ``w = ±δ/sqrt(D_ii) e_i``, a point of the set), padded by 1e-4 relative + 1e-9."""
        if not self.ldl:
            return super().auxiliary_bounds(delta)
        half = 1.0001 * float(delta) * (1.0 / np.sqrt(self.D))
        return -half - 1e-9, half + 1e-9

    def mahalanobis(self, points) -> np.ndarray:
        """sqrt((θ − θ̄)ᵀ Σ⁻¹ (θ − θ̄)) for each row, through the Cholesky factor."""
        P = self._points(points) - self._nominal
        z = linalg.solve_triangular(self._chol, P.T, lower=True)
        return np.sqrt(np.sum(z * z, axis=0))

    def contains(self, points, delta, tol=1e-9):
        return self.mahalanobis(points) <= self._check_delta(delta) + tol

    def gauge(self, points):
        return self.mahalanobis(points)

    def sample(self, delta, n, rng, boundary_fraction=0.5):
        n = self._check_n(n)
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


# --------------------------------------------------------------------------- registry
#: The sets a name alone builds from (θ̄m, Σ): name → ``factory(nominal, covariance)``.  The
#: one list of set names in flexspace (the command line's choices read it); a set that needs
#: more data (a polyhedron's A and b, a budget) is passed as an object.
_BY_NAME = {
    "box": lambda nominal, cov: BoxSet(nominal, cov),
    "ellipsoid": lambda nominal, cov: EllipsoidalSet(nominal, cov, ldl=False),
    "ldl": lambda nominal, cov: EllipsoidalSet(nominal, cov, ldl=True),
}


def set_names() -> List[str]:
    """The names :func:`set_from_name` accepts."""
    return list(_BY_NAME)


def set_from_name(name, nominal, covariance) -> UncertaintySet:
    """The set called ``name`` (any case; a :class:`SetKind` too) about ``nominal`` with
    covariance Σ and its default half-widths."""
    key = str(name).lower()
    if key not in _BY_NAME:
        raise UnknownNameError(f"unknown uncertainty set {name!r}: uncertainty_set must be one of "
                               f"{', '.join(map(repr, _BY_NAME))} or an UncertaintySet object")
    return _BY_NAME[key](nominal, covariance)


def make_uncertainty_set(spec, nominal, covariance) -> UncertaintySet:
    """``spec`` — a set name or an :class:`UncertaintySet` object (or its :meth:`~UncertaintySet.to_dict`)
    — as a set of dimension ``len(nominal)``; the one place every entry point turns its
    ``uncertainty_set`` argument into a set."""
    if isinstance(spec, UncertaintySet):
        uset = spec
    elif isinstance(spec, dict):
        uset = UncertaintySet.from_dict(spec)
    elif isinstance(spec, str):
        uset = set_from_name(spec, nominal, covariance)
    else:
        raise InputTypeError(f"uncertainty_set must be one of {', '.join(map(repr, _BY_NAME))} or an "
                             f"UncertaintySet object, got {spec!r}")
    n = len(np.atleast_1d(nominal))
    if uset.dim != n:
        raise ValidationError(f"uncertainty_set has dimension {uset.dim} but the model has {n} uncertain parameters "
                              f"(theta_m): build the set on the model's theta_m")
    _check_same_distribution(uset, nominal, covariance)
    return uset


def _check_same_distribution(uset: UncertaintySet, nominal, covariance) -> None:
    """A set object must be centred on the model's θ̄m (where nominal feasibility is checked)
    and carry the model's Σ (its probabilities are P under the model's distribution)."""
    nom = np.asarray(nominal, float)
    if not np.allclose(uset.nominal, nom, rtol=1e-12, atol=0.0):
        raise ValidationError(f"uncertainty_set is centred at {uset.nominal.tolist()} but the model's theta_m_nominal "
                              f"is {nom.tolist()}: build the set on model.theta_m_nominal (the nominal point is where "
                              "feasibility is checked and the set grows from)")
    if covariance is not None and (uset.covariance is None or not np.allclose(
            uset.covariance, np.asarray(covariance, float), rtol=1e-12, atol=0.0)):
        raise ValidationError("uncertainty_set carries " + ("no covariance" if uset.covariance is None else
                              "another covariance than the model's") + ": build it with covariance=model.covariance "
                              "(its probabilities are P(theta_m in set) under the model's N(theta_m_nominal, Sigma))")
