"""The example notebook runs top to bottom in a fresh kernel of this Python, the map's figure
is shown as image/png without importing pyplot, and results show their HTML view.

The kernel is this interpreter (``sys.executable``), through a kernelspec written to a
temporary folder: no installed kernelspec is needed or changed."""
import base64
import json
import pathlib
import sys

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = pathlib.Path(__file__).resolve().parents[1] / "examples" / "notebooks" / "design_space.ipynb"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _kernel_manager(tmp_path):
    """A KernelManager for a kernelspec (in ``tmp_path``) that runs ``sys.executable``."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    kdir = tmp_path / "kernels" / "flexspace-test"
    kdir.mkdir(parents=True)
    (kdir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "flexspace test kernel", "language": "python"}))
    ksm = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    return KernelManager(kernel_name="flexspace-test", kernel_spec_manager=ksm)


def _run(nb, tmp_path):
    """Execute ``nb``; the kernel (and its connection file) is ended here, whatever happened: a
    kernel manager we pass in is not shut down by nbclient, and its process would outlive the test."""
    km = _kernel_manager(tmp_path)
    km.connection_file = str(tmp_path / "kernel-connection.json")
    client = nbclient.NotebookClient(nb, km=km, timeout=120, resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    finally:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
        km.cleanup_resources()
    return nb


def _images(cell):
    return [base64.b64decode(o["data"]["image/png"]) for o in cell.get("outputs", [])
            if "image/png" in o.get("data", {})]


def _cell(nb, last_line):
    hits = [c for c in nb.cells if c.cell_type == "code" and c.source.strip().splitlines()[-1] == last_line]
    assert len(hits) == 1, f"one code cell should end with {last_line!r}"
    return hits[0]


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert not any("pyplot" in c.source for c in nb.cells if c.cell_type == "code")


def test_notebook_runs_and_shows_figure_and_html(tmp_path):
    nb = _run(nbformat.read(NOTEBOOK, as_version=4), tmp_path)
    plot = _cell(nb, "dmap.plot()")
    images = _images(plot)
    assert len(images) == 1 and images[0].startswith(PNG_MAGIC), plot.outputs  # once, without pyplot
    for name in ("dmap", "result"):
        html = [o["data"]["text/html"] for o in _cell(nb, name).outputs if "text/html" in o.get("data", {})]
        assert len(html) == 1 and "status" in html[0], name
    dmap_html = [o["data"]["text/html"] for o in _cell(nb, "dmap").outputs if "text/html" in o.get("data", {})][0]
    assert "data:image/png;base64," in dmap_html and "tau [s]" in dmap_html


def test_one_image_with_pyplot_inline(tmp_path):
    """With pyplot imported and the inline backend, a figure the plotting functions make is
    still shown once (it is not pyplot's), and axes the user passes are pyplot's to show."""
    from nbformat.v4 import new_code_cell, new_notebook

    setup = """import numpy as np
from flexspace.designspace import DesignSpaceMap
axes = [np.linspace(0, 1, 3), np.linspace(10, 20, 4)]
rows = [{"probability": p, "status": "ok", "solver": "monte carlo"} for p in np.linspace(0, 1, 12)]
dmap = DesignSpaceMap.from_rows("mc", ["a", "b"], axes, rows)"""
    nb = new_notebook(cells=[new_code_cell("%matplotlib inline\nimport matplotlib.pyplot as plt"),
                             new_code_cell(setup), new_code_cell("dmap.plot()"),
                             new_code_cell("fig, ax = plt.subplots()\ndmap.plot(ax=ax)")])
    nb = _run(nb, tmp_path)
    assert len(_images(nb.cells[2])) == 1, nb.cells[2].outputs
    assert len(_images(nb.cells[3])) == 1, nb.cells[3].outputs
