"""The native YAML inventory: resolved hosts, and FILE:LINE errors for every broken input."""

from __future__ import annotations

from pathlib import Path

import pytest

import hostops
from hostops.errors import EXIT_USAGE, ConfigError, HostopsError
from hostops.host.settings import Overrides
from hostops.inventory import load_inventory
from hostops.models import Host, Transport


def _error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_inventory(path)
    return info.value


def _assert_at(err: ConfigError, path: Path, line: int) -> str:
    """The message starts with exactly ``FILE:LINE: `` and the attributes agree; returns the reason."""
    msg = str(err)
    prefix = f"{path}:{line}: "
    assert msg.startswith(prefix), f"{msg!r} does not start with {prefix!r}"
    assert err.path == str(path)
    assert err.line == line
    reason = msg[len(prefix) :]
    assert reason == err.reason
    assert reason.strip(), "the message needs a reason after the FILE:LINE: prefix"
    assert "\n" not in msg
    return reason


# --------------------------------------------------------------------------- valid files


def test_defaults_and_per_host_settings_resolve(write_inv, monkeypatch):
    home = "/home/tester"
    monkeypatch.setenv("HOME", home)
    path = write_inv(
        """\
        defaults:
          user: deploy
          port: 2200
          identity_file: ~/.ssh/id_default
          known_hosts: ~/.ssh/kh_default
        hosts:
          web01:
          web02:
            address: 10.0.0.12
            user: admin
            port: 2222
            identity_file: ~/keys/web02
            known_hosts: /etc/ssh/kh_web02
          local1:
            connection: local
        """
    )
    hosts = load_inventory(path)
    assert [h.name for h in hosts] == ["web01", "web02", "local1"]
    web01, web02, local1 = hosts
    # Everything from defaults; address defaults to the name.
    assert web01 == Host(
        name="web01",
        address="web01",
        port=2200,
        user="deploy",
        identity_files=(f"{home}/.ssh/id_default",),
        known_hosts=f"{home}/.ssh/kh_default",
        connection=Transport.SSH,
    )
    # The host's own settings win over defaults, one by one.
    assert web02 == Host(
        name="web02",
        address="10.0.0.12",
        port=2222,
        user="admin",
        identity_files=(f"{home}/keys/web02",),
        known_hosts="/etc/ssh/kh_web02",
        connection=Transport.SSH,
    )
    assert local1.connection is Transport.LOCAL
    assert local1.user == "deploy"  # unrelated defaults still apply
    assert local1.port == 2200


def test_builtin_defaults_without_defaults_section(write_inv):
    path = write_inv(
        """\
        hosts:
          a:
          b: {}
          c:
            user: root
        """
    )
    a, b, c = load_inventory(path)
    for h in (a, b):
        assert h.address == h.name
        assert h.port == 22
        assert h.user is None
        assert h.identity_files == ()
        assert h.known_hosts is None
        assert h.connection is Transport.SSH
    assert c.user == "root"
    assert c.port == 22


def test_host_order_is_file_order(write_inv):
    names = ["zeta", "alpha", "mid", "beta", "a1", "a10", "a2"]
    path = write_inv("hosts:\n" + "".join(f"  {n}:\n" for n in names))
    assert [h.name for h in load_inventory(path)] == names


def test_tilde_expansion_on_host_settings(write_inv, monkeypatch):
    monkeypatch.setenv("HOME", "/srv/home")
    path = write_inv(
        """\
        hosts:
          a:
            identity_file: ~/.ssh/id_ed25519
            known_hosts: ~/.ssh/known_hosts
        """
    )
    (a,) = load_inventory(path)
    assert a.identity_files == ("/srv/home/.ssh/id_ed25519",)
    assert a.known_hosts == "/srv/home/.ssh/known_hosts"


def test_connection_local_and_ssh_explicit(write_inv):
    path = write_inv(
        """\
        defaults:
          connection: local
        hosts:
          l:
          s:
            connection: ssh
        """
    )
    local, ssh = load_inventory(path)
    assert local.connection is Transport.LOCAL
    assert ssh.connection is Transport.SSH


def test_port_bounds_accepted(write_inv):
    path = write_inv(
        """\
        hosts:
          low:
            port: 1
          high:
            port: 65535
        """
    )
    assert [h.port for h in load_inventory(path)] == [1, 65535]


def test_accepts_pathlike_and_str(write_inv):
    path = write_inv("hosts:\n  a:\n")
    assert load_inventory(str(path)) == load_inventory(path)


