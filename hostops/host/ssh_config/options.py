"""The result of reading ssh_config for one host: what ``ssh -G`` would print, and the
values with their ``%`` tokens expanded where OpenSSH expands them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from hostops.host.ssh_config.tokens import (
    CLIENT_TOKENS,
    PROXY_TOKENS,
    Local,
    connection_hash,
    percent_expand,
    tilde_expand,
)

# OpenSSH's defaults for what was not set (readconf.c: fill_default_options).
DEFAULT_IDENTITY_FILES = (
    "~/.ssh/id_rsa",
    "~/.ssh/id_ecdsa",
    "~/.ssh/id_ecdsa_sk",
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ed25519_sk",
    "~/.ssh/id_xmss",
    "~/.ssh/id_dsa",
)
DEFAULT_USER_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
DEFAULT_GLOBAL_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")


@dataclass(frozen=True)
class SshOptions:
    """One host's settings after every ssh_config file and the given options were read,
    defaults filled in as OpenSSH fills them.

    Paths and commands are as written (``ssh -G`` prints most of them so; it expands
    UserKnownHostsFile and IdentityAgent first). :meth:`expand` and the
    ``expanded_*`` methods give the values OpenSSH actually uses. ``origins`` maps each option set to where (``FILE:LINE``);
    ``others`` holds every other option set, as written.
    """

    host_arg: str  # the name looked up (``%n``)
    hostname: str  # HostName with %h expanded, lowercased as ssh does (``%h``)
    user: str
    port: int
    identity_files: tuple[str, ...]
    identity_files_given: bool  # False: OpenSSH's default list
    certificate_files: tuple[str, ...]
    identities_only: bool
    identity_agent: str | None
    proxy_command: str | None
    proxy_jump: str | None
    user_known_hosts: tuple[str, ...]
    global_known_hosts: tuple[str, ...]
    strict_host_key_checking: str  # true, false, ask or accept-new (as ssh -G)
    host_key_alias: str | None
    connect_timeout: int | None
    server_alive_interval: int
    server_alive_count_max: int
    connection_attempts: int
    address_family: str
    bind_address: str | None
    send_env: tuple[str, ...]
    set_env: tuple[str, ...]
    hash_known_hosts: bool
    local: Local
    others: Mapping[str, str] = field(default_factory=dict)
    origins: Mapping[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)

    def tokens(self) -> dict[str, str]:
        """The ``%`` tokens' values (OpenSSH's ``ssh_conn_info``)."""
        local = self.local
        return {
            "C": connection_hash(local.hostname, self.hostname, self.port, self.user),
            "L": local.short_hostname,
            "i": str(local.uid),
            "k": self.host_key_alias or self.host_arg,
            "l": local.hostname,
            "n": self.host_arg,
            "p": str(self.port),
            "d": local.home,
            "h": self.hostname,
            "r": self.user,
            "u": local.user,
        }

    def expand(self, path: str) -> str:
        """A path as OpenSSH uses it: ``~`` then ``%`` tokens and ``${VAR}``. Raises TokenError."""
        text = tilde_expand(path, self.local.home)
        if "%" not in text and "${" not in text:
            return text
        return percent_expand(text, self.tokens(), CLIENT_TOKENS, self.environ)

    def expanded_identity_files(self) -> tuple[str, ...]:
        """IdentityFile paths as OpenSSH loads them (``none`` dropped). Raises TokenError."""
        return tuple(self.expand(p) for p in self.identity_files if p.lower() != "none")

    def expanded_user_known_hosts(self) -> tuple[str, ...]:
        """UserKnownHostsFile paths as OpenSSH reads them. Raises TokenError."""
        return tuple(self.expand(p) for p in self.user_known_hosts)

    def expanded_identity_agent(self) -> str | None:
        """IdentityAgent as OpenSSH uses it (``none`` and variable names kept). Raises
        TokenError."""
        agent = self.identity_agent
        if agent is None or agent.lower() == "none" or agent == "SSH_AUTH_SOCK":
            return agent
        return agent if agent.startswith("$") and "{" not in agent else self.expand(agent)

    def expanded_certificate_files(self) -> tuple[str, ...]:
        """CertificateFile paths as OpenSSH loads them. Raises TokenError."""
        return tuple(self.expand(p) for p in self.certificate_files)

    def expanded_proxy_command(self) -> str | None:
        """The command OpenSSH gives the shell (``exec`` prefixed, %h %k %n %p %r expanded)."""
        if self.proxy_command is None:
            return None
        return percent_expand(f"exec {self.proxy_command}", self.tokens(), PROXY_TOKENS)

    def ssh_g(self) -> dict[str, str]:
        """The lines ``ssh -G`` prints for the options hostops reads (keyword -> value;
        the lists joined by newlines where ssh prints a line per entry)."""
        out = {
            "user": self.user,
            "hostname": self.hostname,
            "port": str(self.port),
            "identityfile": "\n".join(self.identity_files),
            "certificatefile": "\n".join(self.certificate_files),
            "userknownhostsfile": " ".join(self.expanded_user_known_hosts()) or "none",
            "globalknownhostsfile": " ".join(self.global_known_hosts) or "none",
            "stricthostkeychecking": self.strict_host_key_checking,
            "identitiesonly": "yes" if self.identities_only else "no",
            "connecttimeout": "none" if self.connect_timeout is None else str(self.connect_timeout),
            "serveraliveinterval": str(self.server_alive_interval),
            "serveralivecountmax": str(self.server_alive_count_max),
            "connectionattempts": str(self.connection_attempts),
            "addressfamily": self.address_family,
            "sendenv": "\n".join(self.send_env),
            "setenv": "\n".join(self.set_env),
            "hashknownhosts": "yes" if self.hash_known_hosts else "no",
        }
        for key, value in (
            ("proxyjump", self.proxy_jump),
            ("proxycommand", None if self.proxy_jump else self.proxy_command),
            ("hostkeyalias", self.host_key_alias),
            ("identityagent", self.expanded_identity_agent()),
            ("bindaddress", self.bind_address),
        ):
            if value is not None:
                out[key] = value
        return out
