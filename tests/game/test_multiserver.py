"""Several edge servers (docs/multiserver.md): the instance format, the cost model, the exact
potential, the best response and the game, each against an independent computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from enumeration import strategies

import mecopt
from mecopt.bestresponse.dp import DPEngine
from mecopt.bestresponse.engines import ServerEngine, make_engine
from mecopt.core import cost as costmod
from mecopt.core import pathloss
from mecopt.core.instance import Instance
from mecopt.core.problem import enforces_deadline, strategy_feasible
from mecopt.game.state import GameState
from mecopt.methods.registry import several_servers

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver

TINY_LAYERS = 4


def _tiny_doc(rng: np.random.Generator, K: int, N: int, H: int, mode: str = "per_device",
              policy: str = "hard") -> dict:
    """A random tiny instance: K servers with their own H, B, f_s and prices; per-server gains; random reach."""
    servers = []
    for k in range(K):
        servers.append(dict(name=f"e{k}", slots=int(rng.integers(1, H + 1)), frame_s=float(rng.uniform(0.2, 0.8)),
                            parallel_limit=int(rng.integers(1, 3)), freq_cycles_per_s=float(rng.uniform(50, 200)),
                            price_base=float(rng.uniform(0.5, 2)), price_growth=float(rng.uniform(0.5, 3)),
                            tx_power_w=float(rng.uniform(1, 4))))
    devices = []
    for n in range(N):
        reach = sorted(rng.choice(K, size=int(rng.integers(1, K + 1)), replace=False).tolist())
        devices.append(dict(name=f"d{n}", dnn="lenet", servers=[f"e{k}" for k in reach],
                            channel_gain=[float(g) for g in rng.uniform(2e5, 3e6, size=K)],
                            delta_cycles_per_bit=float(rng.uniform(1, 5)),
                            alpha=0.4, beta=0.2, gamma=0.4, deadline_s=float(rng.uniform(0.01, 0.05))))
    return dict(name="tiny-multi", seed=int(rng.integers(1000)),
                model=dict(bits_per_element=1.0, price_scale=1.0, capacity_mode=mode, deadline_policy=policy),
                servers=servers, devices=devices)


def _tiny(seed: int, K: int = 2, N: int = 3, H: int = 2, **kw) -> Instance:
    return Instance.from_dict(_tiny_doc(np.random.default_rng(seed), K, N, H, **kw))


def _random_profile(inst: Instance, rng: np.random.Generator):
    """Any (15)-(16)-shaped profile with a reachable server per device (constraints may break)."""
    server_of, profile = np.full(inst.N, -1), []
    for n, d in enumerate(inst.devices):
        reach = inst.reachable(n)
        k = reach[int(rng.integers(len(reach)))]
        H = inst.servers[k].H
        m = int(rng.integers(0, d.M + 1))
        s = np.zeros(d.M, dtype=int)
        s[m:] = np.sort(rng.integers(1, H + 1, size=d.M - m))
        server_of[n] = k if m < d.M else -1
        profile.append(s)
    return server_of, profile


# --------------------------------------------------------------------------- instance format


def test_single_server_forms_resolve_to_the_same_numbers():
    inst = mecopt.load_instance("paper:fig6-w1khz")
    doc = dict(inst.source)
    doc["servers"] = [doc.pop("server")]
    again = Instance.from_dict(doc)
    assert again.K == inst.K == 1
    for a, b in zip(inst.devices, again.devices):
        for field in ("t_local", "t_server", "t_up", "S", "out_bits"):
            assert np.array_equal(getattr(a, field), getattr(b, field))
        assert (a.rate_up, a.rate_down, a.t_down, a.delta, a.fastest_delay) == \
            (b.rate_up, b.rate_down, b.t_down, b.delta, b.fastest_delay)


def test_per_server_links_follow_their_server():
    inst = Instance.from_dict(dict(
        servers=[dict(name="a", tx_power_w=2.0, freq_cycles_per_s=100.0), dict(name="b", freq_cycles_per_s=300.0)],
        devices=[dict(dnn="lenet", channel_gain=[1e6, 4e6], delta_cycles_per_bit=2.0)]))
    a, b = (inst.view(k).instance.devices[0] for k in range(2))
    assert a.G == 1e6 and b.G == 4e6
    assert math.isclose(a.rate_down, mecopt.core.channel.shannon_rate(a.W, 2.0, 1e6, a.N0))
    assert b.rate_up > a.rate_up
    assert np.allclose(b.S, 3 * a.S)                      # S = delta f_s T^se / price_scale (20)
    assert np.array_equal(a.t_local, b.t_local)
    assert inst.devices[0].fastest_delay == min(a.fastest_delay, b.fastest_delay)


@pytest.mark.parametrize("doc, where, words", [
    (dict(server={}, servers=[{}]), "server, servers", "not both"),
    (dict(servers=[{"name": "x"}, {"name": "x"}]), "servers.name", "unique"),
    (dict(servers=[{}, {}], devices=[{"servers": ["s9"]}]), "devices.0.servers", "unknown servers"),
    (dict(servers=[{}, {}], devices=[{"channel_gain": [1e6]}]), "devices.0.channel_gain", "one gain per server"),
    (dict(servers=[{"position": [0, 0]}, {}], devices=[{"position": [5, 5]}]), "devices.0.position",
     "have none"),
    (dict(servers=[{}], devices=[{"channel_gain": [0.0]}]), "devices.0.channel_gain", "greater than 0"),
    # issue 23 A6: a default list of the wrong length is refused even when every device overrides it
    (dict(servers=[{}, {}], device_defaults={"channel_gain": [1e6]}, devices=[{"channel_gain": [1e6, 2e6]}]),
     "device_defaults.channel_gain", "one gain per server"),
])
def test_bad_multi_server_documents_name_the_field(doc, where, words):
    doc = {"devices": [{}], **doc}
    with pytest.raises(mecopt.InputError) as err:
        Instance.from_dict(doc)
    assert any(p.startswith(where) and words in m for p, m in err.value.problems), err.value.problems


def test_an_unreachable_server_is_never_resolved():
    # a gain so small that the upload takes longer than the limit: refused for a reachable server only
    doc = dict(servers=[{"name": "near"}, {"name": "far"}],
               devices=[dict(dnn="alexnet", channel_gain=[1.2e6, 1e-13], servers=["near"])])
    inst = Instance.from_dict(doc)
    assert inst.reachable(0) == (0,) and len(inst.view(1).members) == 0
    doc["devices"][0]["servers"] = ["near", "far"]
    with pytest.raises(mecopt.InputError, match="server far"):
        Instance.from_dict(doc)


def test_hard_deadline_is_judged_over_every_server():
    slow, fast = 10.0, 5e6        # fastest delays 3.18 s and 2.40 s (AlexNet)
    base = dict(model=dict(deadline_policy="hard"),
                devices=[dict(dnn="alexnet", deadline_s=3.0, channel_gain=[slow, fast])])
    only_slow = dict(base, servers=[{"name": "a"}, {"name": "b"}])
    only_slow["devices"] = [dict(base["devices"][0], servers=["a"])]
    with pytest.raises(mecopt.InputError, match="infeasible under the hard deadline"):
        Instance.from_dict(only_slow)
    inst = Instance.from_dict(dict(base, servers=[{"name": "a"}, {"name": "b"}]))
    assert inst.devices[0].fastest_delay <= 3.0
    relax = Instance.from_dict(dict(only_slow, model=dict(deadline_policy="relax")))
    assert relax.devices[0].deadline_relaxed and relax.view(0).instance.devices[0].deadline_relaxed


def test_path_loss_formulas():
    # log-distance: PL0 + 10 n log10(d/d0)
    assert math.isclose(pathloss.path_loss_db(100.0, ref_loss_db=40, exponent=3.5), 40 + 35 * 2)
    # 3GPP TR 38.901 UMi street canyon NLOS at d_2D = 100 m, f_c = 3.5 GHz, h_BS = 10 m, h_UT = 1.5 m
    d3 = math.hypot(100.0, 8.5)
    los = 32.4 + 21 * math.log10(d3) + 20 * math.log10(3.5)          # d'_BP = 4 * 9 * 0.5 * 3.5e9 / c = 210 m
    nlos = 35.3 * math.log10(d3) + 22.4 + 21.3 * math.log10(3.5)
    assert math.isclose(pathloss.path_loss_db(100.0, model="3gpp-umi"), max(los, nlos))
    assert math.isclose(pathloss.path_loss_db(100.0, model="3gpp-umi", los=True), los)
    far = 32.4 + 40 * math.log10(math.hypot(400, 8.5)) + 20 * math.log10(3.5) - 9.5 * math.log10(
        (4 * 9 * 0.5 * 3.5e9 / pathloss.SPEED_OF_LIGHT) ** 2 + 8.5 ** 2)
    assert math.isclose(pathloss.path_loss_db(400.0, model="3gpp-umi", los=True), far)
    # the instance uses it when the device gives no gain of its own
    inst = Instance.from_dict(dict(channel=dict(model="3gpp-umi"), servers=[{"position": [0, 0]},
                                                                            {"position": [300, 400]}],
                                   device_defaults=dict(noise_w_per_hz=pathloss.THERMAL_NOISE_W_PER_HZ),
                                   devices=[dict(dnn="lenet", position=[0, 100])]))
    g0, g1 = (inst.view(k).instance.devices[0].G for k in range(2))
    assert math.isclose(g0, 10 ** (-pathloss.path_loss_db(100.0, model="3gpp-umi") / 10))
    assert math.isclose(g1, 10 ** (-pathloss.path_loss_db(math.hypot(300, 300), model="3gpp-umi") / 10))


# --------------------------------------------------------------------------- cost and potential


@pytest.mark.parametrize("seed", range(6))
def test_multi_server_cost_is_each_devices_cost_on_its_own_server(seed):
    inst = _tiny(seed, K=3, N=4, H=3, policy="relax")
    rng = np.random.default_rng(seed)
    server_of, profile = _random_profile(inst, rng)
    ev = costmod.evaluate(inst, profile, server_of)
    for n, s in enumerate(profile):
        k = server_of[n] if server_of[n] >= 0 else inst.reachable(n)[0]
        view = inst.view(k)
        server = view.server
        dev = view.instance.devices[view.local[n]]
        # the others' load on server k only: MDs on other servers add nothing to its prices (19)
        others = np.zeros(server.H)
        for q, sq in enumerate(profile):
            if q != n and server_of[q] == k:
                others += costmod.own_loads(view.instance.devices[view.local[q]], sq, server.H)[0]
        assert math.isclose(ev.cost[n], costmod.device_cost(dev, s, server, others), rel_tol=1e-12)
        assert ev.server[n] == server_of[n]


@pytest.mark.parametrize("seed", range(6))
def test_the_game_is_an_exact_potential_game_across_servers(seed):
    """Any unilateral move, to another server or to local, changes Phi by the mover's cost change / gamma_n."""
    inst = _tiny(seed, K=3, N=4, H=3, mode=("total", "per_device")[seed % 2], policy="soft")
    rng = np.random.default_rng(100 + seed)
    server_of, profile = _random_profile(inst, rng)
    state = GameState(inst, profile, server_of)
    for _ in range(25):
        n = int(rng.integers(inst.N))
        new_server, new_profile = _random_profile(inst, rng)
        before = costmod.evaluate(inst, state.slots, state.server_of)
        assert math.isclose(state.potential(), before.potential, rel_tol=1e-9)
        assert math.isclose(state.avg_cost(), before.avg_cost, rel_tol=1e-9)
        state.set(n, new_profile[n], new_server[n])
        after = costmod.evaluate(inst, state.slots, state.server_of)
        dphi = after.potential - before.potential
        dcost = (after.cost[n] - before.cost[n]) / inst.devices[n].gamma
        assert math.isclose(dphi, dcost, rel_tol=1e-7, abs_tol=1e-7 * max(1.0, abs(before.potential)))


