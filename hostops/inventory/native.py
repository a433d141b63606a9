"""The native YAML inventory format (see README, "Inventory")."""

from __future__ import annotations

import os
from typing import Any

from hostops.errors import ConfigError
from hostops.inventory.yamlsrc import Node, load_yaml
from hostops.models import Connection, Host

_TOP_KEYS = ("defaults", "hosts")
# Settings allowed in `defaults` and on each host; `address` only on a host.
_SETTINGS = ("user", "port", "identity_file", "known_hosts", "connection")
_HOST_KEYS = ("address", *_SETTINGS)


def load_inventory(path: str | os.PathLike[str]) -> list[Host]:
    """Read an inventory file and return its hosts in file order.

    Raises :class:`ConfigError` (``FILE:LINE: reason``) for bad YAML, an
    unknown key, a value of the wrong type, or an inventory without hosts.
    """
    path = os.fspath(path)
    root = load_yaml(path)
    top = dict(root.mapping("the inventory"))
    for key, node in top.items():
        if key not in _TOP_KEYS:
            raise node_key_error(root, key, node, "the inventory", _TOP_KEYS)
    defaults: dict[str, Any] = {}
    if "defaults" in top and not top["defaults"].is_null():
        defaults = _settings(top["defaults"], "defaults", _SETTINGS)
    hosts_node = top.get("hosts")
    if hosts_node is None or hosts_node.is_null():
        raise (hosts_node or root).error("no hosts: the inventory needs a 'hosts' mapping")
    pairs = hosts_node.mapping("hosts")
    if not pairs:
        raise hosts_node.error("no hosts: 'hosts' is empty")
    hosts = []
    for name, node in pairs:
        own = {} if node.is_null() else _settings(node, f"host {name!r}", _HOST_KEYS)
        hosts.append(_make_host(name, {**defaults, **own}))
    return hosts


def node_key_error(
    parent: Node, key: str, node: Node, what: str, allowed: tuple[str, ...]
) -> ConfigError:
    """An 'unknown key' error at the key's line, listing what is allowed."""
    for key_node, _ in parent.node.value:
        if key_node.value == key:
            line = key_node.start_mark.line + 1
            break
    else:
        line = node.line
    return ConfigError(
        f"unknown key {key!r} in {what} (allowed: {', '.join(allowed)})",
        path=parent.path,
        line=line,
    )


def _settings(node: Node, what: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.mapping(what):
        if key not in allowed:
            raise node_key_error(node, key, value, what, allowed)
        out[key] = _check(key, value, what)
    return out


def _check(key: str, node: Node, what: str) -> Any:
    value = node.value()
    if key == "port":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
            raise node.error(f"{what}: port must be an integer from 1 to 65535, not {value!r}")
        return value
    if key == "connection":
        try:
            return Connection(value)
        except ValueError:
            choices = ", ".join(c.value for c in Connection)
            raise node.error(
                f"{what}: connection must be one of {choices}, not {value!r}"
            ) from None
    if not isinstance(value, str) or not value:
        raise node.error(f"{what}: {key} must be a non-empty string, not {value!r}")
    return value


def _make_host(name: str, settings: dict[str, Any]) -> Host:
    identity = settings.get("identity_file")
    return Host(
        name=name,
        address=settings.get("address", name),
        port=settings.get("port", 22),
        user=settings.get("user"),
        identity_files=(os.path.expanduser(identity),) if identity else (),
        known_hosts=_expand(settings.get("known_hosts")),
        connection=settings.get("connection", Connection.SSH),
    )


def _expand(path: str | None) -> str | None:
    return os.path.expanduser(path) if path else None
