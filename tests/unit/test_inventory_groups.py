"""Native inventory groups: membership, node ranges, precedence, and every bad-input error."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import hostops
from hostops.errors import ConfigError
from hostops.host.settings import Overrides
from hostops.inventory import (
    build,
    every_host,
    load_inventory,
    load_raw,
    resolve_hosts,
    select_names,
)

FLEET = """\
defaults:
  user: admin
  port: 22
  vars: {env: base, tier: none}
hosts:
  web[01-04]:
  db1:
    address: 10.0.0.21
    user: postgres
groups:
  web:
    hosts:
      - web[01-04]   # in a flow list ([...]) a range must be quoted: "web[01-04]"
    vars: {port: 2201, tier: web}
  prod:
    hosts: [web01, web02, db1]
    children: [canary]
    vars: {user: deploy, env: prod}
  canary:
    hosts:
      web02:
        port: 2299
    vars: {env: canary}
  zz:
    hosts: [web01]
    vars: {port: 2400}
"""


def _load(write_inv, text: str, **kw):  # type: ignore[no-untyped-def]
    return {h.name: h for h in load_inventory(write_inv(text), **kw)}


def test_ranges_expand_in_order_and_hosts_are_defined_once(write_inv) -> None:
    hosts = load_inventory(write_inv(FLEET))
    assert [h.name for h in hosts] == ["web01", "web02", "web03", "web04", "db1"]


def test_membership_is_transitive_and_ungrouped_is_computed(write_inv) -> None:
    text = FLEET + "  lone:\n    hosts: []\n"
    inv = build(load_raw(write_inv(text.replace("  db1:\n", "  solo:\n  db1:\n"))))
    assert inv.members["prod"] == ("web01", "web02", "db1")  # web02 also via canary: once
    assert inv.members["all"][-1] == "db1"
    assert inv.members["ungrouped"] == ("solo",)
    assert inv.host_groups["web02"] == ("canary", "prod", "web")


def test_precedence_defaults_groups_by_depth_then_name_host_flags(write_inv) -> None:
    h = _load(write_inv, FLEET)
    # web03: defaults < web (port 2201, tier web)
    assert (h["web03"].user, h["web03"].port, dict(h["web03"].vars)) == (
        "admin",
        2201,
        {"env": "base", "tier": "web"},
    )
    # web01: defaults < prod (depth 0) < web < zz (alphabetical at depth 0): zz's port wins
    assert (h["web01"].user, h["web01"].port, h["web01"].vars["env"]) == ("deploy", 2400, "prod")
    # web02: canary is prod's child (depth 1): its vars beat prod's; the host's own port beats all
    assert (h["web02"].port, h["web02"].vars["env"], h["web02"].user) == (2299, "canary", "deploy")
    # db1: its own user beats prod's
    assert (h["db1"].user, h["db1"].address) == ("postgres", "10.0.0.21")
    # flags beat everything
    flagged = {
        h.name: h
        for h in hostops.load_inventory(
            write_inv(FLEET), ssh_config=False, overrides=Overrides(user="root", port=22)
        )
    }
    assert {(x.user, x.port) for x in flagged.values()} == {("root", 22)}


def test_identity_file_may_be_a_list(write_inv) -> None:
    (h,) = load_inventory(write_inv("hosts:\n  a:\n    identity_file: [/k/one, /k/two]\n"))
    assert h.identity_files == ("/k/one", "/k/two")


def test_alphabetic_and_multiple_ranges(write_inv) -> None:
    hosts = load_inventory(write_inv("hosts:\n  rack[a-b]-[1-2]:\n"))
    assert [h.name for h in hosts] == ["racka-1", "racka-2", "rackb-1", "rackb-2"]


def test_selection_then_resolution(write_inv) -> None:
    path = write_inv(FLEET)
    inv = build(load_raw(path))
    assert select_names(inv, "web:&prod:!web01") == ["web02"]
    assert [h.name for h in load_inventory(path, limit="db1,web0[3-4]")] == [
        "web03",
        "web04",
        "db1",
    ]


def _error(write_inv, text: str) -> ConfigError:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        build(load_raw(write_inv(text)))
    return info.value


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("hosts:\n  web[10-1]:\n", 2, ["web[10-1]"]),
        (
            "hosts:\n  a:\ngroups:\n  g:\n    children: [prodd]\n  prod: {}\n",
            5,
            ["'prodd'", "does not exist", "did you mean 'prod'?"],
        ),
        (
            "hosts:\n  a:\ngroups:\n  x:\n    children: [y]\n  y:\n    children: [x]\n",
            5,
            ["cycle", "x -> y -> x"],
        ),
        (
            "hosts:\n  a:\n    port: 22\ngroups:\n  g:\n    hosts:\n      a:\n        port: 23\n",
            8,
            ["'a'", "23", "22", ":3"],
        ),
        ("hosts:\n  a:\n    usr: x\n", 3, ["'usr'", "did you mean 'user'?"]),
        ("hosts:\n  a:\ngroups:\n  g:\n    host: [a]\n", 5, ["'host'", "did you mean 'hosts'?"]),
        ("hosts:\n  web[1-2]:\n    address: 10.0.0.1\n", 3, ["one address", "2 hosts"]),
        ("hosts:\n  a:\ngroups:\n  g:\n    vars: {address: 10.0.0.1}\n", 5, ["address", "group"]),
        ("hosts:\n  a:\n    password_env: hunter2 is my password\n", 3, ["environment variable"]),
        ("hosts:\n  a:\n    identity_file: [/k, 3]\n", 3, ["identity_file"]),
        ("hosts:\n  a:\ngroups:\n  g:\n    children: web\n", 5, ["children", "list"]),
    ],
)
def test_bad_input_names_file_and_line(write_inv, text: str, line: int, words: list[str]) -> None:
    err = _error(write_inv, text)
    assert err.line == line, str(err)
    assert str(err).startswith(f"{err.path}:{line}: ")
    for word in words:
        assert word in str(err)


def test_a_pattern_that_matches_nothing_is_an_error(write_inv) -> None:
    """Named as the library's parameter (the CLI says --limit: see test_cli_errors)."""
    path = write_inv(FLEET)
    with pytest.raises(ConfigError, match=r"^limit: pattern 'dbb'") as caught:
        load_inventory(path, limit="dbb")
    assert caught.value.argument == "limit"


