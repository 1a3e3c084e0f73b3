"""Solve options: declared once, used by the solvers, the flexibility analysis, the maps,
Algorithm 3, the benchmarks and the CLI.

A :class:`SolveOptions` is a frozen, validated value.  Every driver takes ``options=``:
a :class:`SolveOptions`, the name of a preset, a dict of overrides of the driver's
preset, or None for the driver's preset.  The options are serialised (``to_dict``) into
checkpoints and summaries, so a resumed map is refused when they changed.

Presets (the measured reasons are in :data:`PRESETS`):

* ``"index"`` — one flexibility index or test (:class:`~flexspace.FlexibilityAnalysis`);
* ``"index_map"`` — Algorithm 2, one index per grid point;
* ``"bisection"`` — Algorithm 3, extended flexibility tests on θp rectangles.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping, Optional, Union

from .validation import ValidationError, check_number, check_positive, check_random_state

__all__ = ["SolveOptions", "PRESETS", "OptionsLike", "resolve_options"]


@dataclass(frozen=True)
class SolveOptions:
    """How every optimisation subproblem is solved and checked.

    Attributes
    ----------
    time_limit : wall-clock seconds **per solve** — per call of
        :meth:`flexspace.solvers.Solver.solve`, i.e. per optimisation subproblem — not per
        user call.  One solve returns within ``time_limit + max(2 s, 5 %)``
        (:func:`flexspace.solvers.solver.time_allowance`), counted from the start of
        ``Solver.solve``: the guard's fork, the model's state and its translation for the
        solver, the solve, and the kill or the answer all count.  The solver is handed what is
        left of the limit when it starts (MAiNGO in whole seconds, rounded up), and the hard
        guard kills a solver still running at ``time_limit + 0.75 max(2 s, 5 %)``
        (:func:`~flexspace.solvers.solver.guard_grace`; every built-in solver but HiGHS runs
        under it, Ipopt because it checks its limit only between iterations).  A user call
        makes several solves: a flexibility test or index one per CQA (or one MINLP) — an
        index subproblem restricted by an earlier answer (or by the simulator's sampled
        crossing) is solved again on the whole set when the restriction gives no answer, and
        its reported time is then both solves' —, a probe of the model and the initial square
        solve at the first point, the domain checks of a global solver, an Ipopt polish per
        index subproblem, certification solves without a simulator; a map or Algorithm 3 many
        per point.  So ``flexibility_test(…, options={"time_limit": 60})`` can take several
        times 60 s when several of its solves run out of time; each time-out is reported
        (status ``time limit``, and the result's one ``timeout`` line), never taken as an
        answer.
    gap : relative optimality gap of global solvers (MAiNGO ``epsilonR``, SCIP
        ``limits/gap``).  Default 1e-5: MAiNGO takes ~100x longer at 1e-6 on case 1
        (measured, README, "Solvers").
    abs_gap : absolute gap (MAiNGO ``epsilonA``, SCIP ``limits/absgap``).  None: 1e-9
        for single solves; ε_tol/10 in Algorithm 3 (its stopping window is absolute in χ).
    feas_tol : constraint feasibility tolerance (Ipopt ``constr_viol_tol``, MAiNGO
        ``deltaIneq``/``deltaEq``, SCIP ``numerics/feastol``).
    delta_max : cap on the flexibility index δ (σ units).  None: the model's own
        ``delta_max`` (6 unless the model says otherwise).
    certify : sample the set at the returned δ and compare with the model.  None: on
        for local solvers, for global solvers when the model has a vectorised simulator,
        and wherever the domain of the model could not be proven.
    n_certify : certification samples.  None: 2000 with a vectorised simulator, else
        200 square Pyomo solves.
    random_state : seed of the certification samples.
    certify_epsilon, certify_beta : the level a local answer's sampling must reach to be
        ``sampled`` (scenario-certified) rather than ``uncertified``: N samples without a
        violation support "no violation region of sampling mass > ε with confidence
        1 − β" for ε = ln(1/β)/N (:func:`flexspace.formulations.results.scenario_epsilon`).
        Defaults ε = 0.05 and β = 1e-3 (our choice: the default 200 certification samples
        reach ε = 0.035; 2000 with a simulator reach 0.0035).  Regions use ``sampled``
        points only at this level, and say so.
    bracket_iterations : iterations of the exact route for nonconvex recourse (each one
        global relaxation solve and one global solve of the inner problem,
        :mod:`flexspace.formulations.bracket`); when they run out the result is a proven
        ``bound``.  Default 40 (our choice; the peer's problems need 2-12).
    grid_points : points per axis of the set's box for the recourse ``grid`` route (ψ at
        every grid point inside the set).  Default 3: the peer's sampling of its IDAES HX
        example (IDAES PR #1398, ``num_points = 3``, grid strategy).
    local_presolve : global solvers first solve each index NLP with Ipopt and use its δ
        as an upper bound (valid: a local optimum is a feasible point).  Off by default:
        it helps SCIP on the LDL form of case 2 but made SCIP hang on the box form
        (measured).
    cutoffs : decide signs, do not optimise past them (global solvers that honour objective
        targets: MAiNGO, SCIP, Gurobi).  A flexibility test stops each subproblem as soon
        as its proven bound shows χ_k below the threshold or a feasible point shows χ_k > 0
        (then the remaining constraints are skipped: χ > 0 is proven); an index subproblem
        stops as soon as its proven lower bound reaches the best δ found so far (it cannot
        be the minimum).  Such stops carry the proven bound, never an optimum.  Off: every
        subproblem is solved to the gap (for comparisons).
    """

    time_limit: float = 60.0
    gap: float = 1e-5
    abs_gap: Optional[float] = None
    feas_tol: float = 1e-8
    delta_max: Optional[float] = None
    certify: Optional[bool] = None
    n_certify: Optional[int] = None
    random_state: int = 0
    local_presolve: bool = False
    cutoffs: bool = True
    certify_epsilon: float = 0.05
    certify_beta: float = 1e-3
    bracket_iterations: int = 40
    grid_points: int = 3

    def __post_init__(self):
        _positive("time_limit", self.time_limit, "seconds per solve, e.g. 60")
        check_number("options.gap", self.gap, low=0, high=1, low_open=True, high_open=True,
                     hint="a relative gap, e.g. 1e-4")
        if self.abs_gap is not None:
            check_number("options.abs_gap", self.abs_gap, low=0)
        _positive("feas_tol", self.feas_tol, "e.g. 1e-8")
        if self.delta_max is not None:
            _positive("delta_max", self.delta_max, "sigma units, e.g. 6")
        if self.certify is not None and not isinstance(self.certify, bool):
            raise ValidationError(f"options.certify must be True, False or None, got {self.certify!r}")
        if self.n_certify is not None:
            check_number("options.n_certify", self.n_certify, integer=True, low=1, hint="samples, e.g. 2000")
        if self.random_state is None:
            raise ValidationError("options.random_state must be an int >= 0 (certification samples are "
                                  "reproducible), got None")
        check_random_state("options.random_state", self.random_state)
        if not isinstance(self.local_presolve, bool):
            raise ValidationError(f"options.local_presolve must be True or False, got {self.local_presolve!r}")
        check_number("options.certify_epsilon", self.certify_epsilon, low=0, high=1, low_open=True, high_open=True,
                     hint="a probability mass, e.g. 0.05")
        check_number("options.certify_beta", self.certify_beta, low=0, high=1, low_open=True, high_open=True,
                     hint="a confidence complement, e.g. 1e-3")
        check_number("options.bracket_iterations", self.bracket_iterations, integer=True, low=1,
                     hint="iterations, e.g. 40")
        check_number("options.grid_points", self.grid_points, integer=True, low=2, hint="points per axis, e.g. 3")
        if not isinstance(self.cutoffs, bool):
            raise ValidationError(f"options.cutoffs must be True or False, got {self.cutoffs!r}")

    def replace(self, **changes) -> "SolveOptions":
        """A copy with ``changes`` (unknown names raise a ValueError listing the valid ones)."""
        _check_names(changes)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _positive(name, value, example):
    check_positive(f"options.{name}", value, example)


def _check_names(changes: Mapping) -> None:
    valid = [f.name for f in dataclasses.fields(SolveOptions)]
    unknown = sorted(set(changes) - set(valid))
    if unknown:
        raise ValidationError(f"unknown solve option(s) {unknown}; valid options: {valid}")


#: Named presets.  ``index``: the class defaults.  ``index_map`` (measured on case 1,
#: MAiNGO, ellipsoid, 11 x 21 grid): relative gap 1e-5 left 9 of 66 points at the time
#: limit; gap 1e-4 with absolute gap 1e-6 solved all 231 points (0.1 s each); gap 1e-3 cut
#: the case 2 map (MAiNGO, reduced form, 2 workers) from 8.2 s to 7.0 s with the same region.
#: δ to 1e-3 relative is far below the grid resolution, the proven lower bound of δ is kept
#: per point, and a map's region uses P(set(δ lower bound)), so a looser gap can only make
#: the region smaller, never admit an unproven point.  ``bisection`` (measured on case 1, ellipsoid, p_c 0.85): an extended test takes
#: ~0.25 s with SCIP and 3-10 s with MAiNGO; gap 1e-4 and abs_gap = ε_tol/10.
PRESETS = {
    "index": SolveOptions(),
    "index_map": SolveOptions(time_limit=20.0, gap=1e-3, abs_gap=1e-6),
    "bisection": SolveOptions(time_limit=30.0, gap=1e-4),
}

OptionsLike = Union[SolveOptions, str, Mapping, None]


def resolve_options(options: OptionsLike, preset: str = "index", defaults: Optional[Mapping] = None) -> SolveOptions:
    """``options`` as a :class:`SolveOptions`: itself; a preset name; a dict of changes
    to the caller's ``preset``; or None for the caller's ``preset``.  ``defaults``: the
    caller's own changes to ``preset``, applied under a dict's (and alone for None)."""
    if defaults:
        options = {**defaults, **options} if isinstance(options, Mapping) else (options or dict(defaults))
    if isinstance(options, SolveOptions):
        return options
    if options is None:
        return PRESETS[preset]
    if isinstance(options, str):
        if options not in PRESETS:
            raise ValidationError(f"unknown options preset {options!r}; choose from {sorted(PRESETS)} "
                             "or pass a SolveOptions / dict")
        return PRESETS[options]
    if isinstance(options, Mapping):
        return PRESETS[preset].replace(**dict(options))
    raise ValidationError(f"options must be a SolveOptions, a preset name {sorted(PRESETS)}, a dict or None; "
                     f"got {type(options).__name__}")
