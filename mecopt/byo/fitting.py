"""Delay fits that cannot go negative, on the features prediction uses (issue 20).

Prediction (:func:`mecopt.core.delay.layer_delays`) gives a layer the **sum**
of its operators' delays, each by the set of its class. The fits here use
exactly that: a layer's row of the design matrix is the sum over its operators
of their monomials of eq. (5), in the columns of their class, so a block is fitted
as what it is predicted as (not on its display-summary G, K, O, I).

The coefficients are found by non-negative least squares
(:func:`scipy.optimize.nnls`): every monomial of eq. (5) is >= 0 for
G, K, O, I >= 0, so a set with coefficients >= 0 can never predict a negative
time, for any layer. Every set is checked again before it is returned
(:func:`check_model`: finite, no negative time on its own data).

Terms per class (:data:`CLASS_TERMS`) are chosen so that no two are the same
column for that class: for a depthwise convolution (one input channel per
group, O = 1) the paper's G²K²OI equals G²K²I and G²O equals G², which carries
no channel count; its set therefore uses G²K²I (its multiply-adds), G²I (its
input and output maps) and K²I (its weights). The fixed cost of running one
operator (term "1": ORT's dispatch, which dominates the many small operators of
light networks) is one coefficient shared by all classes, added to every class's
set: it is the executor's, not the kernel's, and a per-class constant is not
identifiable where a class's operators all have one shape (ViT-B/16's 25
LayerNorms). Matrix products (fc, attention) have no activation-traffic terms:
at batch 1 their input and output are small beside their multiply-adds, and
ViT-B/16's token rows all have one G, which made G²I a copy of I there and
extrapolated 3× wrong to ConvNeXt's 3,136-row channel MLPs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mecopt.core.delay import TERMS, CoefficientSet, PerTypeCoefficients, features, r_squared
from mecopt.core.errors import InputError

#: terms of eq. (5) fitted for each operator class (no two identical for the class's operators)
CLASS_TERMS: dict[str, tuple[str, ...]] = {
    "conv": ("G2K2OI", "G2O", "G2I", "K2OI", "1"),   # multiply-adds, input map, output map, weights, per operator
    "dwconv": ("G2K2I", "G2I", "K2I", "1"),          # O = 1: G2K2OI = G2K2I and G2O = G2, so the channels ride on I
    "fc": ("G2K2OI", "OI", "1"),                      # multiply-adds, weights (rows > 1: tokens, channel MLPs)
    "pool": ("G2K2O", "G2O", "1"),                   # elements read, elements written
    "eltwise": ("G2O", "1"),                         # elements
    "norm": ("G2O", "1"),
    "attention": ("G2K2OI", "1"),
}
#: the one polynomial serving a class the data had no rows of
FALLBACK_TERMS: tuple[str, ...] = ("G2K2OI", "G2O", "1")

#: operators fitted (and predicted) with the set of another cost class than the importer's ``type``: (type, op) ->
#: cost class. A class is split only where the work differs in structure, not merely in speed: a
#: BatchNormalization at inference is a per-channel affine, an element-wise pass with no reduction, unlike the
#: LayerNormalization and Softmax that share its ``norm`` type (each a reduction over a row, then a pass over it).
OP_COST_CLASS: dict[tuple[str, str], str] = {
    ("norm", "BatchNormalization"): "eltwise",
}
#: a term of a class is fitted only if it raises the rank of [1, the class's terms before it] over the class's
#: operators (columns scaled to max |x| = 1; singular values below this share of the largest count as 0)
COLLINEAR_RTOL = 1e-6

_TO_S = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
_FACTORS = ["G", "K", "O", "I"]


def cost_classes(ops: pd.DataFrame) -> np.ndarray:
    """The cost class of each operator: its ``type``, or :data:`OP_COST_CLASS` of its (``type``, ``op``).

    Parameters
    ----------
    ops : pandas.DataFrame
        Operators with ``type`` and (optionally) ``op``.

    Returns
    -------
    numpy.ndarray
        One class name per row (object array).
    """
    types = ops["type"].astype(str).to_numpy() if len(ops) else np.array([], dtype=object)
    if "op" not in ops.columns:
        return types.astype(object)
    return np.asarray([OP_COST_CLASS.get((t, o), t) for t, o in zip(types, ops["op"].astype(str))], dtype=object)


def op_names(ops: pd.DataFrame) -> np.ndarray:
    """Each operator's ``op`` (its ``type`` where the table has no ``op`` column), for ``predict_ops``."""
    return (ops["op"] if "op" in ops.columns else ops["type"]).astype(str).to_numpy()


