"""Ansible inventory files (INI and YAML) read into the raw inventory model.

The reference is what ansible-core's ``ini`` and ``yaml`` inventory plugins do
(``tests/compat`` compares with ``ansible-inventory --list``): the same hosts,
the same groups, ``all`` and ``ungrouped`` as Ansible fills them, INI values
typed like Python literals, a later value for the same variable replacing an
earlier one.

Variables are kept as written, with where each was set (``RawHost.variables``,
``RawGroup.variables``): Ansible merges them per host before its connection
plugin reads them (:mod:`hostops.inventory.ansible_vars`,
:mod:`hostops.inventory.ansible_settings`). Secrets in plain text
(``ansible_password``, ...) are dropped with a warning that never shows their
value; vaulted login and become passwords are kept, still encrypted. What
hostops cannot do faithfully (inventory plugins, TOML) is refused with a
ConfigError naming the feature rather than half-done.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import yaml

from hostops.credentials import BECOME_PASSWORD_VARS, LOGIN_PASSWORD_VARS
from hostops.errors import ConfigError
from hostops.inventory.raw import RawGroup, RawHost, RawInventory, Var, Where
from hostops.inventory.yamlsrc import Node, parse_yaml
from hostops.ranges import RangeError, expand_ansible
from hostops.vault import Vault, Vaulted, VaultError, is_vaulted

ALL = "all"
UNGROUPED = "ungrouped"

# Ansible's yaml plugin takes these extensions (and none); every other file is INI.
_YAML_EXTENSIONS = (".yaml", ".yml", ".json")
_GROUP_SECTIONS = ("hosts", "children", "vars")

# Variables holding a key's contents rather than a file name: as secret as a password.
_SECRET_VARS = frozenset({"ansible_private_key", "ansible_ssh_private_key"})
# Passwords hostops may use, when they are vaulted (encrypted at rest).
_USABLE_WHEN_VAULTED = frozenset({*LOGIN_PASSWORD_VARS, *BECOME_PASSWORD_VARS})
_SECRET_ADVICE = (
    "hostops never reads secrets in plain text from an inventory; vault it"
    " (ansible-vault encrypt_string) or name an environment variable with password_env"
    " in a hostops inventory"
)

# Ansible's own patterns: a [section] header with an optional :type, and a group name line.
_INI_SECTION = re.compile(r"\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?\Z")
_INI_GROUP_NAME = re.compile(r"([^:\]\s]+)\s*(?:#.*)?\Z")
# Ansible's host:port forms (parse_address): '[host]:port', and 'host:port' where the
# host may hold [x:y] ranges but no other ':' (so a bare IPv6 address keeps its colons).
_BRACKETED_HOST_PORT = re.compile(r"\[(.+)\]:([0-9]+)\Z")
_HOST_PORT = re.compile(r"((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)\Z")

# (variable name, line, a function giving the value): values are built only for
# variables that are kept, so a secret is never even constructed.
_VarSource = tuple[str, int, Callable[[], Any]]


def load_ansible(
    path: str | os.PathLike[str], root: Node | None = None, vault: Vault | None = None
) -> RawInventory:
    """One Ansible inventory file, complete (see :func:`read_ansible` and :func:`reconcile`)."""
    return reconcile(read_ansible(path, root, vault))


def read_ansible(
    path: str | os.PathLike[str], root: Node | None = None, vault: Vault | None = None
) -> RawInventory:
    """Read an Ansible inventory file, INI or YAML (told apart as Ansible does).

    A ``.yaml``, ``.yml`` or ``.json`` file is YAML unless it does not parse to
    a mapping (then INI, as Ansible falls back to its INI plugin); a file
    without an extension is YAML when it parses to a mapping, INI otherwise;
    any other file is INI. A vault-encrypted file is decrypted with ``vault``.

    Returns the hosts and groups in file order with their variables, and
    warnings for everything read but ignored (secrets in plain text, keys
    Ansible itself skips). Its ``var_dirs`` is the file's directory.

    Raises :class:`ConfigError` (``FILE:LINE: reason``) for a file Ansible would
    reject, and for what hostops does not support: inventory plugins and TOML.

    ``root``: the file's YAML, when the caller has parsed it already.
    """
    path = os.fspath(path)
    text = _read_inventory_file(path, vault)
    builder = _Builder(path)
    if root is None:
        root, yaml_error = _yaml_root(path, text)
    else:
        yaml_error = None
    if root is None:
        try:
            _read_ini(text, builder)
        except ConfigError:
            if yaml_error is not None:  # neither: the YAML complaint is the one for a .yml
                raise yaml_error from None
            raise
    else:
        _read_yaml(root, builder)
    return builder.finish()


# --------------------------------------------------------------------------- the file itself


def _read_inventory_file(path: str, vault: Vault | None) -> str:
    """The file's text (decrypted when it is vaulted), after refusing the kinds of
    inventory hostops cannot read.

    Raises ConfigError for a missing or unreadable file, TOML, or a vaulted file
    no password given opens.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ConfigError("no such file", path=path) from None
    except IsADirectoryError:
        raise ConfigError("is a directory (read it as an inventory source)", path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path=path) from None
    if os.path.splitext(path)[1] == ".toml":
        raise ConfigError("TOML inventories are not supported; use INI or YAML", path=path)
    if is_vaulted(data):
        try:
            return (vault or Vault()).decrypt(data.decode("ascii", "replace"))
        except VaultError as exc:
            raise ConfigError(f"vault-encrypted inventory: {exc}", path=path, line=1) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError("cannot read: not UTF-8 text", path=path, line=line) from None


