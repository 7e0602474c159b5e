"""The independent checker (mecopt.core.checker): planted violations of (15), (16), (17), (26), (27).

Tiny instance of conftest.py: H = 3, T_d/H = 0.1 s, B = 2; server times .02 .03 .04 .05 s
(0.14 s in all); fully local delay 1 s; fastest possible delay 0.545 s.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mecopt.cli.commands.check import check_assignment
from mecopt.core import checker as check
from mecopt.core.errors import InputError
from mecopt.core.instance import instance_from_dict
from mecopt.core.tolerances import DEADLINE_TOL


def _table(profile: dict[str, list[int]]) -> pd.DataFrame:
    rows = [(dev, m, h) for dev, slots in profile.items() for m, h in enumerate(slots, start=1)]
    return pd.DataFrame(rows, columns=["device", "layer", "slot"])


def _violations(inst, table):
    return check.check_y(inst, check.assignment_to_y(inst, table))


def _only(violations, equation):
    found = [v for v in violations if v.equation == equation]
    others = [v for v in violations if v.equation != equation]
    assert not others, others
    assert found, f"no {equation} violation"
    return found


@pytest.fixture
def tiny(instance_dict):
    return instance_from_dict(instance_dict(n_devices=2))


@pytest.mark.parametrize("profile", [
    {"d1": [0, 0, 0, 0], "d2": [0, 0, 0, 0]},
    {"d1": [1, 1, 1, 2], "d2": [0, 0, 0, 0]},
    {"d1": [1, 1, 1, 2], "d2": [0, 2, 2, 3]},
    {"d1": [0, 0, 3, 3], "d2": [1, 1, 1, 3]},   # per_device: 0.09 s each in slot 1, under 0.1
    {"d1": [4, 4, 4, 4], "d2": [0, 0, 0, 0]},   # d1 queued after the frame
])
def test_feasible_assignments_give_no_violation(tiny, profile):
    assert _violations(tiny, _table(profile)) == []
    assert check.check_profile(tiny, [np.array(s) for s in profile.values()]) == []


def test_15_layer_assigned_twice_and_missing(tiny):
    table = _table({"d1": [0, 0, 0, 0], "d2": [0, 0, 0, 0]})
    table = pd.concat([table, pd.DataFrame([("d2", 4, 1)], columns=table.columns)])  # d2 layer 4 twice
    table = pd.concat([table, pd.DataFrame([("d1", 1, 0)], columns=table.columns)])  # d1 layer 1 listed twice
    table = table[~((table.device == "d1") & (table.layer == 3))]                     # d1 layer 3 missing
    found = _only(_violations(tiny, table), "(15)")
    got = {(v.device, v.layer, v.amount, v.tolerance) for v in found}
    assert got == {("d2", 4, 1.0, 0.0), ("d1", 1, 1.0, 0.0), ("d1", 3, 1.0, 0.0)}


def test_15_partly_queued_device(tiny):
    found = [v for v in _violations(tiny, _table({"d1": [0, 0, 4, 4], "d2": [0, 0, 0, 0]})) if v.equation == "(15)"]
    assert len(found) == 1
    v = found[0]
    assert (v.device, v.slot, v.amount) == ("d1", 4, 2.0)  # 2 of 4 layers at H+1


def test_16_slots_going_backwards(tiny):
    found = _only(_violations(tiny, _table({"d1": [0, 2, 1, 1], "d2": [0, 0, 0, 0]})), "(16)")
    assert {(v.device, v.layer, v.slot, v.amount) for v in found} == {("d1", 3, 1, 1.0)}  # one misplaced layer, one row
    found = _only(_violations(tiny, _table({"d1": [0, 0, 0, 0], "d2": [3, 3, 0, 3]})), "(16)")
    assert [(v.device, v.layer, v.slot, v.amount) for v in found] == [("d2", 3, 0, 3.0)]


def test_17_per_device_capacity(tiny):
    found = _only(_violations(tiny, _table({"d1": [1, 1, 1, 1], "d2": [0, 0, 0, 0]})), "(17)")
    assert len(found) == 1
    v = found[0]
    assert (v.device, v.slot) == ("d1", 1)
    assert v.amount == pytest.approx(0.14 - 0.1)
    assert 0 < v.tolerance < 1e-6


def test_17_total_capacity(instance_dict):
    inst = instance_from_dict(instance_dict(n_devices=2, model={"capacity_mode": "total"}))
    # each device alone fits (0.09 s), together slot 1 holds 0.18 s > 0.1 s
    found = _only(_violations(inst, _table({"d1": [1, 1, 1, 3], "d2": [1, 1, 1, 2]})), "(17)")
    assert len(found) == 1
    v = found[0]
    assert (v.device, v.slot) == (None, 1)
    assert v.amount == pytest.approx(0.18 - 0.1)
    # the same profile is fine per device
    per_device = instance_from_dict(instance_dict(n_devices=2))
    assert _violations(per_device, _table({"d1": [1, 1, 1, 3], "d2": [1, 1, 1, 2]})) == []


def test_17_total_capacity_sums_over_devices_in_every_slot(instance_dict):
    inst = instance_from_dict(instance_dict(n_devices=2, model={"capacity_mode": "total"},
                                            server={"parallel_limit": 4}))
    found = _only(_violations(inst, _table({"d1": [2, 2, 3, 3], "d2": [0, 2, 3, 3]})), "(17)")
    # slot 2: .05 + .03 = .08 (ok); slot 3: .09 + .09 = .18
    assert [(v.slot, round(v.amount, 12)) for v in found] == [(3, 0.08)]


def test_26_deadline(instance_dict):
    inst = instance_from_dict(instance_dict(devices=[{"name": "d1", "deadline_s": 0.6}, {"name": "d2"}]))
    found = _only(_violations(inst, _table({"d1": [0, 0, 0, 0], "d2": [0, 0, 0, 0]})), "(26)")
    assert len(found) == 1
    v = found[0]
    assert v.device == "d1" and v.amount == pytest.approx(1.0 - 0.6)
    assert v.tolerance == pytest.approx(0.6 * DEADLINE_TOL)
    # offloading everything in slots 1 and 2 meets it: 0.545 s
    assert _violations(inst, _table({"d1": [1, 1, 1, 2], "d2": [0, 0, 0, 0]})) == []
    # a late slot misses it: m* = 0, h_max = 3 -> .32 + .3 + .025 = .645
    found = _only(_violations(inst, _table({"d1": [1, 1, 1, 3], "d2": [0, 0, 0, 0]})), "(26)")
    assert found[0].amount == pytest.approx(0.645 - 0.6)


def test_26_not_checked_for_relaxed_devices(instance_dict):
    doc = instance_dict(devices=[{"name": "d1", "deadline_s": 0.5}, {"name": "d2"}], model={"deadline_policy": "relax"})
    inst = instance_from_dict(doc)
    assert inst.devices[0].deadline_relaxed and not inst.devices[1].deadline_relaxed
    assert _violations(inst, _table({"d1": [0, 0, 0, 0], "d2": [0, 0, 0, 0]})) == []


def test_27_parallel_limit(instance_dict):
    inst = instance_from_dict(instance_dict(n_devices=3))  # B = 2
    found = _only(_violations(inst, _table({"d1": [0, 0, 0, 1], "d2": [0, 0, 1, 1], "d3": [1, 1, 2, 2]})), "(27)")
    assert [(v.slot, v.amount, v.device) for v in found] == [(1, 1.0, None)]
    # queued devices do not count in any slot
    assert _violations(inst, _table({"d1": [0, 0, 0, 1], "d2": [0, 0, 1, 1], "d3": [4, 4, 4, 4]})) == []


def test_device_by_index_and_extra_columns(tiny):
    table = _table({"0": [1, 1, 1, 1], "1": [0, 0, 0, 0]})
    table["device"] = table["device"].astype(int)
    table["layer_name"] = "whatever"
    found = _only(_violations(tiny, table), "(17)")
    assert found[0].device == "d1"


@pytest.mark.parametrize("row, where", [
    (("zz", 1, 0), "device"),
    ((5, 1, 0), "device"),
    (("d1", 5, 0), "layer"),
    (("d1", 0, 0), "layer"),
    (("d1", 1, 5), "slot"),
    (("d1", 1, -1), "slot"),
])
def test_malformed_rows_are_input_errors(tiny, row, where):
    table = pd.DataFrame([row], columns=["device", "layer", "slot"])
    with pytest.raises(InputError) as exc:
        check.assignment_to_y(tiny, table)
    assert any(p.startswith("row 1") and p.endswith(where) for p, _ in exc.value.problems)


def test_missing_columns(tiny):
    with pytest.raises(InputError, match="slot"):
        check.assignment_to_y(tiny, pd.DataFrame({"device": ["d1"], "layer": [1]}))


def test_non_integer_layer_or_slot_rejected(tiny):
    table = _table({"d1": [0, 0, 0, 0], "d2": [0, 0, 0, 0]}).astype({"slot": float})
    table.loc[0, "slot"] = 1.5
    with pytest.raises(InputError):
        check.assignment_to_y(tiny, table)


# ---------------------------------------------------------------- the report of `mecopt check`


def test_check_assignment_reports_figures_and_skips_malformed_devices(tiny):
    res = check_assignment(tiny, _table({"d1": [1, 1, 1, 2], "d2": [0, 2, 1, 1]}))
    dev = res["devices"].set_index("device")
    assert bool(dev.loc["d1", "well_formed"]) and not bool(dev.loc["d2", "well_formed"])
    assert dev.loc["d1", "delay_s"] == pytest.approx(0.545)
    assert pd.isna(dev.loc["d2", "delay_s"]) and pd.isna(dev.loc["d2", "cost"])
    assert dev.loc["d2", "server_time_s"] == pytest.approx(0.03 + 0.04 + 0.05)
    s = res["summary"]
    assert not s["feasible"] and s["malformed_devices"] == ["d2"] and s["potential"] is None
    assert s["avg_delay_s"] == pytest.approx(0.545)  # over the well-formed device only
    assert set(s["violations_by_equation"]) == {"(16)"}


def test_check_assignment_feasible_summary(tiny):
    res = check_assignment(tiny, _table({"d1": [1, 1, 1, 2], "d2": [0, 0, 0, 0]}))
    s = res["summary"]
    assert s["feasible"] and s["violations"] == 0 and res["violations"].empty
    assert s["avg_delay_s"] == pytest.approx((0.545 + 1.0) / 2)
    assert s["potential"] is not None
    slots = res["slots"]
    assert slots["server_time_s"].tolist() == pytest.approx([0.09, 0.05, 0.0])
    assert slots["devices"].tolist() == [1, 1, 0]


# --------------------------------------------------------------------------- one tensor for one or many servers

def test_one_server_tensor_has_a_server_axis_and_reads_a_server_column(tiny):
    table = _table({"d1": [0, 1, 1, 2], "d2": [0, 0, 0, 0]})
    Y = check.assignment_to_y(tiny, table)
    assert Y.shape == (2, 4, 1, tiny.server.H + 2)
    assert Y[0, 0, 0, 0] == 1 and Y[0, 1, 0, 1] == 1 and Y[0, 3, 0, 2] == 1 and int(Y.sum()) == 8
    for cell in (tiny.server.name, 0, ""):   # the one server by name or index, or no server named
        assert (check.assignment_to_y(tiny, table.assign(server=cell)) == Y).all()
    with pytest.raises(InputError) as exc:   # issue 23 (A5): an unknown server is bad input, as with several
        check.assignment_to_y(tiny, table.assign(server="whatever"))
    assert exc.value.problems[0] == ("row 1.server", f"unknown server 'whatever'; the instance's servers are "
                                                     f"['{tiny.server.name}']")
    assert list(check.server_of_from_y(tiny, Y)) == [0, -1]
    assert [list(p) for p in check.profile_from_y(tiny, Y)] == [[0, 1, 1, 2], [0, 0, 0, 0]]


def test_one_server_slot_message_and_no_association_violation(tiny):
    with pytest.raises(InputError) as exc:
        check.assignment_to_y(tiny, _table({"d1": [0, 0, 0, 5], "d2": [0, 0, 0, 0]}))
    assert exc.value.problems == [("row 4.slot", "slot must be 0 (local), 1..3, or 4 (queued), got 5")]
    bad = _violations(tiny, _table({"d1": [0, 2, 1, 1], "d2": [0, 0, 0, 0]}))
    assert "(16)" in {v.equation for v in bad} and all(v.server is None for v in bad)
    assert check.ASSOCIATION not in {v.equation for v in bad}
    assert "server" not in check.violations_frame(bad, servers=tiny.K > 1).columns


def test_profile_and_table_checkers_agree_on_one_server(tiny):
    profile = {"d1": [1, 1, 1, 1], "d2": [1, 1, 1, 1]}       # every layer of both in slot 1: over capacity (17)
    table = _table(profile)
    from_table = check.check_y(tiny, check.assignment_to_y(tiny, table))
    prof = [np.array(v) for v in profile.values()]
    assert check.check_profile(tiny, prof) == from_table == check.check_profile(tiny, prof, [0, 0])
    assert from_table and {v.equation for v in from_table} <= {"(17)", "(26)", "(27)"}
    with pytest.raises(InputError, match="strategies for 2 devices"):
        check.check_profile(tiny, prof[:1])


# --------------------------------------------------------------------------- a frozen Solution

def test_a_solution_is_frozen_and_replace_keeps_what_it_derived(tiny):
    import dataclasses

    from mecopt.core.solution import Solution, Termination
    profile = [np.array([0, 1, 1, 2]), np.zeros(4, dtype=int)]
    sol = Solution(method="mine", instance=tiny, profile=profile, termination=Termination.FEASIBLE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sol.status = "changed"
    ev, viol = sol.evaluation, sol.violations
    again = sol.replace(status="checked", info={"k": 1})
    assert again.status == "checked" and again.info == {"k": 1} and sol.status == "" and sol.info == {}
    assert again.evaluation is ev and again.violations is viol                       # inputs unchanged: kept
    moved = sol.replace(profile=[np.zeros(4, dtype=int), np.zeros(4, dtype=int)])
    assert moved.evaluation is not ev and list(moved.evaluation.partition) == [4, 4]  # recomputed
    assert dataclasses.replace(sol, method="other").evaluation.avg_cost == ev.avg_cost
