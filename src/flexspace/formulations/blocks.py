"""The Pyomo side of the flexibility problems (seed Eq. 1–36): the blocks each seed equation
is written by, the built problem (:class:`Problem`) and the small helpers every route shares.

=====================================  =========================================
:func:`add_uncertainty_set`            Eq. 6 / 21 / 24 / 25–27 / 33 / 34
:func:`add_active_set_selection`       Eq. 3–5 (big-M MINLP selection)
:func:`add_flexibility_test`           Eq. 1–7 (and 28–36 with θp free)
:func:`add_flexibility_index`          Eq. 8–15 / 16–23 (min δ)
=====================================  =========================================
"""
from __future__ import annotations

import contextlib
import math
from typing import Dict, List, Optional, Sequence

import pyomo.environ as pyo

from ..errors import ValidationError
from ..solvers import SolveResult, Solver, SolverStatus
from .results import Method, SubproblemResult
from .sets import SetHandle, UncertaintySet


def add_uncertainty_set(block: pyo.Block, name: str, uset: UncertaintySet, theta: Sequence, delta,
                        squared: bool = False) -> SetHandle:
    """θ ∈ set(δ) as a sub-block (Eq. 6, 21, 24, 25–27; Eq. 33/34 with δ fixed);
    ``squared``: ``delta`` stands for δ² (ellipsoids, see :attr:`convex_in_delta_squared`).
    Returns the set's :class:`SetHandle` (``handle.bound_to(δ)`` bounds its variables)."""
    b = pyo.Block()
    block.add_component(name, b)
    return uset.build(b, list(theta), delta, squared=squared)


def add_active_set_selection(block: pyo.Block, g: Sequence, u, big_m: float) -> None:
    """Eq. 3–5: ``g_k + s_k = u``, ``0 ≤ s_k ≤ U (1 − y_k)``, ``Σ_k y_k = 1``, y binary.

    With ``u`` a variable this is the flexibility-test MINLP (max u); with ``u = 0``
    the flexibility-index MINLP (every g_k ≤ 0, one active)."""
    K = range(len(g))
    block.U = pyo.Param(mutable=True, initialize=float(big_m))
    block.s = pyo.Var(K, bounds=(0.0, big_m), initialize=0.0)
    block.y = pyo.Var(K, domain=pyo.Binary, initialize=0)
    block.slack_def = pyo.Constraint(K, rule=lambda b, k: g[k] + b.s[k] == u)
    block.big_m = pyo.Constraint(K, rule=lambda b, k: b.s[k] <= b.U * (1 - b.y[k]))
    block.one_active = pyo.Constraint(expr=sum(block.y[k] for k in K) == 1)


def ensure_valid_big_m(mb: pyo.Block, g: Sequence) -> Optional[float]:
    """Raise U of Eq. 4 (and the bounds of s and u) to a value that is *valid* on the current
    variable bounds: ``U ≥ max_k hi(g_k) − min_k lo(g_k)`` by interval arithmetic, so that no
    θ of the set is cut off by the big-M constraints.  A larger U stays valid, so the
    heuristic default is kept whenever it already suffices.  Returns the interval U, or None
    when some g_k has an unbounded interval: the MINLP route then cannot be trusted here and
    the caller records the subproblem as failed (use method="enumeration")."""
    from pyomo.contrib.fbbt.fbbt import compute_bounds_on_expr

    lo, hi = [], []
    for e in g:
        a, b = compute_bounds_on_expr(e)
        if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
            return None
        lo.append(a)
        hi.append(b)
    return _raise_big_m(mb, lo, hi)


def _raise_big_m(mb, lo, hi) -> float:
    need = max(max(hi) - min(lo), max(abs(x) for x in lo + hi)) * 1.01 + 1e-9
    if need > pyo.value(mb.U):
        mb.U.set_value(need)
        for v in mb.s.values():
            v.setub(need)
        if hasattr(mb, "u"):
            mb.u.setlb(-need)
            mb.u.setub(need)
    return need


def add_flexibility_test(block: pyo.Block, g: Sequence, big_m: float) -> None:
    """Flexibility test objective, Eq. 1 with Eq. 3–5 or enumerated.

    Adds ``obj_k: max g_k`` (one per k, for enumeration; deactivated) and a ``minlp``
    sub-block ``max u`` with the active-set selection (deactivated)."""
    K = range(len(g))
    block.obj_k = pyo.Objective(K, rule=lambda b, k: g[k], sense=pyo.maximize)
    block.obj_k.deactivate()
    mb = pyo.Block()
    block.add_component("minlp", mb)
    mb.u = pyo.Var(bounds=(-big_m, big_m), initialize=0.0)
    add_active_set_selection(mb, g, mb.u, big_m)
    mb.obj = pyo.Objective(expr=mb.u, sense=pyo.maximize)
    mb.deactivate()


