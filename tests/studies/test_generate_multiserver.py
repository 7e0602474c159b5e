"""mecopt generate with several servers: placement, reach, path loss, determinism, a non-trivial
equilibrium; and the single-server output unchanged byte for byte."""

from __future__ import annotations

import hashlib
import math
import tomllib

import numpy as np
import pytest
from helpers import run

from mecopt.core import pathloss
from mecopt.core.errors import InputError
from mecopt.core.instance import instance_from_dict, load_instance
from mecopt.game.dynamics import play
from mecopt.studies import generate as gen
from mecopt.studies.generate import dumps, generate_instance

MIX = "alexnet:0.4,vgg16:0.2,vgg13:0.2,lenet:0.2"


@pytest.mark.parametrize("args, sha256", [
    # recorded with the generator as it was before several servers existed (commit dbb1126)
    ((6, "alexnet:0.5,lenet:0.5", 11), "b84cdf005f9eb9159dbd1020208daa6afbbc33423e7a59fa696e071e397a02dc"),
    ((5, "alexnet", 0, dict(gain="1e6:2e6", bandwidth_khz="3", slots=4, capacity_mode="total")),
     "c3fb82260b9f9d02afc2b50a973651f0e52021ab116ab6e729656015efbf92ab"),
])
def test_single_server_output_is_unchanged(args, sha256):
    n, mix, seed, *kw = args
    text = dumps(generate_instance(n, mix, seed, units="paper", **(kw[0] if kw else {})))
    assert hashlib.sha256(text.encode()).hexdigest() == sha256


def test_multi_server_document_is_deterministic_and_loads():
    a = generate_instance(40, MIX, 3, servers=4, deadline_policy="relax", device_layout="clustered")
    b = generate_instance(40, MIX, 3, servers=4, deadline_policy="relax", device_layout="clustered")
    assert dumps(a) == dumps(b) and tomllib.loads(dumps(a)) == a
    assert dumps(a) != dumps(generate_instance(40, MIX, 4, servers=4, deadline_policy="relax",
                                               device_layout="clustered"))
    assert "server" not in a and len(a["servers"]) == 4 and a["channel"] == {"model": "3gpp-umi"}
    assert a["device_defaults"]["noise_w_per_hz"] == 3.98e-21
    assert all("channel_gain" not in d for d in a["devices"])
    inst = instance_from_dict(a)
    assert inst.K == 4 and inst.N == 40 and all(len(inst.reachable(n)) == 3 for n in range(40))
    # the per-device draws are those of the single-server generator (the geometry has its own stream)
    single = generate_instance(40, MIX, 3, deadline_policy="relax")
    assert [(d["dnn"], d["bandwidth_hz"]) for d in a["devices"]] == \
        [(d["dnn"], d["bandwidth_hz"]) for d in single["devices"]]


def test_grid_random_and_the_nearest_servers():
    doc = generate_instance(60, "lenet", 1, servers=4, area_m=1000.0, reach=2)
    assert [s["position"] for s in doc["servers"]] == [[250.0, 250.0], [750.0, 250.0], [250.0, 750.0],
                                                       [750.0, 750.0]]
    srv = np.array([s["position"] for s in doc["servers"]])
    for d in doc["devices"]:
        p = np.array(d["position"])
        assert np.all((p >= 0) & (p <= 1000))
        dist = np.hypot(*(srv - p).T)
        assert [f"s{k + 1}" for k in np.argsort(dist, kind="stable")[:2]] == d["servers"]
    rnd = generate_instance(10, "lenet", 1, servers=7, server_layout="random", reach=9)
    pos = np.array([s["position"] for s in rnd["servers"]])
    assert len({tuple(p) for p in pos}) == 7 and np.all((pos >= 0) & (pos <= gen.default_area(7)))
    assert all(len(d["servers"]) == 7 for d in rnd["devices"])          # reach capped at K
    assert gen.default_area(4) == 1000.0 and gen.default_area(100) == 5000.0


def test_clustered_devices_sit_near_their_hotspots():
    kw = dict(servers=4, area_m=2000.0)
    uni = generate_instance(300, "lenet", 2, **kw)
    clu = generate_instance(300, "lenet", 2, device_layout="clustered", hotspots=3, cluster_std_m=40.0, **kw)
    p = np.array([d["position"] for d in clu["devices"]])
    # three tight groups: every device is within 5 sigma of one of three points
    centres = [p[0]]
    for q in p:
        if min(np.hypot(*(q - c)) for c in centres) > 400:
            centres.append(q)
    assert len(centres) == 3
    spread = np.array([d["position"] for d in uni["devices"]]).std(axis=0)
    assert np.all(spread > 400)                                       # uniform on 2 km: std ~ 577 m


def test_path_loss_gains_follow_the_distance():
    doc = generate_instance(20, "alexnet", 0, servers=2, pathloss="log-distance", reach=2, deadline_policy="relax")
    inst = instance_from_dict(doc)
    for v in inst.views:
        sv = doc["servers"][v.k]["position"]
        for i, n in enumerate(v.members):
            d = math.hypot(*(np.array(doc["devices"][n]["position"]) - sv))
            assert v.instance.devices[i].G == pytest.approx(pathloss.gain(d, model="log-distance"), rel=1e-12)
            assert v.instance.devices[i].N0 == 3.98e-21


def test_generated_instance_has_a_non_trivial_equilibrium():
    """Some devices offload, to different servers, and some stay local (docs/multiserver.md)."""
    inst = instance_from_dict(generate_instance(40, MIX, 0, servers=4, deadline_policy="relax"))
    sol = play(inst, seed=0)
    assert sol.certificate["certified"] and sol.feasible
    used = set(sol.server_of[sol.server_of >= 0].tolist())
    assert len(used) >= 3 and np.sum(sol.server_of < 0) >= 5


def test_geometry_options_need_servers_and_valid_values(capsys, tmp_path):
    with pytest.raises(InputError) as err:
        generate_instance(3, "lenet", 0, reach=2, pathloss="log-distance")
    assert {p for p, _ in err.value.problems} == {"reach", "pathloss"}
    with pytest.raises(InputError) as err:
        generate_instance(3, "lenet", 0, servers=2, gain="1e6", server_layout="hex", hotspots=2, area_m=-1)
    assert {p for p, _ in err.value.problems} == {"gain", "server_layout", "hotspots", "area_m"}
    out = tmp_path / "g.toml"
    code, _, err = run(capsys, "generate", "--devices", 2, "--seed", 0, "--reach", 2, "--out", out)
    assert code == 2 and "--reach" in err and "--servers" in err and not out.exists()
    code, _, err = run(capsys, "generate", "--devices", 2, "--seed", 0, "--servers", 2, "--gain", 5, "--out", out)
    assert code == 2 and "--gain" in err and not out.exists()
    code, outp, err = run(capsys, "generate", "--devices", 5, "--seed", 0, "--servers", 3, "--dnn-mix", "lenet",
                          "--device-layout", "clustered", "--pathloss", "log-distance", "--out", out)
    assert code == 0 and "3 servers" in outp, err
    inst = load_instance(out)
    assert inst.K == 3 and inst.source["channel"]["model"] == "log-distance"
    assert dumps(generate_instance(5, "lenet", 0, servers=3, device_layout="clustered",
                                   pathloss="log-distance")) == out.read_text()
