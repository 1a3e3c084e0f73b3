"""The heat-exchanger network with one cooling duty (a control) and four uncertain temperatures.

The classic flexibility benchmark (Grossmann & Floudas, Comput. Chem. Eng. 11 (1987) 675;
after Saboo, Morari & Woodcock 1985), as stated in FlexJuMP's documentation
(github.com/pulsipher/FlexJuMP.jl, ``docs/src/examples.md``, "Heat Exchanger Network"):

* uncertain temperatures θm = (T1, T3, T5, T8) [K], nominal (620, 388, 583, 313), variance
  11.11 K² each (independent: 3σ = 10 K, the historically reported ±10 K deviations);
* the control (recourse variable) is the cooling duty Qc [kW];
* constraints ``g ≤ 0`` (FlexJuMP's five, verbatim)::

      g1 = -350   - 0.67 Qc + T3
      g2 = 1388.5 + 0.5 Qc  - 0.75 T1 - T3 - T5
      g3 = 2044   + Qc      - 1.5 T1  - 2 T3 - T5
      g4 = 2830   + Qc      - 1.5 T1  - 2 T3 - T5 - 2 T8
      g5 = -3153  - Qc      + 1.5 T1  + 2 T3 + T5 + 3 T8

* published result: the box flexibility index with ±10 K half-widths is 0.5 (only ±5 K is
  feasible; FlexJuMP's documentation, and Grossmann & Floudas 1987).

flexspace needs finite control bounds and a process parameter θp (Algorithms 2 and 3 map
over θp).  Both are our additions, chosen not to change the published answer:

* ``Qc ∈ [0, 1000]`` kW (a cooling duty is non-negative; 1000 is far above any duty the
  constraints allow near the nominal, where Qc ∈ [75, 85]);
* θp = the cooler's operating range: its minimum duty (turndown) ``Qc_min`` and its
  capacity ``Qc_max`` [kW], through two more constraints ``min_duty = Qc_min − Qc`` and
  ``capacity = Qc − Qc_max``; nominal (20, 200) kW, where neither binds (the ±10 K box
  index needs Qc between 67.5 and 102.5 kW, so the published 0.5 is unchanged), map
  bounds Qc_min ∈ [0, 100], Qc_max ∈ [60, 240] kW (the nominal temperatures need
  Qc ∈ [75, 85]: outside it the nominal point is infeasible).
"""
from __future__ import annotations

import functools

import numpy as np
import pyomo.environ as pyo

from ...errors import UnknownNameError
from ..base import ProcessModel

#: nominal (T1, T3, T5, T8) [K]: FlexJuMP docs / Grossmann & Floudas 1987.
T_NOMINAL = np.array([620.0, 388.0, 583.0, 313.0])
#: variance of each temperature [K²]: FlexJuMP docs (3σ = 10 K).
VARIANCE = 11.11
#: the ±10 K deviations of the published box index (FlexJuMP docs).
BOX_HALF_WIDTH = 10.0
#: published box flexibility index with ±10 K half-widths (FlexJuMP docs; Grossmann & Floudas 1987).
PUBLISHED_BOX_INDEX = 0.5
#: control bounds [kW]: our choice (non-negative duty, generous cap), see the module docstring.
QC_BOUNDS = (0.0, 1000.0)
#: θp = (Qc_min, Qc_max) [kW], the cooler's operating range: our addition, nominal and map
#: range (module docstring).
THETA_P_NOMINAL = np.array([20.0, 200.0])
THETA_P_BOUNDS = np.array([[0.0, 100.0], [60.0, 240.0]])
#: display units of θp (labels only: the Pyomo model states no units)
THETA_P_UNITS = {"Qc_min": "kW", "Qc_max": "kW"}

#: g = CONST + QC * Qc + COEF @ (T1, T3, T5, T8) (+ Qc_min, − Qc_max in the last two rows):
#: FlexJuMP docs for g1..g5, our operating range for the last two.
CONST = np.array([-350.0, 1388.5, 2044.0, 2830.0, -3153.0, 0.0, 0.0])
QC = np.array([-0.67, 0.5, 1.0, 1.0, -1.0, 1.0, -1.0])
COEF = np.array([
    [0.0, 1.0, 0.0, 0.0],
    [-0.75, -1.0, -1.0, 0.0],
    [-1.5, -2.0, -1.0, 0.0],
    [-1.5, -2.0, -1.0, -2.0],
    [1.5, 2.0, 1.0, 3.0],
    [0.0, 0.0, 0.0, 0.0],
    [0.0, 0.0, 0.0, 0.0],
])
G_NAMES = ["g1", "g2", "g3", "g4", "g5", "capacity", "min_duty"]


def linear_data(theta_p, theta_m):
    """``(a (N, 7), B (N, 7, 1))`` with ``g = a + B Qc`` at θp = (Qc_min, Qc_max), per row of θm."""
    tm = np.atleast_2d(np.asarray(theta_m, float))
    qmin, qmax = np.asarray(theta_p, float).ravel()
    a = CONST + tm @ COEF.T
    a[:, 5] -= qmax
    a[:, 6] += qmin
    B = np.broadcast_to(QC[None, :, None], (tm.shape[0], len(QC), 1)).copy()
    return a, B


def build_pyomo() -> pyo.ConcreteModel:
    """The Pyomo model: T as mutable Params, Qc a bounded Var, g1..g6 as Expressions."""
    m = pyo.ConcreteModel(name="hx_network")
    for name, v in zip(("T1", "T3", "T5", "T8"), T_NOMINAL):
        m.add_component(name, pyo.Param(mutable=True, initialize=float(v)))
    m.Qc_min = pyo.Param(mutable=True, initialize=THETA_P_NOMINAL[0])
    m.Qc_max = pyo.Param(mutable=True, initialize=THETA_P_NOMINAL[1])
    m.Qc = pyo.Var(bounds=QC_BOUNDS, initialize=80.0)
    T = (m.T1, m.T3, m.T5, m.T8)
    for k, nm in enumerate(G_NAMES[:5]):
        expr = CONST[k] + QC[k] * m.Qc + sum(c * t for c, t in zip(COEF[k], T) if c != 0.0)
        m.add_component(nm, pyo.Expression(expr=expr))
    m.capacity = pyo.Expression(expr=m.Qc - m.Qc_max)
    m.min_duty = pyo.Expression(expr=m.Qc_min - m.Qc)
    return m


def model(covariance=None, formulation: str = "full") -> ProcessModel:
    """The HX network as a :class:`~flexspace.ProcessModel` with the control Qc."""
    if formulation != "full":
        raise UnknownNameError(f"hx_network: formulation must be one of ['full'], got {formulation!r}")
    m = build_pyomo()
    cov = VARIANCE * np.eye(4) if covariance is None else covariance
    return ProcessModel(
        m, theta_p={"Qc_min": m.Qc_min, "Qc_max": m.Qc_max},
        theta_m={"T1": m.T1, "T3": m.T3, "T5": m.T5, "T8": m.T8},
        constraints={nm: getattr(m, nm) for nm in G_NAMES},
        covariance=cov, theta_p_bounds=THETA_P_BOUNDS, name="hx_network",
        description="heat-exchanger network, control Qc (Grossmann & Floudas 1987; FlexJuMP docs)",
        sources="FlexJuMP.jl docs/src/examples.md; Grossmann & Floudas, Comput. Chem. Eng. 11 (1987) 675",
        delta_max=6.0, controls={"Qc": m.Qc}, controls_linear=linear_data,
        grid_shape=(11, 19), factory=functools.partial(model, covariance, formulation),
        theta_p_units=THETA_P_UNITS,
    )
