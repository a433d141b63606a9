"""hostops's reading of Ansible inventories against real Ansible (ansible-core, a test dependency).

For each inventory, ``ansible-inventory --list`` and :func:`load_ansible` must
agree on the hosts, on every group's hosts (child groups included), on the
connection values each host ends up with (address, port, user) and on its
other variables. Files Ansible rejects, hostops rejects too; host patterns
select the same hosts as ``ansible PATTERN --list-hosts``.

Ansible runs with its own home and config in a temporary directory, only the
INI and YAML inventory plugins, and a parse failure made fatal (by default it
warns and carries on with a partial inventory).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from ansible_examples import DOC_INI, DOC_YAML

from hostops.errors import ConfigError
from hostops.inventory.ansible import load_ansible
from hostops.inventory.patterns import select
from hostops.inventory.raw import RawInventory

# --------------------------------------------------------------------------- inventories


# Vars at every level, with conflicts that only precedence settles: a deeper
# group beats a shallower one, at equal depth the later name wins, the host
# beats its groups, and the legacy ansible_ssh_* names beat the new ones.
VARS_INI = """\
badwolf.example.com:5309
jumper ansible_port=5555 ansible_host=192.0.2.50

[atlanta]
host1 http_port=80 maxRequestsPerChild=808
host2 http_port=303 maxRequestsPerChild=909 ansible_user=host2user

[raleigh]
host2
host3 ansible_ssh_host=10.0.0.3 ansible_host=10.9.9.9 ansible_password=hunter2

[atlanta:vars]
ansible_port=2201
ansible_user=atlanta
ntp_server=ntp.atlanta.example.com

[raleigh:vars]
ansible_user=raleigh
ansible_port=2202

[southeast:children]
atlanta
raleigh

[southeast:vars]
some_server=foo.southeast.example.com
halon_system_timeout=30
ansible_port=2200
escape_pods=2
flag=True
words = two words # and a comment

[usa:children]
southeast
webservers
databases

[webservers]
www[01:50:2].example.com ansible_user=web

[databases]
db-[a:f].example.com

[all:vars]
ansible_user=everyone
ansible_ssh_common_args='-J bastion.example.com'
"""

TRICKY_YAML = """\
all:
  vars:
    ansible_user: admin
    tier: none
  hosts:
    mail.example.com:
    "gw.example.com:2222":
  children:
    ungrouped:
      hosts:
        lonely:
        grouped:
    webservers:
      hosts:
        web[1:3]:
          ansible_port: "2201"
        web4:
          ansible_ssh_user: legacy
          ansible_user: modern
          ansible_host: ~
      vars:
        tier: web
        listy: [1, 2]
    prod:
      children:
        webservers:
          hosts:
            web5:
          vars:
            tier: web-again
        databases:
          hosts: grouped
          vars:
            ansible_port: 5432
      vars:
        ansible_user: prod
        tier: prod
    empty:
  notes: ignored with a warning, by Ansible too
other:
  hosts:
    solo:
      ansible_become_password: hunter2
      nested: {a: {b: 1}}
  host:
    typo:
comment: 3
"""

EDGES_INI = """\
; hosts before any section are ungrouped, unless they also appear in a group
alone ansible_host=10.0.0.1
later

[all]
direct

[parents:children]
kids  # declared below

[kids]
later ansible_port=22 x=1
dup x=1 y=1

[kids:vars]
quoted="a b"
literal='single'
number=0x10
listed=[1, 'two']

[others]
dup x=2
[::1]:2022
10.0.0.9:2200

[all:vars]
ansible_port=2222
"""

PATTERN_INI = """\
[webservers]
host1.example.com
host2.example.com
web[01:03].example.com

[dbservers]
db[01:02].example.com
host1.example.com

[atlanta]
host1.example.com
db01.example.com
web01.example.com

