"""Runs on a real Dask cluster (``dask scheduler`` + two ``dask worker`` processes with
mutual TLS, hostops.testing.dask_cluster) against the real sshd fleet: the output, exit
codes, streaming, a lost worker and Ctrl-C, as a local run has them."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from held import held, release
from interleave_check import REMOTE, check_whole_lines

from hostops.testing.dask_cluster import DaskCluster
from hostops.testing.fleet import SshdFleet
from hostops.testing.pytest_plugin import (
    json_results,
    run_hostops,
    sleep_pids,
    sleep_tag,
    start_hostops,
    wait_for,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster(dask_cluster: DaskCluster) -> DaskCluster:
    return dask_cluster


def env_of(cluster: DaskCluster) -> dict[str, str]:
    return {**os.environ, **cluster.certs.client_environment()}


@pytest.fixture
def inv10(sshd_fleet: SshdFleet, tmp_path: Path) -> Path:
    return sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:10])


def _sorted_lines(text: str) -> list[str]:
    return sorted(line for line in text.splitlines() if line.strip())


def test_a_run_through_two_workers_prints_what_a_local_run_prints(
    cluster: DaskCluster, inv10: Path
) -> None:
    command = "echo out-$(hostname -s 2>/dev/null || echo x); echo err >&2; exit 3"
    local = run_hostops("run", command, "-i", str(inv10), "-n", "--no-record")
    on = run_hostops(
        "run",
        command,
        "-i",
        str(inv10),
        "-n",
        "--no-record",
        "--cluster",
        cluster.address,
        env=env_of(cluster),
    )
    assert local.returncode == 1, local.stderr
    assert on.returncode == local.returncode, on.stderr
    assert _sorted_lines(on.stdout) == _sorted_lines(local.stdout)
    assert len(_sorted_lines(on.stdout)) == 10
    errors = [line for line in _sorted_lines(on.stderr) if " ! " in line]
    assert errors == [line for line in _sorted_lines(local.stderr) if " ! " in line]
    assert len(errors) == 10
    assert "10 hosts" in on.stderr and "failed" in on.stderr


def test_json_says_which_hosts_ran_and_the_record_is_complete(
    cluster: DaskCluster, inv10: Path, tmp_path: Path
) -> None:
    r = run_hostops(
        "run",
        "true",
        "-i",
        str(inv10),
        "-n",
        "-o",
        "json",
        "--cluster",
        cluster.address,
        env={**env_of(cluster), "HOSTOPS_STATE_DIR": str(tmp_path / "state")},
    )
    assert r.returncode == 0, r.stderr
    results = json_results(r.stdout)
    assert len(results) == 10
    assert {res["status"] for res in results.values()} == {"ok"}


def test_output_streams_through_the_cluster_as_it_comes(
    cluster: DaskCluster, sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    """The host prints a line, then waits for a file that the test writes only once it
    saw that line on hostops's stdout: a run that held output until a shard ended hangs."""
    inv = sshd_fleet.write_inventory(tmp_path / "inv1.yaml", sshd_fleet.hosts[:1])
    gate = tmp_path / "gate"
    command = f"echo first-line; while [ ! -e {gate} ]; do sleep 0.05; done; echo second-line"
    p = start_hostops(
        "run",
        command,
        "-i",
        str(inv),
        "-n",
        "--no-record",
        "--cluster",
        cluster.address,
        env=env_of(cluster),
    )
    try:
        assert p.stdout is not None
        line = p.stdout.readline()
        assert "first-line" in line, line
        gate.touch()
        rest = p.stdout.read()
        assert "second-line" in rest
        assert p.wait(timeout=60) == 0
    finally:
        if p.poll() is None:
            p.kill()


def test_persist_and_forwarded_stdin_are_refused_in_one_line(
    cluster: DaskCluster, inv10: Path
) -> None:
    r = run_hostops(
        "run",
        "true",
        "-i",
        str(inv10),
        "--persist",
        "5m",
        "--cluster",
        cluster.address,
        env=env_of(cluster),
    )
    assert r.returncode == 2
    assert "--persist cannot be used with --cluster" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run_hostops(
        "run",
        "cat",
        "-i",
        str(inv10),
        "--cluster",
        cluster.address,
        "--no-persist",
        env=env_of(cluster),
        input="data\n",
    )
    assert r.returncode == 2
    assert "standard input is not forwarded over --cluster" in r.stderr


