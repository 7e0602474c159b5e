"""Length-prefixed messages over TCP: a JSON header and raw array bytes, never pickle (issue 25).

A message is ``MAGIC`` (4 bytes), the header's length (uint32, big endian), the
header (UTF-8 JSON object with a ``type``), then the payload: the raw bytes of
every part the header's ``parts`` list describes, in order. A part is an array
(``{"name", "dtype", "shape"}``, C order, a dtype of :data:`DTYPES`) or raw
bytes (``{"name", "nbytes"}``, e.g. an ONNX model). Every length is checked
against :data:`MAX_HEADER` and the reader's payload limit before anything is
read, so a malformed or hostile message is refused with :class:`ProtocolError`
naming what is wrong, never allocated or evaluated.
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mecopt.core.errors import InputError

MAGIC = b"MECX"
#: largest header accepted [bytes]
MAX_HEADER = 1 << 20
#: default largest payload accepted [bytes]
MAX_PAYLOAD = 1 << 31
#: element types a message may carry
DTYPES = ("float32", "float16", "float64", "int64", "int32", "int8", "uint8", "bool")
_PREFIX = struct.Struct(">4sI")


class ProtocolError(InputError):
    """A message that does not follow the protocol (bad magic, sizes, header, dtype, shape), or a closed peer."""


@dataclass
class Message:
    """One message: its header fields, arrays and raw byte parts.

    Attributes
    ----------
    type : str
        What the message is (``hello``, ``load``, ``input``, ...).
    fields : dict
        The other header fields (JSON values).
    arrays : dict of str to numpy.ndarray
        Named arrays.
    blobs : dict of str to bytes
        Named raw byte strings.
    """

    type: str
    fields: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)

    def encode(self) -> list[memoryview]:
        """The message as byte chunks (prefix and header, then every part), ready to send.

        Returns
        -------
        list of memoryview
        """
        parts, chunks = [], []
        for name, a in self.arrays.items():
            a = np.ascontiguousarray(a)
            if a.dtype.name not in DTYPES:
                raise ProtocolError(f"array {name!r}: dtype {a.dtype.name} cannot be sent (allowed: {DTYPES})")
            parts.append({"name": name, "dtype": a.dtype.name, "shape": list(a.shape)})
            chunks.append(memoryview(a).cast("B"))
        for name, b in self.blobs.items():
            parts.append({"name": name, "nbytes": len(b)})
            chunks.append(memoryview(b))
        header = json.dumps({**self.fields, "type": self.type, "parts": parts}).encode()
        if len(header) > MAX_HEADER:
            raise ProtocolError(f"header of {len(header)} bytes exceeds {MAX_HEADER}")
        return [memoryview(_PREFIX.pack(MAGIC, len(header)) + header), *chunks]

    def nbytes(self) -> int:
        """Bytes on the wire (prefix, header and payload).

        Returns
        -------
        int
        """
        return sum(len(c) for c in self.encode())


def send(sock: socket.socket, msg: Message, pace: Callable[[int], None] | None = None, chunk: int = 1 << 16) -> int:
    """Send ``msg``; ``pace(nbytes)`` is called before every chunk (a token bucket, :mod:`.shaping`).

    Parameters
    ----------
    sock : socket.socket
        A connected socket.
    msg : Message
        The message.
    pace : callable or None, optional
        Called with each chunk's size before it is sent; blocks until it may go.
    chunk : int, optional
        Largest chunk [bytes] handed to ``pace`` and the socket at once.

    Returns
    -------
    int
        Bytes sent.
    """
    total = 0
    for view in msg.encode():
        for i in range(0, len(view), chunk):
            piece = view[i:i + chunk]
            if pace is not None:
                pace(len(piece))
            sock.sendall(piece)
            total += len(piece)
    return total


def _read_exact(sock: socket.socket, n: int, what: str) -> bytearray:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise ProtocolError(f"the peer closed the connection while sending {what} ({got} of {n} bytes read)")
        got += k
    return buf


def receive(sock: socket.socket, max_payload: int = MAX_PAYLOAD) -> Message:
    """Read one message, checking every length and field before reading further.

    Parameters
    ----------
    sock : socket.socket
        A connected socket.
    max_payload : int, optional
        Largest payload accepted [bytes].

    Returns
    -------
    Message

    Raises
    ------
    ProtocolError
        On a closed connection, a bad magic, an oversized or malformed header, an unknown dtype, a bad shape or a
        payload over ``max_payload``.
    """
    magic, hlen = _PREFIX.unpack(bytes(_read_exact(sock, _PREFIX.size, "a message prefix")))
    if magic != MAGIC:
        raise ProtocolError(f"malformed message: bad magic {magic!r} (expected {MAGIC!r})")
    if hlen > MAX_HEADER:
        raise ProtocolError(f"malformed message: header of {hlen} bytes exceeds the limit of {MAX_HEADER}")
    try:
        header = json.loads(bytes(_read_exact(sock, hlen, "a header")).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ProtocolError(f"malformed message: the header is not JSON ({err})") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise ProtocolError("malformed message: the header must be a JSON object with a string 'type'")
    parts = header.pop("parts", [])
    if not isinstance(parts, list):
        raise ProtocolError("malformed message: 'parts' must be a list")
    layout = [_part_layout(p, i) for i, p in enumerate(parts)]
    total = sum(n for _, _, _, n in layout)
    if total > max_payload:
        raise ProtocolError(f"malformed message: payload of {total} bytes exceeds the limit of {max_payload}")
    msg = Message(type=header.pop("type"), fields=header)
    for name, dtype, shape, n in layout:
        data = _read_exact(sock, n, f"part {name!r}")
        if dtype is None:
            msg.blobs[name] = bytes(data)
        else:
            msg.arrays[name] = np.frombuffer(data, dtype=dtype).reshape(shape)
    return msg


def _part_layout(p, i: int) -> tuple[str, str | None, tuple[int, ...], int]:
    if not isinstance(p, dict) or not isinstance(p.get("name"), str):
        raise ProtocolError(f"malformed message: parts[{i}] must be an object with a string 'name'")
    name = p["name"]
    if "dtype" in p:
        dtype, shape = p["dtype"], p.get("shape")
        if dtype not in DTYPES:
            raise ProtocolError(f"malformed message: part {name!r} has dtype {dtype!r} (allowed: {', '.join(DTYPES)})")
        if (not isinstance(shape, list) or len(shape) > 8
                or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 1 << 31 for d in shape)):
            raise ProtocolError(f"malformed message: part {name!r} needs a shape of at most 8 non-negative integers")
        n = int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize
        return name, dtype, tuple(shape), n
    n = p.get("nbytes")
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ProtocolError(f"malformed message: part {name!r} needs a 'dtype' and 'shape' or a non-negative 'nbytes'")
    return name, None, (), n


def request(sock: socket.socket, msg: Message, pace: Callable[[int], None] | None = None,
            max_payload: int = MAX_PAYLOAD) -> Message:
    """Send ``msg`` and read the reply; a reply of type ``error`` raises ProtocolError with the peer's words.

    Parameters
    ----------
    sock : socket.socket
        A connected socket.
    msg : Message
        The request.
    pace : callable or None, optional
        Token bucket of the send (see :func:`send`).
    max_payload : int, optional
        Largest reply payload accepted [bytes].

    Returns
    -------
    Message
        The reply.
    """
    send(sock, msg, pace)
    reply = receive(sock, max_payload)
    if reply.type == "error":
        raise ProtocolError(f"the server refused a {msg.type!r} message: {reply.fields.get('message', '?')}")
    return reply
