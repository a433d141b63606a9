"""Inventories: which hosts to run on, and how to reach each of them.

Formats (detected from the file): hostops's native YAML (``defaults``,
``hosts``, ``groups``), Ansible YAML and Ansible INI. Every format becomes a
RawInventory, then an Inventory (groups, names), then Hosts for the names a
``--limit`` pattern selects.
"""

from __future__ import annotations

import os
import re

from hostops.errors import ConfigError
from hostops.inventory.native import TOP_KEYS, load_native
from hostops.inventory.patterns import PatternError, hosts_from_option, select
from hostops.inventory.raw import RawHost, RawInventory
from hostops.inventory.resolve import Inventory, build, every_host, resolve_hosts
from hostops.inventory.yamlsrc import Node, load_yaml
from hostops.models import Host

__all__ = [
    "Inventory",
    "build",
    "every_host",
    "load_inventory",
    "load_raw",
    "raw_from_host_list",
    "resolve_hosts",
    "select_names",
]

_YAML_START = re.compile(r"[^\s=\[]+:(\s|\Z)|\{")
_YAML_SUFFIXES = (".yaml", ".yml", ".json")


def load_raw(path: str | os.PathLike[str]) -> RawInventory:
    """Read an inventory file in any supported format. Raises ConfigError (``FILE:LINE: …``)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ConfigError("inventory directories are not supported; pass one file", path=path)
    if not path.endswith(_YAML_SUFFIXES) and not _starts_like_yaml(path):
        return _load_ansible(path)  # INI
    root = load_yaml(path)
    keys = (
        {k.value for k, _ in root.node.value} if root.node.tag == "tag:yaml.org,2002:map" else set()
    )
    if keys & set(TOP_KEYS) or not keys:
        return load_native(root)
    return _load_ansible(path, root)


def _load_ansible(path: str, root: Node | None = None) -> RawInventory:
    from hostops.inventory.ansible import load_ansible  # only when the file is Ansible's

    return load_ansible(path, root)


def _starts_like_yaml(path: str) -> bool:
    """A YAML inventory starts with ``key:`` (or ``{``); an INI one with ``[group]`` or a host."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                text = line.strip()
                if text and not text.startswith(("#", ";", "---")):
                    return bool(_YAML_START.match(text))
    except OSError:
        return True  # load_yaml reports the file error
    return True  # empty: the native loader says what is missing


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
        return select(pattern, inv.names, inv.members, base_dir=base_dir)
    except PatternError as exc:
        raise ConfigError(f"limit: {exc}", argument="limit") from None


def load_inventory(path: str | os.PathLike[str], *, limit: str | None = None) -> list[Host]:
    """Read an inventory and return the selected hosts with the inventory's own settings,
    in file order: no ssh_config, no command line (``hostops.load_inventory`` adds them).

    ``limit`` is a host pattern (README, "Host patterns"). Raises ConfigError for any
    bad input.
    """
    inv = build(load_raw(path))
    return resolve_hosts(inv, select_names(inv, limit))
