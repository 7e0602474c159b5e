"""One [Solution][mecopt.Solution] type for every method (game, GTPOS, baselines).

A solver returns the assignment plus *why it stopped* (``termination``), the
solver's own status text, objective, bound, gap, wall time, iterations and any
certificate. Figures shown to the user are always recomputed by
``mecopt.core.cost`` and checked by ``mecopt.core.checker``, never taken from the solver.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from mecopt.core import checker as checkmod
from mecopt.core import cost as costmod
from mecopt.core import manifest
from mecopt.core.errors import InputError
from mecopt.core.instance import Instance
from mecopt.core.options import check_choice
from mecopt.core.tables import FORMATS, write_json, write_table
from mecopt.core.tolerances import DEADLINE_TOL, meets_deadline


class Termination(str, Enum):
    """Why a method stopped (kept apart from what solution it holds, [SolutionStatus][mecopt.SolutionStatus]).

    A string enum: ``str(termination)`` and ``termination.value`` give the name written
    to ``summary.json`` and result tables.

    Examples
    --------
    >>> from mecopt import Termination
    >>> Termination("equilibrium") is Termination.EQUILIBRIUM, str(Termination.TIME_LIMIT)
    (True, 'time_limit')
    """

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


#: the flag of a device whose delay T_n (24) exceeds its deadline tau_n (26), whatever the method
DEADLINE_MISS = "deadline_miss"


def flag_deadline_misses(instance: Instance, delays: Iterable[float], flags: dict[str, list[str]]) -> int:
    """Add :data:`DEADLINE_MISS` to the flags of every MD whose delay exceeds tau_n (26) beyond ``DEADLINE_TOL``.

    The flag is added once; relaxed or dropped deadlines are included. Returns how many MDs miss.

    Parameters
    ----------
    instance : Instance
        The instance.
    delays : Iterable[float]
        T_n of every MD, in seconds.
    flags : dict[str, list[str]]
        Device name -> flags, updated in place.

    Returns
    -------
    int
        The number of MDs that miss their deadline.
    """
    misses = 0
    for d, T in zip(instance.devices, delays):
        if not meets_deadline(T, d.tau, DEADLINE_TOL):
            misses += 1
            fl = flags.setdefault(d.name, [])
            if DEADLINE_MISS not in fl:
                fl.append(DEADLINE_MISS)
    return misses


class SolutionStatus(str, Enum):
    """What solution a method holds (kept apart from why it stopped, [Termination][mecopt.Termination]).

    Judged by the independent checker (``mecopt.core.checker``), never taken from the
    solver: see [Solution.solution_status][mecopt.Solution.solution_status].

    Examples
    --------
    >>> import mecopt
    >>> inst = mecopt.load_instance("paper:fig6-w1khz")
    >>> str(mecopt.solve(inst, "all-local").solution_status)
    'feasible'
    """

    OPTIMAL = "optimal"            # proven optimal (within the reported gap) and passes the checker
    FEASIBLE = "feasible"          # passes the checker, no optimality claim
    INFEASIBLE = "infeasible"      # an assignment that breaks a hard constraint (see violations)
    NO_SOLUTION = "no_solution"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Solution:
    """An assignment of every device's layers to slots, and how the method got it.

    Every method ([mecopt.solve][]) returns one. The figures (delay, energy, cost)
    are recomputed from ``profile`` by the shared cost model ([evaluation][mecopt.Solution.evaluation],
    eqs. 19-25) and the constraints (15)-(17), (26), (27) are checked independently
    ([violations][mecopt.Solution.violations]); the solver's own numbers are kept only as ``objective``,
    ``bound`` and ``gap``.

    Attributes
    ----------
    method : str
        The method's name.
    instance : Instance
        The instance solved.
    profile : list of numpy.ndarray
        One slot vector per device, ``profile[n][m - 1]`` = slot of layer ``m``
        (0 = local, 1..H = server slot, H+1 = queued after the frame, Case 3).
    termination : Termination
        Why the method stopped.
    status : str
        The solver's own words.
    objective, bound, gap : float or None
        What the method minimized, its best bound and relative gap (MILPs).
    wall_time : float
        Seconds spent by the method.
    iterations, solver_calls : int or None
        Ticks of the game / best responses computed.
    engine : str or None
        The best-response engine used.
    certificate : dict or None
        E.g. ``max_gain``: the largest unilateral gain of any device (equilibrium check).
    trace : pandas.DataFrame or None
        Per-tick figures of the game.
    flags : dict of str to list of str
        Per-device flags, e.g. a deadline dropped by the relax policy.
    info : dict
        Method-specific figures (e.g. the means over all-offload's draws).
    server_of : numpy.ndarray or None
        ``server_of[n]`` is the index in ``instance.servers`` of the server device n offloads
        to, -1 when it runs all layers locally; ``profile[n]`` then holds slots of that server
        (docs/multiserver.md). May be None with one server (every device on server 0).

    A Solution is frozen: build it with its final values, or derive a changed copy with
    [replace][mecopt.Solution.replace]. Its evaluation and violations are computed once.

    Examples
    --------
    >>> import mecopt
    >>> sol = mecopt.solve(mecopt.load_instance("paper:fig6-w1khz"), "tpos-cai", engine="dp")
    >>> sol.method, str(sol.termination), sol.feasible, len(sol.profile)
    ('tpos-cai', 'equilibrium', True, 5)
    """

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
    certificate: dict[str, Any] | None = None        # e.g. max unilateral gain
    trace: pd.DataFrame | None = None
    flags: dict[str, list[str]] = field(default_factory=dict)  # device name -> flags
    info: dict[str, Any] = field(default_factory=dict)
    server_of: np.ndarray | None = None    # several servers: the server each device offloads to (-1 = local)

    def __post_init__(self) -> None:
        # one meaning for every method (game, GTPOS, baselines, registered ones): a device whose
        # delay exceeds its deadline carries the deadline_miss flag
        flags = {k: list(v) for k, v in (self.flags or {}).items()}
        object.__setattr__(self, "flags", flags)
        if self.profile:
            flag_deadline_misses(self.instance, self.evaluation.delay, flags)

    def replace(self, **changes: Any) -> Solution:
        """A copy with some fields changed (a Solution is frozen).

        The evaluation and the violations are carried over unless ``instance``, ``profile``
        or ``server_of`` change (then they are recomputed).

        Parameters
        ----------
        **changes
            New values of fields, e.g. ``termination=``, ``status=``, ``info=``.

        Returns
        -------
        Solution

        Examples
        --------
        >>> import mecopt
        >>> sol = mecopt.solve(mecopt.load_instance("paper:fig6-w1khz"), "all-local")
        >>> again = sol.replace(status="checked")
        >>> again.status, again.evaluation is sol.evaluation, sol.status == "checked"
        ('checked', True, False)
        """
        new = object.__new__(Solution)
        if not {"instance", "profile", "server_of"} & changes.keys():
            for name in ("evaluation", "violations"):   # derived from unchanged inputs: kept
                if name in self.__dict__:
                    new.__dict__[name] = self.__dict__[name]
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        type(new).__init__(new, **{**values, **changes})
        return new

    @cached_property
    def evaluation(self) -> costmod.Evaluation:
        """The profile's figures by the shared cost model (per device and averaged)."""
        return costmod.evaluate(self.instance, self.profile, self.server_of)

    @cached_property
    def violations(self) -> list[checkmod.Violation]:
        """Every violated constraint, by the independent checker (empty when feasible)."""
        return checkmod.check_profile(self.instance, self.profile, self.server_of)

    @property
    def feasible(self) -> bool:
        """True when the checker finds no violated constraint."""
        return not self.violations

    @property
    def solution_status(self) -> SolutionStatus:
        """What this solution holds, judged by the independent checker."""
        if not self.profile:
            return SolutionStatus.NO_SOLUTION
        if self.violations:
            return SolutionStatus.INFEASIBLE
        return SolutionStatus.OPTIMAL if self.termination == Termination.OPTIMAL else SolutionStatus.FEASIBLE

    def assignment_frame(self) -> pd.DataFrame:
        """The assignment as a table: one row per device and layer.

        Returns
        -------
        pandas.DataFrame
            Columns ``device``, ``layer`` (1-based), ``layer_name`` and ``slot``
            (0 = local, 1..H = server slot, H+1 = queued after the frame). ``mecopt check``
            and [mecopt.check][] read this table back. With several servers also ``server``:
            the name of the server an offloaded layer runs on (slot 1..H_k + 1 of that
            server), empty for a local layer (slot 0), which runs on no server.

        Examples
        --------
        >>> import mecopt
        >>> sol = mecopt.solve(mecopt.load_instance("paper:fig6-w1khz"), "all-local")
        >>> sol.assignment_frame().head(2)
          device  layer layer_name  slot
        0    md1      1      conv1     0
        1    md1      2      relu1     0
        """
        rows = []
        several = self.instance.K > 1   # the server column is shown with several servers only
        for d, slots, server in zip(self.instance.devices, self.profile, self.server_names()):
            for m, h in enumerate(np.asarray(slots), start=1):
                row = (d.name, m, d.layer_names[m - 1], int(h))
                rows.append(row + (server if h != 0 else checkmod.LOCAL_SERVER,) if several else row)
        return pd.DataFrame(rows, columns=["device", "layer", "layer_name", "slot"] + (["server"] if several else []))

    def server_names(self) -> list[str]:
        """Per device, the name of its server (``server_of``).

        Empty for a device that runs all its layers locally (or has no valid server). Empty names for every device with
        one server.

        Returns
        -------
        list[str]
            One name per device.
        """
        K = self.instance.K
        if K == 1 or self.server_of is None:
            return [""] * self.instance.N
        return [self.instance.servers[int(k)].name if 0 <= int(k) < K else "" for k in self.server_of]

    def devices_frame(self) -> pd.DataFrame:
        """Per-device figures, recomputed by the shared cost model.

        Returns
        -------
        pandas.DataFrame
            One row per device: ``device``, ``dnn``, ``partition_point`` (layers run
            locally), ``last_slot``, ``delay_s`` (T_n, eq. 24), ``energy_j`` (E_n, eq. 25),
            ``price`` (eq. 19), ``cost`` (C_n, eq. 22), ``deadline_s``, ``deadline_met``,
            ``deadline_miss_s`` and ``flags``. With several servers also ``server`` (after
            ``dnn``): the name of the device's server, empty when it runs all layers locally.

        Examples
        --------
        >>> import mecopt
        >>> sol = mecopt.solve(mecopt.load_instance("paper:fig6-w1khz"), "all-local")
        >>> df = sol.devices_frame()
        >>> list(df["partition_point"]), round(float(df["delay_s"].iloc[0]), 4)
        ([21, 21, 21, 21, 21], 4.5619)
        """
        ev = self.evaluation
        rows = []
        several = self.instance.K > 1   # the server column is shown with several servers only
        servers = self.server_names()
        for n, d in enumerate(self.instance.devices):
            miss = ev.delay[n] - d.tau
            where = dict(server=servers[n] if ev.partition[n] < d.M else "") if several else {}
            rows.append(dict(
                device=d.name, dnn=d.dnn, **where, partition_point=int(ev.partition[n]),
                last_slot=int(ev.last_slot[n]),
                delay_s=ev.delay[n], energy_j=ev.energy[n], price=ev.price[n], cost=ev.cost[n],
                deadline_s=d.tau, deadline_met=bool(meets_deadline(ev.delay[n], d.tau, DEADLINE_TOL)),
                deadline_miss_s=max(0.0, float(miss)), deadline_penalty=float(cast(np.ndarray, ev.penalty)[n]),
                flags=";".join(self.flags.get(d.name, [])),
            ))
        return pd.DataFrame(rows)

    def summary(self) -> dict[str, Any]:
        """The solution's headline figures, as written to ``summary.json``.

        Returns
        -------
        dict
            ``method``, ``engine``, ``instance``, ``termination``, ``solution_status``,
            the solver's ``status``, ``objective``, ``bound``, ``gap``, ``iterations``,
            ``solver_calls``, ``wall_time_s``; the re-scored averages ``avg_delay_s``,
            ``avg_energy_j``, ``avg_cost`` and the ``potential``; ``feasible``,
            ``violations`` (count), ``deadline_misses``, the equilibrium certificate
            (``max_unilateral_gain``, ``max_unilateral_gain_rel``), ``flags`` and ``info``.
            With several servers also ``local_devices`` (how many run all layers locally) and
            ``servers``: per server (in the instance's order) ``server``, ``slots`` (H_k),
            ``devices_reaching``, ``devices`` (offloading to it), ``queued`` (of those, waiting
            after its frame), ``avg_delay_s``, ``avg_energy_j``, ``avg_cost`` (over its devices;
            None when it has none) and per slot ``slot_load`` (S_Σ^kh), ``slot_server_time_s``
            and ``slot_devices``.

        Examples
        --------
        >>> import mecopt
        >>> s = mecopt.solve(mecopt.load_instance("paper:fig6-w1khz"), "tpos-cai", engine="dp").summary()
        >>> s["termination"], round(s["avg_delay_s"], 4), s["violations"]
        ('equilibrium', 3.4905, 0)
        """
        ev = self.evaluation
        out = dict(
            method=self.method, engine=self.engine, instance=self.instance.name,
            termination=str(self.termination), solution_status=str(self.solution_status), status=self.status,
            objective=self.objective, bound=self.bound,
            gap=self.gap, iterations=self.iterations, solver_calls=self.solver_calls, wall_time_s=self.wall_time,
            avg_delay_s=ev.avg_delay, avg_energy_j=ev.avg_energy, avg_cost=ev.avg_cost,
            potential=None if np.isnan(ev.potential) else ev.potential,
            feasible=self.feasible, violations=len(self.violations),
            deadline_misses=int(sum(1 for r in self.devices_frame().itertuples() if not r.deadline_met)),
            max_unilateral_gain=None if self.certificate is None else self.certificate.get("max_gain"),
            max_unilateral_gain_rel=None if self.certificate is None else self.certificate.get("max_gain_rel"),
            certificate=self.certificate, flags={k: v for k, v in self.flags.items() if v}, info=self.info,
        )
        if self.instance.K > 1:   # shown with several servers only
            out.update(self.server_summary())
        return out

    def server_summary(self) -> dict[str, Any]:
        """``local_devices`` and ``servers`` of :meth:`summary` (several servers only).

        Returns
        -------
        dict[str, Any]
            ``{"local_devices": ..., "servers": [...]}``.
        """
        ev, inst = self.evaluation, self.instance
        servers = []
        for k, sv in enumerate(inst.servers):
            on = cast(np.ndarray, ev.server) == k      # offloading to server k (O(N) per server, no Python loop)
            cols = ev.slot_server == k

            def mean(x: np.ndarray) -> float | None:
                return float(x[on].mean()) if on.any() else None  # noqa: B023 (called within this iteration only)

            servers.append(dict(
                server=sv.name, slots=sv.H, devices_reaching=int(len(inst.view(k).members)), devices=int(on.sum()),
                queued=int(sum(1 for n in np.flatnonzero(on) if costmod.queued(np.asarray(self.profile[n]), sv.H))),
                avg_delay_s=mean(ev.delay), avg_energy_j=mean(ev.energy), avg_cost=mean(ev.cost),
                slot_load=[float(x) for x in ev.slot_load[cols]],
                slot_server_time_s=[float(x) for x in ev.slot_time[cols]],
                slot_devices=[int(x) for x in ev.slot_count[cols]]))
        local = int(np.sum(ev.server == -1))
        return dict(local_devices=local, servers=servers)

    def write(self, out_dir: str | Path, format: str = "csv") -> list[Path]:
        """Write the solution to a folder that [read_solution][mecopt.read_solution] loads back.

        Parameters
        ----------
        out_dir : str or Path
            The folder (created if needed).
        format : {"csv", "parquet", "json", "markdown", "latex", "xlsx"}
            Format of the tables (assignment, devices, violations, trace); ``read_solution``
            reads csv, parquet and json (latex is a booktabs tabular, xlsx a spreadsheet).

        Returns
        -------
        list of Path
            The files written; ``MANIFEST.json`` (written last) marks the folder complete.

        Raises
        ------
        InputError
            When ``format`` is not one of the formats above.

        Examples
        --------
        >>> import tempfile, mecopt
        >>> sol = mecopt.solve(mecopt.load_instance("paper:fig6-w1khz"), "tpos-cai", engine="dp")
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     files = sol.write(tmp, format="csv")
        ...     back = mecopt.read_solution(tmp)
        >>> sorted(f.name for f in files)[:3]
        ['MANIFEST.json', 'assignment.csv', 'devices.csv']
        >>> back.termination == sol.termination and all((a == b).all() for a, b in zip(back.profile, sol.profile))
        True
        """
        check_choice("format", format, FORMATS)   # before anything is written
        out = manifest.begin(out_dir, "solution")
        written = [write_table(self.assignment_frame(), out / "assignment", format),
                   write_table(self.devices_frame(), out / "devices", format),
                   write_table(checkmod.violations_frame(self.violations, servers=self.instance.K > 1),
                               out / "violations", format)]
        if self.trace is not None:
            written.append(write_table(self.trace, out / "trace", format))
        written.append(write_json(out / "instance.json", dict(self.instance.source, name=self.instance.name)))
        written.append(write_json(out / "summary.json", self.summary()))
        written.append(manifest.finish(out, "solution", written, format=format,
                                       instance_path=self.instance.path))
        return written


def read_assignment(path: str | Path) -> pd.DataFrame:
    """Read an assignment table, or the assignment table of a result folder.

    The one reader of assignments (``mecopt check``, [mecopt.check][], [read_solution][mecopt.read_solution], the
    plots).

    Parameters
    ----------
    path : str or Path
        A csv, parquet or json table (json: a list of records, or ``{"assignment": [...]}``) with
        columns ``device``, ``layer``, ``slot`` (and ``server`` with several servers; other
        columns are kept), or a folder holding ``assignment.<csv|parquet|json>``.

    Returns
    -------
    pandas.DataFrame
        The table, each ``layer`` and ``slot`` cell checked to be an integer. CSV cells are
        read as text (``"1_0"`` or ``"1e0"`` are not integers; ``device`` and ``server`` keep
        the text written, an empty ``server`` cell is a local layer).

    Raises
    ------
    InputError
        When the file is missing, a directory without an assignment table, written by a run
        that did not finish, unreadable, lacks a column, or holds a non-integer layer or slot.

    Examples
    --------
    >>> import tempfile, mecopt
    >>> sol = mecopt.solve(mecopt.load_instance("paper:fig6-w1khz"), "all-local")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = sol.write(tmp)
    ...     table = mecopt.core.solution.read_assignment(tmp)
    >>> list(table.columns), set(table["slot"])
    (['device', 'layer', 'layer_name', 'slot'], {'0'})
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"assignment file not found: {path}")
    return _assignment_table(manifest.assignment_file(path))


def _assignment_table(path: Path) -> pd.DataFrame:
    """:func:`read_assignment` of a file, whatever the state of the folder holding it."""
    import json

    from mecopt.core.tables import read_table

    if path.is_dir():
        raise InputError(f"assignment path is a directory, not a file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(path.read_text())
            if isinstance(data, dict) and "assignment" in data:
                data = data["assignment"]
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                raise InputError(f"assignment {path}: expected a JSON list of records "
                                 "({\"device\": ..., \"layer\": ..., \"slot\": ...}) or {\"assignment\": [...]}")
            table = pd.DataFrame.from_records(data)
        elif suffix == ".csv":
            # cells as text: "1_0" or "1e0" must not become numbers on the way (plain_integer judges them)
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
        elif suffix == ".parquet":
            table = read_table(path)
        else:
            raise InputError(f"cannot read an assignment from {path}: expected .csv, .parquet or .json")
    except InputError:
        raise
    except Exception as err:  # pandas / pyarrow / json parse errors: the file is malformed
        raise InputError(f"assignment {path} could not be read: {type(err).__name__}: {err}") from None
    missing = {"device", "layer", "slot"} - set(table.columns)
    if missing:
        raise InputError(f"assignment {path} lacks columns {sorted(missing)}; it needs device, layer, slot "
                         f"(it has {list(table.columns)})")
    problems = []
    for col in ("layer", "slot"):
        for i, v in enumerate(table[col].tolist()):
            try:
                checkmod.plain_integer(v)
            except (TypeError, ValueError):
                problems.append((f"row {i + 1}.{col}", f"must be an integer, got {v!r}"))
    if problems:
        raise InputError(f"invalid assignment table {path}", problems)
    return table


def read_solution(folder: str | Path, instance: Instance | None = None) -> Solution:
    """Load a solution written by [Solution.write][mecopt.Solution.write].

    Parameters
    ----------
    folder : str or Path
        The folder written.
    instance : Instance, optional
        The instance solved; by default rebuilt from the folder's ``instance.json``.

    Returns
    -------
    Solution
        The same assignment, termination, status, figures, certificate, trace and flags.

    Raises
    ------
    InputError
        When the folder is missing, incomplete (a killed run), or not a solution folder.

    Examples
    --------
    >>> import tempfile, mecopt
    >>> sol = mecopt.solve(mecopt.load_instance("paper:fig6-w1khz"), "gtpos")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = sol.write(tmp)
    ...     back = mecopt.read_solution(tmp)
    >>> back.summary()["avg_delay_s"] == sol.summary()["avg_delay_s"], str(back.termination)
    (True, 'optimal')
    """
    import json

    from mecopt.core.instance import instance_from_dict
    from mecopt.core.resources import instance_path
    from mecopt.core.tables import find_table, read_table

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"solution folder not found: {folder}")
    man = manifest.require_complete(folder, "solution folder")
    if man is None or man.get("kind") != "solution":
        raise InputError(f"{folder} is not a solution folder written by mecopt (no solution {manifest.MANIFEST})")
    summary = json.loads((folder / "summary.json").read_text())
    if instance is None:
        doc = json.loads((folder / "instance.json").read_text())
        src = man.get("instance_path")
        base = None
        if src:
            try:
                base = instance_path(src).parent
            except InputError:
                base = None
        instance = instance_from_dict(doc, base=base, source_path=src)
    if find_table(folder / "assignment") is None:
        raise InputError(f"{folder} has no readable assignment table (csv, parquet or json)")
    Y = checkmod.assignment_to_y(instance, read_assignment(folder))
    profile = checkmod.profile_from_y(instance, Y)
    trace_file = find_table(folder / "trace")
    flags: dict[str, list[str]] = {d.name: [] for d in instance.devices}
    flags.update(summary.get("flags") or {})
    return Solution(
        method=summary["method"], instance=instance, profile=profile, termination=Termination(summary["termination"]),
        status=summary.get("status", ""), objective=summary.get("objective"), bound=summary.get("bound"),
        gap=summary.get("gap"), wall_time=summary.get("wall_time_s", 0.0), iterations=summary.get("iterations"),
        solver_calls=summary.get("solver_calls"), engine=summary.get("engine"),
        certificate=summary.get("certificate"), trace=read_table(trace_file) if trace_file else None,
        flags=flags, info=summary.get("info") or {}, server_of=checkmod.server_of_from_y(instance, Y),
    )


@dataclass(frozen=True)
class ResultFolder:
    """What a result folder holds, read by [read_result_folder][mecopt.core.solution.read_result_folder].

    Attributes
    ----------
    path : Path
        The folder.
    assignment : pandas.DataFrame
        Its assignment table (:func:`read_assignment`), ``layer`` and ``slot`` as integers.
    solution : Solution or None
        The whole solution when the folder is a complete solution folder that reads back.
    instance : Instance or None
        The instance solved, when known (the solution's, else the folder's ``instance.toml``).
    title : str
        ``"<method> on <instance>"`` from its ``summary.json``, else the folder's name.
    """

    path: Path
    assignment: pd.DataFrame
    solution: Solution | None
    instance: Instance | None
    title: str


def read_result_folder(folder: str | Path) -> ResultFolder:
    """Read a folder holding an assignment table.

    A solution folder (``mecopt solve --out``) read back whole when it can be, else its assignment table with its
    optional ``summary.json`` and ``instance.toml``.

    Parameters
    ----------
    folder : str or Path
        The folder.

    Returns
    -------
    ResultFolder

    Raises
    ------
    InputError
        When ``folder`` is not a folder or holds no readable assignment table.
    """
    import json

    from mecopt.core.instance import load_instance
    from mecopt.core.tables import find_table

    d = Path(folder)
    if not d.is_dir():
        raise InputError(f"not a solution directory: {d}")
    man = manifest.read(d)      # completeness is the caller's business (mecopt plot refuses incomplete folders)
    if man is not None and man.get("kind") == "solution" and man.get("complete"):
        try:
            sol = read_solution(d)      # the instance it solved, with its server times
            return ResultFolder(d, sol.assignment_frame(), sol, sol.instance, f"{sol.method} on {sol.instance.name}")
        except InputError:
            pass  # e.g. inside a result set still being written, or a DNN path that no longer resolves
    path = find_table(d / "assignment")
    if path is None:
        raise InputError(f"{d} holds no readable assignment table (assignment.csv, .parquet or .json); "
                         f"write the solution with --format csv, parquet or json")
    table = _assignment_table(path)   # completeness is the caller's business, as above
    table = table.assign(**{c: table[c].map(checkmod.plain_integer) for c in ("layer", "slot")})   # checked
    title = d.name
    summary = d / "summary.json"
    if summary.is_file():
        s = json.loads(summary.read_text())
        title = f"{s.get('method', '')} on {s.get('instance', '')}".strip()
    inst = None
    if (d / "instance.toml").is_file():
        try:
            inst = load_instance(d / "instance.toml")
        except InputError:
            pass  # e.g. a DNN given by a relative path: drawn without server times
    return ResultFolder(d, table, None, inst, title)
