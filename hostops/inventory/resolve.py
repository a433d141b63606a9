"""From a RawInventory to groups and the inventory's Hosts, with one precedence for every format.

Precedence of a native inventory, lowest first: ``defaults`` < group vars (parents
before children; groups at the same depth alphabetically) < the host's own
settings. An Ansible inventory's variables are merged as Ansible merges them
(:mod:`hostops.inventory.ansible_vars`), then read as settings
(:mod:`hostops.inventory.ansible_settings`). ssh_config comes below and the
command line above them, in the host layer (:mod:`hostops.host.settings`).

The group graph is resolved in time linear in its size (groups, edges, and the
host lists that are the answer): no path is walked twice.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from hostops.bulk import collector_paused
from hostops.errors import ConfigError
from hostops.inventory.ansible_settings import MAPPED_VARS, connection_settings
from hostops.inventory.ansible_vars import VarsFiles, host_variables
from hostops.inventory.raw import RawInventory
from hostops.models import Host

ALL = "all"
UNGROUPED = "ungrouped"


MAX_GROUP_DEPTH = 1000
"""Longest chain of nested groups: deeper is an error, never a crash."""


@dataclass(frozen=True)
class Inventory:
    """Host names and groups, before any host's settings are resolved.

    ``names`` and each group's ``members`` are in run order: file order for a
    native inventory, Ansible's order (group by group, as ``ansible PATTERN
    --list-hosts`` prints) for an Ansible one.
    """

    raw: RawInventory
    names: tuple[str, ...]
    members: Mapping[str, tuple[str, ...]]  # group -> every host in it or its descendants
    children: Mapping[str, tuple[str, ...]]  # group -> direct child groups
    host_groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # host -> its groups
    depth: Mapping[str, int] = field(default_factory=dict)  # group -> longest path from a root
    ungrouped: frozenset[str] = frozenset()
    files: VarsFiles | None = None  # Ansible's group_vars/ and host_vars/, read on demand

    @property
    def path(self) -> str:
        return self.raw.path


def build(raw: RawInventory) -> Inventory:
    """Check the group graph (children exist, no cycles, not too deep) and compute membership.

    ``all`` holds every host; ``ungrouped`` the hosts in no other group. Raises
    ConfigError naming the file and line of the offending group.
    """
    children = {name: tuple(g.children) for name, g in raw.groups.items()}
    for name, kids in children.items():
        for child in kids:
            if child not in raw.groups:
                close = difflib.get_close_matches(child, list(raw.groups), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise _error(
                    raw, name, f"group {name!r}: child group {child!r} does not exist{hint}"
                )
    order = _topological(raw, children)
    depth = _depths(raw, order, children)
    descendants = _descendant_hosts(raw, order, children)
    ansible = raw.kind == "ansible"
    members = _Members(raw, children, descendants, ansible)
    names = members[ALL] if ansible else tuple(raw.hosts)
    host_groups: dict[str, list[str]] = {n: [] for n in names}
    for group in sorted(descendants):
        if group in (ALL, UNGROUPED):
            continue
        for host in descendants[group]:
            host_groups[host].append(group)
    return Inventory(
        raw=raw,
        names=names,
        members=members,
        children=children,
        host_groups={h: tuple(gs) for h, gs in host_groups.items()},
        depth=depth,
        ungrouped=frozenset(members[UNGROUPED]),
        files=VarsFiles(raw.vault) if ansible else None,
    )


def _topological(raw: RawInventory, children: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Groups with every parent before its children (each edge followed once).

    Raises ConfigError for a cycle, naming it."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    order: list[str] = []
    for start in children:
        if start in state:
            continue
        path = [start]
        state[start] = 1
        stack: list[Iterator[str]] = [iter(children[start])]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                done = path.pop()
                state[done] = 2
                order.append(done)
                continue
            if state.get(child) == 1:
                cycle = " -> ".join([*path[path.index(child) :], child])
                raise _error(raw, child, f"group cycle: {cycle}")
            if child not in state:
                state[child] = 1
                path.append(child)
                stack.append(iter(children[child]))
    order.reverse()
    return order


def _depths(
    raw: RawInventory, order: list[str], children: Mapping[str, tuple[str, ...]]
) -> dict[str, int]:
    """Each group's depth, the longest path to it from a group without parents (Ansible's
    ``Group.depth``). Raises ConfigError past MAX_GROUP_DEPTH."""
    depth = dict.fromkeys(order, 0)
    for group in order:
        below = depth[group] + 1
        for child in children[group]:
            if depth[child] < below:
                if below > MAX_GROUP_DEPTH:
                    raise _error(
                        raw, child, f"group {child!r} is nested more than {MAX_GROUP_DEPTH} deep"
                    )
                depth[child] = below
    return depth


def _descendant_hosts(
    raw: RawInventory, order: list[str], children: Mapping[str, tuple[str, ...]]
) -> dict[str, frozenset[str]]:
    """Group -> the hosts in it or in any group below it, children before parents."""
    found: dict[str, frozenset[str]] = {}
    for group in reversed(order):
        kids = children[group]
        if not kids:
            found[group] = frozenset(raw.groups[group].hosts)
            continue
        merged = set(raw.groups[group].hosts)
        for child in kids:
            merged |= found[child]
        found[group] = frozenset(merged)
    return found


class _Members(Mapping[str, tuple[str, ...]]):
    """Group -> its hosts in run order, computed when first asked for."""

    def __init__(
        self,
        raw: RawInventory,
        children: Mapping[str, tuple[str, ...]],
        descendants: Mapping[str, frozenset[str]],
        ansible: bool,
    ) -> None:
        self._raw = raw
        self._children = children
        self._descendants = descendants
        self._ansible = ansible
        self._cache: dict[str, tuple[str, ...]] = {}
        self._order = {n: i for i, n in enumerate(raw.hosts)}
        self._keys = [*descendants, *(g for g in (ALL, UNGROUPED) if g not in descendants)]

    def __getitem__(self, group: str) -> tuple[str, ...]:
        found = self._cache.get(group)
        if found is None:
            found = self._cache[group] = self._compute(group)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, group: object) -> bool:
        return group in self._descendants or group in (ALL, UNGROUPED)

    def _compute(self, group: str) -> tuple[str, ...]:
        if group not in self:
            raise KeyError(group)
        if group == UNGROUPED and not self._raw.groups.get(UNGROUPED, _NO_GROUP).hosts:
            grouped: set[str] = set()
            for name, hosts in self._descendants.items():
                if name not in (ALL, UNGROUPED):
                    grouped |= hosts
            return tuple(h for h in self._raw.hosts if h not in grouped)
        if group == ALL and not self._ansible:
            return tuple(self._raw.hosts)
        if self._ansible:
            return self._ansible_order(group)
        return tuple(sorted(self._descendants[group], key=self._order.__getitem__))

    def _ansible_order(self, group: str) -> tuple[str, ...]:
        """Ansible's ``Group.get_hosts()``: the group's own hosts, then its children's, then
        theirs, level by level (Ansible walks a level in set order; here, in the order the
        groups were met)."""
        ordered = [group]
        seen = {group}
        level = [group]
        while level:
            below = []
            for parent in level:
                for child in self._children[parent]:
                    if child not in seen:
                        seen.add(child)
                        ordered.append(child)
                        below.append(child)
            level = below
        hosts: dict[str, None] = {}
        for name in ordered:
            hosts.update(dict.fromkeys(self._raw.groups[name].hosts))
        if group == ALL:  # every host, also one only ever named in group 'all' itself
            hosts.update(dict.fromkeys(self._raw.hosts))
        return tuple(hosts)


class _NoGroup:
    hosts: tuple[str, ...] = ()


_NO_GROUP = _NoGroup()


def _error(raw: RawInventory, group: str, message: str) -> ConfigError:
    where = raw.groups[group].where
    return ConfigError(
        message, path=where.path if where else raw.path, line=where.line if where else None
    )


def group_order(inv: Inventory) -> list[str]:
    """Groups in the order their vars apply: by depth (parents first), then (Ansible)
    ``ansible_group_priority``, then by name."""
    groups = inv.raw.groups
    return sorted(
        inv.children,
        key=lambda g: (inv.depth[g], groups[g].priority if g in groups else 1, g),
    )


def resolve_hosts(inv: Inventory, names: Iterable[str]) -> list[Host]:
    """The Hosts for ``names`` (in the given order) with the inventory's settings, and
    ``origins`` naming, for each setting the inventory gave, the file (and line) it came from.

    Only the hosts asked for are resolved, so selecting a few hosts of a large
    inventory costs little. ssh_config, the command line and jump chains are the
    host layer's (:func:`hostops.host.settings.resolve_connection`); a ``jump`` of
    ``none`` is kept, as it cancels ssh_config's ProxyJump there. Raises ConfigError
    for a setting hostops cannot use (naming the file and line that set it).
    """
    rank = {g: i for i, g in enumerate(group_order(inv))}
    hosts = []
    with collector_paused():
        for name in names:
            settings, origins = _settings(inv, name, rank)
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
    inv: Inventory, name: str, rank: Mapping[str, int]
) -> tuple[dict[str, Any], dict[str, str]]:
    """A host's settings from the inventory's layers, and where each came from.
    ``rank``: each group's place in :func:`group_order`."""
    mine = list(inv.host_groups.get(name, ()))
    if name in inv.ungrouped:  # [ungrouped:vars] in an Ansible inventory apply too
        mine.append(UNGROUPED)
    groups = sorted((g for g in mine if g in rank), key=rank.__getitem__)
    if inv.raw.kind == "ansible":
        assert inv.files is not None
        merged = host_variables(inv.raw, name, groups, inv.files)
        settings, origins = connection_settings(name, merged)
        free = {n: v.value for n, v in merged.items() if n not in MAPPED_VARS}
        if free:
            settings["vars"] = free
        return settings, origins
    settings, origins = {}, {}
    raw = inv.raw
    layers = [(raw.defaults, raw.path)]
    layers += [(raw.groups[g].settings, str(raw.groups[g].where or raw.path)) for g in groups]
    layers.append((raw.hosts[name].settings, str(raw.hosts[name].where or raw.path)))
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


# Settings that become the Host field of the same name as they are; the others below.
_AS_IS = frozenset(
    {
        "user",
        "port",
        "connection",
        "jump",
        "password_env",
        "config_name",
        "sudo",
        "sudo_user",
        "problem",
    }
)


def _host(name: str, s: dict[str, Any], groups: tuple[str, ...], origins: dict[str, str]) -> Host:
    # Only the settings given, the rest left to Host's defaults: most hosts of a large
    # inventory have one or two (100,000 hosts: a quarter of a second less).
    fields = {key: s[key] for key in _AS_IS.intersection(s)}
    if "identity_file" in s:
        fields["identity_files"] = tuple(os.path.expanduser(p) for p in s["identity_file"])
    if s.get("known_hosts"):
        fields["known_hosts"] = os.path.expanduser(s["known_hosts"])
    if "ssh_options" in s:
        fields["ssh_options"] = tuple(s["ssh_options"])
    return Host(
        name=name,
        address=s.get("address", name),
        groups=groups,
        vars=s.get("vars", {}),
        origins=origins,
        **fields,
    )
