"""Fuzzing suite (issue 12): generated and mutated instances, DNN specs, assignment tables and
ONNX files through the command line. Every case asserts exit code in {0, 2, 3, 4}, no
traceback, no hang, a named field for exit 2, exit 2 for certainly-invalid input, and for a
solve that exits 0 an assignment ``mecopt check`` accepts (see tests/fuzz_cases.py).

Command lines (issue 23): every command and every option of ``mecopt``, found by introspecting the
click group, with generated values (wrong type, non-finite, negative, zero, huge, empty, unknown
choices) and misspelled option names, on the paper's, soft-deadline and several-server instances;
a certainly-invalid value exits 2 naming the option (see the command-line section of
tests/fuzz_cases.py).

Profiles: the fast one runs in CI (a few dozen cases per test, well under a minute);
``MECOPT_FUZZ=long`` (or ``python benchmarks/fuzz_long.py``) runs >= 10,000 cases and, with
``MECOPT_FUZZ_STATS=FILE``, writes counts of what happened to FILE.
"""

from __future__ import annotations

import functools
import json
import os
import random
import tempfile
from collections import Counter
from pathlib import Path

import click
import pytest
import tomli_w
from conftest import TINY_SPEC
from fuzz_cases import (
    ARGV_BASES,
    ARGV_INSTANCES,
    ARGV_NOT_RUN,
    ARGV_VALUES,
    BAD_CELLS,
    GTPOS_LIMIT_S,
    ODD_OK_CELLS,
    REACHED,
    RUNS_FAILED,
    SPEC_POSITIVE,
    STUDY_FILE,
    Checks,
    Result,
    argv_oracle,
    assert_checks,
    base_argv,
    check_argv_result,
    check_result,
    command_table,
    dnn_specs,
    encoded,
    fuzzed_params,
    instances,
    iter_options,
    mutated,
    oracle,
    param_names,
    run_argv,
    run_cli,
    to_toml,
    typo,
    with_value,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mecopt.core import limits
from mecopt.core.instance import load_instance

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver

LONG = os.environ.get("MECOPT_FUZZ") == "long"
#: the command lines fuzzed: every command, or those named in MECOPT_FUZZ_COMMANDS ("execute,plot cdf"; a group's
#: name, e.g. "plot", takes all its subcommands)
ONLY = [c.strip() for c in os.environ.get("MECOPT_FUZZ_COMMANDS", "").split(",") if c.strip()]


def selected(path: tuple[str, ...]) -> bool:
    """Whether command ``path`` is fuzzed (see ONLY)."""
    name = " ".join(path)
    return not ONLY or any(name == c or name.startswith(c + " ") for c in ONLY)

#: examples per test: fast (CI) and long (>= 10,000 in all over the five tests)
EXAMPLES = {"instance": 3200, "spec": 2800, "assignment": 3000, "onnx": 1600, "argv": 3200} if LONG else \
    {"instance": 30, "spec": 15, "assignment": 25, "onnx": 10, "argv": 25}
if os.environ.get("MECOPT_FUZZ_EXAMPLES"):   # one count for every test (exploration)
    EXAMPLES = dict.fromkeys(EXAMPLES, int(os.environ["MECOPT_FUZZ_EXAMPLES"]))
STATS: Counter = Counter()


def fuzz_settings(kind: str):
    return settings(max_examples=EXAMPLES[kind], deadline=None, database=None,
                    derandomize="MECOPT_FUZZ" not in os.environ and "MECOPT_FUZZ_EXAMPLES" not in os.environ,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much], print_blob=True)


@pytest.fixture(scope="module", autouse=True)
def _write_stats():
    yield
    path = os.environ.get("MECOPT_FUZZ_STATS")
    if path:
        Path(path).write_text(json.dumps(dict(sorted(STATS.items())), indent=2) + "\n")


def _count(kind: str, res, must_reject: bool, checks: Checks) -> None:
    STATS["cases"] += 1
    STATS[f"{kind}.cases"] += 1
    STATS[f"exit.{res.code}"] += 1
    STATS["tracebacks"] += res.traceback is not None
    STATS["hangs"] += res.hung
    STATS["must_reject"] += must_reject
    STATS["accepted_invalid"] += must_reject and res.code != 2
    STATS["failed_checks"] += bool(checks.failures)


