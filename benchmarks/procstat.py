"""CPU and memory of processes and process trees, read from /proc: the benchmarks' one reader.

A process's CPU here is always its own plus that of the children it reaped
(``cutime`` and ``cstime``), so a delta over a run includes the sessions and
commands that started and ended inside it. Its own part is read on one of two
clocks (:data:`Clock`): ``stat``'s ``utime + stime`` in clock ticks (10 ms), or
the sum of its threads' run time from ``schedstat`` in nanoseconds, for
processes that spend well under a tick per run (the ticks would round most runs
to zero). The reaped children's part exists only in ticks.

A process that has ended (or ends while being read) counts as nothing: the
benchmarks read live process sets whose members come and go.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

TICK = os.sysconf("SC_CLK_TCK")

Parents = dict[int, int]  # pid -> parent pid, of every live process
Clock = Literal["ticks", "schedstat"]


def live_pids() -> Iterator[int]:
    """The pid of every live process (as /proc lists them; some may end meanwhile)."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            yield int(entry.name)


def _stat(pid: int) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name (which may hold spaces and
    parentheses): index 0 is field 3 of proc(5), the state; 1 the parent pid; 11 and 12
    utime and stime; 13 and 14 cutime and cstime."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def parents() -> Parents:
    """Every live process's parent."""
    table: Parents = {}
    for pid in live_pids():
        with contextlib.suppress(OSError, IndexError):
            table[pid] = int(_stat(pid)[1])
    return table


def tree(roots: Iterable[int], table: Parents | None = None) -> list[int]:
    """The live processes among ``roots`` and all their descendants, each once.

    ``table`` (from :func:`parents`) lets several trees be read from one snapshot;
    without it, /proc is read afresh.
    """
    table = parents() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, ppid in table.items():
        children.setdefault(ppid, []).append(pid)
    found: list[int] = []
    seen: set[int] = set()
    todo = [r for r in roots if r in table]
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            found.append(pid)
            todo.extend(children.get(pid, ()))
    return found


def cpu_s(pids: Iterable[int], clock: Clock = "ticks") -> float:
    """CPU seconds of ``pids`` together: each one's own, on ``clock``, plus its reaped
    children's; 0 for a process that has ended.

    Summed over a tree (:func:`tree`), a process that ends and is reaped inside the
    tree moves its CPU to its parent's reaped-children figure, so the total grows only
    by what the tree spent (to within a clock tick per process reaped meanwhile).
    """
    return sum(_one_cpu_s(pid, clock) for pid in pids)


def _one_cpu_s(pid: int, clock: Clock) -> float:
    try:
        fields = _stat(pid)
        if clock == "schedstat":
            own = _run_time_s(pid)
        else:
            own = (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
        return own + (int(fields[13]) + int(fields[14])) / TICK  # cutime, cstime
    except (OSError, IndexError):
        return 0.0


def _run_time_s(pid: int) -> float:
    """The run time of ``pid``'s threads (schedstat's first field, ns), in seconds."""
    total = 0
    for task in os.scandir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            total += int(Path(task.path, "schedstat").read_text().split()[0])
    return total / 1e9


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` (VmRSS), KiB; 0 for a process without memory of its
    own (a kernel thread, a zombie). Raises OSError if the process has ended."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
