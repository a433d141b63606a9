"""Host selection and ssh_config end to end: the real CLI against the real sshd fleet."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import json_results, run_hostops


def _ssh_config(fleet: SshdFleet, path: Path, n: int) -> Path:
    """An ssh_config that alone says how to reach the first n fleet hosts."""
    blocks = [f"Host {h.name}\n  HostName {h.address}\n  Port {h.port}\n" for h in fleet.hosts[:n]]
    blocks.append(
        f"Host host*\n  User {fleet.user}\n  IdentityFile {fleet.client_key}\n  UserKnownHostsFile {fleet.known_hosts}\n"
    )
    path.write_text("".join(blocks))
    return path


def test_host_list_with_ssh_config_and_no_inventory(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    cfg = _ssh_config(sshd_fleet, tmp_path / "ssh_config", 6)
    r = run_hostops(
        "run",
        "echo $(echo $SSH_CONNECTION | cut -d' ' -f3)",
        "-H",
        "host[01-05]",
        "--ssh-config",
        str(cfg),
        "-o",
        "json",
    )
    assert r.returncode == 0, r.stderr
    res = json_results(r.stdout)
    assert sorted(res) == [f"host{i:02d}" for i in range(1, 6)]
    for h in sshd_fleet.hosts[:5]:
        assert res[h.name]["stdout"] == f"{h.address}\n"  # HostName and Port came from ssh_config


def test_user_ssh_config_is_read_by_default_and_can_be_turned_off(
    sshd_fleet: SshdFleet, tmp_path: Path, isolated_home: Path
) -> None:
    ssh = isolated_home / ".ssh"
    ssh.mkdir(mode=0o700)
    (ssh / "conf.d").mkdir()
    _ssh_config(sshd_fleet, ssh / "conf.d" / "fleet.conf", 2)
    (ssh / "config").write_text("Include conf.d/*.conf\n")  # paramiko alone would not follow it
    r = run_hostops("run", "true", "-H", "host01,host02")
    assert r.returncode == 0, r.stderr
    r = run_hostops(
        "run", "true", "-H", "host01", "--no-ssh-config", "--connect-timeout", "3", "-o", "json"
    )
    assert json_results(r.stdout)["host01"]["status"] == "unreachable"  # "host01" does not resolve


def test_limit_selects_from_groups(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    text = sshd_fleet.inventory_text(sshd_fleet.hosts[:8])
    text += 'groups:\n  web:\n    hosts: ["host[01-06]"]\n  prod:\n    hosts: ["host[04-08]"]\n'
    inv.write_text(text)
    r = run_hostops(
        "run", "true", "--hosts", str(inv), "--limit", "web:&prod:!host05", "-o", "json"
    )
    assert r.returncode == 0, r.stderr
    assert sorted(json_results(r.stdout)) == ["host04", "host06"]
    r = run_hostops("run", "true", "--hosts", str(inv), "--limit", "web:!hots05")
    assert r.returncode == 2
    assert r.stderr.startswith("hostops: error: --limit: ") and "hots05" in r.stderr
    assert "host05" in r.stderr  # did you mean
    assert r.stdout == ""


def test_inventory_command_table_graph_json(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    text = sshd_fleet.inventory_text(sshd_fleet.hosts[:5])
    text += 'groups:\n  web:\n    hosts: ["host[01-03]"]\n    children: [canary]\n  canary:\n    hosts: [host03]\n    vars: {user: deploy}\n'
    inv.write_text(text)
    r = run_hostops("inventory", "--hosts", str(inv), "--limit", "web")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["host", "address", "port", "user", "key", "jump", "groups"]
    assert re.match(
        r"host03\s+127\.42\.0\.3\s+\d+\s+deploy\s+\S+client_key\s+-\s+canary,web$", lines[3]
    )
    assert lines[-1] == "3 hosts: host[01-03]"
    r = run_hostops("inventory", "--hosts", str(inv), "--graph")
    assert r.stdout == (
        "@all:\n  |--@web:\n  |  |--@canary:\n  |  |  |--host03\n  |  |--host01\n  |  |--host02\n  |  |--host03\n"
        "  |--@ungrouped:\n  |  |--host04\n  |  |--host05\n"
    )
    doc = json.loads(run_hostops("inventory", "--hosts", str(inv), "--json").stdout)
    assert doc["hosts"]["host03"]["user"] == "deploy"
    assert doc["groups"]["web"] == {"hosts": ["host01", "host02", "host03"], "children": ["canary"]}


def test_sudo_on_local_hosts_is_refused(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts:\n  here:\n    connection: local\n")
    r = run_hostops("run", "true", "--hosts", str(inv), "--sudo")
    assert r.returncode == 2
    assert r.stderr == (
        "hostops: error: --sudo is not supported for connection: local hosts (here); nothing ran\n"
    )


def test_inventory_json_says_where_each_setting_came_from(tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host web1\n  HostName 10.0.0.1\n  ProxyCommand nc %h %p\n  ConnectTimeout 5\n"
        "  ControlMaster auto\n"
    )
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts:\n  web1:\n    port: 2222\n")
    r = run_hostops(
        "inventory", "--hosts", str(inv), "--ssh-config", str(config), "--json", "--user", "ops"
    )
    assert r.returncode == 0, r.stderr
    web1 = json.loads(r.stdout)["hosts"]["web1"]
    assert (web1["address"], web1["port"], web1["user"]) == ("10.0.0.1", 2222, "ops")
    assert web1["ssh"]["proxy_command"] == "exec nc 10.0.0.1 2222"
    assert web1["ssh"]["connect_timeout"] == 5
    assert web1["ssh"]["ignored"] == [f"ControlMaster ({config}:5)"]
    assert web1["origins"] == {
        "port": f"{inv}:3",
        "user": "--user",
        "address": f"{config}:2",
        "proxy_command": f"{config}:3",
        "connect_timeout": f"{config}:4",
    }
    assert re.fullmatch(r"[0-9a-f]{64}", web1["connection_id"])


def test_a_host_name_that_would_reach_a_shell_is_refused_before_anything(tmp_path: Path) -> None:
    flag = tmp_path / "ran"
    config = tmp_path / "ssh_config"
    config.write_text('Match exec "true %h"\n  User x\n')
    r = run_hostops("inventory", "-H", f"x$(touch {flag})", "--ssh-config", str(config))
    assert r.returncode == 2
    assert "contains characters OpenSSH refuses" in r.stderr
    assert r.stderr.count("\n") == 1
    assert not flag.exists()
