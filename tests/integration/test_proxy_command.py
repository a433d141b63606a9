"""ProxyCommand and the other ssh_config connection options, against the real sshd fleet.

A ProxyCommand is proved to carry the connection by a log it writes (its argv, its
pid) and by ports only it can reach; ``ssh -W`` goes through a bastion sshd at
LogLevel DEBUG whose log shows the forwarding."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from hostops import load_inventory
from hostops.host.client import HostClient
from hostops.models import Status
from hostops.testing import SshdFleet
from hostops.testing.fleet import free_port
from hostops.testing.pytest_plugin import json_results, run_hostops, temporary_fleet

_RECORDING = 'sh -c \'echo "$$ $*" >> {log}; exec nc "$1" "$2"\' proxy %h %p'


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ssh_config"
    path.write_text(text)
    return path


def test_proxycommand_nc_carries_every_connection(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    hosts = sshd_fleet.hosts[:4]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    log = tmp_path / "proxy.log"
    config = _config(tmp_path, f"Host *\n  ProxyCommand {_RECORDING.format(log=log)}\n")
    r = run_hostops(
        "run", "echo ok", "--hosts", str(inv), "--ssh-config", str(config), "-o", "json"
    )
    assert r.returncode == 0, r.stderr
    assert {o["status"] for o in json_results(r.stdout).values()} == {"ok"}
    seen = sorted(line.split(" ", 1)[1] for line in log.read_text().splitlines())
    assert seen == sorted(f"{h.address} {h.port}" for h in hosts)


def test_proxycommand_reaches_a_port_the_inventory_does_not_name(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    """The inventory's port is closed: only the proxy knows where the host listens."""
    real = sshd_fleet.hosts[0]
    closed = free_port(real.address)
    known = tmp_path / "known_hosts"  # the key under the name ssh looks up: [address]:port
    known.write_text(f"[{real.address}]:{closed} {real.host_key_line}\n")
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        f"defaults:\n  user: {sshd_fleet.user}\n  identity_file: {sshd_fleet.client_key}\n"
        f"  known_hosts: {known}\nhosts:\n  web:\n    address: {real.address}\n    port: {closed}\n"
    )
    config = _config(tmp_path, f"Host web\n  ProxyCommand nc %h {real.port}\n")
    r = run_hostops("run", "echo through", "--hosts", str(inv), "--ssh-config", str(config))
    assert r.returncode == 0, r.stderr
    assert "web | through" in r.stdout


def test_proxycommand_ssh_w_through_a_bastion(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    with temporary_fleet(1, extra_config=("LogLevel DEBUG",), address_base=49) as bastions:
        bastion = bastions.hosts[0]
        with open(bastions.authorized_keys, "a") as f:
            f.write(Path(f"{sshd_fleet.client_key}.pub").read_text())
        known = tmp_path / "known_hosts"
        known.write_text(sshd_fleet.known_hosts.read_text() + bastions.known_hosts.read_text())
        hosts = sshd_fleet.hosts[:3]
        inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts, known_hosts=known)
        ssh = (
            f"ssh -F /dev/null -i {sshd_fleet.client_key} -o BatchMode=yes"
            f" -o UserKnownHostsFile={known} -p {bastion.port}"
        )
        config = _config(
            tmp_path, f"Host *\n  ProxyCommand {ssh} -W %h:%p {sshd_fleet.user}@{bastion.address}\n"
        )
        start = bastion.log.stat().st_size
        r = run_hostops("run", "hostname", "--hosts", str(inv), "--ssh-config", str(config))
        assert r.returncode == 0, r.stderr
        forwarded = re.findall(
            r"server_request_direct_tcpip: originator \S+ port \d+, target (\S+) port (\d+)",
            bastion.log.read_text()[start:],
        )
        assert sorted(forwarded) == sorted((h.address, str(h.port)) for h in hosts)


