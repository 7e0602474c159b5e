"""mecopt.byo.execution protocol and shaping: messages round-trip, malformed ones are refused, the token bucket
paces a real socket to the configured rate (within 10 %)."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time

import numpy as np
import pytest

from mecopt.byo.execution.protocol import MAGIC, Message, ProtocolError, receive, send
from mecopt.byo.execution.shaping import TokenBucket


def test_a_message_round_trips_arrays_and_bytes():
    a, b = socket.socketpair()
    with a, b:
        x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
        msg = Message("input", {"device": 3}, arrays={"x": x, "i": np.array([1, 2], np.int64)}, blobs={"m": b"\x00ab"})
        threading.Thread(target=send, args=(a, msg)).start()
        got = receive(b)
    assert got.type == "input" and got.fields == {"device": 3}
    np.testing.assert_array_equal(got.arrays["x"], x)
    assert got.arrays["x"].dtype == np.float32 and got.arrays["i"].tolist() == [1, 2]
    assert got.blobs == {"m": b"\x00ab"}


def _raw(header: dict | bytes, payload: bytes = b"", magic: bytes = MAGIC) -> bytes:
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack(">4sI", magic, len(h)) + h + payload


@pytest.mark.parametrize("data, words", [
    (_raw({"type": "x"}, magic=b"GET "), "bad magic"),
    (struct.pack(">4sI", MAGIC, 1 << 30), "header of"),
    (_raw(b"{not json"), "not JSON"),
    (_raw({"parts": []}), "string 'type'"),
    (_raw({"type": "x", "parts": [{"name": "a", "dtype": "object", "shape": [1]}]}), "dtype 'object'"),
    (_raw({"type": "x", "parts": [{"name": "a", "dtype": "float32", "shape": [-1]}]}), "shape"),
    (_raw({"type": "x", "parts": [{"name": "a", "dtype": "float32", "shape": [1 << 20, 1 << 20]}]}), "exceeds"),
    (_raw({"type": "x", "parts": [{"name": "a", "nbytes": 10}]}, b"abc"), "closed the connection"),
])
def test_malformed_messages_are_refused_with_what_is_wrong(data, words):
    a, b = socket.socketpair()
    with a, b:
        a.sendall(data)
        a.shutdown(socket.SHUT_WR)
        with pytest.raises(ProtocolError, match=words):
            receive(b, max_payload=1 << 24)


def test_the_token_bucket_releases_chunks_at_the_rate_without_drift():
    now = [0.0]
    bucket = TokenBucket(8000.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s + 0.003))
    times = []
    for _ in range(5):
        bucket(100)          # 800 bits: 0.1 s each at 8 kbit/s
        times.append(now[0])
    # coarse sleeps (3 ms late each) do not add up: chunk k leaves at k x 0.1 s (+ at most one late sleep)
    assert all(abs(t - 0.1 * (k + 1)) <= 0.0031 for k, t in enumerate(times))


def test_shaping_gives_the_configured_rate_on_a_real_socket():
    rate = 16e6                         # 16 Mbit/s
    payload = np.zeros(250_000, np.float32)   # 8 Mbit: 0.5 s at the rate
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    done = {}

    def receiver():
        conn, _ = srv.accept()
        with conn:
            receive(conn)
            done["t"] = time.perf_counter()

    t = threading.Thread(target=receiver)
    t.start()
    with socket.create_connection(("127.0.0.1", port)) as c:
        msg = Message("input", arrays={"x": payload})
        t0 = time.perf_counter()
        sent = send(c, msg, TokenBucket(rate))
        t.join()
    srv.close()
    measured = 8 * sent / (done["t"] - t0)
    assert abs(measured / rate - 1) <= 0.10
