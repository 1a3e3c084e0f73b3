"""Trained scikit-learn / XGBoost surrogates as Pyomo blocks through OMLT.

:func:`embed_surrogate` turns a fitted regressor into an :class:`EmbeddedSurrogate`, from
which :meth:`EmbeddedSurrogate.add_to` builds an ``omlt.OmltBlock`` on any Pyomo model:

============================  ==============================================  ===========
estimator                     route                                           problem
============================  ==============================================  ===========
``MLPRegressor`` relu         ``coefs_``/``intercepts_`` → ``NetworkDefinition``  MILP
                              → ``ReluBigMFormulation``
``MLPRegressor`` tanh/logistic  same → ``FullSpaceSmoothNNFormulation``          NLP
                              (or ``ReducedSpaceSmoothNNFormulation``)
``RandomForestRegressor``,    ``skl2onnx`` (``TreeEnsembleRegressor``,        MILP
``GradientBoostingRegressor``  ai.onnx.ml opset 3) → ``GradientBoostedTreeModel``
                              → ``GBTBigMFormulation``
``XGBRegressor``              booster JSON dump (``x < t`` splits) → an        MILP
                              equivalent ``BRANCH_LEQ`` ensemble with thresholds
                              ``nextafter(t, −inf)`` in float32 (or refused with
                              ``xgboost="refuse"``)
anything else                 refused (:class:`SurrogateEmbeddingError`)      —
============================  ==============================================  ===========

The MLP is not exported through ``skl2onnx``: its ONNX graph starts with a ``Cast`` node
that OMLT's ONNX reader cannot read; the weights are copied directly.

The estimator may be wrapped in a ``Pipeline([("scaler", StandardScaler()), ("model",
est)])`` (the form :mod:`flexspace.surrogates.selection` returns) and/or in a
``TransformedTargetRegressor(transformer=StandardScaler())``; both scalings go into the
block as an ``omlt.OffsetScaling`` (inputs ``(x − mean)/scale``, output ``y·scale + mean``).
Input bounds (unscaled, one ``(lo, hi)`` per feature) become bounds of the block inputs
and, propagated, of every internal variable and of the outputs (global solvers need them).

**Never silently wrong.**  Every tree ensemble is checked structurally (one
``TreeEnsembleRegressor`` node, ``SUM`` aggregation, no post-transform, only
``BRANCH_LEQ``/``LEAF`` nodes, contiguous node ids — what ``GBTBigMFormulation``
assumes) and every embedding is checked numerically at construction: an exact numpy
emulation of the block's semantics (float64 inputs compared ``≤`` with the stored
thresholds; network forward pass) is compared with ``estimator.predict`` on
``check_points`` random in-bound points (seeded) and refused above the tolerance
(1e-6 relative for MLPs, 1e-5 for float32 tree ensembles).  The Pyomo block itself is
compared with ``predict`` by :func:`predict_with_block` (fix the inputs, solve) in the
tests and the benchmark.

Float32 thresholds: scikit-learn and XGBoost cast features to float32 before comparing;
the block compares the float64 (scaled) input with the float32 threshold.  The two
differ only for inputs within one float32 ulp of a threshold (measure zero; the check
points never hit one).  A MILP solver adds its own tolerance: with an input fixed
*exactly on* a threshold (XGBoost splits sit on data values, so a data point can be),
the left/right choice is decided within the solver's feasibility tolerance (~1e-7),
wider than the one-ulp nudge — measured: 3 of 100 on-threshold data points took the
other leaf in HiGHS, while the emulated semantics were exact.  Random inputs and the
design-space grids are not affected; an optimiser that *chooses* inputs is kept off the
thresholds with ``strict_splits`` (:meth:`EmbeddedSurrogate.add_to`).

MAiNGO's Pyomo interface rejects named ``Expression`` components: the reduced-space
network formulation uses them.  :class:`flexspace.ProcessModel` substitutes them when it
rewrites the model; for models built directly (e.g. :mod:`flexspace.crystallization.pareto`) call
:func:`substitute_named_expressions` first.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
import pyomo.environ as pyo

from ..errors import ValidationError
from ..options import OptionsLike, resolve_options

__all__ = [
    "SurrogateEmbeddingError", "EmbeddedSurrogate", "embed_surrogate", "unwrap_estimator",
    "substitute_named_expressions", "predict_with_block", "recommended_solvers", "xgboost_to_onnx",
    "make_picklable",
]

MLP_RTOL = 1e-6
TREE_RTOL = 1e-5
_ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "identity": "linear"}
ALTERNATIVES = "RandomForestRegressor, GradientBoostingRegressor, XGBRegressor or MLPRegressor (relu/tanh/logistic)"


class SurrogateEmbeddingError(ValidationError):
    """The estimator cannot be embedded (exactly) as a Pyomo block (a :class:`ValidationError`,
    so also a ``ValueError``)."""


# --------------------------------------------------------------------------- unwrapping
def unwrap_estimator(estimator):
    """``(final_estimator, x_offset, x_factor, y_offset, y_factor)`` of a fitted model.

    Accepts a bare regressor, ``Pipeline([StandardScaler?, regressor])`` and
    ``TransformedTargetRegressor(regressor=<either>, transformer=StandardScaler())``.
    Offsets/factors are ``None`` when there is no scaler."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    y_off = y_fac = None
    est = estimator
    if isinstance(est, TransformedTargetRegressor):
        if not hasattr(est, "regressor_"):
            raise SurrogateEmbeddingError("TransformedTargetRegressor is not fitted")
        tr = est.transformer_
        if est.func is not None or not isinstance(tr, StandardScaler):
            raise SurrogateEmbeddingError(
                "only TransformedTargetRegressor(transformer=StandardScaler()) can be embedded (a linear "
                f"output scaling); got func={est.func!r}, transformer={type(tr).__name__}")
        y_off = np.atleast_1d(tr.mean_ if tr.with_mean else 0.0).astype(float)
        y_fac = np.atleast_1d(tr.scale_ if tr.with_std else 1.0).astype(float)
        est = est.regressor_
    x_off = x_fac = None
    if isinstance(est, Pipeline):
        steps = [s for _, s in est.steps if s is not None and s != "passthrough"]
        if len(steps) > 2 or (len(steps) == 2 and not isinstance(steps[0], StandardScaler)):
            raise SurrogateEmbeddingError(
                f"only Pipeline([StandardScaler, regressor]) can be embedded; got steps {[type(s).__name__ for s in steps]}")
        if len(steps) == 2:
            sc = steps[0]
            n = sc.n_features_in_
            x_off = np.asarray(sc.mean_ if sc.with_mean else np.zeros(n), float)
            x_fac = np.asarray(sc.scale_ if sc.with_std else np.ones(n), float)
        est = steps[-1]
    return est, x_off, x_fac, y_off, y_fac


