"""The hard wall-clock guard: solves run in a forked child that is killed at the deadline.

Two ways to run a solve there:

* :func:`fork_solve` — one fresh child per solve (the model is the child's copy of the
  parent's, exactly as it is at the fork).  About 20 ms per solve on the shipped cases
  (the fork, the child touching copy-on-write pages, its exit).
* :class:`SolveServer` — one long-lived child per (solver, model): each request sends the
  model's *state* — every variable's value, bounds and fixed flag, every block's,
  constraint's and objective's active flag, every mutable parameter's value — which the
  child applies to its copy before solving.  Anything else (a component added or removed,
  an expression replaced, a variable's domain, an objective's sense, the solver's
  settings) changes the model's *structure key*, and a new child is forked from the
  current model.  Measured on the case 2 MAiNGO index map (serial): 0.023 s → 0.004 s per
  cheap solve, 22 s → 17 s for the map.  A child past its deadline is killed (SIGKILL) and
  the next request forks a new one; a child that dies is an error result, never an answer.

Both children die with their parent (:func:`exit_with_parent`, also the maps' pool workers'
``initializer``)."""
from __future__ import annotations

import collections
import contextlib
import os
import pickle
import select
import signal
import shutil
import struct
import sys
import tempfile
import threading
import time
import weakref
from typing import Callable, List, Optional, Tuple

import pyomo.environ as pyo

from ..errors import SolveTimeoutError, WorkerError

_HEADER = struct.Struct("<Q")


# --------------------------------------------------------------------------- messages
def _write_msg(fd: int, data: bytes) -> None:
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exact(fd: int, n: int, deadline: Optional[float]) -> Optional[bytes]:
    """``n`` bytes from ``fd``; None on EOF; raises :class:`~flexspace.errors.SolveTimeoutError`
    (a ``TimeoutError``) past ``deadline`` (monotonic)."""
    out = bytearray()
    while len(out) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SolveTimeoutError("no answer from the solver process before the deadline")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
        chunk = os.read(fd, min(1 << 20, n - len(out)))
        if not chunk:
            return None
        out += chunk
    return bytes(out)


def _read_msg(fd: int, deadline: Optional[float] = None) -> Optional[bytes]:
    head = _read_exact(fd, _HEADER.size, deadline)
    if head is None:
        return None
    return _read_exact(fd, _HEADER.unpack(head)[0], deadline)


_TMP_PREFIX = "flexspace-solve-"
_last_sweep = [0.0]


def _child_tempdir() -> str:
    """A folder for one solver child's temporary files (PyNumero's ``*pynumero.nl``, solver
    logs), named after the process that made it: that process removes it when the child has
    ended, so a child killed at its time limit leaves nothing behind.  A folder whose maker
    died abruptly (SIGKILL, ``os._exit`` of a pool worker; its child then died with it) is
    removed by the next flexspace process that makes one."""
    if time.monotonic() - _last_sweep[0] > 60.0:
        _last_sweep[0] = time.monotonic()
        _sweep_orphaned_tempdirs()
    return tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-")


def _sweep_orphaned_tempdirs() -> None:
    """Remove our own solver folders (this user's, our prefix) whose maker is no longer alive."""
    base = tempfile.gettempdir()
    with contextlib.suppress(OSError):
        for name in os.listdir(base):
            if not name.startswith(_TMP_PREFIX):
                continue
            try:
                owner = int(name[len(_TMP_PREFIX):].split("-", 1)[0])
            except ValueError:
                continue
            path = os.path.join(base, name)
            with contextlib.suppress(OSError):
                if os.stat(path).st_uid == os.getuid() and not _alive(owner):
                    shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _use_tempdir(path: str) -> None:
    """In the child: every temporary file (Python's and Pyomo's) goes to ``path``."""
    tempfile.tempdir = path
    with contextlib.suppress(ImportError):
        from pyomo.common.tempfiles import TempfileManager

        TempfileManager.tempdir = path