def _yaml_root(path: str, text: str) -> tuple[Node | None, ConfigError | None]:
    """The YAML document for a YAML inventory, None for an INI one (as Ansible decides),
    and the YAML error of a ``.yml`` file that is not YAML (raised if INI fails too)."""
    extension = os.path.splitext(path)[1]
    if extension and extension not in _YAML_EXTENSIONS:
        return None, None
    try:
        root = parse_yaml(text, path)
    except ConfigError as exc:
        return None, exc if extension else None  # not YAML: Ansible goes on to INI
    if isinstance(root.node, yaml.MappingNode):
        return root, None
    if extension:  # parsed, but no inventory: as Ansible's INI plugin after the YAML one
        return None, root.error(f"a YAML inventory must be a mapping, not {root.kind}")
    return None, None


# --------------------------------------------------------------------------- shared by both formats


class _Builder:
    """Collects hosts, groups and variables as Ansible's inventory does, then maps them.

    Variables are kept per host and per group with a later value replacing an
    earlier one (Ansible's ``set_variable``), and mapped to settings only at
    the end, so aliases and repeated declarations combine as in Ansible.
    """

    def __init__(self, path: str):
        self.path = path
        self.inv = RawInventory(path=path)
        self._vars: dict[tuple[str, str], dict[str, Var]] = {}
        self._direct_groups: dict[str, list[str]] = {}  # host -> groups that list it
        self._warned: set[str] = set()
        for name in (ALL, UNGROUPED):  # Ansible always has both
            self.inv.groups[name] = RawGroup(name)

    def where(self, line: int | None) -> Where:
        return Where(self.path, line)

    def error(self, message: str, line: int | None) -> ConfigError:
        return ConfigError(message, path=self.path, line=line)

    def warn(self, message: str) -> None:
        """Add a warning once (a range of hosts repeats the same line's problem)."""
        if message not in self._warned:
            self._warned.add(message)
            self.inv.warnings.append(message)

    def group(self, name: str, line: int | None) -> RawGroup:
        """The group, created on first mention; its place is its first mention with a line."""
        group = self.inv.groups.get(name)
        if group is None:
            group = self.inv.groups[name] = RawGroup(name)
        if group.where is None and line is not None:
            group.where = self.where(line)
        return group

    def child(self, parent: str, child: str, line: int) -> None:
        """Make ``child`` a child group of ``parent``. Raises ConfigError for a loop, as Ansible."""
        if child == ALL:
            raise self.error(f"group {ALL!r} cannot be a child of group {parent!r}", line)
        if child == parent or self._reaches(child, parent):
            raise self.error(
                f"group {child!r} as a child of {parent!r} makes a loop of groups", line
            )
        children = self.group(parent, None).children
        self.group(child, None)  # its place is where it is declared, not where it is named
        if child not in children:
            children.append(child)

    def _reaches(self, start: str, target: str) -> bool:
        seen: set[str] = set()
        todo = [start]
        while todo:
            name = todo.pop()
            if name == target:
                return True
            if name not in seen and name in self.inv.groups:
                seen.add(name)
                todo.extend(self.inv.groups[name].children)
        return False

    def add_hosts(self, pattern: str, group: str, line: int, sources: list[_VarSource]) -> None:
        """Add the hosts a pattern (``web[01:03]:2222``) names to ``group``, with their variables.

        Raises ConfigError for a malformed pattern or variable.
        """
        names, port = self._expand(pattern, line)
        variables = self.read_vars(f"host {pattern!r}", sources) if sources else {}
        self.group(group, None)
        for name in names:
            self._add_host(name, group, line, port)
            if variables:  # most hosts of a large file have none: no dict for them
                self._vars.setdefault(("host", name), {}).update(variables)

    def _add_host(self, name: str, group: str, line: int, port: int | None) -> None:
        if name not in self.inv.hosts:
            self.inv.hosts[name] = RawHost(name, where=self.where(line))
            self._direct_groups[name] = []
            # As Ansible: a ':port' suffix counts only where the host first appears,
            # and an ansible_port on the same line still wins over it.
            if port is not None:
                self._vars[("host", name)] = {"ansible_port": Var(port, self.where(line))}
        # A host's own list of groups is short; a group's list of hosts may be huge.
        if group not in self._direct_groups[name]:
            self._direct_groups[name].append(group)
            self.inv.groups[group].hosts.append(name)

    def _expand(self, pattern: str, line: int) -> tuple[list[str], int | None]:
        if "=" in pattern:  # never echo it: it may be a secret on the wrong line
            raise self.error("a host name cannot contain '=' (is this a variable line?)", line)
        if pattern.strip() == "---":
            raise self.error(
                "'---' is not a host name (is this YAML in a file named as INI?)", line
            )
        name, port = pattern, None
        for form in (_BRACKETED_HOST_PORT, _HOST_PORT):
            found = form.match(name)
            if found:
                name, port = found[1], int(found[2])
        if not name or name.endswith(":"):
            raise self.error(
                f"bad host {pattern!r}: a ':' after the name must be followed by a port number",
                line,
            )
        if "[" not in name:
            return [name], port
        try:
            return expand_ansible(name), port
        except RangeError as exc:
            raise self.error(f"bad host range: {exc}", line) from None

    def group_vars(self, group: str, sources: list[_VarSource]) -> None:
        """Set variables on a group (``all``'s become the defaults)."""
        variables = self.read_vars(f"group {group!r}", sources)
        self._vars.setdefault(("group", group), {}).update(variables)

    def read_vars(self, owner: str, sources: list[_VarSource]) -> dict[str, Var]:
        """Build the variables' values, dropping plain-text secrets with a warning that names
        only the variable (a vaulted login or become password is kept, encrypted)."""
        out: dict[str, Var] = {}
        for name, line, get_value in sources:
            where = self.where(line)
            if _is_secret(name):
                value = get_value() if name in _USABLE_WHEN_VAULTED else None
                if not isinstance(value, Vaulted):
                    self.warn(f"{where}: {owner}: {name} ignored: {_SECRET_ADVICE}")
                    continue
            else:
                value = get_value()
            if isinstance(value, Vaulted):
                value = Vaulted(value.text, value.where or str(where), name)
            out[name] = Var(value, where)
        return out

    def finish(self) -> RawInventory:
        """Attach every variable to its host or group (see :func:`reconcile` for the rest).

        Raises ConfigError for an ``ansible_group_priority`` that is not a number.
        """
        inv = self.inv
        for (kind, name), variables in self._vars.items():
            if kind == "host":
                inv.hosts[name].variables = variables
                continue
            group = inv.groups[name]
            group.variables = variables
            priority = variables.get("ansible_group_priority")
            if priority is not None and priority.value is not None:
                try:
                    group.priority = int(priority.value)
                except (TypeError, ValueError):
                    raise _value_error(
                        priority,
                        f"group {name!r}: ansible_group_priority must be a number, "
                        f"not {priority.value!r}",
                    ) from None
        inv.kind = "ansible"
        inv.var_dirs = [os.path.dirname(os.path.abspath(self.path))]
        return inv


