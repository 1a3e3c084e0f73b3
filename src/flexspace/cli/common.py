"""What every command shares: checking the output directory before any compute."""
from __future__ import annotations

from ..validation import check_directory

__all__ = ["check_out_dir"]


def check_out_dir(path: str, flag: str = "--out") -> str:
    """Create ``path`` if needed and make sure it is a writable directory, before any compute
    (a map is never computed and then lost because its CSV cannot be written)."""
    return check_directory(flag, path)
