"""Dynamic inventory scripts: an executable inventory is run, as Ansible's ``script`` plugin.

``SCRIPT --list`` prints JSON: groups (``{"hosts": [...], "vars": {...},
"children": [...]}``, or a bare list of hosts) and ``_meta.hostvars``; without
``_meta``, ``SCRIPT --host NAME`` is run for each host. The script runs with
hostops's secrets removed from its environment (hostops.localenv), in its own
directory, with a time limit; a non-zero exit, JSON that is not an inventory or
a time-out is a ConfigError naming the script (its stderr shown, cut).
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from hostops.errors import ConfigError
from hostops.inventory.ansible import ALL, UNGROUPED
from hostops.inventory.raw import RawGroup, RawHost, RawInventory, Var, Where
from hostops.localenv import child_environment

TIMEOUT_S = 60.0
"""Longest a script may take for one call."""
_STDERR_SHOWN = 300


def is_script(path: str) -> bool:
    """An executable file starting with ``#!``: Ansible would run it."""
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        return False
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return False


def read_script(path: str, timeout: float = TIMEOUT_S) -> RawInventory:
    """Run the script and read its inventory (not yet reconciled: see
    :func:`hostops.inventory.ansible.reconcile`). Raises ConfigError."""
    listing = _json(path, ["--list"], timeout)
    if not isinstance(listing, dict):
        raise ConfigError(f"--list printed {_kind(listing)}, not a JSON object", path=path)
    inv = RawInventory(path=path, kind="ansible", var_dirs=[os.path.dirname(os.path.abspath(path))])
    for name in (ALL, UNGROUPED):
        inv.groups[name] = RawGroup(name)
    where = Where(path)
    meta = listing.get("_meta")
    hostvars = None
    if meta is not None:
        hostvars = meta.get("hostvars") if isinstance(meta, dict) else None
        if not isinstance(hostvars, dict):
            raise ConfigError("--list: _meta.hostvars must be a JSON object", path=path)
    for name, body in listing.items():
        if name != "_meta":
            _group(inv, name, body, where)
    for name, host in inv.hosts.items():
        found = (
            hostvars.get(name, {})
            if hostvars is not None
            else _json(path, ["--host", name], timeout)
        )
        if found is None:
            found = {}
        if not isinstance(found, dict):
            raise ConfigError(
                f"the variables of host {name!r} are {_kind(found)}, not an object", path=path
            )
        host.variables = {k: Var(v, where) for k, v in found.items()}
    return inv


def _group(inv: RawInventory, name: str, body: Any, where: Where) -> None:
    """One group of ``--list`` (Ansible's ``_parse_group``)."""
    if not isinstance(body, dict):
        body = {"hosts": body}
    elif not any(k in body for k in ("hosts", "vars", "children")):
        body = {"hosts": [name], "vars": body}  # Ansible: a malformed group is its sole host
    group = inv.groups.setdefault(name, RawGroup(name, where=where))
    for host in _names(body, "hosts", f"{name}.hosts", "host", where):
        inv.hosts.setdefault(host, RawHost(host, where=where))
        if host not in group.hosts:
            group.hosts.append(host)
    variables = body.get("vars", {})
    if not isinstance(variables, dict):
        raise ConfigError(f"--list: {name}.vars must be an object", path=where.path)
    group.variables.update({k: Var(v, where) for k, v in variables.items()})
    for child in _names(body, "children", f"{name}.children", "group", where):
        inv.groups.setdefault(child, RawGroup(child, where=where))
        if child not in group.children:
            group.children.append(child)


def _names(body: dict[str, Any], key: str, what: str, kind: str, where: Where) -> list[str]:
    """``body[key]``, a list of names. Raises ConfigError."""
    names = body.get(key, [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"--list: {what} must be a list of {kind} names", path=where.path)
    return names


def _json(path: str, args: list[str], timeout: float) -> Any:
    """The script's standard output for ``args``, parsed. Raises ConfigError."""
    shown = " ".join(args)
    try:
        done = subprocess.run(
            [os.path.abspath(path), *args],
            cwd=os.path.dirname(os.path.abspath(path)),
            env=child_environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(
            f"inventory script {shown}: no answer within {timeout:g} s", path=path
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot run the inventory script: {exc.strerror or exc}", path=path
        ) from None
    stderr = done.stderr.decode("utf-8", "replace").strip().replace("\n", " | ")
    if len(stderr) > _STDERR_SHOWN:
        stderr = stderr[:_STDERR_SHOWN] + "…"
    if done.returncode != 0:
        raise ConfigError(
            f"inventory script {shown} exited with {done.returncode}"
            + (f": {stderr}" if stderr else ""),
            path=path,
        )
    text = done.stdout.decode("utf-8", "replace")
    if args[0] == "--host" and not text.strip():
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"inventory script {shown}: not JSON ({exc.msg} at line {exc.lineno})"
            + (f"; stderr: {stderr}" if stderr else ""),
            path=path,
        ) from None


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )
