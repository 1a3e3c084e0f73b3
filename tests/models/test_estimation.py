"""θm and Σ from data (parmest): exact on a linear model, recovery on case 1, refusals."""
import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest

import flexspace
from flexspace.errors import ValidationError
from flexspace.models.estimation import EstimationError, estimate_theta_m
from support.small_models import case1_table


def line_model():
    """y = a + b x with θp = x and θm = (a, b) an *indexed* Param; the output is an Expression."""
    m = pyo.ConcreteModel()
    m.x = pyo.Param(mutable=True, initialize=1.0)
    m.I = pyo.Set(initialize=[0, 1])
    m.ab = pyo.Param(m.I, mutable=True, initialize={0: 1.0, 1: 1.0})
    m.y = pyo.Expression(expr=m.ab[0] + m.ab[1] * m.x)
    m.g = pyo.Expression(expr=m.y - 10.0)
    return flexspace.ProcessModel(m, theta_p={"x": m.x}, theta_m=m.ab, constraints={"g": m.g},
                                  covariance=np.eye(2), theta_p_bounds=[(0, 5)], name="line")


def test_linear_model_matches_ordinary_least_squares_exactly():
    rng = np.random.default_rng(3)
    x = np.linspace(0.0, 4.0, 7)
    y = 2.0 + 0.7 * x + rng.normal(0, 0.1, x.size)
    est = estimate_theta_m(line_model(), pd.DataFrame({"x": x, "y": y}), ["y"], measurement_std=0.1)
    X = np.column_stack([np.ones_like(x), x])
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    assert est.theta_m == pytest.approx(beta, rel=1e-6, abs=1e-8)
    # finite differences are exact on a linear model: Σ̂ = σ² (XᵀX)⁻¹
    assert est.covariance == pytest.approx(0.01 * np.linalg.inv(X.T @ X), rel=1e-5)
    assert est.chi2 == pytest.approx(np.sum((y - X @ beta) ** 2) / 0.01, rel=1e-5)
    pooled = estimate_theta_m(line_model(), pd.DataFrame({"x": x, "y": y}), ["y"])  # σ estimated: SSE/(N − p)
    s2 = np.sum((y - X @ beta) ** 2) / (x.size - 2)
    assert pooled.sigma_estimated and pooled.measurement_std["y"] == pytest.approx(np.sqrt(s2), rel=1e-5)
    assert pooled.covariance == pytest.approx(s2 * np.linalg.inv(X.T @ X), rel=1e-4)


def _case1_table(noise, seed):
    from flexspace.models.cases import case1

    rng = np.random.default_rng(seed)
    rows = []
    for R in (4.0, 5.0, 6.0):
        for tau in (350.0, 550.0):
            cA, _, _, cD = case1.steady_state(R, tau, *case1.K_NOMINAL)
            rows.append({"R_BA": R, "tau": tau, "cA": float(cA) + rng.normal(0, noise["cA"]),
                         "cD": float(cD) + rng.normal(0, noise["cD"])})
    return pd.DataFrame(rows)


