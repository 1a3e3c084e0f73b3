"""Linear test models g = Aθ − b (closed-form flexibility indices)."""
import numpy as np


def linear_model(A, b, mean, cov, as_vars=False):
    """g = A θ − b ≤ 0 as a flexspace plug-in model (no states)."""
    import pyomo.environ as pyo

    import flexspace

    n = len(mean)
    m = pyo.ConcreteModel()
    m.I = pyo.RangeSet(0, n - 1)
    m.K = pyo.RangeSet(0, len(b) - 1)
    m.p = pyo.Param(mutable=True, initialize=1.0)  # a dummy process parameter
    if as_vars:
        m.theta = pyo.Var(m.I, initialize=lambda m, i: float(mean[i]))
    else:
        m.theta = pyo.Param(m.I, mutable=True, initialize=lambda m, i: float(mean[i]))
    m.g = pyo.Expression(m.K, rule=lambda m, k: sum(float(A[k, i]) * m.theta[i] for i in m.I) - float(b[k]))
    return flexspace.ProcessModel(m, theta_p=m.p, theta_m=m.theta, constraints=m.g, covariance=cov,
                                  theta_m_nominal=mean, name="linear")


def random_linear(n, seed, K=3):
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=n) * 2
    B = rng.normal(size=(n, n))
    cov = B @ B.T / n + 0.2 * np.eye(n)  # correlated, PD
    A = rng.normal(size=(K, n))
    sd = np.sqrt(np.einsum("ki,ij,kj->k", A, cov, A))
    b = A @ mean + rng.uniform(1.0, 3.0, size=K) * sd
    return A, b, mean, cov
