"""Best-response engines (problem 28) behind one protocol and one factory.

An engine is built once per instance and answers ``best_response(n, others)``:
device ``n``'s exact best response against the others' aggregates. Built in:

- ``dp``: the exact dynamic program, :class:`mecopt.bestresponse.dp.DPEngine`;
- ``milp``: a Pyomo MILP re-solved by persistent HiGHS, :class:`mecopt.milp.best_response.MILPEngine`.

Others can be added with :func:`register_engine` (the test suite registers its
enumeration oracle this way).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Protocol, runtime_checkable

from mecopt.bestresponse.problem import Aggregates, BestResponse
from mecopt.model.instance import Instance
from mecopt.options import check_choice


@runtime_checkable
class Engine(Protocol):
    """What the game and the baselines need of a best-response engine."""

    calls: int  #: best responses computed so far

    def best_response(self, n: int, others: Aggregates) -> BestResponse:
        """Device ``n``'s best response (28) against ``others``."""


_ENGINES: dict[str, str | Callable[[Instance], Engine]] = {
    "dp": "mecopt.bestresponse.dp:DPEngine",
    "milp": "mecopt.milp.best_response:MILPEngine",
}


def engine_names() -> list[str]:
    return list(_ENGINES)


def register_engine(name: str, factory: Callable[[Instance], Engine], *, replace: bool = False) -> None:
    """Make ``factory(instance) -> Engine`` available as ``engine=name`` everywhere."""
    if name in _ENGINES and not replace:
        raise ValueError(f"engine {name!r} is already registered (pass replace=True)")
    _ENGINES[name] = factory


def make_engine(instance: Instance, engine: str) -> Engine:
    """The engine called ``engine`` for ``instance`` (InputError for an unknown name)."""
    check_choice("engine", engine, _ENGINES)
    factory = _ENGINES[engine]
    if isinstance(factory, str):
        module, cls = factory.split(":")
        factory = getattr(import_module(module), cls)
    return factory(instance)
