"""Execute the equilibrium and the GTPOS plan of the scaled scenario for real (issue 25, docs/execute.md).

    python examples/execute_scaled.py                 # B = 1, both plans, reports under execute-out/
    python examples/execute_scaled.py --recalibrate   # first calibrate the delay sets on this machine

The scenario is examples/execute/scaled.toml: six devices of catalog networks,
the server's delay set calibrated here with one intra-op thread, the devices'
the same set x DEVICE_SLOWDOWN (emulated slower devices), H = 6 slots of 50 ms.
"""

from __future__ import annotations

import argparse
import copy
import tomllib
from pathlib import Path

import tomli_w

import mecopt
from mecopt.byo.execution import report, runner
from mecopt.core.instance import read_document

HERE = Path(__file__).resolve().parent / "execute"
SCENARIO = HERE / "scaled.toml"
NETWORKS = ("resnet18", "squeezenet1_1", "mobilenet_v3_small", "shufflenet_v2_x1_0", "regnet_y_400mf",
            "mobilenet_v2")
DEVICE_SLOWDOWN = 4.0


def scale_set(src: Path, dst: Path, factor: float, name: str) -> None:
    """Write the delay set ``src`` with every coefficient multiplied by ``factor`` (a device that much slower)."""
    data = tomllib.loads(src.read_text())
    out = copy.deepcopy(data)
    out["name"] = name
    out["description"] = (f"{data.get('name')} x {factor:g} (a device {factor:g} times slower): "
                          f"{data.get('description')}")
    out["coefficients"] = {k: v * factor for k, v in data["coefficients"].items()}
    for t in out.get("types", {}).values():
        t["coefficients"] = {k: v * factor for k, v in t["coefficients"].items()}
    dst.write_text(tomli_w.dumps(out))


def recalibrate(runs: int = 10, rounds: int = 3, min_ms: float = 300.0) -> None:
    """Calibrate the server set on this machine (one intra-op thread) and derive the device set."""
    from mecopt.byo import calibrate as cal
    profiles = cal.profile_networks(NETWORKS, runs=runs, rounds=rounds, threads=1, min_ms=min_ms,
                                    progress=lambda n, r: print(f"  {n}: {r['e2e_median_ms']:.4g} ms", flush=True))
    result = cal.calibrate(profiles, role="server", name="calibrated-server", loo=False)
    result.model.save(HERE / "calibrated-server.toml")
    print(result.networks[["dnn", "e2e_median_ms", "fitted_ms", "fitted_error"]].to_string(index=False))
    scale_set(HERE / "calibrated-server.toml", HERE / "calibrated-device.toml", DEVICE_SLOWDOWN, "calibrated-device")


def scenario(B: int = 1) -> mecopt.Instance:
    """The scaled scenario with B devices per slot at most (27)."""
    doc, _ = read_document(SCENARIO)
    doc["server"]["parallel_limit"] = B
    return mecopt.Instance.from_dict(doc, base=HERE)


def run(method: str, B: int = 1, out: Path | None = None, **options) -> dict:
    """Solve the scenario with ``method``, execute the plan, return the summary (and write the report to ``out``)."""
    sol = mecopt.solve(scenario(B), method)
    ex = runner.execute(sol, device_slowdown=DEVICE_SLOWDOWN, **options)
    devices, slots = report.devices_table(ex), report.slots_table(ex)
    if out is not None:
        from mecopt.cli.commands.execute import write_report
        write_report(ex, str(out))
    return {**report.summary(ex, devices, slots), "devices_table": devices}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recalibrate", action="store_true", help="calibrate the delay sets on this machine first")
    p.add_argument("--out", type=Path, default=Path("execute-out"))
    a = p.parse_args()
    if a.recalibrate:
        recalibrate()
    for method in ("tpos-cai", "gtpos"):
        s = run(method, 1, a.out / method)
        print(f"\n{method}, B = 1: mean |error| of T_n {100 * s['mae_T']:.1f} % "
              f"(max {100 * s['max_abs_error_T']:.1f} %), {s['offloading']} of {s['devices']} devices offload, "
              f"overruns {s['overruns']}, load {s['setting_load']}")
        print(s["devices_table"][["device", "dnn", "m_star", "h_max", "pred_T_s", "meas_T_s", "error"]]
              .to_string(index=False))


if __name__ == "__main__":
    main()
