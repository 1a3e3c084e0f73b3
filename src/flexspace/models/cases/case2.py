"""Case study 2: Michael addition in a steady-state CSTR (seed §3.2, Eli Lilly).

Species (order used everywhere): AH, B, A⁻, BH⁺, C, AC⁻, P.
Rates: r1 = k1·AH·B, r2 = k2·A⁻·C, r3 = k3·AC⁻, r4 = k4·AC⁻·AH, r5 = k5·AC⁻·BH⁺.
Balances: ``c_in,i − c_i + τ Σ_j ν_ij r_j = 0``; θp = (R, τ) with ``B,in = AH,in / R``;
θm = (k1..k5).

Sources: the seed's numbers (Laky et al., Processes 2019, 7, 96, §3.2) were lost in
extraction and were recovered from public code transcribing the same paper's model
(github.com/KennedyPutraKusumo/space_maximization, ``michael_addition/``, citing "Laky 2018"),
cross-checked with KIPET's Michael-addition example.  Nominal k, feeds
(AH,in = 0.3955, C,in = 0.25 mol/L), ranges ``R ∈ [10, 30]`` (21 points),
``τ ∈ [400, 1400]`` min (11 points) and the CQAs come from there:

* conversion of C ≥ 90 %: ``g_conv = (C + AC⁻) / C,in − 0.1 ≤ 0`` (unconverted fraction)
* ``g_AC = 1000 AC⁻ − 2 ≤ 0`` (AC⁻ ≤ 0.002 mol/L, written in mmol/L)

The CQAs are scaled by positive constants (so the sign of g, δ and the Monte Carlo
probability are unchanged) because solvers apply their feasibility tolerance (1e-8) to g
in absolute terms: AC⁻ moves by only ~2e-4 mol/L per σ of θm, so with g in mol/L a tolerance of
1e-8 is worth ~5e-5 in δ (measured: MAiNGO's enumeration and MINLP routes then disagreed
by 6e-5 to 2e-4).  Other absolute tolerances on g become tighter with it: the 1e-6 of
certification by sampling and Algorithm 3's ``eps_tol`` on χ are in these units.

**Covariance: one symmetric choice.**  As transcribed, entry (1,4) is +1.523e-3 and
entry (4,1) is −1.523e-3 (1-based).  We ship **−1.523e-3** for both.  Reason: sign
consistency of the correlation triads — ρ(k1,k5) > 0 and ρ(k4,k5) < 0 imply
ρ(k1,k4) < 0 for a consistent pattern, and ρ(k1,k3) < 0 with ρ(k3,k4) > 0 implies the
same.  Σ is positive definite with either sign; users can pass their own.

The vectorised simulator solves all samples at once by batched Newton in the five
reaction extents ξ (``c = c_in + ν ξ``, ``ξ = τ r(c)``), started from a
pseudo-transient-continuation solve at the nominal k for each θp.
"""
from __future__ import annotations

import functools

import numpy as np
import pyomo.environ as pyo

from ...errors import UnknownNameError
from ..base import ProcessModel

