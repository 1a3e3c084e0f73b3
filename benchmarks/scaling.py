"""How the cost of a flexibility index and of a small Algorithm 2 map grows (issue 14, part 5).

    .venv/bin/python benchmarks/scaling.py                  # all series, every available solver
    .venv/bin/python benchmarks/scaling.py --time-limit 5 --solvers maingo scip

Four series, each against one size (ellipsoid set, enumeration, serial, no certification
sampling — solve time only; ``options={"time_limit": T, "certify": False}``):

* **θm, linear**: g_k = a_k·θm − b_k + c_k·θp, K = 2, n_m = 2, 5, 10, 20 uncertain parameters;
* **θm, nonlinear**: g_k = Σ_i a_ki exp(θ_i / 2) − b_k + c_k·θp, the same sizes;
* **θp dimension**: case 1 (θp = R_BA, τ) against case 1 with the feed concentration
  c_A,in as a third process parameter (defined here; the same equations);
* **model states**: case 1 (5 states), the series CSTR of case 2 (7 states) and a pyomo.dae
  batch reactor A → B → C (Radau collocation, 3 points per element, 2 / 4 / 8 elements).

Per configuration one small map: 2 grid points (2 per axis for the θp series: 4 and 8 points).
"time per index" is the median per-point solve time of that map, "map" its wall time.  A
time-out or failure is recorded as such (status counts), never as a time; a solver whose
smaller size of a model family timed out everywhere is not run on its larger sizes ("skipped").
Gurobi runs where its size-limited pip licence allows; the licence refusal is recorded.
The growth exponent is the slope of log(time) against log(size) (numpy polyfit) over the
sizes whose every point solved (the figure shows those).  The states series mixes three
families (case 1, case 2, the batch reactor); its exponent is across all of them.
Tables: ``benchmarks/results/scaling.md``; log-log figure: ``benchmarks/results/scaling.png``.
The machine is shared: timings are inflated, and a wall-clock time limit then cuts solves short.
"""
from __future__ import annotations

import argparse
import datetime
import functools
import os
import pathlib
import platform
import time

import numpy as np

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
SOLVERS = ("ipopt", "maingo", "scip", "gurobi")


# --------------------------------------------------------------------------- models
def theta_m_model(n: int, nonlinear: bool):
    """n uncertain parameters θ ~ N(0, 0.3² I), two process parameters p ∈ [0, 1]², K = 2 CQAs
    whose index at p = 0 is about 2 σ (b_k set from the linearisation)."""
    import pyomo.environ as pyo

    import flexspace

    rng = np.random.default_rng(100 + n)
    K, sd = 2, 0.3
    A = rng.uniform(0.5, 1.5, (K, n)) * rng.choice([-1.0, 1.0], (K, n))
    C = rng.uniform(0.1, 0.3, (K, 2)) * sd * np.linalg.norm(A, axis=1, keepdims=True)
    slope = 0.5 * A if nonlinear else A
    b = (A.sum(axis=1) if nonlinear else 0.0) + 2.0 * sd * np.linalg.norm(slope, axis=1)
    m = pyo.ConcreteModel(name=f"theta_m_{'nonlinear' if nonlinear else 'linear'}_{n}")
    m.I, m.K, m.J = pyo.RangeSet(0, n - 1), pyo.RangeSet(0, K - 1), pyo.RangeSet(0, 1)
    m.p = pyo.Param(m.J, mutable=True, initialize=0.0)
    m.t = pyo.Param(m.I, mutable=True, initialize=0.0)

    def g(m, k):
        body = (sum(float(A[k, i]) * pyo.exp(0.5 * m.t[i]) for i in m.I) if nonlinear
                else sum(float(A[k, i]) * m.t[i] for i in m.I))
        return body - float(b[k]) + sum(float(C[k, j]) * m.p[j] for j in m.J)

    m.g = pyo.Expression(m.K, rule=g)
    return flexspace.ProcessModel(m, theta_p={"p1": m.p[0], "p2": m.p[1]},
                                  theta_m={f"t{i}": m.t[i] for i in range(n)},
                                  constraints={f"g{k}": m.g[k] for k in range(K)}, covariance=sd ** 2 * np.eye(n),
                                  theta_m_nominal=np.zeros(n), theta_p_bounds=[(0.0, 1.0), (0.0, 1.0)],
                                  name=m.name)


