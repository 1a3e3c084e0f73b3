"""Case study 1: simple reaction network in a steady-state CSTR (seed §3.1).

A + B → C (r1 = k1 cA cB), C → D + E (r2 = k2 cC).  Process parameters θp = (R_BA, τ),
uncertain parameters θm = (k1, k2).

Sources:

* Structure, feed ``cA,in = 0.53 mol/L``, ``cB,in = 0.53 R_BA``, CQAs (yield ≥ 0.9,
  purity ratio ≥ 0.2) and the θp grid ``R_BA ∈ [4, 6]`` (11 points), ``τ ∈ [350, 550] s``
  (21 points): Laky et al., Processes 2019, 7, 96, §3.1 (after Chen et al. 2016).
* Nominal ``k = (0.31051, 0.026650)``: the seed, §3.1.
* **Covariance of (k1, k2): a RECONSTRUCTION.** The seed's matrix was lost in
  extraction.  We ship a diagonal Σ with a coefficient of variation of 11 % on both
  rate constants (σ_k1 = 0.0341561, σ_k2 = 0.0029315), chosen by
  ``benchmarks/calibrate_case1_covariance.py`` against the seed's two facts (§3.1): at
  p_c = 0.85 the lower τ boundary is "about 375" s for Monte Carlo and "about 425" s for
  the flexibility methods.  Over cv ∈ [0.06, 0.14] the best fit, cv = 0.110, gives
  381.4 s (Monte Carlo), 429.8 s (ellipsoid) and 418.9 s (box), at R_BA = 4.0 (output
  in ``benchmarks/calibrate_case1_covariance.out.md``).  A diagonal Gaussian cannot hit
  both facts exactly: the yield constraint depends on k2 alone, so both boundaries are
  fixed by σ_k2 and their ratio is fixed.

CQAs are written multiplied out so that they have no division (global solvers need
bounded relaxations), with the same sign as the seed's ratios (cA,in − cA > 0 and
cA + cB + cC > 0 at every steady state):

* ``g_yield  = 0.9 (cA,in − cA) − cD ≤ 0``  ⇔  cD / (cA,in − cA) ≥ 0.9
* ``g_purity = 0.2 (cA + cB + cC) − cD ≤ 0``  ⇔  cD / (cA + cB + cC) ≥ 0.2

The flexibility index δ depends only on the sign of g, so it is the same as with the
seed's ratio form; χ values of the flexibility test are scaled differently.

Units: the Pyomo model states none (its rate expressions are written in the seed's numbers,
mol/L and s, without Pyomo units).  τ's unit is given for display only,
``ProcessModel(theta_p_units={"tau": "s"})``: axis labels read ``tau [s]``; R_BA is a ratio
(dimensionless, no label).
"""
from __future__ import annotations

import functools

import numpy as np
import pyomo.environ as pyo

from ...errors import UnknownNameError
from ..base import ProcessModel

#: Nominal rate constants (k1, k2), seed §3.1.
K_NOMINAL = np.array([0.31051, 0.026650])
#: RECONSTRUCTED covariance of (k1, k2): diagonal, 11 % coefficient of variation, calibrated by
#: benchmarks/calibrate_case1_covariance.py (see module docstring).
COVARIANCE = np.diag((0.11 * K_NOMINAL) ** 2)
#: Feed concentration of A (mol/L), seed §3.1.
CA_IN = 0.53
#: θp ranges and grid sizes, seed §3.1.
THETA_P_BOUNDS = np.array([[4.0, 6.0], [350.0, 550.0]])
GRID_SHAPE = (11, 21)
#: display units of θp (labels only; the Pyomo model states no units, see the module docstring)
THETA_P_UNITS = {"tau": "s"}
#: Nominal θp used by Algorithm 3: the "safe" upper-left corner region of the seed's figures
#: (low R_BA, high τ); an assumed value, chosen inside the seed's Fig. 1 region.
THETA_P_NOMINAL = np.array([4.6, 500.0])


def steady_state(R_BA, tau, k1, k2):
    """Closed-form steady state (broadcasting numpy arrays) -> (cA, cB, cC, cD).

    cB = cA + (cB,in − cA,in); cA solves τ k1 cA² + (1 + τ k1 Δ) cA − cA,in = 0
    (the stable root, written without cancellation); cC = τ r1 / (1 + τ k2); cD = τ k2 cC."""
    R_BA, tau, k1, k2 = np.broadcast_arrays(*(np.asarray(x, float) for x in (R_BA, tau, k1, k2)))
    cb_in = CA_IN * R_BA
    d = cb_in - CA_IN
    a = tau * k1
    b = 1.0 + a * d
    with np.errstate(invalid="ignore", divide="ignore"):
        cA = 2.0 * CA_IN / (b + np.sqrt(b * b + 4.0 * a * CA_IN))
    cB = cA + d
    r1 = k1 * cA * cB
    cC = tau * r1 / (1.0 + tau * k2)
    cD = tau * k2 * cC
    bad = ~((k1 > 0) & (k2 >= 0) & (tau > 0) & np.isfinite(cA))
    if np.any(bad):
        for arr in (cA, cB, cC, cD):
            arr[bad] = np.nan
    return cA, cB, cC, cD


def cqa(R_BA, tau, k1, k2) -> np.ndarray:
    """g (…, 2) = (g_yield, g_purity); feasible ⇔ g ≤ 0; NaN where the model is undefined."""
    cA, cB, cC, cD = steady_state(R_BA, tau, k1, k2)
    return np.stack([0.9 * (CA_IN - cA) - cD, 0.2 * (cA + cB + cC) - cD], axis=-1)


