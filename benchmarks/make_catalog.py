"""Generate the bundled catalog of modern DNNs (models/dnn/*.toml) from torchvision's definitions.

Needs PyTorch and torchvision (the optional ``profile`` extra, in a separate
environment: never in CI). For every network of :data:`CATALOG`:

1. build ``torchvision.models.NAME(weights=None)`` (random weights, seeded), eval mode;
2. count its multiply-adds with forward hooks (Conv2d, Linear, and for
   MultiheadAttention its projections and the two products Q·Kᵀ and A·V), batch 1,
   input 1x3x224x224;
3. export it to ONNX (opset 17, TorchScript exporter) into ``--onnx-dir``;
4. import the ONNX file with :func:`mecopt.byo.onnx_import.import_onnx` and write
   ``models/dnn/NAME.toml`` (its ``source`` records where it came from and the input shape).

The multiply-add counts go to ``models/dnn/catalog-macs.json``, which
``tests/byo/test_catalog.py`` compares the imported specs with when torch is absent.

    /work/venv-torch/bin/python benchmarks/make_catalog.py [--only resnet18,...] [--onnx-dir /tmp/catalog-onnx]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ("resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "squeezenet1_1",
           "googlenet", "densenet121", "shufflenet_v2_x1_0", "regnet_y_400mf", "convnext_tiny", "vit_b_16")
INPUT = (1, 3, 224, 224)
OPSET = 17


def load_torchvision():
    """torch and torchvision.models; defines torchvision::nms/qnms when the compiled part cannot (issue 10)."""
    import torch
    try:
        import torchvision.models as models
    except RuntimeError as err:  # a torchvision wheel built against another torch: only the detection ops fail
        if "torchvision::nms" not in str(err):
            raise
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        for mod in [m for m in sys.modules if m.startswith("torchvision")]:
            del sys.modules[mod]
        import torchvision.models as models
    return torch, models


def build(name: str):
    torch, models = load_torchvision()
    torch.manual_seed(0)
    kwargs = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    return getattr(models, name)(weights=None, **kwargs).eval()


def count_macs(net) -> int:
    """Multiply-adds of one forward pass at batch 1 (Conv2d, Linear, attention's projections, Q·Kᵀ and A·V)."""
    import torch
    total = 0

    def conv(m, inp, out):
        nonlocal total
        total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear(m, inp, out):
        nonlocal total
        total += out.numel() * m.in_features

    def attention(m, inp, out):
        nonlocal total
        q = inp[0]  # (L, N, E), or (N, L, E) with batch_first; batch 1
        L, E = (q.shape[1] if m.batch_first else q.shape[0]), q.shape[-1]
        total += 3 * L * E * E + 2 * L * L * E + L * E * E  # in-projection, Q·Kᵀ and A·V, out-projection

    hooks = []
    for mod in net.modules():
        if isinstance(mod, torch.nn.Conv2d):
            hooks.append(mod.register_forward_hook(conv))
        elif isinstance(mod, torch.nn.MultiheadAttention):
            hooks.append(mod.register_forward_hook(attention))
        elif isinstance(mod, torch.nn.Linear) and not isinstance(
                mod, torch.nn.modules.linear.NonDynamicallyQuantizableLinear):
            hooks.append(mod.register_forward_hook(linear))  # MHA's out_proj is counted by the attention hook
    with torch.inference_mode():
        net(torch.zeros(INPUT))
    for h in hooks:
        h.remove()
    return int(total)


def export(net, path: Path) -> None:
    import torch
    torch.onnx.export(net, (torch.randn(INPUT),), str(path), dynamo=False, opset_version=OPSET,
                      input_names=["x"], output_names=["y"], do_constant_folding=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma list of catalog names (default: all)")
    ap.add_argument("--onnx-dir", type=Path, default=Path("/tmp/catalog-onnx"))
    ap.add_argument("--no-toml", action="store_true", help="only export ONNX and count multiply-adds")
    args = ap.parse_args(argv)
    names = args.only.split(",") if args.only else list(CATALOG)
    args.onnx_dir.mkdir(parents=True, exist_ok=True)
    torch, _ = load_torchvision()
    import torchvision
    macs_path = ROOT / "models" / "dnn" / "catalog-macs.json"
    macs = json.loads(macs_path.read_text()) if macs_path.exists() else {}
    for name in names:
        net = build(name)
        onnx_path = args.onnx_dir / f"{name}.onnx"
        macs[name] = count_macs(net)
        if not onnx_path.exists():
            export(net, onnx_path)
        print(f"{name}: {macs[name] / 1e6:.1f} M multiply-adds, exported {onnx_path}", flush=True)
        if args.no_toml:
            continue
        from mecopt.byo.onnx_import import import_onnx
        source = (f"torchvision {torchvision.__version__} models.{name}(weights=None), random weights, "
                  f"input {'x'.join(map(str, INPUT))}, exported to ONNX opset {OPSET} by torch {torch.__version__} "
                  "(TorchScript exporter), imported by mecopt import-onnx (benchmarks/make_catalog.py)")
        result = import_onnx(onnx_path, name=name, source=source)
        out = ROOT / "models" / "dnn" / f"{name}.toml"
        out.write_text(result.to_toml())
        print(f"  wrote {out.relative_to(ROOT)}: {result.table.num_layers} layers", flush=True)
    macs_path.write_text(json.dumps({k: macs[k] for k in sorted(macs)}, indent=1) + "\n")
    print(f"wrote {macs_path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
