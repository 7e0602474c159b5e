"""Write ``examples/scenario-k3-n200.toml``: issue 24's own-scenario study, 3 servers and 200 devices.

ResNet-18 and MobileNetV2 (catalog networks), 100 of each, soft deadlines of 5 s, in SI units:
bandwidths of 10-20 MHz, 32 bits per element, servers at 3.4 GHz running up to 8 devices in a
slot (``parallel_limit``), so that 3 servers x 5 slots x 8 can hold every ResNet-18. The price units
S = delta f_s T / price_scale (eq. 20) keep the paper preset's prices with f_s in cycles per
second when ``price_scale`` grows by the same 1e6 as f_s (3.4e9 / 1e12 = 3400 / 1e6). Every
device can meet its deadline alone (MobileNetV2 runs locally in 2.1 s, ResNet-18 needs the
server: 7.1 s locally, 0.75 s at best), so the soft penalty prices only the contention.

Run from the repository root: ``python examples/scenario_k3_n200.py`` (it calls ``mecopt
generate`` and edits its output), then e.g. ``mecopt compare examples/scenario-k3-n200.toml
--budget 120 --out results/scenario``.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import tomli_w

HERE = Path(__file__).resolve().parent
OUT = HERE / "scenario-k3-n200.toml"
GENERATE = ["generate", "--devices", "200", "--servers", "3", "--seed", "0",
            "--dnn-mix", "resnet18:0.5,mobilenet_v2:0.5", "--deadline-policy", "soft", "--deadline-s", "5",
            "--bandwidth-khz", "10000:20000", "--name", "scenario-k3-n200"]


def main() -> Path:
    """Generate the instance, switch it to SI units and write it next to this script."""
    subprocess.run([sys.executable, "-m", "mecopt", *GENERATE, "--out", str(OUT)], check=True)
    doc = tomllib.loads(OUT.read_text())
    doc["description"] = ("Issue 24's scenario in SI units (32 bits per element, 3.4 GHz servers, price_scale 1e12, "
                          "parallel_limit 8), from " + doc["description"])
    doc["model"].update(bits_per_element=32.0, price_scale=1e12)
    for server in doc["servers"]:
        server.update(freq_cycles_per_s=3.4e9, parallel_limit=8)
    header = "# written by examples/scenario_k3_n200.py (mecopt generate " + " ".join(GENERATE[1:]) + ", SI units)\n"
    OUT.write_text(header + tomli_w.dumps(doc))
    return OUT


if __name__ == "__main__":
    print(f"wrote {main()}")
