"""Study files: one TOML file naming instances (or a generator), grids, methods, seeds, outputs and figures.

A study is a :mod:`mecopt.studies.sweep` with its instances generated and its figures drawn, so it
inherits the sweep's runner: the grid, the append-only log, ``resume``, any executor (local
processes or Dask) and the checks before any run. :func:`load_study` validates the file,
:func:`run_study` runs it into a folder:

``OUT/study.toml``
    The study file as read.
``OUT/instances/<name>.toml``
    The generated instances (``[generate]``), one per combination of the generator's grid
    values and seed; DNN spec paths relative to the folder.
``OUT/results.<format>``
    The one tidy table: the sweep's columns (``docs/results.md``), with the generator's grid
    values (e.g. ``devices``) and ``instance_seed`` after ``instance``.
``OUT/failures.<format>``, ``OUT/timings.<format>``, ``OUT/results.jsonl``, ``OUT/sweep.json``
    As for a sweep.
``OUT/figures/<file>``
    One figure per ``[[figures]]`` entry (:func:`mecopt.results.plots.compare`, mean over seeds).

The file format (every field checked before anything is generated or run)::

    name = "device-count"                  # default: the file's stem
    methods = ["tpos-uai", "all-local"]
    seeds = 3                              # generator seeds 0..2 (or a list); one instance each
    method_seeds = 1                       # seeds of the methods that take one (default 1: seed 0)

    [generate]                             # mecopt generate's parameters, fixed for every point
    dnn_mix = "resnet18:0.5,mobilenet_v2:0.5"
    servers = 3

    [grid]                                 # lists swept as a Cartesian grid
    devices = [50, 100, 200]               # a generator parameter ...
    "model.deadline_policy" = ["hard", "soft"]   # ... or an instance field path (as in mecopt sweep)

    [options]                              # per method, or "*" for every method that declares it
    "*" = { engine = "dp" }

    [output]
    format = "csv"

    [[figures]]
    x = "devices"
    y = "avg_delay_s"                      # default; by = "method", log = false, file = "<y>_vs_<x>.png"

Instead of ``[generate]``, ``instances = ["paper:fig6-w1khz", "my.toml"]`` (paths relative to the
study file) names the instances; then ``[grid]`` holds instance field paths only and ``seeds`` is
not used (give ``method_seeds``).
"""

from __future__ import annotations

import inspect
import itertools
import re
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from mecopt.core import manifest as result_set
from mecopt.core.document import read_toml
from mecopt.core.errors import InputError, validation_problems
from mecopt.core.tables import FORMATS, write_text
from mecopt.studies import generate as gen
from mecopt.studies import sweep as sw

#: the column of a generated instance's seed in the results table (``seed`` is the method's)
INSTANCE_SEED = "instance_seed"
#: what the generator's ``n_devices`` is called in a study (``[generate]``, ``[grid]``, the table)
DEVICES = "devices"
#: generator parameters a study may set: those of :func:`~mecopt.studies.generate.generate_instance`
GENERATOR_PARAMETERS = tuple(
    DEVICES if p == "n_devices" else p for p in inspect.signature(gen.generate_instance).parameters
    if p not in ("seed", "validate", "name"))
FIGURE_FORMATS = (".png", ".pdf", ".svg")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class FigureSection(_Strict):
    """One ``[[figures]]`` entry: ``y`` against ``x``, one series per ``by`` value, mean over seeds.

    Attributes
    ----------
    x : str
        Column on the x axis (a grid parameter, e.g. ``devices``).
    y : str
        Column on the y axis (default ``avg_delay_s``).
    by : str or None
        One series per value of this column (default ``method``).
    log : bool
        Logarithmic y axis.
    file : str or None
        File name under ``OUT/figures/`` (.png, .pdf or .svg); default ``<y>_vs_<x>.png``.
    title : str or None
        The title; default the plot's own.
    """

    x: str
    y: str = "avg_delay_s"
    by: str | None = "method"
    log: bool = False
    file: str | None = None
    title: str | None = None


class OutputSection(_Strict):
    """``[output]``: the table format and whether every run's solution is written.

    Attributes
    ----------
    format : str
        One of ``mecopt.core.tables.FORMATS`` (default ``csv``).
    save_solutions : bool
        Also write every run's solution to ``OUT/solutions/``.
    """

    format: str = "csv"
    save_solutions: bool = False


