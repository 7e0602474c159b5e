"""TPOS-UAI on sparse neighbour graphs: consensus rounds and a certified CAI polish (docs/equilibria.md).

On a sparse graph the estimate (29), N (w_n . loads), extrapolates an MD's few
neighbours to the whole population: on a ring with Metropolis weights 1/3 a
neighbour's block counts N/3 times, so a slot with one neighbour in it looks full
(count >= B) or expensive, and the slot a device avoids depends on who its
neighbours are rather than on the true load. Best responses to these distorted,
neighbour-dependent aggregates have no common potential and cycle (docs/equilibria.md
gives the numbers). Two documented remedies, both off by default:

* ``consensus_rounds`` = k > 1: between two decisions the MDs average their
  per-slot estimates k times with their neighbours, so (29) uses W^k
  (:func:`mecopt.game.estimate.consensus_weights`); the estimate error falls as
  |lambda_2(W)|^k.
* ``polish_after`` = K: after K UAI ticks that did not end in an equilibrium of the
  *true* game, the run continues from the last profile with the exact aggregates
  (TPOS-CAI) until certified, or until ``max_iter`` ticks in total. The result is a
  certified equilibrium (or, at the limit, an epsilon-equilibrium with epsilon = the
  certificate's largest relative gain). The ticks and best-response calls of both
  phases are reported (``info["uai_ticks"]``, ``info["polish_ticks"]``) and counted
  in ``iterations`` and ``solver_calls``.
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import pandas as pd

from mecopt.core.errors import InputError
from mecopt.core.solution import Solution


def solve_uai_remedied(instance, *, engine: str, seed: int, wake_prob: float, eps: float, stop: str, max_iter: int,
                       tol: float, init: str, time_limit: float | None, progress, consensus_rounds: int,
                       polish_after: int | None) -> Solution:
    """TPOS-UAI with the remedies of the module docstring.

    Parameters
    ----------
    instance : Instance
        The instance.
    engine : str
        Best-response engine name (``dp``, ``milp`` or a registered one).
    seed : int
        Seed of the wake-ups and of a random start.
    wake_prob : float
        Probability that a device wakes up in a tick (Alg. 1-2).
    eps : float
        The paper's stop rule: stop when the average cost changes by at most ``eps`` between two ticks.
    stop : str
        ``certified`` (no device gains more than ``tol``) or ``paper`` (|dC| <= eps).
    max_iter : int
        Most ticks.
    tol : float
        A device moves only when it gains more than ``tol`` relative.
    init : str
        Start profile: ``random`` or ``local``.
    time_limit : float or None
        Time limit in seconds (None: none).
    progress : callable or None
        Called after every tick with its :class:`Tick` (None: no progress).
    consensus_rounds : int
        Gossip rounds averaging the estimates (29) between decisions.
    polish_after : int or None
        Switch to the exact aggregates after this many ticks without an equilibrium (None: never).

    Returns
    -------
    Solution
        The profile reached, with its termination, trace and certificate.
    """
    from mecopt.game.dynamics import run_game

    problems = []
    if consensus_rounds < 1:
        problems.append(("consensus_rounds", f"must be >= 1, got {consensus_rounds}"))
    if polish_after is not None and polish_after < 1:
        problems.append(("polish_after", f"must be >= 1 ticks, got {polish_after}"))
    if problems:
        raise InputError("invalid tpos-uai options", problems)
    t0 = time.perf_counter()
    common = dict(engine=engine, wake_prob=wake_prob, eps=eps, stop=stop, tol=tol, init=init, progress=progress)
    limit = max_iter if polish_after is None else min(polish_after, max_iter)
    first = run_game(instance, "tpos-uai", seed=seed, max_iter=limit, uai=True, time_limit=time_limit,
                 consensus_rounds=consensus_rounds, **common)
    first = first.replace(info=dict(first.info, consensus_rounds=consensus_rounds, polish_after=polish_after,
                                    uai_ticks=first.iterations, uai_calls=first.solver_calls,
                                    uai_termination=str(first.termination),
                                    uai_max_gain_rel=first.certificate["max_gain_rel"], uai_avg_cost=first.objective,
                                    polish_ticks=0, polish_calls=0))
    left = max_iter - (first.iterations or 0)
    if polish_after is None or first.certificate["certified"] or left < 1:
        return first
    rest = None if time_limit is None else max(time_limit - (time.perf_counter() - t0), 1e-3)
    with warnings.catch_warnings():
        if first.certificate["infeasible_devices"]:
            # moves that repair a profile breaking (17)/(27) may raise Phi: expected here, counted in info
            warnings.filterwarnings("ignore", message="tpos-uai: the potential rose")
        second = run_game(instance, "tpos-uai", seed=seed + 1, max_iter=left, uai=False, time_limit=rest,
                      init_profile=first.profile, init_server_of=first.server_of, **common)
    tr1, tr2 = first.trace.assign(phase="uai"), second.trace.iloc[1:].assign(phase="polish")
    tr2 = tr2.assign(tick=tr2["tick"] + first.iterations)
    info = dict(first.info, polish_ticks=second.iterations, polish_calls=second.solver_calls,
                potential_rises=second.info.get("potential_rises", 0),
                polish_start_infeasible=first.certificate["infeasible_devices"])
    status = (f"{first.iterations} UAI tick(s) ({first.termination}, largest relative gain "
              f"{first.certificate['max_gain_rel']:.3g} against the true aggregates), then a CAI polish of "
              f"{second.iterations} tick(s): {second.status}")
    return dataclasses.replace(second, method="tpos-uai", trace=pd.concat([tr1, tr2], ignore_index=True),
                               iterations=first.iterations + second.iterations,
                               solver_calls=first.solver_calls + second.solver_calls,
                               wall_time=time.perf_counter() - t0, status=status, info=info)
