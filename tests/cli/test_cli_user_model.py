"""``flexspace run|index module:factory``: the command line on a user's own model.

The CLI runs in a subprocess from the directory that holds the user's module, with the
current directory removed from ``sys.path`` (as for the installed ``flexspace`` script), so
the tests also check that the CLI itself makes the current directory importable."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from flexspace.solvers import available_solvers

SOLVER = next((s for s in ("maingo", "scip") if s in available_solvers()), None)
needs_global = pytest.mark.skipif(SOLVER is None, reason="needs a global solver (maingo or scip)")

#: the flexspace command with the current directory *not* on sys.path (python -c would put '' first)
CLI = [sys.executable, "-c", "import sys; sys.path = [p for p in sys.path if p not in ('', '.')]; "
       "from flexspace.cli import main; sys.exit(main())"]

MODULE = textwrap.dedent('''
    import pyomo.environ as pyo
    from flexspace import ProcessModel


    def _model(with_theta_p=True, bounds=None):
        m = pyo.ConcreteModel()
        m.tp = pyo.Param(mutable=True, initialize=1.0)
        m.tm = pyo.Param(mutable=True, initialize=0.0)
        m.x = pyo.Var(initialize=1.0, bounds=bounds)
        m.eq = pyo.Constraint(expr=m.x == (m.tp if with_theta_p else 1.0) + m.tm)
        m.g = pyo.Expression(expr=m.x - 2.0)
        return m


    def make():
        """x = tp + tm <= 2 with sigma(tm) = 0.2: the index at tp is (2 - tp) / 0.2."""
        m = _model()
        return ProcessModel(m, theta_p=m.tp, theta_m=m.tm, constraints={"g": m.g}, covariance=[[0.04]],
                            theta_p_bounds=[(0.0, 2.0)], grid_shape=[5])


    def make_unpicklable():
        """The same model with a rule given as a lambda: it does not pickle (as case 2)."""
        m = _model(bounds=lambda m: (-10.0, 10.0))
        return ProcessModel(m, theta_p=m.tp, theta_m=m.tm, constraints={"g": m.g}, covariance=[[0.04]],
                            theta_p_bounds=[(0.0, 2.0)], grid_shape=[5])


    def make_no_theta_p():
        m = _model(with_theta_p=False)
        return ProcessModel(m, theta_p=[], theta_m=m.tm, constraints={"g": m.g}, covariance=[[0.04]])


    def returns_three():
        return 3


    def raises():
        raise RuntimeError("the flowsheet did not converge")


    not_callable_constant = 3
''')


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    (tmp_path / "mymodel.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _flexspace(*argv, timeout=300):
    return subprocess.run([*CLI, *argv], capture_output=True, text=True, timeout=timeout)


@needs_global
def test_run_flexindex_on_a_user_model_writes_the_map(user_dir):
    out = user_dir / "out"
    p = _flexspace("run", "mymodel:make", "--method", "flexindex", "--solver", SOLVER, "--time-limit", "30",
                   "--out", str(out), "--quiet")
    assert p.returncode == 0, p.stderr
    assert {"map.csv", "map.png", "summary.json"} <= {f.name for f in out.iterdir()}
    table = pd.read_csv(out / "map.csv")
    assert len(table) == 5 and set(table["status"]) == {"ok"}  # the model's grid_shape
    assert table["delta"].to_numpy() == pytest.approx([6.0, 6.0, 5.0, 2.5, 0.0], abs=1e-4)  # min((2 - tp)/0.2, 6)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["case"] == "mymodel:make" and summary["map"]


@needs_global
def test_workers_rebuild_a_user_model_that_does_not_pickle(user_dir):
    """The CLI gives the model a picklable factory (it re-imports mymodel:make_unpicklable);
    without one a map on 2 worker processes is refused."""
    out = user_dir / "out"
    p = _flexspace("run", "mymodel:make_unpicklable", "--method", "flexindex", "--solver", SOLVER, "--workers", "2",
                   "--grid", "3", "--time-limit", "30", "--out", str(out), "--quiet", "--no-checkpoint")
    assert p.returncode == 0, p.stderr
    table = pd.read_csv(out / "map.csv")
    assert table["delta"].to_numpy() == pytest.approx([6.0, 5.0, 0.0], abs=1e-4)


@needs_global
def test_index_json_of_a_user_model(user_dir):
    p = _flexspace("index", "mymodel:make", "--theta-p", "1.5", "--solver", SOLVER, "--time-limit", "30", "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)  # stdout holds the JSON alone
    assert d["status"] == "ok" and d["theta_p.tp"] == pytest.approx(1.5)
    assert d["delta"] == pytest.approx(2.5, abs=1e-4)


@needs_global
def test_index_works_without_process_parameters_and_maps_refuse(user_dir):
    p = _flexspace("index", "mymodel:make_no_theta_p", "--solver", SOLVER, "--time-limit", "30", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["delta"] == pytest.approx(5.0, abs=1e-4)
    p = _flexspace("run", "mymodel:make_no_theta_p", "--method", "mc", "--out", str(user_dir / "o"), "--quiet")
    assert p.returncode == 2 and "has no process parameters (theta_p)" in p.stderr and "flexspace index" in p.stderr
    assert not (user_dir / "o" / "map.csv").exists()


@pytest.mark.parametrize("command, spec, words", [
    ("run", "nosuchmod:make", "module 'nosuchmod' not found (run from the directory that holds it, or install it"),
    ("index", "nosuchmod:make", "module 'nosuchmod' not found (run from the directory that holds it, or install it"),
    ("run", "mymodel:nosuch", "has no attribute 'nosuch'"),
    ("index", "mymodel:not_callable_constant", "mymodel.not_callable_constant is not callable"),
    ("run", "mymodel:returns_three", "the factory returned int (3), not a flexspace.ProcessModel"),
    ("index", "mymodel:returns_three", "the factory returned int (3), not a flexspace.ProcessModel"),
    ("run", "mymodel:raises", "the factory raised RuntimeError: the flowsheet did not converge"),
    ("index", "mymodel.py:make", "give the module's name, not its file: mymodel:make"),
    ("run", "nosuchcase", "unknown case 'nosuchcase': choose a shipped case (case1, case2"),
])
def test_a_bad_model_argument_is_one_error_line(user_dir, command, spec, words):
    p = _flexspace(command, spec, *(["--out", str(user_dir / "o")] if command == "run" else []))
    assert p.returncode == 2, p.stderr
    assert words in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and p.stderr.startswith("error: ")
    if spec != "nosuchcase":
        assert f"model {spec!r}" in p.stderr
    else:
        assert "module:factory" in p.stderr
    assert not (user_dir / "o" / "map.csv").exists()


def test_formulation_reduced_needs_a_factory_that_takes_it(user_dir):
    p = _flexspace("index", "mymodel:make", "--formulation", "reduced")
    assert p.returncode == 2 and "the factory 'mymodel:make' takes no keyword `formulation`" in p.stderr


def test_the_help_names_the_cases_and_the_module_factory_form():
    p = _flexspace("run", "--help")
    assert p.returncode == 0 and "module:factory" in p.stdout and "case1" in p.stdout
