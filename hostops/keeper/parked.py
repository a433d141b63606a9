"""The connections a worker of the background process holds for later runs.

A connection that a run no longer needs is *parked* under its reuse identity
(hostops.host.settings.reuse_identity, computed by the run's process) for ``--persist`` seconds since its last use;
the next run whose host has the same identity takes it instead of connecting, once the
connection proves itself: still open, and its host key still accepted by that run's
known_hosts and policy (HostClient.adopt). Anything else is closed, never reused.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from hostops.fleet.worker import Kept
from hostops.host.client import HostClient
from hostops.host.ssh import SshContext
from hostops.models import Host, RunOptions, Transport


@dataclass
class _Held:
    client: HostClient
    key: str
    since: float  # when it was made (monotonic)
    last_used: float
    ttl: float
    in_use: bool = False


class Parked:
    """The connections of one worker process, parked or in use by a run; thread-safe.
    ``on_change(n)`` hears the number held whenever it changed (the background process
    exits when no worker holds any), in the order of the changes."""

    def __init__(self, on_change: Callable[[int], None] = lambda n: None) -> None:
        self._lock = threading.Lock()
        self._held: dict[int, _Held] = {}  # by id(client)
        self._idle: dict[str, list[_Held]] = {}  # parked, by identity; the last parked last
        self._on_change = on_change
        self._told = 0  # the number on_change heard last

    def take(self, key: str) -> HostClient | None:
        """A parked connection with identity ``key`` (the one used last), now in use;
        None if there is none."""
        with self._lock:
            idle = self._idle.get(key)
            if not idle:
                return None
            held = idle.pop()
            if not idle:
                del self._idle[key]
            held.in_use = True
            return held.client

    def holds(self, key: str) -> bool:
        """A parked connection with identity ``key`` is there."""
        with self._lock:
            return key in self._idle

    def _unpark(self, held: _Held) -> None:
        """``held`` no longer parked (under the lock)."""
        idle = self._idle.get(held.key, [])
        if held in idle:
            idle.remove(held)
            if not idle:
                del self._idle[held.key]

    def park(self, key: str, client: HostClient, ttl: float) -> None:
        """Hold ``client`` for ``ttl`` seconds from now, for a run that wants ``key``."""
        now = time.monotonic()
        with self._lock:
            held = self._held.get(id(client))
            if held is None:
                held = self._held[id(client)] = _Held(client, key, now, now, ttl)
            else:
                self._unpark(held)
                held.key, held.last_used, held.ttl, held.in_use = key, now, ttl, False
            self._idle.setdefault(key, []).append(held)
            self._tell()

    def drop(self, client: HostClient) -> None:
        """Forget ``client`` and close it."""
        with self._lock:
            held = self._held.pop(id(client), None)
            if held is not None:
                self._unpark(held)
            self._tell()
        client.close()

    def expire(self, now: float | None = None) -> int:
        """Close the parked connections unused for longer than their time; how many are
        held after."""
        now = time.monotonic() if now is None else now
        return self._close_idle(lambda held: now - held.last_used >= held.ttl)

    def close_all(self) -> None:
        """Close every parked connection (those in use close with their run)."""
        self._close_idle(lambda held: True)

    def _close_idle(self, due: Callable[[_Held], bool]) -> int:
        """Forget and close the parked connections not in use that ``due`` picks; how
        many are held after."""
        with self._lock:
            gone = [h for h in self._held.values() if not h.in_use and due(h)]
            for held in gone:
                del self._held[id(held.client)]
                self._unpark(held)
            n = len(self._held)
            self._tell()
        _close_each(gone)
        return n

    def _tell(self) -> None:
        """on_change, if the number held changed (under the lock: in order). A warm run
        parks connections that were held already: one message per host to the
        background process for nothing, before."""
        n = len(self._held)
        if n != self._told:
            self._told = n
            self._on_change(n)

    def describe(self) -> list[dict[str, object]]:
        """What is held, for ``hostops persist``: host, user, address, age, idle time,
        channels in use, seconds left, the runner's state (hostops.host.ssh.runner)."""
        now = time.monotonic()
        with self._lock:
            held = list(self._held.values())
        return [
            {
                "host": h.client.host.name,
                "user": h.client.host.user,
                "address": h.client.host.address,
                "port": h.client.host.port,
                "age_s": round(now - h.since, 1),
                "idle_s": 0.0 if h.in_use else round(now - h.last_used, 1),
                "channels": 1 if h.in_use else 0,
                "left_s": None if h.in_use else round(max(0.0, h.ttl - (now - h.last_used)), 1),
                "runner": h.client.runner_state(),
            }
            for h in held
        ]


def _close_each(gone: list[_Held]) -> None:
    """Close each of ``gone``: one that fails to close (a dead socket, a proxy process that
    will not go) must not keep the others open, nor end the caller (the worker's expiry
    thread: its connections would then never expire, and the background process, which
    exits once none is held, would stay for good)."""
    for held in gone:
        with contextlib.suppress(Exception):
            held.client.close()


class RunKept(Kept):
    """One run's view of a worker's connections: its own kept ones (a playbook's), then
    parked ones with the same identity; what it is done with is parked, not closed.

    ``keys``: each of the run's hosts' reuse identity (``reuse_identity``, computed once,
    by the run's process, which routes by it too). ``warn_for(host)``: the run's
    warnings for that host (a reused connection reports to the run that uses it).
    ``idle``: the context a parked connection refers to, with no secrets (the run's are
    dropped with the run)."""

    def __init__(
        self,
        parked: Parked,
        options: RunOptions,
        keys: Mapping[str, str],
        context: SshContext,
        warn_for: Callable[[str], Callable[[str], None]],
        idle: SshContext,
    ) -> None:
        super().__init__()
        self._idle = idle  # what a parked connection refers to: no run's secrets
        self._parked = parked
        self._options = options
        self._keys = keys
        self._context = context
        self._warn_for = warn_for
        self._ttl = options.persist or 0.0

    def key(self, host: Host) -> str:
        """``host``'s reuse identity in this run."""
        return self._keys[host.name]

    def take(self, host: Host) -> HostClient | None:
        client = super().take(host)
        if client is not None:
            return client
        key = self.key(host)
        while (client := self._parked.take(key)) is not None:
            if client.adopt(self._context, self._warn_for(host.name)):
                return client
            self._parked.drop(client)  # dead, or its host key no longer accepted
        return None

    def give_back(self, host: Host, client: HostClient, keep: bool) -> None:
        if keep and client.connected:
            super().give_back(host, client, keep)
        else:
            self._park(host, client)

    def close(self, names: tuple[str, ...] | None = None) -> None:
        for client in self._take_all(names):
            self._park(client.host, client)

    def _park(self, host: Host, client: HostClient) -> None:
        if (
            self._ttl > 0
            and client.connected
            and host.connection is Transport.SSH
            and self._options.lock is None  # a lock lasts as long as its connection
        ):
            client.detach(self._idle)
            client.start_runner()  # off the critical path: ready for the next run
            self._parked.park(self.key(host), client, self._ttl)
        else:
            self._parked.drop(client)
