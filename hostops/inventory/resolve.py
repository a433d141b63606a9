"""From a RawInventory to groups and the inventory's Hosts, with one precedence for every format.

Precedence, lowest first: ``defaults`` < group vars (parents before children;
groups at the same depth alphabetically) < the host's own settings. ssh_config
comes below and the command line above them, in the host layer
(:mod:`hostops.host.settings`).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hostops.errors import ConfigError
from hostops.inventory.raw import RawInventory
from hostops.models import Host, Transport

ALL = "all"
UNGROUPED = "ungrouped"


@dataclass(frozen=True)
class Inventory:
    """Host names (file order) and groups, before any host's settings are resolved."""

    raw: RawInventory
    names: tuple[str, ...]
    members: Mapping[
        str, tuple[str, ...]
    ]  # group -> every host in it or its descendants, in host order
    children: Mapping[str, tuple[str, ...]]  # group -> direct child groups
    host_groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # host -> its groups

    @property
    def path(self) -> str:
        return self.raw.path


def build(raw: RawInventory) -> Inventory:
    """Check the group graph (children exist, no cycles) and compute membership.

    ``all`` holds every host; ``ungrouped`` the hosts in no other group.
    Raises ConfigError naming the file and line of the offending group.
    """
    names = tuple(raw.hosts)
    children = {name: tuple(g.children) for name, g in raw.groups.items()}
    for name, group in raw.groups.items():
        for child in group.children:
            if child not in raw.groups:
                close = difflib.get_close_matches(child, list(raw.groups), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise _error(
                    raw, name, f"group {name!r}: child group {child!r} does not exist{hint}"
                )
    order = {n: i for i, n in enumerate(names)}
    members: dict[str, tuple[str, ...]] = {}
    for name in raw.groups:
        found = _descendant_hosts(raw, name, [])
        members[name] = tuple(sorted(found, key=order.__getitem__))
    grouped = {h for g, hosts in members.items() if g not in (ALL, UNGROUPED) for h in hosts}
    members[ALL] = names
    if UNGROUPED not in members or not members[UNGROUPED]:
        members[UNGROUPED] = tuple(n for n in names if n not in grouped)
    host_groups: dict[str, list[str]] = {n: [] for n in names}
    for group, hosts in members.items():
        if group in (ALL, UNGROUPED):
            continue
        for host in hosts:
            host_groups[host].append(group)
    return Inventory(
        raw=raw,
        names=names,
        members=members,
        children=children,
        host_groups={h: tuple(sorted(gs)) for h, gs in host_groups.items()},
    )


def _descendant_hosts(raw: RawInventory, name: str, path: list[str]) -> set[str]:
    if name in path:
        cycle = " -> ".join([*path[path.index(name) :], name])
        raise _error(raw, name, f"group cycle: {cycle}")
    group = raw.groups[name]
    found = set(group.hosts)
    for child in group.children:
        found |= _descendant_hosts(raw, child, [*path, name])
    return found


def _error(raw: RawInventory, group: str, message: str) -> ConfigError:
    where = raw.groups[group].where
    return ConfigError(
        message, path=where.path if where else raw.path, line=where.line if where else None
    )


def group_order(inv: Inventory) -> list[str]:
    """Groups in the order their vars apply: by depth (parents first), then by name."""
    parents: dict[str, list[str]] = {g: [] for g in inv.children}
    for group, kids in inv.children.items():
        for kid in kids:
            parents[kid].append(group)
    depth: dict[str, int] = {}

    def depth_of(group: str) -> int:
        if group not in depth:
            depth[group] = 1 + max((depth_of(p) for p in parents[group]), default=-1)
        return depth[group]

    return sorted(inv.children, key=lambda g: (depth_of(g), g))


def resolve_hosts(inv: Inventory, names: Iterable[str]) -> list[Host]:
    """The Hosts for ``names`` (in the given order) with the inventory's settings, and
    ``origins`` naming, for each setting the inventory gave, the file (and line) it came from.

    Only the hosts asked for are resolved, so selecting a few hosts of a large
    inventory costs little. ssh_config, the command line and jump chains are the
    host layer's (:func:`hostops.host.settings.resolve_connection`); a ``jump`` of
    ``none`` is kept, as it cancels ssh_config's ProxyJump there.
    """
    ordered_groups = group_order(inv)
    hosts = []
    for name in names:
        settings, origins = _settings(inv, name, ordered_groups)
        hosts.append(_host(name, settings, inv.host_groups.get(name, ()), origins))
    return hosts


def every_host(inv: Inventory, selected: Iterable[Host]) -> list[Host]:
    """Every host of ``inv`` in inventory order, for host patterns to be matched against
    (a playbook's plays): the ``selected`` ones as given (resolved to connect), the
    others with the inventory's own settings only (they never connect)."""
    chosen = {h.name: h for h in selected}
    others = [n for n in inv.names if n not in chosen]
    resolved = {h.name: h for h in resolve_hosts(inv, others)}
    return [chosen.get(n) or resolved[n] for n in inv.names]


def _settings(
    inv: Inventory, name: str, ordered_groups: list[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """A host's settings from the inventory's layers, and where each came from."""
    raw = inv.raw
    mine = set(inv.host_groups.get(name, ()))
    if name in inv.members[UNGROUPED]:  # [ungrouped:vars] in an Ansible inventory apply too
        mine.add(UNGROUPED)
    layers = [(raw.defaults, raw.path)]
    layers += [
        (raw.groups[g].settings, str(raw.groups[g].where or raw.path))
        for g in ordered_groups
        if g in mine
    ]
    layers.append((raw.hosts[name].settings, str(raw.hosts[name].where or raw.path)))
    settings: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for layer, where in layers:
        _apply(settings, layer)
        origins.update(dict.fromkeys((k for k in layer if k != "vars"), where))
    return settings, origins


def _apply(settings: dict[str, Any], layer: Mapping[str, Any]) -> None:
    for key, value in layer.items():
        if key == "vars":
            settings["vars"] = {**settings.get("vars", {}), **value}
        else:
            settings[key] = value


def _host(name: str, s: dict[str, Any], groups: tuple[str, ...], origins: dict[str, str]) -> Host:
    return Host(
        name=name,
        address=s.get("address", name),
        port=s.get("port", 22),
        user=s.get("user"),
        identity_files=tuple(os.path.expanduser(p) for p in s.get("identity_file", ())),
        known_hosts=os.path.expanduser(s["known_hosts"]) if s.get("known_hosts") else None,
        connection=s.get("connection", Transport.SSH),
        jump=s.get("jump"),
        password_env=s.get("password_env"),
        groups=groups,
        vars=s.get("vars", {}),
        ssh_options=tuple(s.get("ssh_options", ())),
        origins=origins,
    )
