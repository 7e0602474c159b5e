"""Parameter sweeps: a Cartesian grid over instance fields, solved by several methods and seeds.

A sweep point is one instance file with some fields overridden, each field
addressed by its path in the parsed TOML document (``server.slots``,
``devices.*.bandwidth_hz``, ``devices.0.count``; a number indexes a list, ``*``
takes every entry of it). Overrides are applied to the document *before*
validation, so a value is checked exactly as if it had been written in the file.
A ``device_defaults.<field>`` path that every device entry overrides with its own
``<field>`` changes nothing: :func:`plan` refuses it (naming the entries and the
``devices.*.<field>`` path that works), and warns with :class:`SweepWarning` when
only some entries override it.

Every (point, method, seed) is one *run*, solved in a worker of a
:class:`concurrent.futures.Executor` — a local process pool by default, or any
executor passed in, such as a Dask client's ``client.get_executor()``: one
interface, one code path. As each run finishes, its row is appended to
``OUT/results.jsonl`` (one JSON object per line, flushed per row), so killing a
sweep loses at most the runs in flight, and ``resume=True`` skips every run
already there. The final table ``OUT/results.<fmt>`` is built from that log
and sorted by (point, method, seed); it holds only deterministic figures, so a
resumed and an uninterrupted sweep write the same table. Wall times go to
``OUT/timings.<fmt>``.

Every point's instance is built and every option checked before any run
(:func:`plan`; an :class:`InputError` names the field and the point). Runs that
fail all the same (a solver error) are rows with ``termination = "error"``,
listed in ``OUT/failures.<fmt>``; the command line then raises
:class:`RunsFailedError` (exit :data:`RUNS_FAILED_EXIT`).

The library never prints: pass ``progress(done, total)`` to follow a sweep.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import logging
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mecopt.core import manifest as result_set
from mecopt.core.errors import InputError, MecoptError
from mecopt.core.instance import read_document
from mecopt.core.options import scalar_from_text
from mecopt.core.tables import FORMATS, write_json, write_table, write_text

#: leading columns of the results table, in this order (axis columns follow ``instance``)
KEY_COLUMNS = ("key", "point", "instance")
#: result columns in this order; flattened ``certificate.*`` and ``info.*`` entries follow, sorted
RESULT_COLUMNS = ("method", "seed", "engine", "termination", "feasible", "violations", "deadline_misses",
                  "avg_delay_s", "avg_energy_j", "avg_cost", "potential", "objective", "bound", "gap",
                  "iterations", "solver_calls", "status", "error")
LOG_NAME = "results.jsonl"
#: the table of failed runs (``failures.<fmt>``): these columns after the point's key, instance and axis columns
FAILURE_COLUMNS = ("method", "seed", "error")
#: exit status of ``mecopt sweep`` / ``mecopt study`` when every run was tried but some failed
RUNS_FAILED_EXIT = 5
_RESERVED = set(KEY_COLUMNS) | set(RESULT_COLUMNS) | {"timing"}
MANIFEST_NAME = "sweep.json"


# --------------------------------------------------------------------------- axes and paths

def axis_column(path: str) -> str:
    """The results column of a swept field.

    Its path, or ``instance.<path>`` when the path is itself a column name of the table (sweeping the instance's
    ``seed``, say).

    Parameters
    ----------
    path : str
        The swept field's path.

    Returns
    -------
    str
        The column name.
    """
    return f"instance.{path}" if path in _RESERVED else path


@dataclass(frozen=True)
class Axis:
    """One swept field: its path in the instance document and the values it takes.

    Attributes
    ----------
    path : str
        Dotted path of the field in the instance document (e.g. ``devices.*.bandwidth_hz``).
    values : tuple
        The values the field takes, in order.
    """

    path: str
    values: tuple

    def __post_init__(self):
        if not self.values:
            raise InputError(f"sweep axis {self.path!r} has no values")


#: most points of one sweep (each is validated, planned and logged up front)
MAX_POINTS = 100_000




def _split(spec: str, option: str) -> tuple[str, str]:
    path, sep, rest = spec.partition("=")
    if not sep or not path.strip() or not rest.strip():
        raise InputError(f"The '{option}' option must look like PATH=...; got {spec!r} instead.")
    return path.strip(), rest.strip()


def parse_range(spec: str) -> Axis:
    """``PATH=START:STOP:COUNT`` -> COUNT evenly spaced values from START to STOP inclusive.

    When START and STOP are integers and every value is whole, the values are ints.

    Parameters
    ----------
    spec : str
        ``PATH=START:STOP:COUNT``.

    Returns
    -------
    Axis
        The axis.

    Raises
    ------
    InputError
        When the spec is malformed.
    """
    path, rest = _split(spec, "--set")
    parts = rest.split(":")
    if len(parts) != 3:
        raise InputError(f"The '--set' option must look like PATH=START:STOP:COUNT; got {spec!r} instead.")
    start, stop, count = (scalar_from_text(p) for p in parts)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (start, stop)):
        raise InputError(f"--set {path}: START and STOP must be numbers; got {parts[0]!r} and {parts[1]!r}")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_POINTS:
        raise InputError(f"--set {path}: COUNT must be a whole number from 1 to {MAX_POINTS}; got {parts[2]!r}")
    if not all(math.isfinite(v) for v in (start, stop)):
        raise InputError(f"--set {path}: START and STOP must be finite; got {parts[0]!r} and {parts[1]!r}")
    if count == 1:
        values = [float(start)]
    else:
        step = (stop - start) / (count - 1)
        values = [float(start + i * step) for i in range(count - 1)] + [float(stop)]
    if isinstance(start, int) and isinstance(stop, int) and all(v.is_integer() for v in values):
        values = [int(v) for v in values]
    return Axis(path, tuple(values))


def parse_values(spec: str) -> Axis:
    """``PATH=v1,v2,...`` -> those values, each read as a TOML scalar (bare words are strings).

    Parameters
    ----------
    spec : str
        ``PATH=v1,v2,...``.

    Returns
    -------
    Axis
        The axis.
    """
    path, rest = _split(spec, "--values")
    values = tuple(scalar_from_text(v) for v in rest.split(",") if v.strip())
    return Axis(path, values)


def set_path(data: dict, path: str, value) -> None:
    """Set the field at ``path``.

    (dot-separated; numbers index lists, ``*`` takes every entry of a list) of a parsed TOML document in place.

    Missing tables on the way are created (validation then judges their fields);
    a list index out of range or a step into a non-table raises :class:`InputError`
    naming the path.

    Parameters
    ----------
    data : dict
        The document, changed in place.
    path : str
        The field's path.
    value : object
        The value.

    Raises
    ------
    InputError
        When the path does not reach a field.
    """
    parts = path.split(".")
    if not path or any(not p for p in parts):
        raise InputError(f"bad sweep path {path!r}: expected names separated by dots, e.g. server.slots")
    _set(data, parts, 0, path, value)


def _set(node: Any, parts: list[str], start: int, path: str, value) -> None:
    for depth in range(start, len(parts)):
        part = parts[depth]
        last = depth == len(parts) - 1
        where = ".".join(parts[:depth + 1])
        if part == "*":
            if not isinstance(node, list):
                raise InputError(f"bad sweep path {path!r}: '*' takes every entry of a list, but "
                                 f"{'.'.join(parts[:depth]) or 'the document'} is not a list")
            if last:
                raise InputError(f"bad sweep path {path!r}: '*' must be followed by a field, e.g. devices.*.count")
            for entry in node:
                _set(entry, parts, depth + 1, path, value)
            return
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise InputError(f"bad sweep path {path!r}: {where} is not an entry of a list of {len(node)} "
                                 f"(indices 0..{len(node) - 1})")
            key: Any = int(part)
        elif isinstance(node, dict):
            key = part
        else:
            raise InputError(f"bad sweep path {path!r}: {'.'.join(parts[:depth])} is a value, not a table or list")
        if last:
            node[key] = value
        else:
            if isinstance(node, dict) and key not in node:
                node[key] = {}
            node = node[key]


class SweepWarning(UserWarning):
    """A sweep axis that changes some device entries but not others (see :func:`shadowed`).

    Attributes
    ----------
    args : tuple
        The warning text (:meth:`Shadow.message`).
    """


@dataclass(frozen=True)
class Shadow:
    """A ``device_defaults.<field>`` axis overridden by device entries that set ``<field>`` themselves.

    Attributes
    ----------
    path : str
        The ``device_defaults.<field>`` sweep path.
    source : str
        The instance file.
    entries : tuple of str
        The overriding device entries, e.g. ``("devices.0 (bandwidth_hz = 1000.0, 5 devices)",)``.
    total : int
        Device entries in the file.
    ignored : bool
        The field is never taken from ``[device_defaults]`` (``count``, ``name``).
    """

    path: str
    source: str
    entries: tuple[str, ...]     # the overriding entries, e.g. ("devices.0 (bandwidth_hz = 1000.0, 5 devices)",)
    total: int                   # entries in the file
    ignored: bool = False        # the field is never taken from [device_defaults] (count, name)

    @property
    def everywhere(self) -> bool:
        """Whether the override hits every device entry (or the default is never used)."""
        return self.ignored or len(self.entries) == self.total

    @property
    def suggestion(self) -> str:
        """The sweep path that reaches every device: ``devices.*.FIELD``."""
        return f"devices.*.{self.path.split('.', 1)[1]}"

    def message(self) -> str:
        """The warning or refusal text for this override.

        Returns
        -------
        str
            The text.
        """
        field_ = self.path.split(".", 1)[1]
        if self.ignored:
            return (f"sweep path {self.path} changes nothing in {self.source}: [device_defaults] {field_} is "
                    f"never used (each device entry has its own); sweep {self.suggestion} instead")
        which = "every device entry sets" if self.everywhere else (
            f"{len(self.entries)} of {self.total} device entries set")
        return (f"sweep path {self.path} is overridden in {self.source}: {which} its own {field_} "
                f"({'; '.join(self.entries)}), which takes precedence over [device_defaults], so "
                + ("the sweep would change nothing" if self.everywhere else "those devices do not change")
                + f". Sweep {self.suggestion} to set it on every device entry"
                + ("" if self.everywhere else f", or devices.<i>.{field_} for one entry") + ".")


def shadowed(doc: dict, path: str, source: str = "the instance") -> Shadow | None:
    """The device entries of ``doc`` that override sweep path ``path`` (a ``device_defaults.<field>`` path).

    Or None when the path reaches every device.

    Parameters
    ----------
    doc : dict
        The instance document.
    path : str
        A ``device_defaults.<field>`` path.
    source : str, default 'the instance'
        The instance's name (for messages).

    Returns
    -------
    Shadow or None
        The override, or None.
    """
    from mecopt.core.instance import DeviceFields

    parts = path.split(".")
    if len(parts) != 2 or parts[0] != "device_defaults" or parts[1] not in DeviceFields.model_fields:
        return None
    entries = doc.get("devices") if isinstance(doc.get("devices"), list) else []
    field_ = parts[1]
    if field_ in ("count", "name"):
        return Shadow(path, source, (), len(entries), ignored=True)
    over = tuple(f"devices.{i} ({field_} = {e[field_]!r}, {e.get('count', 1)} device(s))"
                 for i, e in enumerate(entries) if isinstance(e, dict) and field_ in e)
    return Shadow(path, source, over, len(entries)) if over else None


def check_axes(spec: SweepSpec) -> list[Shadow]:
    """Every axis a device entry overrides, per instance file.

    Raises :class:`InputError` (exit 2) when an axis changes nothing in some file; returns the partial ones (the caller
    warns).

    Parameters
    ----------
    spec : SweepSpec
        The sweep.

    Returns
    -------
    list[Shadow]
        The overrides of some (not all) device entries, to warn about.

    Raises
    ------
    InputError
        When an axis would change nothing.
    """
    found = []
    for src in spec.instances:
        doc, _ = read_document(src)
        for a in spec.axes:
            sh = shadowed(doc, a.path, src)
            if sh is not None:
                found.append(sh)
    total = [sh for sh in found if sh.everywhere]
    if total:
        raise InputError("a sweep axis changes nothing", [(sh.path, sh.message()) for sh in total])
    return found


# --------------------------------------------------------------------------- the plan

@dataclass(frozen=True)
class Point:
    """One instance document of the grid.

    Attributes
    ----------
    index : int
        Position in the grid.
    instance : str
        The instance's name.
    source : str
        The instance file.
    values : tuple of (str, object)
        (axis path, value) of each axis at this point.
    data : dict
        The instance document with the values set.
    """

    index: int
    instance: str                    # the instance's name
    source: str                      # the instance file
    values: tuple[tuple[str, Any], ...]
    data: dict = field(repr=False, compare=False)

    @property
    def key(self) -> str:
        """The point's identity in the results: its instance and values."""
        return ";".join([f"instance={self.instance}"] + [f"{p}={v!r}" for p, v in self.values])


