"""Adaptive maps: the same region as the dense map where it is decided, solved points only
where the region can change, failed points never inferred over, inferred points labelled."""
import numpy as np
import pyomo.environ as pyo
import pytest

import flexspace
from flexspace.designspace import (DesignSpaceMap, adaptive_flexibility_index_map, adaptive_monte_carlo_map,
                                   flexibility_index_map, monte_carlo_map)

AXIS = np.linspace(-1.5, 1.5, 41)


def _disk_g(tp, tm):
    tp = np.atleast_2d(tp)
    return (tm[:, :1] + tp[:, :1] ** 2 + tp[:, 1:2] ** 2 - 1.0)


def disk_simulator(theta_p, theta_m):
    """g = θ + a² + b² − 1: P(g ≤ 0) ≥ p_c on a disk of (a, b)."""
    return _disk_g(np.asarray(theta_p, float), np.atleast_2d(np.asarray(theta_m, float)))


def broken_simulator(theta_p, theta_m):
    """The disk, but the simulation raises in a patch that crosses the disk's boundary."""
    tp = np.asarray(theta_p, float)
    if tp[0] > 0.55 and -0.45 < tp[1] < 0.05:
        raise RuntimeError("simulation failed")
    return disk_simulator(theta_p, theta_m)


def island_simulator(theta_p, theta_m):
    """A region that is one small island between coarse lattice points: ||(a, b) − (0.2, 0.2)|| < 0.083."""
    tp = np.atleast_2d(np.asarray(theta_p, float))
    tm = np.atleast_2d(np.asarray(theta_m, float))
    return 0.01 * tm[:, :1] + (tp[:, :1] - 0.2) ** 2 + (tp[:, 1:2] - 0.2) ** 2 - 0.1 ** 2


def _model(simulator):
    m = pyo.ConcreteModel()
    m.a = pyo.Param(mutable=True, initialize=0.0)
    m.b = pyo.Param(mutable=True, initialize=0.0)
    m.t = pyo.Param(mutable=True, initialize=0.0)
    m.g = pyo.Expression(expr=m.t + m.a ** 2 + m.b ** 2 - 1.0)
    return flexspace.ProcessModel(m, theta_p={"a": m.a, "b": m.b}, theta_m={"t": m.t}, constraints={"g": m.g},
                                  covariance=[[0.3 ** 2]], theta_m_nominal=[0.0],
                                  theta_p_bounds=[(-1.5, 1.5), (-1.5, 1.5)], simulator=simulator, name="disk")


def _boundary(region):
    """Points whose membership differs from a grid neighbour's (both axes)."""
    b = np.zeros_like(region)
    for ax in range(region.ndim):
        lo = [slice(None)] * region.ndim
        hi = [slice(None)] * region.ndim
        lo[ax], hi[ax] = slice(None, -1), slice(1, None)
        d = region[tuple(lo)] != region[tuple(hi)]
        b[tuple(lo)] |= d
        b[tuple(hi)] |= d
    return b


def _solved(dmap):
    return (dmap.table["status"].to_numpy() != "inferred").reshape(dmap.shape)


def test_adaptive_mc_equals_dense_where_decided_and_solves_the_boundary():
    model = _model(disk_simulator)
    dense = monte_carlo_map(model, grid=[AXIS, AXIS], n_samples=2000, progress=False)
    ad = adaptive_monte_carlo_map(model, grid=[AXIS, AXIS], confidence=0.85, n_samples=2000, coarse_step=8)
    solved = _solved(ad)
    assert ad.shape == dense.shape and ad.run_info["solved"] == solved.sum() < 0.4 * solved.size
    assert ad.run_info["rounds"][0] == 36  # the 6 x 6 coarse lattice first
    # solved points: the dense map's very numbers (common random numbers)
    assert np.array_equal(ad.probability[solved], dense.probability[solved])
    assert np.isnan(ad.probability[~solved]).all() and not ad.failed.any()
    # the region of solved points only is a strict subset; with inferred points it is the dense region
    rd = dense.region(0.85)
    assert (ad.region(0.85) <= rd).all() and ad.region(0.85).sum() < rd.sum()
    assert np.array_equal(ad.region(0.85, include_inferred=True), rd)
    assert (_boundary(rd) <= solved).all()  # every point where membership changes was solved
    assert (_boundary(ad.region(0.85, include_inferred=True)) <= solved).all()  # the map's own boundary too
    inferred = ad.table[ad.table.status == "inferred"]
    assert set(inferred.inferred_member) == {0.0, 1.0} and inferred.message.str.contains("not proven").all()
    with pytest.raises(ValueError, match="decided at confidence 0.85"):
        ad.region(0.9, include_inferred=True)
    assert ad.region(0.9).sum() <= ad.region(0.85).sum()  # solved points answer any confidence


