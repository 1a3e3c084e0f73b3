"""What every command shares: checking the output directory before any compute."""
from __future__ import annotations

import os

__all__ = ["check_out_dir"]


def check_out_dir(path: str) -> str:
    """Create ``path`` if needed and make sure it is a writable directory, before any compute
    (a map is never computed and then lost because its CSV cannot be written)."""
    import tempfile

    from ..errors import ValidationError

    if os.path.exists(path) and not os.path.isdir(path):
        raise ValidationError(f"--out {path!r} exists and is not a directory; choose a directory")
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.NamedTemporaryFile(dir=path, prefix=".flexspace-write-test-").close()  # deleted on close
    except OSError as exc:
        raise ValidationError(f"--out {path!r} is not a writable directory ({exc.strerror or exc}); "
                              "choose another --out") from None
    return path
