"""Models the way users write them, with answers computed without flexspace.

Each entry of :data:`USER_MODELS` gives

* ``build()``     -> a :class:`flexspace.ProcessModel` (plain Pyomo, written naturally:
  θ where it reads best, including the constant side of an equation);
* ``g(tp, th)``   -> the CQAs in numpy, shape (N, K), feasible ⇔ all ≤ 0, with NaN where the
  model has *no solution* (a domain hole: such a θm is infeasible, never feasible);
* ``theta_m_nominal``, ``covariance`` and the θp points to analyse (``tps``);
* optional ``delta(tp, set)`` -> the exact flexibility index (closed form) and
  ``p_true(tp)`` -> the exact probability that every CQA holds.

Nothing here imports flexspace except the builders (``reference_*`` functions are pure
numpy/scipy).
"""
from __future__ import annotations

import math
from typing import Dict

import numpy as np
from scipy import stats

# ============================================================================ (1) exponential
EXP = dict(theta_m_nominal=[0.0], covariance=[[0.2 ** 2]], x_max=2.0, tps=[1.2, 1.5, 1.8], tp_bounds=[(0.5, 2.0)])


def build_exp():
    """x = p exp(θ) with θ on the constant side of the equation; CQA x <= 2."""
    import pyomo.environ as pyo

    import flexspace

    m = pyo.ConcreteModel()
    m.p = pyo.Param(mutable=True, initialize=1.0)
    m.th = pyo.Param(mutable=True, initialize=0.0)
    m.x = pyo.Var(bounds=(0.0, 20.0), initialize=1.0)
    m.eq = pyo.Constraint(expr=m.x == m.p * pyo.exp(m.th))
    m.spec = pyo.Constraint(expr=m.x <= EXP["x_max"])
    return flexspace.ProcessModel(m, theta_p={"p": m.p}, theta_m={"th": m.th}, constraints={"x_max": m.spec},
                                  covariance=EXP["covariance"], theta_p_bounds=EXP["tp_bounds"], name="exp")


def g_exp(tp, th):
    return (tp * np.exp(th[:, 0]) - EXP["x_max"])[:, None]


def delta_exp(tp, uset):
    # 1-D: box, ellipsoid and LDL ellipsoid are the same interval θ̄ ± δσ; only the upper side violates
    return math.log(EXP["x_max"] / tp) / math.sqrt(EXP["covariance"][0][0])


def p_exp(tp):
    return float(stats.norm.cdf(delta_exp(tp, "box")))


# ============================================================================ (2) series CSTR
SERIES = dict(theta_m_nominal=[0.5, 0.05],
              covariance=[[0.05 ** 2, 0.3 * 0.05 * 0.01], [0.3 * 0.05 * 0.01, 0.01 ** 2]],
              cA_max=0.2, cB_min=0.45, tps=[9.0, 12.0, 17.0], tp_bounds=[(5.0, 30.0)])


def build_series():
    """A -> B -> C in a CSTR (cin = 1): two states, CQAs on cA (conversion) and cB (yield)."""
    import pyomo.environ as pyo

    import flexspace

    m = pyo.ConcreteModel()
    m.tau = pyo.Param(mutable=True, initialize=10.0)
    m.k1 = pyo.Param(mutable=True, initialize=0.5)
    m.k2 = pyo.Param(mutable=True, initialize=0.05)
    m.cA = pyo.Var(bounds=(0.0, 1.0), initialize=0.2)
    m.cB = pyo.Var(bounds=(0.0, 1.0), initialize=0.5)
    m.balA = pyo.Constraint(expr=m.cA * (1 + m.tau * m.k1) == 1.0)
    m.balB = pyo.Constraint(expr=m.cB * (1 + m.tau * m.k2) == m.tau * m.k1 * m.cA)
    m.conversion = pyo.Constraint(expr=m.cA <= SERIES["cA_max"])
    m.yield_ = pyo.Constraint(expr=m.cB >= SERIES["cB_min"])
    return flexspace.ProcessModel(m, theta_p={"tau": m.tau}, theta_m={"k1": m.k1, "k2": m.k2},
                                  constraints={"conversion": m.conversion, "yield": m.yield_},
                                  covariance=SERIES["covariance"], theta_p_bounds=SERIES["tp_bounds"],
                                  name="series")