def _write_files(folder: Path, spec: dict) -> None:
    (folder / "tiny.toml").write_text(tomli_w.dumps(TINY_SPEC))
    (folder / "spec.toml").write_text(tomli_w.dumps(spec))


def _command(folder: Path, inst: Path, choice: int) -> list:
    out = folder / "out"
    return [
        ["inspect", inst],
        ["solve", inst, "-m", "tpos-cai", "--engine", "dp", "--seed", "1", "--out", out],
        ["solve", inst, "-m", "gtpos", "--time-limit", GTPOS_LIMIT_S, "--out", out],
        ["solve", inst, "-m", "all-local", "--out", out],
        ["solve", inst, "-m", "isolated", "--engine", "dp", "--out", out],
        ["solve", inst, "-m", "tpos-uai", "--engine", "dp", "--seed", "2", "--out", out],
        ["compare", inst, "--methods", "all-local,all-offload,isolated,tpos-cai", "--engine", "dp", "--draws", "2",
         "--out", out],
    ][choice]


def _run_and_check(kind: str, folder: Path, args: list, must_reject: bool, what: str) -> None:
    checks = Checks()
    res = run_cli(*args)
    check_result(res, checks, must_reject, what)
    out = folder / "out"
    if res.code == 0 and args[0] in ("solve", "compare") and out.is_dir():
        # every solution written must pass the independent checker (3 only if the solver reported violations)
        for sol in [out, *sorted(p for p in out.iterdir() if p.is_dir())]:
            if not (sol / "assignment.csv").exists():
                continue
            summary = json.loads((sol / "summary.json").read_text())
            chk = run_cli("check", args[1], sol / "assignment.csv")
            check_result(chk, checks, False, f"{what} / check of {sol.name}")
            reported = int(summary.get("violations") or 0)
            checks.expect(chk.code == (3 if reported else 0), f"{what}: {sol.name} exited 0 reporting {reported} "
                          f"violation(s), check exited {chk.code}", chk)
            STATS["solutions_checked"] += 1
    _count(kind, res, must_reject, checks)
    assert_checks(checks)


@fuzz_settings("instance")
@given(data=st.data())
def test_fuzz_instance_documents(data):
    """Mutated instance documents (types, ranges, missing/unknown keys, nesting, encodings)."""
    spec = data.draw(dnn_specs(), "spec")
    doc, what, must_reject = data.draw(instances().flatmap(mutated), "instance")
    raw, enc, enc_reject = data.draw(encoded(to_toml(doc)), "encoding")
    choice = data.draw(st.integers(0, 6), "command")
    with tempfile.TemporaryDirectory(prefix="mecopt-fuzz-") as tmp:
        folder = Path(tmp)
        _write_files(folder, spec)
        inst = folder / "inst.toml"
        inst.write_bytes(raw)
        _run_and_check("instance", folder, _command(folder, inst, choice), oracle(must_reject, enc_reject),
                       f"instance [{what}; {enc}]")


@fuzz_settings("spec")
@given(data=st.data())
def test_fuzz_dnn_specs(data):
    """Mutated DNN specs (kernel/ceil_mode/out_shape types, inf factors, sizes, layer counts)."""
    spec = data.draw(dnn_specs(), "spec")
    if data.draw(st.integers(0, 9), "huge") == 0:   # beyond the layer limit
        n = data.draw(st.integers(limits.MAX_LAYERS + 1, limits.MAX_LAYERS + 500), "layers")
        spec["layers"] = [{"name": f"r{i}", "type": "relu"} for i in range(n)]
        doc, what, must_reject = spec, f"{n} layers", True
    else:
        doc, what, must_reject = data.draw(mutated(spec, SPEC_POSITIVE), "mutation")
    raw, enc, enc_reject = data.draw(encoded(to_toml(doc)), "encoding")
    inst_doc = data.draw(instances(dnn_choices=("spec.toml",)), "instance")
    choice = data.draw(st.sampled_from([0, 1, 2, 3, 6]), "command")
    with tempfile.TemporaryDirectory(prefix="mecopt-fuzz-") as tmp:
        folder = Path(tmp)
        _write_files(folder, spec)
        (folder / "spec.toml").write_bytes(raw)
        inst = folder / "inst.toml"
        inst.write_text(tomli_w.dumps(inst_doc))
        _run_and_check("spec", folder, _command(folder, inst, choice), oracle(must_reject, enc_reject),
                       f"spec [{what}; {enc}]")


