"""
Case 1: flexibility index and flexibility test
==============================================

Case 1 of the design-space paper (§3.1) is a steady-state CSTR, A + B → C → D + E, with
process parameters θp = (R_BA, τ) and uncertain rate constants θm = (k1, k2) ~ N(θ̄m, Σ).
Its two CQAs are a yield and a purity requirement, written ``g ≤ 0``.

At one θp we ask two questions (see :doc:`/guide/concepts`):

* the **flexibility index** δ (Eq. 16–23): how far, in standard deviations, the uncertainty
  set can grow around θ̄m before some CQA is violated — and the probability P(θm ∈ set(δ));
* the **flexibility test** χ (Eq. 1–7): does every θm of the set at a given confidence keep
  every CQA (χ ≤ 0)?

MAiNGO, a global solver, answers both with proofs (status ``ok``).
"""

# %%
# The model and the flexibility index
# -----------------------------------
# A shipped case is a :class:`~flexspace.models.ProcessModel`; it carries θ̄m, Σ, the θp
# bounds and a vectorised numpy simulator of g (used for Monte Carlo and certification).
import matplotlib.pyplot as plt
import numpy as np

import flexspace
from flexspace.models.cases import case1

model = case1.model()
print(model)

theta_p = [4.6, 450.0]  # R_BA, tau [s]
r_ell = flexspace.flexibility_index(model, theta_p, uncertainty_set="ellipsoid", solver="maingo")
r_box = flexspace.flexibility_index(model, theta_p, uncertainty_set="box", solver="maingo")
print(f"ellipsoid: delta = {r_ell.delta:.5f}, P(set) = {r_ell.probability:.4f}, status = {r_ell.status.value}")
print(f"box      : delta = {r_box.delta:.5f}, P(set) = {r_box.probability:.4f}, status = {r_box.status.value}")

# %%
# What the result says
# --------------------
# ``status`` is what the answer rests on: ``ok`` means exact within the stated gap under
# conditions flexspace proved (here: MAiNGO's bound met its point, and the set was proven
# to lie inside the model's domain).  The printout lists one subproblem per CQA and per
# domain check, the worst-case θm and the sampling certificate.
print(r_ell)
print("ok:", r_ell.ok, "| proven:", r_ell.proven, "| trusted:", r_ell.trusted, "|", r_ell.solve_quality)

# %%
# One row per subproblem, as a DataFrame:
r_ell.to_dataframe()[["constraint", "value", "status", "time"]].head()

# %%
# The flexibility test at a confidence level
# ------------------------------------------
# ``confidence=0.85`` sets δ so that P(θm ∈ set(δ)) = 0.85; the test then maximises the
# worst CQA over that set.  χ ≤ 0 means every θm of the set keeps every CQA; ``feasible``
# is True only when that is shown (a failed solve is never feasible).
t = flexspace.flexibility_test(model, theta_p, confidence=0.85, solver="maingo")
print(f"chi = {t.chi:.6f} over the ellipsoid of radius delta_m = {t.delta_m:.4f}: "
      f"feasible = {t.feasible}, proven = {t.proven_feasible}, status = {t.status.value}")

# %%
# Monte Carlo at the same point
# -----------------------------
# The probability that *all* CQAs hold, P(g(θp, θm) ≤ 0), is at least P(θm ∈ set(δ)):
# the set is a conservative (inner) estimate of the feasible region in θm.
from flexspace.montecarlo import monte_carlo_probability

mc = monte_carlo_probability(model, theta_p, n_samples=100_000, random_state=0)
print(f"Monte Carlo: P = {mc.probability:.4f} ± {mc.std_error:.4f}  "
      f"(ellipsoid set: {r_ell.probability:.4f}, box set: {r_box.probability:.4f})")

# %%
# The picture in θm
# -----------------
# The white region is where both CQAs hold at this θp (computed with the model's
# vectorised simulator); the ellipsoid and the box are the uncertainty sets scaled to
# their flexibility index, each touching the violated region at its worst-case θm.
k1 = np.linspace(0.15, 0.47, 241)
k2 = np.linspace(0.012, 0.042, 241)
K1, K2 = np.meshgrid(k1, k2)
g = model.simulate(theta_p, np.column_stack([K1.ravel(), K2.ravel()]))
worst = np.max(g, axis=1).reshape(K1.shape)

nominal, sd = model.theta_m_nominal, np.sqrt(np.diag(model.covariance))
phi = np.linspace(0, 2 * np.pi, 400)
fig, ax = plt.subplots(figsize=(6.4, 4.8))
ax.contourf(K1, K2, worst, levels=[0, np.inf], colors=["#f4c7c3"])
ax.contour(K1, K2, worst, levels=[0], colors="firebrick", linewidths=1)
ax.plot(nominal[0] + r_ell.delta * sd[0] * np.cos(phi), nominal[1] + r_ell.delta * sd[1] * np.sin(phi),
        label=f"ellipsoid, δ = {r_ell.delta:.3f}")
lo, hi = nominal - r_box.delta * sd, nominal + r_box.delta * sd
ax.plot([lo[0], hi[0], hi[0], lo[0], lo[0]], [lo[1], lo[1], hi[1], hi[1], lo[1]],
        label=f"box, δ = {r_box.delta:.3f}")
for r, marker in ((r_ell, "o"), (r_box, "s")):
    w = r.worst_theta_m
    ax.plot(w["k1"], w["k2"], marker, color="k", mfc="none")
ax.plot(*nominal, "k+", ms=10, label="nominal θm")
ax.set(xlabel="k1", ylabel="k2", title="case 1 at R_BA = 4.6, τ = 450 s (red: a CQA violated)")
ax.legend(loc="upper right", fontsize=8)
fig.tight_layout()
