"""What ``hostops inventory`` prints: a table, the group tree, or JSON. Never a secret:
hosts carry only the NAME of a password variable, and that is all that is shown."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from hostops.inventory.resolve import ALL, UNGROUPED, Inventory
from hostops.models import Host
from hostops.ranges import fold
from hostops.vault import has_vaulted

# Free-form variables whose name says they hold a secret are shown as hidden.
_SECRETISH = re.compile(r"pass|secret|token|credential|private|api_?key", re.IGNORECASE)
_HIDDEN = "<hidden>"
_ENCODER = json.JSONEncoder(default=str)
_COLUMNS = ("host", "address", "port", "user", "key", "jump", "groups")


def _row(h: Host) -> tuple[str, ...]:
    key = ",".join(h.identity_files) or "-"
    return (
        h.name,
        h.address,
        str(h.port),
        h.user or "-",
        key,
        h.jump or "-",
        ",".join(h.groups) or "-",
    )


def inventory_table(hosts: list[Host]) -> str:
    """One aligned line per host, under a header, then the folded host set."""
    rows = [_COLUMNS, *(_row(h) for h in hosts)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    lines.append(
        f"{len(hosts)} host{'s' if len(hosts) != 1 else ''}: {fold(h.name for h in hosts)}"
    )
    return "\n".join(lines) + "\n"


def inventory_graph(inv: Inventory, selected: list[str]) -> str:
    """The group tree (like ``ansible-inventory --graph``), limited to the selected hosts."""
    chosen = set(selected)
    lines = [f"@{ALL}:"]
    roots = sorted(g for g in inv.children if g not in (ALL, UNGROUPED) and not _has_parent(inv, g))
    for group in roots:
        _graph_group(inv, group, chosen, 1, lines)
    ungrouped = [h for h in inv.members.get(UNGROUPED, ()) if h in chosen]
    if ungrouped:
        lines.append(f"  |--@{UNGROUPED}:")
        lines += [f"  |  |--{h}" for h in ungrouped]
    return "\n".join(lines) + "\n"


def _has_parent(inv: Inventory, group: str) -> bool:
    return any(group in kids for parent, kids in inv.children.items() if parent != ALL)


def _graph_group(
    inv: Inventory, group: str, chosen: set[str], depth: int, lines: list[str]
) -> None:
    if not chosen.intersection(inv.members.get(group, ())):
        return
    pad = "  " + "|  " * (depth - 1)
    lines.append(f"{pad}|--@{group}:")
    for child in inv.children.get(group, ()):
        _graph_group(inv, child, chosen, depth + 1, lines)
    for host in inv.raw.groups[group].hosts:
        if host in chosen:
            lines.append(f"{pad}|  |--{host}")


def _jump_json(hop: Host) -> dict[str, object]:
    return {
        "name": hop.name,
        "address": hop.address,
        "port": hop.port,
        "user": hop.user,
        "identity_files": list(hop.identity_files),
        "known_hosts": hop.known_hosts,
        "ssh": dataclasses.asdict(hop.ssh),
        "origins": dict(hop.origins),
    }


def _shown(name: str, value: object) -> object:
    """A variable as JSON shows it: a secret-looking or vaulted one hidden (never decrypted)."""
    if _SECRETISH.search(name) or has_vaulted(value):
        return _HIDDEN
    return value


def inventory_json(inv: Inventory, hosts: list[Host]) -> str:
    """``{"hosts": {name: settings}, "groups": {name: {"hosts": [...], "children": [...]}}}``,
    one line per host (json's C encoder: 100,000 hosts indented would take seconds)."""
    names = {h.name for h in hosts}
    # Hosts resolved alike share one SshSettings: asdict once each (a tenth of the time).
    ssh_docs: dict[int, dict[str, Any]] = {}
    for h in hosts:
        if id(h.ssh) not in ssh_docs:
            ssh_docs[id(h.ssh)] = dataclasses.asdict(h.ssh)
    doc: dict[str, dict[str, Any]] = {
        "hosts": {
            h.name: {
                "address": h.address,
                "port": h.port,
                "user": h.user,
                "identity_files": list(h.identity_files),
                "known_hosts": h.known_hosts,
                "connection": h.connection.value,
                "jump": h.jump,
                "password_env": h.password_env,
                "host_key_policy": h.host_key_policy.value if h.host_key_policy else None,
                "jump_hosts": [_jump_json(j) for j in h.jump_hosts],
                "ssh": ssh_docs[id(h.ssh)],
                "origins": dict(h.origins),
                "connection_id": h.connection_id,
                "groups": list(h.groups),
                "config_name": h.config_name,
                "ssh_options": [list(option) for option in h.ssh_options],
                "sudo": h.sudo,
                "sudo_user": h.sudo_user,
                "problem": h.problem,
                "vars": {k: _shown(k, v) for k, v in h.vars.items()},
            }
            for h in hosts
        },
        "groups": {
            g: {
                "hosts": [h for h in inv.members[g] if h in names],
                "children": list(inv.children.get(g, ())),
            }
            for g in sorted(inv.members)
            if names.intersection(inv.members[g])
        },
    }
    encode = _ENCODER.encode  # one encoder for every host: json.dumps(default=) makes one each
    entries = ",\n".join(
        f"    {encode(name)}: {encode(entry)}" for name, entry in doc["hosts"].items()
    )
    groups = json.dumps(doc["groups"], indent=2, default=str).replace("\n", "\n  ")
    return f'{{\n  "hosts": {{\n{entries}\n  }},\n  "groups": {groups}\n}}\n'