def g_series(tp, th):
    k1, k2 = th[:, 0], th[:, 1]
    with np.errstate(all="ignore"):
        cA = 1.0 / (1.0 + tp * k1)
        cB = tp * k1 * cA / (1.0 + tp * k2)
    g = np.column_stack([cA - SERIES["cA_max"], SERIES["cB_min"] - cB])
    # outside the states' bounds [0, 1] the Pyomo model has no solution
    bad = (cA < 0) | (cA > 1) | (cB < 0) | (cB > 1) | ~np.isfinite(cA) | ~np.isfinite(cB)
    g[bad] = np.nan
    return g


# ============================================================================ (3) domain hole
HOLE = dict(theta_m_nominal=[1.0], covariance=[[0.1 ** 2]], x2_max=0.6, tps=[0.85, 0.7, 0.55],
            tp_bounds=[(0.3, 1.0)])


def build_hole(symmetric: bool = False):
    """x**2 = k − tp: no real x for k < tp (a domain hole).  CQA x <= sqrt(0.6) (x in [0, 10]) or,
    for x in [−10, 10], x**2 <= 0.6 (the same verdict for either root)."""
    import pyomo.environ as pyo

    import flexspace

    m = pyo.ConcreteModel()
    m.tp = pyo.Param(mutable=True, initialize=0.7)
    m.k = pyo.Param(mutable=True, initialize=1.0)
    m.x = pyo.Var(bounds=(-10.0, 10.0) if symmetric else (0.0, 10.0), initialize=0.5)
    m.eq = pyo.Constraint(expr=m.x ** 2 == m.k - m.tp)
    if symmetric:
        m.spec = pyo.Constraint(expr=m.x ** 2 <= HOLE["x2_max"])
    else:
        m.spec = pyo.Constraint(expr=m.x <= math.sqrt(HOLE["x2_max"]))
    return flexspace.ProcessModel(m, theta_p={"tp": m.tp}, theta_m={"k": m.k}, constraints={"spec": m.spec},
                                  covariance=HOLE["covariance"], theta_p_bounds=HOLE["tp_bounds"],
                                  name="hole-sym" if symmetric else "hole")


def g_hole(tp, th):
    r = th[:, 0] - tp
    g = (r - HOLE["x2_max"])[:, None].astype(float)  # x**2 - 0.6 (same sign as x - sqrt(0.6) for x >= 0)
    g[r < 0] = np.nan  # no real solution: infeasible
    return g


def delta_hole(tp, uset):
    kb, s = HOLE["theta_m_nominal"][0], math.sqrt(HOLE["covariance"][0][0])
    return min(kb - tp, tp + HOLE["x2_max"] - kb) / s


def p_hole(tp):
    kb, s = HOLE["theta_m_nominal"][0], math.sqrt(HOLE["covariance"][0][0])
    return float(stats.norm.cdf((tp + HOLE["x2_max"] - kb) / s) - stats.norm.cdf((tp - kb) / s))


def hole_interval(p_c):
    """θp for which k ∈ [k̄ − δσ, k̄ + δσ] (δ with P = p_c, 1-D) lies inside tp <= k <= tp + 0.6."""
    kb, s = HOLE["theta_m_nominal"][0], math.sqrt(HOLE["covariance"][0][0])
    d = stats.norm.ppf(0.5 + p_c / 2)
    return kb + d * s - HOLE["x2_max"], kb - d * s


# ============================================================================ (4) 20-D linear
def _linear_data(n=20, seed=7):
    rng = np.random.default_rng(seed)
    B = rng.normal(size=(n, n))
    sd = rng.uniform(0.5, 1.5, size=n)
    C = B @ B.T / n + 0.3 * np.eye(n)
    d = np.sqrt(np.diag(C))
    cov = C / np.outer(d, d) * np.outer(sd, sd)
    mean = rng.normal(size=n)
    # g = a·θ − b: a dominated by θ_0, so that the maximiser of a·θ over the 0.99-ellipsoid
    # (radius 6.13 > δ_max = 6) lies beyond 6 σ in θ_0: clipping the set at δ_max hides it
    a = np.zeros(n)
    a[0] = 1.0
    a[1:] = 0.03 * rng.normal(size=n - 1)
    return a, mean, cov


