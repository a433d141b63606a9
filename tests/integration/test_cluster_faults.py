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


def _broken_worker(cluster: DaskCluster, name: str, site: str, root: Path) -> None:
    """A worker whose shard processes cannot start: it runs in a directory holding a
    ``hostops`` package that fails to import, which ``python -m hostops.cluster.shard``
    (started there) finds first; the worker itself, its pre-flight included, is sound."""
    bad = root / name / "hostops"
    bad.mkdir(parents=True)
    (bad / "__init__.py").write_text("raise ImportError('a broken hostops')\n")
    cluster.add_worker(name, [site], prefix=["env", "-C", str(bad.parent)])


def _sited_inventory(path: Path, fleet: SshdFleet, sites: dict[str, int]) -> Path:
    """The fleet's first hosts, ``sites[S]`` of them in site S (in that order)."""
    text = fleet.inventory_text(fleet.hosts[: sum(sites.values())])
    groups, start = ["groups:"], 0
    for site, n in sites.items():
        names = ", ".join(h.name for h in fleet.hosts[start : start + n])
        groups += [f"  {site}:", f"    hosts: [{names}]", f"    vars: {{site: {site}}}"]
        start += n
    path.write_text(text.rstrip("\n") + "\n" + "\n".join(groups) + "\n")
    return path


def _run_then_stop(cluster: DaskCluster, inv: Path, workers: list[str]) -> tuple[int, str, str]:
    """``run 'echo ran'`` on ``inv`` through the cluster, then stop ``workers``."""
    try:
        p = start_hostops(
            *["run", "echo ran", "-i", str(inv), "-n", "-o", "json", "--no-record"],
            *["--cluster", cluster.address],
            env=env_of(cluster),
        )
        out, err = p.communicate(timeout=120)
    finally:
        for name in workers:
            cluster.workers.pop(name).stop()
    return p.returncode, out, err


def test_a_shard_that_never_connects_leaves_its_hosts_to_the_other_shards_of_its_site(
    dask_cluster: DaskCluster, sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    _broken_worker(dask_cluster, "w-nostart", "s-half", tmp_path)
    dask_cluster.add_worker("w-sound", ["s-half"])
    inv = _sited_inventory(tmp_path / "inv.yaml", sshd_fleet, {"s-half": 4})
    code, out, err = _run_then_stop(dask_cluster, inv, ["w-nostart", "w-sound"])
    assert code == 0, err
    results = json_results(out)
    assert len(results) == 4 and {r["status"] for r in results.values()} == {"ok"}, out
    assert "cluster worker w-nostart: its shard never connected" in err
    assert "exited with code 1" in err


def test_a_site_whose_shards_never_connect_ends_its_hosts_error_and_the_others_run(
    dask_cluster: DaskCluster, sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    _broken_worker(dask_cluster, "w-nostart-only", "s-dead", tmp_path)
    dask_cluster.add_worker("w-alive", ["s-alive"])
    inv = _sited_inventory(tmp_path / "inv.yaml", sshd_fleet, {"s-dead": 2, "s-alive": 2})
    code, out, err = _run_then_stop(dask_cluster, inv, ["w-nostart-only", "w-alive"])
    assert code == 1, err
    results = json_results(out)
    dead = [h.name for h in sshd_fleet.hosts[:2]]
    alive = [h.name for h in sshd_fleet.hosts[2:4]]
    assert sorted(results) == sorted(dead + alive)
    for name in alive:
        assert results[name]["status"] == "ok", out
    for name in dead:
        assert results[name]["status"] == "error", out
        error = results[name]["error"]
        assert error.startswith("site s-dead: its shards never connected"), error
        assert "cluster worker w-nostart-only" in error and "exited with code 1" in error
