"""Ship the top-level ``models/`` and ``instances/`` folders inside the wheel.

They stay at the repository root (the project's documented layout) and are mapped
to ``mecopt/_bundled/{models,instances}`` in the wheel, where
:mod:`mecopt.core.resources` finds them with :mod:`importlib.resources`. Everything
else is declared in ``pyproject.toml``.
"""

from setuptools import find_packages, setup

BUNDLED = {"mecopt._bundled.models": "models", "mecopt._bundled.instances": "instances"}
DATA_GLOBS = ["**/*.toml", "**/*.csv", "**/*.json", "**/*.md"]

setup(
    packages=find_packages(include=["mecopt", "mecopt.*"]) + list(BUNDLED),
    package_dir=BUNDLED,
    package_data={"mecopt": ["py.typed"], **{pkg: DATA_GLOBS for pkg in BUNDLED}},
)
