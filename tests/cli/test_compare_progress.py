"""compare's progress line: the method's place and time limit, its phase, then what it reports."""

from __future__ import annotations

import pytest

from mecopt.cli import progress


@pytest.fixture
def terminal(monkeypatch):
    monkeypatch.setattr(progress, "interactive", lambda: True)


def test_the_line_is_headed_by_the_label_and_shows_the_phase(terminal):
    with progress.method_progress("gtpos", quiet=False, n_devices=5, label="[4/7] gtpos, limit 30 s") as callback:
        assert callback is not None and callback.bar.desc == "[4/7] gtpos, limit 30 s"
        callback(dict(phase="polish", incumbent=2.5, bound=2.0, gap=0.2, time_s=1.0))
        assert callback.bar.postfix.startswith("polish: incumbent 2.5, bound 2, gap 20%")
    with progress.method_progress("all-local", quiet=False) as callback:
        assert callback is None                      # no progress option: the elapsed time only


def test_quiet_or_redirected_shows_nothing(monkeypatch):
    with progress.method_progress("gtpos", quiet=True, label="x") as callback:
        assert callback is None
    monkeypatch.setattr(progress, "interactive", lambda: False)
    with progress.method_progress("gtpos", quiet=False, label="x") as callback:
        assert callback is None
