"""The paper's claims about Figs. 5-10, each judged from the figure tables by a stated rule."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mecopt.studies.reproduce.scenarios import ALGORITHMS, COMPLEX_DNNS, DNNS, FIGURES  # noqa: F401

REPRODUCED, PARTLY, NOT, MISSING = "reproduced", "partly", "not reproduced", "not evaluated"

#: rules' thresholds, stated in the report
SAME_COST_REL = 0.01        # C5.1: |UAI - CAI| / CAI
SIMILAR_SPEED = (0.5, 2.0)  # C5.3: UAI ticks / CAI ticks
SHARP_FACTOR = 2.0          # C5.2: ticks(max N) >= 2 x ticks(min N)
NEAR_OPT_REL = 0.10         # C8.1: (Case 1 - Case 2) / Case 2
TOL = 1e-9                  # relative tolerance of every comparison
#: Fig. 10b as printed: MD 2 (VGG13) runs layers 21-22 in slot 1, 23 in slot 2, 24-31 in slot 3
PAPER_VGG13_BLOCKS = "21-22:1 23:2 24-31:3"


# =========================================================================== claims

@dataclass(frozen=True)
class Evidence:
    """A number a claim's detail quotes, and where it sits: ``table`` row matching ``where``, ``column``.

    Attributes
    ----------
    table : str
        The table read.
    where : tuple[tuple[str, object], ...]
        The row selected: (column, value) pairs.
    column : str
        The column read.
    value : object
        The value read.
    """

    table: str
    where: tuple[tuple[str, object], ...]
    column: str
    value: object


@dataclass
class Claim:
    """One claim of the paper: its text, the rule that judges it from the tables, the verdict and evidence.

    Attributes
    ----------
    id : str
        Claim id, e.g. ``C6.1``.
    figure : str
        The figure.
    text : str
        The paper's claim.
    rule : str
        How it is judged from the table.
    verdict : str
        Reproduced, partly, not reproduced, or missing.
    detail : str
        The numbers behind the verdict.
    evidence : list[Evidence]
        The table cells the verdict reads.
    """

    id: str
    figure: str
    text: str          # the paper's claim
    rule: str          # how it is judged from the table
    verdict: str = MISSING
    detail: str = ""
    evidence: list[Evidence] = field(default_factory=list)


def num(v) -> str:
    """How every number appears in the report.

    Parameters
    ----------
    v : float or None
        A number (or None).

    Returns
    -------
    str
        The text.
    """
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, int | np.integer):
        return str(int(v))
    return f"{float(v):.4g}"


class _Lookup:
    """Fetches table values for one claim and records them as evidence."""

    def __init__(self, tables: dict[str, pd.DataFrame], claim: Claim):
        self.tables, self.claim = tables, claim

    def get(self, table: str, column: str, **where):
        df = self.tables.get(table)
        if df is None or column not in df.columns:
            raise KeyError(table)
        mask = np.ones(len(df), dtype=bool)
        for k, v in where.items():
            mask &= (df[k] == v).to_numpy()
        rows = df[mask]
        if len(rows) != 1:
            raise KeyError(f"{table}: {len(rows)} rows match {where}")
        v = rows.iloc[0][column]
        v = v.item() if hasattr(v, "item") else v
        self.claim.evidence.append(Evidence(table, tuple(where.items()), column, v))
        return v

    def n(self, v) -> str:
        return num(v)


def _verdict(flags: Sequence[bool]) -> str:
    if flags and all(flags):
        return REPRODUCED
    return PARTLY if any(flags) else NOT


def _le(a: float, b: float) -> bool:
    return a <= b + TOL * max(1.0, abs(b))


def _lt(a: float, b: float) -> bool:
    return a < b - TOL * max(1.0, abs(b))


def _xs(tables, table: str, x: str) -> list:
    df = tables[table]
    xs = list(dict.fromkeys(df[x]))
    return [d for d in DNNS if d in xs] if x == "dnn" else sorted(xs)


def xlabel(x, v) -> str:
    """How a figure's x value reads in the report (``W = 1 kHz`` for the bandwidth axis of Fig. 6).

    Parameters
    ----------
    x : str
        The figure's x column (``"W_khz"``, ``"N"``, ``"dnn"``...).
    v : object
        One of its values.

    Returns
    -------
    str
    """
    return f"W = {num(v)} kHz" if x == "W_khz" else str(v)


#: the paper's iteration (Alg. 1-2): MD n's local clock k_n advances once per update it makes while awake
#: (steps 5-12), i.e. one best-response call; a tick of mecopt's global clock holds about N x wake_prob of them
PAPER_ITERATION = ("one update of an awake MD (its local clock k_n, Alg. 1-2 steps 5-12), i.e. one best-response "
                   "call; mecopt's ticks, in which every MD may wake, are reported beside")


def _speed_column(t) -> tuple[str, str]:
    """Convergence counted in the paper's iterations when the table has them (older tables: ticks)."""
    if "calls_to_converge" in t["fig5_summary"].columns:
        return "calls_to_converge", "best-response calls"
    return "ticks_to_converge", "ticks"


