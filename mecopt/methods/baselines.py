"""Baselines of the paper's §5 and a contention-blind reference (docs/MODEL.md §6).

- :func:`solve_all_local` — **Case 4**: every MD computes its whole DNN locally.
- :func:`solve_all_offload` — **Case 3**: every MD offloads all layers (m* = 0).
  In a seeded random order each MD draws a monotone slot sequence *uniformly* among
  those that keep (17) (either capacity mode) and (27) satisfied given the MDs
  already placed; an MD that cannot fit waits until after the frame (every layer at
  slot H+1; T = upload + T_d + total server time + download, see :func:`mecopt.core.cost.delay`).
  The deadline (26) is not a constraint of Case 3: misses are flagged, not avoided.
  Averaged over ``draws`` seeded draws.
- :func:`solve_isolated` — each MD's exact best response (28) as if it were alone on
  the server, then scored under the true contention; breaches of (17)/(27) are
  reported, never hidden.

Servers (docs/multiserver.md, "Baselines, checker, tables and plots"; one server is the case
K = 1): all-local sets every ``server_of`` to -1; all-offload sends each MD to the reachable server
with the highest upload rate (9) (ties to the first listed; :func:`offload_servers`), then applies
the random order, the uniform sequences and the overflow rule per server; isolated takes each MD's
best response alone over its reachable servers (least cost, a tau-feasible one preferred, ties to
the first).

Uniform sampling (Case 3). A monotone sequence with m* = 0 is a split of layers 1..M
into contiguous non-empty blocks placed in strictly increasing slots. With
``f[j][h]`` = number of feasible ways to place layers j+1..M in slots > h,

    f[M][h] = 1,    f[j][h] = sum_{h' > h, h' open} sum_{m > j, block j+1..m fits h'} f[m][h'],

computed exactly with Python integers in O(M^2 H). One integer r drawn uniformly in
[0, f[0][0]) is then unranked through the same recursion, so every feasible sequence
has probability exactly 1 / f[0][0].
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from mecopt.bestresponse.engines import make_engine
from mecopt.core import cost as costmod
from mecopt.core import slots as slotcodes
from mecopt.core.instance import Device, Instance, Server
from mecopt.core.options import Option, declare_options
from mecopt.core.problem import Aggregates, slot_capacity, slot_open
from mecopt.core.solution import DEADLINE_MISS, Solution, Termination, flag_deadline_misses
from mecopt.core.tolerances import DEADLINE_TOL, capacity_limit, meets_deadline
from mecopt.methods.registry import ENGINE, SEED, several_servers

QUEUED = "queued"
DEADLINE_DROPPED = "deadline_dropped"
DEADLINE_RELAXED = "deadline_relaxed"


# --------------------------------------------------------------------------- helpers

def _deadline_flags(instance: Instance, profile: list[np.ndarray], flags: dict[str, list[str]],
                    server_of: np.ndarray) -> int:
    """Flag every MD whose T_n (24), on its server ``server_of[n]``, exceeds tau_n (26); returns how many."""
    return flag_deadline_misses(instance, costmod.evaluate(instance, profile, server_of).delay, flags)


def _empty_flags(instance: Instance) -> dict[str, list[str]]:
    """One flag list per MD; MDs whose (26) the instance relaxed are flagged as the game does."""
    return {d.name: ([DEADLINE_RELAXED] if d.deadline_relaxed else []) for d in instance.devices}


# --------------------------------------------------------------------------- Case 4

@several_servers
@declare_options("all-local")
def solve_all_local(instance: Instance) -> Solution:
    """Case 4: y[n,m,0] = 1 for every layer (m* = M_n, T_n = local time only, E_n = P_lo x local time).

    Every ``server_of`` is -1 (no server).

    Parameters
    ----------
    instance : Instance
        The instance.

    Returns
    -------
    Solution
        Every layer of every MD local (Case 4).
    """
    t0 = time.perf_counter()
    profile = costmod.all_local(instance)
    server_of = np.full(instance.N, -1, dtype=int)
    flags = _empty_flags(instance)
    misses = _deadline_flags(instance, profile, flags, server_of)
    status = "Case 4: every MD computes its whole DNN locally"
    if misses:
        status += f"; {misses} MD(s) miss their deadline (26), flagged {DEADLINE_MISS!r}"
    return Solution(method="all-local", instance=instance, profile=profile, termination=Termination.FEASIBLE,
                    status=status, wall_time=time.perf_counter() - t0, flags=flags,
                    info={"deadline_misses": misses}, server_of=server_of)


# --------------------------------------------------------------------------- Case 3

def _block_fits(dev: Device, server: Server, others: Aggregates) -> np.ndarray:
    """fits[h-1, j, m]: block of layers j+1..m (j < m) may go to slot h under (17) and (27)."""
    M = dev.M
    PT = np.concatenate([[0.0], np.cumsum(dev.t_server[1:])])
    j = np.arange(M + 1)[:, None]
    m = np.arange(M + 1)[None, :]
    t_blk = np.where(j < m, PT[m] - PT[j], np.inf)
    cap = slot_capacity(server, others)
    limit = capacity_limit(cap)
    return (t_blk[None] <= limit[:, None, None]) & slot_open(server, others)[:, None, None]


def count_offload_sequences(dev: Device, server: Server, others: Aggregates) -> list[list[int]]:
    """Exact counts ``f[j][h]``.

    (j = 0..M layers placed, h = 0..H last slot used) of the monotone all-offloaded sequences (m* = 0) of ``dev`` that
    keep (17) and (27) given ``others``; ``f[0][0]`` is the number of feasible sequences.

    Parameters
    ----------
    dev : Device
        The MD.
    server : Server
        Its server.
    others : Aggregates
        The other MDs' aggregates per slot on the server.

    Returns
    -------
    list[list[int]]
        The table f, (M+1) x (H+1).
    """
    M, H = dev.M, server.H
    fits = _block_fits(dev, server, others)
    f = [[0] * (H + 1) for _ in range(M + 1)]
    f[M] = [1] * (H + 1)
    for jj in range(M - 1, -1, -1):
        F = [0] * (H + 1)  # F[h'] = ways whose next block (starting at layer jj+1) is in slot h'
        for hp in slotcodes.server_slots(H):
            row = fits[hp - 1, jj]
            F[hp] = sum(f[mm][hp] for mm in range(jj + 1, M + 1) if row[mm])
        acc = 0
        for h in range(H, -1, -1):  # f[jj][h] = sum_{h' > h} F[h']
            f[jj][h] = acc
            acc += F[h] if h >= 1 else 0
    return f


def _randbelow(rng: np.random.Generator, n: int) -> int:
    """An exactly uniform integer in [0, n) for any Python int n >= 1."""
    if n < 2 ** 62:
        return int(rng.integers(n))
    k = n.bit_length()
    nbytes = (k + 7) // 8
    while True:  # rejection sampling on k random bits
        x = int.from_bytes(rng.bytes(nbytes), "little") >> (8 * nbytes - k)
        if x < n:
            return x


def unrank_offload_sequence(dev: Device, server: Server, others: Aggregates, f: list[list[int]], r: int) -> np.ndarray:
    """The r-th feasible sequence (0 <= r < f[0][0]) in the order (next slot, block end) of the recursion.

    Parameters
    ----------
    dev : Device
        The MD.
    server : Server
        Its server.
    others : Aggregates
        The other MDs' aggregates per slot on the server.
    f : list[list[int]]
        The counts of :func:`count_offload_sequences`.
    r : int
        The rank, 0 <= r < f[0][0].

    Returns
    -------
    numpy.ndarray
        The slot of each layer, shape (M,).

    Raises
    ------
    AssertionError
        When ``r`` is out of range (the counts do not match).
    """
    M, H = dev.M, server.H
    fits = _block_fits(dev, server, others)
    slots = np.zeros(M, dtype=int)
    j, h = 0, 0
    while j < M:
        for hp in range(h + 1, H + 1):
            done = False
            for mm in range(j + 1, M + 1):
                if not fits[hp - 1, j, mm]:
                    continue
                w = f[mm][hp]
                if r < w:
                    slots[j:mm] = hp
                    j, h, done = mm, hp, True
                    break
                r -= w
            if done:
                break
        else:
            raise AssertionError("rank out of range")  # pragma: no cover
    return slots


def sample_offload_sequence(dev: Device, server: Server, others: Aggregates,
                            rng: np.random.Generator) -> np.ndarray | None:
    """A uniformly random feasible all-offloaded sequence, or None when none exists.

    Parameters
    ----------
    dev : Device
        The MD.
    server : Server
        Its server.
    others : Aggregates
        The other MDs' aggregates per slot on the server.
    rng : numpy.random.Generator
        The random generator.

    Returns
    -------
    numpy.ndarray or None
        The slot of each layer, or None.
    """
    f = count_offload_sequences(dev, server, others)
    total = f[0][0]
    if total == 0:
        return None
    return unrank_offload_sequence(dev, server, others, f, _randbelow(rng, total))


#: Case 3's policy for an MD whose whole task does not fit the frame: wait after it, or run locally
OVERFLOW = ("queue", "local")


def offload_servers(instance: Instance) -> np.ndarray:
    """Case 3 with several servers.

    Each MD's server, the reachable one with the highest upload rate (9) on the MD's link to it (ties to the first
    listed in ``[[servers]]``).

    Parameters
    ----------
    instance : Instance
        The instance.

    Returns
    -------
    numpy.ndarray
        The server of each MD, shape (N,).
    """
    out = np.empty(instance.N, dtype=int)
    for n in range(instance.N):
        best, rate = -1, -np.inf
        for k in instance.reachable(n):
            v = instance.view(k)
            r = v.instance.devices[int(v.local[n])].rate_up
            if r > rate:
                best, rate = k, r
        out[n] = best
    return out


def _offload_draw(instance: Instance, rng: np.random.Generator, targets: np.ndarray,
                  overflow: str = "queue") -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """One Case 3 draw: one random order of every MD.

    In that order each MD draws a uniform sequence on its server ``targets[n]`` given the MDs already placed there (so
    each server sees its MDs in a random order), or overflows (queued after that server's frame, or all local with no
    server). Returns the profile, ``server_of`` and the order.
    """
    order = rng.permutation(instance.N)
    profile: list[np.ndarray | None] = [None] * instance.N
    server_of = np.full(instance.N, -1, dtype=int)
    views = [instance.view(k) for k in range(instance.K)]
    time_used = [np.zeros(v.server.H) for v in views]
    count = [np.zeros(v.server.H) for v in views]
    for n in order:
        k = int(targets[n])
        v = views[k]
        H = v.server.H
        dev = v.instance.devices[int(v.local[n])]
        others = Aggregates(np.zeros(H), time_used[k].copy(), count[k].copy())
        slots = sample_offload_sequence(dev, v.server, others, rng)
        if slots is None:
            slots = np.full(dev.M, slotcodes.queued(H) if overflow == "queue" else slotcodes.LOCAL, dtype=int)
            server_of[n] = k if overflow == "queue" else -1
        else:
            _, t_own = costmod.own_loads(dev, slots, H)
            time_used[k] += t_own
            count[k][np.unique(slots) - 1] += 1
            server_of[n] = k
        profile[n] = slots
    return profile, server_of, order


def _queued(instance: Instance, slots: np.ndarray, server: int) -> bool:
    """Case 3's queue on the MD's server ``server`` (-1: none, all local)."""
    return server >= 0 and costmod.queued(slots, instance.view(server).server.H)


@several_servers
@declare_options("all-offload", SEED, Option("draws", int, "seeded draws averaged (Case 3)", ge=1),
                 Option("overflow", str, "devices that do not fit: queued after the frame, or all local",
                        choices=OVERFLOW))
def solve_all_offload(instance: Instance, *, seed: int = 0, draws: int = 20, overflow: str = "queue") -> Solution:
    """Case 3: every MD offloads its whole DNN (m* = 0) to a uniformly random feasible slot sequence, in a random order.

    MDs that cannot fit are queued after the frame (``overflow = "queue"``, the default) or run their whole DNN locally
    (``"local"``, counted in ``info["local_fallback_mean"]``).

    Returns the Solution of draw 0 (the representative). ``info`` holds the figures over
    all draws: ``avg_delay_s_mean``/``_std``, ``avg_energy_j_mean``/``_std``,
    ``avg_cost_mean``/``_std``, ``social_cost_mean``/``_std`` (std with ddof = 1; 0 for one draw), ``queued_mean``,
    ``deadline_misses_mean``; the comparison table (:mod:`mecopt.studies.compare`) reports the
    means. ``trace`` has one row per draw. Draw k uses child k of ``SeedSequence(seed)``,
    so draw 0 is the same whatever ``draws`` is.

    With several servers each MD offloads to :func:`offload_servers` (the reachable server with
    the highest upload rate); the order, the sequences and the overflow rule are those above,
    per server (an MD queued after the frame waits for its server's next frame). ``info`` also
    holds ``server_rule`` and ``devices_per_server`` (name -> MDs sent there).

    Parameters
    ----------
    instance : Instance
        The instance.
    seed : int, default 0
        Seed: draw k uses child k of ``SeedSequence(seed)``.
    draws : int, default 20
        Seeded draws averaged.
    overflow : str, default 'queue'
        MDs that do not fit: ``queue`` (after the frame) or ``local``.

    Returns
    -------
    Solution
        Draw 0 (the representative), with the figures over all draws in ``info``.
    """
    t0 = time.perf_counter()
    targets = offload_servers(instance)
    rows, first, first_servers = [], None, None
    for k, ss in enumerate(np.random.SeedSequence(int(seed)).spawn(int(draws))):
        profile, servers, order = _offload_draw(instance, np.random.default_rng(ss), targets, overflow)
        ev = costmod.evaluate(instance, profile, servers)
        queued = sum(_queued(instance, s, int(servers[n])) for n, s in enumerate(profile))
        local = sum(costmod.partition_point(s) == len(s) for s in profile)
        misses = sum(1 for d, T in zip(instance.devices, ev.delay) if not meets_deadline(T, d.tau, DEADLINE_TOL))
        rows.append(dict(draw=k, avg_delay_s=ev.avg_delay, avg_energy_j=ev.avg_energy, avg_cost=ev.avg_cost,
                         social_cost=costmod.social_cost(instance, ev), queued=queued, local_fallback=local,
                         deadline_misses=misses,
                         order=" ".join(instance.devices[n].name for n in order)))
        if first is None:
            first, first_servers = profile, servers
    trace = pd.DataFrame(rows)
    ddof = 1 if draws > 1 else 0
    info = dict(draws=int(draws), seed=int(seed), representative_draw=0, table_uses="means over draws",
                overflow=overflow)
    for col in ("avg_delay_s", "avg_energy_j", "avg_cost", "social_cost"):
        info[f"{col}_mean"] = float(trace[col].mean())
        info[f"{col}_std"] = float(trace[col].std(ddof=ddof))
    info["queued_mean"] = float(trace["queued"].mean())
    info["local_fallback_mean"] = float(trace["local_fallback"].mean())
    info["deadline_misses_mean"] = float(trace["deadline_misses"].mean())
    if instance.K > 1:   # presentation: the rule and the split are shown with several servers
        info["server_rule"] = "highest upload rate (9) among the reachable servers, ties to the first listed"
        info["devices_per_server"] = {sv.name: int((targets == k).sum()) for k, sv in enumerate(instance.servers)}

    flags = _empty_flags(instance)
    for n, (d, s) in enumerate(zip(instance.devices, first)):
        if _queued(instance, s, int(first_servers[n])):
            flags[d.name].append(QUEUED)
    misses = _deadline_flags(instance, first, flags, first_servers)
    q = rows[0]["queued"]
    status = (f"Case 3: draw 0 of {draws} (seed {seed}): {q} MD(s) queued after the frame, {misses} deadline "
              f"miss(es) flagged ((26) is not a constraint of Case 3); means over draws in info")
    return Solution(method="all-offload", instance=instance, profile=first, termination=Termination.FEASIBLE,
                    status=status, wall_time=time.perf_counter() - t0, trace=trace,
                    flags=flags, info=info, server_of=first_servers)


# --------------------------------------------------------------------------- contention-blind optimum

@several_servers
@declare_options("isolated", ENGINE)
def solve_isolated(instance: Instance, *, engine: str = "dp") -> Solution:
    """Contention-blind per-device optimum.

    Each MD's exact best response (28) against :meth:`Aggregates.empty` (alone on the server), scored under the true
    contention.

    Termination FEASIBLE when the profile passes the checker; otherwise INFEASIBLE,
    with the breached equations in ``status`` and ``info["violations"]``.
    ``objective`` is the average cost each MD *expected* alone.

    Each MD's best response alone is the least over its reachable servers (each empty; a
    tau-feasible one preferred, ties to the first listed; one server: its best response there).

    Parameters
    ----------
    instance : Instance
        The instance.
    engine : str, default 'dp'
        Best-response engine.

    Returns
    -------
    Solution
        Each MD's isolated best response, scored together.
    """
    t0 = time.perf_counter()
    profile, alone, flags = [], [], _empty_flags(instance)
    eng = make_engine(instance, engine)
    server_of = np.full(instance.N, -1, dtype=int)
    for n, d in enumerate(instance.devices):
        empty = {k: Aggregates.empty(instance.view(k).server.H) for k in instance.reachable(n)}
        br = eng.best_response(n, empty)
        profile.append(np.asarray(br.slots, dtype=int))
        server_of[n] = br.server
        alone.append(br.cost)
        if br.deadline_dropped:
            flags[d.name].append(DEADLINE_DROPPED)
    calls = eng.calls
    _deadline_flags(instance, profile, flags, server_of)
    sol = Solution(method="isolated", instance=instance, profile=profile, termination=Termination.FEASIBLE,
                   objective=float(np.mean(alone)), engine=engine, solver_calls=calls, flags=flags,
                   info={"avg_cost_alone": float(np.mean(alone))}, server_of=server_of)
    viol = sol.violations
    if viol:
        by_eq: dict[str, int] = {}
        for v in viol:
            by_eq[v.equation] = by_eq.get(v.equation, 0) + 1
        changes = dict(termination=Termination.INFEASIBLE,
                       status=("contention-blind profile (each MD optimal alone on the server) breaches "
                               + ", ".join(f"{eq} x{k}" for eq, k in sorted(by_eq.items()))
                               + " under the true contention"),
                       info={**sol.info, "violations": by_eq})
    else:
        changes = dict(status="contention-blind profile (each MD optimal alone on the server) is feasible under "
                       "contention")
    return sol.replace(**changes, wall_time=time.perf_counter() - t0)
