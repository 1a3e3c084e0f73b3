"""The engineer's report (``report.html``) of a quick workflow run: recommendation first,
the seed's Table 3, one verdict per gate with its numbers, the seed's figures with titles
and units, "not computed" for what a result lacks, and the ``flexspace crystallization run``
hook.  The run uses a small user DoE (no hold-out search), so it takes seconds."""
import dataclasses
import html
import re
import types

import numpy as np
import pandas as pd
import pytest

from flexspace.crystallization.profile import CQA_NAMES, FEATURE_NAMES, decode_profile
from flexspace.crystallization.report import CAPTIONS, NOT_COMPUTED, write_report
from flexspace.crystallization.workflow import run_workflow

UNIT = re.compile(r"\[[^\]]+\]")
OPTIONAL = ("Applicability domain", "Process limits", "Interval coverage", "Interval width", "Closed loop")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    from flexspace.crystallization.doe import TABLE1_MIX, sample_profiles
    from flexspace.crystallization.lab import InSilicoLab

    out = tmp_path_factory.mktemp("cryst_report")
    X = sample_profiles(TABLE1_MIX, random_state=0)
    Y = InSilicoLab(random_state=0).measure(X, random_state=1)
    pd.concat([pd.DataFrame(X, columns=list(FEATURE_NAMES)), Y[list(CQA_NAMES)]], axis=1).to_csv(
        out / "doe.csv", index=False)
    res = run_workflow(out / "run", quick=True, random_state=0, verbose=False, use_torch=False,
                       doe_csv=out / "doe.csv")
    return res, write_report(res)


def _gate(rep, start):
    return next(g for g in rep.gates if g["gate"].startswith(start))


def test_report_file_sections_gates_and_images(quick):
    res, rep = quick
    assert rep.path == res.out_dir / "report.html" and rep.path.exists()
    text = rep.path.read_text(encoding="utf-8")
    # recommendation first, then validation (Table 3), gates, figures
    order = [text.index(f'<section id="{s}">') for s in ("recommendation", "validation", "gates", "figures")]
    assert order == sorted(order)
    first = text[order[0]:order[1]]
    assert "fig-profile" in first and "batch time" in first and "yield" in first
    for cqa in CQA_NAMES:
        assert f"<td>{cqa}</td>" in first  # predicted CQA ± interval
    assert "experimental (mean ± SD)" in text[order[1]:order[2]]
    # every figure embedded (one file opens it all): the six of the report, one image each
    assert set(rep.figures) == set(CAPTIONS)
    assert text.count('src="data:image/png;base64,') == len(rep.figures) == 6
    assert 'src="figures/' not in text
    # every gate with its verdict and numbers in the gates table
    gates_html = text[order[2]:order[3]]
    assert len(rep.gates) == 9
    for g in rep.gates:
        assert g["verdict"] in ("PASS", "FAIL", "NOT COMPUTED")
        assert f'<td>{g["gate"]}</td><td class="' in html.unescape(gates_html)
        assert f'">{g["verdict"]}</td>' in gates_html
        assert g["detail"]


def test_verdicts_match_the_numbers(quick):
    res, rep = quick
    v = res.validation
    assert _gate(rep, "Validation: lab mean within ±2σ")["passed"] == bool(v["within_2sigma"].all())
    assert _gate(rep, "Validation: lab mean inside")["passed"] == bool(v["within_pi95"].all())
    assert _gate(rep, "Step 8")["passed"] == bool(res.holdout["step8_accept"].dropna().astype(bool).all())
    front = pd.concat(res.pareto.values())
    ok = (front["DoA_pred"].between(0, 100) & front["crystallinity_pred"].between(0, 100)
          & (front["D50_pred"] > 0)).all()
    assert _gate(rep, "Fronts")["passed"] == bool(ok)
    assert _gate(rep, "Applicability domain")["passed"] == bool(res.recommendation["in_domain"])
    assert _gate(rep, "Process limits")["passed"] == bool(res.recommendation["process_ok"])
    cov = _gate(rep, "Interval coverage")
    assert cov["passed"] == (res.lab_points["covered"].mean() >= 0.85)
    rmse = dict(zip(res.holdout["CQA"], np.sqrt(res.holdout["holdout_MSE"])))
    wide = all(r.pi95_half_width <= 2 * rmse[r.CQA] + r.replicate_noise_sd for r in v.itertuples())
    assert _gate(rep, "Interval width")["passed"] == wide
    # the loop is off for a user DoE: nothing to judge, said so
    loop = _gate(rep, "Closed loop")
    assert loop["verdict"] == "NOT COMPUTED" and "loop disabled" in loop["detail"]


