"""Instance files: every malformed instance a user would write gives an InputError naming the field."""

from __future__ import annotations

import math

import pytest

from mecopt.core.errors import InputError
from mecopt.core.instance import instance_from_dict, load_instance
from mecopt.core.resources import instances_dir

PAPER = instances_dir() / "paper"


def _problems(write_toml, doc) -> list[tuple[str, str]]:
    path = write_toml(doc)
    with pytest.raises(InputError) as exc:
        load_instance(path)
    assert exc.value.problems, str(exc.value)
    return exc.value.problems


def _has(problems, path, *words):
    for p, msg in problems:
        if p == path and all(w.lower() in msg.lower() for w in words):
            return True
    return False


def test_the_tiny_instance_loads(instance_dict, write_toml):
    inst = load_instance(write_toml(instance_dict(n_devices=3)))
    assert inst.N == 3 and [d.name for d in inst.devices] == ["d1", "d2", "d3"]
    assert inst.server.H == 3 and inst.server.slot_len == pytest.approx(0.1)


@pytest.mark.parametrize("paper_file", sorted(p.name for p in PAPER.glob("*.toml")))
def test_every_paper_instance_loads(paper_file):
    inst = load_instance(PAPER / paper_file)
    assert inst.N >= 1
    for d in inst.devices:
        assert abs(d.alpha + d.beta + d.gamma - 1) < 1e-6
        assert 2000 <= d.delta <= 2500  # drawn from the preset range


def test_delta_drawn_from_the_seed_is_reproducible():
    a = load_instance(PAPER / "fig5-n5.toml")
    b = load_instance(PAPER / "fig5-n5.toml")
    assert [d.delta for d in a.devices] == [d.delta for d in b.devices]
    assert len({d.delta for d in a.devices}) == a.N  # one draw per MD


@pytest.mark.parametrize("where", ["top", "server", "model", "device", "device_defaults"])
def test_unknown_field(instance_dict, write_toml, where):
    doc = instance_dict()
    target, path = {
        "top": (doc, "colour"),
        "server": (doc["server"], "server.colour"),
        "model": (doc["model"], "model.colour"),
        "device": (doc["devices"][1], "devices.1.colour"),
        "device_defaults": (doc["device_defaults"], "device_defaults.colour"),
    }[where]
    target["colour"] = "blue"
    assert _has(_problems(write_toml, doc), path, "unknown field")


def test_weights_must_sum_to_one(instance_dict, write_toml):
    doc = instance_dict(devices=[{"name": "a"}, {"name": "b", "alpha": 0.6}])
    probs = _problems(write_toml, doc)
    assert _has(probs, "devices.1.alpha+beta+gamma", "sum to 1", "1.1")
    assert not any(p.startswith("devices.0") for p, _ in probs)


@pytest.mark.parametrize("field, value, words", [
    ("upload_power_w", -1.0, ["greater than 0"]),
    ("compute_power_w", -0.5, ["greater than or equal to 0"]),
    ("bandwidth_hz", 0.0, ["greater than 0"]),
    ("channel_gain", 0.0, ["greater than 0"]),
    ("deadline_s", -5.0, ["greater than 0"]),
    ("alpha", 1.5, ["less than or equal to 1"]),
    ("alpha", "high", ["valid number"]),
])
def test_bad_device_numbers(instance_dict, write_toml, field, value, words):
    doc = instance_dict(devices=[{"name": "a", field: value}])
    assert _has(_problems(write_toml, doc), f"devices.0.{field}", *words)


def test_unknown_dnn(instance_dict, write_toml):
    doc = instance_dict(devices=[{"name": "a", "dnn": "no_such_net"}])
    assert _has(_problems(write_toml, doc), "devices.0.dnn", "unknown DNN", "no_such_net")


def test_missing_dnn_spec_file(instance_dict, write_toml, tmp_path):
    doc = instance_dict(devices=[{"name": "a", "dnn": str(tmp_path / "gone.toml")}])
    assert _has(_problems(write_toml, doc), "devices.0.dnn", "not found")


@pytest.mark.parametrize("slots", [0, -2])
def test_slots_below_one(instance_dict, write_toml, slots):
    assert _has(_problems(write_toml, instance_dict(server={"slots": slots})), "server.slots",
                "greater than or equal to 1")


def test_price_base_list_of_wrong_length(instance_dict, write_toml):
    probs = _problems(write_toml, instance_dict(server={"price_base": [1.0, 2.0], "price_growth": [1, 1, 1, 1]}))
    assert _has(probs, "server.price_base", "one value per slot", "got 2")
    assert _has(probs, "server.price_growth", "one value per slot", "got 4")


def test_price_per_slot_list_is_used(instance_dict):
    inst = instance_from_dict(instance_dict(server={"price_base": [1.0, 2.0, 3.0]}))
    assert inst.server.a.tolist() == [1.0, 2.0, 3.0]
    assert inst.server.price_quad.tolist() == pytest.approx([2.0, 1.0, 2 / 3])


