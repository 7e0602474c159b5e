"""``mecopt solve``: run one method on an instance, print the per-device table and a summary."""

from __future__ import annotations

import math
from pathlib import Path

import click

from mecopt.cli.common import echo_table, format_option, instance_argument, read_instance, writable_output
from mecopt.cli.progress import method_progress
from mecopt.core.errors import InfeasibleError, InputError, SolverError
from mecopt.core.solution import Solution, Termination
from mecopt.methods import registry as solvers

DEVICE_COLUMNS = ["device", "dnn", "partition_point", "last_slot", "delay_s", "energy_j", "price", "cost",
                  "deadline_met"]


def method_options(method: str, given: dict, extra: tuple[str, ...] = ()) -> dict:
    """The options passed to ``method``.

    The flags given plus ``--option KEY=VALUE`` pairs, converted and range-checked by ``method``'s declaration before
    any work.

    Strict, as the Python API: an option ``method`` does not declare, or a value outside its
    type, range or choices, is an InputError (exit 2) naming the option and what it must be.
    Text values (flags, ``--option``) are read by the option's declared type.
    """
    opts = {k: v for k, v in given.items() if v is not None}
    for item in extra:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"The '--option' option must look like KEY=VALUE. Got {item!r} instead.")
        opts[key.strip()] = value
    return solvers.validate_options(method, opts, text=True)


def method_help(method: str) -> list[tuple[str, str]]:
    """The options of ``method`` for ``mecopt solve --method METHOD --help``.

    (name, what the value must be, its default and what it does).
    """
    return [(o.name, o.help_line().partition(": ")[2]) for o in solvers.option_set(method).options]


class SolveCommand(click.Command):
    """``solve`` with ``--help`` listing the options of the method named by ``-m/--method``."""

    def parse_args(self, ctx, args):
        """Note the method named on the command line, so that ``--help`` can list its options."""
        for i, a in enumerate(args):
            if a in ("-m", "--method") and i + 1 < len(args):
                ctx.meta["mecopt.method"] = args[i + 1]
            elif a.startswith("--method="):
                ctx.meta["mecopt.method"] = a.partition("=")[2]
            elif a.startswith("-m") and len(a) > 2 and not a.startswith("--"):
                ctx.meta["mecopt.method"] = a[2:]
        return super().parse_args(ctx, args)

    def format_epilog(self, ctx, formatter):
        """The epilog, followed by the options of the method given with ``--method`` (or how to list them)."""
        super().format_epilog(ctx, formatter)
        method = ctx.meta.get("mecopt.method")
        if method is None:
            formatter.write_paragraph()
            formatter.write_text("mecopt solve --method METHOD --help lists METHOD's options.")
            return
        try:
            rows = method_help(method)
        except InputError as err:
            formatter.write_paragraph()
            formatter.write_text(str(err))
            return
        with formatter.section(f"Options of method {method!r} (a flag of the same name, or --option KEY=VALUE)"):
            if rows:
                formatter.write_dl(rows)
            else:
                formatter.write_text("none")


def _fmt(x, spec=".6g") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, spec) if isinstance(x, (int, float)) else str(x)


def summary_lines(sol: Solution) -> list[str]:
    """The summary printed under the device table."""
    cert = sol.certificate or {}
    gain = "-"
    if cert.get("max_gain") is not None:
        gain = f"{_fmt(cert['max_gain'])} (rel {_fmt(cert.get('max_gain_rel'))})"
    lines = [
        f"{sol.method}: termination {sol.termination}, iterations {_fmt(sol.iterations)}, "
        f"max unilateral gain {gain}, gap {_fmt(sol.gap)}, wall {sol.wall_time:.3f} s",
    ]
    if sol.profile:
        ev, viol = sol.evaluation, sol.violations
        lines.append(f"avg delay {ev.avg_delay:.6g} s, avg energy {ev.avg_energy:.6g} J, avg cost {ev.avg_cost:.6g}; "
                     f"violations {len(viol)}"
                     + (" (" + ", ".join(sorted({v.equation for v in viol})) + ")" if viol else ""))
    else:
        lines.append("no assignment")
    if sol.profile and sol.instance.K > 1:
        per = sol.server_summary()
        for sv in per["servers"]:
            avg = (f": avg delay {sv['avg_delay_s']:.6g} s, avg energy {sv['avg_energy_j']:.6g} J, avg cost "
                   f"{sv['avg_cost']:.6g}" if sv["devices"] else "")
            queued = f", {sv['queued']} queued after its frame" if sv["queued"] else ""
            lines.append(f"server {sv['server']}: {sv['devices']} of the {sv['devices_reaching']} MD(s) that reach it "
                         f"offload there{queued}{avg}")
        lines.append(f"all local (no server): {per['local_devices']} MD(s)")
    if sol.status:
        lines.append(f"status: {sol.status}")
    info = sol.info
    if "avg_delay_s_mean" in info:
        lines.append(f"over {info['draws']} draws (seed {info['seed']}): avg delay {info['avg_delay_s_mean']:.6g} "
                     f"± {info['avg_delay_s_std']:.3g} s, avg energy {info['avg_energy_j_mean']:.6g} "
                     f"± {info['avg_energy_j_std']:.3g} J, avg cost {info['avg_cost_mean']:.6g} "
                     f"± {info['avg_cost_std']:.3g}, queued {info['queued_mean']:.3g}")
    return lines


