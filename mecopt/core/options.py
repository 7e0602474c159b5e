"""Options, declared once and validated in one place, in one message format.

A method declares each of its keyword options once, with :class:`Option` (name, type,
range or choices, one-line doc; the default is the function signature's), by decorating
its function with :func:`declare_options`. The Python API ([mecopt.solve][]), ``mecopt
solve --option KEY=VALUE`` and its flags, ``mecopt sweep --option METHOD:KEY=VALUE`` and
``mecopt compare`` all convert and range-check the values through that declaration before
any work, so a misspelled option always fails loudly with the valid names, and a bad value
always reads "The 'x' option of method 'm' must be ... Got ... instead." (the form of
scikit-learn's parameter validation). A function without a declaration (a method
registered by another package) gets one derived from its signature: the keyword
parameters, typed by their annotations or defaults where those say ``int``, ``float``,
``bool`` or ``str``.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from mecopt.core.errors import InputError

#: a default the signature does not give (the option is required)
REQUIRED = inspect.Parameter.empty

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_TYPES = (int, float, bool, str, "callable", object)


@dataclass(frozen=True)
class Option:
    """One keyword option of a method: its name, type, allowed values and doc.

    Parameters
    ----------
    name : str
        The keyword, as in the function signature and after ``--option``.
    type : {int, float, bool, str, "callable", object}
        What a value must be. Command-line text is converted (:meth:`convert`). Floats must
        be finite; ints and floats accept no bool; a float option takes an int as well. ``object``: anything,
        as given (``check`` may still judge it).
    doc : str
        One line: what the option does, with the paper's equation where there is one.
    ge, gt, le, lt : float, optional
        Bounds of a number: ``value >= ge``, ``> gt``, ``<= le``, ``< lt``.
    choices : tuple or callable, optional
        The allowed values, or a function returning them (read at validation time, e.g. the
        registered engines).
    nullable : bool, default False
        None is allowed (and the text ``none`` reads as None).
    check : callable, optional
        ``check(value)`` returning None for a good value, or for a value the type, range and
        choices cannot judge, what is wrong with it (e.g. a solver that is not installed),
        added to the message.
    default : object
        The default; filled in from the function signature by :func:`declare_options`.
    values : str, optional
        How to describe the allowed values when ``check`` judges them (shown in ``--help``).

    Examples
    --------
    >>> from mecopt.core.options import Option
    >>> opt = Option("time_limit", float, "seconds", gt=0, nullable=True)
    >>> opt.convert("6e1", "method 'gtpos'", text=True), opt.convert(60, "method 'gtpos'")
    (60.0, 60)
    >>> opt.convert("abc", "method 'gtpos'", text=True)  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    mecopt.core.errors.InputError: The 'time_limit' option of method 'gtpos' must be a finite number > 0, or None.
    Got 'abc' instead.
    """

    name: str
    type: Any = object
    doc: str = ""
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[Any, ...] | Callable[[], Iterable[Any]] | None = None
    nullable: bool = False
    check: Callable[[Any], None] | None = None
    default: Any = REQUIRED
    values: str | None = None

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise TypeError(f"option {self.name!r}: type must be one of int, float, bool, str, 'callable', object")

    def allowed(self) -> list[Any]:
        """The allowed values (``choices``, read now), or [] when any value of the type goes.

        Returns
        -------
        list[Any]
            The allowed values.
        """
        if self.choices is None:
            return []
        return list(self.choices() if callable(self.choices) else self.choices)

    def describe(self) -> str:
        """What a value must be, e.g. ``"an integer >= 1"``, ``"one of 'dp', 'milp'"``.

        Returns
        -------
        str
            The description.
        """
        if self.choices is not None:
            text = "one of " + ", ".join(repr(c) for c in self.allowed())
        elif self.values is not None:
            text = self.values
        elif self.type is bool:
            text = "True or False"
        elif self.type in (int, float):
            text = ("an integer" if self.type is int else "a finite number") + self._bounds()
        elif self.type is str:
            text = "a string"
        elif self.type == "callable":
            text = "a callable"
        else:
            text = "any value"
        return text + (", or None" if self.nullable else "")

    def _bounds(self) -> str:
        lo = (f"{self.ge:g}", "[") if self.ge is not None else (f"{self.gt:g}", "(") if self.gt is not None else None
        hi = (f"{self.le:g}", "]") if self.le is not None else (f"{self.lt:g}", ")") if self.lt is not None else None
        if lo and hi:
            return f" in {lo[1]}{lo[0]}, {hi[0]}{hi[1]}"
        if lo:
            return f" {'>=' if lo[1] == '[' else '>'} {lo[0]}"
        if hi:
            return f" {'<=' if hi[1] == ']' else '<'} {hi[0]}"
        return ""

    def error(self, value: Any, owner: str) -> InputError:
        """The InputError of a bad ``value``, in the one message format.

        Parameters
        ----------
        value : object
            The bad value.
        owner : str
            Who declared the option, e.g. ``"method 'gtpos'"``.

        Returns
        -------
        InputError
            The error (not raised).
        """
        return InputError(f"The {self.name!r} option of {owner} must be {self.describe()}. Got {value!r} instead.")

    def convert(self, value: Any, owner: str = "the method", *, text: bool = False) -> Any:
        """``value`` converted to the option's type and checked against its range and choices.

        Parameters
        ----------
        value : object
            The value given: a Python value, or text from the command line.
        owner : str
            Whose option it is, for the message, e.g. ``"method 'gtpos'"``.
        text : bool, default False
            ``value`` is command-line text: read it as a TOML scalar (``60`` an int, ``1e-6`` a
            float, ``true`` a bool; ``yes``/``no``, ``on``/``off`` also for a bool, ``none`` for
            None where allowed), or as is for a string option. Without ``text`` a string is
            only a string (the Python API does not read ``"3"`` as 3).

        Returns
        -------
        object
            The value to pass on: a number or bool given as such is passed as given (so
            ``time_limit=60`` stays the int 60); text is converted to the option's type.

        Raises
        ------
        InputError
            When ``value`` is not allowed; the message names the option and what it must be.
        """
        given = value
        if text and isinstance(value, str):
            value = self._from_text(value)
        if value is None:
            if self.nullable or self.type is object:
                return None
            raise self.error(given, owner)
        out = self._typed(value)
        if out is _BAD:
            raise self.error(given, owner)
        if self.type in (int, float):
            if ((self.ge is not None and not out >= self.ge) or (self.gt is not None and not out > self.gt)
                    or (self.le is not None and not out <= self.le) or (self.lt is not None and not out < self.lt)):
                raise self.error(given, owner)
        if self.choices is not None and out not in self.allowed():
            raise self.error(given, owner)
        problem = self.check(out) if self.check is not None else None
        if problem:
            raise InputError(f"The {self.name!r} option of {owner} must be {self.describe()}. "
                             f"Got {given!r} instead ({problem}).")
        return out

    def _from_text(self, text: str) -> Any:
        word = text.strip()
        if self.nullable and word.lower() == "none":
            return None
        if self.type is str:
            return word
        if self.type is bool and word.lower() in _TRUE + _FALSE:
            return word.lower() in _TRUE
        return scalar_from_text(word)

    def _typed(self, value: Any) -> Any:
        kind = self.type
        if kind is bool:
            return value if isinstance(value, bool | _np_bool()) else _BAD
        if kind is int:
            if isinstance(value, bool | _np_bool()) or not isinstance(value, numbers.Integral):
                return _BAD
            return value
        if kind is float:
            if isinstance(value, bool | _np_bool()) or not isinstance(value, numbers.Real):
                return _BAD
            return value if math.isfinite(float(value)) else _BAD
        if kind is str:
            return value if isinstance(value, str) else _BAD
        if kind == "callable":
            return value if callable(value) else _BAD
        return value

    def help_line(self) -> str:
        """One line for ``--help``: name, what it must be, default and doc.

        Returns
        -------
        str
            The line.
        """
        default = "required" if self.default is REQUIRED else f"default {self.default!r}"
        return f"{self.name}: {self.describe()} [{default}]. {self.doc}".rstrip()


_BAD = object()


def scalar_from_text(text: str) -> Any:
    """A value as TOML reads it (``200`` int, ``1e3`` float, ``true`` bool); else the text itself.

    Parameters
    ----------
    text : str
        The text.

    Returns
    -------
    object
        The value.

    Examples
    --------
    >>> from mecopt.core.options import scalar_from_text
    >>> scalar_from_text("200"), scalar_from_text("1e3"), scalar_from_text("true"), scalar_from_text("dp")
    (200, 1000.0, True, 'dp')
    """
    import tomllib

    text = text.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _np_bool() -> type:
    import numpy as np
    return np.bool_


# --------------------------------------------------------------------------- a method's options

@dataclass(frozen=True)
class OptionSet:
    """Every option of one method, in signature order; validates a set of given values at once.

    Attributes
    ----------
    options : tuple[Option, ...]
        The options, in signature order.

    Examples
    --------
    >>> import mecopt
    >>> from mecopt.methods.registry import option_set
    >>> opts = option_set("tpos-cai")
    >>> opts.validate({"engine": "dp", "max_iter": "200"}, "method 'tpos-cai'", text=True)
    {'engine': 'dp', 'max_iter': 200}
    >>> opts["engine"].default
    'milp'
    """

    options: tuple[Option, ...]

    def names(self) -> list[str]:
        """The option names, in signature order.

        Returns
        -------
        list[str]
            The names.
        """
        return [o.name for o in self.options]

    def __getitem__(self, name: str) -> Option:
        for o in self.options:
            if o.name == name:
                return o
        raise KeyError(name)

    def __contains__(self, name: str) -> bool:
        return any(o.name == name for o in self.options)

    def validate(self, given: Mapping[str, Any], owner: str, *, text: bool = False) -> dict[str, Any]:
        """``given`` with every value converted and checked (an InputError at the first bad one).

        Parameters
        ----------
        given : mapping of str to object
            Option names and values (Python values or command-line text).
        owner : str
            Whose options they are, for the messages, e.g. ``"method 'gtpos'"``.
        text : bool, default False
            String values are command-line text (:meth:`Option.convert`).

        Returns
        -------
        dict
            The same names with the converted values, in the order given.

        Raises
        ------
        InputError
            An unknown name (the message lists the valid ones), or a value
            outside the option's type, range or choices (the message says which values go).
        """
        check_option_names(owner, given, self.names())
        return {k: self[k].convert(v, owner, text=text) for k, v in given.items()}

    def help_lines(self) -> list[str]:
        """One line per option (:meth:`Option.help_line`).

        Returns
        -------
        list[str]
            The lines.
        """
        return [o.help_line() for o in self.options]


def declare_options(method: str, *options: Option) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: declare a method function's options and validate them on every call.

    Parameters
    ----------
    method : str
        The method's name, for messages when the function is called directly.
    *options : Option
        One per keyword option of the function, exactly its keyword parameters (checked
        here); each default is taken from the signature, so it is declared once.

    Returns
    -------
    callable
        A decorator returning a wrapper of the function that converts and checks every
        option (:meth:`OptionSet.validate`) before calling it; the wrapper carries the
        :class:`OptionSet` as ``mecopt_options``.

    Raises
    ------
    TypeError
        When the declared names are not exactly the function's keyword parameters.

    Examples
    --------
    >>> from mecopt.core.options import Option, declare_options
    >>> @declare_options("crowd", Option("slot", int, "the slot every layer goes to", ge=1))
    ... def crowd(instance, *, slot=1):
    ...     return [[slot] * d.M for d in instance.devices]
    >>> crowd.mecopt_options["slot"].default
    1
    """
    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        params = _keyword_parameters(function)
        declared = [o.name for o in options]
        if declared != [p.name for p in params]:
            raise TypeError(f"{function.__qualname__}: declared options {declared} differ from its keyword "
                            f"parameters {[p.name for p in params]}")
        spec = OptionSet(tuple(replace(o, default=p.default) for o, p in zip(options, params)))
        owner = f"method {method!r}"

        @functools.wraps(function)
        def checked(instance: Any, **given: Any) -> Any:
            return function(instance, **spec.validate(given, owner))

        checked.__dict__["mecopt_options"] = spec   # a function attribute (what option_set_of reads)
        return checked

    return decorate


