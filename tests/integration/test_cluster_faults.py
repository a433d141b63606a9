"""Faults through a real Dask cluster (hostops.testing.dask_cluster): a second Ctrl-C,
and a site losing its last worker mid-run."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from hostops.testing.dask_cluster import DaskCluster
from hostops.testing.fleet import SshdFleet
from hostops.testing.pytest_plugin import (
    json_results,
    sleep_pids,
    sleep_tag,
    start_hostops,
    wait_for,
)

pytestmark = pytest.mark.integration


def env_of(cluster: DaskCluster) -> dict[str, str]:
    return {**os.environ, **cluster.certs.client_environment()}


def test_a_second_ctrl_c_through_the_cluster_stops_at_once_with_every_host_reported(
    dask_cluster: DaskCluster, sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    """The remote commands ignore TERM (the first Ctrl-C's polite stop): only the second
    Ctrl-C ends the run, exit 130, every host in the JSON and in the run record."""
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:6])
    tag = sleep_tag(300)
    state = tmp_path / "state"
    p = start_hostops(
        "run", f"trap '' TERM; sleep {tag}", "-i", str(inv), "-n", "-o", "json",
        "--cluster", dask_cluster.address,
        env={**env_of(dask_cluster), "XDG_STATE_HOME": str(state)},
        start_new_session=True,
    )  # fmt: skip
    try:
        assert wait_for(lambda: len(sleep_pids(tag)) == 6, timeout=60)
        os.killpg(p.pid, signal.SIGINT)
        assert wait_for(lambda: p.poll() is None, timeout=1)  # the first: still waiting
        os.killpg(p.pid, signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err
    results = json_results(out)
    assert len(results) == 6
    assert {r["status"] for r in results.values()} == {"interrupted"}, err
    records = list((state / "hostops" / "runs").glob("*.jsonl"))
    assert records, list(state.rglob("*"))
    text = "\n".join(f.read_text() for f in records)
    assert all(name in text for name in results)
    assert wait_for(lambda: not sleep_pids(tag), timeout=30), "remote commands survived"


def test_a_site_losing_its_last_worker_mid_run_fails_its_waiting_hosts_at_once(
    dask_cluster: DaskCluster, sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    """Four hosts of site 'lone', served by one worker only, one at a time (--forks 1):
    the worker is SIGKILLed while the first runs; it ends 'cluster worker w-lone lost',
    the three never started end 'site lone: no worker left', exit 1, no hang."""
    lone = dask_cluster.add_worker("w-lone", ["lone"])
    text = sshd_fleet.inventory_text(sshd_fleet.hosts[:4])
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        "\n".join(
            line + ("\n    vars: {site: lone}" if line.startswith("    port:") else "")
            for line in text.splitlines()
        )
        + "\n"
    )
    markers = tmp_path / "markers"
    markers.mkdir()
    p = start_hostops(
        "run", f"touch {markers}/m-$$; sleep 30", "-i", str(inv), "-n", "-o", "json",
        "--forks", "1", "--no-record", "--cluster", dask_cluster.address,
        env=env_of(dask_cluster),
    )  # fmt: skip
    try:
        assert wait_for(lambda: any(markers.iterdir()), timeout=60)
        lone.stop(signal.SIGKILL)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 1, err
    results = json_results(out)
    errors = sorted(r["error"] for r in results.values())
    assert errors == ["cluster worker w-lone lost"] + ["site lone: no worker left"] * 3, err
    assert len(list(markers.iterdir())) == 1
