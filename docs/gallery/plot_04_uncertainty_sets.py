"""
Polyhedral, budget and your own uncertainty set
===============================================

Besides ``"box"``, ``"ellipsoid"`` and ``"ldl"`` (by name), any
:class:`~flexspace.formulations.UncertaintySet` object works wherever ``uncertainty_set=``
is taken: the index, the tests, the maps and Algorithm 3 (see :doc:`/guide/sets`).
This page uses a polyhedron, a Bertsimas–Sim budget set and a set class written here.
"""

# %%
# Polyhedral and budget sets
# --------------------------
# Both are written in standardised coordinates u = (θ − θ̄)/σ: ``A u ≤ δ b`` for the
# polyhedron; ``|u_i| ≤ δ`` and ``Σ|u_i| ≤ δ Γ`` for the budget set.  They are linear in θ
# and δ.
import matplotlib.pyplot as plt
import numpy as np
import pyomo.environ as pyo
from scipy import stats

import flexspace
from flexspace import BudgetSet, PolyhedralSet
from flexspace.formulations import UncertaintySet
from flexspace.models.cases import case1

model = case1.model(formulation="reduced")
theta_p = [4.6, 450.0]

A = [[1, 1], [-1, 2], [0, -1], [-1, -1]]  # rows in σ units of θm
poly = PolyhedralSet(model.theta_m_nominal, A, b=[1, 1, 1, 1], covariance=model.covariance)
budget = BudgetSet(model.theta_m_nominal, model.covariance, budget=1.5)

results = {}
for name, uset in (("polyhedral", poly), ("budget", budget)):
    results[name] = r = flexspace.flexibility_index(model, theta_p, uncertainty_set=uset, solver="maingo")
    print(f"{name:<10} delta = {r.delta:.5f}  P(set) = {r.probability:.4f}  status = {r.status.value}")

# %%
# Their probabilities have no closed form: they come from a seeded Monte Carlo sample of
# N(θ̄m, Σ), and the set says so.
print(poly.probability_method)
print(f"standard error of P(poly at delta=1): {poly.probability_standard_error(1.0):.5f}")


# %%
# A set of your own
# -----------------
# One subclass of :class:`~flexspace.formulations.UncertaintySet`: how to write θ ∈ set(δ)
# on a Pyomo block (``build``), its half-widths, gauge, membership, sampler, probability
# and the δ of a confidence level.  This one is the ellipsoid with axes along the
# coordinates, Σ_i ((θ_i − θ̄_i)/σ_i)² ≤ δ² (on case 1, whose Σ is diagonal, it is the same
# set as the built-in ellipsoid, so the index must agree).
class DiagonalEllipsoid(UncertaintySet):
    name = "diag-ellipsoid"
    convex_in_delta_squared = True  # the index then minimises δ² (a convex set constraint)

    def __init__(self, nominal, covariance):
        super().__init__(nominal, covariance)
        self.sd = np.sqrt(np.diag(self.covariance))

    def parameters(self):
        return {"nominal": self.nominal, "covariance": self.covariance}

    def build(self, block, theta, delta, squared=False):
        rhs = delta if squared else delta**2
        block.ball = pyo.Constraint(
            expr=sum(((theta[i] - float(self.nominal[i])) / float(self.sd[i])) ** 2 for i in range(self.dim)) <= rhs)
        return self._handle(block, theta, delta, squared)  # the base class's SetHandle of what was built

    def half_widths(self, delta):
        return float(delta) * self.sd

    def gauge(self, points):
        return np.sqrt(np.sum(((np.atleast_2d(points) - self.nominal) / self.sd) ** 2, axis=1))

    def contains(self, points, delta, tol=1e-9):
        return self.gauge(points) <= float(delta) + tol

    def sample(self, delta, n, rng, boundary_fraction=0.5):
        rng = np.random.default_rng(rng)
        z = rng.standard_normal((n, self.dim))
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        r = np.ones(n)
        nb = int(round(boundary_fraction * n))
        r[nb:] = rng.uniform(size=n - nb) ** (1.0 / self.dim)
        return self.nominal + float(delta) * (z * r[:, None]) * self.sd

    def probability(self, delta):  # independent coordinates: chi-squared with dim degrees of freedom
        return float(stats.chi2.cdf(float(delta) ** 2, df=self.dim))

    def delta_for_confidence(self, p_c):
        return float(np.sqrt(stats.chi2.ppf(p_c, df=self.dim)))


mine = DiagonalEllipsoid(model.theta_m_nominal, model.covariance)
results["own set"] = r = flexspace.flexibility_index(model, theta_p, uncertainty_set=mine, solver="maingo")
builtin = flexspace.flexibility_index(model, theta_p, uncertainty_set="ellipsoid", solver="maingo")
print(f"own set   delta = {r.delta:.5f}  P(set) = {r.probability:.4f}  status = {r.status.value}")
print(f"built-in ellipsoid: delta = {builtin.delta:.5f}")

# %%
# The three sets at their flexibility index
# -----------------------------------------
# In σ units of θm, with the region where a CQA is violated at this θp shaded.  Each set
# is the largest of its shape (centred at θ̄m) that stays out of the shaded region.
nominal, sd = model.theta_m_nominal, np.sqrt(np.diag(model.covariance))
u1, u2 = np.meshgrid(np.linspace(-4, 4, 201), np.linspace(-4, 4, 201))
theta = nominal + np.column_stack([u1.ravel(), u2.ravel()]) * sd
worst = np.max(model.simulate(theta_p, theta), axis=1).reshape(u1.shape)

fig, ax = plt.subplots(figsize=(5.6, 5.2))
ax.contourf(u1, u2, worst, levels=[0, np.inf], colors=["#f4c7c3"])
ax.contour(u1, u2, worst, levels=[0], colors="firebrick", linewidths=1)
sets = {"polyhedral": poly, "budget": budget, "own set": mine}
for (name, uset), colour in zip(sets.items(), ("tab:blue", "tab:green", "tab:purple")):
    delta = results[name].delta
    inside = uset.contains(theta, delta).reshape(u1.shape)
    ax.contour(u1, u2, inside.astype(float), levels=[0.5], colors=colour, linewidths=1.5)
    ax.plot([], [], color=colour, label=f"{name}, δ = {delta:.3f}")
ax.plot(0, 0, "k+", ms=10)
ax.set(xlabel="(k1 − k̄1) / σ1", ylabel="(k2 − k̄2) / σ2", aspect="equal",
       title="case 1 at R_BA = 4.6, τ = 450 s")
ax.legend(loc="upper right", fontsize=8)
fig.tight_layout()
