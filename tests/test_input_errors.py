"""Bad input is a clear error naming the parameter, before any compute (issue: nothing lost,
every bad input a clear error).  One test per case the adversarial sweep
(``benchmarks/adversarial_sweep.py``) found raw, silent or unclear."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pyomo.environ as pyo
import pytest

import flexspace
import flexspace.montecarlo as mc
from flexspace import BoxSet, Bisection, DesignSpaceMap, EllipsoidalSet, ProcessModel
from flexspace.errors import FlexspaceError, ValidationError
from flexspace.validation import as_vector, check_file_path
from support.small_models import cstr_toy


def _toy(**kw):
    m, args = cstr_toy()
    args.update({k: v(m) if callable(v) else v for k, v in kw.items()})
    return m, args


def _toy_sim(tp, tm):
    """cA = 1 / (1 + τ k) in numpy: g = cA − 0.35."""
    return (1.0 / (1.0 + np.asarray(tp, float)[..., :1] * tm[:, :1]) - 0.35).reshape(-1, 1)


# ------------------------------------------------------------------ sets
@pytest.mark.parametrize("call", [
    lambda: BoxSet([1, 2], np.eye(2)).contains([[1, 2, 3]], 1),
    lambda: BoxSet([1, 2], np.eye(2)).gauge([[1, 2, 3]]),
    lambda: EllipsoidalSet([1, 2], np.eye(2)).mahalanobis([[1, 2, 3]]),
    lambda: EllipsoidalSet([1, 2], np.eye(2)).contains(np.ones((4, 1)), 1),
])
def test_points_of_the_wrong_width_are_named(call):
    with pytest.raises(ValidationError, match=r"points must have shape \(m, 2\)"):
        call()


@pytest.mark.parametrize("n", [-5, 2.5, "3", None])
def test_sample_count_must_be_a_non_negative_integer(n):
    with pytest.raises(ValidationError, match="n must be an integer >= 0"):
        BoxSet([1, 2], np.eye(2)).sample(1.0, n, 0)


def test_sample_count_accepts_numpy_integers():
    pts = EllipsoidalSet([1, 2], np.eye(2)).sample(2.0, np.int64(10), 0)
    assert pts.shape == (14, 2)  # 4 principal-axis points + 10 draws
    assert np.all(EllipsoidalSet([1, 2], np.eye(2)).mahalanobis(pts) <= 2.0 + 1e-12)


@pytest.mark.parametrize("call", [lambda: BoxSet([], np.zeros((0, 0))), lambda: BoxSet([], None, [], [])])
def test_an_empty_set_is_refused(call):
    with pytest.raises(ValidationError, match="nominal is empty"):
        call()


def test_variances_too_small_to_invert_are_named():
    with pytest.raises(ValidationError, match="too small to invert"):
        EllipsoidalSet([1, 2], 1e-320 * np.eye(2))


def test_bool_entries_in_a_number_list_are_refused():
    with pytest.raises(ValidationError, match="theta_p must contain numbers only"):
        as_vector("theta_p", [True, 500])
    assert as_vector("x", np.array([1, 2])).tolist() == [1.0, 2.0]


# ------------------------------------------------------------------ ProcessModel
def test_components_of_another_model_are_refused():
    other, _ = _toy()
    for kw, name in (({"constraints": {"c": other.conversion}}, "constraints 'c'"),
                     ({"theta_m": {"k": other.k}}, "theta_m 'k'")):
        m, args = _toy(**kw)
        with pytest.raises(ValidationError, match=f"{name}.*not a component of this model"):
            ProcessModel(m, **args)


def test_a_control_of_another_model_is_refused():
    other, _ = _toy()
    other.z = pyo.Var(bounds=(0, 1), initialize=0.5)
    m, args = _toy()
    m.z = pyo.Var(bounds=(0, 1), initialize=0.5)  # same name: it used to map silently onto this one
    with pytest.raises(ValidationError, match="controls 'z'.*not a component of this model"):
        ProcessModel(m, controls={"z": other.z}, **args)


def test_a_state_only_in_a_cqa_is_refused_not_made_a_free_control():
    from flexspace.models.base import NotSquareError

    m, args = _toy()
    m.x = pyo.Var(bounds=(0, 1), initialize=0.5)  # in no equation: nothing determines it
    m.c2 = pyo.Constraint(expr=m.cA + m.x <= 0.9)
    args["constraints"] = {"c": m.conversion, "c2": m.c2}
    with pytest.raises(NotSquareError, match=r"'x' \(in CQA 'c2'\) appear in a CQA but in no equation"):
        ProcessModel(m, **args)
    ProcessModel(m, controls={"x": m.x}, **args)  # declared as a control, it is one


@pytest.mark.parametrize("kw, match", [
    ({"constraints": None}, "constraints must be given"),
    ({"constraints": "conversion"}, "'conversion' is a string; pass the component itself"),
    ({"constraints": lambda m: {"c": lambda: m.cA}}, "the callable must take the model"),
    ({"theta_m": [], "covariance": np.zeros((0, 0))}, "theta_m is empty"),
])
def test_process_model_messages_name_the_argument(kw, match):
    m, args = _toy(**kw)
    with pytest.raises(ValidationError, match=match):
        ProcessModel(m, **args)


def test_a_theta_without_a_value_is_named():
    m, args = _toy()
    m.kn = pyo.Param(mutable=True)
    m.bal2 = pyo.Constraint(expr=m.cA * m.kn >= -100)
    args["theta_m"] = {"kn": m.kn}
    with pytest.raises(ValidationError, match="theta_m 'kn' has no value"):
        ProcessModel(m, check_square=False, **args)


def test_unnamed_callable_cqas_keep_their_g_names():
    m, args = _toy(constraints=lambda m: [lambda b: b.cA - 0.35])
    assert ProcessModel(m, **args).g_names == ["g0"]


# ------------------------------------------------------------------ maps: paths and configuration
@pytest.fixture()
def toy_model():
    m, args = _toy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ProcessModel(m, simulator=_toy_sim, **args)


def test_out_paths_are_checked_before_compute(toy_model, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out, match in ((tmp_path, "is a directory"), (afile / "x.jsonl", "not a directory"),
                       ("/proc/nope/x.jsonl", "not a writable directory")):
        with pytest.raises(ValidationError, match=r"out|folder of out") as err:
            flexspace.monte_carlo_map(toy_model, grid=3, n_samples=20, out=str(out), progress=False)
        assert match in str(err.value)
    with pytest.raises(ValidationError, match="is a directory"):
        flexspace.flexibility_index_map(toy_model, grid=3, solver="ipopt", out=str(tmp_path), progress=False)


def test_configuration_errors_are_raised_not_mapped_as_failed_points(toy_model, tmp_path):
    m, args = _toy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        no_sim = ProcessModel(m, **args)
        m2, args2 = _toy()
        bad_sim = ProcessModel(m2, simulator=lambda tp, tm: np.zeros((len(tm), 3)), **args2)
    with pytest.raises(FlexspaceError, match="unknown solver 'foo'"):
        flexspace.monte_carlo_map(no_sim, grid=2, n_samples=5, pyomo_solver="foo", progress=False)
    with pytest.raises(ValidationError, match=r"returned shape \(4, 3\)"):
        flexspace.monte_carlo_map(bad_sim, grid=2, n_samples=20, progress=False)
    with pytest.raises(ValueError, match="MINLP route needs a solver that handles binaries"):
        flexspace.flexibility_index_map(toy_model, grid=2, solver="ipopt", method="minlp", progress=False)
    with pytest.raises(ValidationError, match="uncertainty_set must be one of.*got 5"):
        flexspace.flexibility_index_map(toy_model, grid=2, uncertainty_set=5, solver="ipopt", progress=False)
    with pytest.raises(ValidationError, match="random_state=None cannot be checkpointed"):
        flexspace.monte_carlo_map(toy_model, grid=2, n_samples=20, random_state=None, out=str(tmp_path / "c.jsonl"))
    assert not (tmp_path / "c.jsonl").exists()


def test_solver_names_are_case_insensitive_in_maps(toy_model):
    a = flexspace.flexibility_index_map(toy_model, grid=2, uncertainty_set="box", solver="IPOPT", progress=False)
    # tau = 5: cA = 1 / (1 + 5 * 0.2) = 0.5 > 0.35 at the nominal k; tau = 40: cA = 1 / 9 feasible
    assert a.settings["solver"] == "ipopt" and list(a.table["status"]) == ["nominal infeasible", "sampled"]


def test_large_sample_counts_are_streamed_with_the_same_samples(toy_model, monkeypatch):
    """More samples than fit in memory: streamed in chunks, the same answer as in one piece."""
    whole = flexspace.monte_carlo_map(toy_model, grid=3, n_samples=5000, random_state=4, progress=False)
    monkeypatch.setattr(mc, "max_chunk", lambda model: 700)
    chunked = flexspace.monte_carlo_map(toy_model, grid=3, n_samples=5000, random_state=4, progress=False)
    np.testing.assert_array_equal(whole.table["probability"], chunked.table["probability"])
    assert set(chunked.table["evaluated_by"]) == {"vectorised simulator (streamed in chunks)"}
    # and independently of flexspace: P(cA <= 0.35) = P(k >= 0.65 / (0.35 tau)) with k ~ N(0.2, 0.01^2)
    from scipy import stats
    tau = np.asarray(whole.axes[0])
    p = stats.norm.sf((1 / 0.35 - 1) / tau, loc=0.2, scale=0.01)
    assert np.all(np.abs(chunked.table["probability"].to_numpy() - p) <= 4 * np.sqrt(p * (1 - p) / 5000) + 1e-3)


# ------------------------------------------------------------------ DesignSpaceMap I/O
def _small_map(toy_model):
    return flexspace.monte_carlo_map(toy_model, grid=3, n_samples=50, progress=False)


def test_csv_paths_and_foreign_files(toy_model, tmp_path):
    dmap = _small_map(toy_model)
    with pytest.raises(ValidationError, match="is a directory"):
        dmap.to_csv(tmp_path)
    foreign = tmp_path / "results.json"
    foreign.write_text(json.dumps({"mine": 1}))
    with pytest.raises(ValidationError, match="not flexspace map metadata; refusing to overwrite"):
        dmap.to_csv(tmp_path / "results.csv")
    assert json.loads(foreign.read_text()) == {"mine": 1}
    dmap.to_csv(tmp_path / "results.csv", metadata=False)
    back = DesignSpaceMap.from_csv(tmp_path / "results.csv")  # the foreign .json is ignored
    np.testing.assert_allclose(back.table["probability"], dmap.table["probability"])


@pytest.mark.parametrize("content, match", [(None, "is not a file"), ("", "not a readable map CSV"),
                                            ("a,probability\n1,0.5\n", r"no \['status'\] column")])
def test_from_csv_names_what_is_wrong(tmp_path, content, match):
    p = tmp_path / "m.csv"
    if content is not None:
        p.write_text(content)
    with pytest.raises(ValidationError, match=match):
        DesignSpaceMap.from_csv(p)


def test_stale_metadata_is_named(toy_model, tmp_path):
    _small_map(toy_model).to_csv(tmp_path / "a.csv")
    other = flexspace.monte_carlo_map(toy_model, grid=[[6.0, 7.0, 8.0]], n_samples=50, progress=False)
    other.to_csv(tmp_path / "b.csv", metadata=False)
    (tmp_path / "b.json").write_text((tmp_path / "a.json").read_text())
    with pytest.raises(ValidationError, match="b.json, which does not describe this CSV"):
        DesignSpaceMap.from_csv(tmp_path / "b.csv")


def test_check_file_path_accepts_a_new_file_in_a_new_folder(tmp_path):
    p = tmp_path / "new" / "x.jsonl"
    assert check_file_path("out", p) == str(p) and p.parent.is_dir()


# ------------------------------------------------------------------ Algorithm 3
@pytest.mark.parametrize("kw, match", [({"cover": [1, 2]}, "cover must be a DesignSpaceMap"),
                                       ({"analysis": "x"}, "analysis must be a FlexibilityAnalysis")])
def test_region_arguments_are_typed_before_any_solve(toy_model, kw, match):
    with pytest.raises(ValidationError, match=match):
        flexspace.flexibility_test_region(toy_model, 0.85, solver="ipopt", **kw)
    with pytest.raises(ValidationError, match="model must be a flexspace ProcessModel"):
        flexspace.flexibility_test_region(None)


@pytest.mark.parametrize("value", [[-1, 1], "ab", [np.nan]])
def test_bisection_half_widths_are_checked_at_construction(value):
    with pytest.raises(ValidationError, match="Bisection.delta_p_minus"):
        Bisection(delta_p_minus=value)


def test_sample_counts_beyond_streaming_are_refused_up_front(toy_model):
    with pytest.raises(ValidationError, match="n_samples must be an integer in \\[1, 10000000000\\]"):
        flexspace.monte_carlo_map(toy_model, grid=2, n_samples=10 ** 13, progress=False)


def test_tiny_but_invertible_variances_are_accepted():
    s = EllipsoidalSet([0, 0], 1e-300 * np.eye(2))
    assert s.mahalanobis([[0, 3e-150]])[0] == pytest.approx(3.0)


def test_cli_checkpoint_that_is_a_directory_is_named(tmp_path, capsys):
    from flexspace.cli.main import main

    (tmp_path / "checkpoint_mc.jsonl").mkdir()
    rc = main(["run", "case1", "--method", "mc", "--grid", "2", "--quiet", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and "checkpoint" in err and "--no-checkpoint" in err and not (tmp_path / "map.csv").exists()


def test_controls_linear_that_does_not_match_the_model_is_refused():
    """g = k·tp − z − 0.5 with z ∈ [0, 1]: a + B z with the sign of B flipped is refused."""
    from support.small_models import linear_control_model

    linear_control_model(-1.0)  # the right data
    with pytest.raises(ValidationError, match="controls_linear of 'model' does not match the model: CQA 'g'"):
        linear_control_model(+1.0)
