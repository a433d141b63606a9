"""SFTP transfers against real sshd: atomic uploads, identical content skipped, modes,
directories, root installs through a runner, per-host downloads, clear failures."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from system_users import ordinary_user

from hostops.host.base import HostFailure
from hostops.host.sftp import SftpSession, TransferResult
from hostops.host.ssh import SshConnection, SshContext
from hostops.host.transfer import download_path
from hostops.models import RunOptions, Status
from hostops.testing import SshdFleet

Connect = Callable[..., SftpSession]


@pytest.fixture
def connect(sshd_fleet: SshdFleet) -> Iterator[Connect]:
    """Open SFTP sessions to fleet hosts, as the worker opens its connections."""
    opened: list[tuple[SshConnection, SftpSession]] = []

    def open_session(index: int = 0, user: str | None = None) -> SftpSession:
        host = sshd_fleet.host(index, user=user)
        conn = SshConnection(host, SshContext(RunOptions(), lambda _: None), lambda _: None)
        session = SftpSession(conn, timeout=20)
        opened.append((conn, session))
        return session

    yield open_session
    for conn, session in opened:
        session.close()
        conn.close()


@pytest.fixture
def area() -> Iterator[Path]:
    """A directory every fleet user can reach (the fleet runs on this machine; pytest's
    own tmp directories are private to us)."""
    path = Path(tempfile.mkdtemp(prefix="hostops-sftp-"))
    os.chmod(path, 0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.rglob("*") if "hostops-tmp" in p.name]


def test_upload_a_file_then_skip_it_while_unchanged(connect: Connect, tmp_path: Path) -> None:
    session = connect()
    src = tmp_path / "app.conf"
    src.write_bytes(b"port = 80\n" * 1000)
    dest = tmp_path / "remote" / "app.conf"
    dest.parent.mkdir()

    first = session.upload(str(src), str(dest))
    assert first == TransferResult(True, 10000, files=(str(dest),))
    assert dest.read_bytes() == src.read_bytes()
    before = dest.stat()

    again = session.upload(str(src), str(dest))
    assert again == TransferResult(False, 0, unchanged=(str(dest),))
    after = dest.stat()
    # Not written at all: same inode (no rename) and same mtime.
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    # Same size, other content: found by the remote checksum, replaced.
    src.write_bytes(b"port = 81\n" * 1000)
    changed = session.upload(str(src), str(dest))
    assert changed.changed and changed.bytes == 10000
    assert dest.read_bytes() == src.read_bytes() and dest.stat().st_ino != before.st_ino
    assert leftovers(dest.parent) == []


def test_a_file_goes_into_a_directory_destination(connect: Connect, tmp_path: Path) -> None:
    session = connect()
    src = tmp_path / "motd"
    src.write_text("hello\n")
    (tmp_path / "etc").mkdir()
    result = session.upload(str(src), str(tmp_path / "etc"))
    assert result.files == (str(tmp_path / "etc" / "motd"),)
    result = session.upload(str(src), f"{tmp_path / 'etc'}/")
    assert result.unchanged == (str(tmp_path / "etc" / "motd"),)


def test_modes(connect: Connect, tmp_path: Path) -> None:
    session = connect()
    src = tmp_path / "run.sh"
    src.write_text("#!/bin/sh\necho hi\n")
    dest = tmp_path / "bin" / "run.sh"
    dest.parent.mkdir()

    session.upload(str(src), str(dest), mode=0o750)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o750
    inode = dest.stat().st_ino

    # Same content, other mode: only the mode changes (no rewrite), and that is a change.
    result = session.upload(str(src), str(dest), mode=0o700)
    assert result.changed and result.files == (str(dest),) and result.bytes == 0
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700 and dest.stat().st_ino == inode

    # No mode given: the replaced file's mode is kept.
    src.write_text("#!/bin/sh\necho changed\n")
    session.upload(str(src), str(dest))
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700 and dest.read_text().endswith("changed\n")


def test_the_replace_is_atomic(connect: Connect, tmp_path: Path) -> None:
    session = connect()
    size = 8 << 20
    src = tmp_path / "big"
    src.write_bytes(b"b" * size)
    dest = tmp_path / "remote-big"
    dest.write_bytes(b"a" * size)
    reads = {"whole": 0, "torn": 0}
    done = threading.Event()

    def read_all_the_time() -> None:
        while not done.is_set():
            data = dest.read_bytes()
            reads["whole" if data in (b"a" * size, b"b" * size) else "torn"] += 1

    reader = threading.Thread(target=read_all_the_time)
    reader.start()
    try:
        session.upload(str(src), str(dest))
    finally:
        done.set()
        reader.join()
    assert reads["torn"] == 0, "a reader saw a partial file"
    assert reads["whole"] > 0
    assert dest.read_bytes() == src.read_bytes()
    assert leftovers(tmp_path) == []


def test_directories_are_mirrored_recursively(connect: Connect, tmp_path: Path) -> None:
    session = connect()
    site = tmp_path / "site"
    (site / "css").mkdir(parents=True)
    (site / "empty").mkdir()
    (site / "index.html").write_text("<h1>hi</h1>\n")
    (site / "css" / "main.css").write_text("body {}\n")
    (site / "link.html").symlink_to(site / "index.html")  # a link to a file: its content
    (site / "loop").symlink_to(site)  # a link to a directory: skipped
    dest = tmp_path / "www" / "site"  # neither exists yet
    dest.parent.mkdir()

    result = session.upload(str(site), str(dest))
    assert result.changed
    assert sorted(result.files) == sorted(
        str(dest / p) for p in ("index.html", "link.html", "css/main.css")
    )
    assert result.skipped == (str(site / "loop"),)
    assert (dest / "css" / "main.css").read_text() == "body {}\n"
    assert (dest / "link.html").read_text() == "<h1>hi</h1>\n" and not (
        dest / "link.html"
    ).is_symlink()
    assert (dest / "empty").is_dir()

    again = session.upload(str(site), str(dest))
    assert not again.changed and len(again.unchanged) == 3

    (site / "css" / "main.css").write_text("body { margin: 0 }\n")
    third = session.upload(str(site), str(dest))
    assert third.files == (str(dest / "css" / "main.css"),) and len(third.unchanged) == 2
    assert leftovers(dest) == []


def test_relative_destinations_start_in_the_home_directory(
    connect: Connect, tmp_path: Path
) -> None:
    user = ordinary_user()
    session = connect(user=user)
    src = tmp_path / "note.txt"
    src.write_text("note\n")
    os.chmod(tmp_path, 0o755)
    os.chmod(src, 0o644)
    home = Path(pwd.getpwnam(user).pw_dir)
    target = home / "hostops-sftp-test.txt"
    try:
        result = session.upload(str(src), "hostops-sftp-test.txt")
        assert result.files == (str(target),) and target.read_text() == "note\n"
        assert target.stat().st_uid == pwd.getpwnam(user).pw_uid
    finally:
        target.unlink(missing_ok=True)


def test_failures_are_clear(connect: Connect, tmp_path: Path, area: Path) -> None:
    user = ordinary_user()
    session = connect(user=user)
    src = area / "f"
    src.write_text("x")
    os.chmod(src, 0o644)
    locked = area / "locked"
    locked.mkdir()
    os.chmod(locked, 0o555)

    with pytest.raises(HostFailure) as err:
        session.upload(str(src), str(locked / "f"))
    assert err.value.status is Status.FAILED
    assert err.value.message == f"upload to {locked / 'f'}: permission denied"

    with pytest.raises(HostFailure) as err:
        session.upload(str(src), str(area / "no" / "such" / "dir" / "f"))
    assert err.value.message == (
        f"remote directory {area / 'no'} does not exist (--parents creates it, as mkdir -p)"
    )

    with pytest.raises(HostFailure) as err:
        session.upload(str(area / "missing"), str(area / "x"))
    assert err.value.message == f"local {area / 'missing'}: no such file or directory"

    with pytest.raises(HostFailure) as err:
        session.download(str(area / "nope.log"), str(tmp_path / "out"), "web01")
    assert (err.value.status, err.value.message) == (
        Status.FAILED,
        f"remote {area / 'nope.log'}: no such file or directory",
    )
    # The session still works after failures.
    assert session.upload(str(src), str(area / "ok")).changed


def test_root_installs_keep_owner_and_mode(connect: Connect, tmp_path: Path, area: Path) -> None:
    """Staged as an ordinary user, installed by a root runner (here a root session, as
    sudo would be), atomically, owner and mode of the replaced file kept."""
    user = ordinary_user()
    session = connect(user=user)
    root = connect(user="root" if os.geteuid() == 0 else None)
    commands: list[str] = []

    def as_root(command: str):  # type: ignore[no-untyped-def]
        commands.append(command)
        return root.run(command)

    etc = area / "etc"
    etc.mkdir()
    os.chmod(etc, 0o755)
    existing = etc / "app.conf"
    existing.write_text("old\n")
    os.chmod(existing, 0o640)
    if os.geteuid() == 0:
        os.chown(existing, 0, 42)
    owner = (existing.stat().st_uid, existing.stat().st_gid)
    src = area / "app.conf"
    src.write_text("new\n")
    os.chmod(src, 0o644)

    result = session.upload(str(src), str(existing), as_root=as_root)
    assert result.changed and result.files == (str(existing),)
    assert existing.read_text() == "new\n"
    assert stat.S_IMODE(existing.stat().st_mode) == 0o640
    assert (existing.stat().st_uid, existing.stat().st_gid) == owner
    assert len(commands) == 2 and "sha256sum" in commands[0] and "install" in commands[1]
    staging = re.search(r"/tmp/\.hostops-[0-9a-f]+", commands[1])
    assert staging and not Path(staging.group(0)).exists()
    assert leftovers(etc) == []

    # Identical now: hashed as root, nothing installed.
    commands.clear()
    again = session.upload(str(src), str(existing), as_root=as_root)
    assert not again.changed and len(commands) == 1

    # A new file with a mode; a directory tree.
    new = etc / "new.conf"
    session.upload(str(src), str(new), mode=0o600, as_root=as_root)
    assert stat.S_IMODE(new.stat().st_mode) == 0o600
    tree = area / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f").write_text("f\n")
    os.chmod(tree, 0o755)
    os.chmod(tree / "sub", 0o755)
    os.chmod(tree / "sub" / "f", 0o644)
    session.upload(str(tree), str(etc / "tree"), as_root=as_root)
    assert (etc / "tree" / "sub" / "f").read_text() == "f\n"
    if os.geteuid() == 0:
        assert (etc / "tree" / "sub" / "f").stat().st_uid == 0

    # A failing install is the host's failure, with what the command said.
    (etc / "file").write_text("")
    with pytest.raises(HostFailure) as err:
        session.upload(str(src), str(etc / "file" / "x"), as_root=as_root)
    assert err.value.status is Status.FAILED and "install" in err.value.message

    # Missing parents, made as root with --parents (root's, mode per its umask).
    deep = etc / "a" / "b" / "app.conf"
    with pytest.raises(HostFailure, match=r"does not exist \(--parents creates it"):
        session.upload(str(src), str(deep), as_root=as_root)
    session.upload(str(src), str(deep), as_root=as_root, parents=True)
    assert deep.read_text() == "new\n"
    if os.geteuid() == 0:
        assert (etc / "a").stat().st_uid == 0 and (etc / "a" / "b").stat().st_uid == 0


def test_parents_creates_the_missing_directories_of_the_destination(
    connect: Connect, tmp_path: Path
) -> None:
    session = connect()
    src = tmp_path / "motd"
    src.write_text("hello\n")
    deep = tmp_path / "remote" / "a" / "b" / "motd"
    with pytest.raises(HostFailure) as err:
        session.upload(str(src), str(deep))
    assert err.value.status is Status.FAILED
    assert "remote directory" in err.value.message and "--parents" in err.value.message
    assert not (tmp_path / "remote").exists()  # nothing made without --parents
    first = session.upload(str(src), str(deep), parents=True)
    assert first.changed and deep.read_text() == "hello\n"
    # As mkdir -p: made with the remote umask (sshd's 022 here), never world-writable.
    assert stat.S_IMODE((tmp_path / "remote" / "a").stat().st_mode) == 0o755
    again = session.upload(str(src), str(deep), parents=True)
    assert not again.changed
    # A directory tree into a missing parent, too.
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f").write_text("f\n")
    session.upload(str(tree), str(tmp_path / "far" / "away" / "tree"), parents=True)
    assert (tmp_path / "far" / "away" / "tree" / "sub" / "f").read_text() == "f\n"


def test_downloads_go_to_a_directory_per_host(connect: Connect, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    (logs / "app").mkdir(parents=True)
    (logs / "app" / "app.log").write_text("started\n")
    (logs / "syslog").write_text("boot\n")
    (logs / "current").symlink_to(logs / "syslog")  # remote links are not followed
    out = tmp_path / "out"

    for index, name in ((0, "web01"), (1, "web02")):
        session = connect(index)
        single = session.download(str(logs / "syslog"), str(out), name)
        local = Path(download_path(str(out), name, str(logs / "syslog")))
        assert single == TransferResult(True, 5, files=(str(local),))
        assert local.read_text() == "boot\n"
        tree = session.download(str(logs), str(out), name)
        base = Path(download_path(str(out), name, str(logs)))
        assert tree.files == (str(base / "app" / "app.log"),)
        assert tree.unchanged == (str(base / "syslog"),)  # already downloaded, same content
        assert tree.bytes == len("started\nboot\n")
        assert tree.skipped == (str(logs / "current"),)
        assert (base / "app" / "app.log").read_text() == "started\n"
    assert (out / "web01").is_dir() and (out / "web02").is_dir()
    assert str(out / "web01") + str(logs) == download_path(str(out), "web01", str(logs))
    assert leftovers(out) == []


@pytest.mark.parametrize(
    ("host", "remote", "expected"),
    [
        ("web01", "/etc/hosts", "out/web01/etc/hosts"),
        ("web01", "notes/a.txt", "out/web01/notes/a.txt"),
        ("web01", "/var/log/../log/x", "out/web01/var/log/x"),
        ("web01", ".", "out/web01"),
        # host names are file names one-to-one (hostops.safefs.file_name)
        ("..", "/x", "out/%2E%2E/x"),
        ("a/b", "/x", "out/a%2Fb/x"),
        ("a_b", "/x", "out/a_b/x"),
    ],
)
def test_download_paths(host: str, remote: str, expected: str) -> None:
    assert download_path("out", host, remote) == expected


@pytest.mark.parametrize(
    ("host", "remote"), [("web01", "../x"), ("web01", "a/../../x"), ("..", "../x")]
)
def test_download_paths_never_leave_the_host_directory(host: str, remote: str) -> None:
    with pytest.raises(ValueError):
        download_path("out", host, remote)
