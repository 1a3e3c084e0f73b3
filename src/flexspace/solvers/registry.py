"""Solver names -> backend classes.  The built-in backends are the modules of
:mod:`flexspace.solvers.backends` that define ``BACKEND`` (found once, at import, in their
``order``): adding a solver to flexspace is adding one file there.  A user's backend is
added with :func:`register_backend`, or used without a name by passing the backend object
itself as ``solver=``."""
from __future__ import annotations

from typing import Dict, List, Optional

from ..errors import InputTypeError, UnknownNameError, ValidationError
from . import backends as _backends_pkg
from .backends.base import is_backend, spec_of


def _builtin_backends() -> tuple:
    """The ``BACKEND`` of every module in :mod:`flexspace.solvers.backends`, by ``order``."""
    import importlib
    import pkgutil

    found = []
    for info in pkgutil.iter_modules(_backends_pkg.__path__):
        cls = getattr(importlib.import_module(f"{_backends_pkg.__name__}.{info.name}"), "BACKEND", None)
        if cls is not None:
            found.append(cls)
    return tuple(sorted(found, key=lambda c: (getattr(c, "order", 1000), c.name)))


#: the built-in backends, in the order of ``flexspace solvers``
BUILTIN_BACKENDS = _builtin_backends()

_BACKENDS: Dict[str, type] = {cls.name: cls for cls in BUILTIN_BACKENDS}


class UnknownSolverError(UnknownNameError):
    """Raised for a solver name flexspace does not know."""


def register_backend(cls: type, *, replace: bool = False) -> type:
    """Make the backend class ``cls`` known under ``cls.name`` (lower case), so that
    ``solver="<name>"`` works everywhere a solver name does (also in worker processes that
    import the module registering it).  ``cls`` needs ``solve(model, request)`` and
    ``available()`` (:class:`~flexspace.solvers.SolverBackend`) and a ``name``; it must be
    constructible without arguments.  A name already known is refused unless ``replace``.
    Returns ``cls`` (usable as a class decorator)."""
    if not isinstance(cls, type) or not is_backend(cls):
        raise InputTypeError(f"register_backend needs a backend class with solve(model, request) and available() "
                             f"methods; got {cls!r}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"register_backend: the backend class {cls.__name__} needs a non-empty string "
                              f"attribute 'name' (the solver name users pass); got {name!r}")
    key = name.lower()
    if key in _BACKENDS and _BACKENDS[key] is not cls and not replace:
        raise ValidationError(f"register_backend: the solver name {key!r} is taken (by {_BACKENDS[key].__name__}); "
                              "choose another name or pass replace=True")
    _BACKENDS[key] = cls
    return cls


def unregister_backend(name: str) -> None:
    """Forget a backend added with :func:`register_backend` (built-in ones stay)."""
    key = str(name).lower()
    if key not in _BACKENDS:
        raise UnknownSolverError(f"unregister_backend: unknown solver {name!r}; known: {sorted(_BACKENDS)}")
    if _BACKENDS[key] in BUILTIN_BACKENDS:
        raise ValidationError(f"unregister_backend: {key!r} is a built-in solver and stays registered")
    del _BACKENDS[key]


def solver_names() -> List[str]:
    """All solver names flexspace knows (available or not)."""
    return list(_BACKENDS)


def backend_class(name: str) -> type:
    """The backend class registered under ``name`` (case-insensitive)."""
    key = str(name).lower()
    if key not in _BACKENDS:
        avail = [n for n in _BACKENDS if is_available(n)]
        raise UnknownSolverError(
            f"unknown solver {name!r}; flexspace knows {sorted(_BACKENDS)}, of which available here: "
            f"{avail}. Run `flexspace solvers` for details."
        )
    return _BACKENDS[key]


def make_backend(solver, parameter: str = "solver"):
    """A backend object from a solver name, a backend class or a backend object; anything else
    is refused with an error naming ``parameter``."""
    if isinstance(solver, str):
        return backend_class(solver)()
    if is_backend(solver):
        if not isinstance(solver, type):
            return solver
        try:
            return solver()
        except TypeError as exc:
            raise InputTypeError(f"{parameter}: the backend class {solver.__name__} must be constructible without "
                                 f"arguments ({exc}); pass a backend object instead") from exc
    raise InputTypeError(
        f"{parameter} must be a solver name (one of {solver_names()}), a Solver, or a solver backend: an object "
        f"or class with solve(model, request) and available() methods (see flexspace.solvers.SolverBackend); "
        f"got {solver!r} of type {type(solver).__name__}")


def is_available(name: str) -> bool:
    """True when the solver registered under ``name`` can be used on this machine."""
    try:
        return bool(_BACKENDS[name]().available())
    except Exception:  # noqa: BLE001 - availability probe must never raise
        return False


def available_solvers() -> List[str]:
    """Names of the solvers usable on this machine."""
    return [n for n in _BACKENDS if is_available(n)]


def raw_version(name: str):
    """Version of a solver (a string or tuple), or None when it cannot be used here; may raise."""
    backend = backend_class(name)()
    probe = getattr(backend, "version", None)
    if callable(probe):
        return probe()
    return "unknown" if backend.available() else None


def second_opinions() -> Dict[str, dict]:
    """Solver name -> the options of its second opinion, for the registered solvers that have one."""
    out: Dict[str, dict] = {}
    for name, cls in _BACKENDS.items():
        settings: Optional[dict] = getattr(cls, "second_opinion_options", None)
        if settings:
            out[name] = settings
    return out


__all__ = ["BUILTIN_BACKENDS", "UnknownSolverError", "register_backend", "unregister_backend", "solver_names",
           "backend_class", "make_backend", "is_available", "available_solvers", "raw_version", "spec_of"]
