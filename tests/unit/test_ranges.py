"""Node ranges: native and Ansible expansion, folding, and the fold/expand round trip."""

from __future__ import annotations

import random
import time

import pytest

from hostops.ranges import (
    MAX_NAMES,
    RangeError,
    expand,
    expand_ansible,
    fold,
    split_top_level,
)

# --------------------------------------------------------------------------- expand


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("web1", ["web1"]),
        ("db-primary.example.com", ["db-primary.example.com"]),
        ("web[01-03].example.com", ["web01.example.com", "web02.example.com", "web03.example.com"]),
        ("n[8-10]", ["n8", "n9", "n10"]),
        ("n[08-10]", ["n08", "n09", "n10"]),
        ("n[0-2]", ["n0", "n1", "n2"]),
        ("n[007]", ["n007"]),
        ("node[1-2,5,200-201]", ["node1", "node2", "node5", "node200", "node201"]),
        # Comma lists keep the written order, not sorted.
        ("node[200-201,1-2,5]", ["node200", "node201", "node1", "node2", "node5"]),
        ("n[3,1,2]", ["n3", "n1", "n2"]),
        # The leftmost bracket varies slowest.
        ("rack[1-2]-[1-3]", ["rack1-1", "rack1-2", "rack1-3", "rack2-1", "rack2-2", "rack2-3"]),
        ("rack[a-c]-[1-2]", ["racka-1", "racka-2", "rackb-1", "rackb-2", "rackc-1", "rackc-2"]),
        ("[a-b][1-2]", ["a1", "a2", "b1", "b2"]),
        ("db-[x,a-b]", ["db-x", "db-a", "db-b"]),
        ("DC[A-C]", ["DCA", "DCB", "DCC"]),
        ("zone[a]", ["zonea"]),
        ("[1-3]", ["1", "2", "3"]),
        ("10.0.0.[1-3]", ["10.0.0.1", "10.0.0.2", "10.0.0.3"]),
        ("10.0.[0-1].[1-2]", ["10.0.0.1", "10.0.0.2", "10.0.1.1", "10.0.1.2"]),
        ("n[1-9/4]", ["n1", "n5", "n9"]),  # ClusterShell's step syntax
        ("n[01-10/3]", ["n01", "n04", "n07", "n10"]),
        ("a_b-[1-2].x_y", ["a_b-1.x_y", "a_b-2.x_y"]),
        # Duplicates are dropped, the first occurrence keeps its place.
        ("n[1-3,2,1]", ["n1", "n2", "n3"]),
        ("a[1,11][1,11]", ["a11", "a111", "a1111"]),
    ],
)
def test_expand(pattern, expected):
    assert expand(pattern) == expected


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("", "empty host pattern"),
        ("web[10-1]", "descending range '10-1'"),
        ("web[10-1]", "write [1-10]"),
        ("web[b-a]", "descending range 'b-a'"),
        ("web[a-3]", "cannot mix a letter and a number"),
        ("web[3-a]", "cannot mix a letter and a number"),
        ("web[a-C]", "mixes lower and upper case"),
        ("web[1-3", "unbalanced brackets"),
        ("web1-3]", "unbalanced brackets"),
        ("web[[1-3]]", "unbalanced brackets"),
        ("web[1-3]]", "unbalanced brackets"),
        ("web[]", "empty brackets"),
        ("web[1,,3]", "empty item"),
        ("web[1,]", "empty item"),
        ("web[x1-3]", "bad range 'x1-3'"),
        ("web[ab]", "expected N, N-M"),
        ("web[-1]", "bad range '-1'"),
        ("web[1-]", "bad range '1-'"),
        ("web[ 1-3]", "bad range ' 1-3'"),
        ("web[1-3/x]", "bad range '1-3/x'"),
        ("web[1-10/0]", "bad range '1-10/0'"),
        ("web[01:05]", "Ansible's syntax"),
        ("web[01-100]", "same width, as in [01-99,100] or [001-100]"),
        ("web[001-1000]", "as in [001-999,1000] or [0001-1000]"),
        ("web[1-010]", "same width"),
        ("web1,web2", "',' outside brackets"),
        ("web[1-2000]-[1-100]", f"expands to 200000 names, more than {MAX_NAMES}"),
        ("web[1-99999999]", "expands to 99999999 names"),
        ("web[1-60000,1-60000]", "expands to 120000 names"),
    ],
)
def test_expand_errors_name_the_pattern_and_the_problem(pattern, reason):
    with pytest.raises(RangeError) as info:
        expand(pattern)
    message = str(info.value)
    assert reason in message
    if pattern:
        assert repr(pattern) in message


