"""Delay prediction model (§2.2.1, eqs. 1-7).

The 16-term polynomial (5) in the layer factors G, K, O, I is a first-class
object: a :class:`CoefficientSet` holds its coefficients (the paper's two are
``device`` = eq. 6 and ``server`` = eq. 7, bundled in ``models/delay``), predicts
layer delays in **seconds** (eqs. 6-7 give milliseconds, MODEL.md §2), and
:func:`fit` estimates a set from measured ``(G, K, O, I, t)`` rows by least
squares, reporting R² and mean absolute error as the paper's footnote 1 defines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mecopt.errors import InputError, validation_problems
from mecopt.model.document import read_toml
from mecopt.resources import delay_dir

#: The 16 terms of eq. (5), in the paper's order (eta_1 .. eta_16).
TERMS: tuple[str, ...] = (
    "G2K2OI", "G2K2I", "G2K2O", "K2OI", "G2OI", "G2K2", "G2O", "G2I",
    "K2O", "K2I", "OI", "G2", "K2", "O", "I", "1",
)

#: The three terms the paper keeps in eqs. (6)-(7).
PAPER_TERMS: tuple[str, ...] = ("G2K2OI", "G2K2I", "G2O")

_UNIT_TO_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}


def features(factors: np.ndarray) -> np.ndarray:
    """The 16 monomials of eq. (5) for each row of an (n, 4) array of (G, K, O, I)."""
    f = np.asarray(factors, dtype=float).reshape(-1, 4)
    G2, K2, O, I = f[:, 0] ** 2, f[:, 1] ** 2, f[:, 2], f[:, 3]
    one = np.ones_like(O)
    cols = [G2 * K2 * O * I, G2 * K2 * I, G2 * K2 * O, K2 * O * I, G2 * O * I, G2 * K2, G2 * O, G2 * I,
            K2 * O, K2 * I, O * I, G2, K2, O, I, one]
    return np.column_stack(cols)


@dataclass(frozen=True)
class CoefficientSet:
    """Coefficients eta_1..eta_16 of eq. (5); ``unit`` is the unit of the polynomial's value."""

    name: str
    eta: tuple[float, ...]
    unit: str = "ms"
    description: str = ""

    def __post_init__(self):
        if len(self.eta) != len(TERMS):
            raise InputError(f"coefficient set {self.name!r} needs {len(TERMS)} coefficients, got {len(self.eta)}")
        if self.unit not in _UNIT_TO_SECONDS:
            raise InputError(f"coefficient set {self.name!r}: unit must be one of {sorted(_UNIT_TO_SECONDS)}, got {self.unit!r}")

    @classmethod
    def from_terms(cls, name: str, coefficients: dict[str, float], unit: str = "ms", description: str = ""):
        unknown = sorted(set(coefficients) - set(TERMS))
        if unknown:
            raise InputError(f"coefficient set {name!r}: unknown terms {unknown}; the terms of eq. (5) are {list(TERMS)}")
        return cls(name, tuple(float(coefficients.get(t, 0.0)) for t in TERMS), unit, description)

    def as_terms(self) -> dict[str, float]:
        return {t: c for t, c in zip(TERMS, self.eta) if c != 0.0}

    def predict(self, factors: np.ndarray) -> np.ndarray:
        """Predicted delay in seconds for each row of (G, K, O, I)."""
        return features(factors) @ np.asarray(self.eta) * _UNIT_TO_SECONDS[self.unit]

    def save(self, path: str | Path) -> None:
        data = {"name": self.name, "unit": self.unit, "description": self.description,
                "coefficients": self.as_terms()}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(tomli_w.dumps(data))
        tmp.replace(path)


def load_coefficients(name_or_path: str, base: Path | None = None) -> CoefficientSet:
    """A coefficient set by bundled name (``device``, ``server``) or TOML path."""
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
    return CoefficientSet.from_terms(doc.name or p.stem, doc.coefficients, doc.unit, doc.description)


class _CoefficientFile(BaseModel):
    """A coefficient-set file: strict types, finite coefficients, only the terms of eq. (5)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    name: str | None = None
    unit: Literal["s", "ms", "us"] = "ms"
    description: str = ""
    coefficients: dict[Literal[TERMS], Annotated[float, Field(ge=-1e6, le=1e6)]]


@dataclass(frozen=True)
class FitReport:
    """Result of :func:`fit`: the coefficients and the footnote-1 quality figures."""

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
    """Footnote 1 (1): 1 - sum (y - y_hat)^2 / sum (y - mean y)^2 (nan when all y are equal, e.g. one row)."""
    y, y_hat = np.asarray(y, float), np.asarray(y_hat, float)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    ss_res = float(np.sum((y - y_hat) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def mean_absolute_error(y: np.ndarray, y_hat: np.ndarray) -> float:
    """Footnote 1 (2): (1/D) sum |y - y_hat|."""
    return float(np.mean(np.abs(np.asarray(y, float) - np.asarray(y_hat, float))))


def fit(factors: np.ndarray, times: np.ndarray, *, terms: tuple[str, ...] = TERMS, name: str = "fitted",
        unit: str = "ms", test_fraction: float = 0.0, seed: int = 0) -> FitReport:
    """Least-squares fit of eq. (5) (or a subset of its terms) to measured rows.

    ``times`` are in ``unit``; R² and MAE (in ``unit``) are reported on the
    training rows and, with ``test_fraction > 0``, on a seeded held-out split,
    together with the share of held-out rows predicted within ±10%.
    """
    X_all = features(factors)
    y_all = np.asarray(times, dtype=float).ravel()
    if len(y_all) != len(X_all):
        raise InputError(f"fit: {len(X_all)} factor rows but {len(y_all)} times")
    bad = sorted(set(terms) - set(TERMS))
    if bad:
        raise InputError(f"fit: unknown terms {bad}; the terms of eq. (5) are {list(TERMS)}")
    if not 0.0 <= test_fraction < 1.0:
        raise InputError(f"fit: test_fraction must be in [0, 1), got {test_fraction}")
    cols = [TERMS.index(t) for t in terms]
    idx = np.random.default_rng(seed).permutation(len(y_all))
    n_test = int(round(test_fraction * len(y_all)))
    test, train = idx[:n_test], idx[n_test:]
    if len(train) < len(cols):
        raise InputError(f"fit: {len(train)} training rows cannot determine {len(cols)} coefficients")
    X, y = X_all[train][:, cols], y_all[train]
    # column scaling keeps the normal equations well conditioned (G2K2OI reaches 1e10)
    scale = np.abs(X).max(axis=0)
    scale[scale == 0] = 1.0
    beta, *_ = np.linalg.lstsq(X / scale, y, rcond=None)
    eta = np.zeros(len(TERMS))
    eta[cols] = beta / scale
    coef = CoefficientSet(name, tuple(float(e) for e in eta), unit,
                          f"least-squares fit of eq. (5) on {len(train)} rows, terms {list(terms)}")
    pred = features(factors) @ eta
    report = dict(r2_train=r_squared(y, pred[train]), mae_train=mean_absolute_error(y, pred[train]))
    if n_test:
        yt, pt = y_all[test], pred[test]
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.abs(pt - yt) / np.abs(yt)
        report.update(r2_test=r_squared(yt, pt), mae_test=mean_absolute_error(yt, pt),
                      within_10pct_test=float(np.mean(rel <= 0.10)))
    return FitReport(coef, n_train=len(train), n_test=n_test, terms=tuple(terms), **report)
