"""Execute a plan: the devices' heads, shaped links, one server process per server, the measurements (issue 25).

How the devices are run (the issue's point 3). Devices are separate machines,
this is one: their heads run **one at a time** in this process (ONNX Runtime,
``device_threads`` intra-op threads, optionally pinned to one CPU), each
``runs`` times after ``warmup`` runs, and the median run is the device's local
time. Every device is then placed on its own virtual timeline that starts at 0:
head, upload, frame, download. The upload is real: the cut tensor (its real
dtype and shape) is sent over TCP by a token bucket at the device's modelled
uplink rate (eq. 9), one device after the other (each device has its own link
in the model), and timed until the server acknowledges it. The frame is real
and shared: the server runs every device's tail in its slots on one clock, B
devices at most at once. As eq. (24) does, each device's frame starts when its
upload has arrived (its waiting is the time from the frame start to its first
layer). Results come back paced to the downlink rate (eq. 11), one device after
the other. A device slower than this machine is emulated by
``device_slowdown``: its measured head times are multiplied by it (the
instance's device delay set is then the calibration scaled by the same factor).
``release`` says when the server's part ends: ``slot-end`` (the
model's (h_max/H) T_d: the result is held to the end of its last slot, or
later if that slot overran) or ``done`` (as soon as the last layer ends).
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mecopt.byo.execution import protocol, split
from mecopt.byo.execution.chain import SegmentRunner, segment_model, segment_name
from mecopt.byo.execution.protocol import Message, ProtocolError
from mecopt.byo.execution.shaping import TokenBucket
from mecopt.core import cost, dnn
from mecopt.core.errors import InputError, MecoptError
from mecopt.core.slots import is_queued

RELEASES = ("slot-end", "done")
GRANULARITIES = ("block", "layer")


class ExecutionError(MecoptError):
    """The server process failed (crashed, exited, refused a message) while a plan was executed."""


@dataclass
class DeviceRun:
    """What was measured for one device.

    Attributes
    ----------
    index : int
        Device index in the instance.
    server : int
        Server index (-1: fully local).
    m : int
        Partition point m* (eq. 18).
    blocks : list of (int, list of int)
        (slot, layers) blocks on the server.
    head_layers : dict of int to float
        Median seconds of each local layer (run one layer per session).
    head_runs : list of float
        Seconds of each timed run of the head (one session for the head with granularity ``block``, else the sum
        of its layers).
    upload_s, download_s : float
        Measured transfer times (0 when nothing is offloaded).
    up_bits, down_bits : int
        Real sizes sent [bits] (tensors only; ``up_wire_bits`` / ``down_wire_bits`` with the message headers).
    up_wire_bits, down_wire_bits : int
        Bits on the wire.
    solo : dict of str to float
        Server seconds of each segment (``"first-last"``: every tail layer, and with granularity ``block`` every
        block of the plan) run alone.
    split_error : float
        Largest relative difference of head-then-tail against the whole model.
    """

    index: int
    server: int
    m: int
    blocks: list[tuple[int, list[int]]] = field(default_factory=list)
    head_layers: dict[int, float] = field(default_factory=dict)
    head_runs: list[float] = field(default_factory=list)
    upload_s: float = 0.0
    download_s: float = 0.0
    up_bits: int = 0
    down_bits: int = 0
    up_wire_bits: int = 0
    down_wire_bits: int = 0
    solo: dict[str, float] = field(default_factory=dict)
    split_error: float = 0.0

    @property
    def local_s(self) -> float:
        """The median head run [s]."""
        return float(np.median(self.head_runs)) if self.head_runs else 0.0


@dataclass
class Execution:
    """A plan executed: the solution, what each device and each server measured, and how.

    Attributes
    ----------
    solution : mecopt.core.solution.Solution
        The plan.
    devices : list of DeviceRun
        Per device.
    records : dict of int to list of dict
        Per server its frame's layer records (device, slot, layer, start, end, wait; s from the frame start).
    settings : dict
        Threads, runs, release, load averages, machine.
    """

    solution: object
    devices: list[DeviceRun]
    records: dict[int, list[dict]]
    settings: dict


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` as (host, port); InputError naming the ``--server`` option otherwise.

    Parameters
    ----------
    address : str
        The address.

    Returns
    -------
    tuple of (str, int)
    """
    host, _, p = address.rpartition(":")
    if not host or not p.isdigit() or not 0 < int(p) < 65536:
        raise InputError(f"The '--server' option must be HOST:PORT. Got {address!r} instead.")
    return host.strip("[]"), int(p)


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[3])


