"""Acceptance figures of issue 6 (OMLT-embedded crystallization surrogates).

    python benchmarks/bench_crystallization_design_space.py                 # all parts, GBT design space
    python benchmarks/bench_crystallization_design_space.py --part embed    # blocks vs predict (200 points)
    python benchmarks/bench_crystallization_design_space.py --part map --surrogate rf   # 21x21 map, times
    python benchmarks/bench_crystallization_design_space.py --part pareto --n-cycles 4  # eps-front vs NSGA-II
    python benchmarks/bench_crystallization_design_space.py --part grids    # grids 1, 3, 5: same limits, Alg 3 why

Every figure is measured here (nothing is hard-coded):

* ``embed``: each surrogate type trained on the in-silico lab's DoE (13 features, D50),
  embedded, its Pyomo block solved with the inputs fixed (HiGHS for MILP blocks, Ipopt
  for the smooth MLP) at 200 random in-bound points; max relative error vs ``predict``
  (acceptance: ≤ 1e-6 MLP, ≤ 1e-5 trees);
* ``map``: the 2-parameter design space on a 21 × 21 grid: Monte Carlo (Alg. 1), the
  flexibility index (Alg. 2, box set) and the Alg. 3 rectangle; wall times (acceptance:
  Alg. 2 < 5 min) and the ordering Alg 3 ⊆ Alg 2 ⊆ MC;
* ``pareto``: ε-constraint front (max D50, min DoA) on the embedded surrogates vs the
  NSGA-II front on the same surrogates and bounds; hypervolumes (acceptance: ε ≥ 95 %
  of NSGA-II);
* ``grids``: the same design space on 1 × 1, 3 × 3 and 5 × 5 grids: the CQA limits are
  identical (they are set on their own fixed grid), a 1-point axis works, and Algorithm 3
  says why it did not converge when it did not.
"""
from __future__ import annotations

import argparse
import tempfile
import time
import warnings

import numpy as np
import pandas as pd


def _doe(random_state: int):
    from flexspace.crystallization.doe import generate_doe

    t = time.perf_counter()
    doe = generate_doe(random_state=random_state, holdout_kwargs={"pop_size": 6, "n_gen": 2})
    print(f"DoE (in-silico lab, 35 runs): {time.perf_counter() - t:.1f} s")
    return doe