def test_a_failing_proxycommand_is_unreachable_with_its_stderr(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2])
    config = _config(
        tmp_path,
        "Host *\n  ProxyCommand sh -c 'echo \"gateway says no to %h\" >&2; exit 7'\n",
    )
    r = run_hostops("run", "true", "--hosts", str(inv), "--ssh-config", str(config), "-o", "json")
    assert r.returncode == 3
    for name, obj in json_results(r.stdout).items():
        address = next(h.address for h in sshd_fleet.hosts if h.name == name)
        assert obj["status"] == "unreachable"
        assert obj["error"].startswith(f"ProxyCommand exited 7 (gateway says no to {address}): ")


def test_the_proxycommand_is_killed_with_the_connection(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    log = tmp_path / "proxy.log"
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:1])
    config = _config(tmp_path, f"Host *\n  ProxyCommand {_RECORDING.format(log=log)}\n")
    (host,) = load_inventory(inv, ssh_config=config)
    with HostClient(host) as client:
        outcome, out, _ = client.run("echo alive")
        assert (outcome.status, out) == (Status.OK, b"alive\n")
        pid = int(log.read_text().split()[0])
        os.kill(pid, 0)  # running while the connection is open
    with pytest.raises(ProcessLookupError):
        for _ in range(200):  # reaped by now; the loop only rides out the kernel's bookkeeping
            os.kill(pid, 0)
            os.waitpid(-1, os.WNOHANG)