def test_range_error_is_a_value_error():
    assert issubclass(RangeError, ValueError)


def test_expand_10000_names_quickly():
    # A generous sanity bound only, on this process's CPU time (what the expansion costs,
    # not what the neighbours on a shared machine cost); real timing is in benchmarks.
    start = time.process_time()
    names = expand("web[00001-10000].example.com")
    grid = expand("rack[a-j]-[0001-1000]")
    elapsed = time.process_time() - start
    assert len(names) == 10_000 and names[0] == "web00001.example.com"
    assert len(grid) == 10_000 and grid[:2] == ["racka-0001", "racka-0002"]
    assert elapsed < 2


# --------------------------------------------------------------------------- expand_ansible


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("web1", ["web1"]),
        ("web[01:03].example.com", ["web01.example.com", "web02.example.com", "web03.example.com"]),
        ("web[1:3]", ["web1", "web2", "web3"]),
        ("web[8:10]", ["web8", "web9", "web10"]),
        ("web[08:10]", ["web08", "web09", "web10"]),
        ("web[01:09:2]", ["web01", "web03", "web05", "web07", "web09"]),
        ("web[1:05]", ["web1", "web2", "web3", "web4", "web5"]),  # only the start sets the width
        ("web[:2]", ["web0", "web1", "web2"]),  # an empty start is 0
        ("db-[a:c]", ["db-a", "db-b", "db-c"]),
        ("db-[a:e:2]", ["db-a", "db-c", "db-e"]),
        ("x[y:B]", ["xy", "xz", "xA", "xB"]),  # letters run a-z then A-Z, as in Ansible
        ("r[1:2]-[a:b]", ["r1-a", "r1-b", "r2-a", "r2-b"]),
        ("[1:2]", ["1", "2"]),
    ],
)
def test_expand_ansible(pattern, expected):
    assert expand_ansible(pattern) == expected


@pytest.mark.parametrize(
    "pattern",
    [
        "web[01:05].example.com",
        "web[1:20:3]",
        "web[08:10]",
        "web[1:05]",
        "web[:3]",
        "db-[a:f]",
        "x[a:Z:10]",
        "r[1:3]-[a:b]-[01:02]",
    ],
)
def test_expand_ansible_agrees_with_ansible(pattern):
    inventory = pytest.importorskip("ansible.plugins.inventory")
    assert expand_ansible(pattern) == inventory.expand_hostname_range(pattern)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("", "empty host pattern"),
        ("web[10:1]", "descending range [10:1]"),  # Ansible silently expands this to nothing
        ("web[b:a]", "descending range [b:a]"),
        ("web[01:100]", "zero-padded start needs an end of the same width"),
        ("web[]", "expected [start:end] or [start:end:step]"),
        ("web[1-3]", "expected [start:end] or [start:end:step]"),
        ("web[1:2:3:4]", "expected [start:end] or [start:end:step]"),
        ("web[1:]", "the end is missing"),
        ("web[1:3:0]", "bad step '0'"),
        ("web[1:3:x]", "bad step 'x'"),
        ("web[a:3]", "expected numbers or single letters"),
        ("web[ab:cd]", "expected numbers or single letters"),
        ("web[ 1:3]", "expected numbers or single letters"),
        ("web[1:3", "unbalanced brackets"),
        ("web[1:3]]", "unbalanced brackets"),
        ("web[1:99999999]", "expands to 99999999 names"),
    ],
)
def test_expand_ansible_errors(pattern, reason):
    with pytest.raises(RangeError) as info:
        expand_ansible(pattern)
    assert reason in str(info.value)
    if pattern:
        assert repr(pattern) in str(info.value)


def test_expand_ansible_10000_names_quickly():
    start = time.process_time()  # CPU time, as above
    names = expand_ansible("web[00001:10000].example.com")
    assert time.process_time() - start < 2
    assert len(names) == 10_000 and names[-1] == "web10000.example.com"


