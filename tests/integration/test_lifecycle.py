"""How a run ends when it does not end normally: Ctrl-C, a lost aggregator."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from hostops.journal import load_run
from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import child_pids, json_results, sleep_pids, wait_for


def _start(inv: Path, command: str, *options: str) -> subprocess.Popen[bytes]:
    # A new session, like a terminal's foreground job: SIGINT goes to the whole group.
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hostops",
            "run",
            command,
            "--hosts",
            str(inv),
            "-o",
            "json",
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _workers(proc: subprocess.Popen[bytes]) -> list[int]:
    return [
        p
        for p in child_pids(proc.pid)
        if Path(f"/proc/{p}/comm").read_text().strip() == "hostops-worker"
    ]


def test_ctrl_c_interrupts_kills_remote_commands_exit_130(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    hosts = sshd_fleet.hosts[:6]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    tag = f"4001.{secrets.randbelow(10**6):06d}"
    proc = _start(inv, f"echo before; sleep {tag}; echo after")
    assert wait_for(lambda: len(sleep_pids(tag)) == len(hosts))
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    res = json_results(out.decode())
    assert len(res) == len(hosts)
    for obj in res.values():
        assert obj["status"] == "interrupted" and obj["stdout"] == "before\n"
    assert b"interrupted" in err
    assert (
        b"hostops: warning: interrupted: stopping 6 running host(s): host[01-06]; Ctrl-C again stops at once\n"
        in err
    )
    assert wait_for(lambda: not sleep_pids(tag), timeout=10), "remote commands survived Ctrl-C"


def test_lost_aggregator_exit_4_one_line_no_leftovers(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    hosts = sshd_fleet.hosts[:4]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    tag = f"4002.{secrets.randbelow(10**6):06d}"
    proc = _start(inv, f"sleep {tag}")
    assert wait_for(lambda: len(sleep_pids(tag)) == len(hosts))
    killed = subprocess.run(["pkill", "-KILL", "-s", str(proc.pid), "hostops-aggr"], check=False)
    assert killed.returncode == 0
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4
    assert err.decode().startswith("hostops: error: the aggregator process died")
    assert len(err.splitlines()) == 1
    assert wait_for(lambda: not sleep_pids(tag), timeout=20), "remote commands left running"


def test_a_killed_worker_loses_only_its_running_hosts(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    """SIGKILL one worker mid-run: its in-flight hosts are `error` (worker died); the hosts
    it had not started run on the other worker; nothing runs twice; the run ends normally."""
    hosts = sshd_fleet.hosts[:24]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    tag = f"3.{secrets.randbelow(10**6):06d}"  # 3 s, and findable
    proc = _start(inv, f"echo ran; sleep {tag}", "--workers", "2", "--forks", "8")
    assert wait_for(lambda: len(sleep_pids(tag)) == 8)  # 4 sessions in each worker
    workers = _workers(proc)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    res = json_results(out.decode())
    assert len(res) == 24
    died = {n for n, o in res.items() if o["status"] == "error"}
    assert len(died) == 4 and all(res[n]["error"] == "worker died" for n in died)
    assert {o["status"] for n, o in res.items() if n not in died} == {"ok"}
    assert all(res[n]["stdout"] == "ran\n" for n in res if n not in died)
    assert b"worker process" in err and b"died" in err
    assert proc.returncode == 1


def test_second_ctrl_c_stops_at_once_and_still_accounts_for_every_host(
    sshd_fleet: SshdFleet, tmp_path: Path, isolated_home: Path
) -> None:
    hosts = sshd_fleet.hosts[:10]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    tag = f"4003.{secrets.randbelow(10**6):06d}"
    # The command ignores TERM: the first Ctrl-C's orderly stop would take its grace time.
    proc = _start(inv, f"trap '' TERM; echo before; sleep {tag}")
    assert wait_for(lambda: len(sleep_pids(tag)) == len(hosts))
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.05)  # at once, as an impatient user does: before the first stop went out
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    # The first warning named every running host.
    assert b"stopping 10 running host(s): host[01-10];" in err, err
    res = json_results(out.decode())
    assert len(res) == len(hosts) and {o["status"] for o in res.values()} == {"interrupted"}
    # The kill went to every session before hostops left, and each host says it was confirmed.
    assert {o["error"] for o in res.values()} == {"interrupted: stopped at once: killed"}, err
    assert not sleep_pids(tag), "remote commands left running after a second Ctrl-C"
    assert b"10 interrupted" in err  # the summary
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
    tag = f"3.{secrets.randbelow(10**6):06d}"
    proc = _start(inv, f"echo ran; sleep {tag}", "--workers", "1", "--forks", "4")
    assert wait_for(lambda: len(sleep_pids(tag)) == 4)
    (worker,) = _workers(proc)
    os.kill(worker, signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    res = json_results(out.decode())
    assert len(res) == 12
    died = sorted(n for n, o in res.items() if o["status"] == "error")
    assert died == [h.name for h in hosts[:4]] and all(
        res[n]["error"] == "worker died" for n in died
    )
    assert all(res[h.name]["status"] == "ok" for h in hosts[4:]), err
    assert proc.returncode == 1
