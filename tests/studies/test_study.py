"""Study files (issue 24 item 5): generated instances x grid x methods x seeds, run as a sweep, locally or on Dask."""

from __future__ import annotations

import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from mecopt.cli import cli
from mecopt.core.errors import InputError
from mecopt.core.tables import read_table
from mecopt.studies import study as st
from mecopt.studies import sweep as sw

REPO = Path(__file__).resolve().parents[2]

SMALL = """
name = "small"
methods = ["tpos-uai", "all-local"]
seeds = 2
[generate]
dnn_mix = "lenet:0.5,alexnet:0.5"
servers = 2
deadline_policy = "soft"
[grid]
devices = [5, 10]
[options]
"*" = { engine = "dp" }
[[figures]]
x = "devices"
y = "avg_delay_s"
"""


def _write(tmp_path: Path, text: str, name: str = "study.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_device_count_study_same_table_locally_and_on_local_dask(tmp_path):
    pytest.importorskip("distributed")
    study = _write(tmp_path, SMALL)
    runner = CliRunner()
    res = runner.invoke(cli, ["study", str(study), "--out", str(tmp_path / "local"), "--workers", "2", "-q"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["study", str(study), "--out", str(tmp_path / "dask"), "--dask", "local",
                              "--workers", "2", "-q"])
    assert res.exit_code == 0, res.output
    local = (tmp_path / "local" / "results.csv").read_bytes()
    assert (tmp_path / "dask" / "results.csv").read_bytes() == local
    table = read_table(tmp_path / "local" / "results.csv")
    assert list(table.columns[:6]) == ["key", "point", "instance", "devices", "instance_seed", "method"]
    assert sorted(set(zip(table["devices"], table["instance_seed"]))) == [(5, 0), (5, 1), (10, 0), (10, 1)]
    assert len(table) == 8 and (table["termination"] != "error").all()
    assert (tmp_path / "local" / "figures" / "avg_delay_s_vs_devices.png").stat().st_size > 0
    instances = sorted(p.name for p in (tmp_path / "local" / "instances").iterdir())
    assert instances == ["small-devices10-seed0.toml", "small-devices10-seed1.toml", "small-devices5-seed0.toml",
                         "small-devices5-seed1.toml"]


def test_generated_instances_are_what_generate_writes(tmp_path):
    from mecopt.studies.generate import generate_instance
    study = st.load_study(_write(tmp_path, SMALL))
    (name, doc, label), *_ = st.generated_instances(study)
    assert name == "small-devices5-seed0" and label == {"devices": 5, "instance_seed": 0}
    assert doc == generate_instance(5, "lenet:0.5,alexnet:0.5", 0, servers=2, deadline_policy="soft", name=name)


def test_resumed_study_gives_the_same_table(tmp_path):
    study = _write(tmp_path, SMALL.replace('[[figures]]\nx = "devices"\ny = "avg_delay_s"\n', ""))
    whole = st.run_study(study, tmp_path / "whole", executor=ThreadPoolExecutor(2))
    part = tmp_path / "part"
    st.run_study(study, part, executor=ThreadPoolExecutor(2))
    log = part / sw.LOG_NAME
    log.write_text("".join(log.read_text().splitlines(keepends=True)[:3]))      # as if killed after 3 runs
    (part / "results.csv").unlink()
    again = st.run_study(study, part, resume=True, executor=ThreadPoolExecutor(2))
    assert (again.sweep.ran, again.sweep.skipped) == (5, 3)
    assert (part / "results.csv").read_bytes() == whole.sweep.table_path.read_bytes()
    with pytest.raises(InputError, match="--resume"):
        st.run_study(study, part, executor=ThreadPoolExecutor(1))
    before = {p: p.read_bytes() for p in part.rglob("*") if p.is_file()}
    other = _write(tmp_path, SMALL.replace("devices = [5, 10]", "devices = [5, 11]"), "other.toml")
    with pytest.raises(InputError, match="different study"):
        st.run_study(other, part, resume=True, executor=ThreadPoolExecutor(1))
    assert {p: p.read_bytes() for p in part.rglob("*") if p.is_file()} == before     # nothing touched


def test_named_instances_with_a_field_grid_and_method_seeds(tmp_path):
    study = _write(tmp_path, """
        instances = ["paper:fig5-n5"]
        methods = ["all-offload"]
        method_seeds = [3, 4]
        [grid]
        "server.slots" = [4, 5]
        [options]
        all-offload = { draws = 1 }
        """)
    res = st.run_study(study, tmp_path / "o", executor=ThreadPoolExecutor(2))
    t = res.sweep.table
    assert list(t["server.slots"]) == [4, 4, 5, 5] and list(t["seed"]) == [3, 4, 3, 4]
    assert "devices" not in t.columns and "instance_seed" not in t.columns


@pytest.mark.parametrize("text, field", [
    ("methods = ['all-local']\nbogus = 1\n[generate]\ndevices = 5\n", "bogus"),
    ("methods = ['all-local']\n", "instances, generate"),
    ("methods = ['all-local']\ninstances = ['paper:fig5-n5']\n[generate]\ndevices = 5\n", "instances, generate"),
    ("methods = ['all-local']\n[generate]\ndevices = 5\ncolour = 'red'\n", "generate.colour"),
    ("methods = ['all-local']\n[generate]\ndnn_mix = 'lenet'\n", "generate.devices"),
    ("methods = ['all-local']\n[generate]\n[grid]\ndevices = []\n", "grid.devices"),
    ("methods = ['all-local']\n[generate]\ndevices = 5\n[grid]\ndevices = [5]\n", "grid.devices"),
    ("methods = ['all-local']\n[generate]\ndevices = 5\n[grid]\nwidth = [5]\n", "grid.width"),
    ("methods = ['all-local']\nseeds = 0\n[generate]\ndevices = 5\n", "seeds"),
    ("methods = ['all-local']\nseeds = 2\ninstances = ['paper:fig5-n5']\n", "seeds"),
    ("methods = ['all-local']\ninstances = ['paper:fig5-n5']\n[output]\nformat = 'xls'\n", "output.format"),
    ("methods = ['all-local']\ninstances = ['paper:fig5-n5']\n[[figures]]\nx = 'devices'\n", "figures.0.x"),
    ("methods = ['all-local']\ninstances = ['paper:fig5-n5']\n[[figures]]\nx = 'seed'\nfile = '../a.png'\n",
     "figures.0.file"),
])
def test_invalid_study_files_name_the_field(tmp_path, text, field):
    with pytest.raises(InputError) as err:
        st.load_study(_write(tmp_path, text))
    assert any(p == field for p, _ in err.value.problems), err.value.problems


def test_invalid_generated_instance_exits_2_naming_the_point(tmp_path):
    study = _write(tmp_path, """
        methods = ["all-local"]
        [generate]
        dnn_mix = "vgg16"
        [grid]
        devices = [2, 3]
        """)
    res = CliRunner().invoke(cli, ["study", str(study), "--out", str(tmp_path / "o"), "-q"])
    assert res.exit_code != 0 and isinstance(res.exception, InputError)
    message = str(res.exception)
    assert "deadline" in message and "devices=2, seed=0" in message and "devices=3, seed=0" in message
    assert not (tmp_path / "o" / "results.jsonl").exists()


def test_bad_option_in_a_study_is_refused_before_any_run(tmp_path):
    study = _write(tmp_path, """
        methods = ["gtpos"]
        instances = ["paper:fig5-n5"]
        [options]
        gtpos = { time_limit = -5 }
        """)
    with pytest.raises(InputError, match="'time_limit' option of method 'gtpos'"):
        st.run_study(study, tmp_path / "o", executor=ThreadPoolExecutor(1))
    assert not (tmp_path / "o" / "results.jsonl").exists()


def test_example_study_file_is_valid():
    study = st.load_study(REPO / "examples" / "device-count-study.toml")
    assert [a.path for a in study.generator_axes] == ["devices"]
    assert study.generator_axes[0].values == (50, 100, 200) and study.seeds == (0, 1, 2)
