"""Time hostops's start-up: ``hostops --version``, ``--help``, ``inventory`` and a run on the
example inventory's ``connection: local`` host, beside ``python -c pass`` (the floor
every Python tool pays) in the same run, and write the ``startup`` section of RESULTS.md.

Each repetition runs every command once, in a freshly shuffled order (seeded), after
``--warmup`` untimed repetitions (which also write the bytecode caches). Wall time and
CPU time (user + system of the command and its children) per command: median, min, max.
Peers' ``--version`` (parallel-ssh, clush) are timed too when they are installed.

Run from the repository root, with hostops installed (``pip install -e .``)::

    python benchmarks/bench_startup.py --runs 15 --output benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench_common import replace_section

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "inventory.example.yaml"
TARGETS = {"hostops --version": 0.1, "hostops run (local host)": 0.25}  # seconds, median wall


def _hostops() -> str:
    """The console script beside this interpreter (as bench_run.py: no version-manager shim)."""
    beside = Path(sys.executable).parent / "hostops"
    found = str(beside) if beside.exists() else shutil.which("hostops")
    if found is None:
        raise SystemExit("the hostops command is not installed (pip install -e .)")
    return found


def commands() -> dict[str, list[str]]:
    """What is timed, by the name RESULTS.md gives it."""
    hostops = _hostops()
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "hostops --version": [hostops, "--version"],
        "hostops --help": [hostops, "--help"],
        "hostops inventory": [hostops, "inventory", "--hosts", str(EXAMPLE)],
        "hostops run (local host)": [hostops, "run", "uptime", "--hosts", str(EXAMPLE)],
    }
    for peer in ("parallel-ssh", "clush"):
        path = shutil.which(peer)
        if path:
            cases[f"{peer} --version"] = [path, "--version"]
    return cases


@dataclass
class Samples:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of ``argv``; a failing command stops the benchmark."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def environment(state: Path) -> dict[str, str]:
    """This environment, with bytecode caches written (as an installed tool has them), no
    inventory from the environment, and run records in a scratch directory."""
    drop = {"PYTHONDONTWRITEBYTECODE", "HOSTOPS_INVENTORY", "HOSTOPS_DEBUG", "SSH_AUTH_SOCK"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["XDG_STATE_HOME"] = str(state)
    return env


def measure(runs: int, warmup: int, seed: int) -> dict[str, Samples]:
    cases = commands()
    rng = random.Random(seed)
    samples = {name: Samples() for name in cases}
    with tempfile.TemporaryDirectory(prefix="hostops-bench-startup-") as state:
        env = environment(Path(state))
        for rep in range(warmup + runs):
            order = list(cases)
            rng.shuffle(order)
            for name in order:
                wall, cpu = run_once(cases[name], env)
                if rep >= warmup:
                    samples[name].wall.append(wall)
                    samples[name].cpu.append(cpu)
    return samples


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def render(samples: dict[str, Samples], command: str, load: tuple[str, str], runs: int) -> str:
    base = statistics.median(samples["python -c pass"].wall)
    lines = [
        "## Start-up",
        "",
        f"Reproduce: `{command}` (from the repository root; {runs} interleaved runs per"
        f" command in a shuffled order after a warm-up; load average before: {load[0]},"
        f" after: {load[1]}; 2 shared cores).",
        "",
        "Wall and CPU (user + system, children included) seconds per command;"
        " `hostops run (local host)` is `hostops run uptime --hosts inventory.example.yaml`"
        " (one `connection: local` host, run record written).",
        "",
        "| command | wall median (s) | min | max | CPU median (s) | wall above python -c pass (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, s in samples.items():
        median = statistics.median(s.wall)
        lines.append(
            f"| `{name}` | {median:.3f} | {min(s.wall):.3f} | {max(s.wall):.3f} |"
            f" {statistics.median(s.cpu):.3f} | {median - base:.3f} |"
        )
    lines += ["", "Targets (median wall):", ""]
    for name, target in TARGETS.items():
        median = statistics.median(samples[name].wall)
        verdict = "met" if median <= target else "**missed**"
        lines.append(f"- `{name}` ≤ {target} s: {median:.3f} s — {verdict}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per command first")
    parser.add_argument("--seed", type=int, default=1, help="seed of the run order shuffle")
    parser.add_argument("--output", type=Path, help="results file (its startup section)")
    args = parser.parse_args()
    before = load_average()
    samples = measure(args.runs, args.warmup, args.seed)
    command = "python benchmarks/bench_startup.py --runs " + str(args.runs)
    if args.output is not None:
        command += f" --output {args.output}"
    text = render(samples, command, (before, load_average()), args.runs)
    print(text)
    if args.output is not None:
        replace_section(args.output, "startup", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