def identifiable_terms(ops: pd.DataFrame, cls: str, terms: tuple[str, ...]) -> tuple[str, ...]:
    """The terms of ``cls`` that the data can tell apart (the collinearity rule, :data:`COLLINEAR_RTOL`).

    Over the operators of cost class ``cls``, the first non-constant term is always kept (the class's
    main work); each later term is kept only if its column raises the rank of the
    matrix [1, kept terms] (columns scaled to max 1). A term that is a multiple of
    another for this class (depthwise K = 3 everywhere: G²K²I = 9·G²I), or constant
    where the class's operators all have one shape (ViT-B/16's LayerNorms), is
    dropped, so its coefficient is not an arbitrary split of one effect.

    Parameters
    ----------
    ops : pandas.DataFrame
        The operators fitted (``type``, ``op``, G, K, O, I).
    cls : str
        A cost class (:func:`cost_classes`).
    terms : tuple of str
        Its candidate terms, in order of priority ("1" is the shared constant, not tested).

    Returns
    -------
    tuple of str
        The kept terms, in the order given.
    """
    mono = features(ops.loc[cost_classes(ops) == cls, _FACTORS].to_numpy(dtype=float))
    kept: list[str] = []
    cols = [np.ones(len(mono))]
    for t in terms:
        if t == "1":
            continue
        col = mono[:, TERMS.index(t)]
        top = np.abs(col).max() if len(col) else 0.0
        if not kept:
            if top > 0:
                kept.append(t)
                cols.append(col / top)
            continue
        if top == 0:
            continue
        trial = np.column_stack([*cols, col / top])
        sv = np.linalg.svd(trial, compute_uv=False)
        if sv[-1] > COLLINEAR_RTOL * sv[0]:
            kept.append(t)
            cols.append(col / top)
    return tuple(kept)


def op_features(ops: pd.DataFrame, columns: list[tuple[str | None, str]]) -> np.ndarray:
    """The design matrix of operators (``type``, G, K, O, I).

    Column (cls, term) is the term's monomial for the operators of class ``cls`` (every operator when ``cls`` is None),
    else 0.

    Parameters
    ----------
    ops : pandas.DataFrame
        One row per operator with columns ``type``, ``G``, ``K``, ``O``, ``I`` (the factors of eq. 5).
    columns : list of tuple
        The (class, term) columns, as from :func:`design_columns`.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(ops), len(columns))``.
    """
    mono = features(ops[_FACTORS].to_numpy(dtype=float))
    types = cost_classes(ops)
    out = np.zeros((len(ops), len(columns)))
    for j, (cls, term) in enumerate(columns):
        col = mono[:, TERMS.index(term)]
        out[:, j] = col if cls is None else np.where(types == cls, col, 0.0)
    return out


def design_columns(per_type: bool, terms: tuple[str, ...] | None, classes,
                   ops: pd.DataFrame | None = None) -> list[tuple[str | None, str]]:
    """The columns fitted: (class, term) per class present (per-type), or (None, term) for one polynomial.

    Parameters
    ----------
    per_type : bool
        One set of terms per operator class (plus a shared per-operator constant), else one polynomial for all.
    terms : tuple of str or None
        The terms to fit; None: :data:`CLASS_TERMS` per class (per-type) or :data:`FALLBACK_TERMS`.
    classes : collection of str
        The cost classes present in the data (:func:`cost_classes`).
    ops : pandas.DataFrame or None, optional
        The operators fitted; given, each class keeps only the terms its operators can tell apart
        (:func:`identifiable_terms`).

    Returns
    -------
    list of tuple
        The (class or None, term) columns of the design matrix.
    """
    if not per_type:
        return [(None, t) for t in (terms or FALLBACK_TERMS)]
    cols = []
    for cls in CLASS_TERMS:
        if cls in classes:
            wanted = CLASS_TERMS[cls] if terms is None else _usable(cls, terms)
            if ops is not None:
                wanted = identifiable_terms(ops, cls, wanted)
            cols += [(cls, t) for t in wanted if t != "1"]
    if terms is None or "1" in terms:  # one fixed cost per operator, shared by all classes (ORT's dispatch)
        cols.append((None, "1"))
    return cols


