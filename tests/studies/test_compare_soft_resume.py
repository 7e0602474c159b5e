"""compare and equilibria under soft deadlines (ratios recomputed from the written tables), the
resumable compare folder and the whole-comparison budget."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from helpers import run

from mecopt.core.cost import deadline_penalty, evaluate, social_cost
from mecopt.core.errors import InputError
from mecopt.core.instance import load_instance
from mecopt.methods import registry as solvers
from mecopt.studies import compare as comparemod
from mecopt.studies import equilibria as eqmod

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver

SOFT = "examples:soft-deadline"
FIG6 = "paper:fig6-w1khz"


@pytest.fixture(scope="module")
def soft():
    return load_instance(SOFT)


def measures_from_tables(instance, folder) -> dict[str, float]:
    """avg delay, avg energy, social cost and the penalised delay of a written solution, from its devices table."""
    dev = pd.read_csv(folder / "devices.csv").set_index("device")
    T = np.array([dev.loc[d.name, "delay_s"] for d in instance.devices])
    E = np.array([dev.loc[d.name, "energy_j"] for d in instance.devices])
    P = np.array([float(deadline_penalty(d, t)) for d, t in zip(instance.devices, T)])
    social = sum(d.alpha * d.c_T * t + d.beta * d.c_E * e + p for d, t, e, p in zip(instance.devices, T, E, P))
    penalised = float(np.mean(T + np.array([p / d.c_T for d, p in zip(instance.devices, P)])))
    return dict(avg_delay_s=float(T.mean()), avg_energy_j=float(E.mean()), social_cost=float(social),
                penalised_delay_s=penalised)


def test_compare_soft_deadline_ratios_agree_with_the_written_tables(soft, tmp_path, capsys):
    out = tmp_path / "cmp"
    code, text, _ = run(capsys, "compare", SOFT, "--methods", "tpos-cai,tpos-uai,gtpos,all-local", "--out", out)
    assert code == 0
    table = pd.read_csv(out / "comparison.csv").set_index("method")
    got = {m: measures_from_tables(soft, out / m) for m in ("tpos-cai", "tpos-uai", "gtpos")}
    gt = got["gtpos"]
    # R1: the GTPOS row reports its solution's measures, as `mecopt solve -m gtpos` does, not its objective
    alone = solvers.solve(soft, "gtpos")
    assert table.loc["gtpos", "avg_delay_s"] == pytest.approx(alone.evaluation.avg_delay, rel=1e-9)
    assert table.loc["gtpos", "avg_delay_s"] == pytest.approx(gt["avg_delay_s"], rel=1e-9)
    assert table.loc["gtpos", "objective"] == pytest.approx(alone.objective, rel=1e-6)   # the penalised one
    assert table.loc["gtpos", "objective"] > 2 * table.loc["gtpos", "avg_delay_s"]
    for m in ("tpos-cai", "tpos-uai"):
        mine, row = got[m], table.loc[m]
        assert row["delay_ratio"] == pytest.approx(mine["avg_delay_s"] / gt["avg_delay_s"], rel=1e-9)
        assert row["energy_ratio"] == pytest.approx(mine["avg_energy_j"] / gt["avg_energy_j"], rel=1e-9)
        assert row["social_ratio"] == pytest.approx(mine["social_cost"] / gt["social_cost"], rel=1e-9)
        assert row["objective_ratio"] == pytest.approx(mine["penalised_delay_s"] / gt["penalised_delay_s"], rel=1e-9)
        line = next(li for li in text.splitlines() if li.startswith(f"{m}: "))
        assert f"penalised delay (avg delay + mean deadline penalty in s) / GTPOS optimum = " \
               f"{row['objective_ratio']:.6g}" in line
        assert f"avg delay / GTPOS's avg delay = {row['delay_ratio']:.6g}" in line


def test_equilibria_soft_deadline_reports_measures_and_named_ratios(soft, tmp_path, capsys):
    code, text, _ = run(capsys, "equilibria", SOFT, "--starts", "2", "--out", tmp_path)
    assert code == 0
    summary = pd.read_csv(tmp_path / "equilibria_summary.csv").set_index("measure")
    eq = pd.read_csv(tmp_path / "equilibria.csv")
    alone = solvers.solve(soft, "gtpos")                        # what `mecopt solve -m gtpos` reports
    s = summary.loc["avg_delay_s"]
    assert s["gtpos"] == pytest.approx(alone.evaluation.avg_delay, rel=1e-9)     # R1: 23.7373 s, not 150.06
    assert f"{alone.evaluation.avg_delay:.6g}" in text
    assert s["best_ratio"] == pytest.approx(eq["avg_delay_s"].min() / s["gtpos"], rel=1e-12)
    assert s["worst_ratio"] == pytest.approx(eq["avg_delay_s"].max() / s["gtpos"], rel=1e-12)
    assert "of GTPOS(delay)'s solution" in s["ratio"] and s["gtpos_is"] != "optimum"
    p = summary.loc["penalised_delay_s"]
    assert p["gtpos"] == pytest.approx(alone.objective, rel=1e-6) and p["gtpos_is"] == "optimum"
    assert p["worst_ratio"] == pytest.approx(eq["penalised_delay_s"].max() / p["gtpos"], rel=1e-12)
    assert "GTPOS(delay) optimum" in p["ratio"]
    # each equilibrium's measures agree with a re-evaluation of its written partition
    runs = pd.read_csv(tmp_path / "equilibria_runs.csv")
    for r in runs.itertuples():
        sol = solvers.solve(soft, "tpos-cai", seed=int(r.seed))
        ev = evaluate(soft, sol.profile, sol.server_of)
        assert r.avg_delay_s == pytest.approx(ev.avg_delay, rel=1e-12)
        assert r.social_cost == pytest.approx(social_cost(soft, ev), rel=1e-12)


def test_equilibria_ratio_is_an_interval_when_gtpos_is_not_proven(soft, monkeypatch):
    real = eqmod._gtpos_runs

    def unproven(instance, time_limit):
        runs = real(instance, time_limit)
        runs["social"].update(termination="time_limit", gap=0.1, bound=0.9 * runs["social"]["objective"])
        return runs
    monkeypatch.setattr(eqmod, "_gtpos_runs", unproven)
    res = eqmod.spread(soft, starts=2)
    s = res.summary.set_index("measure").loc["social_cost"]
    assert s["worst_ratio_bound"] == pytest.approx(s["worst_ratio"] / 0.9, rel=1e-12)
    assert s["gtpos_is"].startswith("incumbent (time_limit") and "social" not in res.gtpos
    assert any("in [" in li for li in res.lines()) and any("NOT proven" in li for li in res.lines())


def count_solves(monkeypatch) -> list[tuple[str, dict]]:
    """Record every method solve of compare (method, options) and let it run."""
    calls: list[tuple[str, dict]] = []
    real = solvers.solve

    def solve(instance, method, **opts):
        calls.append((method, {k: v for k, v in opts.items() if k != "progress"}))
        return real(instance, method, **opts)
    monkeypatch.setattr(comparemod.solvers, "solve", solve)
    return calls


def test_an_interrupted_compare_keeps_finished_methods_and_resumes(tmp_path, monkeypatch, capsys):
    out = tmp_path / "cmp"
    args = ("compare", FIG6, "--methods", "tpos-cai,all-local,gtpos", "--out", out)
    real = solvers.solve

    def interrupted(instance, method, **opts):
        if method == "gtpos":
            raise KeyboardInterrupt
        return real(instance, method, **opts)
    monkeypatch.setattr(comparemod.solvers, "solve", interrupted)
    code, _, err = run(capsys, *args)
    assert code == 130 and "interrupted" in err
    assert (out / "tpos-cai" / "row.json").is_file() and (out / "all-local" / "row.json").is_file()
    assert not (out / "gtpos").exists() and not list(out.glob(".*.partial"))
    assert json.loads((out / "MANIFEST.json").read_text())["complete"] is False
    monkeypatch.undo()
    assert run(capsys, *args)[0] == 2                       # a comparison is there: --resume or another --out
    other = ("compare", FIG6, "--methods", "tpos-cai,all-local,gtpos", "--seed", "3", "--out", out, "--resume")
    code, _, err = run(capsys, *other)
    assert code == 2 and "different comparison" in err
    calls = count_solves(monkeypatch)
    code, text, _ = run(capsys, *args, "--resume")
    assert code == 0 and [m for m, _ in calls] == ["gtpos"]    # finished methods are not recomputed
    assert json.loads((out / "MANIFEST.json").read_text())["complete"] is True
    comparemod.compare(load_instance(FIG6), methods=["tpos-cai", "all-local", "gtpos"], out=tmp_path / "fresh")
    resumed, fresh = (pd.read_csv(d / "comparison.csv").drop(columns="wall_s") for d in (out, tmp_path / "fresh"))
    pd.testing.assert_frame_equal(resumed, fresh)           # a resumed comparison writes the same table
    assert "tpos-cai: avg delay / GTPOS optimum" in text


def test_a_budget_is_split_over_the_time_limited_methods(monkeypatch):
    calls = count_solves(monkeypatch)
    shares = []
    real_share = comparemod.budget_share

    def share(budget, elapsed, remaining):
        shares.append((budget, elapsed, remaining, real_share(budget, elapsed, remaining)))
        return shares[-1][-1]
    monkeypatch.setattr(comparemod, "budget_share", share)
    table, _ = comparemod.compare(load_instance(FIG6), methods=["tpos-cai", "all-local", "gtpos", "tpos-uai"],
                                  budget=120, time_limit=25)
    limits = {m: o.get("time_limit") for m, o in calls}
    assert limits["all-local"] is None                       # no time_limit option: not budgeted
    assert [m for m, _ in calls] == ["all-local", "tpos-cai", "gtpos", "tpos-uai"]   # the quick one first
    assert list(table["method"]) == ["tpos-cai", "all-local", "gtpos", "tpos-uai"]   # the table keeps its order
    assert [s[2] for s in shares] == [3, 2, 1]               # what is left goes to the methods still to run
    reserve = max(comparemod.MIN_RESERVE_S, comparemod.BUDGET_RESERVE * 120)
    assert all(s[0] == 120 - reserve for s in shares)        # held back: loading, returns, writing
    assert [s[1] for s in shares] == sorted(s[1] for s in shares)
    for (_, _, _, given), m in zip(shares, ("tpos-cai", "gtpos", "tpos-uai")):
        assert limits[m] == min(25, given)                   # never above the method's own --time-limit
    assert table.set_index("method")["time_limit_s"].to_dict()["gtpos"] == limits["gtpos"]
    assert comparemod.budget_share(120, 100, 1) == 20 and comparemod.budget_share(120, 130, 2) == 1


def test_budget_is_checked_before_any_work(capsys):
    with pytest.raises(InputError, match="budget"):
        comparemod.plan(["tpos-cai"], budget=0)
    code, _, err = run(capsys, "compare", FIG6, "--budget", "nan")
    assert code == 2 and "budget" in err
    code, _, err = run(capsys, "compare", FIG6, "--resume")
    assert code == 2 and "--resume needs --out" in err


def test_equilibria_without_a_gtpos_solution_has_no_ratio_for_it(soft, monkeypatch):
    import mecopt.methods.gtpos as gtposmod
    from mecopt.core.errors import SolverError

    real = gtposmod.solve_gtpos

    def no_energy(instance, *, objective="delay", **kw):
        if objective == "energy":
            raise SolverError("GTPOS (cpsat) stopped without a feasible solution (CP-SAT UNKNOWN)")
        return real(instance, objective=objective, **kw)
    monkeypatch.setattr(gtposmod, "solve_gtpos", no_energy)
    res = eqmod.spread(soft, starts=1)
    s = res.summary.set_index("measure")
    assert s.loc["penalised_energy_j", "gtpos_is"] == "GTPOS(energy) failed: error"
    assert np.isnan(s.loc["penalised_energy_j", "best_ratio"]) and pd.notna(s.loc["penalised_delay_s", "best_ratio"])
    assert any("GTPOS (energy) returned no solution" in li for li in res.lines())


def test_the_budget_counts_from_the_given_start(monkeypatch):
    """compare(started=...) (the command's start): time spent before compare was called is not shared out."""
    calls = count_solves(monkeypatch)
    comparemod.compare(load_instance(FIG6), methods=["all-local", "tpos-cai"], budget=100,
                       started=time.perf_counter() - 90)
    reserve = max(comparemod.MIN_RESERVE_S, comparemod.BUDGET_RESERVE * 100)
    limit = dict(calls)["tpos-cai"]["time_limit"]
    assert limit <= 100 - reserve - 90 + 1e-9 and limit >= comparemod.MIN_SHARE_S
