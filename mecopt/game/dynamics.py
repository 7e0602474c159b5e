"""TPOS-CAI (Alg. 1) and TPOS-UAI (Alg. 2): best-response dynamics of the aggregative game.

At each tick of the clock every MD wakes with probability ``wake_prob``; the
woken MDs update one after another (in a seeded random order) by solving (28)
with the chosen engine — against the exact aggregates from the server (CAI) or
against the neighbour estimate (29) (UAI). An MD moves only when its objective
improves by more than ``tol`` relative (ties: see :mod:`mecopt.core.problem`), or
when its current strategy has become infeasible. ``time_limit`` (seconds) is
checked after every tick.

Stop rules: ``paper`` stops when the average cost changes by at most ``eps``
between two ticks in which some MD woke (Alg. 1-2, steps 11-12; not a proof of
anything); ``certified`` (default) stops when every MD has checked, against the
current profile, that it cannot improve — an equilibrium by construction (for
UAI: of the estimated game). Either way the final profile gets a certificate:
every MD's exact best response against the TRUE aggregates (:mod:`.certificate`).

With every gamma_n > 0 the game is an exact potential game (docs/MODEL.md §6):
each CAI move lowers Phi (of the tie-broken game) by the mover's gain / gamma_n,
so CAI terminates. A rise is a bug and is counted in ``info["potential_rises"]``
and warned about, never hidden.

The loop is the same for one server and several (docs/multiserver.md): the state
(:class:`~mecopt.game.state.GameState`) keeps the aggregates per server, an MD's best
response is the least over its reachable servers
(:func:`mecopt.bestresponse.engines.make_engine`), and a warm start carries the servers
(``init_server_of``).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mecopt.bestresponse.batch import PairTable
from mecopt.bestresponse.engines import make_engine
from mecopt.core import cost as costmod
from mecopt.core import slots as slotcodes
from mecopt.core.errors import InputError
from mecopt.core.instance import Instance
from mecopt.core.problem import Aggregates, enforces_deadline, slot_capacity, slot_open, strategy_feasible
from mecopt.core.solution import Solution, Termination
from mecopt.core.tolerances import capacity_limit, meets_deadline
from mecopt.game import start
from mecopt.game.certificate import certificate
from mecopt.game.compiled import CompiledTick, draw_fits, usable
from mecopt.game.estimate import consensus_weights, estimate_others, estimate_weights
from mecopt.game.state import GameState
from mecopt.game.topology import instance_weights

STOP_RULES = ("certified", "paper")
INITS = ("random", "local")
#: an equilibrium is certified when no MD can gain more than this, relative to max(1, |C_n|)
CERTIFICATE_TOL = 1e-9


def random_initial(instance: Instance, rng: np.random.Generator, tries: int = 50,
                   table: PairTable | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """Alg. 1-2 step 3: each MD in turn draws a random strategy satisfying (28b) given the MDs before it.

    The MD picks one of its reachable servers uniformly (no draw when it reaches one), then a
    strategy on it (:func:`draw_strategy`): a uniform partition point and sorted uniform slots
    for the offloaded layers; up to ``tries`` draws are rejected when they break (17), (26) or
    (27), after which the MD starts fully local. Given the instance's pair ``table`` (and a
    PCG64 generator), the same draws are replayed in one compiled pass (:mod:`mecopt.game.start`):
    the same profile, and ``rng`` left in the same state.

    Parameters
    ----------
    instance : Instance
        One server or several.
    rng : numpy.random.Generator
        The run's generator (consumed in MD order).
    tries : int, default 50
        Draws per MD before it starts all local.
    table : PairTable, optional
        The instance's pair table (:mod:`mecopt.bestresponse.batch`): draw in compiled code.

    Returns
    -------
    profile : list of numpy.ndarray
        One slot vector per MD.
    server_of : numpy.ndarray
        The server each MD offloads to, -1 when all local.

    Examples
    --------
    >>> import mecopt, numpy as np
    >>> from mecopt.game.dynamics import random_initial
    >>> inst = mecopt.load_instance("paper:fig6-w1khz")
    >>> profile, server_of = random_initial(inst, np.random.default_rng(0))
    >>> len(profile), set(server_of.tolist()) <= {-1, 0}
    (5, True)
    """
    if table is not None and start.usable(rng):
        return start.random_initial(table, rng, tries)
    state = GameState(instance, costmod.all_local(instance))
    profile, server_of = state.profile(), np.full(instance.N, -1, dtype=int)
    for n in range(instance.N):
        reach = instance.reachable(n)
        k = reach[int(rng.integers(len(reach)))]   # draws nothing when len(reach) == 1
        view, on = state.views[k], state.on_server[k]
        i = int(view.local[n])
        slots = draw_strategy(view.instance.devices[i], view.server, on.others(i), rng, tries)
        if slots is not None and (slots != slotcodes.LOCAL).any():
            # what GameState.set does to the server's aggregates (the MD was all local), without
            # its cost figures, which the draws do not read
            on.move(i, slots)
            profile[n], server_of[n] = slots.copy(), k
    return profile, server_of


def draw_strategy(dev, server, others: Aggregates, rng: np.random.Generator, tries: int = 50) -> np.ndarray | None:
    """One MD's random strategy of :func:`random_initial` on ``server`` against ``others`` (None: no draw fits).

    Implementation: one draw at a time, each tested at once ((17)/(27) by :func:`mecopt.game.compiled.draw_fits`, then
    (26) and the exact test), so the generator is consumed by the accepted draw and those before it
    (all ``tries`` when none fits).

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
    tries : int, default 50
        Draws tried before giving up.

    Returns
    -------
    numpy.ndarray or None
        The slot of each layer, or None.
    """
    H = server.H

    def draw(M: int) -> np.ndarray:
        m = int(rng.integers(0, M + 1))
        slots = np.zeros(M, dtype=int)
        slots[m:] = np.sort(rng.integers(1, H + 1, size=M - m))
        return slots

    enforce = enforces_deadline(dev)
    cap_limit = np.asarray(capacity_limit(slot_capacity(server, others)), dtype=float)
    open_ = np.asarray(slot_open(server, others), dtype=bool)
    for _ in range(tries):
        slots = draw(dev.M)
        if not draw_fits(slots, dev.t_server, cap_limit, open_):   # _fits_slots of this one draw
            continue
        if enforce and not meets_deadline(costmod.delay(dev, slots, server), dev.tau):
            continue
        if strategy_feasible(dev, server, others, slots, enforce_deadline=enforce):  # the one exact test
            return slots
    return None


@dataclass
class Tick:
    """One tick of the clock: who woke, who moved, and the profile's figures after it.

    The figures come from the state's running totals (O(H), :mod:`.state`);
    ``evaluation`` (every per-device figure, O(N)) is computed only when read,
    and describes the profile at the time it is read.

    Attributes
    ----------
    tick : int
        Tick number, from 1.
    awake : int
        MDs woken this tick.
    moves : int
        MDs that changed strategy this tick.
    avg_cost : float
        Average cost C_n (23) after the tick.
    potential : float
        Potential Phi after the tick.
    clean : int
        MDs verified unable to improve (N at a fixed point).
    state : GameState
        The game state (live, not a copy).
    calls : int
        Best-response calls so far.
    forced : int
        : moves of MDs whose current strategy had become infeasible (these may raise Phi)
    """

    tick: int
    awake: int
    moves: int
    avg_cost: float
    potential: float
    clean: int
    state: GameState
    calls: int = 0
    forced: int = 0   #: moves of MDs whose current strategy had become infeasible (these may raise Phi)

    @property
    def evaluation(self) -> costmod.Evaluation:
        """The figures (eqs. 19-25) of the current profile, recomputed by :func:`mecopt.core.cost.evaluate`."""
        return costmod.evaluate(self.state.instance, self.state.slots, self.state.server_of)


def responder(engine) -> Callable[[int, dict[int, Aggregates]], object]:
    """The engine's fastest exact best response.

    ``best_move`` when it has one (the DP: the strategy and objective without re-scoring the cost), else
    ``best_response``.

    Parameters
    ----------
    engine : ServerEngine
        A server engine.

    Returns
    -------
    Callable[[int, dict[int, Aggregates]], object]
        ``f(n, others)`` returning MD n's best response.
    """
    return getattr(engine, "best_move", None) or engine.best_response


def iterate(instance: Instance, state: GameState, engine, rng: np.random.Generator,
            others_of: Callable[[int], dict[int, Aggregates]], *, wake_prob: float, tol: float,
            max_iter: int, compiled: CompiledTick | None = None) -> Iterator[Tick]:
    """The best-response dynamics as a generator of ticks; the state is updated in place.

    ``clean`` counts the MDs that have verified, against the current profile, that
    they cannot improve; it reaches N exactly at a fixed point. The work per woken
    MD is one best response plus O(M + H) (nothing grows with N but the wake-up draw).

    Parameters
    ----------
    instance : Instance
        The instance.
    state : GameState
        The game state, updated in place.
    engine : ServerEngine
        The server engine.
    rng : numpy.random.Generator
        The random generator of the wake-ups.
    others_of : Callable[[int], dict[int, Aggregates]]
        MD n's view of the others' aggregates, per server (exact for CAI, the estimate (29) for UAI).
    wake_prob : float
        Probability that a device wakes up in a tick.
    tol : float
        A device moves only when it gains more than ``tol`` relative.
    max_iter : int
        Most ticks.
    compiled : CompiledTick, optional
        The tick in compiled code (:mod:`mecopt.game.compiled`; CAI with the DP engine): the same
        decisions in the same order, without the Python loop below.

    Yields
    ------
    Tick
        One per tick, after its moves.
    """
    N = instance.N
    clean: set[int] = set()
    respond = responder(engine)
    for k in range(1, max_iter + 1):
        awake = np.flatnonzero(rng.random(N) < wake_prob)
        awake = rng.permutation(awake)
        if compiled is not None:
            moves, forced, n_clean = compiled.run(awake, tol)
            yield Tick(k, len(awake), moves, state.avg_cost(), state.potential(), n_clean, state, engine.calls,
                       forced)
            continue
        moves = forced = 0
        for n in awake:
            n = int(n)
            others = others_of(n)
            br = respond(n, others)
            dev = instance.devices[n]
            current_ok = state.feasible(n, others, enforce_deadline=enforces_deadline(dev) and not br.deadline_dropped)
            current = state.objective(n, others)
            if not current_ok or current - br.objective > tol * max(1.0, abs(current)):
                state.apply(n, br)
                moves += 1
                forced += not current_ok
                clean = {n}
            else:
                clean.add(n)
        yield Tick(k, len(awake), moves, state.avg_cost(), state.potential(), len(clean), state, engine.calls, forced)


def _validate(wake_prob: float, eps: float, stop: str, max_iter: int, tol: float, init: str,
              time_limit: float | None) -> None:
    problems = []
    if time_limit is not None and not time_limit > 0:
        problems.append(("time_limit", f"must be > 0 seconds, got {time_limit}"))
    if not 0 < wake_prob <= 1:
        problems.append(("wake_prob", f"must be in (0, 1], got {wake_prob}"))
    if eps < 0:
        problems.append(("eps", f"must be >= 0, got {eps}"))
    if stop not in STOP_RULES:
        problems.append(("stop", f"must be one of {STOP_RULES}, got {stop!r}"))
    if max_iter < 1:
        problems.append(("max_iter", f"must be >= 1, got {max_iter}"))
    if tol < 0:
        problems.append(("tol", f"must be >= 0, got {tol}"))
    if init not in INITS:
        problems.append(("init", f"must be one of {INITS}, got {init!r}"))
    if problems:
        raise InputError("invalid game options", problems)


def run_game(instance: Instance, method: str, *, engine: str, seed: int, wake_prob: float, eps: float, stop: str,
         max_iter: int, tol: float, init: str, uai: bool, progress: Callable[[Tick], None] | None,
         time_limit: float | None, init_profile: list[np.ndarray] | None = None,
         consensus_rounds: int = 1, init_server_of=None) -> Solution:
    """The game loop of Alg. 1 (``uai=False``) and Alg. 2 (module docstring), for any number of servers.

    What :func:`play`, :mod:`mecopt.methods.tpos` and the sparse-graph remedies
    (:mod:`mecopt.game.remedy`) run; ``method`` names the Solution.

    Parameters
    ----------
    instance : Instance
        The instance.
    method : str
        The method's name (written into the solution).
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
    uai : bool
        Whether MDs see the estimate (29) (Alg. 2) instead of the exact aggregates (Alg. 1).
    progress : Callable[[Tick], None] or None
        Called after every tick with its :class:`Tick` (None: no progress).
    time_limit : float or None
        Time limit in seconds (None: none).
    init_profile : list[numpy.ndarray] or None, default None
        A start profile (a warm start), or None.
    consensus_rounds : int, default 1
        Gossip rounds of the estimates between decisions (UAI).
    init_server_of : array_like or None, optional, default None
        The servers of ``init_profile`` (-1 all local); None: each MD's first reachable one.

    Returns
    -------
    Solution
        The profile reached, with its termination, trace and certificate.
    """
    _validate(wake_prob, eps, stop, max_iter, tol, init, time_limit)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    eng = make_engine(instance, engine)
    # the DP's pair table (mecopt.bestresponse.batch), built once: the compiled start, tick and certificate
    table = PairTable(instance, tie_break=True) if usable(eng) else None
    start_servers = None
    if init_profile is not None:
        start_profile, start_servers = _checked_profile(instance, init_profile, init_server_of)
        init = "given"
    elif init == "random":
        start_profile, start_servers = random_initial(instance, rng, table=table)
    else:
        start_profile = costmod.all_local(instance)
    state = GameState(instance, start_profile, start_servers, table=table)
    info: dict = {"init": init, "wake_prob": wake_prob, "eps": eps, "stop": stop, "tol": tol, "seed": seed}
    others_of: Callable[[int], dict[int, Aggregates]] = state.others
    if uai:
        n_edges, W = instance_weights(instance, seed)
        if consensus_rounds > 1:  # remedy for sparse graphs (mecopt.game.remedy)
            W = consensus_weights(W, consensus_rounds)
            info["consensus_rounds"] = consensus_rounds
        info.update(topology=instance.topology.kind, weights=instance.topology.weights,
                    edges=n_edges)
        views, on, Ws = state.views, state.on_server, estimate_weights(W, state.views)

        def others_of(n: int) -> dict[int, Aggregates]:
            out = {}
            for k in instance.reachable(n):
                out[k] = estimate_others(int(views[k].local[n]), Ws[k], on[k].loads, on[k].times, on[k].used,
                                         views[k].server, N=instance.N)
            return out

    # The start row. With one server the recorded traces (tests/golden) hold the full evaluation of
    # the start profile, with several the running totals (no O(N sum_k H_k) evaluation per start);
    # the two agree up to rounding, and this is the one place where the loop tells them apart.
    if instance.K == 1:   # costmod.evaluate's figures, from the state's rows (GameState.evaluated_figures)
        avg0, phi0 = state.evaluated_figures()
        last_phi = state.perturbed_potential(phi0)
    else:
        avg0, phi0 = state.avg_cost(), state.potential()
        last_phi = state.perturbed_potential()
    rows = [dict(tick=0, awake=0, moves=0, avg_cost=avg0, potential=phi0, clean=0)]
    rises = 0
    termination, prev_cost, ticks = Termination.ITERATION_LIMIT, rows[0]["avg_cost"], 0
    compiled = CompiledTick(state, eng, table) if not uai and table is not None else None
    for tick in iterate(instance, state, eng, rng, others_of, wake_prob=wake_prob, tol=tol, max_iter=max_iter,
                        compiled=compiled):
        ticks = tick.tick
        row = dict(tick=tick.tick, awake=tick.awake, moves=tick.moves, avg_cost=tick.avg_cost,
                   potential=tick.potential, clean=tick.clean)
        row.update(_slot_columns(state))
        rows.append(row)
        if progress is not None:
            progress(tick)
        if not uai:
            phi = state.perturbed_potential()
            # a forced move (the MD's strategy had become infeasible, e.g. a fully local start that
            # misses its deadline) may raise Phi; only improving moves must lower it
            if not tick.forced and not np.isnan(phi) and phi > last_phi + 1e-9 * max(1.0, abs(last_phi)):
                rises += 1
            last_phi = phi
        if stop == "paper" and tick.awake and abs(tick.avg_cost - prev_cost) <= eps:
            termination = Termination.CONVERGED
            break
        if tick.awake:
            prev_cost = tick.avg_cost
        if stop == "certified" and tick.clean == instance.N:
            termination = Termination.EQUILIBRIUM
            break
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            termination = Termination.TIME_LIMIT
            break
    if rises:
        warnings.warn(f"{method}: the potential rose on {rises} tick(s); this is a bug, please report it",
                      RuntimeWarning, stacklevel=3)
    info["potential_rises"] = rises
    if instance.K > 1:   # presentation: with one server it equals solver_calls
        info["server_best_responses"] = eng.server_calls
    t_cert = time.perf_counter()
    cert = certificate(instance, state.profile(), tol_rel=CERTIFICATE_TOL, server_of=state.server_of, state=state,
                       table=table)
    info["certificate_s"] = time.perf_counter() - t_cert
    status = {Termination.EQUILIBRIUM: "every MD verified it cannot improve against the current profile",
              Termination.CONVERGED: f"paper stop rule: average cost changed by <= {eps}",
              Termination.ITERATION_LIMIT: f"iteration limit {max_iter} reached",
              Termination.TIME_LIMIT: f"time limit {time_limit} s reached"}[termination]
    if uai and termination == Termination.EQUILIBRIUM:
        status = "fixed point of the estimated game (29); " + (
            "also an equilibrium against the true aggregates" if cert["certified"]
            else "NOT an equilibrium against the true aggregates (see certificate)")
        if not cert["certified"]:
            termination = Termination.CONVERGED
    flags = {d.name: [] for d in instance.devices}
    for name in cert["deadline_dropped"]:
        flags[name].append("deadline_dropped")
    for d in instance.devices:
        if d.deadline_relaxed:
            flags[d.name].append("deadline_relaxed")
    sol = Solution(method=method, instance=instance, profile=state.profile(), termination=termination,
                   status=status,
                   wall_time=time.perf_counter() - t0, iterations=ticks, solver_calls=eng.calls, engine=engine,
                   certificate=cert, trace=pd.DataFrame(rows), flags=flags, info=info,
                   server_of=state.solution_servers())
    return sol.replace(objective=float(sol.evaluation.avg_cost))   # the solution's own evaluation (computed once)


#: per-slot trace columns are written when the instance has at most this many slots in all
TRACE_SLOT_COLUMNS = 64


def _slot_columns(state: GameState) -> dict:
    """Per-slot price load and MD count of a tick: ``load_h1``, ``count_h1``...

    With one server; ``load_<server>_h1``... with several (when they have at most TRACE_SLOT_COLUMNS slots in all).
    """
    several = state.instance.K > 1   # presentation only: the column names and the width limit
    if several and sum(on.server.H for on in state.on_server) > TRACE_SLOT_COLUMNS:
        return {}
    row = {}
    for on in state.on_server:
        prefix = f"{on.server.name}_" if several else ""
        for h in range(on.server.H):
            row[f"load_{prefix}h{h + 1}"] = float(on.total_load[h])
            row[f"count_{prefix}h{h + 1}"] = int(round(on.total_used[h]))
    return row


def _checked_profile(instance: Instance, profile: list[np.ndarray],
                     servers=None) -> tuple[list[np.ndarray], np.ndarray | None]:
    """A given start profile and its servers.

    One strategy per MD, (15)-(16) by form (M_n entries, 0..H of its server, non-decreasing; all local on server -1), a
    reachable server.

    Without ``servers`` an offloading MD is on its first reachable server (with one server: server 0).
    Strategies that break (17), (26) or (27) are allowed: their MDs must move first.
    """
    if len(profile) != instance.N:
        raise InputError(f"init_profile has {len(profile)} strategies for {instance.N} devices")
    if servers is not None:
        servers = np.asarray(servers, dtype=int)
        if servers.shape != (instance.N,):
            raise InputError(f"init_server_of needs one server per device ({instance.N})")
    out = []
    for n, (dev, s) in enumerate(zip(instance.devices, profile)):
        s = np.asarray(s, dtype=int)
        k = instance.reachable(n)[0] if servers is None else int(servers[n])
        if k != -1 and k not in instance.reachable(n):
            raise InputError(f"init_server_of: {dev.name} cannot reach server index {k}")
        H = instance.view(k).server.H if k >= 0 else 0
        if s.shape != (dev.M,) or s.min(initial=0) < 0 or s.max(initial=0) > H or np.any(np.diff(s) < 0):
            raise InputError(f"init_profile: the strategy of {dev.name} must be {dev.M} non-decreasing slots in "
                             f"0..{H}")
        out.append(s)
    return out, servers


def play(instance: Instance, *, uai: bool = False, init_profile: list[np.ndarray] | None = None,
         init_server_of=None, engine: str = "dp", seed: int = 0, wake_prob: float = 0.5, eps: float = 1e-6,
         stop: str = "certified", max_iter: int = 10_000, tol: float = 1e-10, init: str = "random",
         time_limit: float | None = None,
         progress: Callable[[Tick], None] | None = None) -> Solution:
    """TPOS-CAI (``uai=False``) or TPOS-UAI started from ``init_profile`` when given.

    (a warm start, e.g. the previous frame's equilibrium, with ``init_server_of`` its servers: -1 all local, default
    each MD's first reachable server), else from ``init``. What :mod:`mecopt.studies.simulate` calls.

    Parameters
    ----------
    instance : Instance
        The instance.
    uai : bool, default False
        Whether MDs see the estimate (29) (TPOS-UAI) instead of the exact aggregates.
    init_profile : list[numpy.ndarray] or None, default None
        A start profile (a warm start), or None.
    init_server_of : array_like or None, optional, default None
        The servers of ``init_profile`` (-1 all local); None: each MD's first reachable one.
    engine : str, default 'dp'
        Best-response engine name (``dp``, ``milp`` or a registered one).
    seed : int, default 0
        Seed of the wake-ups and of a random start.
    wake_prob : float, default 0.5
        Probability that a device wakes up in a tick (Alg. 1-2).
    eps : float, default 1e-06
        The paper's stop rule: stop when the average cost changes by at most ``eps`` between two ticks.
    stop : str, default 'certified'
        ``certified`` (no device gains more than ``tol``) or ``paper`` (|dC| <= eps).
    max_iter : int, default 10000
        Most ticks.
    tol : float, default 1e-10
        A device moves only when it gains more than ``tol`` relative.
    init : str, default 'random'
        Start profile: ``random`` or ``local``.
    time_limit : float or None, default None
        Time limit in seconds (None: none).
    progress : Callable[[Tick], None] or None, default None
        Called after every tick with its :class:`Tick` (None: no progress).

    Returns
    -------
    Solution
        The profile reached, with its termination, trace and certificate.
    """
    return run_game(instance, "tpos-uai" if uai else "tpos-cai", engine=engine, seed=seed, wake_prob=wake_prob, eps=eps,
                stop=stop, max_iter=max_iter, tol=tol, init=init, uai=uai, progress=progress,
                time_limit=time_limit, init_profile=init_profile, init_server_of=init_server_of)


