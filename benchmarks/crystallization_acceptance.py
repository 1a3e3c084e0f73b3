"""Issue-15 acceptance of the crystallization workflow over several seeds.

    python benchmarks/crystallization_acceptance.py                    # full runs, seeds 0-4
    python benchmarks/crystallization_acceptance.py --seeds 0 1 --quick

For every seed one full ``run_workflow`` (DoE, selection, ERM, UQ, design in the
applicability domain under the process limits, lab validation, closed loop) and then:

* the final validated optimum inside its 95 % interval per CQA, loop iterations and added
  lab runs (budget ≤ 3 / ≤ 12), the loop's stop reason;
* coverage of the 95 % intervals on every lab point measured after the DoE (validations:
  mean of 3 replicates; acquisitions: one run), predicted before measuring;
* each CQA's largest interval half-width on those points vs 2 × (hold-out RMSE before the
  loop + the lab's replicate noise SD at the validated point);
* any front prediction (or interval bound) outside the physical range; every recommended
  point (all iterations) inside the domain and the process limits;
* the full-run wall time (target < 10 min);
* the seed's qualitative findings: per number of cycles the noise-free lab CQAs at the knee of
  that front (more cycles → larger D50, lower DoA, higher crystallinity?) and the
  batch-time-matched linear-cooling control of the final recommendation.

Writes ``<out>/seed<k>.json`` after each seed and ``<out>/acceptance.md`` at the end.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from flexspace.crystallization.calibration import within_physical_bounds
from flexspace.crystallization.lab import InSilicoLab
from flexspace.crystallization.loop import recommend
from flexspace.crystallization.process import batch_time_h, matched_linear_control
from flexspace.crystallization.profile import CQA_NAMES, FEATURE_NAMES
from flexspace.crystallization.workflow import run_workflow


def seed_row(res, wall: float) -> dict:
    h, v, lp = res.loop_history, res.validation, res.lab_points
    row = {"seed": None, "wall_s": wall, "iterations": int(h["iteration"].max()),
           "lab_runs_added": int(h["runs_cumulative"].iloc[-1]), "stop": res.loop_stop_reason,
           "gate_before_loop": all(res.gate.values())}
    for _, r in v.iterrows():
        row[f"{r['CQA']}_within"] = bool(r["within_pi95"])
    row["all_within"] = bool(v["within_pi95"].all())
    row["lab_points_covered"] = int(lp["covered"].sum())
    row["lab_points"] = int(len(lp))
    ho = res.holdout.set_index("CQA")
    for cqa in CQA_NAMES:
        sub = lp[lp["CQA"] == cqa]
        noise = float(v.loc[v["CQA"] == cqa, "replicate_noise_sd"].iloc[0])
        rmse = float(ho.loc[cqa, "holdout_RMSE"])
        row[f"{cqa}_max_half_width"] = float(sub["half_width"].max())
        row[f"{cqa}_holdout_RMSE"] = rmse
        row[f"{cqa}_noise_sd"] = noise
        # the rule read strictly: half-width ≤ 2 × hold-out RMSE + replicate noise
        row[f"{cqa}_hw_ok"] = bool(sub["half_width"].max() <= 2 * rmse + noise)
        row[f"{cqa}_hw_ok_lenient"] = bool(sub["half_width"].max() <= 2 * (rmse + noise))
        row[f"{cqa}_holdout_coverage"] = float(ho.loc[cqa, "holdout_pi95_coverage"])
    row["fronts_physical"] = all(within_physical_bounds(fr, CQA_NAMES) for fr in res.pareto.values())
    row["recommended_in_domain"] = bool((h["domain_distance"] <= 1 + 1e-9).all())
    row["recommended_feasible"] = bool(h["feasible"].all())
    return row


def qualitative(res, lab: InSilicoLab) -> dict:
    """Noise-free lab CQAs at the knee of each cycle count's front; matched linear control."""
    per = {}
    for nc, fr in res.pareto.items():
        x, rec = recommend({nc: fr}, nc)
        per[nc] = {**lab.simulate(x).cqas(), "batch_time_h": float(batch_time_h(x)[0]),
                   "pred_D50": float(rec["D50_pred"]), "pred_DoA": float(rec["DoA_pred"]),
                   "pred_crystallinity": float(rec["crystallinity_pred"])}
    x = res.recommendation[list(FEATURE_NAMES)].to_numpy(float)
    xc = matched_linear_control(x)
    ctl = {"recommended": {**lab.simulate(x).cqas(), "batch_time_h": float(batch_time_h(x)[0])},
           "linear_control": {**lab.simulate(xc).cqas(), "batch_time_h": float(batch_time_h(xc)[0]),
                              "C": float(xc[11])}}
    return {"per_cycles": per, "control": ctl}


