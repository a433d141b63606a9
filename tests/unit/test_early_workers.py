"""A cold run's early process (hostops.keeper.early): it forks workers only when asked,
with the run's open-file limit, ignores Ctrl-C, and ends with the run's process; a run
whose early process is gone forks its own workers."""

from __future__ import annotations

import os
import resource
import signal
import socket
from pathlib import Path

import pytest

from hostops.fleet.engine import use_worker_source
from hostops.keeper import early
from hostops.keeper.early import EarlyWorkers
from hostops.models import Host, RunOptions, Status, Transport
from hostops.testing.pytest_plugin import child_pids, process_name, process_state, wait_for


@pytest.mark.parametrize(
    ("argv", "wanted"),
    [
        (["run", "uptime", "-i", "inv.yaml"], True),
        (["put", "a", "/tmp/a"], True),
        (["get", "/etc/hosts", "out"], True),
        (["run", "--help"], False),
        (["play", "site.yaml"], True),
        (["inventory"], False),
        ([], False),
    ],
)
def test_which_commands_start_an_early_process(argv: list[str], wanted: bool) -> None:
    assert early.wanted(argv) is wanted


def _gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return not Path(f"/proc/{pid}").exists() or "Z" in process_state(pid)


def test_the_early_process_forks_workers_on_request_and_ends_with_its_run() -> None:
    workers = early.start()
    try:
        assert wait_for(lambda: process_name(workers.pid) == early.NAME, timeout=10)
        assert child_pids(workers.pid) == []  # nothing unasked
        os.kill(workers.pid, signal.SIGINT)  # Ctrl-C is the engine's to act on
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        lower = min(soft, 512)
        resource.setrlimit(resource.RLIMIT_NOFILE, (lower, hard))
        try:
            pid, channel = workers.fork()  # with the limit this process has now
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        assert child_pids(workers.pid) == [pid]
        assert wait_for(lambda: process_name(pid) == "hostops-worker", timeout=10)
        limits = Path(f"/proc/{pid}/limits").read_text()
        assert f"Max open files            {lower}" in limits
        channel.close()  # the run has no more use for it: it ends
        assert wait_for(lambda: process_state(pid) in ("Z", ""), timeout=10)
        assert not _gone(workers.pid)  # still there for the run
    finally:
        workers._control.close()  # the run's process ends
    assert wait_for(lambda: _gone(workers.pid), timeout=10)


def test_without_its_early_process_a_run_forks_its_own_workers(tmp_path: Path) -> None:
    mine, theirs = socket.socketpair()
    theirs.close()  # an early process that is gone
    from hostops import run

    host = Host("here", "localhost", connection=Transport.LOCAL)
    use_worker_source(EarlyWorkers(os.getpid(), mine))
    try:
        with pytest.raises(OSError, match="early process is gone"):
            EarlyWorkers(os.getpid(), mine).fork()
        report = run([host], "echo hi", options=RunOptions(workers=1))
    finally:
        use_worker_source(None)
        mine.close()
    assert [r.status for r in report.results] == [Status.OK]
    assert report.results[0].stdout == b"hi\n"  # run by a worker this process forked


def test_the_commands_end_waits_for_the_early_process_and_its_workers() -> None:
    used = early.start()
    pid, _channel = used.fork()
    assert wait_for(lambda: process_name(pid) == "hostops-worker", timeout=10)
    used.close()  # the worker ends with its channel, then the early process, reaped here
    assert process_state(pid) == "" and process_state(used.pid) == ""

    unused = early.start()
    unused.close()  # forked nothing: not waited for, ended at once
    assert process_state(unused.pid) == ""
