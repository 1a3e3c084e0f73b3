"""Algorithms 1 and 2 of the seed as grid drivers (serial, process pool, or Dask).

* :func:`monte_carlo_map` (Algorithm 1): N samples of θm per grid point (common random
  numbers across points), fraction with every g_k ≤ 0, and its standard error.
* :func:`flexibility_index_map` (Algorithm 2): one flexibility index per grid point,
  δm → probability; per-point status, solver, global and certified flags.

Parallelism: ``workers=K`` makes (and shuts down) a process pool of K workers, or pass
any :class:`concurrent.futures.Executor` as ``workers`` — a ``ProcessPoolExecutor`` you
manage, or a Dask ``Client.get_executor()`` for a cluster.  Serial by default.  Grid
points are sent in chunks; each worker process builds
its :class:`~flexspace.FlexibilityAnalysis` once (a module-level cache keyed by the
model and the settings) and re-solves it per point.

Models: a :class:`~flexspace.ProcessModel`, or a zero-argument module-level factory
returning one.  A model that does not pickle is rebuilt in each worker by its
``factory`` (the shipped cases set one).

Checkpoints: give ``out=path`` (or ``out=CheckpointFile(path, retry_failed=False)``) and
every finished point is appended to ``path`` (JSON lines, flush + fsync).  Running again
with the same path skips finished points and recomputes failed ones (unless
``retry_failed=False``); a file written for another computation — other settings, solve
options, or a model whose equations, CQAs, θ, Σ or simulator changed (its
:meth:`~flexspace.ProcessModel.fingerprint`) — is refused, saying what changed.  The file
is locked for the run (a second process is refused), only ever appended to, and lines it
cannot read are skipped, kept and reported (``run_info["checkpoint"]``)
(:mod:`flexspace.designspace.checkpoint`).  The pool made for ``workers=K`` (and each
solver guard's child) dies with the process that started it: a killed map leaves no
orphans (an Executor you pass in is yours to manage).
"""
from __future__ import annotations

import math
import warnings
from typing import List, Optional

import numpy as np

from ..errors import SolverUnavailableError, ValidationError
from ..options import OptionsLike, resolve_options
from ..validation import as_array, check_choice, check_random_state
from .engine import (IndexSettings, MapJob, McSettings, RunOptions, drive, grid_points, index_chunk, mc_chunk,
                     model_fingerprint, model_summary, resolve_model, settings_key)
from .results import DesignSpaceMap, check_theta_p_names

__all__ = ["monte_carlo_map", "flexibility_index_map", "make_grid"]


# --------------------------------------------------------------------------- grid
def make_grid(model, grid=None) -> List[np.ndarray]:
    """Axes of the θp grid.  ``grid``: one 1-D array per θp; or points per axis (an int,
    or one int per θp) over ``model.theta_p_bounds``; or None for ``model.grid_shape``
    (11 per axis when the model gives none).  θp names that are result columns are refused."""
    check_theta_p_names(model.theta_p_names)
    if model.n_p == 0:
        raise ValidationError(f"model {model.name!r} has no process parameters (theta_p): maps and regions are over "
                              "theta_p; analyse it with flexibility_index / flexibility_test (theta_p=[])")
    if grid is not None and not _is_shape(grid):
        axes = [as_array("grid axis", a).ravel() for a in grid]
        if len(axes) != model.n_p:
            raise ValidationError(f"grid has {len(axes)} axes, the model has {model.n_p} process parameters")
        for n, a in zip(model.theta_p_names, axes):
            if a.size == 0 or not np.all(np.isfinite(a)):
                raise ValidationError(f"grid axis {n!r} must be a non-empty array of finite numbers")
        return axes
    if model.theta_p_bounds is None:
        raise ValidationError("give grid= (one array per process parameter): the model has no theta_p_bounds")
    shape = grid if grid is not None else (getattr(model, "grid_shape", None) or 11)
    try:
        shape = tuple(int(n) for n in np.broadcast_to(np.asarray(shape), (model.n_p,)))
    except ValueError:
        raise ValidationError(f"grid: give one number of points per process parameter ({model.n_p}), got {grid!r}") from None
    if min(shape) < 1:
        raise ValidationError(f"grid: the number of points per axis must be positive, got {shape}")
    if math.prod(shape) > 10 ** 7:
        raise ValidationError(f"grid {shape} has {math.prod(shape)} points (> 10^7); use fewer points per axis")
    return [np.linspace(lo, hi, n) for (lo, hi), n in zip(model.theta_p_bounds, shape)]


