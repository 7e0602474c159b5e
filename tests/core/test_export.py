"""Export: every format written atomically; csv, parquet and json read back exactly."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mecopt.cli import cli
from mecopt.core.errors import InputError
from mecopt.core.tables import FORMATS, READABLE, SUFFIX, find_table, read_table, table_path, write_table


@pytest.fixture
def frame() -> pd.DataFrame:
    """Ints, floats that 15 digits cannot hold, missing values, strings and bools, and a column
    whose name pandas' JSON reader would take for a date."""
    return pd.DataFrame({
        "point": [0, 1, 2],
        "x": [0.1 + 0.2, 1e-300, 123456789.12345679],
        "third": [1 / 3, -2.5e17, 4.562390783071207],
        "maybe": [np.nan, 1.0, np.inf],
        "name": ["md1", "vgg16 (relaxed)", "a,b \"quoted\""],
        "ok": [True, False, True],
        "wall_time": [1.5, 2.25, 3.0],
    })


@pytest.mark.parametrize("fmt", READABLE)
def test_round_trip_is_exact(tmp_path, frame, fmt):
    path = write_table(frame, tmp_path / "t", fmt)
    assert path == tmp_path / f"t{SUFFIX[fmt]}"
    back = read_table(path)
    pd.testing.assert_frame_equal(back, frame, check_exact=True)


@pytest.mark.parametrize("fmt", READABLE)
def test_round_trip_of_a_sweep_like_table_with_missing_values(tmp_path, fmt):
    df = pd.DataFrame({"key": ["a|seed=0", "b|seed=1"], "seed": [0, 1], "gap": [np.nan, 0.25],
                       "avg_delay_s": [4.561906327, 2.7000000000000006]})
    back = read_table(write_table(df, tmp_path / "r", fmt))
    pd.testing.assert_frame_equal(back, df, check_exact=True)


def test_json_keeps_every_digit(tmp_path):
    """pandas' own JSON writer keeps 15 significant digits; ours must keep all 17."""
    df = pd.DataFrame({"v": [0.1 + 0.2]})
    path = write_table(df, tmp_path / "j", "json")
    assert json.loads(path.read_text())[0]["v"] == 0.1 + 0.2
    assert pd.read_json(path, orient="records")["v"].iloc[0] == 0.1 + 0.2  # plain pandas reads it too


def test_json_missing_values_become_null(tmp_path):
    df = pd.DataFrame({"v": [np.nan, 1.0], "s": [None, "x"]})
    records = json.loads(write_table(df, tmp_path / "j", "json").read_text())
    assert records[0] == {"v": None, "s": None}


@pytest.mark.parametrize("fmt", ["markdown", "latex"])
def test_text_formats_hold_every_cell(tmp_path, frame, fmt):
    path = write_table(frame, tmp_path / "t", fmt)
    text = path.read_text()
    assert path.suffix == SUFFIX[fmt]
    for col in frame.columns:
        assert col.replace("_", "\\_") in text or col in text
    assert "md1" in text and "vgg16" in text
    if fmt == "latex":
        assert "\\begin{tabular}" in text


def test_bad_format_is_input_error(tmp_path, frame):
    with pytest.raises(InputError, match="'format' option must be one of"):
        write_table(frame, tmp_path / "t", "ods")


@pytest.mark.parametrize("fmt", FORMATS)
def test_write_is_atomic(tmp_path, frame, monkeypatch, fmt):
    """A failing write leaves neither a partial file nor a temporary one, and keeps an older file."""
    path = write_table(frame.head(1), tmp_path / "t", fmt)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    for name in ("to_csv", "to_parquet", "to_json", "to_markdown", "to_latex", "to_dict", "to_excel", "itertuples"):
        monkeypatch.setattr(pd.DataFrame, name, boom)
    with pytest.raises(RuntimeError):
        write_table(frame, tmp_path / "t", fmt)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_find_table_and_table_path(tmp_path, frame):
    assert find_table(tmp_path / "t") is None
    write_table(frame, tmp_path / "t", "markdown")
    assert find_table(tmp_path / "t") is None          # markdown cannot be read back
    p = write_table(frame, tmp_path / "t", "json")
    assert find_table(tmp_path / "t") == p == table_path(tmp_path / "t", "json")


def test_read_table_refuses_unreadable_suffix(tmp_path, frame):
    p = write_table(frame, tmp_path / "t", "latex")
    with pytest.raises(InputError, match="expected .csv, .parquet or .json"):
        read_table(p)


def _commands(group, prefix=""):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, prefix + name + " ")
        else:
            yield prefix + name, cmd


@pytest.mark.parametrize("name", ["sweep", "reproduce"])
def test_table_writing_commands_offer_every_format(name):
    cmd = dict(_commands(cli))[name]
    fmt = next(p for p in cmd.params if p.name == "fmt")
    assert tuple(fmt.type.choices) == FORMATS
    assert fmt.default == "csv"


@pytest.mark.parametrize("fmt", FORMATS)
def test_sweep_writes_each_format(tmp_path, write_toml, instance_dict, fmt):
    inst = write_toml(instance_dict(n_devices=2))
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["sweep", str(inst), "--values", "server.slots=2,3", "--methods", "all-local",
                                   "--out", str(out), "--workers", "1", "-q", "--format", fmt])
    assert res.exit_code == 0, res.output
    path = out / f"results{SUFFIX[fmt]}"
    assert path.is_file() and (out / f"timings{SUFFIX[fmt]}").is_file()
    if fmt in READABLE:
        table = read_table(path)
        assert list(table["server.slots"]) == [2, 3]
        assert all(math.isclose(v, 1.0) for v in table["avg_delay_s"])  # 0.1+0.2+0.3+0.4 s locally


def test_jsonable_is_the_one_json_converter():
    from mecopt.core.tables import jsonable

    data = {"i": np.int32(3), "f": np.float64(0.5), "b": np.bool_(True), "a": np.array([1.0, np.nan]),
            "t": (1, "x"), 2: pd.NA, "n": None}
    plain = jsonable(data)
    assert {k: v for k, v in plain.items() if k != "a"} == {"i": 3, "f": 0.5, "b": True, "t": [1, "x"], "2": None,
                                                            "n": None}
    assert plain["a"][0] == 1.0 and math.isnan(plain["a"][1])                     # kept by default
    strict = jsonable(data, nonfinite="null")
    assert strict["a"] == [1.0, None] and type(strict["i"]) is int and type(strict["b"]) is bool
    assert json.loads(json.dumps(strict, allow_nan=False)) == strict
    with pytest.raises(TypeError, match="not JSON serializable"):
        jsonable({"x": object()})
    assert jsonable({"p": pd.Timestamp(0)}, other="str") == {"p": str(pd.Timestamp(0))}
    marker = object()
    assert jsonable([marker], other="keep")[0] is marker
