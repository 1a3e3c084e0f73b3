"""Progress per finished point (not per chunk): ``progress=f(done, total)`` is called once per
point, in order, serially, on threads and on the map's own process pool — also while a chunk
is still running — and the maps are the same whichever way they ran."""
import concurrent.futures as cf
import pathlib
import time

import numpy as np
import pytest

from flexspace.designspace import flexibility_index_map, monte_carlo_map
from flexspace.designspace.engine import _MapPool, run_chunks
from flexspace.errors import ValidationError


@pytest.fixture(scope="module")
def model():
    from flexspace.models.cases import case1

    return case1.model(formulation="reduced")


def _recorder():
    calls = []
    return calls, lambda done, total: calls.append((done, total))


def _executors():
    return {"serial": None, "threads": cf.ThreadPoolExecutor(2), "processes": 2}


@pytest.mark.timeout(300)
def test_monte_carlo_callback_once_per_point_and_same_map(model):
    maps = {}
    for name, workers in _executors().items():
        calls, cb = _recorder()
        maps[name] = monte_carlo_map(model, grid=(4, 5), n_samples=200, batch="grid", workers=workers,
                                     chunk_size=7, progress=cb)
        assert calls == [(k, 20) for k in range(1, 21)], name
        if hasattr(workers, "shutdown"):
            workers.shutdown()
    for name in ("threads", "processes"):
        assert np.array_equal(maps[name].probability, maps["serial"].probability), name
        assert list(maps[name].table.status) == list(maps["serial"].table.status)


@pytest.mark.timeout(300)
def test_index_map_callback_once_per_point(model):
    maps = {}
    for name, workers in _executors().items():
        calls, cb = _recorder()
        maps[name] = flexibility_index_map(model, grid=(2, 3), solver="ipopt", workers=workers, chunk_size=3,
                                           progress=cb)
        assert [d for d, _ in calls] == list(range(1, 7)) and {t for _, t in calls} == {6}, name
        if hasattr(workers, "shutdown"):
            workers.shutdown()
    for name in ("threads", "processes"):
        assert list(maps[name].table.status) == list(maps["serial"].table.status), name
        assert np.allclose(maps[name].probability, maps["serial"].probability, atol=1e-6, equal_nan=True)


def _handshake_chunk(ackdir, items, report=None):
    """Reports each point, then waits until the map's callback has seen it (an ack file per
    count), so a chunk finishes only if its points were reported while it ran."""
    out = []
    for k, (i, _) in enumerate(items, start=1):
        if report is not None:
            report(i)
        ack = pathlib.Path(ackdir, f"ack{k}")
        deadline = time.monotonic() + 30  # a safety net, never a speed check: a missed report fails below
        while not ack.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        out.append((i, {"acked": ack.exists()}))
    return out


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["serial", "threads", "processes"])
def test_points_are_reported_while_their_chunk_runs(kind, tmp_path):
    points = np.arange(5, dtype=float)[:, None]

    def cb(done, total):
        (tmp_path / f"ack{done}").touch()

    executor = {"serial": None, "threads": cf.ThreadPoolExecutor(1), "processes": _MapPool(1)}[kind]
    try:
        rows = run_chunks(_handshake_chunk, (str(tmp_path),), points, list(range(5)), 5, executor, None, "", cb)
    finally:
        if executor is not None:
            executor.shutdown()
    assert [rows[i]["acked"] for i in range(5)] == [True] * 5


def test_progress_must_be_a_flag_or_a_callable(model):
    with pytest.raises(ValidationError, match="progress must be"):
        monte_carlo_map(model, grid=(2, 2), n_samples=10, progress="yes")
