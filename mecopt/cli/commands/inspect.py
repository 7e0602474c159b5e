"""``mecopt inspect``: the resolved instance, every number the solvers use.

Per device and layer: name, type, output bits O_{n,m}, T^lo, T^se, S_{n,m} (price
units) and the upload time (8) of that layer's output (= of partition point m;
row 0 is the network input, partition point m* = 0). Per device: rates (9) and
(11), the download time (10), fully-local and fully-on-server computing times,
the fastest possible delay, the deadline and whether (26) is relaxed, delta and
the weights. Server: H, T_d, B, f_s, a_h, b_h, P_s and the capacity mode.

With several servers (docs/multiserver.md): one row per server (name, H, T_d, B, f_s,
P_s, prices, position and how many devices reach it), the servers each device
reaches, and each (device, server) link: G_{n,k}, rates (9), (11), download time (10)
and the fastest delay on that server. A device's own figures and layer table are on
its link to the first server it reaches.
"""

from __future__ import annotations

import json

import click
import numpy as np
import pandas as pd

from mecopt.cli.common import echo_table, instance_argument, read_instance
from mecopt.core.errors import InputError
from mecopt.core.instance import Device, Instance
from mecopt.core.tables import jsonable


def _num(x):
    """A JSON-safe number (:func:`mecopt.core.tables.jsonable`).

    An integer as int, any other as float, NaN/inf as None.
    """
    return jsonable(x if isinstance(x, np.integer) else float(x), nonfinite="null")


def server_info(instance: Instance, k: int = 0) -> dict:
    """Server k's parameters; with several servers also its name, position and how many devices reach it."""
    sv = instance.servers[k]
    params = dict(H=sv.H, T_d_s=sv.T_d, slot_len_s=sv.slot_len, B=sv.B, f_s_cycles_per_s=sv.f_s,
                  a_h=[_num(v) for v in sv.a], b_h=[_num(v) for v in sv.b], P_s_w=sv.P_s)
    if instance.K == 1:
        return dict(params, capacity_mode=sv.capacity_mode)
    return dict(name=sv.name, **params, position=list(sv.position) if sv.position is not None else None,
                devices_reaching=int(len(instance.view(k).members)), capacity_mode=sv.capacity_mode)


def servers_info(instance: Instance) -> list[dict]:
    """Every server's :func:`server_info`."""
    return [server_info(instance, k) for k in range(instance.K)]


def link_rows(instance: Instance, n: int) -> list[dict]:
    """Several servers: device n's link to each server it reaches."""
    rows = []
    for k in instance.reachable(n):
        v = instance.view(k)
        d = v.instance.devices[int(v.local[n])]
        rows.append(dict(device=d.name, server=v.server.name, G=_num(d.G), rate_up_bps=_num(d.rate_up),
                         rate_down_bps=_num(d.rate_down), download_s=_num(d.t_down),
                         fastest_delay_s=_num(d.fastest_delay)))
    return rows


def layer_rows(dev: Device) -> list[dict]:
    """Rows 0..M: row 0 is the input (partition point 0), rows 1..M the layers."""
    names = ("input",) + dev.layer_names
    types = ("input",) + dev.layer_types
    lc = dev.local_cum
    rows = []
    for m in range(dev.M + 1):
        rows.append(dict(layer=m, name=names[m], type=types[m], out_bits=_num(dev.out_bits[m]),
                         t_local_s=_num(dev.t_local[m]), t_server_s=_num(dev.t_server[m]), S=_num(dev.S[m]),
                         local_cum_s=_num(lc[m]),
                         upload_s=_num(dev.t_up[m]) if m < dev.M else None))
    return rows


def device_info(dev: Device) -> dict:
    """Everything ``mecopt inspect`` shows of one device: its rates, times, deadline, weights and parameters."""
    return dict(
        index=dev.index, name=dev.name, dnn=dev.dnn, layers=dev.M,
        rate_up_bps=_num(dev.rate_up), rate_down_bps=_num(dev.rate_down), download_s=_num(dev.t_down),
        fully_local_s=_num(dev.local_cum[-1]), fully_server_compute_s=_num(dev.t_server[1:].sum()),
        fastest_delay_s=_num(dev.fastest_delay), deadline_s=_num(dev.tau), deadline_relaxed=dev.deadline_relaxed,
        deadline_penalty_per_s=_num(dev.deadline_penalty_per_s) if dev.deadline_soft else None,
        deadline_feasible=bool(dev.fastest_delay <= dev.tau * (1 + 1e-12)),
        delta_cycles_per_bit=_num(dev.delta), alpha=dev.alpha, beta=dev.beta, gamma=dev.gamma,
        c_T=dev.c_T, c_E=dev.c_E, P_up_w=dev.P_up, P_lo_w=dev.P_lo, W_hz=dev.W, G=dev.G, N0_w_per_hz=dev.N0,
        # (8) for every partition point m* = 0..M-1 (m* = M uploads nothing)
        upload_s=[_num(t) for t in dev.t_up[:dev.M]],
    )


def describe(instance: Instance, device: str | None = None) -> dict:
    """The whole resolved instance as a JSON-ready dict (optionally one device only)."""
    devs = list(instance.devices)
    if device is not None:
        devs = [select_device(instance, device)]
    names = [sv.name for sv in instance.servers]
    several = instance.K > 1   # shown: "servers" (a list) instead of "server", and links per device

    def links(d: Device) -> dict:
        reach = instance.reachable(d.index)
        return dict(servers=[names[k] for k in reach], link_server=names[reach[0]],
                    links=link_rows(instance, d.index)) if several else {}

    return dict(
        name=instance.name, description=instance.description, seed=instance.seed, path=instance.path,
        N=instance.N, bits_per_element=instance.bits_per_element, price_scale=instance.price_scale,
        deadline_policy=instance.deadline_policy,
        **(dict(servers=servers_info(instance)) if several else dict(server=server_info(instance))),
        devices=[{**device_info(d), **links(d), "layer_table": layer_rows(d)} for d in devs],
    )


