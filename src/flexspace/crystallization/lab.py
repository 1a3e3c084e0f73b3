"""In-silico laboratory: seeded batch cooling crystallizer with thermocycles.

Replaces the crystallization paper's proprietary experiments (Barhate et al., PSE 2025, §2.3) as the
default data source and as the "experiment" that validates an optimum (crystallization paper, Table 3).

Model (parameters and sources in :class:`~.kinetics.LabParameters`):

* **1-D population balance** on crystal size ``L`` for two populations — free primary
  crystals ``N_p`` and agglomerates ``N_a`` (number per g solvent in each size cell) —
  discretised by a finite-volume scheme on a uniform grid (2 µm cells, 0–240 µm) with a
  **van Leer flux limiter** (second-order, TVD) for growth and dissolution, integrated
  with the SSP-RK2 (Heun) method and an adaptive time step (CFL ≤ 0.45, ≤ 0.25 °C per
  step, bounded relative change of supersaturation).  Dissolving crystals leave through
  ``L = 0`` (fines dissolve completely on heating).
* **Solubility** of paracetamol in water (Fujiwara et al. 2002), **secondary nucleation**
  ``B = kb σ^b M_T``, **growth** ``G = kg σ^g``, **dissolution** ``kd σ`` for σ < 0.
* **Agglomeration**: size-independent, supersaturation-driven kernel, discretised with the
  fixed-pivot technique (Kumar & Ramkrishna, Chem. Eng. Sci. 51 (1996) 1311), which
  conserves number and volume exactly.  Every agglomerate is tracked with the number of
  primary particles it contains (``P``: pp-collision +2, pa-collision +1, aa 0), giving
  **DoA = primary particles inside agglomerates / all primary particles** (free primaries
  counted above the image-analysis detection limit).
* **Consolidation** while undersaturated: the bridges and re-entrant corners of an
  agglomerate dissolve first and the particle re-grows as one compact crystal of the same
  volume, which image analysis counts as a single primary (removes its primaries from
  ``P``; size is unchanged, so D50 is not reduced by it).
* **Crystallinity**: an amorphous solid of higher solubility (``r_am c*``) precipitates
  when cooling outruns the slow growth and converts (solution-mediated) to crystal when
  the solution falls below the amorphous solubility, fastest on heating.
  Crystallinity = crystalline mass / (crystalline + amorphous mass).  This is a model
  assumption standing in for Compound A's behaviour (crystallization paper, §2.2).
* **Outputs** at batch end: D50 (volume-weighted median of the crystalline PSD, µm; the
  amorphous solid is treated as a coating/gel phase not resolved in size — assumed),
  DoA (%), crystallinity (%), and the mass-balance error
  ``|c + M_cryst + m_am − (c0 + m_seed)| / (c0 + m_seed)``: the solute concentration is
  integrated from the rate laws (growth coupled through the discrete FV fluxes, which is
  conservative by construction), the crystal mass is summed over the discretised PSD, so
  the check covers the agglomeration and consolidation allocation, boundary outflow,
  overflow and clipping.  It closes to round-off (≈ 1e-15).

:meth:`InSilicoLab.measure` adds seeded measurement noise of the crystallization paper's Table-3 size.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .kinetics import KV, RHO_CRYSTAL, LabParameters, solubility
from .profile import CQA_NAMES, IDX_C0, IDX_SEED, decode_profile


@dataclass
class BatchResult:
    """End-of-batch state of one simulated batch."""

    D50: float
    DoA: float
    crystallinity: float
    mass_balance_error: float
    batch_time_min: float
    n_steps: int
    sizes_um: np.ndarray = field(repr=False)
    primary_counts: np.ndarray = field(repr=False)
    agglomerate_counts: np.ndarray = field(repr=False)
    concentration: float = 0.0
    amorphous_mass: float = 0.0
    trajectory: pd.DataFrame | None = field(default=None, repr=False)

    def cqas(self) -> dict[str, float]:
        return {"D50": self.D50, "DoA": self.DoA, "crystallinity": self.crystallinity}


def _van_leer(r):
    return (r + np.abs(r)) / (1.0 + np.abs(r))


class InSilicoLab:
    """Mechanistic batch crystallizer taking the 13-feature profile encoding as input.

    Parameters
    ----------
    params : LabParameters
        Kinetics and noise levels (defaults documented there).
    n_cells, dL_um : int, float
        Size grid (uniform, cell width ``dL_um``).
    random_state : int or None
        Seed of the measurement-noise generator used by :meth:`measure`.
    """

    def __init__(self, params: LabParameters | None = None, n_cells: int = 120, dL_um: float = 2.0,
                 random_state=None):
        self.params = params or LabParameters()
        self.n_cells = int(n_cells)
        self.dL = float(dL_um)
        self.random_state = random_state
        self.L = (np.arange(self.n_cells) + 0.5) * self.dL
        self.v = self.L ** 3
        self._mass_per_particle = RHO_CRYSTAL * 1e-12 * KV * self.v  # g per particle
        self._det_mask = self.L >= self.params.detection_limit_um
        self._build_agglomeration_map()

    # ------------------------------------------------------------------ set-up
    def _build_agglomeration_map(self):
        """Fixed-pivot allocation of every pair (j ≤ k) to cells (lo, lo+1)."""
        n = self.n_cells
        j, k = np.triu_indices(n)
        vs = self.v[j] + self.v[k]
        lo = np.searchsorted(self.v, vs, side="right") - 1
        lo = np.clip(lo, 0, n - 1)
        over = vs >= self.v[-1]
        hi = np.minimum(lo + 1, n - 1)
        a = np.where(over, 0.0, (self.v[hi] - vs) / np.where(hi > lo, self.v[hi] - self.v[lo], 1.0))
        # overflow: all volume to the last cell (number adjusted so volume is conserved)
        w_lo = np.where(over, 0.0, a)
        w_hi = np.where(over, vs / self.v[-1], 1.0 - a)
        self._pair_j, self._pair_k = j, k
        self._pair_lo, self._pair_hi = lo, np.where(over, n - 1, hi)
        self._pair_half = np.where(j == k, 0.5, 1.0)
        self._pair_wlo, self._pair_whi = w_lo, w_hi

    def initial_state(self, x):
        """Seed PSD (log-normal, mass = seed_loading × c0), c = c0, no amorphous."""
        p = self.params
        c0 = x[IDX_C0] / 1000.0
        m_seed = x[IDX_SEED] * c0
        lnL = np.log(self.L)
        w = np.exp(-0.5 * ((lnL - np.log(p.seed_median_um)) / np.log(p.seed_gsd)) ** 2) / self.L
        w *= m_seed / np.sum(w * self._mass_per_particle)
        return w, np.zeros(self.n_cells), c0, 0.0, 0.0

    # ------------------------------------------------------------------ dynamics
    def _growth_flux_divergence(self, N, G):
        """``dN/dt`` from growth rate ``G`` (µm/s) with the van Leer limiter, plus the
        number of particles leaving through L = 0 per second."""
        n = N / self.dL
        Fw = np.zeros(self.n_cells + 1)  # faces -1/2 .. N-1/2
        if G > 0:
            nm = np.concatenate(([n[0]], n[:-1]))          # n_{i-1} (zero-gradient ghost)
            npl = np.concatenate((n[1:], [0.0]))           # n_{i+1}
            d1, d0 = npl - n, n - nm
            r = np.divide(d1, d0, out=np.zeros_like(d0), where=np.abs(d0) > 1e-300)
            nf = n + 0.5 * _van_leer(r) * d0
            Fw[1:-1] = G * nf[:-1]                          # no flux out of the top cell
            out = 0.0
        elif G < 0:
            npl = np.concatenate((n[1:], [0.0]))            # n_{i+1}
            nm = np.concatenate(([0.0], n[:-1]))            # n_{i-1}
            d1, d0 = nm - n, n - npl
            r = np.divide(d1, d0, out=np.zeros_like(d0), where=np.abs(d0) > 1e-300)
            nf = n + 0.5 * _van_leer(r) * d0                 # value at face i-1/2
            nf[0] = n[0]                                     # first-order outflow at L = 0
            Fw[:-1] = G * nf
            out = -Fw[0]
        else:
            out = 0.0
        return Fw[:-1] - Fw[1:], out

    def _rhs(self, Np, Na, c, m_am, P, T):
        p = self.params
        cs = float(solubility(T))
        sig = c / cs - 1.0
        G = p.kg * sig ** p.g if sig > 0 else p.kd * sig
        dNp, out_p = self._growth_flux_divergence(Np, G)
        dNa, out_a = self._growth_flux_divergence(Na, G)
        # crystal mass change by growth/dissolution (incl. particles leaving through L = 0)
        growth_mass = float(np.dot(self._mass_per_particle, dNp + dNa))
        M_T = float(np.dot(self._mass_per_particle, Np + Na))
        # secondary nucleation into the first cell
        B = p.kb * sig ** p.b * M_T if sig > 0 else 0.0
        dNp[0] += B
        nuc_mass = B * self._mass_per_particle[0]
        # amorphous precipitation / conversion
        c_am = p.r_am * cs
        form = p.k_af * max(c - c_am, 0.0)
        k_ad = p.k_ad * np.exp(-p.Ea_ad / 8.314 * (1.0 / (T + 273.15) - 1.0 / 298.15))
        dis = k_ad * m_am * max(1.0 - c / c_am, 0.0)
        dm_am = form - dis
        Np_sum, Na_sum = Np.sum(), Na.sum()
        dP = 0.0
        rate_scale = 0.0
        if sig > 0 and Np_sum + Na_sum > 0:
            phi_am = m_am / max(m_am + M_T, 1e-300)
            beta = p.beta0 * sig * (1.0 + p.kappa_am * phi_am)
            Nt = Np + Na
            tot = Np_sum + Na_sum
            pair = beta * self._pair_half * Nt[self._pair_j] * Nt[self._pair_k]
            birth = (np.bincount(self._pair_lo, pair * self._pair_wlo, minlength=self.n_cells)
                     + np.bincount(self._pair_hi, pair * self._pair_whi, minlength=self.n_cells))
            dNa += birth - beta * Na * tot
            dNp -= beta * Np * tot
            dP += beta * (Np_sum ** 2 + Np_sum * Na_sum)
            rate_scale = beta * tot
        elif sig < 0 and Na_sum > 0:
            pbar = max(P / Na_sum, 2.0)
            brk = p.k_br * (-sig) * Na
            dNa -= brk
            dNp += brk  # consolidated into compact single particles of the same size
            dP -= pbar * brk.sum()
            rate_scale = p.k_br * (-sig)
        if out_a > 0 and Na_sum > 0:
            dP -= max(P / Na_sum, 2.0) * out_a
        dc = -(growth_mass + nuc_mass) - dm_am
        return (dNp, dNa, dc, dm_am, dP), (G, sig, cs, rate_scale)

    def simulate(self, x, return_trajectory: bool = False) -> BatchResult:
        """Noise-free simulation of one batch described by a 13-feature row ``x``."""
        x = np.asarray(x, dtype=float).reshape(-1)
        p = self.params
        t_bp, T_bp = decode_profile(x)
        t_bp = t_bp * 60.0  # s
        Np, Na, c, m_am, P = self.initial_state(x)
        total0 = c + float(np.dot(self._mass_per_particle, Np))
        t, steps = 0.0, 0
        traj = []
        for s in range(len(t_bp) - 1):
            t_end = t_bp[s + 1]
            slope = (T_bp[s + 1] - T_bp[s]) / max(t_bp[s + 1] - t_bp[s], 1e-12)  # °C/s
            while t < t_end - 1e-9:
                T = T_bp[s] + slope * (t - t_bp[s])
                k1, (G, sig, cs, rs) = self._rhs(Np, Na, c, m_am, P, T)
                dt = min(300.0, t_end - t)
                if G != 0:
                    dt = min(dt, 0.45 * self.dL / abs(G))
                if slope != 0:
                    dt = min(dt, 0.25 / abs(slope))
                if k1[2] != 0:
                    dt = min(dt, 0.1 * max(abs(c - cs), 0.02 * cs) / abs(k1[2]))
                if rs > 0:
                    dt = min(dt, 0.2 / rs)
                dt = min(dt, 0.2 / p.k_af)
                y1 = (Np + dt * k1[0], Na + dt * k1[1], c + dt * k1[2], m_am + dt * k1[3], P + dt * k1[4])
                k2, _ = self._rhs(*y1, T + slope * dt)
                Np = np.maximum(Np + 0.5 * dt * (k1[0] + k2[0]), 0.0)
                Na = np.maximum(Na + 0.5 * dt * (k1[1] + k2[1]), 0.0)
                c = c + 0.5 * dt * (k1[2] + k2[2])
                m_am = max(m_am + 0.5 * dt * (k1[3] + k2[3]), 0.0)
                P = max(P + 0.5 * dt * (k1[4] + k2[4]), 0.0)
                t += dt
                steps += 1
                if return_trajectory:
                    traj.append((t / 60.0, T + slope * dt, c, cs, m_am, *self._cqas(Np, Na, m_am, P)))
        M_cryst = float(np.dot(self._mass_per_particle, Np + Na))
        mb = abs(c + M_cryst + m_am - total0) / total0
        d50, doa, cry = self._cqas(Np, Na, m_am, P)
        tr = None
        if return_trajectory:
            tr = pd.DataFrame(traj, columns=["t_min", "T_degC", "c", "c_sat", "m_amorphous", *CQA_NAMES])
        return BatchResult(d50, doa, cry, mb, t_bp[-1] / 60.0, steps, self.L.copy(), Np, Na, c, m_am, tr)

    def _cqas(self, Np, Na, m_am, P):
        p = self.params
        vol = self._mass_per_particle * (Np + Na)
        cum = np.cumsum(vol)
        if cum[-1] <= 0:
            d50 = 0.0
        else:
            cum /= cum[-1]
            edges = (np.arange(self.n_cells) + 1.0) * self.dL
            d50 = float(np.interp(0.5, np.concatenate(([0.0], cum)), np.concatenate(([0.0], edges))))
        free = float(Np[self._det_mask].sum())
        doa = 100.0 * P / (P + free) if P + free > 0 else 0.0
        M = float(np.dot(self._mass_per_particle, Np + Na))
        cry = 100.0 * M / (M + m_am) if M + m_am > 0 else 0.0
        return d50, doa, cry

    # ------------------------------------------------------------------ batch API
    def run(self, X) -> pd.DataFrame:
        """Noise-free CQAs (and mass-balance error, batch time) for each row of ``X``."""
        rows = []
        for x in np.atleast_2d(np.asarray(X, dtype=float)):
            r = self.simulate(x)
            rows.append({**r.cqas(), "mass_balance_error": r.mass_balance_error,
                         "batch_time_min": r.batch_time_min})
        return pd.DataFrame(rows)

    def add_noise(self, Y: pd.DataFrame, random_state=None) -> pd.DataFrame:
        """Measurement noise of Table 3 of the crystallization paper (seeded): D50 × (1 + 1.7 % ε), DoA + 12.7 ε,
        crystallinity + 6.7 ε; percentages clipped to [0, 100]."""
        rng = np.random.default_rng(self.random_state if random_state is None else random_state)
        p = self.params
        out = Y[list(CQA_NAMES)].copy()
        e = rng.standard_normal((len(out), 3))
        out["D50"] = out["D50"] * (1.0 + p.noise_d50_rel * e[:, 0])
        out["DoA"] = np.clip(out["DoA"] + p.noise_doa * e[:, 1], 0.0, 100.0)
        out["crystallinity"] = np.clip(out["crystallinity"] + p.noise_crystallinity * e[:, 2], 0.0, 100.0)
        return out

    def measure(self, X, random_state=None) -> pd.DataFrame:
        """Simulate and return noisy "measured" CQAs (``D50``, ``DoA``, ``crystallinity``)."""
        return self.add_noise(self.run(X), random_state)