def case1_three_theta_p():
    """Case 1 (full form) with the feed concentration c_A,in ∈ [0.50, 0.56] mol/L as a third
    process parameter (case 1 fixes it at 0.53); equations, CQAs, θm and Σ as in case 1."""
    import pyomo.environ as pyo

    import flexspace
    from flexspace.models.cases import case1

    m = case1.build_pyomo(*case1.THETA_P_NOMINAL)
    m.CA_IN = pyo.Param(mutable=True, initialize=case1.CA_IN)
    m.cA.setub(0.6)
    for v in (m.cC, m.cD, m.cE):
        v.setub(0.6)
    m.bal_A.set_value(m.CA_IN - m.cA - m.tau * m.r1 == 0)
    m.bal_B.set_value(m.CA_IN * m.R_BA - m.cB - m.tau * m.r1 == 0)
    m.g_yield.set_value(0.9 * (m.CA_IN - m.cA) - m.cD)
    return flexspace.ProcessModel(
        m, theta_p={"R_BA": m.R_BA, "tau": m.tau, "CA_in": m.CA_IN}, theta_m={"k1": m.k1, "k2": m.k2},
        constraints={"yield": m.g_yield, "purity": m.g_purity}, covariance=case1.COVARIANCE,
        theta_m_nominal=case1.K_NOMINAL, theta_p_nominal=[*case1.THETA_P_NOMINAL, case1.CA_IN],
        theta_p_bounds=[*case1.THETA_P_BOUNDS.tolist(), [0.50, 0.56]], name="case1_3p")


def batch_dae(nfe: int, ncp: int = 3):
    """A → B → C in a batch on normalised time s ∈ [0, 1]: dA/ds = −tb k1 A, dB/ds = tb (k1 A − k2 B),
    A(0) = 1, B(0) = 0; Radau collocation (``nfe`` elements, ``ncp`` points); θp = batch time tb,
    θm = (k1, k2); CQAs A(1) ≤ 0.1 (conversion) and B(1) ≥ 0.68 (yield)."""
    import pyomo.dae as dae
    import pyomo.environ as pyo

    import flexspace

    m = pyo.ConcreteModel(name=f"batch_dae_{nfe}")
    m.tb = pyo.Param(mutable=True, initialize=3.3)
    m.k1 = pyo.Param(mutable=True, initialize=1.0)
    m.k2 = pyo.Param(mutable=True, initialize=0.1)
    m.s = dae.ContinuousSet(bounds=(0.0, 1.0))
    m.A = pyo.Var(m.s, bounds=(0.0, 1.0), initialize=0.5)
    m.B = pyo.Var(m.s, bounds=(0.0, 1.0), initialize=0.3)
    m.dA = dae.DerivativeVar(m.A, wrt=m.s, bounds=(-20.0, 0.0))
    m.dB = dae.DerivativeVar(m.B, wrt=m.s, bounds=(-20.0, 20.0))
    m.odeA = pyo.Constraint(m.s, rule=lambda m, s: m.dA[s] == -m.tb * m.k1 * m.A[s])
    m.odeB = pyo.Constraint(m.s, rule=lambda m, s: m.dB[s] == m.tb * (m.k1 * m.A[s] - m.k2 * m.B[s]))
    m.A0 = pyo.Constraint(expr=m.A[0] == 1.0)
    m.B0 = pyo.Constraint(expr=m.B[0] == 0.0)
    pyo.TransformationFactory("dae.collocation").apply_to(m, nfe=nfe, ncp=ncp, scheme="LAGRANGE-RADAU")
    m.conversion = pyo.Constraint(expr=m.A[1] <= 0.1)
    m.yield_ = pyo.Constraint(expr=m.B[1] >= 0.68)
    return flexspace.ProcessModel(m, theta_p={"tb": m.tb}, theta_m={"k1": m.k1, "k2": m.k2},
                                  constraints={"conversion": m.conversion, "yield": m.yield_},
                                  covariance=[[0.08 ** 2, 0.0], [0.0, 0.03 ** 2]], theta_p_bounds=[(3.0, 3.6)],
                                  name=m.name)