def _kind(est) -> str:
    name = type(est).__name__
    if name == "MLPRegressor":
        return "mlp"
    if name in ("RandomForestRegressor", "ExtraTreesRegressor", "GradientBoostingRegressor"):
        return "sklearn_trees"
    if name == "XGBRegressor":
        return "xgboost"
    raise SurrogateEmbeddingError(
        f"{name} cannot be embedded through OMLT; use {ALTERNATIVES}")


# --------------------------------------------------------------------------- tree ensembles
def _tree_attributes(onnx_model) -> dict:
    """Attributes of the single TreeEnsembleRegressor node, after checking that
    ``GBTBigMFormulation`` reads the model exactly (see module docstring)."""
    import onnx

    g = onnx_model.graph
    nodes = list(g.node)
    if len(nodes) != 1 or nodes[0].op_type != "TreeEnsembleRegressor":
        raise SurrogateEmbeddingError(
            f"the ONNX graph must be a single TreeEnsembleRegressor node for OMLT; got {[n.op_type for n in nodes]}")
    a = {at.name: onnx.helper.get_attribute_value(at) for at in nodes[0].attribute}
    agg = a.get("aggregate_function", b"SUM")
    post = a.get("post_transform", b"NONE")
    if agg not in (b"SUM", "SUM"):
        raise SurrogateEmbeddingError(f"aggregate_function {agg!r}: OMLT's GBT formulation only sums leaves")
    if post not in (b"NONE", "NONE"):
        raise SurrogateEmbeddingError(f"post_transform {post!r} is not supported by OMLT's GBT formulation")
    if int(a.get("n_targets", 1)) != 1:
        raise SurrogateEmbeddingError("only single-target tree ensembles can be embedded")
    modes = set(a["nodes_modes"])
    bad = modes - {b"BRANCH_LEQ", b"LEAF"}
    if bad:
        raise SurrogateEmbeddingError(
            f"node modes {sorted(bad)}: OMLT's GBTBigMFormulation reads only BRANCH_LEQ splits and would embed "
            f"these silently wrong (XGBoost's ONNX uses BRANCH_LT); use {ALTERNATIVES} through flexspace's converters")
    tids = np.asarray(a["nodes_treeids"])
    nids = np.asarray(a["nodes_nodeids"])
    for t in np.unique(tids):
        ids = nids[tids == t]
        if not np.array_equal(ids, np.arange(len(ids))):
            raise SurrogateEmbeddingError(f"tree {t}: node ids must be 0..n-1 in order for OMLT")
    return a


