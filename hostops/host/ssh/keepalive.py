"""ServerAliveInterval/ServerAliveCountMax for a running command, whatever carries it
(an exec channel, hostops.host.ssh.command, or the runner, hostops.host.ssh.runner)."""

from __future__ import annotations

import time
from collections.abc import Callable

import paramiko

from hostops.host.base import HostFailure
from hostops.host.ssh._paramiko import last_reply, send_keepalive
from hostops.models import Status

_SUSPENDED_S = 3.0  # between two keepalive checks (every tick, 0.5 s): we were suspended


class Keepalive:
    """After ``interval_s`` of silence, ask the host for a reply (as OpenSSH's
    ServerAliveInterval does); ``count`` unanswered in a row: it is gone. 0: never."""

    def __init__(self, transport: paramiko.Transport, interval_s: float, count: int) -> None:
        self._transport = transport
        self._interval_s = interval_s
        self._count = count
        self._heard = time.monotonic()  # last time the host sent anything
        self._probes = 0  # keepalives sent since then
        self._checked = self._heard  # last check: a long gap means we were stopped

    def heard(self) -> None:
        """The host sent something just now."""
        self._heard = time.monotonic()

    def check(self, kill: Callable[[str], object]) -> None:
        """Probe as due; when the host is gone, ``kill("KILL")`` the command (its command
        must not run on unsupervised: a later --rerun would run it twice, so it is
        stopped if the connection still allows) and raise HostFailure."""
        if self._interval_s <= 0:
            return
        now = time.monotonic()
        if now - self._checked > _SUSPENDED_S:
            # This process did not run for that long (Ctrl-Z, SIGSTOP, a frozen VM): the
            # silence was ours, not the host's. Probe at once, and judge by the answer.
            self._heard = max(self._heard, now - self._interval_s)
            self._probes = 0
        self._checked = now
        replied = last_reply(self._transport)
        if replied > self._heard:
            self._heard = replied
            self._probes = 0
        silence = time.monotonic() - self._heard
        due = int(silence // self._interval_s)
        if due > self._count:
            kill("KILL")
            raise HostFailure(
                Status.ERROR, f"no response from the host for {silence:.0f} s (keepalive)"
            )
        while self._probes < due:
            if not send_keepalive(self._transport):
                return  # a dead transport shows as a closed channel
            self._probes += 1