def part_embed(doe, n_points: int = 200, random_state: int = 0) -> pd.DataFrame:
    from sklearn.exceptions import ConvergenceWarning
    from xgboost import XGBRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from flexspace.crystallization.design_space import design_input_bounds, make_surrogate
    from flexspace.crystallization.profile import FEATURE_NAMES
    from flexspace.surrogates.omlt_embed import _rel_err, embed_surrogate, predict_with_block

    sub = doe[doe["D50"].notna()]
    X, y = sub[list(FEATURE_NAMES)].to_numpy(float), sub["D50"].to_numpy(float)
    b = design_input_bounds()
    pts = np.random.default_rng(random_state + 1).uniform(b[:, 0], b[:, 1], size=(n_points, len(FEATURE_NAMES)))
    models = {
        "MLP relu (MILP)": make_surrogate("mlp", random_state, "relu"),
        "MLP tanh (NLP)": make_surrogate("mlp", random_state, "tanh"),
        "RandomForest": make_surrogate("rf", random_state),
        "GradientBoosting": make_surrogate("gbt", random_state),
        "XGBoost (converted)": Pipeline([("scaler", StandardScaler()),
                                          ("model", XGBRegressor(n_estimators=50, max_depth=3,
                                                                       random_state=random_state))]),
    }
    rows = []
    for name, est in models.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        t = time.perf_counter()
        emb = embed_surrogate(est, b)
        t_embed = time.perf_counter() - t
        t = time.perf_counter()
        got = predict_with_block(emb, pts)
        t_eval = time.perf_counter() - t
        err = _rel_err(got, est.predict(pts))
        tol = emb.tolerance
        rows.append({"surrogate": name, "class": emb.problem_class, "solver": "highs" if emb.problem_class == "milp"
                     else "ipopt", "points": n_points, "failed": int(np.sum(~np.isfinite(got))),
                     "max_rel_err": float(np.nanmax(err)), "tolerance": tol, "pass": bool(np.all(err <= tol)),
                     "embed_s": t_embed, "solve_s_per_point": t_eval / n_points})
    df = pd.DataFrame(rows)
    print("\n== embedded blocks vs predict() ==")
    print(df.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    return df


def part_map(doe, kind: str, n_grid: int = 21, n_samples: int = 2000, random_state: int = 0,
             params=("seed_loading", "C")):
    from flexspace.crystallization.design_space import SurrogateSpec, run_design_space

    with tempfile.TemporaryDirectory() as d:
        res = run_design_space(SurrogateSpec(kind, params=params, doe=doe), d, n_grid=n_grid, n_samples=n_samples,
                               random_state=random_state, verbose=True)
    t, o = res["timings"], res["ordering"]
    print(f"\n== design space {n_grid}x{n_grid}, {kind} surrogates, theta_p = {list(params)}, solver {res['solver']} ==")
    print(f"driver: {res['driver']}")
    print(f"fit {t['fit_s']:.1f} s | embed {t['embed_s']:.2f} s | MC (N={n_samples}) {t['mc_s']:.1f} s | "
          f"Alg 2 {t['alg2_s']:.1f} s ({'<' if t['alg2_s'] < 300 else '>='} 5 min) | Alg 3 {t['alg3_s']:.1f} s "
          f"({res['alg3_tests']} extended tests, delta_p = {res['delta_p']:.4g})")
    print(f"points: MC {o['n_in_mc']}, Alg 2 {o['n_alg2']}, Alg 3 {o['n_alg3']}; Alg3 not in Alg2: "
          f"{o['alg3_not_in_alg2']}, Alg2 not in MC: {o['alg2_not_in_mc']}, failed Alg 2 solves: "
          f"{o['n_failed_alg2']} -> ordering holds: {o['holds']}")
    print(f"limits: {res['limits']}")
    print(f"Algorithm 3: {res['alg3_status']}" + (f" because {res['alg3_reason']}" if res["alg3_reason"] else ""))
    return res


def part_grids(doe, kind: str = "gbt", grids=(1, 3, 5), n_samples: int = 500, random_state: int = 0,
               params=("seed_loading", "C")):
    """The same problem on several grid sizes: the limits must not move; a 1-point axis works."""
    from flexspace.crystallization.design_space import SurrogateSpec, run_design_space

    rows = []
    for n in grids:
        t0 = time.perf_counter()
        res = run_design_space(SurrogateSpec(kind, params=params, doe=doe), n_grid=n, n_samples=n_samples,
                               random_state=random_state, verbose=False)
        o = res["ordering"]
        rows.append({"grid": f"{n}x{n}", "limits": res["limits"], "MC": o["n_in_mc"], "Alg2": o["n_alg2"],
                     "Alg3": o["n_alg3"], "ordering": o["holds"], "Alg3 status": res["alg3_status"],
                     "why": res["alg3_reason"] or "-", "s": round(time.perf_counter() - t0, 1)})
    df = pd.DataFrame(rows)
    print(f"\n== the same design space on grids {list(grids)} ({kind}, theta_p = {list(params)}) ==")
    with pd.option_context("display.max_colwidth", 200, "display.width", 250):
        print(df.drop(columns=["limits", "why"]).to_string(index=False))
        print("limits identical on every grid:", all(r["limits"] == rows[0]["limits"] for r in rows),
              rows[0]["limits"])
        for r in rows:
            print(f"{r['grid']}: Alg 3 {r['Alg3 status']}; why: {r['why']}")
    return df


def part_pareto(doe, kind: str = "gbt", n_cycles: int = 4, n_points: int = 21, random_state: int = 0):
    from flexspace.crystallization.design_space import fit_crystallization_surrogates
    from flexspace.crystallization.pareto import compare_with_nsga2

    f = fit_crystallization_surrogates(doe, kind, cqas=("D50", "DoA"), random_state=random_state, n_members=2)
    r = compare_with_nsga2(f["D50"], f["DoA"], n_cycles=n_cycles, n_points=n_points, pop_size=40, n_gen=40,
                           random_state=random_state)
    e = r["eps"]
    print(f"\n== eps-constraint vs NSGA-II ({kind}, {n_cycles} cycles, same surrogates and bounds) ==")
    print(f"eps-constraint ({e.solver}): {r['n_eps']} non-dominated points from {len(e.statuses)} epsilon levels "
          f"({e.n_failed} failed), {r['time_eps']:.1f} s; block vs predict at the points: "
          f"{r['eps_block_vs_predict']:.2g}; max Eq. 2-5 violation {r['eps_max_violation']:.2g}")
    print(f"NSGA-II (pop 40, 40 gen): {r['n_nsga2']} points, {r['time_nsga2']:.1f} s")
    print(f"hypervolume (normalised, ref {r['reference_normalised']}): eps {r['hv_eps']:.4f}, NSGA-II "
          f"{r['hv_nsga2']:.4f}, ratio {r['hv_ratio']:.3f} (acceptance >= 0.95)")
    print("eps front [D50, DoA]:\n", np.round(e.objectives, 3))
    return r


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=("all", "embed", "map", "pareto", "grids"), default="all")
    ap.add_argument("--surrogate", choices=("mlp", "rf", "gbt", "all"), default="gbt")
    ap.add_argument("--grid", type=int, default=21)
    ap.add_argument("--n-samples", type=int, default=2000)
    ap.add_argument("--n-cycles", type=int, default=4)
    ap.add_argument("--n-points", type=int, default=21)
    ap.add_argument("--random-state", type=int, default=0)
    a = ap.parse_args(argv)
    doe = _doe(a.random_state)
    if a.part in ("all", "embed"):
        part_embed(doe, random_state=a.random_state)
    if a.part in ("all", "map"):
        for k in (("mlp", "rf", "gbt") if a.surrogate == "all" else (a.surrogate,)):
            part_map(doe, k, a.grid, a.n_samples, a.random_state)
    if a.part in ("all", "grids"):
        part_grids(doe, "gbt" if a.surrogate == "all" else a.surrogate, random_state=a.random_state)
    if a.part in ("all", "pareto"):
        part_pareto(doe, "gbt" if a.surrogate in ("all", "mlp") else a.surrogate, a.n_cycles, a.n_points,
                    a.random_state)


if __name__ == "__main__":
    main()