@fuzz_settings("assignment")
@given(data=st.data())
def test_fuzz_assignment_tables(data):
    """Assignment tables with mutated cells (1_0, 1.5, x, unicode digits), columns and devices."""
    inst_doc = data.draw(instances(dnn_choices=("lenet", "tiny.toml")), "instance")
    inst_doc["model"]["deadline_policy"] = "relax"   # a table for every instance (hard deadlines: the other tests)
    with tempfile.TemporaryDirectory(prefix="mecopt-fuzz-") as tmp:
        folder = Path(tmp)
        _write_files(folder, TINY_SPEC)
        inst = folder / "inst.toml"
        inst.write_text(tomli_w.dumps(inst_doc))
        instance = load_instance(inst)
        H = instance.server.H
        rng = random.Random(data.draw(st.integers(0, 2**32 - 1), "rng"))
        layout = data.draw(st.sampled_from(["local", "random", "offload"]), "layout")
        rows = []
        for d in instance.devices:
            slots = sorted(rng.randint(0, H) for _ in range(d.M)) if layout == "random" else (
                [0] * d.M if layout == "local" else [1] * d.M)
            rows += [[d.name, m + 1, s] for m, s in enumerate(slots)]
        header = ["device", "layer", "slot"]
        mutation = data.draw(st.sampled_from(["none", "bad_cell", "odd_cell", "drop_column", "unknown_device",
                                              "extra_column", "empty"]), "mutation")
        must_reject, what = False, mutation
        if mutation in ("bad_cell", "odd_cell") and rows:
            cell = data.draw(st.sampled_from(BAD_CELLS if mutation == "bad_cell" else ODD_OK_CELLS), "cell")
            r, c = rng.randrange(len(rows)), rng.choice([1, 2])
            rows[r][c] = cell
            must_reject, what = mutation == "bad_cell", f"{header[c]} = {cell!r}"
        elif mutation == "drop_column":
            c = rng.randrange(3)
            header = header[:c] + header[c + 1:]
            rows = [row[:c] + row[c + 1:] for row in rows]
            must_reject = True
        elif mutation == "unknown_device" and rows:
            rows[rng.randrange(len(rows))][0] = "no-such-device"
            must_reject = True
        elif mutation == "extra_column":
            header.append("note")
            rows = [row + ["x"] for row in rows]
        elif mutation == "empty":
            rows = []
        fmt = data.draw(st.sampled_from(["csv", "json"]), "format")
        path = folder / f"assignment.{fmt}"
        if fmt == "csv":
            path.write_text("\n".join(",".join(map(str, r)) for r in [header] + rows) + "\n")
        else:
            path.write_text(json.dumps([dict(zip(header, r)) for r in rows]))
        checks = Checks()
        res = run_cli("check", inst, path)
        check_result(res, checks, must_reject, f"assignment [{what}; {fmt}]")
        _count("assignment", res, must_reject, checks)
        assert_checks(checks)




def _onnx_model(draw) -> bytes:
    import onnx as _onnx
    from onnx import TensorProto, helper

    c, hw = draw(st.integers(1, 4), "c"), draw(st.integers(4, 16), "hw")
    nodes, inits, cur, shape = [], [], "x", [1, c, hw, hw]
    for i in range(draw(st.integers(1, 5), "n")):
        op = draw(st.sampled_from(["Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Softmax"]), f"op{i}")
        out = f"t{i}"
        if op == "Conv" and len(shape) == 4 and shape[2] >= 3:
            k, oc = draw(st.integers(1, 3), f"k{i}"), draw(st.integers(1, 8), f"oc{i}")
            inits.append(TensorProto(name=f"w{i}", data_type=TensorProto.FLOAT, dims=[oc, shape[1], k, k]))
            nodes.append(helper.make_node("Conv", [cur, f"w{i}"], [out], kernel_shape=[k, k]))
            shape = [1, oc, shape[2] - k + 1, shape[3] - k + 1]
        elif op == "MaxPool" and len(shape) == 4 and shape[2] >= 2:
            nodes.append(helper.make_node("MaxPool", [cur], [out], kernel_shape=[2, 2], strides=[2, 2]))
            shape = [1, shape[1], shape[2] // 2, shape[3] // 2]
        elif op in ("Flatten", "Gemm") and len(shape) == 4:
            nodes.append(helper.make_node("Flatten", [cur], [out]))
            shape = [1, shape[1] * shape[2] * shape[3]]
        elif op == "Gemm" and len(shape) == 2:
            n_out = draw(st.integers(1, 16), f"g{i}")
            inits.append(TensorProto(name=f"w{i}", data_type=TensorProto.FLOAT, dims=[n_out, shape[1]]))
            nodes.append(helper.make_node("Gemm", [cur, f"w{i}"], [out], transB=1))
            shape = [1, n_out]
        elif op == "Softmax":
            nodes.append(helper.make_node("Softmax", [cur], [out]))
        else:
            nodes.append(helper.make_node("Relu", [cur], [out]))
        cur = out
    nodes.append(helper.make_node("Identity", [cur], ["y"]))
    graph = helper.make_graph(nodes, "fz", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, hw, hw])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return _onnx.helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


