"""Results of flexibility index / flexibility test solves: readable, and tabular."""
from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

import numpy as np

from ..solvers import SolverStatus
from .sets import SetKind, _StrChoice

__all__ = ["ResultStatus", "Method", "SubproblemResult", "FlexibilityIndexResult", "FlexibilityTestResult"]


class Method(_StrChoice):
    """How the flexibility index / test is solved (seed §2): users may pass the string."""

    ENUMERATION = "enumeration"  #: one NLP per constraint g_k (active-set enumeration)
    MINLP = "minlp"  #: one MINLP with the big-M active-set selection of Eq. 3–5

    @classmethod
    def parse(cls, value, param: str = "method") -> "Method":
        return super().parse(value, param)


class ResultStatus(str, enum.Enum):
    """Overall status of a flexibility index / test at one θp."""

    #: the answer holds: proven by a global solver (domain included) or, for a local solver,
    #: certified by sampling the set (no violation, no failed sample)
    OK = "ok"
    NOMINAL_INFEASIBLE = "nominal infeasible"  #: g_k(θp, θ̄m) > 0 for some k: δ = 0, region empty
    #: a local solver's answer that sampling contradicted (a sample of the set violates a CQA or
    #: has no solution): δ and probability are the solver's claim, not trusted
    UNCERTIFIED = "uncertified"
    #: a global solver's answer that sampling contradicted: not trusted either
    CONTRADICTED = "contradicted"
    FAILED = "failed"  #: a subproblem failed or timed out: the answer is unknown, never "feasible"

    def __str__(self) -> str:  # pragma: no cover
        return self.value


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


def _fmt(x, nd=6) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    return f"{x:.{nd}g}"


@dataclass
class _Common:
    status: ResultStatus
    set_kind: SetKind  #: the kind of the uncertainty set the result was computed on
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

    def __post_init__(self) -> None:
        self.set_kind = SetKind.parse(self.set_kind)
        self.method = Method.parse(self.method)

    @property
    def ok(self) -> bool:
        """The answer can be trusted: status ``ok`` or ``nominal infeasible`` (proven, or
        certified by sampling).  ``uncertified``, ``contradicted`` and ``failed`` are not."""
        return self.status in (ResultStatus.OK, ResultStatus.NOMINAL_INFEASIBLE)

    @property
    def solved(self) -> bool:
        """Every subproblem returned an answer (status is not ``failed``)."""
        return self.status != ResultStatus.FAILED

    @property
    def solve_quality(self) -> str:
        """'global', 'global, contradicted by sampling', 'certified local', 'uncertified local'
        or 'failed'."""
        if self.status == ResultStatus.FAILED:
            return "failed"
        if self.is_global:
            if self.certified is False:
                return "global, contradicted by sampling"
            return "global, domain sampled" if self.domain.startswith("not proven") else "global"
        return "certified local" if self.certified else "uncertified local"

    def _base_dict(self) -> dict:
        return {
            "status": self.status.value,
            "set": self.set_kind.value,
            "solver": self.solver,
            "global": self.is_global,
            "certified": self.certified,
            "quality": self.solve_quality,
            "method": self.method.value,
            "domain": self.domain,
            "time": self.time,
            **{f"theta_p.{k}": v for k, v in self.theta_p.items()},
        }

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
    delta_lower_bound: Optional[float] = None  #: global solvers: proven lower bound of δ (within gap)
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
            "delta_sampled": self.delta_sampled,
            "probability": self.probability, "delta_max": self.delta_max,
            "capped": self.capped, "worst_constraint": self.worst_constraint,
            "worst_theta_m": self.worst_theta_m, "nominal_g": self.nominal_g,
            "certification": dict(self.certification),
            "subproblems": [s.to_dict() for s in self.subproblems],
        })
        return d

    def __str__(self) -> str:
        tp = ", ".join(f"{k}={v:.6g}" for k, v in self.theta_p.items())
        lines = [
            f"Flexibility index ({self.set_kind}, {self.method}, solver={self.solver}) at {tp}",
            f"  status      : {self.status.value}   [{self.solve_quality}]",
            f"  delta       : {_fmt(self.delta)}{'  (capped at delta_max)' if self.capped else ''}",
            f"  probability : {_fmt(self.probability)}",
        ]
        if self.delta_sampled is not None:
            lines.append(f"  delta_sampled: {_fmt(self.delta_sampled)} (largest set free of sampled violations)")
        if self.domain:
            lines.append(f"  domain      : {self.domain}")
        if self.worst_constraint:
            wt = ", ".join(f"{k}={v:.6g}" for k, v in (self.worst_theta_m or {}).items())
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
    chi_upper_bound: Optional[float] = None  #: global solvers: proven upper bound of χ
    delta_m: float = float("nan")
    delta_p: Optional[float] = None
    worst_constraint: Optional[str] = None
    worst_theta_m: Optional[Dict[str, float]] = None
    worst_theta_p: Optional[Dict[str, float]] = None
    _theta_m_names: List[str] = field(default_factory=list, repr=False)

    @property
    def feasible(self) -> bool:
        """χ ≤ 0 with every subproblem solved; for global solvers the proven upper bound
        of χ must be ≤ 0 too (within a 1e-9 absolute slack for round-off)."""
        if self.status != ResultStatus.OK or not np.isfinite(self.chi) or self.chi > 0.0:
            return False
        return self.chi_upper_bound is None or self.chi_upper_bound <= 1e-9

    def to_dict(self) -> dict:
        d = self._base_dict()
        d.update({
            "chi": self.chi, "chi_upper_bound": self.chi_upper_bound, "feasible": self.feasible, "delta_m": self.delta_m, "delta_p": self.delta_p,
            "worst_constraint": self.worst_constraint, "worst_theta_m": self.worst_theta_m,
            "worst_theta_p": self.worst_theta_p, "certification": dict(self.certification),
            "subproblems": [s.to_dict() for s in self.subproblems],
        })
        return d

    def __str__(self) -> str:
        tp = ", ".join(f"{k}={v:.6g}" for k, v in self.theta_p.items())
        lines = [
            f"Flexibility test ({self.set_kind}, {self.method}, solver={self.solver}) at {tp}"
            + (f", delta_p={self.delta_p:.6g}" if self.delta_p is not None else ""),
            f"  status   : {self.status.value}   [{self.solve_quality}]",
            f"  chi      : {_fmt(self.chi)}  -> {'feasible' if self.feasible else 'NOT feasible'}",
            f"  delta_m  : {_fmt(self.delta_m)}",
        ]
        if self.worst_constraint:
            lines.append(f"  worst g  : {self.worst_constraint}")
        for s in self.subproblems:
            lines.append(f"    {s.constraint:<20s} chi_k={_fmt(s.value):<12s} {s.status.value:<16s} {s.time:.3f}s")
        if self.diagnostics:
            lines.append("  diagnostics:\n" + self.diagnostics)
        return "\n".join(lines)
