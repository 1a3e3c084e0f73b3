"""Thermocycle design space for NSGA-II (crystallization paper, Step 9, Eq. 2–4, Table 2, Figs. 7–8).

For a fixed number of thermocycles ``n`` (1–4) the profile has ``2n + 1`` stages
(cool, then ``n`` × heat/cool) and the decision vector is
``[c0, seed_loading, T2, …, T_{2n+2}, C, H]`` within the Table-2 bounds; later
set-points are zero-padded (Eq. 4 holds by construction).  Eq. 2, Eq. 3 and Eq. 5
(no set-point above the seeding temperature ``T1(c0)``) are inequality constraints.
"""
from __future__ import annotations

import numpy as np

from ..errors import ValidationError
from ..surrogates.nsga2 import SurrogateDesignProblem
from .profile import (ACTIVE_T_MIN, FEATURE_BOUNDS, IDX_C, IDX_C0, IDX_H, IDX_SEED, IDX_T, IS_HEATING,
                      N_FEATURES, n_stages, seeding_temperature)


class CycleProfileSpace:
    """Decision variables ↔ 13 features for profiles with ``n_cycles`` thermocycles."""

    def __init__(self, n_cycles: int):
        if not 1 <= n_cycles <= 4:
            raise ValidationError(f"n_cycles must be 1..4, got {n_cycles}")
        self.n_cycles = int(n_cycles)
        self.n_stages = 2 * self.n_cycles + 1
        names = ["c0", "seed_loading", *[f"T{i}" for i in range(2, self.n_stages + 2)], "C", "H"]
        self.var_names = names
        # active set-points: Table 2 allows 0–70 °C; 0 encodes "no stage" (Eq. 4), so ≥ ACTIVE_T_MIN
        self.xl = np.array([FEATURE_BOUNDS[n][0] if not n.startswith("T") else ACTIVE_T_MIN for n in names])
        self.xu = np.array([FEATURE_BOUNDS[n][1] for n in names])

    @property
    def n_var(self) -> int:
        return len(self.var_names)

    @property
    def n_constraints(self) -> int:
        # stage 1: T2 ≤ T1; each heating stage: 2 (Eq. 2 and Eq. 5); each later cooling: 1 (Eq. 3)
        return 1 + 2 * self.n_cycles + self.n_cycles

    def to_features(self, x) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, float))
        F = np.zeros((len(x), N_FEATURES))
        F[:, IDX_C0] = x[:, 0]
        F[:, IDX_SEED] = x[:, 1]
        F[:, IDX_T[: self.n_stages]] = x[:, 2: 2 + self.n_stages]
        F[:, IDX_C] = x[:, -2]
        F[:, IDX_H] = x[:, -1]
        return F

    def constraints(self, x) -> np.ndarray:
        """``G ≤ 0`` form of Eq. 2, Eq. 3 and Eq. 5."""
        x = np.atleast_2d(np.asarray(x, float))
        t1 = seeding_temperature(x[:, 0])
        T = x[:, 2: 2 + self.n_stages]
        G = [T[:, 0] - t1]  # Eq. 3, i = 2
        for s in range(1, self.n_stages):
            if IS_HEATING[s]:
                G.append(T[:, s - 1] - T[:, s])  # Eq. 2
                G.append(T[:, s] - t1)           # Eq. 5
            else:
                G.append(T[:, s] - T[:, s - 1])  # Eq. 3
        return np.column_stack(G)

    def sample_feasible(self, n: int, rng=None) -> np.ndarray:
        """``n`` random decision vectors satisfying Table 2 and Eq. 2–5 (decoded from
        uniform stage fractions; used as NSGA-II's initial population)."""
        rng = np.random.default_rng(rng)
        x = rng.uniform(self.xl, self.xu, size=(n, self.n_var))
        t1 = seeding_temperature(x[:, 0])
        prev = t1.copy()
        for s in range(self.n_stages):
            f = rng.uniform(0.05, 0.95, n)
            if IS_HEATING[s]:
                T = prev + f * (t1 - prev)
            else:
                T = ACTIVE_T_MIN + f * (prev - ACTIVE_T_MIN)
            x[:, 2 + s] = T
            prev = T
        return x

    def from_features(self, F) -> np.ndarray:
        """Decision vectors of the feature rows that have exactly ``n_stages`` active stages
        (other rows are dropped): the inverse of :meth:`to_features` on this space."""
        F = np.atleast_2d(np.asarray(F, float))
        F = F[n_stages(F) == self.n_stages]
        return np.column_stack([F[:, IDX_C0], F[:, IDX_SEED], F[:, IDX_T[: self.n_stages]], F[:, IDX_C], F[:, IDX_H]])

    def initial_population(self, n: int, rng=None, X_data=None) -> np.ndarray:
        """``n`` start points: the data rows of this cycle count (inside the applicability
        domain by construction, so a domain-constrained NSGA-II starts feasible), filled up
        with :meth:`sample_feasible`."""
        rng = np.random.default_rng(rng)
        own = self.from_features(X_data) if X_data is not None else np.empty((0, self.n_var))
        own = np.clip(own, self.xl, self.xu)[: n // 2]
        return np.vstack([own, self.sample_feasible(n - len(own), rng)])

    def problem(self, objectives, feature_constraints=None) -> SurrogateDesignProblem:
        """pymoo problem minimising ``objectives(features) → (n, n_obj)`` subject to Eq. 2–5
        and, when given, ``feature_constraints(features) → (n, k)`` in ``G ≤ 0`` form (e.g.
        the applicability domain and the process limits)."""
        mid = self.to_features(0.5 * (self.xl + self.xu))
        probe = np.asarray(objectives(mid))
        constraints, n_con = self.constraints, self.n_constraints
        if feature_constraints is not None:
            n_con += np.atleast_2d(feature_constraints(mid)).shape[1]

            def constraints(x):
                return np.column_stack([self.constraints(x), feature_constraints(self.to_features(x))])
        return SurrogateDesignProblem(self.to_features, objectives, constraints, self.xl, self.xu,
                                      n_obj=probe.shape[-1], n_ieq_constr=n_con)
