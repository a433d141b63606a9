"""A host's Ansible variables, merged from every place Ansible reads them, in its order.

Lowest first (ansible-core's ``VariableManager.get_vars`` with the default
``VARIABLE_PRECEDENCE`` and vars plugins run on demand):

1. the inventory files' variables of group ``all``;
2. the inventory files' variables of the host's other groups, sorted by depth
   (parents first), then ``ansible_group_priority``, then name;
3. ``group_vars/all`` beside each inventory source, then beside the playbook;
4. ``group_vars/GROUP`` for the same groups in the same order, source by source
   (each source directory in turn, all groups), then beside the playbook;
5. the inventory files' variables of the host itself;
6. ``host_vars/HOST`` beside each inventory source, then beside the playbook.

A later value replaces an earlier one (Ansible's default ``hash_behaviour``).
``group_vars/NAME`` is the first of ``NAME`` (a directory: every file in it,
recursively, sorted, hidden and ``~`` files skipped, extensions ``.yml``,
``.yaml``, ``.json`` or none), ``NAME.yml``, ``NAME.yaml``, ``NAME.json``, as
Ansible's ``find_vars_files`` looks.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import yaml

from hostops.errors import ConfigError
from hostops.inventory.raw import RawInventory, Var, Where
from hostops.inventory.yamlsrc import parse_yaml
from hostops.vault import Vault, Vaulted, VaultError, is_vaulted, secret_leaves

_EXTENSIONS = (".yml", ".yaml", ".json")


class VarsFiles:
    """The ``group_vars/`` and ``host_vars/`` of directories, each listed and read once."""

    def __init__(self, vault: Vault | None = None) -> None:
        self._vault = vault
        self._listings: dict[
            tuple[str, str], tuple[str, frozenset[str], frozenset[str]] | None
        ] = {}
        self._files: dict[str, dict[str, Var]] = {}
        # The group part of a host's variables depends only on its groups: hosts that
        # share them (all the ungrouped ones, say) share it.
        self.group_parts: dict[tuple[str, ...], dict[str, Var]] = {}
        self.reads = 0  # files parsed: for the tests of the cache

    def variables(self, directory: str, kind: str, name: str) -> dict[str, Var]:
        """The variables ``DIR/KIND/NAME…`` sets, merged file by file; ``{}`` if none.

        Raises ConfigError naming the file for one that is not a YAML mapping or
        is vaulted without a password that opens it.
        """
        found = self._listing(directory, kind)
        if found is None or name not in found[2] or name.startswith(os.sep):
            return {}  # (as Ansible, a 'chroot' host name /x/y has no vars files)
        folder, listing, _ = found
        merged: dict[str, Var] = {}
        for path in _find(folder, listing, name):
            merged.update(self._read(path))
        return merged

    def _listing(
        self, directory: str, kind: str
    ) -> tuple[str, frozenset[str], frozenset[str]] | None:
        """The folder, its entries and the names they stand for (without extension),
        listed once: most hosts have no file, and are known not to without a lookup."""
        key = (directory, kind)
        if key not in self._listings:
            folder = os.path.join(directory, kind)
            try:
                entries = frozenset(os.listdir(folder))
            except OSError:  # missing, or not a directory: Ansible skips it too
                self._listings[key] = None
            else:
                stems = {e[: -len(x)] for e in entries for x in _EXTENSIONS if e.endswith(x)}
                self._listings[key] = (folder, entries, frozenset(entries | stems))
        return self._listings[key]

    def _read(self, path: str) -> dict[str, Var]:
        found = self._files.get(path)
        if found is None:
            found = self._files[path] = self._parse(path)
            self.reads += 1
        return found

    def _parse(self, path: str) -> dict[str, Var]:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror or exc}", path=path) from None
        vaulted = is_vaulted(data)
        if vaulted:
            try:
                text: str = (self._vault or Vault()).decrypt(data.decode("ascii", "replace"))
            except VaultError as exc:
                raise ConfigError(f"vault-encrypted variables file: {exc}", path=path) from None
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise ConfigError("cannot read: not UTF-8 text", path=path) from None
        if not text.strip():
            return {}
        try:
            root = parse_yaml(text, path)
        except ConfigError as exc:
            if exc.reason == "the file is empty":  # comments only: Ansible ignores it
                return {}
            raise
        if root.is_null():
            return {}
        if not isinstance(root.node, yaml.MappingNode):
            raise root.error(f"a variables file must be a mapping, not {root.kind}")
        out: dict[str, Var] = {}
        for (key, value), (key_node, _) in zip(
            root.mapping("the variables"), root.node.value, strict=True
        ):
            line = key_node.start_mark.line + 1
            built = value.value()
            if isinstance(built, Vaulted):
                built = Vaulted(built.text, built.where, key)
            elif vaulted:  # every value of a vault-encrypted file is a secret
                built = secret_leaves(built)
            out[key] = Var(built, Where(path, line))
        return out


def _find(folder: str, listing: frozenset[str], name: str) -> list[str]:
    """The files ``group_vars/NAME`` stands for (Ansible's ``find_vars_files``)."""
    for extension in ("", *_EXTENSIONS):
        entry = name + extension
        if entry not in listing:
            continue
        path = os.path.join(folder, entry)
        if os.path.isdir(path):
            return _directory_files(path)
        return [path]
    return []


def _directory_files(path: str) -> list[str]:
    found: list[str] = []
    for entry in sorted(os.listdir(path)):
        if entry.startswith(".") or entry.endswith("~"):
            continue
        full = os.path.join(path, entry)
        extension = os.path.splitext(entry)[1]
        if os.path.isdir(full) and not extension:
            found += _directory_files(full)
        elif os.path.isfile(full) and (not extension or extension in _EXTENSIONS):
            found.append(full)
    return found


def host_variables(
    raw: RawInventory, host: str, groups: Sequence[str], files: VarsFiles
) -> dict[str, Var]:
    """Every variable of ``host`` with where its value was set, merged in Ansible's
    order. ``groups`` are the host's groups other than ``all``, already sorted as
    Ansible applies them (depth, priority, name). Raises ConfigError for a bad
    variables file."""
    key = tuple(groups)
    part = files.group_parts.get(key)
    if part is None:
        part = files.group_parts[key] = _group_part(raw, groups, files)
    merged = dict(part)
    merged.update(raw.hosts[host].variables)
    directories = (raw.var_dirs, raw.play_dirs)
    for where in directories:
        _merge(merged, files, where, "host_vars", [host])
    return merged


def _group_part(raw: RawInventory, groups: Sequence[str], files: VarsFiles) -> dict[str, Var]:
    """Steps 1 to 4: what the groups give (see the module's docstring)."""
    merged: dict[str, Var] = dict(raw.groups["all"].variables) if "all" in raw.groups else {}
    for group in groups:
        merged.update(raw.groups[group].variables)
    directories = (raw.var_dirs, raw.play_dirs)
    for where in directories:
        _merge(merged, files, where, "group_vars", ["all"])
    for where in directories:
        _merge(merged, files, where, "group_vars", groups)
    return merged


def _merge(
    merged: dict[str, Var],
    files: VarsFiles,
    directories: Iterable[str],
    kind: str,
    names: Iterable[str],
) -> None:
    for directory in directories:
        for name in names:
            merged.update(files.variables(directory, kind, name))
