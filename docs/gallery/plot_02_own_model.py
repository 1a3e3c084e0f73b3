"""
Your own Pyomo model
====================

Any square Pyomo model becomes a flexspace model: name which mutable ``Param`` s (or
``Var`` s) are the process parameters θp and which are the uncertain parameters θm, give
the CQAs as constraints ``g ≤ 0`` and the covariance Σ of θm (see :doc:`/guide/models`).

Here: a first-order reaction in a CSTR, ``1 − cA − τ k Ea cA = 0``, with the conversion
requirement ``cA ≤ 0.35``; θp is the residence time τ, θm the rate constant k and a second
uncertain factor Ea.
"""

# %%
# The model
# ---------
import matplotlib.pyplot as plt
import pyomo.environ as pyo

import flexspace

m = pyo.ConcreteModel()
m.tau = pyo.Param(mutable=True, initialize=20.0)  # θp: residence time
m.k = pyo.Param(mutable=True, initialize=0.2)  # θm: rate constant
m.Ea = pyo.Param(mutable=True, initialize=1.0)  # θm: a second uncertain factor
m.cA = pyo.Var(bounds=(0, 1), initialize=0.5)  # state (bounded: global solvers need it)
m.bal = pyo.Constraint(expr=1.0 - m.cA - m.tau * m.k * m.Ea * m.cA == 0)  # h = 0
m.conversion = pyo.Constraint(expr=m.cA <= 0.35)  # CQA g <= 0


def simulator(theta_p, theta_m):
    """Optional: g for N samples of θm at once (the steady state in closed form)."""
    tau, k, ea = theta_p[0], theta_m[:, 0], theta_m[:, 1]
    cA = 1.0 / (1.0 + tau * k * ea)
    return (cA - 0.35)[:, None]  # shape (N, number of CQAs)


model = flexspace.ProcessModel(
    m,
    theta_p={"tau": m.tau},
    theta_m={"k": m.k, "Ea": m.Ea},
    constraints={"conversion": m.conversion},
    covariance=[[0.02**2, 0.0], [0.0, 0.05**2]],  # checked: symmetric, positive definite
    theta_p_bounds=[(5, 30)],
    simulator=simulator,  # without it, Monte Carlo solves the Pyomo model once per sample
)
print(model)

# %%
# Flexibility index at τ = 20
# ---------------------------
# ``ProcessModel`` has checked that the model is square once θ is fixed.  MAiNGO proves
# the index globally.
r = flexspace.flexibility_index(model, [20.0], "ellipsoid", "maingo")
print(r)

# %%
# Over the range of τ
# -------------------
# Algorithm 2 (one flexibility index per grid point) and Algorithm 1 (Monte Carlo with the
# same θm samples at every point) on an 11-point grid of τ.  The flexibility-index
# probability P(θm ∈ set(δ)) is a lower estimate of the Monte Carlo probability.
fi = flexspace.flexibility_index_map(model, grid=(11,), uncertainty_set="ellipsoid", solver="maingo",
                                     progress=False)
mc = flexspace.monte_carlo_map(model, grid=(11,), n_samples=20_000, random_state=0, progress=False)
print(fi.table[["tau", "delta", "probability", "status"]].to_string(index=False))

tau = fi.axes[0]
fig, ax = plt.subplots(figsize=(6.4, 4))
ax.plot(tau, mc.probability.ravel(), "o-", label="Monte Carlo (Algorithm 1)")
ax.plot(tau, fi.probability.ravel(), "s--", label="flexibility index, ellipsoid (Algorithm 2)")
ax.axhline(0.85, color="k", lw=1, ls=":", label="confidence 0.85")
ax.set(xlabel="tau", ylabel="probability", ylim=(-0.05, 1.05), title="your own model: probability over θp")
ax.legend(loc="lower right", fontsize=8)
fig.tight_layout()

# %%
# The design space at confidence 0.85 is the set of grid points where the probability
# reaches 0.85 (only points whose status is trusted count):
print("tau in the design space (flexibility index):", tau[fi.region(0.85)])
print("tau in the design space (Monte Carlo):      ", tau[mc.region(0.85)])
