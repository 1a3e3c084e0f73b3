"""Fixed-length 13-feature encoding of thermocyclic temperature profiles (crystallization paper, §2.3, Fig. 2).

The crystallization paper (Barhate et al., PSE 2025) describes every batch by 13 inputs: initial
concentration, seed loading and features of the thermal profile (temperature set-points
``T1..T10``, cooling rates ``C`` and heating rates ``H``).  The exact 13-feature split is
not published, so this package fixes the following one (``FEATURE_NAMES``):

====  ================  =======================================================
 #    name              meaning
====  ================  =======================================================
 1    ``c0``            initial concentration, mg solute / g solvent (Table 2)
 2    ``seed_loading``  seed mass / initial dissolved solute mass, - (Table 2)
 3    ``T2``            end of stage 1 (cooling), °C
 4    ``T3``            end of stage 2 (heating), °C  (0 = no such stage)
 5    ``T4``            end of stage 3 (cooling), °C
 ...  ...               ...
 11   ``T10``           end of stage 9 (cooling), °C
 12   ``C``             cooling rate of every cooling stage, °C/min
 13   ``H``             heating rate of every heating stage, °C/min (0 if none)
====  ================  =======================================================

``T1``, the start (seeding) temperature, is **not** a free feature: the batch is seeded
``SEED_SUBCOOLING`` = 2 °C below the saturation temperature of ``c0``
(:func:`seeding_temperature`; assumed, usual seeded-cooling practice).  This keeps the
encoding at 13 features while still allowing four full thermocycles
(cool, then 4 × heat/cool: ``T1 → T2 → … → T10``), the crystallization paper's "4 cycle" profiles.

Stages alternate: odd stages (ending at ``T2, T4, …, T10``) cool, even stages (ending at
``T3, T5, …, T9``) heat.  A value of exactly 0 means "no such stage" (Eq. 4), so an
active set-point must be at least ``ACTIVE_T_MIN``.  Constraints:

* Eq. 2  ``T_i ≥ T_{i−1}`` for i ∈ {3, 5, 7, 9} (heating stages go up);
* Eq. 3  ``T_i ≤ T_{i−1}`` for i ∈ {2, 4, 6, 8, 10} (cooling stages go down; i = 2
  compares with the derived ``T1``);
* Eq. 4  ``T_i = 0 ⇒ T_j = 0 ∀ j > i`` and ``H = 0`` when there is no heating stage
  (rates are shared, so the per-stage ``C_j, H_j = 0`` padding of the crystallization paper reduces to this);
* Eq. 5 (this package, assumed) no set-point above ``T1``: heating above the seeding
  temperature would dissolve the whole seed bed, which the crystallization paper's design space avoids.

Bounds are the crystallization paper's Table 2.  The number of thermocycles of a profile with ``k`` active
stages is ``(k − 1) // 2``; ``k = 2`` is the crystallization paper's "linear (1 cooling, 1 heating)" type.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ValidationError
from .kinetics import saturation_temperature

#: The 13 model inputs, in order (see module docstring).
TEMPERATURE_NAMES: tuple[str, ...] = tuple(f"T{i}" for i in range(2, 11))
FEATURE_NAMES: tuple[str, ...] = ("c0", "seed_loading", *TEMPERATURE_NAMES, "C", "H")
N_FEATURES = len(FEATURE_NAMES)
assert N_FEATURES == 13
#: Names of the measured critical quality attributes (outputs).
CQA_NAMES: tuple[str, ...] = ("D50", "DoA", "crystallinity")
CQA_UNITS = {"D50": "µm", "DoA": "%", "crystallinity": "%"}

#: Bounds of the decision variables, crystallization paper, Table 2 (``c0`` in mg/g solvent, rates in °C/min).
FEATURE_BOUNDS: dict[str, tuple[float, float]] = {
    "c0": (24.8, 55.2),
    "seed_loading": (0.05, 0.15),
    **{name: (0.0, 70.0) for name in TEMPERATURE_NAMES},
    "C": (0.05, 0.3),
    "H": (0.5, 1.0),
}
#: Lower/upper bound arrays in ``FEATURE_NAMES`` order (Table 2).  ``H`` may also be 0 (Eq. 4).
LOWER = np.array([FEATURE_BOUNDS[n][0] for n in FEATURE_NAMES])
UPPER = np.array([FEATURE_BOUNDS[n][1] for n in FEATURE_NAMES])

#: °C below the saturation temperature of ``c0`` at which seeds are added (assumed).
SEED_SUBCOOLING = 2.0
#: Smallest temperature of an active stage, °C.  0 encodes "no stage" (Eq. 4), so active
#: set-points must be clearly above it (assumed; aqueous system kept above freezing).
ACTIVE_T_MIN = 1.0
MAX_STAGES = len(TEMPERATURE_NAMES)  # 9 stages: cool + 4 × (heat, cool)
IDX_C0, IDX_SEED = 0, 1
IDX_T = np.arange(2, 2 + MAX_STAGES)
IDX_C, IDX_H = 11, 12
#: Stage numbers 1..9; odd = cooling, even = heating.
IS_HEATING = np.array([(k % 2 == 0) for k in range(1, MAX_STAGES + 1)])


def seeding_temperature(c0_mg_per_g) -> np.ndarray:
    """Start temperature ``T1`` (°C) for initial concentration ``c0`` (mg/g solvent).

    ``T1 = T_sat(c0) − SEED_SUBCOOLING`` with the paracetamol–water solubility of
    :mod:`.kinetics` (Fujiwara et al. 2002, used by Nagy et al. IECR 2008).
    """
    return saturation_temperature(np.asarray(c0_mg_per_g, dtype=float) / 1000.0) - SEED_SUBCOOLING


def n_stages(X) -> np.ndarray:
    """Number of active stages of each row (first zero temperature ends the profile)."""
    T = np.atleast_2d(np.asarray(X, dtype=float))[:, IDX_T]
    active = T > 0
    # count leading actives: the profile ends at the first zero (Eq. 4)
    return np.where(active.all(axis=1), MAX_STAGES, np.argmin(active, axis=1))


def n_cycles(X) -> np.ndarray:
    """Number of complete thermocycles (heat + cool) of each row."""
    return np.maximum(n_stages(X) - 1, 0) // 2


def profile_type(k_stages: int) -> str:
    """The crystallization paper's Table 1 category of a profile with ``k_stages`` active stages."""
    if k_stages == 1:
        return "linear cooling"
    if k_stages == 2:
        return "linear cooling + heating"
    cycles = (k_stages - 1) // 2
    label = f"{cycles} cycle"
    return label if k_stages % 2 == 1 else label + " + heating"


@dataclass(frozen=True)
class Violation:
    """One broken rule of one row (used by the DoE validator)."""

    row: int
    columns: tuple[str, ...]
    message: str


def check_profiles(X, row_labels=None) -> list[Violation]:
    """All violations of Table-2 bounds and Eq. 2–5 in the feature matrix ``X``.

    Returns an empty list when every row is feasible.  ``row_labels`` (default 0..n−1)
    are used in the messages.
    """
    X = np.atleast_2d(np.asarray(X, dtype=float))
    labels = list(range(len(X))) if row_labels is None else list(row_labels)
    out: list[Violation] = []
    for r, x in enumerate(X):
        lab = labels[r]
        if not np.all(np.isfinite(x)):
            bad = tuple(FEATURE_NAMES[j] for j in np.flatnonzero(~np.isfinite(x)))
            out.append(Violation(lab, bad, "missing or non-numeric value"))
            continue
        for j, name in enumerate(FEATURE_NAMES):
            lo, hi = FEATURE_BOUNDS[name]
            if name == "H" and x[j] == 0.0:
                continue  # H = 0 means "no heating stage" (Eq. 4), checked below
            if not (lo <= x[j] <= hi):
                out.append(Violation(lab, (name,), f"{name}={x[j]:g} outside Table-2 bounds [{lo:g}, {hi:g}]"))
        T = x[IDX_T]
        t1 = float(seeding_temperature(x[IDX_C0]))
        k = int(n_stages(x[None])[0])
        if k == 0:
            out.append(Violation(lab, ("T2",), "T2 = 0: a profile needs at least one cooling stage"))
            continue
        # Eq. 4: nothing after the first zero
        after = T[k:]
        if np.any(after != 0):
            cols = tuple(TEMPERATURE_NAMES[k + j] for j in np.flatnonzero(after != 0))
            out.append(Violation(lab, (TEMPERATURE_NAMES[k],) + cols,
                                 f"profile restarts after T{k + 2}=0 (Eq. 4: once a set-point is 0 all later ones must be 0)"))
        prev = t1
        for s in range(k):  # s = 0 → stage 1 ending at T2
            name = TEMPERATURE_NAMES[s]
            if T[s] < ACTIVE_T_MIN:
                out.append(Violation(lab, (name,), f"{name}={T[s]:g} °C is below ACTIVE_T_MIN={ACTIVE_T_MIN:g} (0 means 'no stage')"))
            if IS_HEATING[s]:
                if T[s] < prev:
                    out.append(Violation(lab, (name, _prev_name(s)), f"heating stage cools: {name}={T[s]:g} < {_prev_name(s)}={prev:g} (Eq. 2)"))
                if T[s] > t1 + 1e-9:
                    out.append(Violation(lab, (name, "c0"), f"{name}={T[s]:g} °C above the seeding temperature T1={t1:.2f} °C of c0 (Eq. 5: would dissolve the seed bed)"))
            elif T[s] > prev:
                out.append(Violation(lab, (name, _prev_name(s) if s else "c0"), f"cooling stage heats: {name}={T[s]:g} > {_prev_name(s)}={prev:g} (Eq. 3)"))
            prev = T[s]
        has_heat = k >= 2
        if has_heat and x[IDX_H] == 0:
            out.append(Violation(lab, ("H",), "H = 0 but the profile has a heating stage"))
        if not has_heat and x[IDX_H] != 0:
            out.append(Violation(lab, ("H",), f"H={x[IDX_H]:g} but the profile has no heating stage (Eq. 4: must be 0)"))
    return out