def test_one_server_written_either_way_takes_the_same_path():
    """A ``[server]`` instance and the same one written with one ``[[servers]]`` entry: the same state and
    engine classes, the same figures and best responses to the last bit, and the view engine's answer."""
    inst = mecopt.load_instance("paper:fig10-mixed")
    doc = dict(inst.source)
    doc["servers"] = [doc.pop("server")]
    listed = Instance.from_dict(doc)
    assert listed.K == inst.K == 1
    sol = mecopt.solve(inst, "tpos-cai", engine="dp", max_iter=3, stop="paper")
    assert sol.server_of is None
    states = [GameState(i, sol.profile) for i in (inst, listed)]
    engines = [make_engine(i, "dp") for i in (inst, listed)]
    assert all(type(e) is ServerEngine and len(e.engines) == 1 for e in engines)
    assert all(type(st) is GameState and len(st.on_server) == 1 for st in states)
    assert states[0].potential() == states[1].potential() and states[0].avg_cost() == states[1].avg_cost()
    dp = DPEngine(inst)
    for n in range(inst.N):
        a, b = (e.best_response(n, st.others(n)) for e, st in zip(engines, states))
        assert np.array_equal(a.slots, b.slots) and a.objective == b.objective and a.server == b.server
        assert a.server == (0 if np.any(a.slots) else -1)
        raw = dp.best_response(n, states[0].others(n)[0])
        assert np.array_equal(raw.slots, a.slots) and raw.objective == a.objective and raw.server == -1


