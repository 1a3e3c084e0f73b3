"""Algorithms 1 and 2 of the seed as grid drivers (serial, process pool, or Dask).

* :func:`monte_carlo_map` (Algorithm 1): N samples of θm per grid point (common random
  numbers across points), fraction with every g_k ≤ 0, and its standard error.
* :func:`flexibility_index_map` (Algorithm 2): one flexibility index per grid point,
  δm → probability; per-point status, solver, global and certified flags.

Parallelism: pass any :class:`concurrent.futures.Executor` (``executor=``) — a
``ProcessPoolExecutor`` for the cores of one machine, or a Dask ``Client.get_executor()``
for a cluster — or ``workers=K`` to get a process pool of K workers made (and shut down)
for you.  Serial by default.  Grid points are sent in chunks; each worker process builds
its :class:`~flexspace.FlexibilityAnalysis` once (a module-level cache keyed by the
model and the settings) and re-solves it per point.

Models: a :class:`~flexspace.ProcessModel`, or a zero-argument module-level factory
returning one (needed for process pools/Dask when the model does not pickle; the shipped
case 1 and case 2 models are handled automatically).

Checkpoints: give ``out=path`` and every finished point is appended to ``path`` (JSON
lines, flush + fsync); running again with the same path skips finished points, and a
file written with other settings is refused (:mod:`flexspace.designspace.checkpoint`).
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import itertools
import math
import os
import pickle
import sys
import time
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np

from .checkpoint import Checkpoint
from .results import DesignSpaceMap

__all__ = ["monte_carlo_map", "flexibility_index_map", "make_grid"]

#: Defaults for the flexibility-index map's global solves (measured on case 1, MAiNGO,
#: ellipsoid, 11 x 21 grid): relative gap 1e-5 left 9 of 66 points at the time limit; gap
#: 1e-4 with absolute gap 1e-6 solved all 231 points (0.1 s each).  δ to 1e-4 relative is
#: far below the grid resolution; the proven lower bound of δ is kept per point.
MAP_GAP = 1e-4
MAP_ABS_GAP = 1e-6


# --------------------------------------------------------------------------- grid
def make_grid(model, grid=None, shape=None) -> List[np.ndarray]:
    """Axes of the θp grid: ``grid`` (one 1-D array per θp), or ``shape`` points per axis
    over ``model.theta_p_bounds`` (default: the shipped case's ``GRID_SHAPE``, else 11)."""
    if grid is not None:
        axes = [np.asarray(a, float).ravel() for a in grid]
        if len(axes) != model.n_p:
            raise ValueError(f"grid has {len(axes)} axes, the model has {model.n_p} process parameters")
        for n, a in zip(model.theta_p_names, axes):
            if a.size == 0 or not np.all(np.isfinite(a)):
                raise ValueError(f"grid axis {n!r} must be a non-empty array of finite numbers")
        return axes
    if model.theta_p_bounds is None:
        raise ValueError("give grid= (one array per process parameter): the model has no theta_p_bounds")
    if shape is None:
        shape = _default_shape(model)
    shape = tuple(int(s) for s in np.broadcast_to(np.asarray(shape), (model.n_p,)))
    if min(shape) < 1:
        raise ValueError(f"grid shape must be positive, got {shape}")
    return [np.linspace(lo, hi, n) for (lo, hi), n in zip(model.theta_p_bounds, shape)]


def _default_shape(model):
    try:
        from ..models import case1, case2

        shapes = {"case1": case1.GRID_SHAPE, "case2": case2.GRID_SHAPE}
        return shapes[model.name.removesuffix("_reduced")]
    except (KeyError, ImportError, AttributeError):
        return (11,) * model.n_p


def _points(axes) -> np.ndarray:
    return np.array(list(itertools.product(*axes)), dtype=float).reshape(-1, len(axes))


def _model_fingerprint(model, ref=None) -> str:
    if ref is not None and getattr(ref, "factory", None) is not None:
        return f"factory:{ref.factory.__module__}.{ref.factory.__qualname__}"
    try:
        return hashlib.sha256(pickle.dumps(model)).hexdigest()[:16]
    except Exception:  # noqa: BLE001 - serial run of an unpicklable model: one process, one model
        return f"id:{id(model)}"


def _model_summary(model) -> dict:
    return {"name": model.name, "theta_p_names": list(model.theta_p_names),
            "theta_m_names": list(model.theta_m_names), "g_names": list(model.g_names),
            "theta_m_nominal": [float(x) for x in model.theta_m_nominal],
            "theta_p_bounds": None if model.theta_p_bounds is None else np.asarray(model.theta_p_bounds, float).tolist(),
            "covariance": np.asarray(model.covariance, float).tolist()}


# --------------------------------------------------------------------------- models
class _ModelRef:
    """What is sent to worker processes: the model itself when it pickles, else a
    zero-argument factory (a module-level function, e.g. ``case2.model``), rebuilt once
    per worker.  (The shipped case 2 model does not pickle: its Pyomo bounds are lambdas.)"""

    def __init__(self, model=None, factory=None):
        self.model, self.factory = model, factory

    def get(self):
        if self.model is not None:
            return self.model
        key = ("factory", getattr(self.factory, "__module__", ""), getattr(self.factory, "__qualname__", ""))
        m = _MODELS.get(key)
        if m is None:
            m = _MODELS[key] = self.factory()
        return m


_MODELS: Dict[tuple, object] = {}


def _resolve_model(model):
    """``model`` (a ProcessModel or a zero-argument factory) -> (model, reference for workers)."""
    factory = None
    if callable(model) and not hasattr(model, "theta_p_names"):
        factory, model = model, model()
    try:
        pickle.dumps(model)
        return model, _ModelRef(model=model)
    except Exception as exc:  # noqa: BLE001
        if factory is None:
            factory = _shipped_factory(model)
        if factory is None:
            return model, _Unpicklable(f"{type(exc).__name__}: {exc}")
        return model, _ModelRef(factory=factory)


def _shipped_factory(model):
    """``case1.model`` / ``case2.model`` when ``model`` is an unmodified shipped case."""
    try:
        from ..models import case1, case2

        case = {"case1": case1, "case2": case2}[model.name]
    except (KeyError, ImportError, AttributeError):
        return None
    ref = case.model()
    same = (np.allclose(ref.covariance, model.covariance, rtol=0, atol=0)
            and np.allclose(ref.theta_m_nominal, model.theta_m_nominal, rtol=0, atol=0)
            and model.simulator is ref.simulator)
    return case.model if same else None


class _Unpicklable:
    def __init__(self, why):
        self.why = why

    def get(self):  # pragma: no cover - never reached: checked before submitting
        raise RuntimeError(self.why)


# --------------------------------------------------------------------------- workers
_CACHE: Dict[str, object] = {}


def _analysis(key: str, model, s: dict):
    """The worker's FlexibilityAnalysis for these settings, built once per process."""
    fa = _CACHE.get(key)
    if fa is not None and "id:" in key and fa.model is not model:
        fa = None  # an unpicklable model, identified by id(): make sure it is the same object
    if fa is None:
        from ..formulations import FlexibilityAnalysis
        from ..solvers import get_solver

        solver = get_solver(s["solver"], time_limit=s["time_limit"], gap=s["gap"], abs_gap=s["abs_gap"])
        fa = FlexibilityAnalysis(model, s["set"], solver, delta_max=s["delta_max"], time_limit=s["time_limit"],
                                 gap=s["gap"], diagnose_failures=False)
        _CACHE.clear()  # one analysis per worker at a time keeps memory flat
        _CACHE[key] = fa
    return fa


def _index_chunk(key: str, ref, s: dict, items) -> List[tuple]:
    fa = _analysis(key, ref.get(), s)
    out = []
    for i, tp in items:
        t0 = time.perf_counter()
        try:
            r = fa.index(tp, method=s["method"], certify=s["certify"], n_certify=s["n_certify"],
                         random_state=s["random_state"])
            msg = _index_message(r)
            row = {"probability": float(r.probability), "delta": float(r.delta),
                   "delta_lower_bound": float("nan") if r.delta_lower_bound is None else float(r.delta_lower_bound),
                   "status": r.status.value, "solver": r.solver, "global": bool(r.is_global),
                   "certified": None if r.certified is None else bool(r.certified), "quality": r.solve_quality,
                   "delta_sampled": float("nan") if r.delta_sampled is None else float(r.delta_sampled),
                   "domain": r.domain, "worst_constraint": r.worst_constraint or "", "time": float(r.time),
                   "message": msg}
        except Exception as exc:  # noqa: BLE001 - one bad point is a failed point, not a crashed map
            row = {"probability": float("nan"), "delta": float("nan"), "delta_lower_bound": float("nan"),
                   "status": "failed", "solver": s["solver"], "global": None, "certified": False,
                   "quality": "failed", "worst_constraint": "", "time": time.perf_counter() - t0,
                   "message": f"{type(exc).__name__}: {exc}"}
        out.append((i, row))
    return out


def _index_message(r) -> str:
    """Why a point is not trusted: failed subproblems, or what sampling found."""
    if r.status.value == "failed":
        return "; ".join(f"{sp.constraint}: {sp.status.value}" for sp in r.subproblems
                         if not (sp.status.ok or sp.status.value == "infeasible"))
    if r.status.value in ("uncertified", "contradicted"):
        c = r.certification
        return (f"sampling contradicts delta: {c.get('violating_samples')} of {c.get('n_samples')} samples violate "
                f"or have no solution ({c.get('failed_samples')} failed); largest clean set delta_sampled="
                f"{r.delta_sampled}")
    return ""


def _mc_chunk(ref, samples, s: dict, items) -> List[tuple]:
    from ..montecarlo import monte_carlo_probability

    model = ref.get()
    out = []
    if s["batch"] == "grid" and model.simulator is not None and len(items) > 1:
        t0 = time.perf_counter()
        idx = [i for i, _ in items]
        tps = np.array([tp for _, tp in items], float)
        n = samples.shape[0]
        g = model.simulate(np.repeat(tps, n, axis=0), np.tile(samples, (len(items), 1)))
        g = g.reshape(len(items), n, -1)
        dt = (time.perf_counter() - t0) / len(items)
        for j, i in enumerate(idx):
            # the same statistics as monte_carlo_probability (tested equal): failed = NaN row, counted infeasible
            failed = ~np.all(np.isfinite(g[j]), axis=1)
            ok = ~failed & np.all(np.nan_to_num(g[j], nan=1.0) <= 0.0, axis=1)
            p = float(np.mean(ok))
            out.append((i, _mc_row(p, float(np.sqrt(max(p * (1 - p), 1.0 / n) / n)), int(failed.sum()),
                                   "vectorised simulator (grid batch)", dt)))
        return out
    for i, tp in items:
        t0 = time.perf_counter()
        try:
            r = monte_carlo_probability(model, tp, samples=samples, solver=s["pyomo_solver"])
            out.append((i, _mc_row(r.probability, r.std_error, r.n_failed, r.evaluated_by, time.perf_counter() - t0)))
        except Exception as exc:  # noqa: BLE001
            row = _mc_row(float("nan"), float("nan"), samples.shape[0], "error", time.perf_counter() - t0)
            row.update(status="failed", message=f"{type(exc).__name__}: {exc}")
            out.append((i, row))
    return out


def _mc_row(p, se, n_failed, how, t):
    return {"probability": float(p), "std_error": float(se), "n_failed": int(n_failed), "status": "ok",
            "solver": "monte carlo", "global": None, "certified": None, "evaluated_by": how, "time": float(t),
            "message": f"{n_failed} failed samples counted infeasible" if n_failed else ""}


# --------------------------------------------------------------------------- runner
def _progress(total, initial, desc, progress):
    if progress is False:
        return None
    if progress is None and not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, initial=initial, desc=desc, unit="pt", leave=False)


