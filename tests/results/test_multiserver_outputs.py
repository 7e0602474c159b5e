"""What a user sees of a multi-server solution: tables, summary, write/read, checker, inspect,
solve/compare, plots and the baselines (docs/multiserver.md, "Baselines, checker, tables and
plots"); and the byte-for-byte guarantee that ``[[servers]]`` with one entry changes nothing."""

from __future__ import annotations

import copy
import json
import tomllib

import numpy as np
import pandas as pd
import pytest
from helpers import run

import mecopt
from mecopt.bestresponse.engines import make_engine
from mecopt.core import checker as checkmod
from mecopt.core import cost as costmod
from mecopt.core.errors import InputError
from mecopt.core.problem import Aggregates
from mecopt.core.resources import bundled_instances, instance_path
from mecopt.core.solution import Solution, Termination, read_result_folder
from mecopt.methods import baselines, registry

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver

#: two servers: md1, md2 (alexnet) reach north only, md3, md4 (lenet) reach both, md5 (alexnet) south only
TWO = {
    "name": "two",
    "servers": [{"name": "north"}, {"name": "south", "slots": 4}],
    "devices": [
        {"dnn": "alexnet", "count": 2, "servers": ["north"]},
        {"dnn": "lenet", "count": 2, "channel_gain": [1.2e6, 3e6]},
        {"dnn": "alexnet", "servers": ["south"], "channel_gain": 2e6},
    ],
}


def two(**changes) -> mecopt.Instance:
    doc = copy.deepcopy(TWO)
    doc.update(changes)
    return mecopt.Instance.from_dict(doc)


@pytest.fixture(scope="module")
def inst():
    return two()


@pytest.fixture(scope="module")
def cai(inst):
    return mecopt.solve(inst, "tpos-cai", engine="dp", seed=0)


def names_of(sol: Solution) -> list[str]:
    return ["" if k < 0 else sol.instance.servers[k].name for k in sol.server_of]


# --------------------------------------------------------------------------- tables


def test_the_game_uses_both_servers_and_leaves_some_devices_local(cai):
    # the fixtures below only test something if the solution has devices on each server and local ones
    assert set(cai.server_of) == {-1, 0, 1} and cai.feasible


def test_assignment_frame_names_the_server_of_offloaded_layers_only(cai):
    df = cai.assignment_frame()
    assert list(df.columns) == ["device", "layer", "layer_name", "slot", "server"]
    names = dict(zip([d.name for d in cai.instance.devices], names_of(cai)))
    for r in df.itertuples():
        assert r.server == ("" if r.slot == 0 else names[r.device])


def test_devices_frame_has_the_server_after_dnn(cai):
    df = cai.devices_frame()
    assert list(df.columns[:3]) == ["device", "dnn", "server"]
    assert list(df["server"]) == names_of(cai)


def test_summary_per_server_figures_from_the_server_views(cai, inst):
    s = cai.summary()
    assert s["local_devices"] == int((cai.server_of == -1).sum())
    assert [p["server"] for p in s["servers"]] == ["north", "south"]
    ev = cai.evaluation
    for k, per in enumerate(s["servers"]):
        on = np.flatnonzero(cai.server_of == k)
        view = inst.view(k)
        assert per["devices"] == len(on) and per["devices_reaching"] == len(view.members)
        assert per["slots"] == view.server.H and per["queued"] == 0
        assert per["avg_delay_s"] == pytest.approx(ev.delay[on].mean())
        assert per["avg_cost"] == pytest.approx(ev.cost[on].mean())
        # slot loads recomputed on the view's own devices (their link to k)
        load = np.zeros(view.server.H)
        count = np.zeros(view.server.H, dtype=int)
        for n in on:
            dev = view.instance.devices[int(view.local[n])]
            S, _ = costmod.own_loads(dev, np.asarray(cai.profile[n]), view.server.H)
            load += S
            count += S > 0
        assert per["slot_load"] == pytest.approx(list(load))
        assert per["slot_devices"] == list(count)