def _uai_variants(t) -> list[tuple[str, str]]:
    """(method, label) of the TPOS-UAI rows: the paper's graph, and the sparse-graph variant if present."""
    from mecopt.studies.reproduce.scenarios import SPARSE_METHOD, SPARSE_OPTIONS, SPARSE_TOPOLOGY

    out = [("tpos-uai", "UAI")]
    if SPARSE_METHOD in set(t["fig5_summary"]["method"]):
        opts = ", ".join(f"{k} = {v}" for k, v in SPARSE_OPTIONS.items())
        out.append((SPARSE_METHOD, f"UAI on a {SPARSE_TOPOLOGY} ({opts})"))
    return out


def claims_fig5(t) -> list[Claim]:
    """The claims of Fig. 5 (convergence of TPOS-CAI and TPOS-UAI), judged from the tables ``t``.

    Parameters
    ----------
    t : dict[str, pandas.DataFrame]
        The figure tables, by name.

    Returns
    -------
    list[Claim]
        The judged claims.
    """
    out = []
    col, unit = _speed_column(t)
    variants = _uai_variants(t)
    on = " and on the sparse-graph variant" if len(variants) > 1 else ""
    c = Claim("C5.1", "5", "Algorithms 1 and 2 converge to the same average cost.",
              f"|C(UAI) - C(CAI)| / C(CAI) <= {SAME_COST_REL:.0%} at every N (final average cost, mean over seeds)"
              f"{on}")
    def same(L):
        flags, parts = [], []
        for m, label in variants:
            for N in sorted(t["fig5_summary"]["N"].unique()):
                a = L.get("fig5_summary", "final_avg_cost", N=N, method="tpos-cai")
                b = L.get("fig5_summary", "final_avg_cost", N=N, method=m)
                rel = abs(b - a) / max(abs(a), 1e-300)
                flags.append(rel <= SAME_COST_REL)
                parts.append(f"N = {N}: CAI {L.n(a)}, {label} {L.n(b)} ({rel:.2%} apart)")
        return flags, "; ".join(parts)
    out.append(_judge(t, c, same))

    c = Claim("C5.2", "5", "The convergence speed of each algorithm drops sharply as N increases.",
              f"{unit} to converge rise strictly with N for both algorithms, and at least {SHARP_FACTOR:g}x from the "
              f"smallest to the largest N ('sharply'); partly if they rise less or for one algorithm only. "
              f"The paper's iteration is {PAPER_ITERATION}")
    def speed(L):
        flags, parts = [], []
        Ns = sorted(t["fig5_summary"]["N"].unique())
        for m in ("tpos-cai", "tpos-uai"):
            k = [L.get("fig5_summary", col, N=N, method=m) for N in Ns]
            rising = all(_lt(a, b) for a, b in zip(k, k[1:]))
            sharp = rising and k[-1] >= SHARP_FACTOR * k[0]
            flags += [rising, sharp]
            parts.append(f"{ALGORITHMS[m]}: " + ", ".join(f"N = {N}: {L.n(v)}" for N, v in zip(Ns, k))
                         + (f" {unit} (rising" + (", sharply)" if sharp else ", not sharply)") if rising else
                            f" {unit} (not rising)"))
            if col != "ticks_to_converge":
                ticks = [L.get("fig5_summary", "ticks_to_converge", N=N, method=m) for N in Ns]
                parts[-1] += " [ticks " + ", ".join(L.n(v) for v in ticks) + "]"
        return flags, "; ".join(parts)
    out.append(_judge(t, c, speed))

    c = Claim("C5.3", "5", "Algorithms 1 and 2 converge with similar speed.",
              f"{unit} to converge of UAI / CAI within [{SIMILAR_SPEED[0]:g}, {SIMILAR_SPEED[1]:g}] at every N{on}")
    def similar(L):
        flags, parts = [], []
        for m, label in variants:
            for N in sorted(t["fig5_summary"]["N"].unique()):
                a = L.get("fig5_summary", col, N=N, method="tpos-cai")
                b = L.get("fig5_summary", col, N=N, method=m)
                ratio = b / a if a else math.inf
                flags.append(SIMILAR_SPEED[0] <= ratio <= SIMILAR_SPEED[1])
                parts.append(f"N = {N}: CAI {L.n(a)}, {label} {L.n(b)} {unit}")
        return flags, "; ".join(parts)
    out.append(_judge(t, c, similar))
    return out


