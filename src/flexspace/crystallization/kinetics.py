"""Thermodynamic and kinetic parameters of the in-silico crystallization lab.

The crystallization paper's Compound A (Takeda) is proprietary.  The lab therefore uses **paracetamol in
water** — whose solubility maps the crystallization paper's Table-2 concentration range (24.8–55.2 mg/g)
onto saturation temperatures of ≈ 35–58 °C — with rate laws of the form used for that
system by Nagy, Fujiwara, Woo & Braatz, "Determination of the kinetic parameters for the
crystallization of paracetamol from water using metastable zone width experiments",
Ind. Eng. Chem. Res. 47 (2008) 1245–1252, and by Worlitschek & Mazzotti, "Model-based
optimization of particle size distribution in batch-cooling crystallization of
paracetamol", Cryst. Growth Des. 4 (2004) 891–903.

Rate constants are *assumed* (marked so below): they are chosen to mimic the crystallization paper's
Compound A (slow growth, so large D50 is hard; agglomeration; an amorphous fraction),
not fitted to paracetamol data.  Every shipped number states its source.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Solubility polynomial of paracetamol in water, g/g water, T in °C:
#: ``c* = a2 T² + a1 T + a0`` (Fujiwara, Chow, Ma & Braatz, Cryst. Growth Des. 2 (2002)
#: 363–370; used by Nagy et al. IECR 2008).
SOLUBILITY_COEFFS = (1.5846e-5, -9.0567e-5, 8.0324e-3)
#: Crystal density of monoclinic paracetamol (form I), g/cm³: literature value ≈ 1.29–1.30
#: (single-crystal structure, Haisa et al., Acta Cryst. B32 (1976) 1283); 1.296 used here.
RHO_CRYSTAL = 1.296
#: Volume shape factor of the volume-equivalent sphere (D50 of laser diffraction is a
#: sphere-equivalent diameter), π/6.
KV = np.pi / 6.0


def solubility(T_degC) -> np.ndarray:
    """Equilibrium solubility c*(T) in g solute / g solvent (Fujiwara et al. 2002)."""
    a2, a1, a0 = SOLUBILITY_COEFFS
    T = np.asarray(T_degC, dtype=float)
    return a2 * T * T + a1 * T + a0


def saturation_temperature(c_g_per_g) -> np.ndarray:
    """Inverse of :func:`solubility` (positive root), °C."""
    a2, a1, a0 = SOLUBILITY_COEFFS
    c = np.asarray(c_g_per_g, dtype=float)
    return (-a1 + np.sqrt(a1 * a1 - 4 * a2 * (a0 - c))) / (2 * a2)


@dataclass(frozen=True)
class LabParameters:
    """Kinetic parameters of the in-silico lab (units: µm, s, g/g solvent).

    Rate laws (forms of Nagy et al. IECR 2008 / Worlitschek & Mazzotti CGD 2004), with
    relative supersaturation ``σ = c/c* − 1``:

    * growth ``G = kg σ^g`` (µm/s) for σ > 0 — ``kg``, ``g`` **assumed** (slow growth of
      Compound A, crystallization paper, §2.2: "slow crystal growth kinetics presented challenges");
    * dissolution ``D = kd σ`` (µm/s, negative) for σ < 0 — **assumed**, first-order and
      faster than growth (usual for diffusion-limited dissolution);
    * secondary nucleation ``B = kb σ^b M_T`` (#/(g solvent·s), ``M_T`` crystal mass in g/g)
      — form of Nagy et al. 2008, constants **assumed**;
    * agglomeration, size-independent kernel ``β = β0 σ (1 + κ φ_am)`` (per #/g solvent per
      s) — proportional to supersaturation (crystalline bridges need growth) and enhanced by
      the sticky amorphous fraction ``φ_am`` — **assumed** model, constants **assumed**;
    * consolidation of agglomerates during dissolution (bridges dissolve first, the particle
      heals into one compact crystal of the same volume), first order in agglomerates,
      rate ``k_br (−σ)`` — **assumed** mechanism consistent with the crystallization paper's observation [7]
      that DoA falls over each thermocycle;
    * amorphous precipitation when ``c`` exceeds the amorphous solubility ``r_am c*``:
      ``r = k_af (c − r_am c*)``; the amorphous solid re-dissolves when
      ``c < r_am c*``: ``r = k_ad(T) m_am (1 − c/(r_am c*))`` with an Arrhenius factor
      ``k_ad(T) = k_ad exp(−Ea_ad/R (1/T − 1/298.15 K))`` — a solution-mediated
      amorphous→crystalline conversion that is fast at the high temperatures reached in
      heating stages and slow in the cold end of a batch; **assumed** crystallinity model for the
      crystallization paper's observation of amorphous + crystalline product that becomes more crystalline with
      thermocycles.

    Seeds: log-normal, median ``seed_median_um``, geometric SD ``seed_gsd`` (**assumed**).
    Free primary particles smaller than ``detection_limit_um`` are not
    counted in DoA (**assumed** lower limit of image analysis, Morphologi-type).

    Measurement noise (crystallization paper, Table 3, replicate "±" of the validation experiment):
    D50 relative SD 0.3/17.5 = 1.7 %; DoA SD 12.7 percentage points; crystallinity SD
    6.7 percentage points.
    """

    kg: float = 0.02            # µm/s, assumed
    g: float = 1.5              # -, assumed
    kd: float = 0.12            # µm/s, assumed
    kb: float = 2.0e6           # #/(g solvent s), assumed
    b: float = 2.0              # -, assumed
    beta0: float = 6.0e-11      # per (#/g solvent) per s, assumed
    kappa_am: float = 10.0       # -, assumed
    k_br: float = 0.05        # 1/s, assumed
    r_am: float = 1.12          # amorphous/crystal solubility ratio, assumed
    k_af: float = 2.0e-3        # 1/s, assumed
    k_ad: float = 1.0e-3        # 1/s at 25 °C, assumed
    Ea_ad: float = 1.2e5        # J/mol, assumed
    seed_median_um: float = 6.0  # assumed
    seed_gsd: float = 1.35       # assumed
    detection_limit_um: float = 4.0  # assumed
    noise_d50_rel: float = 0.3 / 17.5   # crystallization paper, Table 3
    noise_doa: float = 12.7             # crystallization paper, Table 3
    noise_crystallinity: float = 6.7    # crystallization paper, Table 3
