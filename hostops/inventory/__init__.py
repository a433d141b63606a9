"""Inventories: which hosts to run on, and how to reach each of them.

Formats (detected from the file): hostops's native YAML (``defaults``,
``hosts``, ``groups``), Ansible YAML and Ansible INI. Every format becomes a
RawInventory, then an Inventory (groups, names), then Hosts for the names a
``--limit`` pattern selects.
"""

from __future__ import annotations

import difflib
import os
import re

from hostops.errors import ConfigError
from hostops.inventory.native import TOP_KEYS, load_native
from hostops.inventory.patterns import PatternError, hosts_from_option, select
from hostops.inventory.raw import RawHost, RawInventory
from hostops.inventory.resolve import Inventory, Overrides, SshConfigSource, build, resolve_hosts
from hostops.inventory.yamlsrc import Node, load_yaml
from hostops.models import Host

__all__ = [
    "Inventory",
    "Overrides",
    "build",
    "load_inventory",
    "load_raw",
    "raw_from_host_list",
    "require_hosts",
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
    if keys & set(TOP_KEYS) or not keys or _misspelt_native(root):
        return load_native(root)
    return _load_ansible(path, root)


_ANSIBLE_GROUP_KEYS = frozenset({"hosts", "children", "vars"})


def _misspelt_native(root: Node) -> bool:
    """A top-level key close to a native one (``host:``) whose value is no Ansible group
    (a mapping of hosts, children, vars): a typo in a native file, which the native
    loader reports with a did-you-mean, rather than an Ansible group of no host."""
    for key, value in root.node.value:
        if not difflib.get_close_matches(str(key.value), TOP_KEYS, n=1, cutoff=0.75):
            continue
        inner = value.value if isinstance(value.value, list) else []
        if not {getattr(k, "value", None) for k, _ in inner} <= _ANSIBLE_GROUP_KEYS:
            return True
    return False


def require_hosts(inv: Inventory) -> None:
    """An inventory file that yields no host is a mistake (a top-level typo read as an
    Ansible group, an INI file with only ``[group]`` lines), not a run on nothing:
    raises ConfigError naming the file."""
    if not inv.names:
        raise ConfigError(
            "no hosts in this inventory (only groups without hosts, or a top-level key"
            " that is not a group of hosts?)",
            path=inv.raw.path,
        )


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


def raw_from_host_list(value: str) -> RawInventory:
    """``-H 'web[01-05],db1'``: hosts without an inventory file. Raises ConfigError."""
    try:
        names = hosts_from_option(value)
    except PatternError as exc:
        raise ConfigError(str(exc), path="--host") from None
    if not names:
        raise ConfigError("no hosts given", path="--host")
    return RawInventory("--host", hosts={n: RawHost(n) for n in names})


def select_names(inv: Inventory, pattern: str | None, base_dir: str = ".") -> list[str]:
    """Host names the ``--limit`` pattern selects (all when None). Raises ConfigError."""
    if pattern is None:
        return list(inv.names)
    try:
        return select(pattern, inv.names, inv.members, base_dir=base_dir)
    except PatternError as exc:
        raise ConfigError(str(exc), path="--limit") from None


def load_inventory(
    path: str | os.PathLike[str],
    *,
    limit: str | None = None,
    ssh_config: SshConfigSource | None = None,
    overrides: Overrides | None = None,
    allow_empty: bool = False,
) -> list[Host]:
    """Read an inventory and return the selected hosts, fully resolved, in file order.

    ``limit`` is a host pattern (README, "Host patterns"); ``ssh_config`` an
    :class:`~hostops.host.ssh_config.SshConfig` to apply under the
    inventory's settings (None: none). Raises ConfigError for any bad input, a file
    with no host included (unless ``allow_empty``: then the list is empty).
    """
    inv = build(load_raw(path))
    if not inv.names and allow_empty:
        return []
    require_hosts(inv)
    return resolve_hosts(inv, select_names(inv, limit), ssh_config=ssh_config, overrides=overrides)
