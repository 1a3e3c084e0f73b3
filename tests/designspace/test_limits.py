"""What limits the design space (flexspace.designspace.limits and plot_limiting_cqa).

An analytic model with two CQAs whose binding zones and relaxation gains are known in
closed form: θp = (p1, p2) on [−1, 2] × [0, 1], θm ~ N(0, σ²) with σ = 0.3,

    g1 = θm − (2 − p1)            violated with probability v1 = 1 − Φ((2 − p1)/σ)
    g2 = −θm − (p1 + p2)/2        violated with probability v2 = Φ(−(p1 + p2)/(2σ))

(the two events are disjoint).  g1 binds for large p1, g2 for small p1 + p2 (v1 > v2 ⇔
p1 > (4 − p2)/3).  Relaxing g1 by r shifts its boundary by r in p1; relaxing g2 by r shifts
it by 2r in p1: with the same relative relaxation g2 gains about twice as many points.
(σ = 0.3 rather than 1: with σ = 1 no θp reaches P ≥ 0.85 and every region is empty; p1 starts
at −1 so that g2's relaxed boundary stays inside the grid and its gain is not clipped.)
"""
import numpy as np
import pytest
from scipy import stats

from flexspace.designspace import (flexibility_index_map, limiting_cqa, monte_carlo_map, plot_limiting_cqa,
                                   rank_cqas)
from flexspace.errors import ValidationError

SIGMA = 0.3
GRID = [np.linspace(-1.0, 2.0, 61), np.linspace(0.0, 1.0, 11)]


def _sim(tp, tm):
    tp = np.asarray(tp, float)
    th = tm[:, 0]
    return np.column_stack([th - (2.0 - tp[0]), -th - 0.5 * (tp[0] + tp[1])])


def _sim_with_holes(tp, tm):
    g = _sim(tp, tm)
    g[tm[:, 0] > 2 * SIGMA] = np.nan  # the "simulation fails" above 2σ
    return g


def _build(simulator=_sim):
    import pyomo.environ as pyo

    import flexspace

    m = pyo.ConcreteModel()
    m.p1 = pyo.Param(mutable=True, initialize=1.2)
    m.p2 = pyo.Param(mutable=True, initialize=0.5)
    m.th = pyo.Param(mutable=True, initialize=0.0)
    m.x = pyo.Var(bounds=(-10.0, 10.0), initialize=0.0)
    m.eq = pyo.Constraint(expr=m.x == m.th)
    m.c1 = pyo.Constraint(expr=m.x - (2.0 - m.p1) <= 0)
    m.c2 = pyo.Constraint(expr=-m.x - 0.5 * (m.p1 + m.p2) <= 0)
    return flexspace.ProcessModel(m, theta_p={"p1": m.p1, "p2": m.p2}, theta_m={"th": m.th},
                                  constraints={"g1": m.c1, "g2": m.c2}, covariance=[[SIGMA ** 2]],
                                  theta_p_bounds=[(-1.0, 2.0), (0.0, 1.0)], simulator=simulator, name="two-cqa")


@pytest.fixture(scope="module")
def two_cqa():
    return _build()


def _exact(points, r1=0.0, r2=0.0):
    """(v1, v2, P) in closed form, with g1 relaxed by r1 and g2 by r2."""
    p1, p2 = points[:, 0], points[:, 1]
    v1 = stats.norm.sf((2.0 - p1 + r1) / SIGMA)
    v2 = stats.norm.cdf((-(p1 + p2) / 2 - r2) / SIGMA)
    return v1, v2, 1.0 - v1 - v2


def test_limiting_cqa_matches_the_closed_form(two_cqa):
    n = 4000
    dmap = monte_carlo_map(two_cqa, GRID, n_samples=n, random_state=1, progress=False)
    lim = limiting_cqa(two_cqa, dmap, n_samples=n, random_state=1)
    assert len(lim) == len(dmap.table) and np.allclose(lim[["p1", "p2"]].to_numpy(), dmap.points)
    # the same samples as the map: the same probabilities
    assert np.array_equal(lim["probability"].to_numpy(), dmap.table["probability"].to_numpy())
    v1, v2, _ = _exact(dmap.points)
    se = np.sqrt((v1 * (1 - v1) + v2 * (1 - v2)) / n) + 1e-12
    assert np.all(np.abs(lim["violated:g1"] - v1) < 5 * se + 1e-3)
    assert np.all(np.abs(lim["violated:g2"] - v2) < 5 * se + 1e-3)
    # disjoint events: every violating sample violates exactly one CQA
    assert np.allclose(lim["only:g1"], lim["violated:g1"]) and np.allclose(lim["only:g2"], lim["violated:g2"])
    decided = (np.abs(v1 - v2) > 5 * np.sqrt((v1 + v2 + (v1 - v2) ** 2) / n)) & (np.maximum(v1, v2) > 0.01)
    expected = np.where(v1 > v2, "g1", "g2")
    assert decided.sum() > 300 and {"g1", "g2"} <= set(expected[decided])
    assert list(lim["limiting"].to_numpy()[decided]) == list(expected[decided])
    # the boundary between the zones is p1 = (4 - p2)/3, away from it the MC answer is the closed form
    p1, p2 = dmap.points.T
    assert set(lim["limiting"][p1 > (4 - p2) / 3 + 0.15]) == {"g1"}
    assert set(lim["limiting"][(p1 < (4 - p2) / 3 - 0.15) & (lim["violated:g2"] > 0)]) == {"g2"}
    # share of the infeasible samples that violate the limiting CQA (disjoint events: max / sum)
    vv = lim[["violated:g1", "violated:g2"]].to_numpy()
    some = vv.sum(axis=1) > 0
    assert np.allclose(lim["limiting_share"][some], vv[some].max(axis=1) / vv[some].sum(axis=1))
    assert lim["limiting_share"][~some].isna().all() and set(lim["limiting"][~some]) <= {""}


