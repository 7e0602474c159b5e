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
price-free game, which is what the solvers get as their first incumbent.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mecopt import constraints as checkmod
from mecopt.model import cost as costmod
from mecopt.model.instance import Instance


def objective_instance(instance: Instance, objective: str) -> Instance:
    """``instance`` with each MD's cost set to its term of the GTPOS objective (no price)."""
    devs = []
    for d in instance.devices:
        if objective == "delay":
            w = dict(alpha=1.0, beta=0.0, gamma=0.0, c_T=1.0, c_E=0.0)
        elif objective == "energy":
            w = dict(alpha=0.0, beta=1.0, gamma=0.0, c_T=0.0, c_E=1.0)
        else:
            w = dict(gamma=0.0)
        devs.append(replace(d, **w))
    return replace(instance, devices=tuple(devs))


def greedy_profile(instance: Instance, objective: str = "delay", passes: int = 2) -> list[np.ndarray] | None:
    """A feasible profile (see the module docstring), or None."""
    from mecopt.bestresponse.dp import DPEngine
    from mecopt.bestresponse.problem import Aggregates

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