def _reap(pid: int, kill: bool) -> None:
    if kill:
        with contextlib.suppress(ProcessLookupError):  # it exited just now
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):  # already reaped
        os.waitpid(pid, 0)


# --------------------------------------------------------------------------- one fork per solve
def fork_solve(run: Callable[[], tuple], seconds: float, exit_with_parent: Callable) -> Optional[tuple]:
    """``run()`` (→ a picklable result) in a fresh forked child; None when the child had
    no answer within ``seconds`` (it is then killed).  A child that dies without an answer
    raises :class:`~flexspace.errors.WorkerError` (a ``ChildProcessError``)."""
    rfd, wfd = os.pipe()
    parent = os.getpid()
    tmp = _child_tempdir()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(rfd)
            exit_with_parent(parent)
            _use_tempdir(tmp)
            _write_msg(wfd, pickle.dumps(run()))
        except BaseException:  # noqa: BLE001 - the parent sees EOF: "died without a result"
            code = 1
        finally:
            os._exit(code)
    os.close(wfd)
    timed_out = False
    try:
        data = _read_msg(rfd, time.monotonic() + seconds)
    except TimeoutError:
        timed_out, data = True, None
    except BaseException:  # Ctrl-C while waiting: do not leave the solver running
        timed_out = True
        raise
    finally:
        os.close(rfd)
        _reap(pid, kill=timed_out)
        shutil.rmtree(tmp, ignore_errors=True)
    if timed_out:
        return None
    if data is None:
        raise WorkerError("solver process died without a result")
    return pickle.loads(data)


# --------------------------------------------------------------------------- one child per model
def _unique(items) -> list:
    seen, out = set(), []
    for x in items:
        if id(x) not in seen:
            seen.add(id(x))
            out.append(x)
    return out


class ModelState:
    """The parts of a Pyomo model that a :class:`SolveServer` copies into its child per
    solve, and the structure key that must not change between them."""

    def __init__(self, model: pyo.Block, settings: tuple):
        root = model.model()
        # every data object once: IDAES References (e.g. a unit's heat_duty) list the same
        # VarData as their target, so the raw walk meets some twice
        self.variables = _unique(root.component_data_objects(pyo.Var, descend_into=True))
        self.blocks = [root] + _unique(root.component_data_objects(pyo.Block, descend_into=True))
        self.switches = (_unique(root.component_data_objects(pyo.Constraint, descend_into=True))
                         + _unique(root.component_data_objects(pyo.Objective, descend_into=True)))
        # mutable Params only, found through their components: the data of an *immutable*
        # indexed Param are plain floats (IDAES property packages are full of them)
        self.params = _unique(d for c in root.component_objects(pyo.Param, descend_into=True)
                              if getattr(c, "mutable", False) for d in c.values())
        self.key = self._key(root, model, settings)

    def _key(self, root, model, settings) -> int:
        exprs = list(root.component_data_objects(pyo.Expression, descend_into=True))
        parts = (id(root), id(model), settings,
                 tuple(id(v) for v in self.variables), tuple(id(v.domain) for v in self.variables),
                 tuple(id(b) for b in self.blocks), tuple(id(p) for p in self.params),
                 tuple((id(c), id(c.expr)) for c in self.switches),
                 tuple(getattr(c, "sense", None) for c in self.switches),
                 tuple((id(e), id(e.expr)) for e in exprs))
        return hash(parts)

    def capture(self) -> tuple:
        return ([(v.value, v.lb, v.ub, v.fixed) for v in self.variables],
                [b.active for b in self.blocks], [c.active for c in self.switches],
                [p.value for p in self.params])

    def apply(self, state: tuple) -> None:
        """Make this (the child's) model equal to the captured ``state``."""
        var_state, blocks, switches, params = state
        for p, x in zip(self.params, params):
            p.set_value(x)
        for v, (x, lb, ub, fixed) in zip(self.variables, var_state):
            v.set_value(x, skip_validation=True)
            v.setlb(lb)
            v.setub(ub)
            v.fixed = fixed
        for b, on in zip(self.blocks, blocks):  # parents before children (Block.activate does not recurse)
            b.activate() if on else b.deactivate()
        for c, on in zip(self.switches, switches):
            c.activate() if on else c.deactivate()