# --------------------------------------------------------------------------- fold


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ([], ""),
        (["web01"], "web01"),
        (["web01", "web02", "web03", "web05", "db1"], "db1,web[01-03,05]"),
        (["web03", "web01", "web02", "web01"], "web[01-03]"),  # order and duplicates don't matter
        (["rack1-1", "rack1-2", "rack2-1", "rack2-2"], "rack[1-2]-[1-2]"),
        # ClusterShell folds the digits of IP addresses too; expand() reads them back.
        (["10.0.0.1", "10.0.0.2", "10.0.0.3"], "10.0.0.[1-3]"),
        (["a.b-c_d", "a.b-c_e"], "a.b-c_d,a.b-c_e"),
        # Names NodeSet would misread pass through unfolded, after the folded part.
        (["web1", "web2", "a!b", "@grp", "x y"], "web[1-2],@grp,a!b,x y"),
        (["fe80::1", "fe80::2"], "fe80::1,fe80::2"),
        (["h\u00f61", "h\u00f62"], "h\u00f61,h\u00f62"),
    ],
)
def test_fold(names, expected):
    assert fold(names) == expected


def test_fold_accepts_any_iterable():
    assert fold(f"n{i}" for i in range(1, 4)) == "n[1-3]"


def _round_trip(names: list[str]) -> set[str]:
    folded = fold(names)
    back: set[str] = set()
    for part in split_top_level(folded):
        if part:
            back.update(expand(part))
    return back


@pytest.mark.parametrize(
    "names",
    [
        ["web01", "web02", "web03", "web05", "db1"],
        ["n1", "n01", "n001", "n2"],  # same number, different padding: three hosts
        ["web8", "web09", "web10", "web11"],
        ["10.0.0.1", "10.0.0.2", "10.0.1.1", "10.0.1.7", "192.168.1.10"],
        ["rack1-node01", "rack1-node02", "rack2-node01", "rack3-node05"],
        ["a_b", "a-b", "a.b", "a..b", "-1", "-2", "007", "1", "2"],
        ["web", "web1", "Web1", "WEB1"],
        ["a!b", "@g", "x y", "web1", "web2"],
        [f"web{i:03d}.example.com" for i in range(1, 300, 7)],
    ],
)
def test_fold_round_trips(names):
    assert _round_trip(names) == set(names)


def test_fold_round_trips_random_sets():
    rng = random.Random(20240611)
    makers = [
        lambda: f"{rng.choice(['web', 'db', 'n'])}{rng.randint(0, 40)}",
        lambda: f"10.{rng.randint(0, 1)}.{rng.randint(0, 3)}.{rng.randint(0, 30)}",
        lambda: f"n{str(rng.randint(0, 120)).zfill(rng.randint(1, 4))}",
        lambda: f"r{rng.randint(0, 3)}-n{rng.randint(0, 9):02d}.dc{rng.randint(1, 2)}",
        lambda: rng.choice(["a_b", "x-y.z", "7", "007", "-3", "web", "a..1", "a!b", "@g"]),
    ]
    for _ in range(500):
        names = [rng.choice(makers)() for _ in range(rng.randint(1, 30))]
        assert _round_trip(names) == set(names), names


# --------------------------------------------------------------------------- split_top_level


@pytest.mark.parametrize(
    ("text", "seps", "expected"),
    [
        ("", ",", [""]),
        ("web1", ",", ["web1"]),
        ("web[01-05],db1", ",", ["web[01-05]", "db1"]),
        ("web[01,03],db[1,2]", ",", ["web[01,03]", "db[1,2]"]),
        ("a,,b,", ",", ["a", "", "b", ""]),
        ("web:&prod,!db[1,2]", ",:", ["web", "&prod", "!db[1,2]"]),
        ("a[1:2]:b", ",:", ["a[1:2]", "b"]),
        ("a[[1,2]],b", ",", ["a[[1,2]]", "b"]),
        # Unbalanced brackets are not split's business: expand() reports them.
        ("a[1,2,b", ",", ["a[1,2,b"]),
        ("a]1,b", ",", ["a]1", "b"]),
    ],
)
def test_split_top_level(text, seps, expected):
    assert split_top_level(text, seps) == expected
