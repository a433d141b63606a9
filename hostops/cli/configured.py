"""The configuration file's settings (hostops.userconfig) made the command line's defaults.

Each key stands for one option declared in hostops.cli.options, and is checked by that
option's own type and callback. The settings reach click as its ``default_map``: a
value given on the command line, then one from an environment variable click reads
for the option (``envvar=``), then the default map, then the option's default -- click's
own order, which is hostops's: command line > environment > configuration file >
built-in. Environment variables that hostops reads itself when an option is not given
(``$HOSTOPS_INVENTORY``, ``NO_COLOR``...) keep their rank the same way: while one is
set, the key it outranks is left out of the map. With no file the map is empty, and
every command parses and prints ``--help`` as without this module.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostops.cli.clicklib import click
from hostops.cli.values import keepalive, size
from hostops.cluster import ENV_CLUSTER
from hostops.errors import ConfigError, UsageError
from hostops.keeper import persist
from hostops.userconfig import ConfigFile, Setting
from hostops.userconfig import load as load_file
from hostops.vault import ENV_PASSWORD_FILE


@dataclass(frozen=True)
class Key:
    """What a key of the configuration file sets: the option (its parameter's name);
    ``invert``: the key says yes to what a ``--no-...`` flag turns off; ``env``: the
    variable, read by hostops when the option is not given, that outranks the file;
    ``paths``: file names, relative to the configuration file's directory;
    ``check``: what else the option's text must pass (raising ValueError or
    UsageError), where hostops parses it after click."""

    param: str
    invert: bool = False
    env: str | None = None
    paths: bool = False
    check: Callable[[str], object] | None = None


# Every key, in the order ``hostops config`` lists them (README, "Configuration").
KEYS: dict[str, Key] = {
    "inventory": Key("hosts", env="HOSTOPS_INVENTORY", paths=True),
    "vault-password-file": Key("vault_password_file", env=ENV_PASSWORD_FILE, paths=True),
    "user": Key("user"),
    "port": Key("port"),
    "identity": Key("identity", paths=True),
    "known-hosts": Key("known_hosts", paths=True),
    "ssh-config": Key("ssh_config", paths=True),
    "jump": Key("jump"),
    "host-key-policy": Key("host_key_policy"),
    "agent": Key("no_agent", invert=True),
    "forks": Key("forks"),
    "workers": Key("workers"),
    "connect-timeout": Key("connect_timeout"),
    "timeout": Key("timeout"),
    "idle-timeout": Key("idle_timeout"),
    "connect-retries": Key("connect_retries"),
    "keepalive": Key("keepalive", check=keepalive),
    "persist": Key("persist", check=persist.parse),
    "lock-timeout": Key("lock_timeout"),
    "sudo-user": Key("sudo_user"),
    "output": Key("output"),
    "live": Key("live"),
    "max-output": Key("max_output", check=size),
    "color": Key("no_color", invert=True, env="NO_COLOR"),
    "record": Key("no_record", invert=True),
    "cluster": Key("cluster", env=ENV_CLUSTER),
}


@dataclass(frozen=True)
class Configured:
    """The configuration file (None: none) and the defaults it gives each command
    (click's ``default_map``: command name -> parameter name -> value)."""

    file: ConfigFile | None = None
    default_map: dict[str, dict[str, Any]] = field(default_factory=dict)
    outranked: dict[str, str] = field(default_factory=dict)  # key -> the variable set over it


def load(root: Any, environ: Mapping[str, str]) -> Configured:
    """The configuration file of ``environ``, checked against the options of the click
    group ``root``'s commands: every key must be known, and every value one the option
    of a command of ``root`` takes (the others are checked by the commands that take
    them, and by ``hostops config``). Raises ConfigError (``FILE:LINE: ...``)."""
    found = load_file(environ)
    if found is None:
        return Configured()
    commands: dict[str, Any] = dict(root.commands)
    default_map: dict[str, dict[str, Any]] = {}
    outranked: dict[str, str] = {}
    for key, setting in found.settings.items():
        if key not in KEYS:
            raise ConfigError(
                f"unknown setting {key!r}{_did_you_mean(key, KEYS)}",
                path=str(found.path),
                line=setting.line,
            )
        spec = KEYS[key]
        takers = [(n, p) for n, c in commands.items() for p in c.params if p.name == spec.param]
        if not takers:  # only some commands were built (hostops.cli.edge): none takes it
            continue
        name, reference = takers[0]
        value = _checked(found.path, setting, spec, commands[name], reference)
        if spec.env and environ.get(spec.env):
            outranked[key] = spec.env
            continue
        for command, param in takers:
            if param.opts == reference.opts:  # the option declared once, in options.py
                default_map.setdefault(command, {})[param.name] = _unless_host_list(spec, value)
    return Configured(found, default_map, outranked)


def _checked(path: Path, setting: Setting, spec: Key, command: Any, param: Any) -> object:
    """The value of ``setting`` (of the file at ``path``) as click takes it for ``param``
    of ``command``, checked as the command line would check it. Raises ConfigError."""
    key, value = setting.key, setting.value
    where: dict[str, Any] = {"path": str(path), "line": setting.line}
    wanted, kind = _kind(param)
    if param.multiple and isinstance(value, str):
        value = [value]
    items = value if param.multiple and isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, wanted) or (isinstance(item, bool) and wanted is not bool):
            many = " (or a list of them)" if param.multiple else ""
            raise ConfigError(f"{key}: expected {kind}{many}, not {value!r}", **where)
    if spec.paths:
        items = [str(path.parent / Path(str(i)).expanduser()) for i in items]
    if spec.invert:
        items = [not i for i in items]
    if spec.check is not None:
        try:
            spec.check(str(items[0]))
        except (ValueError, UsageError) as exc:
            raise ConfigError(f"{key}: {_reason(str(exc))}", **where) from None
    click_value = items if param.multiple else items[0]
    try:
        param.process_value(click("core").Context(command), click_value)
    except click("exceptions").BadParameter as exc:
        choices = getattr(param.type, "choices", None)
        hint = _did_you_mean(str(value), [str(c) for c in choices]) if choices else ""
        raise ConfigError(f"{key}: {_reason(exc.message)}{hint}", **where) from None
    return click_value


def _kind(param: Any) -> tuple[type | tuple[type, ...], str]:
    """The TOML type a key for ``param`` takes, and its name for errors."""
    name = param.type.name
    if param.is_flag or name == "boolean":
        return bool, "true or false"
    if name.startswith("int"):
        return int, "a whole number"
    if name.startswith("float"):
        return (int, float), "a number"
    return str, "text"


def _reason(text: str) -> str:
    """An error message without the option it names first: the key names it here."""
    head, sep, rest = text.partition(": ")
    return rest if sep and head.startswith("--") else text


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unless_host_list(spec: Key, value: object) -> object:
    """The inventory's default, kept out of a command given ``--host LIST`` (which takes
    no inventory): click asks a callable default when it gets there, after the options
    given on the command line (``-H`` among them) are in the context."""
    if spec.param != "hosts":
        return value
    return lambda: None if click("globals").get_current_context().params.get("host_list") else value


def shown(value: object, spec: Key) -> str:
    """An option's value as ``hostops config`` shows it (as the key would say it)."""
    if isinstance(value, (list, tuple)):
        return ", ".join(shown(v, spec) for v in value) if value else "-"
    if isinstance(value, bool):
        return str(not value if spec.invert else value).lower()
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    return "-" if value is None else str(value)
