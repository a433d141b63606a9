"""What `hostops report` costs: a synthetic run record of N hosts (written by the
journal's own writer, hostops.testing.records: three outcome groups, 10 batches, one
slow), then the page built from it; its size, the build time, `hostops report`'s whole
command, and the time headless Chromium takes to load the page and run its script
(``--dump-dom``), beside the same Chromium loading an empty page (its own start-up).

    python benchmarks/bench_report.py [--sizes 1000,10000] [--runs 5] [--output benchmarks/RESULTS.md]

Writes section "report" of the results file. Chromium runs offline
(hostops.testing.browser); without it the browser columns say so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import replace_section

from hostops._version import __version__
from hostops.journal import load_run
from hostops.render.report import report_html
from hostops.testing.browser import chromium, dump_dom
from hostops.testing.records import synthetic_run


def _median(times: list[float]) -> float:
    return statistics.median(times) if times else float("nan")


def _timed(action, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return times


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed_process(action, runs: int) -> tuple[list[float], list[float]]:
    """Wall times and CPU times (user + system of the child processes) of ``action``."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu = _children_cpu()
        began = time.perf_counter()
        action()
        walls.append(time.perf_counter() - began)
        cpus.append(_children_cpu() - cpu)
    return walls, cpus


def _chromium_version() -> str:
    exe = chromium()
    if exe is None:
        return "not installed"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "unknown"


def _one_size(n: int, runs: int, work: Path, empty: Path | None) -> list[str]:
    state = work / f"state{n}"
    runs_dir = state / "hostops" / "runs"
    runs_dir.mkdir(parents=True, mode=0o700)
    for d in (state / "hostops", state):
        d.chmod(0o700)
    began = time.perf_counter()
    record = synthetic_run(runs_dir, n, batches=10, slow=4)
    written = time.perf_counter() - began
    load = _timed(lambda: load_run(record), runs)
    run = load_run(record)
    build = _timed(lambda: report_html(run), runs)
    page = work / f"report{n}.html"
    page.write_text(report_html(run))
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    argv = [sys.executable, "-m", "hostops", "report", "-o", str(page)]
    cli, cli_cpu = _timed_process(
        lambda: subprocess.run(argv, env=env, capture_output=True, check=True), runs
    )
    row = (
        f"| {n:,} | {record.stat().st_size / 1e6:.2f} | {written:.2f} | {_median(load):.3f}"
        f" | {_median(build):.3f} | {_median(cli):.2f} ({_median(cli_cpu):.2f})"
        f" | {page.stat().st_size / 1e6:.2f}"
    )
    if empty is None:
        return [row + " | (no chromium) | (no chromium) | |"]
    dump_dom(page)  # warm-up: the page's file in the cache, Chromium's files too
    loads, loads_cpu, blanks, blanks_cpu = [], [], [], []
    for _ in range(runs):  # interleaved: both see the same load of the machine
        for path, walls, cpus in ((empty, blanks, blanks_cpu), (page, loads, loads_cpu)):
            wall, cpu = _timed_process(lambda p=path: dump_dom(p), 1)
            walls.extend(wall)
            cpus.extend(cpu)
    return [
        row + f" | {_median(loads):.2f} ({_median(loads_cpu):.2f})"
        f" | {_median(blanks):.2f} ({_median(blanks_cpu):.2f})"
        f" | {_median(loads) / _median(blanks):.2f}x |"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    started = dt.datetime.now(dt.timezone.utc)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        work = Path(tmp)
        empty = None
        if chromium() is not None:
            empty = work / "empty.html"
            empty.write_text("<!DOCTYPE html><title>empty</title>")
        for n in sizes:
            rows += _one_size(n, args.runs, work, empty)
    took = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
    body = "\n".join(
        [
            "# hostops benchmark: `hostops report` (the HTML page of a run record)",
            "",
            "Written by `benchmarks/bench_report.py`. Reproduce (from the repository root):",
            "",
            "```sh",
            f"python benchmarks/bench_report.py --sizes {args.sizes} --runs {args.runs}"
            " --output benchmarks/RESULTS.md",
            "```",
            "",
            f"Started {started:%Y-%m-%d %H:%M} UTC, took {took:.0f} s; medians of"
            f" {args.runs} runs. Load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
            f" (2 cores shared with other work). hostops {__version__}, Python"
            f" {platform.python_version()}, {_chromium_version()}"
            + ("." if empty is not None else "; Chromium could not be found: no browser figures."),
            "",
            "Times are wall clock, CPU (user + system of the child processes) in brackets: on"
            " this shared machine the wall time of a process includes waiting for a core."
            " The browser columns: `chromium --headless --dump-dom` of the page (load, layout,"
            " the script run), beside the same Chromium dumping an empty page (its own"
            " start-up), interleaved run by run.",
            "",
            "Synthetic records (hostops.testing.records, through the journal's writer):"
            " three outcome groups (ok, failed exit 2, unreachable), 10 batches, one slow.",
            "",
            "| hosts | record (MB) | record written (s) | load_run (s) | page built (s)"
            " | `hostops report` command (s) | page (MB) | Chromium, the page (s)"
            " | Chromium, an empty page (s) | page ÷ empty |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    if args.output:
        replace_section(args.output, "report", body)
    print(body)


if __name__ == "__main__":
    main()
