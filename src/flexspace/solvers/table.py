"""``flexspace solvers``: one row per registered solver, with a check solve of a small problem
with a known optimum."""
from __future__ import annotations

import math
from typing import List

import pyomo.environ as pyo

from .backends.base import unavailable_reason
from .registry import backend_class, raw_version, solver_names, spec_of
from .solver import Solver


def _check_problem(kind: str):
    """A 1-line check problem with a known optimum: min (x-1)^2 + (y-2)^2 on a disc (NLP)
    or a small knapsack (MILP)."""
    m = pyo.ConcreteModel()
    if kind == "milp":
        m.x = pyo.Var([0, 1, 2], domain=pyo.Binary)
        m.c = pyo.Constraint(expr=3 * m.x[0] + 4 * m.x[1] + 5 * m.x[2] <= 8)
        m.o = pyo.Objective(expr=-(4 * m.x[0] + 5 * m.x[1] + 6 * m.x[2]))
        return m, -10.0
    m.x = pyo.Var(bounds=(-3, 3), initialize=0.1)
    m.y = pyo.Var(bounds=(-3, 3), initialize=0.1)
    m.c = pyo.Constraint(expr=m.x ** 2 + m.y ** 2 <= 1)
    m.o = pyo.Objective(expr=(m.x - 1) ** 2 + (m.y - 2) ** 2)
    return m, (math.sqrt(5) - 1) ** 2


def _fmt_version(v) -> str:
    if isinstance(v, tuple):
        return ".".join(str(x) for x in v)
    return str(v)


def solver_table(time_limit: float = 20.0) -> List[dict]:
    """One row per known solver: name, version, available, global/local, a check solve, and for
    an unavailable solver ``why``: why not and how to fix it (the backend's ``why_unavailable``)."""
    rows = []
    for name in solver_names():
        spec = spec_of(backend_class(name))
        row = {"name": name, "pyomo": spec.pyomo_name, "version": "", "available": False,
               "type": "global" if spec.is_global else "local", "problem": spec.kind, "check": "", "why": ""}
        try:
            v = raw_version(name)
        except Exception as exc:  # noqa: BLE001
            v = None
            row["check"] = f"unavailable: {type(exc).__name__}: {exc}"[:80]
        if v is None:
            row["check"] = row["check"] or "unavailable"
            row["why"] = unavailable_reason(backend_class(name)) or row["check"]
            rows.append(row)
            continue
        row["version"] = _fmt_version(v)
        m, expected = _check_problem("milp" if spec.kind == "milp" else "nlp")
        try:
            res = Solver(name, {"time_limit": time_limit}).solve(m)
            ok = res.status.ok and res.objective is not None and abs(res.objective - expected) < 1e-4
            row["available"] = bool(ok)
            row["check"] = (f"{'ok' if ok else 'FAILED'}: {res.status.value}, obj={res.objective!r} "
                            f"(expected {expected:.6f}), {res.time:.2f} s")
        except Exception as exc:  # noqa: BLE001
            row["check"] = f"FAILED: {type(exc).__name__}: {exc}"[:100]
        if not row["available"]:
            row["why"] = ("it is installed, but the check solve of a small problem with a known optimum failed "
                          f"({row['check']}); the solver or its installation is broken")
        rows.append(row)
    return rows


__all__ = ["solver_table"]
