"""A set kind defined here, outside flexspace, runs through every entry point (issue 24).

``DiagonalEllipsoid`` is written only against the public :class:`UncertaintySet` protocol:
{θ : Σ_i ((θ_i − θ̄_i)/σ_i)² ≤ δ²}.  On case 1, whose covariance is diagonal, it is the same
set as flexspace's own ellipsoid, so every answer must equal the built-in one — the index,
an Algorithm 2 map written to a checkpoint and resumed, and Algorithm 3's rectangle.
"""
import json

import numpy as np
import pyomo.environ as pyo
import pytest
from scipy import stats

import flexspace
from flexspace.designspace import flexibility_index_map, flexibility_test_region
from flexspace.errors import FlexspaceError
from flexspace.formulations import UncertaintySet


class DiagonalEllipsoid(UncertaintySet):
    """Σ ((θ − θ̄)/σ)² ≤ δ² with σ = sqrt(diag Σ) (a user's set kind)."""

    name = "diag-ellipsoid"
    convex_in_delta_squared = True

    def __init__(self, nominal, covariance):
        super().__init__(nominal, covariance)
        self.sd = np.sqrt(np.diag(self._cov))

    def parameters(self):
        return {"nominal": self.nominal, "covariance": self.covariance}

    def build(self, block, theta, delta, squared=False):
        rhs = delta if squared else delta ** 2
        nom, sd = self.nominal, self.sd
        block.ball = pyo.Constraint(expr=sum(((theta[i] - float(nom[i])) / float(sd[i])) ** 2
                                             for i in range(self.dim)) <= rhs)
        return self._handle(block, theta, delta, squared)

    def half_widths(self, delta):
        return float(delta) * self.sd

    def gauge(self, points):
        return np.sqrt(np.sum(((self._points(points) - self.nominal) / self.sd) ** 2, axis=1))

    def contains(self, points, delta, tol=1e-9):
        return self.gauge(points) <= float(delta) + tol

    def sample(self, delta, n, rng, boundary_fraction=0.5):
        rng = np.random.default_rng(rng)
        z = rng.standard_normal((n, self.dim))
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        r = np.ones(n)
        nb = int(round(boundary_fraction * n))
        r[nb:] = rng.uniform(size=n - nb) ** (1.0 / self.dim)
        return self.nominal + float(delta) * (z * r[:, None]) * self.sd

    def probability(self, delta):  # independent coordinates: χ² with dim degrees of freedom
        return float(stats.chi2.cdf(float(delta) ** 2, df=self.dim))

    def delta_for_confidence(self, p_c):
        return float(np.sqrt(stats.chi2.ppf(p_c, df=self.dim)))


GRID = (np.array([3.0, 4.6, 6.0]), np.array([300.0, 500.0]))


@pytest.fixture(scope="module")
def reduced():
    from flexspace.models.cases import case1

    return case1.model(formulation="reduced")


def _user_set(model):
    return DiagonalEllipsoid(model.theta_m_nominal, model.covariance)


def test_the_set_round_trips_and_is_checked_against_the_model(reduced):
    uset = _user_set(reduced)
    again = UncertaintySet.from_dict(json.loads(json.dumps(uset.to_dict())))
    assert type(again) is DiagonalEllipsoid and again.kind == "diag-ellipsoid"
    assert np.allclose(again.half_widths(1.0), uset.half_widths(1.0))
    with pytest.raises(FlexspaceError, match="uncertainty_set has dimension 1"):
        flexspace.flexibility_index(reduced, [4.6, 500], uncertainty_set=DiagonalEllipsoid([1.0], [[1.0]]),
                                    solver="maingo")


def test_index_equals_the_builtin_ellipsoid(reduced):
    mine = flexspace.flexibility_index(reduced, [4.6, 500], uncertainty_set=_user_set(reduced), solver="maingo")
    ref = flexspace.flexibility_index(reduced, [4.6, 500], uncertainty_set="ellipsoid", solver="maingo")
    assert mine.status == ref.status == "ok", (str(mine), str(ref))
    assert mine.set_kind == "diag-ellipsoid" and mine.to_dict()["set"] == "diag-ellipsoid"
    assert mine.delta == pytest.approx(ref.delta, rel=1e-4)
    assert mine.delta_lower_bound <= ref.delta + 1e-6 and ref.delta_lower_bound <= mine.delta + 1e-6


def test_algorithm_2_map_with_a_checkpoint_resumes_and_equals_the_builtin(reduced, tmp_path):
    path = tmp_path / "map.jsonl"
    full = flexibility_index_map(reduced, grid=GRID, uncertainty_set=_user_set(reduced), solver="maingo",
                                 out=str(path), progress=False)
    ref = flexibility_index_map(reduced, grid=GRID, uncertainty_set="ellipsoid", solver="maingo", progress=False)
    assert full.run_info["computed"] == 6
    assert np.allclose(full.table["delta"], ref.table["delta"], rtol=1e-4, atol=1e-6)
    assert list(full.table["status"]) == list(ref.table["status"])
    # lose the last two finished points, as a killed run would, then resume: only they are solved again
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-2]))
    resumed = flexibility_index_map(reduced, grid=GRID, uncertainty_set=_user_set(reduced), solver="maingo",
                                    out=str(path), progress=False)
    assert resumed.run_info["resumed"] == 4 and resumed.run_info["computed"] == 2
    assert np.allclose(resumed.table["delta"], full.table["delta"], rtol=1e-4, atol=1e-6)
    # the checkpoint knows its set: resuming it with another set is refused, the file untouched
    from flexspace.designspace import CheckpointMismatchError

    before = path.read_bytes()
    other = flexspace.BudgetSet(reduced.theta_m_nominal, reduced.covariance, 1.5)
    with pytest.raises(CheckpointMismatchError, match="set"):
        flexibility_index_map(reduced, grid=GRID, uncertainty_set=other, solver="maingo", out=str(path),
                              progress=False)
    assert path.read_bytes() == before


