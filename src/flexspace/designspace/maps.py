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

import concurrent.futures as cf
import contextlib
import functools
import hashlib
import itertools
import json
import math
import os
import pickle
import sys
import threading
import time
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..errors import SolverUnavailableError, ValidationError
from ..options import OptionsLike, resolve_options
from ..validation import as_array, check_choice, check_number, check_random_state
from .checkpoint import Checkpoint, CheckpointFile
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


def _points(axes) -> np.ndarray:
    return np.array(list(itertools.product(*axes)), dtype=float).reshape(-1, len(axes))


def _model_fingerprint(model, ref=None) -> str:
    if ref is not None and getattr(ref, "factory", None) is not None:
        return f"factory:{_callable_key(ref.factory)}"
    try:
        return hashlib.sha256(pickle.dumps(model)).hexdigest()[:16]
    except Exception:  # noqa: BLE001 - serial run of an unpicklable model: one process, one model
        return f"id:{id(model)}"


def _callable_key(f) -> str:
    """A name for a factory that is the same in every process and every run:
    ``module.qualname`` (of the function a ``functools.partial`` wraps, with its arguments)."""
    if isinstance(f, functools.partial):
        args = ", ".join([*map(_arg_repr, f.args), *(f"{k}={_arg_repr(v)}" for k, v in sorted(f.keywords.items()))])
        return f"{_callable_key(f.func)}({args})"
    return f"{getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', type(f).__qualname__)}"


def _arg_repr(v) -> str:
    if isinstance(v, np.ndarray):
        return hashlib.sha256(np.ascontiguousarray(v).tobytes() + str(v.shape).encode()).hexdigest()[:16]
    return repr(v)


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
        key = ("factory", _callable_key(self.factory))
        m = _MODELS.get(key)
        if m is None:
            m = _MODELS[key] = self.factory()
        return m


_MODELS: Dict[tuple, object] = {}


def _resolve_model(model):
    """``model`` (a ProcessModel or a zero-argument factory) -> (model, reference for workers)."""
    from ..models.base import ProcessModel

    factory = None
    if callable(model) and not isinstance(model, ProcessModel):
        factory, model = model, model()
    if not isinstance(model, ProcessModel):
        raise ValidationError(f"model must be a flexspace ProcessModel or a zero-argument function returning one "
                              f"(e.g. flexspace.models.cases.case1.model), got {type(model).__name__}"
                              f"{' from the factory' if factory is not None else ''}")
    try:
        pickle.dumps(model)
        return model, _ModelRef(model=model)
    except Exception as exc:  # noqa: BLE001
        if factory is None:
            factory = _own_factory(model)
        if factory is None:
            return model, _Unpicklable(f"{type(exc).__name__}: {exc}")
        return model, _ModelRef(factory=factory)


def _own_factory(model):
    """``model.factory`` when it rebuilds this very model (same Σ, θ̄m and simulator)."""
    factory = getattr(model, "factory", None)
    if factory is None:
        return None
    ref = factory()
    same = (np.array_equal(np.asarray(ref.covariance), np.asarray(model.covariance))
            and np.array_equal(ref.theta_m_nominal, model.theta_m_nominal)
            and ref.simulator is model.simulator and list(ref.g_names) == list(model.g_names))
    return factory if same else None


class _Unpicklable:
    def __init__(self, why):
        self.why = why

    def get(self):  # pragma: no cover - never reached: checked before submitting
        raise RuntimeError(self.why)


# --------------------------------------------------------------------------- workers
#: (pid, thread, key) -> the FlexibilityAnalysis one thread of one process uses for a map.
#: Keyed per thread: an analysis holds Pyomo instances that are changed in place per point,
#: so two threads must never share one.  A serial or threaded map closes its own at the end
#: (:func:`_release`); a process worker keeps one, ended with the worker.
_CACHE: Dict[tuple, object] = {}
_CACHE_LOCK = threading.Lock()
#: Pyomo's solver plug-ins and output capture are not thread-safe (a thread pool deadlocked
#: Ipopt and mixed up SCIP's answers): the chunks of one process solve one at a time.  A
#: thread pool thus gives the serial answer, and processes give the speed.
_SOLVE_LOCK = threading.RLock()


