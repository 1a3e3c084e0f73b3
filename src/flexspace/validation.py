"""Input validation: one home for the checks every entry point runs before any compute
is spent.  Each error names the parameter, what was expected and how to fix it."""
from __future__ import annotations

import enum
import math
import numbers
import os
import tempfile
from typing import Iterable, Optional

import numpy as np
from scipy import linalg

from .errors import ValidationError

__all__ = ["as_array", "as_vector", "validate_covariance", "check_positive", "check_non_negative", "check_number",
           "check_probability", "check_random_state", "check_choice", "check_directory", "check_file_path",
           "ValidationError"]


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def as_vector(name: str, x, n: Optional[int] = None) -> np.ndarray:
    """``x`` as a finite 1-D float vector (of length ``n`` when given); a ValueError names
    ``name`` and what is wrong."""
    a = _float_array(name, x)
    if a.ndim == 0:
        a = a.reshape(1)
    if a.ndim != 1:
        raise ValidationError(f"{name} must be a 1-D vector, got an array of shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise ValidationError(f"{name} has length {a.shape[0]}, expected {n} (one entry per parameter)")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise ValidationError(f"{name} contains NaN or inf at index {bad.tolist()}: every entry must be finite")
    return a


def _float_array(name: str, x) -> np.ndarray:
    """``x`` as a float array; complex, string and object entries are refused (numpy would
    silently drop an imaginary part)."""
    if x is None:
        raise ValidationError(f"{name} is None; give numbers")
    try:
        raw = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ValidationError(f"{name} must be an array of numbers with a regular shape ({exc})") from None
    if not isinstance(x, np.ndarray) and raw.dtype.kind in "iu" and _has_bool(x):
        raise ValidationError(f"{name} must contain numbers only, got bool entries in {x!r} (True/False are "
                              "not numbers here)")
    if np.iscomplexobj(raw):
        raise ValidationError(f"{name} has complex entries; give real numbers")
    if raw.dtype.kind == "b" or (raw.dtype.kind == "O" and not all(_is_real(v) for v in raw.ravel())) \
            or raw.dtype.kind not in "iufO":
        raise ValidationError(f"{name} must contain numbers only, got {raw.dtype} entries "
                              f"(e.g. {raw.ravel()[:3].tolist()})")
    return raw.astype(float)


def _has_bool(x) -> bool:
    """Whether a (nested) list/tuple holds a bool, which numpy would turn into 0/1."""
    if isinstance(x, (bool, np.bool_)):
        return True
    return isinstance(x, (list, tuple)) and any(_has_bool(v) for v in x)


def as_array(name: str, x) -> np.ndarray:
    """``x`` as a float array of real numbers (strings, booleans, complex and ragged input
    are refused with a message naming ``name``)."""
    return _float_array(name, x)


def validate_covariance(cov, n: Optional[int] = None, name: str = "covariance", rtol: float = 1e-10) -> np.ndarray:
    """Return ``cov`` as a float array after checking shape, finiteness, symmetry and
    positive definiteness; raise ``ValueError`` naming the problem otherwise."""
    S = _float_array(name, cov)
    if S.ndim == 0:
        S = S.reshape(1, 1)
    if S.ndim != 2 or S.shape[0] != S.shape[1]:
        raise ValidationError(f"{name} must be a square matrix, got shape {S.shape}")
    if n is not None and S.shape[0] != n:
        raise ValidationError(f"{name} is {S.shape[0]}x{S.shape[0]} but the nominal vector has length {n}")
    bad = np.argwhere(~np.isfinite(S))
    if bad.size:
        raise ValidationError(f"{name} contains NaN or inf at entries {[tuple(map(int, b)) for b in bad]}")
    scale = max(np.max(np.abs(S)), 1e-300)
    diff = np.abs(S - S.T)
    offenders = np.argwhere(np.triu(diff > rtol * scale, 1))
    if offenders.size:
        shown = ", ".join(f"({i},{j})={S[i, j]:.6g} vs ({j},{i})={S[j, i]:.6g}" for i, j in offenders[:6])
        raise ValidationError(
            f"{name} is not symmetric: {shown}. A covariance matrix must equal its transpose; "
            "decide which value is right and pass a symmetric matrix (e.g. (S + S.T) / 2 only if "
            "the asymmetry is rounding)."
        )
    S = 0.5 * (S + S.T)
    d = np.sqrt(np.clip(np.diag(S), 1e-300, None))
    ev = np.linalg.eigvalsh(S / np.outer(d, d))  # of the correlation matrix: independent of units
    if ev.max() > 0 and 0 < ev.min() <= 1e6 * np.finfo(float).eps * ev.max():
        # scipy's criterion for a singular covariance (multivariate normal), on the correlations
        raise ValidationError(
            f"{name} is numerically singular: its correlation matrix has eigenvalues from {ev.min():.3g} to "
            f"{ev.max():.3g} (condition number {ev.max() / ev.min():.3g} > "
            f"{1 / (1e6 * np.finfo(float).eps):.3g}), so some parameters are (almost) exactly correlated. "
            "Drop or merge the redundant parameter, or correct the covariance.")
    try:
        C = linalg.cholesky(S, lower=True)
    except linalg.LinAlgError:
        ev = np.linalg.eigvalsh(S)
        raise ValidationError(
            f"{name} is not positive definite (smallest eigenvalue {ev.min():.4g}); a covariance of "
            "independent-enough parameters must be positive definite. Check for a dropped sign, a "
            "duplicated parameter, or an exactly correlated pair."
        ) from None
    _check_invertible(name, S, C)
    return S


def _check_invertible(name: str, S: np.ndarray, C: np.ndarray) -> None:
    """Σ⁻¹ (which the ellipsoid and LDL forms use) must be finite in floating point."""
    with np.errstate(all="ignore"):
        P = linalg.cho_solve((C, True), np.eye(S.shape[0]))
        ok = bool(np.all(np.isfinite(P)))
    if not ok:
        raise ValidationError(
            f"{name} has variances too small to invert in floating point (smallest variance "
            f"{np.min(np.diag(S)):.3g}, its inverse overflows); rescale theta_m (e.g. express it in other units)")


def check_number(name: str, value, *, integer: bool = False, low=None, high=None, low_open: bool = False,
                 high_open: bool = False, hint: str = ""):
    """``value`` as a finite real (an int when ``integer``) within [low, high] (open ends
    with ``low_open``/``high_open``); numpy scalars are accepted, bool, str, None, complex,
    NaN and inf are refused with a message naming ``name``, the range and ``hint``."""
    what = "an integer" if integer else "a finite number"
    rng = _range_text(low, high, low_open, high_open)
    fix = f" ({hint})" if hint else ""
    if not _is_real(value) or (integer and not isinstance(value, numbers.Integral)):
        raise ValidationError(f"{name} must be {what}{rng}, got {value!r} of type {type(value).__name__}{fix}")
    if not math.isfinite(float(value)):
        raise ValidationError(f"{name} must be {what}{rng}, got {value!r}{fix}")
    v = float(value)
    if (low is not None and (v <= low if low_open else v < low)) or \
            (high is not None and (v >= high if high_open else v > high)):
        raise ValidationError(f"{name} must be {what}{rng}, got {value!r}{fix}")
    return int(value) if integer else float(value)


def _range_text(low, high, low_open, high_open) -> str:
    if low is None and high is None:
        return ""
    if high is None:
        return f" {'>' if low_open else '>='} {low}"
    if low is None:
        return f" {'<' if high_open else '<='} {high}"
    return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def check_positive(name: str, value, example: str) -> float:
    """``value`` must be a positive finite number (``example`` shows a valid one)."""
    return check_number(name, value, low=0, low_open=True, hint=example)


def check_non_negative(name: str, value) -> float:
    return check_number(name, value, low=0)


def check_probability(name: str, value) -> float:
    """A probability strictly between 0 and 1 (e.g. ``confidence``)."""
    return check_number(name, value, low=0, high=1, low_open=True, high_open=True, hint="e.g. 0.85")


def check_random_state(name: str, value):
    """A seed as flexspace keeps it reproducible and checkpointable: None or an int >= 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValidationError(f"{name} must be None or an int >= 0 (a reproducible seed), got {value!r}")
    return int(value)


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    """``value`` must be one of ``choices`` (strings)."""
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValidationError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_directory(name: str, path) -> str:
    """Create ``path`` if needed and make sure it is a writable directory, before any compute
    (nothing is computed and then lost because its output cannot be written)."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValidationError(f"{name} must be a directory path (str or os.PathLike), got {path!r}")
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValidationError(f"{name} {path!r} exists and is not a directory; choose a directory")
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.NamedTemporaryFile(dir=path, prefix=".flexspace-write-test-").close()  # deleted on close
    except OSError as exc:
        raise ValidationError(f"{name} {path!r} is not a writable directory ({exc.strerror or exc}); "
                              f"choose another {name}") from None
    return path


def check_file_path(name: str, path) -> str:
    """``path`` names a file that can be written: not a directory, its folder exists or is
    created and is writable (checked before any compute)."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValidationError(f"{name} must be a file path (str or os.PathLike), got {path!r}")
    path = os.fspath(path)
    if not path or os.path.isdir(path):
        raise ValidationError(f"{name} {path!r} is a directory; give a file path inside it "
                              f"(e.g. {os.path.join(path or '.', 'map.jsonl')!r})")
    if os.path.exists(path) and not os.path.isfile(path):  # /dev/null, a FIFO, a socket: never ours to write
        raise ValidationError(f"{name} {path!r} is not a regular file (a device, pipe or socket); give the path "
                              f"of a regular file (e.g. 'map.jsonl')")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise ValidationError(f"{name} {path!r} exists and is not writable; choose another {name}")
    check_directory(f"the folder of {name}", os.path.dirname(os.path.abspath(path)))
    return path


class StrChoice(str, enum.Enum):
    """The one base of flexspace's typed choices and statuses (a ``str`` Enum): members
    compare equal to (and print as) their value, so ``SetKind.BOX == "box"`` in dicts, CSV
    and JSON, while code compares members (``status is ResultStatus.OK``); :meth:`parse` is
    the one place a user's string is validated."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @classmethod
    def parse(cls, value, param: str):
        """``value`` (a member or its string, any case) as a member; a ``ValidationError``
        naming ``param`` and the valid values otherwise."""
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            valid = ", ".join(repr(m.value) for m in cls)
            raise ValidationError(f"unknown {param.replace('_', ' ')} {value!r}: {param} must be one of {valid}") \
                from None
