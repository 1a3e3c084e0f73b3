"""The command line (``flexspace ...``): the only package that imports argparse.

Sub-modules register their commands on the one parser built in :mod:`.main`.
"""
from .main import build_parser, main

__all__ = ["main", "build_parser"]
