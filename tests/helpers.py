"""Helpers shared by the test modules (importable thanks to pytest's ``pythonpath = ["tests"]``)."""

from __future__ import annotations

import numpy as np

from mecopt.cli import main


def run(capsys, *args) -> tuple[int, str, str]:
    """Run ``mecopt ARGS`` in-process through the console entry point; returns (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def random_multiserver_doc(seed: int, K: int, N: int, mode: str, policy: str) -> dict:
    """A random several-server instance document: own H, B and prices per server, random reach and gains, LeNet and
    AlexNet MDs; deadlines tight enough to bind (under ``hard``: loose enough to be met by some strategy)."""
    rng = np.random.default_rng(seed)
    servers = [dict(name=f"e{k}", slots=int(rng.integers(1, 5)), frame_s=float(rng.uniform(0.2, 0.8)),
                    parallel_limit=int(rng.integers(1, 4)), freq_cycles_per_s=float(rng.uniform(50, 200)),
                    price_base=float(rng.uniform(0.5, 2)), price_growth=float(rng.uniform(0.5, 3)))
               for k in range(K)]
    devices = []
    for n in range(N):
        reach = sorted(rng.choice(K, size=int(rng.integers(1, K + 1)), replace=False).tolist())
        devices.append(dict(name=f"d{n}", dnn=str(rng.choice(["lenet", "alexnet"])),
                            servers=[f"e{k}" for k in reach],
                            channel_gain=[float(g) for g in rng.uniform(2e5, 3e6, size=K)],
                            delta_cycles_per_bit=float(rng.uniform(1, 5)), alpha=0.4, beta=0.2, gamma=0.4,
                            deadline_s=float(rng.uniform(3.6, 5.0) if policy == "hard" else rng.uniform(0.01, 0.08))))
    return dict(name="random", seed=seed, servers=servers, devices=devices,
                model=dict(bits_per_element=1.0, price_scale=1.0, capacity_mode=mode, deadline_policy=policy))
