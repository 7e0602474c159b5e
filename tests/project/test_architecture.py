"""The package's shape (issue 19): layers that point one way, no cycles, no private names across modules.

The layer contract itself is declared once, in ``pyproject.toml`` (``[tool.importlinter]``), and
checked here with import-linter (imports inside functions count too); README "How it is built"
draws it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "mecopt"


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path, ast.parse(path.read_text(), filename=str(path))


def _imports(tree):
    """(line, imported module, imported names) of every import, at any depth (functions included)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module, [a.name for a in node.names]


def test_import_contract_holds():
    """Every contract of ``[tool.importlinter]`` is kept: the layers and acyclic siblings."""
    importlinter_cli = pytest.importorskip("importlinter.cli")
    assert importlinter_cli.lint_imports(config_filename=str(ROOT / "pyproject.toml")) == 0


def test_no_private_name_is_imported_across_modules():
    """``from mecopt.x import _name`` only inside mecopt.x itself (a private name is that module's own)."""
    found = []
    for name, path, tree in _modules():
        for line, module, names in _imports(tree):
            if module.startswith("mecopt") and module != name:
                private = [n for n in names if n.startswith("_") and not n.startswith("__")]
                if private or any(part.startswith("_") and not part.startswith("__") for part in module.split(".")):
                    found.append(f"{path.relative_to(ROOT)}:{line}: from {module} import {', '.join(names)}")
    assert not found, "\n".join(found)


def test_the_front_door_is_imported_only_from_above():
    """No module below the CLI imports the package root ``mecopt`` (it re-exports the top layer)."""
    found = []
    for name, path, tree in _modules():
        if name == "mecopt" or name.startswith(("mecopt.cli", "mecopt.__main__")):
            continue
        for line, module, _ in _imports(tree):
            if module == "mecopt":
                found.append(f"{path.relative_to(ROOT)}:{line}")
    assert not found, "\n".join(found)
