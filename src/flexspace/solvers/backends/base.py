"""What a solver backend is: any object with ``solve(model, request)`` and ``available()``
(the protocol :class:`SolverBackend`, in the style of Pyomo PyROS's local and global
solvers), the :class:`SolveRequest` it is handed, and :class:`Backend`, the base class of
the built-in backends (also usable for one's own).

A backend's optional attributes (read with defaults, so a plain class works):

========================  ==========================================================  =========
attribute                 meaning                                                     default
========================  ==========================================================  =========
``name``                  the solver's name in results, tables and the registry       class name, lower case
``is_global``             an ``OPTIMAL`` is a global optimum (a certificate)          False
``supports_integers``     handles integer and binary variables                        False
``kind``                  ``"nlp"``, ``"minlp"``, ``"lp"`` or ``"milp"``              minlp / nlp
``guard``                 solve in a forked child killed at the time limit            False
``honours_targets``       uses ``request.targets`` (stops early at them)              False
``second_opinion_options`` solver options of :meth:`Solver.second_opinion`           None
``description``           one line for ``flexspace solvers``                          ""
``version()``             a version string, or None when unusable here                "unknown"
``why_unavailable()``     None when usable here, else why not and how to fix it       generic
``extra``                 the extra of flexspace that pip-installs it (built-in)      None
``requires``              its Python modules: import name -> pip distribution         {}
========================  ==========================================================  =========

``solve`` must leave the solution in the model's variables when its status is ``ok`` (or
``has_point``) and return a :class:`~flexspace.solvers.SolveResult`; anything else it returns
is an ``ERROR`` result, and an exception it raises is one too."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Protocol, runtime_checkable

from ...errors import UnsupportedError
from ..status import SolveResult, Targets


@dataclass(frozen=True)
class SolveRequest:
    """What one solve asks of a backend: the :class:`~flexspace.solvers.Solver`'s settings
    (``time_limit``: the seconds the solver may still use, what is left of the solve's limit
    when the backend is called; relative ``gap``, absolute ``abs_gap``, ``feas_tol``), its
    ``solver_options`` (passed through to the solver) and, only for a backend that
    ``honours_targets`` and a solve that sets them, the objective ``targets``."""

    time_limit: float
    gap: float
    abs_gap: float
    feas_tol: float
    solver_options: Dict[str, Any] = field(default_factory=dict)
    targets: Optional[Targets] = None


@runtime_checkable
class SolverBackend(Protocol):
    """Anything with these two methods is a solver backend (see the module docstring for the
    optional attributes)."""

    def solve(self, model, request: SolveRequest) -> SolveResult:  # pragma: no cover - protocol
        ...

    def available(self) -> bool:  # pragma: no cover - protocol
        ...


@dataclass
class BackendSpec:
    """What generic code reads of a backend (``Solver.spec``)."""

    name: str
    pyomo_name: str
    is_global: bool
    kind: str  # "nlp" (continuous nonlinear), "minlp", "lp", "milp"
    description: str
    guard: bool  # run under the hard wall-clock guard by default
    supports_integers: bool = True


#: backend class -> available here (probed once per process)
_AVAIL_CACHE: Dict[Any, bool] = {}


class Backend:
    """Base class of the built-in backends: the attributes of the module docstring as class
    attributes, ``available()`` probed once per process from ``version()``."""

    name: str = ""
    pyomo_name: str = ""
    is_global: bool = False
    supports_integers: bool = False
    kind: str = "nlp"
    guard: bool = False
    honours_targets: bool = False
    second_opinion_options: Optional[Dict[str, Any]] = None
    description: str = ""
    #: the optional extra of flexspace whose ``pip install`` brings the solver (None: not from pip)
    extra: Optional[str] = None
    #: the solver's Python modules: import name -> the pip distribution that provides it
    requires: Mapping[str, str] = {}

    @classmethod
    def why_unavailable(cls) -> Optional[str]:
        """None when the solver can be used here; otherwise why not and how to fix it (shown by
        ``flexspace solvers`` and in the error for a solver that is asked for but unavailable):
        a missing Python package names its pip command, anything else :meth:`unusable_reason`."""
        if cls.available():
            return None
        return missing_requirement(cls) or cls.unusable_reason()

    @classmethod
    def unusable_reason(cls) -> str:
        """Why the solver cannot be used although its Python packages import; a backend with more
        to say (a native library, a licence, an executable) overrides it."""
        try:
            version = cls.version()
        except Exception as exc:  # noqa: BLE001 - the probe's failure is the reason
            return f"probing {cls.name} failed: {type(exc).__name__}: {exc}"
        if version is None:
            return f"{cls.name}'s Python interface is installed, but it reports the solver unusable here"
        return f"{cls.name} was found unusable earlier in this process (availability is probed once per process)"

    @classmethod
    def version(cls):
        """Version of the solver, or None when it cannot be used here (may raise: that is
        unavailable too)."""
        return "unknown"

    @classmethod
    def available(cls) -> bool:
        """True when the solver can be used on this machine (probed once per process)."""
        if cls not in _AVAIL_CACHE:
            try:
                _AVAIL_CACHE[cls] = bool(cls.version() is not None)
            except Exception:  # noqa: BLE001 - availability probe must never raise
                _AVAIL_CACHE[cls] = False
        return _AVAIL_CACHE[cls]

    def solve(self, model, request: SolveRequest) -> SolveResult:
        raise UnsupportedError(f"the solver backend {type(self).__name__} does not define solve(model, request)")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def pip_command(extra: str) -> str:
    """The command that installs flexspace's optional ``extra`` (with where a source checkout has it)."""
    return f'pip install "flexspace[{extra}]" (from a source checkout of flexspace: `make setup`)'


