"""Inventories that used to hang: the group graph is resolved in time linear in its size.

Visits are counted (no timed assertion): each group's list of children is walked a
bounded number of times whatever the shape, so a 40-level diamond (2**40 paths)
finishes; chains deeper than the limit, and aliases expanding past theirs, are
``FILE:LINE`` errors (exit 2), never a RecursionError or a hang.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hostops.errors import ConfigError
from hostops.inventory import build, load_inventory, load_raw, resolve_hosts
from hostops.inventory.raw import RawGroup, RawHost, RawInventory
from hostops.inventory.resolve import MAX_GROUP_DEPTH
from hostops.inventory.yamlsrc import MAX_EXPANDED


class _Counted(list):
    """A group's children that count how often they are walked."""

    walks = 0

    def __iter__(self):
        _Counted.walks += 1
        return super().__iter__()


def _diamond(levels: int, kind: str) -> RawInventory:
    """Two groups per level, each the child of both groups above: 2**levels paths."""
    raw = RawInventory("diamond.ini", kind=kind)
    names = [[f"g{level}a", f"g{level}b"] for level in range(levels)]
    for level, pair in enumerate(names):
        below = names[level + 1] if level + 1 < levels else []
        for name in pair:
            raw.groups[name] = RawGroup(name, children=_Counted(below))
    raw.hosts["h"] = RawHost("h")
    raw.groups[names[-1][0]].hosts.append("h")
    if kind == "ansible":
        raw.groups["all"] = RawGroup("all", children=_Counted(["ungrouped", "g0a", "g0b"]))
        raw.groups["ungrouped"] = RawGroup("ungrouped", children=_Counted())
    return raw


@pytest.mark.parametrize("kind", ["native", "ansible"])
def test_a_40_level_diamond_walks_each_group_a_bounded_number_of_times(kind: str) -> None:
    raw = _diamond(40, kind)
    _Counted.walks = 0
    inv = build(raw)
    (host,) = resolve_hosts(inv, ["h"])
    assert len(host.groups) == 79  # every group above g39a (g39b has no host)
    assert set(inv.members["g0a"]) == {"h"} and set(inv.members["all"]) == {"h"}
    # A handful of walks per group (checking, ordering, members), never one per path.
    assert _Counted.walks <= 8 * len(raw.groups), _Counted.walks


def test_walks_grow_linearly_with_the_graph() -> None:
    counts = []
    for levels in (10, 20, 40):
        raw = _diamond(levels, "ansible")
        _Counted.walks = 0
        inv = build(raw)
        resolve_hosts(inv, ["h"])
        counts.append(_Counted.walks)
    assert counts[2] - counts[1] == 2 * (counts[1] - counts[0])  # linear in the levels


def test_a_chain_deeper_than_the_limit_is_an_error_at_its_line(tmp_path: Path) -> None:
    depth = MAX_GROUP_DEPTH + 5
    lines = [f"[g{i}:children]\ng{i + 1}\n" for i in range(depth)]
    path = tmp_path / "chain.ini"
    path.write_text("".join(lines) + f"[g{depth}]\nh1\n")
    with pytest.raises(ConfigError) as info:
        build(load_raw(path))
    assert f"is nested more than {MAX_GROUP_DEPTH} deep" in str(info.value)
    assert str(info.value).startswith(f"{path}:")
    assert info.value.exit_code == 2


def test_a_chain_of_3000_groups_in_yaml_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "deep.yml"
    text = "all:\n"
    for i in range(3000):
        text += "  " * (2 * i + 1) + "children:\n" + "  " * (2 * i + 2) + f"g{i}:\n"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_inventory(path)
    assert str(info.value).startswith(f"{path}:")


def test_a_chain_within_the_limit_is_read(tmp_path: Path) -> None:
    depth = 500
    path = tmp_path / "chain.ini"
    path.write_text(
        "".join(f"[g{i}:children]\ng{i + 1}\n" for i in range(depth)) + f"[g{depth}]\nh1\n"
    )
    inv = build(load_raw(path))
    assert inv.depth[f"g{depth}"] == depth + 1  # all -> g0 -> ... (Ansible's depth)
    (h1,) = resolve_hosts(inv, ["h1"])
    assert len(h1.groups) == depth + 1


def test_aliases_that_expand_too_far_are_an_error_at_their_line(tmp_path: Path) -> None:
    lines = ["all:", "  vars:", "    a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"    a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    lines += ["  hosts:", "    h1:"]
    path = tmp_path / "laughs.yml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as info:
        load_inventory(path)
    assert f"aliases expand this value to more than {MAX_EXPANDED:,} values" in str(info.value)
    assert str(info.value).startswith(f"{path}:8:")  # a5: the first that expands that far


def test_100000_ungrouped_hosts_are_resolved_without_a_quadratic_walk(tmp_path: Path) -> None:
    path = tmp_path / "many.ini"
    path.write_text("".join(f"h{i}\n" for i in range(100_000)))
    inv = build(load_raw(path))
    assert len(inv.members["ungrouped"]) == 100_000 and len(inv.ungrouped) == 100_000
    hosts = resolve_hosts(inv, inv.names[-3:])
    assert [h.name for h in hosts] == ["h99997", "h99998", "h99999"]
