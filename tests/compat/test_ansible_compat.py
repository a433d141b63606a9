"""hostops's reading of small Ansible inventories against real Ansible (ansible-core).

For each inventory, ``ansible-inventory --list`` and hostops must agree on the
hosts, on every group's hosts (child groups included), on the connection values
each host ends up with (address, port, user, become) and on its other
variables. Files Ansible rejects, hostops rejects too; host patterns select the
same hosts, in the same order, as ``ansible PATTERN --list-hosts``. Ansible
answers once per inventory, its listing and all its patterns in one start-up
(``ansible_batch``: test_ansible_corpus checks it prints what those commands print).
(The corpus of real projects' inventories is compared in test_ansible_corpus.py.)
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from ansible_examples import DOC_INI, DOC_YAML
from ansible_oracle import (
    ansible_batch,
    ansible_environment,
    ansible_inventory,
    ansible_tool,
    ansible_view,
    members,
    our_view,
    run,
)

from hostops.errors import ConfigError
from hostops.inventory import build, load_inventory, load_raw, resolve_hosts, select_names
from hostops.inventory.ansible import load_ansible

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


@pytest.fixture
def ansible_env(tmp_path: Path) -> dict[str, str]:
    return ansible_environment(tmp_path / "ansible-home")


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """Where Ansible runs: a directory without group_vars/ (Ansible would read them)."""
    path = tmp_path / "run"
    path.mkdir()
    return path


@pytest.fixture
def write(tmp_path: Path):
    folder = tmp_path / "inventories"
    folder.mkdir()

    def write(name: str, text: str) -> Path:
        path = folder / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Ansible's answers for one of INVENTORIES (its listing, and its PATTERNS), computed once."""
    root = tmp_path_factory.mktemp("oracle")
    (root / "run").mkdir()
    answers: dict[str, dict[str, Any]] = {}

    def answer(name: str) -> dict[str, Any]:
        if name not in answers:
            path = root / name
            path.write_text(textwrap.dedent(INVENTORIES[name]), encoding="utf-8")
            patterns = [p for inventory, p in PATTERNS if inventory == name]
            env = ansible_environment(root / "home")
            answers[name] = ansible_batch(patterns, [path], env, root / "run")
        return answers[name]

    return answer


# --------------------------------------------------------------------------- the comparisons


@pytest.mark.parametrize("name", list(INVENTORIES))
def test_same_hosts_groups_and_values_as_ansible(name: str, write, oracle) -> None:
    path = write(name, INVENTORIES[name])
    listing = oracle(name)["list"]
    inv = build(load_raw(path))

    theirs = members(listing)
    assert set(inv.names) == theirs["all"] | set(listing["_meta"]["hostvars"])
    ours = {g: set(h) for g, h in inv.members.items()}
    # Ansible lists only groups with hosts or children; compare every group with hosts.
    assert {g: h for g, h in ours.items() if h} == {g: h for g, h in theirs.items() if h}

    hostvars = listing["_meta"]["hostvars"]
    for host in resolve_hosts(inv, inv.names):
        assert our_view(host) == ansible_view(host.name, hostvars.get(host.name, {})), host.name


def test_jump_from_ssh_args_matches_what_ansible_passes(write, ansible_env, run_dir) -> None:
    path = write("vars.ini", VARS_INI)
    listing = ansible_inventory(path, ansible_env, run_dir)
    assert (
        listing["_meta"]["hostvars"]["host1"]["ansible_ssh_common_args"] == "-J bastion.example.com"
    )
    host1 = next(h for h in load_inventory(path) if h.name == "host1")
    assert host1.jump == "bastion.example.com"
    assert host1.ssh_options == (("ProxyJump", "bastion.example.com"),)


def test_secrets_ansible_would_use_are_dropped(write, ansible_env, run_dir) -> None:
    path = write("vars.ini", VARS_INI)
    listing = ansible_inventory(path, ansible_env, run_dir)
    assert listing["_meta"]["hostvars"]["host3"]["ansible_password"] == "hunter2"
    inv = load_ansible(path)
    assert "hunter2" not in repr(inv)
    assert any("ansible_password ignored" in w for w in inv.warnings)


@pytest.mark.parametrize("name", list(REJECTED))
def test_files_ansible_rejects_are_rejected(name: str, write, ansible_env, run_dir) -> None:
    path = write(name, REJECTED[name])
    args = [ansible_tool("ansible-inventory"), "-i", str(path), "--list"]
    done = run(args, ansible_env, run_dir)
    assert done.returncode != 0, f"Ansible accepted {name}: {done.stdout}"
    with pytest.raises(ConfigError):
        load_inventory(path)


@pytest.mark.parametrize(("inventory", "pattern"), PATTERNS)
def test_patterns_select_what_ansible_lists(inventory: str, pattern: str, write, oracle) -> None:
    path = write(inventory, INVENTORIES[inventory])
    expected = oracle(inventory)["patterns"][pattern]
    assert isinstance(expected, list), expected  # not Ansible's error
    assert expected, f"pattern {pattern!r} selects nothing in {inventory}: choose one that does"
    inv = build(load_raw(path))
    assert select_names(inv, pattern) == expected  # the same hosts, in the same order
