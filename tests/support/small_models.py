"""Small models and data shared by the tests and ``benchmarks/sweep_harm.py``."""
import numpy as np
import pandas as pd
import pyomo.environ as pyo


def disk(p_names=("a", "b")):
    """g = t + a² + b² − 1 (θm = t ~ N(0, 0.3²)), vectorised simulator: feasible where
    a² + b² ≤ 1 − t; box index δ = (1 − a² − b²)/0.3."""
    import flexspace

    m = pyo.ConcreteModel()
    m.a = pyo.Param(mutable=True, initialize=0.0)
    m.b = pyo.Param(mutable=True, initialize=0.0)
    m.t = pyo.Param(mutable=True, initialize=0.0)
    m.g = pyo.Expression(expr=m.t + m.a ** 2 + m.b ** 2 - 1.0)

    def simulate(tp, tm):
        tp, tm = np.atleast_2d(np.asarray(tp, float)), np.atleast_2d(np.asarray(tm, float))
        return tm[:, :1] + tp[:, :1] ** 2 + tp[:, 1:2] ** 2 - 1.0

    return flexspace.ProcessModel(m, theta_p=dict(zip(p_names, (m.a, m.b))), theta_m={"t": m.t},
                                  constraints={"g": m.g}, covariance=[[0.3 ** 2]], theta_m_nominal=[0.0],
                                  theta_p_bounds=[(-1.5, 1.5), (-1.5, 1.5)], simulator=simulate, name="disk")


def case1_table(seed: int = 1) -> pd.DataFrame:
    """Case 1 at 9 settings, cA and cD with noise (σ 2e-4 and 4e-3): both k1 and k2 identifiable."""
    from flexspace.models.cases import case1

    rng = np.random.default_rng(seed)
    rows = []
    for R in (4.0, 5.0, 6.0):
        for tau in (350.0, 450.0, 550.0):
            cA, _, _, cD = case1.steady_state(R, tau, *case1.K_NOMINAL)
            rows.append({"R_BA": R, "tau": tau, "cA": float(cA) + rng.normal(0, 2e-4),
                         "cD": float(cD) + rng.normal(0, 4e-3)})
    return pd.DataFrame(rows)


def cstr_toy():
    """cA from 1 − cA − τ k cA = 0 with the CQA cA ≤ 0.35: ``(model, ProcessModel kwargs)``."""
    m = pyo.ConcreteModel()
    m.tau = pyo.Param(mutable=True, initialize=20.0)
    m.k = pyo.Param(mutable=True, initialize=0.2)
    m.cA = pyo.Var(bounds=(0, 1), initialize=0.5)
    m.bal = pyo.Constraint(expr=1.0 - m.cA - m.tau * m.k * m.cA == 0)
    m.conversion = pyo.Constraint(expr=m.cA <= 0.35)
    return m, dict(theta_p={"tau": m.tau}, theta_m={"k": m.k}, constraints={"c": m.conversion},
                   covariance=[[1e-4]], theta_p_bounds=[(5.0, 40.0)])


def linear_control_model(b_sign: float):
    """g = k·tp − z − 0.5, z ∈ [0, 1], with ``controls_linear`` giving B = ``b_sign`` (the
    model's own B is −1: ``b_sign=+1`` is a flipped sign)."""
    import flexspace

    m = pyo.ConcreteModel()
    m.tp = pyo.Param(mutable=True, initialize=1.0)
    m.k = pyo.Param(mutable=True, initialize=1.0)
    m.z = pyo.Var(bounds=(0, 1), initialize=0.0)
    m.g = pyo.Expression(expr=m.k * m.tp - m.z - 0.5)

    def lin(tp, tm):
        tm = np.atleast_2d(tm)
        return tm[:, :1] * tp[0] - 0.5, np.full((tm.shape[0], 1, 1), float(b_sign))

    return flexspace.ProcessModel(m, {"tp": m.tp}, {"k": m.k}, {"g": m.g}, [[0.01]], controls={"z": m.z},
                                  controls_linear=lin)
