"""Progress of a grid map per finished point: the tqdm bar (or the caller's callback
``progress=f(done, total)``) and the channel by which a worker reports each point as it
finishes, before its chunk's rows return.

Points are sent to workers in chunks (one task per chunk: cheap to send, and one vectorised
simulator call per chunk with ``batch="grid"``); progress is per point all the same:

* serial: the chunk function reports each point to :class:`PointProgress` directly;
* threads (a :class:`~concurrent.futures.ThreadPoolExecutor`): the chunk's thread puts the
  point's index in a queue that the calling thread reads while it waits;
* the process pool a map makes for ``workers=K``: each worker process was given a pipe to
  the map when it started (:func:`set_worker_queue`, the pool's initializer) and puts
  ``(run token, index)`` in it; the calling thread reads it while it waits;
* any other Executor (a process pool or Dask client you pass in): per chunk, as the
  chunk's rows arrive (a process this one did not start has no pipe back).

A point is counted once, whichever of its report and its chunk's rows arrives first, so the
count ends at the number of points.  Rows, their order and the checkpoint are untouched:
they come only with the chunk's results, as before.  The callback and the bar run in the
calling thread only.
"""
from __future__ import annotations

import concurrent.futures as cf
import queue
import sys
import uuid
from typing import Iterable, List, Optional

__all__ = ["PointProgress", "PointChannel", "QueueReport", "set_worker_queue"]

#: in a worker process of a map's own pool: its pipe to that map (None in every other process)
_WORKER_QUEUE = None


def set_worker_queue(pipe) -> None:
    """Called by the initializer of a map's own worker processes (never on import):
    where :class:`QueueReport` sends this worker's finished points."""
    global _WORKER_QUEUE
    _WORKER_QUEUE = pipe


class QueueReport:
    """``report(i)`` as sent to worker processes: puts ``(token, i)`` in this worker's pipe
    to its map; a no-op in a process without one (an Executor this process did not start)."""

    def __init__(self, token: str):
        self.token = token

    def __call__(self, i: int) -> None:
        pipe = _WORKER_QUEUE
        if pipe is None:
            return
        try:
            pipe.put((self.token, int(i)))
        except (OSError, ValueError):  # the map's end of the pipe is gone: the rows still return
            pass


def _tqdm_bar(total: int, initial: int, desc: str, progress: Optional[bool]):
    if progress is False:
        return None
    if progress is None and not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a core dependency
        return None
    return tqdm(total=total, initial=initial, desc=desc, unit="pt", leave=False)


class PointProgress:
    """Counts finished points once each: advances the tqdm bar by one per point, or calls
    ``progress(done, total)`` (``done`` includes the points resumed from a checkpoint).

    ``progress``: None (a bar when stderr is a terminal), True / False (a bar, or nothing),
    or a callable (no bar).  An exception raised by the callback stops the map; every
    finished point is already in the checkpoint."""

    def __init__(self, total: int, initial: int, desc: str, progress):
        self.total, self.done = int(total), int(initial)
        self.callback = progress if callable(progress) else None
        self.bar = None if self.callback is not None else _tqdm_bar(total, initial, desc, progress)
        self._seen = set()

    @property
    def active(self) -> bool:
        """Whether anyone looks: a bar or a callback (otherwise nothing is reported)."""
        return self.bar is not None or self.callback is not None

    def point(self, i: int) -> None:
        self.points((i,))

    def points(self, indices: Iterable[int]) -> None:
        for i in indices:
            if i in self._seen:
                continue
            self._seen.add(i)
            self.done += 1
            if self.bar is not None:
                self.bar.update(1)
            if self.callback is not None:
                self.callback(self.done, self.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class PointChannel:
    """How the points a chunk finishes reach the calling thread before the chunk's rows do:
    ``report`` is passed to the chunk function (None: per chunk only), :meth:`drain`
    returns the indices reported since the last call."""

    def __init__(self, executor):
        self.token = uuid.uuid4().hex
        self._threads = self._pipe = None
        self.report = None
        if isinstance(executor, cf.ThreadPoolExecutor):
            self._threads = queue.SimpleQueue()
            self.report = self._threads.put
        elif getattr(executor, "progress_queue", None) is not None:  # a map's own process pool
            self._pipe = executor.progress_queue
            self.report = QueueReport(self.token)

    def drain(self) -> List[int]:
        out: List[int] = []
        if self._threads is not None:
            while True:
                try:
                    out.append(self._threads.get_nowait())
                except queue.Empty:
                    return out
        if self._pipe is not None:
            try:
                while not self._pipe.empty():
                    token, i = self._pipe.get()
                    if token == self.token:  # an earlier round of the same pool (adaptive maps) is not counted
                        out.append(i)
            except (OSError, EOFError, ValueError):  # a closed pipe: the chunks' rows still count
                pass
        return out
