"""Write ``examples/scenario-k3-n200.toml``: issue 24's own-scenario study, 3 servers and 200 devices.

ResNet-18 and MobileNetV2 (catalog networks), 100 of each, soft deadlines of 5 s, in SI units:
bandwidths of 10-20 MHz, 32 bits per element, servers at 3.4 GHz running up to 8 devices in a
slot (``parallel_limit``), so that 3 servers x 5 slots x 8 can hold every ResNet-18. The price units
S = delta f_s T / price_scale (eq. 20) keep the paper preset's prices with f_s in cycles per
second when ``price_scale`` grows by the same 1e6 as f_s (3.4e9 / 1e12 = 3400 / 1e6). Every
device can meet its deadline alone (MobileNetV2 runs locally in 2.1 s, ResNet-18 needs the
server: 7.1 s locally, 0.8 s at best), so the soft penalty prices only the contention.

Run from the repository root: ``python examples/scenario_k3_n200.py`` (it calls ``mecopt
generate`` and edits its output), then e.g. ``mecopt compare examples/scenario-k3-n200.toml
--budget 120 --out results/scenario``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "scenario-k3-n200.toml"
GENERATE = ["generate", "--devices", "200", "--servers", "3", "--seed", "0",
            "--dnn-mix", "resnet18:0.5,mobilenet_v2:0.5", "--deadline-policy", "soft", "--deadline-s", "5",
            "--bandwidth-khz", "10000:20000", "--units", "paper", "--name", "scenario-k3-n200"]


#: the lines of ``mecopt generate``'s paper-unit output changed to SI units (and 8 devices per slot)
SI = {"bits_per_element = 1.0": "bits_per_element = 32.0", "price_scale = 1000000.0": "price_scale = 1e12",
      "freq_cycles_per_s = 3400.0": "freq_cycles_per_s = 3.4e9", "parallel_limit = 4": "parallel_limit = 8"}


def main(out: Path = OUT) -> Path:
    """Generate the instance, switch it to SI units and write it to ``out`` (default: next to this script)."""
    subprocess.run([sys.executable, "-m", "mecopt", *GENERATE, "--out", str(out)], check=True)
    lines = out.read_text().splitlines()
    changed = [SI.get(line, line) for line in lines]
    missing = set(SI) - set(lines)
    if missing:
        raise SystemExit(f"mecopt generate no longer writes {sorted(missing)}: update this script")
    description = next(i for i, line in enumerate(changed) if line.startswith("description = "))
    changed[description] = changed[description].replace(
        'description = "', 'description = "Issue 24\'s scenario in SI units (32 bits per element, 3.4 GHz servers, '
        'price_scale 1e12, parallel_limit 8), from ', 1)
    header = "# written by examples/scenario_k3_n200.py (mecopt generate " + " ".join(GENERATE[1:]) + ", SI units)"
    out.write_text("\n".join([header, *changed]) + "\n")
    return out


if __name__ == "__main__":
    print(f"wrote {main()}")