LIN_A, LIN_MEAN, LIN_COV = _linear_data()
LIN_S = float(np.sqrt(LIN_A @ LIN_COV @ LIN_A))  # sd of a·θ
LIN_ABS = float(np.abs(LIN_A) @ np.sqrt(np.diag(LIN_COV)))  # Σ |a_i| σ_i
LIN_C = float(LIN_A @ LIN_MEAN)
LINEAR = dict(theta_m_nominal=LIN_MEAN.tolist(), covariance=LIN_COV.tolist(),
              # θp = b: ellipsoid index 2.5 and 3.5 (interior)
              tps=[LIN_C + 2.5 * LIN_S, LIN_C + 3.5 * LIN_S], tp_bounds=[(LIN_C, LIN_C + 10 * LIN_S)])


def build_linear():
    import pyomo.environ as pyo

    import flexspace

    n = LIN_A.size
    m = pyo.ConcreteModel()
    m.I = pyo.RangeSet(0, n - 1)
    m.b = pyo.Param(mutable=True, initialize=LINEAR["tps"][0])
    m.theta = pyo.Param(m.I, mutable=True, initialize=lambda m, i: float(LIN_MEAN[i]))
    m.g = pyo.Expression(expr=sum(float(LIN_A[i]) * m.theta[i] for i in m.I) - m.b)
    return flexspace.ProcessModel(m, theta_p={"b": m.b}, theta_m=m.theta, constraints={"g": m.g},
                                  covariance=LIN_COV, theta_p_bounds=LINEAR["tp_bounds"], name="linear20")


def g_linear(tp, th):
    return (th @ LIN_A - tp)[:, None]


def delta_linear(tp, uset, delta_max=6.0):
    d = (tp - LIN_C) / (LIN_ABS if uset == "box" else LIN_S)
    return min(d, delta_max)


def p_linear(tp):
    return float(stats.norm.cdf((tp - LIN_C) / LIN_S))


def linear_max_over_ellipsoid(r):
    """max a·θ over (θ − θ̄)ᵀ Σ⁻¹ (θ − θ̄) <= r²."""
    return LIN_C + r * LIN_S


# ============================================================================ (5) dae batch
BATCH = dict(theta_m_nominal=[1.0, 0.1], covariance=[[0.08 ** 2, 0.0], [0.0, 0.03 ** 2]], nfe=8,
             A_max=0.1, B_min=0.68, tps=[3.0, 3.6, 4.2], tp_bounds=[(1.0, 6.0)])


def build_batch():
    """A -> B -> C in a batch: dA/ds = −tb k1 A, dB/ds = tb (k1 A − k2 B) on s ∈ [0, 1], A(0) = 1,
    B(0) = 0; backward Euler (pyomo.dae), 8 elements; θp = batch time tb."""
    import pyomo.dae as dae
    import pyomo.environ as pyo

    import flexspace

    m = pyo.ConcreteModel()
    m.tb = pyo.Param(mutable=True, initialize=3.0)
    m.k1 = pyo.Param(mutable=True, initialize=1.0)
    m.k2 = pyo.Param(mutable=True, initialize=0.1)
    m.s = dae.ContinuousSet(bounds=(0.0, 1.0))
    m.A = pyo.Var(m.s, bounds=(0.0, 1.0), initialize=0.5)
    m.B = pyo.Var(m.s, bounds=(0.0, 1.0), initialize=0.3)
    m.dA = dae.DerivativeVar(m.A, wrt=m.s)
    m.dB = dae.DerivativeVar(m.B, wrt=m.s)
    m.odeA = pyo.Constraint(m.s, rule=lambda m, s: m.dA[s] == -m.tb * m.k1 * m.A[s])
    m.odeB = pyo.Constraint(m.s, rule=lambda m, s: m.dB[s] == m.tb * (m.k1 * m.A[s] - m.k2 * m.B[s]))
    m.A0 = pyo.Constraint(expr=m.A[0] == 1.0)
    m.B0 = pyo.Constraint(expr=m.B[0] == 0.0)
    pyo.TransformationFactory("dae.finite_difference").apply_to(m, nfe=BATCH["nfe"], scheme="BACKWARD")
    for v in m.dA.values():
        v.setlb(-20.0)
        v.setub(0.0)
    for v in m.dB.values():
        v.setlb(-20.0)
        v.setub(20.0)
    m.conversion = pyo.Constraint(expr=m.A[1] <= BATCH["A_max"])
    m.yield_ = pyo.Constraint(expr=m.B[1] >= BATCH["B_min"])
    return flexspace.ProcessModel(m, theta_p={"tb": m.tb}, theta_m={"k1": m.k1, "k2": m.k2},
                                  constraints={"conversion": m.conversion, "yield": m.yield_},
                                  covariance=BATCH["covariance"], theta_p_bounds=BATCH["tp_bounds"], name="batch")


