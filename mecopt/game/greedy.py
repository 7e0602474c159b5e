"""A feasible GTPOS profile fast: sequential exact best responses on the GTPOS objective (the warm start).

Each MD in turn (index order) takes its exact best response (the DP engine,
:mod:`mecopt.bestresponse.dp`) against the MDs already placed, with its cost replaced by its
term of the GTPOS objective (no price): delay -> T_n, energy -> E_n, social -> alpha c^T T +
beta c^E E. Then ``passes`` rounds of improvement: each MD re-optimizes against all others.
Every move keeps (17), (26), (27) against the others, so the profile stays feasible; it is
returned only when the checker agrees (a device whose deadline had to be dropped makes it
infeasible, and then None is returned).

This is the game's best-response dynamics run on the centralized objective (a potential game:
the objective is the sum of the terms each MD minimizes), i.e. an equilibrium of the
price-free game, which is what the solvers get as their first incumbent. With several servers
(:func:`greedy_assignment`) each move is the best response over every reachable server.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mecopt.core import checker as checkmod
from mecopt.core import cost as costmod
from mecopt.core.instance import Instance


def objective_instance(instance: Instance, objective: str) -> Instance:
    """``instance`` with each MD's cost set to its term of the GTPOS objective (no price); with several
    servers every server view too."""
    def weights(d):
        if objective == "delay":
            return dict(alpha=1.0, beta=0.0, gamma=0.0, c_T=1.0, c_E=0.0)
        if objective == "energy":
            return dict(alpha=0.0, beta=1.0, gamma=0.0, c_T=0.0, c_E=1.0)
        return dict(gamma=0.0)

    devs = tuple(replace(d, **weights(d)) for d in instance.devices)
    if not instance.multi:
        return replace(instance, devices=devs)
    views = tuple(replace(v, instance=replace(v.instance, devices=tuple(replace(d, **weights(d))
                                                                          for d in v.instance.devices)))
                  for v in instance.views)
    return replace(instance, devices=devs, views=views)


def greedy_profile(instance: Instance, objective: str = "delay", passes: int = 2) -> list[np.ndarray] | None:
    """A feasible profile (see the module docstring), or None."""
    from mecopt.bestresponse.dp import DPEngine
    from mecopt.core.problem import Aggregates

    inst = objective_instance(instance, objective)
    H, N = inst.server.H, inst.N
    engine = DPEngine(inst, tie_break=True)
    loads, times, used = np.zeros((N, H)), np.zeros((N, H)), np.zeros((N, H))
    placed = np.zeros(N, dtype=bool)
    profile = costmod.all_local(inst)

    def move(n: int) -> None:
        mask = placed.copy()
        mask[n] = False
        br = engine.best_response(n, Aggregates(loads[mask].sum(0), times[mask].sum(0), used[mask].sum(0)))
        profile[n] = np.asarray(br.slots, dtype=int)
        loads[n], times[n] = costmod.own_loads(inst.devices[n], profile[n], H)
        used[n] = np.isin(np.arange(1, H + 1), profile[n])
        placed[n] = True

    for n in range(N):
        move(n)
    for _ in range(passes):
        for n in range(N):
            move(n)
    return profile if not checkmod.check_profile(instance, profile) else None


def greedy_assignment(instance: Instance, objective: str = "delay",
                      passes: int = 2) -> tuple[list[np.ndarray] | None, np.ndarray | None]:
    """(profile, server_of) of :func:`greedy_profile`; with several servers each move is the exact
    best response over every reachable server (:class:`mecopt.game.multiserver.MultiEngine`, the DP).
    (None, None) when the result does not pass the checker; ``server_of`` is None with one server."""
    if not instance.multi:
        return greedy_profile(instance, objective, passes), None
    from mecopt.game.multiserver import MultiEngine, MultiState

    inst = objective_instance(instance, objective)
    engine = MultiEngine(inst, tie_break=True)
    state = MultiState(inst, np.full(inst.N, -1, dtype=int), costmod.all_local(inst))
    for _ in range(passes + 1):   # the first pass places every MD against those before it (the rest all local)
        for n in range(inst.N):
            br = engine.best_response(n, state.others(n))
            state.set(n, br.server, br.slots)
    profile, servers = state.profile(), state.server_of.copy()
    return (profile, servers) if not checkmod.check_profile(instance, profile, servers) else (None, None)