def _prev_name(s: int) -> str:
    return "T1(c0)" if s == 0 else TEMPERATURE_NAMES[s - 1]


def is_feasible(X) -> np.ndarray:
    """Boolean per row: Table-2 bounds and Eq. 2–5 hold."""
    X = np.atleast_2d(np.asarray(X, dtype=float))
    bad = {v.row for v in check_profiles(X)}
    return np.array([r not in bad for r in range(len(X))])


def decode_profile(x) -> tuple[np.ndarray, np.ndarray]:
    """Temperature–time break points ``(t_min, T_degC)`` of one 13-feature row.

    The profile starts at ``T1`` (:func:`seeding_temperature`) at t = 0 and follows each
    active stage linearly at rate ``C`` (cooling) or ``H`` (heating).
    """
    x = np.asarray(x, dtype=float)
    k = int(n_stages(x[None])[0])
    T = [float(seeding_temperature(x[IDX_C0]))]
    t = [0.0]
    for s in range(k):
        rate = x[IDX_H] if IS_HEATING[s] else x[IDX_C]
        Tn = float(x[IDX_T][s])
        t.append(t[-1] + abs(Tn - T[-1]) / rate)
        T.append(Tn)
    return np.array(t), np.array(T)


def encode_profile(c0: float, seed_loading: float, setpoints, C: float, H: float = 0.0) -> np.ndarray:
    """Build a 13-feature row from set-points ``[T2, T3, ...]`` (zero-padded to T10)."""
    setpoints = list(setpoints)
    if not 1 <= len(setpoints) <= MAX_STAGES:
        raise ValidationError(f"need 1..{MAX_STAGES} stage set-points, got {len(setpoints)}")
    T = np.zeros(MAX_STAGES)
    T[: len(setpoints)] = setpoints
    h = H if len(setpoints) >= 2 else 0.0
    return np.array([c0, seed_loading, *T, C, h], dtype=float)


def as_frame(X) -> pd.DataFrame:
    """Feature matrix as a DataFrame with ``FEATURE_NAMES`` columns."""
    return pd.DataFrame(np.atleast_2d(np.asarray(X, dtype=float)), columns=list(FEATURE_NAMES))


# --------------------------------------------------------------------------------------
# Unconstrained latent parameterisation (used by the synthetic-data generators)
# --------------------------------------------------------------------------------------
_EPS = 1e-9


def _logit(p):
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


