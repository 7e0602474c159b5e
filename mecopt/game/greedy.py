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
each move is the best response over every reachable server.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mecopt.bestresponse.engines import make_engine
from mecopt.core import checker as checkmod
from mecopt.core import cost as costmod
from mecopt.core.instance import Instance
from mecopt.game.state import GameState


def objective_instance(instance: Instance, objective: str) -> Instance:
    """``instance`` with each MD's cost set to its term of the GTPOS objective (no price), in every server view.

    Parameters
    ----------
    instance : Instance
        One server or several.
    objective : str
        ``"delay"`` (T_n, eq. 24), ``"energy"`` (E_n, eq. 25) or ``"social"`` (alpha c^T T_n + beta c^E E_n).

    Returns
    -------
    Instance
        The same instance with gamma_n = 0 and the weights of ``objective``.
    """
    def weights(d):
        if objective == "delay":
            return dict(alpha=1.0, beta=0.0, gamma=0.0, c_T=1.0, c_E=0.0)
        if objective == "energy":
            return dict(alpha=0.0, beta=1.0, gamma=0.0, c_T=0.0, c_E=1.0)
        return dict(gamma=0.0)

    devs = tuple(replace(d, **weights(d)) for d in instance.devices)
    views = tuple(replace(v, instance=replace(v.instance, devices=tuple(replace(d, **weights(d))
                                                                          for d in v.instance.devices)))
                  for v in instance.views)   # none with one server: its view is the instance itself
    return replace(instance, devices=devs, views=views)


def greedy_assignment(instance: Instance, objective: str = "delay",
                      passes: int = 2) -> tuple[list[np.ndarray] | None, np.ndarray | None]:
    """A feasible profile and its servers (see the module docstring), or (None, None).

    Parameters
    ----------
    instance : Instance
        One server or several.
    objective : str, default "delay"
        The GTPOS objective each MD's move minimizes (:func:`objective_instance`).
    passes : int, default 2
        Improvement rounds after the first placement pass.

    Returns
    -------
    profile : list of numpy.ndarray or None
        One slot vector per MD; None when the result does not pass the checker.
    server_of : numpy.ndarray or None
        Each MD's server (-1 all local) with several servers; None with one server, or when the
        result does not pass the checker.
    """
    inst = objective_instance(instance, objective)
    engine = make_engine(inst, "dp", tie_break=True)
    state = GameState(inst, costmod.all_local(inst))
    for _ in range(passes + 1):   # the first pass places every MD against those before it (the rest all local)
        for n in range(inst.N):
            state.apply(n, engine.best_response(n, state.others(n)))
    profile, servers = state.profile(), state.solution_servers()
    return (profile, servers) if not checkmod.check_profile(instance, profile, servers) else (None, None)
