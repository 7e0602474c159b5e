"""Delay prediction model (§2.2.1, eqs. 1-7).

The 16-term polynomial (5) in the layer factors G, K, O, I is a first-class
object: a :class:`CoefficientSet` holds its coefficients (the paper's two are
``device`` = eq. 6 and ``server`` = eq. 7, bundled in ``models/delay``), predicts
layer delays in **seconds** (eqs. 6-7 give milliseconds, MODEL.md §2), and
:func:`fit` estimates a set from measured ``(G, K, O, I, t)`` rows by least
squares, reporting R² and mean absolute error as the paper's footnote 1 defines.

A :class:`PerTypeCoefficients` holds one such set per operator class (conv,
depthwise conv, fc, pool, element-wise, normalization, attention; see
:data:`mecopt.core.dnn.OP_CLASSES`) and a fallback set for classes without
their own; :func:`fit_per_type` fits it. :func:`layer_delays` predicts every
layer of a layer table with either kind, summing over a block's operators.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mecopt.core.document import read_toml
from mecopt.core.errors import InputError, validation_problems
from mecopt.core.files import write_text
from mecopt.core.resources import delay_dir

if TYPE_CHECKING:
    from mecopt.core.dnn import LayerTable

#: The 16 terms of eq. (5), in the paper's order (eta_1 .. eta_16).
TERMS: tuple[str, ...] = (
    "G2K2OI", "G2K2I", "G2K2O", "K2OI", "G2OI", "G2K2", "G2O", "G2I",
    "K2O", "K2I", "OI", "G2", "K2", "O", "I", "1",
)

#: The three terms the paper keeps in eqs. (6)-(7).
PAPER_TERMS: tuple[str, ...] = ("G2K2OI", "G2K2I", "G2O")

_UNIT_TO_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}


def features(factors: np.ndarray) -> np.ndarray:
    """The 16 monomials of eq. (5) for each row of an (n, 4) array of (G, K, O, I).

    Parameters
    ----------
    factors : numpy.ndarray
        (G, K, O, I) per row, shape (n, 4).

    Returns
    -------
    numpy.ndarray
        The monomials, shape (n, 16), in the order of ``TERMS``.
    """
    f = np.asarray(factors, dtype=float).reshape(-1, 4)
    G2, K2, O, I = f[:, 0] ** 2, f[:, 1] ** 2, f[:, 2], f[:, 3]
    one = np.ones_like(O)
    cols = [G2 * K2 * O * I, G2 * K2 * I, G2 * K2 * O, K2 * O * I, G2 * O * I, G2 * K2, G2 * O, G2 * I,
            K2 * O, K2 * I, O * I, G2, K2, O, I, one]
    return np.column_stack(cols)


@dataclass(frozen=True)
class CoefficientSet:
    """Coefficients eta_1..eta_16 of eq. (5); ``unit`` is the unit of the polynomial's value.

    Attributes
    ----------
    name : str
        Name of the set.
    eta : tuple[float, ...]
        The 16 coefficients of eq. (5), in the order of ``TERMS``.
    unit : str
        Time unit of the coefficients (``ms`` or ``s``).
    description : str
        Free text.
    """

    name: str
    eta: tuple[float, ...]
    unit: str = "ms"
    description: str = ""

    def __post_init__(self) -> None:
        if len(self.eta) != len(TERMS):
            raise InputError(f"coefficient set {self.name!r} needs {len(TERMS)} coefficients, got {len(self.eta)}")
        if self.unit not in _UNIT_TO_SECONDS:
            raise InputError(f"coefficient set {self.name!r}: unit must be one of {sorted(_UNIT_TO_SECONDS)}, "
                             f"got {self.unit!r}")

    @classmethod
    def from_terms(cls, name: str, coefficients: dict[str, float], unit: str = "ms",
                   description: str = "") -> CoefficientSet:
        """A set from ``{term: coefficient}``; terms not given are 0, unknown terms an InputError.

        Parameters
        ----------
        name : str
            Name of the set.
        coefficients : dict[str, float]
            ``{term: coefficient}`` of eq. (5).
        unit : str, default 'ms'
            Time unit of the coefficients (``ms`` or ``s``).
        description : str, default ''
            Free text.

        Returns
        -------
        CoefficientSet
            The set.

        Raises
        ------
        InputError
            For a term that is not one of eq. (5).
        """
        unknown = sorted(set(coefficients) - set(TERMS))
        if unknown:
            raise InputError(f"coefficient set {name!r}: unknown terms {unknown}; "
                             f"the terms of eq. (5) are {list(TERMS)}")
        return cls(name, tuple(float(coefficients.get(t, 0.0)) for t in TERMS), unit, description)

    def as_terms(self) -> dict[str, float]:
        """The nonzero coefficients as ``{term: coefficient}`` (the terms of eq. 5).

        Returns
        -------
        dict[str, float]
            ``{term: coefficient}`` of the nonzero coefficients.
        """
        return {t: c for t, c in zip(TERMS, self.eta) if c != 0.0}

    def predict(self, factors: np.ndarray) -> np.ndarray:
        """Predicted delay in seconds for each row of (G, K, O, I).

        Parameters
        ----------
        factors : numpy.ndarray
            (G, K, O, I) per row, shape (n, 4).

        Returns
        -------
        numpy.ndarray
            Delays in seconds, shape (n,).
        """
        seconds: np.ndarray = features(factors) @ np.asarray(self.eta) * _UNIT_TO_SECONDS[self.unit]
        return seconds

    def predict_ops(self, types: Sequence[str] | np.ndarray, factors: np.ndarray,
                    ops: Sequence[str] | np.ndarray | None = None) -> np.ndarray:
        """Predicted delay in seconds of operators; one polynomial ignores their classes.

        Parameters
        ----------
        types : Sequence[str] or numpy.ndarray
            The delay class of each operator (row).
        factors : numpy.ndarray
            (G, K, O, I) of each operator, shape (n, 4).
        ops : Sequence[str] or numpy.ndarray or None, optional
            The operator of each row (ignored, as the classes are).

        Returns
        -------
        numpy.ndarray
            Delays in seconds, shape (n,).
        """
        return self.predict(factors)

    def save(self, path: str | Path) -> None:
        """Write the set to ``path`` as a coefficient-set TOML file (atomically).

        Parameters
        ----------
        path : str or Path
            The TOML file to write.
        """
        data = {"name": self.name, "unit": self.unit, "description": self.description,
                "coefficients": self.as_terms()}
        _write_toml(path, data)


def _write_toml(path: str | Path, data: dict[str, Any]) -> None:
    write_text(path, tomli_w.dumps(data))


@dataclass(frozen=True)
class PerTypeCoefficients:
    """One coefficient set of eq. (5) per operator class, and a fallback for the other classes.

    Stored in one TOML file: ``[coefficients]`` is the fallback, ``[types.CLASS]``
    the set of each class (same unit); a ``[types."CLASS/OP"]`` set serves the operators of that class and ONNX
    operator before the class's set (``predict_ops`` given the operators).

    Attributes
    ----------
    name : str
        Name of the per-type set.
    sets : dict[str, CoefficientSet]
        One set per operator class.
    fallback : CoefficientSet
        The set of classes without one of their own.
    unit : str
        Time unit of the coefficients.
    description : str
        Free text.
    """

    name: str
    sets: dict[str, CoefficientSet]
    fallback: CoefficientSet
    unit: str = "ms"
    description: str = ""

    def predict_ops(self, types: Sequence[str] | np.ndarray, factors: np.ndarray,
                    ops: Sequence[str] | np.ndarray | None = None) -> np.ndarray:
        """Predicted delay in seconds of each operator, with the set of its class.

        Parameters
        ----------
        types : Sequence[str] or numpy.ndarray
            The delay class of each operator (row).
        factors : numpy.ndarray
            (G, K, O, I) of each operator, shape (n, 4).
        ops : Sequence[str] or numpy.ndarray or None, optional
            The operator of each row (``op`` of the op frame, e.g. ``BatchNormalization``); a set keyed
            ``CLASS/OP`` then serves the operators of that class and operator before the class's set.

        Returns
        -------
        numpy.ndarray
            Delays in seconds, shape (n,); a class without a set uses the fallback.
        """
        types = np.asarray(list(types), dtype=object)
        factors = np.asarray(factors, dtype=float).reshape(-1, 4)
        out = self.fallback.predict(factors)
        own = [k for k in self.sets if "/" in k]
        keys = np.asarray([f"{t}/{o}" for t, o in zip(types, ops)], dtype=object) if own and ops is not None \
            else types
        for cls, coef in self.sets.items():
            mask = (keys if "/" in cls else types) == cls
            if own and ops is not None and "/" not in cls:  # an operator with a set of its own is not the class's
                mask &= ~np.isin(keys, own)
            if mask.any():
                out[mask] = coef.predict(factors[mask])
        return out

    def save(self, path: str | Path) -> None:
        """Write the per-type set to ``path`` as a TOML file: the fallback set and one ``[types.CLASS]`` per class.

        Parameters
        ----------
        path : str or Path
            The TOML file to write.
        """
        data = {"name": self.name, "unit": self.unit, "description": self.description,
                "coefficients": self.fallback.as_terms(),
                "types": {cls: {"description": c.description, "coefficients": c.as_terms()}
                          for cls, c in self.sets.items()}}
        _write_toml(path, data)


DelayModel = CoefficientSet | PerTypeCoefficients


def layer_delays(model: DelayModel, table: LayerTable) -> np.ndarray:
    """Predicted delay in seconds of every layer of a :class:`~mecopt.core.dnn.LayerTable` (row 0, the input, is 0).

    A layer's delay is the sum of its operators' (eqs. 5-7); a non-block layer is one operator.

    Parameters
    ----------
    model : DelayModel
        The coefficient set (or per-type set).
    table : LayerTable
        The DNN's layer table.

    Returns
    -------
    numpy.ndarray
        Delay per layer in seconds, shape (M+1,).
    """
    ops = table.op_frame()
    factors = ops[["G", "K", "O", "I"]].to_numpy(dtype=float)
    t = model.predict_ops(ops["type"], factors, ops["op"].astype(str))
    return np.bincount(ops["layer"].to_numpy(dtype=int), weights=t, minlength=table.num_layers + 1)


def load_coefficients(name_or_path: str, base: Path | None = None) -> DelayModel:
    """A coefficient set (or a per-type set) by bundled name (``device``, ``server``) or TOML path.

    Parameters
    ----------
    name_or_path : str
        A bundled set's name or a TOML file path.
    base : Path or None, default None
        Folder that relative paths are read from.

    Returns
    -------
    DelayModel
        The set (a :class:`PerTypeCoefficients` when the file has ``[types]``).

    Raises
    ------
    InputError
        For an unknown name, an unreadable or invalid file, or unknown operator classes.
    """
    p = Path(name_or_path)
    if p.suffix != ".toml":
        p = delay_dir() / f"{name_or_path}.toml"
    elif not p.is_absolute() and base is not None and (base / p).exists():
        p = base / p
    if not p.exists():
        bundled = sorted(q.stem for q in delay_dir().glob("*.toml"))
        raise InputError(f"unknown delay coefficient set {name_or_path!r}; bundled: {bundled} (or a .toml path)")
    data, _ = read_toml(p, "delay coefficient")
    try:
        doc = _CoefficientFile.model_validate(data)
    except ValidationError as err:
        raise InputError(f"invalid delay coefficient file {p}", validation_problems(err)) from None
    name = doc.name or p.stem
    fallback = CoefficientSet.from_terms(name, doc.coefficients, doc.unit, doc.description)
    if doc.types is None:
        return fallback
    from mecopt.core.dnn import OP_CLASSES
    unknown = sorted(k for k in doc.types if k.split("/", 1)[0] not in OP_CLASSES)  # CLASS or CLASS/OP
    if unknown:
        raise InputError(f"coefficient file {p}: unknown operator classes {unknown} under [types]; "
                         f"the classes are {list(OP_CLASSES)}")
    sets = {cls: CoefficientSet.from_terms(f"{name}:{cls}", e.coefficients, doc.unit, e.description)
            for cls, e in doc.types.items()}
    return PerTypeCoefficients(name, sets, fallback, doc.unit, doc.description)


# Literal[TERMS] is Literal["G2O", ...] at run time (pydantic reads it so); mypy only takes literal values there
_Coefficients = dict[Literal[TERMS], Annotated[float, Field(ge=-1e6, le=1e6)]]  # type: ignore[valid-type]


class _TypeEntry(BaseModel):
    """One operator class's set in a per-type file (``[types.CLASS]``)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    description: str = ""
    coefficients: _Coefficients


