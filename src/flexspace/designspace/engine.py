"""The machinery under the grid drivers of :mod:`.maps` and :mod:`.adaptive` (one home):
the model sent to workers (pickled, or rebuilt by its factory), each worker's cached
:class:`~flexspace.FlexibilityAnalysis`, the chunk functions, the executor (serial, a
process pool made and owned here, or any Executor passed in, e.g. Dask's), checkpointed
runs and the typed settings a driver hands to it.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import functools
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import pickle
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import numpy as np

from ..errors import SolveError, ValidationError
from ..options import SolveOptions
from ..validation import check_number
from .checkpoint import Checkpoint, CheckpointFile
from .progress import PointChannel, PointProgress, set_worker_queue
from .results import DesignSpaceMap


# --------------------------------------------------------------------------- typed settings
@dataclass
class IndexSettings:
    """What every worker needs to answer a flexibility-index point (Algorithm 2)."""

    uncertainty_set: object  #: an :class:`~flexspace.formulations.UncertaintySet`
    solver: str
    method: str
    options: SolveOptions
    #: (lower, upper) θp box over which the domain is proven once when that pays
    domain_box: Optional[tuple] = None


@dataclass
class McSettings:
    """What every worker needs to answer a Monte Carlo point (Algorithm 1)."""

    batch: str
    pyomo_solver: str
    n_samples: int
    random_state: Optional[int]


@dataclass(frozen=True)
class RunOptions:
    """How a grid driver runs: ``workers`` (a number of processes or an Executor), ``out`` (a
    checkpoint path or :class:`~.checkpoint.CheckpointFile`), ``chunk_size``, ``progress``
    (None, True, False, or a callable ``f(done, total)`` called once per finished point)."""

    workers: object = None
    out: object = None
    chunk_size: Optional[int] = None
    progress: Optional[bool] = None

    @classmethod
    def checked(cls, workers=None, out=None, chunk_size=None, progress=None) -> "RunOptions":
        """The options validated before any compute."""
        if chunk_size is not None:
            chunk_size = check_number("chunk_size", chunk_size, integer=True, low=1, hint="grid points per task")
        if progress is not None and not isinstance(progress, bool) and not callable(progress):
            raise ValidationError(f"progress must be True, False, None or a callable f(done, total) called once per "
                                  f"finished point, got {progress!r}")
        if workers is not None and not hasattr(workers, "submit"):
            check_number("workers", workers, integer=True, low=1, hint="a number of processes, or an Executor")
        return cls(workers, out, chunk_size, progress)


@dataclass
class MapJob:
    """A grid computation: ``fn(*fixed_args, items)`` answers a chunk of ``(i, θp)`` items;
    ``settings`` is what the map records (its summary and checkpoint header)."""

    kind: str  #: "mc" or "flexindex"
    model: object
    axes: List[np.ndarray]
    settings: dict
    fn: Callable
    fixed_args: tuple


# --------------------------------------------------------------------------- models
def grid_points(axes) -> np.ndarray:
    return np.array(list(itertools.product(*axes)), dtype=float).reshape(-1, len(axes))


def model_fingerprint(model, ref=None) -> str:
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


def model_summary(model) -> dict:
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


def resolve_model(model):
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
        raise SolveError(self.why)


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


def _analysis(key: str, model, s):
    """This thread's FlexibilityAnalysis for these settings, built once per thread and process."""
    slot = (os.getpid(), threading.get_ident())
    with _CACHE_LOCK:
        fa = _CACHE.get(slot + (key,))
    if fa is not None and "id:" in key and fa.model is not model:
        fa = None  # an unpicklable model, identified by id(): make sure it is the same object
    if fa is None:
        from ..formulations import FlexibilityAnalysis

        fa = FlexibilityAnalysis(model, s.uncertainty_set, s.solver, s.options, diagnose_failures=False)
        if s.domain_box is not None:  # the domain checks once over the grid's box when that pays
            fa.use_domain_box(*s.domain_box)
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


def release_after(fn, fixed_args, executor) -> None:
    """After a map: the analyses it built in this process (serial, threads) end now."""
    if fn is index_chunk and not isinstance(executor, cf.ProcessPoolExecutor):
        _release(fixed_args[0])


def index_chunk(key: str, ref, s, items, report=None) -> List[tuple]:
    """Flexibility indices of ``items`` ((i, θp) pairs); ``report(i)`` is called as each point
    finishes (progress per point, before the chunk's rows are returned)."""
    with _SOLVE_LOCK:
        return _index_points(_analysis(key, ref.get(), s), s, items, report)


