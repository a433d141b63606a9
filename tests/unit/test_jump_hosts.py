"""Jump host chains: parsing ``[user@]host[:port][,...]`` and resolving each hop's settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostops import load_inventory
from hostops.errors import ConfigError
from hostops.host.settings import Overrides
from hostops.host.ssh_config import SshConfig, parse_chain


def parse_jump(spec: str) -> list[tuple[str | None, str, int | None]]:
    """hostops's own chains (-J, the inventory's jump): OpenSSH's syntax, bare IPv6 too."""
    return [tuple(hop) for hop in parse_chain(spec, lenient=True)]


@pytest.mark.parametrize(
    ("spec", "hops"),
    [
        ("gate", [(None, "gate", None)]),
        ("ops@gate:2222", [("ops", "gate", 2222)]),
        ("a, b@c:22", [(None, "a", None), ("b", "c", 22)]),
        ("[2001:db8::1]:2200", [(None, "2001:db8::1", 2200)]),
        ("u@[::1]", [("u", "::1", None)]),
        ("2001:db8::1", [(None, "2001:db8::1", None)]),  # bare IPv6: no port
        ("a@b@gate", [("a@b", "gate", None)]),
        ("ssh://ops@gate:2222", [("ops", "gate", 2222)]),
        ("a,ssh://b%40c@d", [(None, "a", None), ("b@c", "d", None)]),
    ],
)
def test_parse_jump(spec: str, hops: list[tuple[str | None, str, int | None]]) -> None:
    assert parse_jump(spec) == hops


@pytest.mark.parametrize(
    "spec", ["gate:0", "gate:ssh", "@gate", "a,,b", "[::1", "gate:99999", "ssh://gate/path"]
)
def test_parse_jump_refuses(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_jump(spec)


def test_hops_take_settings_from_ssh_config_the_inventory_and_the_chain(
    write_inv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    config = tmp_path / "ssh_config"
    config.write_text("Host outer\n  HostName 192.0.2.1\n  Port 2201\n  User cfg\n")
    path = write_inv(
        """\
        defaults:
          user: deploy
          identity_file: ~/.ssh/deploy
          known_hosts: ~/kh
          jump: outer,ops@inner:2022
        hosts:
          web1:
          inner:
            address: 10.0.0.5
            identity_file: ~/.ssh/inner
          direct:
            jump: none
        """
    )
    hosts = {h.name: h for h in load_inventory(path, ssh_config=SshConfig.from_file(str(config)))}
    outer, inner = hosts["web1"].jump_hosts
    assert (outer.name, outer.address, outer.port, outer.user) == (
        "outer",
        "192.0.2.1",
        2201,
        "cfg",
    )
    assert outer.identity_files == (f"{tmp_path}/.ssh/deploy",)  # the target's: none of its own
    assert outer.known_hosts == f"{tmp_path}/kh"
    assert (inner.name, inner.address, inner.port, inner.user) == (
        "ops@inner:2022",
        "10.0.0.5",
        2022,
        "ops",
    )
    assert inner.identity_files == (f"{tmp_path}/.ssh/inner",)
    assert inner.jump_hosts == () and inner.jump is None
    # A host is never its own jump host: the chain stops before it.
    assert [h.name for h in hosts["inner"].jump_hosts] == ["outer"]
    assert hosts["direct"].jump is None and hosts["direct"].jump_hosts == ()


def test_identity_and_known_hosts_flags_apply_to_hops_user_and_port_do_not(write_inv) -> None:
    path = write_inv(
        """\
        hosts:
          web1:
            jump: gate
        """
    )
    flags = Overrides(user="root", port=2200, identity_files=("/k",), known_hosts="/kh")
    (web,) = load_inventory(path, ssh_config=False, overrides=flags)
    (gate,) = web.jump_hosts
    assert (web.user, web.port) == ("root", 2200)
    assert (gate.user, gate.port, gate.identity_files, gate.known_hosts) == (
        None,
        22,
        ("/k",),
        "/kh",
    )
    (web,) = load_inventory(path, ssh_config=False, overrides=Overrides(jump="a@b:23"))
    assert [(h.user, h.address, h.port) for h in web.jump_hosts] == [("a", "b", 23)]


def test_a_bad_chain_names_the_host(write_inv) -> None:
    path = write_inv(
        """\
        hosts:
          web1:
            jump: "gate:99999"
        """
    )
    with pytest.raises(ConfigError) as err:
        load_inventory(path, ssh_config=False)
    assert (
        str(err.value) == "host 'web1': jump 'gate:99999': port must be 1 to 65535 in 'gate:99999'"
    )