@fuzz_settings("onnx")
@given(data=st.data())
def test_fuzz_onnx_import(data):
    """Small ONNX chains, then flipped or cut bytes: import-onnx exits 0 or 2; an imported spec loads."""
    pytest.importorskip("onnx")
    raw = _onnx_model(lambda s, label=None: data.draw(s, label))
    mutation = data.draw(st.sampled_from(["none", "flip", "truncate", "garbage"]), "mutation")
    if mutation == "flip" and raw:
        b = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 4), "flips")):
            b[data.draw(st.integers(0, len(b) - 1), "pos")] = data.draw(st.integers(0, 255), "byte")
        raw = bytes(b)
    elif mutation == "truncate":
        raw = raw[:data.draw(st.integers(0, max(len(raw) - 1, 0)), "cut")]
    elif mutation == "garbage":
        raw = data.draw(st.binary(min_size=0, max_size=300), "garbage")
    with tempfile.TemporaryDirectory(prefix="mecopt-fuzz-") as tmp:
        folder = Path(tmp)
        model = folder / "m.onnx"
        model.write_bytes(raw)
        checks = Checks()
        res = run_cli("import-onnx", model, "--out", folder / "m.toml", "--force", "-q")
        check_result(res, checks, False, f"onnx [{mutation}]")
        checks.expect(res.code in (0, 2), f"onnx [{mutation}]: exit {res.code}, expected 0 or 2", res)
        if res.code == 0:
            inst = folder / "inst.toml"
            inst.write_text(tomli_w.dumps({"name": "o", "model": {"deadline_policy": "relax"},
                                           "devices": [{"dnn": "m.toml"}]}))
            ins = run_cli("inspect", inst)
            check_result(ins, checks, False, f"onnx [{mutation}] / inspect of the imported spec")
        _count("onnx", res, False, checks)
        assert_checks(checks)


# ------------------------------------------------------------------ command lines (issue 23)

def _count_argv(path, res, must_reject, checks: Checks) -> None:
    cmd = " ".join(path)
    _count("argv", res, bool(must_reject), checks)
    STATS[f"argv.{cmd}.cases"] += 1
    STATS[f"argv.{cmd}.exit.{'reached' if res.code == REACHED else res.code}"] += 1
    STATS["argv.exit4"] += res.code == 4
    STATS["argv.exit4_on_bad_input"] += bool(must_reject) and res.code == 4
    STATS["argv.exit0_on_failed_run"] += any("exit 0 but" in f or "exit 0 on a failed run" in f
                                             for f in checks.failures)
    STATS["argv.exit5"] += res.code == 5


def test_every_command_has_a_base_command_line(tmp_path):
    """Every command of ``mecopt --help`` is fuzzed, and every base command line is valid (exit 0, or reached)."""
    assert set(command_table()) == set(ARGV_BASES), "a new command needs a base command line in ARGV_BASES"
    checks = Checks()
    for path, bases in sorted(ARGV_BASES.items()):
        for i in range(len(bases)):
            argv = base_argv(path, i, ARGV_INSTANCES[i % len(ARGV_INSTANCES)], tmp_path / f"{'-'.join(path)}{i}")
            res = run_argv(argv, path, tmp_path / "cwd")
            checks.expect(res.code in (0, REACHED) and res.traceback is None, f"base {' '.join(argv)}", res)
    assert_checks(checks)


