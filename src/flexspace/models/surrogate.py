"""A process model whose CQAs are predictions of embedded ML surrogates.

:class:`SurrogateProcessModel` is a :class:`~flexspace.models.base.ProcessModel` (every
flexspace algorithm consumes it unchanged) that also declares what it was built from: the
embedded surrogates, the CQA limits, the problem class the embedding gives, the input
names and the values of the inputs that are not process parameters.

This module holds the data and the behaviour only; the builder that fits nothing but
embeds fitted estimators through OMLT and writes the Pyomo model is
:func:`flexspace.surrogates.omlt_process.surrogate_process_model` (``models`` sits below
``surrogates`` in the layering, so nothing here imports it).
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np

from ..errors import ValidationError
from .base import ProcessModel

__all__ = ["SurrogateProcessModel", "PROBLEM_CLASSES", "LIMIT_SENSES"]

#: Problem classes an embedding can give: ``"milp"`` (tree ensembles, ReLU networks:
#: binaries and linear constraints) or ``"nlp"`` (smooth networks).
PROBLEM_CLASSES = ("milp", "nlp")

#: Senses of a CQA limit: ``">="`` (lower limit L: ``g = L − ŷ``) or ``"<="`` (upper U: ``g = ŷ − U``).
LIMIT_SENSES = (">=", "<=")


class SurrogateProcessModel(ProcessModel):
    """A :class:`ProcessModel` of embedded surrogates, one per CQA.

    Parameters
    ----------
    model, theta_p, theta_m, constraints, covariance, **kwargs :
        as for :class:`ProcessModel` (the constraints are named by CQA).
    embedded : ``{cqa: embedded surrogate}`` (e.g.
        :class:`flexspace.surrogates.omlt_embed.EmbeddedSurrogate`: the fitted estimator as
        ``.estimator``, its ``.problem_class``), one per CQA constraint, same names.
    limits : ``{cqa: (sense, value)}``, ``sense`` in :data:`LIMIT_SENSES`, one per CQA
        constraint, same names.
    problem_class : ``"milp"`` or ``"nlp"`` (:data:`PROBLEM_CLASSES`): the class of the
        flexibility subproblems on this model (``"milp"`` when any surrogate is a tree
        ensemble or a ReLU network).
    feature_names : the surrogates' input names, in model input order.
    fixed_values : the value of every input (``len(feature_names)`` entries); the θp entries
        are θp's nominal values, the others are held fixed in the model.
    """

    #: ``{cqa: embedded surrogate}`` — the Pyomo blocks' sources (one per CQA).
    embedded: Dict[str, object]
    #: ``{cqa: (sense, value)}`` — the CQA limits; ``sense`` is ``">="`` or ``"<="``.
    limits: Dict[str, Tuple[str, float]]
    #: ``"milp"`` or ``"nlp"`` — the class of the subproblems (solver routing).
    problem_class: str
    #: Input names of the surrogates, in model input order.
    feature_names: List[str]
    #: Value of every input, shape ``(len(feature_names),)``; θp entries are θp's nominal.
    fixed_values: np.ndarray

    def __init__(self, model, theta_p, theta_m, constraints, covariance, *, embedded: Mapping[str, object],
                 limits: Mapping[str, Tuple[str, float]], problem_class: str, feature_names: Sequence[str],
                 fixed_values, **kwargs):
        if problem_class not in PROBLEM_CLASSES:
            raise ValidationError(f"problem_class must be one of {PROBLEM_CLASSES}, got {problem_class!r}")
        names = [str(f) for f in feature_names]
        x0 = np.asarray(fixed_values, dtype=float).ravel()
        if x0.shape != (len(names),):
            raise ValidationError(f"fixed_values must have {len(names)} entries (one per feature), got {x0.shape}")
        lims = {}
        for k, (sense, value) in dict(limits).items():
            if sense not in LIMIT_SENSES:
                raise ValidationError(f"limit on {k!r}: sense must be one of {LIMIT_SENSES}, got {sense!r}")
            lims[k] = (sense, float(value))
        super().__init__(model, theta_p, theta_m, constraints, covariance, **kwargs)
        for what, keys in (("embedded", list(embedded)), ("limits", list(lims))):
            if keys != self.g_names:
                raise ValidationError(f"{what} must name the CQA constraints {self.g_names} in order, got {keys}")
        self.embedded = dict(embedded)
        self.limits = lims
        self.problem_class = problem_class
        self.feature_names = names
        self.fixed_values = x0
