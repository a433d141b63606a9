"""Ansible's connection variables, read from one host's merged variables, as hostops settings.

Ansible merges a host's variables first (see :mod:`hostops.inventory.ansible_vars`)
and its connection plugin then reads the result: where several names mean one
thing (``ansible_user`` and ``ansible_ssh_user``), the last one listed in the
plugin's documentation that is defined wins, whatever level each came from.
This module does the same on the merged variables, and names where each
setting came from (``origins``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from typing import Any

from hostops.errors import ConfigError
from hostops.inventory.raw import Var
from hostops.models import Transport
from hostops.vault import Vaulted

# hostops setting -> the Ansible variables for it, in the order the ssh connection
# plugin lists them: the last one defined wins (ansible_ssh_* beats ansible_*).
SETTING_VARS: dict[str, tuple[str, ...]] = {
    "address": ("ansible_host", "ansible_ssh_host"),
    "port": ("ansible_port", "ansible_ssh_port"),
    "user": ("ansible_user", "ansible_ssh_user"),
    "identity_file": ("ansible_private_key_file", "ansible_ssh_private_key_file"),
    "connection": ("ansible_connection",),
}
SSH_ARGS_VARS = ("ansible_ssh_common_args", "ansible_ssh_extra_args")
_IGNORED_ARGS_VAR = "ansible_ssh_args"  # ControlMaster/ControlPersist for Ansible's own ssh
BECOME_VARS = {
    "become": ("ansible_become",),
    "become_user": ("ansible_become_user", "ansible_sudo_user"),
    "become_method": ("ansible_become_method",),
}
MAPPED_VARS = frozenset(
    {
        *(n for names in SETTING_VARS.values() for n in names),
        *SSH_ARGS_VARS,
        _IGNORED_ARGS_VAR,
        *(n for names in BECOME_VARS.values() for n in names),
        "ansible_group_priority",
    }
)

_BECOME_NAMES = frozenset(n for names in BECOME_VARS.values() for n in names)

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
_SUDO_METHODS = frozenset({"sudo", "ansible.builtin.sudo"})
_TRUE = frozenset({"y", "yes", "on", "1", "true", "t"})
_TEMPLATE = re.compile(r"\{\{|\{%")

# ssh(1) flags that take an argument, and what the ones hostops understands mean.
_FLAG_OPTIONS = {"-J": "ProxyJump", "-p": "Port", "-i": "IdentityFile", "-l": "User"}
_SWITCH_OPTIONS = {
    "-4": ("AddressFamily", "inet"),
    "-6": ("AddressFamily", "inet6"),
    "-A": ("ForwardAgent", "yes"),
    "-a": ("ForwardAgent", "no"),
    "-C": ("Compression", "yes"),
    "-q": ("LogLevel", "QUIET"),
}
_OPTION = re.compile(r"\s*([A-Za-z]+)\s*(?:=\s*|\s+)(.*?)\s*\Z")


def connection_settings(
    owner: str, merged: Mapping[str, Var]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The hostops settings the merged variables of host ``owner`` give, and where each
    came from (setting -> ``FILE:LINE``).

    Keys: those of :mod:`hostops.inventory.raw`, plus ``config_name`` (the connection
    address: Ansible's ssh looks ssh_config up by it), ``ssh_options``, ``sudo``,
    ``sudo_user`` and ``problem`` (a become method hostops cannot use). Raises
    ConfigError (``FILE:LINE: host 'x': var: reason``) for a value hostops cannot use.
    """
    settings: dict[str, Any] = {}
    origins: dict[str, str] = {}
    present = merged.keys() & MAPPED_VARS
    if not present:  # most hosts of a large inventory: nothing to read
        return {"config_name": owner}, origins
    for key, names in SETTING_VARS.items():
        if present.isdisjoint(names):  # the common case: skip the look-ups
            continue
        given = _defined(merged, names)
        if given:
            name, var = given[-1]
            settings[key] = _CONVERTERS[key](var, f"host {owner!r}: {name}")
            origins[key] = str(var.where)
    options, jump_var = _ssh_options(owner, merged)
    if options:
        settings["ssh_options"] = tuple(options)
        origins["ssh_options"] = ", ".join(str(v.where) for _, v in _defined(merged, SSH_ARGS_VARS))
    jumps = [value for key, value in options if key.lower() == "proxyjump"]
    if jumps and jumps[0].lower() != "none":
        assert jump_var is not None
        settings["jump"] = jumps[0]
        origins["jump"] = str(jump_var.where)
    if not present.isdisjoint(_BECOME_NAMES):
        _become(owner, merged, settings, origins)
    settings["config_name"] = settings.get("address", owner)
    return settings, origins


