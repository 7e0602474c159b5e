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
import logging
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
    cwd: str | None = None   # the folder the command ran in (command lines: run_argv)

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
    log = io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), captured_logs(log):
            main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Hang:
        hung, code = True, -1
    except Reached:   # a stubbed command reached its work (command lines, ARGV_STUBBED)
        code = REACHED
    except BaseException:  # noqa: BLE001  (what the fuzz looks for)
        tb, code = traceback.format_exc(), 1
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    text_err = err.getvalue() + log.getvalue()
    if tb is None and "Traceback (most recent call last)" in text_err + out.getvalue():
        tb = text_err
    return Result(argv, code, out.getvalue(), text_err, tb, hung)


@contextlib.contextmanager
def captured_logs(stream: io.StringIO):
    """Every log record emitted meanwhile, written to ``stream`` too (tracebacks included): the root logger and every
    logger with handlers of its own (a library's logger that does not propagate, e.g. Pyomo's, writes to the terminal
    through a handler that ``redirect_stderr`` does not reach)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger()] + [lg for lg in list(logging.Logger.manager.loggerDict.values())
                                       if isinstance(lg, logging.Logger) and lg.handlers and not lg.propagate]
    for lg in loggers:
        lg.addHandler(handler)
    try:
        yield stream
    finally:
        for lg in loggers:
            lg.removeHandler(handler)


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


# ------------------------------------------------------------------ command lines (issue 23)
#
# Every command of ``mecopt --help`` and every one of its options, found by walking the click group, so that a new
# command or option is fuzzed without a change here (a new command needs a base command line in ARGV_BASES, and
# ``test_every_command_has_a_base_command_line`` fails until it has one). A case takes a cheap, valid base command line
# and changes one option (or argument) to a generated value, or misspells an option's name. The oracle of a value comes
# from the option's own declaration where it has one (click types and ranges, mecopt's Option declarations, a method's
# options for ``solve``'s flags), with one rule over them: a non-finite number is never a valid number. Commands that
# measure hardware or run many solves (ARGV_STUBBED) run up to the library call that does the work, which raises
# :class:`Reached` instead: their command line is checked, not the measurement.

import os  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from concurrent.futures import Executor, Future  # noqa: E402
from pathlib import Path  # noqa: E402
from unittest import mock  # noqa: E402

import click  # noqa: E402

#: exit code recorded when a stubbed command reached its work (see ARGV_STUBBED)
REACHED = -2

#: instances combined with every command that reads one: the paper's, soft deadlines, several servers (generated)
ARGV_INSTANCES = ("paper:fig6-w1khz", "examples:soft-deadline", "{tmp}/k2.toml", "{tmp}/soft.toml")

#: one valid, cheap command line per command ({inst}: an instance of ARGV_INSTANCES, {assign}: an all-local
#: assignment of it, {out}: a fresh folder per case, {tmp}: the shared fixtures); alternatives in a list
ARGV_BASES: dict[tuple[str, ...], list[list[str]]] = {
    ("bench", "list"): [["bench", "list"]],
    ("bench", "verify"): [["bench", "verify", "--names", "alexnet-total-n5", "--time-limit", "5"]],
    ("calibrate",): [["calibrate", "lenet", "--runs", "1", "--rounds", "1", "--warmup", "0", "--min-ms", "0",
                      "--no-loo", "--out", "{out}/cal.toml"]],
    ("check",): [["check", "{inst}", "{assign}"]],
    ("execute",): [["execute", "paper:fig6-w1khz", "{tmp}/sol", "--out", "{out}/ex", "--runs", "1", "--warmup", "0",
                    "--no-plot"]],
    ("compare",): [["compare", "{inst}", "--methods", "all-local,all-offload", "--draws", "2", "--engine", "dp",
                    "--out", "{out}/cmp"],
                   ["compare", "paper:fig6-w1khz", "--methods", "gtpos,tpos-cai", "--engine", "dp", "--time-limit",
                    "5"]],
    ("equilibria",): [["equilibria", "{inst}", "--starts", "1", "--no-gtpos", "--out", "{out}/eq"],
                      ["equilibria", "paper:fig6-w1khz", "--starts", "1", "--time-limit", "5"]],
    ("export-model",): [["export-model", "{inst}", "--out", "{out}/m.mps"],
                        ["export-model", "{inst}", "--problem", "best-response", "--device", "0", "--format", "lp",
                         "--out", "{out}/m.lp"]],
    ("fit",): [["fit", "{tmp}/profile.csv", "--out", "{out}/fit.toml"]],
    ("generate",): [["generate", "--devices", "3", "--seed", "0", "--out", "{out}/g.toml"],
                    ["generate", "--devices", "4", "--seed", "1", "--servers", "2", "--out", "{out}/g.toml"]],
    ("import-onnx",): [["import-onnx", "{tmp}/m.onnx", "--out", "{out}/m.toml", "-q"]],
    ("inspect",): [["inspect", "{inst}"]],
    ("plot", "cdf"): [["plot", "cdf", "{tmp}/sol", "{tmp}/sol-local", "-o", "{out}/cdf.png"],
                      ["plot", "cdf", "{tmp}/sol", "--metric", "cost", "--fig-format", "svg", "--size", "column",
                       "-o", "{out}/cdf.svg"]],
    ("plot", "convergence"): [["plot", "convergence", "{tmp}/sol", "-o", "{out}/c.png"]],
    ("plot", "eq-vs-opt"): [["plot", "eq-vs-opt", "{tmp}/sol", "{tmp}/sol-local", "-o", "{out}/e.png"]],
    ("plot", "partition-hist"): [["plot", "partition-hist", "{tmp}/sol", "-o", "{out}/ph.png"]],
    ("plot", "slot-load"): [["plot", "slot-load", "{tmp}/sol", "-o", "{out}/sl.png", "--size", "slides"]],
    ("plot", "partition"): [["plot", "partition", "{tmp}/sol", "-o", "{out}/p.png"]],
    ("plot", "schedule"): [["plot", "schedule", "{tmp}/sol", "-o", "{out}/s.png"]],
    ("plot", "sweep"): [["plot", "sweep", "{tmp}/results.csv", "--x", "x", "-o", "{out}/w.png"]],
    ("profile",): [["profile", "lenet", "--runs", "1", "--warmup", "0", "--rounds", "1", "--out", "{out}/p.csv"]],
    ("reproduce",): [["reproduce", "--fig", "5", "--quick", "--out", "{out}/rep"]],
    ("simulate",): [["simulate", "{inst}", "--frames", "1", "--no-plot", "--out", "{out}/sim"],
                    ["simulate", "{inst}", "--frames", "2", "--fading", "rician", "--speed", "1", "--no-plot",
                     "--out", "{out}/sim"]],
    ("solve",): [["solve", "{inst}", "-m", "all-local", "--out", "{out}/sol"],
                 ["solve", "{inst}", "-m", "tpos-cai", "--engine", "dp", "--seed", "1", "-q"],
                 ["solve", "paper:fig6-w1khz", "-m", "gtpos", "--time-limit", "5", "-q"],
                 ["solve", "{inst}", "-m", "all-offload", "--draws", "2", "--out", "{out}/sol"]],
    ("study",): [["study", "{tmp}/study.toml", "--out", "{out}/st", "-q"]],
    ("sweep",): [["sweep", "{inst}", "--methods", "all-local", "--values", "server.frame_s=0.5,1", "--out",
                  "{out}/sw"]],
    ("table",): [["table", "{tmp}/results.csv", "-o", "{out}/t.tex"],
                 ["table", "{tmp}/results.csv", "--format", "markdown", "--columns", "method,x", "--digits", "3",
                  "-o", "{out}/t.md"]],
}

#: a tiny study file (``{tmp}/study.toml``): one instance, a grid of two points, two cheap methods
STUDY_FILE = """name = "fuzz"
instances = ["paper:fig6-w1khz"]
methods = ["all-local", "all-offload"]

