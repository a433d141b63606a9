"""The engine has the shape the design fixes: W worker processes and one aggregator for
the main process; SSH sockets live in the workers, never in the main process; known_hosts
and keys are parsed at most once per worker. The command line's workers are children of
its early process (hostops.keeper.early); a library caller's, of the caller."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from hostops import RunOptions, load_inventory, run
from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import (
    child_pids,
    descendant_pids,
    process_name,
    start_hostops,
    wait_for,
)


def _tcp_peers() -> dict[int, tuple[str, int]]:
    """socket inode -> remote (address, port) of every established IPv4 TCP socket."""
    peers = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] != "01":  # ESTABLISHED
            continue
        addr_hex, port_hex = fields[2].split(":")
        addr = ".".join(str(b) for b in reversed(bytes.fromhex(addr_hex)))
        peers[int(fields[9])] = (addr, int(port_hex, 16))
    return peers


def _ssh_sockets(pid: int, fleet_ends: set[tuple[str, int]]) -> int:
    peers = _tcp_peers()
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and peers.get(int(target[8:-1])) in fleet_ends:
            count += 1
    return count


def test_workers_and_aggregator_own_the_work(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    hosts = sshd_fleet.hosts[:20]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    ends = {(h.address, h.port) for h in hosts}
    proc = start_hostops(
        "run",
        "sleep 4",
        "--hosts",
        str(inv),
        "--workers",
        "2",
        "--forks",
        "20",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        best: dict[int, int] = {}
        comm: dict[int, str] = {}

        def all_connected() -> bool:
            nonlocal best, comm
            comm = {k: process_name(k) for k in descendant_pids(proc.pid)}
            best = {
                k: _ssh_sockets(k, ends) for k, name in comm.items() if name.startswith("hostops-")
            }
            return sum(best.values()) >= 20

        wait_for(all_connected, timeout=30)  # what it saw is checked below
        names = sorted(comm[k] for k in best)
        children = sorted(process_name(k) for k in child_pids(proc.pid))
        (early,) = (k for k in child_pids(proc.pid) if comm.get(k) == "hostops-early")
        under_early = sorted(process_name(k) for k in child_pids(early))
        main_sockets = _ssh_sockets(proc.pid, ends)
    finally:
        assert proc.wait(timeout=60) == 0
    # Nothing of the run outlives it: the early process and its workers end with it.
    assert wait_for(lambda: all(process_name(k) == "" for k in comm), timeout=20)
    assert names == ["hostops-aggr", "hostops-early", "hostops-worker", "hostops-worker"]
    assert sorted(comm.values()) == names  # and no other process
    assert children == ["hostops-aggr", "hostops-early"]
    assert under_early == ["hostops-worker", "hostops-worker"]
    assert best[early] == 0  # it only forks them
    assert sum(best.values()) == 20, best
    workers_with_sockets = [k for k, n in best.items() if n]
    assert len(workers_with_sockets) >= 2
    assert all(comm[k] == "hostops-worker" for k in workers_with_sockets)
    assert main_sockets == 0


def test_known_hosts_and_keys_parsed_at_most_once_per_worker(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:40])
    hosts = load_inventory(inv)
    # The inventory's known_hosts, and the global ones OpenSSH also reads.
    files = {hosts[0].known_hosts, *hosts[0].ssh.global_known_hosts}
    assert len(files) == 3
    report = run(hosts, "true", options=RunOptions(workers=2, forks=40))
    assert {r.status.value for r in report.results} == {"ok"}
    assert len(report.workers) == 2
    assert sum(w.hosts for w in report.workers) == 40
    for w in report.workers:
        assert w.hosts > 0
        assert w.known_hosts_loads == len(files)  # each file once per worker
        assert w.key_loads == 1  # one identity file
