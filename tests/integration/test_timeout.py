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


def _timed_out_on_two(
    fleet: SshdFleet, tmp_path: Path, user: str, command: str, seconds: int
) -> tuple[dict[str, dict[str, object]], SleepWatch]:
    """``command`` (``{tag}``: a sleep of ``seconds`` to watch) on two hosts as ``user``
    with ``--timeout 1``: its JSON results by host, and the watch on its sleeps."""
    hosts = fleet.hosts[:2]
    inv = fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    tag = sleep_tag(seconds)
    with SleepWatch([tag], len(hosts)) as watch:
        r = _run_as(user, inv, command.format(tag=tag), timeout="1")
    assert r.returncode == 1, r.stderr
    results = json_results(r.stdout)
    assert set(results) == {h.name for h in hosts}
    return results, watch


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
def test_the_login_shell_runs_a_plain_command_itself_on_openssh(
    sshd_fleet: SshdFleet, tmp_path: Path, user: str
) -> None:
    """OpenSSH starts every session's command in a process group of its own, led by
    the login shell: hostops hands the login shell the command as `ssh host COMMAND`
    does, after a /bin/sh that reports the group. So $0 is the shell's name as sshd
    gives it, not the "$SHELL" path the wrapper would exec, nothing of the report
    shows, and --timeout stops the whole group (the sshd here is the oracle)."""
    sshd = subprocess.run(["/usr/sbin/sshd", "-V"], check=False, capture_output=True, text=True)
    version = sshd.stderr
    assert re.search(r"OpenSSH_(\d+)\.(\d+)", version), version
    results, watch = _timed_out_on_two(sshd_fleet, tmp_path, user, 'echo "$0"; sleep {tag}', 3004)
    for obj in results.values():
        assert obj["stdout"] == f"{pwd.getpwnam(user).pw_shell.rsplit('/', 1)[-1]}\n", (user, obj)
        assert obj["stderr"] == "", obj  # no report of the group shows
        assert obj["status"] == "timeout" and obj["signal"] == "TERM", obj
    assert watch.gone(), "the remote sleeps survived the timeout"


@pytest.mark.parametrize("user", users())
def test_a_command_whose_shell_has_ended_is_still_stopped_whole(
    sshd_fleet: SshdFleet, tmp_path: Path, user: str
) -> None:
    """The login shell exits at once, its background child keeps the session's output
    open: the session lasts until --timeout, whose kill must still reach the child
    (its group outlives the shell that led it)."""
    results, watch = _timed_out_on_two(sshd_fleet, tmp_path, user, "sleep {tag} & exit 0", 3005)
    for obj in results.values():
        assert obj["status"] == "timeout", obj
        assert "did not confirm" not in (obj["error"] or ""), obj
    assert watch.gone(), "the shell's child outlived the timeout"


def test_commands_that_read_stdin_get_eof(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2])
    r = run_hostops("run", "cat; echo done", "--hosts", str(inv), "--timeout", "20")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("| done") == 2
