"""Helpers shared by the test modules (importable thanks to pytest's ``pythonpath = ["tests"]``)."""

from __future__ import annotations

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
