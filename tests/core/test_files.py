"""mecopt.core.files: a file appears under its final name only when complete; every OSError names the file."""

from __future__ import annotations

import errno
import os

import pytest

from mecopt.core import files
from mecopt.core.errors import InputError


def test_atomic_write_writes_and_creates_the_folder(tmp_path):
    path = files.write_text(tmp_path / "a" / "b.txt", "héllo")
    assert path.read_text(encoding="utf-8") == "héllo"
    assert [p.name for p in path.parent.iterdir()] == ["b.txt"]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG, errno.EACCES, errno.EROFS])
def test_a_write_error_names_the_file_and_keeps_the_earlier_content(tmp_path, code):
    path = files.write_text(tmp_path / "x.txt", "old")

    def partial(tmp):
        tmp.write_text("new, cut sh")
        raise OSError(code, os.strerror(code))

    with pytest.raises(InputError) as exc:
        files.atomic_write(path, partial)
    assert str(exc.value) == f"cannot write {path}: {os.strerror(code)}"
    assert exc.value.exit_code == 2
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_a_failing_fsync_leaves_no_file(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(InputError, match="No space left on device"):
        files.write_text(tmp_path / "y.txt", "data")
    assert list(tmp_path.iterdir()) == []


def test_the_file_is_flushed_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(files.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(files.os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    files.write_text(tmp_path / "z.txt", "data")
    assert events == ["fsync", "replace"]


def test_an_uncreatable_folder_is_named(tmp_path):
    (tmp_path / "f").write_text("a file")
    with pytest.raises(InputError, match=f"cannot write {tmp_path / 'f' / 'x.txt'}"):
        files.write_text(tmp_path / "f" / "x.txt", "data")


def test_other_errors_pass_through_and_clean_up(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        files.atomic_write(tmp_path / "k.txt", lambda tmp: (tmp.write_text("half"), (_ for _ in ()).throw(
            KeyboardInterrupt()))[1])
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_returning_passes_the_writers_value(tmp_path):
    path, value = files.atomic_write_returning(tmp_path / "v.txt", lambda tmp: tmp.write_text("abc"))
    assert value == 3 and path.read_text() == "abc"
