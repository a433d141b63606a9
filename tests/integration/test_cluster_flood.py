"""A host printing 100 MB through the cluster path while nobody reads hostops's stdout:
the memory of the controller, the scheduler and the worker (its shard processes
included) stays bounded (credit-based flow control at every hop), and once read, every
byte arrived in order, the other hosts' output whole."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from hostops.testing.dask_cluster import DaskCluster
from hostops.testing.fleet import SshdFleet
from hostops.testing.pytest_plugin import (
    blocked_writing_to_a_pipe,
    child_pids,
    process_name,
    pss_kib,
    start_hostops,
    wait_for,
)

pytestmark = pytest.mark.integration

_LINE = "0123456789" * 9 + "abcdefghi"  # 99 characters and a newline: 100 bytes
_LINES = 1_000_000  # 100 MB


@pytest.fixture
def cluster(dask_cluster: DaskCluster) -> DaskCluster:
    return dask_cluster


def _tree(pid: int) -> list[int]:
    found = [pid]
    for child in child_pids(pid):
        found += _tree(child)
    return found


def test_a_100_mb_flood_through_the_cluster_keeps_every_hop_bounded(
    cluster: DaskCluster, sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    hosts = sshd_fleet.hosts[:5]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    flooder = hosts[0].address
    flood = f"yes {_LINE} | head -n {_LINES}"
    command = f"case \"$SSH_CONNECTION\" in *' {flooder} '*) {flood};; esac; echo fine"
    assert cluster.scheduler is not None and cluster.scheduler.process is not None
    scheduler = cluster.scheduler.process.pid
    workers = [w.process.pid for w in cluster.workers.values() if w.process is not None]
    p = start_hostops(
        "run",
        command,
        "-i",
        str(inv),
        "-n",
        "--no-record",
        "--cluster",
        cluster.address,
        env={**os.environ, **cluster.certs.client_environment()},
    )
    try:

        def aggregator() -> int | None:
            found = [c for c in child_pids(p.pid) if process_name(c) == "hostops-aggr"]
            return found[0] if found else None

        assert wait_for(lambda: aggregator() is not None, timeout=60)
        aggr = aggregator()
        assert aggr is not None
        # Nobody reads stdout: the aggregator blocks on the full pipe, and so must every hop.
        assert wait_for(lambda: blocked_writing_to_a_pipe(aggr), timeout=60)
        hops = {
            "controller": lambda: pss_kib(_tree(p.pid)),
            "scheduler": lambda: pss_kib(_tree(scheduler)),
            "workers": lambda: pss_kib([q for w in workers for q in _tree(w)]),
        }
        before = {hop: measure() for hop, measure in hops.items()}
        time.sleep(4)  # the measured span, not a wait for something
        after = {hop: measure() for hop, measure in hops.items()}
        out, err = p.communicate(timeout=300)  # now read it all
    finally:
        if p.poll() is None:
            p.kill()
    print({hop: (before[hop] // 1024, after[hop] // 1024) for hop in hops}, "MiB")
    for hop in hops:
        grown = after[hop] - before[hop]
        assert grown < 32 * 1024, f"{hop} grew {grown // 1024} MiB in 4 s while blocked"
    assert after["controller"] < 400 * 1024, after
    assert p.returncode == 0, err
    lines = out.splitlines()
    assert sum(1 for line in lines if line.endswith("| fine")) == len(hosts)
    name = hosts[0].name
    flooded = [line for line in lines if line.startswith(f"{name} ") and "fine" not in line]
    assert len(flooded) == _LINES
    assert set(flooded) == {f"{name} | {_LINE}"}