def _case_values(L, table, x, xv, metric, cases=(1, 2, 3, 4)):
    return {k: L.get(table, metric, **{x: xv}, case=k) for k in cases}


def _claim_case1_beats(t, cid, fig, table, x, metric, others, text, unit):
    c = Claim(cid, fig, text, f"{metric} of Case 1 strictly below that of Case(s) {', '.join(map(str, others))} at "
              f"every {'W' if x == 'W_khz' else 'DNN'}")
    def rule(L):
        def at(xv):
            v = _case_values(L, table, x, xv, metric, (1, *others))
            ok = all(_lt(v[1], v[o]) for o in others)
            part = f"{xlabel(x, xv)}: " + " / ".join(f"{L.n(v[k])}" for k in (1, *others))
            if ok:
                return ok, part, None
            beaten_by_3 = 3 in others and not _lt(v[1], v[3])
            return ok, part, xlabel(x, xv) + (f" ({_queue_note(L, table, x, xv).lstrip('; ')})" if beaten_by_3 else "")
        flags, verdicts = _at_every_x(t, table, x, at)
        return flags, f"Case 1 / Case {' / Case '.join(map(str, others))} in {unit}: " + verdicts
    return _judge(t, c, rule)


def _at_every_x(t, table, x, at) -> tuple[list[bool], str]:
    """A per-x rule: ``at(xv)`` gives (holds, what the cases read, where it fails or None) at each x value.

    Returns the flags and "part; part. Fails at ...." .
    """
    flags, parts, fails = [], [], []
    for xv in _xs(t, table, x):
        ok, part, fail = at(xv)
        flags.append(ok)
        parts.append(part)
        if not ok:
            fails.append(fail)
    return flags, "; ".join(parts) + (f". Fails at {', '.join(fails)}." if fails else ".")


def _queue_note(L, table, x, xv) -> str:
    """Case 3 can win because an MD that does not fit the frame is served after it.

    Outside the slot model (docs/MODEL.md §6): say how many MDs it queued there on average.
    """
    if "queued" not in L.tables[table].columns:
        return ""
    q = L.get(table, "queued", **{x: xv}, case=3)
    return f"; Case 3 queues {L.n(q)} MD(s) on average after the frame, outside (17)/(27)" if q else ""


