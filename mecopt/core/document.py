"""Reading TOML input documents (instances, DNN specs, delay sets, sweep specs) with one set of error messages.

Every failure is an :class:`~mecopt.core.errors.InputError` (exit 2) naming the file, never a traceback.

Handled: a missing file, a directory, no read permission, bytes that are not UTF-8
(a leading UTF-8 byte-order mark is accepted and dropped), a file over
:data:`MAX_DOCUMENT_BYTES` (instances: :data:`MAX_INSTANCE_BYTES`), invalid TOML (or JSON, for an
instance written as ``.json``), and nesting too deep for the parser.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from mecopt.core.errors import InputError

#: largest input document read (bytes); the biggest bundled spec is ~3 KB, a 1,000-layer chain ~60 KB
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024

#: largest instance file read (bytes): an instance lists its devices one entry each, and 100,000 devices (the
#: limit, :data:`mecopt.core.limits.MAX_DEVICES`) on 100 servers take ~21 MB of TOML (``mecopt generate``);
#: 64 MB leaves room for longer names and gain lists
MAX_INSTANCE_BYTES = 64 * 1024 * 1024


def read_text(path: str | Path, what: str, limit: int = MAX_DOCUMENT_BYTES) -> str:
    """The text of ``path`` as UTF-8 (BOM dropped); InputError naming ``what`` and the file otherwise.

    Parameters
    ----------
    path : str or Path
        The file.
    what : str
        What the file holds (for messages).
    limit : int, default MAX_DOCUMENT_BYTES
        Largest size read, in bytes.

    Returns
    -------
    str
        The text.

    Raises
    ------
    InputError
        When the file is missing, unreadable or not UTF-8.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise InputError(f"{what} path is a directory, not a file: {path}")
        size = path.stat().st_size
        if size > limit:
            raise InputError(f"{what} file {path} is {size} bytes; the limit is {limit} bytes")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} file not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{what} path is a directory, not a file: {path}") from None
    except PermissionError:
        raise InputError(f"{what} file {path} cannot be read: permission denied") from None
    except OSError as err:
        raise InputError(f"{what} file {path} cannot be read: {err.strerror or err}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{what} file {path} is not UTF-8 text (byte {err.start}: {raw[err.start:err.start + 1]!r}); "
                         "TOML files must be UTF-8") from None


def parse_toml(text: str, source: str, what: str) -> dict[str, Any]:
    """``text`` parsed as TOML; InputError naming ``source`` when it is not valid TOML.

    Parameters
    ----------
    text : str
        The TOML text.
    source : str
        Where it came from (for messages).
    what : str
        What it holds (for messages).

    Returns
    -------
    dict[str, Any]
        The parsed document.

    Raises
    ------
    InputError
        When the text is not valid TOML.
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{what} file {source} is not valid TOML: {err}") from None
    except RecursionError:
        raise InputError(f"{what} file {source} is nested too deeply to read (arrays or tables inside each other "
                         "hundreds of levels deep)") from None


def parse_json(text: str, source: str, what: str) -> dict[str, Any]:
    """``text`` parsed as a JSON object; InputError naming ``source`` when it is not one.

    Parameters
    ----------
    text : str
        The JSON text.
    source : str
        Where it came from (for messages).
    what : str
        What it holds (for messages).

    Returns
    -------
    dict[str, Any]
        The parsed document.

    Raises
    ------
    InputError
        When the text is not valid JSON, or not an object.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{what} file {source} is not valid JSON: {err}") from None
    except RecursionError:
        raise InputError(f"{what} file {source} is nested too deeply to read") from None
    if not isinstance(data, dict):
        raise InputError(f"{what} file {source} must hold a JSON object (the document's tables), "
                         f"not {type(data).__name__}")
    return data


def read_toml(path: str | Path, what: str, limit: int = MAX_DOCUMENT_BYTES) -> tuple[dict[str, Any], str]:
    """The parsed TOML document at ``path`` and its text.

    Parameters
    ----------
    path : str or Path
        The file.
    what : str
        What the file holds (for messages).
    limit : int, default MAX_DOCUMENT_BYTES
        Largest size read, in bytes.

    Returns
    -------
    tuple[dict[str, Any], str]
        (document, text).
    """
    text = read_text(path, what, limit)
    return parse_toml(text, str(path), what), text


def read_json(path: str | Path, what: str, limit: int = MAX_DOCUMENT_BYTES) -> tuple[dict[str, Any], str]:
    """The parsed JSON document at ``path`` and its text (instances may be written as JSON).

    Parameters
    ----------
    path : str or Path
        The file.
    what : str
        What the file holds (for messages).
    limit : int, default MAX_DOCUMENT_BYTES
        Largest size read, in bytes.

    Returns
    -------
    tuple[dict[str, Any], str]
        (document, text).
    """
    text = read_text(path, what, limit)
    return parse_json(text, str(path), what), text