def select_device(instance: Instance, key: str) -> Device:
    """The device named ``key`` (or with 0-based index ``key``); InputError listing the names otherwise."""
    for d in instance.devices:
        if d.name == key:
            return d
    if key.isdigit() and int(key) < instance.N:
        return instance.devices[int(key)]
    raise InputError(f"The 'device' option must name a device of {instance.name}: "
                     f"{', '.join(d.name for d in instance.devices)} (or a 0-based index). Got {key!r} instead.")


def _g(x, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


@click.command("inspect")
@instance_argument
@click.option("--json", "as_json", is_flag=True, help="Print the full resolved instance as JSON (nothing else).")
@click.option("--device", default=None, help="Show one device only (name or 0-based index).")
def inspect_cmd(instance, as_json, device):
    """Show the resolved INSTANCE: per-layer times, sizes and prices, links, deadlines, server.

    Times are in seconds, sizes in bits, S in price units (delta f_s T_se / price_scale).
    In the layer tables, row 0 is the network input and upload_s of row m is the
    upload time (8) when the partition point is m* = m (row M uploads nothing).
    """
    inst = read_instance(instance)
    info = describe(inst, device)
    if as_json:
        click.echo(json.dumps(info, indent=2, allow_nan=False))
        return
    click.echo(f"Instance {inst.name}: {inst.N} MDs, seed {inst.seed}, bits per element {inst.bits_per_element:g}, "
               f"price scale {inst.price_scale:g}, deadline policy {inst.deadline_policy}")
    if inst.description:
        click.echo(f"  {inst.description}")
    same = lambda v: _g(v[0], 6) if len(set(v)) == 1 else ", ".join(_g(x, 6) for x in v)  # noqa: E731
    if inst.K > 1:
        click.echo(f"\nServers ({inst.K}; capacity mode {inst.servers[0].capacity_mode})")
        echo_table(pd.DataFrame([dict(
            name=sv["name"], H=sv["H"], T_d_s=_g(sv["T_d_s"], 6), slot_len_s=_g(sv["slot_len_s"], 6), B=sv["B"],
            f_s=_g(sv["f_s_cycles_per_s"], 6), a_h=same(sv["a_h"]), b_h=same(sv["b_h"]), P_s_w=_g(sv["P_s_w"], 6),
            position="-" if sv["position"] is None else f"({_g(sv['position'][0], 6)}, {_g(sv['position'][1], 6)})",
            devices_reaching=sv["devices_reaching"]) for sv in info["servers"]]))
    else:
        click.echo("\nServer")
        s = info["server"]
        echo_table(pd.DataFrame([
            ("H (slots)", s["H"]), ("T_d (s)", _g(s["T_d_s"], 6)), ("T_d/H (s)", _g(s["slot_len_s"], 6)),
            ("B (parallel limit)", s["B"]), ("f_s (cycles/s)", _g(s["f_s_cycles_per_s"], 6)),
            ("a_h", same(s["a_h"])), ("b_h", same(s["b_h"])), ("P_s (W)", _g(s["P_s_w"], 6)),
            ("capacity mode", s["capacity_mode"]),
        ], columns=["parameter", "value"]))
    click.echo("\nDevices")
    cols = ["name", "dnn", "layers", "rate_up_bps", "rate_down_bps", "download_s", "fully_local_s",
            "fastest_delay_s", "deadline_s", "deadline_relaxed", "delta_cycles_per_bit", "alpha", "beta", "gamma"]
    if inst.K > 1:
        cols.insert(2, "servers")
        echo_table(pd.DataFrame([{k: (", ".join(d[k]) if k == "servers" else d[k]) for k in cols}
                                 for d in info["devices"]]))
        click.echo("(rates, download time and the layer tables below: on the link to the first server a device "
                   "reaches; fastest_delay_s: the least over its servers)")
        click.echo("\nLinks (device, server)")
        echo_table(pd.DataFrame([row for d in info["devices"] for row in d["links"]]))
    else:
        echo_table(pd.DataFrame([{k: d[k] for k in cols} for d in info["devices"]]))
    for d in info["devices"]:
        relaxed = "relaxed" if d["deadline_relaxed"] else ("hard" if d["deadline_feasible"] else "NOT MET")
        if d.get("deadline_penalty_per_s") is not None:
            relaxed = f"soft, {_g(d['deadline_penalty_per_s'])} per s over" + (
                "" if d["deadline_feasible"] else ", NOT MET alone")
        click.echo(f"\nDevice {d['name']} ({d['dnn']}, {d['layers']} layers): fully local {_g(d['fully_local_s'])} s, "
                   f"all layers on the server {_g(d['fully_server_compute_s'])} s of computing, "
                   f"fastest possible delay {_g(d['fastest_delay_s'])} s, "
                   f"deadline {_g(d['deadline_s'])} s ({relaxed}); "
                   f"upload {_g(d['rate_up_bps'], 6)} bit/s, download {_g(d['rate_down_bps'], 6)} bit/s, "
                   f"download time {_g(d['download_s'])} s"
                   + (f" (link to server {d['link_server']})" if "link_server" in d else ""))
        echo_table(pd.DataFrame(d["layer_table"]))


commands = [inspect_cmd]
