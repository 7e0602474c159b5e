"""mecopt: DNN task partitioning and offloading in mobile edge computing.

After Gao et al., *Task Partitioning and Offloading in DNN-Task Enabled MEC
Networks*. Modelling decisions the paper leaves open are documented in
``docs/MODEL.md`` of the repository.

The public API is what ``__all__`` lists; everything else may change::

    >>> import mecopt
    >>> inst = mecopt.load_instance("paper:fig6-w1khz")
    >>> sol = mecopt.solve(inst, "tpos-cai", engine="dp")
    >>> sol.termination.value, sol.feasible
    ('equilibrium', True)
"""

from __future__ import annotations

from mecopt.core.version import __version__  # noqa: E402

from mecopt.api import check, compare, load_instance, solve  # noqa: E402
from mecopt.bestresponse.engines import Engine, register_engine  # noqa: E402
from mecopt.core.checker import Violation  # noqa: E402
from mecopt.core.errors import InfeasibleError, InputError, MecoptError, SolverError  # noqa: E402
from mecopt.core.instance import Instance  # noqa: E402
from mecopt.methods.registry import method_names, register_method, several_servers  # noqa: E402
from mecopt.core.resources import bundled_instances  # noqa: E402
from mecopt.core.solution import Solution, SolutionStatus, Termination, read_solution  # noqa: E402

__all__ = [
    "load_instance", "Instance", "bundled_instances",
    "solve", "compare", "check",
    "Solution", "Termination", "SolutionStatus", "read_solution", "Violation",
    "register_method", "several_servers", "method_names", "Engine", "register_engine",
    "MecoptError", "InputError", "InfeasibleError", "SolverError",
    "__version__",
]
