"""Predicted against measured: per device, per slot, per layer, and a summary of the model's error (issue 25).

Predicted figures are the instance's (eqs. 8-10, 24 and the delay sets of
eqs. 5-7); each device's T_n (24) is split into local (the head, layers
1..m*), upload (8), waiting ((h_first - 1) T_d/H: the slots before its first
one), server ((h_max - h_first + 1) T_d/H) and download (10). Measured: the
head's median run, the shaped transfers, and on the server's clock the first
layer's start (waiting), then until the release (``slot-end``: the end of slot
h_max or the last layer's end if later; ``done``: the last layer's end).

A slot *overruns* when a device's layers in it end after the slot does. The
*parallel slowdown* of a slot is the server time its layers took in the frame
over what they took alone (each device's tail timed alone before the frame).
"""

from __future__ import annotations

import pandas as pd

from mecopt.byo.execution.runner import Execution


def _device_numbers(ex: Execution, n: int):
    inst = ex.solution.instance
    k = max(0, ex.devices[n].server)
    view = inst.view(k)
    return view.instance.devices[int(view.local[n])], view.server


def devices_table(ex: Execution) -> pd.DataFrame:
    """One row per device: predicted and measured T_n and its parts [s], sizes [bits], relative error.

    Parameters
    ----------
    ex : Execution
        The executed plan.

    Returns
    -------
    pandas.DataFrame
    """
    inst = ex.solution.instance
    rows = []
    for r in ex.devices:
        dev, server = _device_numbers(ex, r.index)
        s = server.slot_len
        mine = [x for x in ex.records.get(r.server, []) if x["device"] == r.index]
        row = {"device": dev.name, "dnn": dev.dnn, "server": inst.servers[r.server].name if r.server >= 0 else "",
               "m_star": r.m, "M": dev.M}
        pred = {"local": float(dev.local_cum[r.m])}
        meas = {"local": r.local_s}
        if r.server >= 0 and mine:
            h_first, h_max = r.blocks[0][0], r.blocks[-1][0]
            first = min(x["start"] for x in mine)
            done = max(x["end"] for x in mine)
            release = max(done, h_max * s) if ex.settings["release"] == "slot-end" else done
            pred.update(upload=float(dev.t_up[r.m]), waiting=(h_first - 1) * s, server=(h_max - h_first + 1) * s,
                        download=float(dev.t_down))
            meas.update(upload=r.upload_s, waiting=first, server=release - first, download=r.download_s)
            row.update(h_first=h_first, h_max=h_max, done_s=done,
                       pred_compute_s=float(sum(dev.t_server[m] for _, ls in r.blocks for m in ls)),
                       meas_compute_s=float(sum(x["end"] - x["start"] for x in mine)),
                       solo_compute_s=float(sum(_solo(ex, x) for x in mine)))
        else:
            for part in ("upload", "waiting", "server", "download"):
                pred[part] = meas[part] = 0.0
        for part in ("local", "upload", "waiting", "server", "download"):
            row[f"pred_{part}_s"] = pred[part]
            row[f"meas_{part}_s"] = meas[part]
        row["pred_T_s"] = float(cost_delay(ex, r.index))
        row["meas_T_s"] = float(sum(meas.values()))
        row["error"] = row["meas_T_s"] / row["pred_T_s"] - 1.0 if row["pred_T_s"] > 0 else float("nan")
        row.update(up_bits_model=float(dev.out_bits[r.m]) if r.server >= 0 else 0.0, up_bits_real=r.up_bits,
                   down_bits_model=float(dev.out_bits[dev.M]) if r.server >= 0 else 0.0, down_bits_real=r.down_bits,
                   split_error=r.split_error)
        rows.append(row)
    return pd.DataFrame(rows)


def _solo(ex: Execution, record: dict) -> float:
    """Seconds the segment of a frame record took alone on the server."""
    return ex.devices[record["device"]].solo.get(f"{record['first']}-{record['last']}", float("nan"))


