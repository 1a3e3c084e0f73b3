"""The engineer's report of a crystallization workflow run: one self-contained HTML file.

:func:`write_report` turns a :class:`~flexspace.crystallization.workflow.WorkflowResult`
into ``report.html`` (every figure embedded as a base64 PNG, so the one file opens it all):

1. **Recommendation** (first page): the recommended temperature profile with its set-points,
   the predicted CQAs ± their interval, batch time, final temperature, yield and the
   distance to the training data;
2. **Validation** (crystallization paper, Table 3): lab mean ± SD vs predicted mean ± σ at the recommended point;
3. **Gates**: PASS / FAIL / NOT COMPUTED with the numbers behind each verdict;
4. **Figures of the crystallization paper**: parity before/after synthetic-data augmentation (Fig. 6), UQ
   parity with error bars (Fig. 4), α-curves (Fig. 5), Pareto front per cycle count with
   the chosen point circled (Fig. 7), crystallinity on the fronts (Fig. 8);
5. models, settings and timings.

Every axis has a title and a unit.  Figures are drawn on :class:`matplotlib.figure.Figure`
(no pyplot, the backend is never switched); each is a
:class:`~flexspace.designspace.figure.DisplayFigure`, shown as PNG in Jupyter.

The report reads the result's fields; those of the closed-loop workflow are
used when present and shown as "not computed" when absent or empty:

``recommendation`` (Series)
    the 13 features, ``<cqa>_pred/_lo/_hi/_sigma`` (calibrated 95 % interval),
    ``batch_time_h``, ``final_T_degC``, ``yield_eq_%``, ``max_redissolution_%``,
    ``domain_distance`` (≤ 1 = inside), ``in_domain``, ``process_ok``, ``n_cycles``.
    Without it: ``data/validated_profile.csv``, else the knee of the 4-cycle front, with
    mean ± 1.96 σ_total of the MCCV ensemble as an (uncalibrated) interval;
``validation``
    Table 3 of the crystallization paper, with ``pi95_lower/pi95_upper/within_pi95`` and ``lab_yield_%`` when present;
``process_limits``
    the engineering targets (``min_yield_pct``, ``max_batch_time_h``, ``max_final_T_degC``,
    ``max_redissolution_pct``);
``lab_points``
    every lab point measured after the DoE with the interval predicted before (``covered``):
    the empirical coverage;
``loop_history``, ``loop_runs``, ``loop_stop_reason``
    the closed Step-8 loop (one row per iteration, runs added, why it stopped).
"""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from ..errors import ValidationError
from .doe import split_xy
from .profile import CQA_NAMES, CQA_UNITS, FEATURE_NAMES, decode_profile, n_cycles

__all__ = ["write_report", "Report", "recommendation", "gate_verdicts", "report_figures", "NOT_COMPUTED"]

NOT_COMPUTED = "not computed"
#: z of a two-sided 95 % normal interval (uncalibrated fallback interval).
Z95 = 1.959963984540054
#: Physical range of each CQA on the fronts.
PHYSICAL_BOUNDS = {"D50": (0.0, np.inf), "DoA": (0.0, 100.0), "crystallinity": (0.0, 100.0)}


@dataclass
class Report:
    """What :func:`write_report` wrote: the HTML path, the figure objects (by key), the gate
    verdicts and the recommendation summary."""

    path: Path
    figures: dict = field(default_factory=dict)
    gates: list = field(default_factory=list)
    recommendation: dict = field(default_factory=dict)


def _opt(result, name: str):
    """An optional attribute of the result (None when the workflow did not compute it)."""
    return getattr(result, name, None)


# ------------------------------------------------------------------------------ recommendation
def _recommended_x(result) -> tuple[Optional[np.ndarray], str]:
    """The recommended 13-feature point and where it came from."""
    rec = _opt(result, "recommendation")
    if rec is not None and all(n in rec for n in FEATURE_NAMES):
        return np.asarray([rec[n] for n in FEATURE_NAMES], float), "the workflow's recommendation"
    out_dir = _opt(result, "out_dir")
    csv = Path(out_dir) / "data" / "validated_profile.csv" if out_dir is not None else None
    if csv is not None and csv.exists():
        return pd.read_csv(csv)[list(FEATURE_NAMES)].to_numpy(float)[0], "data/validated_profile.csv"
    pareto = _opt(result, "pareto") or {}
    if 4 in pareto and len(pareto[4]):
        from ..surrogates.nsga2 import knee_point

        f4 = pareto[4]
        i = knee_point(np.column_stack([-f4["D50_pred"], f4["DoA_pred"]]))
        return f4.loc[i, list(FEATURE_NAMES)].to_numpy(float), "knee of the 4-cycle front"
    return None, NOT_COMPUTED