# --------------------------------------------------------------------------- errors


def test_config_error_is_value_error_with_exit_code_2():
    assert issubclass(ConfigError, ValueError)
    assert issubclass(ConfigError, HostopsError)
    err = ConfigError("boom", path="f.yaml", line=3)
    assert isinstance(err, ValueError)
    assert err.exit_code == 2 == EXIT_USAGE
    assert str(err) == "f.yaml:3: boom"


def test_bad_yaml_syntax_names_the_line(write_inv):
    path = write_inv(
        """\
        hosts:
          web01:
            user: a
           port: 3
        """
    )
    reason = _assert_at(_error(path), path, 4)
    assert "invalid YAML" in reason


def test_bad_yaml_tab_names_the_line(write_inv):
    path = write_inv("hosts:\n  a:\n\tb: {}\n")
    reason = _assert_at(_error(path), path, 3)
    assert "invalid YAML" in reason


def test_unknown_top_level_key(write_inv):
    path = write_inv(
        """\
        hosts:
          a:
        grops:
          web: {}
        """
    )
    reason = _assert_at(_error(path), path, 3)
    assert "'grops'" in reason
    assert "unknown" in reason
    assert "did you mean 'groups'?" in reason
    # It tells the user what is allowed.
    assert "defaults" in reason
    assert "hosts" in reason


def test_unknown_host_key_points_at_the_key(write_inv):
    path = write_inv(
        """\
        hosts:
          a:
            user: x
          b:
            user: y
            prot: 22
        """
    )
    reason = _assert_at(_error(path), path, 6)
    assert "'prot'" in reason
    assert "'b'" in reason  # which host
    assert "port" in reason  # the allowed keys are listed


def test_address_is_not_allowed_in_defaults(write_inv):
    path = write_inv(
        """\
        defaults:
          address: 10.0.0.1
        hosts:
          a:
        """
    )
    reason = _assert_at(_error(path), path, 2)
    assert "address" in reason
    assert "defaults" in reason


@pytest.mark.parametrize(
    ("setting", "shown"),
    [
        ("port: abc", "'abc'"),
        ('port: "22"', "'22'"),
        ("port: 0", "0"),
        ("port: 70000", "70000"),
        ("port: 65536", "65536"),
        ("port: -1", "-1"),
        ("port: true", "True"),
        ("port: 22.5", "22.5"),
    ],
)
def test_bad_port(write_inv, setting, shown):
    path = write_inv(f"hosts:\n  a:\n    user: x\n    {setting}\n")
    reason = _assert_at(_error(path), path, 4)
    assert "port" in reason
    assert "1 to 65535" in reason
    assert shown in reason
    assert "'a'" in reason


def test_bad_port_in_defaults(write_inv):
    path = write_inv("defaults:\n  port: abc\nhosts:\n  a:\n")
    reason = _assert_at(_error(path), path, 2)
    assert "defaults" in reason
    assert "port" in reason


def test_user_must_be_a_string(write_inv):
    path = write_inv("hosts:\n  a:\n    user: 5\n")
    reason = _assert_at(_error(path), path, 3)
    assert "user" in reason
    assert "string" in reason
    assert "5" in reason


@pytest.mark.parametrize("key", ["user", "identity_file", "known_hosts", "address"])
def test_string_settings_reject_non_strings(write_inv, key):
    path = write_inv(f"hosts:\n  a:\n    {key}: [1, 2]\n")
    reason = _assert_at(_error(path), path, 3)
    assert key in reason


def test_unknown_connection(write_inv):
    path = write_inv("hosts:\n  a:\n    connection: telnet\n")
    reason = _assert_at(_error(path), path, 3)
    assert "telnet" in reason
    assert "ssh" in reason
    assert "local" in reason


def test_duplicate_host_name(write_inv):
    path = write_inv(
        """\
        hosts:
          web01:
            port: 22
          web02:
          web01:
        """
    )
    reason = _assert_at(_error(path), path, 5)
    assert "web01" in reason
    assert "duplicate" in reason
    assert "line 2" in reason  # where the first one is


def test_duplicate_key_inside_a_host(write_inv):
    path = write_inv("hosts:\n  a:\n    user: x\n    user: y\n")
    reason = _assert_at(_error(path), path, 4)
    assert "user" in reason
    assert "line 3" in reason


@pytest.mark.parametrize("text", ["", "\n", "# just a comment\n"])
def test_empty_file(write_inv, text):
    path = write_inv(text)
    reason = _assert_at(_error(path), path, 1)
    assert "empty" in reason


