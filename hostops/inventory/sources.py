"""Inventory sources: files, directories of them, dynamic inventory scripts, several at once.

As Ansible's inventory manager: a directory is read entry by entry in sorted
order (recursively), skipping hidden names, ``group_vars``, ``host_vars``,
``vars_plugins`` and files ending in ``.pyc .pyo .swp .bak ~ .rpm .md .txt
.rst .orig .cfg .retry``; an executable file starting with ``#!`` is a dynamic
inventory script; several sources make one inventory, a later one adding hosts
and groups and replacing variables it sets again. hostops's native format is
read alone (it does not mix with Ansible sources).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Sequence

from hostops.errors import ConfigError
from hostops.inventory.ansible import read_ansible, reconcile
from hostops.inventory.native import TOP_KEYS, load_native
from hostops.inventory.raw import RawGroup, RawInventory
from hostops.inventory.script import is_script, read_script
from hostops.inventory.yamlsrc import Node, load_yaml
from hostops.vault import Vault

# Ansible's REJECT_EXTS, then INVENTORY_IGNORE_EXTS' own additions.
_REJECT_EXTENSIONS = (".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst")
_IGNORED_EXTENSIONS = (*_REJECT_EXTENSIONS, ".orig", ".cfg", ".retry")
_IGNORED = re.compile(
    r"^\.|^host_vars$|^group_vars$|^vars_plugins$|"
    + "|".join(re.escape(e) + "$" for e in _IGNORED_EXTENSIONS)
)
_YAML_START = re.compile(r"[^\s=\[]+:(\s|\Z)|\{")
_YAML_SUFFIXES = (".yaml", ".yml", ".json")


def load_sources(
    paths: Sequence[str | os.PathLike[str]], vault: Vault | None = None
) -> RawInventory:
    """Read every inventory source in order and merge them into one inventory.

    Raises ConfigError (``FILE:LINE: …``) for a source that cannot be read, a
    directory without any inventory, or a native inventory given with others.
    """
    files = source_files(paths)
    if not files:
        raise ConfigError("no inventory given")
    raws = [_load_one(f, vault) for f in files]
    native = [r for r in raws if r.kind == "native"]
    if native and len(raws) > 1:
        raise ConfigError(
            "a hostops inventory is read alone: it cannot be merged with other sources",
            path=native[0].path,
        )
    if native:
        return native[0]
    merged = raws[0] if len(raws) == 1 else _merge([os.fspath(p) for p in paths], raws)
    merged.vault = vault
    return reconcile(merged)


def source_files(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """The files ``paths`` stand for, in the order they are read: a directory's
    inventory files in its place. Raises ConfigError for a directory without any."""
    files: list[str] = []
    for path in (os.fspath(p) for p in paths):
        if os.path.isdir(path):
            found = _directory_sources(path)
            if not found:
                raise ConfigError("no inventory file in this directory", path=path)
            files += found
        else:
            files.append(path)
    return files


def _directory_sources(path: str) -> list[str]:
    """The inventory files of a directory, in Ansible's order (sorted, depth first)."""
    found: list[str] = []
    for entry in sorted(os.listdir(path)):
        if _IGNORED.search(entry):
            continue
        full = os.path.join(path, entry)
        if os.path.isdir(full):
            found += _directory_sources(full)
        else:
            found.append(full)
    return found


def _load_one(path: str, vault: Vault | None) -> RawInventory:
    """One inventory file, in whichever format it is (not yet reconciled if Ansible's)."""
    if is_script(path):
        return read_script(path)
    if not os.path.exists(path):
        raise ConfigError("no such file", path=path)
    extension = os.path.splitext(path)[1]
    if path.endswith(_YAML_SUFFIXES) or _starts_like_yaml(path):
        try:
            root = load_yaml(path)
        except ConfigError as exc:
            if extension and not path.endswith(_YAML_SUFFIXES):
                return read_ansible(path, None, vault)  # INI for Ansible, whatever it looks like
            if not exc.reason.startswith("invalid YAML"):
                raise  # unreadable or empty: no format reads it
            root = None  # read_ansible says what is wrong (or reads it as INI, as Ansible)
        if root is not None and root.node.tag == "tag:yaml.org,2002:map":
            keys = {k.value for k, _ in root.node.value}
            if keys & set(TOP_KEYS) or not keys or _misspelt_native(root):
                return load_native(root)
            if not extension or path.endswith(_YAML_SUFFIXES):
                return read_ansible(path, root, vault)
    return read_ansible(path, None, vault)


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


def _merge(paths: list[str], raws: list[RawInventory]) -> RawInventory:
    """Several Ansible sources as one inventory, as Ansible adds them one after another."""
    out = RawInventory(path=",".join(paths), kind="ansible")
    for raw in raws:
        out.warnings += [w for w in raw.warnings if w not in out.warnings]
        out.var_dirs += raw.var_dirs
        for name, host in raw.hosts.items():
            mine = out.hosts.get(name)
            if mine is None:
                out.hosts[name] = host
            else:
                mine.variables = {**mine.variables, **host.variables}
        for name, group in raw.groups.items():
            mine_group = out.groups.get(name)
            if mine_group is None:
                out.groups[name] = RawGroup(
                    name,
                    hosts=list(group.hosts),
                    children=list(group.children),
                    where=group.where,
                    variables=dict(group.variables),
                    priority=group.priority,
                )
                continue
            known = set(mine_group.hosts)
            mine_group.hosts += [h for h in group.hosts if h not in known]
            mine_group.children += [c for c in group.children if c not in mine_group.children]
            mine_group.variables = {**mine_group.variables, **group.variables}
            if "ansible_group_priority" in group.variables:
                mine_group.priority = group.priority
            mine_group.where = mine_group.where or group.where
    return out