def test_limiting_cqa_at_one_point_and_failed_samples():
    model = _build(_sim_with_holes)
    lim = limiting_cqa(model, [[1.9], [0.5]], n_samples=2000, random_state=0)
    assert len(lim) == 1 and lim["limiting"][0] == "g1"
    frac_failed = stats.norm.sf(2.0)
    assert abs(lim["failed"][0] - frac_failed) < 0.015
    # failed samples are reported apart, never counted against a CQA, and infeasible
    v1 = stats.norm.sf(0.1 / SIGMA) - frac_failed  # g1 violated and the simulation did not fail
    assert abs(lim["violated:g1"][0] - v1) < 0.03
    assert lim["probability"][0] + lim["failed"][0] + lim["violated:g1"][0] + lim["violated:g2"][0] == \
        pytest.approx(1.0)


def test_rank_cqas_orders_the_cqas_and_matches_the_closed_form(two_cqa):
    n = 4000
    tab = rank_cqas(two_cqa, GRID, relax=0.5, n_samples=n, confidence=0.85, random_state=2)
    assert list(tab["cqa"]) == ["g2", "g1"]  # g2's boundary moves twice as far in p1
    pts = np.array([(a, b) for a in GRID[0] for b in GRID[1]])
    dmap = monte_carlo_map(two_cqa, GRID, n_samples=n, random_state=2, progress=False)
    assert set(tab["base_points"]) == {int(dmap.region(0.85).sum())}
    assert np.allclose(tab["scale"], SIGMA, rtol=0.05)  # s_k: std of g_k at nominal θp = σ
    base = _exact(pts)[2] >= 0.85
    for row in tab.itertuples():
        r = (row.relax, 0.0) if row.cqa == "g1" else (0.0, row.relax)
        exact_gain = int(((_exact(pts, *r)[2] >= 0.85) & ~base).sum())
        assert exact_gain > 10 and abs(row.gained - exact_gain) <= 0.2 * exact_gain + 4, (row.cqa, row.gained,
                                                                                          exact_gain)
    g1, g2 = (tab.set_index("cqa").loc[k] for k in ("g1", "g2"))
    assert g2.gained > 1.5 * g1.gained
    assert g1.relaxed_points == g1.base_points + g1.gained  # relaxing never loses a point (same samples)
    # absolute amounts per CQA: only g1 relaxed -> g1 first, g2 gains nothing
    tab = rank_cqas(two_cqa, GRID, relax={"g1": 0.3, "g2": 0.0}, n_samples=1000, random_state=2)
    assert list(tab["cqa"]) == ["g1", "g2"] and tab["gained"].iloc[1] == 0 and tab["gained"].iloc[0] > 0
    assert tab.attrs["relaxation"] == "absolute" and tab["scale"].isna().all()


def test_rank_cqas_rejects_bad_relaxations(two_cqa):
    with pytest.raises(ValidationError, match="relax"):
        rank_cqas(two_cqa, GRID, relax={"g1": 0.1})
    with pytest.raises(ValidationError, match="relax"):
        rank_cqas(two_cqa, GRID, relax=-0.1)


def test_plot_limiting_cqa_is_drawn_on_a_figure(two_cqa):
    from matplotlib.figure import Figure

    dmap = monte_carlo_map(two_cqa, GRID, n_samples=1000, random_state=0, progress=False)
    lim = limiting_cqa(two_cqa, dmap, n_samples=1000, random_state=0)
    ax = plot_limiting_cqa(dmap, lim, confidence=0.85)
    assert isinstance(ax.figure, Figure)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("g1 (") for t in texts) and any(t.startswith("g2 (") for t in texts)
    assert any(t.startswith("inside P >= 0.85") for t in texts)
    assert len(ax.collections) >= 2  # the coloured mesh and the region contour
    with pytest.raises(ValueError, match="worst_constraint"):
        plot_limiting_cqa(dmap)  # a Monte Carlo map has no worst_constraint of its own
    with pytest.raises(ValueError, match="entries"):
        plot_limiting_cqa(dmap, ["g1"] * 3)


def test_case1_limiting_cqa_agrees_with_flexibility_index_worst_constraint(case1_model):
    from flexspace.solvers import available_solvers

    if "ipopt" not in available_solvers():
        pytest.skip("ipopt is not available")
    mc = monte_carlo_map(case1_model, n_samples=500, random_state=0, progress=False)  # the seed grid
    lim = limiting_cqa(case1_model, mc, n_samples=500, random_state=0)
    assert set(lim["limiting"][~mc.region(0.85).ravel()]) == {"yield", "purity"}
    sub = [mc.axes[0][[0, 5, 10]], mc.axes[1][[0, 10, 20]]]
    fi = flexibility_index_map(case1_model, grid=sub, uncertainty_set="ellipsoid", solver="ipopt", progress=False)
    outside = ~fi.region(0.85).ravel()
    assert outside.sum() >= 4
    by_point = {tuple(p): name for p, name in zip(mc.points, lim["limiting"])}
    mc_lim = np.array([by_point[tuple(p)] for p in fi.points])
    assert list(mc_lim[outside]) == list(fi.table["worst_constraint"].to_numpy()[outside])
    ax = plot_limiting_cqa(fi)  # a flexibility-index map brings its own worst_constraint
    assert ax.get_legend() is not None
