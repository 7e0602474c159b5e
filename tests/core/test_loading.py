"""Loading at scale (issue 22): the vectorised assembly gives every link the numbers the per-link formulas give.

The reference here is independent of the loader's link table: each (device, server) pair's rates (9), (11),
transfer times (8), (10), price units (20)-(21) and fastest delay recomputed one by one with the public
per-device functions (``channel.shannon_rate``, ``channel.transfer_time``, ``pathloss.gain``,
``instance.fastest_delay``), compared for exact equality.
"""

from __future__ import annotations

import gc
import json
import math
from dataclasses import fields

import numpy as np
import pytest

from mecopt.core import channel, pathloss
from mecopt.core.errors import InputError
from mecopt.core.instance import (
    PAPER_DEVICE,
    Device,
    Instance,
    deadline_unreachable,
    fastest_delay,
    instance_from_dict,
    load_instance,
    read_document,
)

ARRAYS = ("t_local", "t_server", "out_bits", "t_up", "S")


def _city(policy: str = "relax") -> dict:
    """Three servers placed in the plane; devices with distinct and shared DNNs, overrides, ranges and lists."""
    return {
        "name": "city", "seed": 7, "model": {"deadline_policy": policy, "price_scale": 2e6},
        "channel": {"model": "3gpp-umi"},
        "servers": [{"name": "a", "position": [0.0, 0.0], "freq_cycles_per_s": 3000.0, "tx_power_w": 3.0},
                    {"name": "b", "position": [400.0, 0.0], "slots": 4, "price_base": [1.0, 2.0, 3.0, 4.0]},
                    {"name": "c", "position": [0.0, 300.0], "frame_s": 0.9, "parallel_limit": 2}],
        "device_defaults": {"noise_w_per_hz": 3.98e-21, "delta_cycles_per_bit": [2000.0, 2500.0]},
        "devices": [
            {"dnn": "alexnet", "position": [10.0, 20.0], "servers": ["c", "a"]},
            {"dnn": "lenet", "position": [390.0, 5.0], "count": 3, "bandwidth_hz": 1500.0},
            {"dnn": "alexnet", "channel_gain": [1e-9, 2e-9, 3e-9], "noise_w_per_hz": 1e-19, "name": "listed"},
            {"dnn": "vgg16", "position": [200.0, 150.0], "delta_cycles_per_bit": 2200.0, "deadline_s": 0.05},
            {"dnn": "lenet", "channel_gain": 5e-10, "noise_w_per_hz": 1e-19, "servers": ["b"], "count": 2,
             "name": "pair"},
        ],
    }


def _one_server() -> dict:
    return {"name": "one", "seed": 3, "server": {"parallel_limit": 3}, "model": {"deadline_policy": "relax"},
            "devices": [{"dnn": "alexnet", "count": 4, "bandwidth_hz": 1000.0},
                        {"dnn": "vgg16", "count": 2, "alpha": 0.5, "beta": 0.2, "gamma": 0.3},
                        {"dnn": "alexnet", "name": "solo", "delta_cycles_per_bit": 2100.0}]}


def _reference_deltas(doc: dict) -> list[float]:
    """delta_n as the per-device loader drew them: one scalar draw per device, in file order."""
    rng = np.random.default_rng(doc.get("seed", 0))
    default = doc.get("device_defaults", {}).get("delta_cycles_per_bit", PAPER_DEVICE["delta_cycles_per_bit"])
    out = []
    for entry in doc["devices"]:
        delta = entry.get("delta_cycles_per_bit", default)
        for _ in range(entry.get("count", 1)):
            out.append(float(rng.uniform(delta[0], delta[1])) if isinstance(delta, list | tuple) else float(delta))
    return out


def _positions(doc: dict) -> list:
    return [e.get("position") for e in doc["devices"] for _ in range(e.get("count", 1))]


def _check_link(dev: Device, inst: Instance, k: int, delta: float, pos) -> None:
    """Every number of ``dev`` (a device on its link to server k) against the per-link formulas."""
    sv = inst.servers[k]
    if pos is not None:
        ch = inst.source.get("channel", {})
        assert dev.G == pathloss.gain(pathloss.distance(pos, sv.position), **ch)
    assert dev.delta == delta
    assert dev.rate_up == channel.shannon_rate(dev.W, dev.P_up, dev.G, dev.N0)
    assert dev.rate_down == channel.shannon_rate(dev.W, sv.P_s, dev.G, dev.N0)
    assert np.array_equal(dev.t_up, channel.transfer_time(dev.out_bits, dev.rate_up))
    assert dev.t_down == float(dev.out_bits[-1] / dev.rate_down)
    assert np.array_equal(dev.S, delta * sv.f_s * dev.t_server / inst.price_scale)
    for name in ARRAYS:
        assert not getattr(dev, name).flags.writeable


