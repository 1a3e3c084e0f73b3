"""Plug-in process models: a user's Pyomo model plus which components are θp, θm and g.

A :class:`ProcessModel` is what every flexspace algorithm consumes.  It holds

* a private clone of the user's Pyomo model ``h(θp, x, θm) = 0`` (seed Eq. 2),
* which components are the process parameters θp and the uncertain parameters θm
  (mutable ``Param`` or ``Var``; scalar or indexed),
* which expressions are the CQA constraints ``g_k(θp, x, θm) ≤ 0`` (seed Eq. 3;
  feasible means ``g ≤ 0``): a named ``Expression``, a ``Constraint`` (``body ≤ ub``
  gives ``g = body − ub``, ``body ≥ lb`` gives ``g = lb − body``) or a callable
  ``f(m) -> expression``,
* the distribution of θm (nominal θ̄m and covariance Σ), θp nominal and bounds,
* optionally a vectorised numpy simulator for fast Monte Carlo.

The constructor checks, with IDAES's ``degrees_of_freedom``, that the model is square
once θp and θm are fixed, and refuses one that is not (with the counts).

:meth:`ProcessModel.instance` builds a fresh Pyomo model on which the formulations of
:mod:`flexspace.formulations` are written: θp and θm become plain ``Var`` objects
(``inst.theta_p``, ``inst.theta_m``), every equation of the user's model is rewritten
on them with named expressions substituted (so MAiNGO, which rejects named
``Expression`` components, can read it), and ``inst.g`` holds one expression per CQA.

The class delegates by concern: :mod:`.inputs` validates what the user passes,
:mod:`.checks` checks the model's structure (square, CQA states determined),
:mod:`.control_setup` sets up the controls z, :mod:`.rewrite` reads and rewrites the
Pyomo model into a :class:`~flexspace.models.instance.ModelInstance` (:mod:`.instance`,
with FBBT over ``h``), :mod:`.evaluation` evaluates g numerically, and
:mod:`.fingerprint` identifies the model across processes and runs.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np
import pyomo.environ as pyo
from pyomo.core.base.componentuid import ComponentUID

from ..validation import ValidationError, as_vector, validate_covariance
from . import bound_cqas, checks, evaluation, fingerprint as _fingerprint
from .checks import NotSquareError
from .control_setup import set_controls
from .inputs import (_add_unique, _check_distinct, _check_owned, _check_theta, _current_values, _expand,
                     _expand_cqas, _expected, _theta_p_bounds, check_analysis_fields, theta_p_display_units, units_text)
# re-exported: these lived here before the split, and other modules import them from here
from .instance import FBBT_FEASIBILITY_TOL, FBBT_PAD, ModelInstance, fbbt_h
from .rewrite import build_instance

__all__ = ["ProcessModel", "ModelInstance", "NotSquareError", "fbbt_h", "FBBT_PAD", "FBBT_FEASIBILITY_TOL",
           "units_text", "Simulator"]

Simulator = Callable[[np.ndarray, np.ndarray], np.ndarray]


class ProcessModel:
    """A user's Pyomo model made into a flexspace model.

    Parameters
    ----------
    model : a Pyomo ``ConcreteModel`` of ``h(θp, x, θm) = 0`` (square once θ fixed).
    theta_p : process parameters θp: components (mutable Params or Vars) as a list, a
        ``{name: component}`` dict, or an indexed component.
    theta_m : uncertain model parameters θm, same forms.
    constraints : CQA constraints ``g_k ≤ 0``: ``{name: Expression | Constraint | f(m)}``
        or a list of them.
    theta_m_nominal : θ̄m; default: the components' current values.
    covariance : Σ of θm (symmetric positive definite; refused otherwise).
    theta_p_nominal : θ̄p; default: the components' current values.
    theta_p_bounds : ``[(lo, hi), ...]`` range of θp for maps and bisection.
    simulator : optional vectorised ``f(theta_p (n_p,), theta_m (N, n_m)) -> g (N, K)``;
        a row of NaN marks a sample whose simulation failed.
    name, description : labels; ``sources``: where the defaults come from.
    check_square : run the IDAES degrees-of-freedom check (default True).
    delta_max : default cap on δ (σ units) for analyses of this model (default 6).
        Choose it so that set(δ_max) stays where the model is defined: e.g. case 2's
        k4 is 5.93 σ from zero, so its box at δ = 6 contains k4 ≤ 0 and the simulator
        cannot certify such points (case 2 ships 5.5).
    domain_everywhere : the model declares that h = 0 has a solution for *every* θ (e.g.
        an OMLT surrogate embedding, exact for every input inside its bounds).  Default
        False: global solvers then prove that each set lies in the model's domain
        (:mod:`flexspace.formulations.domain`); with True that proof is skipped and the
        result's ``domain`` says it was declared.
    grid_shape : default points per θp axis of a map over ``theta_p_bounds`` (default 11
        per axis).
    factory : a picklable zero-argument callable that rebuilds this model (e.g.
        ``functools.partial(my_module.make_model, ...)``); worker processes use it when the
        model itself does not pickle.  The shipped cases set it.
    controls : control variables z (recourse), keyword only: Vars of the model with finite
        numeric bounds, same forms as ``theta_p``.  Operators set them once θ is known: a
        θ is feasible when some z in its bounds makes every g ≤ 0.  The model must be square
        once θp, θm *and* z are fixed.  Analysed by
        :class:`flexspace.formulations.recourse.RecourseAnalysis`.
    controls_linear : optional ``f(theta_p (n_p,), theta_m (N, n_m)) -> (a (N, K), B (N, K, n_z))``
        with ``g = a + B z`` (a model linear in z): Monte Carlo with recourse is then
        vectorised (closed form for one control, one LP per sample otherwise).
    theta_p_units : keyword only, display units of θp whose Pyomo components state none,
        ``{name: text}`` (e.g. ``{"tau": "s"}``): axis labels (``"tau [s]"``) and printed
        results carry them.  Labels only: nothing is converted and the fingerprint ignores
        them.  Pyomo units (``units=`` on the component) are used wherever stated; an entry
        that contradicts them is refused.  Read back as ``model.theta_p_units`` (one text per
        θp, "" for none).
    """

    def __init__(
        self,
        model: pyo.Block,
        theta_p,
        theta_m,
        constraints,
        covariance,
        theta_m_nominal=None,
        theta_p_nominal=None,
        theta_p_bounds=None,
        simulator: Optional[Simulator] = None,
        name: str = "model",
        description: str = "",
        sources: str = "",
        check_square: bool = True,
        delta_max: float = 6.0,
        domain_everywhere: bool = False,
        *,
        grid_shape: Optional[Sequence[int]] = None,
        factory: Optional[Callable[[], "ProcessModel"]] = None,
        controls=None, controls_linear=None,
        bounds_as_cqas=False, bound_cqa_margin: float = bound_cqas.BOUND_CQA_MARGIN,
        theta_p_units: Optional[Mapping[str, str]] = None,
    ):
        if not isinstance(model, pyo.Block):
            raise ValidationError(f"model must be a Pyomo ConcreteModel (or Block) of the process, got "
                                  f"{type(model).__name__}")
        tp = _expand(theta_p, "theta_p")
        tm = _expand(theta_m, "theta_m")
        for nm, c in list(tp.items()) + list(tm.items()):
            _check_theta(nm, c)
        _check_distinct(tp, tm)
        gs = _expand(constraints, "constraints", prefix="g")
        for what, comps in (("theta_m", tm), ("constraints", gs)):
            if not comps and not (what == "constraints" and bounds_as_cqas):
                raise ValidationError(f"{what} is empty: give at least one ({_expected(what)})")
            _check_owned(model, comps, what)
        theta_ids = {id(c) for c in list(tp.values()) + list(tm.values())}
        gs = _expand_cqas(model, gs, theta_ids)
        self.name = name
        self.description = description
        self.sources = sources
        self.theta_p_names = list(tp)
        self.theta_m_names = list(tm)
        #: units of each θp / θm as Pyomo states them ("" for none): θ and Σ are in these units
        self.theta_p_units = theta_p_display_units(theta_p_units, tp)
        self.theta_m_units = [units_text(c) for c in tm.values()]
        self.bound_cqa_margin = bound_cqas.check_margin(bound_cqa_margin)
        self._bound_cqas = bound_cqas.collect(model, bounds_as_cqas, theta_ids)
        for b in self._bound_cqas:
            _add_unique(gs, b.name, b, "constraints")
        if not gs:
            raise ValidationError(f"constraints is empty and bounds_as_cqas found no bounds: give at least one CQA "
                                  f"({_expected('constraints')})")
        self.g_names = list(gs)
        self._template = model.clone()
        cuid = lambda c: ComponentUID(c)  # noqa: E731
        self._tp_uid = [cuid(c) for c in tp.values()]
        self._tm_uid = [cuid(c) for c in tm.values()]
        self._g_spec = list(gs.values())
        cur = _current_values
        self.theta_m_nominal = as_vector("theta_m_nominal",
                                         cur(tm, "theta_m") if theta_m_nominal is None else theta_m_nominal, len(tm))
        self.covariance = validate_covariance(covariance, len(tm))
        self.theta_p_nominal = as_vector("theta_p_nominal",
                                         cur(tp, "theta_p") if theta_p_nominal is None else theta_p_nominal, len(tp))
        self.theta_p_bounds = _theta_p_bounds(theta_p_bounds, self.theta_p_names, self.theta_p_nominal)
        self.delta_max, self.domain_everywhere, self.grid_shape, self.factory = check_analysis_fields(
            delta_max, domain_everywhere, simulator, grid_shape, factory, len(tp))
        self.simulator = simulator
        set_controls(self, model, controls, controls_linear, tp, tm)
        if check_square:
            self.check_square()
        checks.check_cqas_depend(self)  # warns at stacklevel 3: called from here, directly

    # ------------------------------------------------------------------ sizes
    @property
    def n_p(self) -> int:
        return len(self.theta_p_names)

    @property
    def n_m(self) -> int:
        return len(self.theta_m_names)

    @property
    def n_g(self) -> int:
        return len(self.g_names)

    @property
    def bound_cqa_names(self) -> List[str]:
        """The CQAs made of variable bounds (``bounds_as_cqas``), ``"<var>.lb"`` / ``"<var>.ub"``,
        in ``g_names`` order: every result's per-CQA rows carry these names."""
        return [b.name for b in self._bound_cqas]

    @property
    def n_z(self) -> int:
        """Number of control variables (0: no recourse)."""
        return len(self.control_names)

    def recourse_feasibility(self, theta_p, theta_m, solver="ipopt"):
        """Per row of ``theta_m``: (feasible, failed, how) — feasible when some z within its
        bounds makes every g ≤ 0 (:func:`flexspace.models.controls.recourse_feasibility`)."""
        from .controls import recourse_feasibility

        return recourse_feasibility(self, theta_p, theta_m, solver)

    def __repr__(self) -> str:
        return (f"ProcessModel({self.name!r}, theta_p={self.theta_p_names}, theta_m={self.theta_m_names}, "
                f"g={self.g_names}, simulator={'yes' if self.simulator else 'no'})")

    @classmethod
    def from_parmest(cls, model: "ProcessModel", data, outputs, measurement_std=None, **kwargs) -> "ProcessModel":
        """``model`` with θ̄m and Σ estimated from an experiment table by Pyomo's parmest: see
        :func:`flexspace.models.estimation.process_model_from_parmest` for the arguments."""
        from .estimation import process_model_from_parmest

        return process_model_from_parmest(model, data, outputs, measurement_std, **kwargs)

    # ------------------------------------------------------------------ checks
    def check_square(self) -> None:
        """Refuse a model that is not square once θp and θm are fixed (IDAES check); with
        controls, once θp, θm *and* the n_z controls z are fixed (so the model has n_z degrees
        of freedom, the controls, when θ is fixed); a variable of a CQA that no equation
        determines is refused too (:func:`flexspace.models.checks.check_square`)."""
        checks.check_square(self)

    # ------------------------------------------------------------------ instances
    def instance(self) -> ModelInstance:
        """A fresh Pyomo model with θ as plain Vars and every equation rewritten on them,
        symbolically (:func:`flexspace.models.rewrite.build_instance` says where θ is found)."""
        return build_instance(self)

    # ------------------------------------------------------------------ identity
    def fingerprint(self) -> str:
        """A hex digest of everything that determines this model's answers, the same in every
        process and run: :meth:`fingerprint_parts` hashed together.  Checkpoints store it, so a
        map is never resumed into rows computed for another model."""
        return _fingerprint.fingerprint(self)

    def fingerprint_parts(self) -> Dict[str, str]:
        """The fingerprint by part, so that a refusal can say what changed: ``equations``
        (every equation of a fresh :meth:`instance` as text, non-θ parameters by value, and
        the variables' bounds and domains), ``cqas`` (names and expressions), ``theta``
        (names, nominal values, θp bounds), ``covariance``, ``analysis`` (``delta_max``,
        ``domain_everywhere``), ``simulator`` (module, qualified name and a hash of its source,
        of the module-level functions and constants it uses, its defaults and closure),
        ``controls`` with controls — each a hex digest — and ``flexspace`` (the version):
        :func:`flexspace.models.fingerprint.fingerprint_parts`."""
        return _fingerprint.fingerprint_parts(self)

    # ------------------------------------------------------------------ simulation
    def simulate(self, theta_p, theta_m) -> np.ndarray:
        """g (N, K) at one θp for each row of θm (N, n_m), via the vectorised simulator."""
        return evaluation.simulate(self, theta_p, theta_m)

    def evaluate_pyomo(self, theta_p, theta_m, solver="ipopt", instance: Optional[ModelInstance] = None,
                       batch_size: int = 50) -> np.ndarray:
        """g (N, K) by square Pyomo solves, in batches; NaN rows where no solution was found
        (counted infeasible by every caller): :func:`flexspace.models.evaluation.evaluate_pyomo`."""
        return evaluation.evaluate_pyomo(self, theta_p, theta_m, solver, instance, batch_size)

    def diagnose(self, theta_p, theta_m, solver="ipopt") -> str:
        """Structural and numerical warnings from IDAES's DiagnosticsToolbox at (θp, θm)."""
        return evaluation.diagnose(self, theta_p, theta_m, solver)