def _index_points(fa, s, items, report=None) -> List[tuple]:
    out = []
    for i, tp in items:
        t0 = time.perf_counter()
        try:
            r = fa.index(tp, method=s.method)
            msg = _index_message(r)
            lb = r.delta_lower_bound
            row = {"probability": float(r.probability), "delta": float(r.delta),
                   "delta_lower_bound": float("nan") if lb is None else float(lb),
                   "probability_lower_bound": _trusted_probability(fa.uset, r),
                   "status": r.status.value, "solver": r.solver, "global": bool(r.is_global),
                   "certified": None if r.certified is None else bool(r.certified), "quality": r.solve_quality,
                   "delta_sampled": float("nan") if r.delta_sampled is None else float(r.delta_sampled),
                   "domain": r.domain, "worst_constraint": r.worst_constraint or "", "time": float(r.time),
                   "message": msg}
        except Exception as exc:  # noqa: BLE001 - one bad point is a failed point, not a crashed map
            row = {"probability": float("nan"), "delta": float("nan"), "delta_lower_bound": float("nan"),
                   "status": "failed", "solver": s.solver, "global": None, "certified": False,
                   "quality": "failed", "worst_constraint": "", "time": time.perf_counter() - t0,
                   "message": f"{type(exc).__name__}: {exc}"}
        out.append((i, row))
        if report is not None:
            report(i)
    return out


def _trusted_probability(uset, r) -> float:
    """What region() trusts: for a global solve the probability of the proven set(δ_lb), not
    of the incumbent δ; for a set whose probability is an estimate (Monte Carlo) its lower
    confidence bound (:meth:`~flexspace.formulations.UncertaintySet.probability_lower_bound`).
    NaN when the row's own probability is what counts."""
    lb = r.delta_lower_bound
    delta = lb if (r.is_global and lb is not None and math.isfinite(lb)) else \
        (r.delta if uset.probability_is_estimate else None)
    if delta is None or not math.isfinite(delta):
        return float("nan")
    return float(uset.probability_lower_bound(delta))


def _index_message(r) -> str:
    """Why a point is not trusted: failed subproblems, or what sampling found."""
    from ..formulations.results import ResultStatus
    from ..solvers import SolverStatus

    if r.status is ResultStatus.FAILED:
        return "; ".join(f"{sp.constraint}: {sp.status.value}" for sp in r.subproblems
                         if not (sp.status.ok or sp.status is SolverStatus.INFEASIBLE))
    if r.status in (ResultStatus.UNCERTIFIED, ResultStatus.CONTRADICTED):
        c = r.certification
        return (f"sampling contradicts delta: {c.get('violating_samples')} of {c.get('n_samples')} samples violate "
                f"or have no solution ({c.get('failed_samples')} failed); largest clean set delta_sampled="
                f"{r.delta_sampled}")
    return ""


def mc_chunk(ref, samples, s, items, report=None) -> List[tuple]:
    """Monte Carlo probabilities of ``items``; ``report(i)`` as each point finishes."""
    with _SOLVE_LOCK:  # a Pyomo-evaluated model is not thread-safe either
        return _mc_points(ref, samples, s, items, report)


def _mc_points(ref, samples, s, items, report=None) -> List[tuple]:
    from ..montecarlo import monte_carlo_probability

    model = ref.get()
    out = []
    if s.batch == "grid" and model.simulator is not None and len(items) > 1:
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
            if report is not None:  # one vectorised call: its points finish together
                report(i)
        return out
    for i, tp in items:
        t0 = time.perf_counter()
        try:
            r = monte_carlo_probability(model, tp, s.n_samples, s.random_state, samples=samples,
                                        solver=s.pyomo_solver)
            out.append((i, _mc_row(r.probability, r.std_error, r.n_failed, r.evaluated_by, time.perf_counter() - t0)))
        except Exception as exc:  # noqa: BLE001
            row = _mc_row(float("nan"), float("nan"), s.n_samples, "error", time.perf_counter() - t0)
            row.update(status="failed", message=f"{type(exc).__name__}: {exc}")
            out.append((i, row))
        if report is not None:
            report(i)
    return out


def _mc_row(p, se, n_failed, how, t):
    return {"probability": float(p), "std_error": float(se), "n_failed": int(n_failed), "status": "ok",
            "solver": "monte carlo", "global": None, "certified": None, "evaluated_by": how, "time": float(t),
            "message": f"{n_failed} failed samples counted infeasible" if n_failed else ""}