@pytest.mark.parametrize("doc", [_city("relax"), _city("soft"), _one_server()], ids=["city-relax", "city-soft", "one"])
def test_every_link_has_the_numbers_of_the_per_link_formulas(doc):
    inst = instance_from_dict(doc)
    deltas, positions = _reference_deltas(doc), _positions(doc)
    policy = doc.get("model", {}).get("deadline_policy", "hard")
    for n, home in enumerate(inst.devices):
        assert home.index == n
        reach = inst.reachable(n)
        on_link = [inst.view(k).instance.devices[inst.view(k).local[n]] for k in reach]
        link_fastest = []
        for k, dev in zip(reach, on_link):
            _check_link(dev, inst, k, deltas[n], positions[n])
            link_fastest.append(fastest_delay(dev, inst.servers[k]))
            assert dev.fastest_delay == link_fastest[-1]
            assert dev.name == home.name and dev.index == inst.view(k).local[n]
        _check_link(home, inst, reach[0], deltas[n], positions[n])   # home: its first reachable server
        assert home.fastest_delay == min(link_fastest)
        relaxed = policy == "relax" and deadline_unreachable(min(link_fastest), home.tau)
        for dev in [home, *on_link]:
            assert dev.deadline_relaxed == relaxed
            assert dev.deadline_soft == (policy == "soft")
    if policy == "relax":
        assert any(d.deadline_relaxed for d in inst.devices)   # the 50 ms VGG16 deadline is out of reach


def test_devices_of_one_dnn_share_its_layer_tables():
    inst = instance_from_dict(_city())
    alex = [d for k in range(inst.K) for d in inst.view(k).instance.devices if d.dnn == "alexnet"]
    assert len(alex) >= 4
    for name in ("t_local", "t_server", "out_bits"):
        assert len({id(getattr(d, name)) for d in alex}) == 1


def test_one_bad_link_is_reported_with_its_server_and_field():
    doc = _city()
    doc["devices"][2]["channel_gain"] = [1e-9, 1e-30, 3e-9]   # upload to server b far too slow
    with pytest.raises(InputError) as err:
        instance_from_dict(doc)
    text = str(err.value)
    assert "devices.2 (server b)" in text and "bandwidth_hz, upload_power_w, channel_gain" in text
    assert "devices.2 (server a)" not in text


def test_an_entry_of_many_devices_is_reported_once():
    doc = _one_server()
    doc["devices"][0]["upload_power_w"] = 1e-30
    with pytest.raises(InputError) as err:
        instance_from_dict(doc)
    assert len(err.value.problems) == 1 and err.value.problems[0][0].startswith("devices.0")


def test_a_json_instance_file_loads_as_its_toml(tmp_path):
    from mecopt.studies.generate import generate_instance, write_instance

    doc = generate_instance(30, "lenet,alexnet", 1, servers=3, deadline_policy="relax", validate=False)
    toml_inst = load_instance(write_instance(doc, tmp_path / "g.toml"))
    json_inst = load_instance(write_instance(doc, tmp_path / "g.json"))
    assert read_document(tmp_path / "g.json")[0] == read_document(tmp_path / "g.toml")[0]
    for a, b in zip(toml_inst.devices + toml_inst.view(2).instance.devices,
                    json_inst.devices + json_inst.view(2).instance.devices):
        for f in fields(Device):
            x, y = getattr(a, f.name), getattr(b, f.name)
            assert np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y


@pytest.mark.parametrize("text, words", [("{not json", "is not valid JSON"), ("[1, 2]", "must hold a JSON object")])
def test_a_bad_json_instance_is_an_input_error(tmp_path, text, words):
    (tmp_path / "bad.json").write_text(text)
    with pytest.raises(InputError, match=words):
        load_instance(tmp_path / "bad.json")


def test_a_json_instance_is_validated_as_toml(tmp_path):
    (tmp_path / "i.json").write_text(json.dumps({"devices": [{"dnn": "alexnet", "alpha": 2.0}]}))
    with pytest.raises(InputError) as err:
        load_instance(tmp_path / "i.json")
    assert "devices.0.alpha" in str(err.value)


def test_instance_files_over_16_mb_are_read(tmp_path, monkeypatch):
    import mecopt.core.document as document

    path = tmp_path / "big.toml"
    path.write_text('name = "big"\n' + "#" * 200 + '\n[[devices]]\ndnn = "lenet"\n')
    monkeypatch.setattr(document, "MAX_DOCUMENT_BYTES", 100)   # a DNN spec this long would be refused
    assert load_instance(path).N == 1
    monkeypatch.setattr(document, "MAX_INSTANCE_BYTES", 100)
    from mecopt.core import instance as instance_module
    monkeypatch.setattr(instance_module, "MAX_INSTANCE_BYTES", 100)
    with pytest.raises(InputError, match="the limit is 100 bytes"):
        load_instance(path)


@pytest.mark.parametrize("bad", [False, True])
def test_the_garbage_collector_is_restored_after_loading(bad):
    doc = _one_server()
    if bad:
        doc["devices"][0]["alpha"] = 0.9
    assert gc.isenabled()
    try:
        instance_from_dict(doc)
    except InputError:
        assert bad
    assert gc.isenabled()
    gc.disable()
    try:
        instance_from_dict(_one_server())
        assert not gc.isenabled()   # left as it was
    finally:
        gc.enable()


def test_delta_draws_follow_the_file_order():
    doc = _city()
    inst = instance_from_dict(doc)
    assert [d.delta for d in inst.devices] == _reference_deltas(doc)
    assert len(set(d.delta for d in inst.devices[1:4])) == 3   # a count entry draws per device
    assert not math.isnan(inst.devices[0].G)
