"""Case study 3: saponification of ethyl acetate in an IDAES CSTR (an IDAES flowsheet, unedited
except for the uncertain kinetics).

NaOH + EthylAcetate → SodiumAcetate + Ethanol, r = k(T) c_NaOH c_EA, k = k0 exp(−Ea / (R T)),
in a steady-state, adiabatic ``idaes.models.unit_models.CSTR`` with IDAES's example property
and reaction packages (``idaes.models.properties.examples.saponification_thermo`` and
``saponification_reactions``).  The flowsheet is IDAES's own; flexspace reads it as it is.

* θp = (reactor volume V [m³], feed temperature T_in [K]): the CSTR's ``volume`` and the inlet
  ``temperature``, fixed Vars of the flowsheet;
* θm = (k0 [10⁶ m³/(mol·s)], Ea [kJ/mol]): IDAES declares them as immutable Params, so the case
  adds two fixed Vars and writes the package's own Arrhenius equation on them (the one edit).
  The units are chosen so that θm is of order 1–100: flexspace does not rescale θm itself, and
  in SI units (k0 ≈ 3e6) SCIP hit its 60 s time limit at (V, T_in) = (1.5e-3, 310) where the
  scaled form takes 0.8 s (measured);
* CQAs: conversion of NaOH ≥ ``X_MIN``; outlet temperature ≤ ``T_MAX``.

Sources:

* k0 = 3.132e6 m³/mol/s, Ea = 43 000 J/mol, ΔH_r = −49 000 J/mol, ρ = 55 388 mol/m³,
  c_p = 75.327 J/mol/K: IDAES ``saponification_reactions.py`` / ``saponification_thermo.py``
  (IDAES-PSE 2.x), R = 8.314462618 J/mol/K (``idaes.core.util.constants``);
* feed 1e-3 m³/s, 100 mol/m³ NaOH and ethyl acetate, water 55 388 mol/m³, 101 325 Pa, no heat
  transfer: IDAES's CSTR example and tests (``idaes/models/unit_models/tests/test_cstr.py``);
* **Σ of (k0, Ea) is an ASSUMPTION** (no source gives one): independent, 10 % coefficient
  of variation on k0 and 1 % on Ea (430 J/mol, a typical standard error of an Arrhenius fit),
  which moves k(303 K) by about ±20 % at 1 σ;
* CQA limits X_MIN = 0.8, T_MAX = 315 K and the θp ranges V ∈ [0.5, 3] L, T_in ∈ [298.15,
  318.15] K are **our choices** (the package's temperature bounds are [298.15, 323.15] K),
  made so that both CQAs bound the design space inside the map range.

The model's domain is every θ up to δ_max (``domain_everywhere=True``, proven here, not
assumed): with k0 > 0 (k0 ≥ 0.4·k̄0 within 6 σ at 10 % CV), f(c) = F (c0 − c) − V k(T(c)) c²
is continuous with f(0) = F c0 > 0 and f(c0) = −V k c0² < 0, so a steady state c ∈ (0, c0)
exists; then T_out ∈ [T_in, T_in + c0·(−ΔH)/(ρ c_p)] = [T_in, T_in + 1.17 K] lies inside the
package's [298.15, 323.15] K for every T_in of the map, and every outlet concentration lies
in [0, c0] (products: c0 − c), inside the bounds below.  (The global domain proof's singular
Jacobian check hit SCIP's time limit on this flowsheet, measured.)

The vectorised :func:`simulator` is the same steady state solved in numpy: the energy balance
makes T linear in c (T = T_in + (c0 − c)(−ΔH)/(ρ c_p)), leaving one equation in c_NaOH, solved
by a safeguarded Newton iteration on [0, c0].
"""
from __future__ import annotations

import functools

import numpy as np
import pyomo.environ as pyo

from ...errors import UnknownNameError
from ..base import ProcessModel

