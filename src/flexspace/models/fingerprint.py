"""A :class:`~flexspace.models.base.ProcessModel`'s identity: a digest of everything that
determines its answers, the same in every process and run.

Checkpoints store :func:`fingerprint`, so a map is never resumed into rows computed for
another model; :func:`fingerprint_parts` gives it by part (equations, CQAs, θ, covariance,
analysis settings, simulator, controls, flexspace version) so that a refusal can say what
changed.  A callable (the simulator, ``controls_linear``) is identified by what it computes
(:func:`_callable_identity`), never by an ``id`` or an address.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import json
from typing import Dict

import numpy as np
import pyomo.environ as pyo

__all__ = ["fingerprint", "fingerprint_parts"]


def fingerprint(model) -> str:
    """A hex digest of everything that determines this model's answers, the same in every
    process and run: :func:`fingerprint_parts` hashed together.  Checkpoints store it, so a
    map is never resumed into rows computed for another model."""
    text = json.dumps(model.fingerprint_parts(), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fingerprint_parts(model) -> Dict[str, str]:
    """The fingerprint by part, so that a refusal can say what changed: ``equations``
    (every equation of a fresh :meth:`ProcessModel.instance` as text, non-θ parameters by value, and
    the variables' bounds and domains), ``cqas`` (names and expressions), ``theta``
    (names, nominal values, θp bounds), ``covariance``, ``analysis`` (``delta_max``,
    ``domain_everywhere``), ``simulator`` (module, qualified name and a hash of its source,
    of the module-level functions and constants it uses, its defaults and closure),
    ``controls`` (only with controls: names, bounds, ``controls_linear``) — each a hex
    digest — and ``flexspace`` (the version)."""
    inst = model.instance()
    theta = inst.theta_p + inst.theta_m
    for v in theta:
        v.unfix()  # θ stays a name in the text; other fixed values and Params print as numbers
    theta_ids = {id(v) for v in theta}
    eqs = [_expr_text(c.expr) for c in inst.model.h.values() if c.active]
    eqs += [f"{v.name} in {v.domain.name} [{v.lb!r}, {v.ub!r}]" + (f" fixed {v.value!r}" if v.fixed else "")
            for v in inst.model.component_data_objects(pyo.Var, descend_into=True) if id(v) not in theta_ids]
    bounds = None if model.theta_p_bounds is None else np.asarray(model.theta_p_bounds, float).tolist()
    parts = {
        "equations": eqs,
        "cqas": [f"{n}: {_expr_text(e)}" for n, e in zip(model.g_names, inst.g)],
        "theta": [model.theta_p_names, model.theta_m_names, np.asarray(model.theta_p_nominal, float).tolist(),
                  np.asarray(model.theta_m_nominal, float).tolist(), bounds],
        "covariance": np.asarray(model.covariance, float).tolist(),
        "analysis": [float(model.delta_max), bool(model.domain_everywhere)],
        "simulator": _callable_identity(model.simulator),
    }
    if model.n_z:  # only models with controls have this part: the others keep their fingerprints
        parts["controls"] = [model.control_names, model.control_bounds.tolist(),
                             _callable_identity(model.controls_linear)]
    out = {k: hashlib.sha256(json.dumps(v).encode("utf-8")).hexdigest() for k, v in parts.items()}
    out["flexspace"] = _flexspace_version()
    return out


def _expr_text(e) -> str:
    """An expression as text, the same in every process: component names, numbers by value."""
    from pyomo.core.expr import expression_to_string

    if isinstance(e, (int, float)):
        return repr(float(e))
    return expression_to_string(e, compute_values=True)


def _flexspace_version() -> str:
    try:
        from importlib.metadata import version

        return version("flexspace")
    except Exception:  # noqa: BLE001 - not installed (a source tree on sys.path)
        return "unknown"


def _callable_identity(f, seen=None) -> str:
    """What a callable computes, as text that is the same in every process and run (never an
    ``id`` or an address): ``module.qualname``, a hash of its source (of its bytecode when the
    source is not available), its defaults and closure, and — recursively — the module-level
    functions of its own package and the constants (numbers, strings, arrays) it uses."""
    seen = set() if seen is None else seen
    if f is None:
        return "None"
    if isinstance(f, functools.partial):
        args = [_value_text(a, seen) for a in f.args]
        args += [f"{k}={_value_text(v, seen)}" for k, v in sorted(f.keywords.items())]
        return f"partial({_callable_identity(f.func, seen)}; {', '.join(args)})"
    if inspect.ismethod(f):
        return f"method({_callable_identity(f.__func__, seen)}; self={_value_text(f.__self__, seen)})"
    name = f"{getattr(f, '__module__', None)}.{getattr(f, '__qualname__', None)}"
    if not inspect.isfunction(f):  # a builtin, a class or a callable object: its class's source and state
        cls = f if inspect.isclass(f) or inspect.isbuiltin(f) else type(f)
        cname = f"{cls.__module__}.{cls.__qualname__}"
        state = "" if cls is f else _value_text(getattr(f, "__dict__", {}), seen)
        return f"{cname}#{_source_hash(cls)} {state}"
    if name in seen:
        return name
    seen.add(name)
    code = f.__code__
    parts = [f"{name}#{_source_hash(f)}", _value_text(f.__defaults__, seen), _value_text(f.__kwdefaults__, seen)]
    if f.__closure__:
        parts.append(_value_text([_cell(c) for c in f.__closure__], seen))
    for g in sorted(_global_names(code)):
        if g in f.__globals__:
            parts.append(f"{g}={_global_text(f.__globals__[g], f, seen)}")
    return "; ".join(parts)


def _cell(c):
    try:
        return c.cell_contents
    except ValueError:  # an empty cell
        return None


def _global_names(code) -> set:
    names = set(code.co_names)
    for c in code.co_consts:
        if inspect.iscode(c):
            names |= _global_names(c)
    return names


def _global_text(v, f, seen) -> str:
    """A global a function uses: functions of its own top-level package recursively,
    constants by value, anything else (modules, classes of other packages) by name."""
    if inspect.ismodule(v):
        return f"module {v.__name__}"
    if inspect.isfunction(v) or isinstance(v, functools.partial):
        own = (getattr(v, "__module__", "") or "").split(".")[0] == (f.__module__ or "").split(".")[0]
        return _callable_identity(v, seen) if own else f"{v.__module__}.{v.__qualname__}"
    return _value_text(v, seen, shallow=True)


def _source_hash(obj) -> str:
    try:
        text = inspect.getsource(obj)
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        text = _code_text(code) if code is not None else "no source"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _code_text(code) -> str:
    consts = [_code_text(c) if inspect.iscode(c) else repr(c) for c in code.co_consts]
    return f"{code.co_code.hex()}|{consts}|{code.co_names}|{code.co_varnames}"


def _value_text(v, seen, shallow: bool = False) -> str:
    """A value as stable text: numbers, strings, arrays (hashed), containers recursively;
    a function by its identity; another object by its type (and attributes unless shallow)."""
    if v is None or isinstance(v, (bool, int, float, complex, str, bytes)):
        return repr(v)
    if isinstance(v, np.ndarray) or isinstance(v, np.generic):
        a = np.ascontiguousarray(v)
        return f"array{a.shape}{a.dtype}#{hashlib.sha256(a.tobytes()).hexdigest()[:16]}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value_text(x, seen, shallow) for x in v) + "]"
    if isinstance(v, dict):
        items = sorted(v.items(), key=lambda kv: repr(kv[0]))
        return "{" + ", ".join(f"{k!r}: {_value_text(x, seen, shallow)}" for k, x in items) + "}"
    if callable(v) and not inspect.isclass(v):
        return _callable_identity(v, seen)
    cls = type(v)
    if shallow or not hasattr(v, "__dict__"):
        return f"<{cls.__module__}.{cls.__qualname__}>"
    return f"<{cls.__module__}.{cls.__qualname__} {_value_text(vars(v), seen, shallow=True)}>"