@dataclass(frozen=True)
class Run:
    """One (point, method, seed) to solve.

    Attributes
    ----------
    point : Point
        The grid point.
    method : str
        The method's name.
    target : str
        ``"module:function"`` of the method.
    seed : int
        The seed.
    options : Mapping
        Keyword options of the method.
    """

    point: Point
    method: str
    target: str                      # "module:function" of the method
    seed: int
    options: Mapping[str, Any]

    @property
    def key(self) -> str:
        """The run's identity in the results: point, method and seed (what ``--resume`` matches)."""
        return f"{self.point.key}|method={self.method}|seed={self.seed}"


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep.

    ``options`` maps a method name (or ``"*"`` for every method) to keyword options; a ``"*"`` option goes only to
    methods whose function names it. Each method runs once per seed when its function names a ``seed`` parameter,
    otherwise once per point (its row carries the first seed).

    Attributes
    ----------
    instances : tuple of str
        Instance files or bundled names.
    axes : tuple of Axis
        The swept fields; the grid is their product.
    methods : tuple of str
        The methods run at every point.
    seeds : tuple of int
        The seeds.
    options : Mapping
        Method name (or ``"*"``) -> keyword options.
    save_solutions : bool
        Also write every run's solution.
    labels : Mapping
        Instance file -> {column: value}: columns of the results table that describe each instance (a study's
        generator parameters, e.g. ``devices`` and ``instance_seed``), placed after ``instance``. Every instance
        has the same columns.
    """

    instances: tuple[str, ...]
    axes: tuple[Axis, ...] = ()
    methods: tuple[str, ...] = ("all-local",)
    seeds: tuple[int, ...] = (0,)
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    save_solutions: bool = False
    labels: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def label_columns(self) -> list[str]:
        """The columns of :attr:`labels`, in their order (none without labels)."""
        first = next(iter(self.labels.values()), {})
        return [axis_column(c) for c in first]

    def __post_init__(self):
        if not self.instances:
            raise InputError("a sweep needs at least one instance file")
        if not self.methods:
            raise InputError("a sweep needs at least one method")
        if not self.seeds:
            raise InputError("a sweep needs at least one seed")
        paths = [a.path for a in self.axes]
        dup = sorted({p for p in paths if paths.count(p) > 1})
        if dup:
            raise InputError(f"a sweep path may appear once; repeated: {dup}")
        if len(set(self.methods)) != len(self.methods):
            raise InputError(f"each method may appear once; got {list(self.methods)}")
        if self.labels:
            if set(self.labels) != set(self.instances):
                raise InputError("sweep labels must describe every instance file, and only those")
            cols = [list(v) for v in self.labels.values()]
            if any(c != cols[0] for c in cols):
                raise InputError("sweep labels must give every instance the same columns")
            clash = set(self.label_columns) & {axis_column(a.path) for a in self.axes}
            if clash:
                raise InputError(f"sweep label columns {sorted(clash)} are also swept paths")


def _load_document(path: str) -> tuple[dict, str]:
    """The instance document and the SHA-256 of its text (a resumed sweep must see the same file)."""
    data, text = read_document(path)
    return data, hashlib.sha256(text.encode()).hexdigest()


def plan(spec: SweepSpec) -> tuple[list[Point], list[Run], dict]:
    """Validate the sweep and list its points and runs (in table order) plus its manifest.

    Every option value is checked against its method's declaration, and every point is
    built into an instance exactly as a run would build it (schema, then the checks
    across fields: one ``[server]`` or ``[[servers]]``, unique server names, deadlines a
    device can meet, ...), before any run; every problem is raised at once, naming the
    field path and the points where it occurs.

    Parameters
    ----------
    spec : SweepSpec
        The sweep.

    Returns
    -------
    tuple[list[Point], list[Run], dict]
        (points, runs, manifest).

    Raises
    ------
    InputError
        Listing every problem.
    """
    from pydantic import ValidationError

    from mecopt.core.errors import validation_problems
    from mecopt.core.instance import InstanceFile, instance_from_dict
    from mecopt.core.options import check_option_names
    from mecopt.core.resources import instance_path
    from mecopt.methods import registry as solvers

    unknown_opt = sorted(set(spec.options) - set(spec.methods) - {"*"})
    if unknown_opt:
        raise InputError(f"options given for methods not in the sweep: {unknown_opt}")
    shared = dict(spec.options.get("*", {}))
    for key in shared:                     # a "*" option goes to the methods that declare it: one must
        if not any(key in solvers.option_set(m) for m in spec.methods):
            valid = sorted({o for m in spec.methods for o in solvers.accepted_options(m)})
            check_option_names(f"any of the methods {', '.join(spec.methods)}", [key], valid)
    method_opts = {}                       # every value converted and range-checked before any work
    for m in spec.methods:
        declared = solvers.option_set(m)   # InputError for an unknown method
        given = {k: v for k, v in shared.items() if k in declared}
        given.update(spec.options.get(m, {}))
        method_opts[m] = solvers.validate_options(m, given)
    for sh in check_axes(spec):
        warnings.warn(sh.message(), SweepWarning, stacklevel=2)

    docs = [(_load_document(p), p) for p in spec.instances]
    points: list[Point] = []
    problems: list[tuple[str, str]] = []
    size = math.prod(len(a.values) for a in spec.axes) * len(spec.instances)
    if size > MAX_POINTS:
        raise InputError(f"the sweep has {size} points (instances x axis values); the limit is {MAX_POINTS}")
    grid = list(itertools.product(*(a.values for a in spec.axes)))
    for (doc, _), src in docs:
        for combo in grid:
            data = copy.deepcopy(doc)
            values = tuple(zip((a.path for a in spec.axes), combo))
            try:
                for path, v in values:
                    set_path(data, path, v)
            except InputError as err:
                raise InputError(f"{err} (in {src})") from None
            at = ", ".join(f"{p}={v!r}" for p, v in values) or "as written"
            try:
                InstanceFile.model_validate(data)
            except ValidationError as err:
                for path, msg in validation_problems(err):
                    problems.append((path, msg, f"{src} {at}"))
                continue
            try:             # what the schema alone cannot see: [server] with [[servers]], duplicate names, ...
                instance_from_dict(copy.deepcopy(data), base=instance_path(src).parent, source_path=src)
            except InputError as err:
                problems += [(path, msg, f"{src} {at}") for path, msg in (err.problems or [("", str(err))])]
                continue
            points.append(Point(len(points), str(data.get("name", "instance")), src, values, data))
    if problems:
        raise InputError("invalid sweep", _group_problems(problems, len(grid) * len(docs), spec))
    names = [p.key for p in points]
    if len(set(names)) != len(names):
        raise InputError("two sweep points have the same key: give the instance files different names")

    runs: list[Run] = []
    for pt in points:
        for m in spec.methods:
            opts = method_opts[m]
            seeded = "seed" in solvers.option_set(m)
            for s in (spec.seeds if seeded else spec.seeds[:1]):
                runs.append(Run(pt, m, solvers.target(m), int(s), {**opts, **({"seed": int(s)} if seeded else {})}))
    manifest = dict(
        instances=[dict(name=str(d.get("name", "instance")), sha256=h) for (d, h), _ in docs],
        axes=[dict(path=a.path, values=list(a.values)) for a in spec.axes],
        methods=list(spec.methods), seeds=[int(s) for s in spec.seeds],
        options={k: dict(v) for k, v in sorted(spec.options.items())}, save_solutions=spec.save_solutions,
    )
    if spec.labels:     # (only when given: a sweep without labels keeps the manifest it always had)
        manifest["labels"] = [dict(spec.labels[src]) for src in spec.instances]
    return points, runs, manifest


def _group_problems(problems, n_points: int, spec: SweepSpec) -> list[tuple[str, str]]:
    """One line per (path, message), saying at which points it occurs."""
    where: dict[tuple[str, str], list[str]] = {}
    for path, msg, at in problems:
        where.setdefault((path, msg), []).append(at)
    grid = "; ".join(f"{a.path}={', '.join(repr(v) for v in a.values)}" for a in spec.axes) or "as written"
    out = []
    for (path, msg), ats in where.items():
        if len(ats) == n_points and n_points > 1:
            out.append((path, f"{msg} (at every point: {', '.join(spec.instances)} {grid})"))
        else:
            shown = "; ".join(ats[:3]) + (f"; and {len(ats) - 3} more" if len(ats) > 3 else "")
            out.append((path, f"{msg} (at {shown})"))
    return out


# --------------------------------------------------------------------------- the worker

@dataclass(frozen=True)
class Task:
    """What a worker needs (plain data, so it travels to processes and Dask workers).

    Attributes
    ----------
    key : str
        The run's key.
    data : dict
        The instance document.
    source : str
        The instance file.
    method : str
        The method's name.
    target : str
        ``"module:function"`` of the method.
    options : dict
        Keyword options of the method.
    keep_solution : bool
        Return the solution with the outcome.
    """

    key: str
    data: dict
    source: str
    method: str
    target: str
    options: dict
    keep_solution: bool


@dataclass
class Outcome:
    """One finished run: its key, its deterministic results row, its timings and (optionally) its solution.

    Attributes
    ----------
    key : str
        The run's key.
    row : dict
        Its deterministic results row.
    timing : dict
        ``wall_time_s`` and the solver's own timings (not deterministic).
    solution : object
        The solution, when kept; else None.
    """

    key: str
    row: dict
    timing: dict          # wall_time_s and the solver's own timings (not deterministic)
    solution: Any = None


def _plain(v):
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            return v.item()
        except (TypeError, ValueError):
            return str(v)
    if v is None or isinstance(v, bool | int | float | str):
        return v
    return json.dumps(v, default=str, sort_keys=True)


def is_timing(name: str) -> bool:
    """A measured duration (``wall_time_s``, GTPOS' ``build_s``/``solve_s``, ...).

    Seconds that change from run to run, so they stay out of the results table.

    Parameters
    ----------
    name : str
        A column name.

    Returns
    -------
    bool
        Whether it is a timing.
    """
    return name.endswith(("_s", "_seconds", "_sec")) or "wall" in name


def summary_row(summary: Mapping[str, Any]) -> tuple[dict, dict]:
    """The scalar figures of :meth:`Solution.summary`, split into (deterministic row, timings).

    The ``certificate`` and ``info`` entries are flattened to ``certificate.<k>`` / ``info.<k>``.

    Parameters
    ----------
    summary : Mapping[str, Any]
        A solution's summary.

    Returns
    -------
    tuple[dict, dict]
        (deterministic row, timings).
    """
    row, timing = {}, {}
    for k in RESULT_COLUMNS:
        if k in summary and k not in ("method", "seed"):   # the run's own method name and seed identify it
            row[k] = _plain(summary[k])
    for group in ("certificate", "info"):
        for k, v in sorted((summary.get(group) or {}).items()):
            if isinstance(v, Mapping):
                continue
            (timing if is_timing(k) else row)[f"{group}.{k}"] = _plain(v)
    return row, timing


def execute(task: Task) -> Outcome:
    """Build the instance and solve it (runs in a worker).

    Errors of mecopt (bad input, infeasible, solver failure) become a row with ``termination = "error"``.

    Parameters
    ----------
    task : Task
        The task.

    Returns
    -------
    Outcome
        The run's outcome.
    """
    import time

    from mecopt.core.instance import instance_from_dict
    from mecopt.core.resources import instance_path
    from mecopt.methods import registry

    t0 = time.perf_counter()
    try:
        instance = instance_from_dict(copy.deepcopy(task.data), base=instance_path(task.source).parent,
                                      source_path=task.source)
        solution = registry.run_target(task.target, task.method, instance, task.options)
        row, timing = summary_row(solution.summary())
    except MecoptError as err:
        solution, timing = None, {}
        row = dict(termination="error", error=f"{type(err).__name__}: {err}")
    timing = {"wall_time_s": time.perf_counter() - t0, **timing}
    return Outcome(task.key, row, timing, solution if task.keep_solution else None)


# --------------------------------------------------------------------------- the log

def read_log(path: Path, repair: bool = False) -> list[dict]:
    """Rows of an append-only log.

    A torn last line (the sweep was killed while writing it) is ignored, and with ``repair`` cut off so appending can go
    on.

    Parameters
    ----------
    path : Path
        The log file.
    repair : bool, default False
        Whether to cut off a torn last line.

    Returns
    -------
    list[dict]
        The rows.
    """
    if not path.exists():
        return []
    raw = path.read_bytes()
    rows, good_end, pos = [], 0, 0
    for line in raw.splitlines(keepends=True):
        pos += len(line)
        if not line.endswith(b"\n"):
            break
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
        good_end = pos
    if repair and good_end < len(raw):
        with open(path, "r+b") as f:
            f.truncate(good_end)
    return rows


class _Log:
    def __init__(self, path: Path):
        self.f = open(path, "a", encoding="utf-8")

    def append(self, record: dict) -> None:
        self.f.write(json.dumps(record, allow_nan=True, default=_plain) + "\n")
        self.f.flush()

    def close(self):
        self.f.close()


# --------------------------------------------------------------------------- running

@dataclass
class SweepResult:
    """What :func:`run_sweep` returns: the folder, the sorted table, its files and the run counts.

    Attributes
    ----------
    out_dir : pathlib.Path
        The sweep folder.
    table : pandas.DataFrame
        The results table, sorted.
    table_path : pathlib.Path
        Its file.
    timings_path : pathlib.Path
        The file of the run timings.
    ran : int
        Runs solved by this call.
    skipped : int
        Runs found already done (resume).
    failures : pandas.DataFrame
        The runs whose termination is ``error``: key, point, instance, the axis columns, method, seed and error.
    failures_path : pathlib.Path
        Its file, ``failures.<fmt>`` (written also when empty).
    """

    out_dir: Path
    table: pd.DataFrame
    table_path: Path
    timings_path: Path
    ran: int             # runs solved by this call
    skipped: int         # runs found already done (resume)
    failures: pd.DataFrame = field(default_factory=pd.DataFrame)
    failures_path: Path | None = None

    @property
    def failed(self) -> int:
        """Runs that ended in an error (rows of :attr:`failures`)."""
        return len(self.failures)


def local_executor(workers: int | None = None) -> ProcessPoolExecutor:
    """The default executor: worker processes started with ``spawn``, i.e. fresh interpreters.

    Not ``fork``: a process that has already run HiGHS (say, a GTPOS solve in a notebook
    or a test) holds HiGHS' thread pool, and a forked child that calls HiGHS again
    waits for threads that do not exist in it — forever.

    Parameters
    ----------
    workers : int or None, default None
        Number of processes (None: the CPUs).

    Returns
    -------
    ProcessPoolExecutor
        The executor.
    """
    import multiprocessing

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_init, initargs=(os.getpid(),))


def _worker_init(parent: int) -> None:
    """A sweep worker dies with its parent and leaves interrupts to it.

    SIGINT (Ctrl-C reaches the whole process group) is ignored: the parent decides and
    stops the workers. If the parent is killed (SIGKILL gives it no chance to clean up),
    Linux sends the worker SIGKILL (``PR_SET_PDEATHSIG``); elsewhere a watchdog thread
    polls the parent's pid once a second.
    """
    import signal
    import threading
    import time

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:      # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="mecopt-parent-watchdog", daemon=True).start()


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Stop a local pool at once (an interrupt must not wait for running solves)."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        if proc.is_alive():
            proc.kill()
    pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def pool_for(workers: int | None, executor: Executor | None) -> Iterator[Executor]:
    """``executor`` when given (the caller owns it), else a :func:`local_executor` owned by the block.

    Stopped at once when the block raises (an interrupt must not wait for running solves), shut down when it ends.

    Parameters
    ----------
    workers : int or None
        Number of processes of a local executor.
    executor : Executor or None
        An executor owned by the caller, or None.

    Yields
    ------
    Executor
        The executor to submit to.
    """
    if executor is not None:
        yield executor
        return
    pool = local_executor(workers)
    try:
        yield pool
    except BaseException:
        _stop_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def solution_path(out_dir: str | Path, point: int, method: str, seed: int) -> Path:
    """Where a sweep with ``save_solutions`` writes the solution of one run.

    Parameters
    ----------
    out_dir : str or Path
        The sweep folder.
    point : int
        The point's index.
    method : str
        The method.
    seed : int
        The seed.

    Returns
    -------
    Path
        The solution folder.
    """
    return Path(out_dir) / "solutions" / f"p{int(point):04d}-{method}-s{int(seed)}"


def solution_dir(out_dir: str | Path, run: Run) -> Path:
    """The solution folder of ``run`` under ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        The sweep folder.
    run : Run
        The run.

    Returns
    -------
    Path
        The solution folder.
    """
    return solution_path(out_dir, run.point.index, run.method, run.seed)


def run_sweep(spec: SweepSpec, out_dir: str | Path, *, fmt: str = "csv", resume: bool = False,
              workers: int | None = None, executor: Executor | None = None,
              progress: Callable[[int, int], None] | None = None) -> SweepResult:
    """Run (or resume) a sweep into ``out_dir``; returns the final, sorted table.

    ``executor``: any :class:`concurrent.futures.Executor` (e.g. a Dask client's
    ``get_executor()``); by default :func:`local_executor` (``workers`` processes) is made
    for the call.

    Parameters
    ----------
    spec : SweepSpec
        What to sweep.
    out_dir : str or pathlib.Path
        The sweep folder (a result set of kind ``sweep``).
    fmt : str, optional
        Table format, one of ``FORMATS``.
    resume : bool, optional
        Continue the sweep already in ``out_dir`` (same settings), skipping the runs logged as done.
    workers : int or None, optional
        Worker processes of the default executor.
    executor : concurrent.futures.Executor or None, optional
        The executor to run on.
    progress : callable or None, optional
        Called as ``progress(done, total)`` in runs.

    Returns
    -------
    SweepResult
        The folder, the sorted table, its files and the run counts.

    Raises
    ------
    InputError
        On an unknown ``fmt``, a folder holding a different sweep, or a folder holding a sweep without ``resume``.
    """
    if fmt not in FORMATS:
        raise InputError(f"The 'format' option must be one of {', '.join(FORMATS)}. Got {fmt!r} instead.")
    points, runs, manifest = plan(spec)
    out = Path(out_dir)
    log_path, man_path = out / LOG_NAME, out / MANIFEST_NAME
    if resume and man_path.exists():
        old = json.loads(man_path.read_text())
        if old != json.loads(json.dumps(manifest)):
            raise InputError(f"{out} holds a different sweep (instances, axes, methods, seeds, options or "
                             f"saved solutions differ); resume it with the same settings or choose another --out")
    elif not resume and (log_path.exists() or man_path.exists()):
        raise InputError(f"{out} already holds a sweep; pass --resume to continue it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    result_set.begin(out, "sweep")
    if not man_path.exists():
        write_json(man_path, manifest)

    done = {r["key"] for r in read_log(log_path, repair=True) if "key" in r}
    pending = [r for r in runs if r.key not in done]
    total, finished = len(runs), len(runs) - len(pending)
    if progress:
        progress(finished, total)

    if pending:
        log = _Log(log_path)
        futures = {}
        try:
            with pool_for(workers, executor) as pool:
                try:
                    for run in pending:
                        task = Task(run.key, run.point.data, run.point.source, run.method, run.target,
                                    dict(run.options), spec.save_solutions)
                        futures[pool.submit(execute, task)] = run
                    for fut in as_completed(futures):
                        run = futures[fut]
                        outcome = fut.result()
                        if outcome.solution is not None:
                            _save_solution(outcome.solution, run, out, fmt)
                        log.append(dict(_identity(run, spec.labels.get(run.point.source, {})), **outcome.row,
                                        timing=outcome.timing))
                        finished += 1
                        if progress:
                            progress(finished, total)
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
        finally:
            log.close()

    table, timings = assemble(spec, runs, read_log(log_path))
    table_path = write_table(table, out / "results", fmt)
    timings_path = write_table(timings, out / "timings", fmt)
    failures = failures_table(table)
    failures_path = write_table(failures, out / "failures", fmt)
    result_set.finish(out, "sweep", format=fmt)
    return SweepResult(out, table, table_path, timings_path, len(pending), total - len(pending), failures,
                       failures_path)


def failures_table(table: pd.DataFrame) -> pd.DataFrame:
    """The failed runs of a results table: those with ``termination == "error"``.

    Parameters
    ----------
    table : pandas.DataFrame
        A sweep's results table (:func:`assemble`).

    Returns
    -------
    pandas.DataFrame
        Key, point, instance and axis columns, then ``method``, ``seed``, ``error``; one row per failed run.
    """
    lead = list(table.columns[:list(table.columns).index("method")]) if "method" in table.columns else []
    cols = lead + list(FAILURE_COLUMNS)
    if "termination" not in table.columns:
        return pd.DataFrame(columns=cols)
    return table.loc[table["termination"] == "error", cols].reset_index(drop=True)


class RunsFailedError(MecoptError):
    """Some runs of a sweep or study failed; every other run finished and the tables are written.

    The command line exits with :data:`RUNS_FAILED_EXIT` (5) after listing the failed runs.

    Parameters
    ----------
    result : SweepResult
        The finished sweep.
    """

    exit_code = RUNS_FAILED_EXIT

    def __init__(self, result: SweepResult):
        self.result = result
        lines = [f"{result.failed} of {len(result.table)} run(s) failed (listed in {result.failures_path}):"]
        for r in result.failures.head(SHOWN_FAILURES).itertuples(index=False):
            lines.append(f"  - {r.key}: {r.error}")
        if result.failed > SHOWN_FAILURES:
            lines.append(f"  ... and {result.failed - SHOWN_FAILURES} more")
        super().__init__("\n".join(lines))


#: failed runs named on the terminal (all are in ``failures.<fmt>``)
SHOWN_FAILURES = 10


def _identity(run: Run, labels: Mapping[str, Any]) -> dict:
    return dict(key=run.key, point=run.point.index, instance=run.point.instance,
                **{axis_column(c): v for c, v in labels.items()},
                **{axis_column(p): v for p, v in run.point.values}, method=run.method, seed=run.seed)


def _save_solution(solution, run: Run, out: Path, fmt: str) -> None:
    import tomli_w

    d = solution_dir(out, run)
    solution.write(d, fmt)
    write_text(d / "instance.toml", tomli_w.dumps(run.point.data))


def assemble(spec: SweepSpec, runs: Sequence[Run], rows: Iterable[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The final results and timings tables from log rows.

    One row per run of ``runs`` (first logged wins), in run order, columns in a fixed order.

    Parameters
    ----------
    spec : SweepSpec
        The sweep.
    runs : Sequence[Run]
        The runs, in table order.
    rows : Iterable[dict]
        The logged rows.

    Returns
    -------
    tuple[pandas.DataFrame, pandas.DataFrame]
        (results, timings).
    """
    by_key: dict[str, dict] = {}
    for r in rows:
        by_key.setdefault(r.get("key"), r)
    ordered = [by_key[r.key] for r in runs if r.key in by_key]
    axis_cols = [axis_column(a.path) for a in spec.axes]
    lead = list(KEY_COLUMNS) + spec.label_columns + axis_cols
    extra = sorted({k for r in ordered for k in r} - set(lead) - set(RESULT_COLUMNS) - {"timing"})
    cols = lead + list(RESULT_COLUMNS) + extra
    table = _tidy(pd.DataFrame([{c: r.get(c) for c in cols} for r in ordered], columns=cols))
    t_extra = sorted({k for r in ordered for k in (r.get("timing") or {})} - {"wall_time_s"})
    t_cols = ["key", "method", "seed", "wall_time_s"] + t_extra
    timings = _tidy(pd.DataFrame([{"key": r["key"], "method": r.get("method"), "seed": r.get("seed"),
                                   **(r.get("timing") or {})} for r in ordered], columns=t_cols))
    return table, timings


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    """Missing values as NaN, and a column with nothing in it as float (as a reader sees it)."""
    for c in df.columns:
        if df[c].dtype == object:
            if df[c].isna().all():
                df[c] = df[c].astype(float)
            else:
                df[c] = df[c].where(df[c].notna(), float("nan"))
    return df


#: ``--dask local``: the address that starts a Dask cluster on this machine instead of joining one
LOCAL_DASK = "local"


@contextmanager
def dask_executor(address: str, timeout: float = 30.0, workers: int | None = None):
    """A concurrent.futures executor running on a Dask cluster (``client.get_executor()``).

    ``address`` is a scheduler's address, or ``"local"``: then a ``distributed.LocalCluster``
    is started on the loopback interface (127.0.0.1, no dashboard) with ``workers`` worker
    processes of one thread each (default: the CPUs, at most :data:`MAX_LOCAL_DASK_WORKERS`),
    and closed when the block ends, also on an error or an interrupt.

    Parameters
    ----------
    address : str
        The scheduler's address, or ``"local"``.
    timeout : float, default 30.0
        Seconds to wait for the scheduler.
    workers : int or None, default None
        Worker processes of a local cluster (ignored with an address).

    Returns
    -------
    concurrent.futures.Executor
        The executor.

    Raises
    ------
    InputError
        When dask is missing or the scheduler is unreachable.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("running on a Dask cluster needs dask.distributed: pip install 'mecopt[dask]'") from None
    cluster = None
    if address == LOCAL_DASK:
        n = workers or min(os.cpu_count() or 1, MAX_LOCAL_DASK_WORKERS)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, silence_logs=logging.ERROR)
        address = cluster.scheduler_address
    try:
        try:
            client = Client(address, timeout=timeout)
        except (OSError, TimeoutError) as err:
            raise InputError(f"cannot reach the Dask scheduler at {address!r}: {err}") from None
        try:
            yield client.get_executor(pure=False)
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


#: most worker processes of ``--dask local`` when ``--workers`` is not given
MAX_LOCAL_DASK_WORKERS = 4
