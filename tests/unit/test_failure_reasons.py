"""What paramiko raises because of what a host did becomes one clean line, never an
"internal error" (the exceptions as paramiko builds them; the real hosts that trigger
them are in tests/integration/test_remote_conditions.py)."""

from __future__ import annotations

import errno

import paramiko
import pytest

from hostops.host.ssh.failures import REMOTE_ERRORS, reason


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        # paramiko's Transport._check_banner: "Error reading SSH protocol banner" + str(e)
        (
            paramiko.SSHException(
                "Error reading SSH protocol banner[Errno 104] Connection reset by peer"
            ),
            "no SSH banner: connection reset by peer",
        ),
        (
            paramiko.SSHException("Error reading SSH protocol banner"),
            "no SSH banner: connection closed",
        ),
        (
            paramiko.SSHException("Error reading SSH protocol bannertimed out"),
            "no SSH banner: timed out",
        ),
        (
            paramiko.SSHException('Indecipherable protocol version "HTTP/1.1 400 Bad Request"'),
            "no SSH banner: the server speaks another protocol ('HTTP/1.1 400 Bad Request')",
        ),
        (
            ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
            "connection reset by peer",
        ),
        (EOFError(), "connection closed by the remote side"),
        (paramiko.SSHException("No existing session\nmore"), "No existing session"),
    ],
)
def test_reasons_are_one_clean_line(exc: BaseException, expected: str) -> None:
    assert reason(exc) == expected


@pytest.mark.parametrize("text", ["Garbage packet received", "Incompatible sftp protocol"])
def test_a_shell_that_prints_names_the_cause_and_the_fix(text: str) -> None:
    why = reason(paramiko.SFTPError(text))
    assert "\n" not in why
    assert "start-up files" in why and "~/.bashrc" in why
    assert "print nothing" in why  # the fix


def test_every_paramiko_exception_is_a_remote_condition() -> None:
    for cls in (
        paramiko.SSHException,
        paramiko.SFTPError,
        paramiko.ChannelException,
        paramiko.BadHostKeyException,
        paramiko.ProxyCommandFailure,
        EOFError,
        OSError,
    ):
        assert issubclass(cls, REMOTE_ERRORS), cls