def _predictions(result, x) -> dict:
    """Per CQA: predicted mean, σ and the 95 % interval with its kind — the recommendation's
    calibrated interval when the result has one, else mean ± 1.96 σ_total of the MCCV
    ensemble (not calibrated; clipped to the physical bounds)."""
    rec, val = _opt(result, "recommendation"), _opt(result, "validation")
    out = {}
    for cqa in CQA_NAMES:
        if rec is not None and f"{cqa}_pred" in rec and f"{cqa}_lo" in rec:
            out[cqa] = {"mean": float(rec[f"{cqa}_pred"]), "sigma": float(rec.get(f"{cqa}_sigma", np.nan)),
                        "low": float(rec[f"{cqa}_lo"]), "high": float(rec[f"{cqa}_hi"]),
                        "interval": "calibrated 95 % (conformal)"}
            continue
        ens = (_opt(result, "ensembles") or {}).get(cqa)
        if val is not None and len(val) and cqa in set(val["CQA"]):
            r = val[val["CQA"] == cqa].iloc[0]
            mu, sd, sdt = float(r["predicted_mean"]), float(r["predicted_sigma"]), float(r["predicted_sigma_total"])
        elif ens is not None and x is not None:
            m, sd1 = ens.predict(x[None], return_std=True)
            _, st = ens.predict(x[None], return_std=True, total=True)
            mu, sd, sdt = float(m[0]), float(sd1[0]), float(st[0])
        else:
            continue
        b_lo, b_hi = PHYSICAL_BOUNDS[cqa]
        out[cqa] = {"mean": mu, "sigma": sd, "low": max(mu - Z95 * sdt, b_lo), "high": min(mu + Z95 * sdt, b_hi),
                    "interval": "mean ± 1.96 σ_total (MCCV, not calibrated; clipped to physical bounds)"}
    return out


def _lab_yield(x) -> Optional[float]:
    """Yield (%) of the noise-free in-silico lab at ``x``: dissolved solute recovered."""
    from .lab import InSilicoLab

    r = InSilicoLab().simulate(x)
    c0 = x[FEATURE_NAMES.index("c0")] / 1000.0
    return float(100.0 * (c0 - r.concentration) / c0)


def _rec_value(result, key: str):
    rec = _opt(result, "recommendation")
    if rec is None or key not in rec or pd.isna(rec[key]):
        return None
    return rec[key]


def recommendation(result, lab_yield: bool = True) -> dict:
    """The recommendation summary: profile (break points, set-points), predicted CQAs with
    intervals, batch time, final temperature, yield (equilibrium / lab), redissolution and
    the distance to the training data.  ``lab_yield``: when the validation table has no
    ``lab_yield_%``, run the noise-free lab once at the profile for it."""
    from .kinetics import solubility

    x, source = _recommended_x(result)
    if x is None:
        return {"x": None, "source": source}
    t_min, T = decode_profile(x)
    c0 = x[FEATURE_NAMES.index("c0")] / 1000.0
    val = _opt(result, "validation")
    lab_y = float(val["lab_yield_%"].iloc[0]) if val is not None and "lab_yield_%" in getattr(val, "columns", []) \
        and len(val) else (_lab_yield(x) if lab_yield else None)
    eq = _rec_value(result, "yield_eq_%")
    return {"x": x, "source": source, "t_h": t_min / 60.0, "T_degC": T, "n_cycles": int(n_cycles(x[None])[0]),
            "batch_time_h": float(t_min[-1] / 60.0), "final_T_degC": float(T[-1]),
            "c0": float(x[FEATURE_NAMES.index("c0")]), "seed_loading": float(x[FEATURE_NAMES.index("seed_loading")]),
            "C": float(x[FEATURE_NAMES.index("C")]), "H": float(x[FEATURE_NAMES.index("H")]),
            "predictions": _predictions(result, x), "lab_yield": lab_y,
            "yield_eq": float(max(0.0, 100.0 * (1.0 - float(solubility(T[-1])) / c0))) if eq is None else float(eq),
            "max_redissolution": _rec_value(result, "max_redissolution_%"),
            "domain_distance": _rec_value(result, "domain_distance"), "in_domain": _rec_value(result, "in_domain"),
            "process_ok": _rec_value(result, "process_ok")}


# ------------------------------------------------------------------------------ gates
def _gate(name: str, passed, detail: str) -> dict:
    verdict = NOT_COMPUTED.upper() if passed is None else ("PASS" if passed else "FAIL")
    return {"gate": name, "verdict": verdict, "passed": passed, "detail": detail}