[other]
mail.internal
"""

INVENTORIES = {
    "doc.ini": DOC_INI,
    "doc.yml": DOC_YAML,
    "doc-no-extension": DOC_YAML,
    "vars.ini": VARS_INI,
    "tricky.yaml": TRICKY_YAML,
    "edges": EDGES_INI,
    "patterns.ini": PATTERN_INI,
}

PATTERNS = [
    ("patterns.ini", "all"),
    ("patterns.ini", "*"),
    ("patterns.ini", "webservers"),
    ("patterns.ini", "webservers:dbservers"),
    ("patterns.ini", "webservers,dbservers"),
    ("patterns.ini", "webservers:&atlanta"),
    ("patterns.ini", "webservers:!host1*"),
    ("patterns.ini", "all:!other"),
    ("patterns.ini", "~db.*"),
    ("patterns.ini", "~web0[12]"),
    ("patterns.ini", "*.example.com"),
    ("patterns.ini", "db*:&atlanta"),
    ("patterns.ini", "host1.example.com:mail.internal"),
    ("doc.yml", "all"),
    ("doc.yml", "webservers:dbservers"),
    ("doc.yml", "prod:&webservers"),
    ("doc.yml", "all:!test"),
    ("doc.yml", "~(one|two)\\."),
    ("doc.yml", "*.example.com:!mail*"),
    ("tricky.yaml", "ungrouped"),
    ("tricky.yaml", "prod:!web4"),
]

# Files Ansible refuses (with parse failures fatal); hostops must refuse them too.
REJECTED = {
    "vars-for-undeclared.ini": "[g:vars]\nx=1\n[h]\nh1\n",
    "undeclared-child.ini": "[usa:children]\nsoutheast\nnortheast\n[southeast]\nh1\n",
    "unknown-section.ini": "[g:bogus]\nh1\n",
    "spaces-in-header.ini": "[g x]\nh1\n",
    "bare-word.ini": "h1 ansible_user deploy\n",
    "loop.ini": "[a:children]\nb\n[b:children]\na\n",
    "bad-width.ini": "[web]\nwww[01:5].example.com\n",
    "trailing-colon.ini": "h1:\n",
    "yaml-as-ini.ini": "---\nall:\n",
    "hosts-list.yml": "all:\n  hosts:\n    - h1\n",
    "host-vars-scalar.yml": "all:\n  hosts:\n    h1: 5\n",
    "child-list.yml": "all:\n  children:\n    web: [h1]\n",
    "plugin.yml": "plugin: ansible.builtin.constructed\n",
}

_MAPPED = {
    "address": ("ansible_host", "ansible_ssh_host"),
    "port": ("ansible_port", "ansible_ssh_port"),
    "user": ("ansible_user", "ansible_ssh_user"),
}


# --------------------------------------------------------------------------- running Ansible


def _ansible_tool(name: str) -> str:
    """The Ansible command installed with this Python, else on PATH; missing is a failure."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} not found: ansible-core is a test dependency (pip install -e .[test])"
    return found


@pytest.fixture
def ansible_env(tmp_path: Path) -> dict[str, str]:
    """An environment where Ansible reads no user or system config and fails on unparsable files."""
    home = tmp_path / "ansible-home"
    home.mkdir()
    config = home / "ansible.cfg"
    config.write_text("[defaults]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        HOME=str(home),
        ANSIBLE_HOME=str(home),
        ANSIBLE_CONFIG=str(config),
        ANSIBLE_INVENTORY_ENABLED="yaml,ini",
        ANSIBLE_INVENTORY_UNPARSED_FAILED="True",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
        ANSIBLE_LOCALHOST_WARNING="False",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_DEPRECATION_WARNINGS="False",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
    )
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def ansible_inventory(path: Path, env: dict[str, str]) -> dict[str, Any]:
    done = _run([_ansible_tool("ansible-inventory"), "-i", str(path), "--list"], env, path.parent)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def ansible_list_hosts(pattern: str, path: Path, env: dict[str, str]) -> set[str]:
    args = [_ansible_tool("ansible"), pattern, "-i", str(path), "--list-hosts"]
    done = _run(args, env, path.parent)
    assert done.returncode == 0, done.stderr
    header, *names = done.stdout.splitlines()
    assert header.strip().startswith("hosts ("), done.stdout
    return {n.strip() for n in names if n.strip()}


@pytest.fixture
def write(tmp_path: Path):
    folder = tmp_path / "inventories"
    folder.mkdir()

    def write(name: str, text: str) -> Path:
        path = folder / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


# --------------------------------------------------------------------------- both sides as plain data


def ansible_members(listing: dict[str, Any]) -> dict[str, set[str]]:
    """Group -> every host in it or its descendants, from ``ansible-inventory --list``."""
    groups = {k: v for k, v in listing.items() if k != "_meta"}

    def hosts_of(name: str) -> set[str]:
        body = groups.get(name, {})
        found = set(body.get("hosts", []))
        for child in body.get("children", []):
            found |= hosts_of(child)
        return found

    return {name: hosts_of(name) for name in groups}


def our_members(inv: RawInventory) -> dict[str, set[str]]:
    def hosts_of(name: str) -> set[str]:
        group = inv.groups[name]
        found = set(group.hosts)
        for child in group.children:
            found |= hosts_of(child)
        return found

    return {name: hosts_of(name) for name in inv.groups}


