"""Jump hosts (ProxyJump) through real sshd bastions at LogLevel DEBUG, whose logs prove
that every target was reached through them and that each worker logged in only once."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from held import held, release, started

from hostops import load_inventory
from hostops.host.client import HostClient
from hostops.models import Status
from hostops.testing import FleetHost, LogTail, SshdFleet
from hostops.testing.fleet import free_port
from hostops.testing.pytest_plugin import (
    json_results,
    run_hostops,
    start_hostops,
    temporary_fleet,
    wait_for,
)

_OPEN = re.compile(r"server_request_direct_tcpip: originator \S+ port \d+, target (\S+) port (\d+)")


@pytest.fixture(scope="module")
def bastions() -> Iterator[SshdFleet]:
    with temporary_fleet(2, extra_config=("LogLevel DEBUG",), address_base=48) as fleet:
        yield fleet


class _Log(LogTail):
    def __init__(self, host: FleetHost) -> None:
        super().__init__(host.log)

    def opened(self) -> list[tuple[str, int]]:
        """The (address, port) of every forwarded connection the bastion opened since."""
        return [(a, int(p)) for a, p in _OPEN.findall(self.new())]


def _hop(h: FleetHost) -> str:
    return f"root@{h.address}:{h.port}"


def _setup(
    fleet: SshdFleet, bastions: SshdFleet, tmp_path: Path, n: int, known: bool = True
) -> tuple[list[FleetHost], Path]:
    """An inventory of n fleet targets; known_hosts with the targets (and the bastions)."""
    hosts = fleet.hosts[:n]
    kh = tmp_path / "known_hosts"
    kh.write_text(
        fleet.known_hosts.read_text() + (bastions.known_hosts.read_text() if known else "")
    )
    inv = fleet.write_inventory(tmp_path / "inv.yaml", hosts, known_hosts=kh)
    # The bastions authorize the fleet's key too (a copy of their own authorized_keys).
    keys = bastions.authorized_keys.read_text()
    if fleet.client_key.with_suffix(".pub").read_text() not in keys:
        with open(bastions.authorized_keys, "a") as f:
            f.write(Path(f"{fleet.client_key}.pub").read_text())
    return hosts, inv


def test_inventory_jump_one_bastion_login_per_worker(
    sshd_fleet: SshdFleet, bastions: SshdFleet, tmp_path: Path
) -> None:
    hosts, inv = _setup(sshd_fleet, bastions, tmp_path, 8)
    b = bastions.hosts[0]
    inv.write_text(inv.read_text().replace("defaults:\n", f"defaults:\n  jump: {_hop(b)}\n"))
    log = _Log(b)
    r = run_hostops("run", "echo hi", "--hosts", str(inv), "--workers", "2", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert {o["status"] for o in json_results(r.stdout).values()} == {"ok"}
    assert log.logins() == 2  # one per worker, not one per target
    assert sorted(log.opened()) == sorted((h.address, h.port) for h in hosts)


def test_jump_flag_with_a_chain_of_two(
    sshd_fleet: SshdFleet, bastions: SshdFleet, tmp_path: Path
) -> None:
    """-J a,b: to a, through a to b, through b to each target."""
    hosts, inv = _setup(sshd_fleet, bastions, tmp_path, 6)
    a, b = bastions.hosts
    log_a, log_b = _Log(a), _Log(b)
    r = run_hostops(
        "run", "echo hi", "--hosts", str(inv), "--workers", "2", "--jump", f"{_hop(a)},{_hop(b)}"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("| hi") == 6
    assert log_a.logins() == 2 and log_a.opened() == [(b.address, b.port)] * 2
    assert log_b.logins() == 2
    assert sorted(log_b.opened()) == sorted((h.address, h.port) for h in hosts)


def test_proxyjump_from_ssh_config_and_an_inventory_host_as_jump(
    sshd_fleet: SshdFleet, bastions: SshdFleet, tmp_path: Path
) -> None:
    hosts, inv = _setup(sshd_fleet, bastions, tmp_path, 3)
    b = bastions.hosts[0]
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host gate\n  HostName {b.address}\n  Port {b.port}\n  User root\n"
        "Host host*\n  ProxyJump gate\n"
    )
    log = _Log(b)
    r = run_hostops("run", "echo hi", "--hosts", str(inv), "--ssh-config", str(config))
    assert r.returncode == 0, r.stderr
    assert sorted(log.opened()) == sorted((h.address, h.port) for h in hosts)
    shown = run_hostops("inventory", "--hosts", str(inv), "--ssh-config", str(config))
    assert shown.stdout.count(" gate ") == 3
    # The bastion as a host of the inventory: its address and port come from there.
    text = inv.read_text() + f"  gate:\n    address: {b.address}\n    port: {b.port}\n"
    inv.write_text(text.replace("defaults:\n", "defaults:\n  jump: gate\n"))
    log = _Log(b)
    r = run_hostops("run", "echo hi", "--hosts", str(inv), "--no-ssh-config")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("| hi") == 4  # gate itself is reached directly, not through itself
    assert sorted(log.opened()) == sorted((h.address, h.port) for h in hosts)


def test_the_bastion_host_key_is_checked(
    sshd_fleet: SshdFleet, bastions: SshdFleet, tmp_path: Path
) -> None:
    _, inv = _setup(sshd_fleet, bastions, tmp_path, 4, known=False)
    b = bastions.hosts[0]
    r = run_hostops(
        "run", "echo hi", "--hosts", str(inv), "--jump", _hop(b), "--workers", "2", "-o", "json"
    )
    assert r.returncode == 3
    for obj in json_results(r.stdout).values():
        assert obj["status"] == "hostkey_rejected"
        assert obj["error"].startswith(
            f"jump host {_hop(b)}: unknown host key for [{b.address}]:{b.port}"
        )
    kh = tmp_path / "known_hosts"
    before = kh.read_text()
    r = run_hostops(
        "run",
        "echo hi",
        "--hosts",
        str(inv),
        "--jump",
        _hop(b),
        "--workers",
        "2",
        "--host-key-policy",
        "accept-new",
        "--no-ssh-config",  # plain lines whatever the machine's HashKnownHosts
    )
    assert r.returncode == 0, r.stderr
    added = kh.read_text()[len(before) :].splitlines()
    assert added == [f"{b.known_hosts_pattern} {b.host_key_line}"]  # once, from two workers


def test_unreachable_bastion_and_target_behind_it(
    sshd_fleet: SshdFleet, bastions: SshdFleet, tmp_path: Path
) -> None:
    hosts, inv = _setup(sshd_fleet, bastions, tmp_path, 2)
    closed = free_port("127.48.250.1")
    r = run_hostops(
        "run", "true", "--hosts", str(inv), "--jump", f"root@127.48.250.1:{closed}", "-o", "json"
    )
    assert r.returncode == 3
    for obj in json_results(r.stdout).values():
        assert obj["status"] == "unreachable"
        assert obj["error"] == (
            f"jump host root@127.48.250.1:{closed}: connect to 127.48.250.1:{closed}: Connection refused"
        )
    b = bastions.hosts[0]
    inv = sshd_fleet.write_inventory(
        tmp_path / "inv2.yaml",
        hosts[:1],
        known_hosts=tmp_path / "known_hosts",
        extra={"closed": ("127.48.250.1", closed)},
    )
    r = run_hostops("run", "true", "--hosts", str(inv), "--jump", _hop(b), "-o", "json")
    res = json_results(r.stdout)
    assert res[hosts[0].name]["status"] == "ok"
    assert res["closed"]["status"] == "unreachable"
    assert res["closed"]["error"].startswith(
        f"connect to 127.48.250.1:{closed} through the jump host: "
    )


def test_a_dead_bastion_connection_is_made_again(
    sshd_fleet: SshdFleet, bastions: SshdFleet, tmp_path: Path
) -> None:
    """One worker, one host at a time: the bastion's session process is killed while the
    first target runs; that target is lost, the next ones log in to the bastion again."""
    hosts, inv = _setup(sshd_fleet, bastions, tmp_path, 3)
    b = bastions.hosts[0]
    log = _Log(b)
    hold = tmp_path / "hold"
    hold.mkdir()
    proc = start_hostops(
        "run",
        f"{held(hold)}; echo hi",
        "--hosts",
        str(inv),
        "--jump",
        _hop(b),
        "--workers",
        "1",
        "--forks",
        "1",
        "-o",
        "json",
    )
    try:
        assert wait_for(lambda: started(hold) == 1)  # the first target's command runs
        assert subprocess.run(["pkill", "-KILL", "-P", str(b.pid)], check=False).returncode == 0
    finally:
        release(hold)  # the next targets' commands end at once
    out, err = proc.communicate(timeout=120)
    res = json_results(out)
    assert res[hosts[0].name]["status"] == "error", err
    assert [res[h.name]["status"] for h in hosts[1:]] == ["ok", "ok"], err
    assert log.logins() == 2


def test_a_target_behind_a_jump_host_tells_its_first_answer_once(
    sshd_fleet: SshdFleet, bastions: SshdFleet, tmp_path: Path
) -> None:
    """Timed from the tunnel's request, so the bastion's round trip counts; the bastion's
    own login tells nothing (hostops.host.ssh.distance)."""
    _hosts, inv = _setup(sshd_fleet, bastions, tmp_path, 1)
    inv.write_text(
        inv.read_text().replace("defaults:\n", f"defaults:\n  jump: {_hop(bastions.hosts[0])}\n")
    )
    (host,) = load_inventory(inv)
    heard: list[float] = []
    with HostClient(host, heard=heard.append) as client:
        outcome, out, _ = client.run("echo through")
    assert (outcome.status, out) == (Status.OK, b"through\n")
    assert len(heard) == 1 and heard[0] >= 0.0
