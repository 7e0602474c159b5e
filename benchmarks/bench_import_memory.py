"""Peak memory of importing an ONNX model (issue 10: VGG16 at most 500 MB).

Usage: python benchmarks/bench_import_memory.py [--models vgg16,...] [--workdir /tmp/mecopt-bench]

For each bundled spec named, an ONNX file with random float32 weights is built
once from the spec (``mecopt.byo.profiling.spec_to_onnx``: VGG16 is 528 MB on
disk; no torch needed), or an ``.onnx`` path is used as given. Each import then
runs in a fresh Python subprocess that reports

- ``peak_rss_mb``: the process's peak resident set (``VmHWM`` of /proc/self/status,
  which, unlike ``ru_maxrss``, does not inherit the parent's peak across exec),
  interpreter and libraries included;
- ``base_rss_mb``: the same just before the import (after ``import onnx, mecopt``);
- ``traced_peak_mb``: the peak of Python allocations during the import (tracemalloc).

Writes benchmarks/results/import_memory.csv and prints the table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from results_table import save

CHILD = r"""
import json, resource, sys, time, tracemalloc
import onnx, mecopt.byo.onnx_import as imp
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
base = hwm()
tracemalloc.start()
t0 = time.perf_counter()
result = imp.import_onnx(sys.argv[1])
wall = time.perf_counter() - t0
traced = tracemalloc.get_traced_memory()[1]
peak = hwm()
print(json.dumps({"layers": result.table.num_layers, "wall_s": wall, "base_rss_mb": base / 1024,
                  "peak_rss_mb": peak / 1024, "traced_peak_mb": traced / 2**20}))
"""


def model_file(name: str, workdir: Path) -> Path:
    if name.endswith(".onnx"):
        return Path(name)
    path = workdir / f"{name}.onnx"
    if not path.exists():  # built in a subprocess, so this process stays small
        workdir.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-c", BUILD, name, str(path)], check=True)
    return path


BUILD = r"""
import sys, onnx
from mecopt.byo.profiling import spec_to_onnx
from mecopt.core import dnn
model, _, _ = spec_to_onnx(dnn.load_spec(dnn.resolve_path(sys.argv[1])))
onnx.save(model, sys.argv[2])
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="vgg16,alexnet", help="bundled spec names or .onnx paths")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/mecopt-bench"))
    args = ap.parse_args(argv)
    rows = []
    for name in args.models.split(","):
        path = model_file(name, args.workdir)
        out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append({"model": name, "file_mb": round(path.stat().st_size / 2**20, 1), "layers": r["layers"],
                     "wall_s": round(r["wall_s"], 2), "base_rss_mb": round(r["base_rss_mb"], 1),
                     "peak_rss_mb": round(r["peak_rss_mb"], 1), "traced_peak_mb": round(r["traced_peak_mb"], 1),
                     "target_mb": 500 if name == "vgg16" else "", "measured": time.strftime("%Y-%m-%d %H:%M")})
    save(rows, "import_memory")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