# --------------------------------------------------------------------------- best response and game


def _enumerated_best_cost(inst: Instance, state: GameState, n: int) -> tuple[float, bool]:
    """Least C_n over all-local and every strategy on every reachable server, by enumeration;
    and whether it is tau-feasible (False: (26) had to be dropped)."""
    best = {True: math.inf, False: math.inf}
    others = state.others(n)
    for k in inst.reachable(n):
        view = inst.view(k)
        dev = view.instance.devices[view.local[n]]
        for slots in strategies(dev.M, view.server.H):
            if not strategy_feasible(dev, view.server, others[k], slots, enforce_deadline=False):
                continue
            c = costmod.device_cost(dev, slots, view.server, others[k].load)
            ok = not enforces_deadline(dev) or costmod.delay(dev, slots, view.server) <= dev.tau * (1 + 1e-9)
            best[ok] = min(best[ok], c)
    return (best[True], True) if best[True] < math.inf else (best[False], False)


@pytest.mark.parametrize("seed", range(8))
def test_multi_server_best_response_is_the_least_over_servers(seed):
    inst = _tiny(seed, K=2 + seed % 2, N=3, H=2, mode=("total", "per_device")[seed % 2], policy="relax")
    rng = np.random.default_rng(seed)
    server_of, profile = _random_profile(inst, rng)
    state = GameState(inst, profile, server_of)
    engine = make_engine(inst, "dp", tie_break=False)
    for n in range(inst.N):
        br = engine.best_response(n, state.others(n))
        want, tau_ok = _enumerated_best_cost(inst, state, n)
        assert math.isclose(br.cost, want, rel_tol=1e-9, abs_tol=1e-9), (n, br, want)
        assert br.deadline_dropped == (not tau_ok and enforces_deadline(inst.devices[n]))
        assert (br.server == -1) == (not np.any(br.slots))


