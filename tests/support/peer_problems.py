"""The peer's public nonconvex recourse problems (IDAES PR #1398, ``flexibility_analysis``: the
nonlinear HX network example and the "poly" test model), written again from their equations,
with independent numpy/scipy references.  Used by the tests and by
``benchmarks/recourse_peer.py``."""
import math

import numpy as np
import pyomo.environ as pyo
from scipy.optimize import linprog, minimize_scalar

from flexspace import BoxSet, ProcessModel


def nonlinear_hx():
    """The nonlinear HX network of the peer's example (Grossmann & Floudas 1987): control qc,
    uncertain fh1 in [1, 1.8] (nominal 1: a box with Δ⁻ = 0, Δ⁺ = 0.8)."""
    m = pyo.ConcreteModel()
    m.qc = pyo.Var(bounds=(-1000, 1000), initialize=0.0)
    m.fh1 = pyo.Param(mutable=True, initialize=1.0)
    m.p = pyo.Param(mutable=True, initialize=0.0)
    m.f1 = pyo.Constraint(expr=-25 + m.qc * ((1 / m.fh1) - 0.5) + 10 / m.fh1 + m.p <= 0)
    m.f2 = pyo.Constraint(expr=-190 + 10 / m.fh1 + m.qc / m.fh1 <= 0)
    m.f3 = pyo.Constraint(expr=-270 + 250 / m.fh1 + m.qc / m.fh1 <= 0)
    m.f4 = pyo.Constraint(expr=260 - 250 / m.fh1 - m.qc / m.fh1 <= 0)
    pm = ProcessModel(m, {"p": m.p}, {"fh1": m.fh1}, {k: getattr(m, k) for k in ("f1", "f2", "f3", "f4")},
                      [[0.64]], controls={"qc": m.qc}, name="nonlinear hx")
    return pm, BoxSet([1.0], [[0.64]], delta_minus=[0.0], delta_plus=[0.8])


def nonlinear_hx_states(bounded: bool = True):
    """The same HX network written with a state x = 1/fh1 (equation x·fh1 = 1, x ∈ [0.5, 1], or
    unbounded when ``bounded`` is False): the CQAs are bilinear in (qc, x), the model has h = 0."""
    m = pyo.ConcreteModel()
    m.qc = pyo.Var(bounds=(-1000, 1000), initialize=0.0)
    m.x = pyo.Var(bounds=(0.5, 1.0) if bounded else (None, None), initialize=1.0)
    m.fh1 = pyo.Param(mutable=True, initialize=1.0)
    m.p = pyo.Param(mutable=True, initialize=0.0)
    m.h = pyo.Constraint(expr=m.x * m.fh1 == 1)
    m.f1 = pyo.Constraint(expr=-25 + m.qc * (m.x - 0.5) + 10 * m.x + m.p <= 0)
    m.f2 = pyo.Constraint(expr=-190 + 10 * m.x + m.qc * m.x <= 0)
    m.f3 = pyo.Constraint(expr=-270 + 250 * m.x + m.qc * m.x <= 0)
    m.f4 = pyo.Constraint(expr=260 - 250 * m.x - m.qc * m.x <= 0)
    pm = ProcessModel(m, {"p": m.p}, {"fh1": m.fh1}, {k: getattr(m, k) for k in ("f1", "f2", "f3", "f4")},
                      [[0.64]], controls={"qc": m.qc}, name="nonlinear hx, states")
    return pm, BoxSet([1.0], [[0.64]], delta_minus=[0.0], delta_plus=[0.8])


def poly_states():
    """The peer's "poly" model with a state x = z − 1.5 (equation x − z + 1.5 = 0) in c1."""
    m = pyo.ConcreteModel()
    m.z = pyo.Var(initialize=8, bounds=(-10, 15))
    m.x = pyo.Var(initialize=6.5, bounds=(-11.5, 13.5))
    m.theta = pyo.Param(mutable=True, initialize=22.5)
    m.p = pyo.Param(mutable=True, initialize=0.0)
    m.h = pyo.Constraint(expr=m.x - m.z + 1.5 == 0)
    m.c1 = pyo.Constraint(expr=0.01 * m.x ** 4 - 0.05 * m.x ** 3 - m.x ** 2 - m.x - 10 + m.theta + m.p <= 0)
    m.c2 = pyo.Constraint(expr=(-0.02 * m.theta - 14) * m.z + (1.66 * m.theta - 100) <= 0)
    m.c3 = pyo.Constraint(expr=30 * m.z - 50 - 4 * m.theta + pyo.exp(-0.2 * m.theta + 1) <= 0)
    pm = ProcessModel(m, {"p": m.p}, {"theta": m.theta}, {"c1": m.c1, "c2": m.c2, "c3": m.c3}, [[42.5 ** 2]],
                      controls={"z": m.z}, name="poly, states")
    return pm, BoxSet([22.5], [[42.5 ** 2]], delta_minus=[42.5], delta_plus=[42.5])


