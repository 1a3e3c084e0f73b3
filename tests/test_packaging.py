"""Packaging: a lean core, named extras that every missing-extra error names, project files."""
import importlib.metadata as md
import pathlib
import re
import subprocess
import sys
import textwrap
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
#: what a core install must never pull (GPU stacks and the ML packages of the [ml] extra)
HEAVY = re.compile(r"^(nvidia-.*|torch|tensorflow.*|onnxruntime.*|xgboost.*|jax.*|scikit-learn|onnx)$")


def _name(requirement):
    return re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _closure(requirements):
    """Every distribution the requirements pull, read from the installed metadata (markers
    naming an extra are not followed: those are optional)."""
    seen, todo = set(), [_name(r) for r in requirements]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        todo += [_name(r) for r in reqs if "extra ==" not in r.replace("'", '"').replace('"', "")
                 and "extra==" not in r.replace(" ", "")]
    return seen


def test_core_install_pulls_no_gpu_or_ml_stack():
    closure = _closure(PROJECT["dependencies"])
    heavy = sorted(n for n in closure if HEAVY.match(n))
    assert not heavy, f"the core dependencies pull {heavy}"
    assert {"pyomo", "idaes-pse", "numpy", "scipy", "pandas", "matplotlib"} <= closure


def test_ml_extra_uses_xgboost_without_cuda():
    ml = [_name(r) for r in PROJECT["optional-dependencies"]["ml"]]
    assert "xgboost-cpu" in ml and "xgboost" not in ml
    assert not any(n.startswith("nvidia-") for n in _closure(PROJECT["optional-dependencies"]["ml"]))


def test_every_pip_command_in_the_source_names_an_extra_that_exists():
    extras = set(PROJECT["optional-dependencies"])
    named = set()
    for path in (ROOT / "src" / "flexspace").rglob("*.py"):
        named |= set(re.findall(r"flexspace\[([a-z,]+)\]", path.read_text(encoding="utf-8")))
    named = {e for group in named for e in group.split(",")}
    assert named, "no missing-extra message names a pip command"
    assert named <= extras, f"messages name extras that pyproject.toml lacks: {sorted(named - extras)}"


def test_all_extra_is_the_union_of_the_pip_only_extras():
    (all_req,) = PROJECT["optional-dependencies"]["all"]
    assert set(re.search(r"\[(.*)\]", all_req).group(1).split(",")) == {
        "solvers", "ml", "crystallization", "dask", "gurobi"}


@pytest.mark.parametrize("module", ["flexspace.surrogates", "flexspace.crystallization.workflow"])
def test_a_missing_ml_extra_is_refused_with_its_pip_command(module):
    """Run where scikit-learn cannot be imported (None in sys.modules: import fails, find_spec is None)."""
    code = textwrap.dedent(f"""
        import sys
        sys.modules["sklearn"] = None
        import flexspace
        try:
            import {module}
        except flexspace.errors.MissingExtraError as e:
            print("REFUSED", e)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "REFUSED" in out.stdout and 'pip install "flexspace[ml]"' in out.stdout, out.stdout


def test_core_api_imports_without_the_ml_extra():
    code = textwrap.dedent("""
        import sys
        for name in ("sklearn", "pymoo", "omlt", "onnx", "skl2onnx", "xgboost"):
            sys.modules[name] = None      # import fails, as where the extra is not installed
        import flexspace, flexspace.cli
        from flexspace.models.cases import case1
        m = case1.model()
        print(flexspace.monte_carlo_map(m, grid=(2, 2), n_samples=50, progress=False).probability.shape)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.mark.parametrize("name", ["LICENSE", "CHANGELOG.md", "CONTRIBUTING.md", "CITATION.cff", "README.md"])
def test_project_files_are_present(name):
    assert (ROOT / name).is_file() and (ROOT / name).stat().st_size > 200


def test_metadata_is_complete_and_consistent():
    import flexspace

    assert PROJECT["version"] == flexspace.__version__
    assert PROJECT["license"] == "BSD-3-Clause" and "BSD 3-Clause" in (ROOT / "LICENSE").read_text()
    assert PROJECT["authors"] and PROJECT["urls"] and len(PROJECT["classifiers"]) >= 5
    cff = (ROOT / "CITATION.cff").read_text()
    assert f"version: {flexspace.__version__}" in cff and "10.3390/pr7020096" in cff
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog and f"## [{flexspace.__version__}]" in changelog
    # package data: every declared glob matches a file (none is declared now)
    for pkg, globs in PYPROJECT.get("tool", {}).get("setuptools", {}).get("package-data", {}).items():
        for g in globs:
            assert list((ROOT / "src" / pkg).glob(g)), f"package data {g!r} matches no file"
