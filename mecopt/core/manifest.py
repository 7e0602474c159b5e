"""Result folders that show whether they are complete.

A command that writes a folder first writes ``MANIFEST.json`` with
``"complete": false``, then its files (each atomically), then ``MANIFEST.json``
again with ``"complete": true`` and the list of files. A run killed midway
therefore leaves a folder whose manifest says it is incomplete, and readers
(:func:`mecopt.read_solution`, ``mecopt check``, ``mecopt plot``) refuse it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mecopt.core.errors import InputError
from mecopt.core.tables import find_table, write_json

MANIFEST = "MANIFEST.json"


def begin(folder: str | Path, kind: str) -> Path:
    """Mark ``folder`` as being written (creating it).

    Parameters
    ----------
    folder : str or Path
        The result folder.
    kind : str
        What the folder holds (solution, sweep, ...).

    Returns
    -------
    Path
        The folder.
    """
    folder = Path(folder)
    write_json(folder / MANIFEST, dict(kind=kind, complete=False, files=[]))
    return folder


def finish(folder: str | Path, kind: str, files: Iterable[str | Path] | None = None, **extra: Any) -> Path:
    """Mark ``folder`` complete, listing ``files`` (relative to it; default: every file under it).

    Parameters
    ----------
    folder : str or Path
        The result folder.
    kind : str
        What the folder holds.
    files : Iterable[str | Path] or None, default None
        The files written (default: every file under it).
    **extra
        More entries of the manifest.

    Returns
    -------
    Path
        The manifest file.
    """
    from mecopt.core.version import __version__

    folder = Path(folder)
    if files is None:
        files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")
                 and p != folder / MANIFEST]
    names = sorted({str(Path(f).resolve().relative_to(folder.resolve())) for f in files})
    return write_json(folder / MANIFEST, dict(kind=kind, complete=True, files=names, mecopt_version=__version__,
                                              **extra))


def read(folder: str | Path) -> dict[str, Any] | None:
    """The manifest of ``folder``, or None when it has none (written before manifests existed).

    Parameters
    ----------
    folder : str or Path
        The result folder.

    Returns
    -------
    dict[str, Any] or None
        The manifest, or None.

    Raises
    ------
    InputError
        When the manifest is not valid JSON.
    """
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
        return manifest
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path} is not a valid manifest: {err}") from None


#: how many parent folders :func:`require_complete` also inspects (a sweep's saved solution sits
#: in OUT/solutions/<run>, a reproduction's in OUT/sweeps/figN/solutions/<run>)
PARENT_LEVELS = 4


def require_complete(folder: str | Path, what: str = "result folder") -> dict[str, Any] | None:
    """Raise :class:`InputError` when ``folder``'s manifest.

    Or that of a result set holding it (a comparison, sweep or reproduction up to :data:`PARENT_LEVELS` levels up), says
    it is incomplete. Returns ``folder``'s own manifest (None for a folder written without one).

    Parameters
    ----------
    folder : str or Path
        The result folder.
    what : str, default 'result folder'
        What it is (for messages).

    Returns
    -------
    dict[str, Any] or None
        ``folder``'s own manifest, or None.

    Raises
    ------
    InputError
        When a run that wrote it did not finish.
    """
    folder = Path(folder)
    for parent in list(folder.resolve().parents)[:PARENT_LEVELS]:
        up = read(parent)
        if up is not None and not up.get("complete", False):
            raise InputError(f"{what} {folder} is part of the incomplete {up.get('kind', 'result')} set {parent}: "
                             f"the run that wrote it did not finish ({MANIFEST} there says complete = false); "
                             f"run it again")
    man = read(folder)
    if man is not None and not man.get("complete", False):
        raise InputError(f"{what} {folder} is incomplete: the run that wrote it did not finish "
                         f"({MANIFEST} says complete = false); run it again")
    if man is not None:
        missing = [f for f in man.get("files", []) if not (Path(folder) / f).is_file()]
        if missing:
            raise InputError(f"{what} {folder} is incomplete: missing {', '.join(missing)}")
    return man


def require_complete_file(path: str | Path, what: str = "table") -> None:
    """:func:`require_complete` for a file: refuse a file inside an incomplete result folder.

    Parameters
    ----------
    path : str or Path
        The file.
    what : str, default 'table'
        What it is (for messages).
    """
    path = Path(path)
    require_complete(path.resolve().parent, f"the folder of {what} {path},")


def assignment_file(path: str | Path) -> Path:
    """The table to check: ``path`` itself, or a solution folder's assignment table.

    Either way refused when the run that wrote it did not finish.

    Parameters
    ----------
    path : str or Path
        A table or a solution folder.

    Returns
    -------
    Path
        The table file.

    Raises
    ------
    InputError
        When the folder holds no assignment table or is incomplete.
    """
    p = Path(path)
    if p.is_dir():
        require_complete(p, "solution folder")
        table = find_table(p / "assignment")
        if table is None:
            raise InputError(f"{p} is a folder without an assignment table (assignment.csv, .parquet or .json)")
        return table
    if p.exists():
        require_complete_file(p, "assignment")
    return p
