"""Output files written so that nothing is harmed: :func:`write_atomic` writes every file of
one result to a temporary file beside it and renames them into place only when all were
written, so a full disk or a file-size limit leaves the old files (or none) and never a torn
or empty one; every ``OSError`` names the file it is about."""
from __future__ import annotations

import contextlib
import math
import os
import secrets
from typing import Callable, Sequence, Tuple

from .errors import OutputExistsError

__all__ = ["write_atomic", "named_os_error", "jsonable"]


def named_os_error(exc: OSError, path) -> OSError:
    """``exc`` as an error of the same type whose message names ``path`` (a bare
    ``[Errno 28] No space left on device`` says nothing about which file)."""
    if exc.errno is None:
        return type(exc)(f"{exc}: {os.fspath(path)}")
    return type(exc)(exc.errno, exc.strerror or str(exc), os.fspath(path))


def _temp_beside(path: str) -> Tuple[int, str]:
    """A new file (``O_EXCL``) in the folder of ``path``, created with mode 0o666 less the
    umask, as ``open`` would (the existing file's mode is copied after writing)."""
    folder, base = os.path.split(os.path.abspath(path))
    for _ in range(100):
        tmp = os.path.join(folder, f".{base}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise OutputExistsError(f"no free temporary name beside {path}")


def write_atomic(items: Sequence[Tuple[object, Callable[[object], None]]]) -> None:
    """Write each ``(path, write)`` pair: ``write(f)`` fills an open binary temporary file in
    the folder of ``path``; after every file is written and flushed to disk, each temporary
    file is renamed onto its path.  On any error the temporary files (ours) are removed, no
    path is touched, and the ``OSError`` names the file."""
    temps = []
    try:
        for path, write in items:
            path = os.fspath(path)
            try:
                fd, tmp = _temp_beside(path)
            except OSError as exc:
                raise named_os_error(exc, path) from exc
            temps.append((tmp, path))
            try:
                with os.fdopen(fd, "wb") as f:
                    write(f)
                    f.flush()
                    os.fsync(f.fileno())
                with contextlib.suppress(FileNotFoundError):
                    os.chmod(tmp, os.stat(path).st_mode & 0o7777)  # keep the mode of the file it replaces
            except OSError as exc:
                raise named_os_error(exc, path) from exc
        for tmp, path in temps:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise named_os_error(exc, path) from exc
        temps = []
    finally:
        for tmp, _ in temps:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def jsonable(x):
    """``x`` as strict JSON values: NaN and ±inf become null (read back as NaN), numpy
    scalars and arrays become Python numbers and lists, tuples become lists."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if hasattr(x, "tolist") and not isinstance(x, (str, bytes)):  # numpy scalar or array
        return jsonable(x.tolist())
    return x