def _run(fn, fixed_args, points, todo, chunk_size, executor, workers, ckpt, desc, progress) -> Dict[int, dict]:
    """Evaluate ``fn(*fixed_args, items)`` over chunks of (i, θp) items; collect rows."""
    rows: Dict[int, dict] = {}
    items = [(int(i), [float(x) for x in points[i]]) for i in todo]
    chunks = [items[k:k + chunk_size] for k in range(0, len(items), chunk_size)]
    bar = _progress(len(points), len(points) - len(todo), desc, progress)

    def finish(result):
        for i, row in result:
            rows[i] = row
            if ckpt is not None:
                ckpt.add(i, row)
        if bar is not None:
            bar.update(len(result))

    own = None
    try:
        if executor is None and workers and workers > 1:
            own = executor = cf.ProcessPoolExecutor(max_workers=int(workers))
        if executor is None:
            for ch in chunks:
                finish(fn(*fixed_args, ch))
        else:
            futs = [executor.submit(fn, *fixed_args, ch) for ch in chunks]
            try:
                for f in cf.as_completed(futs):
                    finish(f.result())
            except BaseException:
                for f in futs:
                    f.cancel()
                raise
    finally:
        if own is not None:
            own.shutdown(wait=True, cancel_futures=True)
        if bar is not None:
            bar.close()
    return rows


