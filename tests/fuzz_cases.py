"""Generated and mutated inputs for the fuzzing suite (tests/cli/test_fuzz.py, benchmarks/fuzz_long.py).

Every case is a file set written to a folder plus the ``mecopt`` command lines to run on it,
and an *oracle*: ``must_reject`` when the mutation makes the input invalid for certain (a
boolean or a numeric string where a number belongs, inf/nan, a negative size, an unknown
key, bytes that are not UTF-8, ...). A case then asserts:

- the exit code is 0, 2, 3 or 4 (130 only when interrupted), never a traceback or a hang;
- exit 2 prints a message naming a field or the file;
- a ``must_reject`` input exits 2 (never accepted);
- a solve that exits 0 wrote an assignment that ``mecopt check`` accepts (exit 0, or 3
  exactly when the solve itself reported violations).

Commands run in-process through :func:`run_cli` (fast); a few tests run them as subprocesses.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import re
import signal
import traceback
from dataclasses import dataclass, field

import tomli_w
from hypothesis import strategies as st

from mecopt.cli import main
from mecopt.core import limits

#: seconds one in-process command may take before it counts as a hang
CASE_TIMEOUT_S = 120.0
#: GTPOS time limit given in the fuzz (seconds)
GTPOS_LIMIT_S = 2.0

# ------------------------------------------------------------------ running


class Hang(BaseException):
    """Raised by the alarm when a command runs longer than :data:`CASE_TIMEOUT_S` (not an Exception,
    so nothing in mecopt can catch it)."""


@dataclass
class Result:
    args: list[str]
    code: int
    out: str
    err: str
    traceback: str | None = None
    hung: bool = False

    def describe(self) -> str:
        return (f"mecopt {' '.join(self.args)} -> exit {self.code}{' (HANG)' if self.hung else ''}\n"
                f"--- stdout\n{self.out[-2000:]}\n--- stderr\n{self.err[-3000:]}\n"
                + (f"--- traceback\n{self.traceback}" if self.traceback else ""))


def _alarm(signum, frame):
    raise Hang()


def run_cli(*args, timeout: float = CASE_TIMEOUT_S) -> Result:
    """``mecopt ARGS`` in-process: exit code, stdout, stderr, and any uncaught exception's traceback."""
    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    tb, hung, code = None, False, 0
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Hang:
        hung, code = True, -1
    except BaseException:  # noqa: BLE001  (what the fuzz looks for)
        tb, code = traceback.format_exc(), 1
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    text_err = err.getvalue()
    if tb is None and "Traceback (most recent call last)" in text_err + out.getvalue():
        tb = text_err
    return Result(argv, code, out.getvalue(), text_err, tb, hung)


# ------------------------------------------------------------------ documents

TINY_LAYERS = [
    {"name": "conv1", "type": "conv", "out_channels": 4, "kernel": 3},
    {"name": "relu1", "type": "relu"},
    {"name": "pool1", "type": "pool", "kernel": 2, "stride": 2},
    {"name": "fc1", "type": "fc", "out_features": 10},
]

NUMBER = (int, float)