def reconcile(inv: RawInventory) -> RawInventory:
    """Ansible's last step once every source is read: ``ungrouped`` is the hosts in no
    other group, every group without a parent hangs under ``all`` (after ``ungrouped``,
    all's first child), and a name both a host and a group gets a warning."""
    grouped = {h for name, g in inv.groups.items() if name not in (ALL, UNGROUPED) for h in g.hosts}
    # Hosts put in 'ungrouped' explicitly stay first (unless another group has them),
    # then every other host in no group, in the order hosts were met.
    explicit = [h for h in inv.groups[UNGROUPED].hosts if h not in grouped]
    listed = set(explicit)
    explicit += [h for h in inv.hosts if h not in grouped and h not in listed]
    inv.groups[UNGROUPED].hosts = explicit
    claimed = {c for name, g in inv.groups.items() if name != ALL for c in g.children}
    top = inv.groups[ALL].children
    if UNGROUPED in top:
        top.remove(UNGROUPED)
    top.insert(0, UNGROUPED)
    tops = set(top)
    top.extend(g for g in inv.groups if g != ALL and g not in claimed and g not in tops)
    for name in [h for h in inv.hosts if h in inv.groups]:
        message = f"{inv.path}: {name!r} is both a host and a group (Ansible warns too)"
        if message not in inv.warnings:
            inv.warnings.append(message)
    return inv


