"""Writing files atomically: every file mecopt writes appears under its final name only when complete.

:func:`atomic_write` writes to a temporary file in the destination's folder (so that the rename
stays on one file system), flushes it to the disk (``fsync``), then renames it onto the final
name (``os.replace``, atomic on POSIX and Windows). After a full disk, a write error, an
interrupt or SIGKILL no partial file exists under the final name and an earlier file of that
name is left intact; the temporary file is removed (except after SIGKILL, where a hidden
``.NAME.*.tmp`` may remain beside it). Every ``OSError`` (no space left, permission denied,
read-only file system, file too large) is re-raised as an :class:`~mecopt.core.errors.InputError`
(exit 2) naming the file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from mecopt.core.errors import InputError

T = TypeVar("T")


def write_error(path: str | os.PathLike[str], err: OSError) -> InputError:
    """The InputError of an ``OSError`` raised while writing ``path``: the file and the system's message.

    Parameters
    ----------
    path : str or PathLike
        The file being written (its final name, not the temporary one).
    err : OSError
        The error.

    Returns
    -------
    InputError
        The error (not raised), e.g. "cannot write out/model.mps: No space left on device".
    """
    return InputError(f"cannot write {path}: {err.strerror or err}")


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], T]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, flush it to the disk, then rename it onto ``path``.

    Parameters
    ----------
    path : str or PathLike
        The file to write (its folder is created if missing).
    write : Callable[[Path], object]
        Writes the whole content to the temporary path it is given (which exists, empty).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        For any ``OSError`` while creating the folder, writing, flushing or renaming; the
        message names ``path``. Nothing is left under ``path`` (an earlier file stays as it was).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from mecopt.core.files import atomic_write
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = atomic_write(pathlib.Path(d) / "a.txt", lambda tmp: tmp.write_text("hello"))
    ...     p.read_text()
    'hello'
    """
    return atomic_write_returning(path, write)[0]


def atomic_write_returning(path: str | os.PathLike[str], write: Callable[[Path], T]) -> tuple[Path, T]:
    """:func:`atomic_write`, also returning what ``write`` returned (e.g. a writer's symbol map).

    Parameters
    ----------
    path : str or PathLike
        The file to write.
    write : Callable[[Path], T]
        Writes the whole content to the temporary path it is given.

    Returns
    -------
    tuple[Path, T]
        ``path`` and the value ``write`` returned.

    Raises
    ------
    InputError
        As :func:`atomic_write`.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as err:
        raise write_error(path, err) from None
    tmp = Path(name)
    try:
        value = write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise write_error(path, err) from None
        raise
    return path, value


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`atomic_write`).

    Parameters
    ----------
    path : str or PathLike
        The file to write.
    text : str
        The content.

    Returns
    -------
    Path
        ``path``.
    """
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _fsync(path: Path) -> None:
    """Flush ``path``'s content to the disk (a full disk may only show here, on some file systems)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