def g_batch(tp, th):
    k1, k2 = th[:, 0], th[:, 1]
    n = BATCH["nfe"]
    h = 1.0 / n
    A = np.ones_like(k1)
    B = np.zeros_like(k1)
    bad = np.zeros(k1.shape, bool)
    for _ in range(n):
        A = A / (1.0 + h * tp * k1)
        B = (B + h * tp * k1 * A) / (1.0 + h * tp * k2)
        bad |= (A < 0) | (A > 1) | (B < 0) | (B > 1)
    g = np.column_stack([A - BATCH["A_max"], BATCH["B_min"] - B])
    g[bad] = np.nan
    return g


# ============================================================================ (6) state on its bound
ONSTEP = dict(theta_m_nominal=[1.0], covariance=[[0.1 ** 2]], A_max=0.3, tps=[2.7, 3.0, 4.0], tp_bounds=[(1.0, 6.0)])


def build_onstep():
    """One implicit-Euler step from a fixed initial state A0 = 1 with physical bounds 0 <= A <= 1:
    the initial state sits on its bound for every θ (as in every batch model with c(0) = c_max).
    A1 (1 + tb k) = A0; CQA A1 <= 0.3."""
    import pyomo.environ as pyo

    import flexspace

    m = pyo.ConcreteModel()
    m.tb = pyo.Param(mutable=True, initialize=3.0)
    m.k = pyo.Param(mutable=True, initialize=1.0)
    m.A0 = pyo.Var(bounds=(0.0, 1.0), initialize=1.0)
    m.A1 = pyo.Var(bounds=(0.0, 1.0), initialize=0.3)
    m.ic = pyo.Constraint(expr=m.A0 == 1.0)
    m.step = pyo.Constraint(expr=m.A1 * (1 + m.tb * m.k) == m.A0)
    m.spec = pyo.Constraint(expr=m.A1 <= ONSTEP["A_max"])
    return flexspace.ProcessModel(m, theta_p={"tb": m.tb}, theta_m={"k": m.k}, constraints={"A_max": m.spec},
                                  covariance=ONSTEP["covariance"], theta_p_bounds=ONSTEP["tp_bounds"],
                                  name="onstep")


def g_onstep(tp, th):
    return (1.0 / (1.0 + tp * th[:, 0]) - ONSTEP["A_max"])[:, None]


def delta_onstep(tp, uset):
    k_c = (1.0 / ONSTEP["A_max"] - 1.0) / tp
    return (ONSTEP["theta_m_nominal"][0] - k_c) / math.sqrt(ONSTEP["covariance"][0][0])


def p_onstep(tp):
    return float(stats.norm.cdf(delta_onstep(tp, "box")))


