"""Remote directories an upload creates: one made meanwhile by another host sharing the
home (NFS) or by another run is what was wanted (mkdir -p), anything else fails."""

from __future__ import annotations

import stat

import paramiko
import pytest
from pytest_mock import MockerFixture

from hostops.host.base import HostFailure
from hostops.host.sftp import SftpSession
from hostops.models import Status


def _session(mocker: MockerFixture, found: int | None) -> SftpSession:
    sftp = mocker.Mock(spec=paramiko.SFTPClient)
    sftp.mkdir.side_effect = OSError("Failure")  # what OpenSSH's and dropbear's servers say
    if found is None:
        sftp.stat.side_effect = FileNotFoundError(2, "No such file")
    else:
        sftp.stat.return_value = paramiko.SFTPAttributes.from_stat(
            mocker.Mock(st_mode=found, st_size=0, st_uid=0, st_gid=0, st_atime=0, st_mtime=0)
        )
    conn = mocker.Mock()
    conn.open_sftp.return_value = sftp
    return SftpSession(conn)


def test_a_directory_made_meanwhile_is_no_failure(mocker: MockerFixture) -> None:
    session = _session(mocker, stat.S_IFDIR | 0o755)
    assert session._write_direct(["/home/u/put"], [], {}, None, []) == 0


@pytest.mark.parametrize("found", [None, stat.S_IFREG | 0o644])
def test_a_directory_that_cannot_be_made_fails_naming_it(
    mocker: MockerFixture, found: int | None
) -> None:
    session = _session(mocker, found)
    with pytest.raises(HostFailure) as caught:
        session._write_direct(["/home/u/put"], [], {}, None, [])
    assert caught.value.status is Status.FAILED
    assert str(caught.value) == "create remote directory /home/u/put: Failure"


@pytest.mark.parametrize("on", ["mkdir", "stat"])
def test_a_timeout_is_never_taken_for_a_directory_made_meanwhile(
    mocker: MockerFixture, on: str
) -> None:
    """Replies may come out of step after a timeout: the session is dropped, and nothing
    more is asked on it (after a mkdir that timed out, no stat)."""
    session = _session(mocker, stat.S_IFDIR | 0o755)
    sftp = session._sftp
    getattr(sftp, on).side_effect = TimeoutError("timed out")
    with pytest.raises(HostFailure) as caught:
        session._write_direct(["/home/u/put"], [], {}, None, [])
    assert caught.value.status is Status.TIMEOUT
    assert session._client is None
    assert sftp.stat.call_count == (0 if on == "mkdir" else 1)  # type: ignore[attr-defined]