def test_a_server_nobody_uses_has_no_averages():
    sol = mecopt.solve(two(), "all-local")
    s = sol.summary()
    assert s["local_devices"] == 5
    assert all(p["devices"] == 0 and p["avg_delay_s"] is None and p["slot_load"] == [0.0] * p["slots"]
               for p in s["servers"])
    assert list(sol.server_of) == [-1] * 5 and set(sol.assignment_frame()["server"]) == {""}


def test_single_server_tables_keep_their_columns():
    sol = mecopt.solve(mecopt.load_instance("paper:fig6-w1khz"), "all-local")
    assert "server" not in sol.assignment_frame() and "server" not in sol.devices_frame()
    assert "server" not in checkmod.violations_frame(sol.violations)
    assert not {"servers", "local_devices"} & set(sol.summary())


def test_violations_frame_gains_the_server(inst):
    prof = [np.ones(d.M, dtype=int) for d in inst.devices]          # every layer in slot 1
    servers = np.array([0, 0, 1, 1, 1])
    sol = Solution("hand", inst, prof, Termination.FEASIBLE, server_of=servers)
    df = checkmod.violations_frame(sol.violations, servers=True)
    assert list(df.columns[:3]) == ["equation", "device", "server"]
    cap = df[df["equation"] == "(17)"]
    assert set(cap["server"]) == {"north", "south"}
    assert all(m.startswith(f"server {s}: ") for s, m in zip(cap["server"], cap["message"]))


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_write_and_read_back_a_multi_server_solution(cai, tmp_path, fmt):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    cai.write(tmp_path / fmt, fmt)
    back = mecopt.read_solution(tmp_path / fmt)
    assert list(back.server_of) == list(cai.server_of)
    assert all((a == b).all() for a, b in zip(back.profile, cai.profile))
    a, b = back.summary(), cai.summary()
    assert a["servers"] == b["servers"] and a["avg_cost"] == b["avg_cost"]
    assert back.violations == cai.violations == []


def test_server_names_that_csv_would_misread_round_trip(tmp_path):
    inst = two(servers=[{"name": "NA"}, {"name": "7", "slots": 4}],
               devices=[{"dnn": "alexnet", "count": 2, "servers": ["NA"]}, {"dnn": "alexnet", "servers": ["7"]}])
    sol = mecopt.solve(inst, "all-offload", draws=1)
    assert set(sol.server_of) == {0, 1}
    sol.write(tmp_path / "s")
    back = mecopt.read_solution(tmp_path / "s")
    assert list(back.server_of) == list(sol.server_of)
    assert mecopt.check(inst, tmp_path / "s") == sol.violations


# --------------------------------------------------------------------------- the checker


def test_check_of_a_written_table_finds_the_solutions_violations(inst, tmp_path):
    prof = [np.ones(d.M, dtype=int) for d in inst.devices]
    prof[2] = np.zeros(inst.devices[2].M, dtype=int)
    sol = Solution("hand", inst, prof, Termination.FEASIBLE, server_of=np.array([0, 0, -1, 1, 1]))
    assert sol.violations                                        # (17) on both servers, (27) none
    table = sol.assignment_frame()
    assert mecopt.check(inst, table) == sol.violations
    assert mecopt.check(inst, [p.tolist() for p in prof], server_of=[0, 0, -1, 1, 1]) == sol.violations
    sol.write(tmp_path / "s")
    assert mecopt.check(inst, tmp_path / "s") == sol.violations
    assert mecopt.check(inst, sol) == sol.violations


def test_local_rows_may_name_the_server(inst, cai):
    table = cai.assignment_frame()
    names = dict(zip([d.name for d in inst.devices], names_of(cai)))
    filled = table.assign(server=[names[d] or "south" for d in table["device"]])
    assert (filled["server"] != table["server"]).any()
    Y = checkmod.assignment_to_y(inst, filled)
    assert checkmod.server_of_from_y(inst, Y).tolist() == cai.server_of.tolist()
    assert mecopt.check(inst, filled) == mecopt.check(inst, table) == []


def test_check_of_a_profile_needs_one_server_per_device(inst):
    prof = costmod.all_local(inst)
    with pytest.raises(InputError, match="one server index per device"):
        mecopt.check(inst, prof, server_of=[0, 1])


