"""The IDAES heat-exchanger network of IDAES PR #1398 (``flexibility_analysis`` examples), handed
to flexspace as the flowsheet it is.

The flowsheet (facts from the peer's example, written again here from its equations):

* seven IDAES ``Heater`` units (heater1–3, cooler1–4) on the ideal BTX *vapour* property
  package (``BTXParameterBlock``, state variables FTPz), three Arcs (heater1 → heater2,
  cooler1 → cooler4, cooler2 → cooler3), expanded;
* energy matches ``Q_heater_i = −Q_cooler_i`` (i = 1..3), every cooler duty ≤ 0, six
  approach temperatures ≥ 5 K, cooler3 outlet ≤ 423 K;
* fixed inlets: T (488, 720, 683, —, 400 K), heater2 outlet 663 K, heater3 outlet 550 K,
  cooler4 outlet 450 K, flows 1 mol/s, 1 atm, equimolar benzene/toluene; heater3's inlet
  flow in [0.8, 1.2];
* scaled by Pyomo's ``core.scale_model`` (temperatures × 1e-2, pressures × 1e-5, heats and
  enthalpies × 1e-4), so θ and every bound below are in *scaled* units;
* θ (uncertain): heater1 inlet T (4.88 ± 0.10), cooler2 inlet T (6.83 ± 0.10), heater1 inlet
  flow (1 ± 0.2), cooler2 inlet flow (1 ± 0.2) — all fixed Vars of the flowsheet;
* controls: cooler4's heat duty (scaled, no bounds) and heater3's inlet flow;
* the peer's test reads every inequality *and every variable bound* as a performance
  constraint ``g ≤ u`` and reports max over θ of min over z of u; its sampled value on a
  3 × 3 × 3 × 3 grid is 0.375170890924453 (the peer's regression test).

Here: ``ProcessModel(..., bounds_as_cqas=True)`` reads the bounds the same way.  Run::

    .venv/bin/python examples/idaes_hx_network.py [--solver ipopt] [--method grid|vertex]

(the defaults, Ipopt on the peer's 3-point grid, reproduce the published value; the global
solvers are refused with the reason: cooler 4's duty has no lower bound.)
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pyomo.environ as pyo

#: the peer's published flexibility-test value (IDAES PR #1398, ``examples/tests/test_examples.py``)
PUBLISHED_TEST_VALUE = 0.375170890924453
#: θ nominal (scaled units) and the half-widths of the peer's box: T ± 0.10 (10 K), flow ± 0.2
THETA_NOMINAL = np.array([4.88, 6.83, 1.0, 1.0])
HALF_WIDTH = np.array([0.10, 0.10, 0.2, 0.2])
#: cap on δ (σ units = the peer's half-widths): 2 keeps the flows positive (1 − 2·0.2 = 0.6)
DELTA_MAX = 2.0
#: approach temperature [K] of the peer's example
APPROACH = 5.0
#: IDAES's unit initialisers call Ipopt; here through PyNumero (``cyipopt``), which needs no executable
_INIT_SOLVER = "cyipopt"


def _units(m):
    from idaes.models.unit_models.heater import Heater

    for name in ("heater1", "cooler1", "heater2", "cooler2", "heater3", "cooler3", "cooler4"):
        setattr(m.fs, name, Heater(property_package=m.fs.properties))
    fs = m.fs
    from pyomo.network import Arc

    fs.s1 = Arc(source=fs.heater1.outlet, destination=fs.heater2.inlet)
    fs.s2 = Arc(source=fs.cooler1.outlet, destination=fs.cooler4.inlet)
    fs.s3 = Arc(source=fs.cooler2.outlet, destination=fs.cooler3.inlet)


def _specs(fs):
    q = lambda u: getattr(fs, u).heat_duty[0]  # noqa: E731
    t_in = lambda u: getattr(fs, u).inlet.temperature[0]  # noqa: E731
    t_out = lambda u: getattr(fs, u).outlet.temperature[0]  # noqa: E731
    fs.duty_cons = pyo.ConstraintList()
    for h, c in (("heater1", "cooler1"), ("heater2", "cooler2"), ("heater3", "cooler3")):
        fs.duty_cons.add(q(h) == -q(c))
    for c in ("cooler1", "cooler2", "cooler3", "cooler4"):
        fs.duty_cons.add(q(c) <= 0)
    fs.temp_approach = pyo.ConstraintList()
    for h, c in (("heater1", "cooler1"), ("heater2", "cooler2"), ("heater3", "cooler3")):
        fs.temp_approach.add(t_in(c) >= t_out(h) + APPROACH)
        fs.temp_approach.add(t_out(c) >= t_in(h) + APPROACH)
    for unit, temp in (("heater1", 488), ("cooler1", 720), ("cooler2", 683), ("heater3", 400)):
        t_in(unit).fix(temp)
    t_out("heater2").fix(663)
    t_out("heater3").fix(550)
    t_out("cooler4").fix(450)
    fs.cooler3_out_temp_spec = pyo.Constraint(expr=t_out("cooler3") <= 423)
    for unit in ("heater1", "cooler1", "cooler2", "heater3"):
        port = getattr(fs, unit).inlet
        if unit != "heater3":
            port.flow_mol[0].fix(1)
        port.pressure[0].fix(101325)
        for comp in ("benzene", "toluene"):
            port.mole_frac_comp[0, comp].fix(0.5)
    fs.heater3.inlet.flow_mol[0].setlb(0.8)
    fs.heater3.inlet.flow_mol[0].setub(1.2)


def _scale(m):
    from idaes.core.base.control_volume_base import ControlVolumeBlockData

    sf = m.scaling_factor = pyo.Suffix(direction=pyo.Suffix.EXPORT)
    for b in m.block_data_objects(active=True, descend_into=True):
        if not isinstance(b, ControlVolumeBlockData):
            continue
        sf[b.heat[0]] = 1e-4
        for s in (b.properties_in[0], b.properties_out[0]):
            sf[s.pressure] = 1e-5
            sf[s.temperature] = 1e-2
            sf[s.enth_mol_phase["Vap"]] = 1e-4
            for comp in ("benzene", "toluene"):
                sf[s.enth_mol_phase_comp["Vap", comp]] = 1e-4
            for c in list(s.eq_enth_mol_phase.values()) + list(s.eq_enth_mol_phase_comp.values()):
                sf[c] = 1e-4
        for c in list(b.enthalpy_balances.values()) + list(b.pressure_balance.values()):
            sf[c] = 1e-4
    for c in m.fs.duty_cons.values():
        sf[c] = 1e-4
    for arc in ("s1", "s2", "s3"):
        sf[getattr(m.fs, f"{arc}_expanded").pressure_equality[0]] = 1e-4
    sf[m.obj] = 1e-4
    pyo.TransformationFactory("core.scale_model").apply_to(m, rename=False)


def create_flowsheet():
    """The scaled flowsheet, its θ (the four fixed Vars) and the controls, as the peer builds it."""
    from idaes.core import FlowsheetBlock
    from idaes.models.properties.activity_coeff_models.BTX_activity_coeff_VLE import BTXParameterBlock

    m = pyo.ConcreteModel()
    m.fs = FlowsheetBlock(dynamic=False)
    m.fs.properties = BTXParameterBlock(valid_phase="Vap", activity_coeff_model="Ideal", state_vars="FTPz")
    _units(m)
    _specs(m.fs)
    m.obj = pyo.Objective(expr=-m.fs.cooler4.heat_duty[0])
    pyo.TransformationFactory("network.expand_arcs").apply_to(m)
    _scale(m)
    fs = m.fs
    theta = [fs.heater1.inlet.temperature[0], fs.cooler2.inlet.temperature[0],
             fs.heater1.inlet.flow_mol[0], fs.cooler2.inlet.flow_mol[0]]
    controls = [fs.cooler4.control_volume.heat[0], fs.heater3.control_volume.properties_in[0].flow_mol]
    return m, theta, controls


def initialise(m) -> None:
    """Unit-by-unit initialisation (the peer's order), then one Ipopt solve of the nominal flowsheet."""
    from idaes.core.util.initialization import propagate_state

    fs = m.fs
    fs.heater1.heat_duty[0].fix(0.1)
    fs.heater1.initialize(solver=_INIT_SOLVER)
    fs.heater1.heat_duty[0].unfix()
    propagate_state(fs.s1)
    fs.cooler1.heat_duty[0].fix(-fs.heater1.heat_duty[0].value)
    fs.cooler1.initialize(solver=_INIT_SOLVER)
    fs.cooler1.heat_duty[0].unfix()
    for unit, fix, duty_from in (("heater2", "inlet", None), ("cooler2", None, "heater2")):
        u = getattr(fs, unit)
        if fix:
            u.inlet.temperature[0].fix()
        if duty_from:
            u.heat_duty[0].fix(-getattr(fs, duty_from).heat_duty[0].value)
        u.initialize(solver=_INIT_SOLVER)
        u.inlet.temperature[0].unfix() if fix else u.heat_duty[0].unfix()
    fs.heater3.initialize(solver=_INIT_SOLVER)
    propagate_state(fs.s3)
    fs.cooler3.inlet.temperature[0].fix()
    fs.cooler3.heat_duty[0].fix(-fs.heater3.heat_duty[0].value)
    fs.cooler3.initialize(solver=_INIT_SOLVER)
    fs.cooler3.heat_duty[0].unfix()
    fs.cooler3.inlet.temperature[0].unfix()
    propagate_state(fs.s2)
    fs.cooler4.inlet.temperature[0].fix()
    fs.cooler4.initialize(solver=_INIT_SOLVER)
    fs.cooler4.inlet.temperature[0].unfix()


def process_model(initialise_flowsheet: bool = True):
    """The flowsheet as a :class:`flexspace.ProcessModel`: θ the four fixed Vars (box
    half-widths = 1 σ, so the peer's box is the box set at δ = 1), the two controls, every
    inequality of the flowsheet a CQA and every variable bound a CQA (``bounds_as_cqas``)."""
    from flexspace import ProcessModel

    m, theta, controls = create_flowsheet()
    if initialise_flowsheet:
        initialise(m)
    cqas = {c.name: c for c in m.component_data_objects(pyo.Constraint, active=True, descend_into=True)
            if not c.equality}
    return ProcessModel(m, theta_p=[], theta_m=theta, constraints=cqas, covariance=np.diag(HALF_WIDTH ** 2),
                        theta_m_nominal=THETA_NOMINAL, controls=controls, bounds_as_cqas=True, delta_max=DELTA_MAX,
                        name="idaes_hx_network", sources="IDAES PR #1398, examples/idaes_hx_network.py")


def main(argv=None) -> None:
    from flexspace import flexibility_test
    from flexspace.errors import FlexspaceError

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--solver", default="ipopt")
    p.add_argument("--method", default="grid")
    p.add_argument("--time-limit", type=float, default=120.0)
    a = p.parse_args(argv)
    model = process_model()
    t0 = time.perf_counter()
    try:
        res = flexibility_test(model, [], delta=1.0, uncertainty_set="box", solver=a.solver, method=a.method,
                               options={"time_limit": a.time_limit})
    except FlexspaceError as exc:  # a refusal is an answer: print it, no traceback
        raise SystemExit(f"error: {exc}") from None
    print(res)
    print(f"published (peer, sampled grid): {PUBLISHED_TEST_VALUE:.9f}; {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
