"""The public API is documented: numpydoc docstrings whose examples run (doctests),
and the API reference (mkdocs + mkdocstrings) builds in strict mode."""

from __future__ import annotations

import doctest
import importlib
import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mecopt

ROOT = Path(__file__).resolve().parents[2]

#: the modules holding the public names (``mecopt.__all__``) and their docstring examples
PUBLIC_MODULES = ["mecopt", "mecopt.api", "mecopt.methods.registry", "mecopt.core.solution", "mecopt.core.instance",
                  "mecopt.bestresponse.engines", "mecopt.core.resources", "mecopt.core.checker", "mecopt.core.errors"]

#: public methods documented like functions
PUBLIC_METHODS = [mecopt.Solution.devices_frame, mecopt.Solution.assignment_frame, mecopt.Solution.summary,
                  mecopt.Solution.write, mecopt.Instance.from_dict, mecopt.Instance.load]


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_doctests_pass(module, registries):
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} doctest(s) of {module} failed (run: python -m pytest -q " \
                               f"--doctest-modules {mod.__file__})"


def _public_objects():
    for name in mecopt.__all__:
        if name == "__version__":
            continue
        yield name, getattr(mecopt, name)
    for fn in PUBLIC_METHODS:
        yield fn.__qualname__, fn


@pytest.mark.parametrize("name,obj", list(_public_objects()), ids=lambda x: x if isinstance(x, str) else "")
def test_public_name_has_numpydoc_docstring(name, obj):
    doc = inspect.getdoc(obj) or ""
    assert "Examples\n--------\n>>> " in doc, f"{name}: no Examples section with a doctest"
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        params = [p for p in inspect.signature(obj).parameters if p not in ("self", "cls")]
        if params:
            assert "Parameters\n----------\n" in doc, f"{name}: no Parameters section"
            for p in params:
                assert p.lstrip("*") in doc, f"{name}: parameter {p} not documented"
        assert "Returns\n-------\n" in doc, f"{name}: no Returns section"
    # every example is collected by the doctests above
    module = inspect.getmodule(obj).__name__
    assert module in PUBLIC_MODULES, f"{name} lives in {module}, whose doctests are not run"


#: the documentation build command, exactly as the README gives it
README_BUILD = "mkdocs build --strict"


def test_api_reference_builds_in_strict_mode(tmp_path):
    """The README's ``mkdocs build --strict``, run as written (no ``--quiet``, no other option): a
    missing name, a broken cross-reference or a malformed docstring section fails the build (the doc
    tools are in the test extra). It runs in a copy of the sources so that its ``site/`` lands there."""
    assert f"`{README_BUILD}`" in (ROOT / "README.md").read_text()
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    assert mkdocs is not None, "mkdocs is not installed: pip install -e '.[test]'"
    copy = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("docs", "mecopt", "examples"):
        shutil.copytree(ROOT / name, copy / name, ignore=ignore)
    for name in ("mkdocs.yml", "README.md"):
        shutil.copy(ROOT / name, copy / name)
    command = README_BUILD.split()
    res = subprocess.run([mkdocs, *command[1:]], cwd=copy, capture_output=True, text=True, timeout=300)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log
    assert "WARNING" not in log, log
    page = (copy / "site" / "api" / "index.html").read_text()
    for name in ("load_instance", "solve", "compare", "register_method", "read_solution", "devices_frame"):
        assert name in page
    # every command's Python counterpart has an entry
    commands = (copy / "site" / "commands-api" / "index.html").read_text()
    import re
    ids = set(re.findall(r'id="(mecopt\.[^"]+)"', commands))
    for name in ("studies.sweep.run_sweep", "studies.simulate.simulate", "studies.generate.generate_instance",
                 "byo.onnx_import.import_onnx", "byo.profiling.profile", "byo.fitting.fit_layers",
                 "byo.calibrate.calibrate", "studies.compare.compare", "studies.equilibria.spread",
                 "studies.reproduce.reproduce", "studies.bench.verify", "results.plots.schedule",
                 "results.plots.slot_load", "results.summary_plots.delay_cdf",
                 "results.summary_plots.equilibrium_vs_optimum", "results.style.FigureStyle",
                 "core.tables.export_table", "milp.export.export_model"):
        assert f"mecopt.{name}" in ids, name
