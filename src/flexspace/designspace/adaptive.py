"""Adaptive maps: solve a coarse sub-lattice of the fine θp grid, then refine only where the
region's boundary (or a failed point) can be.

* :func:`adaptive_flexibility_index_map` — Algorithm 2 (one flexibility index per solved point);
* :func:`adaptive_monte_carlo_map` — Algorithm 1 (one Monte Carlo probability per solved
  point; worth it when there is no vectorised simulator and each point costs N solves).

**The rule.**  The fine grid (``grid``, as for the dense maps) is covered by cells whose
corners form a coarse sub-lattice (every ``coarse_step``-th point per axis, plus the last).
Each solved point is *in* (trusted status and probability ≥ ``confidence``), *out*
(trusted and below), or *undecided*: failed, uncertified or contradicted, or — for a global
index — its proven interval [δ lower bound, δ] straddles the δ of the confidence level, so
the solver gap alone could flip it.  A cell is split at its midpoint along every axis
(its new lattice points are solved) unless every solved point in its closed box is in, or
every one is out.  Splitting repeats until every cell either agrees or has no fine point
left that is not a corner.  Cells are re-checked after every round, so a solved point on
a face that contradicts a neighbour's earlier agreement refines that neighbour too.

**What is decided and what is not.**  Only solved points have a probability and a status
of their own.  The other fine points get status ``"inferred"``, probability NaN and
``inferred_member`` 1 (in) or 0 (out): the membership that every solved point of their
cell shares.  That is an assumption of continuity between solved points, not a proof —
an island or a hole of the region small enough to fall between solved points is not seen —
so :meth:`~flexspace.designspace.DesignSpaceMap.region` counts inferred points only when
asked (``include_inferred=True``, at the map's own confidence).  A failed or undecided
point is never inferred over: its cells are refined down to the fine grid, so every
neighbour of it is solved.  Two grid neighbours always lie in one final cell; so where the
map's memberships (solved or inferred) of two neighbours differ, that cell did not agree,
was split down to the fine grid, and both points are solved.  Whether the dense map's
boundary is solved too is what ``benchmarks/adaptive_map.py`` measures.

Results: a :class:`~flexspace.designspace.DesignSpaceMap` on the fine grid with the same
columns as the dense map, plus ``inferred_member``; ``settings["adaptive"]`` records the
confidence and steps; ``run_info`` the points solved per round and the inferred counts.
Workers: as the dense maps (a number of processes or any ``concurrent.futures.Executor``,
e.g. a Dask ``Client.get_executor()``); the pool is kept across rounds and each worker
builds its Pyomo problems once.  No checkpoint file (each round is short; rerun).
"""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import ValidationError
from ..options import OptionsLike
from ..validation import check_number, check_probability
from .engine import MapJob, McSettings, RunOptions, auto_chunk, executor_name, grid_points, mc_chunk, \
    model_summary, resolve_model, run_chunks, worker_pool
from .maps import check_mc_config, check_seed, index_map_job, make_grid
from .results import INFERRED_STATUS, TRUSTED_STATUSES, DesignSpaceMap

__all__ = ["adaptive_flexibility_index_map", "adaptive_monte_carlo_map"]

Cell = Tuple[Tuple[int, int], ...]  # one closed index interval (lo, hi) per θp axis
IN, OUT, UNDECIDED = 1.0, 0.0, -1.0  # membership of a solved point; NaN = not solved