def _analysis(key: str, model, s: dict):
    """This thread's FlexibilityAnalysis for these settings, built once per thread and process."""
    slot = (os.getpid(), threading.get_ident())
    with _CACHE_LOCK:
        fa = _CACHE.get(slot + (key,))
    if fa is not None and "id:" in key and fa.model is not model:
        fa = None  # an unpicklable model, identified by id(): make sure it is the same object
    if fa is None:
        from ..formulations import FlexibilityAnalysis

        fa = FlexibilityAnalysis(model, s["set"], s["solver"], s["options"], diagnose_failures=False)
        if s.get("domain_box") is not None:  # the domain checks once over the grid's box when that pays
            fa.use_domain_box(*s["domain_box"])
        with _CACHE_LOCK:  # one analysis per thread at a time keeps memory flat
            old = [_CACHE.pop(k) for k in list(_CACHE) if k[:2] == slot]
            _CACHE[slot + (key,)] = fa
        for o in old:
            o.close()
    return fa


def _release(key: str) -> None:
    """Close the analyses this process built for ``key`` (its solver children end now, not
    when the garbage collector gets to them)."""
    pid = os.getpid()
    with _CACHE_LOCK:
        gone = [_CACHE.pop(k) for k in list(_CACHE) if k[0] == pid and k[2] == key]
    for fa in gone:
        fa.close()


def _release_after(fn, fixed_args, executor) -> None:
    """After a map: the analyses it built in this process (serial, threads) end now."""
    if fn is _index_chunk and not isinstance(executor, cf.ProcessPoolExecutor):
        _release(fixed_args[0])


def _index_chunk(key: str, ref, s: dict, items) -> List[tuple]:
    with _SOLVE_LOCK:
        return _index_points(_analysis(key, ref.get(), s), s, items)


