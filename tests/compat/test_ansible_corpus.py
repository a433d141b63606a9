"""Real Ansible projects' inventories (tests/data/ansible_corpus, each with a SOURCE file)
read by hostops and by ansible-core, compared host by host and pattern by pattern.

For every inventory: the same hosts, the same groups with the same hosts, and for
each host the same connection address, port, user, become and become user, and
other variables (``ansible-inventory --list``); for ``all``, every group and
generated ``,``/``&``/``!``/glob/regex combinations of them, the same hosts in
the same order (``ansible PATTERN --list-hosts``, many patterns per start-up).
A difference fails the test unless it is a row of the deliberate differences
table (hostops.inventory.differences, shown in the README).
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from ansible_oracle import (
    ansible_batch,
    ansible_environment,
    ansible_inventory,
    ansible_list_hosts,
    ansible_view,
    members,
    our_view,
)

from hostops.errors import ConfigError
from hostops.inventory import build, load_raw, resolve_hosts, select_names
from hostops.inventory.differences import KEYS

CORPUS = Path(__file__).parent.parent / "data" / "ansible_corpus"

# Each inventory's sources (-i), relative to its folder.
SOURCES: dict[str, list[str]] = {
    "ansible-docs-ini": ["hosts"],
    "ansible-docs-yaml": ["hosts.yml"],
    "ansible-for-devops-orchestration": ["hosts.ini"],
    "bifrost": ["inventory"],
    "k3s-ansible": ["inventory-sample.yml"],
    "kayobe": ["inventory"],
    "kolla-all-in-one": ["all-in-one"],
    "kolla-multinode": ["multinode"],
    "kubespray-sample": ["inventory.ini"],
    "openshift-40-basic": ["40_basic_inventory.ini"],
    "openshift-byo": ["hosts"],
    "precedence": ["inventory.ini"],
    "addresses": ["hosts"],
    "ini-named-yml": ["hosts.yml"],
    "host-and-group": ["hosts"],
    "directory": ["inventory"],
    "script-meta": ["inventory.py"],
    "script-host": ["inventory.sh"],
    "two-sources": ["../kolla-multinode/multinode", "../precedence/inventory.ini"],
}


def _allowed(key: str) -> str:
    assert key in KEYS, f"{key!r} is no row of the deliberate differences table"
    return key


def test_every_inventory_is_compared_and_has_its_source_named() -> None:
    folders = {p.name for p in CORPUS.iterdir() if p.is_dir()}
    assert folders <= set(SOURCES), folders - set(SOURCES)
    assert len(folders) >= 15
    for folder in folders:
        assert (CORPUS / folder / "SOURCE").read_text().strip(), folder


@pytest.fixture(scope="module")
def oracle(workdir: Path) -> Any:
    """Ansible's answers for one inventory (its listing and its patterns), computed once."""
    answers: dict[str, dict[str, Any]] = {}

    def answer(name: str) -> dict[str, Any]:
        if name not in answers:
            inv = build(load_raw(_paths(workdir, name)))
            env = ansible_environment(workdir / "home")
            patterns = _generated_patterns(name, inv)
            answers[name] = ansible_batch(patterns, _paths(workdir, name), env, workdir / "run")
            answers[name]["generated"] = patterns
        return answers[name]

    return answer


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus copied (scripts keep their modes) beside an empty directory to run in."""
    root = tmp_path_factory.mktemp("corpus")
    shutil.copytree(CORPUS, root / "corpus")
    (root / "corpus" / "two-sources").mkdir()
    (root / "corpus" / "two-sources" / "SOURCE").write_text(
        "two sources at once: kolla-multinode then precedence\n"
    )
    (root / "run").mkdir()
    return root


def _paths(workdir: Path, name: str) -> list[Path]:
    return [(workdir / "corpus" / name / s).resolve() for s in SOURCES[name]]


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_hosts_groups_and_connection_values_as_ansible(name: str, workdir: Path, oracle) -> None:
    paths = _paths(workdir, name)
    listing = oracle(name)["list"]
    hostvars = listing["_meta"]["hostvars"]
    theirs = members(listing)

    inv = build(load_raw(paths))
    assert set(inv.names) == theirs["all"] | set(hostvars)
    ours = {g: set(inv.members[g]) for g in inv.members}
    assert {g: h for g, h in ours.items() if h} == {g: h for g, h in theirs.items() if h}

    checked = 0
    for host in inv.names:
        expected = ansible_view(host, hostvars.get(host, {}))
        try:
            (resolved,) = resolve_hosts(inv, [host])
        except ConfigError as exc:
            # Only a Jinja template in a connection variable may stop a host.
            assert "Jinja templates are not supported" in str(exc), (host, str(exc))
            _allowed("templates")
            continue
        assert our_view(resolved) == expected, host
        if resolved.problem:  # a become method hostops cannot use: said, never ignored
            _allowed("become-methods")
            assert hostvars[host].get("ansible_become_method") not in (None, "sudo"), host
        checked += 1
    assert checked, "no host of this inventory could be compared"


def _generated_patterns(name: str, inv: Any) -> list[str]:
    """all, every group, some hosts, and seeded combinations of them."""
    rng = random.Random(name)
    groups = [g for g in inv.members if inv.members[g]]
    hosts = list(inv.names)
    named = [g for g in groups if g not in ("all", "ungrouped")] or groups
    patterns = ["all", "*", *groups, *rng.sample(hosts, min(3, len(hosts)))]
    for _ in range(12):
        a, b = rng.choice(named), rng.choice(groups)
        h = rng.choice(hosts)
        patterns += [f"{a}:{b}", f"{a}:&{b}", f"{b}:!{a}", f"{a},!{h}", f"{h},{a}"]
    for word in rng.sample(named, min(3, len(named))):
        patterns += [f"{word[:2]}*", f"~{word[:3]}", f"!{word}"]
    if name == "precedence":  # what the batched-oracle test asks the ansible commands
        patterns += ["prod:&edge", "web:!web2", "~db"]
    return list(dict.fromkeys(patterns))


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_patterns_select_what_ansible_lists(name: str, workdir: Path, oracle) -> None:
    inv = build(load_raw(_paths(workdir, name)))
    answer = oracle(name)
    patterns, theirs = answer["generated"], answer["patterns"]
    deep = max(inv.depth.values(), default=0) >= 3
    for pattern in patterns:
        expected = theirs[pattern]
        assert isinstance(expected, list), (pattern, expected)
        try:
            ours = select_names(inv, pattern)
        except ConfigError as exc:
            assert not expected, (pattern, str(exc), expected)
            _allowed("no-match")
            continue
        if ours != expected and sorted(ours) == sorted(expected) and deep:
            _allowed("deep-group-order")
            continue
        assert ours == expected, pattern


def test_the_batched_oracle_is_what_the_ansible_commands_print(workdir: Path, oracle) -> None:
    """The one-start-up helper answers what ``ansible-inventory --list`` and ``ansible
    PATTERN --list-hosts`` print (checked on one inventory with several patterns)."""
    name = "precedence"
    paths = _paths(workdir, name)
    env = ansible_environment(workdir / "home")
    answer = oracle(name)
    assert answer["list"] == ansible_inventory(paths, env, workdir / "run")
    for pattern in ["prod:&edge", "web:!web2", "~db", "all"]:
        assert answer["patterns"][pattern] == ansible_list_hosts(
            pattern, paths, env, workdir / "run"
        )
        assert answer["patterns"][pattern], pattern
