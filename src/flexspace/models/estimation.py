"""θm and Σ from data: estimate a model's uncertain parameters with Pyomo's ``parmest``.

A :class:`~flexspace.models.base.ProcessModel` says which components are θp and θm; an
experiment table says, per row, at which θp an experiment ran and what it measured.
:func:`estimate_theta_m` turns each row into a labelled parmest experiment (θp fixed to the
row, θm the unknown parameters, the measured columns the experiment outputs), fits θm by
least squares (``parmest.Estimator(..., obj_function="SSE_weighted").theta_est()``) and takes
the covariance of the estimate from parmest's ``cov_est`` (default ``finite_difference``:
``Σ̂ = (Jᵀ W J)⁻¹``, J the sensitivities of the outputs to θm, W = diag(1/σ²) — Bard,
*Nonlinear Parameter Estimation*, 1974, eq. 7-5-15, as cited in parmest's source).
:func:`process_model_from_parmest` returns the same process model with θ̄m = θ̂m and Σ = Σ̂,
ready for every design-space algorithm.

Measurement noise:

* ``measurement_std`` given (one σ, or one per output column): weighted least squares; Σ̂
  uses those σ, and the result reports χ² and its degrees of freedom as a check of them.
* ``measurement_std=None``: one common σ for every output (use it only for outputs of a
  similar scale), estimated as ``σ̂² = SSE / (N_obs − n_θm)`` with N_obs = rows × outputs.
  (parmest's own estimate divides by the number of *experiments* minus n_θm, which
  overstates σ² when an experiment measures more than one output; we count observations.)

Solver: parmest solves its fit with ``SolverFactory("ipopt")`` (hard-coded in Pyomo 6.10).
Where no ``ipopt`` executable exists but PyNumero's ``cyipopt`` works (the set-up flexspace
provisions), the name ``"ipopt"`` is routed to cyipopt *for the duration of the call only*
and restored afterwards (not thread-safe while it runs; nothing changes at import).
A fit that does not terminate optimally, a non-finite θ̂ or a covariance that is not
symmetric positive definite (θm not identifiable from the data) raises
:class:`EstimationError`; nothing unproven is returned as an estimate.
"""
from __future__ import annotations

import contextlib
import copy
import functools
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional

import numpy as np
import pyomo.environ as pyo

from ..errors import FlexspaceError, SolverUnavailableError
from ..validation import ValidationError, as_array, as_vector, check_number, validate_covariance

__all__ = ["ParameterEstimate", "EstimationError", "estimate_theta_m", "process_model_from_parmest",
           "with_theta_m"]

#: Ipopt options for the fits: quiet, and Ipopt's own default iteration cap raised from 3000
#: only by being stated (Ipopt documentation, option ``max_iter``, default 3000).
IPOPT_OPTIONS = {"print_level": 0, "max_iter": 3000}


class EstimationError(FlexspaceError, RuntimeError):
    """parmest did not deliver a usable estimate (the fit failed, or θm is not identifiable
    from the data: its covariance is singular)."""


@dataclass
class ParameterEstimate:
    """θ̂m and its covariance Σ̂ from parmest, with what they were computed from.

    ``chi2`` is the weighted sum of squares Σ((y − ŷ)/σ)² at θ̂ and ``dof`` = N_obs − n_θm;
    with given σ, ``chi2 / dof`` near 1 says the stated noise fits the residuals.  With
    estimated σ it is 1 by construction (``sigma_estimated`` True)."""

    theta_m_names: List[str]
    theta_m: np.ndarray
    covariance: np.ndarray
    measurement_std: Dict[str, float]
    sigma_estimated: bool
    chi2: float
    n_experiments: int
    n_observations: int
    method: str

    @property
    def dof(self) -> int:
        return self.n_observations - len(self.theta_m_names)

    @property
    def standard_errors(self) -> np.ndarray:
        return np.sqrt(np.diag(self.covariance))

    @property
    def correlation(self) -> np.ndarray:
        se = self.standard_errors
        return self.covariance / np.outer(se, se)

    def to_dict(self) -> dict:
        return {"theta_m_names": list(self.theta_m_names), "theta_m": self.theta_m.tolist(),
                "covariance": self.covariance.tolist(), "standard_errors": self.standard_errors.tolist(),
                "measurement_std": dict(self.measurement_std), "sigma_estimated": self.sigma_estimated,
                "chi2": self.chi2, "dof": self.dof, "n_experiments": self.n_experiments,
                "n_observations": self.n_observations, "method": self.method}

    def __str__(self) -> str:
        rows = [f"  {n} = {t:.6g} ± {s:.3g}" for n, t, s in zip(self.theta_m_names, self.theta_m,
                                                                 self.standard_errors)]
        sig = ", ".join(f"{k}={v:.3g}" for k, v in self.measurement_std.items())
        return "\n".join([f"parmest estimate ({self.method}) from {self.n_experiments} experiments, "
                          f"{self.n_observations} observations; sigma {'estimated' if self.sigma_estimated else 'given'}"
                          f" ({sig}); chi2 = {self.chi2:.4g} on {self.dof} dof"] + rows)