def option_set_of(function: Callable[..., Any]) -> OptionSet:
    """The options of a method function: its declaration, or one derived from its signature.

    Parameters
    ----------
    function : callable
        A method function ``f(instance, *, option=default, ...)``.

    Returns
    -------
    OptionSet
        Declared by :func:`declare_options`; otherwise one option per keyword parameter,
        typed ``int``, ``float``, ``bool`` or ``str`` (optionally ``| None``) by its
        annotation, else by its default, else untyped (any value goes).
    """
    declared = getattr(function, "mecopt_options", None)
    if isinstance(declared, OptionSet):
        return declared
    params = _keyword_parameters(function)
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # noqa: BLE001  (an annotation that does not resolve: fall back to the defaults)
        hints = {}
    return OptionSet(tuple(_derived(p, hints.get(p.name)) for p in params))


def _derived(param: inspect.Parameter, hint: Any) -> Option:
    kind, nullable = object, param.default is None
    args = typing.get_args(hint)
    if hint is not None and type(None) in args:
        nullable = True
        rest = [a for a in args if a is not type(None)]
        hint = rest[0] if len(rest) == 1 else None
    if hint in (int, float, bool, str):
        kind = hint
    elif hint is None and type(param.default) in (int, float, bool, str):
        kind = type(param.default)
    if kind is object:
        nullable = False     # untyped: anything goes, None included
    return Option(param.name, kind, "", nullable=nullable, default=param.default)


