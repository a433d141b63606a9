"""Inventories: which hosts to run on, and how to reach each of them.

Formats (detected from the file): hostops's native YAML (``defaults``,
``hosts``, ``groups``), Ansible YAML and INI, Ansible dynamic inventory scripts;
directories of them and several sources at once (hostops.inventory.sources). Every format becomes a
RawInventory, then an Inventory (groups, names), then Hosts for the names a
``--limit`` pattern selects.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from hostops.bulk import collector_paused
from hostops.errors import ConfigError
from hostops.inventory.patterns import PatternError, ansible_difference, hosts_from_option, select
from hostops.inventory.raw import RawHost, RawInventory
from hostops.inventory.resolve import Inventory, build, every_host, resolve_hosts
from hostops.inventory.sources import load_sources
from hostops.models import Host
from hostops.vault import Vault, bind, has_vaulted

__all__ = [
    "Inventory",
    "Sources",
    "build",
    "every_host",
    "load_inventory",
    "load_raw",
    "pattern_warning",
    "raw_from_host_list",
    "require_hosts",
    "resolve_hosts",
    "select_names",
    "with_vault",
]

Sources = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def load_raw(sources: Sources, *, vault: Vault | None = None) -> RawInventory:
    """Read one inventory source or several (files, directories, dynamic inventory
    scripts), in any supported format, merged in order. Raises ConfigError (``FILE:LINE: …``).

    ``vault`` opens vaulted inventory and variables files."""
    paths = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    with collector_paused():
        return load_sources(paths, vault)


def raw_from_host_list(value: str, *, source: str = "host list") -> RawInventory:
    """Hosts without an inventory file, from a list like ``'web[01-05],db1'``; ``source``
    names where the list came from (the command line: ``--host``), in errors and as the
    inventory's path. Raises ConfigError."""
    try:
        names = hosts_from_option(value)
    except PatternError as exc:
        raise ConfigError(str(exc), path=source) from None
    if not names:
        raise ConfigError("no hosts given", path=source)
    return RawInventory(source, hosts={n: RawHost(n) for n in names})


def select_names(inv: Inventory, pattern: str | None, base_dir: str = ".") -> list[str]:
    """Host names the ``pattern`` selects (all when None). Raises ConfigError
    (its ``argument``: ``limit``)."""
    if pattern is None:
        return list(inv.names)
    try:
        return select(
            pattern,
            inv.names,
            inv.members,
            base_dir=base_dir,
            inventory_order=inv.raw.kind != "ansible",
        )
    except PatternError as exc:
        raise ConfigError(f"limit: {exc}", argument="limit") from None


def pattern_warning(inv: Inventory, pattern: str | None, selected: list[str]) -> str | None:
    """A one-line warning when Ansible would select other hosts for ``pattern`` (its
    ``[...]`` is a node range here, a subscript there), else None."""
    if pattern is None:
        return None
    return ansible_difference(pattern, inv.names, inv.members, selected)


def with_vault(host: Host, vault: Vault) -> Host:
    """``host`` with its vaulted variables bound to ``vault``: decrypted when a template
    turns them into text (see :class:`hostops.vault.Bound`)."""
    if not any(has_vaulted(v) for v in host.vars.values()):
        return host
    return dataclasses.replace(host, vars={k: bind(v, vault) for k, v in host.vars.items()})


def load_inventory(
    path: Sources,
    *,
    limit: str | None = None,
    vault: Vault | None = None,
    allow_empty: bool = False,
) -> list[Host]:
    """Read an inventory (one source or several) and return the selected hosts with the
    inventory's own settings, in run order: no ssh_config, no command line
    (``hostops.load_inventory`` adds them).

    ``limit`` is a host pattern (README, "Host patterns"); ``vault`` opens vaulted files
    (vaulted values stay encrypted until used). Raises ConfigError for any bad input, an
    inventory with no host included (unless ``allow_empty``: then the list is empty).
    """
    inv = build(load_raw(path, vault=vault))
    if not inv.names and allow_empty:
        return []
    require_hosts(inv)
    return resolve_hosts(inv, select_names(inv, limit))


def require_hosts(inv: Inventory) -> None:
    """An inventory that yields no host is a mistake (a top-level typo read as an
    Ansible group, an INI file with only ``[group]`` lines), not a run on nothing:
    raises ConfigError naming the file."""
    if not inv.names:
        raise ConfigError(
            "no hosts in this inventory (only groups without hosts, or a top-level key"
            " that is not a group of hosts?)",
            path=inv.raw.path,
        )