def ansible_view(hostvars: dict[str, Any]) -> dict[str, Any]:
    """A host's address/port/user as Ansible's connection plugins pick them, and its other vars."""
    view: dict[str, Any] = {}
    for key, names in _MAPPED.items():
        given = [hostvars[n] for n in names if hostvars.get(n) is not None]
        if given:
            view[key] = int(given[-1]) if key == "port" else given[-1]
    view["vars"] = {
        k: v
        for k, v in hostvars.items()
        if not k.startswith(
            "ansible_"
        )  # connection settings and secrets: compared above or dropped
    }
    return view


def our_view(inv: RawInventory, host: str, members: dict[str, set[str]]) -> dict[str, Any]:
    """The same, from the raw model with Ansible's precedence: ``all`` < groups by
    (depth, name) < host, vars merged key by key."""
    depth = _depths(inv)
    groups = sorted(
        (g for g, hosts in members.items() if host in hosts and g != "all"),
        key=lambda g: (depth[g], g),
    )
    layers = [inv.defaults, *(inv.groups[g].settings for g in groups), inv.hosts[host].settings]
    merged: dict[str, Any] = {"vars": {}}
    for layer in layers:
        for key, value in layer.items():
            if key == "vars":
                merged["vars"].update(value)
            else:
                merged[key] = value
    view = {key: merged[key] for key in _MAPPED if key in merged}
    view["vars"] = {k: v for k, v in merged["vars"].items() if not k.startswith("ansible_")}
    return json.loads(json.dumps(view))  # the types JSON has, as Ansible's listing


def _depths(inv: RawInventory) -> dict[str, int]:
    """A group's depth: the longest path from ``all`` (Ansible orders group vars by it)."""
    depth = {"all": 0}
    todo = ["all"]
    while todo:
        parent = todo.pop()
        for child in inv.groups[parent].children:
            if depth.get(child, -1) < depth[parent] + 1:
                depth[child] = depth[parent] + 1
                todo.append(child)
    return depth


# --------------------------------------------------------------------------- the comparisons


@pytest.mark.parametrize("name", list(INVENTORIES))
def test_same_hosts_groups_and_values_as_ansible(name: str, write, ansible_env) -> None:
    path = write(name, INVENTORIES[name])
    listing = ansible_inventory(path, ansible_env)
    inv = load_ansible(path)

    theirs = ansible_members(listing)
    ours = our_members(inv)
    assert set(inv.hosts) == theirs["all"] | set(listing["_meta"]["hostvars"])
    # Ansible lists only groups with hosts or children; compare every group with hosts.
    assert {g: h for g, h in ours.items() if h} == {g: h for g, h in theirs.items() if h}

    hostvars = listing["_meta"]["hostvars"]
    for host in inv.hosts:
        assert our_view(inv, host, ours) == ansible_view(hostvars.get(host, {})), host


def test_jump_from_ssh_args_matches_what_ansible_passes(write, ansible_env) -> None:
    path = write("vars.ini", VARS_INI)
    listing = ansible_inventory(path, ansible_env)
    assert (
        listing["_meta"]["hostvars"]["host1"]["ansible_ssh_common_args"] == "-J bastion.example.com"
    )
    assert load_ansible(path).defaults["jump"] == "bastion.example.com"


def test_secrets_ansible_would_use_are_dropped(write, ansible_env) -> None:
    path = write("vars.ini", VARS_INI)
    assert (
        ansible_inventory(path, ansible_env)["_meta"]["hostvars"]["host3"]["ansible_password"]
        == "hunter2"
    )
    inv = load_ansible(path)
    assert "hunter2" not in repr(inv)
    assert any("ansible_password ignored" in w for w in inv.warnings)


@pytest.mark.parametrize("name", list(REJECTED))
def test_files_ansible_rejects_are_rejected(name: str, write, ansible_env) -> None:
    path = write(name, REJECTED[name])
    args = [_ansible_tool("ansible-inventory"), "-i", str(path), "--list"]
    done = _run(args, ansible_env, path.parent)
    assert done.returncode != 0, f"Ansible accepted {name}: {done.stdout}"
    with pytest.raises(ConfigError):
        load_ansible(path)


@pytest.mark.parametrize(("inventory", "pattern"), PATTERNS)
def test_patterns_select_what_ansible_lists(
    inventory: str, pattern: str, write, ansible_env
) -> None:
    path = write(inventory, INVENTORIES[inventory])
    expected = ansible_list_hosts(pattern, path, ansible_env)
    assert expected, f"pattern {pattern!r} selects nothing in {inventory}: choose one that does"
    inv = load_ansible(path)
    groups = {g: sorted(h) for g, h in our_members(inv).items()}
    assert set(select(pattern, list(inv.hosts), groups)) == expected
