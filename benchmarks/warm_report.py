"""The "Warm runs" section of RESULTS.md: one table per scenario, the issue's targets."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench_run import Sample, Stats, fmt, ratio, summarize

WARM, COLD = "hostops-warm", "hostops-cold"
RECORD_RUNS = 7
RECORD_SIZES = (10, 50, 200)
RECORD_TOOLS = (COLD, WARM, "asyncssh", "pssh-cm")
KEPT = (WARM, "pssh-cm")  # the tools whose background processes hold the connections
# The issue's targets: hostops-warm's median wall time at N <= factor x the peer's.
TARGETS = ((200, "asyncssh", 0.25), (200, "pssh-cm", 0.5), (10, "pssh-cm", 1.5))
MAX_ROUND_TRIPS = 2.0  # warm, behind the proxy: wall time added per host, in round trips


@dataclass
class Report:
    """Everything the section shows; ``results`` maps a scenario's label to its samples."""

    command: str
    scenarios: list[tuple[str, int, float]]  # label, N, added round trip (ms; 0: loopback)
    tools: list[str]
    runs: int
    warmup: int
    seed: int
    info: dict[str, str]
    load_before: str
    load_after: str
    started: str
    duration_s: float
    results: Mapping[str, Sequence[Sample]]

    def stats(self, label: str, tool: str) -> Stats:
        n = next(n for lab, n, _ in self.scenarios if lab == label)
        return summarize(list(self.results[label]), tool, n)

    def loopback(self, n: int) -> str | None:
        return next((lab for lab, m, rtt in self.scenarios if m == n and not rtt), None)

    @property
    def is_record(self) -> bool:
        """A full run per the issue (else: a smoke run, not to be quoted)."""
        return (
            self.runs >= RECORD_RUNS
            and all(self.loopback(n) for n in RECORD_SIZES)
            and any(rtt for _, _, rtt in self.scenarios)
            and set(RECORD_TOOLS) <= set(self.tools)
        )


def render(report: Report) -> str:
    lines = ["# Warm runs: `run uptime` over kept connections", ""]
    if not report.is_record:
        lines += [
            f"> **SMOKE RUN — not the benchmark of record.** {report.runs} run(s) per tool; the "
            f"full run is `--sizes 10,50,200 --runs {RECORD_RUNS} --delay-n 50 --rtt-ms 50` "
            "with all four tools.",
            "",
        ]
    cpus = report.info.get("CPUs (nproc)", "?")
    lines += [
        "Written by `benchmarks/bench_warm.py`; see `benchmarks/README.md` (Warm runs) for the "
        "method. Reproduce (from the repository root, hostops installed, `apt-get install pssh`, "
        "`pip install asyncssh`):",
        "",
        "```sh",
        report.command,
        "```",
        "",
        f"Machine: {cpus} cores, shared by the client, every sshd daemon and the delaying "
        "proxy (and by other work: see the load average). Started "
        f"{report.started}, took {report.duration_s / 60:.1f} min; {report.runs} timed run(s) "
        f"per tool and table after {report.warmup} warm-up, interleaved in a shuffled order "
        f"(seed {report.seed}); the warm tools' connections opened by one untimed run first. "
        f"Load average before: {report.load_before}; after: {report.load_after}.",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in report.info.items()),
        "",
    ]
    for label, n, rtt in report.scenarios:
        lines += _table(report, label, n, rtt)
    lines += _targets(report)
    return "\n".join(lines)


