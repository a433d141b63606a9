"""Jump hosts (ProxyJump): one login per chain per worker, shared by the sessions through it.

Loads without paramiko (every SshContext has a JumpPool): :func:`tunnel` imports it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from hostops.host.base import HostFailure
from hostops.models import Host, Status

if TYPE_CHECKING:
    import paramiko

    from hostops.host.ssh._paramiko import TunnelSocket


class _Hop(Protocol):
    """An authenticated connection to one jump host (an SshConnection)."""

    transport: paramiko.Transport

    def close(self) -> None: ...


# (hop, warn, via) -> an authenticated connection to hop, through via when given.
HopConnector = Callable[[Host, Callable[[str], None], "paramiko.Transport | None"], _Hop]


@dataclass
class _Chain:
    """The cached connection to one jump host chain, or its last failure."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    conn: _Hop | None = None
    failure: HostFailure | None = None
    failed_at: float = 0.0


class JumpPool:
    """The connections to jump host chains of one worker (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chains: dict[tuple[Host, ...], _Chain] = {}

    def transport(
        self, hops: tuple[Host, ...], warn: Callable[[str], None], connect: HopConnector
    ) -> paramiko.Transport:
        """An authenticated connection to the last of ``hops``, reached through the others.

        One per chain per worker, shared by every session through it: the first
        session to need it logs in, the others wait for that login and use it
        (or get its failure), so a bastion sees one login per worker, not one
        per target. A connection that died is made again.
        """
        with self._lock:
            entry = self._chains.setdefault(hops, _Chain())
        asked = time.monotonic()
        with entry.lock:
            if entry.conn is not None and entry.conn.transport.is_active():
                return entry.conn.transport
            failure = entry.failure
            if failure is not None and entry.failed_at >= asked:  # tried while we waited
                raise HostFailure(failure.status, failure.message, transient=failure.transient)
            if entry.conn is not None:
                entry.conn.close()
                entry.conn = None
            # Shorter chains first: the lock order is always longer -> shorter, no deadlock.
            via = self.transport(hops[:-1], warn, connect) if len(hops) > 1 else None
            hop = hops[-1]
            try:
                entry.conn = connect(hop, lambda msg: warn(f"jump host {hop.name}: {msg}"), via)
            except HostFailure as exc:
                entry.failure = HostFailure(
                    exc.status, f"jump host {hop.name}: {exc.message}", transient=exc.transient
                )
                entry.failed_at = time.monotonic()
                failure = entry.failure
                raise HostFailure(
                    failure.status, failure.message, transient=failure.transient
                ) from None
            return entry.conn.transport

    def close(self) -> None:
        """Close the jump host connections (the longest chains first)."""
        for hops in sorted(self._chains, key=len, reverse=True):
            conn = self._chains[hops].conn
            if conn is not None:
                conn.close()
        self._chains.clear()


def tunnel(via: paramiko.Transport, host: Host, timeout: float) -> TunnelSocket:
    """A direct-tcpip channel from the jump host ``via`` to ``host``: the jump host
    opens the TCP connection, so names and addresses are the ones it sees."""
    import paramiko

    from hostops.host.ssh._paramiko import TunnelSocket
    from hostops.host.ssh.failures import reason

    try:
        chan = via.open_channel(
            "direct-tcpip", (host.address, host.port), ("127.0.0.1", 0), timeout=timeout
        )
    except paramiko.ChannelException as exc:
        why = exc.text or f"refused (code {exc.code})"
        raise HostFailure(
            Status.UNREACHABLE,
            f"connect to {host.address}:{host.port} through the jump host: {why}",
            transient=True,
        ) from None
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise HostFailure(
            Status.UNREACHABLE,
            f"connect to {host.address}:{host.port} through the jump host: {reason(exc)}",
            transient=True,
        ) from None
    return TunnelSocket(chan)
