"""The cluster's foundations against a real Dask cluster: ``dask scheduler`` and ``dask
worker`` processes on loopback with mutual TLS (hostops.testing.dask_cluster), driven
through ``hostops cluster`` and, for Dask's own behaviour, a Dask client."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client
from distributed.security import Security

from hostops.testing import LogTail, free_port
from hostops.testing.dask_cluster import DaskCluster
from hostops.testing.probes import start_child
from hostops.testing.pytest_plugin import run_hostops, wait_for
from hostops.testing.tls import make_cluster_certs

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskCluster]:
    """A TLS scheduler with two workers: w-dc1 serves site dc1, w-any no site. Both run
    with Dask's worker.daemon off (the README's command)."""
    root = Path(tempfile.mkdtemp(prefix="hostops-dask-"))
    try:
        with DaskCluster(root) as c:
            c.add_worker("w-dc1", ["dc1"])
            c.add_worker("w-any")
            yield c
    finally:
        shutil.rmtree(root, ignore_errors=True)


def client_env(cluster: DaskCluster, **extra: str) -> dict[str, str]:
    return {**os.environ, **cluster.certs.client_environment(), **extra}


def write_inventory(path: Path, key: Path, extra_host: str = "") -> Path:
    path.write_text(
        f"""defaults:
  identity_file: {key}
hosts:
  web01: {{address: 127.99.0.1}}
  web02: {{address: 127.99.0.2}}
  web03: {{address: 127.99.0.3}}
  db1: {{address: 127.99.0.11}}
  db2: {{address: 127.99.0.12}}
{extra_host}groups:
  web:
    hosts: [web01, web02, web03]
    vars: {{site: dc1}}
