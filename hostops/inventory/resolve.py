"""From a RawInventory to groups and fully resolved Hosts, with one precedence for every format.

Precedence of a native inventory, lowest first: ssh_config < ``defaults`` <
group vars (parents before children; groups at the same depth alphabetically) <
the host's own settings < command-line flags given explicitly. An Ansible
inventory's variables are merged as Ansible merges them
(:mod:`hostops.inventory.ansible_vars`), then read as settings
(:mod:`hostops.inventory.ansible_settings`).

The group graph is resolved in time linear in its size (groups, edges, and the
host lists that are the answer): no path is walked twice.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hostops.errors import ConfigError
from hostops.inventory.ansible_settings import MAPPED_VARS, connection_settings
from hostops.inventory.ansible_vars import VarsFiles, host_variables
from hostops.inventory.raw import RawInventory
from hostops.models import Connection, Host, HostKeyPolicy

ALL = "all"
UNGROUPED = "ungrouped"


class SshConfigSource(Protocol):
    """What resolution needs from ssh_config (see hostops.host.ssh_config)."""

    def lookup(self, name: str) -> Any: ...


@dataclass(frozen=True)
class Overrides:
    """Command-line settings: None (or empty) means not given, so never overrides."""

    user: str | None = None
    port: int | None = None
    identity_files: tuple[str, ...] = ()
    known_hosts: str | None = None
    jump: str | None = None

    def settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: v
            for k, v in (
                ("user", self.user),
                ("port", self.port),
                ("known_hosts", self.known_hosts),
                ("jump", self.jump),
            )
            if v is not None
        }
        if self.identity_files:
            out["identity_file"] = self.identity_files
        return out


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


def resolve_hosts(
    inv: Inventory,
    names: Iterable[str],
    *,
    ssh_config: SshConfigSource | None = None,
    overrides: Overrides | None = None,
) -> list[Host]:
    """Fully resolved Hosts for ``names`` (in the given order).

    Only the hosts asked for are resolved, so selecting a few hosts of a large
    inventory costs little, ssh_config lookups included. Each host's ``jump``
    chain is resolved too (see :func:`jump_hosts`). Raises ConfigError for a
    setting hostops cannot use (naming the file and line that set it).
    """
    ordered_groups = group_order(inv)
    rank = {g: i for i, g in enumerate(ordered_groups)}
    flags = (overrides or Overrides()).settings()
    flag_origins = {key: _FLAG_NAMES[key] for key in flags}
    hosts = []
    for name in names:
        settings, origins, policy = _settings(inv, name, rank, ssh_config)
        _apply(settings, flags)
        origins.update(flag_origins)
        if settings.get("jump") == "none":  # as ProxyJump none: cancels an inherited jump
            del settings["jump"]
        host = _host(name, settings, policy, inv.host_groups.get(name, ()), origins)
        if host.jump:
            chain = jump_hosts(host, inv, rank, ssh_config, flags)
            host = dataclasses.replace(host, jump_hosts=chain)
        hosts.append(host)
    return hosts


_FLAG_NAMES = {
    "user": "--user",
    "port": "--port",
    "identity_file": "--identity",
    "known_hosts": "--known-hosts",
    "jump": "--jump",
}


def _settings(
    inv: Inventory, name: str, rank: Mapping[str, int], ssh_config: SshConfigSource | None
) -> tuple[dict[str, Any], dict[str, str], str | None]:
    """A host's settings from ssh_config and the inventory (no flags), where each came
    from, and ssh_config's host key policy for it. ``rank``: each group's place in
    :func:`group_order`."""
    mine = list(inv.host_groups.get(name, ()))
    if name in inv.ungrouped:  # [ungrouped:vars] in an Ansible inventory apply too
        mine.append(UNGROUPED)
    groups = sorted((g for g in mine if g in rank), key=rank.__getitem__)
    if inv.raw.kind == "ansible":
        assert inv.files is not None
        merged = host_variables(inv.raw, name, groups, inv.files)
        own, origins = connection_settings(name, merged)
        free = {n: v.value for n, v in merged.items() if n not in MAPPED_VARS}
        if free:
            own["vars"] = free
    else:
        own, origins = {}, {}
        raw = inv.raw
        layers = [(raw.defaults, raw.path)]
        layers += [(raw.groups[g].settings, str(raw.groups[g].where or raw.path)) for g in groups]
        layers.append((raw.hosts[name].settings, str(raw.hosts[name].where or raw.path)))
        for layer, where in layers:
            _apply(own, layer)
            origins.update(dict.fromkeys((k for k in layer if k != "vars"), where))
    settings: dict[str, Any] = {}
    policy = None
    if ssh_config is not None:
        found = ssh_config.lookup(own.get("config_name") or name)
        settings.update(found.settings())
        policy = found.host_key_policy
        origins = {**dict.fromkeys((k for k in settings if k != "vars"), "ssh_config"), **origins}
    _apply(settings, own)
    return settings, origins, policy


def parse_jump(spec: str) -> list[tuple[str | None, str, int | None]]:
    """``[user@]host[:port][,...]`` (``[addr]:port`` for IPv6) as (user, host, port) hops.

    Raises ValueError with the reason."""
    hops = []
    for part in spec.split(","):
        user, at, rest = part.strip().rpartition("@")
        if at and not user:
            raise ValueError(f"empty user in {part.strip()!r}")
        port_text = None
        if rest.startswith("["):
            host, bracket, after = rest[1:].partition("]")
            if not bracket or (after and not after.startswith(":")):
                raise ValueError(f"bad address in {part.strip()!r}")
            port_text = after[1:] if after else None
        elif rest.count(":") == 1:
            host, _, port_text = rest.partition(":")
        else:
            host = rest
        if not host or any(c.isspace() for c in host):
            raise ValueError(f"no host name in {part.strip()!r}")
        port = None
        if port_text is not None:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ValueError(f"port must be 1 to 65535 in {part.strip()!r}")
            port = int(port_text)
        hops.append((user or None, host, port))
    return hops


def jump_hosts(
    host: Host,
    inv: Inventory,
    rank: Mapping[str, int],
    ssh_config: SshConfigSource | None,
    flags: Mapping[str, Any],
) -> tuple[Host, ...]:
    """``host.jump`` resolved hop by hop, as ProxyJump is.

    A hop's settings come from ssh_config for its name, then from the inventory
    host of that name if there is one, then from the ``user@`` and ``:port``
    written in the chain. ``--identity`` and ``--known-hosts`` apply to hops too;
    a hop without keys or known_hosts of its own uses the target's. A hop's own
    ``jump`` is not followed, and a host is never its own jump host: the chain
    stops before it. Raises ConfigError for a chain that does not parse.
    """
    assert host.jump is not None
    try:
        hops = parse_jump(host.jump)
    except ValueError as exc:
        raise ConfigError(f"host {host.name!r}: jump {host.jump!r}: {exc}") from None
    chain: list[Host] = []
    for (user, name, port), text in zip(hops, host.jump.split(","), strict=True):
        if name in inv.raw.hosts:
            settings, _, policy = _settings(inv, name, rank, ssh_config)
        elif ssh_config is not None:
            found = ssh_config.lookup(name)
            settings, policy = found.settings(), found.host_key_policy
        else:
            settings, policy = {}, None
        for key in (
            "jump",
            "connection",
            "vars",
            "config_name",
            "ssh_options",
            "sudo",
            "sudo_user",
            "problem",
        ):
            settings.pop(key, None)
        settings.update({k: flags[k] for k in ("identity_file", "known_hosts") if k in flags})
        settings.update({k: v for k, v in (("user", user), ("port", port)) if v is not None})
        settings.setdefault("address", name)
        hop = _host(text.strip(), settings, policy, (), {})
        if name == host.name or (hop.address, hop.port) == (host.address, host.port):
            break
        chain.append(
            dataclasses.replace(
                hop,
                identity_files=hop.identity_files or host.identity_files,
                known_hosts=hop.known_hosts or host.known_hosts,
            )
        )
    return tuple(chain)


def _apply(settings: dict[str, Any], layer: Mapping[str, Any]) -> None:
    for key, value in layer.items():
        if key == "vars":
            settings["vars"] = {**settings.get("vars", {}), **value}
        else:
            settings[key] = value


def _host(
    name: str,
    s: dict[str, Any],
    policy: str | None,
    groups: tuple[str, ...],
    origins: dict[str, str],
) -> Host:
    return Host(
        name=name,
        address=s.get("address", name),
        port=s.get("port", 22),
        user=s.get("user"),
        identity_files=tuple(os.path.expanduser(p) for p in s.get("identity_file", ())),
        known_hosts=os.path.expanduser(s["known_hosts"]) if s.get("known_hosts") else None,
        connection=s.get("connection", Connection.SSH),
        jump=s.get("jump"),
        password_env=s.get("password_env"),
        host_key_policy=HostKeyPolicy(policy) if policy else None,
        groups=groups,
        vars=s.get("vars", {}),
        config_name=s.get("config_name"),
        ssh_options=s.get("ssh_options", ()),
        origins=origins,
        sudo=s.get("sudo"),
        sudo_user=s.get("sudo_user"),
        problem=s.get("problem"),
    )
