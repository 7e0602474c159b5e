"""Faults (issue 12 point 4): SIGINT and SIGKILL during solve, compare, sweep and reproduce; outputs
that cannot be written; a full disk; byte-identical tables for the same seed.

The commands run as real subprocesses (``python -m mecopt.cli``-equivalent console script), so
signals, exit codes and worker processes are the user's."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomli_w
from fuzz_cases import run_cli

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver

MECOPT = [sys.executable, "-c", "from mecopt.cli import main; main()"]
#: a GTPOS run of many seconds (20 AlexNet MDs)
HEAVY = "paper:fig5-n20"


def start(*args, cwd=None, **kw) -> subprocess.Popen:
    return subprocess.Popen(MECOPT + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=cwd, **kw)


def children(pid: int) -> set[int]:
    """Every descendant process of ``pid`` (from /proc)."""
    parent_of = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            parent_of[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parent_of.items() if pp in frontier} - out
        out |= frontier
    return out


def alive(pids: set[int]) -> set[int]:
    out = set()
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.add(p)
    return out


def wait_for(cond, timeout: float, step: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")


# ------------------------------------------------------------------ interrupts

#: GTPOS hits a 30 s time limit on this one even on an idle machine (60 devices of 4 DNNs with distinct
#: bandwidths, capacity mode total: 60 device classes, so aggregation does not help), with both backends
HARD_GTPOS = {"name": "hard", "model": {"deadline_policy": "relax", "capacity_mode": "total"},
              "device_defaults": {"delta_cycles_per_bit": [1000.0, 3000.0]},
              "devices": [{"dnn": ["alexnet", "vgg13", "lenet", "vgg16"][i % 4], "bandwidth_hz": 1000.0 + 97.0 * i}
                          for i in range(60)]}


@pytest.mark.parametrize("command", [
    ["solve", "-m", "gtpos", "--time-limit", "120"],
    ["solve", "-m", "gtpos", "--solver", "highs", "--time-limit", "120"],
    ["compare", "--methods", "gtpos,tpos-uai", "--time-limit", "120"],
])
def test_sigint_is_an_interruption_not_a_solver_failure(tmp_path, command):
    """SIGINT while HiGHS runs: exit 130, "interrupted", never SolverError (exit 4), no output."""
    out = tmp_path / "out"
    inst = tmp_path / "hard.toml"
    inst.write_text(tomli_w.dumps(HARD_GTPOS))
    proc = start(command[0], inst, *command[1:], "--out", out)
    time.sleep(6.0)  # loading and building (~2 s idle) then inside HiGHS
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, stderr[-2000:])
    assert "interrupted" in stderr and "Traceback" not in stderr and "SolverError" not in stderr, stderr
    assert not out.exists() or not any(out.rglob("*.csv")), "an interrupted run wrote outputs"


def _sweep_args(inst: Path, out: Path, workers: int = 2) -> list:
    return ["sweep", inst, "--values", "devices.0.bandwidth_hz=1000,2000,3000,4000",
            "--methods", "tpos-cai", "--seeds", "2", "--option", "engine=dp", "--out", out,
            "--workers", workers, "-q"]


@pytest.fixture
def sweep_instance(tmp_path) -> Path:
    doc = {"name": "sw", "model": {"deadline_policy": "relax"},
           "devices": [{"dnn": "alexnet", "count": 6}]}
    p = tmp_path / "sw.toml"
    p.write_text(tomli_w.dumps(doc))
    return p


def _log_rows(out: Path) -> list[dict]:
    log = out / "results.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


@needs_proc
def test_sigkill_sweep_leaves_no_worker_and_resumes_without_loss_or_repeat(tmp_path, sweep_instance):
    out = tmp_path / "out"
    proc = start(*_sweep_args(sweep_instance, out))
    assert wait_for(lambda: len(_log_rows(out)) >= 1, 120), proc.communicate()[1][-2000:]
    workers = children(proc.pid)
    assert workers, "the sweep has worker processes"
    proc.kill()
    proc.wait(timeout=10)
    # PR_SET_PDEATHSIG: the workers die with the parent (orphans were seen 1.5 s later before)
    assert wait_for(lambda: not alive(workers), 5.0), f"orphaned workers: {alive(workers)}"
    assert not (out / "results.csv").exists()  # the final table is written only at the end
    done_before = {r["key"] for r in _log_rows(out)}
    res = subprocess.run(MECOPT + [str(a) for a in _sweep_args(sweep_instance, out)] + ["--resume"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    keys = [r["key"] for r in _log_rows(out)]
    assert len(keys) == len(set(keys)) == 8, "a finished point was lost or repeated"
    assert done_before <= set(keys)
    assert f"{len(done_before)} already done" in res.stdout


@needs_proc
def test_sigint_sweep_exits_130_and_stops_workers(tmp_path, sweep_instance):
    out = tmp_path / "out"
    proc = start(*_sweep_args(sweep_instance, out))
    assert wait_for(lambda: bool(children(proc.pid)) and (out / "sweep.json").exists(), 60)
    time.sleep(1.0)
    workers = children(proc.pid)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr[-2000:]
    assert "interrupted" in stderr and "Traceback" not in stderr, stderr[-3000:]
    assert wait_for(lambda: not alive(workers), 5.0), f"workers left: {alive(workers)}"


@needs_proc
def test_sigkill_reproduce_resumes_without_loss_or_repeat(tmp_path):
    out = tmp_path / "rep"
    args = ["reproduce", "--fig", "5", "--quick", "--out", out, "--workers", "2", "-q"]
    proc = start(*args)
    log = out / "sweeps" / "fig5"
    assert wait_for(lambda: len(_log_rows(log)) >= 1, 120), proc.communicate()[1][-2000:]
    workers = children(proc.pid)
    proc.kill()
    proc.wait(timeout=10)
    assert wait_for(lambda: not alive(workers), 5.0), f"orphaned workers: {alive(workers)}"
    assert not (out / "REPORT.md").exists()
    before = {r["key"] for r in _log_rows(log)}
    res = subprocess.run(MECOPT + [str(a) for a in args] + ["--resume"], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    keys = [r["key"] for r in _log_rows(log)]
    assert len(keys) == len(set(keys)), "a finished run was repeated"
    assert before <= set(keys), "a finished run was lost"
    assert (out / "REPORT.md").exists()


# ------------------------------------------------------------------ outputs

def test_output_under_a_file_is_refused_before_any_work(tmp_path, monkeypatch):
    """Refused up front: no instance is read and nothing is generated (the work would raise here)."""
    import mecopt.core.instance
    import mecopt.studies.generate
    import mecopt.studies.sweep

    def work(*a, **k):
        raise AssertionError("work started before the output was checked")

    monkeypatch.setattr(mecopt.core.instance, "read_document", work)   # solve, compare, reproduce
    monkeypatch.setattr(mecopt.studies.sweep, "read_document", work)    # sweep
    monkeypatch.setattr(mecopt.studies.generate, "generate_instance", work)
    (tmp_path / "afile").write_text("x")
    for cmd in (["solve", HEAVY, "-m", "gtpos"], ["compare", HEAVY], ["sweep", HEAVY], ["reproduce"],
                ["generate", "--devices", "2", "--seed", "1"]):
        target = tmp_path / "afile" / ("x.toml" if cmd[0] == "generate" else "sub")
        res = run_cli(*cmd, "--out", target)
        assert res.code == 2 and "--out" in res.err and "afile is a file" in res.err, res.describe()


def test_output_in_an_unwritable_place_is_refused(tmp_path):
    """/proc refuses new files even to root (a chmod-ed folder does not stop root)."""
    res = run_cli("solve", HEAVY, "-m", "all-local", "--out", "/proc/mecopt-out")
    assert res.code == 2 and "--out /proc/mecopt-out: cannot write" in res.err, res.describe()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_dir_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        res = run_cli("solve", HEAVY, "-m", "all-local", "--out", ro / "sub")
        assert res.code == 2 and "cannot write" in res.err, res.describe()
    finally:
        ro.chmod(0o755)


def _limit_file_size(limit: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_full_disk_is_reported_and_earlier_outputs_stay(tmp_path):
    """RLIMIT_FSIZE makes every write past 1 KB fail (EFBIG) as a full disk would (ENOSPC)."""
    out = tmp_path / "out"
    first = subprocess.run(MECOPT + ["solve", "paper:fig6-w1khz", "-m", "all-local", "--out", str(out)],
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert max(len(b) for b in before.values()) > 1024
    res = subprocess.run(MECOPT + ["solve", "paper:fig6-w1khz", "-m", "all-offload", "--out", str(out)],
                         capture_output=True, text=True, timeout=120, preexec_fn=_limit_file_size(1024))
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert "error:" in res.stderr and "Traceback" not in res.stderr, res.stderr[-2000:]
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    for name, data in before.items():
        if name in after and after[name] != data:
            # a file may be replaced only by a complete new version (atomic rename), never cut short
            assert len(after[name]) <= 1024, f"{name} was replaced by a partial file"
    assert not [n for n in after if n.endswith(".tmp")], "a temporary file was left behind"


def test_same_seed_same_inputs_byte_identical_tables(tmp_path):
    for d in ("a", "b"):
        res = run_cli("solve", "paper:fig6-w1khz", "-m", "tpos-uai", "--engine", "dp", "--seed", "3",
                      "--out", tmp_path / d)
        assert res.code == 0, res.describe()
    for name in ("assignment.csv", "devices.csv", "violations.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    for d in ("a", "b"):
        res = run_cli("sweep", "paper:fig6-w1khz", "--values", "server.slots=3,5", "--methods", "all-offload",
                      "--seeds", "2", "--out", tmp_path / f"s{d}", "--workers", "1", "-q")
        assert res.code == 0, res.describe()
    assert (tmp_path / "sa" / "results.csv").read_bytes() == (tmp_path / "sb" / "results.csv").read_bytes()