class ServerProcess:
    """A server process started on loopback (or an address to connect to), stopped on :meth:`close`.

    Parameters
    ----------
    threads : int
        Intra-op threads of the server's sessions.
    address : str or None, optional
        ``HOST:PORT`` of a server started elsewhere (nothing is started then).
    max_seconds : float, optional
        Lifetime bound of a started process.
    start_timeout : float, optional
        Seconds to wait for ``READY``.
    extra_args : list of str, optional
        More arguments for the started process.
    """

    def __init__(self, threads: int, address: str | None = None, max_seconds: float = 3600.0,
                 start_timeout: float = 60.0, extra_args: list[str] | None = None):
        self.proc: subprocess.Popen | None = None
        if address is None:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                [_package_root(), *filter(None, [os.environ.get("PYTHONPATH")])])}
            cmd = [sys.executable, "-m", "mecopt.byo.execution.server", "--host", "127.0.0.1", "--port", "0",
                   "--threads", str(threads), "--parent", str(os.getpid()), "--max-seconds", str(max_seconds),
                   *(extra_args or [])]
            self.errfile = tempfile.TemporaryFile()   # a file, not a pipe: the server never blocks on its stderr
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.errfile, env=env,
                                         start_new_session=True)
            port = self._ready(start_timeout)
            host = "127.0.0.1"
        else:
            host, port = parse_address(address)
        try:
            self.sock = socket.create_connection((host, port), timeout=30)
        except OSError as err:
            self.close()
            raise ExecutionError(f"cannot connect to the server at {host}:{port}: {err}") from None
        self.sock.settimeout(max_seconds)   # a server that hangs is an error after its lifetime bound, not a hang
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)   # no Nagle delay on small messages
        self.address = f"{host}:{port}"

    def _ready(self, timeout: float) -> int:
        assert self.proc is not None and self.proc.stdout is not None
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline().decode(errors="replace").strip()
                if line.startswith("READY "):
                    return int(line.split()[1])
                if not line and self.proc.poll() is not None:
                    break
            elif self.proc.poll() is not None:
                break
        why = self._stderr() if self.proc.poll() is not None else f"no READY line within {timeout:g} s"
        self.close(force=True)
        raise ExecutionError(f"the server process did not start: {why}")

    @property
    def pid(self) -> int | None:
        """Process id of a started server (None when connected to an address)."""
        return self.proc.pid if self.proc else None

    def _stderr(self) -> str:
        if self.proc is None or self.proc.poll() is None:
            return ""
        self.errfile.seek(0)
        return self.errfile.read().decode(errors="replace").strip()[-2000:] or f"exit {self.proc.returncode}"

    def request(self, msg: Message, pace: Callable[[int], None] | None = None) -> Message:
        """Send a message and read the reply; a crashed server or a refusal raises ExecutionError.

        Parameters
        ----------
        msg : Message
            The request.
        pace : callable or None, optional
            Token bucket of the send.

        Returns
        -------
        Message
        """
        try:
            return protocol.request(self.sock, msg, pace)
        except (OSError, ProtocolError) as err:
            if self.proc is not None:
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
                if self.proc.poll() is not None:
                    raise ExecutionError(f"the server process died (exit {self.proc.returncode}) during a "
                                         f"{msg.type!r} request: {self._stderr()}") from None
            raise ExecutionError(f"the server at {self.address} failed during a {msg.type!r} request: {err}") from None

    def close(self, force: bool = False) -> None:
        """Stop a started server (ask, or with ``force`` kill at once); a server given by address is only left.

        Parameters
        ----------
        force : bool, optional
            Kill a started process without asking (an interrupt or an error is unwinding).
        """
        sock = getattr(self, "sock", None)
        if force and self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if sock is not None and not force and self.proc is not None:   # a server started elsewhere keeps running
            try:
                sock.settimeout(5)
                protocol.send(sock, Message("shutdown"))
                protocol.receive(sock)
            except (OSError, ProtocolError):
                pass
        if sock is not None:
            sock.close()
            self.sock = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.errfile.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def device_spec(instance, n: int) -> dnn.DNNSpec:
    """The DNN spec of device n: a catalog name, or a spec file named in the instance document.

    ``Device.dnn`` holds the spec's name; a spec given by file is found among the ``dnn`` fields of the instance
    document (relative paths from the instance file's folder).

    Parameters
    ----------
    instance : mecopt.core.instance.Instance
        The instance.
    n : int
        Device index.

    Returns
    -------
    mecopt.core.dnn.DNNSpec

    Raises
    ------
    InputError
        When no catalog network or spec file of the instance has that name.
    """
    name = instance.devices[n].dnn
    base = Path(instance.path).parent if instance.path and Path(instance.path).is_file() else None
    src = instance.source if isinstance(instance.source, dict) else {}
    given = [e.get("dnn") for e in [src.get("device_defaults") or {}, *(src.get("devices") or [])]]
    for cand in dict.fromkeys(g for g in given if isinstance(g, str) and g.endswith(".toml")):
        try:
            spec = dnn.load_spec(dnn.resolve_path(cand, base))
        except InputError:
            continue
        if spec.name == name:
            return spec
    return dnn.load_spec(dnn.resolve_path(name, base))