def n_states(model) -> int:
    """Variables of the model's Pyomo block (its states, derivatives and collocation values)."""
    import pyomo.environ as pyo

    return sum(1 for _ in model._template.component_data_objects(pyo.Var))


def _series():
    """(series name, size label, [(size, zero-argument builder, grid)])."""
    from flexspace.models.cases import case1, case2

    two = [np.array([0.0, 1.0]), np.array([0.5])]
    out = [("theta_m linear", "n_m", [(n, functools.partial(theta_m_model, n, False), two) for n in (2, 5, 10, 20)]),
           ("theta_m nonlinear", "n_m", [(n, functools.partial(theta_m_model, n, True), two) for n in (2, 5, 10, 20)])]
    c1 = [np.array([4.2, 4.6]), np.array([450.0, 500.0])]
    out.append(("theta_p dimension (case 1)", "n_p", [(2, case1.model, c1),
                                                      (3, case1_three_theta_p, c1 + [np.array([0.52, 0.54])])]))
    states = [(None, case1.model, [np.array([4.6]), np.array([450.0, 500.0])]),
              (None, case2.model, [np.array([20.0]), np.array([1000.0, 1200.0])])]
    states += [(None, functools.partial(batch_dae, nfe), [np.array([3.0, 3.6])]) for nfe in (2, 4, 8)]
    out.append(("model states", "states", states))
    return out


# --------------------------------------------------------------------------- measuring
def measure(model, grid, solver: str, time_limit: float) -> dict:
    """One small serial Algorithm 2 map: wall time, median per-point time, statuses, notes."""
    from flexspace.designspace import flexibility_index_map

    t0 = time.perf_counter()
    try:
        d = flexibility_index_map(model, grid=grid, uncertainty_set="ellipsoid", solver=solver,
                                  options={"time_limit": time_limit, "certify": False}, progress=False)
    except Exception as exc:  # noqa: BLE001 - a solver that refuses the model is a result, not a crash
        return {"map_s": float("nan"), "index_s": float("nan"), "status": "error",
                "note": f"{type(exc).__name__}: {str(exc)[:120]}"}
    wall = time.perf_counter() - t0
    t = d.table
    solved = t[t.status.isin(["ok", "uncertified", "contradicted"])]
    msgs = " ".join(str(x) for x in t.message.fillna(""))
    note = ("licence size limit" if "size-limited" in msgs or "10010" in msgs else
            "time limit" if "time" in msgs.lower() and (t.status == "failed").any() else "")
    if (t.status == "failed").any() and not note:
        note = str(t[t.status == "failed"].message.iloc[0])[:120]
    return {"map_s": wall, "index_s": float(np.median(solved.time)) if len(solved) else float("nan"),
            "status": ", ".join(f"{k} {v}" for k, v in d.status_counts.items()), "note": note,
            "all_failed": len(solved) == 0, "complete": len(solved) == len(t)}


def exponent(rows, key) -> float:
    """Slope of log(time) against log(size) over the configurations whose every point solved."""
    ok = [(r["size"], r[key]) for r in rows if r.get("complete") and np.isfinite(r[key]) and r[key] > 0]
    if len(ok) < 2:
        return float("nan")
    x, y = np.log([s for s, _ in ok]), np.log([t for _, t in ok])
    return float(np.polyfit(x, y, 1)[0])


def _family(name: str) -> str:
    """``theta_m_linear_10`` -> ``theta_m_linear``: the sizes of one model family."""
    return name.rstrip("0123456789").rstrip("_")


