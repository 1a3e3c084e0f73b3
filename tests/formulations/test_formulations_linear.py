"""Flexibility index of linear models g = Aθ − b against the closed forms of case-studies.md."""
import numpy as np
import pytest

import flexspace
from flexspace import FlexibilityAnalysis, ResultStatus

from support.linear import linear_model, random_linear


def closed_forms(A, b, mean, cov):
    slack = b - A @ mean
    sd = np.sqrt(np.diag(cov))
    box = slack / (np.abs(A) @ sd)
    ell = slack / np.sqrt(np.einsum("ki,ij,kj->k", A, cov, A))
    return box.min(), ell.min()


@pytest.mark.parametrize("solver", ["ipopt", "maingo", "scip"])
@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_index_matches_closed_form(solver, n):
    A, b, mean, cov = random_linear(n, seed=100 + n)
    model = linear_model(A, b, mean, cov)
    box, ell = closed_forms(A, b, mean, cov)
    for set_kind, expected in (("box", box), ("ellipsoid", ell), ("ldl", ell)):
        r = flexspace.flexibility_index(model, [1.0], set_kind, solver)
        assert r.status == ResultStatus.OK, str(r)
        assert r.delta == pytest.approx(expected, abs=1e-6), (set_kind, str(r))
        assert r.certified is True


def test_minlp_route_matches_closed_form():
    A, b, mean, cov = random_linear(3, seed=7)
    model = linear_model(A, b, mean, cov, as_vars=True)  # θm given as Vars this time
    box, ell = closed_forms(A, b, mean, cov)
    for solver in ("maingo", "scip"):
        # the MINLP incumbent is not polished by a local solve: ask for a 1e-8 gap to reach 1e-6
        assert flexspace.flexibility_index(model, [1.0], "ldl", solver, method="minlp", options={"gap": 1e-8}).delta == \
            pytest.approx(ell, abs=1e-6)
        assert flexspace.flexibility_index(model, [1.0], "box", solver, method="minlp", options={"gap": 1e-8}).delta == \
            pytest.approx(box, abs=1e-6)


def test_flexibility_test_sign_flips_at_the_index():
    """χ(δ) ≤ 0 below the flexibility index and > 0 above it (Eq. 1–7 vs Eq. 16–23)."""
    A, b, mean, cov = random_linear(3, seed=11)
    model = linear_model(A, b, mean, cov)
    _, ell = closed_forms(A, b, mean, cov)
    fa = FlexibilityAnalysis(model, "ldl", "maingo")
    below, above = fa.test([1.0], delta=0.95 * ell), fa.test([1.0], delta=1.05 * ell)
    assert below.feasible and below.chi < 0
    assert not above.feasible and above.chi > 0
    # max of a linear function over the ellipsoid is closed-form too
    k = np.argmax(A @ mean - b + 0.95 * ell * np.sqrt(np.einsum("ki,ij,kj->k", A, cov, A)))
    sd_k = np.sqrt(A[k] @ cov @ A[k])
    assert below.chi == pytest.approx(A[k] @ mean - b[k] + 0.95 * ell * sd_k, abs=1e-6)


def test_capped_when_no_violation_possible():
    A = np.array([[1.0, 0.0]])
    b = np.array([100.0])  # 100 σ away
    model = linear_model(A, b, np.zeros(2), np.eye(2))
    for solver in ("ipopt", "maingo"):
        r = flexspace.flexibility_index(model, [1.0], "ellipsoid", solver, options={"delta_max": 6.0})
        assert r.ok and r.capped and r.delta == pytest.approx(6.0)