def test_negative_price(instance_dict, write_toml):
    assert _has(_problems(write_toml, instance_dict(server={"price_growth": -1.0})), "server.price_growth", ">= 0")


def test_bad_capacity_mode(instance_dict, write_toml):
    probs = _problems(write_toml, instance_dict(model={"capacity_mode": "shared"}))
    assert _has(probs, "model.capacity_mode", "per_device", "total")


def test_bad_deadline_policy(instance_dict, write_toml):
    assert _has(_problems(write_toml, instance_dict(model={"deadline_policy": "lenient"})), "model.deadline_policy")


def test_delta_range_reversed(instance_dict, write_toml):
    doc = instance_dict(devices=[{"name": "a", "delta_cycles_per_bit": [2500.0, 2000.0]}])
    assert _has(_problems(write_toml, doc), "devices.0.delta_cycles_per_bit", "low <= high")


def test_delta_range_is_drawn(instance_dict):
    doc = instance_dict(devices=[{"name": "a", "delta_cycles_per_bit": [10.0, 20.0]}])
    assert 10.0 <= instance_from_dict(doc).devices[0].delta <= 20.0


def test_not_toml(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("name = 'x'\n[server\nslots = 3\n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_instance(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_instance(tmp_path / "absent.toml")
    with pytest.raises(InputError, match="directory"):
        load_instance(tmp_path)


def test_missing_devices(instance_dict, write_toml):
    doc = instance_dict()
    del doc["devices"]
    assert _has(_problems(write_toml, doc), "devices", "required")
    doc["devices"] = []
    assert _has(_problems(write_toml, doc), "devices", "at least 1")


def test_duplicate_names(instance_dict, write_toml):
    doc = instance_dict(devices=[{"name": "a"}, {"name": "b"}, {"name": "a"}])
    assert _has(_problems(write_toml, doc), "devices.name", "unique", "'a'")


def test_count_expands_with_numbered_names(instance_dict):
    inst = instance_from_dict(instance_dict(devices=[{"name": "cam", "count": 3}, {"name": "x"}]))
    assert [d.name for d in inst.devices] == ["cam-1", "cam-2", "cam-3", "x"]
    assert [d.index for d in inst.devices] == [0, 1, 2, 3]


@pytest.mark.parametrize("edges", [[[0, 5]], [[1, 1]], [[-1, 0]]])
def test_bad_topology_edges(instance_dict, write_toml, edges):
    doc = instance_dict(n_devices=3, topology={"kind": "edges", "edges": edges})
    assert _has(_problems(write_toml, doc), "topology.edges", "two different devices")


def test_bad_topology_kind(instance_dict, write_toml):
    assert _has(_problems(write_toml, instance_dict(topology={"kind": "star"})), "topology.kind")


def test_several_schema_problems_at_once(instance_dict, write_toml):
    doc = instance_dict(devices=[{"name": "a", "upload_power_w": -1.0, "colour": "red"},
                                 {"name": "b", "bandwidth_hz": 0}],
                        server={"slots": 0, "colour": 1}, model={"capacity_mode": "shared"})
    doc["extra"] = True
    paths = {p for p, _ in _problems(write_toml, doc)}
    assert {"devices.0.upload_power_w", "devices.0.colour", "devices.1.bandwidth_hz", "server.slots",
            "server.colour", "model.capacity_mode", "extra"} <= paths


def test_several_semantic_problems_at_once(instance_dict, write_toml):
    doc = instance_dict(devices=[{"name": "a", "alpha": 0.9}, {"name": "b", "dnn": "nonet"}],
                        server={"price_base": [1.0]}, model={"delay_local": "gpu"})
    paths = {p for p, _ in _problems(write_toml, doc)}
    assert {"devices.0.alpha+beta+gamma", "devices.1.dnn", "server.price_base", "model.delay_local"} <= paths


def test_duplicate_names_and_edges_reported_with_the_other_problems(instance_dict, write_toml):
    doc = instance_dict(devices=[{"name": "a", "alpha": 0.9}, {"name": "a"}],
                        topology={"kind": "edges", "edges": [[0, 7]]})
    paths = {p for p, _ in _problems(write_toml, doc)}
    assert {"devices.0.alpha+beta+gamma", "devices.name", "topology.edges"} <= paths


@pytest.mark.parametrize("section, field", [("device", "bandwidth_hz"), ("device", "delta_cycles_per_bit"),
                                            ("device", "upload_power_w"), ("server", "frame_s")])
def test_non_finite_numbers_are_rejected(instance_dict, write_toml, section, field):
    value = math.nan if field == "delta_cycles_per_bit" else math.inf
    if section == "device":
        doc = instance_dict(devices=[{"name": "a", field: value}])
        path = f"devices.0.{field}"
    else:
        doc = instance_dict(server={field: value})
        path = f"server.{field}"
    assert any(p == path for p, _ in _problems(write_toml, doc))


# ---------------------------------------------------------------- deadline (26) policy


def test_hard_deadline_rejects_vgg16_naming_device_and_fastest_delay(instance_dict, write_toml):
    doc = instance_dict(devices=[{"name": "small"}, {"name": "big", "dnn": "vgg16", "deadline_s": 5.0}],
                        model={"bits_per_element": 1.0, "price_scale": 1e6},
                        server={"slots": 5, "frame_s": 0.75, "freq_cycles_per_s": 3400.0, "tx_power_w": 4.0},
                        device_defaults={"bandwidth_hz": 2000.0, "channel_gain": 1.2e6, "upload_power_w": 4.0})
    path = write_toml(doc)
    with pytest.raises(InputError) as exc:
        load_instance(path)
    text = str(exc.value)
    assert "big" in text and "vgg16" in text and "fastest possible delay" in text
    assert "small" not in text
    # the fastest delay quoted is the one the relaxed instance computes
    doc["model"]["deadline_policy"] = "relax"
    inst = instance_from_dict(doc)
    big = inst.devices[1]
    assert f"{big.fastest_delay:.6g} s" in text
    assert big.fastest_delay > 5.0 and big.deadline_relaxed
    assert not inst.devices[0].deadline_relaxed


def test_relax_marks_only_devices_that_cannot_meet_tau():
    inst = load_instance(PAPER / "fig10-mixed.toml")
    relaxed = {d.dnn: d.deadline_relaxed for d in inst.devices}
    assert relaxed == {"vgg16": True, "vgg13": True, "alexnet": False, "lenet": False}
    for d in inst.devices:
        assert d.deadline_relaxed == (d.fastest_delay > d.tau)


def test_tiny_deadline_boundary(instance_dict):
    # the tiny device's fastest delay is 0.545 s (upload .32 + two slots .2 + download .025)
    inst = instance_from_dict(instance_dict(devices=[{"name": "a", "deadline_s": 0.55}]))
    assert inst.devices[0].fastest_delay == pytest.approx(0.545)
    with pytest.raises(InputError, match="fastest possible delay is 0.545"):
        instance_from_dict(instance_dict(devices=[{"name": "a", "deadline_s": 0.54}]))


def test_schema_and_content_problems_are_reported_together():
    data = {"server": {"slots": 5, "colour": "red"},
            "devices": [{"dnn": "alexnet", "alpha": 0.5, "beta": 0.5, "gamma": 0.5},
                        {"dnn": "resnet-9000"}]}
    with pytest.raises(InputError) as exc:
        instance_from_dict(data)
    paths = [p for p, _ in exc.value.problems]
    assert "server.colour" in paths
    assert "devices.0.alpha+beta+gamma" in paths
    assert "devices.1.dnn" in paths


# --------------------------------------------------------------------------- one model for one or many servers

def _two_servers(doc: dict) -> dict:
    """``doc`` with its [server] given twice as [[servers]] (s1, s2)."""
    doc = {k: v for k, v in doc.items() if k != "server"}
    return {**doc, "servers": [{"name": "s1", "slots": 3}, {"name": "s2", "slots": 2}]}


def test_one_server_is_the_case_k_equals_one(instance_dict):
    inst = instance_from_dict(instance_dict(n_devices=3))
    assert inst.K == 1 and len(inst.servers) == 1 and inst.server is inst.servers[0]
    assert inst.reach == ((0,), (0,), (0,)) and inst.reachable(2) == (0,)
    view = inst.view(0)
    assert view.instance is inst and view.server is inst.servers[0] and view.k == 0
    assert list(view.members) == [0, 1, 2] and list(view.local) == [0, 1, 2]
    assert inst.views == (view,) and inst.server_index("s1") == 0
    with pytest.raises(IndexError, match="out of range"):
        inst.view(1)


def test_a_one_entry_servers_list_is_the_same_model_as_a_server_table(instance_dict):
    doc = instance_dict(n_devices=2)
    one = instance_from_dict(doc)
    listed = instance_from_dict({**{k: v for k, v in doc.items() if k != "server"}, "servers": [doc["server"]]})
    assert listed.K == 1 and listed.view(0).instance is listed and listed.reach == one.reach
    for a, b in zip(one.devices, listed.devices):
        assert a.fastest_delay == b.fastest_delay and (a.S == b.S).all() and a.rate_up == b.rate_up


def test_replacing_devices_of_a_one_server_instance_rebuilds_reach_and_view(instance_dict):
    from dataclasses import replace

    inst = instance_from_dict(instance_dict(n_devices=3))
    fewer = replace(inst, devices=inst.devices[:2])
    assert fewer.reach == ((0,), (0,)) and fewer.view(0).instance is fewer and list(fewer.view(0).members) == [0, 1]


def test_server_is_refused_with_several_servers(instance_dict):
    inst = instance_from_dict(_two_servers(instance_dict(n_devices=2)))
    assert inst.K == 2 and [s.name for s in inst.servers] == ["s1", "s2"]
    with pytest.raises(ValueError, match=r"servers\[k\].*view\(k\)\.server"):
        inst.server  # noqa: B018 (the property access itself must raise)
    assert inst.view(1).server is inst.servers[1] and inst.view(1).instance.server is inst.servers[1]
    assert not hasattr(inst, "multi")
