"""A kill reaches every process group of the command's session, with a real tcsh, which
puts each background job in a group of its own even without a terminal: the exec
channel's kill script (run by /bin/sh here) and the runner's own kill."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator

import pytest

from hostops.host.ssh import runner_program
from hostops.host.ssh.command import _session_kill
from hostops.testing.pytest_plugin import process_alive, wait_for


@pytest.fixture
def tcsh_session() -> Iterator[tuple[int, int]]:
    """(leader, background job's group) of ``tcsh -c 'sleep & sleep'`` in a new session."""
    leader = subprocess.Popen(
        ["/usr/bin/tcsh", "-c", "sleep 60 & sleep 61"],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    groups: list[int] = []

    def job_started() -> bool:
        groups[:] = runner_program._other_groups(leader.pid)
        return len(groups) == 1

    try:
        assert wait_for(job_started, timeout=10), "tcsh started no background job"
        yield leader.pid, groups[0]
    finally:
        for group in (leader.pid, *groups):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        leader.wait(timeout=10)


def test_the_runner_finds_the_job_group_of_the_session(tcsh_session: tuple[int, int]) -> None:
    leader, job = tcsh_session
    assert job != leader and os.getpgid(job) == job  # its own group, in the leader's session
    assert os.getsid(job) == leader
    assert runner_program._other_groups(os.getpid()) == []  # pytest leads no session


def test_the_kill_script_stops_every_group_of_the_session(tcsh_session: tuple[int, int]) -> None:
    leader, job = tcsh_session
    done = subprocess.run(["/bin/sh", "-c", _session_kill("KILL", leader)], check=False)
    assert done.returncode == 0  # a signal was sent
    assert wait_for(lambda: not process_alive(job), timeout=10)
    ended = subprocess.Popen(["true"])
    ended.wait()  # reaped: its pid leads no group any more
    gone = subprocess.run(["/bin/sh", "-c", _session_kill("KILL", ended.pid)], check=False)
    assert gone.returncode == 1  # nothing was signalled: said so


def test_the_runner_kill_stops_every_group_of_the_session(tcsh_session: tuple[int, int]) -> None:
    leader, job = tcsh_session

    class _Running:
        pid = leader

    assert runner_program._kill(b"KILL %d" % leader, _Running()) == b"1"  # type: ignore[arg-type]
    assert wait_for(lambda: not process_alive(job), timeout=10)
    assert runner_program._kill(b"KILL %d" % (leader + 1), _Running()) == b"0"  # type: ignore[arg-type]