def test_a_table_without_server_column_is_refused_unless_all_local(inst, cai):
    table = cai.assignment_frame().drop(columns="server")
    with pytest.raises(InputError, match="lacks a server column"):
        mecopt.check(inst, table)
    assert mecopt.check(inst, table.assign(slot=0)) == []       # all local: no server to name


def test_unknown_server_and_missing_server_are_input_errors(inst, cai):
    table = cai.assignment_frame()
    off = table.index[table["slot"] > 0][0]
    bad = table.copy()
    bad.loc[off, "server"] = "east"
    with pytest.raises(InputError, match="unknown server 'east'") as err:
        mecopt.check(inst, bad)
    assert f"row {off + 1}.server" in str(err.value)
    bad.loc[off, "server"] = ""
    with pytest.raises(InputError, match="names no server"):
        mecopt.check(inst, bad)
    bad = table.copy()
    bad.loc[table["slot"] == 0, "server"] = "east"               # local layers too must name a real server
    with pytest.raises(InputError, match="unknown server"):
        mecopt.check(inst, bad)


def test_slots_are_checked_against_their_own_server(inst):
    # south has 4 slots: slot 5 is its queue; slot 6 does not exist there
    rows = [("md5", m, 5, "south") for m in range(1, 22)]
    table = pd.DataFrame(rows, columns=["device", "layer", "slot", "server"])
    table = pd.concat([table] + [pd.DataFrame([(d, m, 0, "") for m in range(1, inst.devices[n].M + 1)],
                                              columns=table.columns)
                                 for n, d in enumerate(["md1", "md2", "md3", "md4"])])
    Y = checkmod.assignment_to_y(inst, table)
    assert Y.shape == (5, inst.M_max, 2, 7)
    assert checkmod.profile_from_y(inst, Y)[4].tolist() == [5] * 21   # queued on south
    table.loc[table["device"] == "md5", "slot"] = 6
    with pytest.raises(InputError, match="1..4 on server south"):
        checkmod.assignment_to_y(inst, table)


def test_layers_on_two_servers_are_a_15s_violation(inst, cai):
    table = cai.assignment_frame()
    n = int(np.flatnonzero(cai.server_of == 0)[0])
    # md3 reaches both servers: its first layer on north, the others on south
    other = next(i for i in range(inst.N) if inst.reachable(i) == (0, 1))
    name = inst.devices[other].name
    rows = table["device"] == name
    table.loc[rows, "slot"] = [1] * int(rows.sum())
    table.loc[rows, "server"] = ["north"] + ["south"] * (int(rows.sum()) - 1)
    viol = mecopt.check(inst, table)
    assoc = [v for v in viol if v.equation == "(15s)"]
    assert len(assoc) == 1 and assoc[0].device == name and "north, south" in assoc[0].message
    # no (15)/(16)/(26) of that device from either server's view
    assert not [v for v in viol if v.device == name and v.equation in ("(15)", "(16)", "(26)")]
    rep = checkmod.assignment_report(inst, table)
    assert name in rep["summary"]["malformed_devices"]
    row = rep["devices"].set_index("device").loc[name]
    assert row["server"] == "north;south" and pd.isna(row["delay_s"])
    assert inst.devices[n].name not in rep["summary"]["malformed_devices"]


def test_a_server_the_device_cannot_reach_is_a_15s_violation(inst, cai):
    table = cai.assignment_frame()
    n = int(np.flatnonzero(cai.server_of == 0)[0])                   # md1 reaches north only
    name = inst.devices[n].name
    table.loc[(table["device"] == name) & (table["slot"] > 0), "server"] = "south"
    viol = mecopt.check(inst, table)
    assert [(v.equation, v.device, v.server) for v in viol] == [("(15s)", name, "south")]


def test_assignment_report_per_server_slots(cai, inst):
    rep = checkmod.assignment_report(inst, cai.assignment_frame())
    slots = rep["slots"]
    assert list(slots.columns[:2]) == ["server", "slot"]
    assert len(slots) == sum(s.H for s in inst.servers)
    ev = cai.evaluation
    assert slots["price_load"].tolist() == pytest.approx(ev.slot_load.tolist())
    assert slots.groupby("server", sort=False)["capacity_s"].first().tolist() == pytest.approx(
        [s.slot_len for s in inst.servers])
    assert rep["devices"]["server"].tolist() == names_of(cai)
    assert rep["summary"]["feasible"] and rep["summary"]["avg_cost"] == pytest.approx(ev.avg_cost)
    assert [s["devices"] for s in rep["summary"]["servers"]] == [int((cai.server_of == k).sum()) for k in (0, 1)]