def simulator(theta_p, theta_m) -> np.ndarray:
    """Vectorised simulator for :class:`ProcessModel`: θp (2,) or (N, 2), θm (N, 2) -> g (N, 2)."""
    tp = np.asarray(theta_p, float)
    tm = np.atleast_2d(np.asarray(theta_m, float))
    return cqa(tp[..., 0], tp[..., 1], tm[:, 0], tm[:, 1])


def build_pyomo(R_BA: float = 4.6, tau: float = 500.0) -> pyo.ConcreteModel:
    """The Pyomo model h(θp, x, θm) = 0 of case 1 with CQA expressions g_yield, g_purity.

    State bounds are physical (each concentration between 0 and its feed moiety), so a
    global solver can read the model."""
    m = pyo.ConcreteModel(name="case1_cstr")
    m.R_BA = pyo.Param(mutable=True, initialize=R_BA)
    m.tau = pyo.Param(mutable=True, initialize=tau)
    m.k1 = pyo.Param(mutable=True, initialize=float(K_NOMINAL[0]))
    m.k2 = pyo.Param(mutable=True, initialize=float(K_NOMINAL[1]))
    cb_max = CA_IN * THETA_P_BOUNDS[0, 1] * 2.0
    m.cA = pyo.Var(bounds=(0.0, CA_IN), initialize=0.01)
    m.cB = pyo.Var(bounds=(0.0, cb_max), initialize=CA_IN * R_BA - CA_IN)
    m.cC = pyo.Var(bounds=(0.0, CA_IN), initialize=0.05)
    m.cD = pyo.Var(bounds=(0.0, CA_IN), initialize=0.45)
    m.cE = pyo.Var(bounds=(0.0, CA_IN), initialize=0.45)
    m.r1 = pyo.Expression(expr=m.k1 * m.cA * m.cB)
    m.r2 = pyo.Expression(expr=m.k2 * m.cC)
    m.bal_A = pyo.Constraint(expr=CA_IN - m.cA - m.tau * m.r1 == 0)
    m.bal_B = pyo.Constraint(expr=CA_IN * m.R_BA - m.cB - m.tau * m.r1 == 0)
    m.bal_C = pyo.Constraint(expr=-m.cC + m.tau * (m.r1 - m.r2) == 0)
    m.bal_D = pyo.Constraint(expr=-m.cD + m.tau * m.r2 == 0)
    m.bal_E = pyo.Constraint(expr=-m.cE + m.tau * m.r2 == 0)
    m.g_yield = pyo.Expression(expr=0.9 * (CA_IN - m.cA) - m.cD)
    m.g_purity = pyo.Expression(expr=0.2 * (m.cA + m.cB + m.cC) - m.cD)
    return m


def build_pyomo_reduced(R_BA: float = 4.6, tau: float = 500.0) -> pyo.ConcreteModel:
    """Reduced-space Pyomo model of case 1: the closed-form steady state as explicit
    expressions (no state variables, no equations).  Same model, written for global solvers
    that work in reduced space: MAiNGO proves the flexibility index at points where the
    full-space model times out (measured at R_BA = 4.2, τ = 380: 0.5 s vs > 20 s)."""
    m = pyo.ConcreteModel(name="case1_cstr_reduced")
    m.R_BA = pyo.Param(mutable=True, initialize=R_BA)
    m.tau = pyo.Param(mutable=True, initialize=tau)
    m.k1 = pyo.Param(mutable=True, initialize=float(K_NOMINAL[0]))
    m.k2 = pyo.Param(mutable=True, initialize=float(K_NOMINAL[1]))
    a = m.tau * m.k1
    d = CA_IN * m.R_BA - CA_IN
    b = 1.0 + a * d
    m.cA = pyo.Expression(expr=2.0 * CA_IN / (b + pyo.sqrt(b * b + 4.0 * a * CA_IN)))
    m.cB = pyo.Expression(expr=m.cA + d)
    m.cC = pyo.Expression(expr=m.tau * m.k1 * m.cA * m.cB / (1.0 + m.tau * m.k2))
    m.cD = pyo.Expression(expr=m.tau * m.k2 * m.cC)
    m.g_yield = pyo.Expression(expr=0.9 * (CA_IN - m.cA) - m.cD)
    m.g_purity = pyo.Expression(expr=0.2 * (m.cA + m.cB + m.cC) - m.cD)
    return m


def model(covariance=None, formulation: str = "full") -> ProcessModel:
    """Case 1 as a :class:`ProcessModel` (with its closed-form vectorised simulator).

    ``formulation="full"`` (default): states and the five balances of the seed;
    ``"reduced"``: the closed-form steady state as expressions (see :func:`build_pyomo_reduced`)."""
    if formulation not in ("full", "reduced"):
        raise UnknownNameError(f"case1: formulation must be one of ['full', 'reduced'], got {formulation!r}")
    m = (build_pyomo if formulation == "full" else build_pyomo_reduced)(*THETA_P_NOMINAL)
    return ProcessModel(
        m,
        theta_p={"R_BA": m.R_BA, "tau": m.tau},
        theta_m={"k1": m.k1, "k2": m.k2},
        constraints={"yield": m.g_yield, "purity": m.g_purity},
        covariance=COVARIANCE if covariance is None else covariance,
        theta_m_nominal=K_NOMINAL,
        theta_p_nominal=THETA_P_NOMINAL,
        theta_p_bounds=THETA_P_BOUNDS,
        simulator=simulator,
        name="case1" if formulation == "full" else "case1_reduced",
        description="Simple reaction A+B->C->D+E in a steady-state CSTR (Laky et al. 2019, §3.1)",
        sources="seed §3.1; covariance is a reconstruction (11 % CV, diagonal, calibrated)",
        grid_shape=GRID_SHAPE,
        factory=functools.partial(model, covariance=covariance, formulation=formulation),
        theta_p_units=THETA_P_UNITS,
    )