def test_case1_recovers_true_theta_and_builds_a_model(case1_model):
    from flexspace.models.cases import case1

    noise = {"cA": 2e-4, "cD": 4e-3}
    new = flexspace.ProcessModel.from_parmest(case1_model, _case1_table(noise, 0), ["cA", "cD"], noise)
    est = new.parameter_estimate
    assert np.all(np.abs(est.theta_m - case1.K_NOMINAL) <= 3 * est.standard_errors)
    # the same fit by scipy on the closed form: θ̂ and (JᵀWJ)⁻¹ agree with parmest's
    from scipy.optimize import least_squares

    data = _case1_table(noise, 0)

    def residuals(k):
        cA, _, _, cD = case1.steady_state(data.R_BA.values, data.tau.values, k[0], k[1])
        return np.concatenate([(data.cA.values - cA) / noise["cA"], (data.cD.values - cD) / noise["cD"]])

    ls = least_squares(residuals, case1.K_NOMINAL, x_scale=case1.K_NOMINAL, xtol=1e-15, ftol=1e-15, gtol=1e-15)
    assert est.theta_m == pytest.approx(ls.x, rel=1e-5)
    assert est.covariance == pytest.approx(np.linalg.inv(ls.jac.T @ ls.jac), rel=1e-3)
    assert est.chi2 == pytest.approx(2 * ls.cost, rel=1e-5)
    assert np.all(np.linalg.eigvalsh(est.covariance) > 0) and np.allclose(est.covariance, est.covariance.T)
    assert est.n_experiments == 6 and est.n_observations == 12 and est.dof == 10
    assert np.array_equal(new.theta_m_nominal, est.theta_m) and np.array_equal(new.covariance, est.covariance)
    assert np.array_equal(case1_model.theta_m_nominal, case1.K_NOMINAL)  # the original is untouched
    assert new.fingerprint() != case1_model.fingerprint() and "parmest" in new.sources
    rebuilt = new.factory()  # worker processes rebuild the estimated model, not the original
    assert np.array_equal(rebuilt.theta_m_nominal, est.theta_m) and np.allclose(rebuilt.covariance, est.covariance)
    from flexspace.montecarlo import monte_carlo_probability

    p_new = monte_carlo_probability(new, [4.6, 500.0], n_samples=4000, random_state=0).probability
    p_true = monte_carlo_probability(case1_model, [4.6, 500.0], n_samples=4000, random_state=0).probability
    assert p_new > 0.99 and p_true > 0.99  # deep inside both design spaces (Σ̂ is tighter than the shipped Σ)


def test_unidentifiable_parameters_are_refused(case1_model):
    one_point = pd.DataFrame({"R_BA": [5.0] * 4, "tau": [450.0] * 4, "cD": [0.485, 0.487, 0.484, 0.486]})
    with pytest.raises(EstimationError, match="not identifiable"):
        estimate_theta_m(case1_model, one_point, ["cD"], measurement_std=0.002)


def test_not_a_model_is_refused():
    with pytest.raises(ValidationError, match="ProcessModel"):
        estimate_theta_m(object(), pd.DataFrame({"y": [1.0]}), ["y"])


@pytest.mark.parametrize("table, outputs, std, match", [
    ([1, 2, 3], ["cD"], None, "pandas.DataFrame"),
    ({"R_BA": [4.0] * 3, "cD": [0.4] * 3}, ["cD"], None, r"lacks the columns \['tau'\]"),
    ({"R_BA": [4.0, 5.0, np.nan], "tau": [400.0] * 3, "cD": [0.4] * 3}, ["cD"], None, "NaN or inf in rows"),
    ({"R_BA": [4.0, 5.0], "tau": [400.0] * 2, "cD": [0.4] * 2}, ["cD"], None, "at least 3"),
    ({"R_BA": [4.0, 5.0, 6.0], "tau": [400.0] * 3, "cD": [0.4] * 3}, ["cD"], -1.0, "measurement_std"),
    ({"R_BA": [4.0, 5.0, 6.0], "tau": [400.0] * 3, "cD": [0.4] * 3}, ["cD"], {"cA": 1.0}, "no entry for"),
    ({"R_BA": [4.0, 5.0, 6.0], "tau": [400.0] * 3, "cX": [0.4] * 3}, ["cX"], None, "not a component"),
    ({"R_BA": [4.0, 5.0, 6.0], "tau": [400.0] * 3, "cD": [0.4] * 3}, {"cD": "bal_A"}, None, "must be a Var"),
])
def test_bad_tables_are_refused_before_any_solve(case1_model, table, outputs, std, match):
    data = pd.DataFrame(table) if isinstance(table, dict) else table
    with pytest.raises(ValidationError, match=match):
        estimate_theta_m(case1_model, data, outputs, std)