class _TreeEnsemble:
    """Exact numpy emulation of ``GBTBigMFormulation``'s semantics on scaled inputs."""

    def __init__(self, attrs: dict):
        self.feat = np.asarray(attrs["nodes_featureids"], int)
        self.thr = np.asarray(attrs["nodes_values"], float)  # float32 values, as OMLT reads them
        self.mode = np.asarray(attrs["nodes_modes"])
        self.tid = np.asarray(attrs["nodes_treeids"], int)
        self.nid = np.asarray(attrs["nodes_nodeids"], int)
        self.true = np.asarray(attrs["nodes_truenodeids"], int)
        self.false = np.asarray(attrs["nodes_falsenodeids"], int)
        self.base = float(np.asarray(attrs.get("base_values", [0.0]), float)[0]) if "base_values" in attrs else 0.0
        self.trees = {}
        wt = {}
        for t, n, w in zip(attrs["target_treeids"], attrs["target_nodeids"], attrs["target_weights"]):
            wt[(int(t), int(n))] = wt.get((int(t), int(n)), 0.0) + float(w)
        for t in np.unique(self.tid):
            mask = self.tid == t
            self.trees[int(t)] = (self.feat[mask], self.thr[mask], self.mode[mask], self.true[mask], self.false[mask])
        self.leaf_weight = wt

    def predict(self, Xs) -> np.ndarray:
        Xs = np.atleast_2d(np.asarray(Xs, float))
        out = np.full(len(Xs), self.base)
        for t, (f, thr, mode, tr, fa) in self.trees.items():
            node = np.zeros(len(Xs), int)
            for _ in range(len(f) + 1):
                branch = mode[node] == b"BRANCH_LEQ"
                if not branch.any():
                    break
                go_true = Xs[np.arange(len(Xs)), f[node]] <= thr[node]
                nxt = np.where(go_true, tr[node], fa[node])
                node = np.where(branch, nxt, node)
            out += np.array([self.leaf_weight.get((t, int(n)), 0.0) for n in node])
        return out

    def output_bounds(self):
        lo = hi = self.base
        for t, (f, thr, mode, tr, fa) in self.trees.items():
            vals = [self.leaf_weight.get((t, int(n)), 0.0) for n in range(len(f)) if mode[n] == b"LEAF"]
            lo += min(vals)
            hi += max(vals)
        return lo, hi


def _sklearn_trees_to_onnx(est, n_features: int):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    # ai.onnx.ml opset 3: TreeEnsembleRegressor (opset 5's TreeEnsemble is not read by OMLT)
    return convert_sklearn(est, initial_types=[("x", FloatTensorType([None, n_features]))],
                           target_opset={"": 17, "ai.onnx.ml": 3})


