"""The native YAML inventory format (README, "Inventory"): ``defaults``, ``hosts``, ``groups``."""

from __future__ import annotations

import re
from typing import Any

from hostops.errors import ConfigError
from hostops.inventory.raw import SETTINGS, RawGroup, RawHost, RawInventory, Where
from hostops.inventory.yamlsrc import Node
from hostops.models import Transport
from hostops.ranges import RangeError, expand

TOP_KEYS = ("defaults", "hosts", "groups")
_DEFAULT_KEYS = (*(k for k in SETTINGS if k != "address"), "vars")
_HOST_KEYS = (*SETTINGS, "vars")
_GROUP_KEYS = ("hosts", "children", "vars")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def load_native(root: Node) -> RawInventory:
    """Read a native inventory from its parsed YAML. Raises ConfigError at the first problem."""
    raw = RawInventory(root.path)
    top = root.keyed("the inventory", TOP_KEYS)
    if "defaults" in top and not top["defaults"].is_null():
        raw.defaults = _settings(top["defaults"], "defaults", _DEFAULT_KEYS)
    if "hosts" in top and not top["hosts"].is_null():
        for name, node in top["hosts"].mapping("hosts"):
            _add_hosts(raw, name, node, node)
    if "groups" in top and not top["groups"].is_null():
        for name, node in top["groups"].mapping("groups"):
            raw.groups[name] = _group(raw, name, node)
    if not raw.hosts:
        where = top.get("hosts")
        why = (
            "'hosts' is empty and no group lists a host"
            if where
            else "the inventory needs a 'hosts' mapping"
        )
        raise (where or root).error(f"no hosts: {why}")
    return raw


def _group(raw: RawInventory, name: str, node: Node) -> RawGroup:
    group = RawGroup(name, where=Where(node.path, node.line))
    if node.is_null():
        return group
    body = node.keyed(f"group {name!r}", _GROUP_KEYS)
    members = body.get("hosts")
    if members is not None and not members.is_null():
        if _is_list(members):
            for item in _string_list(members, f"group {name!r}: hosts"):
                group.hosts += _add_hosts(raw, item.value(), None, item)
        else:
            for host, settings in members.mapping(f"group {name!r}: hosts"):
                group.hosts += _add_hosts(raw, host, settings, settings)
    children = body.get("children")
    if children is not None and not children.is_null():
        group.children = [c.value() for c in _string_list(children, f"group {name!r}: children")]
    if "vars" in body and not body["vars"].is_null():
        group.settings = _group_vars(body["vars"], name)
    return group


def _add_hosts(raw: RawInventory, pattern: str, settings: Node | None, at: Node) -> list[str]:
    """Define the host(s) ``pattern`` names (a node range allowed); return their names."""
    try:
        names = expand(pattern) if "[" in pattern else [pattern]
    except RangeError as exc:
        raise at.error(str(exc)) from None
    own: dict[str, Any] = {}
    if settings is not None and not settings.is_null():
        own = _settings(settings, f"host {pattern!r}", _HOST_KEYS)
        if "address" in own and len(names) > 1:
            raise settings.error(f"host {pattern!r}: one address cannot serve {len(names)} hosts")
    where = Where(at.path, at.line)
    for name in names:
        host = raw.hosts.get(name)
        if host is None:
            host = raw.hosts[name] = RawHost(name, where=where)
        if own:
            _merge_definition(host, own, where)
    return names


def _merge_definition(host: RawHost, own: dict[str, Any], where: Where) -> None:
    """A host defined twice is one host; two different values for one setting are an error."""
    for key, value in own.items():
        if key in host.settings and host.settings[key] != value:
            raise ConfigError(
                f"host {host.name!r}: {key} is {value!r} here but {host.settings[key]!r} at {host.where}",
                path=where.path,
                line=where.line,
            )
        host.settings[key] = value


def _settings(node: Node, what: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    return {key: _check(key, value, what) for key, value in node.keyed(what, allowed).items()}


def _group_vars(node: Node, group: str) -> dict[str, Any]:
    """Group vars: setting keys act as settings, every other key is a free-form variable."""
    settings: dict[str, Any] = {}
    free: dict[str, Any] = {}
    for key, value in node.mapping(f"group {group!r}: vars"):
        if key in SETTINGS:
            settings[key] = _check(key, value, f"group {group!r}")
        else:
            free[key] = value.value()
    if "address" in settings:
        raise node.error(f"group {group!r}: address cannot be a group var (it names one host)")
    if free:
        settings["vars"] = free
    return settings


def _check(key: str, node: Node, what: str) -> Any:
    """One setting's value, checked and converted; ConfigError at its line if wrong."""
    value = node.value()
    if key == "port":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
            raise node.error(f"{what}: port must be an integer from 1 to 65535, not {value!r}")
        return value
    if key == "connection":
        try:
            return Transport(value)
        except ValueError:
            choices = ", ".join(c.value for c in Transport)
            raise node.error(
                f"{what}: connection must be one of {choices}, not {value!r}"
            ) from None
    if key == "identity_file":
        paths = value if isinstance(value, list) else [value]
        if not paths or not all(isinstance(p, str) and p for p in paths):
            raise node.error(
                f"{what}: identity_file must be a path or a list of paths, not {value!r}"
            )
        return tuple(paths)
    if key == "vars":
        if not isinstance(value, dict):
            raise node.error(f"{what}: vars must be a mapping, not {value!r}")
        return value
    if not isinstance(value, str) or not value:
        raise node.error(f"{what}: {key} must be a non-empty string, not {value!r}")
    if key == "password_env" and not _ENV_NAME.match(value):
        raise node.error(
            f"{what}: password_env names an environment variable (like DB_PASSWORD), not {value!r}"
        )
    return value


def _is_list(node: Node) -> bool:
    return node.node.tag == "tag:yaml.org,2002:seq"


def _string_list(node: Node, what: str) -> list[Node]:
    if not _is_list(node):
        raise node.error(f"{what} must be a list")
    items = [Node(item, node.path, node.loader) for item in node.node.value]
    for item in items:
        value = item.value()
        if not isinstance(value, str) or not value:
            raise item.error(f"{what}: entries must be names, not {value!r}")
    return items
