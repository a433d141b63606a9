"""OpenSSH client configuration, read as OpenSSH 9.2 reads it (``ssh -G`` is the reference).

hostops's own reader (paramiko's is not faithful: Include, Match, tokens,
quotes): :class:`SshConfig` holds the files (each parsed once) and
:meth:`SshConfig.resolve` gives one host's :class:`SshOptions`. The README's
"ssh_config" section lists what is honoured, refused and ignored, and the
deliberate differences from OpenSSH (:data:`DIFFERENCES`).
"""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from hostops.errors import ConfigError
from hostops.host.ssh_config.jump import Hop, parse_chain, parse_hop
from hostops.host.ssh_config.keywords import KEYWORDS, MISSING_METHODS, Use, by_use
from hostops.host.ssh_config.lexer import Line, read_lines
from hostops.host.ssh_config.options import SshOptions
from hostops.host.ssh_config.patterns import match_pattern
from hostops.host.ssh_config.resolver import (
    ExecRunner,
    Given,
    canonical_address,
    read_for_host,
    run_in_shell,
)
from hostops.host.ssh_config.sharing import host_patterns
from hostops.host.ssh_config.tokens import Local, TokenError, valid_hostname, valid_user
from hostops.localenv import child_environment

USER_CONFIG = "~/.ssh/config"
SYSTEM_CONFIG = "/etc/ssh/ssh_config"


class Difference(NamedTuple):
    """A row of the README's table of deliberate differences from OpenSSH."""

    id: str
    what: str
    why: str


# Where hostops reads ssh_config differently from OpenSSH, on purpose. The differential
# tests against ``ssh -G`` accept a difference only in a file that names a row here; the
# README's table is this one (a test checks that it lists every row).
DIFFERENCES: tuple[Difference, ...] = (
    Difference(
        "home",
        "`~` and `%d` are `$HOME`",
        "OpenSSH takes the home directory from the password database; hostops from"
        " `$HOME`, like the rest of hostops, so a test or container can move it",
    ),
    Difference(
        "identity-replaces",
        "IdentityFile given by the inventory or `--identity` replaces ssh_config's",
        "OpenSSH adds the command line's keys in front of the configured ones; hostops keeps"
        " its documented precedence (a setting given replaces a lower one)",
    ),
    Difference(
        "canonicalize",
        "CanonicalizeHostname yes/always makes a host `error`",
        "hostops does not rewrite host names through DNS",
    ),
)


class SshConfig:
    """ssh_config files in read order, each parsed once (thread-safe)."""

    def __init__(self, files: Sequence[tuple[str, bool, bool]]) -> None:
        """``files``: (path, is a user file, check its owner and mode), in read order."""
        self._files = tuple(files)
        self._parsed: dict[tuple[str, bool], list[Line] | None] = {}
        self._globbed: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    @classmethod
    def default(cls) -> SshConfig:
        """~/.ssh/config, then /etc/ssh/ssh_config, as ssh reads them."""
        return cls([(os.path.expanduser(USER_CONFIG), True, True), (SYSTEM_CONFIG, False, False)])

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> SshConfig:
        """Only ``path`` (as ``ssh -F``). A missing file is a ConfigError."""
        path = os.fspath(path)
        if not os.path.exists(path):
            raise ConfigError("no such file", path=path)
        return cls([(path, True, False)])

    @classmethod
    def chosen(cls, choice: SshConfig | str | os.PathLike[str] | bool | None) -> SshConfig:
        """``True``: the default files (as the CLI); a path: only that file (``--ssh-config``);
        ``False`` or None: none (``--no-ssh-config``); an SshConfig: itself."""
        if isinstance(choice, SshConfig):
            return choice
        if choice is True:
            return cls.default()
        if choice is False or choice is None:
            return cls.empty()
        return cls.from_file(choice)

    @classmethod
    def empty(cls) -> SshConfig:
        """No file (``ssh -F none``): OpenSSH's defaults only."""
        return cls([])

    @property
    def paths(self) -> list[str]:
        """The top-level files that exist."""
        return [path for path, _, _ in self._files if os.path.exists(path)]

    def _lines(self, path: str, check: bool) -> list[Line] | None:
        with self._lock:
            key = (path, check)
            if key not in self._parsed:
                self._parsed[key] = read_lines(path, check)
            return self._parsed[key]

    def _glob(self, pattern: str) -> list[str]:
        """The files an Include pattern names, in sorted order (read once)."""
        with self._lock:
            if pattern not in self._globbed:
                self._globbed[pattern] = sorted(glob.glob(pattern))
            return self._globbed[pattern]

    def host_patterns(self, local: Local) -> tuple[str, ...] | None:
        """The ``Host`` patterns when they are all that makes one name read differently
        from another (see :mod:`hostops.host.ssh_config.sharing`), else None."""
        return host_patterns(self._lines, self._glob, self._files, local.home)

    def resolve(
        self,
        name: str,
        given: Sequence[Given] = (),
        *,
        local: Local | None = None,
        environ: Mapping[str, str] | None = None,
        run_exec: ExecRunner = run_in_shell,
    ) -> SshOptions:
        """What ``ssh -o GIVEN… NAME`` would use, OpenSSH's defaults filled in.

        ``environ``: for ``${VAR}`` and ``Match exec`` (default: this process's,
        without hostops's secrets). Raises ConfigError (``FILE:LINE: why``) for a
        name OpenSSH refuses, a bad line or value, or a Match exec that fails.
        """
        return read_for_host(
            self._lines,
            self._glob,
            self._files,
            name,
            given,
            local=local or Local.current(),
            environ=child_environment() if environ is None else environ,
            run_exec=run_exec,
        )


__all__ = [
    "DIFFERENCES",
    "KEYWORDS",
    "MISSING_METHODS",
    "SYSTEM_CONFIG",
    "USER_CONFIG",
    "Given",
    "Hop",
    "Local",
    "SshConfig",
    "SshOptions",
    "TokenError",
    "Use",
    "by_use",
    "canonical_address",
    "match_pattern",
    "parse_chain",
    "parse_hop",
    "valid_hostname",
    "valid_user",
]
