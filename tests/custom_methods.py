"""Methods and an engine defined outside mecopt, for the extension-point tests
(tests/methods/test_extensions.py). Top-level functions of an importable module, so that
the spawned worker processes of ``mecopt sweep`` can import them by name."""

from __future__ import annotations

import enumeration


def local_profile(instance):
    """Every layer local: a feasible profile (the same as Case 4, all-local)."""
    return [[0] * d.M for d in instance.devices]


def crowd_slot(instance, *, slot: int = 1):
    """Every layer of every device in one server slot: breaks the capacity (17)."""
    return [[slot] * d.M for d in instance.devices]


class EnumerationEngine:
    """The brute-force oracle (tests/enumeration.py) behind the Engine protocol."""

    def __init__(self, instance):
        self.instance = instance
        self.calls = 0

    def best_response(self, n, others):
        self.calls += 1
        return enumeration.best_response(self.instance.devices[n], self.instance.server, others)