def test_cli_check_exit_codes(inst, cai, tmp_path, capsys):
    path = tmp_path / "two.toml"
    import tomli_w
    path.write_text(tomli_w.dumps(TWO))
    cai.write(tmp_path / "sol")
    code, out, _ = run(capsys, "check", path, tmp_path / "sol")
    assert code == 0 and "2 servers" in out and "south" in out
    table = cai.assignment_frame()
    table.drop(columns="server").to_csv(tmp_path / "noserver.csv", index=False)
    code, _, err = run(capsys, "check", path, tmp_path / "noserver.csv")
    assert code == 2 and "server column" in err
    table.loc[(table["device"] == "md1") & (table["slot"] > 0), "server"] = "south"
    table.to_csv(tmp_path / "unreach.csv", index=False)
    code, out, err = run(capsys, "check", path, tmp_path / "unreach.csv")
    assert code == 3 and "(15s)" in out and "cannot reach" in out


# --------------------------------------------------------------------------- inspect, solve, compare


@pytest.fixture
def two_file(tmp_path):
    import tomli_w
    path = tmp_path / "two.toml"
    path.write_text(tomli_w.dumps(TWO))
    return path


def test_inspect_shows_the_servers(two_file, capsys, inst):
    code, out, _ = run(capsys, "inspect", two_file)
    assert code == 0 and "Servers (2" in out and "Links (device, server)" in out
    table = out.split("Servers (2")[1].split("Devices")[0]
    north = next(line for line in table.splitlines() if line.startswith("north"))
    assert north.split()[:2] == ["north", "5"] and north.split()[-1] == "4"     # H, devices reaching
    code, out, _ = run(capsys, "inspect", two_file, "--json")
    info = json.loads(out)
    assert "server" not in info
    assert [(s["name"], s["H"], s["devices_reaching"]) for s in info["servers"]] == [("north", 5, 4), ("south", 4, 3)]
    assert info["devices"][2]["servers"] == ["north", "south"]
    assert [ln["server"] for ln in info["devices"][2]["links"]] == ["north", "south"]
    assert info["devices"][2]["links"][1]["rate_up_bps"] == pytest.approx(inst.view(1).instance.devices[0].rate_up)


def test_cli_solve_on_several_servers(two_file, capsys, tmp_path):
    code, out, _ = run(capsys, "solve", two_file, "-m", "isolated", "-q", "--out", tmp_path / "iso")
    assert code == 0 and "server north:" in out and "all local (no server)" in out
    head = out.splitlines()[0].split()
    assert head[:3] == ["device", "dnn", "server"]
    assert mecopt.read_solution(tmp_path / "iso").server_of is not None


def _unmarked(instance):
    return [[0] * d.M for d in instance.devices]


def test_methods_without_several_servers_exit_2(two_file, capsys, inst, registries):
    registry.register_method("ms-unmarked", _unmarked)
    code, _, err = run(capsys, "solve", two_file, "-m", "ms-unmarked", "-q")
    assert code == 2 and "does not solve instances with several servers" in err and "Traceback" not in err
    with pytest.raises(InputError, match="several servers"):
        mecopt.solve(inst, "ms-unmarked")


def test_compare_runs_the_methods_that_support_several_servers(two_file, capsys, inst, registries):
    builtin = ["tpos-cai", "tpos-uai", "tpos-best", "gtpos", "all-local", "all-offload", "isolated"]
    assert all(registry.supports_several_servers(m) for m in builtin)
    registry.register_method("ms-unmarked", _unmarked)
    code, out, err = run(capsys, "compare", two_file, "--engine", "dp", "--draws", "2", "-q")
    assert code == 0
    shown = [line.split()[0] for line in out.splitlines()[2:2 + len(builtin)]]
    assert shown == builtin
    code, _, err = run(capsys, "compare", two_file, "--methods", "all-local,ms-unmarked", "-q")
    assert code == 2 and "several servers" in err