def cost_delay(ex: Execution, n: int) -> float:
    """T_n (24) of device n as the solution's evaluation gives it [s].

    Parameters
    ----------
    ex : Execution
        The executed plan.
    n : int
        Device index.

    Returns
    -------
    float
    """
    return float(ex.solution.evaluation.delay[n])


def slots_table(ex: Execution) -> pd.DataFrame:
    """One row per server and slot: predicted load and measured times, overrun and parallel slowdown.

    Parameters
    ----------
    ex : Execution
        The executed plan.

    Returns
    -------
    pandas.DataFrame
        ``pred_load_s`` (sum of T^se of its layers, eq. 17 with capacity_mode total), ``pred_max_device_s``
        (the largest device share, eq. 17 per_device), ``meas_busy_s`` / ``solo_s`` (summed layer times in the
        frame / alone), ``meas_end_s`` (latest layer end from the slot start), ``overrun_s``, ``slowdown``.
    """
    inst = ex.solution.instance
    rows = []
    for k, recs in sorted(ex.records.items()):
        server = inst.servers[k]
        s = server.slot_len
        for h in range(1, server.H + 1):
            here = [x for x in recs if x["slot"] == h]
            names, pred, per_dev = [], 0.0, []
            for n in sorted({x["device"] for x in here}):
                dev, _ = _device_numbers(ex, n)
                layers = [m for hh, ls in ex.devices[n].blocks if hh == h for m in ls]
                t = float(sum(dev.t_server[m] for m in layers))
                names.append(dev.name)
                pred += t
                per_dev.append(t)
            solo = float(sum(_solo(ex, x) for x in here))
            busy = float(sum(x["end"] - x["start"] for x in here))
            end = max((x["end"] for x in here), default=(h - 1) * s) - (h - 1) * s
            rows.append({"server": server.name, "slot": h, "devices": len(names), "device_names": " ".join(names),
                         "B": server.B, "slot_len_s": s, "pred_load_s": pred,
                         "pred_max_device_s": max(per_dev, default=0.0), "meas_busy_s": busy, "solo_s": solo,
                         "meas_end_s": end if here else 0.0, "overrun_s": max(0.0, end - s) if here else 0.0,
                         "overran": bool(here) and end > s,
                         "wait_gate_s": max((x["wait"] for x in here), default=0.0),
                         "slowdown": busy / solo if solo > 0 else float("nan")})
    return pd.DataFrame(rows)


def layers_table(ex: Execution) -> pd.DataFrame:
    """One row per layer of every device: where it ran, predicted and measured time [s].

    Parameters
    ----------
    ex : Execution
        The executed plan.

    Returns
    -------
    pandas.DataFrame
        ``meas_s``: the layer's measured time, from ``meas_from``: ``head`` (the head's layers one at a time,
        median), ``frame`` (the layer ran as a segment of its own in the frame) or ``alone`` (on the server, alone,
        when the frame ran it inside a block); ``solo_s``: the server layer alone.
    """
    rows = []
    for r in ex.devices:
        dev, _ = _device_numbers(ex, r.index)
        frame = {x["first"]: x for x in ex.records.get(r.server, []) if x["device"] == r.index
                 and x["first"] == x["last"]}
        slot_of = {m: h for h, ls in r.blocks for m in ls}
        for m in range(1, dev.M + 1):
            local = m <= r.m
            solo = r.solo.get(f"{m}-{m}", float("nan")) if not local else float("nan")
            if local:
                meas, source = r.head_layers.get(m, float("nan")), "head"
            elif m in frame:
                meas, source = frame[m]["end"] - frame[m]["start"], "frame"
            else:
                meas, source = solo, "alone"
            pred = float(dev.t_local[m] if local else dev.t_server[m])
            rows.append({"device": dev.name, "layer": m, "name": dev.layer_names[m - 1],
                         "where": "local" if local else f"slot {slot_of.get(m, '?')}", "pred_s": pred, "meas_s": meas,
                         "meas_from": source, "solo_s": solo, "ratio": meas / pred if pred > 0 else float("nan")})
    return pd.DataFrame(rows)


