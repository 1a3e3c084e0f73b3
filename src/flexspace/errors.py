"""The exceptions flexspace raises on purpose, under one base class.

Catch :class:`FlexspaceError` for anything flexspace refuses; the subclasses also derive
from the matching built-in (``ValueError``, ``RuntimeError``) so that existing
``except ValueError`` code keeps working.  Callers never need to branch on message text.
"""
from __future__ import annotations

__all__ = ["FlexspaceError", "ValidationError", "InputTypeError", "SolverUnavailableError"]


class FlexspaceError(Exception):
    """Base class of every error flexspace raises deliberately."""


class ValidationError(FlexspaceError, ValueError):
    """An input is invalid; the message names the parameter, what was expected, what was
    given and the fix.  Raised before any compute is spent."""


class InputTypeError(ValidationError, TypeError):
    """An input has the wrong type (a ValidationError that is also a ``TypeError``)."""


class SolverUnavailableError(FlexspaceError, RuntimeError):
    """The requested solver is not installed or does not work on this machine."""
