"""The inventory as read from a file, before settings are resolved per host.

Every loader (native YAML, Ansible YAML, Ansible INI) produces a
:class:`RawInventory`; :mod:`hostops.inventory.resolve` turns it into
:class:`~hostops.models.Host` objects with one precedence for all formats.

Setting keys are the native ones, whatever the source format:
``address`` (str), ``port`` (int), ``user`` (str), ``identity_file``
(tuple[str, ...], ``~`` not yet expanded), ``known_hosts`` (str),
``connection`` (:class:`~hostops.models.Transport`), ``jump`` (str,
``[user@]host[:port]`` or several joined by commas), ``password_env`` (str: the
NAME of an environment variable, never a secret), and ``vars`` (dict of
free-form variables, merged key by key).

An Ansible inventory (``kind == "ansible"``) keeps Ansible's variables as they
were written instead (``variables``, with where each was set): Ansible merges
variables per host first and reads the connection ones from the result, so
mapping them per layer would give other answers (``ansible_ssh_user`` set on a
group beats ``ansible_user`` set on the host). :mod:`hostops.inventory.ansible_vars`
merges them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hostops.vault import Vault

SETTINGS = (
    "address",
    "port",
    "user",
    "identity_file",
    "known_hosts",
    "connection",
    "jump",
    "password_env",
)
"""Every setting key except ``vars`` (which is merged, not replaced)."""


@dataclass
class Where:
    """A place in an input file, for error messages: ``path:line``."""

    path: str
    line: int | None = None

    def __str__(self) -> str:
        return self.path if self.line is None else f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Var:
    """An Ansible variable's value and where it was set."""

    value: Any
    where: Where


@dataclass
class RawHost:
    """A host and the settings given on the host itself (not from groups or defaults)."""

    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    where: Where | None = None
    variables: dict[str, Var] = field(default_factory=dict)  # Ansible inventories


@dataclass
class RawGroup:
    """A group: its direct member hosts and child groups (in file order), and its vars.

    ``settings`` holds group vars with the same keys as host settings, plus ``vars``.
    """

    name: str
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    where: Where | None = None
    variables: dict[str, Var] = field(default_factory=dict)  # Ansible inventories
    priority: int = 1  # ansible_group_priority: among groups of one depth, higher applies later


@dataclass
class RawInventory:
    """Everything one inventory (file, directory or list of them) says. ``hosts`` and
    ``groups`` keep the order in which they were first met.

    A host that appears only as a group member still has a RawHost (with no
    settings of its own). ``defaults`` applies to every host. ``kind`` is
    ``"native"`` or ``"ansible"``; for Ansible, ``var_dirs`` are the directories
    whose ``group_vars/`` and ``host_vars/`` apply (each inventory source's
    directory, in order; then a playbook's directory).
    """

    path: str
    defaults: dict[str, Any] = field(default_factory=dict)
    hosts: dict[str, RawHost] = field(default_factory=dict)
    groups: dict[str, RawGroup] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    kind: str = "native"
    var_dirs: list[str] = field(default_factory=list)
    play_dirs: list[str] = field(default_factory=list)
    vault: Vault | None = None  # opens vaulted variables files
