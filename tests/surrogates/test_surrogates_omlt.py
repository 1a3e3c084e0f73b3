"""OMLT embedding of ML surrogates (GitHub issue 6): blocks vs predict, XGBoost, MAiNGO and
named expressions, the plug-in :class:`SurrogateProcessModel`.  The crystallization uses of
them (ε-constraint front, design space, CLI) are tested in ``tests/crystallization``."""
import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

import flexspace
from flexspace.models.base import ProcessModel
from flexspace.models.surrogate import SurrogateProcessModel
from flexspace.solvers import available_solvers
from flexspace.surrogates.omlt_embed import (EmbeddedSurrogate, SurrogateEmbeddingError, _rel_err, _tree_attributes,
                                             embed_surrogate, predict_with_block, recommended_solvers,
                                             substitute_named_expressions)
from flexspace.surrogates.omlt_process import EmbeddingSpec, surrogate_process_model

SOLVERS = set(available_solvers())
needs = lambda *names: pytest.mark.skipif(not set(names) <= SOLVERS, reason=f"needs {names}")  # noqa: E731

BOUNDS = np.array([[0.0, 10.0]] * 4)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 10, size=(80, 4))
    y = 3 * X[:, 0] + X[:, 1] ** 2 + np.sin(X[:, 2]) + 50 + 0.1 * X[:, 3]
    return X, y


@pytest.fixture(scope="module")
def eval_points():
    return np.random.default_rng(42).uniform(BOUNDS[:, 0], BOUNDS[:, 1], size=(200, 4))


def _pipe(est, target_scaler=False):
    p = Pipeline([("scaler", StandardScaler()), ("model", est)])
    return TransformedTargetRegressor(p, transformer=StandardScaler()) if target_scaler else p


def _mlp(act, hidden=(10, 8)):
    return MLPRegressor(hidden_layer_sizes=hidden, activation=act, solver="lbfgs", max_iter=3000, random_state=0)


# --------------------------------------------------------------------------- blocks vs predict
@needs("highs")
def test_relu_mlp_block_reproduces_predict_milp(data, eval_points):
    est = _pipe(_mlp("relu"), target_scaler=True).fit(*data)
    emb = embed_surrogate(est, BOUNDS)
    assert emb.problem_class == "milp" and emb.formulation_name == "ReluBigMFormulation"
    got = predict_with_block(emb, eval_points)  # fix inputs, solve the MILP with HiGHS
    assert np.all(np.isfinite(got))
    assert _rel_err(got, est.predict(eval_points)).max() <= 1e-6


@needs("ipopt")
def test_tanh_mlp_block_reproduces_predict_nlp(data, eval_points):
    est = _pipe(_mlp("tanh", (8,))).fit(*data)
    emb = embed_surrogate(est, BOUNDS)
    assert emb.problem_class == "nlp"
    got = predict_with_block(emb, eval_points, solver="ipopt")
    assert _rel_err(got, est.predict(eval_points)).max() <= 1e-6


@needs("highs")
@pytest.mark.parametrize("est", [RandomForestRegressor(n_estimators=15, max_depth=5, random_state=0),
                                 GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0)],
                         ids=["rf", "gbt"])
def test_tree_ensemble_block_reproduces_predict(data, eval_points, est):
    pipe = _pipe(est).fit(*data)
    emb = embed_surrogate(pipe, BOUNDS)
    assert emb.problem_class == "milp" and emb.formulation_name == "GBTBigMFormulation"
    got = predict_with_block(emb, eval_points)
    assert _rel_err(got, pipe.predict(eval_points)).max() <= 1e-5
    # the block carries the scaler and the input bounds
    m = pyo.ConcreteModel()
    blk = emb.add_to(m, "s")
    assert np.allclose([blk.inputs[i].bounds for i in range(4)], [(0.0, 10.0)] * 4)
    lo, hi = blk.outputs[0].bounds
    pred = pipe.predict(eval_points)
    assert lo <= pred.min() and pred.max() <= hi