[grid]
"server.frame_s" = [0.5, 1.0]

[options]
all-offload = { draws = 2 }
"""

#: (module, function) that does a stubbed command's work: measuring hardware, or building the ONNX models that
#: ``execute`` then runs over TCP in real time (minutes; its options are checked before)
ARGV_STUBBED = {
    ("execute",): [("mecopt.byo.execution.split", "from_spec"), ("mecopt.byo.execution.split", "from_onnx")],
    ("calibrate",): [("mecopt.byo.calibrate", "profile_networks")],
    ("profile",): [("mecopt.byo.profiling", "profile_onnx"), ("mecopt.byo.profiling", "profile_spec_ort"),
                   ("mecopt.byo.profiling", "profile")],
    ("reproduce",): [("mecopt.studies.reproduce", "reproduce"), ("mecopt.studies.reproduce", "reproduce_readings")],
}

#: commands whose runs go to worker processes: run in this process instead (InProcessExecutor), so that a run's
#: failure (exit 5, docs/reliability.md) is seen; their runs are cheap methods on small instances
ARGV_IN_PROCESS = (("study",), ("sweep",))
#: exit code of a sweep or study some of whose runs failed (mecopt.studies.sweep.RUNS_FAILED_EXIT)
RUNS_FAILED = 5
#: exit code of an interrupted command: never expected here (the fuzz sends no interrupt)
INTERRUPTED = 130

#: options that start processes or connect to a cluster: their values are fuzzed, a valid one is not run
ARGV_NOT_RUN = ("workers", "dask_address")

#: generated option values, by kind
ARGV_VALUES: dict[str, list[str]] = {
    "wrong_type": ["abc", "1.5", "1,2", "[1]", "true", "0x10", "1e", "--", "{}", "1 2"],
    "non_finite": ["inf", "-inf", "nan", "NaN", "Infinity", "1e309", "-1e309"],
    "negative": ["-1", "-0.5", "-1e-300", "-2147483649", "-1e308"],
    "zero": ["0", "0.0", "-0", "5e-324", "1e-300"],
    "huge": ["1e308", "9223372036854775808", "1" + "0" * 30, "2147483648", "1e18", "99999999999"],
    "empty": ["", " ", ","],
    "unknown_choice": ["nosuch", "DP", "all", "none", "None", "gtpos:", "é"],
    "valid_small": ["1", "2", "0.5", "3"],
}


class Reached(BaseException):
    """Raised by a stubbed command's work function: the command line was accepted (see ARGV_STUBBED)."""