def test_a_proxycommand_from_an_ansible_inventory(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    host = sshd_fleet.hosts[0]
    log = tmp_path / "proxy.log"
    script = tmp_path / "proxy.sh"
    script.write_text(f'#!/bin/sh\necho "$$ $*" >> {log}\nexec nc "$1" "$2"\n')
    script.chmod(0o755)
    inv = tmp_path / "hosts.ini"
    inv.write_text(  # as Ansible's documentation writes it
        f"[web]\nweb1 ansible_host={host.address} ansible_port={host.port}\n"
        f"[web:vars]\nansible_user={sshd_fleet.user}\n"
        f"ansible_ssh_private_key_file={sshd_fleet.client_key}\n"
        f'ansible_ssh_common_args=\'-o ProxyCommand="{script} %h %p"'
        f" -o UserKnownHostsFile={sshd_fleet.known_hosts}'\n"
    )
    r = run_hostops("run", "echo via-ansible", "--hosts", str(inv), "--no-ssh-config")
    assert r.returncode == 0, r.stderr
    assert "web1 | via-ansible" in r.stdout
    assert log.read_text().split(" ", 1)[1].strip() == f"{host.address} {host.port}"


# --------------------------------------------------------------------------- other options


def test_connection_attempts_from_ssh_config_and_the_command_line_wins(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    address = sshd_fleet.hosts[0].address
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        f"defaults:\n  user: {sshd_fleet.user}\nhosts:\n  closed:\n    address: {address}\n"
        f"    port: {free_port(address)}\n"
    )
    config = _config(tmp_path, "Host closed\n  ConnectionAttempts 3\n")
    r = run_hostops("run", "true", "--hosts", str(inv), "--ssh-config", str(config), "-o", "json")
    assert json_results(r.stdout)["closed"]["attempts"] == 3
    r = run_hostops(
        "run", "true", "--hosts", str(inv), "--ssh-config", str(config), "-o", "json",
        "--connect-retries", "0",
    )  # fmt: skip
    assert json_results(r.stdout)["closed"]["attempts"] == 1


def test_bind_address_and_address_family(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    hosts = sshd_fleet.hosts[:2]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    config = _config(
        tmp_path,
        f"Host {hosts[0].name}\n  BindAddress 127.0.0.77\n"
        f"Host {hosts[1].name}\n  AddressFamily inet6\n",
    )
    r = run_hostops(
        "run",
        "echo $SSH_CONNECTION",
        "--hosts",
        str(inv),
        "--ssh-config",
        str(config),
        "-o",
        "json",
    )
    found = json_results(r.stdout)
    assert found[hosts[0].name]["stdout"].split()[0] == "127.0.0.77"
    assert found[hosts[1].name]["status"] == "unreachable"  # an IPv4 address, IPv6 only


def test_a_refused_option_makes_the_host_error_naming_it(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    hosts = sshd_fleet.hosts[:2]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    config = _config(tmp_path, f"Host {hosts[0].name}\n  KnownHostsCommand /bin/true %H\n")
    r = run_hostops("run", "true", "--hosts", str(inv), "--ssh-config", str(config), "-o", "json")
    found = json_results(r.stdout)
    assert found[hosts[0].name]["status"] == "error"
    assert found[hosts[0].name]["error"].startswith(
        f"ssh_config option KnownHostsCommand ({config}:2) is not supported by hostops"
    )
    assert found[hosts[1].name]["status"] == "ok"


def test_ignored_options_are_reported_once_per_run(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:3])
    config = _config(tmp_path, "Host *\n  ControlMaster auto\n  ForwardAgent yes\n")
    r = run_hostops("run", "true", "--hosts", str(inv), "--ssh-config", str(config))
    assert r.returncode == 0
    assert r.stderr.count("ssh_config options hostops ignores") == 1
    assert f"ControlMaster ({config}:2), ForwardAgent ({config}:3)" in r.stderr


def test_host_key_checking_off_through_ssh_config_needs_the_policy_off(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        sshd_fleet.inventory_text(sshd_fleet.hosts[:1]).replace("  known_hosts:", "  # ")
    )
    config = _config(
        tmp_path, "Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
    )
    r = run_hostops("run", "true", "--hosts", str(inv), "--ssh-config", str(config), "-o", "json")
    (obj,) = json_results(r.stdout).values()
    assert obj["status"] == "error"
    assert "--host-key-policy off" in obj["error"] and f"{config}:2" in obj["error"]
    r = run_hostops(
        "run", "true", "--hosts", str(inv), "--ssh-config", str(config), "--host-key-policy", "off"
    )
    assert r.returncode == 0, r.stderr


def test_send_env_and_set_env_reach_the_command_never_a_secret(tmp_path: Path) -> None:
    with temporary_fleet(1, extra_config=("AcceptEnv HOSTOPS_* LANG",), address_base=52) as fleet:
        inv = fleet.write_inventory(tmp_path / "inv.yaml")
        config = _config(
            tmp_path, "Host *\n  SendEnv HOSTOPS_* LANG\n  SetEnv HOSTOPS_SET=from-config\n"
        )
        env = {**os.environ, "HOSTOPS_SENT": "sent", "HOSTOPS_PASSWORD": "pw-secret", "LANG": "C"}
        r = run_hostops(
            "run", "echo $HOSTOPS_SENT $HOSTOPS_SET $LANG ${HOSTOPS_PASSWORD:-no-password}",
            "--hosts", str(inv), "--ssh-config", str(config), env=env,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert "| sent from-config C no-password" in r.stdout


def test_hash_known_hosts_records_hashed_names_ssh_keygen_finds(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    host = sshd_fleet.hosts[0]
    known = tmp_path / "known_hosts"
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", [host], known_hosts=known)
    config = _config(tmp_path, "Host *\n  HashKnownHosts yes\n")
    r = run_hostops(
        "run", "true", "--hosts", str(inv), "--ssh-config", str(config),
        "--host-key-policy", "accept-new",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert known.read_text().startswith("|1|")
    found = subprocess.run(
        ["ssh-keygen", "-F", host.known_hosts_pattern, "-f", str(known)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert found.returncode == 0 and host.host_key_line.split()[1] in found.stdout


def test_a_proxied_connection_s_first_answer_is_not_taken_for_distance(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    """The proxy's own start (and a bastion login, for ssh -W) would read as distance:
    adaptive concurrency is told nothing of it (hostops.host.ssh.distance)."""
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:1])
    config = _config(tmp_path, f"Host *\n  ProxyCommand {_RECORDING.format(log=tmp_path / 'p')}\n")
    (host,) = load_inventory(inv, ssh_config=config)
    heard: list[float] = []
    with HostClient(host, heard=heard.append) as client:
        outcome, out, _ = client.run("echo alive")
    assert (outcome.status, out) == (Status.OK, b"alive\n")
    assert heard == []
