"""What a report shows, computed from a run record: pure data, no markup.

Everything here is bounded for a page that a browser opens quickly at 10,000 hosts:
hosts are folded by outcome, outputs and diffs are cut, and past :data:`MAX_BARS`
hosts the timeline's rows stand for several hosts each.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from hostops.journal import PastRun, Timing
from hostops.models import HostResult, RunReport, Status
from hostops.render.reasons import generalize
from hostops.render.views import Group, against_majority, body, group_results

MAX_BARS = 1000  # timeline rows; more hosts: each row stands for several
MAX_GROUPS = 30  # output groups shown whole (largest first); the rest: their host sets
MAX_LISTED = 300  # output groups listed by host set beyond those
MAX_LINES = 200  # lines of one output or diff shown
MAX_LINE = 500  # characters of one line shown
MAX_DIFF_INPUT = 3000  # lines of each side a diff is computed on
SLOWEST = 10
BINS = 30
MISSING = "no result in the run record"  # PastRun.report()'s reason starts with it


@dataclass(frozen=True)
class Outcome:
    """Hosts that ended the same way: a status and one reason (host-specific parts
    generalized, as the summary groups them); ``missing``: hosts the record has no
    result for (hostops stopped first)."""

    status: Status
    reason: str
    hosts: tuple[HostResult, ...]
    missing: bool = False


@dataclass(frozen=True)
class Shown:
    """Lines to show, cut: ``more`` lines were left out."""

    lines: tuple[bytes, ...]
    more: int = 0


@dataclass(frozen=True)
class OutputGroup:
    """Hosts with identical output (see :func:`hostops.render.views.group_results`);
    for every group but the majority, its diff against the majority's output."""

    number: int  # 1: the majority
    group: Group
    output: Shown
    diff: Shown | None = None


@dataclass(frozen=True)
class Bar:
    """A timeline row: one host, or (``count`` > 1) several consecutive ones, then
    spanning the first start to the last end, with ``median`` start and end."""

    label: str
    count: int
    timing: Timing
    status: Status  # the host's; a row of several: its worst
    failed: int  # hosts of the row that failed
    median: tuple[float, float] | None = None


@dataclass(frozen=True)
class Bin:
    """A histogram bar: hosts whose duration is in [low, high)."""

    low: float
    high: float
    ok: int
    failed: int


@dataclass
class Facts:
    """Everything a report shows of one run."""

    run: PastRun
    report: RunReport
    outcomes: list[Outcome]
    outputs: list[OutputGroup]
    listed: list[Group]  # output groups beyond MAX_GROUPS, by host set only
    unlisted: int  # output groups beyond those
    group_of: dict[str, int]  # host -> its output group's number
    bars: list[Bar]
    untimed: list[str]  # hosts without a timing (never started, or an older record)
    bins: list[Bin]
    slowest: list[HostResult]
    stats: dict[str, float] = field(default_factory=dict)  # median, p90, p99, max


def facts(run: PastRun) -> Facts:
    """The report's facts of ``run`` (a record read back, complete or cut short)."""
    report = run.report()
    groups = group_results(report.results)
    outputs = _outputs(groups)
    group_of = {host: i for i, g in enumerate(groups, 1) for host in g.hosts}
    timed = [r for r in report.results if r.host in run.timings]
    ran = [r for r in report.results if r.host in run.timings or r.duration_s > 0]
    durations = sorted(r.duration_s for r in ran)
    return Facts(
        run=run,
        report=report,
        outcomes=_outcomes(report.results, set(run.missing)),
        outputs=outputs,
        listed=groups[MAX_GROUPS : MAX_GROUPS + MAX_LISTED],
        unlisted=max(0, len(groups) - MAX_GROUPS - MAX_LISTED),
        group_of=group_of,
        bars=_bars(timed, run.timings),
        untimed=[r.host for r in report.results if r.host not in run.timings],
        bins=_bins(ran),
        slowest=sorted(ran, key=lambda r: -r.duration_s)[:SLOWEST],
        stats=_stats(durations),
    )