def _usable(cls: str, terms: tuple[str, ...]) -> tuple[str, ...]:
    """``terms`` less those that repeat another for a depthwise convolution (O = 1)."""
    if cls != "dwconv":
        return terms
    same = {"G2K2OI": "G2K2I", "G2OI": "G2I", "K2OI": "K2I", "OI": "I", "G2K2O": "G2K2", "G2O": "G2", "K2O": "K2",
            "O": "1"}
    kept = []
    for t in terms:
        t2 = same.get(t, t)
        if t2 not in kept:
            kept.append(t2)
    return tuple(kept)


def layer_features(ops: pd.DataFrame, columns, keys: pd.DataFrame) -> np.ndarray:
    """One row per (dnn, layer) of ``keys``: the sum of its operators' rows of :func:`op_features`.

    Parameters
    ----------
    ops : pandas.DataFrame
        Operators with ``dnn``, ``layer``, ``type`` and G, K, O, I.
    columns : list of tuple
        The (class, term) columns, as from :func:`design_columns`.
    keys : pandas.DataFrame
        The layers wanted, columns ``dnn`` and ``layer``.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(keys), len(columns))``, rows in the order of ``keys``.

    Raises
    ------
    InputError
        If a layer of ``keys`` has no operators.
    """
    X_ops = op_features(ops, columns)
    idx = pd.MultiIndex.from_frame(ops[["dnn", "layer"]].astype({"dnn": str, "layer": int}))
    summed = pd.DataFrame(X_ops, index=idx).groupby(level=[0, 1]).sum()
    want = pd.MultiIndex.from_frame(keys[["dnn", "layer"]].astype({"dnn": str, "layer": int}))
    missing = want.difference(summed.index)
    if len(missing):
        shown = ", ".join(f"{d} layer {l}" for d, l in list(missing)[:5])
        raise InputError(f"no operators for {len(missing)} measured layer(s) ({shown}); give the per-operator "
                         "tables (NAME-profile-ops.csv) next to the layer tables")
    return summed.reindex(want).to_numpy()