def test_failed_points_are_solved_around_and_never_in_the_region(tmp_path):
    model = _model(broken_simulator)
    dense = monte_carlo_map(model, grid=[AXIS, AXIS], n_samples=500, progress=False)
    ad = adaptive_monte_carlo_map(model, grid=[AXIS, AXIS], confidence=0.85, n_samples=500, coarse_step=8)
    failed = ad.failed
    # the patch holds a coarse point: refinement spreads over the whole patch, every failed point is solved
    assert failed.sum() > 0 and np.array_equal(failed, dense.failed)
    assert not (ad.region(0.85, include_inferred=True) & failed).any()
    # every neighbour of a failed point was solved: nothing is inferred across a failure
    near = _boundary(failed) | failed
    assert (near <= _solved(ad)).all()
    assert np.array_equal(ad.region(0.85, include_inferred=True), dense.region(0.85))
    # inferred points survive the CSV round trip, still labelled and still refused at another p_c
    ad.to_csv(tmp_path / "adaptive.csv")
    back = DesignSpaceMap.from_csv(tmp_path / "adaptive.csv")
    assert back.status_counts == ad.status_counts
    assert np.array_equal(back.region(0.85, include_inferred=True), ad.region(0.85, include_inferred=True))
    with pytest.raises(ValueError):
        back.region(0.8, include_inferred=True)


def test_an_island_between_solved_points_is_not_claimed():
    """The limit of any adaptive map, stated: a region that falls between solved points is
    missed — and then only the inferred label (not a solved point) says 'outside'."""
    model = _model(island_simulator)
    dense = monte_carlo_map(model, grid=[AXIS, AXIS], n_samples=500, progress=False)
    ad = adaptive_monte_carlo_map(model, grid=[AXIS, AXIS], confidence=0.85, n_samples=500, coarse_step=8)
    assert dense.region(0.85).sum() > 0 and ad.region(0.85, include_inferred=True).sum() == 0
    missed = dense.region(0.85) & ~ad.region(0.85, include_inferred=True)
    assert (ad.table.status.to_numpy().reshape(ad.shape)[missed] == "inferred").all()


def test_adaptive_index_map_equals_dense_on_case1(case1_model):
    grid = [np.linspace(4.0, 6.0, 3), np.linspace(350.0, 550.0, 9)]
    dense = flexibility_index_map(case1_model, grid=grid, solver="maingo", progress=False)
    ad = adaptive_flexibility_index_map(case1_model, grid=grid, confidence=0.85, solver="maingo", coarse_step=(2, 4))
    solved = _solved(ad)
    assert solved.sum() < solved.size and set(ad.table.status) <= {"ok", "nominal infeasible", "inferred"}
    assert np.allclose(ad.probability[solved], dense.probability[solved], atol=1e-4)
    assert np.array_equal(ad.region(0.85, include_inferred=True), dense.region(0.85))
    assert (_boundary(dense.region(0.85)) <= solved).all()
    assert ad.settings["adaptive"]["delta_threshold"] > 0 and ad.settings["solver"] == "maingo"


def test_adaptive_map_on_a_dask_local_cluster_equals_serial(tmp_path):
    distributed = pytest.importorskip("distributed")
    model = _model(disk_simulator)
    serial = adaptive_monte_carlo_map(model, grid=[AXIS, AXIS], confidence=0.85, n_samples=1000, coarse_step=8)
    import dask

    with dask.config.set({"temporary-directory": str(tmp_path)}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None,
                                     local_directory=str(tmp_path)) as cluster, distributed.Client(cluster) as client:
        on_dask = adaptive_monte_carlo_map(model, grid=[AXIS, AXIS], confidence=0.85, n_samples=1000,
                                           coarse_step=8, workers=client.get_executor())
    assert on_dask.run_info["executor"] == "ClientExecutor"
    assert on_dask.run_info["solved"] == serial.run_info["solved"]
    assert np.array_equal(on_dask.region(0.85), serial.region(0.85))
    assert np.array_equal(on_dask.region(0.85, include_inferred=True), serial.region(0.85, include_inferred=True))


def test_coarse_step_is_checked():
    model = _model(disk_simulator)
    with pytest.raises(flexspace.errors.ValidationError):
        adaptive_monte_carlo_map(model, grid=[AXIS, AXIS], coarse_step=(4, 4, 4))
    with pytest.raises(flexspace.errors.ValidationError):
        adaptive_monte_carlo_map(model, grid=[AXIS, AXIS], coarse_step=0)