class StudyFile(_Strict):
    """A study file, validated field by field (see the module docstring for the format).

    Attributes
    ----------
    name : str or None
        The study's name (default: the file's stem); generated instances are named after it.
    description : str or None
        Free text.
    instances : list of str or None
        Instance files or bundled names (not with ``generate``).
    generate : dict or None
        Fixed generator parameters (not with ``instances``).
    grid : dict
        Swept generator parameters or instance field paths -> their values.
    seeds : int or list of int
        Generator seeds (an int K: 0..K-1); one instance per seed and grid combination.
    methods : list of str
        The methods run at every point.
    method_seeds : int or list of int
        Seeds of the methods that take one (an int K: 0..K-1).
    options : dict
        Method name (or ``"*"``) -> options.
    output : OutputSection
        Table format, saved solutions.
    figures : list of FigureSection
        The figures drawn from the table.
    """

    name: str | None = None
    description: str | None = None
    instances: list[str] | None = None
    generate: dict[str, Any] | None = None
    grid: dict[str, list[Any]] = {}
    seeds: int | list[int] | None = None
    methods: list[str]
    method_seeds: int | list[int] = 1
    options: dict[str, dict[str, Any]] = {}
    output: OutputSection = OutputSection()
    figures: list[FigureSection] = []


@dataclass(frozen=True)
class Study:
    """A validated study, ready to run.

    Attributes
    ----------
    path : pathlib.Path
        The study file.
    text : str
        Its text (copied to ``OUT/study.toml``).
    spec : StudyFile
        Its fields.
    name : str
        The study's name.
    generator_axes : tuple of sweep.Axis
        Swept generator parameters (``[grid]`` keys that are generator parameters).
    field_axes : tuple of sweep.Axis
        Swept instance field paths.
    seeds : tuple of int
        Generator seeds (``(None,)`` with ``instances``).
    method_seeds : tuple of int
        Seeds of the methods.
    """

    path: Path
    text: str
    spec: StudyFile
    name: str
    generator_axes: tuple[sw.Axis, ...]
    field_axes: tuple[sw.Axis, ...]
    seeds: tuple[int | None, ...]
    method_seeds: tuple[int, ...]


def _seed_list(value: int | list[int], field: str, problems: list[tuple[str, str]]) -> tuple[int, ...]:
    if isinstance(value, int):
        if not 1 <= value <= sw.MAX_POINTS:
            problems.append((field, f"must be a count from 1 to {sw.MAX_POINTS} or a list of seeds, got {value}"))
            return ()
        return tuple(range(value))
    if not value or any(s < 0 for s in value) or len(set(value)) != len(value):
        problems.append((field, f"must be a non-empty list of distinct seeds >= 0, got {value}"))
        return ()
    return tuple(value)


def load_study(path: str | Path) -> Study:
    """Read and validate a study file; every problem is reported at once with its field path.

    Parameters
    ----------
    path : str or Path
        The study file.

    Returns
    -------
    Study
        The validated study.

    Raises
    ------
    InputError
        Listing every problem (exit 2 on the command line).
    """
    path = Path(path)
    data, text = read_toml(path, "study")
    try:
        spec = StudyFile.model_validate(data)
    except ValidationError as err:
        raise InputError(f"invalid study file {path}", validation_problems(err)) from None
    problems: list[tuple[str, str]] = []
    if (spec.instances is None) == (spec.generate is None):
        problems.append(("instances, generate", "give either instances = [...] or a [generate] table"))
    generating = spec.generate is not None
    for key in spec.generate or {}:
        if key not in GENERATOR_PARAMETERS:
            problems.append((f"generate.{key}", "unknown generator parameter; the parameters are "
                             + ", ".join(GENERATOR_PARAMETERS) + " (seeds go in seeds = ...)"))
    generator_axes, field_axes = [], []
    for key, values in spec.grid.items():
        if not values:
            problems.append((f"grid.{key}", "needs at least one value"))
            continue
        if generating and key in GENERATOR_PARAMETERS:
            if key in (spec.generate or {}):
                problems.append((f"grid.{key}", "is also set in [generate]; give it in one place"))
            generator_axes.append(sw.Axis(key, tuple(values)))
        elif "." in key or not generating:
            field_axes.append(sw.Axis(key, tuple(values)))
        else:
            problems.append((f"grid.{key}", "neither a generator parameter ("
                             + ", ".join(GENERATOR_PARAMETERS) + ") nor an instance field path (e.g. server.slots)"))
    if generating and DEVICES not in (spec.generate or {}) and DEVICES not in spec.grid:
        problems.append(("generate.devices", "the device count is needed, in [generate] or swept in [grid]"))
    if generating:
        seeds: tuple[int | None, ...] = _seed_list(1 if spec.seeds is None else spec.seeds, "seeds", problems)
    else:
        if spec.seeds is not None:
            problems.append(("seeds", "seeds generate instances; with instances = [...] give method_seeds"))
        seeds = (None,)
    method_seeds = _seed_list(spec.method_seeds, "method_seeds", problems)
    if spec.output.format not in FORMATS:
        problems.append(("output.format", f"must be one of {', '.join(FORMATS)}, got {spec.output.format!r}"))
    for i, fig in enumerate(spec.figures):
        if fig.file is not None and (Path(fig.file).name != fig.file or Path(fig.file).suffix not in FIGURE_FORMATS):
            problems.append((f"figures.{i}.file", f"must be a file name ending in {', '.join(FIGURE_FORMATS)} "
                             f"(written under OUT/figures/), got {fig.file!r}"))
    study = Study(path, text, spec, spec.name or path.stem, tuple(generator_axes), tuple(field_axes), seeds,
                  method_seeds)
    if not problems:
        problems += _figure_problems(study)
    if problems:
        raise InputError(f"invalid study file {path}", problems)
    return study


