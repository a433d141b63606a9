"""How SshCommand judges a silent host (unit level: the transport is a stand-in):
silence while hostops itself was suspended is not the host's; a host judged lost has
its process group killed before the failure is raised."""

from __future__ import annotations

import time

import pytest

from hostops.host.base import HostFailure
from hostops.host.ssh import command as command_module
from hostops.host.ssh.command import SshCommand


def _command(monkeypatch: pytest.MonkeyPatch, heard_ago: float, checked_ago: float) -> SshCommand:
    cmd = SshCommand.__new__(SshCommand)
    now = time.monotonic()
    cmd._transport = object()  # type: ignore[assignment]
    cmd._keepalive_s = 1.0
    cmd._keepalive_count = 2
    cmd._heard = now - heard_ago
    cmd._checked = now - checked_ago
    cmd._probes = 0
    cmd.kills = []  # type: ignore[attr-defined]
    cmd.probes = 0  # type: ignore[attr-defined]

    def probe(_t: object) -> bool:
        cmd.probes += 1  # type: ignore[attr-defined]
        return True

    monkeypatch.setattr(command_module, "last_reply", lambda _t: 0.0)
    monkeypatch.setattr(command_module, "send_keepalive", probe)
    monkeypatch.setattr(cmd, "signal_group", lambda name: cmd.kills.append(name) or True)  # type: ignore[attr-defined]
    return cmd


def test_silence_while_hostops_was_suspended_is_probed_not_judged(monkeypatch):
    # 68 s without a word, but this process last looked 68 s ago too: it was stopped.
    cmd = _command(monkeypatch, heard_ago=68, checked_ago=68)
    cmd._keepalive()
    assert cmd.probes == 1 and cmd.kills == []  # type: ignore[attr-defined]


def test_a_host_silent_while_we_watched_is_lost_and_its_group_killed(monkeypatch):
    cmd = _command(monkeypatch, heard_ago=4, checked_ago=0.5)
    with pytest.raises(HostFailure, match="no response from the host for 4 s"):
        cmd._keepalive()
    assert cmd.kills == ["KILL"]  # type: ignore[attr-defined]