class _CoefficientFile(BaseModel):
    """A coefficient-set file: strict types, finite coefficients, only the terms of eq. (5).

    A per-type file adds ``[types.CLASS]`` sets (``mecopt fit --per-type``), the top-level set being the fallback.
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    name: str | None = None
    unit: Literal["s", "ms", "us"] = "ms"
    description: str = ""
    coefficients: _Coefficients
    types: dict[str, _TypeEntry] | None = None


@dataclass(frozen=True)
class FitReport:
    """Result of :func:`fit`: the coefficients and the footnote-1 quality figures.

    Attributes
    ----------
    coefficients : CoefficientSet
        The fitted set.
    r2_train : float
        R² on the training rows.
    mae_train : float
        MAE on the training rows, in the set's unit.
    r2_test : float or None
        R² on the held-out rows (None without a split).
    mae_test : float or None
        MAE on the held-out rows (None without a split).
    within_10pct_test : float or None
        Share of held-out rows predicted within ±10% (None without a split).
    n_train : int
        Number of training rows.
    n_test : int
        Number of held-out rows.
    terms : tuple[str, ...]
        The terms of eq. (5) fitted.
    """

    coefficients: CoefficientSet
    r2_train: float
    mae_train: float
    r2_test: float | None = None
    mae_test: float | None = None
    within_10pct_test: float | None = None
    n_train: int = 0
    n_test: int = 0
    terms: tuple[str, ...] = field(default=TERMS)


def r_squared(y: np.ndarray, y_hat: np.ndarray) -> float:
    """Footnote 1 (1): 1 - sum (y - y_hat)^2 / sum (y - mean y)^2 (nan when all y are equal, e.g. one row).

    Parameters
    ----------
    y : numpy.ndarray
        Measured values.
    y_hat : numpy.ndarray
        Predicted values.

    Returns
    -------
    float
        R², or nan when all ``y`` are equal.
    """
    y, y_hat = np.asarray(y, float), np.asarray(y_hat, float)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    ss_res = float(np.sum((y - y_hat) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def mean_absolute_error(y: np.ndarray, y_hat: np.ndarray) -> float:
    """Footnote 1 (2): (1/D) sum |y - y_hat|.

    Parameters
    ----------
    y : numpy.ndarray
        Measured values.
    y_hat : numpy.ndarray
        Predicted values.

    Returns
    -------
    float
        The MAE, in the unit of ``y``.
    """
    return float(np.mean(np.abs(np.asarray(y, float) - np.asarray(y_hat, float))))


def _check_fit_options(terms: Sequence[str], test_fraction: float) -> None:
    """The options :func:`fit` and :func:`fit_per_type` share: known terms of eq. (5), a test share in [0, 1)."""
    bad = sorted(set(terms) - set(TERMS))
    if bad:
        raise InputError(f"fit: unknown terms {bad}; the terms of eq. (5) are {list(TERMS)}")
    if not 0.0 <= test_fraction < 1.0:
        raise InputError(f"fit: test_fraction must be in [0, 1), got {test_fraction}")


def fit(factors: np.ndarray, times: np.ndarray, *, terms: tuple[str, ...] = TERMS, name: str = "fitted",
        unit: str = "ms", test_fraction: float = 0.0, seed: int = 0) -> FitReport:
    """Least-squares fit of eq. (5) (or a subset of its terms) to measured rows.

    ``times`` are in ``unit``; R² and MAE (in ``unit``) are reported on the
    training rows and, with ``test_fraction > 0``, on a seeded held-out split,
    together with the share of held-out rows predicted within ±10%.

    Parameters
    ----------
    factors : numpy.ndarray
        (G, K, O, I) per measured row, shape (n, 4).
    times : numpy.ndarray
        Measured times, in ``unit``.
    terms : tuple[str, ...], default TERMS
        The terms of eq. (5) fitted (the others are 0).
    name : str, default 'fitted'
        Name of the fitted set.
    unit : str, default 'ms'
        Time unit of ``times``.
    test_fraction : float, default 0.0
        Share of rows held out, in [0, 1).
    seed : int, default 0
        Seed of the split.

    Returns
    -------
    FitReport
        The fitted set and its quality.

    Raises
    ------
    InputError
        For mismatched rows, unknown terms, a bad ``test_fraction`` or too few rows.
    """
    X_all = features(factors)
    y_all = np.asarray(times, dtype=float).ravel()
    if len(y_all) != len(X_all):
        raise InputError(f"fit: {len(X_all)} factor rows but {len(y_all)} times")
    _check_fit_options(terms, test_fraction)
    cols = [TERMS.index(t) for t in terms]
    train, test = split_rows(len(y_all), test_fraction, seed)
    if len(train) < len(cols):
        raise InputError(f"fit: {len(train)} training rows cannot determine {len(cols)} coefficients")
    y = y_all[train]
    eta = _least_squares(X_all[train], y, cols)
    coef = CoefficientSet(name, tuple(float(e) for e in eta), unit,
                          f"least-squares fit of eq. (5) on {len(train)} rows, terms {list(terms)}")
    pred = features(factors) @ eta
    report = dict(r2_train=r_squared(y, pred[train]), mae_train=mean_absolute_error(y, pred[train]))
    if len(test):
        q = fit_quality(y_all[test], pred[test])
        report.update(r2_test=q["r2"], mae_test=q["mae"], within_10pct_test=q["within_10pct"])
    return FitReport(coef, n_train=len(train), n_test=len(test), terms=tuple(terms), **report)


def split_rows(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of n rows: (train indices, held-out indices).

    Parameters
    ----------
    n : int
        Number of rows.
    test_fraction : float
        Share held out, in [0, 1).
    seed : int
        Seed of the permutation.

    Returns
    -------
    tuple[numpy.ndarray, numpy.ndarray]
        (train indices, held-out indices).
    """
    idx = np.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    return idx[n_test:], idx[:n_test]