def _auto_chunk(n_todo, executor, workers, per_worker=4, cap=64):
    nw = workers or getattr(executor, "_max_workers", None) or 2
    if executor is None and not (workers and workers > 1):
        return None
    return max(1, min(cap, math.ceil(n_todo / (nw * per_worker))))


def _drive(kind, model, axes, settings, fn, fixed_args, out, executor, workers, chunk_size, progress,
           serial_chunk) -> DesignSpaceMap:
    t0 = time.perf_counter()
    ref = [a for a in fixed_args if isinstance(a, (_ModelRef, _Unpicklable))]
    if ref and isinstance(ref[0], _Unpicklable):
        if executor is not None or (workers and workers > 1):
            raise ValueError(f"model {model.name!r} cannot be sent to worker processes (it does not pickle: "
                             f"{ref[0].why}); pass a zero-argument module-level factory function as `model` "
                             "(e.g. functools.partial(my_module.make_model, ...)), or run serially")
        fixed_args = tuple(_ModelRef(model=model) if isinstance(a, _Unpicklable) else a for a in fixed_args)
    points = _points(axes)
    ckpt = Checkpoint(out, settings) if out is not None else None
    done = ckpt.open() if ckpt is not None else {}
    todo = [i for i in range(len(points)) if i not in done]
    try:
        cs = chunk_size or _auto_chunk(len(todo), executor, workers) or serial_chunk
        rows = _run(fn, fixed_args, points, todo, cs, executor, workers, ckpt,
                    f"{kind} map ({model.name})", progress)
    finally:
        if ckpt is not None:
            ckpt.close()
    rows.update(done)
    elapsed = time.perf_counter() - t0
    info = {"elapsed_s": elapsed, "points": len(points), "computed": len(todo), "resumed": len(done),
            "workers": int(workers) if workers else (getattr(executor, "_max_workers", None) if executor else 1),
            "executor": type(executor).__name__ if executor is not None else
            ("ProcessPoolExecutor" if workers and workers > 1 else "serial")}
    return DesignSpaceMap.from_rows(kind, model.theta_p_names, axes, [rows[i] for i in range(len(points))],
                                    settings=settings, run_info=info)


