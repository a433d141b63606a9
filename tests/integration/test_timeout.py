"""--timeout kills the remote command's whole process group, for root and ordinary users."""

from __future__ import annotations

import pwd
import re
import subprocess
import time
from pathlib import Path

import pytest
from system_users import users

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import (
    SleepWatch,
    json_results,
    run_hostops,
    sleep_pids,
    sleep_tag,
    wait_for,
)


def _run_as(user: str, inv: Path, command: str, timeout: str) -> subprocess.CompletedProcess[str]:
    """``hostops run COMMAND`` on ``inv`` as ``user`` with ``--timeout``, JSON output."""
    return run_hostops(
        "run", command, "--hosts", str(inv), "--user", user, "--timeout", timeout, "-o", "json"
    )


@pytest.mark.parametrize("user", users())
def test_timeout_kills_command_and_its_children(
    sshd_fleet: SshdFleet, tmp_path: Path, user: str
) -> None:
    hosts = sshd_fleet.hosts[:4]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    child, main = sleep_tag(3001), sleep_tag(3002)
    started = time.monotonic()
    with SleepWatch([child, main], 2 * len(hosts)) as watch:
        r = _run_as(user, inv, f"echo started; sleep {child} & sleep {main}", timeout="2")
    elapsed = time.monotonic() - started
    assert r.returncode == 1, r.stderr
    assert len(watch.seen) == 2 * len(hosts), "the remote sleeps never all ran"
    for h in hosts:
        obj = json_results(r.stdout)[h.name]
        assert obj["status"] == "timeout"
        assert obj["error"] == "timed out after 2 s"
        assert obj["stdout"] == "started\n"  # output before the timeout is kept
        assert obj["exit_code"] is None and obj["signal"] in ("TERM", "KILL")
    assert elapsed < 30
    gone = watch.gone()
    assert gone, "remote processes survived the timeout"
    owners = {Path(f"/proc/{p}").stat().st_uid for p in watch.seen if Path(f"/proc/{p}").exists()}
    assert owners <= {pwd.getpwnam(user).pw_uid}


@pytest.mark.parametrize("user", users())
def test_timeout_escalates_to_kill_when_term_is_ignored(
    sshd_fleet: SshdFleet, tmp_path: Path, user: str
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2])
    tag = sleep_tag(3003)
    r = _run_as(user, inv, f"trap '' TERM; sleep {tag}; sleep {tag}", timeout="1")
    assert r.returncode == 1, r.stderr
    for obj in json_results(r.stdout).values():
        assert obj["status"] == "timeout" and obj["signal"] == "KILL"
    assert wait_for(lambda: not sleep_pids(tag), timeout=10), "KILL left them running"


@pytest.mark.parametrize("user", users())
def test_a_plain_command_is_sent_as_it_is_where_sshd_signals_its_sessions(
    sshd_fleet: SshdFleet, tmp_path: Path, user: str
) -> None:
    """OpenSSH >= 7.9 kills a session's process group when asked over its channel (a
    root login only from 10.0 on): there hostops hands the login shell the command as
    `ssh host COMMAND` does, whose $0 is then the shell's name as sshd gives it, not
    the wrapper's "$SHELL" path, and --timeout still stops the whole group."""
    sshd = subprocess.run(["/usr/sbin/sshd", "-V"], check=False, capture_output=True, text=True)
    version = sshd.stderr
    found = re.search(r"OpenSSH_(\d+)\.(\d+)", version)
    assert found, version
    by_channel = (int(found[1]), int(found[2])) >= ((10, 0) if user == "root" else (7, 9))
    hosts = sshd_fleet.hosts[:2]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    tag = sleep_tag(3004)
    refusals = {h.name: h.log.read_text().count("session_signal_req") for h in hosts}
    with SleepWatch([tag], len(hosts)) as watch:
        r = _run_as(user, inv, f'echo "$0"; sleep {tag}', timeout="1")
    assert r.returncode == 1, r.stderr
    for h in hosts:
        obj = json_results(r.stdout)[h.name]
        shell_name = obj["stdout"].strip()
        assert ("/" not in shell_name) is by_channel, (user, version, shell_name)
        assert obj["status"] == "timeout" and obj["signal"] == "TERM", obj
        # Not one refused signal request (sshd logs each refusal).
        assert h.log.read_text().count("session_signal_req") == refusals[h.name]
    assert watch.gone(), "the remote sleeps survived the timeout"


def test_commands_that_read_stdin_get_eof(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2])
    r = run_hostops("run", "cat; echo done", "--hosts", str(inv), "--timeout", "20")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("| done") == 2
