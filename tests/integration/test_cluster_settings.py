"""Connection material is the worker's: a cluster run's hosts are resolved on the worker
where they run, with that machine's ssh_config and ``~`` (hostops.cluster.resolve)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from hostops.testing.dask_cluster import DAEMON_OFF, DaskCluster
from hostops.testing.fleet import SshdFleet
from hostops.testing.pytest_plugin import json_results, run_hostops

pytestmark = pytest.mark.integration

_SITE = "homesite"


def _worker_home(home: Path, fleet: SshdFleet) -> None:
    """A HOME whose ~/.ssh/config alone says how to log in to the hosts wk-*: the user,
    the port, a key and a known_hosts file under that HOME."""
    ssh = home / ".ssh"
    ssh.mkdir(parents=True, mode=0o700)
    shutil.copy(fleet.client_key, ssh / "worker_key")
    (ssh / "worker_key").chmod(0o600)
    shutil.copy(fleet.known_hosts, ssh / "worker_known_hosts")
    daemon = fleet.hosts[0]
    (ssh / "config").write_text(
        "Host wk-*\n"
        f"  User {fleet.user}\n"
        f"  Port {daemon.port}\n"
        "  IdentityFile ~/.ssh/worker_key\n"
        "  UserKnownHostsFile ~/.ssh/worker_known_hosts\n"
    )


def test_hosts_are_reached_as_the_workers_ssh_config_says(
    dask_cluster: DaskCluster, sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    worker_home, controller_home = tmp_path / "worker-home", tmp_path / "controller-home"
    _worker_home(worker_home, sshd_fleet)
    controller_home.mkdir()  # no ~/.ssh/config here: nothing says user, port or key
    address = sshd_fleet.hosts[0].address
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        "hosts:\n"
        + "".join(f"  wk-{i}:\n    address: {address}\n" for i in range(3))
        + f"groups:\n  here:\n    hosts: [wk-0, wk-1, wk-2]\n    vars: {{site: {_SITE}}}\n"
    )
    env = {**os.environ, "HOME": str(controller_home)}
    env.pop("SSH_AUTH_SOCK", None)
    argv = ["run", "echo $USER:$SSH_CONNECTION", "-i", str(inventory), "-n", "-o", "json"]
    argv += ["--no-record", "--connect-timeout", "5"]

    local = run_hostops(*argv, env=env)
    assert local.returncode != 0, local.stdout
    assert all(r["status"] != "ok" for r in json_results(local.stdout).values()), local.stdout

    dask_cluster.add_worker("w-home", [_SITE], env={**DAEMON_OFF, "HOME": str(worker_home)})
    try:
        on = run_hostops(
            *argv,
            "--cluster",
            dask_cluster.address,
            env={**env, **dask_cluster.certs.client_environment()},
        )
    finally:
        dask_cluster.workers.pop("w-home").stop()
    assert on.returncode == 0, on.stderr
    results = json_results(on.stdout)
    assert sorted(results) == ["wk-0", "wk-1", "wk-2"]
    for result in results.values():
        assert result["status"] == "ok"
        user, _, connection = result["stdout"].strip().partition(":")
        assert user == sshd_fleet.user
        assert connection.split()[-1] == str(sshd_fleet.hosts[0].port)  # the worker's Port


def test_a_key_missing_on_the_worker_is_exit_2_naming_the_worker_and_file(
    dask_cluster: DaskCluster, sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    worker_home = tmp_path / "worker-home"
    _worker_home(worker_home, sshd_fleet)
    (worker_home / ".ssh" / "worker_key").unlink()
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        f"hosts:\n  wk-0:\n    address: {sshd_fleet.hosts[0].address}\n"
        f"groups:\n  here:\n    hosts: [wk-0]\n    vars: {{site: {_SITE}}}\n"
    )
    dask_cluster.add_worker("w-home-nokey", [_SITE], env={**DAEMON_OFF, "HOME": str(worker_home)})
    try:
        r = run_hostops(
            *["run", "true", "-i", str(inventory), "-n", "--no-record"],
            *["--cluster", dask_cluster.address],
            env={**os.environ, **dask_cluster.certs.client_environment()},
        )
    finally:
        dask_cluster.workers.pop("w-home-nokey").stop()
    assert r.returncode == 2, r.stderr
    assert "cluster worker w-home-nokey" in r.stderr
    assert f"identity file {worker_home}/.ssh/worker_key: no such file" in r.stderr