# --------------------------------------------------------------------------- validation
#: what this module reads of a ProcessModel (checked by duck typing: models/base.py imports this module)
_MODEL_FIELDS = ("theta_p_names", "theta_m_names", "theta_m_nominal", "n_m", "_template", "_tp_uid", "_tm_uid",
                 "_g_spec")


def _check_model(model) -> None:
    if not all(hasattr(model, f) for f in _MODEL_FIELDS):
        raise ValidationError(f"model must be a flexspace ProcessModel (e.g. flexspace.models.cases.case1.model()), "
                              f"got {type(model).__name__}")


def _check_outputs(outputs) -> Dict[str, str]:
    """``outputs`` as {column: component name}."""
    if isinstance(outputs, str):
        outputs = [outputs]
    if isinstance(outputs, Mapping):
        out = dict(outputs)
    elif isinstance(outputs, (list, tuple)):
        dup = sorted({c for c in outputs if list(outputs).count(c) > 1}, key=str)
        if dup:
            raise ValidationError(f"outputs names the column(s) {dup} more than once: each measurement would count "
                                  "twice; give each output column once")
        out = {c: c for c in outputs}
    else:
        raise ValidationError(f"outputs must be a column name, a list of them or a {{column: component name}} dict, "
                              f"got {outputs!r}")
    if not out or not all(isinstance(k, str) and isinstance(v, str) for k, v in out.items()):
        raise ValidationError(f"outputs must name at least one measured column, each mapped to the name of a Var or "
                              f"Expression of the model (e.g. ['cA', 'cD']), got {outputs!r}")
    return out


def _check_table(model, data, outputs: Dict[str, str]) -> None:
    import pandas as pd

    if not isinstance(data, pd.DataFrame):
        raise ValidationError(f"data must be a pandas.DataFrame with one row per experiment (columns: the theta_p "
                              f"{model.theta_p_names} and the measured outputs), got {type(data).__name__}")
    need = _settings(model) + list(outputs)
    missing = [c for c in need if c not in data.columns]
    if missing:
        raise ValidationError(f"data lacks the columns {missing}; it needs the theta_p (and control) columns "
                              f"{_settings(model)} and the output columns {list(outputs)} (got {list(data.columns)}). "
                              "Rename the columns or pass outputs={column: component name}")
    for c in need:
        col = as_array(f"data[{c!r}]", data[c].to_numpy())
        bad = np.flatnonzero(~np.isfinite(col))
        if bad.size:
            raise ValidationError(f"data[{c!r}] has NaN or inf in rows {data.index[bad].tolist()[:10]}; drop or "
                                  "repair those experiments")
    _check_in_bounds(model, data)
    n_rows, n_m = len(data), model.n_m
    if n_rows <= n_m:
        raise ValidationError(f"data has {n_rows} experiments for {n_m} parameters theta_m {model.theta_m_names}; "
                              f"parmest's covariance needs more experiments than parameters (at least {n_m + 1})")


