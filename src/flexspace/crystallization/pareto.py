"""Pyomo-side multi-objective design over OMLT-embedded surrogates (the crystallization paper's
Step 9 design, Figs. 7–8, solved deterministically).

ε-constraint Pareto front of (max D50, min DoA) over a thermocycle profile space with
``n_cycles`` cycles — the same decision variables, bounds and Eq. 2–5 constraints as the
NSGA-II design of :mod:`flexspace.crystallization.thermocycles`
(:class:`CycleProfileSpace`) — solved by a deterministic solver on the embedded
surrogates:

* ``min DoA`` and ``max D50`` (each followed by the lexicographic second objective) give
  the two ends of the front;
* for ``n_points`` values ε between them: ``max D50  s.t.  DoA ≤ ε`` (then
  ``min DoA  s.t.  D50 ≥ D50*``, so that every point is non-dominated).

Eq. 5 (``T ≤ T1(c0)``, the seeding temperature) is written without the square root of
:func:`seeding_temperature`: ``T + 2 ≤ T_sat(c0)`` ⇔ ``c*(T + 2) ≤ c0/1000`` because the
solubility polynomial is increasing above 2.9 °C (every active set-point is ≥ 1 °C); a
convex quadratic constraint.  So tree ensembles / ReLU nets give convex MIQCPs (SCIP;
HiGHS reads no quadratic constraints), smooth nets NLPs (Ipopt by default, MAiNGO on
request).  Tree blocks are built with ``strict_splits`` (see
:meth:`flexspace.surrogates.omlt_embed.EmbeddedSurrogate.add_to`) so the optimiser cannot sit on a split threshold and
take the better leaf.

:func:`compare_with_nsga2` runs NSGA-II (:func:`flexspace.surrogates.nsga2.run_nsga2`) on
the **same** fitted surrogates and bounds and reports both hypervolumes with one
reference point (nadir of the union of both fronts, plus 10 % of the range) after a common
min–max normalisation.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pyomo.environ as pyo

from ..options import OptionsLike, resolve_options
from ..solvers import get_solver
from ..surrogates.nsga2 import run_nsga2
from ..surrogates.omlt_embed import EmbeddedSurrogate, embed_surrogate, substitute_named_expressions
from .thermocycles import CycleProfileSpace
from .design_space import design_input_bounds
from .kinetics import SOLUBILITY_COEFFS
from .profile import IS_HEATING, N_FEATURES, SEED_SUBCOOLING

__all__ = ["EpsilonFront", "build_design_model", "epsilon_constraint_front", "hypervolume_2d", "compare_with_nsga2"]


@dataclass
class EpsilonFront:
    """Front points (decision vectors, features, objectives ``[D50, DoA]``) and solve log."""

    X: np.ndarray
    features: np.ndarray
    objectives: np.ndarray           # columns D50 (maximised), DoA (minimised), from predict()
    block_objectives: np.ndarray     # the same as the solver's block outputs at the optimum
    statuses: list = field(default_factory=list)
    time: float = 0.0
    solver: str = ""
    n_failed: int = 0

    @property
    def F(self) -> np.ndarray:
        """Minimisation form ``[-D50, DoA]`` (as NSGA-II's)."""
        return np.column_stack([-self.objectives[:, 0], self.objectives[:, 1]])


def build_design_model(d50: EmbeddedSurrogate, doa: EmbeddedSurrogate, n_cycles: int, domain=None,
                       ellipsoid: bool = False):
    """Pyomo model: profile decision variables of ``CycleProfileSpace(n_cycles)``, the
    13 features, two OMLT blocks (``m.d50``, ``m.doa``), Eq. 2, 3, 5, and parameters
    ``m.eps`` (DoA ≤ ε, constraint ``m.eps_con``) and ``m.d50_min`` (``m.d50_con``).

    ``domain`` (a fitted :class:`flexspace.surrogates.applicability.ApplicabilityDomain`) adds the
    applicability domain: its per-feature ranges as linear constraints
    ``m.domain_range`` and, with ``ellipsoid=True``, its convex Mahalanobis ellipsoid
    ``(f − μ)ᵀ P (f − μ) ≤ r²`` (``m.domain_ellipsoid``; a convex quadratic constraint like
    Eq. 5).  The k-NN part of the domain is non-convex and stays with NSGA-II."""
    space = CycleProfileSpace(n_cycles)
    m = pyo.ConcreteModel(name=f"eps_front_{n_cycles}cycles")
    m.space = space
    nv = space.n_var
    m.v = pyo.Var(range(nv), bounds=lambda mm, i: (float(space.xl[i]), float(space.xu[i])),
                  initialize=lambda mm, i: float(0.5 * (space.xl[i] + space.xu[i])))
    # features as expressions of the decision variables (zero padding = fixed 0)
    ns = space.n_stages
    feat = [m.v[0], m.v[1]] + [m.v[2 + s] for s in range(ns)] + [0.0] * (9 - ns) + [m.v[nv - 2], m.v[nv - 1]]
    assert len(feat) == N_FEATURES
    fixed = {2 + s: 0.0 for s in range(ns, 9)}
    d50b = d50.fix_inputs(fixed) if fixed else d50
    doab = doa.fix_inputs(fixed) if fixed else doa
    # strict splits: the optimiser must not sit on a threshold and pick the better branch
    d50b.add_to(m, "d50", inputs=feat, strict_splits=1e-5)
    doab.add_to(m, "doa", inputs=feat, strict_splits=1e-5)
    a2, a1, a0 = SOLUBILITY_COEFFS

    def sol(T):
        return a2 * T * T + a1 * T + a0

    m.profile = pyo.ConstraintList()
    T = [m.v[2 + s] for s in range(ns)]
    c0 = m.v[0]
    # Eq. 3 for i = 2 and Eq. 5: T <= T1(c0)  <=>  c*(T + SEED_SUBCOOLING) <= c0 / 1000
    m.profile.add(sol(T[0] + SEED_SUBCOOLING) <= c0 / 1000.0)
    for s in range(1, ns):
        if IS_HEATING[s]:
            m.profile.add(T[s - 1] <= T[s])                               # Eq. 2
            m.profile.add(sol(T[s] + SEED_SUBCOOLING) <= c0 / 1000.0)     # Eq. 5
        else:
            m.profile.add(T[s] <= T[s - 1])                               # Eq. 3
    if domain is not None:
        _add_domain(m, feat, domain, ellipsoid)
    m.eps = pyo.Param(mutable=True, initialize=1e6)
    m.d50_min = pyo.Param(mutable=True, initialize=-1e6)
    m.eps_con = pyo.Constraint(expr=m.doa.outputs[0] <= m.eps)
    m.d50_con = pyo.Constraint(expr=m.d50.outputs[0] >= m.d50_min)
    m.max_d50 = pyo.Objective(expr=m.d50.outputs[0], sense=pyo.maximize)
    m.min_doa = pyo.Objective(expr=m.doa.outputs[0], sense=pyo.minimize)
    m.min_doa.deactivate()
    return m


def _add_domain(m, feat, domain, ellipsoid: bool) -> None:
    """Per-feature range (active entries only: a zero-padded feature is fixed at 0) and the optional ellipsoid."""
    m.domain_range = pyo.ConstraintList()
    for j, f in enumerate(feat):
        if isinstance(f, float):
            continue
        lo, hi = float(domain.lower_[j]), float(domain.upper_[j])
        if np.isfinite(lo):
            m.domain_range.add(f >= lo)
        if np.isfinite(hi):
            m.domain_range.add(f <= hi)
    if ellipsoid:
        mu, P, r2 = domain.mahalanobis()
        d = [f - float(mu[j]) for j, f in enumerate(feat)]
        m.domain_ellipsoid = pyo.Constraint(expr=sum(float(P[i, j]) * d[i] * d[j] for i in range(len(d))
                                                     for j in range(len(d)) if P[i, j] != 0) <= r2)


def _solve(m, which, solver):
    if which == "d50":
        m.min_doa.deactivate()
        m.max_d50.activate()
    else:
        m.max_d50.deactivate()
        m.min_doa.activate()
    return solver.solve(m)


#: :func:`epsilon_constraint_front`'s default solve options (changes to the ``"index"`` preset):
#: 60 s and a relative gap of 1e-6 per solve, our choice, so that neighbouring front points
#: are told apart
FRONT_OPTIONS = {"time_limit": 60.0, "gap": 1e-6}


def epsilon_constraint_front(d50, doa, n_cycles: int = 4, n_points: int = 21, solver: Optional[str] = None,
                             input_bounds=None, options: OptionsLike = None, domain=None,
                             ellipsoid: bool = False) -> EpsilonFront:
    """ε-constraint front of (max D50, min DoA) on the embedded surrogates (module docstring).

    ``d50``, ``doa``: fitted estimators or :class:`EmbeddedSurrogate` objects on the 13
    crystallization features.  ``solver``: default SCIP for MILP surrogates (global),
    Ipopt for smooth networks (local; ``"maingo"`` on request — see
    :func:`flexspace.crystallization.design_space.default_solver` for a measured
    MAiNGO failure on such networks).  Failed solves are logged and dropped (never put on the front).
    ``domain``/``ellipsoid``: the applicability domain as constraints (:func:`build_design_model`).
    ``options``: each solve's :class:`~flexspace.options.SolveOptions` (a dict changes :data:`FRONT_OPTIONS`)."""
    b = design_input_bounds() if input_bounds is None else np.asarray(input_bounds, float)
    d50e = d50 if isinstance(d50, EmbeddedSurrogate) else embed_surrogate(d50, b)
    doae = doa if isinstance(doa, EmbeddedSurrogate) else embed_surrogate(doa, b)
    milp = d50e.problem_class == "milp" and doae.problem_class == "milp"
    solver = solver or ("scip" if milp else "ipopt")
    t0 = time.perf_counter()
    m = build_design_model(d50e, doae, n_cycles, domain, ellipsoid)
    if solver == "maingo":
        # MAiNGO rejects named Expressions: substitute them in the constraints (the two
        # objectives are plain output variables and are toggled by name below)
        substitute_named_expressions(m, objectives=False)
    slv = get_solver(solver, resolve_options(options, defaults=FRONT_OPTIONS))
    space = m.space
    pts, stats, blk_vals = [], [], []

    def record(res):
        stats.append(res.status.value)
        if res.status.ok:
            pts.append(np.array([pyo.value(m.v[i]) for i in range(space.n_var)]))
            blk_vals.append([pyo.value(m.d50.outputs[0]), pyo.value(m.doa.outputs[0])])
        return res.status.ok

    def lexi(first):
        # first objective, then the other with the first held (within 1e-7 relative)
        m.eps.set_value(m.eps.value)
        r = _solve(m, first, slv)
        if not r.status.ok:
            stats.append(r.status.value)
            return None
        if first == "doa":
            best = pyo.value(m.doa.outputs[0])
            old = m.eps.value
            m.eps.set_value(best + 1e-7 * max(1.0, abs(best)))
            r2 = _solve(m, "d50", slv)
            m.eps.set_value(old)
        else:
            best = pyo.value(m.d50.outputs[0])
            old = m.d50_min.value
            m.d50_min.set_value(best - 1e-7 * max(1.0, abs(best)))
            r2 = _solve(m, "doa", slv)
            m.d50_min.set_value(old)
        record(r2)
        return (pyo.value(m.d50.outputs[0]), pyo.value(m.doa.outputs[0])) if r2.status.ok else None

    lo = lexi("doa")
    hi = lexi("d50")
    if lo is not None and hi is not None and n_points > 2:
        for eps in np.linspace(lo[1], hi[1], n_points)[1:-1]:
            m.eps.set_value(float(eps))
            m.d50_min.set_value(-1e6)
            r = _solve(m, "d50", slv)
            if not r.status.ok:
                stats.append(r.status.value)
                continue
            best = pyo.value(m.d50.outputs[0])
            m.d50_min.set_value(best - 1e-7 * max(1.0, abs(best)))
            record(_solve(m, "doa", slv))
            m.d50_min.set_value(-1e6)
        m.eps.set_value(1e6)
    X = np.array(pts) if pts else np.zeros((0, space.n_var))
    Fe = space.to_features(X) if len(X) else np.zeros((0, 13))
    obj = np.column_stack([np.asarray(d50e.estimator.predict(Fe)), np.asarray(doae.estimator.predict(Fe))]) \
        if len(X) else np.zeros((0, 2))
    blk = np.array(blk_vals) if len(X) else np.zeros((0, 2))
    keep = _nondominated(np.column_stack([-obj[:, 0], obj[:, 1]])) if len(X) else np.zeros(0, int)
    return EpsilonFront(X[keep], Fe[keep], obj[keep], blk[keep], stats, time.perf_counter() - t0, solver,
                        sum(1 for s in stats if s not in ("optimal", "locally optimal")))


def _nondominated(F) -> np.ndarray:
    F = np.asarray(F, float)
    keep = []
    for i in range(len(F)):
        dom = np.all(F <= F[i] + 1e-12, axis=1) & np.any(F < F[i] - 1e-12, axis=1)
        if not dom.any():
            keep.append(i)
    # drop exact duplicates
    _, first = np.unique(np.round(F[keep], 10), axis=0, return_index=True)
    return np.array(sorted(np.array(keep)[first]), int)


def hypervolume_2d(F, ref) -> float:
    """Hypervolume (area) dominated by the minimisation front ``F`` (n, 2) up to ``ref``."""
    F = np.asarray(F, float)
    F = F[np.all(F < np.asarray(ref), axis=1)]
    if not len(F):
        return 0.0
    F = F[np.argsort(F[:, 0])]
    hv, best2 = 0.0, ref[1]
    for f1, f2 in F:
        if f2 < best2:
            hv += (ref[0] - f1) * (best2 - f2)
            best2 = f2
    return float(hv)


def compare_with_nsga2(d50, doa, n_cycles: int = 4, n_points: int = 21, pop_size: int = 40, n_gen: int = 40,
                       random_state: int = 0, solver: Optional[str] = None, options: OptionsLike = None) -> dict:
    """ε-constraint front vs NSGA-II front on the same surrogates and bounds, with
    hypervolumes (one reference point, common normalisation; module docstring)."""
    b = design_input_bounds()
    d50e = d50 if isinstance(d50, EmbeddedSurrogate) else embed_surrogate(d50, b)
    doae = doa if isinstance(doa, EmbeddedSurrogate) else embed_surrogate(doa, b)
    eps = epsilon_constraint_front(d50e, doae, n_cycles, n_points, solver=solver, options=options)
    space = CycleProfileSpace(n_cycles)

    def objectives(F):
        return np.column_stack([-np.asarray(d50e.estimator.predict(F)), np.asarray(doae.estimator.predict(F))])

    t0 = time.perf_counter()
    rng = np.random.default_rng(random_state)
    Xn, Fn, Gn = run_nsga2(space.problem(objectives), pop_size=pop_size, n_gen=n_gen, random_state=random_state,
                           sampling=space.sample_feasible(pop_size, rng))
    t_nsga = time.perf_counter() - t0
    feas = np.all(np.atleast_2d(Gn) <= 1e-9, axis=1) if np.size(Gn) else np.ones(len(Fn), bool)
    Fn = Fn[feas]
    Fe = eps.F
    # constraint check of the ε points with the NSGA-II problem's own G (same Eq. 2-5)
    Ge = space.constraints(eps.X) if len(eps.X) else np.zeros((0, space.n_constraints))
    allF = np.vstack([f for f in (Fe, Fn) if len(f)])
    ideal, nadir = allF.min(axis=0), allF.max(axis=0)
    span = np.where(nadir - ideal > 0, nadir - ideal, 1.0)
    ref = np.full(2, 1.1)
    hv_e = hypervolume_2d((Fe - ideal) / span, ref) if len(Fe) else 0.0
    hv_n = hypervolume_2d((Fn - ideal) / span, ref) if len(Fn) else 0.0
    return {"eps": eps, "nsga_F": Fn, "nsga_X": Xn[feas], "hv_eps": hv_e, "hv_nsga2": hv_n,
            "hv_ratio": hv_e / hv_n if hv_n > 0 else float("inf"), "ideal": ideal, "nadir": nadir,
            "reference_normalised": ref.tolist(), "time_eps": eps.time, "time_nsga2": t_nsga,
            "eps_max_violation": float(np.max(Ge)) if Ge.size else 0.0,
            "eps_block_vs_predict": float(np.max(np.abs(eps.block_objectives - eps.objectives)
                                                 / np.maximum(np.abs(eps.objectives), 1.0))) if len(Fe) else 0.0,
            "n_eps": len(Fe), "n_nsga2": len(Fn)}