def test_every_option_refuses_invalid_values(tmp_path):
    """Each option of each command, with one value of each kind its declaration rules out, and a misspelled name.

    Only values the oracle rules out are run here (they fail before any work): exit 2 naming the option.
    """
    checks = Checks()
    ran = 0
    for path, cmd, param in iter_options():
        if not selected(path):
            continue
        base = base_argv(path, 0, ARGV_INSTANCES[0], tmp_path / "out")
        names = param_names(param)
        for kind in ("non_finite", "negative", "huge", "empty", "wrong_type", "unknown_choice"):
            values = ARGV_VALUES[kind]
            value = values[(len(param.name or "") + ran) % len(values)]
            if isinstance(param, click.Option) and (param.is_flag or param.count):
                continue
            argv = with_value(base, path, cmd, param, value)
            if argv_oracle(path, argv, param, value) is not True:
                continue
            res = run_argv(argv, path, tmp_path / "cwd")
            check_argv_result(res, checks, param_names_=names, value=value, must_reject=True,
                              may_time_out=False, what=f"{' '.join(path)} {param.name}={value!r} [{kind}]")
            _count_argv(path, res, True, checks)
            ran += 1
        long_names = [o for o in getattr(param, "opts", []) if o.startswith("--")] if isinstance(param, click.Option) \
            else []
        if long_names:
            wrong = typo(long_names[0], ran)
            known = {o for p in cmd.params for o in list(p.opts) + list(getattr(p, "secondary_opts", []))}
            if wrong not in known:
                res = run_argv(base + [wrong, "1"], path, tmp_path / "cwd")
                check_argv_result(res, checks, param_names_=[wrong], value=None, must_reject=True,
                                  may_time_out=False, what=f"{' '.join(path)} typo {wrong}")
                _count_argv(path, res, True, checks)
                ran += 1
    assert ran > (200 if not ONLY else 0), f"only {ran} invalid command lines tried"
    assert_checks(checks)


@fuzz_settings("argv")
@given(data=st.data())
def test_fuzz_command_lines(data):
    """Random command, option, value kind and instance: the invariants of check_argv_result."""
    table = {p: c for p, c in command_table().items() if selected(p)}
    path = data.draw(st.sampled_from(sorted(table)), "command")
    cmd = table[path]
    params = fuzzed_params(cmd)
    inst = data.draw(st.sampled_from(ARGV_INSTANCES), "instance")
    choice = data.draw(st.integers(0, 3), "base")
    with tempfile.TemporaryDirectory(prefix="mecopt-fuzz-") as tmp:
        base = base_argv(path, choice, inst, Path(tmp) / "out")
        long_names = sorted({o for p in params if isinstance(p, click.Option) for o in p.opts if o.startswith("--")})
        if not params:   # a command without options: an unknown one
            argv, names, value, must_reject, param = base + ["--nosuch", "1"], ["--nosuch"], None, True, None
        elif long_names and data.draw(st.integers(0, 9), "typo?") == 0:
            wrong = typo(data.draw(st.sampled_from(long_names), "option"), data.draw(st.integers(0, 10**6), "at"))
            known = {o for p in params for o in list(p.opts) + list(getattr(p, "secondary_opts", []))}
            if wrong in known:
                return
            argv, names, value, must_reject, param = base + [wrong, "1"], [wrong], None, True, None
        else:
            param = data.draw(st.sampled_from(params), "param")
            kind = data.draw(st.sampled_from(sorted(ARGV_VALUES)), "kind")
            value = data.draw(st.sampled_from(ARGV_VALUES[kind]), "value")
            argv = with_value(base, path, cmd, param, value)
            names = param_names(param)
            must_reject = argv_oracle(path, argv, param, value)
            if must_reject is not True and param.name in ARGV_NOT_RUN:
                return   # a valid process count or cluster address: not run in the fuzz
        checks = Checks()
        res = run_argv(argv, path, Path(tmp) / "cwd")
        what = f"{' '.join(argv)} [must_reject={must_reject}]"
        check_argv_result(res, checks, param_names_=names, value=value, must_reject=bool(must_reject),
                          may_time_out=param is not None and "time" in (param.name or ""), what=what)
        _count_argv(path, res, must_reject, checks)
        assert_checks(checks)


# ------------------------------------------------------------------ findings and leftovers (the commands merged later)

def _refused(argv: list[str], path: tuple[str, ...], option: str, tmp_path) -> None:
    res = run_argv(argv, path, tmp_path / "cwd")
    assert res.code == 2 and option in res.err and res.traceback is None, res.describe()