def xgboost_to_onnx(est, n_features: int):
    """An ONNX ``TreeEnsembleRegressor`` equivalent to a fitted ``XGBRegressor`` with
    ``BRANCH_LEQ`` splits: XGBoost goes left when ``x < t`` (float32), i.e. when
    ``x ≤ nextafter(t, −inf)``; the threshold is nudged down one float32 ulp.  Only the
    ``reg:squarederror``-type identity link (prediction = base_score + Σ leaves) and
    ``gbtree`` boosters are accepted."""
    import onnx
    from onnx import TensorProto, helper

    booster = est.get_booster()
    cfg = json.loads(booster.save_config())
    learner = cfg["learner"]
    objective = learner["objective"]["name"]
    if objective not in ("reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror", "reg:quantileerror"):
        raise SurrogateEmbeddingError(f"XGBoost objective {objective!r} has a non-identity link; cannot embed")
    if learner["gradient_booster"]["name"] != "gbtree":
        raise SurrogateEmbeddingError(f"XGBoost booster {learner['gradient_booster']['name']!r} is not a tree booster")
    base_str = str(learner["learner_model_param"]["base_score"]).strip("[]")
    base = float(base_str.split(",")[0])
    feats, thr, modes, tids, nids, tnode, fnode = [], [], [], [], [], [], []
    w_t, w_n, w_v = [], [], []
    dumps = booster.get_dump(dump_format="json")
    try:  # early stopping: predict() uses the trees up to best_iteration
        best = est.best_iteration
    except AttributeError:
        best = None
    if best is not None:
        dumps = dumps[: (int(best) + 1) * max(1, int(getattr(est, "num_parallel_tree", None) or 1))]
    for t, dump in enumerate(dumps):
        nodes = {}

        def walk(nd):
            nodes[int(nd["nodeid"])] = nd
            for ch in nd.get("children", []):
                walk(ch)

        walk(json.loads(dump))
        ids = sorted(nodes)
        if ids != list(range(len(ids))):
            # renumber to 0..n-1 (OMLT indexes nodes by position)
            remap = {old: new for new, old in enumerate(ids)}
        else:
            remap = {i: i for i in ids}
        for old in ids:
            nd = nodes[old]
            tids.append(t)
            nids.append(remap[old])
            if "leaf" in nd:
                feats.append(0)
                thr.append(0.0)
                modes.append("LEAF")
                tnode.append(0)
                fnode.append(0)
                w_t.append(t)
                w_n.append(remap[old])
                w_v.append(float(np.float32(nd["leaf"])))
            else:
                split = nd["split"]
                if not str(split).startswith("f"):
                    raise SurrogateEmbeddingError(f"XGBoost split on named feature {split!r}; train on arrays")
                feats.append(int(str(split)[1:]))
                t32 = np.float32(nd["split_condition"])
                thr.append(float(np.nextafter(t32, np.float32(-np.inf))))  # x < t  ⇔  x <= prev(t) in float32
                modes.append("BRANCH_LEQ")
                tnode.append(remap[int(nd["yes"])])
                fnode.append(remap[int(nd["no"])])
    node = helper.make_node(
        "TreeEnsembleRegressor", ["x"], ["variable"], domain="ai.onnx.ml", n_targets=1,
        nodes_featureids=feats, nodes_values=thr, nodes_modes=modes, nodes_treeids=tids, nodes_nodeids=nids,
        nodes_truenodeids=tnode, nodes_falsenodeids=fnode, nodes_missing_value_tracks_true=[0] * len(feats),
        nodes_hitrates=[1.0] * len(feats), target_ids=[0] * len(w_t), target_nodeids=w_n, target_treeids=w_t,
        target_weights=w_v, base_values=[base], post_transform="NONE", aggregate_function="SUM")
    graph = helper.make_graph([node], "xgboost_leq",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, n_features])],
                              [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    onnx.checker.check_model(model)
    return model


def _prune_tree_onnx(onnx_model, fixed_scaled: dict, n_features: int):
    """The same ensemble with every split on a fixed feature resolved (exact: the
    feature's value is known), as a new ONNX ``TreeEnsembleRegressor`` with node ids
    renumbered 0..n-1 per tree (pre-order)."""
    from onnx import TensorProto, helper

    a = _tree_attributes(onnx_model)
    feat = np.asarray(a["nodes_featureids"], int)
    thr = np.asarray(a["nodes_values"], float)
    mode = np.asarray(a["nodes_modes"])
    tid = np.asarray(a["nodes_treeids"], int)
    nid = np.asarray(a["nodes_nodeids"], int)
    tru = np.asarray(a["nodes_truenodeids"], int)
    fal = np.asarray(a["nodes_falsenodeids"], int)
    weights = {}
    for t, nn, w in zip(a["target_treeids"], a["target_nodeids"], a["target_weights"]):
        weights[(int(t), int(nn))] = weights.get((int(t), int(nn)), 0.0) + float(w)
    out = {k: [] for k in ("feat", "thr", "mode", "tid", "nid", "tru", "fal")}
    wt, wn, wv = [], [], []
    for t in np.unique(tid):
        mask = tid == t
        f, th, md, tr, fa = feat[mask], thr[mask], mode[mask], tru[mask], fal[mask]
        order = np.argsort(nid[mask])
        f, th, md, tr, fa = f[order], th[order], md[order], tr[order], fa[order]
        rows = []  # (feat, thr, mode, true_local, false_local, weight)

        def emit(node):
            while md[node] == b"BRANCH_LEQ" and int(f[node]) in fixed_scaled:
                node = tr[node] if fixed_scaled[int(f[node])] <= th[node] else fa[node]
            idx = len(rows)
            if md[node] == b"LEAF":
                rows.append([0, 0.0, "LEAF", 0, 0, weights.get((int(t), int(node)), 0.0)])
                return idx
            rows.append([int(f[node]), float(th[node]), "BRANCH_LEQ", -1, -1, None])
            rows[idx][3] = emit(tr[node])
            rows[idx][4] = emit(fa[node])
            return idx

        emit(0)
        for i, r in enumerate(rows):
            out["feat"].append(r[0]); out["thr"].append(r[1]); out["mode"].append(r[2])
            out["tid"].append(int(t)); out["nid"].append(i); out["tru"].append(r[3]); out["fal"].append(r[4])
            if r[2] == "LEAF":
                wt.append(int(t)); wn.append(i); wv.append(r[5])
    base = list(np.asarray(a["base_values"], float)) if "base_values" in a else [0.0]
    node = helper.make_node(
        "TreeEnsembleRegressor", ["x"], ["variable"], domain="ai.onnx.ml", n_targets=1,
        nodes_featureids=out["feat"], nodes_values=out["thr"], nodes_modes=out["mode"], nodes_treeids=out["tid"],
        nodes_nodeids=out["nid"], nodes_truenodeids=out["tru"], nodes_falsenodeids=out["fal"],
        nodes_missing_value_tracks_true=[0] * len(out["feat"]), nodes_hitrates=[1.0] * len(out["feat"]),
        target_ids=[0] * len(wt), target_nodeids=wn, target_treeids=wt, target_weights=wv, base_values=base,
        post_transform="NONE", aggregate_function="SUM")
    graph = helper.make_graph([node], "pruned_trees",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, n_features])],
                              [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 1])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])


