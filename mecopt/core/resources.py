"""Bundled data: DNN specs and delay sets (``models/``) and instances (``instances/``).

In a checkout they are the repository's top-level ``models/`` and ``instances/``
folders; in a wheel ``setup.py`` maps them to ``mecopt/_bundled/``. Both are found
with ``importlib.resources.files``, so an installed package never depends on
the directory it is run from. ``MECOPT_MODELS`` overrides the models folder.

Bundled instances are named ``COLLECTION:NAME`` (``paper:fig6-w1khz`` is
``instances/paper/fig6-w1khz.toml``), in every command and in
[mecopt.load_instance][].
"""

from __future__ import annotations

import os
import re
from importlib.resources import files
from pathlib import Path

from mecopt.core.errors import InputError

#: ``COLLECTION:NAME`` (no path separators); a Windows drive letter is one letter, so never matches
BUNDLED_NAME = re.compile(r"^(?P<collection>[A-Za-z][\w.-]+):(?P<name>[\w.-]+)$")


def _data_dir(kind: str) -> Path:
    bundled = files("mecopt").joinpath("_bundled", kind)
    if bundled.is_dir():                       # installed from a wheel
        return Path(str(bundled))
    return Path(str(files("mecopt"))).resolve().parent / kind   # a checkout (editable install)


def models_dir() -> Path:
    """The folder of DNN specs and delay sets: ``$MECOPT_MODELS`` when set, else the bundled ``models/``.

    Returns
    -------
    Path
        The folder.
    """
    return Path(os.environ.get("MECOPT_MODELS") or _data_dir("models"))


def dnn_dir() -> Path:
    """The folder of DNN spec files (``models/dnn``).

    Returns
    -------
    Path
        The folder.
    """
    return models_dir() / "dnn"


def delay_dir() -> Path:
    """The folder of delay coefficient sets (``models/delay``).

    Returns
    -------
    Path
        The folder.
    """
    return models_dir() / "delay"


def instances_dir() -> Path:
    """The folder of bundled instances (``instances/``).

    Returns
    -------
    Path
        The folder.
    """
    return _data_dir("instances")


#: folders of ``instances/`` that hold other documents than instances (``readings``: reproduce --readings)
NOT_INSTANCES = ("readings",)


def bundled_instances() -> list[str]:
    """Every bundled instance as ``COLLECTION:NAME``, sorted.

    These names work wherever an instance file does: [mecopt.load_instance][] and
    every command (``mecopt inspect paper:fig6-w1khz``), from a checkout or a wheel.

    Returns
    -------
    list of str
        E.g. ``"paper:fig6-w1khz"`` for the packaged ``instances/paper/fig6-w1khz.toml``.

    Examples
    --------
    >>> import mecopt
    >>> names = mecopt.bundled_instances()
    >>> "paper:fig6-w1khz" in names
    True
    >>> [n for n in names if n.startswith("paper:fig8")]
    ['paper:fig8-alexnet', 'paper:fig8-lenet', 'paper:fig8-vgg13', 'paper:fig8-vgg16']
    """
    root = instances_dir()
    return sorted(f"{p.parent.name}:{p.stem}" for p in root.glob("*/*.toml") if p.parent.name not in NOT_INSTANCES)


def is_bundled_name(text: str | os.PathLike[str]) -> bool:
    """True when ``text`` is a bundled instance name ``COLLECTION:NAME`` (not a path).

    Parameters
    ----------
    text : str or os.PathLike[str]
        An instance argument.

    Returns
    -------
    bool
        Whether it names a bundled instance.
    """
    return isinstance(text, str) and BUNDLED_NAME.match(text) is not None


def instance_path(name_or_path: str | os.PathLike[str]) -> Path:
    """The file behind an instance argument: ``paper:fig6-w1khz`` or a path.

    Parameters
    ----------
    name_or_path : str or os.PathLike[str]
        A bundled name or a path.

    Returns
    -------
    Path
        The file.

    Raises
    ------
    InputError
        When a ``COLLECTION:NAME`` is not bundled (the message lists what is).
    """
    if not is_bundled_name(name_or_path):
        return Path(name_or_path)
    m = BUNDLED_NAME.match(str(name_or_path))
    assert m is not None   # is_bundled_name matched it
    path = instances_dir() / m["collection"] / f"{m['name']}.toml"
    if not path.is_file():
        raise InputError(f"unknown bundled instance {name_or_path!r}; bundled: {', '.join(bundled_instances())}")
    return path
