"""Real Ansible (ansible-core, a test dependency) as the oracle of the differential tests.

Ansible runs with its own home and config in a temporary directory, from a
working directory without group_vars/ (Ansible would read those as playbook
variables), only the script, INI and YAML inventory plugins, and a parse failure
made fatal (by default it warns and carries on with a partial inventory).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ansible.module_utils.parsing.convert_bool import boolean

_PATTERNS_SCRIPT = Path(__file__).with_name("ansible_patterns.py")


def ansible_tool(name: str) -> str:
    """The Ansible command installed with this Python, else on PATH; missing is a failure."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} not found: ansible-core is a test dependency (pip install -e .[test])"
    return found


def ansible_environment(home: Path) -> dict[str, str]:
    """An environment where Ansible reads no user or system config and fails on unparsable files."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "ansible.cfg"
    config.write_text("[defaults]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        HOME=str(home),
        ANSIBLE_HOME=str(home),
        ANSIBLE_CONFIG=str(config),
        ANSIBLE_INVENTORY_ENABLED="script,yaml,ini",
        ANSIBLE_INVENTORY_UNPARSED_FAILED="True",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
        ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="True",
        ANSIBLE_LOCALHOST_WARNING="False",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_DEPRECATION_WARNINGS="False",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
    )
    return env


def run(
    args: list[str], env: dict[str, str], cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _sources(paths: list[Path]) -> list[str]:
    return [arg for p in paths for arg in ("-i", str(p))]


def ansible_inventory(paths: Path | list[Path], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """``ansible-inventory -i P… --list``, parsed."""
    paths = paths if isinstance(paths, list) else [paths]
    done = run([ansible_tool("ansible-inventory"), *_sources(paths), "--list"], env, cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def ansible_list_hosts(
    pattern: str, paths: Path | list[Path], env: dict[str, str], cwd: Path
) -> list[str]:
    """``ansible PATTERN -i P… --list-hosts``: the hosts, in the order Ansible lists them."""
    paths = paths if isinstance(paths, list) else [paths]
    args = [ansible_tool("ansible"), pattern, *_sources(paths), "--list-hosts"]
    done = run(args, env, cwd)
    assert done.returncode == 0, done.stderr
    header, *names = done.stdout.splitlines()
    assert header.strip().startswith("hosts ("), done.stdout
    return [n.strip() for n in names if n.strip()]


def ansible_batch(
    patterns: list[str], paths: list[Path], env: dict[str, str], cwd: Path
) -> dict[str, Any]:
    """One start-up of Ansible for an inventory: ``{"list": <ansible-inventory --list>,
    "patterns": {pattern: hosts (or {"error": ...})}}``."""
    python = Path(ansible_tool("ansible")).read_text().splitlines()[0].removeprefix("#!").strip()
    request = json.dumps({"sources": [str(p) for p in paths], "patterns": patterns})
    done = run([python or sys.executable, str(_PATTERNS_SCRIPT)], env, cwd, stdin=request)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# --------------------------------------------------------------------------- comparing


_CONNECTION = {
    "address": ("ansible_host", "ansible_ssh_host"),
    "port": ("ansible_port", "ansible_ssh_port"),
    "user": ("ansible_user", "ansible_ssh_user"),
}


def _last(hostvars: dict[str, Any], names: tuple[str, ...]) -> Any:
    given = [hostvars[n] for n in names if hostvars.get(n) is not None]
    return given[-1] if given else None


def _plain(value: Any) -> Any:
    """A value of ``ansible-inventory --list`` without its ``{"__ansible_unsafe": x}`` marks."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def ansible_view(name: str, hostvars: dict[str, Any]) -> dict[str, Any]:
    """What Ansible's ssh connection and sudo become plugins make of a host's variables."""
    hostvars = _plain(hostvars)
    port = _last(hostvars, _CONNECTION["port"])
    view: dict[str, Any] = {
        "address": _last(hostvars, _CONNECTION["address"]) or name,
        "port": int(port) if port is not None else 22,
        "user": _last(hostvars, _CONNECTION["user"]),
        "sudo": None,
        "sudo_user": None,
    }
    if hostvars.get("ansible_become") is not None:
        view["sudo"] = boolean(hostvars["ansible_become"], strict=False)  # Ansible's own
        view["sudo_user"] = _last(hostvars, ("ansible_become_user", "ansible_sudo_user"))
    view["vars"] = {k: v for k, v in hostvars.items() if not k.startswith("ansible_")}
    return json.loads(json.dumps(view))


def our_view(host: Any) -> dict[str, Any]:
    """The same from a resolved hostops Host."""
    view = {
        "address": host.address,
        "port": host.port,
        "user": host.user,
        "sudo": host.sudo,
        "sudo_user": host.sudo_user if host.sudo is not None else None,
        "vars": {k: v for k, v in host.vars.items() if not k.startswith("ansible_")},
    }
    return json.loads(json.dumps(view, default=str))


def members(listing: dict[str, Any]) -> dict[str, set[str]]:
    """Group -> every host in it or its descendants, from ``ansible-inventory --list``."""
    groups = {k: v for k, v in listing.items() if k != "_meta"}
    found: dict[str, set[str]] = {}

    def hosts_of(name: str) -> set[str]:
        if name not in found:
            body = groups.get(name, {})
            found[name] = set(body.get("hosts", []))
            for child in body.get("children", []):
                found[name] |= hosts_of(child)
        return found[name]

    return {name: hosts_of(name) for name in groups}