def test_ctrl_c_kills_every_shards_remote_commands_and_exits_130(
    cluster: DaskCluster, inv10: Path
) -> None:
    tag = sleep_tag(300)
    p = start_hostops(
        "run",
        f"echo before; sleep {tag}",
        "-i",
        str(inv10),
        "-n",
        "-o",
        "json",
        "--no-record",
        "--cluster",
        cluster.address,
        env=env_of(cluster),
        start_new_session=True,
    )
    try:
        assert wait_for(lambda: len(sleep_pids(tag)) == 10, timeout=60)
        os.killpg(p.pid, signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err
    results = json_results(out)
    assert len(results) == 10
    assert {r["status"] for r in results.values()} == {"interrupted"}, err
    assert wait_for(lambda: not sleep_pids(tag), timeout=15), "remote commands survived Ctrl-C"


def test_a_worker_killed_mid_run_errors_its_hosts_and_no_host_runs_twice(
    cluster: DaskCluster, inv10: Path, tmp_path: Path
) -> None:
    """A worker that only this test uses is SIGKILLed (nanny, worker and its shard
    processes) once six hosts started: its running hosts end error, the hosts not
    started yet run on the other workers' shards, and every remote command leaves a
    marker file: one per host, never two."""
    doomed = cluster.add_worker("w-doomed")
    markers, hold = tmp_path / "markers", tmp_path / "hold"
    for directory in (markers, hold):
        directory.mkdir()
        directory.chmod(0o777)
    where = "$(echo $SSH_CONNECTION | cut -d' ' -f3)"
    command = f"touch {markers}/m-{where}-$$; {held(hold)}"
    p = start_hostops(
        "run",
        command,
        "-i",
        str(inv10),
        "-n",
        "-o",
        "json",
        "--forks",
        "6",
        "--cluster",
        cluster.address,
        env=env_of(cluster),
    )
    try:
        assert wait_for(lambda: len(list(markers.iterdir())) >= 6, timeout=60)
        doomed.stop(signal.SIGKILL)
        release(hold)
        out, err = p.communicate(timeout=90)
    finally:
        release(hold)
        if p.poll() is None:
            p.kill()
    assert p.returncode == 1, err
    results = json_results(out)
    assert len(results) == 10
    lost = {h for h, r in results.items() if r["status"] == "error"}
    assert lost, err
    assert {results[h]["error"] for h in lost} == {"cluster worker w-doomed lost"}
    assert all(r["status"] == "ok" for h, r in results.items() if h not in lost), err
    per_host = Counter(m.name.split("-")[1] for m in markers.iterdir())
    assert len(per_host) == 10 and set(per_host.values()) == {1}, per_host


def test_a_playbook_runs_on_the_cluster(cluster: DaskCluster, inv10: Path, tmp_path: Path) -> None:
    book = tmp_path / "book.yaml"
    book.write_text(
        "- hosts: all\n  tasks:\n"
        "    - name: first\n      run: echo one\n"
        "    - name: second\n      run: echo two-$((1 + 1))\n"
    )
    local = run_hostops("play", str(book), "-i", str(inv10), "--no-record")
    on = run_hostops(
        "play",
        str(book),
        "-i",
        str(inv10),
        "--no-record",
        "--cluster",
        cluster.address,
        env=env_of(cluster),
    )
    assert local.returncode == 0, local.stderr
    assert on.returncode == 0, on.stderr
    assert _sorted_lines(on.stdout) == _sorted_lines(local.stdout)
    assert sum("two-2" in line for line in on.stdout.splitlines()) == 10


def test_no_line_is_split_or_mixed_through_two_workers(
    cluster: DaskCluster, sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    """The hard interleave test (test_interleave.py) through the cluster path: ten hosts
    on the shards of two workers, 2,000 lines each, stdout and stderr in one pipe."""
    hosts = sshd_fleet.hosts[:10]
    inv = sshd_fleet.write_inventory(
        tmp_path / "inv.yaml", hosts, known_hosts=tmp_path / "empty_known_hosts"
    )
    proc = run_hostops(
        "run",
        REMOTE,
        "-i",
        str(inv),
        "-n",
        "--no-record",
        "--host-key-policy",
        "off",
        "--cluster",
        cluster.address,
        env=env_of(cluster),
        stderr=subprocess.STDOUT,
        text=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert check_whole_lines(proc.stdout, hosts) == 11  # a key warning per host, and off's
