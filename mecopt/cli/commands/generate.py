"""``mecopt generate``: a seeded random instance, written as TOML (thin layer over :mod:`mecopt.studies.generate`)."""

from __future__ import annotations

from collections import Counter

import click

from mecopt.cli.common import FiniteFloat, writable_output
from mecopt.core import limits
from mecopt.core.errors import InputError
from mecopt.studies import generate as gen


@click.command("generate")
@click.option("--devices", "n_devices", type=click.IntRange(1, limits.MAX_DEVICES), required=True,
              help="Number of MDs N.")
@click.option("--dnn-mix", default="alexnet", show_default=True,
              help="DNN shares NAME:SHARE,... (bundled name or .toml spec); apportioned to the N MDs by "
                   "largest remainders, then shuffled.")
@click.option("--seed", type=click.IntRange(min=0), required=True, help="Seed of every draw (and of the instance).")
@click.option("--units", type=click.Choice(list(gen.UNITS)), default=gen.DEFAULT_UNITS, show_default=True,
              help="si: MHz bandwidths, a 3.4 GHz server (the bundled server delay set's), 32-bit tensor elements, "
                   "physical noise and gains; paper: the paper's Fig. 4 scale (kHz, 3,400 cycles/s, 1 bit per "
                   "element). See docs/results.md.")
@click.option("--bandwidth-mhz", default=None, help="W_n ~ U[LO, HI] MHz (or one value). Default 1:2 with --units si.")
@click.option("--bandwidth-khz", default=None,
              help="W_n ~ U[LO, HI] kHz (or one value). Default 1:2 with --units paper.")
@click.option("--gain", default=None,
              help="Channel power gain G_n ~ U[LO, HI] (linear). Default 1e-9 (si) or 1.2e6 (paper). "
                   "Not with --servers (path loss).")
@click.option("--delta", default="2000:2500", show_default=True, help="delta_n ~ U[LO, HI] cycles per bit.")
@click.option("--deadline-s", default="5", show_default=True, help="Deadline tau_n ~ U[LO, HI] seconds.")
@click.option("--weights", default=None,
              help="ALPHA,BETA,GAMMA (summing to 1) for every MD, or 'random' (uniform on the simplex, "
                   "per MD). Default: the paper's .42,.17,.41.")
@click.option("--slots", type=click.IntRange(min=1), default=5, show_default=True,
              help="Number of slots H (of every server).")
@click.option("--capacity-mode", type=click.Choice(["per_device", "total"]), default="per_device",
              show_default=True, help="How (17) caps a slot (docs/MODEL.md §4).")
@click.option("--deadline-policy", type=click.Choice(["hard", "relax", "soft"]), default="hard", show_default=True,
              help="'relax' drops (26) for MDs that cannot meet their deadline (needed for VGG at 5 s); "
                   "'soft' prices each second over the deadline (model.deadline_penalty_per_s).")
@click.option("--servers", type=click.IntRange(min=1), default=None,
              help="K edge servers placed in the plane ([[servers]], docs/multiserver.md); devices get positions, "
                   "their nearest servers and path-loss gains. Default: the paper's one server, no geometry.")
@click.option("--area-m", type=FiniteFloat(min=0, min_open=True), default=None,
              help="Side L (m) of the square holding servers and devices. Default 500 x sqrt(K).")
@click.option("--server-layout", type=click.Choice(gen.SERVER_LAYOUTS), default=None,
              help="Servers on a grid (cell centres) or uniform at random. Default grid.")
@click.option("--device-layout", type=click.Choice(gen.DEVICE_LAYOUTS), default=None,
              help="Devices uniform in the square or in Gaussian clusters around random hotspots. Default uniform.")
@click.option("--hotspots", type=click.IntRange(min=1), default=None,
              help="Clustered layout: number of hotspots. Default K.")
@click.option("--cluster-std-m", type=FiniteFloat(min=0, min_open=True), default=None,
              help="Clustered layout: spread (m, per axis) around a hotspot. Default L/20.")
@click.option("--reach", type=click.IntRange(min=1), default=None,
              help="Each device reaches its R nearest servers (capped at K). Default 3.")
@click.option("--pathloss", type=click.Choice(["3gpp-umi", "log-distance"]), default=None,
              help="Path-loss model of [channel]. Default 3gpp-umi.")
@click.option("--noise-w-per-hz", type=FiniteFloat(min=0, min_open=True), default=None,
              help="Noise density N0 of every device with --servers. Default 3.98e-21 (-174 dBm/Hz).")
@click.option("--name", default=None, help="Instance name (default gen-nN-sSEED, with --servers gen-nN-kK-sSEED).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=str), callback=writable_output,
              required=True, help="The .toml file to write (atomically); a .json path writes the same document "
                                  "as JSON, read ~20x faster (100,000 devices).")
def generate_cmd(n_devices, dnn_mix, seed, units, bandwidth_mhz, bandwidth_khz, gain, delta, deadline_s, weights,
                 slots, capacity_mode, deadline_policy, servers, area_m, server_layout, device_layout, hotspots,
                 cluster_std_m, reach, pathloss, noise_w_per_hz, name, out):
    """Generate a random instance from a seed and write it as TOML.

    The same options give a byte-identical file. The instance is validated before
    it is written, so the file always loads (exit 2 otherwise, nothing written).
    SI units are the default (--units paper for the paper's scale). DNN spec
    files are written relative to the output file.
    With --servers K, K servers and the devices are placed in a square and each
    device reaches its --reach nearest servers through the --pathloss channel.
    """
    geometry = dict(servers=servers, area_m=area_m, server_layout=server_layout, device_layout=device_layout,
                    hotspots=hotspots, cluster_std_m=cluster_std_m, reach=reach, pathloss=pathloss,
                    noise_w_per_hz=noise_w_per_hz)
    if bandwidth_khz is not None and bandwidth_mhz is not None:
        raise InputError("--bandwidth-khz, --bandwidth-mhz: give the bandwidth range in one unit only")
    if servers is None:
        given = [f"--{k.replace('_', '-')}" for k, v in geometry.items() if v is not None]
        if given:
            raise InputError(f"{', '.join(given)}: only with --servers K (several edge servers)")
    elif gain is not None:
        raise InputError("--gain is not used with --servers: the channel gains come from the path loss "
                         "(--pathloss, --area-m)")
    try:
        data = gen.generate_instance(n_devices, dnn_mix, seed, units=units, bandwidth_khz=bandwidth_khz,
                                     bandwidth_mhz=bandwidth_mhz, gain=gain, delta=delta,
                                     deadline_s=deadline_s, weights=weights, slots=slots,
                                     capacity_mode=capacity_mode, deadline_policy=deadline_policy, name=name,
                                     **geometry)
    except gen.GeneratedInstanceError as err:
        if not any("deadline" in msg for _, msg in err.problems):
            raise
        hint = ("rerun with --deadline-policy relax (drops (26) for devices that cannot meet it) or a longer "
                "--deadline-s" if deadline_policy == "hard" else "rerun with a longer --deadline-s")
        raise InputError(f"the generated instance does not load; {hint}", err.problems) from None
    path = gen.write_instance(data, out)
    kinds = Counter(d["dnn"] for d in data["devices"])
    where = f", {len(data['servers'])} servers" if "servers" in data else ""
    click.echo(f"wrote {path}: {len(data['devices'])} MDs ("
               + ", ".join(f"{k} x{v}" for k, v in kinds.items()) + f"){where}, seed {seed}")


commands = [generate_cmd]