@pytest.mark.parametrize("method", ["tpos-cai", "tpos-uai"])
@pytest.mark.parametrize("seed", range(6))
def test_the_game_reaches_a_certified_equilibrium_on_several_servers(method, seed):
    inst = _tiny(seed, K=2 + seed % 2, N=4, H=2, mode=("total", "per_device")[seed % 2], policy="relax")
    sol = mecopt.solve(inst, method, engine="dp", seed=seed)
    assert sol.feasible, sol.violations
    assert sol.info["potential_rises"] == 0
    if str(sol.termination) != "equilibrium":       # UAI may stop at a fixed point of its estimates only
        assert method == "tpos-uai"
        return
    assert sol.certificate["certified"]
    # independent check: no device gains by any unilateral deviation on any reachable server
    state = GameState(inst, sol.profile, sol.server_of)
    for n in range(inst.N):
        current = state.cost(n, state.others(n))
        best, _ = _enumerated_best_cost(inst, state, n)
        assert current <= best + 1e-9 * max(1.0, abs(current)), (n, current, best)
    for n, k in enumerate(sol.server_of):
        assert k == -1 or k in inst.reachable(n)


def test_two_server_game_uses_both_servers_and_the_checker_names_them():
    doc = dict(name="two", model=dict(deadline_policy="relax"),
               servers=[dict(name="a", parallel_limit=1), dict(name="b", parallel_limit=1)],
               devices=[dict(dnn="alexnet", count=4, channel_gain=[5e6, 5e6])])
    inst = Instance.from_dict(doc)
    sol = mecopt.solve(inst, "tpos-cai", engine="dp")
    assert sol.certificate["certified"] and sol.feasible
    assert set(sol.server_of[sol.server_of >= 0]) == {0, 1}, sol.server_of   # B = 1 each: both are used
    # everybody on server a breaks its parallel limit (27): the violation names the server
    crowd = [np.full(d.M, 1) for d in inst.devices]
    bad = mecopt.core.solution.Solution("x", inst, crowd, mecopt.Termination.FEASIBLE, server_of=np.zeros(inst.N, int))
    v27 = [v for v in bad.violations if v.equation == "(27)"]
    assert v27 and all(v.server == "a" and "server a" in v.message for v in v27)
    # offloading with no server, or to a server it cannot reach: the association (15s)
    lost = mecopt.core.solution.Solution("x", inst, crowd, mecopt.Termination.FEASIBLE, server_of=np.full(inst.N, -1))
    assert {v.equation for v in lost.violations} >= {"(15s)"}