def hx_psi(f):
    """ψ(fh1) by an LP in (qc, u) (every g is linear in qc at fixed fh1)."""
    a = np.array([-25 + 10 / f, -190 + 10 / f, -270 + 250 / f, 260 - 250 / f])
    b = np.array([1 / f - 0.5, 1 / f, 1 / f, -1 / f])
    r = linprog([0, 1], A_ub=np.column_stack([b, -np.ones(4)]), b_ub=-a, bounds=[(-1000, 1000), (None, None)],
                method="highs")
    return r.fun


def poly():
    """The peer's "poly" test model: c1 quartic in the control z ∈ [-10, 15], θ in [-20, 65]
    (nominal 22.5: a box with half-widths 42.5)."""
    m = pyo.ConcreteModel()
    m.z = pyo.Var(initialize=8, bounds=(-10, 15))
    m.theta = pyo.Param(mutable=True, initialize=22.5)
    m.p = pyo.Param(mutable=True, initialize=0.0)
    o = 1.5
    m.c1 = pyo.Constraint(expr=0.01 * (m.z - o) ** 4 - 0.05 * (m.z - o) ** 3 - (m.z - o) ** 2 - (m.z - o) - 10
                          + m.theta + m.p <= 0)
    m.c2 = pyo.Constraint(expr=(-0.02 * m.theta - 14) * m.z + (1.66 * m.theta - 100) <= 0)
    m.c3 = pyo.Constraint(expr=30 * m.z - 50 - 4 * m.theta + pyo.exp(-0.2 * m.theta + 1) <= 0)
    pm = ProcessModel(m, {"p": m.p}, {"theta": m.theta}, {"c1": m.c1, "c2": m.c2, "c3": m.c3}, [[42.5 ** 2]],
                      controls={"z": m.z}, name="poly")
    return pm, BoxSet([22.5], [[42.5 ** 2]], delta_minus=[42.5], delta_plus=[42.5])


def poly_psi(t):
    def g(z):
        d = z - 1.5
        return np.maximum(np.maximum(0.01 * d ** 4 - 0.05 * d ** 3 - d ** 2 - d - 10 + t,
                                     (-0.02 * t - 14) * z + 1.66 * t - 100),
                          30 * z - 50 - 4 * t + math.exp(-0.2 * t + 1))
    zs = np.linspace(-10, 15, 5001)
    vals = g(zs)
    i = int(np.argmin(vals))
    r = minimize_scalar(lambda z: float(g(z)), bounds=(zs[max(i - 1, 0)], zs[min(i + 1, len(zs) - 1)]), method="bounded",
                        options={"xatol": 1e-10})
    return min(float(vals[i]), float(r.fun))


def hx_reference():
    """(χ on fh1 in [1, 1.8], box index δ in units of Δ⁺ = 0.8) by LPs on a dense grid, the
    first crossing ψ = τ refined by bisection."""
    f = np.linspace(1.0, 1.8, 801)
    psi = np.array([hx_psi(x) for x in f])
    i = int(np.argmax(psi))
    r = minimize_scalar(lambda x: -hx_psi(x), bounds=(f[max(i - 1, 0)], f[min(i + 1, len(f) - 1)]), method="bounded",
                        options={"xatol": 1e-10})
    chi = max(float(psi[i]), float(-r.fun))
    j = int(np.argmax(psi > 1e-6))
    a, b = f[j - 1], f[j]
    for _ in range(50):
        mid = 0.5 * (a + b)
        a, b = (a, mid) if hx_psi(mid) >= 1e-6 else (mid, b)
    return chi, (b - 1.0) / 0.8  # χ on [1, 1.8] and δ (σ units of Δ⁺)


def poly_reference():
    """(χ on θ in [-20, 65], box index δ in units of 42.5) by a dense grid, a bounded local
    maximiser and bisection of the crossings ψ = τ."""
    t = np.linspace(-20, 65, 1701)
    psi = np.array([poly_psi(x) for x in t])
    i = int(np.argmax(psi))
    r = minimize_scalar(lambda x: -poly_psi(x), bounds=(t[max(i - 1, 0)], t[i + 1]), method="bounded")
    chi = max(float(psi[i]), -r.fun)
    def crossing(a, b):  # ψ(a) < τ ≤ ψ(b): bisection to 1e-9
        for _ in range(60):
            mid = 0.5 * (a + b)
            a, b = (a, mid) if poly_psi(mid) >= 1e-6 else (mid, b)
        return b

    up = np.linspace(22.5, 70.0, 951)  # the violation nearest to 22.5 in gauge: beyond 65 or below -20
    down = np.linspace(22.5, -25.0, 951)
    cands = []
    for grid in (up, down):
        vals = np.array([poly_psi(x) for x in grid])
        j = int(np.argmax(vals >= 1e-6))
        if vals[j] >= 1e-6:
            cands.append(abs(crossing(grid[j - 1], grid[j]) - 22.5) / 42.5)
    delta = min(cands)
    return chi, delta


