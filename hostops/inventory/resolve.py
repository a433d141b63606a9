"""From a RawInventory to groups and fully resolved Hosts, with one precedence for every format.

Precedence, lowest first: ssh_config < ``defaults`` < group vars (parents
before children; groups at the same depth alphabetically) < the host's own
settings < command-line flags given explicitly.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hostops.errors import ConfigError
from hostops.inventory.raw import RawInventory
from hostops.models import Host, HostKeyPolicy, Transport

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
        """The overrides given, as inventory settings (``identity_file`` for the keys)."""
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
    chain is resolved too (see :func:`jump_hosts`).
    """
    ordered_groups = group_order(inv)
    flags = (overrides or Overrides()).settings()
    hosts = []
    for name in names:
        settings, policy = _settings(inv, name, ordered_groups, ssh_config)
        _apply(settings, flags)
        if settings.get("jump") == "none":  # as ProxyJump none: cancels an inherited jump
            del settings["jump"]
        host = _host(name, settings, policy, inv.host_groups.get(name, ()))
        if host.jump:
            chain = jump_hosts(host, inv, ordered_groups, ssh_config, flags)
            host = dataclasses.replace(host, jump_hosts=chain)
        hosts.append(host)
    return hosts


def every_host(inv: Inventory, selected: Iterable[Host]) -> list[Host]:
    """Every host of ``inv`` in inventory order, for host patterns to be matched against
    (a playbook's plays): the ``selected`` ones as given (resolved to connect), the
    others from the inventory alone, without ssh_config or overrides (they never connect)."""
    chosen = {h.name: h for h in selected}
    others = [n for n in inv.names if n not in chosen]
    resolved = {h.name: h for h in resolve_hosts(inv, others)}
    return [chosen.get(n) or resolved[n] for n in inv.names]


def _settings(
    inv: Inventory, name: str, ordered_groups: list[str], ssh_config: SshConfigSource | None
) -> tuple[dict[str, Any], str | None]:
    """A host's settings from ssh_config and the inventory's layers (no flags), and
    ssh_config's host key policy for it."""
    settings: dict[str, Any] = {}
    policy = None
    if ssh_config is not None:
        found = ssh_config.lookup(name)
        settings.update(found.settings())
        policy = found.host_key_policy
    layers = [inv.raw.defaults]
    mine = set(inv.host_groups.get(name, ()))
    if name in inv.members[UNGROUPED]:  # [ungrouped:vars] in an Ansible inventory apply too
        mine.add(UNGROUPED)
    layers += [inv.raw.groups[g].settings for g in ordered_groups if g in mine]
    layers.append(inv.raw.hosts[name].settings)
    for layer in layers:
        _apply(settings, layer)
    return settings, policy


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
    ordered_groups: list[str],
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
            settings, policy = _settings(inv, name, ordered_groups, ssh_config)
        elif ssh_config is not None:
            found = ssh_config.lookup(name)
            settings, policy = found.settings(), found.host_key_policy
        else:
            settings, policy = {}, None
        for key in ("jump", "connection", "vars"):
            settings.pop(key, None)
        settings.update({k: flags[k] for k in ("identity_file", "known_hosts") if k in flags})
        settings.update({k: v for k, v in (("user", user), ("port", port)) if v is not None})
        settings.setdefault("address", name)
        hop = _host(text.strip(), settings, policy, ())
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


def _host(name: str, s: dict[str, Any], policy: str | None, groups: tuple[str, ...]) -> Host:
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
        host_key_policy=HostKeyPolicy(policy) if policy else None,
        groups=groups,
        vars=s.get("vars", {}),
    )
