"""mecopt execute end to end on LeNet devices: the server honours slots and B, refuses malformed messages and
crowded plans, stops cleanly on a crash and on Ctrl-C, and the report compares the right numbers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from execution_helpers import lenet_instance, plan  # noqa: E402
from helpers import run  # noqa: E402

from mecopt.byo.execution import report, runner  # noqa: E402
from mecopt.byo.execution.protocol import Message, ProtocolError, receive  # noqa: E402
from mecopt.byo.execution.server import run_frame  # noqa: E402
from mecopt.core.errors import InputError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _overlaps(recs: list[dict]) -> int:
    """Most layer runs of different devices in progress at one instant."""
    events = sorted([(r["start"], 1) for r in recs] + [(r["end"], -1) for r in recs], key=lambda e: (e[0], e[1]))
    now = most = 0
    for _, d in events:
        now += d
        most = max(most, now)
    return most


@pytest.mark.parametrize("granularity", ["layer", "block"])
def test_a_plan_runs_in_its_slots_and_the_report_matches_the_instance(granularity):
    inst = lenet_instance(3, B=1, H=4, frame_s=0.2)
    sol = plan(inst, [[0, 0, 1, 1, 1, 2, 2, 2], [3, 3, 3, 3, 3, 3, 3, 3], [0, 0, 0, 0, 0, 0, 0, 0]])
    ex = runner.execute(sol, runs=1, warmup=0, granularity=granularity)
    recs = ex.records[0]
    slot = inst.server.slot_len
    ran = {(r["device"], r["slot"], r["first"], r["last"]) for r in recs}
    if granularity == "layer":
        assert ran == {(0, 1 + (m > 5), m, m) for m in range(3, 9)} | {(1, 3, m, m) for m in range(1, 9)}
    else:   # each slot's block of layers as one session
        assert ran == {(0, 1, 3, 5), (0, 2, 6, 8), (1, 3, 1, 8)}
    assert set(ex.devices[0].solo) >= {f"{m}-{m}" for m in range(3, 9)}
    for r in recs:   # nothing starts before its slot
        assert r["start"] >= (r["slot"] - 1) * slot - 1e-3
    assert _overlaps(recs) == 1          # B = 1 and one device per slot: never two at once
    devices = report.devices_table(ex)
    d0, d1, d2 = (devices.iloc[i] for i in range(3))
    # real sizes: float32 tensors, the instance counts 32 bits per element
    assert d0["up_bits_real"] == d0["up_bits_model"] == inst.devices[0].out_bits[2]
    assert d1["up_bits_real"] == inst.devices[1].out_bits[0] and d1["down_bits_real"] == inst.devices[1].out_bits[8]
    assert d2["server"] == "" and d2["meas_upload_s"] == 0
    assert d2["pred_T_s"] == pytest.approx(inst.devices[2].local_cum[8])
    # predicted parts add up to T_n (24); release at the end of the last slot
    parts = ["local", "upload", "waiting", "server", "download"]
    for _, r in devices.iterrows():
        assert sum(r[f"pred_{p}_s"] for p in parts) == pytest.approx(r["pred_T_s"])
        assert sum(r[f"meas_{p}_s"] for p in parts) == pytest.approx(r["meas_T_s"])
    assert d0["pred_waiting_s"] == 0 and d0["pred_server_s"] == pytest.approx(2 * slot)
    assert d1["pred_waiting_s"] == pytest.approx(2 * slot) and d1["meas_waiting_s"] >= 2 * slot - 1e-3
    assert d0["meas_waiting_s"] + d0["meas_server_s"] >= 2 * slot - 1e-9
    slots = report.slots_table(ex)
    assert slots["devices"].tolist() == [1, 1, 1, 0]
    layers = report.layers_table(ex)
    assert len(layers) == 24 and layers[layers["device"] == "md1"]["where"].tolist()[:3] == ["local", "local", "slot 1"]
    assert layers[layers["where"] != "local"]["meas_from"].eq("frame" if granularity == "layer" else "alone").all()
    assert layers["meas_s"].notna().all()


def test_run_frame_never_has_more_than_B_devices_computing():
    class Sleeper:
        def run_segment(self, seg, env):
            time.sleep(0.03)

    runners = {n: Sleeper() for n in range(4)}
    blocks = {n: [(1, [(1, 1), (2, 2)])] for n in range(4)}       # four devices in slot 1, B = 2
    recs = run_frame(runners, blocks, {n: {} for n in range(4)}, slot_len=1.0, B=2, lead=0.01)
    assert _overlaps(recs) == 2
    assert max(r["wait"] for r in recs) >= 0.05          # two waited for the others' two layers
    blocks = {0: [(3, [(1, 1)])], 1: [(1, [(1, 1)])]}
    recs = run_frame(runners, blocks, {0: {}, 1: {}}, slot_len=0.1, B=1, lead=0.0)
    start = {r["device"]: r["start"] for r in recs}
    assert start[0] >= 0.2 - 1e-3 and start[1] < 0.1


@pytest.fixture
def server():
    proc = runner.ServerProcess(threads=1)
    yield proc
    proc.close()
    assert _gone(proc.pid) or proc.proc.poll() is not None


def test_the_server_refuses_a_plan_with_more_than_B_devices_in_a_slot(server):
    from mecopt.byo.execution import split
    from mecopt.core import dnn
    lm = split.from_spec(dnn.load_spec(dnn.resolve_path("lenet")))
    for n in (0, 1):
        server.request(Message("load", {"device": n, "runs": 1, "warmup": 0, "final": lm.final_output},
                               blobs={"seg:8-8": lm.segment(8, 8).SerializeToString()}))
    with pytest.raises(runner.ExecutionError, match=r"more than B = 1 devices in slot\(s\) \{2: \[0, 1\]\}"):
        server.request(Message("plan", {"slot_len": 0.1, "B": 1, "blocks": {"0": [[2, [8]]], "1": [[2, [8]]]}}))
    assert server.request(Message("hello")).type == "ok"       # a refusal keeps the connection


def test_the_server_refuses_malformed_messages_and_keeps_serving(server):
    host, port = server.address.split(":")
    server.sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
    reply = receive(server.sock)
    assert reply.type == "error" and "bad magic" in reply.fields["message"]
    # the server closed that connection and accepts a new one
    server.sock.close()
    with socket.create_connection((host, int(port)), timeout=10) as c:
        from mecopt.byo.execution.protocol import request
        with pytest.raises(ProtocolError, match="unknown type 'launch'"):
            request(c, Message("launch"))
    with socket.create_connection((host, int(port)), timeout=10) as c:
        from mecopt.byo.execution.protocol import request
        with pytest.raises(ProtocolError, match="field 'device' must be int"):
            request(c, Message("input", {"device": "all"}))
    server.sock = socket.create_connection((host, int(port)), timeout=10)


def test_the_server_listens_on_loopback_only(server):
    port = int(server.address.split(":")[1])
    tcp = Path("/proc/net/tcp")
    if not tcp.exists():
        pytest.skip("no /proc/net/tcp")
    listening = [line.split()[1] for line in tcp.read_text().splitlines()[1:]
                 if line.split()[3] == "0A" and int(line.split()[1].split(":")[1], 16) == port]
    assert listening == [f"0100007F:{port:04X}"]


def test_a_crashed_server_is_a_clear_error_and_leaves_no_process():
    inst = lenet_instance(2, B=1)
    sol = plan(inst, [[1] * 8, [2] * 8])
    seen = []
    with pytest.raises(runner.ExecutionError, match=r"server process died \(exit 3\)"):
        runner.execute(sol, runs=1, warmup=0, server_args=["--crash-after", "3"],
                       progress=lambda line: seen.append(line))
    pid = int(next(line for line in seen if "started, pid" in line).rsplit(" ", 1)[1])
    assert _gone(pid)


def test_sizes_that_differ_from_the_instance_are_reported():
    inst = lenet_instance(2, B=1, bits=1)        # the paper preset's 1 bit per element: real tensors are float32
    ex = runner.execute(plan(inst, [[0, 0, 1, 1, 1, 1, 1, 1], [0] * 8]), runs=1, warmup=0)
    devices = report.devices_table(ex)
    summary = report.summary(ex, devices, report.slots_table(ex))
    assert summary["upload_sizes_differ"] == ["md1"] and summary["download_sizes_differ"] == ["md1"]
    assert devices.loc[0, "up_bits_real"] == 32 * devices.loc[0, "up_bits_model"]


def test_queued_devices_are_refused():
    inst = lenet_instance(1, H=2)
    with pytest.raises(InputError, match="queued after the frame"):
        runner.execute(plan(inst, [[3] * 8]), runs=1)


def test_two_servers_each_run_their_devices():
    inst = lenet_instance(3, B=1, servers=2)
    sol = plan(inst, [[1] * 8, [0, 0, 0, 0, 1, 1, 2, 2], [0] * 8], server_of=[0, 1, -1])
    ex = runner.execute(sol, runs=1, warmup=0)
    assert {r["device"] for r in ex.records[0]} == {0} and {r["device"] for r in ex.records[1]} == {1}
    devices = report.devices_table(ex)
    assert devices["server"].tolist() == ["s1", "s2", ""]
    slots = report.slots_table(ex)
    assert slots.groupby("server")["devices"].apply(list).to_dict() == {"s1": [1, 0, 0, 0], "s2": [1, 1, 0, 0]}


def _solution_folder(tmp_path, inst_doc: str, profile) -> tuple[Path, Path]:
    import mecopt
    path = tmp_path / "inst.toml"
    path.write_text(inst_doc)
    inst = mecopt.load_instance(path)
    folder = tmp_path / "sol"
    plan(inst, profile).write(folder)
    return path, folder


DOC = """name = "tiny-exec"
seed = 1
[model]
bits_per_element = 32
deadline_policy = "relax"
[server]
slots = {H}
frame_s = {T}
parallel_limit = 1
[device_defaults]
dnn = "lenet"
bandwidth_hz = 1e6
[[devices]]
count = 2
"""


def test_the_command_writes_the_report(tmp_path, capsys):
    inst, folder = _solution_folder(tmp_path, DOC.format(H=2, T=0.1), [[0, 0, 0, 1, 1, 1, 1, 1], [0] * 8])
    out = tmp_path / "report"
    code, stdout, err = run(capsys, "execute", inst, folder, "--out", out, "--runs", "1", "--warmup", "0")
    assert code == 0, err
    assert "mean |error| of T_n" in stdout
    for name in ("devices.csv", "slots.csv", "layers.csv", "frame.csv", "summary.json", "execution.png"):
        assert (out / name).exists(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["devices"] == 2 and summary["offloading"] == 1 and summary["setting_release"] == "slot-end"
    frame = pd.read_csv(out / "frame.csv")
    assert frame[["first", "last", "slot"]].values.tolist() == [[4, 8, 1]]


def test_bad_options_exit_2(tmp_path, capsys):
    inst, folder = _solution_folder(tmp_path, DOC.format(H=2, T=0.1), [[0] * 8, [0] * 8])
    code, _, err = run(capsys, "execute", inst, folder, "--out", tmp_path / "r", "--server", "nohost")
    assert code == 2 and "--server" in err
    code, _, err = run(capsys, "execute", inst, folder, "--out", tmp_path / "r", "--model", "lenet.onnx")
    assert code == 2 and "'--model' option must be DNN=FILE.onnx" in err


def test_ctrl_c_stops_the_command_and_its_server(tmp_path):
    # a long frame: the device's layers wait in slot 2 of 2 x 30 s
    inst, folder = _solution_folder(tmp_path, DOC.format(H=2, T=60.0), [[2] * 8, [0] * 8])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "mecopt", "execute", str(inst), str(folder), "--out",
                             str(tmp_path / "r"), "--runs", "1", "--warmup", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    pid, lines = None, []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        lines.append(line)
        if "started, pid" in line:
            pid = int(line.rsplit(" ", 1)[1])
        if "frame of" in line:
            break
    assert pid is not None, lines
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=30)
    finally:
        proc.kill()
    assert code == 130
    assert "interrupted" in proc.stderr.read()
    end = time.monotonic() + 10
    while not _gone(pid) and time.monotonic() < end:
        time.sleep(0.1)
    assert _gone(pid)
    assert not (tmp_path / "r" / "summary.json").exists()


def test_concurrency_counts_the_devices_computing_at_each_layer():
    devs = [runner.DeviceRun(n, 0, 0, solo={"1-1": 0.1, "2-2": 0.1}) for n in range(3)]
    recs = [{"device": 0, "slot": 1, "first": 1, "last": 1, "start": 0.0, "end": 0.2, "wait": 0.0},
            {"device": 1, "slot": 1, "first": 1, "last": 1, "start": 0.05, "end": 0.25, "wait": 0.0},
            {"device": 2, "slot": 2, "first": 2, "last": 2, "start": 1.0, "end": 1.1, "wait": 0.0}]
    conc = report.concurrency(runner.Execution(None, devs, {0: recs}, {}))
    assert conc["concurrent"].tolist() == [2, 2, 1]
    assert conc.groupby("concurrent").apply(lambda g: g["meas_s"].sum() / g["solo_s"].sum(),
                                            include_groups=False).round(9).to_dict() == {1: 1.0, 2: 2.0}


def test_a_server_given_by_address_is_used_and_left_running():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "mecopt.byo.execution.server", "--port", "0", "--max-seconds", "120"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, text=True)
    try:
        port = int(proc.stdout.readline().split()[1])
        inst = lenet_instance(1, B=1)
        ex = runner.execute(plan(inst, [[0, 0, 1, 1, 1, 1, 1, 1]]), runs=1, warmup=0,
                            addresses=[f"127.0.0.1:{port}"])
        assert {r["device"] for r in ex.records[0]} == {0} and not ex.settings["servers_started"]
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
