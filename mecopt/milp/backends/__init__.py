"""MILP backends behind one protocol (:class:`~mecopt.milp.backends.base.Backend`): CP-SAT, HiGHS, any Pyomo solver.

Neutral limits in (:class:`~mecopt.milp.backends.base.Limits`), a neutral report out.

:data:`BACKENDS` is the registry of the named backends (a plain dict by name); any other name is
tried as a Pyomo solver (:class:`~mecopt.milp.backends.pyomo.PyomoBackend`).

Examples
--------
>>> from mecopt.milp.backends import get_backend
>>> get_backend("cpsat").accepts_start, get_backend("highs").accepts_start
(True, False)
"""

from __future__ import annotations

from mecopt.core.errors import InputError
from mecopt.milp.backends.base import Backend, Limits
from mecopt.milp.backends.cpsat import CpSatBackend
from mecopt.milp.backends.highs import HighsBackend
from mecopt.milp.backends.pyomo import KNOWN_PYOMO_SOLVERS, PyomoBackend, pyomo_available

__all__ = ["BACKENDS", "DEFAULT_SOLVER", "Backend", "Limits", "available_solvers", "check_solver", "get_backend"]

#: the default backend, chosen by measurement (docs/milp.md §4)
DEFAULT_SOLVER = "cpsat"
#: the named backends (dependencies of mecopt, always there)
BACKENDS: dict[str, Backend] = {b.name: b for b in (HighsBackend(), CpSatBackend())}


def available_solvers() -> list[str]:
    """Backends usable here: the named ones (``highs``, ``cpsat``) and the installed Pyomo solvers.

    Returns
    -------
    list of str
    """
    return list(BACKENDS) + [name for name in KNOWN_PYOMO_SOLVERS if pyomo_available(name)]


def check_solver(solver: str) -> None:
    """Check that ``solver`` names a backend usable here.

    Parameters
    ----------
    solver : str
        A name of :data:`BACKENDS` or an installed Pyomo solver.

    Raises
    ------
    InputError
        When it is not usable here (exit 2), listing what was found.
    """
    if not isinstance(solver, str) or not solver:
        raise InputError(f"The 'solver' option must be a solver name. Got {solver!r} instead.")
    if solver in BACKENDS:
        return
    if not pyomo_available(solver):
        raise InputError(f"The 'solver' option must name an installed solver: {', '.join(available_solvers())}. "
                         f"Got {solver!r} instead (Pyomo cannot find or run it here).")


def get_backend(solver: str) -> Backend:
    """The backend called ``solver`` (:func:`check_solver` first).

    Parameters
    ----------
    solver : str

    Returns
    -------
    Backend

    Raises
    ------
    InputError
        When ``solver`` is not usable here.
    """
    check_solver(solver)
    return BACKENDS.get(solver) or PyomoBackend(solver)
