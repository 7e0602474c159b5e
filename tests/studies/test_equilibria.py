"""Spread of equilibria (mecopt equilibria) and tpos-best against it."""

from __future__ import annotations

import pytest
from game.test_game import small_instance  # tests/game
from helpers import run

from mecopt.core import cost as costmod
from mecopt.core.errors import InputError
from mecopt.methods.tpos_best import solve_best
from mecopt.studies.equilibria import spread

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver


def test_spread_deduplicates_and_ratios_are_against_gtpos():
    inst = small_instance(N=4, gamma=0.3, H=3, B=2, dnn="lenet")
    res = spread(inst, starts=6)
    runs, eq = res.runs, res.equilibria
    assert len(runs) == 6 and runs["seed"].tolist() == list(range(6))
    assert eq["count"].sum() == runs["certified"].sum()
    assert len(eq) == runs.loc[runs["certified"], "equilibrium"].nunique()
    s = res.summary.set_index("measure")
    assert s.loc["social_cost", "best"] == pytest.approx(eq["social_cost"].min())
    assert s.loc["social_cost", "worst_ratio"] == pytest.approx(eq["social_cost"].max() / res.gtpos["social"])
    assert s.loc["avg_delay_s", "best_ratio"] >= 1 - 1e-9       # no equilibrium beats the optimum
    # tpos-best: a certified equilibrium whose potential no equilibrium found undercuts beyond the proven bound
    best = solve_best(inst, pos=False)
    assert best.certificate["certified"]
    assert best.bound <= eq["potential"].min() * (1 + 1e-9)
    assert costmod.evaluate(inst, best.profile).potential <= eq["potential"].min() * (1 + 1e-9)


def test_cli_equilibria_writes_tables_and_histogram(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    code, out, _ = run(capsys, "equilibria", "paper:fig6-w1khz", "--starts", "3", "--no-gtpos", "--out", tmp_path)
    assert code == 0 and "3 start(s), 3 certified" in out
    for name in ("equilibria_runs.csv", "equilibria.csv", "equilibria_summary.csv", "equilibria.png"):
        assert (tmp_path / name).is_file()


def test_bad_starts_is_an_input_error(capsys):
    with pytest.raises(InputError, match="starts"):
        spread(small_instance(N=2), starts=0)
    assert run(capsys, "equilibria", "paper:fig6-w1khz", "--starts", "0")[0] == 2
