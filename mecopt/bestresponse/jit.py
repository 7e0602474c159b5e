"""numba compilation of the DP kernels, with an on-disk cache wherever one can be written.

numba caches compiled code next to the source (``__pycache__``) or, when the package folder is
read-only (a system-wide install), in the user's cache folder (``$XDG_CACHE_HOME/numba`` or
``~/.cache/numba``). When neither is writable (an unprivileged user without a home, issue 23 T3)
``numba.njit(cache=True)`` refuses the function ("cannot cache function"). :func:`compile_kernel`
then points numba at a private folder of this user in the temporary directory (created with mode
0700; used only when this user owns it and nobody else can write it, since numba's cache files are
pickles), and failing that compiles without a cache. The compiled code, hence every result, is the
same either way; only the first call of a process pays the compilation (about a second).
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def private_cache_dir() -> Path | None:
    """The numba cache folder of this user in the temporary directory, or None when it is not safe to use.

    Returns
    -------
    pathlib.Path or None
        ``<tmp>/mecopt-numba-<uid>``, created 0700 when missing; None when it cannot be created or
        written, or is not owned by this user, or others may write it.
    """
    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = Path(tempfile.gettempdir()) / f"mecopt-numba-{uid}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        st = path.lstat()
        if (not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
                or not os.access(path, os.W_OK | os.X_OK)):
            return None
    except OSError:
        return None
    return path


def compile_kernel(func: Callable[..., Any], **flags: Any) -> Callable[..., Any]:
    """``numba.njit(func)`` cached on disk where possible (module docstring), never failing for want of a cache.

    Parameters
    ----------
    func : callable
        The plain-Python kernel.
    **flags
        Further ``numba.njit`` options (e.g. ``nogil=True``).

    Returns
    -------
    callable
        The compiled dispatcher.
    """
    import numba

    try:
        return numba.njit(cache=True, **flags)(func)
    except RuntimeError as err:
        if "cannot cache" not in str(err):
            raise
    folder = private_cache_dir()
    if folder is not None:
        numba.config.CACHE_DIR = str(folder)   # read by numba's user-provided cache locator
        try:
            return numba.njit(cache=True, **flags)(func)
        except RuntimeError:
            pass
    return numba.njit(cache=False, **flags)(func)
