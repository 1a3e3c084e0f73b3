"""The uncertainty sets own their geometry: ``build()`` returns a :class:`SetHandle` whose
``bound_to(δ)`` writes every bound implied by set(δ) — θ from the set's bounding box and
the LDL auxiliary variables ``w`` (Eq. 25–27) from the one formula in ``sets.py``."""
import json

import numpy as np
import pyomo.environ as pyo
import pytest

import flexspace
from flexspace.formulations import (
    BoxSet, EllipsoidalSet, FlexibilityAnalysis, FlexibilityIndexResult, FlexibilityTestResult, Method,
    ResultStatus, SetHandle, SetKind, UncertaintySet, add_uncertainty_set,
)
from flexspace.formulations import flexibility as fx

from support.linear import linear_model, random_linear

COV = np.array([[2.0, 0.6, 0.1], [0.6, 1.0, -0.3], [0.1, -0.3, 0.5]])
MEAN = np.array([1.0, -2.0, 0.5])
KINDS = [SetKind.BOX, SetKind.ELLIPSOID, SetKind.LDL]


def _built(uset, delta_ub=None, squared=False):
    """θ variables and a size variable on a fresh model, the set built on a sub-block."""
    m = pyo.ConcreteModel()
    m.t = pyo.Var(range(uset.dim), initialize=lambda m, i: float(uset.nominal[i]))
    m.d = pyo.Var(bounds=(0.0, delta_ub), initialize=0.0)
    handle = add_uncertainty_set(m, "s", uset, list(m.t.values()), m.d, squared=squared)
    return m, handle


def _bounds(vs):
    return np.array([v.lb for v in vs], float), np.array([v.ub for v in vs], float)


def _pad(lo, hi):
    """The padding bound_to adds: 1e-6 relative to the box's centre and half-width, + 1e-12."""
    return 1e-6 * (0.5 * np.abs(hi - lo) + np.abs(0.5 * (lo + hi))) + 1e-12


# --------------------------------------------------------------------------- kinds
class TestSetKind:
    @pytest.mark.parametrize("kind", KINDS)
    def test_every_set_knows_its_kind(self, kind):
        uset = UncertaintySet.of_kind(kind, MEAN, COV)
        assert uset.kind is kind
        assert UncertaintySet.of_kind(kind.value.upper(), MEAN, COV).kind is kind
        assert isinstance(uset, BoxSet if kind is SetKind.BOX else EllipsoidalSet)

    def test_is_a_plain_string(self):
        assert SetKind.BOX == "box" and SetKind.LDL == "ldl"
        assert {"box": 1}[SetKind.BOX] == 1
        assert f"{SetKind.ELLIPSOID}" == "ellipsoid" and str(SetKind.LDL) == "ldl"
        assert json.dumps({"set": SetKind.BOX}) == '{"set": "box"}'

    def test_old_names_are_gone(self):
        assert not hasattr(EllipsoidalSet(MEAN, COV), "label")
        assert not hasattr(fx, "set_label") and not hasattr(fx, "METHODS")

    def test_unknown_kind_names_the_parameter_and_the_choices(self):
        with pytest.raises(ValueError, match=r"unknown uncertainty set 'sphere': uncertainty_set must be one of "
                                             r"'box', 'ellipsoid', 'ldl'"):
            SetKind.parse("sphere")

    @pytest.mark.parametrize("kind", KINDS)
    def test_round_trips_through_result_dicts(self, kind):
        common = dict(status=ResultStatus.OK, set_kind=kind.value, solver="ipopt", is_global=False,
                      method="enumeration", theta_p={"p": 1.0})
        for cls in (FlexibilityIndexResult, FlexibilityTestResult):
            r = cls(**common)
            assert r.set_kind is kind and r.method is Method.ENUMERATION  # strings are coerced
            d = json.loads(json.dumps(r.to_dict()))
            assert d["set"] == kind.value and type(r.to_dict()["set"]) is str
            assert SetKind(d["set"]) is kind and Method(d["method"]) is Method.ENUMERATION

    @pytest.mark.parametrize("kind", KINDS)
    def test_analysis_and_results_carry_the_kind_of_the_set(self, kind):
        A, b, mean, cov = random_linear(2, seed=3)
        fa = FlexibilityAnalysis(linear_model(A, b, mean, cov), kind.value, "ipopt")
        assert fa.set_kind is kind and fa.set_kind is fa.uset.kind
        r = fa.index([1.0])
        assert r.status == ResultStatus.OK and r.set_kind is kind
        assert SetKind(r.to_dict()["set"]) is r.set_kind
        assert fa.test([1.0], delta=0.5).set_kind is kind