def _is_shape(grid) -> bool:
    """An int or a flat sequence of ints is a shape; a sequence of arrays is a grid."""
    if isinstance(grid, bool) or isinstance(grid, (str, bytes, dict)) or not (
            isinstance(grid, (int, np.integer)) or hasattr(grid, "__iter__")):
        raise ValidationError(f"grid must be points per axis (an int or one int per theta_p) or one array of "
                              f"values per theta_p, got {grid!r}")
    if isinstance(grid, (int, np.integer)):
        return True
    items = list(grid)
    if any(isinstance(n, bool) for n in items):
        raise ValidationError(f"grid must be points per axis (ints) or one array per theta_p, got {grid!r}")
    if all(isinstance(n, (int, np.integer)) for n in items):
        return True
    if any(np.ndim(n) == 0 for n in items):
        raise ValidationError(f"grid: points per axis must be whole numbers (or give one array per theta_p), "
                              f"got {grid!r}")
    return False


# --------------------------------------------------------------------------- Algorithm 1
def monte_carlo_map(model, grid=None, n_samples: int = 1000, random_state=0, *, batch: str = "point",
                    pyomo_solver: str = "ipopt", workers=None, out=None, chunk_size: Optional[int] = None,
                    progress: Optional[bool] = None) -> DesignSpaceMap:
    """Algorithm 1 (Monte Carlo map): P(all g_k ≤ 0) at every θp of the grid.

    The same ``n_samples`` draws of θm ~ N(θ̄m, Σ) (``random_state``) are used at every
    point (common random numbers).  With a vectorised simulator each point is one
    numpy call (``batch="point"``, through :func:`flexspace.montecarlo.monte_carlo_probability`)
    or a chunk of points is one call (``batch="grid"``; the simulator must then accept θp
    of shape (N, n_p)).  Without a simulator: one square Pyomo solve per sample with
    ``pyomo_solver`` (slow; a warning says so).  A failed sample (NaN) counts as
    infeasible and is reported per point (``n_failed``).

    ``grid``: see :func:`make_grid`.  ``workers``: a number of processes or an Executor;
    ``out``: checkpoint file, a path or a :class:`~flexspace.designspace.checkpoint.CheckpointFile`
    (``CheckpointFile(path, retry_failed=False)`` keeps failed points on resume; the
    default recomputes them); ``progress``: None = a tqdm bar when stderr is a terminal,
    True/False to force, or a callable ``f(done, total)`` called in the calling thread once per
    finished point (no bar); the bar and the callback advance per point, also inside a chunk
    (serial, threads, and the pool made for ``workers=K``; an Executor you pass in that runs
    other processes reports per chunk: :mod:`flexspace.designspace.progress`)."""
    check_choice("batch", batch, ("point", "grid"))
    from ..montecarlo import check_n_samples

    n_samples = check_n_samples(n_samples)
    check_seed(random_state)
    run = RunOptions.checked(workers, out, chunk_size, progress)
    from ..montecarlo import max_chunk, sample_theta_m

    model, ref = resolve_model(model)
    axes = make_grid(model, grid)
    streamed = model.simulator is not None and n_samples > max_chunk(model)
    # a sample count beyond memory is streamed in chunks at each point (the same samples)
    samples = None if streamed else sample_theta_m(model, n_samples, random_state)
    check_mc_config(model, grid_points(axes)[0], sample_theta_m(model, 4, random_state) if streamed else samples,
                     pyomo_solver, random_state, out)
    batch = "point" if streamed else batch
    if model.simulator is None and not getattr(model, "n_z", 0):  # controls: recourse_feasibility decides
        warnings.warn(f"model {model.name!r} has no vectorised simulator: Monte Carlo falls back to one square "
                      f"Pyomo solve per sample ({pyomo_solver}); {n_samples} solves per grid point", stacklevel=2)
    settings = {"algorithm": "monte carlo", "model": model_summary(model),
                "axes": [a.tolist() for a in axes], "n_samples": n_samples, "random_state": check_seed(random_state),
                "evaluated_by": "recourse (some control z in bounds makes every g <= 0)" if getattr(model, "n_z", 0)
                else "vectorised simulator" if model.simulator is not None
                else f"per-sample Pyomo solves ({pyomo_solver})"}
    if batch == "grid" and model.simulator is not None:
        _check_grid_batching(model, grid_points(axes), samples)
    if streamed and random_state is None:  # one fresh seed for every point: common random numbers hold
        random_state = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 1)
    s = McSettings(batch, pyomo_solver, n_samples, random_state)
    # one point per task unless a chunk is one vectorised call: every finished point is written at once
    serial_chunk = 64 if (batch == "grid" and model.simulator is not None) else 1
    return drive(MapJob("mc", model, axes, settings, mc_chunk, (ref, samples, s)), run, serial_chunk)


