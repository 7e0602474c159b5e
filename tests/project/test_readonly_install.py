"""Issue 23 T3: the DP paths run from a read-only install as a user who can write no numba cache.

The wheel is built once for the module, installed (``pip install --target``) into a folder made
read-only, and run in a subprocess with HOME and XDG_CACHE_HOME unwritable. As root the subprocess
drops to ``nobody`` with ``setpriv`` (root writes anywhere, read-only bits included); as another user the bits are
enough. numba then has neither its in-tree nor its user-wide cache: :mod:`mecopt.bestresponse.jit`
uses a private temporary folder, or no cache, and the results are those of the normal install.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534


def _read_only(path: Path) -> None:
    for p in [path, *path.rglob("*")]:
        mode = p.stat().st_mode
        p.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@pytest.fixture(scope="module")
def install():
    """(site folder, run(argv, tmpdir) -> CompletedProcess, as_root, root) for the wheel installed read-only.

    Everything lives in a fresh folder of the system's temporary directory that ``nobody`` can read
    (pytest's own temporary folders are private to the user running it).
    """
    root = Path(tempfile.mkdtemp(prefix="mecopt-readonly-"))
    root.chmod(0o755)
    dist, site = root / "dist", root / "site"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(REPO), "-w", str(dist)],
                           capture_output=True, text=True)
    if built.returncode:
        pytest.skip(f"cannot build the wheel here: {built.stderr[-300:]}")
    wheel = next(dist.glob("mecopt-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    _read_only(site)
    as_root = os.geteuid() == 0
    setpriv = shutil.which("setpriv")
    if as_root and setpriv is None:
        pytest.skip("running as root without setpriv: cannot drop privileges to test an unwritable cache")
    nowhere = root / "unwritable"
    nowhere.mkdir(mode=0o555)

    def run(argv: list[str], tmpdir: Path) -> subprocess.CompletedProcess:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(site), "HOME": str(nowhere),
               "XDG_CACHE_HOME": str(nowhere), "TMPDIR": str(tmpdir), "MPLBACKEND": "Agg"}
        drop = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"] if as_root else []
        return subprocess.run([*drop, sys.executable, *argv], capture_output=True, text=True, env=env, cwd=tmpdir,
                              timeout=600)

    probe_dir = root / "probe"
    probe_dir.mkdir()
    if as_root:
        os.chown(probe_dir, NOBODY, NOBODY)
    probe = run(["-c", "import mecopt, numba, pathlib; print(pathlib.Path(mecopt.__file__).parent)"], probe_dir)
    if probe.returncode:
        pytest.skip(f"this interpreter cannot run as an unprivileged user here: {probe.stderr[-300:]}")
    assert Path(probe.stdout.strip()) == site / "mecopt"
    yield site, run, as_root, root
    for p in [root, *root.rglob("*")]:
        p.chmod(p.stat().st_mode | stat.S_IWUSR)
    shutil.rmtree(root, ignore_errors=True)


def _workdir(parent: Path, as_root: bool, writable: bool = True) -> Path:
    parent.mkdir(mode=0o755)
    if as_root:
        os.chown(parent, NOBODY, NOBODY)
    if not writable:
        parent.chmod(0o555)
    return parent


def _summary(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(("tpos-cai:", "avg delay"))]


def test_dp_paths_run_read_only_without_any_cache_folder(install, capsys):
    site, run, as_root, root = install
    # no writable temporary folder either: numba compiles without a cache
    work = _workdir(root / "bare", as_root, writable=False)
    solve = run(["-m", "mecopt", "solve", "paper:fig6-w1khz", "-m", "tpos-cai"], work)
    assert solve.returncode == 0, solve.stderr[-2000:]
    assert "cannot cache" not in solve.stderr and "Traceback" not in solve.stderr
    from helpers import run as run_here  # the same command from the normal install gives the same numbers

    code, out, _ = run_here(capsys, "solve", "paper:fig6-w1khz", "-m", "tpos-cai")
    assert code == 0
    strip = [line.split(", wall")[0] for line in _summary(out)]
    assert [line.split(", wall")[0] for line in _summary(solve.stdout)] == strip


def test_equilibria_run_read_only_with_a_private_cache(install):
    # one process is enough: it compiles into the private folder (simulate uses the same kernels)
    site, run, as_root, root = install
    work = _workdir(root / "tmp", as_root)
    eq = run(["-m", "mecopt", "equilibria", "paper:fig6-w1khz", "--starts", "2", "--out", str(work / "eq")], work)
    assert eq.returncode == 0, eq.stderr[-2000:]
    assert (work / "eq").exists() and "Traceback" not in eq.stderr
    cache = work / f"mecopt-numba-{NOBODY if as_root else os.getuid()}"
    assert cache.is_dir() and any(cache.rglob("*.nbi"))   # the private cache was used
    assert not any(p.name.endswith((".nbi", ".nbc")) for p in site.rglob("*"))