"""
    )
    return path


@pytest.fixture
def inv(tmp_path: Path) -> Path:
    """The inventory with a key file that exists (the pre-flight only checks that)."""
    key = tmp_path / "id_test"
    key.write_text("not read\n")
    return write_inventory(tmp_path / "inv.yaml", key)


def test_hostops_cluster_shows_the_workers_their_sites_and_the_split(
    cluster: DaskCluster, inv: Path
) -> None:
    r = run_hostops(
        "cluster", "--cluster", cluster.address, "-i", str(inv), env=client_env(cluster)
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["WORKER", "ADDRESS", "MACHINE", "SITES", "THREADS", "HOSTS"]
    workers = {line.split()[0]: line.split() for line in lines[1:3]}
    assert workers["w-dc1"][3:] == ["dc1", "2", "3"]
    assert workers["w-any"][3:] == ["-", "2", "2"]
    assert workers["w-any"][2] == socket.gethostname()  # reported by the worker itself
    shards = [line.split() for line in lines[4:-1]]
    assert shards == [
        ["SHARD", "SITE", "HOSTS"],
        ["w-any", "(any)", "2", "db[1-2]"],
        ["w-dc1", "dc1", "3", "web[01-03]"],
    ]
    assert lines[-1] == "5 hosts on 2 of 2 workers"


def test_hostops_cluster_takes_the_address_from_the_environment(
    cluster: DaskCluster, inv: Path
) -> None:
    env = client_env(cluster, HOSTOPS_CLUSTER=cluster.address)
    r = run_hostops("cluster", "-i", str(inv), "-l", "db*", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "2 hosts on 2 of 2 workers"  # balanced


def test_a_site_without_a_worker_is_exit_2_naming_it_and_its_hosts(
    cluster: DaskCluster, tmp_path: Path
) -> None:
    key = tmp_path / "id_test"
    key.write_text("x\n")
    inv = write_inventory(
        tmp_path / "inv.yaml", key, "  far01: {address: 127.99.0.9, vars: {site: dc9}}\n"
    )
    r = run_hostops(
        "cluster", "--cluster", cluster.address, "-i", str(inv), env=client_env(cluster)
    )
    assert r.returncode == 2
    assert r.stderr == (
        "hostops: error: site dc9: no cluster worker serves it (resource hostops-site-dc9),"
        " for hosts far01\n"
    )


def test_the_preflight_names_the_worker_and_the_missing_file(
    cluster: DaskCluster, tmp_path: Path
) -> None:
    missing = tmp_path / "no_such_key"
    inv = write_inventory(tmp_path / "inv.yaml", missing)
    r = run_hostops(
        "cluster",
        "--cluster",
        cluster.address,
        "-i",
        str(inv),
        "-l",
        "web*",
        env=client_env(cluster),
    )
    assert r.returncode == 2
    assert r.stderr == (
        f"hostops: error: cluster worker w-dc1 ({socket.gethostname()}):"
        f" identity file {missing}: no such file\n"
    )


def test_an_unreachable_scheduler_is_exit_2_naming_it_before_anything_runs(
    cluster: DaskCluster, tmp_path: Path
) -> None:
    inv = write_inventory(tmp_path / "inv.yaml", tmp_path / "k")
    address = f"tls://127.0.0.1:{free_port('127.0.0.1')}"
    env = client_env(cluster, DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="1s")
    r = run_hostops("cluster", "--cluster", address, "-i", str(inv), env=env)
    assert r.returncode == 2
    assert r.stderr.startswith(f"hostops: error: cluster {address}: cannot connect: ")
    assert r.stderr.count("\n") == 1


def test_a_client_certificate_of_another_ca_is_refused(
    cluster: DaskCluster, tmp_path: Path
) -> None:
    inv = write_inventory(tmp_path / "inv.yaml", tmp_path / "k")
    stranger = make_cluster_certs(tmp_path / "other", ca_name="another CA")
    env = client_env(
        cluster,
        DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT=str(stranger.client.cert),
        DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY=str(stranger.client.key),
    )
    r = run_hostops("cluster", "--cluster", cluster.address, "-i", str(inv), env=env)
    assert r.returncode == 2
    assert r.stderr.startswith(f"hostops: error: cluster {cluster.address}: cannot connect: ")
    assert r.stderr.count("\n") == 1
    assert cluster.scheduler is not None
    assert "certificate verify failed" in cluster.scheduler.log.read_text()


def test_a_tls_handshake_without_a_client_certificate_is_refused(cluster: DaskCluster) -> None:
    """Below Dask: a TLS client that trusts the CA but shows no certificate."""
    host, port = cluster.address.removeprefix("tls://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(cluster.certs.ca))
    context.check_hostname = False  # Dask's certificates name roles, not hosts
    assert cluster.scheduler is not None
    log = LogTail(cluster.scheduler.log)
    # The alert (TLS 1.3) or the closed connection (older Dask) comes after our half of
    # the handshake: the scheduler's log says why.
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        pytest.raises(ssl.SSLError, match=r"CERTIFICATE_REQUIRED|EOF occurred"),
        context.wrap_socket(raw) as tls,
    ):
        tls.sendall(b"x")
        tls.recv(1)
    assert wait_for(lambda: "PEER_DID_NOT_RETURN_A_CERTIFICATE" in log.new())


def test_tls_without_a_client_certificate_configured_is_exit_2_naming_the_settings(
    cluster: DaskCluster, tmp_path: Path
) -> None:
    inv = write_inventory(tmp_path / "inv.yaml", tmp_path / "k")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASK_")}
    r = run_hostops("cluster", "--cluster", cluster.address, "-i", str(inv), env=env)
    assert r.returncode == 2
    assert r.stderr == (
        f"hostops: error: cluster {cluster.address}: tls:// needs a client certificate and"
        " the cluster's CA: set DASK_DISTRIBUTED__COMM__TLS__CA_FILE,"
        " DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT (README, 'Cluster')\n"
    )


def test_secrets_are_refused_over_plain_tcp_before_connecting(tmp_path: Path) -> None:
    inv = write_inventory(tmp_path / "inv.yaml", tmp_path / "k")
    r = run_hostops(
        "cluster",
        "--cluster",
        "tcp://127.0.0.1:1",
        "-i",
        str(inv),
        "--ask-pass",
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 2
    assert r.stderr == (
        "hostops: error: --ask-pass: secrets are never sent over a plain tcp:// cluster"
        " (tcp://127.0.0.1:1): use a tls:// one\n"
    )


def test_a_worker_with_daemon_off_starts_multiprocessing_children(
    cluster: DaskCluster,
) -> None:
    """Under Dask's nanny a worker is a daemonic process, which multiprocessing forbids
    to have children; ``DASK_DISTRIBUTED__WORKER__DAEMON=False`` (or ``--no-nanny``)
    lifts that. Proven on both kinds, and the default refusing."""
    cluster.add_worker("w-daemonic", env={})
    cluster.add_worker("w-no-nanny", nanny=False, env={})
    security = Security(
        tls_ca_file=str(cluster.certs.ca),
        tls_client_cert=str(cluster.certs.client.cert),
        tls_client_key=str(cluster.certs.client.key),
        require_encryption=True,
    )
    with Client(cluster.address, security=security, timeout=30, set_as_default=False) as client:
        by_name = {w["name"]: a for a, w in client.scheduler_info()["workers"].items()}
        probes = {
            name: client.submit(start_child, workers=[by_name[name]], pure=False, retries=0).result(
                timeout=60
            )
            for name in ("w-any", "w-no-nanny", "w-daemonic")
        }
    try:
        assert probes["w-any"].daemonic is False and probes["w-any"].exitcode == 0
        assert probes["w-no-nanny"].daemonic is False and probes["w-no-nanny"].exitcode == 0
        assert probes["w-daemonic"].daemonic is True
        assert probes["w-daemonic"].error == "daemonic processes are not allowed to have children"
    finally:
        for name in ("w-daemonic", "w-no-nanny"):
            cluster.workers.pop(name).stop()


def test_no_cluster_given_is_exit_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HOSTOPS_CLUSTER"}
    r = run_hostops("cluster", "-H", "web01", env=env)
    assert (r.returncode, r.stderr) == (
        2,
        "hostops: error: no cluster: give --cluster ADDRESS (or set HOSTOPS_CLUSTER)\n",
    )