@pytest.mark.parametrize("extra, option", [
    (["--device-slowdown", "inf"], "--device-slowdown"),     # was accepted (click's FloatRange takes inf)
    (["--device-slowdown", "1e308"], "--device-slowdown"),   # was refused only inside the runner
    (["--seed", "-1"], "--seed"),                            # was a numpy ValueError traceback
    (["--cpu", "99999"], "--cpu"),                           # was an OSError traceback from sched_setaffinity
])
def test_execute_refuses_bad_options_before_any_work(extra, option, tmp_path):
    argv = base_argv(("execute",), 0, ARGV_INSTANCES[0], tmp_path / "out") + extra
    _refused(argv, ("execute",), option, tmp_path)


def test_execute_base_reaches_its_work(tmp_path):
    """The stub stands after execute's checks: a valid command line gets there (so the cases above are not vacuous)."""
    res = run_argv(base_argv(("execute",), 0, ARGV_INSTANCES[0], tmp_path / "out"), ("execute",), tmp_path / "cwd")
    assert res.code == REACHED, res.describe()


def test_unknown_pyomo_solver_prints_no_traceback():
    """Pyomo logs a traceback when asked for an unknown solver; the availability probe keeps it off stderr, and the
    fuzz's capture of log records (captured_logs) would see it."""
    res = run_cli("solve", "paper:fig6-w1khz", "-m", "gtpos", "--solver", "nosuch")
    assert res.code == 2 and "solver" in res.err, res.describe()
    assert res.traceback is None and "Traceback" not in res.err, res.describe()


def test_captured_logs_sees_a_library_logger_that_does_not_propagate():
    import logging

    lib = logging.getLogger("mecopt-test-quiet-library")
    lib.addHandler(logging.NullHandler())
    lib.propagate = False
    try:
        import io

        from fuzz_cases import captured_logs
        with captured_logs(io.StringIO()) as log:
            try:
                raise ValueError("x")
            except ValueError:
                lib.warning("failed", exc_info=True)
        assert "Traceback (most recent call last)" in log.getvalue()
    finally:
        lib.propagate = True


def test_equilibria_fails_when_its_figure_cannot_be_written(tmp_path, monkeypatch):
    """A histogram that cannot be written is exit 2 naming the file (it was swallowed: exit 0)."""
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    def full_disk(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", full_disk)
    res = run_cli("equilibria", "paper:fig6-w1khz", "--starts", "1", "--no-gtpos", "--out", tmp_path / "eq")
    assert res.code == 2 and "equilibria.png" in res.err and res.traceback is None, res.describe()


def test_a_study_with_failed_runs_is_exit_5_and_the_oracle_knows_it(tmp_path, monkeypatch):
    """Exit 5 (some runs failed, docs/reliability.md) is a documented outcome of sweep and study, with the failures
    listed; the oracle flags an exit 0 whose failures table is not empty."""
    import mecopt.methods.gtpos
    from mecopt.core.errors import SolverError

    @functools.wraps(mecopt.methods.gtpos.solve_gtpos)   # keeps its declared options
    def broken_solver(instance, **options):   # GTPOS under a budget always returns an assignment now (issue 24)
        raise SolverError("deliberate failure: the solver broke")

    monkeypatch.setattr(mecopt.methods.gtpos, "solve_gtpos", broken_solver)   # the study runs in this process
    study = tmp_path / "bad.toml"
    study.write_text(STUDY_FILE.replace('methods = ["all-local", "all-offload"]',
                                        'methods = ["all-local", "gtpos"]').replace(
        "all-offload = { draws = 2 }", "gtpos = { time_limit = 0.001 }"))
    res = run_argv(["study", str(study), "--out", "st", "-q"], ("study",), tmp_path / "cwd")
    checks = Checks()
    check_argv_result(res, checks, param_names_=[], value=None, must_reject=False, may_time_out=False, what="study")
    assert res.code == RUNS_FAILED and not checks.failures, res.describe() + "\n".join(checks.failures)
    lie = Result(res.args, 0, res.out, res.err, cwd=res.cwd)   # the same run, had it exited 0
    check_argv_result(lie, checks, param_names_=[], value=None, must_reject=False, may_time_out=False, what="lie")
    assert any("exit 0 on a failed run" in f for f in checks.failures)
