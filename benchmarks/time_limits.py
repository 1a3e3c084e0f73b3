"""Are time limits kept?  Solver x requested limit -> wall-clock time of one solve that cannot finish.

    .venv/bin/python benchmarks/time_limits.py                        # limits 2, 5, 20 s, every available solver
    .venv/bin/python benchmarks/time_limits.py --limits 2 5 --solvers scip highs

The promise (``flexspace.solvers.Solver.solve``, ``SolveOptions.time_limit``): one solve given
``time_limit = T`` returns within ``T + max(2 s, 5 % T)`` wall-clock
(:func:`flexspace.solvers.solver.time_allowance`).  Measured here: a fresh
``Solver(name, {"time_limit": T})``, its ``solve(model)`` and its ``close()`` — the guard's fork,
the model's state and translation, the solve, the kill or the answer, the end of the guard's
child all count.  ``clean`` checks that nothing outlived the solve: no child process of this
one, no ``/tmp/flexspace-solve-<pid>-*`` folder.

Each solver gets a problem it cannot finish within the largest limit (a row whose solve
finished says so and is no test of the limit):

* maingo: case 2, full form, box flexibility index — its first subproblem that runs out of a
  3 s limit inside ``flexibility_index`` (captured from the analysis, then solved alone; the
  README's table: MAiNGO times out on case 2's full form);
* scip: case 1, reduced form, ellipsoid flexibility test at (4.6, 450) — the same capture
  (SCIP's bound stays 0.5 % short on the closed-form steady state);
* gurobi: a random box-constrained nonconvex QP, max xᵀQx over [−1, 1]⁶⁰ (Gurobi closes the
  flexibility problems of the cases in seconds);
* ipopt: a large NLP, 2000 variables, 1999 nonlinear equations and a dense Hessian
  (PyNumero's translation alone takes ~1.7 s; Ipopt does not converge in 100 s);
* highs: a market split MILP, 4 x 40 binaries (Cornuéjols & Dawande 1999: hard for branch and bound).

Timings depend on the machine's load; the table is printed, nothing is asserted.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import time

import numpy as np

SOLVERS = ("maingo", "scip", "gurobi", "ipopt", "highs")
LIMITS = (2.0, 5.0, 20.0)
#: the time limit of the analysis run from which the hard subproblem is captured
CAPTURE_LIMIT = 3.0


class _Found(BaseException):
    """Ends the analysis once the hard subproblem is captured (not an Exception: nothing catches it)."""


def captured(solver: str, run) -> "object":
    """A copy of the first model that ``solver`` timed out on while ``run()`` ran an analysis."""
    from flexspace.solvers import Solver, SolverStatus

    original, found = Solver.solve, []

    def solve(self, model, **kwargs):
        copy = model.clone()
        res = original(self, model, **kwargs)
        if self.name == solver and res.status == SolverStatus.TIME_LIMIT:
            found.append(copy)
            raise _Found()
        return res

    Solver.solve = solve
    try:
        run()
    except _Found:
        pass
    finally:
        Solver.solve = original
        gc.collect()  # the interrupted analysis' solvers: their guard children end with them
    if not found:
        raise SystemExit(f"{solver}: no subproblem ran out of {CAPTURE_LIMIT} s; pick a harder problem")
    return found[0]


def case2_index_subproblem(solver: str):
    import flexspace
    from flexspace.models.cases import case2

    return captured(solver, lambda: flexspace.flexibility_index(
        case2.model(), None, "box", solver, options={"time_limit": CAPTURE_LIMIT, "certify": False}))


def case1_reduced_test_subproblem(solver: str):
    import flexspace
    from flexspace.models.cases import case1

    return captured(solver, lambda: flexspace.flexibility_test(
        case1.model(formulation="reduced"), [4.6, 450], confidence=0.85, uncertainty_set="ellipsoid",
        solver=solver, options={"time_limit": CAPTURE_LIMIT, "certify": False}))


def nonconvex_qp(n: int = 60, seed: int = 0):
    import pyomo.environ as pyo

    rng = np.random.default_rng(seed)
    Q = rng.normal(size=(n, n))
    Q = (Q + Q.T) / 2
    m = pyo.ConcreteModel(name=f"box_qp_{n}")
    m.I = pyo.RangeSet(0, n - 1)
    m.x = pyo.Var(m.I, bounds=(-1, 1), initialize=0.0)
    m.o = pyo.Objective(expr=sum(float(Q[i, j]) * m.x[i] * m.x[j] for i in range(n) for j in range(n)),
                        sense=pyo.maximize)
    return m


def dense_nlp(n: int = 2000):
    import pyomo.environ as pyo

    m = pyo.ConcreteModel(name=f"dense_nlp_{n}")
    m.I = pyo.RangeSet(0, n - 1)
    m.x = pyo.Var(m.I, bounds=(-10, 10), initialize=lambda m, i: (i % 7) * 0.3)
    m.c = pyo.Constraint(pyo.RangeSet(0, n - 2),
                         rule=lambda m, i: m.x[i] ** 2 + pyo.sin(m.x[i + 1]) * m.x[i + 1] == 1.0 + 0.001 * i)
    m.o = pyo.Objective(expr=sum(m.x[i] for i in m.I) ** 2 + sum(pyo.cos(m.x[i]) for i in m.I))
    return m


def market_split(rows: int = 4, n: int = 40, seed: int = 0):
    import pyomo.environ as pyo

    rng = np.random.default_rng(seed)
    A = rng.integers(0, 100, size=(rows, n))
    b = A.sum(axis=1) // 2
    m = pyo.ConcreteModel(name=f"market_split_{rows}x{n}")
    m.I, m.R = pyo.RangeSet(0, n - 1), pyo.RangeSet(0, rows - 1)
    m.x = pyo.Var(m.I, domain=pyo.Binary)
    m.sp = pyo.Var(m.R, bounds=(0, None))
    m.sm = pyo.Var(m.R, bounds=(0, None))
    m.c = pyo.Constraint(m.R, rule=lambda m, r: sum(int(A[r, i]) * m.x[i] for i in m.I) + m.sp[r] - m.sm[r]
                         == int(b[r]))
    m.o = pyo.Objective(expr=sum(m.sp[r] + m.sm[r] for r in m.R))
    return m


PROBLEMS = {
    "maingo": ("case 2 full, box index subproblem", lambda: case2_index_subproblem("maingo")),
    "scip": ("case 1 reduced, ellipsoid test subproblem", lambda: case1_reduced_test_subproblem("scip")),
    "gurobi": ("nonconvex box QP, n = 60", nonconvex_qp),
    "ipopt": ("dense NLP, n = 2000", dense_nlp),
    "highs": ("market split MILP, 4 x 40", market_split),
}


def leftovers() -> str:
    """What outlived the solve: this process's children and its solver folders ("" when none)."""
    import glob
    import tempfile

    pid = os.getpid()
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = f.read().split()
    except OSError:  # not Linux
        kids = []
    folders = glob.glob(os.path.join(tempfile.gettempdir(), f"flexspace-solve-{pid}-*"))
    return ", ".join(x for x in (f"{len(kids)} child process(es)" if kids else "",
                                 f"{len(folders)} folder(s)" if folders else "") if x)