#: Arrhenius constants (k0 [10⁶ m³/(mol·s)], Ea [kJ/mol]): IDAES saponification_reactions.py
#: (3.132e6 m³/mol/s, 43 000 J/mol); ``THETA_M_SI`` converts θm to SI.
THETA_M_NOMINAL = np.array([3.132, 43.0])
THETA_M_SI = np.array([1e6, 1e3])
#: ASSUMED Σ of (k0, Ea): 10 % and 1 % coefficients of variation, independent (module docstring).
COVARIANCE = np.diag((np.array([0.10, 0.01]) * THETA_M_NOMINAL) ** 2)
#: heat of reaction [J/mol], molar density [mol/m³], heat capacity [J/mol/K]: IDAES packages.
DH_RXN, RHO, CP = -49000.0, 55388.0, 75.327
#: gas constant [J/mol/K]: idaes.core.util.constants.
R_GAS = 8.314462618
#: feed: flow [m³/s], NaOH = ethyl acetate [mol/m³], pressure [Pa]: IDAES's CSTR example/tests.
FLOW, C_FEED, PRESSURE = 1e-3, 100.0, 101325.0
#: CQA limits: conversion ≥ X_MIN, outlet temperature ≤ T_MAX [K] (our choices).
X_MIN, T_MAX = 0.8, 315.0
#: θp = (V [m³], T_in [K]): nominal (Algorithm 3's start) and map ranges (our choices; the nominal
#: lies inside the 0.85 region, away from its edges: from (2.0e-3, 306), on the edge, Algorithm 3's
#: rectangle had δp = 0.02, from here 0.27, measured).
THETA_P_NOMINAL = np.array([2.6e-3, 308.0])
THETA_P_BOUNDS = np.array([[0.5e-3, 3.0e-3], [298.15, 318.15]])
GRID_SHAPE = (11, 11)
#: temperature rise per mol/m³ converted [K·m³/mol] (adiabatic energy balance)
_RISE = -DH_RXN / (RHO * CP)


def steady_state(V, T_in, k0, Ea, iterations: int = 60):
    """c_NaOH and T_out (broadcast numpy arrays) at steady state: F (c0 − c) = V k(T) c²,
    T = T_in + (c0 − c)·(−ΔH)/(ρ c_p); Newton on c with bisection safeguards."""
    V, T_in, k0, Ea = np.broadcast_arrays(*(np.asarray(x, float) for x in (V, T_in, k0, Ea)))
    lo, hi = np.zeros(V.shape), np.full(V.shape, C_FEED)
    c = np.full(V.shape, 0.5 * C_FEED)

    def f_df(c):
        T = T_in + (C_FEED - c) * _RISE
        k = k0 * np.exp(-Ea / (R_GAS * T))  # SI
        dk = k * Ea / (R_GAS * T * T) * (-_RISE)  # dk/dc
        return FLOW * (C_FEED - c) - V * k * c * c, -FLOW - V * (dk * c * c + 2.0 * k * c)

    with np.errstate(all="ignore"):
        for _ in range(iterations):
            f, df = f_df(c)
            lo = np.where(f > 0, c, lo)  # f decreases in c: the root is above c where f > 0
            hi = np.where(f <= 0, c, hi)
            step = c - f / df
            c = np.where((step > lo) & (step < hi) & np.isfinite(step), step, 0.5 * (lo + hi))
        T = T_in + (C_FEED - c) * _RISE
        bad = ~((V > 0) & (k0 > 0) & np.isfinite(c))
    c, T = np.where(bad, np.nan, c), np.where(bad, np.nan, T)
    return c, T


def cqa(V, T_in, k0, Ea) -> np.ndarray:
    """g (…, 2) = (conversion, outlet temperature); feasible ⇔ g ≤ 0; k0, Ea in θm's units."""
    c, T = steady_state(V, T_in, k0 * THETA_M_SI[0], Ea * THETA_M_SI[1])
    return np.stack([X_MIN - (1.0 - c / C_FEED), T - T_MAX], axis=-1)