def _gate_holdout(result) -> dict:
    name = "Step 8: hold-out RMSE ≤ 2 × measurement σ"
    h = _opt(result, "holdout")
    if h is None or "step8_accept" not in getattr(h, "columns", []):
        return _gate(name, None, "no hold-out rows")
    parts, ok = [], True
    for _, r in h.iterrows():
        if pd.isna(r.get("step8_accept")):
            continue
        rmse, unit = float(np.sqrt(r["holdout_MSE"])), CQA_UNITS.get(r["CQA"], "")
        parts.append(f"{r['CQA']}: RMSE {rmse:.3g} {unit} vs 2σ_meas {2 * float(r['measurement_sigma']):.3g} "
                     f"{unit}, R² {float(r['holdout_R2']):.2f} → {'pass' if r['step8_accept'] else 'FAIL'}")
        ok = ok and bool(r["step8_accept"])
    return _gate(name, ok if parts else None, "; ".join(parts) or "no hold-out rows")


def _gate_validation(result, rec) -> list[dict]:
    """The validated optimum within ±2σ (crystallization paper, Table 3 style) and within its reported interval."""
    val = _opt(result, "validation")
    n2 = "Validation: lab mean within ±2σ (MCCV) of the prediction"
    ni = "Validation: lab mean inside the reported 95 % interval"
    if val is None or not len(val):
        return [_gate(n2, None, "no validation experiment"), _gate(ni, None, "no validation experiment")]
    preds = rec.get("predictions", {})
    d2, di, ok2, oki = [], [], True, True
    for _, r in val.iterrows():
        c, u = r["CQA"], r["unit"]
        d2.append(f"{c}: |{r['measured_mean']:.2f} − {r['predicted_mean']:.2f}| = {r['abs_deviation']:.2f} {u} "
                  f"= {r['deviation_in_sigma']:.1f} σ")
        ok2 = ok2 and bool(r["within_2sigma"])
        p = preds.get(c)
        if "pi95_lower" in val.columns:
            p = {"low": float(r["pi95_lower"]), "high": float(r["pi95_upper"])}
        if p is not None:
            inside = p["low"] <= r["measured_mean"] <= p["high"]
            oki = oki and inside
            di.append(f"{c}: {r['measured_mean']:.2f} in [{p['low']:.2f}, {p['high']:.2f}] {u}: "
                      f"{'yes' if inside else 'NO'}")
    kind = next(iter(preds.values()))["interval"] if preds else ""
    return [_gate(n2, ok2, "; ".join(d2)),
            _gate(ni, oki if di else None, "; ".join(di) + (f" ({kind})" if kind else ""))]


def _gate_physical(result) -> dict:
    name = "Fronts: every prediction within physical bounds"
    pareto = _opt(result, "pareto") or {}
    if not pareto:
        return _gate(name, None, "no Pareto fronts")
    front = pd.concat(pareto.values())
    parts, ok = [], True
    for cqa, (lo, hi) in PHYSICAL_BOUNDS.items():
        col = f"{cqa}_pred"
        if col in front:
            v = front[col].to_numpy(float)
            n_out = int(np.sum((v < lo) | (v > hi)))
            ok = ok and n_out == 0
            parts.append(f"{cqa} in [{v.min():.3g}, {v.max():.3g}] {CQA_UNITS[cqa]} (bounds [{lo:g}, {hi:g}]): "
                         f"{n_out} of {len(v)} outside")
    return _gate(name, ok, "; ".join(parts))


def _gate_domain(rec) -> dict:
    name = "Applicability domain: recommended point inside the training data's domain"
    d = rec.get("domain_distance")
    if d is None:
        return _gate(name, None, "no domain model in this workflow result")
    inside = rec.get("in_domain")
    inside = float(d) <= 1.0 if inside is None else bool(inside)
    return _gate(name, inside, f"distance {float(d):.3g} (≤ 1 = inside the domain)")


def _gate_process(result, rec) -> dict:
    """Yield, batch time, final temperature and redissolution against the process limits."""
    name = "Process limits: yield, batch time, final temperature, redissolution"
    lim = _opt(result, "process_limits")
    if lim is None or rec.get("x") is None:
        return _gate(name, None, "no process limits in this workflow result")
    checks = [("equilibrium yield", rec["yield_eq"], ">=", lim.min_yield_pct, "%"),
              ("batch time", rec["batch_time_h"], "<=", lim.max_batch_time_h, "h"),
              ("final temperature", rec["final_T_degC"], "<=", lim.max_final_T_degC, "°C")]
    if rec.get("max_redissolution") is not None:
        checks.append(("max redissolution", float(rec["max_redissolution"]), "<=", lim.max_redissolution_pct, "%"))
    ok = [(v >= t) if op == ">=" else (v <= t) for _, v, op, t, _ in checks]
    detail = "; ".join(f"{n} {v:.3g} {u} (limit {op} {t:g}): {'ok' if k else 'VIOLATED'}"
                       for (n, v, op, t, u), k in zip(checks, ok))
    return _gate(name, all(ok), detail)


