"""Notebook display of design-space results: figures shown as PNG without pyplot, HTML views
of maps, regions and centres (escaped), and θp units on the axes."""
import subprocess
import sys

import numpy as np
import pyomo.environ as pyo
import pytest

from flexspace import ProcessModel
from flexspace.designspace import DesignSpaceMap, FlexTestRegion, MapCentre, Rectangle, monte_carlo_map
from flexspace.errors import ValidationError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _map(names=("a", "b"), solver="monte carlo"):
    axes = [np.linspace(0.0, 1.0, 3), np.linspace(10.0, 20.0, 4)]
    rows = [{"probability": p, "status": "ok", "solver": solver} for p in np.linspace(0.0, 1.0, 12)]
    rows[5].update(probability=float("nan"), status="failed")
    return DesignSpaceMap.from_rows("mc", list(names), axes, rows, settings={"n_samples": 100},
                                    run_info={"theta_p_units": ["K", ""]})


# --------------------------------------------------------------------------- figures without pyplot
NO_PYPLOT = r"""
import sys

class _Block:  # any import of pyplot fails here (Pyomo's own attempt included: it treats it as absent)
    def find_spec(self, name, path=None, target=None):
        if name == "matplotlib.pyplot":
            raise ImportError("pyplot is blocked in this test")
        return None

sys.meta_path.insert(0, _Block())
import numpy as np
from flexspace.designspace import DesignSpaceMap, design_space_figure, plot_limiting_cqa

MAGIC = b"\x89PNG\r\n\x1a\n"
axes = [np.linspace(0, 1, 3), np.linspace(10, 20, 4)]
rows = [{"probability": p, "status": "ok", "solver": "x", "worst_constraint": "g1" if p < 0.5 else ""}
        for p in np.linspace(0, 1, 12)]
dmap = DesignSpaceMap.from_rows("flexindex", ["a", "b"], axes, rows)
ax = dmap.plot()
assert ax._repr_png_().startswith(MAGIC)
assert ax.figure._repr_png_().startswith(MAGIC)
assert design_space_figure([dmap, dmap])._repr_png_().startswith(MAGIC)
assert plot_limiting_cqa(dmap)._repr_png_().startswith(MAGIC)
assert "data:image/png;base64," in dmap._repr_html_()
try:
    from IPython.core.formatters import DisplayFormatter
except ImportError:
    pass
else:  # what Jupyter does with a cell's last expression
    data, _ = DisplayFormatter().format(ax)
    assert data["image/png"].startswith(MAGIC)
assert "matplotlib.pyplot" not in sys.modules
print("ok")
"""


def test_figures_render_png_without_pyplot():
    out = subprocess.run([sys.executable, "-c", NO_PYPLOT], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]


def test_own_axes_are_used_and_returned_and_savefig_works(tmp_path):
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    dmap = _map()
    assert dmap.plot(ax=ax) is ax and type(ax) is Axes  # the user's axes, as they are
    new = dmap.plot()
    assert new.figure is not fig and hasattr(new, "_repr_png_")
    new.figure.savefig(tmp_path / "map.png")
    assert (tmp_path / "map.png").read_bytes().startswith(PNG_MAGIC)


# --------------------------------------------------------------------------- HTML views
def test_map_html_counts_statuses_and_is_escaped():
    dmap = _map(names=("T<1>", "b&c"), solver="<solver>")
    out = dmap._repr_html_()
    assert "3 x 4 = 12 points" in out
    assert ">ok<" in out and ": 11" in out and ">failed<" in out and ": 1" in out
    assert "T&lt;1&gt; [K]" in out and "b&amp;c" in out and "T<1>" not in out
    assert "data:image/png;base64," in out
    assert repr(dmap).startswith("DesignSpaceMap(kind='mc'")  # the plain repr is unchanged


def test_region_and_centre_html():
    rect = Rectangle(center=np.array([0.5, 15.0]), delta_p=0.4, lower=np.array([0.3, 12.0]),
                     upper=np.array([0.7, 18.0]), chi=-1e-6, converged=True)
    region = FlexTestRegion(["T", "r"], 0.85, 1.9, "ellipsoid", "scip", True, 1e-5, [rect], 2.0, 7, 0,
                            notes=["<note>"], units={"T": "K"})
    out = region._repr_html_()
    assert ">ok<" in out and "T [K]" in out and "0.3 .. 0.7" in out and "&lt;note&gt;" in out
    assert "<note>" not in out
    assert str(region).startswith("Algorithm 3 (ellipsoid, solver=scip, global)")
    mapped = DesignSpaceMap.from_region(region, [np.linspace(0, 1, 3), np.linspace(10, 20, 3)])
    assert mapped.axis_label(0) == "T [K]" and mapped.axis_label(1) == "r"
    centre = MapCentre(np.array([0.5, 15.0]), 4, 0.3, 0.2, 0.85, 6)
    assert "0.5, 15" in centre._repr_html_()


# --------------------------------------------------------------------------- units
def _units_model(**kw):
    u = pyo.units
    m = pyo.ConcreteModel()
    m.T = pyo.Param(mutable=True, initialize=300.0, units=u.K)
    m.r = pyo.Param(mutable=True, initialize=1.0, units=u.dimensionless)
    m.k = pyo.Param(mutable=True, initialize=1.0)
    m.g = pyo.Expression(expr=m.k * m.T / 300.0 - 2.5 + m.r)

    def simulator(tp, tm):
        tp = np.atleast_2d(tp)
        return (tm[:, 0] * tp[:, 0] / 300.0 - 2.5 + tp[:, 1])[:, None]

    return ProcessModel(m, theta_p={"T": m.T, "r": m.r}, theta_m={"k": m.k}, constraints={"g": m.g},
                        covariance=[[0.04]], theta_p_bounds=[(250.0, 350.0), (0.5, 1.5)], simulator=simulator,
                        name="units", **kw)


def test_axis_labels_carry_pyomo_units():
    model = _units_model()
    assert model.theta_p_units == ["K", ""]  # dimensionless: no label
    ax = monte_carlo_map(model, grid=(3, 3), n_samples=50, progress=False).plot()
    assert ax.get_ylabel() == "T [K]" and ax.get_xlabel() == "r"


def test_display_units_only_where_pyomo_states_none():
    assert _units_model(theta_p_units={"r": "mol/mol"}).theta_p_units == ["K", "mol/mol"]
    assert _units_model(theta_p_units={"T": "K"}).theta_p_units == ["K", ""]  # agrees: accepted
    with pytest.raises(ValidationError, match="Pyomo model states 'K'"):
        _units_model(theta_p_units={"T": "degC"})
    with pytest.raises(ValidationError, match="not process parameters"):
        _units_model(theta_p_units={"x": "s"})


def test_shipped_case_labels_carry_units():
    from flexspace.models.cases import case1

    model = case1.model(formulation="reduced")
    dmap = monte_carlo_map(model, grid=(2, 3), n_samples=20, progress=False)
    assert (dmap.axis_label(0), dmap.axis_label(1)) == ("R_BA", "tau [s]")
