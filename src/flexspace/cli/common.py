"""What every command shares: checking the output directory before any compute."""
from __future__ import annotations

from ..validation import check_directory

__all__ = ["check_out_dir", "SET_NAMES"]


def check_out_dir(path: str, flag: str = "--out") -> str:
    """Create ``path`` if needed and make sure it is a writable directory, before any compute
    (a map is never computed and then lost because its CSV cannot be written)."""
    return check_directory(flag, path)


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