def test_recommendation_is_the_workflows(quick):
    res, rep = quick
    rec = rep.recommendation
    np.testing.assert_allclose(rec["x"], res.recommendation[list(FEATURE_NAMES)].to_numpy(float))
    t, T = decode_profile(rec["x"])
    assert rec["batch_time_h"] == pytest.approx(t[-1] / 60) == pytest.approx(res.recommendation["batch_time_h"])
    assert rec["final_T_degC"] == pytest.approx(T[-1])
    assert 0 < rec["lab_yield"] <= 100 and rec["yield_eq"] == pytest.approx(res.recommendation["yield_eq_%"])
    for cqa in CQA_NAMES:
        p = rec["predictions"][cqa]
        assert (p["low"], p["mean"], p["high"]) == pytest.approx(
            tuple(res.recommendation[f"{cqa}_{k}"] for k in ("lo", "pred", "hi")))
        assert p["interval"].startswith("calibrated")


def test_every_axis_has_a_title_and_units(quick):
    _, rep = quick
    for key, fig in rep.figures.items():
        plot_axes = [ax for ax in fig.axes if ax.get_xlabel()]  # colorbars carry only their label
        assert plot_axes, key
        for ax in plot_axes:
            assert ax.get_title(), (key, ax.get_xlabel())
            assert UNIT.search(ax.get_xlabel()) and UNIT.search(ax.get_ylabel()), (key, ax.get_xlabel(),
                                                                                   ax.get_ylabel())
        for ax in fig.axes:
            if not ax.get_xlabel():
                assert UNIT.search(ax.get_ylabel()), key  # colorbar
    prof = rep.figures["profile"].axes[0]
    assert (prof.get_xlabel(), prof.get_ylabel()) == ("time [h]", "temperature [°C]")
    texts = [t.get_text() for t in prof.texts]
    assert len(texts) == len(rep.recommendation["T_degC"]) and texts[0].startswith("T1 = ")
    # the recommended point is circled on the panel of its cycle count, and only there
    panels = rep.figures["pareto"].axes
    circled = [ax.get_title() for ax in panels if "recommended" in ax.get_legend_handles_labels()[1]]
    assert circled == [f"{rep.recommendation['n_cycles']} cycle(s)"]


def test_a_result_without_the_loop_fields_says_not_computed(quick, tmp_path):
    res, _ = quick
    fields = {f.name: getattr(res, f.name) for f in dataclasses.fields(res)}
    fields.update(recommendation=None, process_limits=None, lab_points=None, loop_history=None,
                  validation=res.validation.drop(columns=["pi95_lower", "pi95_upper", "pi95_half_width",
                                                          "within_pi95", "replicate_noise_sd", "lab_yield_%"]))
    old = types.SimpleNamespace(**fields)
    rep = write_report(old, tmp_path / "r.html", lab_yield=False)
    for name in OPTIONAL:
        g = _gate(rep, name)
        assert g["verdict"] == "NOT COMPUTED" and g["passed"] is None, name
    p = rep.recommendation["predictions"]
    assert all("not calibrated" in p[c]["interval"] for c in CQA_NAMES)
    assert p["crystallinity"]["high"] <= 100 and p["DoA"]["low"] >= 0  # the fallback interval stays physical
    text = rep.path.read_text(encoding="utf-8")
    assert NOT_COMPUTED in text and text.count("data:image/png;base64,") == 6


def test_cli_run_writes_the_report(quick, tmp_path, monkeypatch, capsys):
    import flexspace.crystallization.workflow as wf
    from flexspace.cli.main import main

    res, _ = quick
    out = tmp_path / "cli_out"
    light = dataclasses.replace(res, erm_results={}, ensembles={}, pareto={})  # fewer figures to draw
    monkeypatch.setattr(wf, "run_workflow", lambda out_dir, **kw: dataclasses.replace(light, out_dir=out_dir))
    assert main(["crystallization", "run", "--out", str(out), "--quick"]) == 0
    stdout = capsys.readouterr().out
    assert (out / "report.html").exists() and "report.html" in stdout
    assert "Validation: lab mean within ±2σ" in stdout
    text = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="fig-profile"' in text and "Figures not computed: augmentation, uq, alpha, pareto, crystallinity" in text
