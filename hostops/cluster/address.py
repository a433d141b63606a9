"""A cluster's address (``--cluster``, ``$HOSTOPS_CLUSTER``): parsed, checked, judged.

No Dask here: an address is checked, and plain-text risks are judged, before
``distributed`` is imported (:mod:`hostops.cluster.connect`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from hostops.errors import UsageError

DEFAULT_PORT = 8786  # `dask scheduler`'s
SCHEMES = ("tcp", "tls")

# scheme://host[:port], host a name, an IPv4 address or a bracketed IPv6 address.
_ADDRESS = re.compile(
    r"(?P<scheme>[a-z]+)://(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]+))"
    r"(?::(?P<port>[0-9]{1,5}))?/?\Z"
)


@dataclass(frozen=True)
class ClusterAddress:
    """A Dask scheduler's address: ``tcp://`` (plain text) or ``tls://`` (mutual TLS)."""

    scheme: str
    host: str  # an IPv6 address without its brackets
    port: int = DEFAULT_PORT

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def encrypted(self) -> bool:
        return self.scheme == "tls"

    @property
    def loopback(self) -> bool:
        """Whether the scheduler is on this machine's loopback (``localhost`` included):
        plain text that never leaves the machine."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:  # a host name: it may resolve anywhere
            return False


def parse_address(text: str, *, source: str = "--cluster") -> ClusterAddress:
    """``text`` as a cluster address; ``source`` names where it came from in the error.

    Raises UsageError for anything but ``tcp://HOST[:PORT]`` or ``tls://HOST[:PORT]``."""
    m = _ADDRESS.match(text.strip())
    if m is None:
        raise UsageError(
            f"{source} {text!r}: not a cluster address: give tls://HOST[:PORT] (or tcp://)"
        )
    if m["scheme"] not in SCHEMES:
        raise UsageError(
            f"{source} {text!r}: {m['scheme']}:// is not supported: give tls:// (or tcp://)"
        )
    host = m["ipv6"] or m["host"]
    if m["ipv6"]:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise UsageError(f"{source} {text!r}: {host} is not an IPv6 address") from None
    port = int(m["port"]) if m["port"] else DEFAULT_PORT
    if not 0 < port < 65536:
        raise UsageError(f"{source} {text!r}: port must be from 1 to 65535")
    return ClusterAddress(m["scheme"], host, port)


def plain_text_warning(address: ClusterAddress) -> str | None:
    """The warning owed for ``address``: a plain tcp:// cluster beyond loopback carries
    commands and output that anyone on the path can read and anyone reaching the
    scheduler can send. None when there is nothing to warn about."""
    if address.encrypted or address.loopback:
        return None
    return (
        f"cluster {address} is plain tcp://: anyone who reaches it can run commands on"
        " every host and read their output; use tls:// (README, 'Cluster')"
    )


def refuse_plain_secrets(address: ClusterAddress, secrets: Iterable[str]) -> None:
    """Secrets travel only over an encrypted cluster connection. ``secrets``: what the run
    would send (``--ask-pass``, ``password_env DB_PW``, ...). Raises UsageError naming
    the first of them for a tcp:// address (even on loopback: another local user may
    listen there)."""
    given = list(secrets)
    if given and not address.encrypted:
        more = f" (and {len(given) - 1} more)" if len(given) > 1 else ""
        raise UsageError(
            f"{given[0]}{more}: secrets are never sent over a plain tcp:// cluster"
            f" ({address}): use a tls:// one"
        )
