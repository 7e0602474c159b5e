"""The per-device Pyomo model of the whole tensor y[n,m,h] (the GTPOS feasible set, one network per MD).

Every MD n gets the path network of :mod:`mecopt.milp.network` (the same one the
best response uses) with its binary y[n,m,h] (14), (15), (16) stated on y and
linked to the path, and (26) (unless relaxed or soft), written both as the paper's
row on y and as exact clique rows on the path. Coupling: (17) per device or in
total, (27) through u[n,h]; objective ``delay``, ``social`` or ``energy``; under
``deadline_policy = "soft"`` every MD's term gets its penalty (:func:`add_deadline_penalty`).

GTPOS itself is solved on the aggregated class networks (:mod:`mecopt.milp.gtpos`);
this disaggregated model is what ``tpos-best`` (:mod:`mecopt.milp.potential`) extends
with the exact potential, since the potential's per-slot squares need each MD's own
slot loads.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from mecopt.core.cost import penalty_unit
from mecopt.core.errors import InputError
from mecopt.core.instance import Instance
from mecopt.core.problem import enforces_deadline
from mecopt.core.tolerances import capacity_limit
from mecopt.milp.network import add_device, add_overrun, build_network

OBJECTIVES = ("delay", "social", "energy")


def build_model(instance: Instance, objective: str = "delay", canonical: bool | None = None) -> pyo.ConcreteModel:
    """The GTPOS MILP (one block ``md[n]`` per device; see the module docstring).

    ``canonical`` (default: on in ``per_device`` mode, where it is exact) restricts each MD to the
    fewest-blocks packing of :func:`~mecopt.milp.network.canonical_cuts`.

    Parameters
    ----------
    instance : Instance
        The instance.
    objective : str, default 'delay'
        The GTPOS objective: ``delay``, ``energy`` or ``social``.
    canonical : bool or None, default None
        Keep only the fewest-blocks packing of each partition (None: on in ``per_device`` mode, where it is exact).

    Returns
    -------
    pyo.ConcreteModel
        The model.

    Raises
    ------
    InputError
        For an unknown objective, or an instance with several servers.
    """
    if objective not in OBJECTIVES:
        raise InputError(f"The 'objective' option must be one of {', '.join(OBJECTIVES)}. Got {objective!r} instead.")
    server, N, H = instance.server, instance.N, instance.server.H
    if canonical is None:
        canonical = server.capacity_mode == "per_device"
    m = pyo.ConcreteModel(name=f"gtpos_{instance.name}")
    m.canonical = canonical
    m.N = range(N)
    m.S = range(1, H + 1)
    m.md = pyo.Block(m.N)
    for n, dev in enumerate(instance.devices):
        b = m.md[n]
        add_device(b, dev, server, build_network(dev, server, canonical=canonical))
        b.deadline_on = 1 if enforces_deadline(dev) else 0

    if server.capacity_mode == "per_device":
        def cap_rule(_, n, h):
            """(17), per_device: each MD's own server time in slot h <= T_d/H (the network's tolerance)."""
            return m.md[n].server_time[h] <= capacity_limit(server.slot_len)

        m.capacity = pyo.Constraint(m.N, m.S, rule=cap_rule)
    else:
        def cap_rule(_, h):
            """(17), total: all MDs' server time in slot h <= T_d/H (the checker allows CAP_TOL more)."""
            return pyo.quicksum(m.md[n].server_time[h] for n in m.N) <= server.slot_len

        m.capacity = pyo.Constraint(m.S, rule=cap_rule)

    def parallel_rule(_, h):
        """(27): at most B MDs use slot h."""
        return pyo.quicksum(m.md[n].u[h] for n in m.N) <= server.B

    m.parallel = pyo.Constraint(m.S, rule=parallel_rule)

    def term(n):
        dev, b = instance.devices[n], m.md[n]
        if objective == "delay":
            return b.delay
        if objective == "energy":
            return b.energy
        return dev.alpha * dev.c_T * b.delay + dev.beta * dev.c_E * b.energy

    penalty = add_deadline_penalty(m, instance, objective)
    m.term = pyo.Expression(m.N, rule=lambda _, n: term(n) + penalty.get(n, 0.0))
    weight = 1.0 if objective == "social" else 1.0 / N
    m.obj = pyo.Objective(expr=weight * pyo.quicksum(m.term[n] for n in m.N), sense=pyo.minimize)

    return m


def add_deadline_penalty(m: pyo.ConcreteModel, instance: Instance, objective: str) -> dict:
    """Soft deadline (26'): each soft MD's penalty pi_n max(0, T_n - tau_n) in the unit of ``objective``.

    Adds ``md[n].overrun`` >= T_n - tau_n, >= 0 (:func:`~mecopt.milp.network.add_overrun`) and returns
    {n: weight_n * overrun_n}: ``social`` (cost units, as C_n) weight pi_n; ``delay`` (seconds) pi_n / c^T_n;
    ``energy`` (joules) pi_n / c^E_n, i.e. the penalty converted with the MD's own price of a second or
    a joule (docs/MODEL.md Part B). Empty unless ``deadline_policy = "soft"``.

    Parameters
    ----------
    m : pyo.ConcreteModel
        The model.
    instance : Instance
        The instance.
    objective : str
        The GTPOS objective: ``delay``, ``energy`` or ``social``.

    Returns
    -------
    dict
        Device index -> its penalty expression.

    Raises
    ------
    InputError
        For an unknown objective.
    """
    out = {}
    for n, dev in enumerate(instance.devices):
        if not dev.deadline_soft:
            continue
        price = penalty_unit(dev, objective)
        if price <= 0:
            field = {"delay": "cost_delay_per_s", "energy": "cost_energy_per_j"}[objective]
            raise InputError(f"GTPOS objective {objective!r} with deadline_policy \"soft\" converts the penalty "
                             f"with device {dev.name}'s {field}, which is 0; use objective \"social\"")
        add_overrun(m.md[n], dev)
        out[n] = (dev.deadline_penalty_per_s / price) * m.md[n].overrun
    return out


def profile_of(model: pyo.ConcreteModel, instance: Instance, values=None) -> list[np.ndarray]:
    """Each MD's strategy read from y (rounded).

    Parameters
    ----------
    model : pyo.ConcreteModel
        The solved model.
    instance : Instance
        The instance.
    values : dict or None, optional, default None
        Variable -> value (default: the values loaded into the model).

    Returns
    -------
    list[numpy.ndarray]
        One strategy per MD.
    """
    H = instance.server.H
    out = []
    for n, dev in enumerate(instance.devices):
        y = model.md[n].y
        Y = np.array([[pyo.value(y[mm, h]) if values is None else values[y[mm, h]] for h in range(H + 1)]
                      for mm in range(1, dev.M + 1)])
        out.append(np.argmax(Y, axis=1).astype(int))
    return out