def _keyword_parameters(function: Callable[..., Any]) -> list[inspect.Parameter]:
    params = list(inspect.signature(function).parameters.values())
    kw = [p for p in params if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    return kw[1:] if kw and params[0].kind != inspect.Parameter.KEYWORD_ONLY else kw


def accepted_options(function: Callable[..., Any]) -> list[str]:
    """The keyword options ``function`` names explicitly (its first positional parameter, the instance, excluded).

    In signature order.

    Parameters
    ----------
    function : Callable[..., Any]
        A method function.

    Returns
    -------
    list[str]
        The option names, in signature order.
    """
    return [p.name for p in _keyword_parameters(function)]


def check_option_names(owner: str, given: Iterable[str], valid: Iterable[str]) -> None:
    """Raise :class:`InputError` when ``given`` holds a name not in ``valid``.

    ``owner`` says whose options they are, e.g. ``"method 'tpos-cai'"``; the message lists the valid names.

    Parameters
    ----------
    owner : str
        Who accepts the options (for the message).
    given : Iterable[str]
        The names given.
    valid : Iterable[str]
        The names accepted.

    Raises
    ------
    InputError
        Naming the unknown option and the valid ones.
    """
    valid = list(valid)
    unknown = [k for k in given if k not in valid]
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        hint = ", ".join(valid) if valid else "none"
        raise InputError(f"The {names} option{'s are' if len(unknown) > 1 else ' is'} not accepted by {owner}. "
                         f"Valid options: {hint}.")


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> None:
    """Raise :class:`InputError` unless ``value`` is one of ``choices``.

    Parameters
    ----------
    name : str
        The option's name (for the message).
    value : object
        The value given.
    choices : Iterable[Any]
        The allowed values.

    Raises
    ------
    InputError
        When ``value`` is not allowed.
    """
    choices = list(choices)
    if value not in choices:
        raise InputError(f"The {name!r} option must be one of {', '.join(map(str, choices))}. Got {value!r} instead.")
