"""Which servers hostops asks to signal a session over its channel (see takes_signals)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from hostops.host.ssh._paramiko import takes_signals


def _transport(version: str, user: str) -> Any:
    return SimpleNamespace(remote_version=version, get_username=lambda: user)


@pytest.mark.parametrize(
    ("version", "user", "expected"),
    [
        ("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", "deploy", True),
        ("SSH-2.0-OpenSSH_7.9", "deploy", True),
        ("SSH-2.0-OpenSSH_7.8", "deploy", False),  # no "signal" requests before 7.9
        ("SSH-2.0-OpenSSH_6.6.1p1 Ubuntu-2ubuntu2", "deploy", False),
        # A root login keeps no unprivileged process before 10.0: refused there.
        ("SSH-2.0-OpenSSH_9.9p2", "root", False),
        ("SSH-2.0-OpenSSH_10.0p2 Debian-7", "root", True),
        ("SSH-2.0-OpenSSH_10.2", "deploy", True),
        ("SSH-2.0-OpenSSH_for_Windows_9.5", "deploy", False),  # no process groups
        ("SSH-2.0-dropbear_2022.83", "deploy", False),
        ("", "deploy", False),
    ],
)
def test_only_openssh_that_signals_sessions_is_asked(
    version: str, user: str, expected: bool
) -> None:
    assert takes_signals(_transport(version, user)) is expected