def simulator(theta_p, theta_m) -> np.ndarray:
    """Vectorised simulator: θp (2,) or (N, 2), θm (N, 2) → g (N, 2)."""
    tp = np.asarray(theta_p, float)
    tm = np.atleast_2d(np.asarray(theta_m, float))
    return cqa(tp[..., 0], tp[..., 1], tm[:, 0], tm[:, 1])


def build_flowsheet(V: float = THETA_P_NOMINAL[0], T_in: float = THETA_P_NOMINAL[1],
                    idaes_scaling: bool = False) -> pyo.ConcreteModel:
    """The IDAES flowsheet: a CSTR on the saponification packages, inlet and volume fixed,
    adiabatic, θm as fixed Vars ``fs.k0`` and ``fs.Ea`` in the package's Arrhenius equation,
    CQA expressions ``fs.g_conversion`` and ``fs.g_temperature``; initialised from the numpy
    steady state.  ``idaes_scaling``: IDAES's ``calculate_scaling_factors`` adds its
    ``scaling_factor`` suffixes (Ipopt then solves with them, ``nlp_scaling_method =
    user-scaling``)."""
    from idaes.core import FlowsheetBlock
    from idaes.models.properties.examples.saponification_reactions import SaponificationReactionParameterBlock
    from idaes.models.properties.examples.saponification_thermo import SaponificationParameterBlock
    from idaes.models.unit_models import CSTR

    m = pyo.ConcreteModel(name="case3_saponification_cstr")
    m.fs = FlowsheetBlock(dynamic=False)
    m.fs.thermo = SaponificationParameterBlock()
    m.fs.rxn = SaponificationReactionParameterBlock(property_package=m.fs.thermo)
    m.fs.cstr = c = CSTR(property_package=m.fs.thermo, reaction_package=m.fs.rxn, has_equilibrium_reactions=False,
                         has_heat_of_reaction=True, has_heat_transfer=True, has_pressure_change=False)
    inlet = c.inlet
    inlet.flow_vol[0].fix(FLOW)
    for comp, conc in (("H2O", RHO), ("NaOH", C_FEED), ("EthylAcetate", C_FEED), ("SodiumAcetate", 0.0),
                       ("Ethanol", 0.0)):
        inlet.conc_mol_comp[0, comp].fix(conc)
    inlet.temperature[0].fix(T_in)
    inlet.pressure[0].fix(PRESSURE)
    c.volume[0].fix(V)
    c.heat_duty[0].fix(0.0)
    u = pyo.units
    m.fs.k0 = pyo.Var(initialize=float(THETA_M_NOMINAL[0]))  # [10⁶ m³/(mol·s)]
    m.fs.Ea = pyo.Var(initialize=float(THETA_M_NOMINAL[1]), units=u.kJ / u.mol)
    m.fs.k0.fix()
    m.fs.Ea.fix()
    rb = c.control_volume.reactions[0]
    rb.arrhenius_eqn.deactivate()
    t_out = c.control_volume.properties_out[0].temperature
    r_gas = R_GAS * u.J / u.mol / u.K
    k0 = m.fs.k0 * THETA_M_SI[0] * u.m ** 3 / u.mol / u.s
    m.fs.arrhenius_theta = pyo.Constraint(
        expr=rb.k_rxn == k0 * pyo.exp(-u.convert(m.fs.Ea, to_units=u.J / u.mol) / (r_gas * t_out)))
    # physical ranges for global solvers (IDAES declares concentrations >= 0 only, and Pyomo's
    # FBBT cannot bound k·c·c from [0, inf) intervals: 0·inf is NaN): by the mass balance no
    # outlet concentration exceeds twice its feed's (solutes: 2·c0; water: 2·ρ); never active
    for j, v in c.control_volume.properties_out[0].conc_mol_comp.items():
        v.setub(2.0 * (RHO if j == "H2O" else C_FEED))
    cn = c.control_volume.properties_out[0].conc_mol_comp["NaOH"]
    m.fs.g_conversion = pyo.Expression(expr=X_MIN - (1.0 - cn / (C_FEED * u.mol / u.m ** 3)))
    m.fs.g_temperature = pyo.Expression(expr=t_out - T_MAX * u.K)
    _initialise(m)
    if idaes_scaling:
        import logging

        import idaes.core.util.scaling as iscale

        log = logging.getLogger("idaes.core.util.scaling")
        level = log.level
        log.setLevel(logging.ERROR)  # its missing-factor warnings
        try:
            # the case's own Arrhenius equation: residual of the order of k (~0.1 m³/mol/s)
            iscale.set_scaling_factor(m.fs.arrhenius_theta, 10.0)
            iscale.calculate_scaling_factors(m)
        finally:
            log.setLevel(level)
    return m


