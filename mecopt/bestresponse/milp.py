"""Best response (problem 28) of one MD as a MILP, solved by HiGHS: the engine of ``engine="milp"``.

The formulation, and the persistent HiGHS model re-solved per best response, are
:class:`mecopt.milp.best_response.MILPDevice` (docs/milp.md); this module adapts it to the
engine protocol of :mod:`mecopt.bestresponse.engines`.
"""

from __future__ import annotations

from mecopt.core.instance import Device, Instance, Server
from mecopt.core.problem import Aggregates, BestResponse
from mecopt.milp.best_response import MILPDevice


class MILPEngine:
    """The MILP engine for every device of an instance (same interface as :class:`mecopt.bestresponse.dp.DPEngine`).

    Each device's model is built on its first best response and kept.

    Parameters
    ----------
    instance : Instance
        A single-server instance (or server view).
    tie_break : bool, default True
        Whether ties are broken by theta_n.
    **solver_options
        HiGHS options of every device's model.
    """

    name = "milp"

    def __init__(self, instance: Instance, tie_break: bool = True, **solver_options):
        self.instance = instance
        self.tie_break = tie_break
        self.solver_options = solver_options
        self.devices: list[MILPDevice | None] = [None] * instance.N
        self.calls = 0

    def device(self, n: int) -> MILPDevice:
        """The MILP model of device ``n``, built on first use.

        Parameters
        ----------
        n : int
            Device index.

        Returns
        -------
        MILPDevice
            Its model.
        """
        if self.devices[n] is None:
            self.devices[n] = MILPDevice(self.instance.devices[n], self.instance.server, self.tie_break,
                                         **self.solver_options)
        return self.devices[n]

    def best_response(self, n: int, others: Aggregates) -> BestResponse:
        """Exact best response (28) of device ``n`` against ``others`` (counted as a best-response call).

        Parameters
        ----------
        n : int
            Device index.
        others : Aggregates
            The other MDs' aggregates per slot on the server.

        Returns
        -------
        BestResponse
            The best response (28).
        """
        self.calls += 1
        return self.device(n).best_response(others)


def best_response(dev: Device, server: Server, others: Aggregates, tie_break: bool = True) -> BestResponse:
    """One-off MILP best response of ``dev`` against ``others`` (builds the model).

    Parameters
    ----------
    dev : Device
        The MD.
    server : Server
        Its server.
    others : Aggregates
        The other MDs' aggregates per slot on the server.
    tie_break : bool, default True
        Whether ties are broken by theta_n.

    Returns
    -------
    BestResponse
        The best response (28).
    """
    return MILPDevice(dev, server, tie_break).best_response(others)
