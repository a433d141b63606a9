"""Measure one change alone: two hostops installations, interleaved, on one loopback fleet.

Each round runs ``hostops run uptime --forks N -o json --no-agent`` once with each
console script, in a shuffled order, against the same N sshd daemons; wall time and
client CPU (the run's process and its children) are reported as medians. A run
counts only if it exits 0.

Example, main's checkout against a branch's, each installed in its own venv:

    python benchmarks/bench_ab.py --n 200 --rounds 10 /path/a/.venv/bin/hostops /path/b/.venv/bin/hostops
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_run import clean_env, prepare_size, raise_nofile_limit

from hostops.testing import SshdFleet


def once(hostops: str, inventory: Path, n: int) -> tuple[float, float, int]:
    """(wall seconds, client CPU seconds, exit code) of one run."""
    argv = [hostops, "run", "uptime", "--hosts", str(inventory), "--forks", str(n)]
    argv += ["-o", "json", "--no-agent", "--no-color"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        argv, env=clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu, done.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hostops", nargs=2, help="the two hostops console scripts")
    parser.add_argument("--n", type=int, default=200, help="hosts")
    parser.add_argument("--rounds", type=int, default=10, help="runs of each")
    parser.add_argument("--seed", type=int, default=1, help="seed of the run order shuffle")
    parser.add_argument("--address-base", type=int, default=96, help="fleet on 127.BASE.x.y")
    args = parser.parse_args(argv)
    raise_nofile_limit(12 * args.n + 256)
    order = random.Random(args.seed)
    samples: dict[str, list[tuple[float, float, int]]] = {h: [] for h in args.hostops}
    tmp = Path(tempfile.mkdtemp(prefix="hostops-bench-ab-"))
    try:
        with SshdFleet(tmp / "fleet", args.n, address_base=args.address_base) as fleet:
            setup = prepare_size(fleet, args.n, tmp)
            for hostops in args.hostops:  # a warm-up each: page cache, .pyc files
                once(hostops, setup.inventory, args.n)
            for _ in range(args.rounds):
                for hostops in order.sample(args.hostops, k=2):
                    samples[hostops].append(once(hostops, setup.inventory, args.n))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"hostops run uptime, N={args.n}, {args.rounds} interleaved rounds (median):")
    for hostops, runs in samples.items():
        ok = [r for r in runs if r[2] == 0]
        wall = statistics.median(r[0] for r in ok) if ok else float("nan")
        cpu = statistics.median(r[1] for r in ok) if ok else float("nan")
        print(f"  {hostops}: wall {wall:.3f} s, client CPU {cpu:.3f} s, {len(ok)}/{len(runs)} ok")
    return 0 if all(r[2] == 0 for runs in samples.values() for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