def test_warm_start_keeps_the_servers():
    inst = Instance.from_dict(dict(model=dict(deadline_policy="relax"), servers=[{"parallel_limit": 2}, {}],
                                   devices=[dict(dnn="alexnet", count=5, channel_gain=[5e6, 3e6])]))
    first = mecopt.solve(inst, "tpos-cai", engine="dp")
    assert set(first.server_of) == {0, 1}
    again = mecopt.game.dynamics.play(inst, init_profile=first.profile, init_server_of=first.server_of, wake_prob=1.0)
    assert again.solver_calls == inst.N and again.trace["moves"].sum() == 0   # one round of checks, nobody moves
    assert np.array_equal(again.server_of, first.server_of)
    with pytest.raises(mecopt.InputError, match="init_server_of"):
        mecopt.game.dynamics.play(inst, init_profile=first.profile, init_server_of=[0])


def test_a_registered_method_returns_servers_with_its_profile(registries):
    inst = Instance.from_dict(dict(servers=[{}, {}], devices=[dict(dnn="lenet", count=2)]))

    @several_servers
    def everything_on_b(instance):
        return {"profile": [[1] * d.M for d in instance.devices], "server_of": [1] * instance.N}

    mecopt.register_method("on-b", everything_on_b)
    sol = mecopt.solve(inst, "on-b")
    assert list(sol.server_of) == [1, 1] and list(sol.evaluation.server) == [1, 1]
    mecopt.register_method("bad-keys", several_servers(lambda instance: {"profile": []}))
    with pytest.raises(mecopt.InputError, match="server_of"):
        mecopt.solve(inst, "bad-keys")
    mecopt.register_method("bare", several_servers(lambda instance: [[0] * d.M for d in instance.devices]))
    with pytest.raises(mecopt.InputError, match="bare profile"):
        mecopt.solve(inst, "bare")


def test_deadline_is_judged_on_the_devices_own_server_only(tmp_path):
    """An MD that meets tau only by offloading to server a is not reported for (26) on server b,
    where it stands in as all local; the written table gives the same verdict."""
    inst = Instance.from_dict(dict(model=dict(deadline_policy="hard"), servers=[{"name": "a"}, {"name": "b"}],
                                   devices=[dict(dnn="alexnet", deadline_s=3.0, channel_gain=[5e6, 5e6])]))
    dev = inst.devices[0]
    assert dev.local_cum[-1] > dev.tau                      # all local misses the deadline
    br = make_engine(inst, "dp").best_response(0, GameState(inst, costmod.all_local(inst), [-1]).others(0))
    assert br.server == 0 and not br.deadline_dropped
    sol = mecopt.core.solution.Solution("x", inst, [br.slots], mecopt.Termination.FEASIBLE, server_of=np.array([0]))
    assert sol.violations == []
    sol.write(tmp_path)
    assert mecopt.read_solution(tmp_path).violations == []
    assert mecopt.check(inst, sol.assignment_frame()) == []          # the table checker agrees
    local = mecopt.core.solution.Solution("x", inst, [np.zeros(dev.M, int)], mecopt.Termination.FEASIBLE,
                                     server_of=np.array([-1]))
    assert [v.equation for v in local.violations] == ["(26)"]      # once, not once per server
    assert [v.equation for v in mecopt.check(inst, local.assignment_frame())] == ["(26)"]


@pytest.mark.parametrize("method", ["tpos-cai", "tpos-uai", "gtpos", "all-offload", "isolated", "all-local"])
def test_a_server_no_device_reaches_is_harmless(method, tmp_path):
    inst = Instance.from_dict(dict(model=dict(deadline_policy="relax"), servers=[{"name": "a"}, {"name": "idle"}],
                                   devices=[dict(dnn="alexnet", count=3, servers=["a"])]))
    assert len(inst.view(1).members) == 0 and inst.view(1).instance.M_max == 0
    sol = mecopt.solve(inst, method)
    assert sol.feasible and all(k in (-1, 0) for k in sol.server_of)
    assert mecopt.check(inst, sol.assignment_frame()) == []
    sol.write(tmp_path)
    back = mecopt.read_solution(tmp_path)
    assert np.array_equal(back.server_of, sol.server_of) and back.violations == []


# --------------------------------------------------------------------------- one state, one engine for any K