def _reach(*args, **kwargs):
    raise Reached()


def command_table() -> dict[tuple[str, ...], click.Command]:
    """Every command of ``mecopt``, by its path of names (groups walked), from the click group itself."""
    from mecopt.cli import cli

    out: dict[tuple[str, ...], click.Command] = {}

    def walk(group: click.Group, prefix: tuple[str, ...]) -> None:
        for name, cmd in group.commands.items():
            if isinstance(cmd, click.Group):
                walk(cmd, prefix + (name,))
            else:
                out[prefix + (name,)] = cmd
    walk(cli, ())
    return out


def fuzzed_params(cmd: click.Command) -> list[click.Parameter]:
    """The parameters of ``cmd`` a case may change: every option and argument but ``--help``."""
    return [p for p in cmd.params if p.name != "help"]


def param_names(param: click.Parameter) -> list[str]:
    """Every way a message may name ``param``: its flags, its name (with - or _), its metavar."""
    names = list(param.opts) + list(getattr(param, "secondary_opts", []))
    if param.name:
        names += [param.name, param.name.replace("_", "-")]
    if param.metavar:
        names.append(param.metavar)
    from mecopt.cli.common import DeclaredType

    if isinstance(param.type, DeclaredType):
        names.append(param.type.name)
    return [n for n in names if n]


