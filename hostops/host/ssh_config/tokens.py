"""ssh_config values as OpenSSH reads them: ``%`` tokens, ``${VAR}``, ``~``, times, ports,
and the host and user names OpenSSH accepts before it substitutes any of them."""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass

# The tokens most keywords take (IdentityFile, CertificateFile, UserKnownHostsFile,
# IdentityAgent, ...): OpenSSH's DEFAULT_CLIENT_PERCENT_EXPAND_ARGS.
CLIENT_TOKENS = "CLiklnpdhru"
PROXY_TOKENS = "hknpr"  # ProxyCommand (sshconnect.c: expand_proxy_command)
HOSTNAME_TOKENS = "h"  # HostName


class TokenError(ValueError):
    """A value that cannot be expanded: unknown ``%`` token, unset ``${VAR}``, ..."""


@dataclass(frozen=True)
class Local:
    """Who and where we are, for Match and tokens: user (``%u``), uid (``%i``),
    home directory (``%d``, ``~``), host name (``%l``, ``%L``)."""

    user: str
    uid: int
    home: str
    hostname: str

    @classmethod
    def current(cls) -> Local:
        """This process's user; ``~`` is ``$HOME`` (OpenSSH reads the passwd entry)."""
        uid = os.getuid()
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            user = str(uid)
        return cls(user, uid, os.path.expanduser("~"), socket.gethostname())

    @property
    def short_hostname(self) -> str:
        return self.hostname.split(".", 1)[0]


def percent_expand(
    text: str, values: Mapping[str, str], allowed: str, environ: Mapping[str, str] | None = None
) -> str:
    """``%X`` tokens replaced (``%%`` is ``%``), and with ``environ`` also ``${VAR}``, in one
    scan as OpenSSH does (a replacement is never scanned again). Raises TokenError for an
    unknown token or an unset or malformed variable."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if environ is not None and text.startswith("${", i):
            end = text.find("}", i + 2)
            if end < 0:
                raise TokenError(f"environment variable missing its closing '}}' in {text!r}")
            name = text[i + 2 : end]
            if not name:
                raise TokenError(f"zero-length environment variable in {text!r}")
            if name not in environ:
                raise TokenError(f"environment variable ${{{name}}} is not set (in {text!r})")
            out.append(environ[name])
            i = end + 1
            continue
        if c != "%":
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(text):
            raise TokenError(f"invalid format (a lone % at the end of {text!r})")
        token = text[i + 1]
        if token == "%":
            out.append("%")
        elif token in allowed:
            out.append(values[token])
        else:
            raise TokenError(f"unknown token %{token} in {text!r}")
        i += 2
    return "".join(out)


def dollar_expand(text: str, environ: Mapping[str, str]) -> str:
    """Only ``${VAR}`` replaced. Raises TokenError when unset or malformed."""
    return percent_expand(text.replace("%", "%%"), {}, "", environ)


def tilde_expand(path: str, home: str) -> str:
    """``~`` and ``~/x`` from ``home``; ``~user/x`` from the passwd entry. Raises TokenError."""
    if not path.startswith("~"):
        return path
    user, slash, rest = path[1:].partition("/")
    if user:
        try:
            base = pwd.getpwnam(user).pw_dir
        except KeyError:
            raise TokenError(f"no such user {user!r} in {path!r}") from None
    else:
        base = home
    rest = rest.lstrip("/") if slash else ""
    return base.rstrip("/") + "/" + rest


def connection_hash(local_hostname: str, host: str, port: int, user: str) -> str:
    """``%C``: SHA-1 over local host name, host, port and user, as OpenSSH computes it."""
    return hashlib.sha1(f"{local_hostname}{host}{port}{user}".encode()).hexdigest()


# What OpenSSH refuses in a host name (ssh_valid_hostname) and a user name (ssh_valid_ruser).
_BAD_HOSTNAME = re.compile(r"[\s'`\"$\\;&<>|(){},\x00-\x1f\x7f]|\A-")
_BAD_USER = re.compile(r"['`\";&<>|(){}\x00-\x1f\x7f]|\A-|\\\Z|\s-")


def valid_hostname(name: str) -> bool:
    """OpenSSH's check before a name reaches ssh_config or a token: no shell
    metacharacters, whitespace or control characters, no leading '-'."""
    return _BAD_HOSTNAME.search(name) is None


def valid_user(name: str) -> bool:
    """OpenSSH's check of a remote user name given on the command line."""
    return _BAD_USER.search(name) is None


_TIME_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TIME_PART = re.compile(r"(\d+)([sSmMhHdDwW]?)")


def convtime(text: str) -> int:
    """OpenSSH's time format (``90``, ``1m30s``, ``2h``) in seconds. Raises ValueError."""
    if not text:
        raise ValueError("empty time")
    total, pos = 0, 0
    while pos < len(text):
        part = _TIME_PART.match(text, pos)
        if part is None:
            raise ValueError(f"invalid time value {text!r}")
        total += int(part[1]) * _TIME_UNITS[part[2].lower()]
        pos = part.end()
    if total > 2**31 - 1:
        raise ValueError(f"time value {text!r} too large")
    return total


def a2port(text: str) -> int:
    """A port number, or a service name from /etc/services (as OpenSSH). Raises ValueError."""
    if text.isdigit():
        port = int(text)
    else:
        try:
            port = socket.getservbyname(text, "tcp")
        except OSError:
            port = 0
    if not 0 < port < 65536:
        raise ValueError(f"bad port {text!r}")
    return port
