# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # mecopt quick start
#
# The game (TPOS-CAI) against the centralized optimum (GTPOS) on the paper's Fig. 6
# instance (5 AlexNet devices, W = 1 kHz), a picture of the schedule, and a method of
# our own that mecopt re-scores and checks like its built-in ones.
#
# This file is a [jupytext](https://jupytext.readthedocs.io) percent-format script:
# run it with `python examples/quickstart.py`, or open it as a notebook
# (`jupytext --to notebook examples/quickstart.py`). It writes `schedule.png` into
# the current folder, and a notebook also shows it under its cell. The test suite runs
# it (tests/project/test_examples.py).

# %%
import sys

import matplotlib
import numpy as np

import mecopt
from mecopt.results import plots

IN_NOTEBOOK = "ipykernel" in sys.modules   # a Jupyter kernel runs this file
if not IN_NOTEBOOK:
    matplotlib.use("Agg")   # a script needs no display: the figure is saved to a file

# %% [markdown]
# ## Load a bundled instance
# `paper:NAME` names work from a checkout and from an installed wheel alike;
# `mecopt.bundled_instances()` lists them. A TOML file path works too.

# %%
inst = mecopt.load_instance("paper:fig6-w1khz")
print(inst.name, "-", inst.description)
print(f"{inst.N} devices, {inst.server.H} slots of {inst.server.slot_len:.3g} s, "
      f"parallel limit B = {inst.server.B}")

# %% [markdown]
# ## The game and the optimum
# `engine="dp"` computes each best response with the exact dynamic program (the
# default `milp` engine solves a MILP with HiGHS; both reach the same equilibrium).

# %%
game = mecopt.solve(inst, "tpos-cai", engine="dp", seed=0)
print(game.termination, f"after {game.iterations} ticks;",
      "max unilateral gain", game.certificate["max_gain"])
game.devices_frame()[["device", "partition_point", "last_slot", "delay_s", "energy_j", "cost"]]

# %%
opt = mecopt.solve(inst, "gtpos")
print(opt.termination, "gap", opt.gap)
print(f"average delay: game {game.evaluation.avg_delay:.4f} s, optimum {opt.evaluation.avg_delay:.4f} s, "
      f"ratio {game.evaluation.avg_delay / opt.evaluation.avg_delay:.4f}")

# %% [markdown]
# ## Every method side by side
# The paper's Cases 1-4: the game, GTPOS, all-offload (averaged over seeded draws)
# and all-local. Every figure is recomputed from the assignment by one cost model.

# %%
table, solutions = mecopt.compare(inst, methods=["tpos-cai", "gtpos", "all-offload", "all-local"], engine="dp")
table[["method", "avg_delay_s", "avg_energy_j", "avg_cost", "feasible", "termination", "delay_ratio"]]

# %% [markdown]
# ## The schedule
# Devices (rows) by server slots (columns), with each device's offloaded layers.
# mecopt builds figures without pyplot, so a notebook shows one with `display`.
# `plots.save` writes it (``.pdf`` or ``.svg`` for a paper; `mecopt.results.style`
# has the size presets).

# %%
fig = plots.schedule(game, title="TPOS-CAI on fig6-w1khz")
print("wrote", plots.save(fig, "schedule.png"))
if IN_NOTEBOOK:
    from IPython.display import Image, display

    display(Image(filename="schedule.png"))

# %% [markdown]
# ## A method of our own
# A contention-blind greedy rule: each device picks the partition point that is
# fastest *alone* on the server and packs its offloaded layers into consecutive slots
# (at most T_d/H of server time per slot, constraint 17), starting at slot
# `1 + n mod H` when `stagger` is on, else at slot 1. A method is a function of the
# instance whose keyword parameters are its options; it may return just the profile
# (one slot vector per device, 0 = local).

# %%
def greedy(instance, *, stagger: bool = True):
    H, cap = instance.server.H, instance.server.slot_len
    profile = []
    for n, d in enumerate(instance.devices):
        best_delay, best = d.local_cum[-1], np.zeros(d.M, dtype=int)      # all local
        for p in range(d.M):                                              # layers 1..p local
            slots, h, used = np.zeros(d.M, dtype=int), 1 + (n % H if stagger else 0), 0.0
            for m in range(p + 1, d.M + 1):
                if used + d.t_server[m] > cap:
                    h, used = h + 1, 0.0
                slots[m - 1], used = h, used + d.t_server[m]
            delay = d.local_cum[p] + d.t_up[p] + h * cap + d.t_down
            if h <= H and delay < best_delay:
                best_delay, best = delay, slots
        profile.append(best)
    return profile


mecopt.register_method("greedy", greedy, replace=True)

# %% [markdown]
# mecopt re-scores the profile with its own cost model and checks every constraint:
# staggered, the greedy profile is feasible; all starting in slot 1, five devices
# share slots where only B = 4 may run (constraint 27), and the checker says so.

# %%
for stagger in (True, False):
    sol = mecopt.solve(inst, "greedy", stagger=stagger)
    print(f"stagger={stagger}: {sol.solution_status}, avg delay {sol.evaluation.avg_delay:.4f} s,",
          "violated:", sorted({v.equation for v in sol.violations}) or "nothing")

# %% [markdown]
# Registered methods take part in `compare` (and in `mecopt compare --methods`,
# `mecopt solve --method`, `mecopt sweep` when defined in an importable module).

# %%
table, _ = mecopt.compare(inst, methods=["tpos-cai", "gtpos", "greedy"], engine="dp")
table[["method", "avg_delay_s", "avg_cost", "feasible", "violated", "termination"]]