class SolveServer:
    """A forked child that keeps a copy of one model and solves it per request (module
    docstring).  ``run(model, targets)`` → ``(SolveResult, values of the model's variables
    or None)`` is called in the child."""

    def __init__(self, model: pyo.Block, state: ModelState, run: Callable, exit_with_parent: Callable):
        self.key = state.key
        self.model = model
        req_r, self._req_w = os.pipe()
        self._resp_r, resp_w = os.pipe()
        parent = os.getpid()
        tmp = _child_tempdir()
        pid = os.fork()
        if pid == 0:  # child: serve until the parent closes the request pipe (or dies)
            code = 0
            try:
                os.close(self._req_w)
                os.close(self._resp_r)
                exit_with_parent(parent)
                _use_tempdir(tmp)
                _serve(model, state, run, req_r, resp_w)
            except BaseException:  # noqa: BLE001 - the parent sees EOF: "died without a result"
                code = 1
            finally:
                os._exit(code)
        os.close(req_r)
        os.close(resp_w)
        self.pid = pid
        self._finalizer_tmp = tmp
        #: the process that forked the child: a copy of this object in a process forked later
        #: (a map's pool worker) must neither use nor kill it
        self.owner = parent
        self._finalizer = weakref.finalize(self, _shutdown, pid, self._req_w, self._resp_r, True, parent, tmp)

    @property
    def alive(self) -> bool:
        return self._finalizer.alive and os.getpid() == self.owner

    def solve(self, state: tuple, targets, seconds: float) -> Optional[tuple]:
        """One solve; None past ``seconds`` (the child is killed).  A dead child raises
        :class:`~flexspace.errors.WorkerError` (a ``ChildProcessError``); the server is closed in both cases."""
        try:
            _write_msg(self._req_w, pickle.dumps((state, targets)))
            data = _read_msg(self._resp_r, time.monotonic() + seconds)
        except TimeoutError:
            self.close(kill=True)
            return None
        except BrokenPipeError:
            data = None
        except BaseException:  # Ctrl-C while waiting: do not leave the solver running
            self.close(kill=True)
            raise
        if data is None:
            self.close(kill=True)
            raise WorkerError("solver process died without a result")
        return pickle.loads(data)

    def close(self, kill: bool = True) -> None:
        if self._finalizer.alive:
            self._finalizer.detach()
            _shutdown(self.pid, self._req_w, self._resp_r, kill, self.owner, self._finalizer_tmp)


def _serve(model, state: ModelState, run: Callable, req_r: int, resp_w: int) -> None:
    while True:
        msg = _read_msg(req_r)
        if msg is None:  # the parent closed the pipe
            return
        captured, targets = pickle.loads(msg)
        state.apply(captured)
        _write_msg(resp_w, pickle.dumps(run(model, targets)))


def _shutdown(pid: int, req_w: int, resp_r: int, kill: bool = True, owner: Optional[int] = None,
              tmp: Optional[str] = None) -> None:
    """Close the pipes and end the child (SIGKILL: it is idle or past its deadline).  In a
    process other than ``owner`` (forked after the child) only this process's copies of the
    pipes are closed: the child belongs to the owner."""
    for fd in (req_w, resp_r):
        with contextlib.suppress(OSError):  # already closed
            os.close(fd)
    if owner is None or os.getpid() == owner:
        _reap(pid, kill=kill)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


