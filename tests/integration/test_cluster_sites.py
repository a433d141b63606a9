"""Sites proven by isolation: two network namespaces, each with one site's sshd hosts and
that site's Dask worker; the controller and the scheduler are outside and cannot reach
the hosts (hostops.testing.netns). Needs root, as CI has."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from distributed import Client
from distributed.security import Security

from hostops.testing.dask_cluster import DaskCluster
from hostops.testing.netns import IsolatedSites
from hostops.testing.probes import ssh_banner
from hostops.testing.pytest_plugin import json_results, run_hostops

pytestmark = pytest.mark.integration


@dataclass
class Sites:
    sites: IsolatedSites
    cluster: DaskCluster
    inventory: Path


def _inventory(path: Path, sites: IsolatedSites) -> Path:
    lines = ["hosts:"]
    groups = ["groups:"]
    for site in sites.started:
        fleet = site.fleet
        for host in fleet.hosts:
            lines += [
                f"  {host.name}:",
                f"    address: {host.address}",
                f"    port: {host.port}",
                f"    user: {fleet.user}",
                f"    identity_file: {fleet.client_key}",
                f"    known_hosts: {fleet.known_hosts}",
            ]
        groups += [
            f"  {site.name}:",
            f"    hosts: [{', '.join(h.name for h in fleet.hosts)}]",
            f"    vars: {{site: {site.name}}}",
        ]
    path.write_text("\n".join(lines + groups) + "\n")
    return path


@pytest.fixture(scope="module")
def isolated() -> Iterator[Sites]:
    root = Path(tempfile.mkdtemp(prefix="hostops-sites-"))
    root.chmod(0o755)  # sshd reads authorized_keys as the user logging in
    try:
        with (
            IsolatedSites(root / "sites", {"dc1": 2, "dc2": 2}) as sites,
            DaskCluster(root / "dask", host=sites.bridge_address) as cluster,
        ):
            for site in sites.started:
                cluster.add_worker(
                    f"w-{site.name}", [site.name], host=site.worker_address, prefix=site.prefix
                )
            yield Sites(sites, cluster, _inventory(root / "inv.yaml", sites))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_controller_cannot_reach_the_sites_hosts(isolated: Sites) -> None:
    r = run_hostops("run", "true", "-i", str(isolated.inventory), "-o", "json", "--forks", "4")
    assert r.returncode == 3, r.stderr
    results = json_results(r.stdout)
    assert sorted(results) == ["dc1-01", "dc1-02", "dc2-01", "dc2-02"]
    assert {res["status"] for res in results.values()} == {"unreachable"}


def test_each_sites_worker_reaches_its_own_hosts_only(isolated: Sites) -> None:
    certs = isolated.cluster.certs
    security = Security(
        tls_ca_file=str(certs.ca),
        tls_client_cert=str(certs.client.cert),
        tls_client_key=str(certs.client.key),
        require_encryption=True,
    )
    with Client(
        isolated.cluster.address, security=security, timeout=30, set_as_default=False
    ) as client:
        by_name = {w["name"]: a for a, w in client.scheduler_info()["workers"].items()}
        seen = {}
        for worker in ("w-dc1", "w-dc2"):
            for site in isolated.sites.started:
                for host in site.fleet.hosts:
                    seen[(worker, host.name)] = client.submit(
                        ssh_banner,
                        host.address,
                        host.port,
                        workers=[by_name[worker]],
                        pure=False,
                        retries=0,
                    ).result(timeout=60)
    for (worker, host), banner in seen.items():
        if worker[2:] == host[:3]:  # w-dc1 and dc1-01: same site
            assert banner.startswith("SSH-2.0-OpenSSH"), (worker, host, banner)
        else:
            assert banner == "error: Network is unreachable", (worker, host, banner)


def test_hostops_cluster_splits_the_hosts_by_site(isolated: Sites) -> None:
    env = isolated.cluster.certs.client_environment()
    r = run_hostops(
        "cluster",
        "--cluster",
        isolated.cluster.address,
        "-i",
        str(isolated.inventory),
        env={**os.environ, **env},
    )
    assert r.returncode == 0, r.stderr
    shards = [line.split() for line in r.stdout.splitlines() if line.startswith("w-")]
    assert ["w-dc1", "dc1", "2", "dc1-[01-02]"] in shards
    assert ["w-dc2", "dc2", "2", "dc2-[01-02]"] in shards


def test_with_the_cluster_every_host_of_both_sites_is_ok(isolated: Sites) -> None:
    """The same run the controller cannot make itself (see the first test), through the
    sites' workers: each host is run by its own site's worker."""
    env = isolated.cluster.certs.client_environment()
    r = run_hostops(
        "run",
        "echo from-$(echo $SSH_CONNECTION | cut -d' ' -f3)",
        "-i",
        str(isolated.inventory),
        "-n",
        "-o",
        "json",
        "--cluster",
        isolated.cluster.address,
        env={**os.environ, **env},
    )
    assert r.returncode == 0, r.stderr
    results = json_results(r.stdout)
    assert sorted(results) == ["dc1-01", "dc1-02", "dc2-01", "dc2-02"]
    assert {res["status"] for res in results.values()} == {"ok"}
    for site in isolated.sites.started:
        for host in site.fleet.hosts:
            assert results[host.name]["stdout"] == f"from-{host.address}\n"