def _gate_width(result) -> dict:
    """Intervals not bought by inflating them: each half-width ≤ 2 × the CQA's hold-out RMSE
    (before the loop) + the lab's replicate noise SD (the acceptance criterion)."""
    name = "Interval width: half-width ≤ 2 × hold-out RMSE + replicate noise"
    val, h = _opt(result, "validation"), _opt(result, "holdout")
    need = {"pi95_half_width", "replicate_noise_sd"}
    if val is None or h is None or not need <= set(val.columns) or "holdout_MSE" not in h.columns:
        return _gate(name, None, "no calibrated intervals with replicate noise in the validation table")
    rmse = {r["CQA"]: float(np.sqrt(r["holdout_MSE"])) for _, r in h.iterrows() if pd.notna(r.get("holdout_MSE"))}
    parts, ok = [], True
    for _, r in val.iterrows():
        if r["CQA"] not in rmse:
            continue
        cap = 2 * rmse[r["CQA"]] + float(r["replicate_noise_sd"])
        fits = float(r["pi95_half_width"]) <= cap
        ok = ok and fits
        parts.append(f"{r['CQA']}: {float(r['pi95_half_width']):.3g} vs 2 × {rmse[r['CQA']]:.3g} + "
                     f"{float(r['replicate_noise_sd']):.3g} = {cap:.3g} {r['unit']}: {'ok' if fits else 'TOO WIDE'}")
    return _gate(name, ok if parts else None, "; ".join(parts) or "no hold-out RMSE")


def _gate_coverage(result) -> dict:
    """Empirical coverage of the 95 % intervals on the lab points measured after the DoE."""
    name = "Interval coverage on lab points (target 85–99 % across seeds)"
    pts = _opt(result, "lab_points")
    if pts is None or not len(pts) or "covered" not in pts.columns:
        return _gate(name, None, "no lab points with intervals predicted before measuring")
    per = pts.groupby("CQA")["covered"].agg(["mean", "size"])
    detail = "; ".join(f"{c}: {100 * r['mean']:.0f} % of {int(r['size'])}" for c, r in per.iterrows())
    total = float(pts["covered"].mean())
    return _gate(name, total >= 0.85, f"all: {100 * total:.0f} % of {len(pts)}; " + detail)


def _gate_loop(result) -> dict:
    """Closed Step-8 loop: the last iteration's validation inside its intervals, runs used, why it stopped."""
    name = "Closed loop (step 8 → 2): validation inside the 95 % intervals within the budget"
    hist = _opt(result, "loop_history")
    if hist is None or not len(hist):
        return _gate(name, None, "no loop iterations recorded")
    last = hist.iloc[-1]
    runs = int(last["runs_cumulative"]) if "runs_cumulative" in hist else None
    passed = bool(last["all_within_pi95"]) if "all_within_pi95" in hist else None
    if str(_opt(result, "loop_stop_reason") or "") == "loop disabled":
        passed = None  # the loop did not run: nothing to judge
    detail = (f"{len(hist) - 1} loop iteration(s) after the first design"
              + (f", {runs} lab run(s) added" if runs is not None else "")
              + (f"; stopped: {result.loop_stop_reason}" if _opt(result, "loop_stop_reason") else ""))
    return _gate(name, passed, detail)


def gate_verdicts(result, rec: Optional[dict] = None) -> list[dict]:
    """Every gate as ``{gate, verdict, passed, detail}`` (verdict PASS, FAIL or NOT COMPUTED)."""
    rec = recommendation(result, lab_yield=False) if rec is None else rec
    return [_gate_holdout(result), *_gate_validation(result, rec), _gate_physical(result), _gate_domain(rec),
            _gate_process(result, rec), _gate_coverage(result), _gate_width(result), _gate_loop(result)]