def test_registered_methods_must_declare_several_servers(inst):
    def local_profile(instance):
        return [[0] * d.M for d in instance.devices]

    def local_profile_marked(instance):
        return [[0] * d.M for d in instance.devices]

    def local_solution(instance):
        return Solution("x", instance, costmod.all_local(instance), Termination.FEASIBLE,
                        server_of=np.full(instance.N, -1))

    registry.register_method("ms-test-plain", local_profile, replace=True)
    registry.register_method("ms-test-profile", registry.several_servers(local_profile_marked), replace=True)
    registry.register_method("ms-test-solution", registry.several_servers(local_solution), replace=True)
    try:
        with pytest.raises(InputError, match="does not solve instances with several servers"):
            mecopt.solve(inst, "ms-test-plain")
        with pytest.raises(InputError, match="must return a Solution"):
            mecopt.solve(inst, "ms-test-profile")
        assert mecopt.solve(inst, "ms-test-solution").feasible
        assert mecopt.solve(mecopt.load_instance("paper:fig6-w1khz"), "ms-test-plain").feasible
    finally:
        for name in ("ms-test-plain", "ms-test-profile", "ms-test-solution"):
            registry.METHODS.pop(name, None)


# --------------------------------------------------------------------------- baselines


def test_all_offload_sends_each_device_to_its_fastest_upload(inst):
    rates = {(n, k): inst.view(k).instance.devices[int(inst.view(k).local[n])].rate_up
             for n in range(inst.N) for k in inst.reachable(n)}
    assert rates[(2, 1)] > rates[(2, 0)]                       # md3's south link is faster
    assert baselines.offload_servers(inst).tolist() == [0, 0, 1, 1, 1]
    sol = mecopt.solve(inst, "all-offload", seed=3, draws=3)
    assert sol.server_of.tolist() == [0, 0, 1, 1, 1]
    assert all(costmod.partition_point(np.asarray(s)) == 0 for s in sol.profile)
    assert sol.feasible                                         # (17), (27) kept by construction; tau met here
    assert sol.summary()["avg_delay_s"] == pytest.approx(costmod.evaluate(inst, sol.profile, sol.server_of).avg_delay)
    assert sol.info["devices_per_server"] == {"north": 2, "south": 3}
    again = mecopt.solve(inst, "all-offload", seed=3, draws=1)  # draw 0 does not depend on draws
    assert all((a == b).all() for a, b in zip(again.profile, sol.profile))


def test_all_offload_ties_go_to_the_first_server():
    inst = two(devices=[{"dnn": "lenet", "count": 2}])        # same gain to both: equal rates
    assert baselines.offload_servers(inst).tolist() == [0, 0]


def test_all_offload_queues_per_server():
    # north admits one MD per slot: the second alexnet cannot fit its frame and waits after it
    inst = two(servers=[{"name": "north", "parallel_limit": 1}, {"name": "south", "slots": 4}],
               devices=[{"dnn": "alexnet", "count": 2, "servers": ["north"]},
                        {"dnn": "alexnet", "servers": ["south"]}])
    sol = mecopt.solve(inst, "all-offload", seed=0, draws=1)
    H = inst.servers[0].H
    queued = [n for n, s in enumerate(sol.profile) if costmod.queued(np.asarray(s), H)]
    assert len(queued) == 1 and sol.server_of[queued[0]] == 0
    assert "queued" in sol.flags[inst.devices[queued[0]].name]
    assert sol.summary()["servers"][0]["queued"] == 1 and not [v for v in sol.violations if v.equation != "(26)"]
    local = mecopt.solve(inst, "all-offload", seed=0, draws=1, overflow="local")
    assert sorted(local.server_of.tolist()) == [-1, 0, 1]


def test_isolated_is_the_best_alone_over_the_reachable_servers(inst):
    sol = mecopt.solve(inst, "isolated", engine="dp")
    for n in range(inst.N):
        best = None
        for k in inst.reachable(n):
            v = inst.view(k)
            br = make_engine(v.instance, "dp").best_response(int(v.local[n]), {0: Aggregates.empty(v.server.H)})
            if best is None or br.objective < best[1].objective:
                best = (k, br)
        k, br = best
        offloads = bool(np.any(br.slots != 0))
        assert sol.server_of[n] == (k if offloads else -1)
        assert np.array_equal(sol.profile[n], br.slots)
    assert sol.violations == mecopt.check(inst, sol.assignment_frame())
    assert str(sol.termination) == ("feasible" if sol.feasible else "infeasible")


