"""How a run ends when it does not end normally: Ctrl-C, a lost aggregator."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from held import held, release, started

from hostops.journal import load_run
from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import (
    child_pids,
    descendant_pids,
    json_results,
    process_name,
    sleep_pids,
    sleep_tag,
    start_hostops,
    wait_for,
)


def _start(inv: Path, command: str, *options: str, **kw: Any) -> subprocess.Popen[str]:
    # A new session, like a terminal's foreground job: SIGINT goes to the whole group.
    return start_hostops(
        "run", command, "--hosts", str(inv), "-o", "json", *options, start_new_session=True, **kw
    )


def _workers(proc: subprocess.Popen[str]) -> list[int]:
    return [p for p in descendant_pids(proc.pid) if process_name(p) == "hostops-worker"]


def test_ctrl_c_interrupts_kills_remote_commands_exit_130(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    hosts = sshd_fleet.hosts[:6]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    tag = sleep_tag(4001)
    proc = _start(inv, f"echo before; sleep {tag}; echo after")
    assert wait_for(lambda: len(sleep_pids(tag)) == len(hosts))
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    res = json_results(out)
    assert len(res) == len(hosts)
    for obj in res.values():
        assert obj["status"] == "interrupted" and obj["stdout"] == "before\n"
    assert "interrupted" in err
    assert (
        "hostops: warning: interrupted: stopping 6 running host(s): host[01-06]; Ctrl-C again stops at once\n"
        in err
    )
    assert wait_for(lambda: not sleep_pids(tag), timeout=10), "remote commands survived Ctrl-C"


def test_lost_aggregator_exit_4_one_line_no_leftovers(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    hosts = sshd_fleet.hosts[:4]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    tag = sleep_tag(4002)
    proc = _start(inv, f"sleep {tag}")
    assert wait_for(lambda: len(sleep_pids(tag)) == len(hosts))
    killed = subprocess.run(["pkill", "-KILL", "-s", str(proc.pid), "hostops-aggr"], check=False)
    assert killed.returncode == 0
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4
    assert err.startswith("hostops: error: the aggregator process died")
    assert len(err.splitlines()) == 1
    assert wait_for(lambda: not sleep_pids(tag), timeout=20), "remote commands left running"


@pytest.mark.parametrize(
    "early_killed", [False, True], ids=["early-process-alive", "early-process-killed"]
)
def test_a_killed_worker_loses_only_its_running_hosts(
    sshd_fleet: SshdFleet, tmp_path: Path, early_killed: bool
) -> None:
    """SIGKILL one worker mid-run: its in-flight hosts are `error` (worker died); the hosts
    it had not started run on the other worker; nothing runs twice; the run ends normally.
    With the early process killed first, no replacement can be forked: the other worker
    runs them all the same, and nothing of the run is left after it."""
    hosts = sshd_fleet.hosts[:24]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    proc = _start(inv, f"echo ran; {held(tmp_path)}", "--workers", "2", "--forks", "8")
    try:
        assert wait_for(lambda: started(tmp_path) == 8)  # 4 sessions in each worker
        workers = _workers(proc)
        assert len(workers) == 2
        if early_killed:
            (early,) = (p for p in child_pids(proc.pid) if process_name(p) == "hostops-early")
            os.kill(early, signal.SIGKILL)
        os.kill(workers[0], signal.SIGKILL)
    finally:
        release(tmp_path)
    out, err = proc.communicate(timeout=120)
    res = json_results(out)
    assert len(res) == 24
    died = {n for n, o in res.items() if o["status"] == "error"}
    assert len(died) == 4 and all(res[n]["error"] == "worker died" for n in died), err
    assert {o["status"] for n, o in res.items() if n not in died} == {"ok"}
    assert all(res[n]["stdout"] == "ran\n" for n in res if n not in died)
    assert "worker process" in err and "died" in err
    assert proc.returncode == 1
    assert wait_for(lambda: all(process_name(p) == "" for p in workers), timeout=20)


def test_second_ctrl_c_stops_at_once_and_still_accounts_for_every_host(
    sshd_fleet: SshdFleet, tmp_path: Path, isolated_home: Path
) -> None:
    hosts = sshd_fleet.hosts[:10]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    tag = sleep_tag(4003)
    # The command ignores TERM: the first Ctrl-C's orderly stop would take its grace time.
    stderr = tmp_path / "stderr"
    with open(stderr, "w") as errors:  # read while it runs
        proc = _start(inv, f"trap '' TERM; echo before; sleep {tag}", stderr=errors)
    assert wait_for(lambda: len(sleep_pids(tag)) == len(hosts))
    os.killpg(proc.pid, signal.SIGINT)
    # The second Ctrl-C once the first was taken (two at once could arrive as one).
    assert wait_for(lambda: "Ctrl-C again stops at once" in stderr.read_text())
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    err = stderr.read_text()
    assert proc.returncode == 130, err
    # The first warning named every running host.
    assert "stopping 10 running host(s): host[01-10];" in err, err
    res = json_results(out)
    assert len(res) == len(hosts) and {o["status"] for o in res.values()} == {"interrupted"}
    # The kill went to every session before hostops left, and each host says it was confirmed.
    assert {o["error"] for o in res.values()} == {"interrupted: stopped at once: killed"}, err
    assert not sleep_pids(tag), "remote commands left running after a second Ctrl-C"
    assert "10 interrupted" in err  # the summary
    (record,) = (isolated_home / ".local/state/hostops/runs").iterdir()
    past = load_run(record)
    assert past.complete and [r.status.value for r in past.results] == ["interrupted"] * 10
    assert past.end is not None and past.end["exit_code"] == 130
    assert not child_pids(proc.pid)  # no orphan local processes


def test_when_the_only_worker_dies_a_replacement_runs_the_rest(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    hosts = sshd_fleet.hosts[:12]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    proc = _start(inv, f"echo ran; {held(tmp_path)}", "--workers", "1", "--forks", "4")
    try:
        assert wait_for(lambda: started(tmp_path) == 4)
        (worker,) = _workers(proc)
        os.kill(worker, signal.SIGKILL)
    finally:
        release(tmp_path)
    out, err = proc.communicate(timeout=120)
    res = json_results(out)
    assert len(res) == 12
    died = sorted(n for n, o in res.items() if o["status"] == "error")
    assert died == [h.name for h in hosts[:4]] and all(
        res[n]["error"] == "worker died" for n in died
    )
    assert all(res[h.name]["status"] == "ok" for h in hosts[4:]), err
    assert proc.returncode == 1
