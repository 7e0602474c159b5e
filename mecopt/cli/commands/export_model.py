"""``mecopt export-model``: write the GTPOS or best-response MILP as solved (MPS or LP) plus a sidecar JSON."""

from __future__ import annotations

import click

from mecopt.cli.common import instance_argument, read_instance, writable_output


@click.command("export-model")
@instance_argument
@click.option("--problem", type=click.Choice(["gtpos", "best-response"]), default="gtpos", show_default=True)
@click.option("--device", type=click.IntRange(min=0), default=None,
              help="Device index (0-based) for --problem best-response (against the others all local).")
@click.option("--server", default=None,
              help="Several servers: the server (name) of the --problem best-response export.")
@click.option("--format", "fmt", type=click.Choice(["mps", "lp"]), default="mps", show_default=True)
@click.option("--objective", type=click.Choice(["delay", "social", "energy"]), default="delay", show_default=True,
              help="GTPOS objective.")
@click.option("--no-aggregate", is_flag=True, help="One network per device instead of one per device class.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=str), callback=writable_output,
              help="Model file to write (and OUT.json), atomically.")
def export_model_command(instance, problem, device, server, fmt, objective, no_aggregate, out):
    """Write the MILP mecopt solves for INSTANCE to OUT, and OUT.json mapping variable names to
    y[n,m,h] (and flows to arcs: mecopt.milp.export.profile_from_values turns a solver's values
    into an assignment for `mecopt check`; with several servers assignment_from_values also gives
    each device's server).
    """  # noqa: D205 (click prints this docstring as the --help text, unchanged)
    from mecopt.milp.export import export_model

    model, sidecar = export_model(read_instance(instance), out, problem=problem, fmt=fmt, objective=objective,
                                  device=device, aggregate=not no_aggregate, server=server)
    click.echo(f"wrote {model} and {sidecar}")


commands = [export_model_command]