def test_no_hosts_key(write_inv):
    path = write_inv("defaults:\n  user: x\n")
    reason = _assert_at(_error(path), path, 1)
    assert "hosts" in reason


def test_hosts_null(write_inv):
    path = write_inv("defaults:\n  user: x\nhosts:\n")
    reason = _assert_at(_error(path), path, 3)
    assert "no hosts" in reason


def test_hosts_empty_mapping(write_inv):
    path = write_inv("defaults:\n  user: x\nhosts: {}\n")
    reason = _assert_at(_error(path), path, 3)
    assert "hosts" in reason
    assert "empty" in reason


def test_hosts_as_a_list(write_inv):
    path = write_inv("hosts:\n  - web01\n  - web02\n")
    reason = _assert_at(_error(path), path, 2)
    assert "hosts" in reason
    assert "mapping" in reason
    assert "list" in reason


def test_inventory_not_a_mapping(write_inv):
    path = write_inv("- web01\n- web02\n")
    reason = _assert_at(_error(path), path, 1)
    assert "mapping" in reason


def test_host_value_not_a_mapping(write_inv):
    path = write_inv("hosts:\n  a:\n  b: 10.0.0.1\n")
    reason = _assert_at(_error(path), path, 3)
    assert "'b'" in reason
    assert "mapping" in reason


def test_non_string_host_name(write_inv):
    path = write_inv("hosts:\n  a:\n  123:\n")
    reason = _assert_at(_error(path), path, 3)
    assert "123" in reason


def test_unknown_yaml_tag_is_a_config_error(write_inv):
    # A YAML tag the safe loader cannot build (a custom tag, a merge key, ...)
    # is a broken inventory: exit 2 with FILE:LINE, not an internal error.
    path = write_inv("hosts:\n  a:\n    user: !custom bob\n")
    reason = _assert_at(_error(path), path, 3)
    assert "custom" in reason


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    err = _error(path)
    assert str(err).startswith(f"{path}: ")
    assert err.path == str(path)
    assert "no such file" in str(err)
    assert err.exit_code == 2


def test_undecodable_file(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"hosts:\n  caf\xe9:\n")
    err = _error(path)
    assert str(err).startswith(f"{path}: ")
    assert err.exit_code == 2


# --------------------------------------------------------------------------- overrides

_TWO = "hosts:\n  a:\n    address: 10.0.0.1\n    port: 2201\n    user: ua\n    identity_file: /k/a\n    known_hosts: /kh/a\n  b:\n    connection: local\n"


def test_overrides_none_changes_nothing(write_inv):
    path = write_inv(_TWO)
    assert hostops.load_inventory(path, ssh_config=False, overrides=Overrides()) == (
        hostops.load_inventory(path, ssh_config=False)
    )


def test_override_user_only(write_inv):
    a, b = hostops.load_inventory(
        write_inv(_TWO), ssh_config=False, overrides=Overrides(user="root")
    )
    assert (a.user, b.user) == ("root", "root")
    # Everything else is the inventory's.
    assert (a.port, a.identity_files, a.known_hosts, a.address) == (
        2201,
        ("/k/a",),
        "/kh/a",
        "10.0.0.1",
    )
    assert b.connection is Transport.LOCAL


def test_override_port_only(write_inv):
    a, b = hostops.load_inventory(write_inv(_TWO), ssh_config=False, overrides=Overrides(port=2022))
    assert (a.port, b.port) == (2022, 2022)
    assert (a.user, b.user) == ("ua", None)


def test_override_identity_and_known_hosts_expand_tilde(write_inv, monkeypatch):
    monkeypatch.setenv("HOME", "/h")
    a, b = hostops.load_inventory(
        write_inv(_TWO),
        ssh_config=False,
        overrides=Overrides(identity_files=("~/k1", "/abs/k2"), known_hosts="~/kh"),
    )
    assert a.identity_files == b.identity_files == ("/h/k1", "/abs/k2")
    assert a.known_hosts == b.known_hosts == "/h/kh"
    assert (a.user, a.port) == ("ua", 2201)


def test_override_applies_over_defaults(write_inv):
    path = write_inv("defaults:\n  port: 2200\nhosts:\n  a:\n    user: own\n  b:\n")
    a, b = load_inventory(path)
    assert (a.user, a.port, b.user, b.port) == ("own", 2200, None, 2200)
    a, b = hostops.load_inventory(path, ssh_config=False, overrides=Overrides(port=22))
    assert (a.user, a.port, b.port) == ("own", 22, 22)