class ServerSlot:
    """The :class:`SolveServer` of one :class:`~flexspace.solvers.Solver` (at most one:
    a new model or structure replaces it), with a lock: a solve that finds the slot busy
    (another thread) uses :func:`fork_solve` instead."""

    def __init__(self):
        self.server: Optional[SolveServer] = None
        self.lock = threading.Lock()

    def get(self, model, state: ModelState, run, exit_with_parent) -> SolveServer:
        """The slot's server for ``model`` (called with :attr:`lock` held)."""
        s = self.server
        if s is None or not s.alive or s.key != state.key or s.model is not model:
            if s is not None:
                s.close()
            s = self.server = SolveServer(model, state, run, exit_with_parent)
        _recently_used(self)
        return s

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None


#: at most this many idle solver children per process: a program that builds many analyses
#: (each holds one or two Solvers) keeps the recently used ones, and the least recently used
#: are ended (an ended child is forked again on its next solve; only the fork is lost)
MAX_SERVERS = 8
_LRU: "collections.OrderedDict[int, weakref.ref]" = collections.OrderedDict()
_LRU_LOCK = threading.Lock()


def _recently_used(slot: ServerSlot) -> None:
    """Mark ``slot`` as the most recently used; end the servers of the least recently used
    slots beyond MAX_SERVERS (only idle ones: a slot whose lock is held is solving)."""
    with _LRU_LOCK:
        _LRU.pop(id(slot), None)
        _LRU[id(slot)] = weakref.ref(slot)
        for key, ref in list(_LRU.items()):
            if len(_LRU) <= MAX_SERVERS:
                break
            other = ref()
            if other is None or other.server is None or not other.server.alive:
                del _LRU[key]
                continue
            if other is slot or not other.lock.acquire(blocking=False):
                continue
            try:
                other.close()
            finally:
                other.lock.release()
            del _LRU[key]


# --------------------------------------------------------------------------- children die with their parent
_PDEATHSIG: list = []  # [prctl function or None], probed once


def _prctl():
    if not _PDEATHSIG:
        fn = None
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                fn = ctypes.CDLL(None, use_errno=True).prctl
            except (OSError, AttributeError):  # pragma: no cover - no libc prctl
                fn = None
        _PDEATHSIG.append(fn)
    return _PDEATHSIG[0]


def exit_with_parent(parent_pid: int, watch_fd: Optional[int] = None) -> None:
    """Make this child process die when its parent ``parent_pid`` dies (no orphans after a
    SIGKILL of a map): on Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``; elsewhere (or if prctl
    fails) a daemon thread that waits for EOF on ``watch_fd`` (the read end of a pipe whose
    write end only the parent holds) or, without one, for the parent process id to change.
    Used by the solver guard's forked child and, as their ``initializer``, by the maps' pool
    workers (so the chain map → worker → solver child is covered link by link)."""
    prctl, armed = _prctl(), False
    if prctl is not None:
        armed = prctl(1, int(signal.SIGKILL), 0, 0, 0) == 0  # 1 = PR_SET_PDEATHSIG
    if not armed:
        threading.Thread(target=_watch_parent, args=(watch_fd, os.getppid()), daemon=True,
                         name="flexspace-parent-watch").start()
    if os.getppid() != parent_pid and not _alive(parent_pid):
        os._exit(1)  # the parent died before the death signal was armed


def _watch_parent(watch_fd: Optional[int], ppid: int) -> None:  # pragma: no cover - non-Linux fallback
    if watch_fd is not None:
        while True:
            try:
                if not os.read(watch_fd, 1):
                    break
            except InterruptedError:
                continue
            except OSError:
                break
    else:
        while os.getppid() == ppid:
            time.sleep(0.5)
    os._exit(1)


def variables_of(model: pyo.Block) -> List:
    """The variables of the block a solve returns values for."""
    return list(model.component_data_objects(pyo.Var, descend_into=True))


__all__: Tuple[str, ...] = ("fork_solve", "ModelState", "SolveServer", "ServerSlot", "variables_of",
                            "exit_with_parent")