def _become(
    owner: str, merged: Mapping[str, Var], settings: dict[str, Any], origins: dict[str, str]
) -> None:
    """``ansible_become*`` as hostops's sudo: per host, only the sudo method."""
    given = _defined(merged, BECOME_VARS["become"])
    if not given:
        return
    _, var = given[-1]
    settings["sudo"] = _boolean(var.value)
    origins["sudo"] = str(var.where)
    users = _defined(merged, BECOME_VARS["become_user"])
    if users:
        user_name, user_var = users[-1]
        settings["sudo_user"] = _text(user_var, f"host {owner!r}: {user_name}")
        origins["sudo_user"] = str(user_var.where)
    methods = _defined(merged, BECOME_VARS["become_method"])
    if settings["sudo"] and methods:
        method_name, method_var = methods[-1]
        method = _text(method_var, f"host {owner!r}: {method_name}")
        if method not in _SUDO_METHODS:
            settings["problem"] = (
                f"{method_var.where}: {method_name} {method!r}: hostops becomes another user"
                " with sudo only"
            )


def _boolean(value: Any) -> bool:
    """Ansible's ``boolean(value, strict=False)``: anything unrecognised is false."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in _TRUE


def _defined(merged: Mapping[str, Var], names: tuple[str, ...]) -> list[tuple[str, Var]]:
    """The variables among ``names`` that are set, in ``names`` order; null counts as unset."""
    return [(n, merged[n]) for n in names if n in merged and merged[n].value is not None]


def _ssh_options(owner: str, merged: Mapping[str, Var]) -> tuple[list[tuple[str, str]], Var | None]:
    """The ``-o`` options of the ssh argument variables, in order, and the variable that
    gave the first ProxyJump. Raises ConfigError for anything else in them."""
    options: list[tuple[str, str]] = []
    jump_var = None
    for name, var in _defined(merged, SSH_ARGS_VARS):
        what = f"host {owner!r}: {name}"
        if isinstance(var.value, Vaulted) or not isinstance(var.value, str):
            raise _error(var, f"{what} must be a string, not {_kind(var.value)}")
        if _TEMPLATE.search(var.value):
            raise _error(var, f"{what}: Jinja templates are not supported ({var.value!r})")
        try:
            parsed = parse_ssh_args(var.value)
        except ValueError as exc:
            raise _error(var, f"{what}: {exc}") from None
        if jump_var is None and any(k.lower() == "proxyjump" for k, _ in parsed):
            jump_var = var
        options += parsed
    return options, jump_var


def parse_ssh_args(text: str) -> list[tuple[str, str]]:
    """ssh command-line arguments as ``(Key, Value)`` options, in order: ``-o K=V``,
    ``-oK=V``, ``-o "K V"``, ``-J``, ``-p``, ``-i``, ``-l`` and a few switches (``-C``,
    ``-4``, ...). Raises ValueError naming the first word it cannot use (never a value:
    a ProxyCommand may hold a password)."""
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"cannot split the ssh arguments: {exc}") from None
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        flag, argument = token[:2], token[2:]
        if flag in _SWITCH_OPTIONS and not argument:
            out.append(_SWITCH_OPTIONS[flag])
            continue
        if flag != "-o" and flag not in _FLAG_OPTIONS:
            shown = token if token.startswith("-") else "an argument"
            raise ValueError(f"cannot use {shown!r} (hostops takes -o, -J, -p, -i, -l)")
        if not argument:
            if i == len(tokens):
                raise ValueError(f"{flag} needs an argument")
            argument = tokens[i]
            i += 1
        if flag == "-o":
            option = _OPTION.match(argument)
            if not option or not option[2]:
                raise ValueError(f"-o {argument.split('=')[0]!r}: expected Key=Value")
            out.append((option[1], option[2]))
        else:
            out.append((_FLAG_OPTIONS[flag], argument))
    return out


# --------------------------------------------------------------------------- value conversion


def _error(var: Var, message: str) -> ConfigError:
    return ConfigError(message, path=var.where.path, line=var.where.line)


def _kind(value: Any) -> str:
    if isinstance(value, Vaulted):
        return "a vaulted value"
    return f"{type(value).__name__} {value!r}"


def _text(var: Var, what: str) -> str:
    """A usable string setting; Ansible's INI typing may have made digits an int."""
    value = var.value
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise _error(var, f"{what} must be a non-empty string, not {_kind(value)}")
    if _TEMPLATE.search(value):
        raise _error(var, f"{what}: Jinja templates are not supported ({value!r})")
    return value


def _port(var: Var, what: str) -> int:
    value = var.value
    if isinstance(value, str):
        value = _text(var, what).strip()
        value = int(value) if re.fullmatch(r"[0-9]+", value) else value
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        shown = "a vaulted value" if isinstance(value, Vaulted) else repr(value)
        raise _error(var, f"{what} must be a port number from 1 to 65535, not {shown}")
    return value


def _identity(var: Var, what: str) -> tuple[str, ...]:
    return (_text(var, what),)


def _connection(var: Var, what: str) -> Transport:
    value = _text(var, what)
    if value in _SSH_CONNECTIONS:
        return Transport.SSH
    if value in _LOCAL_CONNECTIONS:
        return Transport.LOCAL
    raise _error(
        var, f"{what} {value!r} is not supported (hostops connects with ssh or local only)"
    )


_CONVERTERS: dict[str, Callable[[Var, str], Any]] = {
    "address": _text,
    "port": _port,
    "user": _text,
    "identity_file": _identity,
    "connection": _connection,
}
