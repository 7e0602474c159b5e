"""One :class:`Solution` type for every method (game, GTPOS, baselines).

A solver returns the assignment plus *why it stopped* (``termination``), the
solver's own status text, objective, bound, gap, wall time, iterations and any
certificate. Figures shown to the user are always recomputed by
:mod:`mecopt.model.cost` and checked by :mod:`mecopt.check`, never taken from the solver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from mecopt import check as checkmod
from mecopt.model import cost as costmod
from mecopt.model.tolerances import DEADLINE_TOL, meets_deadline
from mecopt.results.export import write_json, write_table
from mecopt.model.instance import Instance


class Termination(str, Enum):
    """Why a method stopped (kept apart from what solution it holds)."""

    OPTIMAL = "optimal"                  # MILP proven optimal within the reported gap tolerance
    EQUILIBRIUM = "equilibrium"          # certified: no device gains more than the tolerance by deviating
    CONVERGED = "converged"              # the paper's stop rule |dC| <= eps held; not certified
    ITERATION_LIMIT = "iteration_limit"
    TIME_LIMIT = "time_limit"            # stopped by the time limit with a feasible solution
    FEASIBLE = "feasible"                # a feasible solution with no optimality claim (heuristics, baselines)
    INFEASIBLE = "infeasible"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


@dataclass
class Solution:
    method: str
    instance: Instance
    profile: list[np.ndarray]
    termination: Termination
    status: str = ""                       # the solver's own words
    objective: float | None = None         # what the method minimized (its own figure)
    bound: float | None = None             # best bound (MILP)
    gap: float | None = None               # relative gap (MILP)
    wall_time: float = 0.0
    iterations: int | None = None
    solver_calls: int | None = None
    engine: str | None = None
    certificate: dict | None = None        # e.g. max unilateral gain
    trace: pd.DataFrame | None = None
    flags: dict[str, list[str]] = field(default_factory=dict)  # device name -> flags
    info: dict = field(default_factory=dict)

    @cached_property
    def evaluation(self) -> costmod.Evaluation:
        return costmod.evaluate(self.instance, self.profile)

    @cached_property
    def violations(self) -> list[checkmod.Violation]:
        return checkmod.check_profile(self.instance, self.profile)

    @property
    def feasible(self) -> bool:
        return not self.violations

    def assignment_frame(self) -> pd.DataFrame:
        rows = []
        for d, slots in zip(self.instance.devices, self.profile):
            for m, h in enumerate(np.asarray(slots), start=1):
                rows.append((d.name, m, d.layer_names[m - 1], int(h)))
        return pd.DataFrame(rows, columns=["device", "layer", "layer_name", "slot"])

    def devices_frame(self) -> pd.DataFrame:
        ev = self.evaluation
        rows = []
        for n, d in enumerate(self.instance.devices):
            miss = ev.delay[n] - d.tau
            rows.append(dict(
                device=d.name, dnn=d.dnn, partition_point=int(ev.partition[n]), last_slot=int(ev.last_slot[n]),
                delay_s=ev.delay[n], energy_j=ev.energy[n], price=ev.price[n], cost=ev.cost[n],
                deadline_s=d.tau, deadline_met=bool(meets_deadline(ev.delay[n], d.tau, DEADLINE_TOL)),
                deadline_miss_s=max(0.0, float(miss)), flags=";".join(self.flags.get(d.name, [])),
            ))
        return pd.DataFrame(rows)

    def summary(self) -> dict:
        ev = self.evaluation
        return dict(
            method=self.method, engine=self.engine, instance=self.instance.name,
            termination=str(self.termination), status=self.status, objective=self.objective, bound=self.bound,
            gap=self.gap, iterations=self.iterations, solver_calls=self.solver_calls, wall_time_s=self.wall_time,
            avg_delay_s=ev.avg_delay, avg_energy_j=ev.avg_energy, avg_cost=ev.avg_cost,
            potential=None if np.isnan(ev.potential) else ev.potential,
            feasible=self.feasible, violations=len(self.violations),
            deadline_misses=int(sum(1 for r in self.devices_frame().itertuples() if not r.deadline_met)),
            max_unilateral_gain=None if self.certificate is None else self.certificate.get("max_gain"),
            max_unilateral_gain_rel=None if self.certificate is None else self.certificate.get("max_gain_rel"),
            certificate=self.certificate, flags={k: v for k, v in self.flags.items() if v}, info=self.info,
        )

    def write(self, out_dir: str | Path, fmt: str = "csv") -> list[Path]:
        """Write assignment, devices, trace (if any), violations and summary.json to ``out_dir``."""
        out = Path(out_dir)
        written = [write_table(self.assignment_frame(), out / "assignment", fmt),
                   write_table(self.devices_frame(), out / "devices", fmt),
                   write_table(checkmod.violations_frame(self.violations), out / "violations", fmt)]
        if self.trace is not None:
            written.append(write_table(self.trace, out / "trace", fmt))
        written.append(write_json(out / "summary.json", self.summary()))
        return written