def _index_points(fa, s: dict, items) -> List[tuple]:
    out = []
    for i, tp in items:
        t0 = time.perf_counter()
        try:
            r = fa.index(tp, method=s["method"])
            msg = _index_message(r)
            lb = r.delta_lower_bound
            row = {"probability": float(r.probability), "delta": float(r.delta),
                   "delta_lower_bound": float("nan") if lb is None else float(lb),
                   # what region() trusts for a global solve: P(set(δ_lb)), the proven set
                   "probability_lower_bound": float(fa.uset.probability(lb)) if lb is not None
                   and math.isfinite(lb) and r.is_global else float("nan"),
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
    with _SOLVE_LOCK:  # a Pyomo-evaluated model is not thread-safe either
        return _mc_points(ref, samples, s, items)


def _mc_points(ref, samples, s: dict, items) -> List[tuple]:
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
            r = monte_carlo_probability(model, tp, s["n_samples"], s["random_state"], samples=samples,
                                        solver=s["pyomo_solver"])
            out.append((i, _mc_row(r.probability, r.std_error, r.n_failed, r.evaluated_by, time.perf_counter() - t0)))
        except Exception as exc:  # noqa: BLE001
            row = _mc_row(float("nan"), float("nan"), s["n_samples"], "error", time.perf_counter() - t0)
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


def _executor(workers):
    """``workers`` -> (an Executor or None, whether we own it, the number of workers)."""
    if workers is None or isinstance(workers, (int, np.integer)) and not isinstance(workers, bool):
        n = 1 if workers is None else int(workers)
        if n < 1:
            raise ValidationError(f"workers must be >= 1 (or an Executor), got {workers!r}")
        if n == 1:
            return None, False, 1
        # workers die with this process (no orphans after a SIGKILL; their solver children likewise)
        return cf.ProcessPoolExecutor(max_workers=n, initializer=_worker_init, initargs=(os.getpid(),)), True, n
    if isinstance(workers, cf.Executor) or hasattr(workers, "submit"):
        return workers, False, getattr(workers, "_max_workers", None)
    raise ValidationError(f"workers must be a number of processes or a concurrent.futures.Executor, got {workers!r}")


def stop_workers(executor) -> None:
    """Kill the worker processes of a process pool this map created (on Ctrl-C or an error),
    so that shutting it down does not wait for the chunks they are solving; their solver
    children die with them (``exit_with_parent``).  Finished points were saved as they came."""
    for proc in list((getattr(executor, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):
            proc.kill()


def _worker_init(parent_pid: int) -> None:
    """A map worker: dies with the map's process, and runs BLAS single-threaded.  The
    workers already use every core; OpenBLAS's own threads (2 per worker here, spinning
    after each call of the simulator's linear algebra) competed with the solvers — measured
    on the case 2 MAiNGO map, 2 workers: 13.7 s with them, 11.9 s without."""
    from ..solvers import exit_with_parent

    from threadpoolctl import threadpool_limits  # a core dependency (pyproject)

    exit_with_parent(parent_pid)
    threadpool_limits(1, user_api="blas")


def _run(fn, fixed_args, points, todo, chunk_size, executor, ckpt, desc, progress) -> Dict[int, dict]:
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

    try:
        if executor is None:
            for ch in chunks:
                finish(fn(*fixed_args, ch))
        else:
            futs = [executor.submit(fn, *fixed_args, ch) for ch in chunks]
            try:
                pending = set(futs)
                while pending:  # wake twice a second: a Ctrl-C delivered to another thread is seen at once
                    done, pending = cf.wait(pending, timeout=0.5, return_when=cf.FIRST_COMPLETED)
                    for f in done:
                        finish(f.result())
            except BaseException:
                for f in futs:
                    f.cancel()
                raise
    finally:
        if bar is not None:
            bar.close()
    return rows


def _auto_chunk(n_todo, executor, n_workers, per_worker=4, cap=64):
    if executor is None:
        return None
    return max(1, min(cap, math.ceil(n_todo / ((n_workers or 2) * per_worker))))


def _drive(kind, model, axes, settings, fn, fixed_args, run: dict, serial_chunk) -> DesignSpaceMap:
    """Run ``fn`` over the grid's points not yet in the checkpoint; ``run``: workers, out,
    chunk_size and progress of the calling driver."""
    t0 = time.perf_counter()
    spec = CheckpointFile.coerce(run["out"])  # everything is checked before the file is touched
    executor, own, n_workers = _executor(run["workers"])
    try:
        fixed_args = _picklable_args(model, fixed_args, executor)
        points = _points(axes)
        ckpt = None
        if spec is not None:
            settings = {**settings, "model": {**settings["model"], **_model_identity(model)}}
            ckpt = Checkpoint(spec.path, settings, retry_failed=spec.retry_failed, n_points=len(points),
                              schema=_SCHEMAS[kind])
        done = ckpt.open() if ckpt is not None else {}
        todo = [i for i in range(len(points)) if i not in done]
        try:
            cs = run["chunk_size"] or _auto_chunk(len(todo), executor, n_workers) or serial_chunk
            rows = _run(fn, fixed_args, points, todo, cs, executor, ckpt, f"{kind} map ({model.name})",
                        run["progress"])
        finally:
            if ckpt is not None:
                ckpt.close()
    except BaseException:
        if own:  # Ctrl-C or an error: stop now; every finished point is already in the checkpoint
            stop_workers(executor)
        raise
    finally:
        if own:
            executor.shutdown(wait=True, cancel_futures=True)
        _release_after(fn, fixed_args, executor)
    rows.update(done)
    info = {"elapsed_s": time.perf_counter() - t0, "points": len(points), "computed": len(todo),
            "resumed": len(done), "workers": n_workers,
            "executor": "serial" if executor is None else type(executor).__name__,
            "theta_p_units": list(getattr(model, "theta_p_units", [""] * len(axes)))}
    if ckpt is not None:
        info["checkpoint"] = ckpt.summary()
    return DesignSpaceMap.from_rows(kind, model.theta_p_names, axes, [rows[i] for i in range(len(points))],
                                    settings=settings, run_info=info)


_NUM = (int, float, type(None))
_SCHEMAS = {  # what a checkpoint record's row must hold to be trusted
    "mc": {"probability": _NUM, "std_error": _NUM, "n_failed": (int,), "status": (str,), "solver": (str,),
           "time": _NUM, "message": (str,)},
    "flexindex": {"probability": _NUM, "delta": _NUM, "delta_lower_bound": _NUM, "status": (str,),
                  "solver": (str,), "global": (bool, type(None)), "certified": (bool, type(None)),
                  "quality": (str,), "worst_constraint": (str,), "time": _NUM, "message": (str,)},
}


def _model_identity(model) -> dict:
    """The model's fingerprint for a checkpoint header (:meth:`ProcessModel.fingerprint_parts`);
    a model without one is identified by its pickle."""
    parts_fn = getattr(model, "fingerprint_parts", None)
    if parts_fn is not None:
        parts = parts_fn()
    else:
        try:
            parts = {"pickle": hashlib.sha256(pickle.dumps(model)).hexdigest()}
        except Exception as exc:  # noqa: BLE001
            raise ValidationError(f"model {getattr(model, 'name', model)!r} cannot be checkpointed: it has no "
                             f"fingerprint_parts() and does not pickle ({type(exc).__name__}: {exc})") from exc
    text = json.dumps(parts, sort_keys=True)  # the same digest as ProcessModel.fingerprint()
    return {"fingerprint": hashlib.sha256(text.encode("utf-8")).hexdigest(), "fingerprint_parts": parts}


def _picklable_args(model, fixed_args, executor):
    ref = [a for a in fixed_args if isinstance(a, (_ModelRef, _Unpicklable))]
    if ref and isinstance(ref[0], _Unpicklable):
        if executor is not None and not isinstance(executor, cf.ThreadPoolExecutor):  # threads share the object
            raise ValidationError(f"model {model.name!r} cannot be sent to worker processes (it does not pickle: "
                             f"{ref[0].why}); give the model a `factory` (a picklable zero-argument callable, "
                             "e.g. functools.partial(my_module.make_model, ...)), pass that factory as `model`, "
                             "or run serially")
        fixed_args = tuple(_ModelRef(model=model) if isinstance(a, _Unpicklable) else a for a in fixed_args)
    return fixed_args


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
    True/False to force (module docstring)."""
    check_choice("batch", batch, ("point", "grid"))
    from ..montecarlo import check_n_samples

    n_samples = check_n_samples(n_samples)
    _seed_repr(random_state)
    run = _run_options(workers, out, chunk_size, progress)
    from ..montecarlo import max_chunk, sample_theta_m

    model, ref = _resolve_model(model)
    axes = make_grid(model, grid)
    streamed = model.simulator is not None and n_samples > max_chunk(model)
    # a sample count beyond memory is streamed in chunks at each point (the same samples)
    samples = None if streamed else sample_theta_m(model, n_samples, random_state)
    _check_mc_config(model, _points(axes)[0], sample_theta_m(model, 4, random_state) if streamed else samples,
                     pyomo_solver, random_state, out)
    batch = "point" if streamed else batch
    if model.simulator is None and not getattr(model, "n_z", 0):  # controls: recourse_feasibility decides
        warnings.warn(f"model {model.name!r} has no vectorised simulator: Monte Carlo falls back to one square "
                      f"Pyomo solve per sample ({pyomo_solver}); {n_samples} solves per grid point", stacklevel=2)
    settings = {"algorithm": "monte carlo", "model": _model_summary(model),
                "axes": [a.tolist() for a in axes], "n_samples": n_samples, "random_state": _seed_repr(random_state),
                "evaluated_by": "recourse (some control z in bounds makes every g <= 0)" if getattr(model, "n_z", 0)
                else "vectorised simulator" if model.simulator is not None
                else f"per-sample Pyomo solves ({pyomo_solver})"}
    if batch == "grid" and model.simulator is not None:
        _check_grid_batching(model, _points(axes), samples)
    if streamed and random_state is None:  # one fresh seed for every point: common random numbers hold
        random_state = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 1)
    s = {"batch": batch, "pyomo_solver": pyomo_solver, "n_samples": n_samples, "random_state": random_state}
    # one point per task unless a chunk is one vectorised call: every finished point is written at once
    serial_chunk = 64 if (batch == "grid" and model.simulator is not None) else 1
    return _drive("mc", model, axes, settings, _mc_chunk, (ref, samples, s), run, serial_chunk)


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


def _check_index_solver(solver, method, opts):
    """The solver name (known, available) and the method it can run, before any point:
    a configuration error is one clear error, not a map of failed points."""
    from ..formulations.flexibility import _check_method
    from ..solvers import available_solvers, get_solver

    if not isinstance(solver, str):
        raise ValidationError(f"solver must be a solver name (e.g. 'maingo', 'scip', 'ipopt'), got {solver!r}")
    s = get_solver(solver, opts)  # unknown names are refused here, with the list
    if s.name not in available_solvers():
        raise SolverUnavailableError(f"solver {solver!r} is not available here (available: {available_solvers()}); "
                                     "run `flexspace solvers` for details")
    return s.name, _check_method(method, s).value  # plain strings in the settings and checkpoints


def _check_index_model(model, uncertainty_set: str, solver: str, method: str, opts) -> None:
    """Before any point: data below the solver tolerances, and for a model with controls a
    recourse route this set and solver cannot run (one error, not a map of failed points)."""
    from ..formulations.flexibility import make_set
    from ..formulations.scaling import check_scales

    check_scales(model, make_set(uncertainty_set, model), opts.feas_tol)
    if getattr(model, "n_z", 0):
        from ..formulations.recourse import check_route

        check_route(model, uncertainty_set, solver, method, opts)


def _check_mc_config(model, point, samples, pyomo_solver, random_state, out) -> None:
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


def _seed_repr(rs):
    """A map's seed is an int >= 0 or None, so that it can be checkpointed and reproduced."""
    return check_random_state("random_state", rs)


def _run_options(workers, out, chunk_size, progress) -> dict:
    """Validated execution settings of a grid driver (before any compute)."""
    if chunk_size is not None:
        chunk_size = check_number("chunk_size", chunk_size, integer=True, low=1, hint="grid points per task")
    if progress is not None and not isinstance(progress, bool):
        raise ValidationError(f"progress must be True, False or None, got {progress!r}")
    if workers is not None and not hasattr(workers, "submit"):
        check_number("workers", workers, integer=True, low=1, hint="a number of processes, or an Executor")
    return {"workers": workers, "out": out, "chunk_size": chunk_size, "progress": progress}


# --------------------------------------------------------------------------- Algorithm 2
def flexibility_index_map(model, grid=None, uncertainty_set: str = "ellipsoid", solver: str = "maingo", *,
                          method: str = "enumeration", options: OptionsLike = None, workers=None, out=None,
                          chunk_size: Optional[int] = None, progress: Optional[bool] = None) -> DesignSpaceMap:
    """Algorithm 2 (flexibility-index map): δm at every θp of the grid → probability.

    ``uncertainty_set``: "box", "ellipsoid" or "ldl"; ``solver``: any flexspace solver
    name ("maingo", "scip", "ipopt"...); ``options``: :class:`~flexspace.options.SolveOptions`
    (default: the ``"index_map"`` preset; a dict changes that preset).  Each (worker)
    process builds the Pyomo problems once and re-solves them per point.  Per point:
    probability P(θm ∈ set(δ)), δ, the proven lower bound of δ (global solvers), status,
    solver, global and certified flags.  A failed or untrusted point is never inside a
    region.  ``grid``, ``workers``, ``out``, ``progress``: see :func:`monte_carlo_map`."""
    if not isinstance(uncertainty_set, str):
        raise ValidationError(f"uncertainty_set must be one of 'box', 'ellipsoid', 'ldl' (by name, so that workers "
                              f"and checkpoints can rebuild it), got {uncertainty_set!r}")
    check_choice("uncertainty_set", str(uncertainty_set).lower(), ("box", "ellipsoid", "ldl"))
    opts = resolve_options(options, "index_map")
    solver, method = _check_index_solver(solver, method, opts)
    run = _run_options(workers, out, chunk_size, progress)
    model, ref = _resolve_model(model)
    axes = make_grid(model, grid)
    _check_index_model(model, str(uncertainty_set).lower(), solver, method, opts)
    s = {"set": str(uncertainty_set).lower(), "solver": str(solver), "method": method, "options": opts}
    settings = {"algorithm": "flexibility index", "model": _model_summary(model),
                "axes": [a.tolist() for a in axes], **s, "options": opts.to_dict()}
    fp = _model_fingerprint(model, ref)
    key = ("id:" if fp.startswith("id:") else "") + hashlib.sha256(repr((fp, sorted(settings.items(), key=str))).encode()).hexdigest()
    s["domain_box"] = grid_box(axes)
    return _drive("flexindex", model, axes, settings, _index_chunk, (key, ref, s), run, 1)


def grid_box(axes) -> tuple:
    """(lower, upper) of a grid's θp axes: the box over which each worker proves the
    model's domain once when that pays
    (:meth:`~flexspace.formulations.FlexibilityAnalysis.use_domain_box`)."""
    return [float(np.min(a)) for a in axes], [float(np.max(a)) for a in axes]
