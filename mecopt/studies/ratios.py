"""Ratios to GTPOS's optimum, named by what they divide, and intervals when the optimum is not proven.

Every figure here is a measure of an assignment re-evaluated by the one cost model
(:func:`mecopt.core.cost.evaluate`), never a solver's own number, except GTPOS's *bound*,
which only a solver can give.

GTPOS (Case 2) minimizes one of three objectives (``--objective``):

- ``delay``: the average delay (24), (1/N) sum_n T_n;
- ``energy``: the average energy (25), (1/N) sum_n E_n;
- ``social``: the social cost sum_n (alpha_n c^T_n T_n + beta_n c^E_n E_n + P_n) (the prices are
  transfers to the server and cancel out).

Under ``deadline_policy = "soft"`` GTPOS's delay and energy objectives add each device's
deadline penalty P_n = pi_n max(0, T_n - tau_n) in the objective's unit (P_n / c^T_n seconds,
P_n / c^E_n joules; docs/MODEL.md Part B): these are *penalised* objectives, and the plain
average delay or energy of GTPOS's solution is then not an optimum of anything. The social cost
includes P_n by definition (it is a sum of costs C_n), so it is its own objective.

A ratio ``x / GTPOS optimum`` is exact only when GTPOS proved its optimum. Otherwise the optimum
lies between GTPOS's bound and its incumbent, so the ratio lies in the interval
[x / incumbent, x / bound] (:func:`ratio_interval`).
"""

from __future__ import annotations

import math

from mecopt.core.instance import Instance
from mecopt.methods.objective import objective_value  # noqa: F401 - re-exported: studies call ratios.objective_value

#: what each GTPOS objective is called in ratio lines, by whether a soft deadline penalises it
OBJECTIVE_LABELS = {
    ("delay", False): "avg delay",
    ("delay", True): "penalised delay (avg delay + mean deadline penalty in s)",
    ("energy", False): "avg energy",
    ("energy", True): "penalised energy (avg energy + mean deadline penalty in J)",
    ("social", False): "social cost",
    ("social", True): "social cost (with deadline penalties)",
}
#: the plain measure each objective penalises (a column of the comparison and spread tables)
OBJECTIVE_MEASURE = {"delay": "avg_delay_s", "energy": "avg_energy_j", "social": "social_cost"}


def soft(instance: Instance) -> bool:
    """Whether a soft deadline penalises some device (then delay and energy objectives differ from the measures).

    Parameters
    ----------
    instance : Instance
        The instance.

    Returns
    -------
    bool
        True under ``deadline_policy = "soft"`` with a device whose deadline is soft.
    """
    return any(d.deadline_soft for d in instance.devices)


def objective_label(instance: Instance, objective: str) -> str:
    """How a ratio line names GTPOS's ``objective`` on ``instance`` (e.g. "penalised delay (...)").

    Parameters
    ----------
    instance : Instance
        The instance.
    objective : str
        ``delay``, ``energy`` or ``social``.

    Returns
    -------
    str
        The label.
    """
    return OBJECTIVE_LABELS[(objective, soft(instance))]


def ratio_interval(value: float, incumbent: float, bound: float | None, proven: bool) -> tuple[float, float]:
    """The ratio ``value / optimum`` as an interval.

    Parameters
    ----------
    value : float
        The numerator (e.g. an equilibrium's objective value).
    incumbent : float
        GTPOS's incumbent (the objective of its solution): optimum <= incumbent.
    bound : float or None
        GTPOS's bound: bound <= optimum (None: no bound).
    proven : bool
        Whether GTPOS proved its incumbent optimal (then both ends are value / incumbent).

    Returns
    -------
    tuple[float, float]
        (value / incumbent, value / bound): the ratio to the unknown optimum lies in between.
        The upper end is ``inf`` without a positive bound, NaN when the incumbent is not positive.

    Examples
    --------
    >>> ratio_interval(11.0, 10.0, 8.0, proven=False)
    (1.1, 1.375)
    >>> ratio_interval(11.0, 10.0, 10.0, proven=True)
    (1.1, 1.1)
    """
    if not incumbent > 0 or not math.isfinite(incumbent):
        return math.nan, math.nan
    low = value / incumbent
    if proven:
        return low, low
    if bound is None or not math.isfinite(bound) or bound <= 0:
        return low, math.inf
    return low, value / bound


def format_ratio(low: float, high: float) -> str:
    """``= r`` for an exact ratio, ``in [low, high]`` for an interval (6 significant digits).

    Parameters
    ----------
    low, high : float
        The interval's ends (equal when exact).

    Returns
    -------
    str
        The text.
    """
    if math.isnan(low):
        return "not available"
    if high == low or math.isnan(high):
        return f"= {low:.6g}"
    return f"in [{low:.6g}, {high:.6g}]"