SPECIES = ("AH", "B", "Am", "BHp", "C", "ACm", "P")
#: Stoichiometry ν (species × reactions r1..r5) of the rates above (seed §3.2).
NU = np.array([
    [-1, 0, 0, -1, 0],
    [-1, 0, 0, 0, +1],
    [+1, -1, +1, +1, 0],
    [+1, 0, 0, 0, -1],
    [0, -1, +1, 0, 0],
    [0, +1, -1, -1, -1],
    [0, 0, 0, +1, +1],
], dtype=float)
#: Nominal rate constants k1..k5 (transcription of the seed's values, see module docstring).
K_NOMINAL = np.array([49.7796, 8.9316, 1.3177, 0.3109, 3.8781])
#: Covariance of k1..k5, symmetric version (entry (1,4)=(4,1)=−1.523e-3; see module docstring).
COVARIANCE = np.array([
    [1.005, -3.428e-4, -1.006e-3, -1.523e-3, 2.718e-3],
    [-3.428e-4, 0.412, -7.951e-4, -3.937e-3, 2.364e-3],
    [-1.006e-3, -7.951e-4, 3.224e-3, 1.466e-3, -2.4e-3],
    [-1.523e-3, -3.937e-3, 1.466e-3, 2.746e-3, -4.102e-3],
    [2.718e-3, 2.364e-3, -2.4e-3, -4.102e-3, 7.148e-3],
])
#: As transcribed (NOT symmetric) — kept to test that flexspace refuses it.
COVARIANCE_AS_TRANSCRIBED = COVARIANCE.copy()
COVARIANCE_AS_TRANSCRIBED[0, 3] = +1.523e-3
AH_IN = 0.3955
C_IN = 0.25
THETA_P_BOUNDS = np.array([[10.0, 30.0], [400.0, 1400.0]])
GRID_SHAPE = (21, 11)
#: display units of θp (labels only: the Pyomo model states no units; R is a ratio)
THETA_P_UNITS = {"tau": "min"}
#: Nominal θp for Algorithm 3 (ASSUMED, the seed's value was lost): a point deep inside the
#: p_c = 0.85 region — an Ipopt LDL-ellipsoid index scan of the seed's 21 x 11 grid gives δ ≥ 6
#: (capped) there; (20, 1100) is outside the region (δ = 2.67 < 2.90 needed for p_c = 0.85, n = 5).
THETA_P_NOMINAL = np.array([17.0, 1300.0])
#: Default cap on δ (σ units) for analyses of case 2 (ours): k̄4/σ4 = 0.3109/sqrt(2.746e-3)
#: = 5.93, so set(δ) for δ ≥ 5.93 contains k4 ≤ 0, where the model is undefined and no
#: sample can certify the region.  5.5 keeps every k > 0 (box and ellipsoid) and still means
#: P = 0.999987 (χ²₅ at 5.5²) — far above any p_c in use.
DELTA_MAX = 5.5


def feed(R):
    """Feed vector(s) (…, 7) for feed ratio R (AH,in / B,in)."""
    R = np.asarray(R, float)
    c = np.zeros(R.shape + (7,))
    c[..., 0] = AH_IN
    c[..., 1] = AH_IN / R
    c[..., 4] = C_IN
    return c


def rates(c, k):
    """r (…, 5) and ∂r/∂c (…, 5, 7)."""
    AH, B, Am, BHp, C, ACm = (c[..., i] for i in range(6))
    r = np.stack([k[..., 0] * AH * B, k[..., 1] * Am * C, k[..., 2] * ACm,
                  k[..., 3] * ACm * AH, k[..., 4] * ACm * BHp], axis=-1)
    J = np.zeros(c.shape[:-1] + (5, 7))
    J[..., 0, 0] = k[..., 0] * B
    J[..., 0, 1] = k[..., 0] * AH
    J[..., 1, 2] = k[..., 1] * C
    J[..., 1, 4] = k[..., 1] * Am
    J[..., 2, 5] = k[..., 2]
    J[..., 3, 5] = k[..., 3] * AH
    J[..., 3, 0] = k[..., 3] * ACm
    J[..., 4, 5] = k[..., 4] * BHp
    J[..., 4, 3] = k[..., 4] * ACm
    return r, J


def _residual(xi, cin, tau, k):
    c = cin + xi @ NU.T
    r, dr = rates(c, k)
    F = xi - tau[..., None] * r
    Jx = np.eye(5) - tau[..., None, None] * (dr @ NU)
    return F, Jx, c