class TestMethod:
    def test_parse(self):
        assert Method.parse("MINLP") is Method.MINLP and Method.parse(Method.ENUMERATION) is Method.ENUMERATION
        assert Method.MINLP == "minlp" and f"{Method.ENUMERATION}" == "enumeration"

    def test_bad_method_names_the_parameter_and_the_choices(self):
        A, b, mean, cov = random_linear(2, seed=3)
        with pytest.raises(ValueError, match="unknown method 'bogus': method must be one of 'enumeration', 'minlp'"):
            flexspace.flexibility_index(linear_model(A, b, mean, cov), [1.0], "box", "ipopt", method="bogus")

    def test_string_or_enum_gives_the_same_result(self):
        A, b, mean, cov = random_linear(2, seed=3)
        fa = FlexibilityAnalysis(linear_model(A, b, mean, cov), "box", "ipopt")
        r1, r2 = fa.index([1.0], method="Enumeration"), fa.index([1.0], method=Method.ENUMERATION)
        assert r1.method is r2.method is Method.ENUMERATION
        assert r1.delta == pytest.approx(r2.delta, abs=1e-9)


# --------------------------------------------------------------------------- handles
class TestHandles:
    @pytest.mark.parametrize("kind", KINDS)
    def test_build_returns_the_handle(self, kind):
        uset = UncertaintySet.of_kind(kind, MEAN, COV)
        m, h = _built(uset, delta_ub=3.0)
        assert isinstance(h, SetHandle) and h.kind is kind and h.uset is uset
        assert h.block is m.s and h.delta is m.d and not h.squared
        assert [id(v) for v in h.theta] == [id(v) for v in m.t.values()]
        if kind is SetKind.LDL:
            assert [id(v) for v in h.auxiliary] == [id(v) for v in m.s.w.values()]
        else:
            assert h.auxiliary == []
        assert h.variables == h.theta + h.auxiliary

    @pytest.mark.parametrize("kind", KINDS)
    @pytest.mark.parametrize("delta", [0.0, 0.7, 2.5])
    def test_theta_bounds_are_nominal_plus_minus_half_widths(self, kind, delta):
        uset = UncertaintySet.of_kind(kind, MEAN, COV)
        _, h = _built(uset)
        h.bound_to(delta)
        lb, ub = _bounds(h.theta)
        lo, hi = MEAN - uset.half_widths(delta), MEAN + uset.half_widths(delta)
        pad = _pad(lo, hi)
        assert np.all(lb < ub)  # a point set (δ = 0) keeps a non-empty box
        assert np.allclose(lb, lo - pad, rtol=0, atol=1e-14) and np.allclose(ub, hi + pad, rtol=0, atol=1e-14)
        # the bounds contain the set, with no more slack than the padding
        P = uset.sample(delta, 400, np.random.default_rng(1))
        assert np.all(P >= lb) and np.all(P <= ub)
        # tight: every bound is reached by a point of the set
        if kind is SetKind.BOX:  # the samples include the corners
            assert np.allclose(P.min(axis=0), lo, atol=1e-12) and np.allclose(P.max(axis=0), hi, atol=1e-12)
        else:  # argmax of θ_i over the ellipsoid: θ̄ ± δ Σ e_i / σ_i
            for i in range(uset.dim):
                x = delta * COV[:, i] / np.sqrt(COV[i, i])
                assert np.all(uset.contains(np.array([MEAN + x, MEAN - x]), delta))
                assert (MEAN + x)[i] == pytest.approx(hi[i], abs=1e-12)
                assert (MEAN - x)[i] == pytest.approx(lo[i], abs=1e-12)

    def test_box_bounds_are_the_box_itself_and_can_be_clipped(self):
        box = BoxSet([5.0, 0.0], delta_minus=[5.0, 1.0], delta_plus=[15.0, 2.0])  # asymmetric (θp-style)
        _, h = _built(box)
        h.bound_to(0.5)
        lb, ub = _bounds(h.theta)
        lo, hi = np.array([2.5, -0.5]), np.array([12.5, 1.0])
        assert np.allclose(lb, lo - _pad(lo, hi), atol=1e-14) and np.allclose(ub, hi + _pad(lo, hi), atol=1e-14)
        h.bound_to(2.0, within=[[0.0, 20.0], [-10.0, 1.5]])
        lb, ub = _bounds(h.theta)
        lo, hi = np.array([0.0, -2.0]), np.array([20.0, 1.5])  # clipped where the box leaves `within`
        assert np.allclose(lb, lo - _pad(lo, hi), atol=1e-14) and np.allclose(ub, hi + _pad(lo, hi), atol=1e-14)