def concurrency(ex: Execution) -> pd.DataFrame:
    """One row per segment run on a server: how many devices were computing at its midpoint, frame and solo time.

    Parameters
    ----------
    ex : Execution
        The executed plan.

    Returns
    -------
    pandas.DataFrame
        Columns server, device, slot, first, last, ``concurrent`` (devices computing at the segment's midpoint,
        itself included), ``meas_s`` and ``solo_s``.
    """
    rows = []
    for k, recs in sorted(ex.records.items()):
        for r in recs:
            mid = 0.5 * (r["start"] + r["end"])
            busy = {x["device"] for x in recs if x["start"] <= mid < x["end"]} | {r["device"]}
            rows.append({"server": k, "device": r["device"], "slot": r["slot"], "first": r["first"],
                         "last": r["last"], "concurrent": len(busy), "meas_s": r["end"] - r["start"],
                         "solo_s": _solo(ex, r)})
    return pd.DataFrame(rows, columns=["server", "device", "slot", "first", "last", "concurrent", "meas_s", "solo_s"])


def summary(ex: Execution, devices: pd.DataFrame, slots: pd.DataFrame) -> dict:
    """The model's error in a few figures.

    Parameters
    ----------
    ex : Execution
        The executed plan.
    devices, slots : pandas.DataFrame
        :func:`devices_table` and :func:`slots_table`.

    Returns
    -------
    dict
        ``mae_T`` (mean |measured/predicted - 1| of T_n over devices), ``max_abs_error_T``, per part the mean
        absolute error [s], overrun count, slowdown (mean over slots, by number of devices the plan puts in the
        slot, and by the number of devices measured computing at once: time in the frame / time alone), the
        devices whose real upload or download size differs from the instance's O_{n,m}, settings.
    """
    inst = ex.solution.instance
    err = devices["error"].abs()
    parts = {p: float((devices[f"meas_{p}_s"] - devices[f"pred_{p}_s"]).abs().mean())
             for p in ("local", "upload", "waiting", "server", "download")}
    used = slots[slots["devices"] > 0] if len(slots) else slots
    by_count = ({str(int(c)): float(g["slowdown"].mean()) for c, g in used.groupby("devices")} if len(used) else {})
    conc = concurrency(ex)
    by_conc = {str(int(c)): float(g["meas_s"].sum() / g["solo_s"].sum()) for c, g in conc.groupby("concurrent")}
    offloaded = devices[devices["server"] != ""]
    up_diff = offloaded[offloaded["up_bits_model"] != offloaded["up_bits_real"]]["device"].tolist()
    down_diff = offloaded[offloaded["down_bits_model"] != offloaded["down_bits_real"]]["device"].tolist()
    return {"instance": inst.name, "method": ex.solution.method, "devices": int(len(devices)),
            "servers": int(inst.K), "B": [s.B for s in inst.servers],
            "offloading": int((devices["server"] != "").sum()),
            "mae_T": float(err.mean()), "max_abs_error_T": float(err.max()),
            "pred_avg_T_s": float(devices["pred_T_s"].mean()), "meas_avg_T_s": float(devices["meas_T_s"].mean()),
            "mean_abs_error_s": parts, "slots_used": int(len(used)),
            "overruns": int(used["overran"].sum()) if len(used) else 0,
            "slowdown_mean": float(used["slowdown"].mean()) if len(used) else float("nan"),
            "slowdown_by_devices": by_count, "slowdown_by_concurrency": by_conc, "upload_sizes_differ": up_diff,
            "download_sizes_differ": down_diff,
            "max_split_error": float(devices["split_error"].max()) if len(devices) else 0.0,
            **{f"setting_{k}": v for k, v in ex.settings.items()}}
