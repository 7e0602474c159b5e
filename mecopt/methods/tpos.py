"""TPOS-CAI (Alg. 1) and TPOS-UAI (Alg. 2) as methods: the game of :mod:`mecopt.game.dynamics`."""

from __future__ import annotations

from collections.abc import Callable

from mecopt.core.instance import Instance
from mecopt.core.solution import Solution
from mecopt.game.dynamics import Tick, _run
from mecopt.methods.registry import several_servers


@several_servers
def solve_cai(instance: Instance, *, engine: str = "milp", seed: int = 0, wake_prob: float = 0.5, eps: float = 1e-6,
              stop: str = "certified", max_iter: int = 10_000, tol: float = 1e-10, init: str = "random",
              time_limit: float | None = None, progress: Callable[[Tick], None] | None = None) -> Solution:
    """TPOS-CAI (Alg. 1): best responses against the exact aggregates fed back by the server."""
    return _run(instance, "tpos-cai", engine=engine, seed=seed, wake_prob=wake_prob, eps=eps, stop=stop,
                max_iter=max_iter, tol=tol, init=init, uai=False, progress=progress,
                time_limit=time_limit)


@several_servers
def solve_uai(instance: Instance, *, engine: str = "milp", seed: int = 0, wake_prob: float = 0.5, eps: float = 1e-6,
              stop: str = "certified", max_iter: int = 10_000, tol: float = 1e-10, init: str = "random",
              time_limit: float | None = None, progress: Callable[[Tick], None] | None = None,
              consensus_rounds: int = 1, polish_after: int | None = None) -> Solution:
    """TPOS-UAI (Alg. 2): best responses against the neighbour estimate (29) over the instance's topology.

    Sparse-graph remedies (:mod:`mecopt.game.remedy`, docs/equilibria.md): ``consensus_rounds`` > 1
    averages the estimates that many gossip rounds between decisions; ``polish_after`` = K
    switches to the exact aggregates (a certified CAI polish) after K UAI ticks without an
    equilibrium of the true game.
    """
    if polish_after is not None or consensus_rounds != 1:
        from mecopt.game.remedy import solve_uai_remedied
        return solve_uai_remedied(instance, engine=engine, seed=seed, wake_prob=wake_prob, eps=eps, stop=stop,
                                  max_iter=max_iter, tol=tol, init=init, time_limit=time_limit, progress=progress,
                                  consensus_rounds=consensus_rounds, polish_after=polish_after)
    return _run(instance, "tpos-uai", engine=engine, seed=seed, wake_prob=wake_prob, eps=eps, stop=stop,
                max_iter=max_iter, tol=tol, init=init, uai=True, progress=progress,
                time_limit=time_limit)
