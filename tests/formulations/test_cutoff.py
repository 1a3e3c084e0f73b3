"""Sign cut-offs (issue 14): a flexibility test stops each global solve once its sign is
proven, an index subproblem once it cannot be the minimum — same decisions as full solves,
the proven bound carried, and an unfinished solve never feasible."""
import time

import pytest

from flexspace.formulations import FlexibilityAnalysis
from flexspace.formulations.results import ResultStatus
from flexspace.models.cases import case1
from flexspace.solvers import SolverStatus

OPTS = {"time_limit": 30, "gap": 1e-4, "abs_gap": 1e-6}


@pytest.fixture(scope="module")
def model():
    return case1.model()


def _fa(model, cutoffs, solver="scip", **changes):
    return FlexibilityAnalysis(model, "ellipsoid", solver, {**OPTS, "cutoffs": cutoffs, **changes},
                               diagnose_failures=False)


def test_extended_test_same_sign_with_cutoffs(model):
    """δp = 0 is feasible and δp = 1 infeasible (case 1, p_c 0.85) with and without cut-offs.
    With cut-offs the infeasible test stops at the first point with g > 0 (status TARGET, the
    remaining constraint skipped) and χ there is a real g value ≤ the optimum; the feasible
    test carries a proven upper bound ≤ 0."""
    full, cut = _fa(model, False), _fa(model, True)
    for dp, feasible in ((0.0, True), (1.0, False)):
        a = full.extended_test(dp, confidence=0.85)
        b = cut.extended_test(dp, confidence=0.85, window=1e-5)
        assert a.solved and b.solved and a.feasible == b.feasible == feasible
        assert all(s.status == SolverStatus.OPTIMAL for s in a.subproblems)
        if feasible:
            assert b.chi_upper_bound is not None and b.chi_upper_bound <= 0 and b.chi <= b.chi_upper_bound
        else:
            assert 0 < b.chi <= a.chi + 1e-9
            assert b.subproblems[0].status == SolverStatus.TARGET and len(b.subproblems) == 1
            assert "not solved (cut-offs)" in b.diagnostics
            assert b.worst_theta_m is not None and b.worst_theta_p is not None


def test_unfinished_sign_solve_is_never_feasible(model, monkeypatch):
    """A test whose solves hit the wall-clock guard is failed, never feasible — with cut-offs
    as without."""
    fa = _fa(model, True, time_limit=0.5)
    fa.extended_test(0.0, confidence=0.85)  # build and initialise once
    real = type(fa.solver)._solve_inproc

    def slow(m):
        time.sleep(30)
        return real(fa.solver, m)

    monkeypatch.setattr(fa.solver, "_solve_inproc", slow)
    r = fa.extended_test(0.0, confidence=0.85, window=1e-5)
    assert r.status == ResultStatus.FAILED and not r.feasible
    assert {s.status for s in r.subproblems} == {SolverStatus.TIME_LIMIT}


def test_index_cutoff_across_constraints_same_delta(model):
    """The index with a bound cut-off across constraints gives the same δ (within the gap) and a
    valid proven lower bound; a cut-off subproblem is TARGET with its bound ≥ δ."""
    tp = model.theta_p_nominal
    a = _fa(model, False).index(tp)
    fa = _fa(model, True)
    fa.index(tp)  # the first call learns the active constraint; the second solves it first
    b = fa.index(tp)
    assert a.ok and b.ok and b.worst_constraint == a.worst_constraint
    assert abs(b.delta - a.delta) <= 1e-3 * a.delta
    assert b.delta_lower_bound <= b.delta + 1e-12 and abs(b.delta_lower_bound - a.delta_lower_bound) <= 1e-3 * a.delta
    assert b.subproblems[0].constraint == a.worst_constraint
    for s in b.subproblems[1:]:
        assert s.status in (SolverStatus.OPTIMAL, SolverStatus.TARGET, SolverStatus.INFEASIBLE)
        if s.status == SolverStatus.TARGET:
            assert s.bound >= b.delta * (1 - 1e-9) and "cut off" in s.message