def _claim_min(t, cid, fig, table, x, metric, case, text, unit):
    c = Claim(cid, fig, text, f"{metric} of Case {case} <= that of every other case at every "
              f"{'W' if x == 'W_khz' else 'DNN'}")
    def rule(L):
        def at(xv):
            v = _case_values(L, table, x, xv, metric)
            ok = all(_le(v[case], v[k]) for k in v if k != case)
            fail = None
            if not ok:
                best = min(v, key=v.get)
                fail = f"{xlabel(x, xv)} (Case {best} lowest{_queue_note(L, table, x, xv) if best == 3 else ''})"
            return ok, f"{xlabel(x, xv)}: " + " / ".join(L.n(v[k]) for k in (1, 2, 3, 4)), fail
        flags, verdicts = _at_every_x(t, table, x, at)
        return flags, f"Cases 1 / 2 / 3 / 4 in {unit}: " + verdicts
    return _judge(t, c, rule)


def _claim_trend_w(t, cid, fig, table, metric, text, unit):
    c = Claim(cid, fig, text, f"{metric} of Cases 1-3 never rises from one W to the next and ends lower than it "
              f"starts; that of Case 4 is the same at every W (relative tolerance {TOL:g})")
    def rule(L):
        Ws = _xs(t, table, "W_khz")
        flags, parts = [], []
        for k in (1, 2, 3, 4):
            vals = [L.get(table, metric, W_khz=w, case=k) for w in Ws]
            if k == 4:
                ok = max(vals) - min(vals) <= TOL * max(1.0, abs(max(vals)))
                parts.append("Case 4 " + ", ".join(L.n(v) for v in vals) + f" {unit}"
                             + (" (constant)" if ok else " (varies)"))
            else:
                rises = [f"{num(a)}->{num(b)} {unit} at W = {num(w1)}->{num(w2)} kHz"
                         for (w1, a), (w2, b) in zip(zip(Ws, vals), zip(Ws[1:], vals[1:])) if _lt(a, b)]
                ok = not rises and _lt(vals[-1], vals[0])
                desc = f"Case {k} " + ", ".join(L.n(v) for v in vals) + f" {unit}"
                if rises:
                    desc += f" (rises {'; '.join(rises)})"
                elif not _lt(vals[-1], vals[0]):
                    desc += " (no decrease)"
                parts.append(desc)
            flags.append(ok)
        return flags, f"at W = {', '.join(num(w) for w in Ws)} kHz: " + "; ".join(parts) + "."
    return _judge(t, c, rule)


def _claim_schedule(t, cid, fig, table, where, text):
    c = Claim(cid, fig, text, "the Case 1 (TPOS-UAI) profile passes the independent checker (no violation of "
              "(15)-(17), (26), (27)) and offloads something (the paper's panel shows offloaded subtasks); "
              "partly if it is feasible but offloads nothing")
    def rule(L):
        v = L.get(table, "violations", **where)
        k = L.get(table, "offloading_devices", **where)
        feasible = v == 0
        detail = f"{L.n(v)} violation(s); {L.n(k)} device(s) offload at least one layer"
        if feasible and not k:
            detail += " (no layer is offloaded, so the schedule is empty and the rules hold vacuously)"
        return [feasible, feasible and bool(k)], detail + "."
    return _judge(t, c, rule)