def _table(report: Report, label: str, n: int, rtt: float) -> list[str]:
    where = f"behind the proxy, +{rtt:g} ms round trip" if rtt else "loopback"
    warm = report.stats(label, WARM) if WARM in report.tools else None
    lines = [
        f"## N = {n}, {where}",
        "",
        "| tool | runs ok | failed | wall median (s) | min | max | spread | client CPU/host (ms) "
        "| of which background (ms) | server CPU/host (ms) | hostops-warm ÷ tool |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    errors = []
    for tool in report.tools:
        s = report.stats(label, tool)
        good = [x for x in report.results[label] if x.tool == tool and x.ok]
        background = [1000 * getattr(x, "background_cpu_s", 0.0) / n for x in good]
        kept = tool in KEPT and background
        r = ratio(warm.median_s, s.median_s) if warm and tool != WARM else None
        lines.append(
            f"| {tool} | {s.ok} | {s.failed} | {fmt(s.median_s, '.3f')} | {fmt(s.min_s, '.3f')} "
            f"| {fmt(s.max_s, '.3f')} | {fmt(s.spread and 100 * s.spread, '.0f', ' %')} "
            f"| {fmt(s.client_ms_per_host, '.2f')} "
            f"| {fmt(statistics.median(background) if kept else None, '.2f')} "
            f"| {fmt(s.server_ms_per_host, '.2f')} | {fmt(r, '.2f', 'x')} |"
        )
        if s.first_error:
            errors.append(f"- {tool}: {s.failed} failed run(s), first: {s.first_error}")
    return [*lines, "", *([*errors, ""] if errors else [])]


def _targets(report: Report) -> list[str]:
    lines = ["## Targets (median wall time)", ""]
    for n, peer, limit in TARGETS:
        label = report.loopback(n)
        if label is None or WARM not in report.tools or peer not in report.tools:
            lines.append(f"- hostops-warm ≤ {limit}x {peer} at N={n}: not measured in this run")
            continue
        r = ratio(report.stats(label, WARM).median_s, report.stats(label, peer).median_s)
        shown = "" if r is None else f"{r:.2f}x — "
        lines.append(f"- hostops-warm ≤ {limit}x {peer} at N={n}: {shown}{_verdict(r, limit)}")
    lines += ["", *_round_trips(report), ""]
    return lines


def _verdict(value: float | None, limit: float) -> str:
    return "no data" if value is None else ("**met**" if value <= limit else "**not met**")


def _round_trips(report: Report) -> list[str]:
    """Wall time the round trip adds to a warm run, in round trips (hosts run in parallel,
    so a run's added wall time is what each host's exchange added)."""
    delayed = [(lab, n, rtt) for lab, n, rtt in report.scenarios if rtt]
    if not delayed:
        return [f"- warm behind the proxy ≤ {MAX_ROUND_TRIPS:g} round trips: not measured"]
    label, n, rtt = delayed[0]
    base = report.loopback(n)
    if base is None:
        return [f"- warm behind the proxy: not measured (no loopback table at N={n})"]
    lines = [
        f"Added round trips (target: hostops-warm ≤ {MAX_ROUND_TRIPS:g}). Computed as "
        f"(median wall time at N={n} behind the proxy - median wall time at N={n} on loopback, "
        f"the same tool in the same benchmark run) ÷ {rtt:g} ms. The loopback run holds the "
        "command itself and every local cost (start-up, CPU, the servers' work), so the "
        "difference is what the round trips cost; the hosts run in parallel, so it is the "
        "wall time added per host. The protocol's floor on a kept connection is 2: "
        "open a channel (1), then exec and its output, exit status and close (1).",
        "",
    ]
    for tool in (WARM, "pssh-cm", COLD, "asyncssh"):
        if tool not in report.tools:
            continue
        far, near = report.stats(label, tool).median_s, report.stats(base, tool).median_s
        if far is None or near is None:
            lines.append(f"- {tool}: no data")
            continue
        trips = (far - near) / (rtt / 1000)
        verdict = f" — {_verdict(trips, MAX_ROUND_TRIPS)}" if tool == WARM else " (reference)"
        lines.append(
            f"- {tool}: ({far:.3f} s - {near:.3f} s) ÷ {rtt / 1000:g} s = {trips:.1f} round trips"
            f"{verdict}"
        )
    return lines
