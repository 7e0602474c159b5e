"""Best-response engines (problem 28) behind one protocol and one factory.

A single-server engine is built once per (single-server) instance and answers
``best_response(n, others)``: device ``n``'s exact best response against the others'
aggregates. Built in:

- ``dp``: the exact dynamic program, ``mecopt.bestresponse.dp.DPEngine``;
- ``milp``: a Pyomo MILP re-solved by persistent HiGHS, ``mecopt.bestresponse.milp.MILPEngine``.

Others can be added with [register_engine][mecopt.register_engine] (the test suite registers its
enumeration oracle this way).

:func:`make_engine` builds, for an instance with any number of
servers, a :class:`ServerEngine`: the named single-server engine on every server view, whose best
response is the least over the device's reachable servers (:func:`choose`; with one server, the
view engine's own answer with ``server`` set).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

from mecopt.core import slots as slotcodes
from mecopt.core.instance import Instance
from mecopt.core.problem import Aggregates, BestResponse
from mecopt.core.registry import Registry


@runtime_checkable
class Engine(Protocol):
    """What the game and the baselines need of a single-server best-response engine.

    An engine is built once per single-server instance (``factory(instance)``, see
    [register_engine][mecopt.register_engine]) and keeps a count of the best responses it computed;
    :func:`make_engine` applies it on every server view.

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
    >>> int((br.slots == 0).sum()), br.server, eng.calls    # md1 keeps layers 1-4 local, offloads the rest
    (4, 0, 1)
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


def engine_names() -> list[str]:
    """The engines available as ``engine=NAME``: built-in, then registered.

    Returns
    -------
    list[str]
        The engine names.
    """
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


def view_engine(instance: Instance, engine: str, **options) -> Engine:
    """The single-server engine called ``engine`` for a single-server ``instance`` (e.g. a server view).

    Parameters
    ----------
    instance : Instance
        One server (``instance.view(k).instance`` for server k of several).
    engine : str
        A name of :func:`engine_names`.
    **options
        Passed to the engine's factory (``tie_break=False`` for the built-in ones).

    Returns
    -------
    Engine

    Raises
    ------
    InputError
        For an unknown engine name.
    """
    return ENGINES.get(engine)(instance, **options)


def make_engine(instance: Instance, engine: str, **options) -> ServerEngine:
    """The engine called ``engine`` for ``instance``, with any number of servers.

    Parameters
    ----------
    instance : Instance
        One server or several.
    engine : str
        A name of :func:`engine_names` (``"dp"``, ``"milp"``,
        or a registered one).
    **options
        Passed to the engine's factory on every server view (``tie_break=False`` for the
        built-in ones: the certificate's exact best response).

    Returns
    -------
    ServerEngine
        Problem (28) over every reachable server: ``best_response(n, others)`` with ``others``
        mapping each server device ``n`` reaches to the others' aggregates there.

    Raises
    ------
    InputError
        For an unknown engine name.

    Examples
    --------
    >>> import mecopt
    >>> from mecopt.bestresponse.engines import make_engine
    >>> eng = make_engine(mecopt.load_instance("examples:multiserver-n50-k4"), "dp")
    >>> len(eng.engines), eng.name
    (4, 'dp')
    """
    return ServerEngine(instance, engine, **options)


def choose(candidates: list[tuple[int, BestResponse]]) -> BestResponse:
    """The best of the per-server best responses (28) of one device.

    Parameters
    ----------
    candidates : list of (int, BestResponse)
        (server index, that server view's best response), in the order of ``instance.reachable(n)``.

    Returns
    -------
    BestResponse
        A tau-feasible one (26) when any server has one, then the least objective; ties go to the
        first server (the lowest index). Its ``server`` is that server's index, -1 when all local.
    """
    if len(candidates) == 1:   # one reachable server (the hot path of a one-server game)
        k, br = candidates[0]
    else:
        feasible = [c for c in candidates if not c[1].deadline_dropped] or candidates
        k, br = feasible[0]
        for kk, b in feasible[1:]:
            if b.objective < br.objective:
                k, br = kk, b
    offloads = br.slots[-1] != slotcodes.LOCAL   # slots never decrease (15)-(16): the last layer tells
    return BestResponse(br.slots, br.objective, br.cost, br.deadline_dropped, k if offloads else -1)


class ServerEngine:
    """Problem (28) for any number of servers: a single-server engine per server view, the best kept.

    Built by :func:`make_engine`. With one server it answers
    what the view engine answers, with ``server`` set.

    Attributes
    ----------
    name : str
        The single-server engine's name.
    engines : list of Engine
        One per server, on ``instance.view(k).instance``.
    calls : int
        Device best responses computed (each solves one problem per reachable server).
    """

    def __init__(self, instance: Instance, engine: str = "dp", **options):
        self.instance = instance
        self.name = engine
        self.views = [instance.view(k) for k in range(instance.K)]
        self.engines = [view_engine(v.instance, engine, **options) for v in self.views]
        self._exact = [e.best_response for e in self.engines]
        self._fast = [getattr(e, "best_move", None) or e.best_response for e in self.engines]
        self.calls = 0

    @property
    def server_calls(self) -> int:
        """Single-server best responses solved (one per reachable server per device best response)."""
        return sum(e.calls for e in self.engines)

    def _each(self, n: int, others: Mapping[int, Aggregates], respond: list) -> BestResponse:
        self.calls += 1
        views = self.views
        return choose([(k, respond[k](int(views[k].local[n]), agg)) for k, agg in others.items()])

    def best_response(self, n: int, others: Mapping[int, Aggregates]) -> BestResponse:
        """Device ``n``'s best response (28): the least over the servers of ``others``.

        Parameters
        ----------
        n : int
            The device's index in ``instance.devices``.
        others : mapping of int to Aggregates
            Per reachable server, the other devices' aggregates there
            (:meth:`mecopt.game.state.GameState.others`).

        Returns
        -------
        BestResponse
            With ``server`` the chosen server (-1 all local) and its cost re-scored by the cost model.
        """
        return self._each(n, others, self._exact)

    def best_move(self, n: int, others: Mapping[int, Aggregates]) -> BestResponse:
        """:meth:`best_response` through each view engine's ``best_move`` where it has one.

        (the DP: the same strategy and objective, ``cost`` not re-scored); what the game loop calls.

        Parameters
        ----------
        n : int
            Device index.
        others : Mapping[int, Aggregates]
            The other MDs' aggregates on each server (server index -> aggregates).

        Returns
        -------
        BestResponse
            The best response over every reachable server.
        """
        return self._each(n, others, self._fast)
