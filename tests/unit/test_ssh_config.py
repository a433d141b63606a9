"""ssh_config through paramiko's SSHConfig: OpenSSH's rules, Include, and the place in precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostops.errors import ConfigError
from hostops.host.ssh_config import SshConfig
from hostops.inventory import Overrides, load_inventory
from hostops.models import HostKeyPolicy


def _config(tmp_path: Path, text: str) -> SshConfig:
    path = tmp_path / "ssh_config"
    path.write_text(text)
    return SshConfig.from_file(str(path))


def test_first_obtained_value_wins_and_wildcards_match(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path,
        "Host web*\n  User deploy\n  Port 2201\n  IdentityFile ~/.ssh/web_key\n"
        "Host web01\n  User ignored\n  HostName 10.0.0.11\n"
        "Host *\n  User fallback\n  Port 22\n  IdentityFile ~/.ssh/id_default\n",
    )
    v = cfg.lookup("web01")
    assert (v.user, v.port, v.address) == ("deploy", 2201, "10.0.0.11")
    assert len(v.identity_file) == 2 and v.identity_file[0].endswith(
        ".ssh/web_key"
    )  # IdentityFile accumulates
    other = cfg.lookup("db1")
    assert (other.user, other.port, other.address) == ("fallback", 22, None)


def test_proxyjump_known_hosts_and_strict_mapping(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path,
        "Host a\n  ProxyJump ops@bastion:2222\n  UserKnownHostsFile ~/kh_a\n  StrictHostKeyChecking accept-new\n"
        "Host b\n  StrictHostKeyChecking no\n"
        "Host c\n  StrictHostKeyChecking yes\n  ProxyJump none\n",
    )
    a, b, c = cfg.lookup("a"), cfg.lookup("b"), cfg.lookup("c")
    assert a.jump == "ops@bastion:2222" and a.known_hosts.endswith("/kh_a")
    assert a.host_key_policy == "accept-new"
    assert b.host_key_policy == "accept-new"  # "no" never turns checking off
    assert (c.host_key_policy, c.jump) == ("strict", None)


def test_include_is_followed_relative_and_globbed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    ssh = tmp_path / ".ssh"
    (ssh / "conf.d").mkdir(parents=True)
    (ssh / "conf.d" / "10-web.conf").write_text("Host web01\n  User from-include\n")
    (ssh / "conf.d" / "20-db.conf").write_text("Host db1\n  Port 5022\n")
    (ssh / "config").write_text("Include conf.d/*.conf\nHost *\n  User default\n")
    cfg = SshConfig.default()
    assert cfg.lookup("web01").user == "from-include"
    assert (cfg.lookup("db1").port, cfg.lookup("db1").user) == (5022, "default")


def test_include_loop_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "loop"
    path.write_text(f"Include {path}\n")
    with pytest.raises(ConfigError, match="Include nested"):
        SshConfig.from_file(str(path))


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        SshConfig.from_file(str(tmp_path / "nope"))


def test_inventory_beats_ssh_config_and_flags_beat_both(write_inv, tmp_path: Path) -> None:
    cfg = _config(
        tmp_path,
        "Host *\n  User cfg-user\n  Port 2000\n  HostName cfg.example\n  StrictHostKeyChecking accept-new\n",
    )
    path = write_inv("hosts:\n  a:\n    port: 3000\n  b:\n    address: 10.0.0.2\n")
    a, b = load_inventory(path, ssh_config=cfg)
    assert (a.user, a.port, a.address) == ("cfg-user", 3000, "cfg.example")
    assert (b.user, b.port, b.address) == ("cfg-user", 2000, "10.0.0.2")
    assert a.host_key_policy is HostKeyPolicy.ACCEPT_NEW
    (a2, _) = load_inventory(path, ssh_config=cfg, overrides=Overrides(user="flag", port=1))
    assert (a2.user, a2.port) == ("flag", 1)


def test_match_host_blocks_apply_as_paramiko_supports_them(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "Match host db*\n  User dba\n  Port 5022\nMatch all\n  User everyone\n")
    assert (cfg.lookup("db1").user, cfg.lookup("db1").port) == ("dba", 5022)
    assert (cfg.lookup("web1").user, cfg.lookup("web1").port) == ("everyone", None)
