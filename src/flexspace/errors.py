"""The exceptions flexspace raises on purpose, under one base class.

Catch :class:`FlexspaceError` for anything flexspace refuses; every subclass also derives
from the matching built-in (``ValueError``, ``TypeError``, ``RuntimeError``, ``ImportError``,
…) so that existing ``except ValueError`` code keeps working.  Callers never need to branch
on message text.  No module of flexspace raises a bare built-in exception
(``tests/test_architecture.py`` keeps that true).
"""
from __future__ import annotations

__all__ = ["FlexspaceError", "ValidationError", "InputTypeError", "UnknownNameError", "SolverUnavailableError",
           "MissingExtraError", "SolveError", "UnsupportedError", "SolveTimeoutError", "WorkerError",
           "OutputExistsError"]


class FlexspaceError(Exception):
    """Base class of every error flexspace raises deliberately."""


class ValidationError(FlexspaceError, ValueError):
    """An input is invalid; the message names the parameter, what was expected, what was
    given and the fix.  Raised before any compute is spent."""


class InputTypeError(ValidationError, TypeError):
    """An input has the wrong type (a ValidationError that is also a ``TypeError``)."""


class UnknownNameError(ValidationError, KeyError):
    """A name (of a set kind, a case, a column, …) is not known; the message lists the known
    ones.  Also a ``KeyError`` for callers that look names up."""

    def __str__(self) -> str:  # KeyError quotes its argument; a message should read as one
        return str(self.args[0]) if self.args else ""


class SolverUnavailableError(FlexspaceError, RuntimeError):
    """The requested solver is not installed or does not work on this machine."""


class MissingExtraError(FlexspaceError, ImportError):
    """An optional dependency (a named extra) is missing; the message names its pip command."""


def require_extra(extra: str, modules, feature: str) -> None:
    """Refuse with :class:`MissingExtraError` naming ``pip install "flexspace[<extra>]"``
    unless every module in ``modules`` (import names) can be found; imports nothing."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtraError(
            f"{feature} needs {', '.join(missing)} (the optional '{extra}' extra): "
            f'pip install "flexspace[{extra}]"')


class SolveError(FlexspaceError, RuntimeError):
    """A computation could not be completed (a solver or a worker failed in a way that leaves
    no honest answer); the message says what failed and what to try."""


class UnsupportedError(FlexspaceError, NotImplementedError):
    """A combination of inputs that flexspace does not (yet) handle; the message names the
    combination and an alternative."""


class SolveTimeoutError(SolveError, TimeoutError):
    """A wall-clock guard expired before a result was available."""


class WorkerError(SolveError, ChildProcessError):
    """A worker process died or answered nonsense."""


class OutputExistsError(FlexspaceError, FileExistsError):
    """An output would overwrite a file or folder this run did not create."""
