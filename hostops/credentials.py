"""The secrets of a run: login passwords, the key passphrase, the sudo password.

They are gathered once in the main process (prompted for, or read from the
environment) into a :class:`Secrets`, which is passed to the worker processes
when they are created and to nothing else: not in :class:`~hostops.models.RunOptions`
(which may be written down), not to the aggregator, never to a log. Its
``repr`` shows only which secrets are set.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hostops.errors import ConfigError
from hostops.localenv import (
    ENV_KEY_PASSPHRASE,
    ENV_PASSWORD,
    ENV_SUDO_PASSWORD,
    SECRET_ENV_VARS,
    child_environment,
)
from hostops.models import Host
from hostops.ranges import fold
from hostops.vault import Bound, SecretText, Vault, Vaulted, VaultError

__all__ = [  # the secret variables' names live in hostops.localenv, the lowest layer
    "ENV_KEY_PASSPHRASE",
    "ENV_PASSWORD",
    "ENV_SUDO_PASSWORD",
    "SECRET_ENV_VARS",
    "Secrets",
    "child_environment",
    "secrets_from_environment",
]

# Ansible's names for a host's login and become passwords, in the order its ssh and sudo
# plugins read them (the last one set wins). hostops uses them only when vaulted.
LOGIN_PASSWORD_VARS = ("ansible_password", "ansible_ssh_pass", "ansible_ssh_password")
BECOME_PASSWORD_VARS = ("ansible_become_password", "ansible_become_pass", "ansible_sudo_pass")


@dataclass(frozen=True, repr=False, eq=False)
class Secrets:
    """What a run may authenticate with besides keys. Every field may be None (not given).

    ``host_passwords`` maps the NAME of each ``password_env`` variable used by
    the run's hosts to its value; ``vault_passwords`` and ``vault_sudo_passwords``
    map host names to the login and sudo passwords their inventory gives vaulted
    (``ansible_password``, ``ansible_become_password``). ``masked`` are the decrypted
    values of every vaulted variable of the run's hosts: the workers mask them in
    output and errors (hostops.redact). ``env_names`` are the environment variables
    the secrets came from: they are removed from the environment of local
    commands (``connection: local``).
    """

    password: str | None = None
    key_passphrase: str | None = None
    sudo_password: str | None = None
    host_passwords: Mapping[str, str] = field(default_factory=dict)
    env_names: tuple[str, ...] = SECRET_ENV_VARS
    vault_passwords: Mapping[str, str] = field(default_factory=dict)
    vault_sudo_passwords: Mapping[str, str] = field(default_factory=dict)
    masked: tuple[str, ...] = ()
    # The caller's environment and working directory when the run is carried out by a
    # process that is not the caller's (the background process of warm runs): what
    # local children (ProxyCommand, connection: local), the agent socket and relative
    # local paths are taken from. None: this process's own. Kept with the secrets
    # because an environment may hold some (password_env), and dropped with them.
    environ: Mapping[str, str] | None = None
    cwd: str | None = None

    def given(self) -> list[str]:
        """Which secrets are set, by name, never by value ("password", "password_env
        DB_PW", "vaulted password of web01", "3 vaulted values to mask")."""
        given = [
            name
            for name in ("password", "key_passphrase", "sudo_password")
            if getattr(self, name) is not None
        ]
        given += [f"password_env {name}" for name in sorted(self.host_passwords)]
        given += [f"vaulted password of {name}" for name in sorted(self.vault_passwords)]
        given += [f"vaulted sudo password of {name}" for name in sorted(self.vault_sudo_passwords)]
        given += [f"{len(self.masked)} vaulted values to mask"] if self.masked else []
        return given

    def __repr__(self) -> str:
        return f"Secrets({', '.join(self.given()) or 'none'}; values hidden)"

    __str__ = __repr__

    def password_for(self, host: Host) -> str | None:
        """The login password for ``host``: its own (vaulted in the inventory, or its
        ``password_env`` variable's), else the run's."""
        if host.name in self.vault_passwords:
            return self.vault_passwords[host.name]
        if host.password_env and host.password_env in self.host_passwords:
            return self.host_passwords[host.password_env]
        return self.password

    def sudo_password_for(self, host: Host) -> str | None:
        """The sudo password for ``host``: its vaulted become password, else the run's."""
        return self.vault_sudo_passwords.get(host.name, self.sudo_password)

    def masking(self, values: Iterable[str]) -> Secrets:
        """These secrets, with ``values`` to mask too (a playbook's vaulted vars)."""
        return dataclasses.replace(self, masked=tuple(sorted({*self.masked, *values})))

    def scrubbed_environment(self) -> dict[str, str]:
        """This process's environment without the variables that hold secrets."""
        return child_environment(self.env_names, self.environ)


def secrets_from_environment(
    hosts: Iterable[Host],
    *,
    password: str | None = None,
    key_passphrase: str | None = None,
    sudo_password: str | None = None,
    environ: Mapping[str, str] | None = None,
    vault: Vault | None = None,
) -> Secrets:
    """The run's secrets: the values given (prompted for) win over ``HOSTOPS_PASSWORD``,
    ``HOSTOPS_KEY_PASSPHRASE`` and ``HOSTOPS_SUDO_PASSWORD``; each host's ``password_env``
    variable (and its jump hosts') is read too.

    Vaulted login and become passwords of the hosts (their inventory's
    ``ansible_password``, ``ansible_become_password``...) are decrypted with ``vault``,
    and so is every other vaulted value of theirs that ``vault`` opens: they become
    ``masked`` (a value no password opens cannot be used, so cannot be shown).

    Raises ConfigError, before anything runs, when a host names a ``password_env``
    variable that is not set and no password was given for the whole run, or has a
    vaulted password that ``vault`` cannot decrypt (naming the variable).
    """
    env = os.environ if environ is None else environ
    if password is None:
        password = env.get(ENV_PASSWORD)
    if key_passphrase is None:
        key_passphrase = env.get(ENV_KEY_PASSPHRASE)
    if sudo_password is None:
        sudo_password = env.get(ENV_SUDO_PASSWORD)
    wanted: dict[str, list[str]] = {}
    for host in hosts:
        for one in (host, *host.jump_hosts):
            if one.password_env:
                wanted.setdefault(one.password_env, []).append(one.name)
    host_passwords = {name: env[name] for name in wanted if name in env}
    missing = [name for name in wanted if name not in env]
    if missing and password is None:
        name = missing[0]
        raise ConfigError(
            f"password_env {name} (for {fold(wanted[name])}) is not set in the environment;"
            f" set it, or give --ask-pass or {ENV_PASSWORD}"
        )
    hosts = list(hosts)
    vault = vault or Vault()
    logins, sudos = _vaulted_passwords(hosts, vault)
    return Secrets(
        masked=_plaintexts(hosts, vault),
        vault_passwords=logins,
        vault_sudo_passwords=sudos,
        password=password,
        key_passphrase=key_passphrase,
        sudo_password=sudo_password,
        host_passwords=host_passwords,
        env_names=(*SECRET_ENV_VARS, *wanted),
    )


def _vaulted_passwords(
    hosts: Iterable[Host], vault: Vault
) -> tuple[dict[str, str], dict[str, str]]:
    """Host name -> decrypted login password, and -> sudo password, for the hosts whose
    variables hold them vaulted (the last of Ansible's names set wins), and their jump
    hosts' login passwords (a hop keeps its inventory host's, by the hop's name).
    Raises ConfigError."""
    logins: dict[str, str] = {}
    sudos: dict[str, str] = {}
    for host in hosts:
        wanted = [(host, LOGIN_PASSWORD_VARS, logins), (host, BECOME_PASSWORD_VARS, sudos)]
        wanted += [(hop, LOGIN_PASSWORD_VARS, logins) for hop in host.jump_hosts]
        for one, names, found in wanted:
            given = [one.vars[n] for n in names if isinstance(one.vars.get(n), Vaulted)]
            if not given or one.name in found:
                continue
            try:
                found[one.name] = str(vault.value(given[-1]))
            except VaultError as exc:
                what = f"host {host.name!r}" + (
                    f", jump host {one.name!r}" if one is not host else ""
                )
                raise ConfigError(f"{what}: {exc}") from None
    return logins, sudos


def _plaintexts(hosts: Iterable[Host], vault: Vault) -> tuple[str, ...]:
    """The decrypted values in the hosts' (and their jump hosts') variables."""
    return plaintexts([one.vars for host in hosts for one in (host, *host.jump_hosts)], vault)


def plaintexts(items: Iterable[object], vault: Vault) -> tuple[str, ...]:
    """The decrypted values in ``items`` (variables: lists, mappings): the vaulted ones
    that ``vault`` (or the vault they are bound to) opens, and those read from
    vault-encrypted files. A value no password opens is left out, not an error."""
    found: set[str] = set()
    seen: set[str] = set()  # ciphertexts tried: a group's value is every member's

    def walk(item: object) -> None:
        if isinstance(item, SecretText):
            found.add(item)
        elif isinstance(item, Bound):  # bound by the caller to its own vault
            found.update(filter(None, [item.plaintext()]))
        elif isinstance(item, Vaulted):
            if item.text not in seen:
                seen.add(item.text)
                with contextlib.suppress(VaultError):
                    found.add(vault.decrypt(item.text))
        elif isinstance(item, list):
            for v in item:
                walk(v)
        elif isinstance(item, Mapping):
            for v in item.values():
                walk(v)

    for item in items:
        walk(item)
    return tuple(sorted(found))