class TestLDLAuxiliaryBounds:
    """The one formula for the bounds of w = Lᵀ(θ − θ̄): |w_i| ≤ δ / sqrt(D_ii)."""

    @pytest.mark.parametrize("delta", [0.3, 1.0, 4.0])
    def test_contain_every_point_of_the_set(self, delta):
        uset = EllipsoidalSet(MEAN, COV, ldl=True)
        _, h = _built(uset)
        h.bound_to(delta)
        lb, ub = _bounds(h.auxiliary)
        P = uset.sample(delta, 5000, np.random.default_rng(7))
        W = uset.auxiliary_values(P)
        assert np.allclose(W, (P - MEAN) @ uset.L)  # the set's own formula, Eq. 26
        assert np.all(W >= lb) and np.all(W <= ub)
        # and the set's constraints hold at those w: Σ D_ii w_i² ≤ δ²
        assert np.all(W ** 2 @ uset.D <= delta ** 2 * (1 + 1e-9))

    @pytest.mark.parametrize("delta", [0.3, 1.0, 4.0])
    def test_are_tight(self, delta):
        uset = EllipsoidalSet(MEAN, COV, ldl=True)
        _, h = _built(uset)
        h.bound_to(delta)
        lb, ub = _bounds(h.auxiliary)
        exact = delta / np.sqrt(uset.D)
        assert np.allclose(ub, exact, rtol=2e-4, atol=2e-9) and np.allclose(lb, -exact, rtol=2e-4, atol=2e-9)
        assert np.all(ub >= exact) and np.all(lb <= -exact)
        # the closed form is reached by a point of the set: w = ±δ/sqrt(D_ii) e_i
        for i in range(uset.dim):
            for sign in (1.0, -1.0):
                w = np.zeros(uset.dim)
                w[i] = sign * exact[i]
                theta = MEAN + np.linalg.solve(uset.L.T, w)
                assert uset.contains(theta[None], delta, tol=1e-9)[0]
                assert uset.auxiliary_values(theta[None])[0, i] == pytest.approx(sign * exact[i], rel=1e-12)
        # and the samples come close to every bound
        W = uset.auxiliary_values(uset.sample(delta, 20000, np.random.default_rng(11)))
        assert np.all(W.max(axis=0) > 0.97 * ub) and np.all(W.min(axis=0) < 0.97 * lb)

    def test_a_solver_reaches_the_bounds(self):
        """Maximise each w_i over the built LDL set: the optimum is the closed form, inside the bounds."""
        if "ipopt" not in flexspace.available_solvers():
            pytest.skip("ipopt not available")
        uset = EllipsoidalSet(MEAN, COV, ldl=True)
        m, h = _built(uset, delta_ub=None)
        m.d.fix(1.5)
        h.bound_to(1.5)
        lb, ub = _bounds(h.auxiliary)
        solver = flexspace.get_solver("ipopt")
        for i, w in enumerate(h.auxiliary):
            for sense, bound in ((pyo.maximize, ub[i]), (pyo.minimize, lb[i])):
                m.obj = pyo.Objective(expr=w, sense=sense)
                assert solver.solve(m).status.ok
                assert pyo.value(w) == pytest.approx(bound, rel=2e-4, abs=1e-8)
                m.del_component(m.obj)

    def test_build_bounds_from_the_size_upper_bound(self):
        """Built with a δ Var (or δ² Var, ``squared``): w gets the bounds of set(δ's upper bound)."""
        uset = EllipsoidalSet(MEAN, COV, ldl=True)
        _, h = _built(uset, delta_ub=2.0)
        _, h2 = _built(uset, delta_ub=4.0, squared=True)
        lo, hi = uset.auxiliary_bounds(2.0)
        for handle in (h, h2):
            lb, ub = _bounds(handle.auxiliary)
            assert np.array_equal(lb, lo) and np.array_equal(ub, hi)
        _, h3 = _built(uset, delta_ub=None)  # no upper value known: w unbounded until bound_to
        assert all(v.lb is None and v.ub is None for v in h3.auxiliary)


