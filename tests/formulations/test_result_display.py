"""Notebook views of flexibility results (``_repr_html_``): status, values, units and one row
per subproblem, every text escaped; ``str()`` is unchanged."""
import html

from flexspace.formulations.display import html_table, result_html
from flexspace.formulations.recourse import RecourseIndexResult
from flexspace.formulations.results import (FlexibilityIndexResult, FlexibilityTestResult, ResultStatus,
                                            SubproblemResult)
from flexspace.solvers import SolverStatus

EVIL = '<script>alert("x")</script>'


def _index(**kw):
    fields = dict(status=ResultStatus.OK, set_kind="ellipsoid", solver="maingo", is_global=True,
                  method="enumeration", theta_p={"T": 300.0, "R": 4.6},
                  subproblems=[SubproblemResult(EVIL, 1.25, SolverStatus.OPTIMAL, bound=1.2499),
                               SubproblemResult("purity", 3.0, SolverStatus.OPTIMAL, capped=True)],
                  certified=True, units={"T": "K"}, delta=1.25, probability=0.79, delta_max=3.0,
                  delta_lower_bound=1.2499, worst_constraint=EVIL, worst_theta_m={"k1": 0.3},
                  domain=f"proven & {EVIL}")
    fields.update(kw)
    return FlexibilityIndexResult(**fields)


def test_index_html_has_status_values_units_and_subproblems():
    r = _index()
    out = r._repr_html_()
    assert out == result_html(r)
    assert ">ok<" in out and "[global]" in out  # status and what it rests on
    assert "1.25" in out and "0.79" in out and "maingo (global)" in out
    assert "T=300 K" in out and "R=4.6" in out and "R=4.6 " not in out  # units only where stated
    assert out.count("<tr>") >= 3  # header row and one row per subproblem
    assert "purity" in out and "capped" in out


def test_every_text_is_escaped():
    out = _index()._repr_html_()
    assert EVIL not in out and "<script" not in out
    assert html.escape(EVIL, quote=True) in out
    assert "proven &amp; " in out
    table = html_table([("a", "b")], header=["<h>"], caption="<c>")
    assert "&lt;h&gt;" in table and "&lt;c&gt;" in table and "<h>" not in table


def test_failed_status_is_shown_and_plain_str_unchanged():
    r = _index(status=ResultStatus.FAILED, delta=float("nan"), probability=float("nan"))
    out = r._repr_html_()
    assert ">failed<" in out and "nan" in out
    assert str(r).startswith("Flexibility index (ellipsoid, enumeration, solver=maingo) at T=300 K, R=4.6")
    assert repr(r).startswith("FlexibilityIndexResult(")


def test_test_result_html():
    r = FlexibilityTestResult(status=ResultStatus.SAMPLED, set_kind="box", solver="ipopt", is_global=False,
                              method="enumeration", theta_p={"T": 300.0},
                              subproblems=[SubproblemResult("g<1>", -0.5, SolverStatus.LOCALLY_OPTIMAL)],
                              certification={"statement": "no violation in 2000 samples"}, chi=-0.5, delta_m=1.0)
    out = r._repr_html_()
    assert ">sampled<" in out and "Flexibility test" in out and "-0.5" in out
    assert "feasible (sampled, not proven)" in out and "g&lt;1&gt;" in out and "chi_k" in out


def test_recourse_result_html_has_route_and_controls():
    r = RecourseIndexResult(status=ResultStatus.OK, set_kind="box", solver="highs", is_global=True,
                            method="enumeration", theta_p={}, delta=0.5, probability=0.3, delta_max=6.0,
                            route="vertex", critical_z={"Qc": 80.0}, active_constraints=["g1", "capacity"],
                            assumption="g linear in theta and z", assumption_verified=True)
    out = r._repr_html_()
    assert "with recourse" in out and "vertex" in out and "Qc=80" in out and "[proven]" in out
    assert ">ok<" in out