def add_flexibility_index(block: pyo.Block, g: Sequence, delta: pyo.Var, big_m: float) -> None:
    """Flexibility index, Eq. 8–15 in θm at fixed θp (Eq. 16–23).

    Enumeration: ``min δ  s.t.  g_k ≥ 0`` for one k (constraint ``violate[k]``;
    choice: ``≥`` rather than ``=``, equivalent at the optimum).  MINLP: ``min δ`` with
    Eq. 3–5 and u = 0 (sub-block ``minlp``).  ``delta`` may be the variable δ² for
    ellipsoids (minimising δ² is minimising δ, and keeps Eq. 24/27 convex)."""
    K = range(len(g))
    block.obj = pyo.Objective(expr=delta, sense=pyo.minimize)
    # capping check (Eq. 1 at δ = δ_max): is g_k violated anywhere in set(δ_max)?
    block.max_g = pyo.Objective(K, rule=lambda b, k: g[k], sense=pyo.maximize)
    block.max_g.deactivate()
    block.violate = pyo.Constraint(K, rule=lambda b, k: g[k] >= 0)
    block.violate.deactivate()
    mb = pyo.Block()
    block.add_component("minlp", mb)
    add_active_set_selection(mb, g, 0.0, big_m)
    mb.deactivate()


def check_global_bounds(inst, solver: Solver) -> None:
    if not solver.is_global:
        return
    missing = [v.name for v in inst.state_vars() if v.lb is None or v.ub is None]
    if missing:
        raise ValidationError(
            f"the global solver {solver.name!r} needs finite bounds on every variable; these state variables "
            f"have none: {missing[:10]}{' ...' if len(missing) > 10 else ''}. Give them physical bounds "
            "(e.g. concentrations in [0, c_in]) in your Pyomo model, or use solver='ipopt' (local)."
        )


class Problem:
    """One built Pyomo problem plus its instance and the handles of its set blocks
    (``set_m``: θm ∈ set(δm); ``set_p``: the θp box of the extended test)."""

    def __init__(self, inst, kind: str):
        self.inst = inst
        self.m = inst.model
        self.kind = kind
        self.set_m: Optional[SetHandle] = None
        self.set_p: Optional[SetHandle] = None
        m = self.m
        m.square_obj = pyo.Objective(expr=0.0)
        m.square_obj.deactivate()
        #: the global solvers' probe: the square system at a fixed θ, maximising g_0 (its one
        #: point is the optimum); MAiNGO called it infeasible on the IDAES CSTR of case 3 at
        #: deltaEq 1e-8 where its constant-objective solve passed (measured)
        g0 = next((g for g in inst.g if not isinstance(g, (int, float))), 0.0)
        m.probe_obj = pyo.Objective(expr=g0, sense=pyo.maximize)
        m.probe_obj.deactivate()

    @property
    def set_handles(self) -> List[SetHandle]:
        return [h for h in (self.set_p, self.set_m) if h is not None]

    def only(self, objective, constraints=(), blocks=()):
        """Deactivate every formulation objective/constraint, then activate the given ones."""
        m = self.m
        for o in m.component_data_objects(pyo.Objective, active=True, descend_into=True):
            o.deactivate()
        for name in ("fx", "ft"):
            b = getattr(m, name, None)
            if b is not None:
                if hasattr(b, "violate"):
                    b.violate.deactivate()
                b.minlp.deactivate()
        dom = getattr(m, "dom", None)
        if dom is not None:
            for c in (dom.touch, dom.touch_obj, dom.edge, dom.edge_obj):
                c.deactivate()
            if hasattr(dom, "jac"):
                dom.jac.deactivate()
        objective.activate()
        for c in constraints:
            c.activate()
        for b in blocks:
            b.activate()


@contextlib.contextmanager
def unfixed(variables):
    """Unfix ``variables`` (the θ a subproblem optimises over) for the block; fix them after."""
    for v in variables:
        v.unfix()
    try:
        yield
    finally:
        for v in variables:
            v.fix()


def snapshot(m) -> List:
    return [(v, v.value) for v in m.component_data_objects(pyo.Var, descend_into=True) if not v.fixed]


def restore(m, snap) -> None:
    for v, x in snap:
        v.set_value(x, skip_validation=True)


def no_big_m_result() -> SubproblemResult:
    return SubproblemResult("minlp", float("nan"), SolverStatus.ERROR,
                            message="no valid big-M: a CQA is unbounded on the set's box by interval arithmetic "
                                    "(bound the states it uses, or use method='enumeration')")


def check_method(method, solver: Solver) -> Method:
    m = Method.parse(method)
    if m is Method.MINLP and not solver.supports_integers:
        raise ValidationError(f"the MINLP route needs a solver that handles binaries; {solver.name!r} does not "
                         "(use 'maingo' or 'scip', or method='enumeration')")
    return m


def untrusted_probe() -> SolveResult:
    """The subproblem row of a point failed because the solver's probe failed (:meth:`FlexibilityAnalysis._probe`)."""
    return SolveResult(SolverStatus.INFEASIBLE, message="the global solver called the square system infeasible "
                                                         "where a local solver solved it: not trusted")


def ordered(g_names, targets, first: Optional[str]):
    """The subproblems ``targets`` (``(k, …)`` tuples) with constraint ``first`` (the last
    worst one) solved first: with cut-offs a positive χ_k there ends a test after one solve."""
    if first is None:
        return targets
    hit = [t for t in targets if t[0] is not None and g_names[t[0]] == first]
    return hit + [t for t in targets if t not in hit]


def theta_dict(names, values) -> Dict[str, float]:
    """θ values by name (the form results carry)."""
    return {n: float(v) for n, v in zip(names, values)}
