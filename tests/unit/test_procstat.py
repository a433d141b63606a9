"""benchmarks/procstat.py, the benchmarks' /proc reader, against ps(1) and times(2): the
tools that read the same kernel counters another way."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "procstat.py"


@pytest.fixture(scope="module")
def procstat() -> ModuleType:
    spec = importlib.util.spec_from_file_location("procstat", _PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ps_parents() -> dict[int, int]:
    out = subprocess.run(
        ["ps", "-e", "-o", "pid=,ppid="], check=True, capture_output=True, text=True
    )
    return {int(a): int(b) for a, b in (line.split() for line in out.stdout.splitlines())}


def _ps_tree(root: int) -> set[int]:
    table = _ps_parents()
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += [p for p, pp in table.items() if pp == pid]
    return found


@pytest.fixture
def sleepers() -> Iterator[int]:
    """A shell with a sleeping child and a child shell of two sleepers: five processes,
    three levels ('; :' keeps each shell from exec'ing its last command)."""
    proc = subprocess.Popen(
        ["sh", "-c", "sh -c 'sleep 600 & sleep 600; :' & sleep 600; :"], start_new_session=True
    )
    deadline = time.monotonic() + 30
    while len(_ps_tree(proc.pid)) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    yield proc.pid
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_tree_and_parents_are_what_ps_sees(procstat: ModuleType, sleepers: int) -> None:
    expected = _ps_tree(sleepers)
    assert len(expected) == 5
    found = procstat.tree([sleepers, *expected])  # roots inside the tree still count once
    assert sorted(found) == sorted(expected)
    ps, table = _ps_parents(), procstat.parents()
    assert {p: table[p] for p in expected} == {p: ps[p] for p in expected}


def test_rss_is_what_ps_sees(procstat: ModuleType, sleepers: int) -> None:
    ps = subprocess.run(
        ["ps", "-o", "rss=", "-p", str(sleepers)], check=True, capture_output=True, text=True
    )
    assert procstat.rss_kib(sleepers) == int(ps.stdout)


def test_tick_clock_counts_own_and_reaped_children_as_times_does(procstat: ModuleType) -> None:
    burn = "x = 0\nfor i in range(1_000_000):\n    x += i"
    subprocess.run([sys.executable, "-c", burn], check=True)  # reaped: our cutime grows
    before = os.times()
    cpu = procstat.cpu_s([os.getpid()])
    after = os.times()
    assert before.children_user + before.children_system > 0
    low = before.user + before.system + before.children_user + before.children_system
    high = after.user + after.system + after.children_user + after.children_system
    assert low - 1e-9 <= cpu <= high + 1e-9


def test_schedstat_clock_is_the_tick_clock_in_nanoseconds(procstat: ModuleType) -> None:
    """For a single-threaded process at rest, stat's utime + stime are its run time cut to
    whole ticks (each of the two truncated): schedstat's figure is at most two ticks more."""
    code = "import sys\nx = 0\nfor i in range(1_000_000):\n    x += i\nprint(1, flush=True)\nsys.stdin.read()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"1\n"
        ticks = procstat.cpu_s([proc.pid])
        ns = procstat.cpu_s([proc.pid], "schedstat")
    finally:
        proc.communicate()
    assert ticks > 0
    assert 0 <= ns - ticks < 2 / procstat.TICK


def test_an_ended_process_counts_nothing(procstat: ModuleType) -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()  # reaped: its pid names no process (until reused, far away on this machine)
    assert procstat.tree([proc.pid]) == []
    assert procstat.cpu_s([proc.pid]) == 0.0
    assert procstat.cpu_s([proc.pid], "schedstat") == 0.0