def missing_requirement(backend) -> Optional[str]:
    """Why ``backend`` cannot be used when one of its ``requires`` modules does not import (not
    installed, or installed but broken), with the pip command that fixes it; None when all import."""
    extra = getattr(backend, "extra", None)
    for module, dist in dict(getattr(backend, "requires", None) or {}).items():
        try:
            __import__(module)
        except ImportError as exc:
            if _not_installed(module, exc):
                fix = pip_command(extra) if extra else f"pip install {dist}"
                what = dist if dist == module else f"{dist} (module {module})"
                return f"the Python package {what} is not installed; install it: {fix}"
            target = f'"flexspace[{extra}]"' if extra else dist
            return (f"the Python package {dist} is installed but does not import ({type(exc).__name__}: {exc}); "
                    f"reinstall it: pip install --force-reinstall {target}")
    return None


def _not_installed(module: str, exc: ImportError) -> bool:
    """The import of ``module`` failed because it is not there (not because it is broken)."""
    import importlib.util

    if isinstance(exc, ModuleNotFoundError) and (exc.name or module).split(".")[0] == module:
        return True
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):
        return True


def unavailable_reason(backend) -> Optional[str]:
    """None when ``backend`` (an object or class) can be used here; else why not and how to fix
    it: its ``why_unavailable()`` when it has one, a generic sentence otherwise."""
    probe = getattr(backend, "why_unavailable", None)
    if callable(probe):
        try:
            return probe()
        except Exception as exc:  # noqa: BLE001 - a diagnosis must never raise
            return f"its availability check failed: {type(exc).__name__}: {exc}"
    try:
        usable = bool(backend.available())
    except Exception as exc:  # noqa: BLE001
        return f"its available() raised {type(exc).__name__}: {exc}"
    return None if usable else "its available() returned False (the backend gives no reason)"


def is_backend(obj) -> bool:
    """``obj`` (an object or a class) has callable ``solve`` and ``available``."""
    return callable(getattr(obj, "solve", None)) and callable(getattr(obj, "available", None))


def spec_of(backend) -> BackendSpec:
    """The :class:`BackendSpec` of a backend object (or class), its optional attributes read with defaults."""
    cls = backend if isinstance(backend, type) else type(backend)
    integers = bool(getattr(backend, "supports_integers", False))
    name = getattr(backend, "name", None) or cls.__name__.lower()
    doc = (cls.__doc__ or "").strip().splitlines()
    return BackendSpec(name=str(name), pyomo_name=str(getattr(backend, "pyomo_name", "") or ""),
                       is_global=bool(getattr(backend, "is_global", False)),
                       kind=str(getattr(backend, "kind", None) or ("minlp" if integers else "nlp")),
                       description=str(getattr(backend, "description", None) or (doc[0] if doc else "")),
                       guard=bool(getattr(backend, "guard", False)), supports_integers=integers)


__all__ = ["SolveRequest", "SolverBackend", "Backend", "BackendSpec", "is_backend", "spec_of", "pip_command",
           "missing_requirement", "unavailable_reason"]