def argv_fixtures() -> Path:
    """The shared fixtures of the command-line fuzz (built once per process): instances, assignments, a solution,
    a results table, an ONNX model and a profile."""
    global _FIXTURES
    if _FIXTURES is not None:
        return _FIXTURES
    import pandas as pd

    from mecopt.core.instance import load_instance

    tmp = Path(tempfile.mkdtemp(prefix="mecopt-argv-fuzz-"))
    for argv in (["generate", "--devices", "4", "--seed", "0", "--servers", "2", "--out", tmp / "k2.toml"],
                 ["generate", "--devices", "3", "--seed", "1", "--deadline-policy", "soft", "--out",
                  tmp / "soft.toml"],
                 ["solve", "paper:fig6-w1khz", "-m", "tpos-cai", "--engine", "dp", "--out", tmp / "sol", "-q"],
                 ["solve", "paper:fig6-w1khz", "-m", "all-local", "--out", tmp / "sol-local", "-q"]):
        res = run_cli(*argv)
        assert res.code == 0, res.describe()
    for inst in ARGV_INSTANCES:
        instance = load_instance(inst.format(tmp=tmp))
        rows = [(d.name, m + 1, 0) for d in instance.devices for m in range(d.M)]
        pd.DataFrame(rows, columns=["device", "layer", "slot"]).to_csv(tmp / f"{_slug(inst)}.csv", index=False)
    pd.DataFrame({"x": [1, 2, 1, 2], "method": ["a", "a", "b", "b"], "avg_delay_s": [1.0, 2.0, 1.5, 2.5],
                  "avg_cost": [1.0, 2.0, 3.0, 4.0]}).to_csv(tmp / "results.csv", index=False)
    _profile_table().to_csv(tmp / "profile.csv", index=False)
    (tmp / "study.toml").write_text(STUDY_FILE)
    try:
        (tmp / "m.onnx").write_bytes(_tiny_onnx())
    except ImportError:   # onnx missing: import-onnx exits 2 naming it
        (tmp / "m.onnx").write_bytes(b"")
    _FIXTURES = tmp
    return tmp


_FIXTURES: Path | None = None


def _slug(inst: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", inst.replace("{tmp}", "")).strip("-")


def _profile_table():
    """A measured-profile table as ``mecopt profile`` writes it: the bundled LeNet and AlexNet, eq. (6) times."""
    import pandas as pd

    from mecopt.core import dnn

    frames = []
    for name in ("lenet", "alexnet"):
        f = dnn.layer_table(name).frame.iloc[1:]
        t = 0.3e-5 * f["G"] ** 2 * f["K"] ** 2 * f["O"] * f["I"] + 2.6e-5 * f["G"] ** 2 * f["K"] ** 2 * f["I"] + 0.01
        frames.append(pd.DataFrame({"dnn": name, "layer": f["layer"], "name": f["name"], "type": f["type"],
                                    "G": f["G"], "K": f["K"], "O": f["O"], "I": f["I"], "median_ms": t}))
    return pd.concat(frames, ignore_index=True)


def _tiny_onnx() -> bytes:
    import onnx
    from onnx import TensorProto, helper

    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 1, 3, 3])
    g = TensorProto(name="g", data_type=TensorProto.FLOAT, dims=[10, 144])
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "g"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 14, 14])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w, g])
    return onnx.helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def base_argv(path: tuple[str, ...], choice: int, inst: str, out: Path) -> list[str]:
    """Base command line ``choice`` (modulo the alternatives) of command ``path``, on instance ``inst``."""
    tmp = argv_fixtures()
    bases = ARGV_BASES[path]
    subst = dict(inst=inst.format(tmp=tmp), assign=str(tmp / f"{_slug(inst)}.csv"), out=str(out), tmp=str(tmp))
    return [a.format(**subst) for a in bases[choice % len(bases)]]


def argument_index(path: tuple[str, ...], cmd: click.Command, param: click.Parameter) -> int:
    """Where argument ``param`` stands in a base command line (the bases give the arguments first, in order)."""
    args = [p for p in cmd.params if isinstance(p, click.Argument)]
    return len(path) + args.index(param)