def test_fix_inputs_prunes_trees_exactly(data):
    pipe = _pipe(GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0)).fit(*data)
    emb = embed_surrogate(pipe, BOUNDS)
    small = emb.fix_inputs({2: 3.3, 3: 7.1})
    assert len(small._trees.feat) < len(emb._trees.feat)
    assert small.check["max_rel_err"] <= 1e-5  # re-checked against predict with those inputs fixed
    X = np.random.default_rng(1).uniform(0, 10, size=(50, 4))
    X[:, 2], X[:, 3] = 3.3, 7.1
    assert _rel_err(small.emulate(X), pipe.predict(X)).max() <= 1e-5


# --------------------------------------------------------------------------- XGBoost and refusals
@needs("highs")
def test_xgboost_converted_exactly_including_points_on_thresholds():
    from xgboost import XGBRegressor

    rng = np.random.default_rng(3)
    X = rng.integers(0, 6, size=(120, 3)).astype(float)  # integer data: thresholds at integers
    y = X[:, 0] * 2 + (X[:, 1] > 2) * 5 + X[:, 2]
    xgb = XGBRegressor(n_estimators=20, max_depth=3, learning_rate=0.3, random_state=0).fit(X, y)
    b = np.array([[0.0, 5.0]] * 3)
    emb = embed_surrogate(xgb, b)  # converted (x < t  ->  x <= prev_float32(t)), self-checked
    # the formulation's semantics (numpy emulation of the block) are exact even ON the thresholds
    on = X[:100]
    assert _rel_err(emb.emulate(on), xgb.predict(on)).max() <= 1e-5
    # the Pyomo block solved by HiGHS reproduces predict on 200 random in-bound points
    pts = rng.uniform(0, 5, size=(200, 3))
    assert _rel_err(predict_with_block(emb, pts), xgb.predict(pts)).max() <= 1e-5
    ref = xgb.predict(X[:100])
    # reading XGBoost's thresholds as BRANCH_LEQ without the nudge would be wrong on them
    attrs = _tree_attributes(emb.onnx_model)
    naive = dict(attrs)
    naive["nodes_values"] = [float(np.nextafter(np.float32(v), np.float32(np.inf))) if m == b"BRANCH_LEQ" else v
                             for v, m in zip(attrs["nodes_values"], attrs["nodes_modes"])]
    from flexspace.surrogates.omlt_embed import _TreeEnsemble

    assert _rel_err(_TreeEnsemble(naive).predict(X[:100]), ref[:100]).max() > 1e-3


def test_xgboost_refusal_and_branch_lt_refused():
    from onnx import TensorProto, helper
    from xgboost import XGBRegressor

    X = np.random.default_rng(0).uniform(0, 1, size=(30, 2))
    xgb = XGBRegressor(n_estimators=3, max_depth=2).fit(X, X[:, 0])
    with pytest.raises(SurrogateEmbeddingError, match="BRANCH_LT.*RandomForest"):
        embed_surrogate(xgb, [[0, 1], [0, 1]], xgboost="refuse")
    node = helper.make_node("TreeEnsembleRegressor", ["x"], ["y"], domain="ai.onnx.ml", n_targets=1,
                            nodes_featureids=[0, 0, 0], nodes_values=[0.5, 0.0, 0.0],
                            nodes_modes=["BRANCH_LT", "LEAF", "LEAF"], nodes_treeids=[0, 0, 0],
                            nodes_nodeids=[0, 1, 2], nodes_truenodeids=[1, 0, 0], nodes_falsenodeids=[2, 0, 0],
                            target_ids=[0, 0], target_nodeids=[1, 2], target_treeids=[0, 0],
                            target_weights=[1.0, 2.0])
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])])
    with pytest.raises(SurrogateEmbeddingError, match="BRANCH_LT"):
        _tree_attributes(helper.make_model(g))


def test_unsupported_estimator_refused(data):
    with pytest.raises(SurrogateEmbeddingError, match="SVR cannot be embedded.*RandomForest"):
        embed_surrogate(_pipe(SVR()).fit(*data), BOUNDS)