def _figure_problems(study: Study) -> list[tuple[str, str]]:
    """Figure columns that the results table will not have."""
    columns = set(sw.KEY_COLUMNS) | set(sw.RESULT_COLUMNS) | set(label_columns(study)) | {
        sw.axis_column(a.path) for a in study.field_axes}
    out = []
    for i, fig in enumerate(study.spec.figures):
        for role in ("x", "y", "by"):
            col = getattr(fig, role)
            if col is not None and col not in columns and not col.startswith(("info.", "certificate.")):
                out.append((f"figures.{i}.{role}", f"{col!r} is not a column of the results table; columns: "
                            + ", ".join(sorted(columns)) + ", info.*, certificate.*"))
    return out


def label_columns(study: Study) -> list[str]:
    """The columns that describe each generated instance: the generator's grid parameters and its seed.

    Parameters
    ----------
    study : Study
        The study.

    Returns
    -------
    list of str
        Column names (none with ``instances``).
    """
    if study.spec.generate is None:
        return []
    return [sw.axis_column(a.path) for a in study.generator_axes] + [INSTANCE_SEED]


def _resolve(name: str, base: Path) -> str:
    """An instance or spec path relative to the study file (bundled names stay as they are)."""
    if ":" in name and not Path(name).suffix == ".toml":
        return name
    p = Path(name)
    return str(p if p.is_absolute() or not (base / p).exists() else base / p)


def _generator_kwargs(study: Study, values: Mapping[str, Any]) -> dict[str, Any]:
    base = study.path.parent
    kwargs = {**(study.spec.generate or {}), **values}
    mix = kwargs.get("dnn_mix")
    if isinstance(mix, str):        # spec files relative to the study file
        kwargs["dnn_mix"] = ",".join(
            _resolve(n, base) + (f":{s}" if sep else "")
            for n, sep, s in (part.strip().rpartition(":") if part.strip().rpartition(":")[0] else
                              (part.strip(), "", "") for part in mix.split(",") if part.strip()))
    elif isinstance(mix, dict):
        kwargs["dnn_mix"] = {_resolve(n, base): v for n, v in mix.items()}
    kwargs["n_devices"] = kwargs.pop(DEVICES, None)
    return kwargs


def _instance_name(study: Study, values: Mapping[str, Any], seed: int) -> str:
    parts = [f"{k}{v}" for k, v in values.items()] + [f"seed{seed}"]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join([study.name, *parts]))


def generated_instances(study: Study) -> list[tuple[str, dict, dict]]:
    """Every instance of a ``[generate]`` study: (name, document, label columns), in table order.

    One per combination of the generator's grid values (first axis slowest) and seed, each
    drawn by :func:`~mecopt.studies.generate.generate_instance` and validated; every problem
    is reported at once, naming the combination.

    Parameters
    ----------
    study : Study
        A study with ``[generate]``.

    Returns
    -------
    list of (str, dict, dict)
        (instance name, document, {column: value}).

    Raises
    ------
    InputError
        When a combination's parameters are invalid or its instance does not load.
    """
    out, problems = [], []
    paths = [a.path for a in study.generator_axes]
    for combo in itertools.product(*(a.values for a in study.generator_axes)):
        values = dict(zip(paths, combo))
        for seed in study.seeds:
            assert seed is not None
            name = _instance_name(study, values, seed)
            where = ", ".join(f"{k}={v!r}" for k, v in values.items()) + f"{', ' if values else ''}seed={seed}"
            try:
                doc = gen.generate_instance(seed=seed, name=name, **_generator_kwargs(study, values))
            except InputError as err:
                problems += [(f"generate.{p}" if p else "generate", f"{m} (at {where})")
                             for p, m in (err.problems or [("", str(err))])]
                continue
            except TypeError as err:     # a value of the wrong kind for a parameter
                problems.append(("generate", f"{err} (at {where})"))
                continue
            out.append((name, doc, {**{sw.axis_column(k): v for k, v in values.items()}, INSTANCE_SEED: seed}))
    if problems:
        raise InputError(f"the study {study.path} generates invalid instances", problems)
    names = [n for n, _, _ in out]
    if len(set(names)) != len(names):
        raise InputError(f"the study {study.path} gives two instances the same name; use distinct grid values")
    return out