class ProfileLatentTransform:
    """Bijection between feasible 13-feature rows and ``(k, z)``: a categorical number of
    stages ``k`` and an unconstrained real vector ``z`` (12 entries).

    ``z`` = logits of: ``c0`` and ``seed_loading`` scaled to their bounds; for every stage
    the fraction of the admissible interval it moves (cooling stage s: ``T_s = lo +
    f·(T_{s−1} − lo)`` with ``lo = ACTIVE_T_MIN``; heating stage: ``T_s = T_{s−1} +
    f·(T1 − T_{s−1})``), and ``C``/``H`` scaled to their bounds.  Any ``(k, z)`` decodes
    to a row satisfying Table 2 and Eq. 2–5 (stages beyond ``k`` are zero-padded and
    ``H = 0`` when there is no heating stage), which is how the generators enforce the
    constraints *during* generation rather than by discarding rows afterwards.
    Latent entries of inactive stages are ignored on decoding (encoded as 0).
    """

    categories = np.arange(1, MAX_STAGES + 1)
    n_latent = 2 + MAX_STAGES + 2

    def encode(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Rows → ``(k, z)``.  Rows must be feasible (see :func:`check_profiles`)."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        k = n_stages(X)
        Z = np.zeros((len(X), self.n_latent))
        Z[:, 0] = _logit((X[:, IDX_C0] - LOWER[IDX_C0]) / (UPPER[IDX_C0] - LOWER[IDX_C0]))
        Z[:, 1] = _logit((X[:, IDX_SEED] - LOWER[IDX_SEED]) / (UPPER[IDX_SEED] - LOWER[IDX_SEED]))
        t1 = seeding_temperature(X[:, IDX_C0])
        prev = t1.copy()
        for s in range(MAX_STAGES):
            act = k > s
            T = X[:, IDX_T[s]]
            if IS_HEATING[s]:
                frac = (T - prev) / np.maximum(t1 - prev, 1e-9)
            else:
                frac = (T - ACTIVE_T_MIN) / np.maximum(prev - ACTIVE_T_MIN, 1e-9)
            Z[:, 2 + s] = np.where(act, _logit(frac), 0.0)
            prev = np.where(act, T, prev)
        Z[:, 11] = _logit((X[:, IDX_C] - LOWER[IDX_C]) / (UPPER[IDX_C] - LOWER[IDX_C]))
        Z[:, 12] = np.where(k >= 2, _logit((X[:, IDX_H] - LOWER[IDX_H]) / (UPPER[IDX_H] - LOWER[IDX_H])), 0.0)
        return k, Z

    def decode(self, k, Z) -> np.ndarray:
        """``(k, z)`` → feasible 13-feature rows (deterministic)."""
        Z = np.atleast_2d(np.asarray(Z, dtype=float))
        k = np.clip(np.asarray(k, dtype=int).reshape(-1), 1, MAX_STAGES)
        X = np.zeros((len(Z), N_FEATURES))
        X[:, IDX_C0] = LOWER[IDX_C0] + _sigmoid(Z[:, 0]) * (UPPER[IDX_C0] - LOWER[IDX_C0])
        X[:, IDX_SEED] = LOWER[IDX_SEED] + _sigmoid(Z[:, 1]) * (UPPER[IDX_SEED] - LOWER[IDX_SEED])
        t1 = seeding_temperature(X[:, IDX_C0])
        prev = t1.copy()
        for s in range(MAX_STAGES):
            act = k > s
            f = _sigmoid(Z[:, 2 + s])
            if IS_HEATING[s]:
                T = prev + f * (t1 - prev)
            else:
                T = ACTIVE_T_MIN + f * (prev - ACTIVE_T_MIN)
            X[:, IDX_T[s]] = np.where(act, T, 0.0)
            prev = np.where(act, T, prev)
        X[:, IDX_C] = LOWER[IDX_C] + _sigmoid(Z[:, 11]) * (UPPER[IDX_C] - LOWER[IDX_C])
        X[:, IDX_H] = np.where(k >= 2, LOWER[IDX_H] + _sigmoid(Z[:, 12]) * (UPPER[IDX_H] - LOWER[IDX_H]), 0.0)
        return X

    def active_mask(self, k) -> np.ndarray:
        """Boolean ``(n, n_latent)``: which latent entries matter for stage count ``k``."""
        k = np.asarray(k, dtype=int).reshape(-1)
        m = np.ones((len(k), self.n_latent), dtype=bool)
        for s in range(MAX_STAGES):
            m[:, 2 + s] = k > s
        m[:, 12] = k >= 2
        return m