# ------------------------------------------------------------------------------ figures
def _profile_figure(rec):
    from ..designspace.figure import DisplayFigure as Figure  # shown as PNG in Jupyter, no pyplot

    fig = Figure(figsize=(7.5, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    t, T = rec["t_h"], rec["T_degC"]
    ax.plot(t, T, "-", color="tab:blue", lw=2)
    ax.plot(t, T, "o", color="tab:red", ms=6, label="set-points")
    for i, (ti, Ti) in enumerate(zip(t, T)):
        ax.annotate(f"T{i + 1} = {Ti:.1f} °C", (ti, Ti), textcoords="offset points", xytext=(4, 6), fontsize=8)
    ax.set_xlabel("time [h]")
    ax.set_ylabel("temperature [°C]")
    ax.set_title(f"Recommended profile: {rec['n_cycles']} cycle(s), C = {rec['C']:.3g} °C/min, "
                 f"H = {rec['H']:.3g} °C/min, batch {rec['batch_time_h']:.1f} h")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _parity_axes(ax, pipe, doe, cqa, title):
    """Training and hold-out rows: measured vs predicted by ``pipe``; hold-out MSE in the title."""
    unit = CQA_UNITS[cqa]
    lims, mse = [], None
    for split, mk, col in (("train", "o", "tab:blue"), ("holdout", "s", "tab:red")):
        X, y = split_xy(doe, cqa, split)
        if not len(y):
            continue
        p = pipe.predict(X)
        ax.plot(y, p, mk, color=col, ms=5, label=f"{split} (n={len(y)})")
        lims += [y.min(), y.max(), p.min(), p.max()]
        if split == "holdout":
            mse = float(np.mean((p - y) ** 2))
    lo, hi = min(lims), max(lims)
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set_xlabel(f"measured {cqa} [{unit}]")
    ax.set_ylabel(f"predicted {cqa} [{unit}]")
    ax.set_title(title + ("" if mse is None else f"; hold-out MSE {mse:.3g} {unit}²"))
    ax.legend(fontsize=8)


def _augmentation_figure(result):
    """Crystallization paper, Fig. 6: parity of the real-only and the weighted-ERM model of each ERM CQA."""
    from ..designspace.figure import DisplayFigure as Figure  # shown as PNG in Jupyter, no pyplot

    from ..surrogates.selection import refit_like

    erm = _opt(result, "erm_results") or {}
    if not erm:
        return None
    fig = Figure(figsize=(9, 4.2 * len(erm)))
    for j, (cqa, r) in enumerate(erm.items()):
        X, y = split_xy(result.doe, cqa, "train")
        before = refit_like(r.pipeline, X, y)  # same hyper-parameters, real rows only
        _parity_axes(fig.add_subplot(len(erm), 2, 2 * j + 1), before, result.doe, cqa, f"{cqa} before (real rows)")
        a, adopted = r.best, bool((_opt(result, "augmented") or {}).get(cqa, False))
        _parity_axes(fig.add_subplot(len(erm), 2, 2 * j + 2), r.pipeline, result.doe, cqa,
                     f"{cqa} after ({a['generator']}, m={a['m']}, α={a['alpha']:g}, "
                     f"{'adopted' if adopted else 'not adopted'})")
    fig.tight_layout()
    return fig


def _uq_figure(result):
    """Crystallization paper, Fig. 4: deployed MCCV ensembles, mean ± 2σ vs measured; the validation point starred."""
    from ..designspace.figure import DisplayFigure as Figure  # shown as PNG in Jupyter, no pyplot

    ens = _opt(result, "ensembles") or {}
    cqas = [c for c in CQA_NAMES if c in ens]
    if not cqas:
        return None
    val = _opt(result, "validation")
    fig = Figure(figsize=(4.4 * len(cqas), 4.2))
    for j, cqa in enumerate(cqas):
        ax, unit = fig.add_subplot(1, len(cqas), j + 1), CQA_UNITS[cqa]
        for split, mk, col in (("train", "o", "tab:blue"), ("holdout", "s", "tab:red")):
            X, y = split_xy(result.doe, cqa, split)
            if len(y):
                m, s = ens[cqa].predict(X, return_std=True)
                ax.errorbar(y, m, yerr=2 * s, fmt=mk, color=col, ms=4, capsize=2, label=f"{split} (n={len(y)})")
        _lab_points_on(ax, _opt(result, "lab_points"), cqa)
        if val is not None and cqa in set(val["CQA"]):
            r = val[val["CQA"] == cqa].iloc[0]
            ax.errorbar([r["measured_mean"]], [r["predicted_mean"]], xerr=[r["measured_sd"]],
                        yerr=[2 * r["predicted_sigma"]], fmt="*", color="k", ms=12, capsize=3, label="validation")
        lo, hi = ax.get_xlim()
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set_xlabel(f"measured {cqa} [{unit}]")
        ax.set_ylabel(f"predicted {cqa} [{unit}]")
        ax.set_title(f"{cqa}: ensemble mean ± 2σ")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _lab_points_on(ax, pts, cqa: str) -> None:
    """Lab points measured after the DoE: prediction with the 95 % interval predicted before measuring."""
    if pts is None or not len(pts) or not {"CQA", "predicted", "pi95_lower", "pi95_upper"} <= set(pts.columns):
        return
    sub = pts[pts["CQA"] == cqa]
    if not len(sub):
        return
    err = np.vstack([sub["predicted"] - sub["pi95_lower"], sub["pi95_upper"] - sub["predicted"]]).clip(min=0)
    ax.errorbar(sub["measured"], sub["predicted"], yerr=err, fmt="D", color="tab:green", ms=5, capsize=3,
                label=f"lab points after the DoE, 95 % interval (n={len(sub)})")


def _alpha_figure(result):
    """Crystallization paper, Fig. 5: validation MSE vs α per generator and m; fold spread when the curves carry it."""
    from ..designspace.figure import DisplayFigure as Figure  # shown as PNG in Jupyter, no pyplot

    erm = _opt(result, "erm_results") or {}
    if not erm:
        return None
    fig = Figure(figsize=(5.2 * len(erm), 4.0))
    for j, (cqa, r) in enumerate(erm.items()):
        ax, c = fig.add_subplot(1, len(erm), j + 1), r.curves
        sd_col = next((k for k in ("val_MSE_sd", "val_MSE_std") if k in c.columns), None)
        for (g, m), sub in c.groupby(["generator", "m"]):
            sub = sub.sort_values("alpha")
            line, = ax.plot(sub["alpha"], sub["val_MSE"], "-o", ms=3, label=f"{g}, m={m}")
            if sd_col is not None:
                ax.fill_between(sub["alpha"], sub["val_MSE"] - sub[sd_col], sub["val_MSE"] + sub[sd_col],
                                color=line.get_color(), alpha=0.15)
        ax.axhline(r.baseline_val_MSE, color="k", lw=0.8, ls=":", label="real rows only")
        ax.set_xlabel("α, weight of the synthetic rows (Eq. 1) [-]")
        ax.set_ylabel(f"validation MSE [{CQA_UNITS[cqa]}²]")
        spread = "band: ± 1 SD over folds" if sd_col else "fold spread not computed"
        ax.set_title(f"{cqa}: weighted ERM ({spread})")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _chosen_on(ax, d50, doa):
    ax.plot([d50], [doa], "o", ms=16, mfc="none", mec="red", mew=2, label="recommended")


def _pareto_figure(result, rec):
    """Crystallization paper, Fig. 7: one panel per cycle count; the recommended point circled on its front."""
    from ..designspace.figure import DisplayFigure as Figure  # shown as PNG in Jupyter, no pyplot

    pareto = _opt(result, "pareto") or {}
    if not pareto:
        return None
    fig = Figure(figsize=(3.6 * len(pareto), 3.8))
    chosen = _chosen_prediction(result, rec)
    axes = np.atleast_1d(fig.subplots(1, len(pareto), sharex=True, sharey=True))
    for ax, (nc, fr) in zip(axes, sorted(pareto.items())):
        ax.plot(fr["D50_pred"], fr["DoA_pred"], "o", ms=4, label=f"front ({len(fr)} points)")
        if chosen is not None and rec.get("n_cycles") == nc:
            _chosen_on(ax, *chosen)
        ax.set_xlabel("predicted D50 [µm] (max)")
        ax.set_ylabel("predicted DoA [%] (min)")
        ax.set_title(f"{nc} cycle(s)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _chosen_prediction(result, rec):
    """(D50, DoA) of the recommended point as the fronts show it (the deployed pipelines)."""
    d50, doa = _rec_value(result, "D50_pred"), _rec_value(result, "DoA_pred")
    if d50 is not None and doa is not None:
        return float(d50), float(doa)
    pipes, x = _opt(result, "pipelines") or {}, rec.get("x")
    if x is not None and "D50" in pipes and "DoA" in pipes:
        return float(pipes["D50"].predict(x[None])[0]), float(pipes["DoA"].predict(x[None])[0])
    p = rec.get("predictions", {})
    if "D50" in p and "DoA" in p:
        return p["D50"]["mean"], p["DoA"]["mean"]
    return None


def _crystallinity_figure(result, rec):
    """Crystallization paper, Fig. 8: the fronts coloured by predicted crystallinity; the recommended point circled."""
    from ..designspace.figure import DisplayFigure as Figure  # shown as PNG in Jupyter, no pyplot

    pareto = _opt(result, "pareto") or {}
    if not pareto or not all("crystallinity_pred" in fr for fr in pareto.values()):
        return None
    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.add_subplot(1, 1, 1)
    allf = pd.concat(pareto.values())
    markers = {1: "o", 2: "s", 3: "^", 4: "D"}
    sc = None
    for nc, fr in sorted(pareto.items()):
        sc = ax.scatter(fr["D50_pred"], fr["DoA_pred"], c=fr["crystallinity_pred"], marker=markers.get(nc, "o"),
                        vmin=allf["crystallinity_pred"].min(), vmax=allf["crystallinity_pred"].max(),
                        cmap="viridis", label=f"{nc} cycle(s)")
    chosen = _chosen_prediction(result, rec)
    if chosen is not None:
        _chosen_on(ax, *chosen)
    fig.colorbar(sc, ax=ax, label="predicted crystallinity [%]")
    ax.set_xlabel("predicted D50 [µm]")
    ax.set_ylabel("predicted DoA [%]")
    ax.set_title("Crystallinity on the Pareto fronts")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


#: Figure key → caption (in report order).
CAPTIONS = {
    "profile": "Recommended temperature profile: set-points T1 (seeding) … Tn, linear ramps at C (cooling) and H "
               "(heating).",
    "augmentation": "Parity before (real rows only) and after synthetic-data augmentation (weighted ERM), "
                    "same hyper-parameters (crystallization paper, Fig. 6).",
    "uq": "Uncertainty: deployed Monte-Carlo cross-validation ensembles, mean ± 2σ against the measurements; the "
          "star is the validation experiment (lab mean ± SD) (crystallization paper, Fig. 4). The deployed "
          "ensembles were fitted on "
          "these training and hold-out runs, so those error bars are in-sample; green diamonds (when the workflow "
          "measured lab points after the DoE) carry the calibrated 95 % interval predicted before the measurement.",
    "alpha": "Validation loss on real rows vs α per generator and number of synthetic rows m "
             "(crystallization paper, Fig. 5).",
    "pareto": "NSGA-II Pareto fronts per number of thermocycles; red circle: the recommended point "
              "(crystallization paper, Fig. 7).",
    "crystallinity": "Predicted crystallinity on the Pareto fronts; red circle: the recommended point "
                     "(crystallization paper, Fig. 8).",
}


def report_figures(result, rec: dict) -> dict:
    """``{key: matplotlib Figure}`` for the keys of :data:`CAPTIONS` that the result can draw."""
    makers = {"profile": lambda: _profile_figure(rec) if rec.get("x") is not None else None,
              "augmentation": lambda: _augmentation_figure(result), "uq": lambda: _uq_figure(result),
              "alpha": lambda: _alpha_figure(result), "pareto": lambda: _pareto_figure(result, rec),
              "crystallinity": lambda: _crystallinity_figure(result, rec)}
    figs = {k: make() for k, make in makers.items()}
    return {k: f for k, f in figs.items() if f is not None}


# ------------------------------------------------------------------------------ HTML
def _png_b64(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(key: str, fig) -> str:
    return (f'<figure id="fig-{key}"><img alt="{key}" src="data:image/png;base64,{_png_b64(fig)}">'
            f"<figcaption>{html.escape(CAPTIONS[key])}</figcaption></figure>")


def _table(df: pd.DataFrame, fmt: str = ".3g") -> str:
    def cell(v):
        if isinstance(v, (float, np.floating)):
            return "nan" if not np.isfinite(v) else format(float(v), fmt)
        return html.escape(str(v))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _fmt_opt(v, fmt: str, unit: str = "") -> str:
    return NOT_COMPUTED if v is None else f"{format(float(v), fmt)}{(' ' + unit) if unit else ''}"


def _recommendation_html(rec: dict, figs: dict) -> list[str]:
    H = ['<section id="recommendation"><h2>1. Recommendation</h2>']
    if rec.get("x") is None:
        return H + [f"<p>No recommended point: {NOT_COMPUTED} (no Pareto front / validation).</p></section>"]
    H.append(f"<p>Source: {html.escape(rec['source'])}. Initial concentration c0 = {rec['c0']:.3g} mg/g solvent, "
             f"seed loading {rec['seed_loading']:.3g} g seed/g solute.</p>")
    if "profile" in figs:
        H.append(_img("profile", figs["profile"]))
    rows = [{"CQA": c, "unit": CQA_UNITS[c], "predicted": p["mean"], "σ (MCCV)": p["sigma"],
             "95 % interval": f"[{p['low']:.2f}, {p['high']:.2f}]", "interval kind": p["interval"]}
            for c, p in rec["predictions"].items()]
    if rows:
        H.append(_table(pd.DataFrame(rows)))
    facts = [("batch time", f"{rec['batch_time_h']:.2f} h"), ("final temperature", f"{rec['final_T_degC']:.1f} °C"),
             ("equilibrium yield at the final temperature (solubility)", f"{rec['yield_eq']:.1f} %"),
             ("yield of the in-silico lab batch (noise-free)", _fmt_opt(rec.get("lab_yield"), ".1f", "%")),
             ("largest redissolution after nucleation", _fmt_opt(rec.get("max_redissolution"), ".1f", "%")),
             ("distance to the training data (≤ 1 = inside the domain)", _fmt_opt(rec.get("domain_distance"), ".3g"))]
    H.append(_table(pd.DataFrame(facts, columns=["quantity", "value"])))
    return H + ["</section>"]


def _validation_html(result) -> list[str]:
    H = ['<section id="validation"><h2>2. Validation in the lab (crystallization paper, Table 3)</h2>']
    val = _opt(result, "validation")
    if val is None or not len(val):
        return H + [f"<p>Validation: {NOT_COMPUTED}.</p></section>"]
    t = pd.DataFrame({"CQA": val["CQA"], "unit": val["unit"],
                      "experimental (mean ± SD)": [f"{m:.2f} ± {s:.2f}" for m, s in
                                                   zip(val["measured_mean"], val["measured_sd"])],
                      "predicted (mean ± σ)": [f"{m:.2f} ± {s:.2f}" for m, s in
                                               zip(val["predicted_mean"], val["predicted_sigma"])],
                      "|deviation| / σ": val["deviation_in_sigma"],
                      "within ±2σ": ["yes" if v else "NO" for v in val["within_2sigma"]]})
    if {"pi95_lower", "pi95_upper", "within_pi95"} <= set(val.columns):
        t["calibrated 95 % interval"] = [f"[{lo:.2f}, {hi:.2f}]"
                                         for lo, hi in zip(val["pi95_lower"], val["pi95_upper"])]
        t["inside"] = ["yes" if v else "NO" for v in val["within_pi95"]]
    return H + [_table(t), "<p>Experimental: mean ± SD of the lab replicates; σ: MCCV ensemble spread.</p>",
                "</section>"]


def _gates_html(gates: list[dict]) -> list[str]:
    H = ['<section id="gates"><h2>3. Gates</h2><table><thead><tr><th>gate</th><th>verdict</th><th>numbers</th>'
         "</tr></thead><tbody>"]
    for g in gates:
        cls = {"PASS": "pass", "FAIL": "fail"}.get(g["verdict"], "na")
        H.append(f'<tr><td>{html.escape(g["gate"])}</td><td class="{cls}">{g["verdict"]}</td>'
                 f'<td>{html.escape(g["detail"])}</td></tr>')
    return H + ["</tbody></table></section>"]


def _models_html(result) -> list[str]:
    H = ['<section id="models"><h2>5. Models, settings, timings</h2>']
    best = _opt(result, "best_models") or {}
    aug = _opt(result, "augmented") or {}
    if best:
        H.append(_table(pd.DataFrame([{"CQA": c, "model": m, "synthetic rows adopted": bool(aug.get(c, False))}
                                      for c, m in best.items()])))
    for name, title in (("holdout", "Hold-out metrics (steps 5 and 8)"), ("erm", "Weighted ERM before/after")):
        df = _opt(result, name)
        if df is not None and len(df):
            H += [f"<h3>{title}</h3>", _table(df)]
    loop = _opt(result, "loop_history")
    H += ["<h3>Closed-loop iterations (step 8 → 2)</h3>",
          _table(loop) if loop is not None and len(loop) else f"<p>{NOT_COMPUTED}</p>"]
    timings = _opt(result, "timings")
    if timings:
        H += ["<h3>Timings (s)</h3>", _table(pd.DataFrame([timings]), ".1f")]
    return H + ["</section>"]


_CSS = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}table{border-collapse:collapse;"
        "margin:.6em 0}td,th{border:1px solid #bbb;padding:3px 7px;font-size:13px}td.pass{background:#cfc}"
        "td.fail{background:#fcc}td.na{background:#eee}figure{margin:1em 0}img{max-width:100%}"
        "figcaption{font-size:12px;color:#444}#figures{page-break-before:always}")


def write_report(result, path=None, lab_yield: bool = True) -> Report:
    """Write the engineer's report of ``result`` (a ``WorkflowResult``) to ``path``
    (default ``result.out_dir / "report.html"``): one HTML file with every figure embedded.

    ``lab_yield``: run the noise-free in-silico lab once at the recommended profile for its
    yield.  Returns a :class:`Report` (path, figure objects, gate verdicts, recommendation)."""
    if path is None:
        if _opt(result, "out_dir") is None:
            raise ValidationError("write_report: give path= (the result has no out_dir)")
        path = Path(result.out_dir) / "report.html"
    rec = recommendation(result, lab_yield=lab_yield)
    gates = gate_verdicts(result, rec)
    figs = report_figures(result, rec)
    failed = [g["gate"] for g in gates if g["verdict"] == "FAIL"]
    H = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>Crystallization design report</title>",
         f"<style>{_CSS}</style></head><body>", "<h1>Crystallization digital design — engineer's report</h1>",
         f"<p><b>Summary:</b> {sum(g['verdict'] == 'PASS' for g in gates)} gate(s) pass, {len(failed)} fail, "
         f"{sum(g['passed'] is None for g in gates)} not computed. "
         + (f"Failing: {html.escape('; '.join(failed))} (section 3)." if failed else "No gate fails.") + "</p>"]
    H += _recommendation_html(rec, figs) + _validation_html(result) + _gates_html(gates)
    H.append('<section id="figures"><h2>4. Figures of the crystallization paper\'s workflow</h2>')
    H += [_img(k, figs[k]) for k in CAPTIONS if k in figs and k != "profile"]
    missing = [k for k in CAPTIONS if k not in figs]
    if missing:
        H.append(f"<p>Figures {NOT_COMPUTED}: {', '.join(missing)}.</p>")
    H += ["</section>"] + _models_html(result) + ["</body></html>"]
    path = Path(path)
    path.write_text("\n".join(H), encoding="utf-8")
    return Report(path, figs, gates, rec)