# --------------------------------------------------------------------------- Algorithm 1
def monte_carlo_map(model, grid=None, shape=None, n_samples: int = 1000, random_state=0, *,
                    batch: str = "point", pyomo_solver: str = "ipopt", executor: Optional[cf.Executor] = None,
                    workers: Optional[int] = None, out=None, chunk_size: Optional[int] = None,
                    progress: Optional[bool] = None) -> DesignSpaceMap:
    """Algorithm 1 (Monte Carlo map): P(all g_k ≤ 0) at every θp of the grid.

    The same ``n_samples`` draws of θm ~ N(θ̄m, Σ) (``random_state``) are used at every
    point (common random numbers).  With a vectorised simulator each point is one
    numpy call (``batch="point"``, through :func:`flexspace.montecarlo.monte_carlo_probability`)
    or a chunk of points is one call (``batch="grid"``; the simulator must then accept θp
    of shape (N, n_p)).  Without a simulator: one square Pyomo solve per sample with
    ``pyomo_solver`` (slow; a warning says so).  A failed sample (NaN) counts as
    infeasible and is reported per point (``n_failed``).

    ``progress``: None = a tqdm bar when stderr is a terminal, True/False to force."""
    if batch not in ("point", "grid"):
        raise ValueError(f"batch must be 'point' or 'grid', got {batch!r}")
    n_samples = int(n_samples)
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    from ..montecarlo import sample_theta_m

    model, ref = _resolve_model(model)
    axes = make_grid(model, grid, shape)
    samples = sample_theta_m(model, n_samples, random_state)
    if model.simulator is None:
        warnings.warn(f"model {model.name!r} has no vectorised simulator: Monte Carlo falls back to one square "
                      f"Pyomo solve per sample ({pyomo_solver}); {n_samples} solves per grid point", stacklevel=2)
    settings = {"algorithm": "monte carlo", "model": _model_summary(model),
                "axes": [a.tolist() for a in axes], "n_samples": n_samples, "random_state": _seed_repr(random_state),
                "evaluated_by": "vectorised simulator" if model.simulator is not None
                else f"per-sample Pyomo solves ({pyomo_solver})"}
    if batch == "grid" and model.simulator is not None:
        _check_grid_batching(model, _points(axes), samples)
    s = {"batch": batch, "pyomo_solver": pyomo_solver}
    serial_chunk = 64 if model.simulator is not None else 1
    return _drive("mc", model, axes, settings, _mc_chunk, (ref, samples, s), out, executor, workers,
                  chunk_size, progress, serial_chunk)


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
        raise ValueError(f"batch='grid': the simulator of {model.name!r} failed on theta_p of shape (N, n_p) "
                         f"({type(exc).__name__}: {exc}); use batch='point'") from exc
    if not ok:
        raise ValueError(f"batch='grid': the simulator of {model.name!r} gives different results for theta_p of "
                         "shape (N, n_p) than per point; use batch='point'")


