"""Small polynomial recourse models and an independent numpy/scipy reference for them.

A model: θ ∈ R^{n_t} ~ N(0, I), controls z ∈ [-1, 1]^{n_z}, CQAs
``g_k(θ, z) = c_k + Σ a θ^α z^β`` (total degree ≤ 4), a dummy θp.  The reference knows
nothing of flexspace: ψ(θ) = min_z max_k g_k by a dense z grid polished by a bounded local
minimiser from its best points; χ(δ) = max of ψ over a dense θ grid of the box |θ_i| ≤ δ,
polished by a bounded local maximiser.  Both are accurate to far below the tolerances the
checks use (1e-3), for these degrees and dimensions.
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import List, Tuple

import numpy as np
from scipy.optimize import minimize

Term = Tuple[float, Tuple[int, ...], Tuple[int, ...]]  # coefficient, exponents of θ, exponents of z


@dataclass(frozen=True)
class PolySpec:
    n_t: int
    n_z: int
    consts: Tuple[float, ...]
    terms: Tuple[Tuple[Term, ...], ...]  # per CQA

    @property
    def K(self) -> int:
        return len(self.consts)

    def g(self, theta, z) -> np.ndarray:
        """g (..., K) at θ (..., n_t) and z (..., n_z) (broadcasting)."""
        theta, z = np.asarray(theta, float), np.asarray(z, float)
        out = []
        for c, terms in zip(self.consts, self.terms):
            val = np.full(np.broadcast_shapes(theta.shape[:-1], z.shape[:-1]), c, dtype=float)
            for a, ea, eb in terms:
                mono = a
                for i, e in enumerate(ea):
                    if e:
                        mono = mono * theta[..., i] ** e
                for j, e in enumerate(eb):
                    if e:
                        mono = mono * z[..., j] ** e
                val = val + mono
            out.append(val)
        return np.stack(out, axis=-1)

    def describe(self) -> str:
        parts = []
        for k, (c, terms) in enumerate(zip(self.consts, self.terms)):
            mono = " ".join(f"{a:+g}" + "".join(f"*t{i}^{e}" for i, e in enumerate(ea) if e)
                            + "".join(f"*z{j}^{e}" for j, e in enumerate(eb) if e) for a, ea, eb in terms)
            parts.append(f"g{k} = {c:+g} {mono}")
        return "; ".join(parts)


def pyomo_model(spec: PolySpec):
    """The same model as a flexspace ProcessModel (Expressions in mutable Params and Vars)."""
    import pyomo.environ as pyo

    from flexspace import ProcessModel

    m = pyo.ConcreteModel()
    m.p = pyo.Param(mutable=True, initialize=0.0)
    m.t = pyo.Param(range(spec.n_t), mutable=True, initialize=0.0)
    m.z = pyo.Var(range(spec.n_z), bounds=(-1.0, 1.0), initialize=0.0)

    def rule(k):
        def g(b):
            e = spec.consts[k] + b.p
            for a, ea, eb in spec.terms[k]:
                mono = a
                for i, x in enumerate(ea):
                    if x:
                        mono = mono * b.t[i] ** x
                for j, x in enumerate(eb):
                    if x:
                        mono = mono * b.z[j] ** x
                e = e + mono
            return e
        return g

    cqas = {f"g{k}": rule(k) for k in range(spec.K)}
    return ProcessModel(m, {"p": m.p}, m.t, cqas, np.eye(spec.n_t), controls=m.z, delta_max=2.0,
                        name="poly recourse", check_square=False)


# --------------------------------------------------------------------------- reference
def _z_grid(n_z: int) -> np.ndarray:
    n = 2001 if n_z == 1 else 81
    axis = np.linspace(-1.0, 1.0, n)
    return np.array(list(itertools.product(axis, repeat=n_z)))


def psi_grid(spec: PolySpec, T) -> Tuple[np.ndarray, np.ndarray]:
    """ψ on the z grid (no polish) at each row of ``T``, and the best grid control of each."""
    T = np.atleast_2d(np.asarray(T, float))
    Z = _z_grid(spec.n_z)
    out, arg = np.empty(len(T)), np.empty((len(T), spec.n_z))
    step = max(1, 2_000_000 // (len(Z) * spec.K))
    for lo in range(0, len(T), step):
        vals = spec.g(T[lo:lo + step, None, :], Z[None, :, :]).max(axis=-1)
        i = np.argmin(vals, axis=1)
        out[lo:lo + step] = vals[np.arange(len(i)), i]
        arg[lo:lo + step] = Z[i]
    return out, arg


def psi(spec: PolySpec, theta) -> float:
    """ψ(θ) = min over z ∈ [-1, 1]^n_z of max_k g_k: the dense z grid, then a bounded
    Nelder-Mead polish (on the clipped z) from its 5 best points."""
    theta = np.asarray(theta, float)
    Z = _z_grid(spec.n_z)
    vals = spec.g(theta[None, :], Z).max(axis=-1)
    best = float(vals.min())
    f = lambda z: float(spec.g(theta, np.clip(z, -1, 1)).max())  # noqa: E731
    for i in np.argsort(vals)[:5]:
        r = minimize(f, Z[i], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 400})
        best = min(best, f(r.x))
    return best


def psi_thorough(spec: PolySpec, theta, starts: int = 40) -> float:
    """ψ(θ) once more, slowly: a z grid 25 times finer (401 x 401 for two controls), then the
    epigraph problem by SLSQP and Nelder-Mead from its ``starts`` best points.  The checks
    call it to confirm a disagreement before reporting one: the fast :func:`psi` can miss a
    narrow valley of max_k g (it over-stated ψ by 0.007 with two controls)."""
    theta = np.asarray(theta, float)
    n = 20001 if spec.n_z == 1 else 401
    axis = np.linspace(-1.0, 1.0, n)
    Z = np.array(list(itertools.product(axis, repeat=spec.n_z)))
    vals = spec.g(theta[None, :], Z).max(axis=-1)
    best = float(vals.min())
    f = lambda z: float(spec.g(theta, np.clip(z, -1, 1)).max())  # noqa: E731
    for i in np.argsort(vals)[:starts]:
        r = minimize(f, Z[i], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 400})
        best = min(best, f(r.x), _epigraph(spec, theta, Z[i], float(vals[i])))
    return best


def _epigraph(spec: PolySpec, theta, z0, u0) -> float:
    """min u s.t. g_k(θ, z) ≤ u, z ∈ [-1, 1] by SLSQP from (z0, u0); the value is max_k g at
    the (clipped) control found, so it can only over-state ψ.  Nelder-Mead alone stalls on the
    kinks of max_k g and at the bounds (it over-stated ψ by 0.006 with two controls)."""
    n = spec.n_z
    cons = [{"type": "ineq", "fun": (lambda x, k=k: x[-1] - spec.g(theta, x[:-1])[k])} for k in range(spec.K)]
    r = minimize(lambda x: x[-1], np.concatenate([z0, [u0]]), method="SLSQP", constraints=cons,
                 bounds=[(-1.0, 1.0)] * n + [(None, None)], options={"ftol": 1e-13, "maxiter": 300})
    return float(spec.g(theta, np.clip(r.x[:-1], -1, 1)).max())


def chi(spec: PolySpec, delta: float) -> Tuple[float, np.ndarray]:
    """Memoised :func:`_chi` (specs are frozen, hashable)."""
    return _chi(spec, float(delta))


@functools.lru_cache(maxsize=256)
def _chi(spec: PolySpec, delta: float) -> Tuple[float, np.ndarray]:
    """χ(δ) = max over the box |θ_i| ≤ δ of ψ: a grid in θ (401 or 41x41 points, ψ on the z
    grid), ψ polished at its 6 best points, then a bounded Nelder-Mead on θ from the best 3.
    Returns (χ, its θ)."""
    n = 401 if spec.n_t == 1 else 41
    axis = np.linspace(-delta, delta, n)
    T = np.array(list(itertools.product(axis, repeat=spec.n_t)))
    vals, _ = psi_grid(spec, T)
    top = np.argsort(-vals)[:6]
    polished = [(psi(spec, T[i]), T[i]) for i in top]
    polished.sort(key=lambda x: -x[0])
    best, arg = polished[0]
    f = lambda t: -psi(spec, np.clip(t, -delta, delta))  # noqa: E731
    for _, t0 in polished[:3]:
        r = minimize(f, t0, method="Nelder-Mead", options={"xatol": 1e-7, "fatol": 1e-10, "maxiter": 150})
        if -r.fun > best:
            best, arg = float(-r.fun), np.clip(r.x, -delta, delta)
    return float(best), np.asarray(arg, float)


def random_spec(rng: np.random.Generator) -> PolySpec:
    """A random instance (used by the benchmark sweep when hypothesis is not driving)."""
    n_t, n_z, K = int(rng.integers(1, 3)), int(rng.integers(1, 3)), int(rng.integers(1, 4))
    terms, consts = [], []
    for _ in range(K):
        tk: List[Term] = []
        for _ in range(int(rng.integers(1, 6))):
            deg = int(rng.integers(1, 5))
            ea, eb = [0] * n_t, [0] * n_z
            for _ in range(deg):
                if rng.random() < 0.5:
                    ea[int(rng.integers(n_t))] += 1
                else:
                    eb[int(rng.integers(n_z))] += 1
            tk.append((float(np.round(rng.uniform(-1, 1), 2)), tuple(ea), tuple(eb)))
        terms.append(tuple(tk))
        consts.append(float(np.round(-rng.uniform(0.1, 1.5), 2)))
    return PolySpec(n_t, n_z, tuple(consts), tuple(terms))


def poly_specs():
    """A hypothesis strategy of :class:`PolySpec`: 1-2 θ, 1-2 z, 1-3 CQAs, each a constant in
    [-1.5, -0.1] (the nominal point is usually, not always, feasible) plus 1-5 monomials of
    total degree 1-4 with coefficients in [-1, 1] (two decimals)."""
    from hypothesis import strategies as st

    @st.composite
    def build(draw):
        n_t, n_z, K = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 3))
        coef = st.integers(-100, 100).map(lambda x: x / 100.0)
        terms, consts = [], []
        for _ in range(K):
            tk = []
            for _ in range(draw(st.integers(1, 5))):
                vars_ = draw(st.lists(st.integers(0, n_t + n_z - 1), min_size=1, max_size=4))
                ea = tuple(vars_.count(i) for i in range(n_t))
                eb = tuple(vars_.count(n_t + j) for j in range(n_z))
                tk.append((draw(coef), ea, eb))
            terms.append(tuple(tk))
            consts.append(-draw(st.integers(10, 150)) / 100.0)
        return PolySpec(n_t, n_z, tuple(consts), tuple(terms))

    return build()


# --------------------------------------------------------------------------- checks
TOL = 1e-3  #: relative (with an absolute floor of 1e-3) tolerance of the checks below
ETA = 2e-3  #: relative step of the set size used to check an index from both sides


def check(spec: PolySpec, result, what: str, delta: float = 1.0, delta_max: float = 2.0, tau: float = 1e-6) -> str:
    """"" when ``result`` (a flexspace test at ``delta`` or index) says nothing the reference
    contradicts; otherwise what is off.  Only trusted answers make claims: ``ok`` (the value
    within the gap), ``bound`` (its bounds), ``nominal infeasible``, ``sampled`` (the scenario
    statement: violating samples of a fresh draw of the same sampler within ε + 4 SE)."""
    st = result.status.value
    if st in ("failed", "uncertified", "contradicted"):
        return ""
    if st == "nominal infeasible":
        p0 = psi_thorough(spec, np.zeros(spec.n_t))
        return "" if p0 >= -TOL else f"nominal infeasible, but psi(0) = {p0:.6g}"
    if st == "sampled":
        return _check_sampled(spec, result, what, delta)
    if what == "test":
        return _check_test(spec, result, st, delta)
    return _check_index(spec, result, st, delta_max, tau)


def _tol(x: float) -> float:
    return TOL * max(1.0, abs(x))


def _check_test(spec, r, st, delta) -> str:
    """The claimed bounds of χ (an ``ok`` value is both) against the reference.  A disagreement
    is confirmed before it counts: a claimed lower bound above the reference by ψ at flexspace's
    own worst θ (the reference's θ grid may miss the maximiser), a claimed upper bound below it
    by the thorough ψ at the reference's θ (the fast ψ may over-state it there)."""
    c, arg = chi(spec, delta)
    lb = r.chi_lower_bound if r.chi_lower_bound is not None else (r.chi if st == "ok" else None)
    ub = r.chi_upper_bound if r.chi_upper_bound is not None else (r.chi if st == "ok" else None)
    if st == "ok":
        lb, ub = (r.chi if lb is None else max(lb, r.chi)), (r.chi if ub is None else min(ub, r.chi))
    if lb is not None and lb > c + _tol(c):
        own = _own_theta(spec, r)
        c_lb = c if own is None else max(c, psi_thorough(spec, own))
        if lb > c_lb + _tol(c_lb):
            return f"{st}: lower bound {lb:.6g} > reference chi {c_lb:.6g}"
    if ub is not None and ub < c - _tol(c):
        c_ub = psi_thorough(spec, arg)  # ψ at one θ of the set: a lower bound of χ
        if ub < c_ub - _tol(c_ub):
            return f"{st}: upper bound {ub:.6g} < reference chi {c_ub:.6g}"
    return ""


def _own_theta(spec, r):
    """flexspace's worst θ (θm in order), or None when the result does not give it."""
    wt = getattr(r, "worst_theta_m", None)
    if not wt:
        return None
    vals = list(wt.values()) if isinstance(wt, dict) else list(wt)
    return np.asarray(vals, float) if len(vals) == spec.n_t else None


def _check_index(spec, r, st, delta_max, tau) -> str:
    lo = r.delta_lower_bound if r.delta_lower_bound is not None else r.delta
    hi = r.delta_upper_bound if st == "bound" else r.delta
    if lo > 0:
        inside, arg = chi(spec, lo * (1 - ETA))
        if inside >= tau + TOL:
            inside = min(inside, psi_thorough(spec, arg))  # confirmed at that θ before it is reported
        if inside >= tau + TOL:
            return f"{st}: delta >= {lo:.6g} claimed, but chi(delta (1 - eta)) = {inside:.6g}"
    if hi is not None and hi < delta_max * (1 - 1e-9):
        out, _ = chi(spec, min(hi * (1 + ETA), delta_max))
        if out < -TOL:
            return f"{st}: delta <= {hi:.6g} claimed, but chi(delta (1 + eta)) = {out:.6g}"
    return ""


def _check_sampled(spec, r, what, delta) -> str:
    """The scenario statement: a fresh draw of the sampler on the set the claim is about."""
    from flexspace import BoxSet

    eps = float(r.certification.get("epsilon", 1.0))
    size = delta if what == "test" else r.delta
    if what == "test" and not r.feasible:
        return ""
    if size <= 0:
        return ""
    pts = BoxSet(np.zeros(spec.n_t), np.eye(spec.n_t)).sample(size, 2000, np.random.default_rng(12345))
    vals, _ = psi_grid(spec, pts)
    frac = float(np.mean(vals > TOL))  # the z grid over-states psi a little: a margin of TOL
    se = np.sqrt(max(eps * (1 - eps), 1e-4) / len(pts))
    return "" if frac <= eps + 4 * se else f"sampled (eps {eps:.3g}): {frac:.3g} of a fresh draw violates"