def _br(objective: float, dropped: bool = False, offload: bool = True):
    from mecopt.core.problem import BestResponse
    slots = np.array([0, 1 if offload else 0])
    return BestResponse(slots, objective, objective, dropped)


def test_choose_prefers_tau_feasible_then_least_objective_then_the_first_server():
    from mecopt.bestresponse.engines import choose
    assert choose([(0, _br(1.0, dropped=True)), (2, _br(5.0))]).server == 2      # (26) kept beats cheaper
    assert choose([(0, _br(3.0)), (1, _br(2.0)), (2, _br(2.0))]).server == 1    # least, ties to the first
    both_dropped = choose([(0, _br(4.0, dropped=True)), (1, _br(3.0, dropped=True))])
    assert both_dropped.server == 1 and both_dropped.deadline_dropped
    assert choose([(1, _br(1.0, offload=False))]).server == -1                   # all local: no server
    assert choose([(1, _br(1.0))]).server == 1


def test_a_move_keeps_every_running_total_equal_to_a_rebuild():
    """Moves across servers, to local and back: the incremental totals equal a state built from scratch."""
    inst = _tiny(3, K=3, N=4, H=3, mode="total", policy="soft")
    rng = np.random.default_rng(7)
    server_of, profile = _random_profile(inst, rng)
    state = GameState(inst, profile, server_of)
    for _ in range(30):
        n = int(rng.integers(inst.N))
        new_server, new_profile = _random_profile(inst, rng)
        state.set(n, new_profile[n], new_server[n])
    fresh = GameState(inst, state.profile(), state.server_of)
    assert np.array_equal(fresh.server_of, state.server_of)
    for a, b in zip(state.on_server, fresh.on_server):
        np.testing.assert_allclose(a.total_load, b.total_load, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(a.total_used, b.total_used, atol=1e-12)
        np.testing.assert_array_equal(a.loads, b.loads)
    assert math.isclose(state.avg_cost(), fresh.avg_cost(), rel_tol=1e-12)
    assert math.isclose(state.potential(), fresh.potential(), rel_tol=1e-12)


def test_an_offloading_device_without_a_server_goes_to_its_first_reachable_one():
    inst = _tiny(1, K=3, N=3, H=2, policy="relax")
    profile = [np.r_[np.zeros(d.M - 1, int), 1] for d in inst.devices]
    state = GameState(inst, profile)                                   # no server_of given
    assert state.server_of.tolist() == [inst.reachable(n)[0] for n in range(inst.N)]
    state.set(0, np.zeros(inst.devices[0].M, int), 2)                  # all local: no server, whatever is asked
    assert state.server_of[0] == -1
    ev = costmod.evaluate(inst, state.profile(), state.server_of)
    assert math.isclose(state.avg_cost(), ev.avg_cost, rel_tol=1e-12)


def test_a_registered_single_server_engine_plays_on_several_servers(registries):
    import custom_methods

    mecopt.register_engine("enum", custom_methods.EnumerationEngine, replace=True)
    inst = _tiny(2, K=2, N=3, H=2, mode="per_device", policy="relax")
    eng = make_engine(inst, "enum")
    assert len(eng.engines) == 2 and all(isinstance(e, custom_methods.EnumerationEngine) for e in eng.engines)
    sol = mecopt.solve(inst, "tpos-cai", engine="enum", seed=0)
    assert sol.feasible and sol.engine == "enum" and sol.certificate["certified"]
    state = GameState(inst, sol.profile, sol.server_of)
    for n in range(inst.N):   # the DP certificate agrees: nobody gains against the enumerated equilibrium
        best, _ = _enumerated_best_cost(inst, state, n)
        assert state.cost(n, state.others(n)) <= best + 1e-9 * max(1.0, abs(best))


def test_wrong_length_default_gain_exits_2_naming_the_field(capsys, tmp_path):
    # issue 23 A6, through the command line: exit 2 naming device_defaults.channel_gain, no traceback
    from helpers import run

    path = tmp_path / "bad.toml"
    path.write_text('[[servers]]\nname = "a"\n[[servers]]\nname = "b"\n[device_defaults]\nchannel_gain = [1e6]\n'
                    '[[devices]]\ndnn = "lenet"\nchannel_gain = [1e6, 2e6]\n')
    code, out, err = run(capsys, "inspect", path)
    assert code == 2, (out, err)
    assert "device_defaults.channel_gain" in out + err and "Traceback" not in err