def _check_in_bounds(model, data) -> None:
    """Experiments must lie in the model's θp box (``theta_p_bounds``): a value outside it is
    a unit or sign error (τ → −τ fitted negative rate constants), or the model does not claim
    to hold there."""
    if model.theta_p_bounds is None:
        return
    for n, (lo, hi) in zip(model.theta_p_names, np.asarray(model.theta_p_bounds, float)):
        col = data[n].to_numpy(float)
        bad = np.flatnonzero((col < lo) | (col > hi))
        if bad.size:
            raise ValidationError(f"data[{n!r}] is outside the model's theta_p_bounds [{lo:g}, {hi:g}] in rows "
                                  f"{data.index[bad].tolist()[:10]} (e.g. {col[bad[0]]:g}); check the units and the "
                                  "sign, or widen theta_p_bounds if the model holds there")


def _settings(model) -> List[str]:
    """The columns that set an experiment: θp, and the controls z of a model with recourse
    (the values the operator used in that experiment)."""
    return list(model.theta_p_names) + list(getattr(model, "control_names", []))


def _check_std(measurement_std, outputs: Dict[str, str]) -> Optional[Dict[str, float]]:
    if measurement_std is None:
        return None
    if isinstance(measurement_std, Mapping):
        missing = [c for c in outputs if c not in measurement_std]
        if missing:
            raise ValidationError(f"measurement_std has no entry for the outputs {missing}; give one standard "
                                  "deviation per output column, or one number for all")
        return {c: check_number(f"measurement_std[{c!r}]", measurement_std[c], low=0, low_open=True,
                                hint="the measurement's standard deviation, in the output's units")
                for c in outputs}
    s = check_number("measurement_std", measurement_std, low=0, low_open=True,
                     hint="one standard deviation for every output, a {column: sigma} dict, or None to estimate it")
    return {c: s for c in outputs}


# --------------------------------------------------------------------------- experiments
class _TableExperiment:
    """One row of the table as a parmest experiment (``get_labeled_model``)."""

    def __init__(self, model, theta_p, measured: Dict[str, float], outputs: Dict[str, str],
                 sigma: Dict[str, float], theta_init):
        self.spec = (model, np.asarray(theta_p, float), measured, outputs, sigma, np.asarray(theta_init, float))
        self.model = None

    def get_labeled_model(self):
        if self.model is None:
            self.model = _labeled_model(*self.spec)
        return self.model


def _output_var(m, i: int, column: str, name: str):
    """The model's output ``name`` as a Var (an Expression gets an auxiliary Var y = expr)."""
    c = m.find_component(name)
    if c is None:
        raise ValidationError(f"outputs: column {column!r} names {name!r}, which is not a component of the model; "
                              "map the column to a Var or Expression of the model (outputs={column: name})")
    if getattr(c, "is_indexed", lambda: False)():
        raise ValidationError(f"outputs: {name!r} is indexed; name one element, e.g. '{name}[1]'")
    if getattr(c, "ctype", None) is pyo.Var:
        return c
    if getattr(c, "ctype", None) is not pyo.Expression:
        raise ValidationError(f"outputs: {name!r} is a {type(c).__name__}; a measured output must be a Var or an "
                              "Expression of the model")
    y = pyo.Var(initialize=pyo.value(c, exception=False) or 0.0)
    m.add_component(f"_flexspace_output_{i}", y)
    m.add_component(f"_flexspace_output_{i}_def", pyo.Constraint(expr=y == c))
    return y


