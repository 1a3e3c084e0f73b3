"""Checkpoint files for grid maps: JSON lines, one header record then one record per
finished grid point, each appended with flush + fsync as the point finishes.

Format (``version`` 1)::

    {"flexspace_checkpoint": 1, "settings": {...}}        <- header: what is being computed
    {"i": 0, "row": {...}}                                 <- one finished grid point
    ...

Re-running a map with the same path skips the points already in the file.  A file
written with different settings is refused (``ValueError`` naming the differing keys);
a last line cut short by a kill is dropped (the file is truncated to the last complete
record) and that point is recomputed.
"""
from __future__ import annotations

import json
import math
import os
from typing import Dict, Optional, Tuple

__all__ = ["Checkpoint", "CheckpointMismatchError"]

VERSION = 1


class CheckpointMismatchError(ValueError):
    """The checkpoint file was written with different settings."""


def _jsonable(x):
    """JSON without NaN/inf tokens (they are written as null and read back as NaN)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):  # numpy scalar
        return _jsonable(x.item())
    return x


def _canonical(settings: dict) -> dict:
    return json.loads(json.dumps(_jsonable(settings), sort_keys=True))


class Checkpoint:
    """Append-only JSON-lines record of finished grid points (see module docstring)."""

    def __init__(self, path: str, settings: dict):
        self.path = os.fspath(path)
        self.settings = _canonical(settings)
        self.done: Dict[int, dict] = {}
        self._fh = None

    def open(self) -> Dict[int, dict]:
        """Read what is there (checking the settings), then open for appending."""
        d = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(d, exist_ok=True)
        if os.path.exists(self.path) and os.path.getsize(self.path) > 0:
            header, rows, good_end = self._read()
            if header is None:
                raise CheckpointMismatchError(f"{self.path}: not a flexspace checkpoint file (no header record)")
            self._check(header)
            self.done = rows
            if good_end < os.path.getsize(self.path):  # a record cut short by a kill: drop it
                with open(self.path, "r+b") as f:
                    f.truncate(good_end)
            self._fh = open(self.path, "a", encoding="utf-8")
        else:
            self._fh = open(self.path, "w", encoding="utf-8")
            self._write({"flexspace_checkpoint": VERSION, "settings": self.settings})
        return dict(self.done)

    def _read(self) -> Tuple[Optional[dict], Dict[int, dict], int]:
        header, rows, good_end, pos = None, {}, 0, 0
        with open(self.path, "rb") as f:
            for raw in f:
                pos += len(raw)
                if not raw.endswith(b"\n"):
                    break  # incomplete last record
                try:
                    rec = json.loads(raw.decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    break
                if header is None:
                    if "flexspace_checkpoint" not in rec:
                        return None, {}, 0
                    header = rec
                else:
                    rows[int(rec["i"])] = _nan_back(rec["row"])
                good_end = pos
        return header, rows, good_end

    def _check(self, header: dict) -> None:
        old = header.get("settings", {})
        if old != self.settings:
            keys = sorted(k for k in set(old) | set(self.settings) if old.get(k) != self.settings.get(k))
            diffs = "; ".join(f"{k}: file has {old.get(k)!r}, this run has {self.settings.get(k)!r}" for k in keys)
            raise CheckpointMismatchError(
                f"refusing to resume into {self.path}: it was written with different settings ({diffs}). "
                "Use another output path, or delete the file to start again.")

    def _write(self, rec: dict) -> None:
        self._fh.write(json.dumps(_jsonable(rec), sort_keys=True) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def add(self, i: int, row: dict) -> None:
        self.done[int(i)] = row
        self._write({"i": int(i), "row": row})

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _nan_back(row: dict) -> dict:
    """null -> NaN for the numeric fields written as null."""
    return {k: (float("nan") if v is None and k in _NUMERIC else v) for k, v in row.items()}


_NUMERIC = {"probability", "std_error", "delta", "delta_lower_bound", "time"}
