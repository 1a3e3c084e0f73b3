"""Variable bounds read as CQAs (``ProcessModel(..., bounds_as_cqas=...)``).

The peer (IDAES PR #1398, ``flexibility_analysis``) reads every bound of a flowsheet's
variables as a performance constraint: ``lb − x ≤ u`` and ``x − ub ≤ u``, so a bound may be
violated and the violation is measured like any other CQA.  Here the chosen bounds become
CQAs ``g = lb − x`` / ``g = x − ub`` named ``"<var>.lb"`` / ``"<var>.ub"``.

A variable still needs a range for global solvers.  Each chosen bound is moved outwards by a
*margin* C (``bound_cqa_margin``, in the variable's own units) and kept as a hard bound.  This
changes nothing that flexspace reports as proven:

* if ψ(θ) ≤ C, every minimiser of the soft problem has ``x ≥ lb − ψ ≥ lb − C``, so the hard
  bound is inactive and ψ_C(θ) = ψ(θ);
* ψ_C ≥ ψ always (a smaller feasible set).

Hence ψ_C(θ) ≤ C ⇒ ψ(θ) = ψ_C(θ), and ψ_C(θ) > C ⇒ ψ(θ) > C.  The sign of ψ is the sign of
ψ_C (C > 0), so feasibility, indices and regions are exact.  A test value χ_C > C is only
known to lie in (C, χ_C]: the analyses say so in the result (``formulations.recourse``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional

import pyomo.environ as pyo
from pyomo.core.base.componentuid import ComponentUID
from pyomo.core.expr.visitor import identify_variables

from ..validation import ValidationError

#: default margin C (variable units) by which a bound read as a CQA is widened into the hard
#: range that global solvers need: our choice, larger than the peer's published violation
#: 0.3752 of its HX example (in the same scaled units), so that value is exact; see the module
#: docstring for why any C > 0 leaves signs, indices and regions exact.
BOUND_CQA_MARGIN = 1.0


@dataclass(frozen=True)
class BoundCQA:
    """One variable bound read as a CQA: the variable (by uid), the side and its name."""

    uid: ComponentUID
    side: str  #: "lb" or "ub"
    name: str


def _numeric(e) -> Optional[float]:
    """A bound's value when it depends on nothing mutable (IDAES writes ``max(0.8, 0)``)."""
    if e is None:
        return None
    if isinstance(e, (int, float)):
        return float(e)
    if e.is_potentially_variable():
        return None
    from pyomo.core.expr.visitor import identify_mutable_parameters

    if any(True for _ in identify_mutable_parameters(e)):
        return None
    return float(pyo.value(e))


def numeric_bound(e) -> Optional[float]:
    """A bound expression evaluated to a number (None when it is missing or depends on a
    mutable parameter, e.g. θ); an infinite bound counts as missing."""
    v = _numeric(e)
    return None if v is None or not math.isfinite(v) else v


def _in_scope(v, scope) -> bool:
    if scope is True:
        return True
    for s in scope:
        if v is s or (getattr(s, "ctype", None) is pyo.Var and v.parent_component() is s):
            return True
        if isinstance(s, pyo.Block) or getattr(s, "ctype", None) is pyo.Block:
            b = v.parent_block()
            while b is not None:
                if b is s:
                    return True
                b = b.parent_block()
    return False


def _scope(spec, model) -> object:
    if spec is True:
        return True
    items = list(spec) if isinstance(spec, (list, tuple, set)) else [spec]
    for s in items:
        kind = getattr(s, "ctype", None)
        if kind not in (pyo.Var, pyo.Block):
            raise ValidationError(f"bounds_as_cqas: {getattr(s, 'name', s)!r} is not a Var or a Block of the model; "
                                  "give True (every bound), or a list of Vars and Blocks whose bounds become CQAs")
        b = s.parent_block() if kind is pyo.Var else s
        while b is not None and b is not model:
            b = b.parent_block()
        if b is None:
            raise ValidationError(f"bounds_as_cqas: {s.name!r} is not a component of this model")
    return items


def collect(model, spec, skip_ids: Iterable[int]) -> List[BoundCQA]:
    """The bounds of ``model``'s unfixed variables used in its active constraints (and in
    ``spec``'s scope: True, or Vars and Blocks) as :class:`BoundCQA` entries; θ (``skip_ids``)
    is never among them."""
    if spec is None or spec is False:
        return []
    if not (spec is True or isinstance(spec, (list, tuple, set)) or hasattr(spec, "ctype")):
        raise ValidationError(f"bounds_as_cqas must be False, True or a list of Vars/Blocks, got {spec!r}")
    scope = _scope(spec, model)
    skip = set(skip_ids)
    seen, out = set(), []
    for c in model.component_data_objects(pyo.Constraint, active=True, descend_into=True):
        for v in identify_variables(c.body, include_fixed=False):
            if id(v) in seen or id(v) in skip:
                continue
            seen.add(id(v))
            if not _in_scope(v, scope):
                continue
            for side, e in (("lb", v.lower), ("ub", v.upper)):
                val = _numeric(e)
                if e is None or (val is not None and math.isinf(val)):
                    continue
                out.append(BoundCQA(ComponentUID(v), side, f"{v.name}.{side}"))
    return out


def check_margin(margin) -> float:
    from ..validation import check_number

    return check_number("bound_cqa_margin", margin, low=0, low_open=True,
                        hint="in the variables' units, larger than the violations you expect, e.g. 1.0")


def cqa_expression(b: BoundCQA, proc, rewrite, margin: float):
    """g of the bound on the copy ``proc`` (θ substituted), and the variable's hard bound moved
    out by ``margin`` (a θ-dependent bound is dropped: FBBT bounds the state)."""
    v = b.uid.find_component_on(proc)
    e = v.lower if b.side == "lb" else v.upper
    val = _numeric(e)
    bound = val if val is not None else rewrite(e)
    g = bound - v if b.side == "lb" else v - bound
    if val is None:
        (v.setlb if b.side == "lb" else v.setub)(None)
    elif b.side == "lb":
        v.setlb(val - margin)
    else:
        v.setub(val + margin)
    return g


def names(bounds: List[BoundCQA]) -> List[str]:
    return [b.name for b in bounds]


def describe(bounds: List[BoundCQA], margin: float) -> Dict[str, object]:
    """What a result reports: the bounds that became CQAs and the margin."""
    return {"bounds": names(bounds), "margin": margin}
