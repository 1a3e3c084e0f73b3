"""Checkpoint files for grid maps: JSON lines, one header record then one record per
finished grid point, each appended with flush + fsync as the point finishes.

Format (``version`` 2)::

    {"flexspace_checkpoint": 2, "settings": {...}}        <- header: what is being computed
    {"i": 0, "row": {...}}                                 <- one finished grid point
    ...

The settings hold everything that determines the answer: the grid, the algorithm's
settings, the solve options and the model's fingerprint
(:meth:`flexspace.ProcessModel.fingerprint_parts`: its rewritten equations and CQAs as
text, θ, Σ, the simulator's code, the flexspace version).

Guarantees:

* **Nothing finished is lost.**  The file is only ever appended to (``O_APPEND``), never
  rewritten.  A line that cannot be read (corrupt, foreign) is skipped and counted: a
  warning names the lines, the map's ``run_info["checkpoint"]`` lists them, the line stays
  in the file, and the points it held are recomputed.  A record with missing keys or
  wrong types is reported the same way and never trusted.  Only an incomplete *last*
  line (no newline: a write cut short by a kill) is cut off.
* **One writer at a time.**  The file is locked (``fcntl.flock``, non-blocking) for the
  whole run; a second process is refused with :class:`CheckpointLockedError`.  Processes
  forked while the file is open (worker pools, the solver guard) close their copy.
* **Other settings are refused** with :class:`CheckpointMismatchError`, which says what
  changed and how to start afresh (delete the file or choose another ``out``).
* **Failed points are retried** on resume unless ``CheckpointFile(path,
  retry_failed=False)``; the later record of a point wins.
* **No empty header.**  The header is written together with the first record, so a run
  that fails before any point finishes leaves no file that would block a corrected run.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import stat
import warnings
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

from ..errors import FlexspaceError, ValidationError
from ..files import jsonable as _jsonable
from ..files import named_os_error
from ..validation import check_file_path

__all__ = ["Checkpoint", "CheckpointFile", "CheckpointMismatchError", "CheckpointLockedError",
           "CheckpointWarning"]

VERSION = 2

_START_AFRESH = "To start afresh, delete the file or choose another `out`."


class CheckpointMismatchError(FlexspaceError, ValueError):
    """The checkpoint file was written for a different computation (or is not a checkpoint)."""


class CheckpointLockedError(FlexspaceError, RuntimeError):
    """Another process is writing the checkpoint file."""


class CheckpointNotOpenError(FlexspaceError, RuntimeError):
    """A record was written to a checkpoint file that this process has not opened (a bug of
    the caller: open it with ``with CheckpointFile(...)`` in the process that writes)."""


class CheckpointWarning(UserWarning):
    """A checkpoint had lines or records that could not be used (they are recomputed)."""


@dataclass(frozen=True)
class CheckpointFile:
    """Where and how a map checkpoints: pass it as ``out=``.

    ``out="map.jsonl"`` is ``out=CheckpointFile("map.jsonl")``.  ``retry_failed``
    (default True): on resume, points whose record says ``status == "failed"`` (a solver
    error or time-out, often transient) are computed again; False keeps them as they are."""

    path: str
    retry_failed: bool = True

    def __post_init__(self):
        try:
            object.__setattr__(self, "path", os.fspath(self.path))
        except TypeError:
            raise ValidationError(f"CheckpointFile: path must be a str or os.PathLike, got {self.path!r}") from None
        if not self.path:
            raise ValidationError("CheckpointFile: path must not be empty")
        if not isinstance(self.retry_failed, bool):
            raise ValidationError(f"CheckpointFile: retry_failed must be True or False, got {self.retry_failed!r}")

    @classmethod
    def coerce(cls, out) -> Optional["CheckpointFile"]:
        """``out`` of a map driver (None, a path or a CheckpointFile) -> CheckpointFile or None."""
        if out is None:
            return out
        if isinstance(out, cls):
            check_file_path("out", out.path)
            return out
        if isinstance(out, (str, os.PathLike)):
            return cls(check_file_path("out", out))
        raise ValidationError(f"out must be a file path or a CheckpointFile(path, retry_failed=...), got {out!r}")


def _canonical(settings: dict) -> dict:
    return json.loads(json.dumps(_jsonable(settings), sort_keys=True))


def _dumps(rec: dict) -> bytes:
    return (json.dumps(_jsonable(rec), sort_keys=True) + "\n").encode("utf-8")


# --------------------------------------------------------------------------- inherited descriptors
_OPEN_FDS: set = set()
_AT_FORK = []


def _close_in_child() -> None:
    """In a process forked while a checkpoint is open: drop the inherited descriptor, so
    the lock dies with the process that took it (not with a worker that outlives it)."""
    for fd in list(_OPEN_FDS):
        with contextlib.suppress(OSError):
            os.close(fd)
    _OPEN_FDS.clear()


def _register_at_fork() -> None:
    if not _AT_FORK and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_close_in_child)
        _AT_FORK.append(True)


# --------------------------------------------------------------------------- reading
class _Contents:
    """What a checkpoint file holds: header, last record per point, what could not be used."""

    def __init__(self):
        self.header: Optional[dict] = None
        self.first_line_bad = False
        self.rows: Dict[int, dict] = {}
        self.records = 0
        self.unreadable: List[int] = []  # line numbers (1-based) that are not JSON
        self.invalid: List[int] = []  # JSON lines that are not valid records
        self.good_end = 0  # byte offset after the last complete line
        self.tail: Optional[bytes] = None  # an incomplete last line (no newline)


def _parse(data: bytes, n_points: Optional[int], schema: Mapping[str, tuple]) -> _Contents:
    c = _Contents()
    lines = data.split(b"\n")
    last = lines.pop()  # b"" when the file ends with a newline
    pos = 0
    for lineno, raw in enumerate(lines, start=1):
        pos += len(raw) + 1
        c.good_end = pos
        _take(c, lineno, raw, n_points, schema)
    if last:
        c.tail = last
    return c


def _take(c: _Contents, lineno: int, raw: bytes, n_points, schema) -> None:
    if not raw.strip():
        return
    try:
        rec = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        rec = _BAD
    if lineno == 1:
        if isinstance(rec, dict) and "flexspace_checkpoint" in rec:
            c.header = rec
        else:
            c.first_line_bad = True
        return
    if rec is _BAD:
        c.unreadable.append(lineno)
    elif _valid_record(rec, n_points, schema):
        c.rows[int(rec["i"])] = _nan_back(rec["row"], schema)
        c.records += 1
    else:
        c.invalid.append(lineno)


_BAD = object()


def _valid_record(rec, n_points, schema) -> bool:
    if not isinstance(rec, dict) or set(rec) != {"i", "row"}:
        return False
    i, row = rec["i"], rec["row"]
    if isinstance(i, bool) or not isinstance(i, int) or i < 0 or (n_points is not None and i >= n_points):
        return False
    if not isinstance(row, dict):
        return False
    return all(k in row and _has_type(row[k], types) for k, types in schema.items())


def _has_type(v, types: tuple) -> bool:
    if isinstance(v, bool):
        return bool in types
    if v is None:
        return type(None) in types
    return isinstance(v, tuple(t for t in types if t is not bool and t is not type(None)))


def _nan_back(row: dict, schema: Mapping[str, tuple]) -> dict:
    """null -> NaN for the numeric fields written as null."""
    numeric = _NUMERIC | {k for k, t in schema.items() if float in t}
    return {k: (float("nan") if v is None and k in numeric else v) for k, v in row.items()}


_NUMERIC = {"probability", "std_error", "delta", "delta_lower_bound", "delta_sampled", "time"}


# --------------------------------------------------------------------------- settings
def describe_changes(path: str, old: dict, new: dict) -> str:
    """What differs between the settings in the file (``old``) and this run's (``new``)."""
    out: List[str] = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if a == b:
            continue
        if k == "model" and isinstance(a, dict) and isinstance(b, dict):
            out.extend(_model_changes(a, b))
        elif k == "options" and isinstance(a, dict) and isinstance(b, dict):
            diffs = ", ".join(f"{o} {a.get(o)!r} -> {b.get(o)!r}" for o in sorted(set(a) | set(b))
                              if a.get(o) != b.get(o))
            out.append(f"solve options changed: {diffs}")
        elif k == "axes":
            out.append("the grid changed")
        else:
            out.append(f"{k}: file has {a!r}, this run has {b!r}")
    return (f"refusing to resume into {path}: it was written for a different computation "
            f"({'; '.join(out)}). {_START_AFRESH}")