def _least_squares(X_all: np.ndarray, y: np.ndarray, cols: list[int]) -> np.ndarray:
    """The 16 coefficients (zero outside ``cols``) minimizing the squared error on the rows given."""
    X = X_all[:, cols]
    # column scaling keeps the normal equations well conditioned (G2K2OI reaches 1e10)
    scale = np.abs(X).max(axis=0)
    scale[scale == 0] = 1.0
    beta, *_ = np.linalg.lstsq(X / scale, y, rcond=None)
    eta = np.zeros(len(TERMS))
    eta[cols] = beta / scale
    return eta


def fit_quality(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """R² and MAE (footnote 1) and the share of rows predicted within ±10%.

    Parameters
    ----------
    y : numpy.ndarray
        Measured values.
    pred : numpy.ndarray
        Predicted values.

    Returns
    -------
    dict[str, float]
        rows, r2, mae and within_10pct.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(pred - y) / np.abs(y)
    return {"rows": len(y), "r2": r_squared(y, pred) if len(y) > 1 else float("nan"),
            "mae": mean_absolute_error(y, pred) if len(y) else float("nan"),
            "within_10pct": float(np.mean(rel <= 0.10)) if len(y) else float("nan")}


@dataclass(frozen=True)
class PerTypeFitReport:
    """Result of :func:`fit_per_type`.

    The per-type set, the single polynomial fitted on the same training rows, and the quality of both per class and
    overall (``quality`` rows: class, model, split, rows, r2, mae, within_10pct).

    Attributes
    ----------
    model : PerTypeCoefficients
        The per-type set.
    single : CoefficientSet
        One polynomial fitted on the same training rows.
    quality : list[dict[str, Any]]
        Rows: class, model, split, rows, r2, mae, within_10pct.
    n_train : int
        Number of training rows.
    n_test : int
        Number of held-out rows.
    """

    model: PerTypeCoefficients
    single: CoefficientSet
    quality: list[dict[str, Any]]
    n_train: int
    n_test: int


def fit_per_type(types: Sequence[str] | np.ndarray, factors: np.ndarray, times: np.ndarray, *,
                 terms: tuple[str, ...] = PAPER_TERMS,
                 name: str = "fitted", unit: str = "ms", test_fraction: float = 0.0, seed: int = 0,
                 min_rows: int | None = None, groups: Sequence[object] | None = None) -> PerTypeFitReport:
    """One least-squares fit of eq. (5) per operator class (``types``), on one seeded split.

    The fallback is one polynomial fitted on all training rows (also reported as
    the single-polynomial baseline). A class keeps the fallback when it has fewer
    than ``min_rows`` training rows (default: the number of terms + 2), or when its
    own set does not predict it better out of sample: cross-validated on the
    *training* rows only (:func:`_cv_class_wins`), leave-one-group-out when
    ``groups`` (e.g. the network of each row) has two or more values, else seeded
    5-fold; the class set must have the lower mean absolute error on the class's rows.

    Parameters
    ----------
    types : Sequence[str] or numpy.ndarray
        The delay class of each operator (row).
    factors : numpy.ndarray
        (G, K, O, I) of each operator, shape (n, 4).
    times : numpy.ndarray
        Measured times, in ``unit``.
    terms : tuple[str, ...], default PAPER_TERMS
        The terms of eq. (5) fitted.
    name : str, default 'fitted'
        Name of the per-type set.
    unit : str, default 'ms'
        Time unit of ``times``.
    test_fraction : float, default 0.0
        Share of rows held out, in [0, 1).
    seed : int, default 0
        Seed of the split and the folds.
    min_rows : int or None, default None
        Fewest training rows a class needs for a set of its own (default: the number of terms).
    groups : Sequence[object] or None, default None
        Group of each row (e.g. its network) for leave-one-group-out folds; None: k-fold.

    Returns
    -------
    PerTypeFitReport
        The per-type set, the single polynomial and the quality table.

    Raises
    ------
    InputError
        For mismatched rows or groups, unknown terms or a bad ``test_fraction``.
    """
    from mecopt.core.dnn import OP_CLASSES
    types = np.asarray([str(t) for t in types], dtype=object)
    X_all = features(factors)
    y_all = np.asarray(times, dtype=float).ravel()
    if not (len(types) == len(X_all) == len(y_all)):
        raise InputError(f"fit: {len(types)} types, {len(X_all)} factor rows and {len(y_all)} times")
    unknown = sorted(set(types) - set(OP_CLASSES))
    if unknown:
        raise InputError(f"fit: unknown operator classes {unknown}; the classes are {list(OP_CLASSES)}")
    _check_fit_options(terms, test_fraction)
    if groups is not None and len(groups) != len(y_all):
        raise InputError(f"fit: {len(groups)} groups for {len(y_all)} rows")
    cols = [TERMS.index(t) for t in terms]
    min_rows = len(cols) + 2 if min_rows is None else min_rows
    train, test = split_rows(len(y_all), test_fraction, seed)
    if len(train) < len(cols):
        raise InputError(f"fit: {len(train)} training rows cannot determine {len(cols)} coefficients")
    single = CoefficientSet(name, tuple(float(e) for e in _least_squares(X_all[train], y_all[train], cols)), unit,
                            f"least-squares fit of eq. (5) on {len(train)} rows of every class, terms {list(terms)}")
    folds = _cv_folds(train, None if groups is None else np.asarray([str(g) for g in groups], dtype=object), seed)
    sets = {}
    for cls in OP_CLASSES:
        rows = train[types[train] == cls]
        if len(rows) >= min_rows and _cv_class_wins(cls, types, X_all, y_all, folds, cols, min_rows):
            eta = _least_squares(X_all[rows], y_all[rows], cols)
            sets[cls] = CoefficientSet(f"{name}:{cls}", tuple(float(e) for e in eta), unit,
                                       f"least-squares fit on {len(rows)} {cls} rows "
                                       "(beat the fallback in cross-validation)")
    model = PerTypeCoefficients(name, sets, single, unit,
                                f"per-type least-squares fit of eq. (5), terms {list(terms)}, {len(train)} rows; "
                                f"classes without a set of their own ({sorted(set(OP_CLASSES) - set(sets))}: too few "
                                "rows, or not better in cross-validation) use [coefficients], fitted on all rows")
    to_unit = 1.0 / _UNIT_TO_SECONDS[unit]
    preds = {"per-type": model.predict_ops(types, factors) * to_unit, "single": single.predict(factors) * to_unit}
    quality = []
    for cls in [c for c in OP_CLASSES if c in set(types)] + ["all"]:
        for split, idx in (("train", train), ("held-out", test)):
            sel = idx if cls == "all" else idx[types[idx] == cls]
            for label, pred in preds.items():
                quality.append({"class": cls, "model": label, "split": split, **fit_quality(y_all[sel], pred[sel])})
    return PerTypeFitReport(model, single, quality, len(train), len(test))


def _cv_folds(train: np.ndarray, groups: np.ndarray | None, seed: int,
              k: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cross-validation folds of the training rows.

    Leave one group out when ``groups`` has two or more values among them, else a seeded k-fold split.
    """
    if groups is not None:
        g = groups[train]
        if len(set(g)) >= 2:
            return [(train[g != u], train[g == u]) for u in sorted(set(g))]
    parts = np.array_split(np.random.default_rng(seed).permutation(train), min(k, len(train)))
    return [(np.setdiff1d(train, p), p) for p in parts if len(p)]


def _cv_class_wins(cls: str, types: np.ndarray, X_all: np.ndarray, y_all: np.ndarray,
                   folds: list[tuple[np.ndarray, np.ndarray]], cols: list[int],
                   min_rows: int) -> bool:
    """True when the class's own set beats one polynomial on the held-out rows of every fold together.

    The set fitted on the class's rows must predict its held-out fold rows with a lower total absolute error than
    one polynomial fitted on all the fold's training rows, over all folds. A fold whose training rows hold fewer
    than ``min_rows`` of the class counts as a loss (the set could not be fitted there).
    """
    own = single = 0.0
    for fit_rows, val_rows in folds:
        val = val_rows[types[val_rows] == cls]
        if not len(val):
            continue
        mine = fit_rows[types[fit_rows] == cls]
        if len(mine) < min_rows:
            return False
        own += np.abs(X_all[val] @ _least_squares(X_all[mine], y_all[mine], cols) - y_all[val]).sum()
        single += np.abs(X_all[val] @ _least_squares(X_all[fit_rows], y_all[fit_rows], cols) - y_all[val]).sum()
    return own < single
