"""Writing tables: one function, every format, atomically (temporary file, then rename)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd

from .errors import InputError

FORMATS = ("csv", "parquet", "json", "markdown", "latex")
SUFFIX = {"csv": ".csv", "parquet": ".parquet", "json": ".json", "markdown": ".md", "latex": ".tex"}


def atomic_write(path: str | Path, write) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text))


def write_json(path: str | Path, data) -> Path:
    return write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(o):
    import numpy as np
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def write_table(df: pd.DataFrame, path_stem: str | Path, fmt: str = "csv") -> Path:
    """Write ``df`` to ``path_stem`` + the format's suffix; returns the path written."""
    if fmt not in FORMATS:
        raise InputError(f"The 'format' option must be one of {', '.join(FORMATS)}. Got {fmt!r} instead.")
    path = Path(str(path_stem) + SUFFIX[fmt]) if Path(path_stem).suffix != SUFFIX[fmt] else Path(path_stem)

    def write(tmp: Path):
        if fmt == "csv":
            df.to_csv(tmp, index=False)
        elif fmt == "parquet":
            try:
                df.to_parquet(tmp, index=False)
            except ImportError as err:
                raise InputError("parquet export needs pyarrow: pip install 'mecopt[parquet]'") from err
        elif fmt == "json":
            df.to_json(tmp, orient="records", indent=2, double_precision=15)
        elif fmt == "markdown":
            tmp.write_text(df.to_markdown(index=False) + "\n")
        elif fmt == "latex":
            tmp.write_text(df.to_latex(index=False))

    return atomic_write(path, write)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read back a table written by :func:`write_table` (csv, parquet, json)."""
    path = Path(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".json":
        return pd.read_json(path, orient="records", precise_float=True)
    raise InputError(f"cannot read a table from {path}: expected .csv, .parquet or .json")
