"""hostops suspended (Ctrl-Z, SIGSTOP) for longer than the keepalive window, then
resumed: the hosts are probed before any is judged lost, and healthy ones finish."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import SleepWatch, json_results, sleep_tag, start_hostops


def test_a_suspended_run_probes_before_judging_hosts_lost(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2])
    tag = sleep_tag(6)
    args = ["run", f"sleep {tag}; echo done", "--hosts", str(inv), "--keepalive", "1,2"]
    # Its own group, as a terminal's job: Ctrl-Z stops it all.
    proc = start_hostops(*args, "-o", "json", start_new_session=True)
    with SleepWatch([tag], expected=2) as watch:
        pass
    assert len(watch.seen) == 2, "the commands never started"
    os.killpg(proc.pid, signal.SIGSTOP)
    time.sleep(5)  # longer than the keepalive window (1 s x 2)
    os.killpg(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=60)
    res = json_results(out)
    assert {o["status"] for o in res.values()} == {"ok"}, err
    assert {o["stdout"] for o in res.values()} == {"done\n"}
