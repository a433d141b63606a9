"""How a running command's Keepalive judges a silent host (unit level: the transport is
a stand-in): silence while hostops itself was suspended is not the host's; a host judged
lost has its process group killed before the failure is raised."""

from __future__ import annotations

import time

import pytest

from hostops.host.base import HostFailure
from hostops.host.ssh import keepalive as keepalive_module
from hostops.host.ssh.keepalive import Keepalive


def _keepalive(
    monkeypatch: pytest.MonkeyPatch, heard_ago: float, checked_ago: float
) -> tuple[Keepalive, list[str], list[object]]:
    alive = Keepalive(object(), 1.0, 2)  # type: ignore[arg-type]
    now = time.monotonic()
    alive._heard = now - heard_ago
    alive._checked = now - checked_ago
    probes: list[object] = []

    def probe(t: object) -> bool:
        probes.append(t)
        return True

    monkeypatch.setattr(keepalive_module, "last_reply", lambda _t: 0.0)
    monkeypatch.setattr(keepalive_module, "send_keepalive", probe)
    return alive, [], probes


def test_silence_while_hostops_was_suspended_is_probed_not_judged(monkeypatch):
    # 68 s without a word, but this process last looked 68 s ago too: it was stopped.
    alive, kills, probes = _keepalive(monkeypatch, heard_ago=68, checked_ago=68)
    alive.check(kills.append)
    assert len(probes) == 1 and kills == []


def test_a_host_silent_while_we_watched_is_lost_and_its_group_killed(monkeypatch):
    alive, kills, _probes = _keepalive(monkeypatch, heard_ago=4, checked_ago=0.5)
    with pytest.raises(HostFailure, match="no response from the host for 4 s"):
        alive.check(kills.append)
    assert kills == ["KILL"]