def test_solver_routing(data):
    relu = embed_surrogate(_pipe(_mlp("relu", (5,))).fit(*data), BOUNDS, check_points=20)
    tanh = embed_surrogate(_pipe(_mlp("tanh", (5,))).fit(*data), BOUNDS, check_points=20)
    gbt = embed_surrogate(_pipe(GradientBoostingRegressor(n_estimators=5)).fit(*data), BOUNDS, check_points=20)
    assert recommended_solvers(relu) == ["highs", "scip"] == recommended_solvers(gbt)
    assert recommended_solvers(tanh) == ["maingo", "ipopt"]


# --------------------------------------------------------------------------- MAiNGO and named expressions
@needs("maingo")
def test_maingo_rejects_omlt_expressions_and_substitution_fixes_it(data):
    from flexspace.solvers import get_solver

    est = _pipe(_mlp("tanh", (5,))).fit(*data)
    emb = embed_surrogate(est, BOUNDS)

    def model():
        m = pyo.ConcreteModel()
        blk = emb.add_to(m, "nn", reduced_space=True)  # reduced space: layers are named Expressions
        for i in range(3):
            blk.inputs[i].fix(5.0)
        m.obj = pyo.Objective(expr=blk.outputs[0], sense=pyo.maximize)  # max over input 3
        return m, blk

    m, _ = model()
    assert any(True for _ in m.component_data_objects(pyo.Expression))
    raw = get_solver("maingo", {"time_limit": 30, "gap": 1e-6}).solve(m)
    assert not raw.status.ok and "xpression" in raw.message  # MAiNGO's interface refuses them
    m, blk = model()
    substitute_named_expressions(m)
    r = get_solver("maingo", {"time_limit": 30, "gap": 1e-6}).solve(m)
    assert r.status.ok
    grid = np.column_stack([np.full(2001, 5.0)] * 3 + [np.linspace(0, 10, 2001)])
    assert pyo.value(blk.outputs[0]) == pytest.approx(est.predict(grid).max(), rel=1e-4, abs=1e-4)
    assert pyo.value(blk.outputs[0]) >= est.predict(grid).max() - 1e-5


def _two_cqa_model(kind, reduced_space=False, data_seed=0):
    rng = np.random.default_rng(data_seed)
    X = rng.uniform(0, 10, size=(60, 3))
    Y = {"a": X[:, 0] * 3 + X[:, 1] + 5, "b": X[:, 1] - X[:, 2] + 10}
    sur = {}
    for k, y in Y.items():
        est = GradientBoostingRegressor(n_estimators=20, random_state=0) if kind == "gbt" else _mlp(kind, (6,))
        sur[k] = _pipe(est).fit(X, y)
    return surrogate_process_model(sur, {"a": ">=15", "b": "<=12"}, ["x0", "x1", "x2"], ["x0", "x1"], [5, 5, 5],
                                   {"a": 1.0, "b": 0.5}, np.array([[0, 10]] * 3),
                                   embedding=EmbeddingSpec(reduced_space=reduced_space))


@needs("maingo")
def test_process_model_reduced_space_tanh_solved_by_maingo():
    pm = _two_cqa_model("tanh", reduced_space=True)
    g = pm.simulate([5, 5], np.zeros((1, 2)))[0]
    r = flexspace.flexibility_index(pm, [5, 5], "box", "maingo", options={"time_limit": 30})
    assert r.ok and r.is_global
    # additive errors: δ_k = −g_k/σ_k at the nominal point (box), the index is their minimum
    assert r.delta == pytest.approx(min(-g[0] / 1.0, -g[1] / 0.5, 6.0), rel=1e-4)