_PART_WORDS = {
    "equations": "the model's equations (or variable bounds) changed",
    "cqas": "the model's CQAs changed",
    "theta": "the model's theta names, nominal values or bounds changed",
    "covariance": "covariance changed",
    "analysis": "the model's delta_max or domain_everywhere changed",
    "simulator": "the model's simulator changed",
}


def _model_changes(a: dict, b: dict) -> List[str]:
    out: List[str] = []
    pa, pb = a.get("fingerprint_parts") or {}, b.get("fingerprint_parts") or {}
    for part in sorted(set(pa) | set(pb)):
        if pa.get(part) == pb.get(part):
            continue
        if part == "flexspace":
            out.append(f"flexspace version changed: {pa.get(part)} -> {pb.get(part)}")
        else:
            out.append(_PART_WORDS.get(part, f"the model's {part} changed"))
    for key in ("name", "theta_p_names", "theta_m_names", "g_names", "theta_m_nominal", "theta_p_bounds"):
        if a.get(key) != b.get(key):
            out.append(f"model {key}: {a.get(key)!r} -> {b.get(key)!r}")
    if a.get("covariance") != b.get("covariance") and "covariance changed" not in out:
        out.append("covariance changed")
    if not out:
        out.append("the model changed")
    return out


# --------------------------------------------------------------------------- the file
class Checkpoint:
    """Append-only JSON-lines record of finished grid points (see the module docstring).

    ``open()`` locks the file, reads it and returns ``{i: row}`` of the points that need
    no computing; ``add(i, row)`` appends one record (the header goes with the first);
    ``close()`` releases the lock.  ``n_points`` (records with another index are invalid)
    and ``schema`` (``{key: allowed types}`` every row must satisfy) guard what is trusted.
    ``summary()`` says what was found (for a map's ``run_info["checkpoint"]``)."""

    def __init__(self, path, settings: dict, *, retry_failed: bool = True, n_points: Optional[int] = None,
                 schema: Optional[Mapping[str, tuple]] = None):
        self.path = os.fspath(path)
        self.settings = _canonical(settings)
        self.retry_failed = bool(retry_failed)
        self.n_points = n_points
        self.schema = dict(schema or {})
        self.done: Dict[int, dict] = {}
        self._fd: Optional[int] = None
        self._created = False
        self._pid: Optional[int] = None
        self._locked = False
        self._need_header = True
        self._found = _Contents()
        self._retried: List[int] = []
        self._torn_dropped = False
        self._written = 0

    def open(self) -> Dict[int, dict]:
        """Lock, read and check the file; returns the finished points to keep."""
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._lock()
        try:
            self._load()
        except BaseException:
            self.close()
            raise
        return dict(self.done)

    def _lock(self) -> None:
        _register_at_fork()
        while True:
            fd, self._created = _open_regular(self.path)
            _OPEN_FDS.add(fd)
            self._fd, self._pid, self._locked = fd, os.getpid(), False
            try:
                import fcntl
            except ImportError:  # pragma: no cover - not POSIX: no lock
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self.close()
                raise CheckpointLockedError(
                    f"{self.path}: another process is writing this checkpoint file (it is locked). Wait for that "
                    "run to finish (or stop it), or choose another `out`.") from None
            if self._same_file(fd):
                self._locked = True
                return
            self.close()  # the file was removed or replaced between open and lock: lock the new one

    def _same_file(self, fd: int) -> bool:
        """``fd`` is still the file at ``path`` (not removed or replaced)."""
        st = os.fstat(fd)
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return False
        return (now.st_ino, now.st_dev) == (st.st_ino, st.st_dev)

    def _load(self) -> None:
        with open(self.path, "rb") as f:
            data = f.read()
        if not data.strip():
            return
        c = self._found = _parse(data, self.n_points, self.schema)
        if c.good_end == 0 and c.tail is not None and c.tail.startswith(b'{"flexspace_checkpoint"'):
            os.ftruncate(self._fd, 0)  # a header (+ first record) cut short by a kill: nothing was finished
            self._torn_dropped = True
            return
        self._check_header(c)
        self._need_header = False
        self._fix_tail(c)
        self.done = {i: r for i, r in c.rows.items() if not (self.retry_failed and r.get("status") == "failed")}
        self._retried = sorted(set(c.rows) - set(self.done))
        if c.unreadable or c.invalid:
            parts = []
            if c.unreadable:
                parts.append(f"{len(c.unreadable)} unreadable line(s) (line {_lines(c.unreadable)})")
            if c.invalid:
                parts.append(f"{len(c.invalid)} invalid record(s) (line {_lines(c.invalid)})")
            warnings.warn(f"checkpoint {self.path}: skipped {' and '.join(parts)}; they stay in the file, and a point "
                          "without another valid record is computed again", CheckpointWarning, stacklevel=5)

    def _check_header(self, c: _Contents) -> None:
        if c.header is None:
            raise CheckpointMismatchError(f"{self.path}: not a flexspace checkpoint file (its first line is no "
                                          f"checkpoint header); refusing to write into it. {_START_AFRESH}")
        version = c.header.get("flexspace_checkpoint")
        if version != VERSION:
            raise CheckpointMismatchError(
                f"{self.path}: written in checkpoint format {version!r}, this flexspace writes format {VERSION} "
                f"(it fingerprints the model); it cannot tell whether those points are still valid. {_START_AFRESH}")
        old = c.header.get("settings")
        if old != self.settings:
            raise CheckpointMismatchError(describe_changes(self.path, old if isinstance(old, dict) else {},
                                                           self.settings))

    def _fix_tail(self, c: _Contents) -> None:
        """An incomplete last line: a whole record without its newline gets one; a record cut
        short by a kill (not JSON) is cut off.  Nothing before it is touched."""
        if c.tail is None:
            return
        sub = _Contents()
        _take(sub, 2, c.tail, self.n_points, self.schema)
        if sub.rows:
            self._append(b"\n")
            c.rows.update(sub.rows)
            c.records += 1
        else:
            os.ftruncate(self._fd, c.good_end)
            self._torn_dropped = True

    def add(self, i: int, row: dict) -> None:
        """Append the record of a finished point (with the header, if it is the first)."""
        self.done[int(i)] = row
        rec = _dumps({"i": int(i), "row": row})
        if self._need_header:
            rec = _dumps({"flexspace_checkpoint": VERSION, "settings": self.settings}) + rec
        self._append(rec)
        self._need_header = False
        self._written += 1

    def _append(self, data: bytes) -> None:
        if self._fd is None or self._pid != os.getpid():
            raise CheckpointNotOpenError(f"checkpoint {self.path} is not open in this process")
        view = memoryview(data)
        try:
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            os.fsync(self._fd)
        except OSError as exc:  # a full disk, a file-size limit: say which file (the records before stay)
            raise named_os_error(exc, self.path) from exc

    def close(self) -> None:
        """Release the lock; a file this run created (``O_EXCL``) and never wrote to is removed.
        A file that existed before, even an empty one, is never removed."""
        fd, self._fd = self._fd, None
        if fd is None or self._pid != os.getpid():
            return
        try:
            if (self._created and self._locked and self._need_header and os.fstat(fd).st_size == 0
                    and self._same_file(fd)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)  # still under our lock: nobody else writes it
        finally:
            self._locked = False
            _OPEN_FDS.discard(fd)
            os.close(fd)

    def summary(self) -> dict:
        """What this run found in the file and wrote to it (JSON-able)."""
        c = self._found
        return {"path": self.path, "records": c.records, "unreadable_lines": list(c.unreadable),
                "invalid_records": list(c.invalid), "retried_failed": list(self._retried),
                "torn_last_line_dropped": self._torn_dropped, "written": self._written}


def _open_regular(path: str) -> Tuple[int, bool]:
    """``(fd, created)``: the checkpoint opened for appending; ``created`` only when this call
    made the file (``O_EXCL``).  Anything but a regular file (a device such as ``/dev/null``,
    a FIFO, a socket) is refused before it is read or written: reads of it need not end."""
    flags = os.O_RDWR | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644), True
    except FileExistsError:
        pass
    fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block the open
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ValidationError(f"out {path!r} is not a regular file (a device, pipe or socket); give the path of a "
                              "regular file for the checkpoint (e.g. 'map.jsonl')")
    return fd, False


def _lines(nums: List[int], most: int = 10) -> str:
    s = ", ".join(map(str, nums[:most]))
    return s + (f", ... ({len(nums) - most} more)" if len(nums) > most else "")