def _ptc(cin, tau, k, iters=400, tol=1e-13):
    """Pseudo-transient continuation to the steady state (robust; used at nominal k)."""
    shape = cin.shape[:-1]
    c = cin.copy()
    h = np.full(shape, 1e-2) * tau
    f_old = None
    for _ in range(iters):
        r, dr = rates(c, k)
        f = (cin - c) / tau[..., None] + r @ NU.T
        nf = np.linalg.norm(f, axis=-1) * tau
        if np.all(nf < tol):
            break
        if f_old is not None:
            h = np.minimum(h * np.clip(f_old / np.maximum(nf, 1e-300), 0.2, 10.0), 1e12)
        f_old = nf
        A = np.eye(7) / h[..., None, None] + np.eye(7) / tau[..., None, None] - NU @ dr
        dc = np.linalg.solve(A, f[..., None])[..., 0]
        c = np.maximum(c + dc, 0.0)
    return c


def _extents(c, cin):
    """Least-squares extents ξ with c − c_in = ν ξ."""
    return np.linalg.lstsq(NU, (c - cin).reshape(-1, 7).T, rcond=None)[0].T.reshape(c.shape[:-1] + (5,))


def steady_state(R, tau, k, newton_iters=30, tol=1e-12):
    """Steady-state concentrations (N, 7) for θp = (R, τ) (scalars or (N,)) and k (N, 5).

    Batched Newton in the reaction extents, started from the nominal-k steady state
    (pseudo-transient continuation); samples where Newton does not converge are
    re-solved by continuation; rows that still fail are NaN."""
    k = np.atleast_2d(np.asarray(k, float))
    N = k.shape[0]
    R = np.broadcast_to(np.asarray(R, float), (N,))
    tau = np.broadcast_to(np.asarray(tau, float), (N,))
    cin = feed(R)
    # nominal solve once per distinct θp
    tp = np.stack([R, tau], axis=1)
    uniq, inv = np.unique(tp, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    c0 = _ptc(feed(uniq[:, 0]), uniq[:, 1].copy(), np.broadcast_to(K_NOMINAL, (uniq.shape[0], 5)).copy())
    xi = _extents(c0[inv], cin)
    conv = np.zeros(N, dtype=bool)
    for _ in range(newton_iters):
        F, Jx, c = _residual(xi, cin, tau, k)
        err = np.max(np.abs(F), axis=-1)
        conv = err < tol * (1.0 + np.max(np.abs(xi), axis=-1))
        if np.all(conv):
            break
        step = np.linalg.solve(Jx, F[..., None])[..., 0]
        # damp so that no concentration goes negative
        cs = step @ NU.T
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(cs > 0, c / cs, np.inf)
        alpha = np.minimum(1.0, 0.95 * np.min(ratio, axis=-1))
        xi = xi - alpha[..., None] * step
    c = cin + xi @ NU.T
    bad = ~conv | np.any(c < -1e-12, axis=-1) | ~np.all(np.isfinite(c), axis=-1)
    if np.any(bad):
        cb = _ptc(cin[bad], tau[bad].copy(), k[bad])
        c[bad] = cb
        F, _, _ = _residual(_extents(cb, cin[bad]), cin[bad], tau[bad], k[bad])
        still = np.max(np.abs(F), axis=-1) > 1e-9
        idx = np.flatnonzero(bad)[still]
        c[idx] = np.nan
    c[np.any(k <= 0, axis=1)] = np.nan  # rate constants must be positive
    return c


def cqa_from_state(c) -> np.ndarray:
    """g (N, 2) = (g_conv, g_AC) from states (N, 7)."""
    return np.stack([(c[:, 4] + c[:, 5]) / C_IN - 0.1, 1e3 * c[:, 5] - 2.0], axis=1)


def simulator(theta_p, theta_m) -> np.ndarray:
    """Vectorised simulator: θp (2,) or (N, 2), θm (N, 5) -> g (N, 2); NaN rows = failed."""
    tp = np.asarray(theta_p, float)
    tm = np.atleast_2d(np.asarray(theta_m, float))
    return cqa_from_state(steady_state(tp[..., 0], tp[..., 1], tm))


def _rate_rule(m, j):
    c, k = m.c, m.k
    return {1: k[1] * c["AH"] * c["B"], 2: k[2] * c["Am"] * c["C"], 3: k[3] * c["ACm"],
            4: k[4] * c["ACm"] * c["AH"], 5: k[5] * c["ACm"] * c["BHp"]}[j]


def _balance_rule(m, s):
    i = SPECIES.index(s)
    cin = {"AH": AH_IN, "B": AH_IN / m.R, "C": C_IN}.get(s, 0.0)
    return cin - m.c[s] + m.tau * sum(float(NU[i, j - 1]) * m.r[j] for j in m.J if NU[i, j - 1] != 0) == 0


def build_pyomo(R: float = 20.0, tau: float = 1100.0) -> pyo.ConcreteModel:
    """Pyomo model of case 2; states bounded by their conserved moieties (A, B, C)."""
    m = pyo.ConcreteModel(name="case2_michael_addition")
    m.S = pyo.Set(initialize=SPECIES, ordered=True)
    m.J = pyo.RangeSet(1, 5)
    m.R = pyo.Param(mutable=True, initialize=R)
    m.tau = pyo.Param(mutable=True, initialize=tau)
    m.k = pyo.Param(m.J, mutable=True, initialize={j: float(K_NOMINAL[j - 1]) for j in range(1, 6)})
    b_max = AH_IN / THETA_P_BOUNDS[0, 0]
    ub = {"AH": AH_IN, "B": b_max, "Am": min(AH_IN, C_IN + b_max), "BHp": b_max, "C": C_IN,
          "ACm": C_IN, "P": C_IN}
    c0 = dict(zip(SPECIES, _ptc(feed(np.array([R])), np.array([tau]), K_NOMINAL[None, :].copy())[0]))
    # plain dicts (no lambdas) so that the model pickles for process pools
    m.c = pyo.Var(m.S, bounds={s: (0.0, ub[s]) for s in SPECIES}, initialize={s: float(c0[s]) for s in SPECIES})
    m.r = pyo.Expression(m.J, rule=_rate_rule)
    m.balance = pyo.Constraint(m.S, rule=_balance_rule)
    m.g_conv = pyo.Expression(expr=(m.c["C"] + m.c["ACm"]) / C_IN - 0.1)  # scaled: see module docstring
    m.g_AC = pyo.Expression(expr=1e3 * m.c["ACm"] - 2.0)
    return m


def build_pyomo_reduced(R: float = 20.0, tau: float = 1100.0) -> pyo.ConcreteModel:
    """Reduced-space Pyomo model of case 2: three states (BH⁺, AC⁻, P), three balances.

    The same steady state as :func:`build_pyomo`, written for global solvers.  The
    stoichiometric matrix has rank 3 (column r4 = r1 + r5, r3 = −r2), so four moieties
    are conserved and give the other four species explicitly (our derivation, exact):

    * B:      ``B  = B,in − BH⁺``
    * C:      ``C  = C,in − AC⁻ − P``
    * H:      ``AH = AH,in − BH⁺ − P``
    * charge: ``A⁻ = BH⁺ − AC⁻``

    The balances of BH⁺, AC⁻ and P close the system; ``A⁻ ≥ 0``, ``B ≥ 0`` and
    ``C ≥ 0`` (variable bounds in the full model) become inequalities and select the
    physical root (the AC⁻ balance has a second root with A⁻ < 0 and C < 0).

    Measured here (MAiNGO, gap 1e-5, scaled CQAs): box, ellipsoid and LDL flexibility
    indices take 0.3–1.6 s at (20, 1100) and (16, 1000), against time-outs (60 s) on the
    seven-state model; a one-state form with h and P eliminated by the quadratic formula
    took 47–79 s or timed out (the state occurs many times in one expression, which
    weakens the McCormick relaxations).  CQAs (scaled as in the module docstring):
    ``g_conv = (C + AC⁻) / C,in − 0.1 = 0.9 − P / C,in``, ``g_AC = 1000 AC⁻ − 2``."""
    m = pyo.ConcreteModel(name="case2_michael_addition_reduced")
    m.R = pyo.Param(mutable=True, initialize=R)
    m.tau = pyo.Param(mutable=True, initialize=tau)
    m.k = pyo.Param(pyo.RangeSet(1, 5), mutable=True, initialize={j: float(K_NOMINAL[j - 1]) for j in range(1, 6)})
    c0 = _ptc(feed(np.array([R])), np.array([tau]), K_NOMINAL[None, :].copy())[0]
    b_max = AH_IN / THETA_P_BOUNDS[0, 0]
    m.BHp = pyo.Var(bounds=(0.0, b_max), initialize=float(c0[3]))
    m.ACm = pyo.Var(bounds=(0.0, b_max), initialize=float(c0[5]))  # AC⁻ <= BH⁺ <= B,in (charge)
    m.P = pyo.Var(bounds=(0.0, C_IN), initialize=float(c0[6]))
    k, tau_, h, x, p = m.k, m.tau, m.BHp, m.ACm, m.P
    m.AH = pyo.Expression(expr=AH_IN - h - p)
    m.B = pyo.Expression(expr=AH_IN / m.R - h)
    m.Am = pyo.Expression(expr=h - x)
    m.C = pyo.Expression(expr=C_IN - x - p)
    m.balance_BHp = pyo.Constraint(expr=h * (1.0 + tau_ * k[5] * x) == tau_ * k[1] * m.AH * m.B)
    m.balance_ACm = pyo.Constraint(
        expr=x * (1.0 + tau_ * k[3] + tau_ * k[4] * m.AH + tau_ * k[5] * h) == tau_ * k[2] * m.Am * m.C)
    m.balance_P = pyo.Constraint(expr=p == tau_ * x * (k[4] * m.AH + k[5] * h))
    m.Am_nonneg = pyo.Constraint(expr=m.Am >= 0)
    m.B_nonneg = pyo.Constraint(expr=m.B >= 0)
    m.C_nonneg = pyo.Constraint(expr=m.C >= 0)
    m.g_conv = pyo.Expression(expr=0.9 - p / C_IN)
    m.g_AC = pyo.Expression(expr=1e3 * x - 2.0)
    return m


def model(covariance=None, formulation: str = "full") -> ProcessModel:
    """Case 2 as a :class:`ProcessModel` (with its batched-Newton vectorised simulator).

    ``formulation="full"`` (default): the seven balances of the seed;
    ``"reduced"``: three states and three balances (see :func:`build_pyomo_reduced`), the
    form on which MAiNGO proves the flexibility index."""
    if formulation not in ("full", "reduced"):
        raise UnknownNameError(f"case2: formulation must be one of ['full', 'reduced'], got {formulation!r}")
    m = (build_pyomo if formulation == "full" else build_pyomo_reduced)(*THETA_P_NOMINAL)
    return ProcessModel(
        m,
        theta_p={"R": m.R, "tau": m.tau},
        theta_m={f"k{j}": m.k[j] for j in range(1, 6)},
        constraints={"conversion": m.g_conv, "ACm": m.g_AC},
        covariance=COVARIANCE if covariance is None else covariance,
        theta_m_nominal=K_NOMINAL,
        theta_p_nominal=THETA_P_NOMINAL,
        theta_p_bounds=THETA_P_BOUNDS,
        simulator=simulator,
        name="case2" if formulation == "full" else "case2_reduced",
        description="Michael addition in a steady-state CSTR (Laky et al. 2019, §3.2)",
        sources="public transcription of the seed's model (see flexspace.models.cases.case2)",
        delta_max=DELTA_MAX,
        grid_shape=GRID_SHAPE,
        factory=functools.partial(model, covariance=covariance, formulation=formulation),
        theta_p_units=THETA_P_UNITS,
    )
