"""GTPOS's objective of an assignment, computed from the cost model (light: no solver imported)."""

from __future__ import annotations

import numpy as np

from mecopt.core import cost as costmod
from mecopt.core.instance import Instance


def objective_value(instance: Instance, ev: costmod.Evaluation, objective: str) -> float:
    """GTPOS's ``objective`` of an evaluated assignment, computed from the cost model.

    Parameters
    ----------
    instance : Instance
        The instance.
    ev : Evaluation
        The assignment's evaluation (:func:`mecopt.core.cost.evaluate`).
    objective : str
        ``delay`` (24), ``energy`` (25) or ``social`` (23 summed, without prices); under the soft
        deadline policy the delay and energy objectives add the mean penalty in their unit.

    Returns
    -------
    float
        The objective's value.
    """
    if objective == "social":
        return costmod.social_cost(instance, ev)
    base = ev.delay if objective == "delay" else ev.energy
    penalty = np.zeros(instance.N) if ev.penalty is None else np.asarray(ev.penalty, dtype=float)
    extra = [p / costmod.penalty_unit(d, objective) if p else 0.0 for p, d in zip(penalty, instance.devices)]
    return float(np.mean(np.asarray(base, dtype=float) + np.asarray(extra, dtype=float)))