def claims_fig6(t) -> list[Claim]:
    """The claims of Fig. 6 (average delay against bandwidth W), judged from the tables ``t``.

    Parameters
    ----------
    t : dict[str, pandas.DataFrame]
        The figure tables, by name.

    Returns
    -------
    list[Claim]
        The judged claims.
    """
    tb = "fig6_cases"
    return [
        _claim_case1_beats(t, "C6.1", "6", tb, "W_khz", "avg_delay_s", (3, 4),
                           "Case 1 achieves a smaller average delay than Cases 3 and 4.", "s"),
        _claim_min(t, "C6.2", "6", tb, "W_khz", "avg_delay_s", 2,
                   "Case 2 achieves the minimum average delay.", "s"),
        _claim_trend_w(t, "C6.3", "6", tb, "avg_delay_s",
                       "The average delay of Cases 1, 2 and 3 decreases as W increases, while that of Case 4 "
                       "remains unchanged.", "s"),
        _claim_drop(t),
        _claim_schedule(t, "C6.5", "6", tb, dict(W_khz=0.2, case=1),
                        "Fig. 6a: the TPOS-UAI schedule at W = 0.2 kHz is consistent with Rules 1 and 2."),
    ]


def _claim_drop(t):
    tb = "fig6_cases"
    c = Claim("C6.4", "6", "The reduction of the average delay with W is more significant under Case 3 than under "
              "Cases 1 and 2.", "delay(W_min) - delay(W_max) of Case 3 larger than that of Case 1 and of Case 2")
    def rule(L):
        Ws = _xs(t, tb, "W_khz")
        drop, parts = {}, []
        for k in (1, 2, 3):
            a, b = L.get(tb, "avg_delay_s", W_khz=Ws[0], case=k), L.get(tb, "avg_delay_s", W_khz=Ws[-1], case=k)
            drop[k] = a - b
            parts.append(f"Case {k} {L.n(a)} -> {L.n(b)} s (drop {num(drop[k])} s)")
        flags = [drop[3] > drop[1], drop[3] > drop[2]]
        return flags, f"from W = {num(Ws[0])} to {num(Ws[-1])} kHz: " + "; ".join(parts) + "."
    return _judge(t, c, rule)


def claims_fig7(t) -> list[Claim]:
    """The claims of Fig. 7 (average energy against bandwidth W), judged from the tables ``t``.

    Parameters
    ----------
    t : dict[str, pandas.DataFrame]
        The figure tables, by name.

    Returns
    -------
    list[Claim]
        The judged claims.
    """
    tb = "fig7_cases"
    return [
        _claim_min(t, "C7.1", "7", tb, "W_khz", "avg_energy_j", 1,
                   "Case 1 achieves the minimum average energy consumption.", "J"),
        _claim_trend_w(t, "C7.2", "7", tb, "avg_energy_j",
                       "The average energy of Cases 1, 2 and 3 decreases as W increases, while that of Case 4 "
                       "remains unchanged.", "J"),
        _claim_schedule(t, "C7.3", "7", tb, dict(W_khz=0.4, case=1),
                        "Fig. 7a: the TPOS-UAI schedule at W = 0.4 kHz is consistent with Rules 1 and 2."),
    ]


def _claim_near_opt(t):
    tb = "fig8_cases"
    c = Claim("C8.1", "8", "Case 1 approaches the optimal average delay of Case 2 regardless of the DNN type.",
              f"(delay of Case 1 - delay of Case 2) / delay of Case 2 <= {NEAR_OPT_REL:.0%} for every DNN")
    def rule(L):
        flags, parts = [], []
        for d in _xs(t, tb, "dnn"):
            a, b = L.get(tb, "avg_delay_s", dnn=d, case=1), L.get(tb, "avg_delay_s", dnn=d, case=2)
            gap = (a - b) / b
            flags.append(gap <= NEAR_OPT_REL)
            parts.append(f"{d}: {L.n(a)} vs {L.n(b)} s ({gap:+.1%})")
        return flags, "Case 1 vs Case 2: " + "; ".join(parts) + "."
    return _judge(t, c, rule)


