"""A pseudo-terminal when a command needs one (sudoers ``requiretty``), and the per-host
lock against two rollouts at once: held by one run, refused to a second at once, granted
to a third that waits, and released by a controller killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from held import held, release, started
from system_users import ensure_user

from hostops import run_operation
from hostops.fleet.rollout import play_plan
from hostops.models import RunOptions, Status
from hostops.operations import Command
from hostops.playbook import load_playbook, prepare
from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import SleepWatch, temporary_fleet, wait_for

TTY_USER = "hostops-tty"  # this file's own user: sudo with requiretty, no password
_SUDOERS = "/etc/sudoers.d/hostops-tty-tests"


@pytest.fixture(scope="module")
def tty_fleet() -> Iterator[SshdFleet]:
    """One sshd that TTY_USER logs in to; sudoers demands a terminal of that user."""
    if os.geteuid() != 0:
        pytest.fail("this test creates a user and a sudoers rule: run it as root (CI does)")
    ensure_user(TTY_USER)
    rules = f"Defaults:{TTY_USER} requiretty\n{TTY_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n"
    staged = Path(f"{_SUDOERS}.new")
    staged.write_text(rules)
    staged.chmod(0o440)
    subprocess.run(["visudo", "-c", "-q", "-f", str(staged)], check=True)
    staged.rename(_SUDOERS)
    with temporary_fleet(1, user=TTY_USER, address_base=48) as fleet:
        yield fleet


def test_a_pty_satisfies_requiretty_and_merges_the_streams(tty_fleet: SshdFleet) -> None:
    host = tty_fleet.host(0)
    without = run_operation([host], Command("id -un", sudo=True))
    (r,) = without.results
    assert r.status is Status.FAILED  # sudo: sorry, you must have a tty to run sudo
    with_tty = run_operation(
        [host], Command("id -un; tty; echo to-stderr >&2", sudo=True, tty=True)
    )
    (r,) = with_tty.results
    assert r.status is Status.OK, r
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "root" and lines[1].startswith("/dev/pts/")
    assert lines[2] == "to-stderr" and r.stderr == b""  # one stream: the terminal's
    assert "\r" not in r.stdout.decode()


def test_timeout_still_kills_a_command_on_a_pty_and_its_children(tty_fleet: SshdFleet) -> None:
    tags = ["3001.716", "3001.717"]
    command = f"sleep {tags[0]} & sleep {tags[1]}; wait"
    with SleepWatch(tags, expected=2) as watch:
        report = run_operation(
            [tty_fleet.host(0)], Command(command, tty=True), options=RunOptions(timeout=2.0)
        )
    (r,) = report.results
    assert r.status is Status.TIMEOUT and len(watch.seen) == 2
    assert watch.gone()


_HOLDER = """
import sys
from hostops import run_operation
from hostops.fleet.rollout import play_plan
from hostops.models import Host, RunOptions
from hostops.operations import Command
from hostops.playbook import load_playbook, prepare
from hostops.testing import SshdFleet

if __name__ == "__main__":  # the engine's processes may import this file again
    hosts = [Host(**h) for h in {hosts!r}]
    options = RunOptions(lock="deploy", lock_timeout=float(sys.argv[2]))
    report = run_operation(hosts, Command(sys.argv[1]), options=options)
    for r in report.results:
        print(r.host, r.status.value, r.error or "")
"""


def holder(
    fleet: SshdFleet, tmp_path: Path, command: str, wait: float = 0
) -> subprocess.Popen[str]:
    hosts = [
        {
            "name": fleet.hosts[i].name,
            "address": fleet.hosts[i].address,
            "port": fleet.hosts[i].port,
            "user": fleet.user,
            "identity_files": (str(fleet.client_key),),
            "known_hosts": str(fleet.known_hosts),
        }
        for i in range(2)
    ]
    script = tmp_path / "holder.py"
    script.write_text(textwrap.dedent(_HOLDER.format(hosts=hosts)))
    return subprocess.Popen(
        [sys.executable, str(script), command, str(wait)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def outcome(proc: subprocess.Popen[str]) -> dict[str, str]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return {line.split()[0]: line.split(" ", 1)[1] for line in out.splitlines()}


def _waiting_for_the_lock(fleet: SshdFleet, hosts: int) -> int:
    """How many ``flock`` processes wait on the lock files of the first ``hosts`` hosts
    (each host of the fleet has a lock directory of its own)."""
    files = {str(fleet.hosts[i].directory / "hostops-deploy.lock") for i in range(hosts)}
    n = 0
    for entry in os.listdir("/proc"):
        try:
            if Path(f"/proc/{entry}/comm").read_text().strip() == "flock":
                n += os.readlink(f"/proc/{entry}/fd/9") in files
        except OSError:
            continue  # not a process, or it ended meanwhile
    return n


def test_a_lock_refuses_a_second_run_and_lets_a_waiting_one_in(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    # The first run holds the lock until the test lets it go: the third is seen waiting
    # before, not just run after.
    first = holder(sshd_fleet, tmp_path, held(tmp_path))
    try:
        assert wait_for(lambda: started(tmp_path) == 2, timeout=60)
        second = outcome(holder(sshd_fleet, tmp_path, "echo never"))
        for host, said in second.items():
            assert said.startswith("error locked by "), (host, said)
            assert f"(pid {first.pid}, since " in said  # the first run's controller
        # A playbook whose play names the lock is refused the same way.
        book = tmp_path / "book.yaml"
        book.write_text("- hosts: all\n  lock: deploy\n  tasks:\n    - run: echo never\n")
        plan = prepare(load_playbook(book), [sshd_fleet.host(0), sshd_fleet.host(1)])
        played = play_plan(plan).report
        assert [r.status for r in played.results] == [Status.ERROR, Status.ERROR]
        assert all(": locked by " in (r.error or "") for r in played.results), played.results
        third = holder(sshd_fleet, tmp_path, "echo third", wait=60)
        assert wait_for(lambda: _waiting_for_the_lock(sshd_fleet, 2) == 2, timeout=60)
    finally:
        release(tmp_path)
    assert all(s.startswith("ok") for s in outcome(first).values())
    assert all(s.startswith("ok") for s in outcome(third).values())


def test_a_controller_killed_while_holding_the_lock_leaves_none_behind(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    crashing = holder(sshd_fleet, tmp_path, f"touch {tmp_path}/started-$$; sleep 600")
    assert wait_for(lambda: len(list(tmp_path.glob("started-*"))) == 2, timeout=60)
    os.killpg(crashing.pid, signal.SIGKILL)  # the controller and its workers, at once
    crashing.wait(timeout=30)
    after = outcome(holder(sshd_fleet, tmp_path, "echo next", wait=30))
    assert all(s.startswith("ok") for s in after.values()), after
