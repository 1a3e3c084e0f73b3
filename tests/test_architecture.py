"""The package layout (ARCHITECTURE.md): imports only go down the layers, no cycles,
argparse only in the CLI, no function over 80 lines, and importing flexspace changes no
global state."""
import ast
import pathlib
import subprocess
import sys

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "flexspace"

#: top-level unit -> layer; a unit may import only units of a lower layer (or itself)
LAYERS = {
    "cli": 8,
    "crystallization": 7,
    "designspace": 6,
    "formulations": 5,
    "surrogates": 5,
    "models": 4,
    "montecarlo": 4,
    "solvers": 3,
    "options": 2,
    "validation": 1,
    "files": 1,
    "errors": 0,
}


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        yield ".".join(parts), is_pkg, path


def _imports(name, is_pkg, path):
    """Every flexspace module imported anywhere in the file (also inside functions)."""
    package = name if is_pkg else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("flexspace"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("flexspace"):
                yield mod
                for a in node.names:  # `from . import cases` imports a module too
                    yield f"{mod}.{a.name}"


def _unit(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


ALL = {name: (is_pkg, path) for name, is_pkg, path in _modules()}


def test_every_unit_has_a_layer():
    units = {_unit(m) for m in ALL} - {None}
    assert units <= set(LAYERS), f"add {sorted(units - set(LAYERS))} to LAYERS and ARCHITECTURE.md"


def test_imports_only_go_down_the_layers():
    upward = []
    for name, (is_pkg, path) in ALL.items():
        src = _unit(name)
        for mod in _imports(name, is_pkg, path):
            dst = _unit(mod)
            if src is None or dst is None or dst == src or mod not in ALL and mod.rpartition(".")[0] not in ALL:
                continue
            if LAYERS[dst] >= LAYERS[src]:
                upward.append(f"{name} -> {mod}")
    assert not upward, "imports that go up or sideways:\n" + "\n".join(upward)


def test_no_import_cycle_between_modules():
    graph = {}
    for name, (is_pkg, path) in ALL.items():
        graph[name] = {m for m in _imports(name, is_pkg, path) if m in ALL and m != name}
    # a package's __init__ re-exports its modules: edges into a package from its own modules are not cycles
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    state, cycle = {}, []

    def visit(n, stack):
        state[n] = 1
        for m in graph[n]:
            if state.get(m) == 1:
                cycle.append(stack[stack.index(m):] + [m])
            elif m not in state:
                visit(m, stack + [m])
        state[n] = 2

    for n in graph:
        if n not in state:
            visit(n, [n])
    assert not cycle, f"import cycles: {cycle[:3]}"


def test_only_the_cli_imports_argparse():
    users = [name for name, (is_pkg, path) in ALL.items()
             if "argparse" in {a.name for node in ast.walk(ast.parse(path.read_text()))
                               if isinstance(node, ast.Import) for a in node.names}
             and _unit(name) != "cli"]
    assert not users, f"argparse outside flexspace.cli: {users}"


def test_no_function_over_80_lines():
    long = []
    for name, (is_pkg, path) in ALL.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 80:
                    long.append(f"{name}.{node.name}: {n} lines")
    assert not long, "\n".join(long)


def test_no_module_over_800_lines():
    long = [f"{name}: {n} lines" for name, (is_pkg, path) in ALL.items()
            if (n := len(path.read_text().splitlines())) > 800]
    assert not long, "\n".join(long)


def test_no_class_over_500_lines_or_30_methods():
    big = []
    for name, (is_pkg, path) in ALL.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                n = node.end_lineno - node.lineno + 1
                k = sum(isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef)) for c in node.body)
                if n > 500 or k > 30:
                    big.append(f"{name}.{node.name}: {n} lines, {k} methods")
    assert not big, "\n".join(big)


#: built-in exceptions a refusal must not be raised as (errors.py has a FlexspaceError
#: subclass deriving from each); re-raising a caught exception is fine
BARE = {"ValueError", "TypeError", "RuntimeError", "KeyError", "IndexError", "ImportError", "ModuleNotFoundError",
        "NotImplementedError", "TimeoutError", "ChildProcessError", "FileExistsError", "FileNotFoundError",
        "OSError", "AttributeError", "LookupError", "ArithmeticError", "ZeroDivisionError", "AssertionError",
        "Exception"}


def test_every_refusal_is_a_flexspace_error():
    """Every ``raise`` of a built-in exception class is a bug: ``except FlexspaceError`` must
    catch everything flexspace refuses (argparse's ArgumentTypeError inside the CLI's type
    callbacks is argparse's protocol, not a refusal)."""
    bare = []
    for name, (is_pkg, path) in ALL.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(exc, ast.Name) and exc.id in BARE:
                    bare.append(f"{name}:{node.lineno}: raise {exc.id}")
    assert not bare, "\n".join(bare)


def test_every_exception_class_is_a_flexspace_error():
    import inspect

    import flexspace.errors as errors

    for name, (is_pkg, path) in ALL.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Error"):
                try:
                    module = __import__(name, fromlist=["_"])
                except ImportError:  # an optional extra not installed here
                    continue
                cls = getattr(module, node.name, None)
                if inspect.isclass(cls):
                    assert issubclass(cls, errors.FlexspaceError), f"{name}.{node.name} is not a FlexspaceError"


def test_no_plot_switches_the_matplotlib_backend():
    offenders = [name for name, (is_pkg, path) in ALL.items()
                 if "matplotlib.use(" in path.read_text() or "import matplotlib.pyplot" in path.read_text()]
    assert not offenders, f"pyplot / matplotlib.use in {offenders}: draw on matplotlib.figure.Figure"


def test_import_changes_no_global_state():
    code = """
import logging, warnings
# third-party libraries flexspace uses register their own warning filters on import: load them first
import pyomo.environ, matplotlib, scipy.special, scipy.stats, sklearn.ensemble, pandas, pymoo.core.problem
import idaes.core.util.model_statistics
def state():
    return ({n: (l.level, tuple(l.filters)) for n, l in logging.Logger.manager.loggerDict.items()
             if isinstance(l, logging.Logger) and n.startswith("pyomo")},
            matplotlib.get_backend(), tuple(warnings.filters), logging.getLogger().level)
before = state()
import flexspace, flexspace.designspace, flexspace.cli, flexspace.crystallization, flexspace.surrogates
after = state()
changed = {n: (before[0].get(n), v) for n, v in after[0].items() if before[0].get(n, (0, ())) != v}
assert not changed, changed
assert before[1:] == after[1:], (before[1:], after[1:])
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


@pytest.mark.parametrize("driver", ["flexibility_index_map", "monte_carlo_map", "flexibility_test_region"])
def test_public_drivers_take_about_ten_parameters(driver):
    import inspect

    import flexspace

    assert len(inspect.signature(getattr(flexspace, driver)).parameters) <= 10