def _initialise(m) -> None:
    """Start values from the numpy steady state at the nominal θ (IDAES's own initialiser
    needs an ``ipopt`` executable; flexspace solves every point itself)."""
    c = m.fs.cstr
    V, T_in = pyo.value(c.volume[0]), pyo.value(c.inlet.temperature[0])
    k0, Ea = THETA_M_NOMINAL * THETA_M_SI
    cn, T = (float(x) for x in steady_state(V, T_in, k0, Ea))
    out = c.control_volume.properties_out[0]
    out.flow_vol.set_value(FLOW)
    out.temperature.set_value(T)
    out.pressure.set_value(PRESSURE)
    conv = C_FEED - cn
    for comp, conc in (("H2O", RHO), ("NaOH", cn), ("EthylAcetate", cn), ("SodiumAcetate", conv),
                       ("Ethanol", conv)):
        out.conc_mol_comp[comp].set_value(conc)
    rb = c.control_volume.reactions[0]
    k = k0 * np.exp(-Ea / (R_GAS * T))
    rb.k_rxn.set_value(float(k))
    rate = float(k * cn * cn)
    rb.reaction_rate["R1"].set_value(rate)
    c.control_volume.rate_reaction_extent[0, "R1"].set_value(rate * V)
    for comp, nu in (("H2O", 0), ("NaOH", -1), ("EthylAcetate", -1), ("SodiumAcetate", 1), ("Ethanol", 1)):
        c.control_volume.rate_reaction_generation[0, "Liq", comp].set_value(nu * rate * V)


def model(covariance=None, formulation: str = "full", idaes_scaling: bool = False) -> ProcessModel:
    """Case 3 as a :class:`ProcessModel`: the IDAES flowsheet with its numpy simulator
    (``idaes_scaling``: see :func:`build_flowsheet`)."""
    if formulation != "full":
        raise UnknownNameError(f"case3: formulation must be one of ['full'] (the IDAES flowsheet), "
                               f"got {formulation!r}")
    m = build_flowsheet(idaes_scaling=idaes_scaling)
    c = m.fs.cstr
    return ProcessModel(
        m,
        theta_p={"V": c.volume[0], "T_in": c.inlet.temperature[0]},
        theta_m={"k0": m.fs.k0, "Ea": m.fs.Ea},
        constraints={"conversion": m.fs.g_conversion, "temperature": m.fs.g_temperature},
        covariance=COVARIANCE if covariance is None else covariance,
        theta_m_nominal=THETA_M_NOMINAL,
        theta_p_nominal=THETA_P_NOMINAL,
        theta_p_bounds=THETA_P_BOUNDS,
        simulator=simulator,
        name="case3",
        description="Saponification of ethyl acetate in an IDAES CSTR (IDAES example packages)",
        sources="IDAES saponification packages and CSTR example; covariance and CQA limits are assumptions",
        grid_shape=GRID_SHAPE,
        domain_everywhere=True,  # proven in the module docstring
        factory=functools.partial(model, covariance=covariance, formulation=formulation, idaes_scaling=idaes_scaling),
    )