def _is_secret(name: str) -> bool:
    """Connection secrets by Ansible's names: passwords, passphrases, key contents."""
    lowered = name.lower()
    if not lowered.startswith("ansible_"):
        return False
    return (
        lowered.endswith(("_pass", "_password", "_passwd"))
        or "passphrase" in lowered
        or lowered in _SECRET_VARS
    )


def _value_error(var: Var, message: str) -> ConfigError:
    return ConfigError(message, path=var.where.path, line=var.where.line)


# --------------------------------------------------------------------------- INI


def _read_ini(text: str, builder: _Builder) -> None:
    """Read Ansible's INI format into the builder. Raises ConfigError with the line."""
    group, section = UNGROUPED, "hosts"  # Ansible: lines before any header are [ungrouped]
    declared = {ALL, UNGROUPED}
    needs_declaring: dict[str, tuple[int, str]] = {}  # group -> first line using it, complaint
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        header = _INI_SECTION.match(line)
        if header:
            group, section = header[1], header[2] or "hosts"
            if section not in _GROUP_SECTIONS:
                raise builder.error(
                    f"section [{group}:{section}] has an unknown type (expected "
                    f"[{group}], [{group}:children] or [{group}:vars])",
                    number,
                )
            builder.group(group, number)
            if section == "vars":
                needs_declaring.setdefault(
                    group,
                    (number, f"[{group}:vars] is for group {group!r}, which is never declared"),
                )
            else:
                declared.add(group)
        elif line.startswith("[") and line.endswith("]"):
            raise builder.error(
                f"invalid section header {line!r}: expected [group], [group:children] "
                f"or [group:vars] with no spaces",
                number,
            )
        elif section == "hosts":
            _ini_hosts(line, number, group, builder)
        elif section == "children":
            child = _ini_child(line, number, group, builder)
            needs_declaring.setdefault(
                child,
                (number, f"[{group}:children] names group {child!r}, which is never declared"),
            )
        else:
            builder.group_vars(group, [_ini_group_var(line, number, builder)])
    # Ansible wants every group used in [g:children] or [g:vars] declared somewhere.
    for name, (number, complaint) in sorted(needs_declaring.items(), key=lambda item: item[1][0]):
        if name not in declared:
            raise builder.error(complaint, number)


def _ini_hosts(line: str, number: int, group: str, builder: _Builder) -> None:
    """``name[:port] key=value key="quoted value" # comment``"""
    try:
        # shlex is slow (most of the time of a 10,000-host file): only where quoting is used.
        tokens = (
            line.split()
            if not any(c in line for c in "'\"\\#")
            else shlex.split(line, comments=True)
        )
    except ValueError as exc:
        raise builder.error(f"cannot read the host line: {exc}", number) from None
    if not tokens:
        return
    pattern, *assignments = tokens
    sources: list[_VarSource] = []
    for position, token in enumerate(assignments, 2):
        name, equals, text = token.partition("=")
        if not equals or not name:
            # The word itself is not shown: it may be a password typed without its key.
            raise builder.error(
                f"host {pattern!r}: word {position} on the line is not key=value", number
            )
        sources.append((name, number, partial(_ini_value, text)))
    builder.add_hosts(pattern, group, number, sources)


def _ini_child(line: str, number: int, group: str, builder: _Builder) -> str:
    found = _INI_GROUP_NAME.match(line)
    if not found or "=" in line:
        raise builder.error(f"[{group}:children] lists group names, one a line", number)
    builder.child(group, found[1], number)
    return found[1]


def _ini_group_var(line: str, number: int, builder: _Builder) -> _VarSource:
    name, equals, text = line.partition("=")
    if not equals or not name.strip():
        raise builder.error("expected key=value in a [group:vars] section", number)
    return name.strip(), number, partial(_ini_value, text.strip())


