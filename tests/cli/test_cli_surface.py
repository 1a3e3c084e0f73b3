"""What a user meets first on the command line: ``--version``, help on every option, ``--json``
that keeps stdout for the JSON alone, the output directory printed, and ``flexspace solvers``
saying why a solver is unavailable and how to install it (absence simulated, nothing uninstalled)."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap

import pytest

import flexspace
from flexspace.cli import build_parser, main
from flexspace.cli.common import check_out_dir, stdout_to_stderr
from flexspace.solvers import available_solvers

#: the flexspace command in a subprocess (it imports a user's module:factory from the current directory)
CLI = [sys.executable, "-c", "from flexspace.cli import main; import sys; sys.exit(main())"]


def _parsers(parser, path=("flexspace",)):
    """Every parser of the command line (the top one and all sub-commands, nested), with its path."""
    yield " ".join(path), parser
    for action in parser._actions:  # noqa: SLF001 - argparse has no public accessor
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for name, sub in action.choices.items():
                yield from _parsers(sub, path + (name,))


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"flexspace {flexspace.__version__}\n"


def test_every_option_of_every_command_has_help_and_shows_its_choices():
    seen, missing, hidden = 0, [], []
    for where, parser in _parsers(build_parser()):
        text = parser.format_help()
        for action in parser._actions:  # noqa: SLF001
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):  # noqa: SLF001
                continue
            seen += 1
            name = "/".join(action.option_strings) or action.dest
            if not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                missing.append(f"{where} {name}")
            if action.choices is not None and not all(str(c) in text for c in action.choices):
                hidden.append(f"{where} {name}")
    assert seen > 40  # every command was walked (solvers, demo, index, run, bench, crystallization ...)
    assert not missing, "options without help: " + ", ".join(missing)
    assert not hidden, "options whose choices the help does not show: " + ", ".join(hidden)


def test_the_commands_that_write_files_document_their_output_directory():
    parsers = dict(_parsers(build_parser()))
    for where in ("flexspace demo", "flexspace run", "flexspace bench", "flexspace crystallization run",
                  "flexspace crystallization design-space"):
        out = next(a for a in parsers[where]._actions if "--out" in a.option_strings)  # noqa: SLF001
        assert "director" in out.help, where


# ----------------------------------------------------------------------------- --json
NOISY = textwrap.dedent('''
    import logging
    import os

    import pyomo.environ as pyo
    from flexspace import ProcessModel


    def make():
        """x = tp + tm <= 2, built noisily: print(), Pyomo's and IDAES's loggers, and a native write to fd 1."""
        print("NOISE: print from the factory")
        logging.getLogger("pyomo.core").warning("NOISE: a Pyomo log record")
        logging.getLogger("idaes.core").warning("NOISE: an IDAES log record")
        os.write(1, b"NOISE: written to file descriptor 1\\n")
        m = pyo.ConcreteModel()
        m.tp = pyo.Param(mutable=True, initialize=1.0)
        m.tm = pyo.Param(mutable=True, initialize=0.0)
        m.x = pyo.Var(initialize=1.0)
        m.eq = pyo.Constraint(expr=m.x == m.tp + m.tm)
        m.g = pyo.Expression(expr=m.x - 2.0)
        return ProcessModel(m, theta_p=m.tp, theta_m=m.tm, constraints={"g": m.g}, covariance=[[0.04]],
                            theta_p_bounds=[(0.0, 2.0)])
''')

SOLVER = next((s for s in ("ipopt", "scip", "maingo") if s in available_solvers()), None)


@pytest.mark.skipif(SOLVER is None, reason="needs ipopt, scip or maingo")
def test_index_json_writes_only_json_to_stdout_even_when_the_model_and_libraries_are_noisy(tmp_path):
    """`flexspace index ... --json | python -m json.tool` works: the human summary, print()s,
    Pyomo/IDAES log records and native writes to file descriptor 1 all go to stderr."""
    (tmp_path / "noisy.py").write_text(NOISY)
    p = subprocess.run([*CLI, "index", "noisy:make", "--theta-p", "1.5", "--solver", SOLVER, "--json"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert p.returncode in (0, 1), p.stderr
    d = json.loads(p.stdout)  # the whole of stdout
    assert d["delta"] == pytest.approx(2.5, abs=1e-3)
    assert "NOISE" not in p.stdout
    for noise in ("print from the factory", "a Pyomo log record", "an IDAES log record", "file descriptor 1"):
        assert noise in p.stderr, noise
    assert "Flexibility index" in p.stderr  # the human summary is still shown, on stderr


def test_stdout_to_stderr_restores_stdout_and_the_log_handlers(capsys):
    import logging

    handler = logging.StreamHandler(sys.stdout)
    log = logging.getLogger("flexspace.test.cli.noise")
    log.addHandler(handler)
    log.propagate = False
    try:
        with stdout_to_stderr():
            print("to stderr")
            assert handler.stream is sys.stderr
        print("to stdout")
        assert handler.stream is sys.stdout
    finally:
        log.removeHandler(handler)
    out, err = capsys.readouterr()
    assert out == "to stdout\n" and err == "to stderr\n"
    with stdout_to_stderr(False):
        print("stays on stdout")
    assert capsys.readouterr().out == "stays on stdout\n"


# ----------------------------------------------------------------------------- the output directory
def test_check_out_dir_prints_the_absolute_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert check_out_dir("sub") == "sub"
    assert capsys.readouterr().out == f"output directory: {tmp_path / 'sub'}\n"
    check_out_dir("sub", stream=sys.stderr)
    out, err = capsys.readouterr()
    assert out == "" and err == f"output directory: {tmp_path / 'sub'}\n"


def test_run_without_out_says_where_it_wrote(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rc = main(["run", "case1", "--method", "mc", "--grid", "2", "--n-samples", "20", "--quiet", "--no-checkpoint"])
    out = capsys.readouterr().out
    target = tmp_path / "flexspace_out"
    assert rc == 0 and (target / "map.csv").exists()
    assert f"output directory: {target}\n" in out
    assert f"in {target}" in out.splitlines()[-1]  # the last line names the files and the absolute directory


# ----------------------------------------------------------------------------- flexspace solvers
@pytest.fixture
def no_solvers(monkeypatch):
    """As on a machine where `pip install flexspace` brought no solver: the Python packages of
    maingo, scip, highs and gurobi do not import, and Ipopt's cyipopt is there but PyNumero's ASL
    library is not."""
    from pyomo.contrib.pynumero.asl import AmplInterface

    from flexspace.solvers.backends import base, gurobi, highs, maingo, scip

    for module in (maingo, scip, highs, gurobi):
        for name in module.BACKEND.requires:
            monkeypatch.setitem(sys.modules, name, None)  # `import name` raises ModuleNotFoundError
        monkeypatch.setattr(module.BACKEND, "version", classmethod(lambda cls: None))
    monkeypatch.setattr(AmplInterface, "available", classmethod(lambda cls: False))
    monkeypatch.setattr(base, "_AVAIL_CACHE", {})  # availability is probed once per process


def test_solvers_says_why_each_solver_is_unavailable_and_how_to_install_it(no_solvers, capsys):
    from pyomo.common import envvar

    assert main(["solvers", "--check"]) == 1
    out, err = capsys.readouterr()
    why = {line.split(":", 1)[0].strip(): line.split(":", 1)[1] for line in out.splitlines()
           if line.startswith("  ") and ":" in line}
    for name in ("maingo", "scip", "highs"):
        assert 'pip install "flexspace[solvers]"' in why[name] and "not installed" in why[name], why[name]
    assert 'pip install "flexspace[gurobi]"' in why["gurobi"]
    ipopt = why["ipopt"]
    assert "libpynumero_ASL.so" in ipopt and os.path.join(envvar.PYOMO_CONFIG_DIR, "lib") in ipopt
    assert "bash scripts/build_pynumero_asl.sh" in ipopt and "libamplsolver-dev" in ipopt
    assert "GAMS" in why["baron"]
    assert 'pip install "flexspace[solvers]"' in err  # --check: the core solvers are missing


def test_asking_for_an_unavailable_solver_names_the_pip_command_first(no_solvers, capsys):
    assert main(["index", "case1", "--solver", "maingo"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: solver 'maingo' is not available") and len(err.strip().splitlines()) == 1
    assert err.index('pip install "flexspace[solvers]"') < err.index("make setup")
