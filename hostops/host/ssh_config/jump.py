"""Jump host chains (``ProxyJump``, ``-J``, the inventory's ``jump``), parsed as OpenSSH does:
``[user@]host[:port]`` or ``ssh://[user@]host[:port]`` hops, separated by commas."""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import unquote

from hostops.host.ssh_config.tokens import a2port


class Hop(NamedTuple):
    """One jump host: user (None: its own or ours), host, port (None: its own or 22)."""

    user: str | None
    host: str
    port: int | None

    def __str__(self) -> str:
        """``[user@]host[:port]``, an IPv6 address in brackets."""
        return self._written(":" in self.host)

    def as_ssh_prints_it(self) -> str:
        """As ``ssh -G`` prints it: every numeric address in brackets."""
        return self._written(":" in self.host or re.fullmatch(r"[0-9.]*", self.host) is not None)

    def _written(self, bracketed: bool) -> str:
        host = f"[{self.host}]" if bracketed else self.host
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{user}{host}{port}"


_DOMAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


def parse_hop(text: str, *, lenient: bool = False) -> Hop:
    """One hop. ``lenient`` (hostops's own ``-J``/``jump``) also takes a bare IPv6 address.

    Raises ValueError with the reason."""
    if text.startswith("ssh://"):
        return _parse_uri(text[len("ssh://") :], text)
    user, at, rest = text.rpartition("@")
    if at and not user:
        raise ValueError(f"empty user in {text!r}")
    if lenient and not rest.startswith("[") and rest.count(":") > 1:
        host, port_text = rest, ""
    else:
        host, port_text, _ = _host_port(rest, text, allow_slash=False)
    return Hop(user or None, host, _port(port_text, text, digits_only=lenient))


def _parse_uri(body: str, text: str) -> Hop:
    info, at, rest = body.partition("@")
    user = None
    if at:
        user = unquote(info.split(";", 1)[0])
        if not user:
            raise ValueError(f"empty user in {text!r}")
    else:
        rest = body
    host, port_text, path = _host_port(rest, text, allow_slash=True)
    if not _DOMAIN.match(host) or ".." in host:
        raise ValueError(f"bad host name in {text!r}")
    if path:
        raise ValueError(f"a path is not allowed in {text!r}")
    return Hop(user, host.rstrip("."), _port(port_text, text, digits_only=False))


def _host_port(rest: str, text: str, *, allow_slash: bool) -> tuple[str, str, str]:
    """(host, port text, path) of ``host[:port][/path]`` or ``[host]:port`` (OpenSSH's hpdelim)."""
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise ValueError(f"bad address in {text!r}")
        host, after = rest[1:end], rest[end + 1 :]
        if after and after[0] not in ":/":
            raise ValueError(f"bad address in {text!r}")
    else:
        cut = min((i for i in (rest.find(":"), rest.find("/")) if i >= 0), default=len(rest))
        host, after = rest[:cut], rest[cut:]
    if after.startswith("/") and not allow_slash:
        raise ValueError(f"bad address in {text!r}")
    port_text, path = "", ""
    if after.startswith(":"):
        port_text, _, path = after[1:].partition("/")
    elif after.startswith("/"):
        path = after[1:]
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"no host name in {text!r}")
    return host, port_text, path


def _port(port_text: str, text: str, *, digits_only: bool) -> int | None:
    """The port, if given; OpenSSH also takes a service name (``host:ssh``)."""
    if not port_text:
        return None
    try:
        if digits_only and not port_text.isdigit():
            raise ValueError
        return a2port(port_text)
    except ValueError:
        raise ValueError(f"port must be 1 to 65535 in {text!r}") from None


def parse_chain(spec: str, *, lenient: bool = False) -> list[Hop]:
    """Every hop of ``a,b,c``, first first. Raises ValueError with the reason."""
    return [parse_hop(part.strip(), lenient=lenient) for part in spec.split(",")]
