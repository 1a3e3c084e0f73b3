"""Decision rules: a safe route for recourse on models too large for the exact route.

Restricting the recourse to a rule z = r(θ) can only raise the feasibility function,
ψ_r(θ) = max_k g_k(θ, r(θ)) ≥ ψ(θ) = min_z max_k g_k(θ, z) — as long as r(θ) stays within
the controls' bounds.  So (Ben-Tal et al. 2004 for affine decision rules; the peer's
linear and ReLU rules in IDAES PR #1398):

* a flexibility test of the model with z = r(θ) that is *proven* feasible (χ_r ≤ 0, every
  control inside its bounds on the whole set) proves the design feasible: χ ≤ χ_r;
* a proven lower bound of that model's index is a proven lower bound of the index: δ ≥ δ_r.

The rule's model is the user's model with one more equation per control, ``z = r(θ)``: z
becomes a state whose bounds are domain edges, so :class:`FlexibilityAnalysis` proves (with a
global solver) that the rule stays inside them, with everything else it proves (states,
domain).  Results are a ``bound`` (never ``ok``: a rule is a restriction), labelled with the
rule.  With a local solver the rule's answer is certified by sampling like any local answer.

Rules, fitted by least squares to the optimal controls of the inner problem at samples of the
set (our choice; any fit keeps the bound valid, a better fit only tightens it):

* :class:`LinearRule` ``z = z0 + K (θ − θ̄)``;
* :class:`ReluRule` ``z = z0 + K (θ − θ̄) + W relu(A (θ − θ̄) + b)``: a one-hidden-layer ReLU
  network with a linear skip (so it fits at least as well as the linear rule on the samples).
  Its hidden layer is fixed before the fit (hinges through sample points, in directions drawn
  with ``random_state``; our choice: the fit is then one least-squares problem, deterministic),
  and relu(a) is written ``(a + |a|)/2`` in the rule's equations — the same piecewise-linear
  function an OMLT ReLU block encodes, without its binaries, so the rule's model stays a
  continuous model for :class:`FlexibilityAnalysis` (global solvers branch on |·|).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pyomo.environ as pyo

from ..errors import ValidationError
from ..models.controls import InnerProblem
from .results import ResultStatus

__all__ = ["LinearRule", "ReluRule", "fit_linear_rule", "fit_relu_rule", "rule_model", "decision_rule_test", "decision_rule_index"]


@dataclass
class LinearRule:
    """``z = z0 + K (θm − θ̄m)`` (θp fixed at the analysed point)."""

    z0: np.ndarray  #: (n_z,)
    K: np.ndarray  #: (n_z, n_m)
    theta_nominal: np.ndarray  #: θ̄m the rule is centred on

    def __call__(self, theta_m) -> np.ndarray:
        return self.z0 + (np.atleast_2d(theta_m) - self.theta_nominal) @ self.K.T

    def describe(self) -> str:
        return f"linear rule z = z0 + K (theta_m - nominal), z0 = {self.z0.tolist()}, K = {self.K.tolist()}"

    def expression(self, j: int, theta):
        """z_j = r_j(θ) as a Pyomo expression of the θm components ``theta``."""
        d = [theta[i] - float(self.theta_nominal[i]) for i in range(len(theta))]
        return float(self.z0[j]) + sum(float(self.K[j, i]) * d[i] for i in range(len(d)))


@dataclass
class ReluRule(LinearRule):
    """``z = z0 + K (θm − θ̄m) + W relu(A (θm − θ̄m) + b)`` (module docstring)."""

    A: np.ndarray = None  #: (H, n_m) hidden directions
    b: np.ndarray = None  #: (H,) hidden offsets
    W: np.ndarray = None  #: (n_z, H) output weights

    def __call__(self, theta_m) -> np.ndarray:
        d = np.atleast_2d(theta_m) - self.theta_nominal
        return self.z0 + d @ self.K.T + np.maximum(d @ self.A.T + self.b, 0.0) @ self.W.T

    def describe(self) -> str:
        return (f"ReLU rule z = z0 + K d + W relu(A d + b), d = theta_m - nominal, {len(self.b)} hidden units, "
                f"z0 = {self.z0.tolist()}, K = {self.K.tolist()}")

    def expression(self, j: int, theta):
        d = [theta[i] - float(self.theta_nominal[i]) for i in range(len(theta))]
        out = super().expression(j, theta)
        for h in range(len(self.b)):
            if self.W[j, h] == 0.0:
                continue
            a = float(self.b[h]) + sum(float(self.A[h, i]) * d[i] for i in range(len(d)))
            out = out + float(self.W[j, h]) * 0.5 * (a + abs(a))
        return out


def fit_linear_rule(model, theta_p, uset, delta: float, solver, n: int = 60, random_state: int = 0) -> LinearRule:
    """Least squares of the inner problem's optimal controls on ``n`` samples of set(δ)
    (and θ̄m), each solved by ``solver`` (a local solver is fine: the fit only has to be good,
    the bound is proven afterwards).  Integer controls are refused (a linear rule is not
    integer)."""
    X, Z = _rule_data(model, theta_p, uset, delta, solver, n, random_state, model.n_m + 1)
    A = np.column_stack([np.ones(len(X)), X])
    coef, *_ = np.linalg.lstsq(A, Z, rcond=None)
    return LinearRule(coef[0].copy(), coef[1:].T.copy(), model.theta_m_nominal.copy())


#: Hidden units of the default ReLU rule, and samples fitted: our choice.  Each hinge adds a
#: nonsmooth |a| to every subproblem of the rule's model: on the HX network (box, 4 θ) 4 hinges
#: gave δ ≥ 0.444 in 2.3 s with Gurobi, 8 hinges made Gurobi time out on a subproblem (measured
#: 2026-12-03).  The fit needs more samples than unknowns (1 + n_m + H per control).
RELU_HIDDEN = 4
RELU_SAMPLES = 120


def fit_relu_rule(model, theta_p, uset, delta: float, solver, hidden: Optional[int] = None, n: int = RELU_SAMPLES,
                  random_state: int = 0) -> ReluRule:
    """The ReLU rule (module docstring) by least squares on the inner problem's optimal controls
    at ``n`` samples of set(δ): hinge h passes through a sample point c_h in a random direction
    u_h (scaled by the set's standard deviations), a_h = u_h · (θ − c_h)."""
    hidden = RELU_HIDDEN if hidden is None else int(hidden)
    X, Z = _rule_data(model, theta_p, uset, delta, solver, n, random_state, model.n_m + 1 + hidden)
    rng = np.random.default_rng(random_state + 1)
    scale = np.sqrt(np.clip(np.diag(np.asarray(model.covariance, float)), 1e-300, None))
    U = rng.standard_normal((hidden, model.n_m)) / scale
    C = X[rng.choice(len(X), size=hidden, replace=len(X) < hidden)]
    b = -np.einsum("hi,hi->h", U, C)
    F = np.column_stack([np.ones(len(X)), X, np.maximum(X @ U.T + b, 0.0)])
    coef, *_ = np.linalg.lstsq(F, Z, rcond=None)
    n_m = model.n_m
    return ReluRule(coef[0].copy(), coef[1:1 + n_m].T.copy(), model.theta_m_nominal.copy(), A=U, b=b,
                    W=coef[1 + n_m:].T.copy())


def _rule_data(model, theta_p, uset, delta, solver, n, random_state, needed):
    """(θm − θ̄m, optimal z) at θ̄m and ``n`` samples of set(δ) where the inner problem was solved."""
    if np.any(model.control_integer):
        raise ValidationError("decision rules need continuous controls; integer or binary controls take the exact "
                              "route (method='exact' with a global solver)")
    inner = InnerProblem(model, solver)
    pts = np.vstack([model.theta_m_nominal[None, :], uset.sample(delta, n, np.random.default_rng(random_state))])
    rows, zs = [], []
    for p in pts:
        v = inner.solve(theta_p, p)
        if v.z is not None:
            rows.append(p - model.theta_m_nominal)
            zs.append(v.z)
    if len(rows) < needed:
        raise ValidationError(f"decision rule: the inner problem was solved at only {len(rows)} of {len(pts)} "
                              f"samples; too few to fit the rule ({needed} needed; check the model at the nominal "
                              "theta)")
    return np.array(rows), np.array(zs)


def rule_model(model, rule: LinearRule):
    """The model with z = r(θm) as equations: no controls, z a state bounded by its own bounds
    (a rule leaving them is a domain edge), the same θ, CQAs, covariance and settings."""
    new = copy.copy(model)
    new._template = model._template.clone()
    zs = [u.find_component_on(new._template) for u in model._z_uid]
    th = [u.find_component_on(new._template) for u in model._tm_uid]
    new._template._flexspace_rule = pyo.ConstraintList()
    for j, z in enumerate(zs):
        new._template._flexspace_rule.add(z == rule.expression(j, th))
    new.control_names, new.control_bounds = [], np.zeros((0, 2))
    new._z_uid, new.control_integer, new.controls_linear = [], np.zeros(0, bool), None
    new.simulator = None  # the user's simulator knows no rule
    new._inner_convex = None
    new.factory = None
    new.name = f"{model.name} (decision rule)"
    return new


def _analysis(ra, rule):
    """The flexibility analysis of the rule's model (the factory :class:`FlexibilityAnalysis`
    hands to its recourse analysis: this layer does not import the analysis above it)."""
    if ra.rule_analysis is None:
        raise ValidationError("method='decision_rule' analyses the rule's model with FlexibilityAnalysis: call it "
                              "through FlexibilityAnalysis(model, ...).index(method='decision_rule') (or .test)")
    return ra.rule_analysis(rule_model(ra.model, rule))


def decision_rule_test(ra, res, theta_p, delta: float, rule: Optional[LinearRule] = None, relu: bool = False) -> None:
    """χ ≤ χ_r from the rule's flexibility test (module docstring) onto the recourse result
    ``res``: a proven upper bound when the rule's test is proven feasible, nothing otherwise.
    ``relu``: fit a :class:`ReluRule` (else a :class:`LinearRule`) when ``rule`` is None."""
    rule = rule or _fit(ra, theta_p, delta, relu)
    r = _analysis(ra, rule).test(theta_p, delta=delta)
    res.subproblems += r.subproblems
    res.certification["decision_rule"] = rule.describe()
    res.note_domain(r.domain_status, r.domain)
    if r.proven_feasible:
        ub = float(r.chi_upper_bound if r.chi_upper_bound is not None else r.chi)
        res.status, res.chi_upper_bound, res.chi = ResultStatus.BOUND, ub, ub
    elif r.status == ResultStatus.SAMPLED and r.feasible:
        res.status, res.chi = ResultStatus.SAMPLED, float(r.chi)
        res.certification.update(r.certification)
    else:
        res.status = ResultStatus.UNCERTIFIED
        res.chi = float(r.chi)
        res.diagnostics = ("the decision rule does not show the design feasible (its test: "
                           f"{r.status.value}, chi = {r.chi:.6g}); this proves nothing about the design")


def decision_rule_index(ra, res, theta_p, rule: Optional[LinearRule] = None, relu: bool = False) -> None:
    """δ ≥ δ_r from the rule's index (module docstring): a proven lower bound (global solver)
    or a sampled one (local solver)."""
    rule = rule or _fit(ra, theta_p, min(ra.delta_max, 1.0), relu)
    r = _analysis(ra, rule).index(theta_p)
    res.subproblems += r.subproblems
    res.certification["decision_rule"] = rule.describe()
    res.note_domain(r.domain_status, r.domain)
    lb = r.delta_lower_bound if r.delta_lower_bound is not None else r.delta
    if r.status == ResultStatus.OK or (r.status == ResultStatus.BOUND and lb is not None):
        res.status, res.delta = ResultStatus.BOUND, float(lb)
        res.delta_lower_bound = float(lb)
    elif r.status == ResultStatus.SAMPLED:
        res.status, res.delta = ResultStatus.SAMPLED, float(r.delta)
        res.certification.update(r.certification)
    else:
        res.status = ResultStatus.FAILED if r.status == ResultStatus.FAILED else ResultStatus.UNCERTIFIED
        res.delta = float(r.delta)
    res.worst_theta_m, res.worst_constraint = r.worst_theta_m, r.worst_constraint


def _fit(ra, theta_p, delta, relu: bool) -> LinearRule:
    fit = fit_relu_rule if relu else fit_linear_rule
    return fit(ra.model, theta_p, ra.uset, delta, _fit_solver(ra), random_state=ra.options.random_state or 0)


def _fit_solver(ra):
    from ..solvers import available_solvers

    return "ipopt" if "ipopt" in available_solvers() and not np.any(ra.model.control_integer) else ra.solver