# --------------------------------------------------------------------------- networks
def _mlp_forward(est, Xs) -> np.ndarray:
    act = est.activation
    f = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh, "logistic": lambda z: 1.0 / (1.0 + np.exp(-z)),
         "identity": lambda z: z}[act]
    z = np.asarray(Xs, float)
    L = len(est.coefs_)
    for i, (W, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        z = z @ W + b
        if i < L - 1:
            z = f(z)
    return z


def _mlp_interval_bounds(est, lo, hi):
    """Interval bounds of the network output on the scaled input box (as OMLT's FBBT)."""
    act = est.activation
    f = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh, "logistic": lambda z: 1.0 / (1.0 + np.exp(-z)),
         "identity": lambda z: z}[act]
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    L = len(est.coefs_)
    for i, (W, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        Wp, Wn = np.maximum(W, 0), np.minimum(W, 0)
        nlo = lo @ Wp + hi @ Wn + b
        nhi = hi @ Wp + lo @ Wn + b
        lo, hi = nlo, nhi
        if i < L - 1:
            lo, hi = f(lo), f(hi)
    return lo, hi


def _mlp_network(est, scaling, scaled_bounds):
    from omlt.neuralnet import NetworkDefinition
    from omlt.neuralnet.layer import DenseLayer, InputLayer

    if est.out_activation_ != "identity":
        raise SurrogateEmbeddingError(f"MLP output activation {est.out_activation_!r} (regressors use identity)")
    act = _ACTIVATIONS.get(est.activation)
    if act is None:
        raise SurrogateEmbeddingError(f"MLP activation {est.activation!r} not supported; use relu, tanh or logistic")
    net = NetworkDefinition(scaling_object=scaling, scaled_input_bounds=scaled_bounds)
    n_in = est.coefs_[0].shape[0]
    prev = InputLayer([n_in])
    net.add_layer(prev)
    L = len(est.coefs_)
    for i, (W, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        layer = DenseLayer([W.shape[0]], [W.shape[1]], activation=act if i < L - 1 else "linear",
                           weights=np.asarray(W, float), biases=np.asarray(b, float))
        net.add_layer(layer)
        net.add_edge(prev, layer)
        prev = layer
    return net


# --------------------------------------------------------------------------- the object
@dataclass
class EmbeddedSurrogate:
    """A fitted regressor ready to become an OMLT block (see :func:`embed_surrogate`).

    ``problem_class`` is ``"milp"`` (trees, ReLU networks: HiGHS or SCIP) or ``"nlp"``
    (smooth networks: MAiNGO global, Ipopt local).  ``check`` holds the construction-time
    comparison with ``predict`` (``n_points``, ``max_rel_err``, ``tolerance``)."""

    estimator: object
    kind: str                       # "mlp", "sklearn_trees", "xgboost"
    model_name: str
    input_bounds: np.ndarray        # (n, 2) unscaled
    x_offset: np.ndarray
    x_factor: np.ndarray
    y_offset: np.ndarray
    y_factor: np.ndarray
    problem_class: str
    activation: Optional[str] = None
    formulation_name: str = ""
    onnx_model: object = None
    _trees: Optional[_TreeEnsemble] = field(default=None, repr=False)
    _final: object = field(default=None, repr=False)
    check: dict = field(default_factory=dict)
    fixed_inputs: dict = field(default_factory=dict)  # {index: value} resolved by fix_inputs()

    @property
    def n_inputs(self) -> int:
        return len(self.input_bounds)

    @property
    def tolerance(self) -> float:
        return MLP_RTOL if self.kind == "mlp" else TREE_RTOL

    def scaled_bounds(self) -> dict:
        lo = (self.input_bounds[:, 0] - self.x_offset) / self.x_factor
        hi = (self.input_bounds[:, 1] - self.x_offset) / self.x_factor
        return {i: (float(lo[i]), float(hi[i])) for i in range(self.n_inputs)}

    def scaling(self):
        from omlt import OffsetScaling

        return OffsetScaling(offset_inputs=list(self.x_offset), factor_inputs=list(self.x_factor),
                             offset_outputs=list(self.y_offset), factor_outputs=list(self.y_factor))

    def emulate(self, X) -> np.ndarray:
        """The block's input→output map evaluated in numpy (exact semantics of the formulation)."""
        Xs = (np.atleast_2d(np.asarray(X, float)) - self.x_offset) / self.x_factor
        if self.kind == "mlp":
            ys = _mlp_forward(self._final, Xs)[:, 0]
        else:
            ys = self._trees.predict(Xs)
        return ys * self.y_factor[0] + self.y_offset[0]

    def output_bounds(self):
        """Valid bounds of the (unscaled) output over the input box."""
        sb = self.scaled_bounds()
        lo = np.array([sb[i][0] for i in range(self.n_inputs)])
        hi = np.array([sb[i][1] for i in range(self.n_inputs)])
        if self.kind == "mlp":
            olo, ohi = _mlp_interval_bounds(self._final, lo, hi)
            olo, ohi = float(olo[0]), float(ohi[0])
        else:
            olo, ohi = self._trees.output_bounds()
        a, b = olo * self.y_factor[0] + self.y_offset[0], ohi * self.y_factor[0] + self.y_offset[0]
        pad = 1e-6 * (abs(a) + abs(b)) + 1e-9
        return min(a, b) - pad, max(a, b) + pad

    def formulation(self, reduced_space: bool = False):
        """A fresh OMLT formulation object (one per block)."""
        if self.kind == "mlp":
            from omlt.neuralnet import (FullSpaceSmoothNNFormulation, ReducedSpaceSmoothNNFormulation,
                                        ReluBigMFormulation)

            net = _mlp_network(self._final, self.scaling(), self.scaled_bounds())
            if self.activation == "relu":
                if reduced_space:
                    raise SurrogateEmbeddingError("ReLU networks are embedded as big-M MILPs (no reduced space)")
                return ReluBigMFormulation(net)
            return (ReducedSpaceSmoothNNFormulation if reduced_space else FullSpaceSmoothNNFormulation)(net)
        from omlt.gbt import GBTBigMFormulation, GradientBoostedTreeModel

        gbt = GradientBoostedTreeModel(self.onnx_model, scaling_object=self.scaling(),
                                       scaled_input_bounds=self.scaled_bounds())
        return GBTBigMFormulation(gbt)

    def add_to(self, parent: pyo.Block, name: str, inputs: Optional[Sequence] = None,
               reduced_space: bool = False, strict_splits: Optional[float] = None):
        """Add the surrogate as ``parent.<name>`` (an ``OmltBlock``); ``inputs``: optional
        Pyomo Vars/Params/expressions linked to ``block.inputs[i]`` by equalities
        (``parent.<name>_link``).  Sets bounds on outputs and tree leaf variables.
        Returns the block; its output is ``block.outputs[0]``.

        ``strict_splits`` (trees, scaled units): OMLT's big-M splits allow both branches
        when an input sits on a threshold (and, within the solver's feasibility
        tolerance, slightly beyond it), and an optimiser that *chooses* the inputs
        exploits it (maximising D50 it takes the better leaf although ``predict`` takes
        the other — measured: 1.2 % off).  With ``strict_splits = ε`` the left branch
        requires ``x ≤ t − ε`` and the right one ``x ≥ t + ε`` (``ε`` at least 8 float32
        ulps of ``t``): a gap of width 2ε around each threshold is excluded, and block
        and ``predict`` agree at the optimum.  Use it when the inputs are free (design
        optimisation); not with inputs fixed at given values (a fixed input inside a
        gap ``(t, t + ε)`` would make the block infeasible)."""
        from omlt import OmltBlock

        blk = OmltBlock()
        parent.add_component(name, blk)
        blk.build_formulation(self.formulation(reduced_space=reduced_space))
        lo, hi = self.output_bounds()
        blk.outputs[0].setlb(lo)
        blk.outputs[0].setub(hi)
        slo, shi = ((lo - self.y_offset[0]) / self.y_factor[0], (hi - self.y_offset[0]) / self.y_factor[0])
        if hasattr(blk, "scaled_outputs") and blk.scaled_outputs[0].ctype is pyo.Var:
            blk.scaled_outputs[0].setlb(min(slo, shi))
            blk.scaled_outputs[0].setub(max(slo, shi))
        if hasattr(blk, "z_l"):
            for v in blk.z_l.values():
                v.setub(1.0)
        # OMLT leaves the linear output layer's z unbounded: copy its zhat bounds
        for v in blk.component_data_objects(pyo.Var, descend_into=True):
            if v.lb is None or v.ub is None:
                parent_b = v.parent_block()
                zhat = getattr(parent_b, "zhat", None)
                if zhat is not None and v.parent_component() is getattr(parent_b, "z", None) and v.index() in zhat:
                    zlb, zub = zhat[v.index()].bounds
                    if v.lb is None and zlb is not None:
                        v.setlb(zlb)
                    if v.ub is None and zub is not None:
                        v.setub(zub)
        if strict_splits is not None and self.kind != "mlp":
            self._add_strict_splits(blk, float(strict_splits))
        if inputs is not None:
            inputs = list(inputs)
            if len(inputs) != self.n_inputs:
                raise ValidationError(f"{len(inputs)} inputs given, the surrogate has {self.n_inputs}")
            link = pyo.Constraint(range(self.n_inputs))
            parent.add_component(f"{name}_link", link)
            for i in range(self.n_inputs):
                link[i] = blk.inputs[i] == inputs[i]
        make_picklable(blk)
        return blk

    def _add_strict_splits(self, blk, eps: float) -> None:
        tr = self._trees
        branch = tr.mode == b"BRANCH_LEQ"
        blk.strict_split = pyo.ConstraintList()
        for f in sorted(set(tr.feat[branch].tolist())):
            vals = np.unique(np.sort(tr.thr[branch & (tr.feat == f)]))  # the order OMLT indexes y[f, j]
            x = blk.scaled_inputs[f]
            lb, ub = x.lb, x.ub
            for j, v in enumerate(vals):
                e = max(eps, 8.0 * float(np.spacing(np.float32(abs(v)))))
                if v + e <= ub:   # y[f, j] = 0 (right branch)  =>  x >= v + e
                    blk.strict_split.add(x >= v + e - (v + e - lb) * blk.y[f, j])
                if v - e >= lb:   # y[f, j] = 1 (left branch)   =>  x <= v - e
                    blk.strict_split.add(x <= v - e + (ub - v + e) * (1 - blk.y[f, j]))

    def fix_inputs(self, fixed: dict, check_points: int = 200, random_state: int = 0) -> "EmbeddedSurrogate":
        """The surrogate with inputs ``{index: value}`` held at known values (exact partial
        evaluation): tree splits on them are resolved, so the block keeps only the splits
        on the free inputs — far fewer binaries and constraints when most inputs are fixed
        (the design-space case).  Networks are returned unchanged (their fixed inputs cost
        little).  The result is re-checked against ``predict`` with those inputs fixed;
        its block must be used with the same inputs fixed at the same values."""
        if self.kind == "mlp" or not fixed:
            return self
        import copy

        fixed = {int(i): float(v) for i, v in fixed.items()}
        fs = {i: (v - self.x_offset[i]) / self.x_factor[i] for i, v in fixed.items()}
        onx = _prune_tree_onnx(self.onnx_model, fs, self.n_inputs)
        new = copy.copy(self)
        new.onnx_model = onx
        new._trees = _TreeEnsemble(_tree_attributes(onx))
        new.fixed_inputs = dict(fixed)
        _self_check(new, check_points, random_state)
        return new

    @property
    def recommended_solvers(self) -> list:
        return recommended_solvers(self)


def recommended_solvers(emb: EmbeddedSurrogate) -> list:
    """Solver routing: MILP surrogates → HiGHS (LP/MILP; box sets) or SCIP (also with
    ellipsoids, MIQCP); smooth networks → MAiNGO (global) or Ipopt (local)."""
    return ["highs", "scip"] if emb.problem_class == "milp" else ["maingo", "ipopt"]


def embed_surrogate(estimator, input_bounds, xgboost: str = "convert", check_points: int = 200,
                    random_state: int = 0) -> EmbeddedSurrogate:
    """Prepare a fitted regressor for embedding (see module docstring).

    Parameters
    ----------
    estimator : fitted regressor, ``Pipeline([StandardScaler, regressor])`` or
        ``TransformedTargetRegressor(..., transformer=StandardScaler())``.
    input_bounds : ``(n_features, 2)`` unscaled bounds of the inputs (block bounds, and
        the box of the construction-time check).
    xgboost : ``"convert"`` (exact ``BRANCH_LEQ`` conversion, checked) or ``"refuse"``.
    check_points : number of random in-bound points for the check against ``predict``.
    """
    est, x_off, x_fac, y_off, y_fac = unwrap_estimator(estimator)
    kind = _kind(est)
    b = np.asarray(input_bounds, float)
    n = getattr(est, "n_features_in_", None)
    if b.ndim != 2 or b.shape[1] != 2 or (n is not None and b.shape[0] != n):
        raise ValidationError(f"input_bounds must have shape ({n}, 2), got {b.shape}")
    if not np.all(np.isfinite(b)) or np.any(b[:, 0] > b[:, 1]):
        raise ValidationError("input_bounds must be finite with lo <= hi")
    n = b.shape[0]
    x_off = np.zeros(n) if x_off is None else x_off
    x_fac = np.ones(n) if x_fac is None else x_fac
    y_off = np.zeros(1) if y_off is None else y_off[:1]
    y_fac = np.ones(1) if y_fac is None else y_fac[:1]
    common = dict(estimator=estimator, model_name=type(est).__name__, input_bounds=b, x_offset=x_off,
                  x_factor=x_fac, y_offset=y_off, y_factor=y_fac, _final=est)
    if kind == "mlp":
        if getattr(est, "n_outputs_", 1) != 1:
            raise SurrogateEmbeddingError("only single-output MLPs are embedded (fit one per CQA)")
        act = est.activation
        if act not in _ACTIVATIONS:
            raise SurrogateEmbeddingError(f"MLP activation {act!r} not supported")
        emb = EmbeddedSurrogate(kind="mlp", problem_class="milp" if act in ("relu", "identity") else "nlp",
                                activation=act, formulation_name="ReluBigMFormulation" if act == "relu"
                                else "FullSpaceSmoothNNFormulation", **common)
    else:
        if kind == "xgboost":
            if xgboost == "refuse":
                raise SurrogateEmbeddingError(
                    "XGBoost trees split with x < t (ONNX BRANCH_LT), which OMLT's GBTBigMFormulation reads as "
                    "x <= t: embedding it directly would be silently wrong. Use embed_surrogate(..., "
                    "xgboost='convert') (exact BRANCH_LEQ conversion) or a RandomForest/GradientBoosting/MLP "
                    "surrogate.")
            if xgboost != "convert":
                raise ValidationError(f"xgboost must be 'convert' or 'refuse', got {xgboost!r}")
            onx = xgboost_to_onnx(est, n)
        else:
            onx = _sklearn_trees_to_onnx(est, n)
        attrs = _tree_attributes(onx)
        emb = EmbeddedSurrogate(kind=kind, problem_class="milp", formulation_name="GBTBigMFormulation",
                                onnx_model=onx, _trees=_TreeEnsemble(attrs), **common)
    _self_check(emb, check_points, random_state)
    return emb


def _self_check(emb: EmbeddedSurrogate, n: int, random_state) -> None:
    if n <= 0:
        emb.check = {"n_points": 0}
        return
    rng = np.random.default_rng(random_state)
    X = rng.uniform(emb.input_bounds[:, 0], emb.input_bounds[:, 1], size=(n, emb.n_inputs))
    for i, v in emb.fixed_inputs.items():
        X[:, i] = v
    ref = np.asarray(emb.estimator.predict(X), float).ravel()
    got = emb.emulate(X)
    err = _rel_err(got, ref)
    emb.check = {"n_points": n, "max_rel_err": float(err.max()), "tolerance": emb.tolerance}
    if not np.all(err <= emb.tolerance):
        i = int(np.argmax(err))
        raise SurrogateEmbeddingError(
            f"{emb.model_name}: the embedded model differs from predict() by {err[i]:.3g} (relative) at "
            f"x = {X[i].tolist()} (block {got[i]!r}, predict {ref[i]!r}); refusing to embed it")


def _rel_err(got, ref) -> np.ndarray:
    got, ref = np.asarray(got, float), np.asarray(ref, float)
    return np.abs(got - ref) / np.maximum(np.abs(ref), 1.0)


# --------------------------------------------------------------------------- helpers
def substitute_named_expressions(model: pyo.Block, objectives: bool = True) -> pyo.Block:
    """Rewrite every active constraint (and, with ``objectives``, objective) of ``model``
    in place with named ``Expression`` bodies substituted — MAiNGO's Pyomo interface
    rejects named expressions.  The originals are deactivated and the
    rewritten ones added as ``_flexspace_subst_cons`` / ``_flexspace_subst_obj*``.
    Returns ``model``."""
    from pyomo.core.expr.visitor import replace_expressions

    m = model
    cons = list(m.component_data_objects(pyo.Constraint, active=True, descend_into=True))
    if cons:
        lst = pyo.ConstraintList()
        m.add_component(_unique(m, "_flexspace_subst_cons"), lst)
        for c in cons:
            body = replace_expressions(c.body, substitution_map={}, remove_named_expressions=True)
            lo = None if c.lower is None else pyo.value(c.lower)
            up = None if c.upper is None else pyo.value(c.upper)
            lst.add(body == up if c.equality else pyo.inequality(lo, body, up))
            c.deactivate()
    objs = list(m.component_data_objects(pyo.Objective, active=True, descend_into=True)) if objectives else []
    for o in objs:
        expr = replace_expressions(o.expr, substitution_map={}, remove_named_expressions=True)
        new = pyo.Objective(expr=expr, sense=o.sense)
        m.add_component(_unique(m, "_flexspace_subst_obj"), new)
        o.deactivate()
    return m


def make_picklable(block: pyo.Block) -> pyo.Block:
    """Drop the construction rules (OMLT's local functions) and OMLT's formulation object
    (it holds a weakref) from a *constructed* block, so the model can be pickled (process
    pools, checkpoint fingerprints) and cloned cheaply.  The constraints themselves are
    unchanged."""
    comps = [block] + list(block.component_objects(descend_into=True))
    for c in comps:
        if getattr(c, "_rule", None) is not None:
            c._rule = None
        datas = c.values() if c.is_indexed() and isinstance(c, pyo.Block) else ([c] if isinstance(c, pyo.Block) else [])
        for d in datas:
            if hasattr(d, "_OmltBlockData__formulation"):
                d._OmltBlockData__formulation = None
    return block


def _unique(m, base: str) -> str:
    name, i = base, 0
    while m.component(name) is not None:
        i += 1
        name = f"{base}{i}"
    return name


#: :func:`predict_with_block`'s default solve options (changes to the ``"index"`` preset)
PREDICT_OPTIONS = {"time_limit": 30.0}


def predict_with_block(emb: EmbeddedSurrogate, X, solver: Optional[str] = None, reduced_space: bool = False,
                       options: OptionsLike = None) -> np.ndarray:
    """Evaluate the **Pyomo block** at the rows of ``X``: fix its inputs, solve (HiGHS for
    MILP blocks, Ipopt for smooth networks unless ``solver`` is given), read the output.
    NaN where a solve failed.  Used to verify the embedding against ``predict``.
    ``options``: :class:`~flexspace.options.SolveOptions` of each solve (a dict changes
    :data:`PREDICT_OPTIONS`, a 30 s time limit per solve: our choice, far above need)."""
    from ..solvers import get_solver

    opts = resolve_options(options, defaults=PREDICT_OPTIONS)
    time_limit = opts.time_limit

    X = np.atleast_2d(np.asarray(X, float))
    solver = solver or ("highs" if emb.problem_class == "milp" else "ipopt")
    m = pyo.ConcreteModel()
    blk = emb.add_to(m, "surrogate", reduced_space=reduced_space)
    m.obj = pyo.Objective(expr=0.0 * blk.outputs[0])
    if solver == "maingo":
        substitute_named_expressions(m)
    out = np.full(len(X), np.nan)
    if solver == "highs":
        from pyomo.contrib.appsi.solvers import Highs

        opt = Highs()  # persistent: only the fixed input values change between solves
        opt.config.load_solution = False
        opt.config.time_limit = time_limit
        opt.highs_options["mip_feasibility_tolerance"] = 1e-9
        opt.highs_options["primal_feasibility_tolerance"] = 1e-9
        for r, x in enumerate(X):
            for i in range(emb.n_inputs):
                blk.inputs[i].fix(float(x[i]))
            res = opt.solve(m)
            if str(res.termination_condition).endswith("optimal"):
                res.solution_loader.load_vars()
                out[r] = pyo.value(blk.outputs[0])
        return out
    slv = get_solver(solver, opts)
    for r, x in enumerate(X):
        for i in range(emb.n_inputs):
            blk.inputs[i].fix(float(x[i]))
        res = slv.solve(m)
        if res.status.ok:
            out[r] = pyo.value(blk.outputs[0])
    return out