def plan_blocks(slots: np.ndarray) -> list[tuple[int, list[int]]]:
    """(slot, layers) blocks of a strategy's server part, in slot order.

    Parameters
    ----------
    slots : numpy.ndarray
        The strategy (slot of each layer 1..M; 0 local).

    Returns
    -------
    list of (int, list of int)
    """
    out: dict[int, list[int]] = {}
    for m, h in enumerate(np.asarray(slots), start=1):
        if h >= 1:
            out.setdefault(int(h), []).append(m)
    return sorted(out.items())


def execute(solution, *, device_threads: int = 1, server_threads: int = 1, runs: int = 3, warmup: int = 1,
            addresses: list[str] | None = None, release: str = "slot-end", lead_s: float = 0.2,
            cpu: int | None = None, seed: int = 0, max_seconds: float = 3600.0, device_slowdown: float = 1.0,
            granularity: str = "block", onnx_models: dict[str, str] | None = None,
            server_args: list[str] | None = None,
            progress: Callable[[str], None] | None = None) -> Execution:
    """Execute a solution with real inference: heads here, tails on one server process per server.

    Parameters
    ----------
    solution : mecopt.core.solution.Solution
        The plan (any method's; queued devices, Case 3, are refused).
    device_threads : int, optional
        Intra-op threads of a head (the device of eq. 6: 1).
    server_threads : int, optional
        Intra-op threads of each tail session on the server.
    runs, warmup : int, optional
        Timed and untimed runs of every head and of every tail alone.
    addresses : list of str or None, optional
        ``HOST:PORT`` of each server (in ``instance.servers`` order) started elsewhere; default: started here on
        loopback.
    release : {"slot-end", "done"}, optional
        When the server part of a device ends (module docstring).
    lead_s : float, optional
        Seconds between the ``run`` message and the frame start.
    cpu : int or None, optional
        CPU the heads are pinned to.
    seed : int, optional
        Seed of weights and inputs.
    max_seconds : float, optional
        Lifetime bound of each server process.
    device_slowdown : float, optional
        Devices emulated as this many times slower than this machine: every measured head time is multiplied by it
        (the instance's device delay set should be the calibration scaled alike; ``docs/execute.md``).
    granularity : {"block", "layer"}, optional
        ``block``: the head, and each slot's block of layers, run as one session (layer boundaries kept, as in the
        calibration); per-layer times come from the layers run alone. ``layer``: one session per layer everywhere.
    onnx_models : dict of str to str or None, optional
        A DNN (the devices' ``dnn`` field or the spec's name) -> its ONNX file, used instead of a graph built from
        the spec (:func:`mecopt.byo.execution.split.from_onnx`; the layers must match the spec's).
    server_args : list of str or None, optional
        More arguments for started server processes (tests).
    progress : callable or None, optional
        Called with a line of progress.

    Returns
    -------
    Execution

    Raises
    ------
    InputError
        On a bad option, a queued device, or a DNN that cannot be built.
    ExecutionError
        When a server process fails.
    """
    inst = solution.instance
    if granularity not in GRANULARITIES:
        raise InputError(f"The 'granularity' option must be one of {', '.join(GRANULARITIES)}. "
                         f"Got {granularity!r} instead.")
    if release not in RELEASES:
        raise InputError(f"The 'release' option must be one of {', '.join(RELEASES)}. Got {release!r} instead.")
    for name, v in (("device_threads", device_threads), ("server_threads", server_threads), ("runs", runs)):
        if not isinstance(v, int) or v < 1:
            raise InputError(f"The '{name}' option must be an integer >= 1. Got {v!r} instead.")
    if not (isinstance(device_slowdown, int | float) and 0 < device_slowdown <= 1e6):
        raise InputError(f"The 'device_slowdown' option must be a number > 0. Got {device_slowdown!r} instead.")
    if not isinstance(warmup, int) or warmup < 0:
        raise InputError(f"The 'warmup' option must be an integer >= 0. Got {warmup!r} instead.")
    if not isinstance(seed, int) or seed < 0:
        raise InputError(f"The 'seed' option must be an integer >= 0. Got {seed!r} instead.")
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    if cpu is not None and allowed is not None and cpu not in allowed:
        raise InputError(f"The '--cpu' option must be a CPU this process may run on ({', '.join(map(str, allowed))}). "
                         f"Got {cpu!r} instead.")
    say = progress or (lambda s: None)
    servers_of = cost.effective_servers(inst, solution.profile, solution.server_of)
    grouped = inst.source.get("model", {}).get("grouped_conv", "auto") if isinstance(inst.source, dict) else "auto"
    for n, slots in enumerate(solution.profile):
        if any(is_queued(np.asarray(slots), s.H) for s in inst.servers):
            raise InputError(f"device {inst.devices[n].name} is queued after the frame (Case 3): "
                             "execute runs plans whose layers are all local or in slots 1..H")
    if addresses is not None:
        if len(addresses) != inst.K:
            raise InputError(f"The '--server' option must be given once per server ({inst.K}), got {len(addresses)}")
        for a in addresses:
            parse_address(a)

    models: dict[str, split.LayeredModel] = {}
    runs_of: list[DeviceRun] = []
    heads: dict[int, dict[str, np.ndarray]] = {}
    affinity = None
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        affinity = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {cpu})
    try:
        for n, dev in enumerate(inst.devices):
            slots = np.asarray(solution.profile[n])
            spec = device_spec(inst, n)
            if spec.name not in models:
                given = (onnx_models or {}).get(dev.dnn) or (onnx_models or {}).get(spec.name)
                models[spec.name] = split.from_onnx(given) if given else split.from_spec(spec, grouped, seed)
            lm = models[spec.name]
            if lm.M != dev.M:
                raise InputError(f"device {dev.name}: its DNN {dev.dnn} has {lm.M} layers in ONNX, {dev.M} in the "
                                 "instance")
            m = cost.partition_point(slots)
            run = DeviceRun(n, int(servers_of[n]) if m < dev.M else -1, m, plan_blocks(slots))
            run.split_error = split.check_split(lm, m, seed)
            env: dict[str, np.ndarray] = {}
            if m >= 1:
                say(f"{dev.name}: head of {m} layer(s) of {lm.name}, {runs} run(s)")
                layers = [(i, i) for i in range(1, m + 1)]
                whole = [(1, m)] if granularity == "block" else layers
                head = SegmentRunner({seg: segment_model(lm, seg) for seg in dict.fromkeys(layers + whole)},
                                     device_threads, seed=seed)
                for _ in range(warmup):
                    head.run(layers, {})
                    head.run(whole, {})
                per_layer, totals = [], []
                for _ in range(runs):   # interleaved: both see the same load
                    per_layer.append(head.run(layers, {}))
                    env = {}
                    totals.append(sum(head.run(whole, env).values()))
                run.head_layers = {i: device_slowdown * float(np.median([t[(i, i)] for t in per_layer]))
                                   for i in range(1, m + 1)}
                run.head_runs = [device_slowdown * float(t) for t in totals]
            for t in lm.boundary(m):
                if t not in env:
                    shape, dtype = lm.graph_inputs[t]
                    env[t] = split.free_value(t, shape, dtype, seed)
            heads[n] = {t: env[t] for t in lm.boundary(m)}
            runs_of.append(run)
    finally:
        if affinity is not None:
            os.sched_setaffinity(0, affinity)

    records: dict[int, list[dict]] = {}
    used = sorted({r.server for r in runs_of if r.server >= 0})
    procs: dict[int, ServerProcess] = {}
    try:
        for k in used:
            procs[k] = ServerProcess(server_threads, addresses[k] if addresses else None, max_seconds,
                                     extra_args=server_args)
            if procs[k].pid is not None:
                say(f"server process started, pid {procs[k].pid}")
            hello = procs[k].request(Message("hello"))
            say(f"server {inst.servers[k].name}: pid {hello.fields.get('pid')} at {procs[k].address}, "
                f"{server_threads} thread(s)")
        for r in runs_of:
            if r.server < 0:
                continue
            lm = models[device_spec(inst, r.index).name]
            say(f"{inst.devices[r.index].name}: tail of {lm.M - r.m} layer(s) to server {inst.servers[r.server].name}")
            segs = [(i, i) for i in range(r.m + 1, lm.M + 1)]
            if granularity == "block":
                segs += [(ls[0], ls[-1]) for _, ls in r.blocks if len(ls) > 1]
            blobs = {f"seg:{segment_name(seg)}": segment_model(lm, seg) for seg in segs}
            got = procs[r.server].request(Message("load", {"device": r.index, "runs": runs, "warmup": warmup,
                                                           "final": lm.final_output}, blobs=blobs))
            r.solo = {str(i): float(t) for i, t in got.fields["solo"].items()}
        for k in used:
            view = inst.view(k)
            mine = [r for r in runs_of if r.server == k]
            procs[k].request(Message("plan", {"slot_len": view.server.slot_len, "B": view.server.B,
                                              "blocks": {str(r.index): [[h, ls] for h, ls in r.blocks]
                                                         for r in mine}}))
            for r in mine:
                dev = view.instance.devices[int(view.local[r.index])]
                msg = Message("input", {"device": r.index}, arrays=heads[r.index])
                r.up_bits = 8 * sum(a.nbytes for a in heads[r.index].values())
                r.up_wire_bits = 8 * msg.nbytes()
                t0 = time.perf_counter()
                procs[k].request(msg, TokenBucket(dev.rate_up))
                r.upload_s = time.perf_counter() - t0
            say(f"server {inst.servers[k].name}: frame of {view.server.H} slot(s) of {view.server.slot_len:.4g} s")
            records[k] = procs[k].request(Message("run", {"lead_s": lead_s})).fields["records"]
            for r in mine:
                dev = view.instance.devices[int(view.local[r.index])]
                t0 = time.perf_counter()
                res = procs[k].request(Message("result", {"device": r.index, "rate_bps": dev.rate_down}))
                r.download_s = time.perf_counter() - t0
                r.down_bits = 8 * sum(a.nbytes for a in res.arrays.values())
                r.down_wire_bits = 8 * res.nbytes()
    except BaseException:
        for p in procs.values():
            p.close(force=True)
        raise
    for p in procs.values():
        p.close()
    import onnxruntime
    settings = {"device_threads": device_threads, "device_slowdown": device_slowdown, "granularity": granularity,
                "server_threads": server_threads, "runs": runs, "warmup": warmup,
                "release": release, "cpu": cpu, "seed": seed, "servers_started": addresses is None,
                "onnxruntime": onnxruntime.__version__, "cpus": os.cpu_count(),
                "load": tuple(round(x, 2) for x in os.getloadavg()) if hasattr(os, "getloadavg") else None}
    return Execution(solution, runs_of, records, settings)
