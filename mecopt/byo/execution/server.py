"""The server process of ``mecopt execute``: tails run in the slots the plan assigns (issue 25, point 2).

Started by the command (``python -m mecopt.byo.execution.server``), it listens
on ``--host`` (loopback unless told otherwise), prints ``READY <port>`` and
answers one connection at a time with the messages of
:mod:`mecopt.byo.execution.protocol`:

``hello``
    ``ok`` with the process id, thread count and ONNX Runtime version.
``load`` (``device``, ``final``, ``runs``, ``warmup``, one byte part ``seg:<first>-<last>`` per segment)
    builds one session per segment (a layer, or a block of layers;
    :class:`~mecopt.byo.execution.chain.SegmentRunner`, ``--threads`` intra-op
    threads) and times each alone: ``ok`` with ``solo`` (s per segment).
``plan`` (``slot_len``, ``B``, ``blocks``: per device a list of ``[slot, [layers]]``)
    a block runs as its own segment when one was loaded, else layer by layer;
    refused when a slot holds more than B devices or names what was not loaded.
``input`` (``device``, arrays)
    the cut tensors; ``ok`` once all are read.
``run`` (``lead_s``)
    runs the frame: it starts ``lead_s`` after the message; device n's layers of
    slot h start at ``(h-1) slot_len`` (or when its previous block ends, if that
    overran), at most B devices compute at once (a semaphore); ``frame`` with one
    record per segment run (device, slot, first and last layer, start, end in s
    from the frame start, and the wait for the semaphore).
``result`` (``device``, ``rate_bps``)
    the device's network output, sent paced to ``rate_bps`` (eq. 11) by a token bucket.
``shutdown``
    ``ok``, then the process exits 0.

Bounds: at most ``--max-requests`` messages and ``--max-seconds`` in all, an idle
connection is closed after ``--idle-seconds``, payloads over ``--max-payload``
are refused, and the process exits when the process that started it
(``--parent``) is gone. A malformed message is answered with ``error`` naming
what is wrong and the connection is closed. ``--crash-after N`` (tests only)
makes the process die abruptly on its N-th message.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time

import numpy as np

from mecopt.byo.execution.chain import Segment, SegmentRunner, parse_segment, segment_name
from mecopt.byo.execution.protocol import MAX_PAYLOAD, Message, ProtocolError, receive, send
from mecopt.byo.execution.shaping import TokenBucket

#: longest frame the server runs [s]
MAX_FRAME_S = 3600.0


class _Refused(Exception):
    """A well-formed message the server cannot act on (answered with ``error``, the connection stays)."""


def _get(msg: Message, name: str, kind, what: str = ""):
    v = msg.fields.get(name)
    if not isinstance(v, kind) or isinstance(v, bool):
        raise ProtocolError(f"malformed {msg.type!r} message: field {name!r} must be {what or kind.__name__}")
    return v


class Server:
    """The state of one server process: loaded tails, the plan, received inputs, the last frame.

    Parameters
    ----------
    threads : int
        Intra-op threads of every session.
    max_payload : int
        Largest payload accepted [bytes].
    """

    def __init__(self, threads: int, max_payload: int = MAX_PAYLOAD):
        self.threads = threads
        self.max_payload = max_payload
        self.runners: dict[int, SegmentRunner] = {}
        self.final: dict[int, str] = {}
        self.env: dict[int, dict[str, np.ndarray]] = {}
        self.blocks: dict[int, list[tuple[int, list[Segment]]]] = {}
        self.slot_len = 0.0
        self.B = 1
        self.stop = threading.Event()

    def handle(self, msg: Message) -> Message | None:
        """Answer one message (None: shut down after replying ``ok``).

        Parameters
        ----------
        msg : Message
            The request.

        Returns
        -------
        Message or None
        """
        handler = getattr(self, f"_on_{msg.type}", None)
        if handler is None:
            raise ProtocolError(f"malformed message: unknown type {msg.type!r}")
        return handler(msg)

    def _on_hello(self, msg: Message) -> Message:
        import onnxruntime
        return Message("ok", {"pid": os.getpid(), "threads": self.threads, "onnxruntime": onnxruntime.__version__,
                              "cpus": os.cpu_count()})

    def _on_load(self, msg: Message) -> Message:
        n = _get(msg, "device", int)
        runs, warmup = _get(msg, "runs", int), _get(msg, "warmup", int)
        if not (1 <= runs <= 1000 and 0 <= warmup <= 1000):
            raise ProtocolError("malformed 'load' message: runs must be 1..1000 and warmup 0..1000")
        final = _get(msg, "final", str, "a tensor name")
        segments = {}
        for name, blob in msg.blobs.items():
            kind, _, rest = name.partition(":")
            seg = parse_segment(rest) if kind == "seg" else None
            if seg is None:
                raise ProtocolError(f"malformed 'load' message: part {name!r} is not 'seg:<first>-<last>'")
            segments[seg] = blob
        if not segments:
            raise ProtocolError("malformed 'load' message: no segment")
        try:
            runner = SegmentRunner(segments, self.threads)
        except Exception as err:  # ORT's own words on a model it cannot load
            raise _Refused(f"device {n}: cannot load its layers ({type(err).__name__}: {err})") from None
        solo = runner.time_alone(runs, warmup)
        self.runners[n], self.final[n] = runner, final
        return Message("ok", {"solo": {segment_name(seg): t for seg, t in solo.items()}})

    def _on_plan(self, msg: Message) -> Message:
        slot_len = msg.fields.get("slot_len")
        if not isinstance(slot_len, int | float) or not 0 < slot_len <= MAX_FRAME_S:
            raise ProtocolError(f"malformed 'plan' message: slot_len must be a number in (0, {MAX_FRAME_S}]")
        B = _get(msg, "B", int)
        raw = _get(msg, "blocks", dict, "an object")
        blocks: dict[int, list[tuple[int, list[Segment]]]] = {}
        per_slot: dict[int, set[int]] = {}
        for key, seq in raw.items():
            if not key.isdigit() or not isinstance(seq, list):
                raise ProtocolError("malformed 'plan' message: blocks must map device numbers to lists")
            n = int(key)
            if n not in self.runners:
                raise _Refused(f"the plan names device {n}, whose layers were not loaded")
            out = []
            for item in seq:
                if (not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], int)
                        or not isinstance(item[1], list) or not all(isinstance(m, int) for m in item[1])):
                    raise ProtocolError("malformed 'plan' message: a block is [slot, [layers]]")
                h, layers = item
                loaded = self.runners[n].sessions
                whole = (min(layers), max(layers)) if layers else None
                segs = [whole] if whole in loaded else [(m, m) for m in layers]
                missing = [segment_name(seg) for seg in segs if seg not in loaded]
                if h < 1 or not layers or missing:
                    raise _Refused(f"device {n}: slot {h}, segments {missing or layers} not loaded")
                out.append((h, segs))
                per_slot.setdefault(h, set()).add(n)
            blocks[n] = sorted(out)
        crowded = {h: sorted(ns) for h, ns in per_slot.items() if len(ns) > B}
        if crowded:
            raise _Refused(f"the plan puts more than B = {B} devices in slot(s) {crowded} (27)")
        if max(per_slot, default=0) * slot_len > MAX_FRAME_S:
            raise _Refused(f"the frame would last over {MAX_FRAME_S} s")
        self.blocks, self.slot_len, self.B = blocks, float(slot_len), B
        return Message("ok")

    def _on_input(self, msg: Message) -> Message:
        n = _get(msg, "device", int)
        if n not in self.runners:
            raise _Refused(f"input for device {n}, whose layers were not loaded")
        self.env[n] = dict(msg.arrays)
        return Message("ok", {"bytes": sum(a.nbytes for a in msg.arrays.values())})

    def _on_run(self, msg: Message) -> Message:
        lead = msg.fields.get("lead_s", 0.1)
        if not isinstance(lead, int | float) or not 0 <= lead <= 60:
            raise ProtocolError("malformed 'run' message: lead_s must be a number in [0, 60]")
        missing = [n for n in self.blocks if n not in self.env]
        if missing:
            raise _Refused(f"no input received for device(s) {missing}")
        return Message("frame", {"records": run_frame(self.runners, self.blocks, self.env, self.slot_len, self.B,
                                                      float(lead), self.stop)})

    def _on_result(self, msg: Message) -> Message:
        n = _get(msg, "device", int)
        if n not in self.env:
            raise _Refused(f"no result for device {n}")
        out = self.env[n].get(self.final[n])
        if out is None:
            raise _Refused(f"device {n}: the frame did not compute {self.final[n]!r}")
        return Message("result", {"device": n}, arrays={"result": out})

    def _on_shutdown(self, msg: Message) -> None:
        return None


def run_frame(runners: dict[int, SegmentRunner], blocks: dict[int, list[tuple[int, list[Segment]]]],
              env: dict[int, dict[str, np.ndarray]], slot_len: float, B: int, lead: float,
              stop: threading.Event | None = None) -> list[dict]:
    """Run one frame in real time: every device's blocks in their slots, at most B devices computing at once.

    Parameters
    ----------
    runners : dict of int to SegmentRunner
        Per device its segments.
    blocks : dict of int to list of (int, list of (int, int))
        Per device its (slot, segments) blocks in slot order.
    env : dict of int to dict
        Per device its tensors (the received cut tensors; outputs are added).
    slot_len : float
        T_d / H [s].
    B : int
        Most devices computing at once (27).
    lead : float
        Seconds from now to the frame start.
    stop : threading.Event or None, optional
        Set to stop between layers.

    Returns
    -------
    list of dict
        One record per segment run: device, slot, first and last layer, start, end (s from the frame start), wait
        (s spent for the semaphore).
    """
    stop = stop or threading.Event()
    gate = threading.BoundedSemaphore(B)
    records: list[dict] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    frame_start = time.perf_counter() + lead

    def device(n: int) -> None:
        try:
            for h, segs in blocks[n]:
                due = frame_start + (h - 1) * slot_len
                while (wait := due - time.perf_counter()) > 0 and not stop.is_set():
                    time.sleep(min(wait, 0.05))
                asked = time.perf_counter()
                with gate:
                    got = time.perf_counter()
                    for seg in segs:
                        if stop.is_set():
                            return
                        t0 = time.perf_counter()
                        runners[n].run_segment(seg, env[n])
                        t1 = time.perf_counter()
                        with lock:
                            records.append({"device": n, "slot": h, "first": seg[0], "last": seg[1],
                                            "start": t0 - frame_start, "end": t1 - frame_start, "wait": got - asked})
        except BaseException as err:  # noqa: BLE001 - reported to the client as a refusal
            errors.append(err)
            stop.set()

    workers = [threading.Thread(target=device, args=(n,), daemon=True) for n in blocks]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise _Refused(f"a layer failed during the frame ({type(errors[0]).__name__}: {errors[0]})")
    return sorted(records, key=lambda r: (r["start"], r["device"]))


def serve(host: str, port: int, threads: int, *, max_requests: int = 10000, max_seconds: float = 3600.0,
          idle_seconds: float = 600.0, max_payload: int = MAX_PAYLOAD, parent: int | None = None,
          crash_after: int | None = None, out=sys.stdout) -> int:
    """Listen and answer until ``shutdown`` or a bound is reached; the exit status.

    Parameters
    ----------
    host : str
        Address to listen on.
    port : int
        Port (0: any free one; the one taken is printed as ``READY <port>``).
    threads : int
        Intra-op threads of every session.
    max_requests : int, optional
        Messages answered in all.
    max_seconds : float, optional
        Lifetime of the process [s].
    idle_seconds : float, optional
        An idle connection is closed after this long [s].
    max_payload : int, optional
        Largest payload accepted [bytes].
    parent : int or None, optional
        Exit when this process is gone.
    crash_after : int or None, optional
        Tests only: die abruptly (exit 3, nothing sent) on this message.
    out : file, optional
        Where ``READY <port>`` goes.

    Returns
    -------
    int
        0 after ``shutdown``, 1 when a bound ended the process.
    """
    state = Server(threads, max_payload)
    end = time.monotonic() + max_seconds
    count = 0
    with socket.create_server((host, port)) as srv:
        srv.settimeout(0.5)
        print(f"READY {srv.getsockname()[1]}", file=out, flush=True)
        while time.monotonic() < end and count < max_requests:
            if parent is not None and os.getppid() != parent:
                print("the process that started the server is gone: exiting", file=sys.stderr)
                return 1
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(idle_seconds)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)   # no Nagle delay on small replies
                while time.monotonic() < end and count < max_requests:
                    try:
                        msg = receive(conn, max_payload)
                    except ProtocolError as err:
                        _reply_error(conn, str(err))
                        break
                    except OSError:
                        break
                    count += 1
                    if crash_after is not None and count >= crash_after:
                        os._exit(3)
                    try:
                        reply = state.handle(msg)
                    except ProtocolError as err:
                        _reply_error(conn, str(err))
                        break
                    except _Refused as err:
                        _reply_error(conn, str(err))
                        continue
                    try:
                        if reply is None:
                            send(conn, Message("ok"))
                            return 0
                        rate = msg.fields.get("rate_bps") if msg.type == "result" else None
                        pace = TokenBucket(float(rate)) if isinstance(rate, int | float) and rate > 0 else None
                        send(conn, reply, pace)
                    except OSError:
                        break
    print(f"server stopped: {'time limit' if time.monotonic() >= end else 'request limit'} reached", file=sys.stderr)
    return 1


def _reply_error(conn: socket.socket, message: str) -> None:
    print(f"refused: {message}", file=sys.stderr, flush=True)
    try:
        send(conn, Message("error", {"message": message}))
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    """Command line of the server process (``python -m mecopt.byo.execution.server --help``).

    Parameters
    ----------
    argv : list of str or None, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status.
    """
    p = argparse.ArgumentParser(prog="python -m mecopt.byo.execution.server", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback only)")
    p.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads per session")
    p.add_argument("--max-requests", type=int, default=10000)
    p.add_argument("--max-seconds", type=float, default=3600.0)
    p.add_argument("--idle-seconds", type=float, default=600.0)
    p.add_argument("--max-payload", type=int, default=MAX_PAYLOAD)
    p.add_argument("--parent", type=int, default=None, help="exit when this process is gone")
    p.add_argument("--crash-after", type=int, default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.threads < 1 or a.max_requests < 1 or a.max_seconds <= 0 or a.idle_seconds <= 0:
        p.error("--threads and --max-requests must be >= 1, --max-seconds and --idle-seconds > 0")
    try:
        return serve(a.host, a.port, a.threads, max_requests=a.max_requests, max_seconds=a.max_seconds,
                     idle_seconds=a.idle_seconds, max_payload=a.max_payload, parent=a.parent,
                     crash_after=a.crash_after)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
