"""The bundled catalog of modern networks (issue 10): loads by name, records its source, multiply-adds equal
torchvision's (counted with torch when it is installed, else the committed reference counts), predicted
local times follow the multiply-adds, and the catalog instances solve."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import run

from mecopt.core import dnn
from mecopt.core.instance import instance_from_dict
from mecopt.core.resources import dnn_dir

CATALOG = ("resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "squeezenet1_1",
           "googlenet", "densenet121", "shufflenet_v2_x1_0", "regnet_y_400mf", "convnext_tiny", "vit_b_16")
ROOT = Path(__file__).resolve().parents[2]


def multiply_adds(name: str) -> float:
    """Σ G²K²OI over the convolutions, fc layers and attention products of the spec (its MACs)."""
    ops = dnn.layer_table(name).op_frame()
    m = ops[ops["type"].isin(["conv", "dwconv", "fc", "attention"])]
    return float((m["G"] ** 2 * m["K"] ** 2 * m["O"] * m["I"]).sum())


def usable_torchvision() -> str | None:
    """None when torch and torchvision.models can build a catalog network here, else why not.

    A torchvision wheel built against another torch fails at import (``operator torchvision::nms does not
    exist``, a RuntimeError) or when its compiled ops are first used; any such failure means the torchvision
    checks cannot run here, which is a skip, not an error (issue 20)."""
    try:
        import torch  # noqa: F401
    except Exception as err:  # noqa: BLE001
        return f"torch is not usable: {err}"
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import make_catalog
        make_catalog.load_torchvision()
        make_catalog.build("squeezenet1_1")
    except Exception as err:  # noqa: BLE001 - ImportError, RuntimeError, OSError from mismatched binaries
        return f"torchvision cannot be used with the installed torch: {type(err).__name__}: {err}"
    return None


def reference_counts() -> dict[str, int]:
    """torchvision's counts: computed with torch where it is usable, else the committed ones."""
    committed = json.loads((dnn_dir() / "catalog-macs.json").read_text())
    if usable_torchvision() is not None:  # no torch (CI), or a torchvision that does not match it
        return committed
    import make_catalog
    return {name: make_catalog.count_macs(make_catalog.build(name)) for name in CATALOG}


def test_the_catalog_loads_by_name_and_records_source_and_input_shape():
    assert set(CATALOG) <= set(dnn.catalog())
    for name in CATALOG:
        spec = dnn.load_spec(dnn.resolve_path(name))
        assert spec.name == name and spec.grouped_conv == "per_group"
        assert f"models.{name}(weights=None)" in spec.source and "input 1x3x224x224" in spec.source
        assert "opset 17" in spec.source
        assert (spec.input.channels, spec.input.height, spec.input.width) == (3, 224, 224)
        table = dnn.layer_table(name)
        assert table.frame.iloc[-1]["out_elements"] == 1000  # the ImageNet classifier
    inst = instance_from_dict({"devices": [{"dnn": "mobilenet_v2", "alpha": 0.5, "beta": 0.25, "gamma": 0.25}],
                               "model": {"deadline_policy": "relax"}})
    assert inst.devices[0].dnn == "mobilenet_v2"


def test_multiply_adds_match_torchvision_within_one_percent():
    ref = reference_counts()
    for name in CATALOG:
        assert multiply_adds(name) == pytest.approx(ref[name], rel=0.01), name


def test_predicted_local_time_follows_the_multiply_adds():
    def local_time(name):
        inst = instance_from_dict({"devices": [{"dnn": name, "alpha": 0.5, "beta": 0.25, "gamma": 0.25}],
                                   "model": {"deadline_policy": "relax"}})
        return float(inst.devices[0].t_local.sum())

    t = {name: local_time(name) for name in CATALOG}
    macs = {name: multiply_adds(name) for name in CATALOG}
    assert macs["mobilenet_v2"] / macs["resnet18"] == pytest.approx(0.166, abs=0.01)
    assert t["mobilenet_v2"] / t["resnet18"] < 0.5
    assert t["efficientnet_b0"] < t["resnet18"] and t["mobilenet_v3_small"] < t["shufflenet_v2_x1_0"]
    # eq. (6) also charges memory traffic (G²K²I, G²O), so light networks cost more per multiply-add,
    # but never by more than a factor 3 over the catalog
    per_gmac = np.array([t[n] / (macs[n] * 1e-9) for n in CATALOG])
    assert per_gmac.max() / per_gmac.min() < 3.0
    order_t = np.argsort(np.argsort([t[n] for n in CATALOG]))
    order_m = np.argsort(np.argsort([macs[n] for n in CATALOG]))
    rho = np.corrcoef(order_t, order_m)[0, 1]  # Spearman's rank correlation
    assert rho > 0.95


@pytest.mark.parametrize("name", ["shufflenet_v2_x1_0", "convnext_tiny", "vit_b_16"])
def test_compare_with_the_dp_engine_runs_on_the_catalog_instances(capsys, tmp_path, name):
    code, out, err = run(capsys, "compare", f"catalog:{name}", "--engine", "dp",
                         "--methods", "tpos-cai,all-local,isolated", "--out", tmp_path / name)
    assert code == 0, err
    assert "tpos-cai" in out and "equilibrium" in out


@pytest.mark.parametrize("name", ["shufflenet_v2_x1_0", "convnext_tiny", "vit_b_16"])
def test_torchvision_export_imports_to_the_committed_spec(tmp_path, name):
    """Where torch is installed: export the network again and import it; it gives the committed TOML."""
    pytest.importorskip("onnx")
    why = usable_torchvision()
    if why is not None:
        pytest.skip(why)
    import make_catalog

    from mecopt.byo.onnx_import import import_onnx
    path = tmp_path / f"{name}.onnx"
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make_catalog.export(make_catalog.build(name), path)
    spec = dnn.load_spec(dnn.resolve_path(name))
    result = import_onnx(path, name=name, source=spec.source)
    assert result.to_toml() == (dnn_dir() / f"{name}.toml").read_text()
