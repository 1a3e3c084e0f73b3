"""Sphinx configuration of the flexspace documentation (``make docs``).

Built with warnings as errors: ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
The gallery (``docs/gallery/*.py``) is executed on every build by sphinx-gallery; its output
(``docs/auto_examples/``) and ``docs/_generated/`` (the CLI's ``--help`` texts) are written at
build time and git-ignored.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import re
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))  # the checkout's package, also when it is not installed

import flexspace  # noqa: E402  (after the path above)

# -- Project -----------------------------------------------------------------------------------
project = "flexspace"
author = "The flexspace developers"
copyright = "The flexspace developers (BSD-3-Clause)"
version = release = flexspace.__version__

# -- General -----------------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "gallery", "Thumbs.db", ".DS_Store"]  # gallery/: sphinx-gallery's sources
nitpicky = False

# -- MyST ---------------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# -- autodoc / napoleon -------------------------------------------------------------------------
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    "member-order": "bysource",
}
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_class_signature = "mixed"
autodoc_preserve_defaults = False  # True trips on a "= ()" default in Sphinx 9 ("pop from empty list")
autosummary_generate = False
napoleon_google_docstring = True
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True

# -- sphinx-gallery -----------------------------------------------------------------------------
os.environ.setdefault("MPLBACKEND", "Agg")  # the gallery's scripts run without a display
# cyipopt logs one INFO line per Ipopt solve once a handler is installed (the build's own logging)
logging.getLogger("cyipopt").setLevel(logging.WARNING)
sphinx_gallery_conf = {
    "examples_dirs": "gallery",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",  # every plot_*.py is executed
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "show_memory": False,
    "write_computation_times": False,  # no sg_execution_times.rst in the source tree
    "reference_url": {},
}

# -- HTML ---------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"flexspace {release}"
html_static_path = []
html_show_sourcelink = False


# -- The CLI's --help texts, generated from the parser itself ------------------------------------
def _write_cli_help(out_dir: Path) -> None:
    """``docs/_generated/cli_<command>.txt``: the ``--help`` of every (sub)command, as
    ``flexspace`` prints it (80 columns), so that the CLI page never goes stale."""
    from flexspace.cli.main import build_parser

    out_dir.mkdir(exist_ok=True)
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"
    try:
        def walk(parser: argparse.ArgumentParser, words):
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                parser.print_help()
            name = "_".join(words) or "flexspace"
            path = out_dir / f"cli_{name.replace('-', '_')}.txt"
            text = buf.getvalue()
            if not path.exists() or path.read_text() != text:  # unchanged files keep Sphinx's cache
                path.write_text(text)
            for action in parser._actions:  # noqa: SLF001 - argparse has no public walk
                if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
                    for sub_name, sub in action.choices.items():
                        walk(sub, [*words, sub_name])
        walk(build_parser(), [])
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


_write_cli_help(HERE / "_generated")


# -- The docstrings' own field style -------------------------------------------------------------
# flexspace's docstrings write numpy-looking sections whose entries are ``name : description``
# (the text after the colon is the description, not a type), continued on indented lines, and
# may end with a plain paragraph.  Napoleon would read the description as a type and the closing
# paragraph as more parameters; these sections are turned into reST fields first (before
# napoleon, which still handles the other sections).
_FIELD_SECTIONS = {"Parameters": "param", "Other Parameters": "param", "Keyword Arguments": "param",
                   "Attributes": "attributes"}
_ENTRY = re.compile(r"^(\*{0,2}[A-Za-z_]\w*(?:\s*,\s*\*{0,2}[A-Za-z_]\w*)*)\s+:(?:\s+(.*))?$")


def _house_style_fields(app, what, name, obj, options, lines):
    out, i = [], 0
    while i < len(lines):
        title = lines[i].strip()
        if title in _FIELD_SECTIONS and i + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[i + 1].strip()) \
                and not lines[i].startswith(" "):
            entries, i = _section_entries(lines, i + 2)
            out.extend(_format_entries(_FIELD_SECTIONS[title], entries))
            out.append("")
            continue
        out.append(lines[i])
        i += 1
    lines[:] = out


def _section_entries(lines, i):
    """``[(names, [text lines])]`` of the section starting at ``lines[i]``, and where it ends."""
    entries = []
    while i < len(lines):
        line = lines[i]
        m = _ENTRY.match(line)
        if m:
            entries.append(([n.strip() for n in m.group(1).split(",")], [m.group(2) or ""]))
        elif line.startswith((" ", "\t")) and entries:
            entries[-1][1].append(line)
        elif not line.strip():
            nxt = next((x for x in lines[i + 1:] if x.strip()), "")
            if not (_ENTRY.match(nxt) or (nxt.startswith((" ", "\t")) and entries)):
                break  # the section ends: a closing paragraph or another section follows
            if entries and nxt.startswith((" ", "\t")):
                entries[-1][1].append("")
        else:
            break
        i += 1
    return entries, i


def _format_entries(kind, entries):
    out = [] if kind == "param" else [":Attributes:"]
    for names, text in entries:
        body = textwrap.dedent("\n".join(text[1:])).splitlines()
        first, rest = text[0].strip(), [("    " + x) if x.strip() else "" for x in body]
        if kind == "param":
            for n in names:
                out.extend([f":param {n.replace('*', chr(92) + '*')}: {first}", *rest])
        else:
            label = ", ".join(f"**{n.lstrip('*')}**" for n in names)
            out.extend([f"    * {label} -- {first}", *[("  " + x) if x else "" for x in rest]])
    return out


# -- Attributes in prose, private bases --------------------------------------------------------
_PROSE_DOCS: dict = {}


def _keep_attribute_prose(app, what, name, obj, options, lines):
    """Attributes, properties and data are documented in prose (``#:`` comments, property
    docstrings; their types come from annotations).  Napoleon reads the text before a first
    colon as a type (``Step 9: ...`` -> type "Step 9"), so their lines are saved before
    napoleon runs and put back after it (:func:`_restore_attribute_prose`)."""
    if what in ("attribute", "property", "data"):
        _PROSE_DOCS[(id(lines), what, name)] = list(lines)


def _restore_attribute_prose(app, what, name, obj, options, lines):
    saved = _PROSE_DOCS.pop((id(lines), what, name), None)
    if saved is not None:
        lines[:] = saved


def _public_bases(app, name, obj, options, bases):
    """Show a private base class (``_StandardisedSet``) as its nearest public ancestor."""
    out = []
    for b in bases:
        if getattr(b, "__name__", "").startswith("_"):
            b = next((c for c in getattr(b, "__mro__", ())[1:] if not c.__name__.startswith("_")), object)
        if b not in out:
            out.append(b)
    bases[:] = out


# -- Links to objects re-exported by a package ---------------------------------------------------
def _resolve_reexport(app, env, node, contnode):
    """Resolve ``flexspace.X`` or ``flexspace.formulations.sets.X`` to the page where X is
    documented (each object is documented once, under the package that exports it)."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if not target.startswith("flexspace."):
        return None
    domain = env.get_domain("py")
    documented = _documented_by_identity(env)
    obj = _import_object(target)
    if obj is None:
        return None
    name = documented.get(id(obj))
    if name is None or name == target:
        return None
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], name, node, contnode) or \
        domain.resolve_xref(env, node["refdoc"], app.builder, "obj", name, node, contnode)


