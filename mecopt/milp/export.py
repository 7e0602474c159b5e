"""Export the GTPOS or best-response MILP exactly as mecopt solves it (MPS or LP), with a sidecar JSON.

The model file is Pyomo's own writer applied to the model :func:`mecopt.milp.gtpos.build_model`
(or :class:`mecopt.milp.best_response.MILPDevice`) builds, with symbolic names. The sidecar
``FILE.json`` maps every y variable name to the devices, layer m and slot h it stands for
(``y[n,m,h]`` for a class of one MD; for a class of k identical MDs the variable counts how many
of them run layer m in slot h), every flow variable to its class and arc, and records the
settings needed to rebuild the networks, so that :func:`profile_from_values` turns any solver's
values of the flow variables back into a profile (one path per MD) for ``mecopt check``.

With several servers (docs/multiserver.md) the slot index of y is a column (server, slot):
each y entry also names its ``server`` and the sidecar lists the ``columns``;
:func:`assignment_from_values` returns the servers with the profile. The best-response export
then needs ``server``: problem (28) on that server's view.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mecopt.core.errors import InputError
from mecopt.core.files import atomic_write_returning, write_text
from mecopt.core.instance import Instance
from mecopt.core.options import check_choice
from mecopt.milp.classes import servers

FORMATS = ("mps", "lp")
PROBLEMS = ("gtpos", "best-response")


def _labels(model, path: Path, fmt: str) -> dict[int, str]:
    """Write ``model`` to ``path`` atomically (Pyomo's writer on a temporary file, then a rename); its symbol map."""
    _, smap_id = atomic_write_returning(path, lambda tmp: model.write(str(tmp), format=fmt, io_options={
        "symbolic_solver_labels": True})[1])
    smap = model.solutions.symbol_map[smap_id]
    return dict(smap.byObject)


def export_model(instance: Instance, out: str | Path, *, problem: str = "gtpos", fmt: str = "mps",
                 objective: str = "delay", device: int | None = None, aggregate: bool = True,
                 canonical: bool | None = None, server: str | None = None) -> tuple[Path, Path]:
    """Write the MILP to ``out`` and the sidecar to ``out`` + ``.json``; returns both paths.

    ``problem="best-response"`` exports device ``device``'s problem (28) against the other MDs all
    local (empty aggregates), with its deadline rule; ``objective``/``aggregate`` are GTPOS's.
    With several servers, ``server`` (a name) selects the server of the best-response problem
    (one the device reaches); it is an error for GTPOS and with one server.

    Parameters
    ----------
    instance : Instance
        The instance.
    out : str or Path
        The model file to write.
    problem : str, default 'gtpos'
        ``gtpos`` or ``best-response``.
    fmt : str, default 'mps'
        ``mps`` or ``lp``.
    objective : str, default 'delay'
        The GTPOS objective: ``delay``, ``energy`` or ``social``.
    device : int or None, default None
        The device of a best-response problem.
    aggregate : bool, default True
        Whether identical MDs share one class (GTPOS).
    canonical : bool or None, default None
        Keep only the fewest-blocks packing of each partition (None: on in ``per_device`` mode, where it is exact).
    server : str or None, default None
        The server of a best-response problem (several servers).

    Returns
    -------
    tuple[Path, Path]
        (model file, sidecar file).

    Raises
    ------
    InputError
        For a bad problem, format, device or server, or a file that cannot be written (named; both files are
        written atomically: a full disk leaves no partial file under either name).
    """
    check_choice("problem", problem, PROBLEMS)
    check_choice("format", fmt, FORMATS)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sidecar = out.with_name(out.name + ".json")
    if problem == "gtpos":
        from mecopt.milp.gtpos import build_model

        if device is not None:
            raise InputError("The 'device' option applies to --problem best-response only.")
        if server is not None:
            raise InputError("The 'server' option applies to --problem best-response only.")
        model = build_model(instance, objective, canonical, aggregate)
        labels = _labels(model, out, fmt)
        y, flows, classes = {}, {}, []
        names_k = [sv.name for sv in servers(instance)] if instance.K > 1 else None   # presentation only
        for k, net in enumerate(model.nets):
            b = model.cls[k]
            names = [instance.devices[n].name for n in net.members]
            classes.append(dict(devices=names, count=net.count, n_arcs=net.n_arcs))
            for (mm, h), v in b.y.items():
                if id(v) in labels:
                    if names_k is None:
                        y[labels[id(v)]] = dict(devices=names, layer=int(mm), slot=int(h))
                    else:   # column h = (server, slot); 0 = local
                        srv, slot = model.columns[h - 1] if h else (None, 0)
                        y[labels[id(v)]] = dict(devices=names, layer=int(mm), column=int(h), slot=int(slot),
                                                server=None if srv is None else names_k[srv])
            for a, v in b.f.items():
                if id(v) in labels:
                    flows[labels[id(v)]] = dict(cls=k, arc=int(a))
        doc = dict(problem=problem, instance=instance.name, objective=objective, sense="minimize",
                   objective_weight=model.weight, aggregate=aggregate,
                   canonical=bool(canonical if canonical is not None else
                                  servers(instance)[0].capacity_mode == "per_device"),
                   capacity_mode=servers(instance)[0].capacity_mode, classes=classes, y=y, flows=flows)
        if names_k is not None:
            doc["columns"] = [dict(column=g + 1, server=names_k[k], slot=h) for g, (k, h) in enumerate(model.columns)]
    else:
        from mecopt.core.problem import Aggregates, enforces_deadline
        from mecopt.milp.best_response import MILPDevice

        if device is None or not (0 <= device < instance.N):
            raise InputError(f"The 'device' option must be a device index 0..{instance.N - 1} for "
                             f"--problem best-response. Got {device!r} instead.")
        dev = instance.devices[device]
        if instance.K > 1:
            reach = [servers(instance)[k].name for k in instance.reachable(device)]
            if server is None or server not in reach:
                raise InputError(f"The 'server' option must name a server device {dev.name} reaches "
                                 f"({', '.join(reach)}) for --problem best-response with several servers. "
                                 f"Got {server!r} instead.")
        elif server is not None:
            raise InputError("The 'server' option applies to instances with several servers only.")
        v = instance.view(0 if server is None else instance.server_index(server))
        dev, srv = v.instance.devices[int(v.local[device])], v.server
        md = MILPDevice(dev, srv)
        md.set_params(Aggregates.empty(srv.H), enforces_deadline(dev))
        labels = _labels(md.model, out, fmt)
        y = {labels[id(v)]: dict(devices=[dev.name], layer=int(mm), slot=int(h))
             for (mm, h), v in md.model.y.items() if id(v) in labels}
        doc = dict(problem=problem, instance=instance.name, device=dev.name, sense="minimize",
                   objective_scale=md.scale, others="all local (empty aggregates)", y=y)
        if server is not None:
            doc["server"] = server
    write_text(sidecar, json.dumps(doc, indent=1))
    return out, sidecar


def profile_from_values(instance: Instance, sidecar: str | Path | dict, values: dict[str, float]) -> list[np.ndarray]:
    """A GTPOS profile from a solver's variable values (by exported name), via the sidecar.

    With several servers use :func:`assignment_from_values` (the servers too).

    Parameters
    ----------
    instance : Instance
        The instance.
    sidecar : str or Path or dict
        The sidecar written by :func:`export_model` (a path or its parsed content).
    values : dict[str, float]
        Exported variable name -> value.

    Returns
    -------
    list[numpy.ndarray]
        One strategy per MD.

    Raises
    ------
    InputError
        When the sidecar does not fit the instance or values are missing.
    """
    if instance.K > 1:
        raise InputError("profile_from_values: the instance has several servers; use assignment_from_values, "
                         "which returns each device's server with the profile")
    return assignment_from_values(instance, sidecar, values)[0]


def assignment_from_values(instance: Instance, sidecar: str | Path | dict,
                           values: dict[str, float]) -> tuple[list[np.ndarray], np.ndarray | None]:
    """(profile, server_of) from a solver's variable values (by exported name), via the sidecar.

    ``server_of`` is None with one server (docs/multiserver.md).

    Parameters
    ----------
    instance : Instance
        The instance.
    sidecar : str or Path or dict
        The sidecar written by :func:`export_model` (a path or its parsed content).
    values : dict[str, float]
        Exported variable name -> value.

    Returns
    -------
    tuple[list[numpy.ndarray], numpy.ndarray | None]
        (profile, server_of); ``server_of`` None with one server.

    Raises
    ------
    InputError
        When the sidecar does not fit the instance or values are missing.
    """
    from mecopt.milp.classes import assignment_from_flows, class_networks

    doc = sidecar if isinstance(sidecar, dict) else json.loads(Path(sidecar).read_text())
    if doc.get("problem") != "gtpos":
        raise InputError("profile_from_values reads GTPOS exports only")
    nets = class_networks(instance, doc["objective"], doc["aggregate"],
                          None if doc.get("canonical") is None else bool(doc["canonical"]))
    flows = [np.zeros(net.n_arcs) for net in nets]
    for name, where in doc["flows"].items():
        flows[where["cls"]][where["arc"]] = values.get(name, 0.0)
    return assignment_from_flows(instance, nets, flows)
