"""Results of flexibility index / flexibility test solves: readable, and tabular."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Union

import numpy as np

from ..solvers import SolverStatus
from ..validation import StrChoice
from .sets import SetKind

__all__ = ["ResultStatus", "Method", "SubproblemResult", "FlexibilityIndexResult", "FlexibilityTestResult",
           "scenario_epsilon", "SCENARIO_STATEMENT"]


class Method(StrChoice):
    """How the flexibility index / test is solved (seed §2): users may pass the string."""

    ENUMERATION = "enumeration"  #: one NLP per constraint g_k (active-set enumeration)
    MINLP = "minlp"  #: one MINLP with the big-M active-set selection of Eq. 3–5

    @classmethod
    def parse(cls, value, param: str = "method") -> "Method":
        return super().parse(value, param)


class DomainStatus(StrChoice):
    """What a result knows of the model's domain over the set (``result.domain_status``; the
    words with the counts are in ``result.domain``)."""

    UNKNOWN = "unknown"  #: not looked at (a failed point, or a route that does not check)
    EXPLICIT = "explicit"  #: no states and no model inequalities: every θ has a solution
    DECLARED = "declared"  #: the model declares a solution everywhere (``domain_everywhere=True``)
    PROVEN = "proven"  #: global solves / interval arithmetic proved it (up to the reported δ)
    SEARCHED = "searched"  #: local solves found no edge: not a proof (sampling decides)
    NOT_PROVEN = "not proven"  #: not provable here: certified by sampling
    NOT_CHECKED = "not checked"  #: a local solver's test does not check it
    LEFT = "left"  #: a θ of the set reaches the domain's edge (a test: χ = +inf)
    PER_SOLVE = "per solve"  #: recourse: the states are solved in each subproblem; not proven over the set


class ResultStatus(StrChoice):
    """Overall status of a flexibility index / test at one θp.

    What each one promises (the README's "What a result tells you"):

    * ``ok`` — exact within the stated gap, under conditions flexspace *proved* (a global
      solver's bounds met; a local solver only on a problem proven convex, e.g. linear);
    * ``bound`` — a proven one-sided bound, not the exact value: the safe side is in the
      value fields (an index: ``delta`` = ``delta_lower_bound`` ≤ the true δ; a test:
      ``chi_upper_bound`` ≥ the true χ, so χ_ub ≤ 0 proves feasibility, and
      ``chi_lower_bound`` ≤ χ, so χ_lb > 0 proves infeasibility);
    * ``sampled`` — a local answer with no proof; N samples of the set (stratified: boundary
      and interior) found no violation, which supports only the scenario statement in
      ``certification`` (no violation region of sampling mass > ε, confidence 1 − β);
    * ``nominal infeasible`` — proven: the nominal θm itself violates a CQA (δ = 0);
    * ``uncertified`` — a local or assumption-based answer that nothing proves and sampling
      contradicted or could not support at the documented (ε, β);
    * ``contradicted`` — a proven answer (global solver, or a local one on a proven convex
      problem) that sampling contradicted: a bug or a wrong model, never trusted;
    * ``failed`` — a subproblem failed or timed out: the answer is unknown, never "feasible".
    """

    OK = "ok"
    BOUND = "bound"
    SAMPLED = "sampled"
    NOMINAL_INFEASIBLE = "nominal infeasible"
    UNCERTIFIED = "uncertified"
    CONTRADICTED = "contradicted"
    FAILED = "failed"

    @property
    def proven(self) -> bool:
        """Exact (``ok``, ``nominal infeasible``) or a proven bound (``bound``)."""
        return self in (ResultStatus.OK, ResultStatus.NOMINAL_INFEASIBLE, ResultStatus.BOUND)

    @property
    def trusted(self) -> bool:
        """What a region may use: proven, or scenario-certified by sampling (``sampled``)."""
        return self.proven or self is ResultStatus.SAMPLED


#: what the scenario certificate of a ``sampled`` result means (README, "What a result tells you")
SCENARIO_STATEMENT = ("no violation region of sampling mass > {eps:.3g} (confidence {conf:.4g}), from {n} samples "
                      "of the set (stratified: boundary and interior) without a violation")


def scenario_epsilon(n: int, beta: float) -> float:
    """ε of the scenario bound: with ``n`` samples of the set's stratified sampler and no
    violation, a violation region of sampling mass > ε is missed with probability ≤ β.

    For one i.i.d. stratum, P(miss) = (1 − ε)^n; for strata of sizes n_s and weights n_s/n,
    P(miss) = Π (1 − p_s)^{n_s} ≤ exp(−Σ n_s p_s) = exp(−n ε), so ε = ln(1/β) / n is valid
    for the stratified sampler (Campi & Garatti 2008 for the scenario approach; the
    exponential bound is the elementary 1 − p ≤ e^{−p})."""
    if n <= 0:
        return 1.0
    return min(1.0, math.log(1.0 / beta) / n)


@dataclass
class SubproblemResult:
    """One NLP of the active-set enumeration (one constraint g_k), or the single MINLP."""

    constraint: str
    value: float  #: δ_k (index) or χ_k (test); NaN when the solve failed
    status: SolverStatus
    capped: bool = False  #: index only: no violation of g_k up to δ_max
    time: float = 0.0
    bound: Optional[float] = None  #: global solvers: the proven bound on the objective
    theta_m: Optional[List[float]] = None  #: worst-case θm found
    theta_p: Optional[List[float]] = None  #: worst-case θp (extended test)
    message: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["status"] = self.status.value
        return d


def theta_units(model) -> Dict[str, str]:
    """θp and θm units by name (``ProcessModel.theta_p_units`` / ``theta_m_units``), the
    non-empty ones; {} for a model that states none."""
    names = list(model.theta_p_names) + list(model.theta_m_names)
    units = list(getattr(model, "theta_p_units", [])) + list(getattr(model, "theta_m_units", []))
    return {n: u for n, u in zip(names, units) if u} if len(units) == len(names) else {}


def _fmt(x, nd=6) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    return f"{x:.{nd}g}"


@dataclass
class _Common:
    status: ResultStatus
    set_kind: Union[SetKind, str]  #: the kind (a user set: its name) of the uncertainty set the result was computed on
    solver: str
    is_global: bool
    method: Method
    theta_p: Dict[str, float]
    subproblems: List[SubproblemResult] = field(default_factory=list)
    time: float = 0.0
    certified: Optional[bool] = None
    certification: Dict[str, float] = field(default_factory=dict)
    diagnostics: str = ""
    #: how the set was shown to lie in the model's domain (``flexspace.formulations.domain``)
    domain: str = ""
    #: the same as a typed value (what code decides on; ``domain`` is for people)
    domain_status: "DomainStatus" = None
    #: the Pyomo units of θp and θm by name, as the model states them (absent: none)
    units: Dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.set_kind = _set_kind(self.set_kind)
        self.method = Method.parse(self.method)
        self.domain_status = DomainStatus.UNKNOWN if self.domain_status is None else \
            DomainStatus.parse(self.domain_status, "domain_status")

    def note_domain(self, status: "DomainStatus", text: str) -> None:
        """Record what is known of the domain: the typed status and the words."""
        self.domain_status, self.domain = DomainStatus.parse(status, "domain_status"), text

    @property
    def ok(self) -> bool:
        """An exact answer: status ``ok`` or ``nominal infeasible`` (proven).  A ``bound`` is
        proven on its safe side only, a ``sampled`` answer carries a scenario statement only
        (see :attr:`trusted`); ``uncertified``, ``contradicted`` and ``failed`` carry nothing."""
        return self.status in (ResultStatus.OK, ResultStatus.NOMINAL_INFEASIBLE)

    @property
    def proven(self) -> bool:
        """Exact, or a proven bound on its safe side (status ``ok``, ``nominal infeasible``, ``bound``)."""
        return self.status.proven

    @property
    def trusted(self) -> bool:
        """Proven, or scenario-certified by sampling (status ``sampled``): what regions use."""
        return self.status.trusted

    @property
    def solved(self) -> bool:
        """Every subproblem returned an answer (status is not ``failed``)."""
        return self.status != ResultStatus.FAILED

    @property
    def timed_out(self) -> bool:
        """Failed because solves ran out of time: every subproblem without an answer hit its
        time limit (then the result carries no IDAES diagnostics: :attr:`timeout` says it all)."""
        missing = [s for s in self.subproblems if not (s.status.ok or s.status == SolverStatus.TARGET)]
        return (self.status == ResultStatus.FAILED and bool(missing)
                and all(s.status == SolverStatus.TIME_LIMIT for s in missing))

    @property
    def timeout(self) -> str:
        """One line on the time-out of a result that :attr:`timed_out` ("" otherwise): the first
        solve's own line (who stopped when, with what point and bound) and which subproblems."""
        if not self.timed_out:
            return ""
        outs = [s for s in self.subproblems if s.status == SolverStatus.TIME_LIMIT]
        line = " ".join(outs[0].message.split()) or f"{self.solver} ran out of time"
        if not line.startswith("time limit"):
            line = f"time limit: {line}"
        which = (f"subproblem {outs[0].constraint}" if len(outs) == 1 else
                 f"subproblems {', '.join(s.constraint for s in outs)} (the first shown)")
        return f"{line} -- {which}; raise options.time_limit, or see the README's Solvers table"

    @property
    def solve_quality(self) -> str:
        """What the status rests on, in words: 'global', 'global, domain sampled', 'exact
        (convex problem, local solver)', 'proven bound', 'local, sampled: <the scenario
        statement>', 'uncertified local', 'global, contradicted by sampling' or 'failed'."""
        st = self.status
        if st == ResultStatus.FAILED:
            return "failed"
        if st == ResultStatus.CONTRADICTED:
            return "global, contradicted by sampling"
        if st == ResultStatus.SAMPLED:
            return "local, sampled: " + str(self.certification.get("statement", "no violation in the samples"))
        if st == ResultStatus.UNCERTIFIED:
            return "uncertified" + ("" if self.is_global else " local")
        if st == ResultStatus.BOUND:
            return "proven bound"
        if not self.is_global:
            return "exact (convex problem, local solver)"
        return "global, domain sampled" if self.domain_status is DomainStatus.NOT_PROVEN else "global"

    def _base_dict(self) -> dict:
        return {
            "status": self.status.value,
            "set": str(self.set_kind),
            "solver": self.solver,
            "global": self.is_global,
            "certified": self.certified,
            "quality": self.solve_quality,
            "method": self.method.value,
            "domain": self.domain,
            "domain_status": str(self.domain_status),
            "time": self.time,
            **{f"theta_p.{k}": v for k, v in self.theta_p.items()},
            "units": dict(self.units),
        }

    def _with_units(self, values: Optional[Dict[str, float]]) -> str:
        """``name=value unit, ...`` (values by θ name)."""
        return ", ".join(f"{k}={v:.6g}" + (f" {self.units[k]}" if self.units.get(k) else "")
                         for k, v in (values or {}).items())

    def _repr_html_(self) -> str:
        """Jupyter's view: status, value, probability, solver, certification and one row per
        subproblem, as an escaped HTML table (:mod:`flexspace.formulations.display`)."""
        from .display import result_html

        return result_html(self)

    def to_dataframe(self):
        """One row per subproblem (per constraint g_k, or one row for the MINLP)."""
        import pandas as pd

        rows = []
        for s in self.subproblems:
            r = s.to_dict()
            for key in ("theta_m", "theta_p"):
                vals = r.pop(key)
                names = self._theta_m_names if key == "theta_m" else list(self.theta_p)
                if vals is not None:
                    for nm, v in zip(names, vals):
                        r[f"{key}.{nm}"] = v
            rows.append(r)
        return pd.DataFrame(rows)


@dataclass
class FlexibilityIndexResult(_Common):
    """Flexibility index F = δm at one θp (seed Eq. 16–23), its probability and provenance.

    ``delta`` is the largest scaling of the uncertainty set inside which every g_k ≤ 0;
    ``probability`` is P(θm ∈ set(δ)).  When ``status`` is FAILED both are NaN."""

    delta: float = float("nan")
    probability: float = float("nan")
    delta_max: float = float("nan")
    delta_lower_bound: Optional[float] = None  #: proven lower bound of δ (the safe side; within gap for ``ok``)
    #: a proven upper bound of δ (a θ that violates, at this set size), when one is known
    delta_upper_bound: Optional[float] = None
    #: when sampling found violations or failed samples: the largest set size free of them
    #: (a sampled estimate, not a proof)
    delta_sampled: Optional[float] = None
    worst_constraint: Optional[str] = None
    worst_theta_m: Optional[Dict[str, float]] = None
    nominal_g: Optional[Dict[str, float]] = None
    _theta_m_names: List[str] = field(default_factory=list, repr=False)

    @property
    def capped(self) -> bool:
        return self.solved and self.delta >= self.delta_max - 1e-12

    def to_dict(self) -> dict:
        d = self._base_dict()
        d.update({
            "delta": self.delta, "delta_lower_bound": self.delta_lower_bound,
            "delta_upper_bound": self.delta_upper_bound,
            "delta_sampled": self.delta_sampled,
            "probability": self.probability, "delta_max": self.delta_max,
            "capped": self.capped, "worst_constraint": self.worst_constraint,
            "worst_theta_m": self.worst_theta_m, "nominal_g": self.nominal_g,
            "certification": dict(self.certification),
            "subproblems": [s.to_dict() for s in self.subproblems],
        })
        return d

    def __str__(self) -> str:
        tp = self._with_units(self.theta_p)
        lines = [
            f"Flexibility index ({self.set_kind}, {self.method}, solver={self.solver}) at {tp}",
            f"  status      : {self.status.value}   [{self.solve_quality}]",
            *([f"  {self.timeout}"] if self.timed_out else []),
            f"  delta       : {_fmt(self.delta)}{'  (capped at delta_max)' if self.capped else ''}",
            f"  probability : {_fmt(self.probability)}",
        ]
        if self.delta_lower_bound is not None or self.delta_upper_bound is not None:
            lines.append(f"  bounds      : {_fmt(self.delta_lower_bound)} <= delta <= {_fmt(self.delta_upper_bound)}"
                         " (proven)")
        if self.delta_sampled is not None:
            lines.append(f"  delta_sampled: {_fmt(self.delta_sampled)} (largest set free of sampled violations)")
        if self.domain:
            lines.append(f"  domain      : {self.domain}")
        if self.worst_constraint:
            wt = self._with_units(self.worst_theta_m)
            lines.append(f"  active g    : {self.worst_constraint} at theta_m = ({wt})")
        if self.certification:
            lines.append("  certification: " + ", ".join(f"{k}={_fmt(v) if isinstance(v, float) else v}"
                                                        for k, v in self.certification.items()))
        for s in self.subproblems:
            lines.append(f"    {s.constraint:<20s} delta_k={_fmt(s.value):<12s} {s.status.value:<16s}"
                         f"{' capped' if s.capped else ''} {s.time:.3f}s")
        if self.diagnostics:
            lines.append("  diagnostics:\n" + self.diagnostics)
        return "\n".join(lines)


@dataclass
class FlexibilityTestResult(_Common):
    """Flexibility test χ (seed Eq. 1–7 in θm, Eq. 28–36 over (θp, θm)).

    ``feasible`` is True only when χ ≤ 0 *and* every subproblem solved."""

    chi: float = float("nan")
    chi_upper_bound: Optional[float] = None  #: proven upper bound of χ (χ_ub ≤ 0 proves feasibility)
    chi_lower_bound: Optional[float] = None  #: proven lower bound of χ (χ_lb > 0 proves infeasibility)
    delta_m: float = float("nan")
    delta_p: Optional[float] = None
    worst_constraint: Optional[str] = None
    worst_theta_m: Optional[Dict[str, float]] = None
    worst_theta_p: Optional[Dict[str, float]] = None
    _theta_m_names: List[str] = field(default_factory=list, repr=False)

    @property
    def feasible(self) -> bool:
        """χ ≤ 0 on the result's evidence: proven (status ``ok`` or ``bound`` with a proven
        upper bound of χ ≤ 0, within a 1e-9 absolute slack for round-off) or scenario-certified
        (status ``sampled``: see :attr:`proven_feasible` for proof only).  A failed, uncertified
        or contradicted test is never feasible."""
        if self.proven_feasible:
            return True
        return self.status == ResultStatus.SAMPLED and np.isfinite(self.chi) and self.chi <= 0.0

    @property
    def proven_feasible(self) -> bool:
        """χ ≤ 0 is proven: status ``ok`` (χ ≤ 0, and a proven upper bound ≤ 0 when there is
        one) or ``bound`` with a proven upper bound ≤ 0."""
        ub = self.chi_upper_bound
        if self.status == ResultStatus.BOUND:
            return ub is not None and ub <= 1e-9
        if self.status != ResultStatus.OK or not np.isfinite(self.chi) or self.chi > 0.0:
            return False
        return ub is None or ub <= 1e-9

    @property
    def proven_infeasible(self) -> bool:
        """χ > 0 is proven: a θ of the set with a violation (status ``ok`` or ``bound``)."""
        if self.status not in (ResultStatus.OK, ResultStatus.BOUND):
            return False
        lb = self.chi_lower_bound if self.chi_lower_bound is not None else (
            self.chi if self.status == ResultStatus.OK else None)
        return lb is not None and lb > 0.0

    def _verdict(self) -> str:
        if self.proven_feasible:
            return "feasible (proven)"
        if self.proven_infeasible:
            return "NOT feasible (proven)"
        if self.feasible:
            return "feasible (sampled, not proven)"
        return "NOT shown feasible"

    def to_dict(self) -> dict:
        d = self._base_dict()
        d.update({
            "chi": self.chi, "chi_upper_bound": self.chi_upper_bound, "chi_lower_bound": self.chi_lower_bound,
            "feasible": self.feasible, "proven_feasible": self.proven_feasible, "delta_m": self.delta_m,
            "delta_p": self.delta_p,
            "worst_constraint": self.worst_constraint, "worst_theta_m": self.worst_theta_m,
            "worst_theta_p": self.worst_theta_p, "certification": dict(self.certification),
            "subproblems": [s.to_dict() for s in self.subproblems],
        })
        return d

    def __str__(self) -> str:
        tp = self._with_units(self.theta_p)
        lines = [
            f"Flexibility test ({self.set_kind}, {self.method}, solver={self.solver}) at {tp}"
            + (f", delta_p={self.delta_p:.6g}" if self.delta_p is not None else ""),
            f"  status   : {self.status.value}   [{self.solve_quality}]",
            *([f"  {self.timeout}"] if self.timed_out else []),
            f"  chi      : {_fmt(self.chi)}  -> {self._verdict()}",
            f"  delta_m  : {_fmt(self.delta_m)}",
        ]
        if self.chi_lower_bound is not None or self.chi_upper_bound is not None:
            lines.append(f"  bounds   : {_fmt(self.chi_lower_bound)} <= chi <= {_fmt(self.chi_upper_bound)} (proven)")
        if self.worst_constraint:
            lines.append(f"  worst g  : {self.worst_constraint}")
        for s in self.subproblems:
            lines.append(f"    {s.constraint:<20s} chi_k={_fmt(s.value):<12s} {s.status.value:<16s} {s.time:.3f}s")
        if self.diagnostics:
            lines.append("  diagnostics:\n" + self.diagnostics)
        return "\n".join(lines)


def cap_test_value(res, cap: Optional[float]) -> None:
    """A model whose ranges rest on "every CQA ≤ C" (variable bounds read as CQAs, widened by
    the margin C: :mod:`flexspace.models.bound_cqas`) computes χ exactly only up to C: above
    it, χ is only known to exceed C.  So a proven lower bound above C becomes C, and an
    ``ok`` value above C becomes a ``bound`` (C ≤ χ ≤ the value); signs are untouched."""
    if cap is None or not isinstance(res, FlexibilityTestResult):
        return
    low = res.chi_lower_bound
    if low is not None and np.isfinite(low) and low > cap:
        res.chi_lower_bound = float(cap)
    # χ = +inf: some θ has no solution inside the ranges widened by C, where the bounds read as soft
    # give a finite value above C; only χ > C is known
    if not np.isnan(res.chi) and res.chi > cap:
        if res.status == ResultStatus.OK:
            res.status = ResultStatus.BOUND
            if np.isfinite(res.chi):
                res.chi_upper_bound = res.chi if res.chi_upper_bound is None else res.chi_upper_bound
            res.chi_lower_bound = float(cap) if res.chi_lower_bound is None else min(res.chi_lower_bound, cap)
        res.diagnostics = ((res.diagnostics + "\n") if res.diagnostics else "") + (
            f"  chi above the margin C = {cap:g} of the bounds read as CQAs: chi > {cap:g} is what is proven "
            "(the value is an upper bound); raise bound_cqa_margin for the value")


def _set_kind(value):
    """A shipped set's name as its :class:`SetKind`; any other set's name (a user's set) as
    the string it is."""
    try:
        return SetKind.parse(value)
    except ValueError:
        return str(value)