def _import_object(dotted: str):
    import importlib

    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except Exception:  # noqa: BLE001 - not a module: try a shorter prefix
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


_DOCUMENTED: dict = {}


def _documented_by_identity(env) -> dict:
    if not _DOCUMENTED:
        for name, entry in env.get_domain("py").objects.items():
            if entry.aliased:
                continue
            obj = _import_object(name)
            if obj is not None and not isinstance(obj, (int, float, str, tuple, dict, type(None))):
                _DOCUMENTED.setdefault(id(obj), name)
    return _DOCUMENTED


def _skip_member(app, what, name, obj, skip, options):
    """scikit-learn adds ``set_<method>_request`` (metadata routing) to every estimator subclass;
    they are scikit-learn's API, not flexspace's."""
    if re.fullmatch(r"set_\w+_request", name):
        return True
    return None


def setup(app):
    app.connect("autodoc-process-docstring", _house_style_fields, priority=400)  # before napoleon (500)
    app.connect("autodoc-process-docstring", _keep_attribute_prose, priority=401)
    app.connect("autodoc-process-docstring", _restore_attribute_prose, priority=600)  # after napoleon
    app.connect("autodoc-process-bases", _public_bases)
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("missing-reference", _resolve_reexport)
    app.connect("env-updated", lambda app, env: _DOCUMENTED.clear())
