"""Best-response engines (problem 28) behind one protocol and one factory.

An engine is built once per instance and answers ``best_response(n, others)``:
device ``n``'s exact best response against the others' aggregates. Built in:

- ``dp``: the exact dynamic program, ``mecopt.bestresponse.dp.DPEngine``;
- ``milp``: a Pyomo MILP re-solved by persistent HiGHS, ``mecopt.bestresponse.milp.MILPEngine``.

Others can be added with [register_engine][mecopt.register_engine] (the test suite registers its
enumeration oracle this way).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from mecopt.core.problem import Aggregates, BestResponse
from mecopt.core.instance import Instance
from mecopt.core.registry import Registry


@runtime_checkable
class Engine(Protocol):
    """What the game and the baselines need of a best-response engine.

    An engine is built once per instance (``factory(instance)``, see
    [register_engine][mecopt.register_engine]) and keeps a count of the best responses it computed.

    Attributes
    ----------
    calls : int
        Best responses computed so far.

    Examples
    --------
    >>> import mecopt
    >>> from mecopt.bestresponse.engines import make_engine
    >>> from mecopt.game.state import GameState
    >>> inst = mecopt.load_instance("paper:fig6-w1khz")
    >>> eng = make_engine(inst, "dp")
    >>> isinstance(eng, mecopt.Engine)
    True
    >>> state = GameState(inst, [[0] * d.M for d in inst.devices])    # everybody local
    >>> br = eng.best_response(0, state.others(0))
    >>> int((br.slots == 0).sum()), eng.calls    # md1 keeps layers 1-4 local, offloads the rest
    (4, 1)
    """

    calls: int

    def best_response(self, n: int, others: Aggregates) -> BestResponse:
        """Device ``n``'s best response (28) against ``others``.

        Parameters
        ----------
        n : int
            The device's index in ``instance.devices``.
        others : Aggregates
            The other devices' load per slot and their counts (what the server feeds back).

        Returns
        -------
        BestResponse
            The slot vector minimizing the device's cost (22) subject to (15)-(17), (26)
            and (27), its cost, and whether the deadline had to be dropped.
        """


#: the engine registry (:class:`mecopt.core.registry.Registry`): name -> factory or "module:attr"
ENGINES = Registry("engine", {
    "dp": "mecopt.bestresponse.dp:DPEngine",
    "milp": "mecopt.bestresponse.milp:MILPEngine",
})
_ENGINES: dict[str, str | Callable[[Instance], Engine]] = ENGINES.entries


def engine_names() -> list[str]:
    """The engines available as ``engine=NAME``: built-in, then registered."""
    return ENGINES.names()


def register_engine(name: str, factory: Callable[[Instance], Engine], *, replace: bool = False) -> None:
    """Make ``factory(instance) -> Engine`` available as ``engine=name`` everywhere.

    Parameters
    ----------
    name : str
        The engine's name, e.g. ``"enum"``.
    factory : callable
        ``factory(instance)`` returning an [Engine][mecopt.Engine] for that instance (a class
        taking the instance is fine).
    replace : bool, default False
        Allow replacing an engine of the same name.

    Returns
    -------
    None

    Raises
    ------
    ValueError
        When ``name`` is taken and ``replace`` is False.

    Examples
    --------
    >>> import mecopt
    >>> from mecopt.bestresponse.dp import DPEngine
    >>> mecopt.register_engine("dp-copy", DPEngine, replace=True)
    >>> inst = mecopt.load_instance("paper:fig6-w1khz")
    >>> str(mecopt.solve(inst, "tpos-cai", engine="dp-copy").termination)
    'equilibrium'
    """
    ENGINES.register(name, factory, replace=replace)


def make_engine(instance: Instance, engine: str) -> Engine:
    """The engine called ``engine`` for ``instance`` (InputError for an unknown name)."""
    return ENGINES.get(engine)(instance)
