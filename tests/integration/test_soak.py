"""Soak: many consecutive runs in one Python process through the library call the CLI uses.

Every run accounts for every host, and open fds, threads, child processes and
memory stay flat between runs. Small in CI; on demand:
HOSTOPS_SOAK_RUNS=20 HOSTOPS_SOAK_HOSTS=200 pytest -m soak
"""

from __future__ import annotations

import os
import resource
import threading
from pathlib import Path

import pytest

from hostops import RunOptions, load_inventory, run
from hostops.testing.pytest_plugin import child_pids, temporary_fleet

RUNS = int(os.environ.get("HOSTOPS_SOAK_RUNS", "6"))
HOSTS = int(os.environ.get("HOSTOPS_SOAK_HOSTS", "30"))


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.soak
def test_consecutive_runs_leak_nothing(tmp_path: Path) -> None:
    with temporary_fleet(HOSTS, address_base=45) as fleet:
        hosts = load_inventory(fleet.write_inventory(tmp_path / "inv.yaml"))
        before = set(child_pids(os.getpid()))  # sshd daemons of this and other fleets
        samples = []
        for i in range(RUNS):
            report = run(hosts, "echo $((40 + 2))", options=RunOptions(workers=2, forks=HOSTS))
            assert [r.host for r in report.results] == [h.name for h in hosts]
            assert {r.status.value for r in report.results} == {"ok"}, f"run {i}"
            assert {r.stdout for r in report.results} == {b"42\n"}
            samples.append(
                (
                    len(os.listdir("/proc/self/fd")),
                    threading.active_count(),
                    len(set(child_pids(os.getpid())) - before),
                    _rss_kib(),
                )
            )
    fds, threads, children, rss = zip(*samples, strict=True)
    # After the first run (imports, caches), nothing grows with the number of runs.
    assert max(fds[1:]) <= fds[1] and max(threads) == 1 and max(children) == 0, samples
    assert rss[-1] - rss[1] < 20 * 1024, samples  # KiB: no growth beyond noise
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0
