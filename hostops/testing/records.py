"""Synthetic run records, written by the journal's own writer: for the report's tests
and its benchmark (``benchmarks/bench_report.py``), at any number of hosts.

Three outcome groups: most hosts ``ok`` printing the same lines, every 25th ``failed``
(exit 2, other lines), every 40th ``unreachable``; hosts run in batches, each batch
after the one before it, the ``slow`` batch's hosts three times slower.
"""

from __future__ import annotations

from pathlib import Path

from hostops.journal import Journal, Timing, host_line, step_line
from hostops.models import HostResult, RunOptions, RunReport, Status
from hostops.ranges import fold


def synthetic_result(index: int, name: str, duration: float) -> HostResult:
    """Host number ``index``'s result (see the module's docstring)."""
    address = f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}"
    if index % 40 == 39:
        return HostResult(
            name,
            address,
            Status.UNREACHABLE,
            error=f"connect to {address}:22: Connection refused",
            duration_s=0.05,
        )
    if index % 25 == 24:
        out = b"Linux 5.10.0-28-amd64\nuptime 3 days\n"
        return HostResult(
            name, address, Status.FAILED, 2, stdout=out, stderr=b"old kernel\n",
            duration_s=duration, error="exit 2",
        )  # fmt: skip
    out = b"Linux 6.1.0-18-amd64\nuptime 12 days\n"
    return HostResult(name, address, Status.OK, 0, stdout=out, duration_s=duration)


def synthetic_run(
    directory: Path,
    count: int,
    *,
    batches: int = 1,
    slow: int | None = None,
    finish: bool = True,
    recorded: int | None = None,
) -> Path:
    """Write a record of ``count`` hosts (``host00001``...) in ``directory``; returns its
    path. ``slow``: the batch (from 1) whose hosts take three times as long.
    ``recorded``: only that many host lines (a run cut by a crash), and no end line
    unless ``finish``."""
    names = [f"host{i:05d}" for i in range(1, count + 1)]
    journal = Journal.start(
        ["run", "uname -r; uptime"], "uname -r; uptime", names, RunOptions(), directory
    )
    assert journal is not None, "HOSTOPS_KEEP_RUNS=0: no record written"
    size = -(-count // batches)
    at = 0.0
    results = []
    for number, first in enumerate(range(0, count, size), 1):
        group = names[first : first + size]
        lines: list[dict[str, object]] = []
        if batches > 1:
            lines.append(step_line(at, f"batch {number}/{batches}: {fold(group)}"))
        factor = 3.0 if number == slow else 1.0
        end = at
        for offset, name in enumerate(group):
            index = first + offset
            if recorded is not None and index >= recorded:
                break
            result = synthetic_result(index, name, factor * (0.4 + (index % 17) * 0.03))
            start = at + (offset % 64) * 0.002
            connected = None if result.status is Status.UNREACHABLE else start + 0.12
            timing = Timing(start, connected, start + result.duration_s)
            lines.append(host_line(result, timing))
            results.append(result)
            end = max(end, timing.finished)
        journal.record.append(lines)
        at = end + 0.05
    if finish:
        journal.finish(RunReport(tuple(results), at), 1)
    return Path(journal.record.path)
