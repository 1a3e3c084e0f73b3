"""What every command shares: checking (and announcing) the output directory before any
compute, and keeping stdout for the JSON alone under ``--json``."""
from __future__ import annotations

import contextlib
import logging
import os
import sys

from ..validation import check_directory

__all__ = ["check_out_dir", "SET_NAMES", "stdout_to_stderr", "progress_for"]


def check_out_dir(path: str, flag: str = "--out", *, announce: bool = True, stream=None) -> str:
    """Create ``path`` if needed and make sure it is a writable directory, before any compute
    (a map is never computed and then lost because its CSV cannot be written).  With
    ``announce``, print ``output directory: <absolute path>`` to ``stream`` (default stdout), so
    that a default such as ``./flexspace_out`` is never written silently.  Returns ``path``."""
    path = check_directory(flag, path)
    if announce:
        print(f"output directory: {os.path.abspath(path)}", file=stream or sys.stdout, flush=True)
    return path


def progress_for(label: str, quiet: bool = False):
    """The ``progress=`` a command hands to a map: nothing when ``quiet``; the per-point bar when
    stderr is a terminal; otherwise a line on stderr every tenth of the points (and at the end),
    so that a log or a pipe also sees the map advance."""
    if quiet:
        return False
    if sys.stderr.isatty():
        return None

    def report(done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:
            print(f"  {label}: {done}/{total} points", file=sys.stderr, flush=True)

    return report


def _stdout_log_handlers(streams) -> list:
    """The logging handlers (of the root logger and every named logger: Pyomo's and IDAES's
    write to stdout) whose stream is one of ``streams``."""
    loggers = [logging.getLogger()] + [lg for lg in list(logging.Logger.manager.loggerDict.values())
                                       if isinstance(lg, logging.Logger)]
    found = []
    for lg in loggers:
        for h in lg.handlers:
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler) \
                    and any(getattr(h, "stream", None) is s for s in streams) and h not in found:
                found.append(h)
    return found


def _redirect_fd(out, err):
    """Point file descriptor 1 (``out``'s) at stderr's, for the native libraries (solver banners)
    that write to it; returns ``(fd, saved copy)`` to undo it, or None when ``out`` or ``err``
    has no file descriptor (a test's captured stream)."""
    try:
        fd, err_fd = out.fileno(), err.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    if fd == err_fd:
        return None
    out.flush()
    _flush_c_stdio()
    saved = os.dup(fd)
    os.dup2(err_fd, fd)
    return fd, saved


def _flush_c_stdio() -> None:
    """Flush the C library's stdio buffers (a native solver's printf to a pipe is buffered: left
    there it would reach stdout after the redirection ends)."""
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # no libc to ask (not POSIX): nothing buffered there
        pass


@contextlib.contextmanager
def stdout_to_stderr(active: bool = True):
    """While the block runs, everything meant for stdout goes to stderr: ``print()``, logging
    handlers that write to stdout (Pyomo's and IDAES's), and native solver libraries writing to
    file descriptor 1.  ``--json`` computes inside it and writes the JSON after it, so that stdout
    holds the JSON alone.  Everything is restored on exit (also on an error).  ``active=False``:
    a no-op."""
    if not active:
        yield
        return
    out, err = sys.stdout, sys.stderr
    handlers = [(h, h.stream) for h in _stdout_log_handlers({out, sys.__stdout__} - {None})]
    for h, _ in handlers:
        h.setStream(err)
    fds = _redirect_fd(out, err)
    sys.stdout = err
    try:
        yield
    finally:
        sys.stdout = out
        with contextlib.suppress(OSError, ValueError):
            err.flush()
            out.flush()
        if fds is not None:
            _flush_c_stdio()
            os.dup2(fds[1], fds[0])
            os.close(fds[1])
        for h, stream in handlers:
            h.setStream(stream)


class _SetNames:
    """The choices of ``--uncertainty-set``: the set registry's names
    (:func:`flexspace.formulations.sets.set_names`), read when argparse first asks, so that
    the command line keeps no list of its own and imports the formulations only when used."""

    @staticmethod
    def _names():
        from ..formulations.sets import set_names

        return set_names()

    def __contains__(self, name) -> bool:
        return name in self._names()

    def __iter__(self):
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


SET_NAMES = _SetNames()