def test_ansible_style_file_is_not_mistaken_for_native(tmp_path: Path) -> None:
    ini = tmp_path / "hosts"
    ini.write_text("[web]\nweb01 ansible_host=10.0.0.1\n")
    (h,) = load_inventory(ini)
    assert (h.name, h.address, h.groups) == ("web01", "10.0.0.1", ("web",))


def test_ansible_ungrouped_vars_apply_to_ungrouped_hosts(tmp_path: Path) -> None:
    ini = tmp_path / "hosts"
    ini.write_text("lone\n[web]\nweb01\n[ungrouped:vars]\nansible_user=solo\n")
    hosts = {h.name: h for h in load_inventory(ini)}
    assert (hosts["lone"].user, hosts["web01"].user) == ("solo", None)


def test_inventory_json_hides_secret_looking_variables(write_inv) -> None:
    from hostops.inventory.show import inventory_json

    path = write_inv("hosts:\n  a:\n    vars: {db_password: hunter2, api_token: t0k, site: par1}\n")
    inv = build(load_raw(path))
    text = inventory_json(inv, load_inventory(path))
    assert "hunter2" not in text and "t0k" not in text
    assert '"site": "par1"' in text and '"db_password": "<hidden>"' in text


def test_every_host_keeps_the_selected_as_resolved_and_adds_the_others(write_inv) -> None:
    """What a playbook's plays match their patterns against (hostops play --limit): every
    inventory host in file order; only the selected ones carry the command line's settings."""
    inv = build(load_raw(write_inv(FLEET)))
    # Selected: resolved further (ssh_config, the command line), here a --user.
    selected = [dataclasses.replace(h, user="flag") for h in resolve_hosts(inv, ["db1", "web03"])]
    everyone = every_host(inv, selected)
    assert [h.name for h in everyone] == list(inv.names)
    by_name = {h.name: h for h in everyone}
    assert by_name["db1"] is selected[0] and by_name["web03"] is selected[1]
    assert by_name["web01"] == resolve_hosts(inv, ["web01"])[0]
    assert by_name["web01"].user == "deploy"  # the inventory's, not the selection's
