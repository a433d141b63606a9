"""Private files and directories (0600/0700 whatever the umask, no links followed, no
directory another user can write) and the one-to-one host name -> file name mapping."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostops.errors import UsageError
from hostops.safefs import check_dir, file_name, open_private, private_dir, private_subdir

_NOBODY = pwd.getpwnam("nobody").pw_uid


@contextlib.contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


_NAMES = [
    "web01",
    "a/b",
    "a_b",
    "a%2Fb",
    "a%b",
    "%",
    "",
    ".",
    "..",
    "%2E%2E",
    "...",
    ".hidden",
    "a\nb",
    "a\x00b",
    "a\x1bb",
    "主机",
    "café",
    "x" * 300,
    "x" * 299 + "y",
    "x" * 182 + "%~" + "0" * 16,
    "é" * 150,
]


def test_file_names_are_one_to_one_and_safe():
    names = [file_name(n) for n in _NAMES]
    assert len(set(names)) == len(_NAMES)
    for name in names:
        assert "/" not in name and "\0" not in name and name not in ("", ".", "..")
        assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in name)
        assert len(name.encode()) + len(".status") <= 255
    assert file_name("web01") == "web01" and file_name("a_b") == "a_b"
    assert file_name("a/b") == "a%2Fb" and file_name("..") == "%2E%2E"


def test_file_names_are_one_to_one_over_many_similar_names():
    alphabet = ["a", "_", "/", "%", "2", "F", ".", "\n"]
    names = {a + b + c for a in alphabet for b in alphabet for c in alphabet}
    assert len({file_name(n) for n in names}) == len(names)


def test_private_dir_is_0700_with_its_new_parents_whatever_the_umask(tmp_path: Path):
    with _umask(0):
        private_dir(tmp_path / "a" / "b" / "c", "--out-dir")
    for d in ("a", "a/b", "a/b/c"):
        assert _mode(tmp_path / d) == 0o700


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o1777, 0o757])
def test_a_directory_others_or_the_group_can_write_is_refused(tmp_path: Path, mode: int):
    d = tmp_path / "shared"
    d.mkdir()
    os.chown(d, -1, grp.getgrnam("users").gr_gid)  # a group others are in
    d.chmod(mode)
    with pytest.raises(UsageError, match="writable by"):
        check_dir(d, "--out-dir")


def test_a_group_writable_directory_of_the_users_private_group_is_accepted(tmp_path: Path):
    """umask 002 systems give each user a group of their own: its write bit is safe."""
    user = pwd.getpwuid(os.geteuid())
    group = grp.getgrgid(user.pw_gid)
    assert group.gr_name == user.pw_name and set(group.gr_mem) <= {user.pw_name}
    d = tmp_path / "mine"
    d.mkdir()
    d.chmod(0o775)
    check_dir(d, "--out-dir")


def test_a_directory_of_another_user_or_a_link_is_refused(tmp_path: Path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, _NOBODY, -1)
    with pytest.raises(UsageError, match="owned by another user"):
        private_dir(theirs, "--out-dir")
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(mine)
    with pytest.raises(UsageError, match="symbolic link"):
        private_dir(tmp_path / "link", "--out-dir")
    private_dir(mine, "--out-dir")  # fine


def test_open_private_creates_0600_and_never_follows_a_link(tmp_path: Path):
    with _umask(0):
        fd = open_private(tmp_path / "new", os.O_WRONLY)
        os.close(fd)
    assert _mode(tmp_path / "new") == 0o600
    old = tmp_path / "old"
    old.write_text("x")
    old.chmod(0o644)
    os.close(open_private(old, os.O_WRONLY | os.O_APPEND))
    assert _mode(old) == 0o600
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / "planted").symlink_to(victim)
    with pytest.raises(OSError, match="symbolic link"):
        open_private(tmp_path / "planted", os.O_WRONLY | os.O_TRUNC)
    assert victim.read_text() == "keep me"
    with pytest.raises(FileExistsError):
        open_private(old, os.O_WRONLY, exclusive=True)


def test_open_private_refuses_a_file_another_user_owns(tmp_path: Path):
    theirs = tmp_path / "theirs"
    theirs.write_text("")
    theirs.chmod(0o666)
    os.chown(theirs, _NOBODY, -1)
    with pytest.raises(PermissionError, match="not a regular file of this user"):
        open_private(theirs, os.O_WRONLY | os.O_APPEND)


def test_private_subdir_refuses_a_link(tmp_path: Path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "host").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError, match="symbolic link"):
        private_subdir(str(tmp_path / "host"))
    with _umask(0):
        private_subdir(str(tmp_path / "new"))
    assert _mode(tmp_path / "new") == 0o700