# ============================================================================ registry
USER_MODELS: Dict[str, dict] = {
    "exp": dict(build=build_exp, data=EXP, g=g_exp, delta=delta_exp, p_true=p_exp),
    "series": dict(build=build_series, data=SERIES, g=g_series, delta=None, p_true=None),
    "hole": dict(build=build_hole, data=HOLE, g=g_hole, delta=delta_hole, p_true=p_hole),
    "hole_sym": dict(build=lambda: build_hole(symmetric=True), data=HOLE, g=g_hole, delta=delta_hole,
                     p_true=p_hole),
    "linear20": dict(build=build_linear, data=LINEAR, g=g_linear, delta=delta_linear, p_true=p_linear),
    "batch": dict(build=build_batch, data=BATCH, g=g_batch, delta=None, p_true=None),
    "onstep": dict(build=build_onstep, data=ONSTEP, g=g_onstep, delta=delta_onstep, p_true=p_onstep),
}


def reference_probability(name: str, tp: float, n: int = 200_000, seed: int = 12345):
    """(p, standard error) that every CQA holds at θp: exact when a closed form exists, else a
    vectorised numpy Monte Carlo with n samples (no-solution samples count as infeasible)."""
    spec = USER_MODELS[name]
    if spec["p_true"] is not None:
        return spec["p_true"](tp), 0.0
    d = spec["data"]
    mean = np.asarray(d["theta_m_nominal"], float)
    C = np.linalg.cholesky(np.asarray(d["covariance"], float))
    rng = np.random.default_rng(seed)
    th = mean + rng.standard_normal((n, mean.size)) @ C.T
    g = spec["g"](tp, th)
    ok = np.all(np.isfinite(g), axis=1) & np.all(np.nan_to_num(g, nan=1.0) <= 0, axis=1)
    p = float(ok.mean())
    return p, float(math.sqrt(max(p * (1 - p), 1.0 / n) / n))


# ============================================================================ numeric δ (any model, n_m <= 2)
def _directions(n_m: int, uset: str, n_dir: int) -> np.ndarray:
    """Points u on the boundary of the unit set in standardised coordinates: the unit circle
    (ellipsoid, LDL) or the boundary of the square [−1, 1]² with its corners (box)."""
    if n_m == 1:
        return np.array([[-1.0], [1.0]])
    if uset == "box":
        t = np.linspace(-1.0, 1.0, n_dir // 4 + 1)
        one = np.ones_like(t)
        return np.unique(np.vstack([np.column_stack([t, one]), np.column_stack([t, -one]),
                                    np.column_stack([one, t]), np.column_stack([-one, t])]), axis=0)
    a = np.linspace(0.0, 2 * np.pi, n_dir, endpoint=False)
    return np.column_stack([np.cos(a), np.sin(a)])


def delta_reference(name: str, tp: float, uset: str, delta_max: float = 6.0, n_dir: int = 4000) -> float:
    """The flexibility index by brute force in numpy: along each ray θ̄ + r·M·u (M = Cholesky
    factor of Σ for ellipsoids, diag σ for the box) find the first r where some CQA is violated
    or the model has no solution (radial scan, then bisection); δ = the smallest such r, capped
    at δ_max.  For n_m <= 2 only."""
    spec = USER_MODELS[name]
    d = spec["data"]
    mean = np.asarray(d["theta_m_nominal"], float)
    cov = np.asarray(d["covariance"], float)
    M = np.diag(np.sqrt(np.diag(cov))) if uset == "box" else np.linalg.cholesky(cov)
    U = _directions(mean.size, uset, n_dir) @ M.T  # (D, n)

    def bad(r):  # r: (D,) radii -> violated or no solution at θ̄ + r u
        g = spec["g"](tp, mean + r[:, None] * U)
        return ~np.all(np.isfinite(g), axis=1) | np.any(np.nan_to_num(g, nan=1.0) > 0, axis=1)

    radii = np.linspace(0.0, delta_max, 1201)
    hit = np.stack([bad(np.full(U.shape[0], r)) for r in radii], axis=1)  # (D, R)
    any_hit = hit.any(axis=1)
    if not any_hit.any():
        return delta_max
    first = np.argmax(hit, axis=1)
    lo = np.where(any_hit, radii[np.maximum(first - 1, 0)], delta_max)
    hi = np.where(any_hit, radii[first], delta_max)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        b = bad(mid)
        hi = np.where(b & any_hit, mid, hi)
        lo = np.where(~b & any_hit, mid, lo)
    return float(min(np.min(hi[any_hit]), delta_max))
