"""Case 3's independent reference (issue 23): the IDAES CSTR's steady state by brentq and the
ellipsoid index by a scan of the set's directions refined by a bounded scalar search, in
scipy, sharing nothing with flexspace's formulation or the case's Newton simulator (only the
IDAES constants).  Used by ``tests/models/test_case3.py`` and ``benchmarks/bench_case3.py``."""
import math

import numpy as np
from scipy import optimize

from flexspace.models.cases import case3


def worst_g(V, T_in, k0, Ea):
    """max_k g_k at the IDAES CSTR's steady state by brentq (independent of the case's Newton solver):
    F (c0 − c) = V k(T) c², T = T_in + (c0 − c)(−ΔH)/(ρ c_p); k0 [1e6 m³/mol/s], Ea [kJ/mol]."""
    c0, F, rise = case3.C_FEED, case3.FLOW, -case3.DH_RXN / (case3.RHO * case3.CP)

    def f(c):
        T = T_in + (c0 - c) * rise
        return F * (c0 - c) - V * k0 * 1e6 * math.exp(-Ea * 1e3 / (case3.R_GAS * T)) * c * c

    c = optimize.brentq(f, 0.0, c0, xtol=1e-14, rtol=1e-15)
    return max(case3.X_MIN - (1.0 - c / c0), T_in + (c0 - c) * rise - case3.T_MAX)


def reference_index(tp, delta_max=6.0):
    """Ellipsoid index: min over directions u of the first t with g(θ̄ + t L u) = 0."""
    L = np.linalg.cholesky(case3.COVARIANCE)
    nom = case3.THETA_M_NOMINAL

    def first_root(phi):
        u = L @ np.array([math.cos(phi), math.sin(phi)])
        h = lambda t: worst_g(*tp, *(nom + t * u))  # noqa: E731
        ts = np.linspace(0.0, delta_max, 121)
        vals = [h(t) for t in ts]
        for a, b, fa, fb in zip(ts, ts[1:], vals, vals[1:]):
            if fa <= 0 < fb:
                return optimize.brentq(h, a, b, xtol=1e-13)
        return delta_max

    phis = np.linspace(0.0, 2 * math.pi, 721)
    roots = [first_root(p) for p in phis]
    i = int(np.argmin(roots))
    r = optimize.minimize_scalar(first_root, bounds=(phis[max(i - 1, 0)], phis[min(i + 1, 720)]), method="bounded",
                                 options={"xatol": 1e-12})
    return min(float(r.fun), roots[i])
