"""Bad input gets a clear error naming the parameter, before any compute (flexspace.validation)."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flexspace
from flexspace import BoxSet, EllipsoidalSet, SolveOptions
from flexspace.designspace import Bisection, DesignSpaceMap
from flexspace.errors import FlexspaceError, ValidationError
from flexspace.models.cases import case1
from flexspace.montecarlo import monte_carlo_probability, sample_theta_m
from flexspace.options import resolve_options


@pytest.fixture(scope="module")
def model():
    return case1.model()


@pytest.mark.parametrize("kw, name", [
    ({"time_limit": "5"}, "time_limit"), ({"time_limit": None}, "time_limit"), ({"gap": 0.0}, "gap"),
    ({"gap": -1e-4}, "gap"), ({"gap": float("nan")}, "gap"), ({"n_certify": -1}, "n_certify"),
    ({"n_certify": 2.5}, "n_certify"), ({"random_state": 1.5}, "random_state"), ({"random_state": "a"}, "random_state"),
    ({"delta_max": math.inf}, "delta_max"), ({"certify": "yes"}, "certify"), ({"tim_limit": 5}, "tim_limit"),
])
def test_solve_options_name_the_bad_field(kw, name):
    with pytest.raises(ValidationError, match=name):
        resolve_options(kw)


def test_numpy_scalars_are_numbers():
    o = SolveOptions(time_limit=np.float32(5), n_certify=np.int64(10), random_state=np.int32(3))
    assert o.time_limit == pytest.approx(5) and o.n_certify == 10


@pytest.mark.parametrize("n", [None, "10", 1.5, math.inf, 0, -3, True])
def test_n_samples(model, n):
    with pytest.raises(ValidationError, match="n_samples"):
        sample_theta_m(model, n)


@pytest.mark.parametrize("rs", [1.5, "seed", -1])
def test_random_state(model, rs):
    with pytest.raises(ValidationError, match="random_state"):
        monte_carlo_probability(model, model.theta_p_nominal, 10, random_state=rs)


def test_huge_n_samples_is_refused_before_allocating(model):
    with pytest.raises(ValidationError, match="GiB"):
        sample_theta_m(model, 10 ** 10)  # within MAX_SAMPLES, beyond memory: refused by the memory check


@pytest.mark.parametrize("cov, words", [
    (np.ones((2, 3, 4)), "square matrix"),
    ([[1 + 1j, 0], [0, 1]], "complex"),
    ([[1.0, 1 - 1e-11], [1 - 1e-11, 1.0]], "numerically singular"),
    ([["a", 0], [0, 1]], "numbers"),
    ([[1.0, 2.0], [2.0, 1.0]], "positive definite"),
])
@pytest.mark.parametrize("cls", [BoxSet, EllipsoidalSet])
def test_covariance(cls, cov, words):
    with pytest.raises(ValidationError, match=words):
        cls([1.0, 1.0], cov)


def test_badly_scaled_covariance_is_fine():
    """Units differ by 13 orders of magnitude, the correlation is 0.3: a valid covariance."""
    p = BoxSet([1.0, 1.0], [[1e10, 1e3], [1e3, 1e-3]]).probability(1.0)
    ref = BoxSet([0.0, 0.0], [[1.0, 1e3 / math.sqrt(1e7)], [1e3 / math.sqrt(1e7), 1.0]]).probability(1.0)
    assert p == pytest.approx(ref, abs=1e-6)


@pytest.mark.parametrize("p", [0.0, 1.0, 1.5, -0.1, float("nan"), "0.9"])
def test_confidence(model, p):
    with pytest.raises(ValidationError, match="confidence"):
        flexspace.flexibility_test_region(model, p)
    with pytest.raises(ValidationError, match="confidence"):
        EllipsoidalSet([1.0, 1.0], np.eye(2)).delta_for_confidence(p)


def test_region_confidence_outside_0_1():
    dm = DesignSpaceMap.from_rows("mc", ["a"], [np.array([0.0, 1.0])],
                                  [{"probability": 0.9, "status": "ok"}, {"probability": float("nan"),
                                                                          "status": "failed"}])
    assert dm.region(0.85).tolist() == [True, False]
    for p in (0.0, 1.0, 2.0):
        with pytest.raises(ValidationError, match="confidence"):
            dm.region(p)


def test_algorithm3_nominal_of_the_wrong_length(model):
    with pytest.raises(ValidationError, match="theta_p_nominal has length 3, expected 2"):
        flexspace.flexibility_test_region(model, 0.85, theta_p_nominal=[4.6, 500.0, 1.0])
    with pytest.raises(ValidationError, match="outside the theta_p bounds"):
        flexspace.flexibility_test_region(model, 0.85, theta_p_nominal=[7.0, 500.0])


@pytest.mark.parametrize("kw, name", [({"eps_tol": 0}, "eps_tol"), ({"max_iter": 0}, "max_iter"),
                                      ({"max_iter": 2.5}, "max_iter"), ({"step": "newton"}, "step"),
                                      ({"delta_p_upper": -1}, "delta_p_upper"), ({"max_time": -1}, "max_time"),
                                      ({"max_rectangles": 0}, "max_rectangles")])
def test_bisection_fields(kw, name):
    with pytest.raises(ValidationError, match=name):
        Bisection(**kw)


def test_lp_solver_on_an_nlp_is_refused(model):
    with pytest.raises(ValidationError, match="LP/MILP only and the model is nonlinear"):
        flexspace.FlexibilityAnalysis(model, "box", "highs")


def test_errors_share_one_base_and_stay_value_errors():
    assert issubclass(ValidationError, FlexspaceError) and issubclass(ValidationError, ValueError)
    from flexspace.solvers import UnknownSolverError

    with pytest.raises(FlexspaceError, match="unknown solver 'cplexx'"):
        flexspace.get_solver("cplexx")
    assert issubclass(UnknownSolverError, ValidationError)


# --------------------------------------------------------------------------- fuzz
_numbers = st.one_of(st.none(), st.booleans(), st.text(max_size=3), st.integers(-10 ** 4, 10 ** 4),
                     st.just(10 ** 13),
                     st.floats(allow_nan=True, allow_infinity=True), st.complex_numbers(max_magnitude=10),
                     st.just(np.float64(0.5)), st.just(np.int64(7)))
_FIELDS = ["time_limit", "gap", "abs_gap", "feas_tol", "delta_max", "n_certify", "random_state"]
_BISECT = ["eps_tol", "max_iter", "max_time", "delta_p_lower", "delta_p_upper", "move_step", "max_rectangles"]


def _clear(exc, names) -> bool:
    return isinstance(exc, (FlexspaceError, ValueError, TypeError)) and any(n in str(exc) for n in names)


@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(_FIELDS), value=_numbers)
def test_fuzz_solve_options(field, value):
    try:
        o = SolveOptions(**{field: value})
    except Exception as exc:  # noqa: BLE001 - the property: only clear errors
        assert _clear(exc, [field]), repr(exc)
    else:
        assert getattr(o, field) == value


@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(_BISECT), value=_numbers)
def test_fuzz_bisection(field, value):
    try:
        Bisection(**{field: value})
    except Exception as exc:  # noqa: BLE001
        assert _clear(exc, [field, "delta_p_lower < delta_p_upper"]), repr(exc)


@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=_numbers, rs=_numbers, p=_numbers, delta=_numbers)
def test_fuzz_sampling_and_sets(n, rs, p, delta):
    m = _MODEL
    calls = [(lambda: sample_theta_m(m, n, rs), ["n_samples", "random_state"]),
             (lambda: EllipsoidalSet([1.0, 2.0], np.eye(2)).delta_for_confidence(p), ["confidence"]),
             (lambda: BoxSet([1.0, 2.0], np.eye(2)).probability(delta), ["delta"])]
    for call, names in calls:
        try:
            call()
        except Exception as exc:  # noqa: BLE001
            assert _clear(exc, names), repr(exc)


_MODEL = case1.model()


@pytest.mark.parametrize("kw, name", [({"chunk_size": -1}, "chunk_size"), ({"chunk_size": 0}, "chunk_size"),
                                      ({"workers": 0}, "workers"), ({"workers": -2}, "workers"),
                                      ({"n_samples": 1.5}, "n_samples"), ({"n_samples": math.inf}, "n_samples"),
                                      ({"random_state": 1.5}, "random_state"), ({"random_state": "a"}, "random_state"),
                                      ({"progress": "yes"}, "progress"), ({"batch": "all"}, "batch"),
                                      ({"grid": (3, 4, 5)}, "grid")])
def test_monte_carlo_map_arguments(model, kw, name, tmp_path):
    kw = {"grid": 3, **kw}
    out = tmp_path / "ck.jsonl"
    with pytest.raises(ValidationError, match=name):
        flexspace.monte_carlo_map(model, out=str(out), **kw)
    assert not out.exists()  # no header-only checkpoint blocks the corrected run


@pytest.mark.parametrize("kw, err, name", [({"chunk_size": -1}, ValidationError, "chunk_size"),
                                           ({"uncertainty_set": "sphere"}, ValidationError, "uncertainty_set"),
                                           ({"method": "bnb"}, ValidationError, "method"),
                                           ({"options": {"gap": 0}}, ValidationError, "gap"),
                                           ({"solver": "cplexx"}, FlexspaceError, "cplexx")])
def test_flexibility_index_map_arguments(model, kw, err, name):
    with pytest.raises(err, match=name):
        flexspace.flexibility_index_map(model, 3, **kw)


# --------------------------------------------------------------------------- adversarial sweep findings
def test_csv_with_a_json_suffix_keeps_the_table(model, tmp_path):
    mp = flexspace.monte_carlo_map(model, 3, n_samples=200, progress=False)
    mp.to_csv(tmp_path / "m.json")
    back = DesignSpaceMap.from_csv(tmp_path / "m.json")
    assert (tmp_path / "m.json.json").is_file()
    assert np.array_equal(back.probability, mp.probability)


def test_csv_rows_in_any_order_stay_on_their_points(model, tmp_path):
    import pandas as pd

    mp = flexspace.monte_carlo_map(model, (3, 4), n_samples=300, progress=False)
    path = tmp_path / "map.csv"
    mp.to_csv(path, metadata=False)
    pd.read_csv(path).sample(frac=1.0, random_state=3).to_csv(path, index=False)
    back = DesignSpaceMap.from_csv(path)
    assert np.array_equal(back.probability, mp.probability)
    assert np.array_equal(back.region(0.5), mp.region(0.5))


def test_numpy_integer_delta_max_and_bad_model_fields():
    import pyomo.environ as pyo

    def make(**kw):
        m = pyo.ConcreteModel()
        m.p = pyo.Param(initialize=1.0, mutable=True)
        m.k = pyo.Param(initialize=1.0, mutable=True)
        m.g = pyo.Expression(expr=m.k - 2 * m.p)
        return flexspace.ProcessModel(m, [m.p], [m.k], {"g": m.g}, [[0.01]], check_square=False,
                                      theta_p_bounds=[(0.5, 2.0)], **kw)

    assert make(delta_max=np.int64(6)).delta_max == 6.0
    for kw, name in (({"delta_max": True}, "delta_max"), ({"grid_shape": (2.5,)}, "grid_shape"),
                     ({"domain_everywhere": "no"}, "domain_everywhere"), ({"simulator": "abc"}, "simulator")):
        with pytest.raises(ValidationError, match=name):
            make(**kw)
    with pytest.raises(ValidationError, match="model must be a Pyomo"):
        flexspace.ProcessModel(None, [], [], {}, [[1.0]])


def test_coarse_eps_tol_still_searches_past_the_nominal_point(model):
    r = flexspace.flexibility_test_region(model, 0.85, algorithm=Bisection(eps_tol=1e-2))
    assert r.rectangle.converged and r.delta_p > 0.1 and -1e-2 <= r.rectangle.chi <= 0


def test_interrupt_in_a_serial_map_keeps_every_finished_point(model, tmp_path):
    """Ctrl-C during a serial Monte Carlo map: the points finished before it are in the checkpoint."""
    calls = {"n": 0}
    sim = model.simulator

    def flaky(theta_p, theta_m):
        calls["n"] += 1
        if calls["n"] == 7:  # call 1 is the map's up-front check of the simulator's output shape
            raise KeyboardInterrupt
        return sim(theta_p, theta_m)

    m = case1.model()
    m.simulator = flaky
    out = tmp_path / "ck.jsonl"
    with pytest.raises(KeyboardInterrupt):
        flexspace.monte_carlo_map(m, (3, 3), n_samples=100, out=str(out), progress=False)
    assert sum(1 for line in out.read_text().splitlines()[1:] if line.strip()) == 5


def test_cqa_function_returning_a_relation_is_refused():
    """A relation would be read as its truth value (the sweep found a trusted delta = 0 for a true 5.2)."""
    import pyomo.environ as pyo

    m = pyo.ConcreteModel()
    m.p = pyo.Param(initialize=1.0, mutable=True)
    m.k = pyo.Param(initialize=1.0, mutable=True)
    m.x = pyo.Var(initialize=1.0)
    m.h = pyo.Constraint(expr=m.x == m.k * m.p)
    with pytest.raises(ValidationError, match="returned a relation"):
        flexspace.ProcessModel(m, [m.p], [m.k], {"c": lambda b: b.x <= 0.35}, [[0.01]])
    with pytest.raises(ValidationError, match="returned str"):
        flexspace.ProcessModel(m, [m.p], [m.k], {"c": lambda b: "abc"}, [[0.01]])
