"""An embedded ML surrogate as a flexspace plug-in process model.

:func:`surrogate_process_model` builds a Pyomo model with

* ``m.x[i]`` — the model inputs (one per feature, bounded by ``input_bounds``): the
  chosen operating conditions are θp, every other input is fixed at the user's value;
* ``m.e[k]`` — θm, an additive error on the prediction of CQA ``k`` (mutable Param,
  nominal 0, variance σ_k² — e.g. the ensemble UQ σ of :mod:`flexspace.surrogates.uq`);
* one ``OmltBlock`` per CQA (``m.s_<k>``, :mod:`.omlt_embed`) linked to ``m.x``;
* ``m.g[k]`` — the CQA limits as ``g ≤ 0``: ``("≥", L)`` gives ``L − (ŷ_k + e_k)``,
  ``("≤", U)`` gives ``ŷ_k + e_k − U``;

and wraps it in a :class:`flexspace.models.surrogate.SurrogateProcessModel` (a
:class:`flexspace.ProcessModel` with declared ``embedded``, ``limits``, ``problem_class``,
``feature_names``, ``fixed_values``) with a vectorised simulator
(``estimator.predict`` + θm), so Monte Carlo, the flexibility index/test and the design
space drivers work on it unchanged.

Squareness: a smooth network in full-space form is square (checked with IDAES).  Tree
ensembles and ReLU networks determine their outputs through inequalities and binaries
(leaf selection, big-M activations); IDAES's degrees-of-freedom count only sees
equalities and reports free variables although the output is a function of the inputs,
so for those the IDAES check is skipped (``check_square=False``) and determinedness is
guaranteed by the embedding check of :func:`.omlt_embed.embed_surrogate` instead.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping, Sequence, Union

import numpy as np
import pyomo.environ as pyo

from ..errors import InputTypeError, UnknownNameError, ValidationError
from ..models.surrogate import SurrogateProcessModel
from .omlt_embed import EmbeddedSurrogate, embed_surrogate

__all__ = ["surrogate_process_model", "parse_limit", "SurrogateSimulator", "EmbeddingSpec", "EmbeddingLike"]


@dataclass(frozen=True)
class EmbeddingSpec:
    """How :func:`surrogate_process_model` embeds the surrogates as Pyomo blocks.

    Attributes
    ----------
    reduced_space : OMLT's reduced-space formulation of smooth networks (the layers as
        expressions, no layer variables; ReLU networks have none).  Default False: full
        space, whose squareness is checked with IDAES.
    xgboost : what to do with an XGBoost regressor: ``"convert"`` (exact conversion to
        BRANCH_LEQ trees) or ``"refuse"`` (:func:`.omlt_embed.embed_surrogate`).
    check_points : random in-bound points at which every block is checked against
        ``predict`` (at embedding, and again after ``prune_fixed``).
    prune_fixed : resolve tree splits on the fixed (non-θp) inputs at embedding time
        (:meth:`EmbeddedSurrogate.fix_inputs`; exact, and re-checked against ``predict``):
        the blocks keep only the splits on θp.  Measured on the GBT crystallization
        surrogates: ~0.3 s → a few ms of model processing per HiGHS solve.
    """

    reduced_space: bool = False
    xgboost: str = "convert"
    check_points: int = 200
    prune_fixed: bool = True

    def replace(self, **changes) -> "EmbeddingSpec":
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)


#: ``surrogate_process_model(embedding=...)``: an :class:`EmbeddingSpec`, a dict of changes
#: to ``EmbeddingSpec()``, or None for ``EmbeddingSpec()``.
EmbeddingLike = Union[EmbeddingSpec, Mapping, None]


def _resolve_embedding(embedding: EmbeddingLike) -> EmbeddingSpec:
    if isinstance(embedding, EmbeddingSpec):
        return embedding
    if embedding is None:
        return EmbeddingSpec()
    if isinstance(embedding, Mapping):
        return EmbeddingSpec(**dict(embedding))
    raise InputTypeError(f"embedding must be an EmbeddingSpec, a dict or None; got {type(embedding).__name__}")


def parse_limit(spec) -> tuple[str, float]:
    """``(">=", 20.0)``, ``(">=", "20")`` or a string ``">=20"`` / ``"<= 80"`` → (sense, value)."""
    if isinstance(spec, str):
        s = spec.replace(" ", "")
        for op in (">=", "<="):
            if s.startswith(op):
                return op, float(s[2:])
        raise ValidationError(f"limit {spec!r}: write '>=VALUE' or '<=VALUE'")
    op, val = spec
    if op not in (">=", "<="):
        raise ValidationError(f"limit sense must be '>=' or '<=', got {op!r}")
    return op, float(val)


class SurrogateSimulator:
    """Vectorised simulator of a surrogate process model (picklable):
    ``g(θp, θm) = sign_k (predict_k(x(θp)) + θm_k − limit_k)``, ``sign = +1`` for ``≤``."""

    def __init__(self, estimators, x0, p_idx, signs, limits):
        self.estimators = list(estimators)
        self.x0 = np.asarray(x0, float)
        self.p_idx = list(p_idx)
        self.signs = np.asarray(signs, float)
        self.limits = np.asarray(limits, float)

    def predict(self, theta_p) -> np.ndarray:
        x = self.x0.copy()
        x[self.p_idx] = np.asarray(theta_p, float)
        return np.array([float(np.asarray(e.predict(x[None, :])).ravel()[0]) for e in self.estimators])

    def __call__(self, theta_p, theta_m) -> np.ndarray:
        y = self.predict(theta_p)[None, :] + np.atleast_2d(np.asarray(theta_m, float))
        return self.signs * (y - self.limits)


def surrogate_process_model(surrogates: Mapping[str, object], limits: Mapping[str, object],
                            feature_names: Sequence[str], theta_p: Sequence[str], fixed_values,
                            sigma: Mapping[str, float], input_bounds, theta_p_bounds=None, *,
                            name: str = "surrogate", embedding: EmbeddingLike = None) -> SurrogateProcessModel:
    """A :class:`flexspace.models.surrogate.SurrogateProcessModel` of ML surrogates (see module docstring).

    Parameters
    ----------
    surrogates : ``{cqa: fitted estimator or EmbeddedSurrogate}`` (all on ``feature_names``).
    limits : ``{cqa: (">=", L) | ("<=", U) | ">=L"}``; one g per entry (CQA names must be in
        ``surrogates``).
    feature_names : input names in model order.
    theta_p : names of the inputs that are process parameters θp.
    fixed_values : values of all inputs (θp entries give θp's nominal), array or dict.
    sigma : ``{cqa: σ}`` of the additive error θm (covariance diag σ²).
    input_bounds : ``(n_features, 2)`` bounds (block bounds; θp bounds by default).
    theta_p_bounds : ``(n_theta_p, 2)`` θp bounds; None: the θp rows of ``input_bounds``.
    name : the Pyomo model's and the process model's name.
    embedding : :class:`EmbeddingSpec` (``reduced_space``, ``xgboost``, ``check_points``,
        ``prune_fixed``), a dict of changes to ``EmbeddingSpec()``, or None for the defaults.

    The returned model declares ``embedded`` (``{cqa: EmbeddedSurrogate}``), ``limits``
    (``{cqa: (sense, value)}``), ``problem_class`` (``"milp"`` if any block is a MILP, else
    ``"nlp"``), ``feature_names`` and ``fixed_values`` (the full input vector).
    """
    emb = _resolve_embedding(embedding)
    names = list(feature_names)
    bounds = np.asarray(input_bounds, float)
    x0 = _input_vector(names, fixed_values, bounds)
    p_idx = _theta_p_indices(theta_p, names)
    lims = _check_limits(limits, surrogates, sigma)
    cqas = list(lims)
    embs = _embed_all(surrogates, cqas, bounds, x0, p_idx, emb)
    m = _build_pyomo_model(name, bounds, x0, p_idx, embs, lims, emb.reduced_space)
    simulator = SurrogateSimulator([embs[k].estimator for k in cqas], x0, p_idx,
                                   [1.0 if lims[k][0] == "<=" else -1.0 for k in cqas], [lims[k][1] for k in cqas])
    smooth = all(e.problem_class == "nlp" for e in embs.values()) and not emb.reduced_space
    tpb = bounds[p_idx] if theta_p_bounds is None else np.asarray(theta_p_bounds, float)
    return SurrogateProcessModel(
        m, theta_p={p: m.x[i] for p, i in zip(theta_p, p_idx)}, theta_m={f"e_{k}": m.e[k] for k in cqas},
        constraints={k: m.g[k] for k in cqas}, covariance=np.diag([float(sigma[k]) ** 2 for k in cqas]),
        theta_m_nominal=np.zeros(len(cqas)), theta_p_nominal=x0[p_idx], theta_p_bounds=tpb,
        simulator=simulator, name=name,
        description=f"OMLT-embedded surrogates {[embs[k].model_name for k in cqas]}; theta_p={list(theta_p)}; "
                    f"limits={lims}; theta_m = additive prediction errors",
        check_square=smooth, domain_everywhere=True,
        embedded=embs, limits=lims,
        problem_class="milp" if any(e.problem_class == "milp" for e in embs.values()) else "nlp",
        feature_names=names, fixed_values=x0)


def _input_vector(names: list, fixed_values, bounds: np.ndarray) -> np.ndarray:
    """All input values in ``names`` order (array or dict), checked against ``bounds``."""
    n = len(names)
    if isinstance(fixed_values, Mapping):
        missing = [f for f in names if f not in fixed_values]
        if missing:
            raise ValidationError(f"fixed_values is missing {missing}")
        x0 = np.array([float(fixed_values[f]) for f in names])
    else:
        x0 = np.asarray(fixed_values, float).ravel()
    if x0.shape != (n,):
        raise ValidationError(f"fixed_values must have {n} entries, got {x0.shape}")
    bad = [names[i] for i in range(n) if not bounds[i, 0] <= x0[i] <= bounds[i, 1]]
    if bad:
        raise ValidationError(f"fixed values outside input_bounds for {bad}")
    return x0


def _theta_p_indices(theta_p: Sequence[str], names: list) -> list:
    p_idx = []
    for p in theta_p:
        if p not in names:
            raise UnknownNameError(f"theta_p {p!r} is not an input; inputs: {names}")
        p_idx.append(names.index(p))
    return p_idx


def _check_limits(limits: Mapping[str, object], surrogates: Mapping[str, object], sigma: Mapping[str, float]) -> dict:
    """``{cqa: (sense, value)}``; every limited CQA needs a surrogate and a positive σ."""
    lims = {k: parse_limit(v) for k, v in limits.items()}
    for k in lims:
        if k not in surrogates:
            raise UnknownNameError(f"limit on {k!r} but no surrogate for it")
        if k not in sigma or not float(sigma[k]) > 0:
            raise ValidationError(f"sigma[{k!r}] must be a positive number")
    return lims


def _embed_all(surrogates, cqas, bounds, x0, p_idx, spec: EmbeddingSpec) -> dict:
    """``{cqa: EmbeddedSurrogate}`` (fitted estimators embedded; fixed inputs pruned on request)."""
    n = len(x0)
    embs: dict[str, EmbeddedSurrogate] = {}
    for k in cqas:
        s = surrogates[k]
        embs[k] = s if isinstance(s, EmbeddedSurrogate) else embed_surrogate(
            s, bounds, xgboost=spec.xgboost, check_points=spec.check_points)
        if spec.prune_fixed:
            embs[k] = embs[k].fix_inputs({i: x0[i] for i in range(n) if i not in p_idx},
                                         check_points=spec.check_points)
    return embs


def _build_pyomo_model(name, bounds, x0, p_idx, embs, lims, reduced_space) -> pyo.ConcreteModel:
    """``m.x`` (inputs, non-θp fixed), ``m.e`` (θm), one block ``m.s_<cqa>`` per CQA, ``m.g`` (limits)."""
    n, cqas = len(x0), list(lims)
    m = pyo.ConcreteModel(name=name)
    m.x = pyo.Var(range(n), bounds={i: (float(bounds[i, 0]), float(bounds[i, 1])) for i in range(n)},
                  initialize={i: float(x0[i]) for i in range(n)})
    for i in range(n):
        if i not in p_idx:
            m.x[i].fix(float(x0[i]))
    m.e = pyo.Param(cqas, mutable=True, initialize=0.0)
    for k in cqas:
        embs[k].add_to(m, f"s_{k}", inputs=[m.x[i] for i in range(n)], reduced_space=reduced_space)
    m.g = pyo.Expression(cqas)
    for k in cqas:
        op, val = lims[k]
        y = getattr(m, f"s_{k}").outputs[0] + m.e[k]
        m.g[k] = val - y if op == ">=" else y - val
    m.obj = pyo.Objective(expr=0.0)  # constant objective for square solves
    return m