def test_all_local_passes_the_checker(inst):
    sol = mecopt.solve(inst, "all-local")
    assert sol.feasible and sol.summary()["avg_delay_s"] == pytest.approx(
        np.mean([d.local_cum[-1] for d in inst.devices]))


# --------------------------------------------------------------------------- plots


def test_schedule_has_one_panel_per_server(cai, tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.collections import PolyCollection

    from mecopt.results import plots

    def panels(fig):
        return [a for a in fig.axes if a.get_title().startswith("server ")]

    fig = plots.schedule(cai)
    axes = panels(fig)
    assert [a.get_title().split()[1] for a in axes] == ["north", "south"]
    for k, a in enumerate(axes):
        bars = [c for c in a.collections if isinstance(c, PolyCollection)]
        blocks = sum(1 for n in np.flatnonzero(cai.server_of == k)
                     for _, _, h in costmod.blocks(np.asarray(cai.profile[n])) if h > 0)
        labels = [t.get_text().split("\n")[0] for t in a.get_yticklabels()]
        assert len(bars) == blocks
        assert sorted(labels) == sorted(cai.instance.devices[n].name for n in np.flatnonzero(cai.server_of == k))
    cai.write(tmp_path / "sol")
    assert len(panels(plots.schedule(read_result_folder(tmp_path / "sol").solution))) == 2
    assert len(panels(plots.schedule(cai.assignment_frame()))) == 2       # from the table alone
    fig = plots.partition(cai)
    assert any("(north)" in t.get_text() for t in fig.axes[0].get_yticklabels())
    from matplotlib.figure import Figure
    with pytest.raises(InputError, match="one panel per server"):
        plots.schedule(cai, ax=Figure().add_subplot())


# --------------------------------------------------------------------------- byte for byte


def as_servers_list(name: str) -> tuple[dict, object]:
    """The bundled instance's document with its one [server] moved into [[servers]]."""
    path = instance_path(f"paper:{name}")
    doc = tomllib.loads(path.read_text())
    doc["servers"] = [doc.pop("server")]
    return doc, path.parent


METHODS = [("tpos-cai", {"engine": "dp"}), ("tpos-uai", {"engine": "dp"}), ("gtpos", {}), ("all-local", {}),
           ("all-offload", {"draws": 3}),
           ("isolated", {"engine": "dp"})]
#: measured durations, which differ between any two runs
DURATIONS = ("wall_time_s",)
INFO_DURATIONS = ("certificate_s", "build_s", "solve_s", "cpu_s")


def _plain_summary(sol: Solution) -> dict:
    s = sol.summary()
    for k in DURATIONS:
        s.pop(k)
    s["info"] = {k: v for k, v in s["info"].items() if k not in INFO_DURATIONS}
    return s


@pytest.mark.parametrize("name", [b.split(":", 1)[1] for b in bundled_instances() if b.startswith("paper:")])
def test_one_server_in_a_servers_list_changes_nothing(name, tmp_path):
    doc, base = as_servers_list(name)
    listed = mecopt.Instance.from_dict(doc, base=base)
    plain = mecopt.load_instance(f"paper:{name}")
    assert "servers" in listed.source and "server" not in listed.source
    assert listed.K == 1
    for method, opts in METHODS:
        a, b = mecopt.solve(plain, method, **opts), mecopt.solve(listed, method, **opts)
        a.write(tmp_path / method / "plain")
        b.write(tmp_path / method / "listed")
        for table in ("assignment.csv", "devices.csv", "violations.csv", "trace.csv"):
            pa, pb = tmp_path / method / "plain" / table, tmp_path / method / "listed" / table
            assert pa.exists() == pb.exists()
            if pa.exists():
                assert pa.read_bytes() == pb.read_bytes(), f"{name} {method} {table}"
        assert _plain_summary(a) == _plain_summary(b)