def _seed_repr(rs):
    if rs is None or isinstance(rs, (int, np.integer)):
        return None if rs is None else int(rs)
    raise ValueError("random_state must be an int (or None) so that a map can be checkpointed and reproduced")


# --------------------------------------------------------------------------- Algorithm 2
def flexibility_index_map(model, grid=None, shape=None, uncertainty_set: str = "ellipsoid", solver: str = "maingo", *,
                          method: str = "enumeration", time_limit: float = 20.0, gap: float = MAP_GAP,
                          abs_gap: float = MAP_ABS_GAP, delta_max: Optional[float] = None, certify: Optional[bool] = None,
                          n_certify: int = 2000, random_state: int = 0, executor: Optional[cf.Executor] = None,
                          workers: Optional[int] = None, out=None, chunk_size: Optional[int] = None,
                          progress: Optional[bool] = None) -> DesignSpaceMap:
    """Algorithm 2 (flexibility-index map): δm at every θp of the grid → probability.

    ``uncertainty_set``: "box", "ellipsoid" or "ldl"; ``solver``: any flexspace solver
    name ("maingo", "scip", "ipopt"...).  Each (worker) process builds the Pyomo
    problems once and re-solves them per point.  Per point: probability P(θm ∈ set(δ)),
    δ, the proven lower bound of δ (global solvers), status ("ok", "nominal infeasible",
    "failed"), solver, global and certified flags.  A failed point has probability NaN
    and is never inside a region.  ``gap``/``abs_gap``: see :data:`MAP_GAP`."""
    if not isinstance(uncertainty_set, str):
        raise ValueError("flexibility_index_map takes the set by name ('box', 'ellipsoid', 'ldl') so that workers "
                         "and checkpoints can rebuild it")
    from ..formulations.flexibility import METHODS
    from ..solvers import available_solvers

    if str(uncertainty_set).lower() not in ("box", "ellipsoid", "ldl"):
        raise ValueError(f"unknown uncertainty set {uncertainty_set!r}; use 'box', 'ellipsoid' or 'ldl'")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {METHODS}")
    if solver not in available_solvers():
        raise RuntimeError(f"solver {solver!r} is not available (available: {available_solvers()})")
    model, ref = _resolve_model(model)
    axes = make_grid(model, grid, shape)
    if delta_max is None:
        delta_max = getattr(model, "delta_max", 6.0)
    s = {"set": str(uncertainty_set).lower(), "solver": str(solver), "method": method, "time_limit": float(time_limit),
         "gap": float(gap), "abs_gap": float(abs_gap), "delta_max": float(delta_max), "certify": certify,
         "n_certify": int(n_certify), "random_state": int(random_state)}
    settings = {"algorithm": "flexibility index", "model": _model_summary(model),
                "axes": [a.tolist() for a in axes], **s}
    fp = _model_fingerprint(model, ref)
    key = ("id:" if fp.startswith("id:") else "") + hashlib.sha256(repr((fp, sorted(s.items()))).encode()).hexdigest()
    return _drive("flexindex", model, axes, settings, _index_chunk, (key, ref, s), out, executor, workers,
                  chunk_size, progress, 1)