def _check_grid_batching(model, points, samples):
    """batch="grid" needs a simulator that takes θp of shape (N, n_p): compare one batched
    call on two grid points with per-point calls (a few samples) and refuse otherwise."""
    pts = points[[0, -1]] if len(points) > 1 else points
    tm = samples[:8]
    try:
        g = model.simulate(np.repeat(pts, len(tm), axis=0), np.tile(tm, (len(pts), 1)))
        ref = np.concatenate([model.simulate(p, tm) for p in pts])
        ok = np.allclose(g, ref, rtol=1e-10, atol=1e-12, equal_nan=True)
    except Exception as exc:  # noqa: BLE001
        raise ValidationError(f"batch='grid': the simulator of {model.name!r} failed on theta_p of shape (N, n_p) "
                         f"({type(exc).__name__}: {exc}); use batch='point'") from exc
    if not ok:
        raise ValidationError(f"batch='grid': the simulator of {model.name!r} gives different results for theta_p of "
                         "shape (N, n_p) than per point; use batch='point'")


def check_index_solver(solver, method, opts):
    """The solver name (known, available) and the method it can run, before any point:
    a configuration error is one clear error, not a map of failed points."""
    from ..formulations.blocks import check_method
    from ..solvers import available_solvers, get_solver

    if not isinstance(solver, str):
        raise ValidationError(f"solver must be a solver name (e.g. 'maingo', 'scip', 'ipopt'), got {solver!r}")
    s = get_solver(solver, opts)  # unknown names are refused here, with the list
    if s.name not in available_solvers():
        raise SolverUnavailableError(f"solver {solver!r} is not available here (available: {available_solvers()}); "
                                     "run `flexspace solvers` for details")
    return s.name, check_method(method, s).value  # plain strings in the settings and checkpoints


def check_index_model(model, uncertainty_set, solver: str, method: str, opts):
    """Before any point: the set (a name or an :class:`~flexspace.formulations.UncertaintySet`,
    checked against the model), data below the solver tolerances, and for a model with
    controls a recourse route this set and solver cannot run (one error, not a map of
    failed points).  Returns the set."""
    from ..formulations.flexibility import make_set
    from ..formulations.scaling import check_scales

    uset = make_set(uncertainty_set, model)
    check_scales(model, uset, opts.feas_tol)
    if getattr(model, "n_z", 0):
        from ..formulations.recourse import check_route

        check_route(model, uset, solver, method, opts)
    return uset


def set_settings(spec, uset) -> dict:
    """What a map's settings (summary, checkpoint, fingerprint) say of its set: its name, and
    for a set given as an object its data (:meth:`~flexspace.formulations.UncertaintySet.to_dict`),
    so that a checkpoint resumed with another set is refused.  A set given by name is
    determined by the name and the model (θ̄m, Σ), already in the fingerprint."""
    out = {"set": str(uset.kind)}
    if not isinstance(spec, str):
        out["set_data"] = _checked_set_data(uset)
    if uset.probability_is_estimate:
        out["probability_method"] = str(getattr(uset, "probability_method", "an estimate"))
    return out


def _checked_set_data(uset) -> dict:
    """``uset.to_dict()``, refused before any compute unless it rebuilds the same set (worker
    processes and a resumed checkpoint rebuild it from this data) and the set pickles."""
    import pickle

    from ..formulations.sets import UncertaintySet

    data = uset.to_dict()
    probe = uset.sample(1.0, 8, 0)
    try:
        same = np.allclose(UncertaintySet.from_dict(data).gauge(probe), uset.gauge(probe), rtol=1e-9, atol=1e-12)
        pickle.dumps(uset)
    except Exception as exc:  # noqa: BLE001 - any failure is the same refusal
        raise ValidationError(f"uncertainty_set {type(uset).__name__} cannot be sent to workers or checkpointed "
                              f"({type(exc).__name__}: {exc}); make it picklable and its parameters() return the "
                              "constructor's arguments") from exc
    if not same:
        raise ValidationError(f"uncertainty_set {type(uset).__name__}: parameters() does not rebuild the same set "
                              "(its gauge differs); return every constructor argument from parameters()")
    return data