def measure(solver: str, model, limit: float) -> dict:
    from flexspace.solvers import SolverStatus, get_solver
    from flexspace.solvers.solver import time_allowance

    t0 = time.monotonic()
    s = get_solver(solver, {"time_limit": limit})
    res = s.solve(model)
    s.close()
    wall = time.monotonic() - t0
    allowed = limit + time_allowance(limit)
    timed_out = res.status == SolverStatus.TIME_LIMIT
    left = leftovers()
    verdict = ("pass" if wall <= allowed else "FAIL") if timed_out else f"finished ({res.status.value}): no test"
    return {"wall": wall, "overrun": wall - limit, "allowed": allowed, "status": res.status.value,
            "verdict": verdict + (f"; LEFT {left}" if left else ""), "clean": "yes" if not left else "NO",
            "message": res.message}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limits", type=float, nargs="+", default=list(LIMITS), help="time limits [s]")
    ap.add_argument("--solvers", nargs="+", default=list(SOLVERS), choices=SOLVERS)
    ap.add_argument("--messages", action="store_true", help="also print each solve's one-line message")
    args = ap.parse_args(argv)
    from flexspace.solvers import available_solvers

    here = available_solvers()
    print(f"# Time limits: one solve that cannot finish ({os.cpu_count()} cores, load "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())})\n")
    print("| solver | problem | limit T [s] | wall [s] | overrun [s] | allowed T + max(2, 5 %) [s] | status | clean "
          "| verdict |")
    print("|---|---|---|---|---|---|---|---|---|")
    failed = False
    for solver in args.solvers:
        what, build = PROBLEMS[solver]
        if solver not in here:
            print(f"| {solver} | {what} | | | | | not available here | | skipped |")
            continue
        model = build()
        for limit in args.limits:
            r = measure(solver, model.clone(), limit)
            failed |= r["verdict"] != "pass"
            print(f"| {solver} | {what} | {limit:g} | {r['wall']:.2f} | {r['overrun']:+.2f} | {r['allowed']:.1f} "
                  f"| {r['status']} | {r['clean']} | {r['verdict']} |", flush=True)
            if args.messages:
                print(f"|  | {r['message']} |||||||", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