def device_table(sol: Solution):
    """The per-device table printed by ``mecopt solve`` (server and flags columns only when they say something)."""
    df = sol.devices_frame()
    cols = list(DEVICE_COLUMNS)
    if "server" in df:   # several servers: the device's server, empty when all local
        cols.insert(cols.index("dnn") + 1, "server")
    if (df["flags"] != "").any():
        cols.append("flags")
    return df[cols]


def finish(sol: Solution, out: str | None, fmt: str) -> None:
    """Write the outputs (if asked) and map the termination to the exit code (3 infeasible, 4 error)."""
    if out is not None and sol.profile:
        written = sol.write(out, fmt)
        click.echo(f"wrote {len(written)} files to {Path(out)}")
    if sol.termination == Termination.INFEASIBLE:
        raise InfeasibleError(f"{sol.method}: infeasible: {sol.status or 'no feasible assignment'}")
    if sol.termination == Termination.ERROR:
        raise SolverError(f"{sol.method}: solver failure: {sol.status or 'no usable solution'}")


@click.command("solve", cls=SolveCommand)
@instance_argument
@click.option("--method", "-m", required=True, metavar="METHOD",
              help="Solution method: tpos-cai, tpos-uai, gtpos, all-local, all-offload, isolated, or a registered one.")
@click.option("--engine", default=None, metavar="dp|milp",
              help="Best-response engine (tpos-*, isolated): dp (exact, the default of every command) or milp "
                   "(HiGHS), or a registered one. [default: dp]")
@click.option("--seed", default=None, metavar="INTEGER", help="Random seed (tpos-*, all-offload).")
@click.option("--wake-prob", default=None, metavar="FLOAT", help="Wake-up probability per tick, in (0, 1] (tpos-*).")
@click.option("--eps", default=None, metavar="FLOAT", help="Stop tolerance of the paper's rule, >= 0 (tpos-*).")
@click.option("--stop", default=None, metavar="certified|paper",
              help="Stop rule: a certified equilibrium or the paper's |dC| <= eps (tpos-*).")
@click.option("--max-iter", default=None, metavar="INTEGER", help="Iteration limit, >= 1 (tpos-*).")
@click.option("--time-limit", default=None, metavar="SECONDS",
              help="Time limit in seconds, > 0 (gtpos, tpos-*, tpos-best).")
@click.option("--objective", default=None, metavar="delay|social|energy",
              help="GTPOS objective (default: average delay, the paper's).")
@click.option("--draws", default=None, metavar="INTEGER", help="Seeded draws averaged, >= 1 (all-offload).")
@click.option("--solver", default=None, metavar="highs|cpsat|NAME",
              help="GTPOS backend: cpsat, highs, or an installed Pyomo solver (gurobi, scip, cbc, ...).")
@click.option("--option", "extra", multiple=True, metavar="KEY=VALUE",
              help="Any other option of the method (repeatable), e.g. --option tol=1e-8; "
                   "mecopt solve -m METHOD --help lists them.")
@format_option
@click.option("--out", type=click.Path(file_okay=False, path_type=str), callback=writable_output, default=None,
              help="Write assignment, devices, trace, violations and summary.json to this folder.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display (it is off anyway when not on a terminal).")
def solve_command(instance, method, engine, seed, wake_prob, eps, stop, max_iter, time_limit, objective, draws,
                  solver, extra, fmt, out, quiet):
    """Solve INSTANCE with one method and print the per-device table.

    Each flag is the method's option of the same name (--time-limit is time_limit), checked by the method's declaration
    before any work. Exit codes: 0 success (deadline misses are flagged, not errors), 2 bad input, 3 infeasible, 4
    solver failure.
    """
    given = dict(engine=engine, seed=seed, wake_prob=wake_prob, eps=eps, stop=stop, max_iter=max_iter,
                 time_limit=time_limit, objective=objective, draws=draws, solver=solver)
    opts = method_options(method, given, extra)
    inst = read_instance(instance)
    with method_progress(method, quiet, inst.N) as callback:
        if callback is not None:
            opts["progress"] = callback
        sol = solvers.solve(inst, method, **opts)
    if sol.profile:
        echo_table(device_table(sol))
    for line in summary_lines(sol):
        click.echo(line)
    finish(sol, out, fmt)


commands = [solve_command]