def _labeled_model(model, theta_p, measured, outputs, sigma, theta_init):
    """The user's model at this row's θp (and controls), CQA constraints and objectives off, θm as fixed
    Vars (parmest unfixes them), outputs/measurement errors/unknowns as parmest's suffixes."""
    from pyomo.contrib.parmest.utils import convert_params_to_vars

    m = model._template.clone()
    for uid, x in zip(list(model._tp_uid) + list(getattr(model, "_z_uid", [])), theta_p):
        c = uid.find_component_on(m)
        c.fix(float(x)) if getattr(c, "ctype", None) is pyo.Var else c.set_value(float(x))
    for spec in model._g_spec:
        if isinstance(spec, tuple):  # a CQA written as a Constraint: not part of h = 0
            spec[0].find_component_on(m).deactivate()
    for o in m.component_data_objects(pyo.Objective, active=True):
        o.deactivate()
    ys = [_output_var(m, i, col, name) for i, (col, name) in enumerate(outputs.items())]
    y_names = [y.name for y in ys]
    tm_names = [uid.find_component_on(m).name for uid in model._tm_uid]
    params = [uid.find_component_on(m) for uid in model._tm_uid]
    parents = list(dict.fromkeys(p.parent_component().name for p in params if getattr(p, "ctype", None) is pyo.Param))
    if parents:
        m = convert_params_to_vars(m, parents, fix_vars=True)
    m.experiment_outputs = pyo.Suffix(direction=pyo.Suffix.LOCAL)
    m.measurement_error = pyo.Suffix(direction=pyo.Suffix.LOCAL)
    m.unknown_parameters = pyo.Suffix(direction=pyo.Suffix.LOCAL)
    for col, name in zip(outputs, y_names):
        y = m.find_component(name)
        m.experiment_outputs[y] = float(measured[col])
        m.measurement_error[y] = float(sigma[col])
    for name, x in zip(tm_names, theta_init):
        v = m.find_component(name)
        v.fix(float(x))
        m.unknown_parameters[v] = pyo.ComponentUID(v)
    return m


# --------------------------------------------------------------------------- solver routing
def _cyipopt_class():
    from pyomo.contrib.pynumero.algorithms.solvers.cyipopt_solver import PyomoCyIpoptSolver

    class _CyIpoptForParmest(PyomoCyIpoptSolver):
        """cyipopt under the name parmest asks for, with the ``options`` dict parmest writes."""

        def __init__(self, **kwds):
            super().__init__(**{k: v for k, v in kwds.items() if k not in ("solver", "executable", "solver_io")})
            self.options = {}

        def solve(self, model, **kwds):
            opts = {**self.options, **kwds.pop("options", {})}
            return super().solve(model, options=opts, **kwds)

    return _CyIpoptForParmest


@contextlib.contextmanager
def _ipopt_for_parmest():
    """parmest calls ``SolverFactory("ipopt")``: route that name to cyipopt while the block
    runs when no ipopt executable exists, and restore the factory afterwards."""
    from pyomo.opt import SolverFactory

    if SolverFactory("ipopt").available(exception_flag=False):
        yield
        return
    if not SolverFactory("cyipopt").available(exception_flag=False):
        raise SolverUnavailableError("parmest needs Ipopt: neither an ipopt executable nor cyipopt (PyNumero) works "
                                     'here; install cyipopt with pip install "flexspace[solvers]", and build '
                                     "PyNumero's ASL library from a source checkout (`make setup`, or `bash "
                                     "scripts/build_pynumero_asl.sh <python>`); `flexspace solvers` says what is "
                                     "missing")
    old = SolverFactory._cls.get("ipopt")
    SolverFactory._cls["ipopt"] = _cyipopt_class()
    try:
        yield
    finally:
        if old is None:
            SolverFactory._cls.pop("ipopt", None)
        else:
            SolverFactory._cls["ipopt"] = old


# --------------------------------------------------------------------------- estimation
def _fit(model, data, outputs, sigma, theta_init, step, time_limit):
    """One parmest fit and covariance: (θ̂, Σ̂, χ²) with the σ given in ``sigma``."""
    from pyomo.contrib.parmest import parmest

    tp = data[_settings(model)].to_numpy(float)
    meas = data[list(outputs)].to_dict("records")
    exps = [_TableExperiment(model, tp[i], meas[i], outputs, sigma, theta_init) for i in range(len(data))]
    opts = {**IPOPT_OPTIONS, "max_wall_time": float(time_limit)}
    names = list(exps[0].get_labeled_model().unknown_parameters.values())
    with _ipopt_for_parmest():
        try:
            est = parmest.Estimator(exps, obj_function="SSE_weighted", solver_options=opts)
            obj, theta = est.theta_est()
            cov = est.cov_est(method="finite_difference", solver="ipopt", step=float(step))
        except (RuntimeError, ValueError, AssertionError, ZeroDivisionError, KeyError) as exc:
            raise EstimationError(f"parmest's fit did not finish with an optimal solution ({type(exc).__name__}: "
                                  f"{exc}). Check the starting point theta_m_initial, the units of the outputs, "
                                  "that every experiment is solvable, and that no theta_m is 0 at the estimate "
                                  "(the finite-difference step is relative)") from None
    keys = [str(u) for u in names]
    theta_hat = np.array([float(theta[k]) for k in keys])
    cov = np.asarray(cov.loc[keys, keys], float)
    # parmest's objective: mean over experiments of ½ Σ ((y − ŷ)/σ)²
    return theta_hat, cov, 2.0 * float(obj) * len(exps)