def test_algorithm_3_rectangle_equals_the_builtin(reduced):
    mine = flexibility_test_region(reduced, 0.85, uncertainty_set=_user_set(reduced), solver="maingo")
    ref = flexibility_test_region(reduced, 0.85, uncertainty_set="ellipsoid", solver="maingo")
    assert mine.set_kind == "diag-ellipsoid"
    assert mine.delta_p == pytest.approx(ref.delta_p, abs=2 * float(mine.to_dict().get("eps_tol", 1e-3)))


# --------------------------------------------------------------------------- what a set must declare
def test_a_set_not_declared_convex_never_lets_a_local_answer_be_exact():
    """On a linear model a local solver's index is exact only over a convex set: the same
    ellipsoid as a user's set that does not declare ``is_convex`` is sampled, not ``ok``."""
    from support.linear import linear_model, random_linear

    A, b, mean, cov = random_linear(2, seed=3)
    model = linear_model(A, b, mean, np.diag(np.diag(cov)))
    builtin = flexspace.flexibility_index(model, [1.0], uncertainty_set="ellipsoid", solver="ipopt")
    assert builtin.status == "ok"  # linear model, convex set: proven
    mine = flexspace.flexibility_index(model, [1.0], uncertainty_set=DiagonalEllipsoid(mean, np.diag(np.diag(cov))),
                                       solver="ipopt")
    assert mine.status != "ok" and not mine.ok
    assert mine.delta == pytest.approx(builtin.delta, rel=1e-6)


class ForgetfulSet(DiagonalEllipsoid):
    """parameters() loses the covariance: a rebuilt set would differ."""

    def parameters(self):
        return {"nominal": self.nominal, "covariance": np.eye(self.dim)}


def test_a_set_that_does_not_rebuild_is_refused_before_a_map(reduced, tmp_path):
    path = tmp_path / "map.jsonl"
    bad = ForgetfulSet(reduced.theta_m_nominal, reduced.covariance)
    with pytest.raises(FlexspaceError, match="parameters\\(\\) does not rebuild the same set"):
        flexibility_index_map(reduced, grid=GRID, uncertainty_set=bad, solver="maingo", out=str(path), progress=False)
    assert not path.exists()


def test_large_box_directions_are_not_enumerated_corners():
    from flexspace.formulations.bracket import _directions
    from flexspace.formulations import BoxSet

    n = 22  # 2^22 corners would take seconds and gigabytes
    d = _directions(BoxSet(np.zeros(n), np.eye(n)))
    assert d.shape == (2 * n, n)
    assert np.allclose(BoxSet(np.zeros(n), np.eye(n)).gauge(d), 1.0)


def test_a_set_must_carry_the_models_distribution(reduced):
    """A set centred elsewhere, or with another Σ (or none), would check nominal feasibility at
    the wrong point or report probabilities of another distribution: refused."""
    nom, cov = reduced.theta_m_nominal, np.asarray(reduced.covariance)
    for bad, why in ((DiagonalEllipsoid(nom * 1.1, cov), "centred at"),
                     (DiagonalEllipsoid(nom, 2 * cov), "another covariance"),
                     (flexspace.BudgetSet(nom, None, 1.5, scale=np.sqrt(np.diag(cov))), "no covariance")):
        with pytest.raises(FlexspaceError, match=why):
            flexspace.flexibility_index(reduced, [4.6, 500], uncertainty_set=bad, solver="maingo")


def test_the_minlp_route_never_reports_a_point_that_violates_nothing():
    """Badly scaled linear CQAs (coefficients 1e-2 … 1e5) and a tiny index: the big-M of
    Eq. 3-5 lets tolerances through (measured: SCIP's ellipsoid MINLP said delta = 0 at a point
    off the nominal).  The answer is either right (within the gap) or not ``ok``."""
    from support.linear import linear_model

    A = np.array([[1.0, 0.3], [-1e5, 2e4], [1e-2, -1e-2]])
    b = np.array([1.0, 1.0, 0.1])  # g = A theta - b
    model = linear_model(A, b, np.zeros(2), np.eye(2))
    ref = float(np.min(b / np.linalg.norm(A, axis=1)))  # ellipsoid, Sigma = I: distance to each plane
    r = flexspace.flexibility_index(model, [1.0], uncertainty_set="ellipsoid", solver="scip", method="minlp")
    assert r.status != "ok" or r.delta == pytest.approx(ref, rel=1e-3, abs=1e-6), (str(r), ref)
    if r.status == "ok":
        assert r.delta_lower_bound <= ref * (1 + 1e-3) + 1e-6


def test_a_checkpoint_refuses_the_same_kind_of_set_with_other_data(reduced, tmp_path):
    """Two budget sets differ only in Γ: the checkpoint's ``set_data`` tells them apart."""
    from flexspace.designspace import CheckpointMismatchError

    path = tmp_path / "budget.jsonl"
    nom, cov = reduced.theta_m_nominal, reduced.covariance
    flexibility_index_map(reduced, grid=GRID, uncertainty_set=flexspace.BudgetSet(nom, cov, 1.5), solver="maingo",
                          out=str(path), progress=False)
    before = path.read_bytes()
    with pytest.raises(CheckpointMismatchError, match="set_data"):
        flexibility_index_map(reduced, grid=GRID, uncertainty_set=flexspace.BudgetSet(nom, cov, 2.0),
                              solver="maingo", out=str(path), progress=False)
    assert path.read_bytes() == before
