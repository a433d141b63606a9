"""Hosts that read ssh_config alike share one reading (hostops.host.settings_share): the
shared results must be exactly those of reading ssh_config for each host on its own.

Each case resolves a list of hosts together (resolve_all: the readings shared) and
each host alone (resolve_connection: a run of its own, nothing to share), and compares
every field, the origins and the connection identity. The hosts of a case differ in
one thing a Host pattern, a Match criterion or a %-token sees, so a reading reused for
the wrong host would show.
"""

from __future__ import annotations

import dataclasses
import random
import socket
from pathlib import Path

import pytest
from ClusterShell.NodeSet import RESOLVER_NOGROUP, NodeSet

from hostops.bulk import collector_paused
from hostops.host.settings import Overrides, replaced, resolve_all, resolve_connection
from hostops.host.ssh_config import Local, SshConfig
from hostops.host.ssh_config.resolver import _canonical_by_resolver, canonical_address
from hostops.models import Host, SshSettings
from hostops.ranges import fold


def _host(name: str, **fields: object) -> Host:
    """A host as an inventory gives it: every field given is recorded as set there."""
    address = str(fields.pop("address", name))
    origins = {key: f"inv.yaml:{i}" for i, key in enumerate(fields, 1)}
    if address != name:
        origins["address"] = "inv.yaml:0"
    return Host(name=name, address=address, origins=origins, **fields)  # type: ignore[arg-type]


def _same_as_alone(
    config: SshConfig, hosts: list[Host], overrides: Overrides | None = None
) -> list[Host]:
    """resolve_all's hosts, checked field by field against each host resolved alone."""
    together = resolve_all(hosts, ssh_config=config, overrides=overrides)
    for host, shared in zip(hosts, together, strict=True):
        alone = resolve_connection(host, ssh_config=config, overrides=overrides)
        assert shared == alone, host.name
        assert dict(shared.origins) == dict(alone.origins), host.name
        assert shared.connection_id == alone.connection_id, host.name
    return together


def _config(tmp_path: Path, text: str) -> SshConfig:
    path = tmp_path / "config"
    path.write_text(text)
    return SshConfig.from_file(path)


NAMES = ["web1.example.com", "web2.example.com", "db1.example.com", "10.0.0.7", "127.1"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Host web*\n  User webops\n  Port 2201\nHost *\n  User everyone\n",
        "Host !db* *.example.com\n  IdentityFile ~/.ssh/example\n",
        "Host *\n  IdentityFile ~/.ssh/%h.key\n  UserKnownHostsFile ~/.ssh/kh-%n\n",
        "Host *\n  ProxyCommand nc %h %p\n",
        "Host web*\n  HostName %h.internal\n",
        "Host web*\n  HostName gateway.example.com\n",
        "Match host web*\n  User matched\n",
        "Match originalhost db*\n  Port 2222\n",
        "Match user alice\n  Port 2300\n",
        "Match final host *.example.com\n  User final\n",
        "Host *\n  CanonicalizeHostname yes\n  CanonicalDomains example.com\n",
        "Host *\n  ProxyJump jump.example.com\n",
    ],
)
def test_shared_readings_equal_each_host_read_alone(tmp_path: Path, text: str) -> None:
    hosts = [_host(n) for n in NAMES]
    hosts += [_host("web3.example.com", user="alice"), _host("web4.example.com", user="bob")]
    hosts += [_host("a1", address="web9.example.com"), _host("a2", address="db9.example.com")]
    hosts += [_host("p1", port=2022), _host("p2", port=2023)]
    _same_as_alone(_config(tmp_path, text), hosts)


def test_hosts_differing_only_in_a_field_a_match_keys_on_resolve_apart(tmp_path: Path) -> None:
    config = _config(tmp_path, "Match user alice\n  Port 2300\n")
    alice, bob = _same_as_alone(config, [_host("h", user="alice"), _host("h", user="bob")])
    assert (alice.port, bob.port) == (2300, 22)


def test_hosts_that_a_host_pattern_tells_apart_never_share(tmp_path: Path) -> None:
    config = _config(tmp_path, "Host web*\n  User webops\n")
    web, db = _same_as_alone(config, [_host("web1"), _host("db1")])
    assert (web.user, db.user) == ("webops", None)


def test_a_shared_reading_keeps_each_hosts_own_name_address_and_origins(tmp_path: Path) -> None:
    config = _config(tmp_path, "Host *\n  User ops\n")
    first = Host(name="a.example.com", address="a.example.com", origins={"groups": "x:1"})
    second = Host(name="B.Example.com", address="B.Example.com", origins={"groups": "x:2"})
    one, two = _same_as_alone(config, [first, second])
    assert (one.address, two.address) == ("a.example.com", "b.example.com")
    assert two.origins["groups"] == "x:2"
    assert one.connection_id != two.connection_id


def test_tokens_naming_the_host_are_expanded_for_each_host(tmp_path: Path) -> None:
    config = _config(tmp_path, "Host *\n  IdentityFile /keys/%h\n  ProxyCommand nc %h %p\n")
    one, two = _same_as_alone(config, [_host("one"), _host("two")])
    assert (one.identity_files, two.identity_files) == (("/keys/one",), ("/keys/two",))
    assert two.ssh.proxy_command == "exec nc two 22"


def test_a_given_option_with_a_token_is_read_for_each_host(tmp_path: Path) -> None:
    hosts = [_host(n, ssh_options=(("HostName", "%h.lan"),)) for n in ("one", "two")]
    one, two = _same_as_alone(SshConfig.empty(), hosts)
    assert (one.address, two.address) == ("one.lan", "two.lan")


