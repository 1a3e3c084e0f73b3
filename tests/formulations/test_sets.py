"""Uncertainty sets: one test class per set (validation, probability, confidence, Pyomo block)."""
import numpy as np
import pyomo.environ as pyo
import pytest
from scipy import stats

from flexspace import BoxSet, EllipsoidalSet
from flexspace.formulations import SetHandle, SetKind, validate_covariance

COV = np.array([[2.0, 0.6, 0.1], [0.6, 1.0, -0.3], [0.1, -0.3, 0.5]])
MEAN = np.array([1.0, -2.0, 0.5])


class TestCovarianceValidation:
    def test_non_symmetric_names_entries(self):
        S = COV.copy()
        S[0, 2] = 0.2
        with pytest.raises(ValueError, match=r"not symmetric: \(0,2\)=0\.2 vs \(2,0\)=0\.1"):
            validate_covariance(S)

    def test_non_pd(self):
        with pytest.raises(ValueError, match="not positive definite"):
            validate_covariance([[1.0, 2.0], [2.0, 1.0]])

    def test_nan_and_shape(self):
        with pytest.raises(ValueError, match="NaN or inf"):
            validate_covariance([[1.0, np.nan], [np.nan, 1.0]])
        with pytest.raises(ValueError, match="square"):
            validate_covariance(np.ones((2, 3)))
        with pytest.raises(ValueError, match="nominal vector has length 2"):
            EllipsoidalSet([0.0, 0.0], COV)


class TestBoxSet:
    def test_default_halfwidths_are_sd(self):
        s = BoxSet(MEAN, COV)
        assert np.allclose(s.delta_minus, np.sqrt(np.diag(COV)))

    def test_negative_halfwidth_and_nan_bounds(self):
        with pytest.raises(ValueError, match="delta_minus must be >= 0"):
            BoxSet(MEAN, COV, delta_minus=[-1, 1, 1], delta_plus=[1, 1, 1])
        with pytest.raises(ValueError, match="NaN or inf"):
            BoxSet(MEAN, COV, delta_minus=[np.nan, 1, 1], delta_plus=[1, 1, 1])

    def test_probability_independent_exact(self):
        s = BoxSet([0, 0], np.diag([1.0, 4.0]))
        assert s.probability(1.5) == pytest.approx((2 * stats.norm.cdf(1.5) - 1) ** 2, abs=1e-12)

    def test_probability_correlated_matches_sampling(self):
        s = BoxSet(MEAN, COV)
        rng = np.random.default_rng(1)
        X = rng.multivariate_normal(MEAN, COV, size=400000)
        mc = np.mean(s.contains(X, 1.3))
        assert s.probability(1.3) == pytest.approx(mc, abs=4 * np.sqrt(mc * (1 - mc) / X.shape[0]))

    def test_delta_for_confidence_inverts(self):
        s = BoxSet(MEAN, COV)
        d = s.delta_for_confidence(0.85)
        assert s.probability(d) == pytest.approx(0.85, abs=1e-7)
        with pytest.raises(ValueError, match=r"confidence must be a finite number in \(0, 1\)"):
            s.delta_for_confidence(1.0)

    def test_kind(self):
        assert BoxSet(MEAN, COV).kind is SetKind.BOX

    def test_pyomo_block_is_the_box(self):
        s = BoxSet(MEAN, COV)
        m = pyo.ConcreteModel()
        m.t = pyo.Var(range(3))
        h = s.build(m, list(m.t.values()), 2.0)
        assert isinstance(h, SetHandle) and h.block is m and h.auxiliary == []
        for i in range(3):
            assert pyo.value(m.box_upper[i].upper) == pytest.approx(MEAN[i] + 2 * np.sqrt(COV[i, i]))
        lo, hi = s.bounds(2.0)
        assert np.allclose(lo, MEAN - 2 * np.sqrt(np.diag(COV))) and np.allclose(hi, MEAN + s.half_widths(2.0))

    def test_samples_inside(self):
        s = BoxSet(MEAN, COV)
        P = s.sample(1.7, 500, 0)
        assert np.all(s.contains(P, 1.7)) and not np.all(s.contains(P, 1.6))


class TestEllipsoidalSet:
    def test_kind(self):
        assert EllipsoidalSet(MEAN, COV).kind is SetKind.LDL
        assert EllipsoidalSet(MEAN, COV, ldl=False).kind is SetKind.ELLIPSOID
        assert EllipsoidalSet(MEAN, COV).n_auxiliary == 3 and EllipsoidalSet(MEAN, COV, ldl=False).n_auxiliary == 0

    def test_ldl_factors(self):
        s = EllipsoidalSet(MEAN, COV)
        assert np.allclose(np.triu(s.L, 1), 0) and np.allclose(np.diag(s.L), 1)
        assert np.allclose(s.L @ np.diag(s.D) @ s.L.T, np.linalg.inv(COV))

    def test_probability_chi2(self):
        s = EllipsoidalSet(MEAN, COV)
        assert s.probability(2.0) == pytest.approx(stats.chi2.cdf(4.0, 3))
        assert s.delta_for_confidence(0.85) == pytest.approx(np.sqrt(stats.chi2.ppf(0.85, 3)))

    def test_probability_matches_sampling(self):
        s = EllipsoidalSet(MEAN, COV)
        X = np.random.default_rng(2).multivariate_normal(MEAN, COV, size=200000)
        mc = np.mean(s.contains(X, 1.5))
        assert s.probability(1.5) == pytest.approx(mc, abs=4 * np.sqrt(mc * (1 - mc) / X.shape[0]))

    @pytest.mark.parametrize("ldl", [True, False])
    def test_pyomo_block_membership(self, ldl):
        s = EllipsoidalSet(MEAN, COV, ldl=ldl)
        P = s.sample(1.0, 50, 3, boundary_fraction=0.0)
        m = pyo.ConcreteModel()
        m.t = pyo.Var(range(3))
        h = s.build(m, list(m.t.values()), 1.0)
        assert len(h.auxiliary) == (3 if ldl else 0)
        for p in P:
            for i in range(3):
                m.t[i].set_value(p[i])
            w = s.auxiliary_values(p[None])[0]
            if ldl:
                assert np.allclose(w, s.L.T @ (p - MEAN))
            for v, x in zip(h.auxiliary, w):
                v.set_value(x)
                assert v.lb <= x <= v.ub  # built with a numeric δ: w bounded by set(δ)
            body = pyo.value(m.ellipsoid.body)
            assert body <= pyo.value(m.ellipsoid.upper) + 1e-9
            assert body == pytest.approx(s.mahalanobis(p[None])[0] ** 2)

    def test_boundary_samples_on_boundary(self):
        s = EllipsoidalSet(MEAN, COV)
        P = s.sample(2.0, 100, 0, boundary_fraction=1.0)
        assert np.allclose(s.mahalanobis(P), 2.0)
