"""Algorithm 3 of the design-space paper: the largest hyperrectangle in θp around a nominal point on
which the CQAs hold for every θm in the p_c-confidence set (extended flexibility test,
Eq. 28–36), found by bisection on its size δp.

Rectangle shape (choice): ``θ̄p − δp Δ⁻ ≤ θp ≤ θ̄p + δp Δ⁺`` with, by default,
``Δ⁻ = θ̄p − θp^lo`` and ``Δ⁺ = θp^hi − θ̄p`` (the distances to the θp bounds), so δp ∈ [0, 1]
scales the whole θp box towards θ̄p (δp = 1 is the box itself).  Its volume is then
``δp^n_p × vol(box)`` wherever θ̄p lies, so "larger rectangle" means "larger δp".

Steps (design-space paper, Algorithm 3): δm from p_c (:meth:`UncertaintySet.delta_for_confidence`);
bracket check ``χ(δp^L) < 0 < χ(δp^U)`` (clear errors otherwise: an infeasible nominal
point, or a box that is feasible as a whole); bisection until ``−ε_tol ≤ χ ≤ 0``.
A step counts as feasible only when the extended test is *proven* (``feasible``: χ ≤ 0,
every subproblem solved and, for global solvers, the proven bound ≤ 0); a failed or
undecided step is treated as infeasible, which can only shrink the rectangle.

``step="illinois"`` (the default; ``"bisection"`` is the design-space paper's halving): regula falsi with
the Illinois modification on the same bracket and the same stopping rule (a bisection step
whenever the bracket does not halve in two steps), each secant aimed at χ = −ε_tol/2 —
fewer solves than bisection on smooth χ(δp), every step still proven.

Beyond the design-space paper:

* ``move_nominal=True``: coordinate (pattern) search on θ̄p maximising δp: each round
  tries θ̄p ± step·(box width) along each axis; a candidate is first checked with one
  extended test at the current best δp (a rejection costs one test), and only then
  bisected on [δp*, 1]; steps halve after a round without improvement.
* ``cover=DesignSpaceMap``: greedy cover of the feasible region with several
  rectangles (the design-space paper's "future work"): after the first rectangle, the next nominal
  point is the uncovered grid point of the map's p_c-region farthest from the map's
  infeasible points; a rectangle is grown there; repeat up to ``max_rectangles`` (seeds
  where even δp = 0 is not feasible are skipped).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import List, Optional, Sequence

import numpy as np

from ..errors import FlexspaceError, ValidationError
from ..options import OptionsLike, resolve_options
from ..validation import StrChoice, as_vector, check_number, check_probability
from .centre import nominal_point

__all__ = ["flexibility_test_region", "Bisection", "FlexTestRegion", "Rectangle", "StepStatus", "BracketError",
           "NominalInfeasibleError"]


class BracketError(FlexspaceError, ValueError):
    """χ(δp^L) < 0 < χ(δp^U) does not hold (a :class:`FlexspaceError` and a ``ValueError``)."""


class NominalInfeasibleError(BracketError):
    """χ(δp^L) ≥ 0: the nominal point itself is not feasible at p_c."""


class StepStatus(StrChoice):
    """Outcome of one extended flexibility test of Algorithm 3."""

    FEASIBLE = "feasible"  #: χ ≤ 0 proven (global) or certified by sampling (local)
    INFEASIBLE = "infeasible"  #: χ > 0
    UNDECIDED = "undecided"  #: χ ≤ 0 but not proven; treated as infeasible
    FAILED = "failed"  #: the test failed; treated as infeasible


@dataclass
class Iteration:
    delta_p: float
    chi: float
    chi_upper_bound: Optional[float]
    status: StepStatus
    time: float
    center: List[float]
    phase: str = "bisection"
    message: str = ""  #: per-subproblem solver statuses when the test did not succeed
    #: ``chi`` is g at a feasible point (a proven lower bound of χ); False when every
    #: subproblem was decided by its bound alone (``chi`` is then that upper bound)
    chi_at_point: bool = True


@dataclass
class Rectangle:
    """One Algorithm 3 rectangle: ``lower ≤ θp ≤ upper`` (clipped to the θp bounds)."""

    center: np.ndarray
    delta_p: float
    lower: np.ndarray
    upper: np.ndarray
    chi: float  #: χ at the returned δp (−ε_tol ≤ χ ≤ 0 when converged)
    converged: bool
    iterations: List[Iteration] = field(default_factory=list)
    time: float = 0.0

    @property
    def volume(self) -> float:
        return float(np.prod(np.maximum(self.upper - self.lower, 0.0)))

    def contains(self, points, tol: float = 1e-9) -> np.ndarray:
        p = np.atleast_2d(np.asarray(points, float))
        span = np.maximum(self.upper - self.lower, 1.0)
        return np.all((p >= self.lower - tol * span) & (p <= self.upper + tol * span), axis=1)

    def to_dict(self) -> dict:
        return {"center": self.center.tolist(), "delta_p": self.delta_p, "lower": self.lower.tolist(),
                "upper": self.upper.tolist(), "chi": self.chi, "converged": self.converged, "time": self.time,
                "volume": self.volume, "iterations": [asdict(it) for it in self.iterations]}


@dataclass
class FlexTestRegion:
    """Result of :func:`flexibility_test_region`: one rectangle, or several (cover)."""

    theta_p_names: List[str]
    confidence: float
    delta_m: float
    set_kind: str
    solver: str
    is_global: bool
    eps_tol: float
    rectangles: List[Rectangle]
    time: float
    n_solves: int
    n_failed: int  #: extended tests that failed (treated as infeasible)
    notes: List[str] = field(default_factory=list)
    #: how the nominal point was chosen (``source``; for a map centre also its grid estimate of δp)
    nominal: dict = field(default_factory=dict)
    #: θp units by name, as the model states them (``ProcessModel.theta_p_units``; absent: none)
    units: dict = field(default_factory=dict)

    @property
    def certified(self) -> bool:
        """Every accepted step was proven by a global solver."""
        return self.is_global

    @property
    def rectangle(self) -> Rectangle:
        return self.rectangles[0]

    @property
    def lower(self) -> np.ndarray:
        return self.rectangles[0].lower

    @property
    def upper(self) -> np.ndarray:
        return self.rectangles[0].upper

    @property
    def delta_p(self) -> float:
        return self.rectangles[0].delta_p

    @property
    def iterations(self) -> List[Iteration]:
        return [it for r in self.rectangles for it in r.iterations]

    def contains(self, points) -> np.ndarray:
        p = np.atleast_2d(np.asarray(points, float))
        return np.any([r.contains(p) for r in self.rectangles], axis=0)

    def to_dict(self) -> dict:
        return {"theta_p_names": self.theta_p_names, "confidence": self.confidence, "delta_m": self.delta_m,
                "set": self.set_kind, "solver": self.solver, "global": self.is_global, "certified": self.certified,
                "eps_tol": self.eps_tol, "time": self.time, "n_solves": self.n_solves, "n_failed": self.n_failed,
                "notes": self.notes, "nominal": self.nominal, "units": dict(self.units),
                "rectangles": [r.to_dict() for r in self.rectangles]}

    def _repr_html_(self) -> str:
        """Jupyter's view: solver, certification and one row per rectangle (escaped HTML)."""
        from .display import region_html

        return region_html(self)

    def __str__(self) -> str:
        lines = [f"Algorithm 3 ({self.set_kind}, solver={self.solver}, {'global' if self.is_global else 'local'}), "
                 f"p_c={self.confidence}, delta_m={self.delta_m:.5g}: {len(self.rectangles)} rectangle(s), "
                 f"{self.n_solves} extended tests, {self.time:.2f} s"]
        if self.nominal:
            lines.append(f"  nominal point {self.nominal.get('point')}: {self.nominal.get('source')}")
        for r in self.rectangles:
            box = ", ".join(f"{n} in [{lo:.6g}, {hi:.6g}]" for n, lo, hi in zip(self.theta_p_names, r.lower, r.upper))
            lines.append(f"  delta_p={r.delta_p:.6g} chi={r.chi:.3g} {'converged' if r.converged else 'NOT converged'}"
                         f" ({len(r.iterations)} tests): {box}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Bisection:
    """Algorithm 3's search on the rectangle size δp (the algorithm; the problem is the
    model, the set and the solver).

    Attributes
    ----------
    step : ``"illinois"`` (default: regula falsi, Illinois variant, on the same bracket with
        the same stopping rule, aimed at the middle of the window) or ``"bisection"`` (the
        design-space paper's halving).  Measured on case 1 (ellipsoid, p_c 0.85, MAiNGO on the reduced
        form): 7 extended tests in 3.4 s against 12 in 5.4 s, the same window.
    eps_tol : stopping window ``−ε_tol ≤ χ ≤ 0`` (absolute in χ).
    max_iter : extended tests per rectangle after the bracket check.
    max_time : wall-clock budget (s); when it runs out the last proven-feasible rectangle
        is returned, marked not converged, with a note.
    delta_p_lower, delta_p_upper : the bracket on δp (δp = 1 is the whole θp box).
    delta_p_minus, delta_p_plus : Δ⁻, Δ⁺ of the rectangle; default: the distances from the
        nominal point to the θp bounds.
    move_rounds, move_step : pattern search on the nominal point (``move_nominal=True``):
        rounds, and the first step as a fraction of the box width.
    max_rectangles : rectangles of a cover (``cover=map``).
    """

    step: str = "illinois"
    eps_tol: float = 1e-5
    max_iter: int = 60
    max_time: Optional[float] = None
    delta_p_lower: float = 0.0
    delta_p_upper: float = 1.0
    delta_p_minus: Optional[Sequence[float]] = None
    delta_p_plus: Optional[Sequence[float]] = None
    move_rounds: int = 3
    move_step: float = 0.2
    max_rectangles: int = 4

    def __post_init__(self):
        if self.step not in ("bisection", "illinois"):
            raise ValidationError(f"Bisection.step must be 'bisection' or 'illinois', got {self.step!r}")
        lo = check_number("Bisection.delta_p_lower", self.delta_p_lower, low=0)
        hi = check_number("Bisection.delta_p_upper", self.delta_p_upper, low=0, low_open=True)
        if not lo < hi:
            raise ValidationError(f"Bisection needs 0 <= delta_p_lower < delta_p_upper, got {lo}, {hi}")
        check_number("Bisection.eps_tol", self.eps_tol, low=0, low_open=True, hint="e.g. 1e-5")
        check_number("Bisection.max_iter", self.max_iter, integer=True, low=1)
        if self.max_time is not None:
            check_number("Bisection.max_time", self.max_time, low=0, hint="seconds, or None for no budget")
        check_number("Bisection.move_rounds", self.move_rounds, integer=True, low=0)
        check_number("Bisection.move_step", self.move_step, low=0, high=1, low_open=True)
        check_number("Bisection.max_rectangles", self.max_rectangles, integer=True, low=1)
        for name in ("delta_p_minus", "delta_p_plus"):
            v = getattr(self, name)
            if v is not None:
                v = as_vector(f"Bisection.{name}", v)
                if np.any(v < 0):
                    raise ValidationError(f"Bisection.{name} must be >= 0 in every entry (a half-width of the "
                                          f"rectangle per theta_p), got {v.tolist()}")

    def run(self, analysis, confidence: float, center, move_nominal: bool = False, cover=None):
        """Rectangles around ``center`` for ``analysis`` (a FlexibilityAnalysis) at p_c =
        ``confidence``; returns ``(rectangles, search)`` (``search`` counts solves)."""
        bounds = np.asarray(analysis.model.theta_p_bounds, float)
        search = _Search(analysis, bounds, confidence, self)
        first = search.grow(np.asarray(center, float), self.delta_p_lower, self.delta_p_upper)
        if move_nominal:
            first = _move(search, first, bounds, self.move_rounds, self.move_step, self.delta_p_upper)
        rects = [first]
        if cover is not None:
            rects += _cover(search, cover, rects, confidence, self.max_rectangles, self.delta_p_lower,
                            self.delta_p_upper)
        if search.out_of_time:
            search.notes.append(f"max_time={self.max_time} s ran out: bisection stopped early; the rectangle is "
                                "proven feasible but smaller than it could be (not converged)")
        return rects, search


class _Search:
    """The state of one :meth:`Bisection.run`: deadline, solve counts, notes."""

    def __init__(self, fa, bounds, confidence, algorithm: Bisection):
        self.fa = fa
        self.deadline = None if algorithm.max_time is None else time.perf_counter() + float(algorithm.max_time)
        self.out_of_time = False
        self.bounds = bounds
        self.confidence = confidence
        self.eps = float(algorithm.eps_tol)
        self.max_iter = int(algorithm.max_iter)
        self.step = algorithm.step
        self.dmin_user, self.dplus_user = algorithm.delta_p_minus, algorithm.delta_p_plus
        self.n_solves = 0
        self.n_failed = 0
        self.notes: List[str] = []

    def halfwidths(self, c):
        dmin = (c - self.bounds[:, 0]) if self.dmin_user is None else np.asarray(self.dmin_user, float)
        dplus = (self.bounds[:, 1] - c) if self.dplus_user is None else np.asarray(self.dplus_user, float)
        return dmin, dplus

    def chi(self, c, dp, phase, log) -> Iteration:
        dmin, dplus = self.halfwidths(c)
        t0 = time.perf_counter()
        # window: with cut-offs, χ is solved to the gap only inside the stopping window [-eps, 0];
        # elsewhere each solve stops once its sign (or χ < -eps) is proven
        r = self.fa.extended_test(dp, c, dmin, dplus, confidence=self.confidence, window=self.eps)
        self.n_solves += 1
        if not r.solved:
            status = StepStatus.FAILED
            self.n_failed += 1
        elif r.feasible:
            status = StepStatus.FEASIBLE
        elif r.chi > 0:
            status = StepStatus.INFEASIBLE
        else:
            status = StepStatus.UNDECIDED
        msg = "" if status == StepStatus.FEASIBLE else "; ".join(
            f"{sp.constraint}: {sp.status.value}{' (' + sp.message[:120] + ')' if sp.message and not sp.status.ok else ''}"
            for sp in r.subproblems)
        it = Iteration(float(dp), float(r.chi), r.chi_upper_bound, status, time.perf_counter() - t0,
                       [float(x) for x in c], phase, msg, chi_at_point=r.worst_theta_m is not None)
        log.append(it)
        return it

    def rect(self, c, dp):
        dmin, dplus = self.halfwidths(c)
        lo = np.maximum(c - dp * dmin, self.bounds[:, 0])
        hi = np.minimum(c + dp * dplus, self.bounds[:, 1])
        return lo, hi

    def solve(self, c, lo_it: Iteration, hi_it: Iteration, log) -> Rectangle:
        """Bisection (or Illinois) between a proven-feasible lo and a not-feasible hi."""
        t0 = time.perf_counter()
        lo, hi = lo_it, hi_it
        best = lo
        # the lower end of the bracket in the stopping window is not convergence: with a coarse
        # eps_tol it would stop at delta_p = 0; search until a larger feasible delta_p is in the window
        # or the bracket has collapsed onto lo
        converged = False
        width_hist = [hi.delta_p - lo.delta_p]
        side = 0
        f_lo, f_hi = lo.chi, hi.chi
        for _ in range(self.max_iter):
            if converged:
                break
            if self.deadline is not None and time.perf_counter() > self.deadline:
                self.out_of_time = True  # lo is still proven feasible: a smaller, unconverged rectangle
                break
            width = hi.delta_p - lo.delta_p
            if width <= 1e-9:
                converged = -self.eps <= lo.chi <= 0 and lo.chi_at_point
                break
            mid = 0.5 * (lo.delta_p + hi.delta_p)
            if self.step == "illinois" and hi.status == StepStatus.INFEASIBLE and math.isfinite(f_hi) and f_hi > f_lo \
                    and not (len(width_hist) >= 3 and width_hist[-1] > 0.5 * width_hist[-3]):
                # the secant aims at the middle of the stopping window, χ = −ε/2: there a gap of
                # ε/2 proves both χ ≤ 0 and χ ≥ −ε (aiming at χ = 0 asks for a gap → 0)
                x = lo.delta_p + (-0.5 * self.eps - f_lo) * (hi.delta_p - lo.delta_p) / (f_hi - f_lo)
                # keep the trial strictly inside the bracket
                mid = min(max(x, lo.delta_p + 1e-3 * width), hi.delta_p - 1e-3 * width)
            it = self.chi(c, mid, "bisection" if self.step == "bisection" else self.step, log)
            if it.status == StepStatus.FEASIBLE:
                lo, best = it, it
                f_lo = it.chi
                if side == -1:
                    f_hi *= 0.5  # Illinois: halve the stale end's value
                side = -1
                if it.chi >= -self.eps and it.chi_at_point:  # χ ∈ [chi, bound] ⊂ [-eps, 0], proven
                    converged = True
            else:
                hi = it
                f_hi = it.chi if (it.status == StepStatus.INFEASIBLE and math.isfinite(it.chi)) else f_hi
                if side == 1:
                    f_lo *= 0.5
                side = 1
            width_hist.append(hi.delta_p - lo.delta_p)
        lo_b, hi_b = self.rect(c, best.delta_p)
        return Rectangle(np.asarray(c, float), float(best.delta_p), lo_b, hi_b, float(best.chi), bool(converged),
                         list(log), time.perf_counter() - t0)

    def grow(self, c, dp_lo, dp_hi, phase="bracket"):
        """Bracket check then bisection at centre c; returns a Rectangle (raises on a bad bracket)."""
        log: List[Iteration] = []
        t0 = time.perf_counter()
        L = self.chi(c, dp_lo, phase, log)
        if L.status in (StepStatus.FAILED, StepStatus.UNDECIDED):
            why = "the extended test failed" if L.status == StepStatus.FAILED else "chi <= 0 was not proven"
            raise BracketError(
                f"bracket check failed at the lower end: chi(delta_p^L={dp_lo:g}) is not known to be < 0 at "
                f"theta_p_nominal={[float(x) for x in np.round(c, 6)]}: {why} (chi={L.chi:.6g}, upper bound "
                f"{L.chi_upper_bound}; {L.message}). Try a longer time_limit or another solver.")
        if L.status != StepStatus.FEASIBLE:
            what = ("the nominal point is not feasible at p_c={}. Choose another nominal point (e.g. inside an "
                    "Algorithm 2 map's region)" if dp_lo == 0 else
                    "the rectangle at Bisection.delta_p_lower is already infeasible at p_c={}: lower "
                    "delta_p_lower (0 tests the nominal point alone)").format(self.confidence)
            raise NominalInfeasibleError(
                f"bracket check failed at the lower end: chi(delta_p^L={dp_lo:g}) = {L.chi:.6g} "
                f"(upper bound {L.chi_upper_bound}) is not < 0 at theta_p_nominal="
                f"{[float(x) for x in np.round(c, 6)]}: {what}.")
        U = self.chi(c, dp_hi, phase, log)
        if U.status == StepStatus.FEASIBLE:
            raise BracketError(
                f"bracket check failed at the upper end: chi(delta_p^U={dp_hi:g}) = {U.chi:.6g} <= 0, so the "
                f"whole rectangle at delta_p^U is feasible (chi(delta_p^L={dp_lo:g}) = {L.chi:.6g}); "
                "enlarge delta_p^U or the theta_p bounds.")
        rect = self.solve(c, L, U, log)
        rect.time = time.perf_counter() - t0
        return rect


def flexibility_test_region(model, confidence: float = 0.85, theta_p_nominal=None, uncertainty_set: str = "ellipsoid",
                            solver="scip", *, algorithm: Optional[Bisection] = None, options: OptionsLike = None,
                            move_nominal: bool = False, cover=None, analysis=None) -> FlexTestRegion:
    """Algorithm 3: the largest θp rectangle around ``theta_p_nominal`` that is feasible
    for every θm in the ``confidence`` set (see the module docstring for the choices).

    ``algorithm``: a :class:`Bisection` (default ``Bisection()``); ``options``:
    :class:`~flexspace.options.SolveOptions` (default: the ``"bisection"`` preset, whose
    ``abs_gap`` None means ε_tol/10).  ``solver``: default SCIP — measured on case 1
    (ellipsoid, p_c 0.85) an extended test takes ~0.25 s with SCIP and 3–10 s with MAiNGO.
    ``theta_p_nominal``: a θp vector, None (the model's), a DesignSpaceMap (start at its
    region's centre maximising the grid estimate of δp, :func:`.centre.chebyshev_centre`;
    reported in ``result.nominal``) or ``"centre"`` (the same on ``cover``).
    ``move_nominal``: also search the nominal point; ``cover``: a DesignSpaceMap whose
    region is covered by several rectangles.  ``analysis``: reuse a FlexibilityAnalysis
    (its set, solver and options are then used)."""
    from ..formulations import FlexibilityAnalysis

    _check_region_inputs(model, cover, analysis)
    algorithm = Bisection() if algorithm is None else algorithm
    if not isinstance(algorithm, Bisection):
        raise ValidationError(f"algorithm must be a Bisection, got {type(algorithm).__name__}")
    confidence = check_probability("confidence", confidence)
    if not isinstance(move_nominal, bool):
        raise ValidationError(f"move_nominal must be True or False, got {move_nominal!r}")
    if model.n_p == 0:
        raise ValidationError(f"model {model.name!r} has no process parameters (theta_p): Algorithm 3's rectangle is "
                              "in theta_p; use flexibility_test(model, [], ...) for its uncertain parameters alone")
    if model.theta_p_bounds is None:
        raise ValidationError("Algorithm 3 needs theta_p_bounds on the model (ProcessModel(theta_p_bounds=...))")
    c0, nominal = nominal_point(model, theta_p_nominal, confidence, algorithm.delta_p_minus, algorithm.delta_p_plus,
                                cover)
    t0 = time.perf_counter()
    if analysis is None:
        opts = resolve_options(options, "bisection")
        if opts.abs_gap is None:
            opts = opts.replace(abs_gap=algorithm.eps_tol / 10)
        analysis = FlexibilityAnalysis(model, uncertainty_set, solver, opts, diagnose_failures=False)
    fa = analysis
    if fa.domain_proof is None:  # the domain checks once over the θp bounds when that pays
        fa.use_domain_box(delta=fa.uset.delta_for_confidence(confidence))
    rects, search = algorithm.run(fa, confidence, c0, move_nominal=move_nominal, cover=cover)
    return FlexTestRegion(list(model.theta_p_names), float(confidence), float(fa.uset.delta_for_confidence(confidence)),
                          fa.set_kind, fa.solver.name, bool(fa.solver.is_global), float(algorithm.eps_tol), rects,
                          time.perf_counter() - t0, search.n_solves, search.n_failed, search.notes, nominal,
                          {n: u for n, u in zip(model.theta_p_names, getattr(model, "theta_p_units", ())) if u})


def _check_region_inputs(model, cover, analysis) -> None:
    """Types of the model, ``cover`` and ``analysis``, checked before any solve."""
    from ..formulations import FlexibilityAnalysis
    from ..models import ProcessModel
    from .results import DesignSpaceMap

    if not isinstance(model, ProcessModel):
        raise ValidationError(f"model must be a flexspace ProcessModel (e.g. flexspace.models.cases.case1.model()), "
                              f"got {type(model).__name__}")
    if cover is not None and not isinstance(cover, DesignSpaceMap):
        raise ValidationError(f"cover must be a DesignSpaceMap (e.g. from flexibility_index_map) whose region the "
                              f"rectangles cover, or None; got {type(cover).__name__}")
    if analysis is not None and not isinstance(analysis, FlexibilityAnalysis):
        raise ValidationError(f"analysis must be a FlexibilityAnalysis to reuse, or None; got "
                              f"{type(analysis).__name__}")
    if analysis is not None and analysis.model is not model:
        raise ValidationError("analysis was built for another model; pass analysis=None or one built with this model")


def _move(bis: _Search, best: Rectangle, bounds, rounds, step, dp_hi) -> Rectangle:
    width = bounds[:, 1] - bounds[:, 0]
    steps = np.full(len(width), float(step))
    for rnd in range(int(rounds)):
        improved = False
        for d in range(len(width)):
            for sign in (+1, -1):
                c = best.center.copy()
                c[d] = np.clip(c[d] + sign * steps[d] * width[d], bounds[d, 0] + 1e-9 * width[d],
                               bounds[d, 1] - 1e-9 * width[d])
                if np.allclose(c, best.center):
                    continue
                log: List[Iteration] = []
                trial = bis.chi(c, best.delta_p, "move: check", log)
                if trial.status != StepStatus.FEASIBLE:
                    continue
                hi = bis.chi(c, dp_hi, "move: check", log)
                if hi.status == StepStatus.FEASIBLE:
                    lo_b, hi_b = bis.rect(c, dp_hi)
                    cand = Rectangle(c, dp_hi, lo_b, hi_b, hi.chi, True, log)
                else:
                    cand = bis.solve(c, trial, hi, log)
                if cand.volume > best.volume * (1 + 1e-9):
                    bis.notes.append(f"move round {rnd + 1}: centre {best.center.tolist()} -> {c.tolist()}, "
                                 f"delta_p {best.delta_p:.5g} -> {cand.delta_p:.5g}")
                    cand.iterations = best.iterations + cand.iterations
                    best, improved = cand, True
        if not improved:
            steps *= 0.5
    return best


def _cover(bis: _Search, dmap, rects, confidence, max_rectangles, dp_lo, dp_hi) -> List[Rectangle]:
    pts = dmap.points
    feas = dmap.region(confidence).ravel()
    scale = np.maximum(bis.bounds[:, 1] - bis.bounds[:, 0], 1e-12)
    bad = pts[~feas] / scale
    covered = np.any([r.contains(pts) for r in rects], axis=0)
    tried = np.zeros(len(pts), bool)
    out: List[Rectangle] = []
    while len(rects) + len(out) < max_rectangles:
        cand = feas & ~covered & ~tried
        if not cand.any():
            break
        idx = np.flatnonzero(cand)
        if len(bad):
            dist = np.min(np.linalg.norm(pts[idx, None, :] / scale - bad[None, :, :], axis=2), axis=1)
        else:
            dist = np.zeros(len(idx))
        i = int(idx[np.argmax(dist)])
        tried[i] = True
        try:
            r = bis.grow(pts[i].copy(), dp_lo, dp_hi, phase="cover: bracket")
        except NominalInfeasibleError:
            bis.notes.append(f"cover: seed {pts[i].tolist()} skipped (not feasible at p_c by the extended test)")
            continue
        except BracketError as exc:
            if "lower end" in str(exc):
                bis.notes.append(f"cover: seed {pts[i].tolist()} skipped ({exc})")
                continue
            lo_b, hi_b = bis.rect(pts[i], dp_hi)
            r = Rectangle(pts[i].copy(), dp_hi, lo_b, hi_b, float("nan"), True, [])
        out.append(r)
        covered |= r.contains(pts)
        bis.notes.append(f"cover: rectangle {len(rects) + len(out)} at {pts[i].tolist()}, delta_p={r.delta_p:.5g}")
    return out