def lab_trends(n_bases: int = 8, random_state: int = 1) -> pd.DataFrame:
    """Noise-free lab CQAs of 0–4 cycles on ``n_bases`` random bases (same c0, seed, C, H, end T),
    plus each base's batch-time-matched linear-cooling control of its 4-cycle profile."""
    from flexspace.crystallization.doe import thermocycle_profile

    lab, rng, rows = InSilicoLab(), np.random.default_rng(random_state), []
    for b in range(n_bases):
        c0, sd = rng.uniform(24.8, 55.2), rng.uniform(0.05, 0.15)
        C, H, Te = rng.uniform(0.05, 0.3), rng.uniform(0.5, 1.0), rng.uniform(5, 20)
        for n in range(5):
            x = thermocycle_profile(c0, sd, C, H, Te, n)
            rows.append({"base": b, "profile": f"{n} cycles", **lab.simulate(x).cqas(),
                         "batch_time_h": float(batch_time_h(x)[0])})
        xc = matched_linear_control(x)
        rows.append({"base": b, "profile": "4-cycle-matched linear", **lab.simulate(xc).cqas(),
                     "batch_time_h": float(batch_time_h(xc)[0])})
    return pd.DataFrame(rows)


def summarize(out: Path) -> str:
    """Acceptance summary from the ``seed*.json`` files of ``out`` (both readings of the width
    rule: half-width ≤ 2 × (RMSE + noise) and ≤ 2 × RMSE + noise)."""
    rows = [json.loads(p.read_text())["row"] for p in sorted(out.glob("seed*.json"))]
    t = pd.DataFrame(rows)
    lines = [f"seeds: {t['seed'].tolist()}; wall time per run (s): {np.round(t['wall_s'], 1).tolist()}",
             f"validated optimum within its 95 % interval for every CQA: {int(t['all_within'].sum())}/{len(t)}",
             f"loop iterations: {t['iterations'].tolist()}; lab runs added: {t['lab_runs_added'].tolist()}",
             f"coverage on lab points: {int(t['lab_points_covered'].sum())}/{int(t['lab_points'].sum())} = "
             f"{t['lab_points_covered'].sum() / t['lab_points'].sum():.1%}",
             f"fronts physical: {t['fronts_physical'].all()}; recommended in domain: "
             f"{t['recommended_in_domain'].all()}; within process limits: {t['recommended_feasible'].all()}"]
    for c in CQA_NAMES:
        hw, rm, nz = t[f"{c}_max_half_width"], t[f"{c}_holdout_RMSE"], t[f"{c}_noise_sd"]
        lines.append(f"{c}: max half-width {np.round(hw, 2).tolist()}; hold-out RMSE {np.round(rm, 2).tolist()}; "
                     f"noise {np.round(nz, 2).tolist()}; ≤ 2(RMSE+noise): {int((hw <= 2 * (rm + nz)).sum())}/{len(t)}; "
                     f"≤ 2 RMSE + noise: {int((hw <= 2 * rm + nz).sum())}/{len(t)}; hold-out coverage (4 runs each) "
                     f"{np.round(t[f'{c}_holdout_coverage'], 2).tolist()}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default="benchmarks/results/crystallization_acceptance")
    ap.add_argument("--lab-trends", action="store_true", help="only the lab's cycle trends and matched controls")
    ap.add_argument("--summarize", action="store_true", help="only summarise the seed*.json files in --out")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.summarize:
        print(summarize(out))
        return
    if a.lab_trends:
        t = lab_trends()
        t.to_csv(out / "lab_trends.csv", index=False)
        print(t.groupby("profile")[["D50", "DoA", "crystallinity", "batch_time_h"]].agg(["mean", "std"])
              .to_string(float_format=lambda v: f"{v:.2f}"))
        return
    rows, quals = [], {}
    for s in a.seeds:
        t = time.perf_counter()
        res = run_workflow(out / f"run_seed{s}", quick=a.quick, random_state=s, verbose=False)
        wall = time.perf_counter() - t
        row = seed_row(res, wall)
        row["seed"] = s
        q = qualitative(res, InSilicoLab())
        rows.append(row)
        quals[s] = q
        (out / f"seed{s}.json").write_text(json.dumps({"row": row, "qualitative": q,
                                                       "history": res.loop_history.to_dict("records")},
                                                      indent=1, default=float))
        print(pd.Series(row).to_string(), flush=True)
    table = pd.DataFrame(rows)
    lines = [f"# Issue-15 acceptance ({'quick' if a.quick else 'full'} runs, seeds {a.seeds})", "",
             table.T.to_string(), "", f"validated optimum within its 95 % interval for every CQA: "
             f"{int(table['all_within'].sum())}/{len(table)} seeds",
             f"coverage on lab points: {int(table['lab_points_covered'].sum())}/{int(table['lab_points'].sum())} = "
             f"{table['lab_points_covered'].sum() / table['lab_points'].sum():.1%}", "", "## Qualitative findings", ""]
    for s, q in quals.items():
        per = pd.DataFrame(q["per_cycles"]).T
        lines += [f"seed {s}: noise-free lab CQAs at each front's knee", "", per.to_string(float_format="%.2f"), "",
                  f"seed {s}: recommended vs batch-time-matched linear cooling", "",
                  pd.DataFrame(q["control"]).T.to_string(float_format="%.2f"), ""]
    lines += ["## Summary", "", summarize(out)]
    (out / "acceptance.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
