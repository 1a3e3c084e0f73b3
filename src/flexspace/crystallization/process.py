"""Process constraints a crystallization engineer needs on a recommended profile.

All four are computed from the 13-feature profile (:mod:`.profile`) and the solubility curve
(:func:`.kinetics.solubility`, Fujiwara et al. 2002), vectorised over rows, so NSGA-II can use
them as constraints at no simulation cost:

* **batch time** (h): the time of the decoded profile (:func:`.profile.decode_profile`:
  each stage at its rate ``C`` or ``H``) — exact;
* **final temperature** (°C): the last active set-point — exact;
* **equilibrium yield** (%): ``(c0 − c*(T_final)) / c0``, the fraction of the dissolved
  solute that is crystallised once the liquor reaches solubility at the discharge
  temperature (an upper bound of the batch's actual yield; the in-silico lab's actual
  yield ``(c0 − c_end)/c0`` is reported next to it at validation);
* **redissolution** (%): the largest fraction of the suspended solids that a heating stage
  dissolves, at equilibrium: ``(c*(T_peak) − c*(T_trough)) / (c0 + m_seed − c*(T_trough))``
  (an unconstrained optimum, workflow run with random seed 0, reheated from 11 to 49.5 °C,
  dissolving 74 % of the solids).

:class:`ProcessLimits` holds the targets (defaults with their reasons) and returns the
``G ≤ 0`` columns for an optimiser.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ..validation import check_number
from .kinetics import solubility
from .profile import IDX_C, IDX_C0, IDX_H, IDX_SEED, IDX_T, IS_HEATING, MAX_STAGES, n_stages, seeding_temperature

__all__ = ["ProcessLimits", "batch_time_h", "final_temperature", "equilibrium_yield", "max_redissolution",
           "process_metrics", "matched_linear_control"]


def _stage_temps(X):
    """``(T with T1 prepended, k)``: (n, 1 + MAX_STAGES) set-points and active stage counts."""
    X = np.atleast_2d(np.asarray(X, float))
    T = np.column_stack([seeding_temperature(X[:, IDX_C0]), X[:, IDX_T]])
    return T, n_stages(X)


def batch_time_h(X) -> np.ndarray:
    """Duration of each profile in hours (stages at rate ``C`` or ``H``)."""
    X = np.atleast_2d(np.asarray(X, float))
    T, k = _stage_temps(X)
    t = np.zeros(len(X))
    for s in range(MAX_STAGES):
        rate = X[:, IDX_H] if IS_HEATING[s] else X[:, IDX_C]
        dT = np.abs(T[:, s + 1] - T[:, s])
        t += np.where(k > s, dT / np.where(rate > 0, rate, np.inf), 0.0)
    return t / 60.0


def final_temperature(X) -> np.ndarray:
    """Last active set-point (°C)."""
    T, k = _stage_temps(X)
    return T[np.arange(len(T)), k]


def equilibrium_yield(X) -> np.ndarray:
    """``100 (c0 − c*(T_final)) / c0`` in % (see module docstring)."""
    X = np.atleast_2d(np.asarray(X, float))
    c0 = X[:, IDX_C0] / 1000.0
    return 100.0 * (c0 - solubility(final_temperature(X))) / c0


def max_redissolution(X) -> np.ndarray:
    """Largest fraction (%) of the suspended solids dissolved by one heating stage (equilibrium)."""
    X = np.atleast_2d(np.asarray(X, float))
    T, k = _stage_temps(X)
    c0 = X[:, IDX_C0] / 1000.0
    total = c0 * (1.0 + X[:, IDX_SEED])
    out = np.zeros(len(X))
    for s in range(MAX_STAGES):
        if not IS_HEATING[s]:
            continue
        trough, peak = T[:, s], T[:, s + 1]
        solids = np.maximum(total - solubility(trough), 1e-12)
        frac = np.clip((solubility(peak) - solubility(trough)) / solids, 0.0, 1.0)
        out = np.where(k > s, np.maximum(out, 100.0 * frac), out)
    return out


def process_metrics(X) -> pd.DataFrame:
    """Batch time (h), final temperature (°C), equilibrium yield (%) and max redissolution (%)."""
    return pd.DataFrame({"batch_time_h": batch_time_h(X), "final_T_degC": final_temperature(X),
                         "yield_eq_%": equilibrium_yield(X), "max_redissolution_%": max_redissolution(X)})


@dataclass(frozen=True)
class ProcessLimits:
    """Engineering targets of a recommended profile (all assumed; change them per study).

    * ``min_yield_pct`` = 70 %: the DoE's linear-cooling runs reach 61–85 % equilibrium
      yield; a recommendation should not trade most of the product for particle size.
    * ``max_batch_time_h`` = 12 h: one and a half 8-h shifts; the DoE's 4-cycle runs take
      6–9 h at the Table-2 rates, so 12 h admits every cycle count (the crystallization paper stresses short
      batch times).
    * ``max_final_T_degC`` = 25 °C: discharge at or below room temperature (the DoE's
      linear-cooling runs end at 6–25 °C); the unconstrained seed-0 optimum ended at 38.6 °C.
    * ``max_redissolution_pct`` = 50 %: a thermocycle should dissolve fines, not half the
      batch (the unconstrained seed-0 optimum redissolved 74 %).
    """

    min_yield_pct: float = 70.0
    max_batch_time_h: float = 12.0
    max_final_T_degC: float = 25.0
    max_redissolution_pct: float = 50.0

    def __post_init__(self):
        check_number("min_yield_pct", self.min_yield_pct, low=0, high=100)
        check_number("max_batch_time_h", self.max_batch_time_h, low=0, low_open=True)
        check_number("max_final_T_degC", self.max_final_T_degC, low=0, high=70)
        check_number("max_redissolution_pct", self.max_redissolution_pct, low=0, high=100)

    def constraint(self, X) -> np.ndarray:
        """``G ≤ 0`` columns (yield, batch time, final T, redissolution), scaled to O(1)."""
        return np.column_stack([(self.min_yield_pct - equilibrium_yield(X)) / 10.0,
                                batch_time_h(X) - self.max_batch_time_h,
                                (final_temperature(X) - self.max_final_T_degC) / 5.0,
                                (max_redissolution(X) - self.max_redissolution_pct) / 10.0])

    def satisfied(self, X) -> np.ndarray:
        return np.all(self.constraint(X) <= 1e-9, axis=1)

    def to_dict(self) -> dict:
        return asdict(self)


def matched_linear_control(x) -> np.ndarray:
    """The batch-time-matched linear-cooling control of profile ``x``: same ``c0``,
    seed loading, start and end temperature, one cooling stage whose rate makes the batch as
    long as ``x``'s (clipped to the Table-2 rate bounds, so the times match only when the rate
    fits them)."""
    from .profile import FEATURE_BOUNDS, encode_profile

    x = np.asarray(x, float)
    T1, Tf, t = float(seeding_temperature(x[IDX_C0])), float(final_temperature(x)[0]), float(batch_time_h(x)[0])
    C = np.clip((T1 - Tf) / (60.0 * t), *FEATURE_BOUNDS["C"])
    return encode_profile(x[IDX_C0], x[IDX_SEED], [Tf], float(C))