# --------------------------------------------------------------------------- runner
class _MapPool(cf.ProcessPoolExecutor):
    """The process pool a map makes for ``workers=K``: its workers die with this process,
    and report each finished point through ``progress_queue`` (:mod:`.progress`)."""

    def __init__(self, n_workers: int):
        ctx = multiprocessing.get_context()  # the context ProcessPoolExecutor itself would use
        self.progress_queue = ctx.SimpleQueue()
        super().__init__(max_workers=n_workers, mp_context=ctx, initializer=_worker_init,
                         initargs=(os.getpid(), self.progress_queue))

    def shutdown(self, wait=True, *, cancel_futures=False):
        super().shutdown(wait=wait, cancel_futures=cancel_futures)
        with contextlib.suppress(Exception):
            self.progress_queue.close()


def executor_name(executor) -> str:
    """What a map's ``run_info["executor"]`` says: "serial", or the Executor's class name (the
    pool made for ``workers=K`` is a ``ProcessPoolExecutor``)."""
    if executor is None:
        return "serial"
    return "ProcessPoolExecutor" if isinstance(executor, _MapPool) else type(executor).__name__


def make_executor(workers):
    """``workers`` -> (an Executor or None, whether we own it, the number of workers)."""
    if workers is None or isinstance(workers, (int, np.integer)) and not isinstance(workers, bool):
        n = 1 if workers is None else int(workers)
        if n < 1:
            raise ValidationError(f"workers must be >= 1 (or an Executor), got {workers!r}")
        if n == 1:
            return None, False, 1
        # workers die with this process (no orphans after a SIGKILL; their solver children likewise)
        return _MapPool(n), True, n
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


def _worker_init(parent_pid: int, progress_queue=None) -> None:
    """A map worker: dies with the map's process, reports finished points through
    ``progress_queue`` (:func:`.progress.set_worker_queue`), and runs BLAS single-threaded.  The
    workers already use every core; OpenBLAS's own threads (2 per worker here, spinning
    after each call of the simulator's linear algebra) competed with the solvers — measured
    on the case 2 MAiNGO map, 2 workers: 13.7 s with them, 11.9 s without."""
    from ..solvers import exit_with_parent

    from threadpoolctl import threadpool_limits  # a core dependency (pyproject)

    exit_with_parent(parent_pid)
    set_worker_queue(progress_queue)
    threadpool_limits(1, user_api="blas")


def run_chunks(fn, fixed_args, points, todo, chunk_size, executor, ckpt, desc, progress) -> Dict[int, dict]:
    """Evaluate ``fn(*fixed_args, items)`` over chunks of (i, θp) items; collect rows.  The
    bar (or the ``progress`` callback) advances per finished point, also while a chunk runs
    (:mod:`.progress`); rows and their order do not depend on it."""
    rows: Dict[int, dict] = {}
    items = [(int(i), [float(x) for x in points[i]]) for i in todo]
    chunks = [items[k:k + chunk_size] for k in range(0, len(items), chunk_size)]
    tracker = PointProgress(len(points), len(points) - len(todo), desc, progress)
    channel = PointChannel(executor) if tracker.active and executor is not None else None
    report = tracker.point if executor is None and tracker.active else getattr(channel, "report", None)
    extra = {} if report is None else {"report": report}

    def finish(result):
        for i, row in result:
            rows[i] = row
            if ckpt is not None:
                ckpt.add(i, row)
        tracker.points(i for i, _ in result)

    try:
        if executor is None:
            for ch in chunks:
                finish(fn(*fixed_args, ch, **extra))
        else:
            futs = [executor.submit(fn, *fixed_args, ch, **extra) for ch in chunks]
            _run_on(futs, finish, lambda: tracker.points(channel.drain() if channel is not None else ()))
    finally:
        tracker.close()
    return rows


def _run_on(futs, finish, poll) -> None:
    """Wait for ``futs``, finishing each as it completes and polling the points reported
    meanwhile; on any exception (Ctrl-C included) the chunks not started are cancelled."""
    try:
        pending = set(futs)
        while pending:  # wake 5 times a second: a Ctrl-C delivered to another thread is seen at once
            done, pending = cf.wait(pending, timeout=0.2, return_when=cf.FIRST_COMPLETED)
            poll()
            for f in done:
                finish(f.result())
        poll()
    except BaseException:
        for f in futs:
            f.cancel()
        raise


def auto_chunk(n_todo, executor, n_workers, per_worker=4, cap=64):
    if executor is None:
        return None
    return max(1, min(cap, math.ceil(n_todo / ((n_workers or 2) * per_worker))))