def estimate_theta_m(model, data, outputs, measurement_std=None, *, theta_m_initial=None, step: float = 1e-3,
                     time_limit: float = 60.0) -> ParameterEstimate:
    """θ̂m and Σ̂ of ``model``'s uncertain parameters from an experiment table, by parmest.

    ``data``: a ``pandas.DataFrame``, one row per experiment, with a column per θp (named as
    ``model.theta_p_names``; for a model with controls also one per control, the value used)
    and one per measured output.  ``outputs``: the output columns —
    a list of names that are also Vars/Expressions of the model, or ``{column: component
    name}``.  ``measurement_std``: σ of the measurements (one number or ``{column: σ}``);
    None estimates one common σ (module docstring).  ``theta_m_initial``: starting point of
    the fit (default: the model's θ̄m); every θm must be non-zero at the estimate (parmest's
    finite-difference step is relative).  Σ̂ by parmest's ``finite_difference`` method (its
    default; ``reduced_hessian`` fails under cyipopt here: an Ipopt option it sets is refused);
    ``step``: its relative perturbation (parmest's default 1e-3).  ``time_limit``: Ipopt's
    ``max_wall_time`` per solve (s; default 60, an assumed budget — a case-1 fit of 9
    experiments takes ~1 s here).
    Raises :class:`EstimationError` when the fit fails or θm is not identifiable."""
    _check_model(model)
    out = _check_outputs(outputs)
    _check_table(model, data, out)
    std = _check_std(measurement_std, out)
    step = check_number("step", step, low=0, high=0.5, low_open=True, hint="a relative perturbation, e.g. 1e-3")
    time_limit = check_number("time_limit", time_limit, low=0, low_open=True, hint="seconds, e.g. 60")
    init = as_vector("theta_m_initial", model.theta_m_nominal if theta_m_initial is None else theta_m_initial,
                     model.n_m)
    y = data[list(out)].to_numpy(float)
    # Ipopt sees σ scaled so that the objective is O(N_obs) whatever the units: a common factor
    # of every σ leaves θ̂ unchanged in exact arithmetic, and now also in Ipopt's (its
    # tolerances are absolute, so σ = 1e6 stopped it at the start).  k: σ_fit = k·σ.
    ref = 1e-2 * max(float(np.sqrt(np.mean(y ** 2))), 1e-12)
    k = 1.0 if std is None else ref / float(np.exp(np.mean(np.log(list(std.values())))))
    sigma = {c: ref for c in out} if std is None else {c: k * v for c, v in std.items()}
    _labeled_model(model, data[_settings(model)].to_numpy(float)[0], data[list(out)].iloc[0].to_dict(),
                   out, sigma, init)  # refuses bad output names before any solve
    theta, cov, chi2 = _fit(model, data, out, sigma, init, step, time_limit)
    if np.all(np.isfinite(cov)):  # structural: judged at σ = 1 % of the outputs, whatever σ was given
        _check_identifiable(model, theta, cov, init)
    cov, chi2 = cov / k ** 2, chi2 * k ** 2  # back to the σ given: Σ̂ ∝ σ², χ² ∝ 1/σ²
    n_obs = y.size
    if std is not None:
        sigma = dict(std)
    else:
        s2 = chi2 * next(iter(sigma.values())) ** 2 / (n_obs - model.n_m)  # σ̂² = SSE / (N_obs − n_θm)
        cov = cov * s2 / next(iter(sigma.values())) ** 2
        sigma, chi2 = {c: float(np.sqrt(s2)) for c in out}, float(n_obs - model.n_m)
    return _checked_estimate(model, theta, cov, sigma, std is None, chi2, len(data), n_obs, "finite_difference")