@needs("highs", "scip")
def test_tree_process_model_index_and_mc_consistent():
    pm = _two_cqa_model("gbt")
    assert pm.problem_class == "milp"
    for tp in ([5, 5], [2, 8], [8, 2]):
        g = pm.simulate(tp, np.zeros((1, 2)))[0]
        expect = 0.0 if np.any(g > 0) else min(-g[0] / 1.0, -g[1] / 0.5, 6.0)
        r = flexspace.flexibility_index(pm, tp, "box", "highs")
        assert r.delta == pytest.approx(expect, rel=1e-5, abs=1e-7)
    r_e = flexspace.flexibility_index(pm, [5, 5], "ellipsoid", "scip", options={"time_limit": 30})  # MIQCP
    g = pm.simulate([5, 5], np.zeros((1, 2)))[0]
    assert r_e.delta == pytest.approx(min(-g[0] / 1.0, -g[1] / 0.5, 6.0), rel=1e-4)
    from flexspace.montecarlo import monte_carlo_probability

    mc = monte_carlo_probability(pm, [5, 5], n_samples=4000)
    assert mc.probability >= r_e.probability - 3 * mc.std_error  # MC region ⊇ index region


def test_surrogate_process_model_declares_its_fields():
    pm = _two_cqa_model("gbt")
    assert type(pm) is SurrogateProcessModel and isinstance(pm, ProcessModel)
    assert pm.feature_names == ["x0", "x1", "x2"]
    assert pm.theta_p_names == ["x0", "x1"] and pm.g_names == ["a", "b"]
    assert pm.limits == {"a": (">=", 15.0), "b": ("<=", 12.0)}
    assert pm.problem_class == "milp"
    assert list(pm.embedded) == ["a", "b"]
    assert all(isinstance(e, EmbeddedSurrogate) and e.problem_class == "milp" for e in pm.embedded.values())
    np.testing.assert_array_equal(pm.fixed_values, [5.0, 5.0, 5.0])
    # the declared fields are the ones the model computes with: g = sign * (predict + e - limit)
    x = np.array([[7.0, 3.0, 5.0]])
    ya, yb = (float(pm.embedded[k].estimator.predict(x)[0]) for k in ("a", "b"))
    np.testing.assert_allclose(pm.simulate([7.0, 3.0], np.zeros((1, 2)))[0], [15.0 - ya, yb - 12.0])
    assert {"embedded", "limits", "problem_class", "feature_names", "fixed_values"} <= set(
        SurrogateProcessModel.__annotations__)
    assert _two_cqa_model("tanh").problem_class == "nlp"


def test_surrogate_process_model_refuses_inconsistent_fields():
    def build(**fields):
        m = pyo.ConcreteModel()
        m.p, m.t = pyo.Param(mutable=True, initialize=1.0), pyo.Param(mutable=True, initialize=0.0)
        m.y = pyo.Var(initialize=1.0)
        m.h = pyo.Constraint(expr=m.y == m.p + m.t)
        m.g = pyo.Expression(expr=m.y - 3.0)
        kw = dict(embedded={"a": "block"}, limits={"a": ("<=", 3)}, problem_class="nlp", feature_names=["p"],
                  fixed_values=[1.0])
        kw.update(fields)
        return SurrogateProcessModel(m, theta_p={"p": m.p}, theta_m={"t": m.t}, constraints={"a": m.g},
                                     covariance=[[1.0]], check_square=False, **kw)

    pm = build()
    assert pm.limits == {"a": ("<=", 3.0)} and isinstance(pm.limits["a"][1], float)
    assert pm.fixed_values.dtype == float and pm.feature_names == ["p"] and pm.embedded == {"a": "block"}
    with pytest.raises(ValueError, match="problem_class"):
        build(problem_class="minlp")
    with pytest.raises(ValueError, match="fixed_values must have 1"):
        build(fixed_values=[1.0, 2.0])
    with pytest.raises(ValueError, match="limits must name the CQA constraints"):
        build(limits={"b": ("<=", 3.0)})
    with pytest.raises(ValueError, match="embedded must name the CQA constraints"):
        build(embedded={})
    with pytest.raises(ValueError, match="sense"):
        build(limits={"a": ("==", 3.0)})
