"""Equilibrium quality (issue 14): tpos-best against the spread of 50 seeded TPOS-CAI equilibria.

Usage: python benchmarks/bench_equilibria.py [--starts 50] [--time-limit 300] [--cases fig6-w1khz,...]

For each case: ``mecopt equilibria --starts K`` (DP engine, GTPOS optima of delay, energy and
social cost) and ``tpos-best`` (min of the potential, warm-started from 3 CAI runs, with a time
limit). Writes benchmarks/results/equilibria.csv: the distinct equilibria, best/worst
potential and social cost, the empirical price of anarchy, tpos-best's potential, bound, gap,
certificate and price of stability, and whether tpos-best's potential is <= every equilibrium
found (``best_le_all``) and its bound <= every one (``bound_le_all``, the proof).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from results_table import save

from mecopt.core import cost as costmod
from mecopt.core.instance import instance_from_dict, load_instance, read_document
from mecopt.methods.tpos_best import solve_best
from mecopt.studies.equilibria import spread
from mecopt.studies.sweep import set_path

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "instances" / "paper"


def fig6_at(khz: float):
    data, _ = read_document(PAPER / "fig6-w0.2khz.toml")
    set_path(data, "devices.0.bandwidth_hz", khz * 1000)
    data["name"] = f"fig6-w{khz:g}khz"
    return instance_from_dict(data, base=PAPER)


CASES = {"fig6-w1khz": lambda: load_instance(PAPER / "fig6-w1khz.toml"),
         "fig6-w1.8khz": lambda: fig6_at(1.8),
         "fig5-n10": lambda: load_instance(PAPER / "fig5-n10.toml"),
         "fig10-mixed": lambda: load_instance(PAPER / "fig10-mixed.toml")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--starts", type=int, default=50)
    ap.add_argument("--time-limit", type=float, default=300.0, help="of tpos-best and each GTPOS solve")
    ap.add_argument("--cases", default=",".join(CASES))
    args = ap.parse_args(argv)
    rows = []
    for name in args.cases.split(","):
        inst = CASES[name]()
        t0 = time.perf_counter()
        res = spread(inst, starts=args.starts, gtpos_time_limit=args.time_limit)
        t_spread = time.perf_counter() - t0
        eq, s = res.equilibria, res.summary.set_index("measure")
        best = solve_best(inst, time_limit=args.time_limit)
        phi = costmod.evaluate(inst, best.profile).potential
        tol = 1e-9 * abs(phi)
        rows.append(dict(
            case=name, N=inst.N, starts=args.starts, certified=int(res.runs["certified"].sum()),
            distinct=len(eq), phi_min_found=eq["potential"].min(), phi_max_found=eq["potential"].max(),
            delay_best=s.loc["avg_delay_s", "best"], delay_worst=s.loc["avg_delay_s", "worst"],
            delay_opt=s.loc["avg_delay_s", "gtpos_optimum"], delay_poa=s.loc["avg_delay_s", "worst_ratio"],
            social_poa=s.loc["social_cost", "worst_ratio"], social_best_ratio=s.loc["social_cost", "best_ratio"],
            spread_s=round(t_spread, 1),
            best_phi=phi, best_bound=best.bound, best_gap=best.gap, best_termination=str(best.termination),
            best_certified=best.certificate["certified"], best_pos_delay=best.info.get("pos_delay"),
            best_pos_social=best.info.get("pos_social"), best_s=round(best.wall_time, 1),
            best_le_all=bool(phi <= eq["potential"].min() + tol),
            bound_le_all=bool(best.bound is not None and best.bound <= eq["potential"].min() + tol)))
        print(rows[-1], flush=True)
    save(rows, "equilibria")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