@st.composite
def dnn_specs(draw) -> dict:
    """A valid small chain spec (conv/relu/pool/fc/lrn/softmax/block), sometimes with measured
    times (zero-time layers included: a degenerate case)."""
    c, hw = draw(st.integers(1, 8)), draw(st.integers(4, 32))
    layers = []
    side = hw
    for i in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["conv", "relu", "pool", "fc", "lrn", "softmax", "block"]))
        layer = {"name": f"l{i}", "type": kind}
        if kind == "conv" and side >= 3:
            layer.update(out_channels=draw(st.integers(1, 16)), kernel=draw(st.integers(1, min(5, side))),
                         pad=draw(st.integers(0, 2)))
        elif kind == "pool" and side >= 2:
            layer.update(kernel=2, stride=2, ceil_mode=draw(st.booleans()))
        elif kind == "fc":
            layer.update(out_features=draw(st.integers(1, 64)))
            side = 1
        elif kind == "block":
            side = draw(st.integers(1, 8))
            layer.update(out_shape=[draw(st.integers(1, 8)), side, side])
        else:
            layer["type"] = "relu"
        if draw(st.integers(0, 3)) == 0:
            layer.update(t_local_s=draw(st.sampled_from([0.0, 1e-4, 0.01, 0.2])),
                         t_server_s=draw(st.sampled_from([0.0, 1e-5, 0.001, 0.05])))
        if layer["type"] == "conv":
            side = side + 2 * layer["pad"] - layer["kernel"] + 1
        elif layer["type"] == "pool":
            side = -(-(side - 2) // 2) + 1 if layer["ceil_mode"] else (side - 2) // 2 + 1
        layers.append(layer)
    return {"name": "fz", "input": {"channels": c, "height": hw, "width": hw}, "layers": layers}


@st.composite
def instances(draw, dnn_choices=("lenet", "tiny.toml", "spec.toml")) -> dict:
    """A valid-looking small instance: 1-4 device entries, H 1-4, B 1-3, both capacity modes,
    degenerate corners (one slot, B = 1, identical devices, tiny frames) included."""
    H = draw(st.integers(1, 4))
    doc = {
        "name": "fuzz",
        "seed": draw(st.integers(0, 2**31)),
        "model": {"deadline_policy": draw(st.sampled_from(["relax", "relax", "hard"])),
                  "capacity_mode": draw(st.sampled_from(["per_device", "total"])),
                  "price_scale": draw(st.sampled_from([1e6, 1e3, 1.0, 1e9]))},
        "server": {"slots": H, "frame_s": draw(st.sampled_from([0.75, 0.1, 0.01, 3.0, 1e-3])),
                   "parallel_limit": draw(st.integers(1, 3))},
        "device_defaults": {"dnn": draw(st.sampled_from(dnn_choices))},
        "devices": [],
    }
    for _i in range(draw(st.integers(1, 3))):
        alpha = draw(st.sampled_from([0.42, 0.95, 1.0, 0.0, 0.5]))
        beta = round((1 - alpha) * draw(st.sampled_from([0.0, 0.3, 0.5, 1.0])), 6)
        dev = {"count": draw(st.integers(1, 3)), "alpha": alpha, "beta": beta,
               "gamma": round(1 - alpha - beta, 6),
               "bandwidth_hz": draw(st.sampled_from([2000.0, 200.0, 1e5, 1])),
               "deadline_s": draw(st.sampled_from([5.0, 0.5, 100.0]))}
        if draw(st.booleans()):
            dev["dnn"] = draw(st.sampled_from(dnn_choices))
        doc["devices"].append(dev)
    return doc


def leaves(doc, prefix=()) -> list[tuple]:
    """Paths (tuples of keys / indices) of every scalar in ``doc``."""
    out = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc)
    for k, v in items:
        if isinstance(v, dict | list) and v:
            out += leaves(v, prefix + (k,))
        elif not isinstance(v, dict | list):
            out.append(prefix + (k,))
    return out


def tables(doc, prefix=()) -> list[tuple]:
    """Paths of every table (dict) in ``doc``, the root included."""
    out = [prefix] if isinstance(doc, dict) else []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc)
    for k, v in items:
        if isinstance(v, dict | list):
            out += tables(v, prefix + (k,))
    return out


def get(doc, path):
    for k in path:
        doc = doc[k]
    return doc


def put(doc, path, value):
    get(doc, path[:-1])[path[-1]] = value


#: fields whose value may be a list (so a list there is no certain error)
LIST_OK = ("delta_cycles_per_bit", "price_base", "price_growth", "out_shape", "edges")