def test_controls_are_set_from_their_columns():
    """A model with a control z: each experiment's z comes from its column (not fitted)."""
    m = pyo.ConcreteModel()
    m.x = pyo.Param(mutable=True, initialize=1.0)
    m.a = pyo.Param(mutable=True, initialize=1.0)
    m.b = pyo.Param(mutable=True, initialize=1.0)
    m.z = pyo.Var(bounds=(0, 5), initialize=1.0)
    m.y = pyo.Expression(expr=m.a + m.b * m.x + 3.0 * m.z)
    m.g = pyo.Expression(expr=m.y - 20.0)
    model = flexspace.ProcessModel(m, {"x": m.x}, {"a": m.a, "b": m.b}, {"g": m.g}, covariance=np.eye(2),
                                   theta_p_bounds=[(0, 5)], controls={"z": m.z})
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    z = np.array([1.0, 0.0, 2.0, 1.0, 3.0])
    y = 2.0 + 0.5 * x + 3.0 * z + np.array([0.01, -0.02, 0.0, 0.02, -0.01])
    with pytest.raises(ValidationError, match=r"lacks the columns \['z'\]"):
        estimate_theta_m(model, pd.DataFrame({"x": x, "y": y}), ["y"], 0.01)
    est = estimate_theta_m(model, pd.DataFrame({"x": x, "z": z, "y": y}), ["y"], 0.01)
    X = np.column_stack([np.ones_like(x), x])
    assert est.theta_m == pytest.approx(np.linalg.lstsq(X, y - 3.0 * z, rcond=None)[0], rel=1e-6)


def test_a_common_sigma_leaves_the_estimate_unchanged(case1_model):
    """θ̂ of least squares does not depend on a common σ; Σ̂ scales as σ² and χ² as 1/σ²."""
    data = case1_table()
    fits = {s: estimate_theta_m(case1_model, data, ["cA", "cD"], s) for s in (0.01, 1.0, 100.0)}
    for s, est in fits.items():
        assert est.theta_m == pytest.approx(fits[1.0].theta_m, rel=1e-6, abs=1e-9), s
        assert est.covariance == pytest.approx(fits[1.0].covariance * s ** 2, rel=1e-3), s
        assert est.chi2 == pytest.approx(fits[1.0].chi2 / s ** 2, rel=1e-5), s
    # and it is the least-squares optimum (scipy on the closed form, unweighted)
    from scipy.optimize import least_squares

    from flexspace.models.cases import case1

    def residuals(k):
        cA, _, _, cD = case1.steady_state(data.R_BA.values, data.tau.values, k[0], k[1])
        return np.concatenate([data.cA.values - cA, data.cD.values - cD])

    ls = least_squares(residuals, case1.K_NOMINAL, x_scale=case1.K_NOMINAL, xtol=1e-15, ftol=1e-15, gtol=1e-15)
    assert fits[1.0].theta_m == pytest.approx(ls.x, rel=1e-5)


def test_a_parameter_the_data_do_not_determine_is_refused_by_name(case1_model):
    """Only cA measured: k2 (which acts on B → C, D) is not determined by cA in this model."""
    data = case1_table()[["R_BA", "tau", "cA"]]
    for sigma in (2e-4, 1.0):  # structural: the same verdict whatever σ
        with pytest.raises(EstimationError, match=r"theta_m \['k2'\] is not identifiable"):
            estimate_theta_m(case1_model, data, ["cA"], sigma)


def test_duplicated_outputs_and_settings_outside_the_bounds_are_refused(case1_model):
    data = case1_table()
    with pytest.raises(ValidationError, match="more than once"):
        estimate_theta_m(case1_model, data, ["cA", "cA", "cD"], 0.01)
    flipped = data.assign(tau=-data.tau)
    with pytest.raises(ValidationError, match=r"data\['tau'\] is outside the model's theta_p_bounds"):
        estimate_theta_m(case1_model, flipped, ["cA", "cD"], 0.01)


def test_a_time_limit_too_short_to_fit_is_an_estimation_error(case1_model):
    """1e-4 s: Ipopt stops at once; the status is mapped (it raised a raw KeyError from Pyomo)."""
    with pytest.raises(EstimationError, match="did not finish"):
        estimate_theta_m(case1_model, case1_table(), ["cA", "cD"], 0.01, time_limit=1e-4)