def test_command_line_overrides_apply_to_shared_readings(tmp_path: Path) -> None:
    config = _config(tmp_path, "Host *\n  User ops\n  ConnectTimeout 5\n")
    overrides = Overrides(user="root", port=2022, identity_files=("~/k",), connect_timeout=9)
    hosts = [_host("one"), _host("two", user="me"), _host("three", identity_files=("/i",))]
    for host in _same_as_alone(config, hosts, overrides):
        assert (host.user, host.port, host.ssh.connect_timeout) == ("root", 2022, 9)


def test_host_patterns_are_what_tells_names_apart_or_none(tmp_path: Path) -> None:
    (tmp_path / "more").write_text("Host bastion\n  User b\n")
    text = f"Host web* !db*\n  User w\nInclude {tmp_path}/more\nHost *\n  Port 22\n"
    local = Local.current()
    assert SshConfig.empty().host_patterns(local) == ()
    assert _config(tmp_path, text).host_patterns(local) == ("web*", "db*", "bastion", "*")
    for name_dependent in (
        "Match host x\n  User m\n",
        "Host *\n  HostName %h.lan\n",
        "Host *\n  CanonicalizeHostname no\n",
        f"Include {tmp_path}/match\n",
    ):
        (tmp_path / "match").write_text("Match exec true\n  User e\n")
        assert _config(tmp_path, name_dependent).host_patterns(local) is None


@pytest.mark.parametrize(
    "host",
    [
        "10.1.0.0",
        "0.0.0.0",
        "255.255.255.255",
        "256.1.1.1",
        "010.1.0.0",
        "1.2.3.04",
        "127.1",
        "0x7f.1",
        "0x7F000001",
        "2130706433",
        "::1",
        "::FFFF:127.0.0.1",
        "fe80::1%lo",
        "Web.Example.COM",
        "web-1_a",
        "dead.beef",
        "abc",
        "1.2.3.4.5",
        "1e3",
    ],
)
def test_the_address_short_cuts_agree_with_getaddrinfo(host: str) -> None:
    assert canonical_address(host) == _canonical_by_resolver(host)


def test_the_address_short_cuts_agree_with_getaddrinfo_on_random_names() -> None:
    rng = random.Random(7)
    alphabet = "0123456789abcdefxABCDEFX.:-_gz"
    for _ in range(3000):
        host = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        assert canonical_address(host) == _canonical_by_resolver(host), host
    for _ in range(1000):
        host = socket.inet_ntoa(rng.getrandbits(32).to_bytes(4, "big"))
        assert canonical_address(host) == _canonical_by_resolver(host) == host


def test_replaced_builds_what_dataclasses_replace_builds() -> None:
    host = Host(name="a", address="a", groups=("g",), vars={"x": 1}, origins={"user": "i:1"})
    fields = {"address": "b", "port": 2, "ssh": SshSettings(connect_timeout=3.0), "origins": {}}
    new = replaced(host, fields)
    assert new == dataclasses.replace(host, **fields)  # type: ignore[arg-type]
    assert vars(new) == vars(dataclasses.replace(host, **fields))  # type: ignore[arg-type]
    assert host.address == "a"  # the original is untouched
    # What makes the short cut valid: nothing runs in __init__ but the fields' assignment.
    assert not hasattr(Host, "__post_init__") and not hasattr(Host, "__slots__")


def test_fold_gives_what_nodeset_gives_for_the_names_themselves() -> None:
    rng = random.Random(3)
    forms = ["n{}", "web{:02d}", "r{}-n{}", "r{:02d}n{:03d}.x", "a{}b{}c{}", "{}", "x", "n{}.{}"]
    for _ in range(1500):
        names = []
        for _ in range(rng.randint(1, 30)):
            form = rng.choice(forms)
            values = [rng.choice((rng.randint(0, 12), rng.randint(95, 105))) for _ in range(9)]
            names.append(form.format(*values[: form.count("{")]))
        expected = str(NodeSet.fromlist(names, resolver=RESOLVER_NOGROUP))
        assert fold(names) == expected, names


def test_the_collector_is_back_as_it_was_after_a_bulk_block() -> None:
    import gc

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_fields_no_option_carries_still_tell_hosts_apart(tmp_path: Path) -> None:
    """A user set without an origin (a Host built by a program) and the inventory's own
    identity files never reach ssh_config as options; they are in the key all the same."""
    config = _config(tmp_path, "Host *\n  Port 2022\n")
    hosts = [Host(name=n, address=n, user=n) for n in ("x", "y")]
    hosts += [
        Host(name=n, address=n, identity_files=(f"/keys/{n}",), origins={"identity_file": "i:1"})
        for n in ("k1", "k2")
    ]
    x, y, k1, k2 = _same_as_alone(config, hosts)
    assert (x.user, y.user) == ("x", "y")
    assert (k1.identity_files, k2.identity_files) == (("/keys/k1",), ("/keys/k2",))


def test_fold_writes_one_range_as_nodeset_writes_it() -> None:
    """The short cut for names that differ in one number of one width (fold writes them
    without NodeSet) against NodeSet itself, with gaps, padding and duplicates."""
    rng = random.Random(5)
    for _ in range(1500):
        width = rng.randint(1, 4)
        top = min(10**width - 1, rng.choice((3, 12, 150, 2000)))
        values = [rng.randint(0, top) for _ in range(rng.randint(1, 40))]
        prefix = rng.choice(("", "web", "h-", "x."))
        suffix = rng.choice(("", ".example.com", "-a"))
        names = [f"{prefix}{v:0{width}d}{suffix}" for v in values]
        names += [f"{prefix}{v}{suffix}" for v in values[:1]] * rng.randint(0, 1)  # widths mixed
        expected = str(NodeSet.fromlist(names, resolver=RESOLVER_NOGROUP))
        assert fold(names) == expected, names