# --------------------------------------------------------------------------- cells
def _coarse_steps(shape, coarse_step) -> Tuple[int, ...]:
    """One step per axis: the given int (or ints), else about ten coarse cells per axis."""
    if coarse_step is None:
        return tuple(max(1, (n - 1) // 10) for n in shape)
    steps = [coarse_step] * len(shape) if np.ndim(coarse_step) == 0 else list(coarse_step)
    if len(steps) != len(shape):
        raise ValidationError(f"coarse_step: give an int or one int per process parameter ({len(shape)}), "
                              f"got {coarse_step!r}")
    return tuple(check_number("coarse_step", s, integer=True, low=1, hint="fine-grid steps between coarse points")
                 for s in steps)


def _initial_cells(shape, steps) -> List[Cell]:
    per_axis = []
    for n, step in zip(shape, steps):
        idx = list(range(0, n, step))
        if idx[-1] != n - 1:
            idx.append(n - 1)
        per_axis.append(list(zip(idx[:-1], idx[1:])) or [(0, 0)])
    return [tuple(c) for c in itertools.product(*per_axis)]


def _box(cell: Cell):
    return tuple(slice(lo, hi + 1) for lo, hi in cell)


def _splittable(cell: Cell) -> bool:
    return any(hi - lo >= 2 for lo, hi in cell)


def _children(cell: Cell) -> List[Cell]:
    halves = [[(lo, (lo + hi) // 2), ((lo + hi) // 2, hi)] if hi - lo >= 2 else [(lo, hi)] for lo, hi in cell]
    return [tuple(c) for c in itertools.product(*halves)]


def _lattice(cell: Cell, split: bool) -> List[Tuple[int, ...]]:
    """The cell's corners (and, with ``split``, its children's corners) as index tuples."""
    vals = [sorted({lo, hi, (lo + hi) // 2} if split and hi - lo >= 2 else {lo, hi}) for lo, hi in cell]
    return list(itertools.product(*vals))


def _agreement(cell: Cell, state: np.ndarray) -> Optional[float]:
    """IN or OUT when every solved point in the cell's closed box says so; else None."""
    v = state[_box(cell)]
    v = v[~np.isnan(v)]
    if v.size == 0 or v.min() != v.max() or v[0] == UNDECIDED:
        return None
    return float(v[0])


# --------------------------------------------------------------------------- refinement
def _refine(solve: Callable[[List[Tuple[int, ...]]], None], state: np.ndarray, cells: List[Cell]):
    """Solve the coarse lattice, then split disagreeing cells until every cell agrees or is
    all corners; then make sure every unsolved point has exactly one inferred membership
    (else solve it and go on).  Returns the points solved per round and the final cells."""
    rounds = []

    def run(points):
        todo = sorted({p for p in points if np.isnan(state[p])})
        if todo:
            solve(todo)
        rounds.append(len(todo))

    run(p for c in cells for p in _lattice(c, split=False))
    while True:
        split = [c for c in cells if _splittable(c) and _agreement(c, state) is None]
        if split:
            run(p for c in split for p in _lattice(c, split=True))
            chosen = set(split)
            cells = [c for c in cells if c not in chosen] + [ch for c in split for ch in _children(c)]
            continue
        ins, outs = _inferred(cells, state)
        unsure = np.isnan(state) & (ins == outs)  # claimed both ways, or by no cell
        if not unsure.any():
            return rounds, cells
        run(map(tuple, np.argwhere(unsure)))


def _inferred(cells: Sequence[Cell], state: np.ndarray):
    """Masks of unsolved points inferred in / out by the agreeing cells that contain them."""
    ins, outs = np.zeros(state.shape, bool), np.zeros(state.shape, bool)
    for c in cells:
        verdict = _agreement(c, state)
        if verdict is not None:
            box = _box(c)
            (ins if verdict == IN else outs)[box] |= np.isnan(state[box])
    return ins, outs


def _membership(row: dict, confidence: float, delta_c: Optional[float]) -> float:
    """IN / OUT as :meth:`DesignSpaceMap.region` decides it, or UNDECIDED: an untrusted
    point, or a proven δ interval [lower bound, δ] that contains the δ of ``confidence``."""
    p = row.get("probability")
    if row.get("status") not in TRUSTED_STATUSES or p is None or not math.isfinite(p):
        return UNDECIDED
    if delta_c is not None and row.get("status") == "ok":
        lb, d = row.get("delta_lower_bound"), row.get("delta")
        if lb is not None and math.isfinite(lb) and d is not None and lb < delta_c <= d:
            return UNDECIDED
    return IN if p >= confidence else OUT


@dataclass(frozen=True)
class Refinement:
    """What the refinement decides membership by: ``confidence``, the δ threshold
    (``delta_c``, Algorithm 2; None for Monte Carlo), the coarse lattice's ``coarse_step``,
    ``workers`` and the label of inferred rows (``solver_label``)."""

    confidence: float
    delta_c: Optional[float]
    coarse_step: object
    workers: object
    solver_label: str


def _adaptive(job: MapJob, ref: Refinement) -> DesignSpaceMap:
    """Run the refinement of ``job`` and build the fine-grid map."""
    t0 = time.perf_counter()
    axes = job.axes
    shape = tuple(len(a) for a in axes)
    steps = _coarse_steps(shape, ref.coarse_step)
    points = grid_points(axes)
    state = np.full(shape, np.nan)
    rows: Dict[int, dict] = {}
    with worker_pool(ref.workers, job) as (executor, n_workers, fixed):
        def solve(idx):
            flat = [int(np.ravel_multi_index(p, shape)) for p in idx]
            cs = auto_chunk(len(flat), executor, n_workers) or 1
            got = run_chunks(job.fn, fixed, points, flat, cs, executor, None, "", False)
            for i, row in got.items():
                rows[i] = row
                state.flat[i] = _membership(row, ref.confidence, ref.delta_c)

        rounds, cells = _refine(solve, state, _initial_cells(shape, steps))
    ins, _ = _inferred(cells, state)
    table = [{**rows[i], "inferred_member": float("nan")} if i in rows else _inferred_row(bool(ins.flat[i]), ref)
             for i in range(len(points))]
    settings = {**job.settings, "adaptive": {"confidence": ref.confidence, "coarse_step": list(steps),
                                             "delta_threshold": ref.delta_c}}
    n_inf = len(points) - len(rows)
    info = {"elapsed_s": time.perf_counter() - t0, "points": len(points), "solved": len(rows),
            "inferred": n_inf, "inferred_in": int(ins.sum()), "inferred_out": n_inf - int(ins.sum()),
            "undecided_solved": int((state == UNDECIDED).sum()), "rounds": rounds, "workers": n_workers,
            "executor": executor_name(executor),
            "theta_p_units": list(getattr(job.model, "theta_p_units", [""] * len(axes)))}
    return DesignSpaceMap.from_rows(job.kind, job.model.theta_p_names, axes, table, settings=settings, run_info=info)


def _inferred_row(inside: bool, ref: Refinement) -> dict:
    where = "inside" if inside else "outside"
    return {"probability": float("nan"), "std_error": float("nan"), "status": INFERRED_STATUS,
            "solver": ref.solver_label, "global": None, "certified": False,
            "inferred_member": 1.0 if inside else 0.0,
            "message": f"not solved: every solved point of its cell is {where} the region at confidence "
                       f"{ref.confidence:g} (inferred, not proven)"}


# --------------------------------------------------------------------------- drivers
def adaptive_flexibility_index_map(model, grid=None, confidence: float = 0.85, uncertainty_set="ellipsoid",
                                   solver: str = "maingo", *, method: str = "enumeration",
                                   options: OptionsLike = None, coarse_step=None, workers=None) -> DesignSpaceMap:
    """Algorithm 2 on the fine ``grid``, solving only the coarse lattice and the cells where
    the region at ``confidence`` can change (module docstring).

    Arguments as :func:`~flexspace.designspace.flexibility_index_map` (``options``: default
    the ``"index_map"`` preset); ``coarse_step``: fine-grid steps between coarse points, an
    int or one per θp (default: about ten coarse cells per axis).  Solved points carry the
    dense map's row; the others status ``"inferred"`` and ``inferred_member``.
    ``region(confidence)`` is the solved-in region; ``region(confidence,
    include_inferred=True)`` adds the inferred-in points."""
    confidence = check_probability("confidence", confidence)
    RunOptions.checked(workers)
    job, uset = index_map_job(model, grid, uncertainty_set, solver, method, options,
                              "flexibility index (adaptive)", salt="adaptive")
    delta_c = float(uset.delta_for_confidence(confidence))
    return _adaptive(job, Refinement(confidence, delta_c, coarse_step, workers, job.settings["solver"]))


def adaptive_monte_carlo_map(model, grid=None, confidence: float = 0.85, n_samples: int = 1000, random_state=0, *,
                             pyomo_solver: str = "ipopt", coarse_step=None, workers=None) -> DesignSpaceMap:
    """Algorithm 1 on the fine ``grid``, estimating the probability only on the coarse lattice
    and in the cells where the region at ``confidence`` can change (module docstring).

    Arguments as :func:`~flexspace.designspace.monte_carlo_map` (the same ``n_samples``
    draws at every point; without a vectorised simulator one ``pyomo_solver`` solve per
    sample — the case this driver is for); ``coarse_step`` as
    :func:`adaptive_flexibility_index_map`.  Membership of a solved point is
    probability ≥ ``confidence`` (no standard-error margin, as ``region(n_se=0)``)."""
    from ..montecarlo import sample_theta_m

    confidence = check_probability("confidence", confidence)
    n_samples = check_number("n_samples", n_samples, integer=True, low=1, hint="samples per grid point, e.g. 1000")
    seed = check_seed(random_state)
    RunOptions.checked(workers)
    model, ref = resolve_model(model)
    axes = make_grid(model, grid)
    samples = sample_theta_m(model, n_samples, random_state)
    check_mc_config(model, grid_points(axes)[0], samples[:4], pyomo_solver, random_state, None)
    how = "vectorised simulator" if model.simulator is not None else f"per-sample Pyomo solves ({pyomo_solver})"
    settings = {"algorithm": "monte carlo (adaptive)", "model": model_summary(model),
                "axes": [a.tolist() for a in axes], "n_samples": n_samples, "random_state": seed,
                "evaluated_by": how}
    s = McSettings("point", pyomo_solver, n_samples, random_state)
    job = MapJob("mc", model, axes, settings, mc_chunk, (ref, samples, s))
    return _adaptive(job, Refinement(confidence, None, coarse_step, workers, "monte carlo"))