def _checked_estimate(model, theta, cov, sigma, estimated, chi2, n_rows, n_obs, method) -> ParameterEstimate:
    if not np.all(np.isfinite(theta)) or not np.all(np.isfinite(cov)):
        raise EstimationError(f"parmest returned a non-finite estimate (theta {theta.tolist()}, covariance "
                              f"{cov.tolist()})")
    try:
        cov = validate_covariance(0.5 * (cov + cov.T), model.n_m, name="estimated covariance")
    except ValidationError as exc:
        raise EstimationError(f"theta_m {model.theta_m_names} is not identifiable from these data: {exc}. Add "
                              "experiments at other theta_p, or measure outputs that depend on every theta_m") from None
    return ParameterEstimate(list(model.theta_m_names), theta, cov, dict(sigma), bool(estimated), float(chi2),
                             int(n_rows), int(n_obs), f"parmest SSE_weighted, {method} covariance")


#: a θm whose standard error, at measurement errors of 1 % of the outputs, exceeds this multiple
#: of |θ̂| is not identifiable from the data (an assumed threshold; identifiable fits have ratios ≪ 1)
MAX_RELATIVE_STD = 1e3


def _check_identifiable(model, theta, cov, init) -> None:
    """Refuse a θm the data do not determine: with measurement errors of 1 % of the outputs'
    magnitude (``cov`` of the normalised fit), its standard error is over MAX_RELATIVE_STD
    times its scale max(|θ̂|, |θ_initial|) (e.g. k2 = 0.00226 ± 3.65e8 with only cA measured).
    Judged on the normalised fit, so it does not depend on the units or a common σ."""
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    ratio = se / np.maximum(np.maximum(np.abs(theta), np.abs(np.asarray(init, float))), 1e-300)
    bad = [(n, t, e) for n, t, e, r in zip(model.theta_m_names, theta, se, ratio) if r > MAX_RELATIVE_STD]
    if bad:
        desc = ", ".join(f"{n} = {t:.4g} ± {e:.3g}" for n, t, e in bad)
        raise EstimationError(f"theta_m {[b[0] for b in bad]} is not identifiable from these data ({desc}: the "
                              f"standard error, at measurement errors of 1 % of the outputs, is over {MAX_RELATIVE_STD:g} times the "
                              "value). Measure an output that "
                              "depends on it, or add experiments at other theta_p")


# --------------------------------------------------------------------------- models
def with_theta_m(model, theta_m, covariance, sources: str = ""):
    """A copy of ``model`` whose θm distribution is N(``theta_m``, ``covariance``) (checked:
    finite, symmetric positive definite); ``sources`` is appended to the model's sources.
    The copy's factory (for worker processes) rebuilds the original and applies the same."""
    _check_model(model)
    theta_m = as_vector("theta_m", theta_m, model.n_m)
    cov = validate_covariance(covariance, model.n_m)
    new = copy.copy(model)
    new.theta_m_nominal = theta_m
    new.covariance = cov
    new.sources = f"{model.sources}; {sources}" if model.sources and sources else (sources or model.sources)
    new.factory = None if model.factory is None else functools.partial(
        _rebuild_with_theta_m, model.factory, theta_m.tolist(), cov.tolist(), new.sources)
    return new


def _rebuild_with_theta_m(factory, theta_m, covariance, sources):
    new = with_theta_m(factory(), theta_m, covariance)
    new.sources = sources
    return new


def process_model_from_parmest(model, data, outputs, measurement_std=None, **kwargs):
    """``model`` with θ̄m = θ̂m and Σ = Σ̂ estimated from ``data`` by
    :func:`estimate_theta_m` (same arguments; ``kwargs`` go there).  The estimate is kept
    on the returned model as ``parameter_estimate`` and named in its ``sources``."""
    est = estimate_theta_m(model, data, outputs, measurement_std, **kwargs)
    new = with_theta_m(model, est.theta_m, est.covariance,
                       sources=f"theta_m and covariance estimated by parmest from {est.n_experiments} experiments "
                               f"({est.method})")
    new.parameter_estimate = est
    return new

