"""Time shell completion (``hostops completion``): what each Tab costs -- the call bash's
completion function makes (``_HOSTOPS_COMPLETE=complete_bash``) for the commands, an
option's values, ``-l`` names from a static inventory (500 hosts, 20 groups) and
``show``'s run ids (200 records) -- beside ``python -c pass`` (the floor of any Python
tool) and ``hostops --version`` in the same run, and write the ``completion`` section
of RESULTS.md. Also lists which heavy libraries (paramiko, jinja2, cryptography,
multiprocessing) each completion call loads (``python -X importtime``).

Each repetition runs every case once, in a freshly shuffled order (seeded), after
``--warmup`` untimed repetitions (which also write the bytecode caches).

Run from the repository root, with hostops installed (``pip install -e .``)::

    python benchmarks/bench_complete.py --runs 15 --output benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import replace_section

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("paramiko", "jinja2", "cryptography", "multiprocessing")


def _inventory(path: Path) -> Path:
    lines = []
    for group in range(20):
        lines.append(f"[group{group:02d}]")
        lines += [f"web{group:02d}-{n:02d}" for n in range(25)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _records(state: Path) -> None:
    runs = state / "hostops" / "runs"
    runs.mkdir(parents=True, mode=0o700)
    (state / "hostops").chmod(0o700)
    for n in range(200):
        (runs / f"20261130-{n:06d}-000000.jsonl").write_text("")


def cases(work: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    """What is timed: name -> (argv, extra environment)."""
    inventory = _inventory(work / "inv.ini")
    hostops = [sys.executable, "-m", "hostops"]

    def tab(words: str) -> dict[str, str]:
        parts = words.split(" ")
        return {
            "_HOSTOPS_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(parts) - 1),
        }

    return {
        "python -c pass": ([sys.executable, "-c", "pass"], {}),
        "hostops --version": ([*hostops, "--version"], {}),
        "Tab: hostops <Tab>": (hostops, tab("hostops ")),
        "Tab: run --host-key-policy <Tab>": (hostops, tab("hostops run --host-key-policy ")),
        "Tab: run -i inv -l group1<Tab>": (hostops, tab(f"hostops run -i {inventory} -l group1")),
        "Tab: show <Tab> (200 runs)": (hostops, tab("hostops show ")),
    }


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall, CPU) seconds of one run of ``argv``, and its stdout; a failure stops all."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def heavy_loaded(argv: list[str], env: dict[str, str]) -> list[str]:
    """The heavy libraries ``argv`` (a ``python -m hostops`` call) imports."""
    done = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    names = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    return sorted(h for h in HEAVY if h in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    started = time.time()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _records(work / "state")
        base = {
            **os.environ,
            "HOME": str(work),
            "XDG_STATE_HOME": str(work / "state"),
            "HOSTOPS_CONFIG": "",
        }
        for name in ("HOSTOPS_INVENTORY", "HOSTOPS_PERSIST"):
            base.pop(name, None)
        timed = cases(work)
        wall: dict[str, list[float]] = {n: [] for n in timed}
        cpu: dict[str, list[float]] = {n: [] for n in timed}
        offered: dict[str, int] = {}
        order = random.Random(args.seed)
        for repetition in range(args.warmup + args.runs):
            names = list(timed)
            order.shuffle(names)
            for name in names:
                argv, extra = timed[name]
                w, c, out = run_once(argv, {**base, **extra})
                offered[name] = len(out.split())
                if repetition >= args.warmup:
                    wall[name].append(w)
                    cpu[name].append(c)
        heavy = {n: heavy_loaded(a, {**base, **e}) for n, (a, e) in timed.items() if e}
    reference = statistics.median(wall["hostops --version"])
    rows = [
        "| case | candidates | wall median (ms) | min | max | CPU median (ms) | ÷ hostops --version | heavy libraries loaded |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name in timed:
        median = statistics.median(wall[name])
        candidates = str(offered[name]) if name.startswith("Tab") else ""
        loaded = ", ".join(heavy[name]) or "none" if name in heavy else ""
        rows.append(
            f"| {name} | {candidates} | {median * 1000:.0f} | {min(wall[name]) * 1000:.0f}"
            f" | {max(wall[name]) * 1000:.0f} | {statistics.median(cpu[name]) * 1000:.0f}"
            f" | {median / reference:.2f}x | {loaded} |"
        )
    body = "\n".join(
        [
            "# hostops benchmark: shell completion (what one Tab costs)",
            "",
            "Written by `benchmarks/bench_complete.py`. Reproduce (from the repository root):",
            "",
            "```sh",
            f"python benchmarks/bench_complete.py --runs {args.runs} --output benchmarks/RESULTS.md",
            "```",
            "",
            f"Started {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))},"
            f" took {time.time() - started:.0f} s; {args.runs} timed run(s) per case after"
            f" {args.warmup} warm-up(s), interleaved in a shuffled order (seed {args.seed})."
            f" Load average before: {' '.join(f'{x:.2f}' for x in load_before)};"
            f" after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}. 2 shared cores.",
            "",
            *rows,
            "",
        ]
    )
    print(body)
    if args.output:
        replace_section(args.output, "completion", body)


if __name__ == "__main__":
    main()