def nnls(X: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """argmin_{b >= 0} || W (X b - y) ||² (scipy's NNLS on scaled columns).

    Parameters
    ----------
    X : numpy.ndarray
        Design matrix, shape ``(n, p)``.
    y : numpy.ndarray
        Targets, shape ``(n,)``.
    weights : numpy.ndarray or None, optional
        Row weights W (diagonal), shape ``(n,)``; None for all ones.

    Returns
    -------
    numpy.ndarray
        The non-negative coefficients b, shape ``(p,)``.
    """
    from scipy.optimize import lsq_linear
    from scipy.optimize import nnls as _nnls
    w = np.ones(len(y)) if weights is None else np.asarray(weights, float)
    A = X * w[:, None]
    scale = np.abs(A).max(axis=0) if len(A) else np.ones(X.shape[1])
    scale[scale == 0] = 1.0
    try:
        b, _ = _nnls(A / scale, y * w, maxiter=50 * X.shape[1])
    except RuntimeError:  # too many iterations: the bounded solver
        b = lsq_linear(A / scale, y * w, bounds=(0, np.inf), method="bvls").x
    return np.maximum(b / scale, 0.0)


@dataclass(frozen=True)
class LayerFit:
    """A set fitted on layer rows, and the layers' predictions (``unit``) on the rows fitted.

    Attributes
    ----------
    model : CoefficientSet or PerTypeCoefficients
        The fitted set (eq. 5 coefficients, one set per operator class when fitted per type).
    columns : list
        The (class, term) columns fitted.
    predicted : numpy.ndarray
        Predicted time of each layer row fitted, in ``unit``.
    measured : numpy.ndarray
        Measured time of each layer row fitted, in ``unit``.
    unit : str
        ``"s"``, ``"ms"`` or ``"us"``.
    """

    model: CoefficientSet | PerTypeCoefficients
    columns: list
    predicted: np.ndarray
    measured: np.ndarray
    unit: str


def _to_model(beta, columns, per_type: bool, name: str, unit: str, description: str, fallback: CoefficientSet | None):
    if not per_type:
        return CoefficientSet.from_terms(name, {t: float(b) for (_, t), b in zip(columns, beta)}, unit, description)
    shared = {t: float(b) for (c, t), b in zip(columns, beta) if c is None}
    fitted = {}
    for cls in dict.fromkeys(c for c, _ in columns if c is not None):
        coef = {t: float(b) for (c, t), b in zip(columns, beta) if c == cls}
        for t, b in shared.items():
            coef[t] = coef.get(t, 0.0) + b
        fitted[cls] = coef
    from mecopt.core.dnn import OP_CLASSES
    sets = {cls: CoefficientSet.from_terms(f"{name}:{cls}", coef, unit, f"non-negative fit, terms {list(coef)}")
            for cls, coef in fitted.items() if cls in OP_CLASSES}
    for (typ, op), cls in OP_COST_CLASS.items():  # operators of another cost class than their type: CLASS/OP sets
        if cls in fitted:
            sets[f"{typ}/{op}"] = CoefficientSet.from_terms(
                f"{name}:{typ}/{op}", fitted[cls], unit,
                f"non-negative fit of cost class {cls!r}, terms {list(fitted[cls])}")
    return PerTypeCoefficients(name, sets, fallback, unit, description)


def row_weights(layers: pd.DataFrame, y: np.ndarray, weight: str) -> np.ndarray:
    """``network``: each layer row by 1 / its network's measured total, so every network counts alike.

    ``none``: plain least squares (the largest layers dominate).

    Parameters
    ----------
    layers : pandas.DataFrame
        The layer rows (column ``dnn``).
    y : numpy.ndarray
        The measured time of each row.
    weight : str
        ``"network"`` or ``"none"``.

    Returns
    -------
    numpy.ndarray
        One weight per row.

    Raises
    ------
    InputError
        If ``weight`` is neither ``"network"`` nor ``"none"``.
    """
    if weight == "none":
        return np.ones(len(y))
    if weight == "network":
        totals = pd.Series(y).groupby(layers["dnn"].astype(str).to_numpy()).transform("sum").to_numpy()
        return 1.0 / np.where(totals > 0, totals, 1.0)
    raise InputError(f"The 'weight' option must be 'network' or 'none'. Got {weight!r} instead.")


def fit_layers(layers: pd.DataFrame, ops: pd.DataFrame, *, time_column: str = "median_ms", per_type: bool = True,
               terms: tuple[str, ...] | None = None, weight: str = "network", name: str = "fitted", unit: str = "ms",
               description: str = "") -> LayerFit:
    """Fit on measured layers (``dnn``, ``layer``, ``time_column``) with their operators.

    (``dnn``, ``layer``, ``type``, G, K, O, I): a layer's features are the sum of its operators'. Non-negative least
    squares.

    Parameters
    ----------
    layers : pandas.DataFrame
        Measured layers: ``dnn``, ``layer`` and ``time_column``.
    ops : pandas.DataFrame
        Their operators: ``dnn``, ``layer``, ``type``, G, K, O, I.
    time_column : str, optional
        Column of ``layers`` holding the time to fit, in ``unit``.
    per_type : bool, optional
        One set per operator class (with a fallback polynomial for classes without rows), else one polynomial.
    terms : tuple of str or None, optional
        Terms of eq. (5) to fit; None for the defaults (:func:`design_columns`).
    weight : str, optional
        Row weighting, ``"network"`` or ``"none"`` (:func:`row_weights`).
    name : str, optional
        Name of the fitted set.
    unit : str, optional
        Unit of the times, ``"s"``, ``"ms"`` or ``"us"``.
    description : str, optional
        Description of the fitted set; a default one when empty.

    Returns
    -------
    LayerFit
        The fitted set and its in-sample predictions.

    Raises
    ------
    InputError
        On a missing, negative or non-finite time, an unknown operator class, a layer without operators, or a
        fitted set that :func:`check_model` refuses.
    """
    y = layers[time_column].to_numpy(dtype=float)
    if not np.isfinite(y).all() or (y < 0).any():
        raise InputError(f"{int((~np.isfinite(y) | (y < 0)).sum())} layer row(s) have a missing, negative or "
                         f"non-finite {time_column}")
    from mecopt.core.dnn import OP_CLASSES
    unknown = sorted(set(ops["type"].astype(str)) - set(OP_CLASSES))
    if unknown:
        raise InputError(f"fit: unknown operator classes {unknown}; the classes are {list(OP_CLASSES)}")
    classes = set(cost_classes(ops))
    columns = design_columns(per_type, terms, classes, ops if per_type else None)
    X = layer_features(ops, columns, layers)
    w = row_weights(layers, y, weight)
    beta = nnls(X, y, w)
    fallback = None
    if per_type:
        fb_cols = design_columns(False, None, classes)
        fb = nnls(layer_features(ops, fb_cols, layers), y, w)
        fallback = CoefficientSet.from_terms(name, {t: float(b) for (_, t), b in zip(fb_cols, fb)}, unit,
                                             "non-negative fit of one polynomial on every class (classes without "
                                             "rows of their own)")
    desc = description or (f"non-negative least-squares fit on {len(y)} layers of {layers['dnn'].nunique()} "
                           f"network(s), a layer = the sum of its operators, rows weighted '{weight}'")
    model = _to_model(beta, columns, per_type, name, unit, desc, fallback)
    pred = predict_layers(model, ops, layers, unit)
    check_model(model, ops, unit)
    return LayerFit(model, columns, pred, y, unit)


def predict_layers(model, ops: pd.DataFrame, keys: pd.DataFrame, unit: str = "ms") -> np.ndarray:
    """Predicted time (``unit``) of each (dnn, layer) of ``keys``: the sum of its operators' predictions.

    Parameters
    ----------
    model : CoefficientSet or PerTypeCoefficients
        The set predicting the operators' times (in seconds).
    ops : pandas.DataFrame
        Operators with ``dnn``, ``layer``, ``type`` and G, K, O, I.
    keys : pandas.DataFrame
        The layers wanted, columns ``dnn`` and ``layer``.
    unit : str, optional
        Unit of the result, ``"s"``, ``"ms"`` or ``"us"``.

    Returns
    -------
    numpy.ndarray
        One time per row of ``keys`` (NaN for a layer without operators).
    """
    t = model.predict_ops(ops["type"].astype(str), ops[_FACTORS].to_numpy(dtype=float), op_names(ops)) / _TO_S[unit]
    s = pd.Series(t, index=pd.MultiIndex.from_frame(ops[["dnn", "layer"]].astype({"dnn": str, "layer": int})))
    s = s.groupby(level=[0, 1]).sum()
    return s.reindex(pd.MultiIndex.from_frame(keys[["dnn", "layer"]].astype({"dnn": str, "layer": int}))).to_numpy()


def check_model(model, ops: pd.DataFrame | None = None, unit: str = "ms") -> None:
    """Refuse (:class:`InputError`) a set with a negative or non-finite coefficient.

    Or one that predicts a negative or non-finite time for an operator of ``ops``.

    Parameters
    ----------
    model : CoefficientSet or PerTypeCoefficients
        The set to check (per type: its fallback and every class's set).
    ops : pandas.DataFrame or None, optional
        Operators to predict; None to check the coefficients only.
    unit : str, optional
        Unit of the times (unused by the checks).

    Raises
    ------
    InputError
        If a coefficient is negative or non-finite, or a prediction for ``ops`` is.
    """
    sets = [model] if isinstance(model, CoefficientSet) else [model.fallback, *model.sets.values()]
    for s in sets:
        eta = np.asarray(s.eta)
        if not np.isfinite(eta).all():
            raise InputError(f"the fitted set {s.name!r} has a non-finite coefficient; not written")
        if (eta < 0).any():
            bad = [t for t, e in zip(TERMS, eta) if e < 0]
            raise InputError(f"the fitted set {s.name!r} has negative coefficients {bad}; not written")
    if ops is not None and len(ops):
        t = model.predict_ops(ops["type"].astype(str), ops[_FACTORS].to_numpy(dtype=float), op_names(ops))
        bad = ~np.isfinite(t) | (t < 0)
        if bad.any():
            raise InputError(f"the fitted set predicts a negative or non-finite time for {int(bad.sum())} of "
                             f"{len(t)} operators of its own data; not written")


def leave_one_network_out(layers: pd.DataFrame, ops: pd.DataFrame, *, totals: dict[str, float] | None = None,
                          **kw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit without each network in turn and predict it: (one row per network, one row per layer).

    ``totals`` (e.g. end-to-end medians) is what a network's predicted total is compared
    with; default: the sum of its measured layers.

    Parameters
    ----------
    layers : pandas.DataFrame
        Measured layers, as for :func:`fit_layers`.
    ops : pandas.DataFrame
        Their operators.
    totals : dict of str to float or None, optional
        Per network, the total its prediction is compared with, in the unit of the fit.
    **kw
        Passed to :func:`fit_layers` (``time_column``, ``unit``, ``weight``, ...).

    Returns
    -------
    per_network : pandas.DataFrame
        ``dnn``, ``layers``, ``measured``, ``predicted``, ``error`` (predicted / measured - 1) and ``r2_layers``.
    per_layer : pandas.DataFrame
        ``dnn``, ``layer``, ``measured`` and ``predicted`` of each held-out layer.

    Raises
    ------
    InputError
        If there are fewer than two networks.
    """
    unit = kw.get("unit", "ms")
    col = kw.get("time_column", "median_ms")
    nets = list(dict.fromkeys(layers["dnn"].astype(str)))
    if len(nets) < 2:
        raise InputError("leaving one network out needs profiles of two or more networks")
    per_net, per_layer = [], []
    for net in nets:
        train = layers["dnn"].astype(str) != net
        fit = fit_layers(layers[train], ops[ops["dnn"].astype(str) != net], **kw)
        test = layers[~train]
        pred = predict_layers(fit.model, ops[ops["dnn"].astype(str) == net], test, unit)
        y = test[col].to_numpy(dtype=float)
        measured = float(totals[net]) if totals else float(y.sum())
        per_net.append({"dnn": net, "layers": len(y), "measured": measured, "predicted": float(pred.sum()),
                        "error": float(pred.sum()) / measured - 1.0, "r2_layers": r_squared(y, pred)})
        per_layer.append(pd.DataFrame({"dnn": net, "layer": test["layer"].to_numpy(), "measured": y,
                                       "predicted": pred}))
    return pd.DataFrame(per_net), pd.concat(per_layer, ignore_index=True)


def layers_and_ops(tables: list[tuple[str, pd.DataFrame]], time_column: str = "median_ms",
                   types: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Measured layers and their operators from profile tables (``mecopt profile`` CSVs): (layers, ops, notes).

    A per-operator table (column ``node``) gives each layer the sum of its operators'
    times (an operator ORT fused into a neighbour has no time of its own: its
    time is in the neighbour's) and all its operators. A layer table takes the
    operators of each network from its per-operator table when one is given or lies
    next to it (``NAME-ops.csv``), else from the bundled spec of that name, else a
    plain layer is its own operator (its class from its type); a block without
    operators is refused.

    Parameters
    ----------
    tables : list of tuple
        (path, table) pairs read from ``mecopt profile`` CSVs, layer or per-operator tables.
    time_column : str, optional
        Column holding the measured time.
    types : list of str or None, optional
        Keep only layers of these types (``--types``); None keeps all.

    Returns
    -------
    layers : pandas.DataFrame
        The measured layers.
    ops : pandas.DataFrame
        Their operators (``dnn``, ``layer``, ``type``, G, K, O, I).
    notes : list of str
        Remarks on how the operators were found.

    Raises
    ------
    InputError
        On block rows without operators, a ``types`` filter that cannot apply, or missing/non-finite values.
    """
    from mecopt.core import dnn
    notes: list[str] = []
    op_tables = {}
    for _path, df in tables:
        if "node" in df.columns:
            for net, part in df.groupby(df["dnn"].astype(str) if "dnn" in df else pd.Series("?", index=df.index)):
                op_tables[net] = part
    layer_nets = {str(n) for _, df in tables if "node" not in df.columns
                  for n in (df["dnn"].unique() if "dnn" in df.columns else [])}
    layer_rows, op_rows = [], []
    for path, df in tables:
        df = df.copy()
        if "node" in df.columns and "dnn" in df.columns:  # a layer table of the same network is given too
            df = df[~df["dnn"].astype(str).isin(layer_nets)]
            if df.empty:
                continue
        if "dnn" not in df.columns:
            df["dnn"] = Path(path).stem
        if "layer" not in df.columns:
            df["layer"] = np.arange(1, len(df) + 1)
        df["dnn"] = df["dnn"].astype(str)
        if "node" in df.columns:  # per-operator table: layers are the sums
            t = df.groupby(["dnn", "layer"], sort=False)[time_column].agg(lambda s: s.sum(min_count=1))
            lt = t.reset_index()
            first = df.groupby(["dnn", "layer"], sort=False).first().reset_index()
            lt["type"] = first["type"].where(df.groupby(["dnn", "layer"], sort=False).size().to_numpy() == 1,
                                             "block").to_numpy()
            lt["name"] = first["node"].to_numpy()
            layer_rows.append(lt)
            op_rows.append(_op_columns(df))
            continue
        layer_rows.append(df)
        sibling = Path(path).with_name(f"{Path(path).stem}-ops.csv")
        for net, part in df.groupby("dnn", sort=False):
            if net in op_tables:
                src = op_tables[net]
            elif sibling.exists():
                src = pd.read_csv(sibling)
                src = src[src["dnn"].astype(str) == net] if "dnn" in src else src
            else:
                src = None
                try:
                    spec_path = dnn.resolve_path(net, Path(path).parent)
                    spec = dnn.load_spec(spec_path)
                    if [l.name for l in spec.layers] == list(part.sort_values("layer")["name"]) \
                            if "name" in part else len(spec.layers) == len(part):
                        src = dnn.propagate(spec).op_frame()
                except Exception:  # noqa: BLE001 - no spec of that name: plain layers are their own operators
                    src = None
            if src is None:
                blocks = part[part.get("type", pd.Series("", index=part.index)) == "block"]
                if len(blocks):
                    raise InputError(f"{path}: {len(blocks)} block row(s) of {net} and no operators for them: give "
                                     f"the per-operator table ({sibling.name}) as well", [
                                         (f"layer {int(r.layer)}", str(getattr(r, 'name', ''))) for r in
                                         blocks.head(5).itertuples()])
                src = pd.DataFrame({"layer": part["layer"], "type": [_layer_class(t, o) for t, o in
                                                                      zip(part["type"], part["O"])],
                                    "G": part["G"], "K": part["K"], "O": part["O"], "I": part["I"]})
                if notes == []:
                    notes.append("layers without a per-operator table or spec are fitted as one operator each")
            src = src.assign(dnn=net)
            op_rows.append(_op_columns(src[src["layer"].isin(part["layer"])]))
    layers = pd.concat(layer_rows, ignore_index=True)
    ops = pd.concat(op_rows, ignore_index=True)
    if types:
        if "type" not in layers.columns:
            raise InputError("--types needs a 'type' column in the profile tables")
        unknown = sorted(set(types) - set(layers["type"]))
        if unknown:
            raise InputError(f"The '--types' option names types absent from the profiles: {unknown}; "
                             f"present: {sorted(set(layers['type']))}")
        layers = layers[layers["type"].isin(types)].reset_index(drop=True)
    y = layers[time_column].to_numpy(dtype=float)
    bad = ~np.isfinite(y) | ~np.isfinite(layers[["G", "K", "O", "I"]].to_numpy(dtype=float)).all(axis=1) \
        if {"G", "K", "O", "I"} <= set(layers.columns) else ~np.isfinite(y)
    if bad.any():
        raise InputError(f"{int(bad.sum())} profile row(s) have missing or non-finite G, K, O, I or {time_column}")
    keys = set(zip(layers["dnn"], layers["layer"].astype(int)))
    ops = ops[[k in keys for k in zip(ops["dnn"].astype(str), ops["layer"].astype(int))]].reset_index(drop=True)
    return layers, ops, notes


def _op_columns(df: pd.DataFrame) -> pd.DataFrame:
    """The operator columns fitting needs: dnn, layer, type, op (the type where the table has none), G, K, O, I."""
    out = df[["dnn", "layer", "type", "G", "K", "O", "I"]].copy()
    out.insert(3, "op", (df["op"] if "op" in df.columns else df["type"]).astype(str).to_numpy())
    return out


def _layer_class(layer_type: str, O: float) -> str:
    from mecopt.core import dnn
    if layer_type == "conv" and O == 1:
        return "dwconv"
    if layer_type not in dnn.LAYER_CLASS:
        raise InputError(f"a {layer_type!r} layer has no operator class; give its per-operator table")
    return dnn.LAYER_CLASS[layer_type]
