"""TPOS-CAI (Alg. 1) and TPOS-UAI (Alg. 2) as methods: the game of :mod:`mecopt.game.dynamics`."""

from __future__ import annotations

from collections.abc import Callable

from mecopt.core.instance import Instance
from mecopt.core.options import Option, declare_options
from mecopt.core.solution import Solution
from mecopt.game.dynamics import INITS, STOP_RULES, Tick, run_game
from mecopt.methods.registry import ENGINE, PROGRESS, SEED, TIME_LIMIT, several_servers

#: the options of TPOS-CAI (Alg. 1); TPOS-UAI (Alg. 2) adds :data:`UAI_OPTIONS`
GAME_OPTIONS = (
    ENGINE,
    SEED,
    Option("wake_prob", float, "probability that a device wakes up in a tick (Alg. 1-2)", gt=0, le=1),
    Option("eps", float, "the paper's stop rule: stop when the average cost changes by at most eps between "
           "two ticks", ge=0),
    Option("stop", str, "certified: stop at a certified equilibrium (no device gains more than tol); "
           "paper: the paper's |dC| <= eps", choices=STOP_RULES),
    Option("max_iter", int, "most ticks", ge=1),
    Option("tol", float, "a device moves only when it gains more than tol relative (the certificate's tolerance)",
           ge=0),
    Option("init", str, "start profile: random strategies, or every layer local", choices=INITS),
    TIME_LIMIT,
    PROGRESS,
)
UAI_OPTIONS = (
    Option("consensus_rounds", int, "gossip rounds averaging the estimates (29) between decisions", ge=1),
    Option("polish_after", int, "switch to the exact aggregates after this many ticks without an equilibrium",
           ge=1, nullable=True),
)


@several_servers
@declare_options("tpos-cai", *GAME_OPTIONS)
def solve_cai(instance: Instance, *, engine: str = "dp", seed: int = 0, wake_prob: float = 0.5, eps: float = 1e-6,
              stop: str = "certified", max_iter: int = 10_000, tol: float = 1e-10, init: str = "random",
              time_limit: float | None = None, progress: Callable[[Tick], None] | None = None) -> Solution:
    """TPOS-CAI (Alg. 1): best responses against the exact aggregates fed back by the server.

    Parameters
    ----------
    instance : Instance
        The instance.
    engine : str, default 'dp'
        Best-response engine: ``dp`` (exact dynamic programme) or ``milp``, or a registered one.
    seed : int, default 0
        Seed of the wake-ups and of a random start.
    wake_prob : float, default 0.5
        Probability that a device wakes up in a tick (Alg. 1-2), in (0, 1].
    eps : float, default 1e-06
        The paper's stop rule: stop when the average cost changes by at most ``eps`` between two ticks.
    stop : str, default 'certified'
        ``certified``: stop at a certified equilibrium (no device gains more than ``tol``); ``paper``: the paper's |dC|
        <= eps.
    max_iter : int, default 10000
        Most ticks.
    tol : float, default 1e-10
        A device moves only when it gains more than ``tol`` relative (the certificate's tolerance).
    init : str, default 'random'
        Start profile: ``random`` strategies, or every layer ``local``.
    time_limit : float or None, default None
        Time limit in seconds (None: none).
    progress : Callable[[Tick], None] or None, default None
        Called after every tick with its :class:`~mecopt.game.dynamics.Tick` (None: no progress).

    Returns
    -------
    Solution
        The profile reached, its termination, trace and certificate.
    """
    return run_game(instance, "tpos-cai", engine=engine, seed=seed, wake_prob=wake_prob, eps=eps, stop=stop,
                max_iter=max_iter, tol=tol, init=init, uai=False, progress=progress,
                time_limit=time_limit)


@several_servers
@declare_options("tpos-uai", *GAME_OPTIONS, *UAI_OPTIONS)
def solve_uai(instance: Instance, *, engine: str = "dp", seed: int = 0, wake_prob: float = 0.5, eps: float = 1e-6,
              stop: str = "certified", max_iter: int = 10_000, tol: float = 1e-10, init: str = "random",
              time_limit: float | None = None, progress: Callable[[Tick], None] | None = None,
              consensus_rounds: int = 1, polish_after: int | None = None) -> Solution:
    """TPOS-UAI (Alg. 2): best responses against the neighbour estimate (29) over the instance's topology.

    Sparse-graph remedies (:mod:`mecopt.game.remedy`, docs/equilibria.md): ``consensus_rounds`` > 1
    averages the estimates that many gossip rounds between decisions; ``polish_after`` = K
    switches to the exact aggregates (a certified CAI polish) after K UAI ticks without an
    equilibrium of the true game.

    Parameters
    ----------
    instance : Instance
        The instance.
    engine : str, default 'dp'
        Best-response engine: ``dp`` (exact dynamic programme) or ``milp``, or a registered one.
    seed : int, default 0
        Seed of the wake-ups and of a random start.
    wake_prob : float, default 0.5
        Probability that a device wakes up in a tick (Alg. 1-2), in (0, 1].
    eps : float, default 1e-06
        The paper's stop rule: stop when the average cost changes by at most ``eps`` between two ticks.
    stop : str, default 'certified'
        ``certified``: stop at a certified equilibrium (no device gains more than ``tol``); ``paper``: the paper's |dC|
        <= eps.
    max_iter : int, default 10000
        Most ticks.
    tol : float, default 1e-10
        A device moves only when it gains more than ``tol`` relative (the certificate's tolerance).
    init : str, default 'random'
        Start profile: ``random`` strategies, or every layer ``local``.
    time_limit : float or None, default None
        Time limit in seconds (None: none).
    progress : Callable[[Tick], None] or None, default None
        Called after every tick with its :class:`~mecopt.game.dynamics.Tick` (None: no progress).
    consensus_rounds : int, default 1
        Gossip rounds averaging the estimates (29) between decisions.
    polish_after : int or None, default None
        Switch to the exact aggregates after this many ticks without an equilibrium (None: never).

    Returns
    -------
    Solution
        The profile reached, its termination, trace and certificate.
    """
    if polish_after is not None or consensus_rounds != 1:
        from mecopt.game.remedy import solve_uai_remedied
        return solve_uai_remedied(instance, engine=engine, seed=seed, wake_prob=wake_prob, eps=eps, stop=stop,
                                  max_iter=max_iter, tol=tol, init=init, time_limit=time_limit, progress=progress,
                                  consensus_rounds=consensus_rounds, polish_after=polish_after)
    return run_game(instance, "tpos-uai", engine=engine, seed=seed, wake_prob=wake_prob, eps=eps, stop=stop,
                max_iter=max_iter, tol=tol, init=init, uai=True, progress=progress,
                time_limit=time_limit)