def _claim_complexity(t, cid, fig, table, metric, text, unit):
    c = Claim(cid, fig, text, f"{metric} strictly decreases along VGG16, VGG13, AlexNet, LeNet for each of Cases 1-4")
    def rule(L):
        flags, parts = [], []
        ds = _xs(t, table, "dnn")
        for k in (1, 2, 3, 4):
            vals = [L.get(table, metric, dnn=d, case=k) for d in ds]
            ok = all(_lt(b, a) for a, b in zip(vals, vals[1:]))
            flags.append(ok)
            parts.append(f"Case {k}: " + " > ".join(L.n(v) for v in vals) + ("" if ok else " (not decreasing)"))
        return flags, f"{' / '.join(ds)} in {unit}: " + "; ".join(parts) + "."
    return _judge(t, c, rule)


def claims_fig8(t) -> list[Claim]:
    """The claims of Fig. 8 (average delay per DNN), judged from the tables ``t``.

    Parameters
    ----------
    t : dict[str, pandas.DataFrame]
        The figure tables, by name.

    Returns
    -------
    list[Claim]
        The judged claims.
    """
    tb = "fig8_cases"
    return [
        _claim_near_opt(t),
        _claim_min(t, "C8.2", "8", tb, "dnn", "avg_delay_s", 2,
                   "Case 2 achieves the smallest average delay among the four cases.", "s"),
        _claim_complexity(t, "C8.3", "8", tb, "avg_delay_s",
                          "The average delay under Cases 1-4 decreases as the computational complexity of the DNN "
                          "decreases.", "s"),
    ]


def claims_fig9(t) -> list[Claim]:
    """The claims of Fig. 9 (average energy per DNN), judged from the tables ``t``.

    Parameters
    ----------
    t : dict[str, pandas.DataFrame]
        The figure tables, by name.

    Returns
    -------
    list[Claim]
        The judged claims.
    """
    tb = "fig9_cases"
    return [
        _claim_min(t, "C9.1", "9", tb, "dnn", "avg_energy_j", 1,
                   "Case 1 achieves the smallest average energy consumption regardless of the DNN type.", "J"),
        _claim_case2_energy(t),
        _claim_complexity(t, "C9.3", "9", tb, "avg_energy_j",
                          "The average energy under Cases 1-4 decreases as the computational complexity of the DNN "
                          "decreases.", "J"),
    ]


def _claim_case2_energy(t):
    tb = "fig9_cases"
    c = Claim("C9.2", "9", "Case 2 is energy-consuming, since it does not take energy into account.",
              "energy of Case 2 strictly above that of Case 1 for every DNN")
    def rule(L):
        flags, parts = [], []
        for d in _xs(t, tb, "dnn"):
            a, b = L.get(tb, "avg_energy_j", dnn=d, case=1), L.get(tb, "avg_energy_j", dnn=d, case=2)
            flags.append(_lt(a, b))
            parts.append(f"{d}: Case 2 {L.n(b)} vs Case 1 {L.n(a)} J")
        return flags, "; ".join(parts) + "."
    return _judge(t, c, rule)