@dataclass
class StudyResult:
    """What :func:`run_study` returns.

    Attributes
    ----------
    sweep : sweep.SweepResult
        The sweep's result (table, files, counts, failures).
    figures : list of pathlib.Path
        The figures written.
    """

    sweep: sw.SweepResult
    figures: list[Path]


def _sweep_spec(study: Study, out: Path) -> tuple[sw.SweepSpec, list[tuple[Path, str]]]:
    """The sweep of a study and the instance files it needs written first."""
    options = {m: dict(v) for m, v in study.spec.options.items()}
    common = dict(axes=study.field_axes, methods=tuple(study.spec.methods), seeds=study.method_seeds,
                  options=options, save_solutions=study.spec.output.save_solutions)
    if study.spec.generate is None:
        instances = tuple(_resolve(n, study.path.parent) for n in study.spec.instances or [])
        return sw.SweepSpec(instances=instances, **common), []   # type: ignore[arg-type]
    files, labels = [], {}
    folder = out / "instances"
    for name, doc, label in generated_instances(study):
        path = folder / f"{name}.toml"
        files.append((path, gen.dumps(gen.relative_paths(doc, folder))))
        labels[str(path)] = label
    return sw.SweepSpec(instances=tuple(labels), labels=labels, **common), files   # type: ignore[arg-type]


def run_study(study: Study | str | Path, out_dir: str | Path, *, resume: bool = False, workers: int | None = None,
              executor: Executor | None = None, progress: Callable[[int, int], None] | None = None) -> StudyResult:
    """Run (or resume) a study into ``out_dir``: generate, sweep, draw.

    Everything is checked before any run: the study file, every generated instance, every
    grid point's instance and every option (:func:`mecopt.studies.sweep.plan`), and that the
    figures name columns of the table.

    Parameters
    ----------
    study : Study or str or Path
        The study, or its file.
    out_dir : str or Path
        The study folder.
    resume : bool, optional
        Continue the study already in ``out_dir`` (same settings), skipping finished runs.
    workers : int or None, optional
        Worker processes of the default executor.
    executor : concurrent.futures.Executor or None, optional
        The executor to run on (e.g. :func:`mecopt.studies.sweep.dask_executor`).
    progress : callable or None, optional
        Called as ``progress(done, total)`` in runs.

    Returns
    -------
    StudyResult
        The sweep's result and the figures.

    Raises
    ------
    InputError
        On an invalid study, a folder holding another study, or a folder holding a study without ``resume``.
    """
    if not isinstance(study, Study):
        study = load_study(study)
    out = Path(out_dir)
    if study.spec.figures:
        from mecopt.results import plots
        plots.require_matplotlib()
    if not resume and (out / sw.MANIFEST_NAME).exists():
        raise InputError(f"{out} already holds a study or sweep; pass --resume to continue it or choose another --out")
    spec, files = _sweep_spec(study, out)
    if resume and (out / sw.MANIFEST_NAME).exists():
        changed = [path.name for path, text in files if not path.is_file() or path.read_text() != text]
        if changed:      # refused before anything in the folder is touched
            raise InputError(f"{out} holds a different study: its generated instances differ ({', '.join(changed[:3])}"
                             f"{' ...' if len(changed) > 3 else ''}); resume with the same study file or choose "
                             "another --out")
    for path, text in files:
        if not (path.is_file() and path.read_text() == text):
            write_text(path, text)
    res = sw.run_sweep(spec, out, fmt=study.spec.output.format, resume=resume, workers=workers, executor=executor,
                       progress=progress)
    result_set.begin(out, "study")        # incomplete until the figures are drawn
    write_text(out / "study.toml", study.text)
    figures = draw_figures(study, res.table, out / "figures")
    result_set.finish(out, "study", format=study.spec.output.format)
    return StudyResult(res, figures)


def draw_figures(study: Study, table, folder: Path) -> list[Path]:
    """Draw every ``[[figures]]`` entry of ``study`` from its results table into ``folder``.

    Parameters
    ----------
    study : Study
        The study.
    table : pandas.DataFrame
        Its results table.
    folder : Path
        Where the figures go.

    Returns
    -------
    list of Path
        The files written.
    """
    if not study.spec.figures:
        return []
    import matplotlib.pyplot as plt

    from mecopt.results import plots

    paths = []
    for fig in study.spec.figures:
        drawn = plots.compare(table, x=fig.x, y=fig.y, by=fig.by, log=fig.log, title=fig.title)
        name = fig.file or f"{fig.y}_vs_{fig.x}.png".replace("/", "_")
        paths.append(plots.save(drawn, folder / name))
        plt.close(drawn)
    return paths