def with_value(argv: list[str], path: tuple[str, ...], cmd: click.Command, param: click.Parameter,
               value: str | None) -> list[str]:
    """``argv`` with ``param`` set to ``value`` (replaced where the base gives it, else appended; a flag appended)."""
    argv = list(argv)
    if isinstance(param, click.Argument):
        argv[argument_index(path, cmd, param)] = value
        return argv
    if param.is_flag or param.count:
        flags = list(param.opts) + list(param.secondary_opts)
        return argv + [flags[len(argv) % len(flags)]]
    for i, a in enumerate(argv[:-1]):
        if a in param.opts and not getattr(param, "multiple", False):
            argv[i + 1] = value
            return argv
    return argv + [param.opts[-1], value]


def typo(name: str, rng_value: int) -> str:
    """A misspelling of option ``name``: a letter dropped, doubled, swapped or changed."""
    body = name.lstrip("-")
    dashes = name[:len(name) - len(body)]
    i = rng_value % max(len(body), 1)
    kind = (rng_value // 7) % 4
    if kind == 0 and len(body) > 1:
        body = body[:i] + body[i + 1:]
    elif kind == 1:
        body = body[:i] + body[i:i + 1] * 2 + body[i + 1:]
    elif kind == 2 and len(body) > 1:
        j = min(i + 1, len(body) - 1)
        body = body[:i] + body[j] + body[i] + body[j + 1:] if i != j else body + "x"
    else:
        body = body[:i] + ("x" if body[i:i + 1] != "x" else "y") + body[i + 1:]
    return dashes + body


def argv_oracle(path: tuple[str, ...], argv: list[str], param: click.Parameter, value: str) -> bool | None:
    """True when ``value`` is certainly invalid for ``param``, False when certainly valid, None when the option's
    declaration does not say (free text, file paths: the command judges; the case then checks only the invariants).
    """
    from mecopt.cli.common import DeclaredType
    from mecopt.core.errors import InputError

    t = param.type
    if isinstance(param, click.Option) and (param.is_flag or param.count):
        return None   # a flag takes no value
    if isinstance(t, DeclaredType):
        try:
            t.declaration().convert(value, t.owner, text=True)
        except InputError:
            return True
        return False
    if isinstance(t, click.Choice):
        choices = [str(c) for c in t.choices]
        return (value if t.case_sensitive else value.lower()) not in (
            choices if t.case_sensitive else [c.lower() for c in choices])
    if isinstance(t, (click.types.IntParamType, click.types.FloatParamType, click.types.BoolParamType)):
        try:
            out = t.convert(value, param, None)
        except click.BadParameter:
            return True
        if isinstance(out, float) and not math.isfinite(out):
            return True   # the one rule over click's types: no option takes a non-finite number
        return False
    if isinstance(t, click.Path) and param.callback is not None and value == "":
        return True   # an output option (checked by writable_output): an empty path is no file or folder
    if path == ("solve",) and isinstance(param, click.Option) and param.name in SOLVE_FLAGS:
        from mecopt.methods.registry import validate_options

        method = argv[argv.index("-m") + 1]
        try:
            validate_options(method, {param.name: value}, text=True)
        except InputError:
            return True
        return False
    if isinstance(param, click.Argument) and param.name == "instance":
        from mecopt.core.instance import load_instance

        try:
            load_instance(value)
        except InputError:
            return True
        return None
    return None


#: the flags of ``solve`` that are the method's options of the same name (checked by the method's declaration)
SOLVE_FLAGS = ("engine", "seed", "wake_prob", "eps", "stop", "max_iter", "time_limit", "objective", "draws", "solver")


class InProcessExecutor(Executor):
    """An executor that runs each task at once in this process (a sweep's or a study's runs, see ARGV_IN_PROCESS)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001  (the future carries it, as a process pool's would)
            fut.set_exception(exc)
        return fut


def run_argv(argv: list[str], path: tuple[str, ...], cwd: str | os.PathLike[str]) -> Result:
    """:func:`run_cli` in folder ``cwd`` (a generated relative output lands there), the work of a stubbed command
    (ARGV_STUBBED) replaced by :class:`Reached`."""
    patches = [mock.patch(f"{module}.{name}", _reach) for module, name in ARGV_STUBBED.get(path, [])]
    if path in ARGV_IN_PROCESS:
        patches.append(mock.patch("mecopt.studies.sweep.local_executor", lambda workers=None: InProcessExecutor()))
    for p in patches:
        p.start()
    here = os.getcwd()
    os.makedirs(cwd, exist_ok=True)
    os.chdir(cwd)
    try:
        res = run_cli(*argv)
        res.cwd = str(cwd)
        return res
    finally:
        os.chdir(here)
        for p in patches:
            p.stop()


def check_argv_result(res: Result, checks: Checks, *, param_names_: list[str], value: str | None,
                      must_reject: bool | None, may_time_out: bool, what: str) -> None:
    """The invariants of a fuzzed command line.

    No traceback, no hang; exit 0, 2, 3 or 4 (or reached a stubbed command's work), 5 for ``sweep``/``study`` with
    its failed runs listed (an exit 0 with one listed fails), never 130 (no interrupt is sent); exit 4 only when a
    time limit was changed (a solver stopped by it without an assignment is a solver failure); a certainly-invalid
    value exits 2 and the message names the option; any exit 2 prints an error; exit 0 wrote the ``--out``/``-o`` it
    was given.
    """
    checks.expect(not res.hung, f"{what}: hang (> {CASE_TIMEOUT_S} s)", res)
    checks.expect(res.traceback is None, f"{what}: traceback", res)
    runs_many = tuple(res.args[:1]) in ARGV_IN_PROCESS
    checks.expect(res.code != INTERRUPTED, f"{what}: exit {INTERRUPTED} (interrupted) although no interrupt was sent",
                  res)
    checks.expect(res.code in ALLOWED | {REACHED} | ({RUNS_FAILED} if runs_many else set()),
                  f"{what}: exit {res.code}", res)
    if runs_many and res.code in (0, RUNS_FAILED) and "--out" in res.args[:-1]:
        failed = _failed_runs(os.path.join(res.cwd or "", res.args[res.args.index("--out") + 1]))
        if res.code == 0:
            checks.expect(failed == 0, f"{what}: exit 0 on a failed run ({failed} listed in failures)", res)
        else:
            checks.expect(failed is not None and failed > 0 and "failed" in res.err,
                          f"{what}: exit {RUNS_FAILED} without failed runs listed (in failures and on stderr)", res)
    if res.code == 4:
        checks.expect(may_time_out, f"{what}: exit 4 (solver failure) on a changed option that is no time limit", res)
    if must_reject:
        checks.expect(res.code == 2, f"{what}: invalid value accepted (exit {res.code}, expected 2)", res)
        if res.code == 2:
            checks.expect(any(n in res.err for n in param_names_), f"{what}: exit 2 without naming the option "
                          f"({' / '.join(param_names_)})", res)
    if res.code == 2:
        checks.expect("rror" in res.err, f"{what}: exit 2 without an error message", res)
    if res.code == 0:
        for flag in ("--out", "-o", "--output"):
            if flag in res.args[:-1]:
                out = os.path.join(res.cwd or "", res.args[res.args.index(flag) + 1])
                # plot: a file without an image suffix gets that of --fig-format
                written = os.path.exists(out) or (flag != "--out" and any(os.path.exists(out + suffix)
                                                                          for suffix in (".png", ".pdf", ".svg")))
                checks.expect(written, f"{what}: exit 0 but {flag} {out} was not written", res)


def _failed_runs(out: str) -> int | None:
    """Rows of the failures table a sweep or study wrote in ``out`` (None: no such table)."""
    import pandas as pd

    for name in sorted(os.listdir(out)) if os.path.isdir(out) else []:
        if name.startswith("failures."):
            from mecopt.core.tables import read_table

            table = read_table(os.path.join(out, name))
            return len(table) if isinstance(table, pd.DataFrame) else None
    return None


def iter_options() -> Iterator[tuple[tuple[str, ...], click.Command, click.Parameter]]:
    """Every (command path, command, parameter) of ``mecopt``, in a stable order."""
    for path, cmd in sorted(command_table().items()):
        for param in fuzzed_params(cmd):
            yield path, cmd, param
