"""Ansible inventory files (INI and YAML) read into the raw inventory model.

The reference is what ansible-core's ``ini`` and ``yaml`` inventory plugins do
(``tests/compat`` compares with ``ansible-inventory --list``): the same hosts,
the same groups, ``all`` and ``ungrouped`` as Ansible fills them, INI values
typed like Python literals, a later value for the same variable replacing an
earlier one.

Connection variables become hostops settings (``ansible_host`` -> ``address``,
``ansible_port`` -> ``port``, ...), ``all``'s variables become the defaults and
every other variable goes to ``vars``. Secrets (``ansible_password``, ...) are
dropped with a warning that never shows their value. What hostops cannot do
faithfully (inventory plugins and scripts, vault, Jinja templates in connection
settings, variables from ``group_vars/``) is refused with a ConfigError naming
the feature rather than half-done.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import chain
from typing import Any

import yaml

from hostops.errors import ConfigError
from hostops.inventory.raw import RawGroup, RawHost, RawInventory, Where
from hostops.inventory.yamlsrc import Node, load_yaml
from hostops.models import Transport
from hostops.ranges import RangeError, expand_ansible

ALL = "all"
UNGROUPED = "ungrouped"

# Ansible's yaml plugin takes these extensions (and none); every other file is INI.
_YAML_EXTENSIONS = (".yaml", ".yml", ".json")
_GROUP_SECTIONS = ("hosts", "children", "vars")

# hostops setting -> the Ansible variables for it. When a host or group sets
# several, the last one listed wins: Ansible's connection plugins read them in
# this order and keep the last one defined (checked with ``ansible -vvv``).
_SETTING_VARS: dict[str, tuple[str, ...]] = {
    "address": ("ansible_host", "ansible_ssh_host"),
    "port": ("ansible_port", "ansible_ssh_port"),
    "user": ("ansible_user", "ansible_ssh_user"),
    "identity_file": ("ansible_private_key_file", "ansible_ssh_private_key_file"),
    "connection": ("ansible_connection",),
}
# Raw ssh command-line arguments: their -J and -o options go to the host layer.
_SSH_ARGS_VARS = ("ansible_ssh_args", "ansible_ssh_common_args", "ansible_ssh_extra_args")
_MAPPED_VARS = frozenset(chain(*_SETTING_VARS.values(), _SSH_ARGS_VARS))

_SSH_CONNECTIONS = frozenset(
    {
        "ssh",
        "smart",
        "paramiko",
        "paramiko_ssh",
        "ansible.builtin.ssh",
        "ansible.builtin.paramiko_ssh",
    }
)
_LOCAL_CONNECTIONS = frozenset({"local", "ansible.builtin.local"})
# Variables holding a key's contents rather than a file name: as secret as a password.
_SECRET_VARS = frozenset({"ansible_private_key", "ansible_ssh_private_key"})
_SECRET_ADVICE = (
    "hostops never reads secrets from an inventory; name an environment variable"
    " with password_env in a hostops inventory instead"
)

# ssh(1) options that take an argument, so that argument is not mistaken for an option.
_SSH_FLAGS_WITH_ARG = frozenset("BbcDEeFIiJLlmOoPpQRSWw")
_SSH_OPTION = re.compile(r"\s*([A-Za-z]+)\s*(?:=\s*|\s+)(.*?)\s*\Z")
_TEMPLATE = re.compile(r"\{\{|\{%")

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


def load_ansible(path: str | os.PathLike[str], root: Node | None = None) -> RawInventory:
    """Read an Ansible inventory file, INI or YAML (told apart as Ansible does).

    A ``.yaml``, ``.yml`` or ``.json`` file is YAML; a file without an extension
    is YAML when it parses to a mapping, INI otherwise; any other file is INI.

    Returns the hosts and groups in file order, ``all``'s variables as
    ``defaults``, and warnings for everything read but ignored (secrets, ssh
    options other than ProxyJump, keys Ansible itself skips).

    Raises :class:`ConfigError` (``FILE:LINE: reason``) for a file Ansible would
    reject, and for what hostops does not support: inventory directories and
    ``group_vars/``/``host_vars/`` beside the file, dynamic inventory scripts,
    inventory plugins, vault, TOML, a connection other than ssh or local, Jinja
    templates in connection settings, and malformed connection values.

    ``root``: the file's YAML, when the caller has parsed it already.
    """
    path = os.fspath(path)
    text = _read_inventory_file(path)
    builder = _Builder(path)
    if root is None:
        root = _yaml_root(path)
    if root is None:
        _read_ini(text, builder)
    else:
        _read_yaml(root, builder)
    return builder.finish()


# --------------------------------------------------------------------------- the file itself


def _read_inventory_file(path: str) -> str:
    """The file's text, after refusing the kinds of inventory hostops cannot read.

    Raises ConfigError for a directory, a missing or unreadable file, an
    executable script, a vault-encrypted file, TOML, or variable directories
    Ansible would read beside the file.
    """
    if os.path.isdir(path):
        raise ConfigError("inventory directories are not supported; pass one file", path=path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ConfigError("no such file", path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path=path) from None
    # Ansible would run it: only a script with an interpreter line is one.
    if data.startswith(b"#!") and os.access(path, os.X_OK):
        raise ConfigError(
            "dynamic inventory scripts are not supported (an executable file starting with #!)",
            path=path,
            line=1,
        )
    if data.lstrip().startswith(b"$ANSIBLE_VAULT"):
        raise ConfigError("vault-encrypted inventory files are not supported", path=path, line=1)
    if os.path.splitext(path)[1] == ".toml":
        raise ConfigError("TOML inventories are not supported; use INI or YAML", path=path)
    _refuse_variable_directories(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError("cannot read: not UTF-8 text", path=path, line=line) from None


def _refuse_variable_directories(path: str) -> None:
    """Ansible adds variables from group_vars/ and host_vars/ beside the file: refuse, not ignore.

    Ignoring them would connect with other users, ports or addresses than Ansible does.
    """
    folder = os.path.dirname(os.path.abspath(path))
    for name in ("group_vars", "host_vars"):
        found = os.path.join(folder, name)
        if os.path.isdir(found):
            raise ConfigError(
                f"inventory directories are not supported; pass one file: Ansible would also "
                f"read variables from {found}/ (move the connection variables into {path})",
                path=path,
            )


def _yaml_root(path: str) -> Node | None:
    """The YAML document for a YAML inventory, None for an INI one (as Ansible decides)."""
    extension = os.path.splitext(path)[1]
    if extension in _YAML_EXTENSIONS:
        return load_yaml(path)
    if extension:
        return None
    try:
        root = load_yaml(path)
    except ConfigError:
        return None  # not YAML: Ansible goes on to the INI plugin too
    return root if isinstance(root.node, yaml.MappingNode) else None


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
        self._vars: dict[tuple[str, str], dict[str, _Var]] = {}
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
        variables = self.read_vars(f"host {pattern!r}", sources)
        self.group(group, None)
        for name in names:
            self._add_host(name, group, line, port)
            self._vars.setdefault(("host", name), {}).update(variables)

    def _add_host(self, name: str, group: str, line: int, port: int | None) -> None:
        if name not in self.inv.hosts:
            self.inv.hosts[name] = RawHost(name, where=self.where(line))
            self._direct_groups[name] = []
            # As Ansible: a ':port' suffix counts only where the host first appears,
            # and an ansible_port on the same line still wins over it.
            if port is not None:
                self._vars[("host", name)] = {"ansible_port": _Var(port, self.where(line))}
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

    def read_vars(self, owner: str, sources: list[_VarSource]) -> dict[str, _Var]:
        """Build the variables' values, dropping secrets with a warning that names only the variable.

        Raises ConfigError for a vaulted value.
        """
        out: dict[str, _Var] = {}
        for name, line, get_value in sources:
            where = self.where(line)
            if _is_secret(name):
                self.warn(f"{where}: {owner}: {name} ignored: {_SECRET_ADVICE}")
                continue
            vaulted = f"{owner}: {name}: vaulted values are not supported"
            try:
                value = get_value()
            except _Vaulted as exc:  # a !vault tag, maybe deep inside the value
                raise self.error(vaulted, exc.line) from None
            if isinstance(value, str) and value.lstrip().startswith("$ANSIBLE_VAULT"):
                raise self.error(vaulted, line)
            out[name] = _Var(value, where)
        return out

    def finish(self) -> RawInventory:
        """Fill ``all`` and ``ungrouped`` as Ansible does and map every variable to settings.

        Raises ConfigError for a connection variable hostops cannot use.
        """
        inv = self.inv
        grouped = {ALL, UNGROUPED}
        inv.groups[UNGROUPED].hosts = [
            h for h in inv.hosts if set(self._direct_groups[h]) <= grouped
        ]
        # Every group nobody else claims hangs under 'all' (Ansible's reconcile step).
        claimed = {c for name, g in inv.groups.items() if name != ALL for c in g.children}
        top = inv.groups[ALL].children
        top.extend(g for g in inv.groups if g != ALL and g not in claimed and g not in top)
        for (kind, name), variables in self._vars.items():
            settings = self._settings(f"{kind} {name!r}", variables)
            if kind == "host":
                inv.hosts[name].settings = settings
            elif name == ALL:
                inv.defaults = settings
            else:
                inv.groups[name].settings = settings
        for name in [h for h in inv.hosts if h in inv.groups]:
            self.warn(f"{self.path}: {name!r} is both a host and a group (Ansible warns too)")
        return inv

    def _settings(self, owner: str, variables: dict[str, _Var]) -> dict[str, Any]:
        """Map one host's or group's variables to hostops settings plus ``vars``."""
        settings: dict[str, Any] = {}
        for key, names in _SETTING_VARS.items():
            given = _defined(variables, names)
            if given:
                name, var = given[-1]
                settings[key] = _CONVERTERS[key](var, f"{owner}: {name}")
        jump, options = self._ssh_args(owner, _defined(variables, _SSH_ARGS_VARS))
        if jump is not None:
            settings["jump"] = jump
        if options:
            settings["ssh_options"] = options
        free = {n: v.value for n, v in variables.items() if n not in _MAPPED_VARS}
        if free:
            settings["vars"] = free
        return settings

    def _ssh_args(
        self, owner: str, ssh_args: list[tuple[str, _Var]]
    ) -> tuple[str | None, tuple[tuple[str, str], ...]]:
        """The one ProxyJump (``-J``) in the ssh arguments, if any, and their ssh options
        (``-o KEY=VALUE``, ``-i``, ``-l``, ``-p``) in order, for the host layer to read as
        ssh reads its command line; other flags get a warning.

        Raises ConfigError for arguments that do not parse or for two different jumps.
        """
        found: list[tuple[str, _Var, str]] = []
        options: list[tuple[str, str]] = []
        for name, var in ssh_args:
            what = f"{owner}: {name}"
            if not isinstance(var.value, str):
                raise _value_error(var, f"{what} must be a string, not {_kind(var.value)}")
            try:
                jumps, given, ignored = _parse_ssh_args(var.value)
            except ValueError as exc:
                raise _value_error(var, f"{what}: cannot split the ssh arguments: {exc}") from None
            if ignored:
                self.warn(
                    f"{var.where}: {name}: ignored ssh arguments {', '.join(ignored)} "
                    f"(hostops reads -o, -J, -i, -l and -p from ssh arguments)"
                )
            found += [(name, var, jump) for jump in jumps]
            options += given
        if len({jump for _, _, jump in found}) > 1:
            name, var, _ = found[-1]
            raise _value_error(var, f"{owner}: {name}: more than one ProxyJump given")
        if not found:
            return None, tuple(options)
        name, var, jump = found[0]
        jump = _check_text(jump, var, f"{owner}: {name}: ProxyJump", whitespace=False)
        return jump, tuple(options)


class _Vaulted(Exception):
    """A vaulted value met while building a variable; ``line`` is where it starts."""

    def __init__(self, line: int):
        super().__init__(line)
        self.line = line


@dataclass(frozen=True)
class _Var:
    """A variable's value and where it was set."""

    value: Any
    where: Where