def check_mc_config(model, point, samples, pyomo_solver, random_state, out) -> None:
    """What would otherwise make every point fail: an unknown ``pyomo_solver`` (no simulator),
    a simulator returning the wrong shape; and a checkpoint without a seed."""
    if out is not None and random_state is None:
        raise ValidationError("random_state=None cannot be checkpointed reproducibly (a resumed map would mix "
                              "samples from other draws); give an int seed, or out=None")
    if model.simulator is None:
        from ..solvers import get_solver

        if not isinstance(pyomo_solver, str):
            raise ValidationError(f"pyomo_solver must be a solver name (e.g. 'ipopt'), got {pyomo_solver!r}")
        get_solver(pyomo_solver)
        return
    tm = samples[:4]
    try:
        g = np.asarray(model.simulator(np.asarray(point, float), tm), dtype=float)
    except Exception:  # noqa: BLE001 - a failure at one point is that point's (recorded) failure
        return
    if g.shape != (tm.shape[0], model.n_g):
        raise ValidationError(f"simulator of {model.name!r} returned shape {g.shape} for {tm.shape[0]} samples, "
                              f"expected {(tm.shape[0], model.n_g)} (one row per sample, one column per CQA "
                              f"{model.g_names})")


def check_seed(rs):
    """A map's seed is an int >= 0 or None, so that it can be checkpointed and reproduced."""
    return check_random_state("random_state", rs)


# --------------------------------------------------------------------------- Algorithm 2
def flexibility_index_map(model, grid=None, uncertainty_set="ellipsoid", solver: str = "maingo", *,
                          method: str = "enumeration", options: OptionsLike = None, workers=None, out=None,
                          chunk_size: Optional[int] = None, progress: Optional[bool] = None) -> DesignSpaceMap:
    """Algorithm 2 (flexibility-index map): δm at every θp of the grid → probability.

    ``uncertainty_set``: a set name ("box", "ellipsoid", "ldl") or any
    :class:`~flexspace.formulations.UncertaintySet` object; ``solver``: any flexspace solver
    name ("maingo", "scip", "ipopt"...); ``options``: :class:`~flexspace.options.SolveOptions`
    (default: the ``"index_map"`` preset; a dict changes that preset).  Each (worker)
    process builds the Pyomo problems once and re-solves them per point.  Per point:
    probability P(θm ∈ set(δ)), δ, the proven lower bound of δ (global solvers), status,
    solver, global and certified flags.  A failed or untrusted point is never inside a
    region.  ``grid``, ``workers``, ``out``, ``progress``: see :func:`monte_carlo_map`."""
    run = RunOptions.checked(workers, out, chunk_size, progress)
    job, _ = index_map_job(model, grid, uncertainty_set, solver, method, options, "flexibility index")
    return drive(job, run, 1)


def index_map_job(model, grid, uncertainty_set, solver, method, options, algorithm: str, salt: str = ""):
    """Everything before the first point of a flexibility-index map (this one and the
    adaptive one): options, solver and method, the model and its reference for workers,
    the grid, the set checked against the model, the settings recorded and the workers'
    key.  Returns ``(MapJob, the set)``; every refusal happens here, before any compute."""
    opts = resolve_options(options, "index_map")
    solver, method = check_index_solver(solver, method, opts)
    model, ref = resolve_model(model)
    axes = make_grid(model, grid)
    uset = check_index_model(model, uncertainty_set, solver, method, opts)
    s = IndexSettings(uset, str(solver), method, opts)
    settings = {"algorithm": algorithm, "model": model_summary(model), "axes": [a.tolist() for a in axes],
                "solver": s.solver, "method": method, **set_settings(uncertainty_set, uset), "options": opts.to_dict()}
    key = settings_key(model_fingerprint(model, ref), settings, salt)
    s.domain_box = grid_box(axes)
    return MapJob("flexindex", model, axes, settings, index_chunk, (key, ref, s)), uset


def grid_box(axes) -> tuple:
    """(lower, upper) of a grid's θp axes: the box over which each worker proves the
    model's domain once when that pays
    (:meth:`~flexspace.formulations.FlexibilityAnalysis.use_domain_box`)."""
    return [float(np.min(a)) for a in axes], [float(np.max(a)) for a in axes]