def drive(job: MapJob, run: RunOptions, serial_chunk: int) -> DesignSpaceMap:
    """Run ``job`` over the grid's points not yet in the checkpoint (``run.out``), in chunks
    of ``run.chunk_size`` (default: a few per worker, ``serial_chunk`` serially)."""
    t0 = time.perf_counter()
    spec = CheckpointFile.coerce(run.out)  # everything is checked before the file is touched
    model, settings = job.model, job.settings
    points = grid_points(job.axes)
    with worker_pool(run.workers, job) as (executor, n_workers, fixed_args):
        ckpt = None
        if spec is not None:
            settings = {**settings, "model": {**settings["model"], **model_identity(model)}}
            ckpt = Checkpoint(spec.path, settings, retry_failed=spec.retry_failed, n_points=len(points),
                              schema=_SCHEMAS[job.kind])
        done = ckpt.open() if ckpt is not None else {}
        todo = [i for i in range(len(points)) if i not in done]
        try:
            cs = run.chunk_size or auto_chunk(len(todo), executor, n_workers) or serial_chunk
            rows = run_chunks(job.fn, fixed_args, points, todo, cs, executor, ckpt, f"{job.kind} map ({model.name})",
                              run.progress)
        finally:
            if ckpt is not None:
                ckpt.close()
    rows.update(done)
    info = {"elapsed_s": time.perf_counter() - t0, "points": len(points), "computed": len(todo),
            "resumed": len(done), "workers": n_workers,
            "executor": executor_name(executor),
            "theta_p_units": list(getattr(model, "theta_p_units", [""] * len(job.axes)))}
    if ckpt is not None:
        info["checkpoint"] = ckpt.summary()
    return DesignSpaceMap.from_rows(job.kind, model.theta_p_names, job.axes, [rows[i] for i in range(len(points))],
                                    settings=settings, run_info=info)


@contextlib.contextmanager
def worker_pool(workers, job: MapJob):
    """``workers`` as ``(executor or None, number of workers, job.fixed_args made sendable)``
    for the ``with`` block.  On Ctrl-C or an error the pool this made is stopped at once
    (every finished point is already in the checkpoint); it is always shut down, and the
    analyses built in this process for the job are closed."""
    executor, own, n_workers = make_executor(workers)
    try:
        yield executor, n_workers, picklable_args(job.model, job.fixed_args, executor)
    except BaseException:
        if own:
            stop_workers(executor)
        raise
    finally:
        if own:
            executor.shutdown(wait=True, cancel_futures=True)
        release_after(job.fn, job.fixed_args, executor)


def settings_key(fingerprint: str, settings: dict, salt: str = "") -> str:
    """The key of a worker's cached analysis (in memory only): the model's fingerprint, the
    map's settings and ``salt`` (an unpicklable model, identified by ``id``, keeps the ``id:``
    prefix)."""
    digest = hashlib.sha256(repr((fingerprint, salt, sorted(settings.items(), key=str))).encode()).hexdigest()
    return ("id:" if fingerprint.startswith("id:") else "") + digest


_NUM = (int, float, type(None))
_SCHEMAS = {  # what a checkpoint record's row must hold to be trusted
    "mc": {"probability": _NUM, "std_error": _NUM, "n_failed": (int,), "status": (str,), "solver": (str,),
           "time": _NUM, "message": (str,)},
    "flexindex": {"probability": _NUM, "delta": _NUM, "delta_lower_bound": _NUM, "status": (str,),
                  "solver": (str,), "global": (bool, type(None)), "certified": (bool, type(None)),
                  "quality": (str,), "worst_constraint": (str,), "time": _NUM, "message": (str,)},
}


def model_identity(model) -> dict:
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


def picklable_args(model, fixed_args, executor):
    ref = [a for a in fixed_args if isinstance(a, (_ModelRef, _Unpicklable))]
    if ref and isinstance(ref[0], _Unpicklable):
        if executor is not None and not isinstance(executor, cf.ThreadPoolExecutor):  # threads share the object
            raise ValidationError(f"model {model.name!r} cannot be sent to worker processes (it does not pickle: "
                             f"{ref[0].why}); give the model a `factory` (a picklable zero-argument callable, "
                             "e.g. functools.partial(my_module.make_model, ...)), pass that factory as `model`, "
                             "or run serially")
        fixed_args = tuple(_ModelRef(model=model) if isinstance(a, _Unpicklable) else a for a in fixed_args)
    return fixed_args