def _ini_value(text: str) -> Any:
    """As Ansible: a Python literal (``2222``, ``True``, ``[1, 2]``) becomes its value, else text."""
    # The common cases without compile(); isascii: int() would also take "²" and fail.
    if text.isascii() and text.isdigit() and (text == "0" or text[0] != "0"):
        return int(text)
    if text.isidentifier() and text not in ("True", "False", "None"):
        return text
    if _NEVER_LITERAL.fullmatch(text):  # an address or a dotted name: never a literal
        return text
    return _literal(text)


# 10.0.0.1 (a syntax error) or web1.example.com (an attribute, not a literal): each would
# cost a compile() (an Ansible project: one for every host's ansible_host).
_NEVER_LITERAL = re.compile(r"[0-9]+(?:\.[0-9]+){2,}|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)+")


def _literal(text: str) -> Any:
    """A Python literal's value (Ansible's ``literal_eval``), else ``text``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _plain(value)


def _plain(value: Any) -> Any:
    """Only the types Ansible keeps: tuples and sets become lists, the rest text."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is Ellipsis:
        return "..."
    if isinstance(value, complex):
        return str(value)
    return value


# --------------------------------------------------------------------------- YAML


def _read_yaml(root: Node, builder: _Builder) -> None:
    """Read Ansible's YAML format: top-level groups, each with hosts, children and vars.

    Raises ConfigError with the line, as Ansible fails; warns where Ansible warns.
    """
    groups = _pairs(root, "the inventory")
    for key, line, body in groups:
        if key == "plugin":
            name = body.value() if body is not None else None
            raise builder.error(f"inventory plugins are not supported (plugin: {name})", line)
    for name, line, body in groups:
        if body is not None and not isinstance(body.node, yaml.MappingNode):
            # Ansible skips such a top-level entry with a warning (a nested one is an error).
            builder.warn(f"{builder.where(line)}: skipped {name!r}: a group must be a mapping")
            continue
        _yaml_group(name, line, body, builder)


def _yaml_group(name: str, line: int, body: Node | None, builder: _Builder) -> None:
    builder.group(name, line)
    if body is None:
        return
    for key, key_line, section in _pairs(body, f"group {name!r}"):
        if key not in _GROUP_SECTIONS:
            if section is not None:
                builder.warn(
                    f"{builder.where(key_line)}: group {name!r}: ignored key {key!r} "
                    f"(a group has only hosts, children and vars)"
                )
            continue
        entries = _section_entries(section, key_line, f"{key} of group {name!r}", builder)
        if key == "vars":
            builder.group_vars(name, [_yaml_var(*entry) for entry in entries])
        elif key == "children":
            for child, child_line, child_body in entries:
                if child_body is not None and not isinstance(child_body.node, yaml.MappingNode):
                    raise child_body.error(
                        f"group {child!r} must be a mapping (hosts, children, vars)"
                    )
                _yaml_group(child, child_line, child_body, builder)
                builder.child(name, child, child_line)
        else:
            for pattern, host_line, host_body in entries:
                sources = []
                if host_body is not None:
                    pairs = _pairs(host_body, f"the variables of host {pattern!r}")
                    sources = [_yaml_var(*pair) for pair in pairs]
                builder.add_hosts(pattern, name, host_line, sources)


def _pairs(node: Node, what: str) -> list[tuple[str, int, Node | None]]:
    """A mapping's (key, key's line, value or None for null). Raises ConfigError if not a mapping."""
    pairs = node.mapping(what)
    return [
        (key, key_node.start_mark.line + 1, None if value.is_null() else value)
        for (key, value), (key_node, _) in zip(pairs, node.node.value, strict=True)
    ]


def _section_entries(
    section: Node | None, line: int, what: str, builder: _Builder
) -> Sequence[tuple[str, int, Node | None]]:
    """A hosts/children/vars section: a mapping, empty, or (as Ansible allows) one bare name."""
    if section is None:
        return []
    if isinstance(section.node, yaml.ScalarNode):
        value = section.value()
        if isinstance(value, str) and value:
            return [(value, section.line, None)]
    if not isinstance(section.node, yaml.MappingNode):
        raise builder.error(f"{what} must be a mapping", line)
    return _pairs(section, what)


def _yaml_var(name: str, line: int, node: Node | None) -> _VarSource:
    return name, line, partial(_yaml_value, node)


def _yaml_value(node: Node | None) -> Any:
    """A variable's value (``!vault`` a Vaulted, ``!unsafe`` plain text: yamlsrc builds them)."""
    return None if node is None else node.value()
