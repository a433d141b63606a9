"""OpenSSH client configuration (``~/.ssh/config``) read through paramiko's SSHConfig.

paramiko does not follow ``Include`` (Debian's own /etc/ssh/ssh_config uses
it), so included files are spliced in here, the way OpenSSH reads them: in
place, relative paths from ~/.ssh (user file) or /etc/ssh (system file),
globs sorted, at most 16 levels deep.
"""

from __future__ import annotations

import glob
import io
import os
import shlex
from dataclasses import dataclass
from typing import Any

import paramiko

from hostops.errors import ConfigError

USER_CONFIG = "~/.ssh/config"
SYSTEM_CONFIG = "/etc/ssh/ssh_config"
_MAX_DEPTH = 16

# StrictHostKeyChecking → hostops policy. "no"/"off" never turns checking off
# (only --host-key-policy off does): it becomes accept-new, OpenSSH's own
# middle ground.
_STRICT = {
    "yes": "strict",
    "ask": "strict",
    "accept-new": "accept-new",
    "no": "accept-new",
    "off": "accept-new",
}


@dataclass(frozen=True)
class SshConfigValues:
    """What hostops takes from ssh_config for one host (None: not set there)."""

    address: str | None = None
    user: str | None = None
    port: int | None = None
    identity_file: tuple[str, ...] = ()
    jump: str | None = None
    known_hosts: str | None = None
    host_key_policy: str | None = None

    def settings(self) -> dict[str, Any]:
        """The values as inventory settings (only those set)."""
        out: dict[str, Any] = {}
        for key in ("address", "user", "port", "jump", "known_hosts"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.identity_file:
            out["identity_file"] = self.identity_file
        return out


class SshConfig:
    """One or more ssh_config files, looked up like OpenSSH: the first obtained value wins."""

    def __init__(self, paths: list[tuple[str, str]]) -> None:
        """``paths``: (file, directory that relative Include paths start from), in read order."""
        text = "".join(_spliced(path, base, 0) for path, base in paths if os.path.exists(path))
        self.paths = [p for p, _ in paths if os.path.exists(p)]
        self._config = paramiko.SSHConfig()
        try:
            self._config.parse(io.StringIO(text))
        except (paramiko.ConfigParseError, ValueError) as exc:
            raise ConfigError(f"ssh_config: {exc}", path=", ".join(self.paths) or None) from None

    @classmethod
    def default(cls) -> SshConfig:
        """~/.ssh/config, then /etc/ssh/ssh_config (as ssh reads them)."""
        return cls(
            [
                (os.path.expanduser(USER_CONFIG), os.path.expanduser("~/.ssh")),
                (SYSTEM_CONFIG, "/etc/ssh"),
            ]
        )

    @classmethod
    def from_file(cls, path: str) -> SshConfig:
        """Only ``path`` (as ``ssh -F``). A missing file is an error."""
        if not os.path.exists(path):
            raise ConfigError("no such file", path=path)
        return cls([(path, os.path.expanduser("~/.ssh"))])

    def lookup(self, name: str) -> SshConfigValues:
        """The settings OpenSSH would use for ``ssh NAME``."""
        try:
            found = self._config.lookup(name)
        except (paramiko.SSHException, ValueError) as exc:  # e.g. Match exec failing, bad tokens
            raise ConfigError(
                f"ssh_config lookup for {name!r}: {exc}", path=", ".join(self.paths) or None
            ) from None
        port = found.get("port")
        try:
            port_value = int(port) if port is not None else None
        except ValueError:
            raise ConfigError(
                f"ssh_config: Port {port!r} for {name!r} is not a number",
                path=", ".join(self.paths),
            ) from None
        hostname = found.get("hostname")
        known = found.get("userknownhostsfile")
        strict = found.get("stricthostkeychecking")
        return SshConfigValues(
            address=hostname if hostname and hostname != name else None,
            user=found.get("user"),
            port=port_value,
            identity_file=tuple(found.get("identityfile", ())),
            jump=None if found.get("proxyjump") in (None, "none") else found["proxyjump"],
            known_hosts=os.path.expanduser(shlex.split(known)[0]) if known else None,
            host_key_policy=_STRICT.get(strict.lower()) if strict else None,
        )


def _spliced(path: str, base: str, depth: int) -> str:
    """The file's text with every Include line replaced by the included files' text."""
    if depth > _MAX_DEPTH:
        raise ConfigError(f"Include nested more than {_MAX_DEPTH} levels deep (a loop?)", path=path)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=path) from None
    out: list[str] = []
    for line in lines:
        words = line.strip().split(None, 1)
        if len(words) == 2 and words[0].lower() == "include":
            for written in shlex.split(words[1]):
                pattern = os.path.expanduser(written)
                full = pattern if os.path.isabs(pattern) else os.path.join(base, pattern)
                for included in sorted(glob.glob(full)):
                    out.append(_spliced(included, base, depth + 1))
            continue
        out.append(line if line.endswith("\n") else line + "\n")
    return "".join(out)