def _defined(variables: dict[str, _Var], names: Iterable[str]) -> list[tuple[str, _Var]]:
    """The variables among ``names`` that are set, in ``names`` order; null counts as unset, as in Ansible."""
    return [(n, variables[n]) for n in names if n in variables and variables[n].value is not None]


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


# --------------------------------------------------------------------------- value conversion


def _value_error(var: _Var, message: str) -> ConfigError:
    return ConfigError(message, path=var.where.path, line=var.where.line)


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _check_text(value: Any, var: _Var, what: str, *, whitespace: bool = True) -> str:
    """A usable string setting; Ansible's INI typing may have made digits an int."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise _value_error(var, f"{what} must be a non-empty string, not {_kind(value)}")
    if _TEMPLATE.search(value):
        raise _value_error(var, f"{what}: Jinja templates are not supported ({value!r})")
    if not whitespace and any(c.isspace() for c in value):
        raise _value_error(var, f"{what} must not contain spaces ({value!r})")
    return value


def _to_text(var: _Var, what: str) -> str:
    return _check_text(var.value, var, what)


def _to_port(var: _Var, what: str) -> int:
    value = var.value
    if isinstance(value, str):
        value = _check_text(value, var, what).strip()
        value = int(value) if re.fullmatch(r"[0-9]+", value) else value
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise _value_error(var, f"{what} must be a port number from 1 to 65535, not {value!r}")
    return value


def _to_identity(var: _Var, what: str) -> tuple[str, ...]:
    return (_to_text(var, what),)


def _to_connection(var: _Var, what: str) -> Transport:
    value = _to_text(var, what)
    if value in _SSH_CONNECTIONS:
        return Transport.SSH
    if value in _LOCAL_CONNECTIONS:
        return Transport.LOCAL
    raise _value_error(
        var, f"{what} {value!r} is not supported (hostops connects with ssh or local only)"
    )


_CONVERTERS: dict[str, Callable[[_Var, str], Any]] = {
    "address": _to_text,
    "port": _to_port,
    "user": _to_text,
    "identity_file": _to_identity,
    "connection": _to_connection,
}


# ssh's flags that are options by another name.
_FLAG_OPTIONS = {"-i": "IdentityFile", "-l": "User", "-p": "Port"}


def _parse_ssh_args(text: str) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """Split ssh arguments into ProxyJump destinations, ssh options (keyword, value) and
    the arguments hostops ignores.

    The ignored ones are named without their values (they may hold a password).
    Raises ValueError for unbalanced quotes.
    """
    jumps: list[str] = []
    options: list[tuple[str, str]] = []
    ignored: list[str] = []
    tokens = shlex.split(text)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if len(token) < 2 or token[0] != "-" or token[1] not in _SSH_FLAGS_WITH_ARG:
            ignored.append(token if token.startswith("-") else "(an argument)")
            continue
        flag, argument = token[:2], token[2:]
        if not argument and i < len(tokens):
            argument = tokens[i]
            i += 1
        option = _SSH_OPTION.match(argument) if flag == "-o" else None
        if flag == "-J" and argument:
            jumps.append(argument)
        elif option and option[1].lower() == "proxyjump" and option[2].lower() not in ("", "none"):
            jumps.append(option[2])
        elif option:
            options.append((option[1], option[2]))
        elif flag in _FLAG_OPTIONS and argument:
            options.append((_FLAG_OPTIONS[flag], argument))
        else:
            ignored.append(flag if flag != "-o" else f"-o {argument.split('=')[0]}")
    return jumps, options, ignored


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
    if text.isdigit() and (text == "0" or text[0] != "0"):  # the common cases, without compile()
        return int(text)
    if text.isidentifier() and text not in ("True", "False", "None"):
        return text
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
    """A variable's value; ``!unsafe`` is plain text.

    Raises _Vaulted at a ``!vault`` value (the YAML loader knows no such tag),
    ConfigError for other YAML it cannot build.
    """
    if node is None:
        return None
    seen: set[int] = set()
    todo: list[yaml.Node] = [node.node]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if current.tag == "!vault":
            raise _Vaulted(current.start_mark.line + 1)
        if current.tag == "!unsafe" and isinstance(current, yaml.ScalarNode):
            current.tag = "tag:yaml.org,2002:str"  # Ansible's "never template this" marker
        if isinstance(current, yaml.SequenceNode):
            todo.extend(current.value)
        elif isinstance(current, yaml.MappingNode):
            todo.extend(chain.from_iterable(current.value))
    return node.value()