def run_series(name, label, configs, solvers, time_limit, log) -> list:
    rows = []
    for solver in solvers:
        skip = {}  # family -> why its larger sizes are not run
        for size, build, grid in configs:
            model = build()
            size = n_states(model) if size is None else size
            if _family(model.name) in skip:
                r = {"map_s": float("nan"), "index_s": float("nan"), "status": "skipped",
                     "note": skip[_family(model.name)]}
            else:
                r = measure(model, grid, solver, time_limit)
                if r.get("all_failed") or r["status"] == "error":
                    skip[_family(model.name)] = f"skipped: {model.name} failed or timed out"
            rows.append({"series": name, "label": label, "size": size, "model": model.name, "solver": solver, **r})
            log(f"  {name:<28} {label}={size:<4} {solver:<7} index {r['index_s']:8.3f} s  map {r['map_s']:8.2f} s"
                f"  {r['status']} {r['note']}")
    return rows


# --------------------------------------------------------------------------- output
def tables(rows, solvers) -> str:
    out = []
    for name in dict.fromkeys(r["series"] for r in rows):
        sr = [r for r in rows if r["series"] == name]
        label = sr[0]["label"]
        out += [f"## {name}", "", f"| {label} | model | solver | time per index [s] | map [s] | points | note |",
                "|---|---|---|---|---|---|---|"]
        for r in sr:
            out.append(f"| {r['size']} | {r['model']} | {r['solver']} | {r['index_s']:.3f} | {r['map_s']:.2f} | "
                       f"{r['status']} | {r['note']} |")
        out += ["", "| solver | growth exponent (index) | growth exponent (map) | sizes fitted |", "|---|---|---|---|"]
        for s in solvers:
            mine = [r for r in sr if r["solver"] == s]
            fitted = [str(r["size"]) for r in mine if r.get("complete")]
            out.append(f"| {s} | {exponent(mine, 'index_s'):.2f} | {exponent(mine, 'map_s'):.2f} | "
                       f"{', '.join(fitted) or '-'} |")
        out.append("")
    return "\n".join(out)


def figure(rows, solvers, path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    names = list(dict.fromkeys(r["series"] for r in rows))
    fig = Figure(figsize=(4.2 * len(names), 3.8))
    FigureCanvasAgg(fig)
    for ax, name in zip(fig.subplots(1, len(names), squeeze=False)[0], names):
        for s in solvers:
            mine = [r for r in rows if r["series"] == name and r["solver"] == s and r.get("complete")]
            if mine:
                ax.loglog([r["size"] for r in mine], [r["index_s"] for r in mine], "o-",
                          label=f"{s} (slope {exponent(mine, 'index_s'):.2f})")
        ax.set_title(name, fontsize=9)
        sizes = sorted({r["size"] for r in rows if r["series"] == name})
        ax.set_xticks(sizes, [str(x) for x in sizes])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(next(r["label"] for r in rows if r["series"] == name))
        ax.set_ylabel("time per index [s]")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--solvers", nargs="+", default=None, help=f"default: those of {SOLVERS} available")
    ap.add_argument("--time-limit", type=float, default=10.0, help="seconds per solve")
    args = ap.parse_args(argv)
    from flexspace.solvers import available_solvers

    solvers = [s for s in (args.solvers or SOLVERS) if s in available_solvers()]
    t0, load0 = time.perf_counter(), os.getloadavg()
    rows = []
    for name, label, configs in _series():
        rows += run_series(name, label, configs, solvers, args.time_limit, lambda s: print(s, flush=True))
    RESULTS.mkdir(parents=True, exist_ok=True)
    figure(rows, solvers, RESULTS / "scaling.png")
    head = (f"# Scaling of the flexibility index and of small Algorithm 2 maps\n\n"
            f"{platform.node()}, {os.cpu_count()} cores shared with other jobs (load average {load0[0]:.1f} at the "
            f"start, {os.getloadavg()[0]:.1f} at the end: timings are inflated), python {platform.python_version()}, "
            f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M')}Z; total "
            f"{time.perf_counter() - t0:.0f} s.\nCommand: `.venv/bin/python benchmarks/scaling.py "
            f"--time-limit {args.time_limit:g}{' --solvers ' + ' '.join(args.solvers) if args.solvers else ''}`; "
            f"ellipsoid set, enumeration, serial, certify=False, {args.time_limit:g} s per solve.  "
            "Figure: `scaling.png`.\n\n")
    text = head + tables(rows, solvers)
    print("\n" + text)
    (RESULTS / "scaling.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