#: fields of an instance document that must be > 0
INSTANCE_POSITIVE = frozenset({
    "slots", "frame_s", "parallel_limit", "freq_cycles_per_s", "tx_power_w", "count", "bits_per_element",
    "price_scale", "upload_power_w", "bandwidth_hz", "channel_gain", "noise_w_per_hz", "deadline_s", "radius",
    "delta_cycles_per_bit"})
#: fields of a DNN spec that must be > 0 (out_shape: each entry)
SPEC_POSITIVE = frozenset({"channels", "height", "width", "out_channels", "out_features", "kernel", "stride",
                           "groups", "out_shape"})


@st.composite
def mutated(draw, doc: dict, positive: frozenset = INSTANCE_POSITIVE) -> tuple[dict, str, bool]:
    """``doc`` with one mutation: (document, description, must_reject). ``positive``: fields where
    0 is invalid for certain."""
    doc = copy.deepcopy(doc)
    kind = draw(st.sampled_from(["bool", "numstr", "nonfinite", "negative", "extreme", "container", "unknown",
                                 "remove", "deep", "string", "none"]))
    if kind == "none":
        return doc, "unchanged", False
    if kind == "unknown":
        where = draw(st.sampled_from(tables(doc)))
        key = draw(st.sampled_from(["colour", "slots_", "Bandwidth_hz", "x"]))
        target = get(doc, where)
        if key in target:
            return doc, "unchanged", False
        target[key] = 1
        return doc, f"unknown key {'.'.join(map(str, where + (key,)))}", True
    paths = leaves(doc)
    path = draw(st.sampled_from(paths))
    old = get(doc, path)
    name = ".".join(map(str, path))
    numeric = isinstance(old, NUMBER) and not isinstance(old, bool)
    in_list = isinstance(path[-1], int) and str(path[-2]) in LIST_OK
    if kind == "remove":
        if isinstance(path[-1], int):
            get(doc, path[:-1]).pop(path[-1])
        else:
            del get(doc, path[:-1])[path[-1]]
        return doc, f"removed {name}", False
    if kind == "bool":
        put(doc, path, draw(st.booleans()))
        return doc, f"{name} = bool", not isinstance(old, bool)
    if kind == "numstr" and numeric:
        put(doc, path, draw(st.sampled_from([str(old), "1e6", "3", "1"])))
        return doc, f"{name} = numeric string", True
    if kind == "nonfinite" and numeric:
        put(doc, path, draw(st.sampled_from([math.inf, -math.inf, math.nan])))
        return doc, f"{name} = inf/nan", True
    if kind == "negative" and numeric:
        put(doc, path, -abs(old) - draw(st.sampled_from([1, 0.5, 1e6])))
        return doc, f"{name} = negative", True
    if kind == "extreme" and numeric:
        value = draw(st.sampled_from([5e-324, 1e-300, 1e308, 0, 0.0, 2**63 - 1, 10**7, 1e-12]))
        put(doc, path, value)
        field_name = str(path[-2] if isinstance(path[-1], int) else path[-1])
        # every numeric field has an upper limit far below 1e308 (mecopt.core.limits)
        certain = value == 1e308 or (value == 0 and field_name in positive)
        return doc, f"{name} = {value!r}", certain
    if kind == "container":
        value = draw(st.sampled_from([[], [1.0, 2.0], {}, {"a": 1}, [[1]]]))
        put(doc, path, value)
        return doc, f"{name} = {value!r}", not in_list and str(path[-1]) not in LIST_OK
    if kind == "deep":
        depth = draw(st.sampled_from([50, 400, 2000]))
        put(doc, path, f"{DEEP}{depth}")   # expanded in the text by to_toml (a deep Python list recurses)
        return doc, f"{name} nested {depth} deep", True
    if kind == "string":
        value = draw(st.sampled_from(["", "é", "x" * 300, "\n", "paper:x", "../../etc/passwd.toml", "nan"]))
        put(doc, path, value)
        return doc, f"{name} = {value!r}", numeric
    return doc, "unchanged", False


