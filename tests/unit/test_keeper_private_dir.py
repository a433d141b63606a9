"""The background process's directory is trusted only when it is a real directory of
ours, closed to everyone else (hostops.keeper.paths): anything else is refused with one
line naming it, never repaired."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from hostops.keeper import paths


def _private(path: Path) -> Path:
    path.mkdir()
    path.chmod(0o700)
    return path


def _refusal(path: Path) -> str:
    with pytest.raises(paths.PlaceError) as caught:
        paths.check_private(str(path))
    text = str(caught.value)
    assert str(path) in text and "\n" not in text
    return text


def test_a_private_directory_of_ours_is_accepted(tmp_path: Path) -> None:
    paths.check_private(str(_private(tmp_path / "mine")))


def test_a_symlink_to_a_private_directory_is_refused(tmp_path: Path) -> None:
    """Someone else's link could point the socket anywhere: refused even when its target
    would pass."""
    target = _private(tmp_path / "target")
    link = tmp_path / "link"
    link.symlink_to(target)
    assert "not a directory" in _refusal(link)
    paths.check_private(str(target))


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o711, 0o701, 0o770, 0o702])
def test_any_permission_for_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    folder = _private(tmp_path / "open")
    folder.chmod(mode)
    text = _refusal(folder)
    assert f"mode {mode:04o} lets others in" in text
    assert f"chmod 700 {folder}" in text
    assert folder.stat().st_mode & 0o777 == mode  # refused, never repaired


def test_a_directory_of_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _private(tmp_path / "theirs")
    if os.geteuid() == 0:
        os.chown(folder, 65534, 65534)  # really someone else's
        other, me = 65534, 0
    else:  # an ordinary user cannot give a directory away: be someone else instead
        other, me = os.getuid(), os.getuid() + 1
        monkeypatch.setattr(os, "getuid", lambda: me)
    assert f"owned by uid {other}, not by you (uid {me})" in _refusal(folder)


def test_a_file_or_a_missing_path_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "file"
    plain.write_text("")
    plain.chmod(0o600)
    assert "not a directory" in _refusal(plain)
    assert "No such file or directory" in _refusal(tmp_path / "missing")


def test_runtime_dir_is_made_private_under_xdg_runtime_dir(tmp_path: Path) -> None:
    base = _private(tmp_path / "run")
    old = os.umask(0)  # a careless umask must not open it
    try:
        made = paths.runtime_dir({"XDG_RUNTIME_DIR": str(base)})
    finally:
        os.umask(old)
    assert made == str(base / "hostops")
    assert os.stat(made).st_mode & 0o777 == 0o700
    assert paths.socket_path({"XDG_RUNTIME_DIR": str(base)}) == f"{made}/{paths.SOCKET}"


def test_runtime_dir_refuses_a_planted_link_or_an_open_directory(tmp_path: Path) -> None:
    base = _private(tmp_path / "run")
    elsewhere = _private(tmp_path / "elsewhere")
    (base / "hostops").symlink_to(elsewhere)
    with pytest.raises(paths.PlaceError, match="not a directory"):
        paths.runtime_dir({"XDG_RUNTIME_DIR": str(base)})
    (base / "hostops").unlink()
    (base / "hostops").mkdir(mode=0o700)
    (base / "hostops").chmod(0o755)
    with pytest.raises(paths.PlaceError, match="mode 0755 lets others in"):
        paths.runtime_dir({"XDG_RUNTIME_DIR": str(base)})


@pytest.mark.parametrize("xdg", [None, "", "relative/run", "/no/such/dir"])
def test_without_a_usable_xdg_runtime_dir_a_uid_directory_under_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, xdg: str | None
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    environ = {} if xdg is None else {"XDG_RUNTIME_DIR": xdg}
    made = paths.runtime_dir(environ)
    assert made == str(tmp_path / f"hostops-{os.getuid()}")
    assert os.stat(made).st_mode & 0o777 == 0o700
    assert os.stat(made).st_uid == os.getuid()


def test_a_uid_directory_that_cannot_be_made_names_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    with pytest.raises(paths.PlaceError) as caught:
        paths.runtime_dir({})
    assert str(caught.value).startswith(
        f"{tmp_path}/missing/hostops-{os.getuid()}: cannot make the directory: "
    )