# --------------------------------------------------------------------------- the analysis keeps its handles
class TestAnalysisHandles:
    def _fa(self, kind="ldl"):
        A, b, mean, cov = random_linear(3, seed=5)
        return FlexibilityAnalysis(linear_model(A, b, mean, cov), kind, "ipopt")

    def test_problems_keep_the_handles_they_built(self):
        fa = self._fa()
        prob = fa.indexer.problem()
        assert prob.set_m.block is prob.m.set_m and prob.set_p is None
        assert prob.set_handles == [prob.set_m] and prob.set_m.squared  # the index minimises δ²
        lb, ub = _bounds(prob.set_m.auxiliary)
        assert np.array_equal(ub, fa.uset.auxiliary_bounds(fa.delta_max)[1])
        ext = fa.tester.extended_problem(np.array([1.0]), np.array([0.5]), np.array([0.5]))
        assert ext.set_p.block is ext.m.set_p and ext.set_m.block is ext.m.set_m
        assert ext.set_p.kind is SetKind.BOX and [id(v) for v in ext.set_p.theta] == [id(v) for v in ext.inst.theta_p]

    def test_square_solve_deactivates_exactly_the_set_blocks(self, monkeypatch):
        fa = self._fa()
        prob = fa.indexer.problem()
        seen = {}

        def spy(solver):
            seen["active"] = [h.block.active for h in prob.set_handles]
            return real(solver)

        real = prob.inst.solve_square
        monkeypatch.setattr(prob.inst, "solve_square", spy)
        fa._initialise(prob, np.array([1.0]))
        assert seen["active"] == [False] and all(h.block.active for h in prob.set_handles)

    def test_test_bounds_theta_and_w_for_the_requested_delta(self):
        fa = self._fa()
        r = fa.test([1.0], delta=2.0)
        assert r.solved
        h = fa.tester.problem().set_m
        lo, hi = fa.uset.bounds(2.0)
        lb, ub = _bounds(h.theta)
        assert np.allclose(lb, lo - _pad(lo, hi)) and np.allclose(ub, hi + _pad(lo, hi))
        assert np.array_equal(_bounds(h.auxiliary)[1], fa.uset.auxiliary_bounds(2.0)[1])