# ------------------------------------------------------------------ encodings

DEEP = "__deep__"


def to_toml(doc: dict) -> bytes:
    """TOML text of a document; a ``"__deep__N"`` string becomes N nested arrays."""
    try:
        text = tomli_w.dumps(doc)
    except (TypeError, ValueError):
        text = _toml_fallback(doc)
    return re.sub(f'"{DEEP}([0-9]+)"', lambda m: "[" * int(m[1]) + "1" + "]" * int(m[1]), text).encode()


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else "-inf" if v == -math.inf else repr(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def _toml_fallback(doc: dict) -> str:
    return "\n".join(f"{json.dumps(k)} = {_value(v)}" for k, v in doc.items()) + "\n"


@st.composite
def encoded(draw, text: bytes) -> tuple[bytes, str, bool | None]:
    """The bytes of a document re-encoded: (bytes, description, must_reject). ``must_reject`` is
    None when the encoding may have removed the document's mutation (a truncated file)."""
    kind = draw(st.sampled_from(["utf8", "utf8", "utf8", "utf8", "bom", "utf16", "latin1", "binary", "truncated"]))
    if kind == "bom":
        return b"\xef\xbb\xbf" + text, "UTF-8 with BOM", False
    if kind == "utf16":
        return text.decode().encode("utf-16"), "UTF-16", True
    if kind == "latin1":
        return text + b'\n# caf\xe9\n', "Latin-1 byte", True
    if kind == "binary":
        return b"\xff" + draw(st.binary(min_size=8, max_size=200)), "binary", True
    if kind == "truncated" and text:
        cut = draw(st.integers(0, len(text) - 1))
        return text[:cut], f"truncated at {cut}", None
    return text, "UTF-8", False


# ------------------------------------------------------------------ assignment tables

BAD_CELLS = ["1_0", "1.5", "x", "True", "\u0661", "0x1", "nan", "1e0", "", "2.0.0", "1.0"]
ODD_OK_CELLS = [" 1 ", "+1", "-1", "99999999999999999999", "0"]


@dataclass
class Checks:
    """What one case asserts (collected, so the long profile can count them)."""

    failures: list[str] = field(default_factory=list)

    def expect(self, ok: bool, what: str, result: Result | None = None) -> None:
        if not ok:
            self.failures.append(what + ("\n" + result.describe() if result is not None else ""))


ALLOWED = {0, 2, 3, 4}
FIELD_HINT = (" - ", ": ", "file", "field", "--", "'")


def oracle(mutation_rejects: bool, encoding_rejects: bool | None) -> bool:
    """Whether a mutated and re-encoded document must be rejected (see :func:`encoded`)."""
    if encoding_rejects is None:
        return False
    return mutation_rejects or encoding_rejects


def check_result(res: Result, checks: Checks, must_reject: bool, what: str) -> None:
    """The invariants of every run (see the module docstring)."""
    checks.expect(not res.hung, f"{what}: hang (> {CASE_TIMEOUT_S} s)", res)
    checks.expect(res.traceback is None, f"{what}: traceback", res)
    checks.expect(res.code in ALLOWED, f"{what}: exit {res.code} not in {sorted(ALLOWED)}", res)
    if res.code == 2:
        checks.expect(any(h in res.err for h in FIELD_HINT) and res.err.strip() != "",
                      f"{what}: exit 2 without naming a field or file", res)
    if must_reject:
        checks.expect(res.code == 2, f"{what}: invalid input accepted (exit {res.code}, expected 2)", res)


def assert_checks(checks: Checks) -> None:
    assert not checks.failures, "\n\n".join(checks.failures)


def limits_note() -> str:
    return f"limits: layers {limits.MAX_LAYERS}, devices {limits.MAX_DEVICES}, slots {limits.MAX_SLOTS}"
