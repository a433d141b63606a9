"""How a run ends when it does not end normally: Ctrl-C, a lost aggregator."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import json_results


def _remote(tag: str) -> list[int]:
    r = subprocess.run(
        ["pgrep", "-f", f"^sleep {tag}"], capture_output=True, text=True, check=False
    )
    return [int(p) for p in r.stdout.split()]


def _wait_for(predicate, timeout: float = 20) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _start(inv: Path, command: str) -> subprocess.Popen[bytes]:
    # A new session, like a terminal's foreground job: SIGINT goes to the whole group.
    return subprocess.Popen(
        [sys.executable, "-m", "hostops", "run", command, "--hosts", str(inv), "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def test_ctrl_c_interrupts_kills_remote_commands_exit_130(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    hosts = sshd_fleet.hosts[:6]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    tag = f"4001.{secrets.randbelow(10**6):06d}"
    proc = _start(inv, f"echo before; sleep {tag}; echo after")
    assert _wait_for(lambda: len(_remote(tag)) == len(hosts))
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    res = json_results(out.decode())
    assert len(res) == len(hosts)
    for obj in res.values():
        assert obj["status"] == "interrupted" and obj["stdout"] == "before\n"
    assert b"interrupted" in err
    assert _wait_for(lambda: not _remote(tag), timeout=10), "remote commands survived Ctrl-C"


def test_lost_aggregator_exit_4_one_line_no_leftovers(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    hosts = sshd_fleet.hosts[:4]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    tag = f"4002.{secrets.randbelow(10**6):06d}"
    proc = _start(inv, f"sleep {tag}")
    assert _wait_for(lambda: len(_remote(tag)) == len(hosts))
    killed = subprocess.run(["pkill", "-KILL", "-s", str(proc.pid), "hostops-aggr"], check=False)
    assert killed.returncode == 0
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4
    assert err.decode().startswith("hostops: error: the aggregator process died")
    assert len(err.splitlines()) == 1
    assert _wait_for(lambda: not _remote(tag), timeout=20), "remote commands left running"