def claims_fig10(t) -> list[Claim]:
    """The claims of Fig. 10 (partition points of MDs with different DNNs), judged from the tables ``t``.

    Parameters
    ----------
    t : dict[str, pandas.DataFrame]
        The figure tables, by name.

    Returns
    -------
    list[Claim]
        The judged claims.
    """
    tb = "fig10_devices"
    out = []
    c = Claim("C10.1", "10", "MDs with complex DNNs (VGG16, VGG13, AlexNet) offload part of their subtasks, while "
              "the MD with LeNet prefers local execution.",
              "partition point m* < M (a tail offloaded) for each VGG16/VGG13/AlexNet MD, m* = M for the LeNet MD")
    def offload(L):
        flags, parts = [], []
        for dev in t[tb]["device"]:
            dnn = L.get(tb, "dnn", device=dev)
            m, M = L.get(tb, "partition_point", device=dev), L.get(tb, "layers", device=dev)
            if dnn in COMPLEX_DNNS:
                flags.append(m < M)
            elif dnn == "lenet":
                flags.append(m == M)
            else:
                continue
            parts.append(f"{dev} ({dnn}): m* = {L.n(m)} of {L.n(M)}" + (" (all local)" if m == M else ""))
        return flags, "; ".join(parts) + "."
    out.append(_judge(t, c, offload))

    c = Claim("C10.2", "10", "MD 2 (VGG13) computes layers 1-20 locally and offloads layers 21-31 "
              "(21-22 to slot 1, 23 to slot 2, 24-31 to slot 3).",
              f"the VGG13 MD has m* = 20 of 31 and server blocks {PAPER_VGG13_BLOCKS} (layers:slot); partly if "
              "only some of: a tail offloaded, m* = 20, those blocks")
    def vgg13(L):
        devs = [d for d in t[tb]["device"] if L.tables[tb].set_index("device").loc[d, "dnn"] == "vgg13"]
        if not devs:
            raise KeyError("no VGG13 device")
        dev = devs[0]
        m, M = L.get(tb, "partition_point", device=dev), L.get(tb, "layers", device=dev)
        blocks = L.get(tb, "server_blocks", device=dev)
        detail = (f"{dev}: m* = {L.n(m)} of {L.n(M)}; server blocks (layers:slot) "
                  f"{blocks if isinstance(blocks, str) and blocks else 'none'}.")
        return [m < M, m == 20, blocks == PAPER_VGG13_BLOCKS], detail
    out.append(_judge(t, c, vgg13))

    c = Claim("C10.3", "10", "Fig. 10b: the TPOS-UAI schedule of the mixed-DNN MDs is consistent with Rules 1 and 2.",
              "the TPOS-UAI profile passes the independent checker (no violation of (15)-(17), (26), (27))")
    def rules(L):
        v = L.get("fig10_summary", "violations", method="tpos-uai")
        return [v == 0], f"{L.n(v)} violation(s)."
    out.append(_judge(t, c, rules))
    return out


def _judge(tables, claim: Claim, rule) -> Claim:
    try:
        flags, detail = rule(_Lookup(tables, claim))
    except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError) as err:
        claim.verdict, claim.detail = MISSING, f"cannot be judged from the tables ({err})"
        return claim
    claim.verdict, claim.detail = _verdict([bool(f) for f in flags]), detail
    if any(isinstance(e.value, float) and math.isnan(e.value) for e in claim.evidence):
        claim.verdict = MISSING
        claim.detail += " (some figures are missing: a run failed)"
    return claim


CLAIMS = {"5": claims_fig5, "6": claims_fig6, "7": claims_fig7, "8": claims_fig8, "9": claims_fig9,
          "10": claims_fig10}
#: tables each figure's claims read
NEEDS = {"5": ("fig5_summary",), "6": ("fig6_cases",), "7": ("fig7_cases",), "8": ("fig8_cases",),
         "9": ("fig9_cases",), "10": ("fig10_devices", "fig10_summary")}


def evaluate_claims(tables: dict[str, pd.DataFrame], figures: Sequence[str] = FIGURES) -> list[Claim]:
    """Judge every claim of the given figures from the tables (figures whose tables are absent are skipped).

    Parameters
    ----------
    tables : dict[str, pandas.DataFrame]
        The figure tables, by name.
    figures : Sequence[str], default FIGURES
        The figures judged.

    Returns
    -------
    list[Claim]
        The judged claims, figure by figure.
    """
    out = []
    for f in figures:
        if all(n in tables for n in NEEDS[f]):
            out.extend(CLAIMS[f](tables))
    return out


def claims_frame(claims: Sequence[Claim]) -> pd.DataFrame:
    """The claims as a table: id, figure, claim, verdict, rule, detail.

    Parameters
    ----------
    claims : Sequence[Claim]
        The claims.

    Returns
    -------
    pandas.DataFrame
        One row per claim.
    """
    return pd.DataFrame([dict(id=c.id, figure=c.figure, claim=c.text, verdict=c.verdict, rule=c.rule,
                              detail=c.detail) for c in claims],
                        columns=["id", "figure", "claim", "verdict", "rule", "detail"])
