"""Host patterns (--limit) and -H host lists: selection, order, and an error for every typo."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hostops.inventory import patterns
from hostops.inventory.patterns import PatternError, hosts_from_option, select

HOSTS = ["web01", "web02", "web03", "db1", "db2", "lb", "rack1-a", "rack2-a", "10.0.0.1"]
GROUPS = {
    "web": ["web01", "web02", "web03"],
    "db": ["db1", "db2"],
    "prod": ["web01", "web02", "db1", "lb"],
    "staging": ["web03", "db2"],
    "rack1": ["rack1-a"],
    "rack2": ["rack2-a"],
    "ungrouped": ["lb", "10.0.0.1"],
    # A host can share its name with a group: as in Ansible, a plain term means the host.
    "lb": ["rack1-a"],
}


def _select(pattern: str, **kwargs) -> list[str]:
    return select(pattern, HOSTS, GROUPS, **kwargs)


def _error(pattern: str, **kwargs) -> str:
    with pytest.raises(PatternError) as info:
        _select(pattern, **kwargs)
    return str(info.value)


# --------------------------------------------------------------------------- selection


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("all", HOSTS),
        ("*", HOSTS),
        ("web", ["web01", "web02", "web03"]),
        ("db1", ["db1"]),
        ("10.0.0.1", ["10.0.0.1"]),
        ("ungrouped", ["lb", "10.0.0.1"]),
        ("lb", ["lb"]),  # the host lb, not the group lb (Ansible's rule)
        ("lb:!lb", ["lb"]),  # ...but &lb and !lb mean the group, as in Ansible
        ("all:&lb", ["rack1-a"]),
        # Unions come back in inventory order, without duplicates.
        ("db1,web", ["web01", "web02", "web03", "db1"]),
        ("db1:web", ["web01", "web02", "web03", "db1"]),
        ("web,web01,*eb0?", ["web01", "web02", "web03"]),
        (" web , db1 ", ["web01", "web02", "web03", "db1"]),
        ("web,", ["web01", "web02", "web03"]),  # empty terms are ignored, as in Ansible
        # Intersection and exclusion, wherever they are written.
        ("web:&prod", ["web01", "web02"]),
        ("&prod:web", ["web01", "web02"]),
        ("web:!web02", ["web01", "web03"]),
        ("!web02,web", ["web01", "web03"]),
        ("web:db:&prod:!db1", ["web01", "web02"]),
        ("web,db,&prod,!db1", ["web01", "web02"]),
        ("all:!prod", ["web03", "db2", "rack1-a", "rack2-a", "10.0.0.1"]),
        # Only & and ! terms narrow all hosts, as in Ansible.
        ("!web", ["db1", "db2", "lb", "rack1-a", "rack2-a", "10.0.0.1"]),
        ("&prod", ["web01", "web02", "db1", "lb"]),
        ("&web:!web01", ["web02", "web03"]),
        # Globs, case-sensitive, against host and group names.
        ("web0*", ["web01", "web02", "web03"]),
        ("db?", ["db1", "db2"]),
        ("stag*", ["web03", "db2"]),
        ("*-a", ["rack1-a", "rack2-a"]),
        ("10.0.0.*", ["10.0.0.1"]),
        # Regexes: re.match, so anchored at the start; also against group names.
        ("~web0[12]", ["web01", "web02"]),
        ("~(db|lb)", ["db1", "db2", "lb", "rack1-a"]),
        ("~stag", ["web03", "db2"]),
        ("~.*2$", ["web02", "db2", "rack2-a"]),
        ("web:!~web0[13]", ["web02"]),
        # Node ranges, each name a host, a group or a glob.
        ("web[01-02]", ["web01", "web02"]),
        ("web[03,01]", ["web01", "web03"]),
        ("web[01-05]", ["web01", "web02", "web03"]),  # some names may be absent
        ("rack[1-2]", ["rack1-a", "rack2-a"]),
        ("db[1-2]:&prod", ["db1"]),
        ("all:!web[02-03]", ["web01", "db1", "db2", "lb", "rack1-a", "rack2-a", "10.0.0.1"]),
        ("rack[1-2]-*", ["rack1-a", "rack2-a"]),
        ("10.0.0.[1-3]", ["10.0.0.1"]),
    ],
)
def test_select(pattern, expected):
    assert _select(pattern) == expected


def test_selection_follows_inventory_order_not_pattern_order():
    hosts = ["c", "a", "b"]
    assert select("b,a,c", hosts, {}) == ["c", "a", "b"]


def test_duplicate_hosts_in_the_inventory_come_back_once():
    assert select("all", ["a", "b", "a"], {}) == ["a", "b"]


def test_a_comma_splits_first_as_in_ansible():
    message = _error("web,db:&prod")
    assert message == (
        "pattern 'web,db:&prod': 'db:&prod' matches no host or group"
        " (with a ',' in it, a pattern is split on ',' only, as in Ansible)"
    )


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("::1", ["::1"]),  # an IPv6 address is one term, not three
        ("fe80::2:ab", ["fe80::2:ab"]),
        ("gw:2222", ["gw:2222"]),  # host:port is one term (a host of that name)
        ("::1,gw:2222", ["::1", "gw:2222"]),
        ("all:!::1", None),  # not an address: split on ':', so '::1' is lost as in Ansible
    ],
)
def test_addresses_with_colons_are_one_term(pattern, expected):
    hosts = ["::1", "fe80::2:ab", "gw:2222", "gw"]
    if expected is None:
        with pytest.raises(PatternError):
            select(pattern, hosts, {})
        return
    assert select(pattern, hosts, {}, inventory_order=False) == expected


def test_the_address_forms_are_compiled_only_for_a_pattern_with_a_colon():
    """Compiling them is ~13 ms of a start: a pattern without ':' (most) never pays it."""
    patterns._address_forms.cache_clear()
    assert _select("web0*:!web02") == ["web01", "web03"]  # ':' splits: checked, compiled
    assert patterns._address_forms.cache_info().currsize == 1
    patterns._address_forms.cache_clear()
    assert _select("web[01-02],db1") == ["web01", "web02", "db1"]
    assert _select("prod") == ["web01", "web02", "db1", "lb"]
    assert patterns._address_forms.cache_info().currsize == 0


def test_without_inventory_order_terms_keep_their_order():
    groups = {"all": ["c", "a", "b"], "g": ["b", "c"]}
    assert select("b,a,c", ["c", "a", "b"], groups, inventory_order=False) == ["b", "a", "c"]
    assert select("g:a", ["c", "a", "b"], groups, inventory_order=False) == ["b", "c", "a"]
    assert select("all", ["c", "a", "b"], groups, inventory_order=False) == ["c", "a", "b"]


def test_empty_selection_is_an_error():
    message = _error("web:&db")
    assert message == "pattern 'web:&db' selects no host"
    assert "selects no host" in _error("web:!web")
    assert "selects no host" in _error("web:db:&prod:&staging")


# --------------------------------------------------------------------------- every term must match


@pytest.mark.parametrize(
    ("pattern", "term", "suggestion"),
    [
        ("web,dbb", "dbb", "db"),
        ("web:&prd", "prd", "prod"),
        ("web:!web04", "web04", "web03"),  # a typo in an exclusion must not run everywhere
        ("!wbe", "wbe", "web"),
        ("Web", "Web", "web"),  # case-sensitive
        ("stagign", "stagign", "staging"),
    ],
)
def test_unknown_name_is_an_error_with_a_suggestion(pattern, term, suggestion):
    message = _error(pattern)
    assert message == (
        f"pattern {pattern!r}: {term!r} matches no host or group (did you mean {suggestion!r}?)"
    )


@pytest.mark.parametrize(
    ("pattern", "term"),
    [
        ("zzzzzz", "zzzzzz"),
        ("web:!nothing-like-it", "nothing-like-it"),
        ("WEB*", "WEB*"),  # globs are case-sensitive
        ("web:!mail*", "mail*"),
        ("~eb", "~eb"),  # re.match: anchored at the start
        ("web:&~xyz", "~xyz"),
        ("web[04-09]", "web[04-09]"),
        ("web:!db[5-6]", "db[5-6]"),
    ],
)
def test_term_matching_nothing_is_an_error(pattern, term):
    message = _error(pattern)
    assert message == f"pattern {pattern!r}: {term!r} matches no host or group"


def test_matching_nothing_in_an_empty_inventory():
    with pytest.raises(PatternError) as err:
        select("all", [], {})
    assert str(err.value) == "pattern 'all': 'all' is a group with no hosts"  # no did-you-mean


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("", "empty host pattern ''"),
        ("  ", "empty host pattern"),
        (",:,", "empty host pattern"),
        ("web:!", "'!' needs a host or group after it"),
        ("web,&", "'&' needs a host or group after it"),
        ("web:& ", "'&' needs a host or group after it"),
        ("~", "'~' needs a regular expression after it"),
        ("~web(", "bad regular expression 'web('"),
        ("~*", "bad regular expression '*'"),
        ("web[05-01]", "descending range '05-01'"),
        ("web[01-03", "unbalanced brackets"),
        ("web[]", "empty brackets"),
        ("web[01:03]", "Ansible's syntax"),
    ],
)
def test_malformed_patterns(pattern, reason):
    message = _error(pattern)
    assert reason in message
    if pattern.strip(" ,:"):
        assert repr(pattern) in message


def test_pattern_error_is_a_value_error():
    assert issubclass(PatternError, ValueError)


# --------------------------------------------------------------------------- @FILE


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_file_lists_hosts_and_groups_relative_to_base_dir(tmp_path):
    _write(tmp_path / "retry.txt", "# failed last time\n\ndb2\nweb01   # the flaky one\n  rack1\n")
    assert _select("@retry.txt", base_dir=str(tmp_path)) == ["web01", "db2", "rack1-a"]
    assert _select("web:!@retry.txt", base_dir=str(tmp_path)) == ["web02", "web03"]


def test_file_path_may_be_absolute(tmp_path):
    path = _write(tmp_path / "hosts", "lb\n")
    assert _select(f"@{path}", base_dir="/nonexistent") == ["lb"]


def test_missing_file_is_an_error_naming_it(tmp_path):
    message = _error("web:!@gone.txt", base_dir=str(tmp_path))
    assert str(tmp_path / "gone.txt") in message
    assert "cannot read host file" in message
    assert "No such file" in message


def test_unknown_name_in_a_file_is_an_error_with_its_line(tmp_path):
    path = _write(tmp_path / "hosts", "web01\n# comment\ndb3\n")
    message = _error("@hosts", base_dir=str(tmp_path))
    assert message == f"pattern '@hosts': {path}:3: 'db3' is no host or group (did you mean 'db'?)"


def test_file_with_only_comments_matches_nothing(tmp_path):
    _write(tmp_path / "hosts", "# nothing yet\n\n")
    assert "'@hosts' matches no host or group" in _error("@hosts", base_dir=str(tmp_path))


# --------------------------------------------------------------------------- performance


def test_10000_hosts_in_200_groups_quickly():
    hosts = [f"web{i:04d}" for i in range(5000)] + [f"db{i:04d}" for i in range(5000)]
    groups = {f"rack{j}": hosts[j * 50 : (j + 1) * 50] for j in range(198)}
    groups["web"] = hosts[:5000]
    groups["prod"] = hosts[::2]
    start = time.process_time()
    selected = select("web:&prod:!web0*", hosts, groups)
    elapsed = time.process_time() - start
    # A generous sanity bound only, on this process's CPU time (what the selection costs,
    # not what the neighbours on a shared machine cost); real timing is in benchmarks.
    assert elapsed < 2
    assert selected == [f"web{i:04d}" for i in range(1000, 5000, 2)]


# --------------------------------------------------------------------------- -H / --host


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("web1", ["web1"]),
        ("web[01-03],db1", ["web01", "web02", "web03", "db1"]),
        ("db1,web[01-02]", ["db1", "web01", "web02"]),  # the order given
        ("web[01-02],web02,web01,db1", ["web01", "web02", "db1"]),  # duplicates dropped
        (" web1 , ,db1,", ["web1", "db1"]),
        ("web[1,3],10.0.0.[1-2]", ["web1", "web3", "10.0.0.1", "10.0.0.2"]),
        ("rack[a-b]-[1-2]", ["racka-1", "racka-2", "rackb-1", "rackb-2"]),
        ("", []),
    ],
)
def test_hosts_from_option(value, expected):
    assert hosts_from_option(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("web[05-01]", "descending range '05-01' in 'web[05-01]'"),
        ("db1,web[01-03", "unbalanced brackets in 'web[01-03'"),
        ("web[]", "empty brackets in 'web[]'"),
        ("web[x1-3]", "bad range 'x1-3'"),
    ],
)
def test_hosts_from_option_errors(value, reason):
    with pytest.raises(PatternError) as info:
        hosts_from_option(value)
    assert reason in str(info.value)
