"""Writing tables: one function, every format, atomically (:mod:`mecopt.core.files`: temporary file, fsync, rename).

And the one converter of numpy / pandas values to plain JSON data (:func:`jsonable`), and the
tables for a paper (:func:`latex_table`: a booktabs tabular that compiles; ``xlsx`` through
openpyxl), chosen columns and rounding by :func:`export_table`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from mecopt.core.errors import InputError
from mecopt.core.files import atomic_write, write_text  # noqa: F401  (the writers of every table and text file)

FORMATS = ("csv", "parquet", "json", "markdown", "latex", "xlsx")
SUFFIX = {"csv": ".csv", "parquet": ".parquet", "json": ".json", "markdown": ".md", "latex": ".tex", "xlsx": ".xlsx"}
#: significant digits of the numbers in LaTeX and Markdown exports
DIGITS = 4


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
            tmp.write_text(latex_table(df))
        elif fmt == "xlsx":
            _write_xlsx(df, tmp)

    return atomic_write(path, write)


def _write_xlsx(df: pd.DataFrame, tmp: Path) -> None:
    """A one-sheet workbook (openpyxl): numbers stay numbers, missing values empty cells."""
    try:
        import openpyxl  # noqa: F401
    except ImportError as err:
        raise InputError("xlsx export needs openpyxl: pip install openpyxl") from err
    df.to_excel(tmp, index=False, sheet_name="results", engine="openpyxl")


def export_table(df: pd.DataFrame, path: str | Path, fmt: str, *, columns: list[str] | None = None,
                 digits: int = DIGITS, caption: str | None = None, label: str | None = None) -> Path:
    r"""Write the chosen ``columns`` of ``df`` to ``path`` in ``fmt``, numbers rounded for LaTeX and Markdown.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    path : str or Path
        The file written (its suffix is kept as given).
    fmt : str
        One of ``FORMATS``.
    columns : list of str or None, optional
        The columns, in this order; None for all.
    digits : int, optional
        Significant digits of the numbers in ``latex`` and ``markdown``; other formats keep every digit.
    caption, label : str or None, optional
        LaTeX only: a caption (the tabular then sits in a ``table`` environment) and its ``\label``.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    InputError
        For an unknown format or column, or a missing writer (pyarrow, openpyxl).
    """
    if fmt not in FORMATS:
        raise InputError(f"The 'format' option must be one of {', '.join(FORMATS)}. Got {fmt!r} instead.")
    if columns is not None:
        unknown = [c for c in columns if c not in df.columns]
        if unknown:
            raise InputError(f"The 'columns' option names columns the table lacks: {', '.join(unknown)} "
                             f"(it has {', '.join(map(str, df.columns))})")
        df = df[list(columns)]
    if fmt == "latex":
        return write_text(path, latex_table(df, digits=digits, caption=caption, label=label))
    if fmt == "markdown":
        shown = pd.DataFrame({c: [format_cell(v, digits, latex=False) for v in df[c]] for c in df.columns})
        return write_text(path, shown.to_markdown(index=False) + "\n")
    path = Path(path)
    return write_table(df, path.with_name(path.name[:-len(SUFFIX[fmt])] if path.name.endswith(SUFFIX[fmt])
                                          else path.name), fmt)


#: LaTeX's special characters in text, and what they become
_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}


def latex_escape(text: str) -> str:
    r"""``text`` with LaTeX's special characters escaped (``_`` -> ``\_``, ``%`` -> ``\%``, ...).

    Parameters
    ----------
    text : str
        Plain text.

    Returns
    -------
    str
        Text that LaTeX typesets as ``text``.

    Examples
    --------
    >>> from mecopt.core.tables import latex_escape
    >>> print(latex_escape("avg_delay_s & 5% {x}"))
    avg\_delay\_s \& 5\% \{x\}
    """
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def format_cell(value: Any, digits: int = DIGITS, *, latex: bool = True) -> str:
    r"""One table cell as text for a paper: ``--`` for a missing value, yes/no, numbers rounded.

    Integers are written whole; a float is rounded to ``digits`` significant digits and written
    without an exponent between 1e-4 and 1e6, else as ``1.23\times10^{-5}`` (in math mode for LaTeX).
    Text is escaped for LaTeX.

    Parameters
    ----------
    value : object
        The cell.
    digits : int, optional
        Significant digits of a float.
    latex : bool, optional
        Escape text and write exponents for LaTeX (else plain text, ``1.23e-05``).

    Returns
    -------
    str
        The cell's text.
    """
    import math

    import numpy as np

    if value is None or value is pd.NA or value is pd.NaT:
        return "--"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return "--"
        if math.isinf(v):
            return ("$\\infty$" if v > 0 else "$-\\infty$") if latex else ("inf" if v > 0 else "-inf")
        if v == 0:
            return "0"
        if 1e-4 <= abs(v) < 1e6:
            text = f"{v:.{digits}g}"
            if "e" in text:      # e.g. 123456 with 4 digits: write it whole, rounded
                text = f"{round(v, digits - 1 - int(math.floor(math.log10(abs(v))))):.0f}"
            return text
        mant, exp = f"{v:.{digits - 1}e}".split("e")
        mant = mant.rstrip("0").rstrip(".")
        return f"${mant}\\times10^{{{int(exp)}}}$" if latex else f"{mant}e{int(exp):+03d}"
    return latex_escape(value) if latex else str(value)


def latex_table(df: pd.DataFrame, *, digits: int = DIGITS, caption: str | None = None,
                label: str | None = None) -> str:
    r"""A ``booktabs`` tabular of ``df`` that compiles (needs ``\usepackage{booktabs}``).

    Column names and text are escaped, numbers rounded to ``digits`` significant digits and
    right-aligned, missing values written ``--``, booleans yes/no (:func:`format_cell`).

    Parameters
    ----------
    df : pandas.DataFrame
        The table (every column is written; choose them first, e.g. with :func:`export_table`).
    digits : int, optional
        Significant digits of the numbers.
    caption : str or None, optional
        A caption: the tabular then sits in a ``table`` environment.
    label : str or None, optional
        The ``\label`` of that environment (with ``caption``).

    Returns
    -------
    str
        The LaTeX source, ending in a newline.

    Examples
    --------
    >>> import pandas as pd
    >>> from mecopt.core.tables import latex_table
    >>> print(latex_table(pd.DataFrame({"avg_delay_s": [1.23456, float("nan")], "met": [True, False]}), digits=3))
    % needs \usepackage{booktabs}
    \begin{tabular}{rl}
    \toprule
    avg\_delay\_s & met \\
    \midrule
    1.23 & yes \\
    -- & no \\
    \bottomrule
    \end{tabular}
    <BLANKLINE>
    """
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]
    lines = ["% needs \\usepackage{booktabs}"]
    if caption is not None:
        lines += ["\\begin{table}[t]", "\\centering", f"\\caption{{{latex_escape(caption)}}}"]
        if label:
            lines.append(f"\\label{{{label}}}")
    lines += ["\\begin{tabular}{" + "".join("r" if n else "l" for n in numeric) + "}", "\\toprule",
              " & ".join(latex_escape(c) for c in df.columns) + " \\\\", "\\midrule"]
    for row in df.itertuples(index=False):
        lines.append(" & ".join(format_cell(v, digits) for v in row) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    if caption is not None:
        lines.append("\\end{table}")
    return "\n".join(lines) + "\n"


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
