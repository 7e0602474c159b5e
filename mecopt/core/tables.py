"""Writing tables: one function, every format, atomically (:mod:`mecopt.core.files`: temporary file, fsync, rename).

And the one converter of numpy / pandas values to plain JSON data (:func:`jsonable`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from mecopt.core.errors import InputError
from mecopt.core.files import atomic_write, write_text  # noqa: F401  (the writers of every table and text file)

FORMATS = ("csv", "parquet", "json", "markdown", "latex")
SUFFIX = {"csv": ".csv", "parquet": ".parquet", "json": ".json", "markdown": ".md", "latex": ".tex"}


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON (numpy values converted by :func:`jsonable`), atomically.

    Parameters
    ----------
    path : str or Path
        The file to write.
    data : object
        The JSON data.

    Returns
    -------
    Path
        ``path``.
    """
    return write_text(path, json.dumps(data, indent=2, default=jsonable) + "\n")


def jsonable(value: Any, *, nonfinite: str = "keep", other: str = "raise") -> Any:
    """``value`` as plain JSON data.

    Numpy scalars and arrays as Python numbers and lists, tuples as lists, dict keys as text, pandas' missing values
    (``pd.NA``, ``pd.NaT``) as None.

    The one numpy -> JSON converter of mecopt: :func:`write_json` uses it for every file it
    writes, ``mecopt check --json`` for what it prints, instance documents built in code go
    through it before validation.

    Parameters
    ----------
    value
        Any value; dicts, lists and tuples are converted recursively.
    nonfinite : {"keep", "null"}
        ``"null"``: a NaN or infinite float becomes None (strict JSON); ``"keep"``: it stays.
    other : {"raise", "str", "keep"}
        A value of any other type: TypeError, its ``str``, or the value unchanged.

    Returns
    -------
    object
        None, bool, int, float, str, list or dict (or, with ``other="keep"``, the value itself).

    Raises
    ------
    TypeError
        For a value of another type with ``other="raise"``.

    Examples
    --------
    >>> import numpy as np
    >>> from mecopt.core.tables import jsonable
    >>> jsonable({"n": np.int64(3), "x": np.array([0.5, np.inf]), "t": (1, 2)}, nonfinite="null")
    {'n': 3, 'x': [0.5, None], 't': [1, 2]}
    """
    import math

    import numpy as np

    if isinstance(value, dict):
        return {str(k): jsonable(v, nonfinite=nonfinite, other=other) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, nonfinite=nonfinite, other=other) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist(), nonfinite=nonfinite, other=other)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return None if nonfinite == "null" and not math.isfinite(value) else value
    if value is pd.NA or value is pd.NaT:
        return None
    if other == "str":
        return str(value)
    if other == "keep":
        return value
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def write_table(df: pd.DataFrame, path_stem: str | Path, fmt: str = "csv") -> Path:
    """Write ``df`` to ``path_stem`` + the format's suffix; returns the path written.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    path_stem : str or Path
        The file name without suffix.
    fmt : str, default 'csv'
        One of ``FORMATS``.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    InputError
        For an unknown format, or parquet without pyarrow.
    """
    if fmt not in FORMATS:
        raise InputError(f"The 'format' option must be one of {', '.join(FORMATS)}. Got {fmt!r} instead.")
    path = table_path(path_stem, fmt)

    def write(tmp: Path) -> None:
        if fmt == "csv":
            df.to_csv(tmp, index=False)
        elif fmt == "parquet":
            try:
                df.to_parquet(tmp, index=False)
            except ImportError as err:
                raise InputError("parquet export needs pyarrow: pip install 'mecopt[parquet]'") from err
        elif fmt == "json":
            _write_records_json(df, tmp)
        elif fmt == "markdown":
            tmp.write_text(df.to_markdown(index=False) + "\n")
        elif fmt == "latex":
            tmp.write_text(df.to_latex(index=False))

    return atomic_write(path, write)


def _write_records_json(df: pd.DataFrame, tmp: Path) -> None:
    """JSON records with every float written exactly.

    (Python's shortest round-trip repr; pandas' ``to_json`` keeps at most 15 significant digits). Missing values become
    null. Columns Python's json cannot hold (e.g. datetimes) fall back to pandas' writer.
    """
    import math

    def plain(v: Any) -> Any:
        if v is None or v is pd.NA or v is pd.NaT:
            return None
        if isinstance(v, float) and math.isnan(v):
            return None
        if hasattr(v, "item") and not isinstance(v, (str, bytes)):
            v = v.item()
            if isinstance(v, float) and math.isnan(v):
                return None
        return v

    try:
        records = [{str(k): plain(v) for k, v in row.items()} for row in df.to_dict(orient="records")]
        text = json.dumps(records, indent=2, allow_nan=True)
    except (TypeError, ValueError):
        df.to_json(tmp, orient="records", indent=2, double_precision=15)
        return
    tmp.write_text(text + "\n")


#: formats :func:`read_table` can read back
READABLE = ("csv", "parquet", "json")


def table_path(path_stem: str | Path, fmt: str) -> Path:
    """The file :func:`write_table` writes for ``path_stem`` in format ``fmt``.

    Parameters
    ----------
    path_stem : str or Path
        The file name without suffix.
    fmt : str
        One of ``FORMATS``.

    Returns
    -------
    Path
        The file name.
    """
    return Path(str(path_stem) + SUFFIX[fmt]) if Path(path_stem).suffix != SUFFIX[fmt] else Path(path_stem)


def find_table(path_stem: str | Path) -> Path | None:
    """The readable table written for ``path_stem`` (csv, parquet or json, in that order), if any.

    Parameters
    ----------
    path_stem : str or Path
        The file name without suffix.

    Returns
    -------
    Path or None
        The first existing file, or None.
    """
    for fmt in READABLE:
        p = table_path(path_stem, fmt)
        if p.is_file():
            return p
    return None


def read_table(path: str | Path) -> pd.DataFrame:
    """Read back a table written by :func:`write_table` (csv, parquet, json).

    CSV floats are parsed with round-trip precision; JSON is read without date
    guessing (pandas would turn a column named e.g. ``wall_time`` into datetimes).

    Parameters
    ----------
    path : str or Path
        The table file.

    Returns
    -------
    pandas.DataFrame
        The table.

    Raises
    ------
    InputError
        When the file is missing or of an unknown format.
    """
    path = Path(path)
    if path.suffix == ".csv":
        # pandas >= 3 parses floats exactly by default (and deprecates the option)
        exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
        return pd.read_csv(path, **exact)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".json":
        records = json.loads(path.read_text())
        if not isinstance(records, list):
            raise InputError(f"cannot read a table from {path}: expected a JSON list of records")
        return pd.DataFrame.from_records(records) if records else pd.DataFrame()
    raise InputError(f"cannot read a table from {path}: expected .csv, .parquet or .json")