def _outcomes(results: Sequence[HostResult], missing: set[str]) -> list[Outcome]:
    """Hosts by (status, reason): failures first (in the status table's order), then ok
    and skipped; within a status, the largest group first."""
    found: dict[tuple[Status, str, bool], list[HostResult]] = {}
    for r in results:
        reason = generalize(" ".join(r.error.split()), r.host, r.address) if r.error else ""
        found.setdefault((r.status, reason, r.host in missing), []).append(r)
    order = [s for s in Status if s.failed] + [Status.OK, Status.SKIPPED]
    keys = sorted(found, key=lambda k: (order.index(k[0]), -len(found[k])))
    out = []
    for key in keys:
        members = found[key]
        reasons = {" ".join((r.error or "").split()) for r in members}
        # One reason for all: shown as it is; else with the host-specific parts generalized.
        reason = reasons.pop() if len(reasons) == 1 else key[1]
        out.append(Outcome(key[0], reason, tuple(members), key[2]))
    return out


def _cut(lines: Sequence[bytes]) -> Shown:
    kept = [line if len(line) <= MAX_LINE else line[:MAX_LINE] + b"..." for line in lines]
    return Shown(tuple(kept[:MAX_LINES]), max(0, len(kept) - MAX_LINES))


def _outputs(groups: list[Group]) -> list[OutputGroup]:
    if not groups:
        return []
    base = body(groups[0].sample, tty=False)
    out = [OutputGroup(1, groups[0], _cut(base))]
    for number, group in enumerate(groups[1:MAX_GROUPS], 2):
        lines = body(group.sample, tty=False)
        delta = against_majority(base[:MAX_DIFF_INPUT], group, lines[:MAX_DIFF_INPUT])
        out.append(OutputGroup(number, group, _cut(lines), _cut(delta)))
    return out


def _bars(results: Sequence[HostResult], timings: dict[str, Timing]) -> list[Bar]:
    """One bar per host in start order; past MAX_BARS hosts, rows of consecutive hosts."""
    ordered = sorted(results, key=lambda r: (timings[r.host].started, timings[r.host].finished))
    if len(ordered) <= MAX_BARS:
        return [Bar(r.host, 1, timings[r.host], r.status, int(r.status.failed)) for r in ordered]
    size = -(-len(ordered) // MAX_BARS)
    bars = []
    for i in range(0, len(ordered), size):
        chunk = ordered[i : i + size]
        spans = [timings[r.host] for r in chunk]
        failed = [r for r in chunk if r.status.failed]
        worst = failed[0].status if failed else chunk[0].status
        span = Timing(min(t.started for t in spans), None, max(t.finished for t in spans))
        middle = (
            statistics.median(t.started for t in spans),
            statistics.median(t.finished for t in spans),
        )
        # Not folded: a row's hosts are the ones that started together, rarely a range.
        label = chunk[0].host if len(chunk) == 1 else f"{chunk[0].host} … {chunk[-1].host}"
        bars.append(Bar(label, len(chunk), span, worst, len(failed), middle))
    return bars


def _bins(results: Sequence[HostResult]) -> list[Bin]:
    if not results:
        return []
    top = max(r.duration_s for r in results) or 1.0
    width = top / BINS
    ok = [0] * BINS
    failed = [0] * BINS
    for r in results:
        i = min(int(r.duration_s / width), BINS - 1)
        if r.status.failed:
            failed[i] += 1
        else:
            ok[i] += 1
    return [Bin(i * width, (i + 1) * width, ok[i], failed[i]) for i in range(BINS)]


def _stats(durations: list[float]) -> dict[str, float]:
    if not durations:
        return {}

    def at(q: float) -> float:
        return durations[min(len(durations) - 1, int(q * len(durations)))]

    return {
        "median": statistics.median(durations),
        "p90": at(0.9),
        "p99": at(0.99),
        "max": durations[-1],
    }
