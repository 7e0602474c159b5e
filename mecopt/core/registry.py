"""One generic registry: names -> objects, or lazy ``"module:attr"`` references.

Serves the methods (:mod:`mecopt.methods.registry`) and the best-response engines
(:mod:`mecopt.bestresponse.engines`). Built-in entries are references, imported on first
use; other packages add entries at run time (:meth:`Registry.register`) or through an
entry-point group, read once, on first use.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, cast

from mecopt.core.errors import InputError


def resolve(reference: str) -> Any:
    """The object behind ``"module:attr"`` (``attr`` may be dotted).

    Parameters
    ----------
    reference : str
        ``"package.module:name"``.

    Returns
    -------
    object
        The attribute, after importing the module.

    Raises
    ------
    ImportError, AttributeError, ValueError
        When the module or attribute does not exist, or the reference has no ``:``.

    Examples
    --------
    >>> from mecopt.core.registry import resolve
    >>> resolve("math:pi")
    3.141592653589793
    """
    module, sep, attr = reference.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"{reference!r} is not a 'module:attr' reference")
    obj = import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Registry:
    """Names -> objects (or lazy ``"module:attr"`` references), in registration order.

    Parameters
    ----------
    kind : str
        What the entries are, as the option that names one: ``"method"``, ``"engine"``.
    builtin : dict of str to object or str
        The built-in entries.
    group : str, optional
        An entry-point group read on first use (e.g. ``"mecopt.methods"``); an entry point
        never replaces an entry of the same name.

    Attributes
    ----------
    entries : dict
        The entries themselves (name -> object or reference); tests may patch it.

    Examples
    --------
    >>> from mecopt.core.registry import Registry
    >>> reg = Registry("shape", {"circle": "math:pi"})
    >>> reg.register("square", 4.0)
    >>> reg.names(), reg.get("circle")
    (['circle', 'square'], 3.141592653589793)
    >>> reg.get("cube")
    Traceback (most recent call last):
    ...
    mecopt.core.errors.InputError: The 'shape' option must be one of circle, square. Got 'cube' instead.
    """

    def __init__(self, kind: str, builtin: dict[str, Any], group: str | None = None):
        self.kind = kind
        self.entries: dict[str, Any] = dict(builtin)
        self.group = group
        self._group_read = group is None

    def _read_group(self) -> None:
        if self._group_read:
            return
        self._group_read = True
        for ep in entry_points(group=cast(str, self.group)):   # not None: _group_read is True without a group
            self.entries.setdefault(ep.name, ep.value)

    def names(self) -> list[str]:
        """Every name: built-in, from the entry-point group, and registered.

        Returns
        -------
        list[str]
            The names, sorted.
        """
        self._read_group()
        return list(self.entries)

    def __contains__(self, name: object) -> bool:
        self._read_group()
        return name in self.entries

    def register(self, name: str, obj: Any, *, replace: bool = False) -> None:
        """Add ``obj`` (or a ``"module:attr"`` reference) as ``name``.

        Parameters
        ----------
        name : str
            The entry's name.
        obj : object or str
            The object, or a reference resolved on first use.
        replace : bool, default False
            Allow replacing an entry of the same name.

        Raises
        ------
        ValueError
            When ``name`` is taken and ``replace`` is False.
        """
        self._read_group()
        if name in self.entries and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered (pass replace=True)")
        self.entries[name] = obj

    def reference(self, name: str) -> Any:
        """The entry as registered (an object or a ``"module:attr"`` reference); InputError for an unknown name.

        Parameters
        ----------
        name : str
            The name.

        Returns
        -------
        object
            The object or reference.

        Raises
        ------
        InputError
            For an unknown name.
        """
        self._read_group()
        if name not in self.entries:
            raise InputError(f"The {self.kind!r} option must be one of {', '.join(map(str, self.entries))}. "
                             f"Got {name!r} instead.")
        return self.entries[name]

    def get(self, name: str) -> Any:
        """The object called ``name``, importing a reference now.

        Parameters
        ----------
        name : str
            A registered name.

        Returns
        -------
        object

        Raises
        ------
        InputError
            When ``name`` is unknown (the message lists the valid names), or its reference
            cannot be imported.
        """
        entry = self.reference(name)
        if not isinstance(entry, str):
            return entry
        try:
            return resolve(entry)
        except (ImportError, AttributeError, ValueError) as err:
            raise InputError(f"{self.kind} {name!r} ({entry}) cannot be loaded: {err}") from None
