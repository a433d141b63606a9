"""A run on many hosts, locally and through a Dask cluster of two workers (``--cluster``),
on this machine: the controller's CPU per host (the target: <= 0.5 ms in cluster mode,
where it only aggregates), events per second through it, and the scheduler's CPU and
memory per host. Writes the ``cluster`` section of benchmarks/RESULTS.md.

The hosts are inventory names spread over a few real sshd daemons (each serves many
hosts: one connection per host, as many daemons would): 1,000 sshd processes are more
than a 2-core machine holds.

    python benchmarks/bench_cluster.py --hosts 1000 --daemons 50 --runs 1 \\
        --output benchmarks/RESULTS.md

``--flood SIZE`` (e.g. ``1G``) measures instead one host printing SIZE bytes, locally
and through the cluster, read as fast as this script can: MB/s, and the peak memory of
the controller, the scheduler and the workers (their shard processes included), sampled
every 0.2 s; written as the ``cluster-flood`` section.

    python benchmarks/bench_cluster.py --flood 1G --output benchmarks/RESULTS.md

``--pin`` runs the controller (``hostops`` and its children) on CPU 0 and everything else
(this script, the sshd daemons, the scheduler, the workers and their shards) on CPU 1:
the controller as on a machine of its own, its CPU measured without time-slicing against
the 1,000 sessions (it still shares the caches).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import replace_section
from procstat import cpu_s, rss_kib, tree

from hostops.testing.dask_cluster import DaskCluster
from hostops.testing.fleet import SshdFleet
from hostops.testing.pytest_plugin import pss_kib

# Events through the controller per host of `run uptime`: HostStarted, one Output,
# HostFinished (and a WorkerDone per shard or worker, counted apart).
_EVENTS_PER_HOST = 3


@dataclass
class Sample:
    mode: str
    hosts: int
    wall_s: float
    ok: int
    controller_cpu_s: float  # hostops and its children (the aggregator; local: the workers)
    scheduler_cpu_s: float
    scheduler_rss_kib: tuple[int, int]  # before, after
    workers_cpu_s: float  # the Dask workers, their shard processes included


def _inventory(fleet: SshdFleet, n: int, path: Path) -> Path:
    lines = [
        "defaults:",
        f"  user: {fleet.user}",
        f"  identity_file: {fleet.client_key}",
        f"  known_hosts: {fleet.known_hosts}",
        "hosts:",
    ]
    for i in range(n):
        daemon = fleet.hosts[i % len(fleet.hosts)]
        lines += [f"  h{i:05d}:", f"    address: {daemon.address}", f"    port: {daemon.port}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _on_cpu_0() -> None:
    """(--pin) The controller's CPU: the others run everything else."""
    os.sched_setaffinity(0, {0})


def _run(mode: str, inv: Path, n: int, cluster: DaskCluster, pin: bool = False) -> Sample:
    assert cluster.scheduler is not None and cluster.scheduler.process is not None
    scheduler = cluster.scheduler.process.pid
    workers = [w.process.pid for w in cluster.workers.values() if w.process is not None]
    argv = [sys.executable, "-m", "hostops", "run", "uptime", "-i", str(inv), "-n"]
    argv += ["--no-record", "-o", "json"]
    env = dict(os.environ)
    if mode == "cluster":
        argv += ["--cluster", cluster.address]
        env.update(cluster.certs.client_environment())
    before_children = os.times()
    sched_cpu, sched_rss = cpu_s([scheduler]), rss_kib(scheduler)
    workers_cpu = cpu_s(tree(workers))
    started = time.monotonic()
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        preexec_fn=_on_cpu_0 if pin else None,
    )
    wall = time.monotonic() - started
    after_children = os.times()
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return Sample(
        mode,
        n,
        wall,
        sum(r["status"] == "ok" for r in results),
        (after_children.children_user + after_children.children_system)
        - (before_children.children_user + before_children.children_system),
        cpu_s([scheduler]) - sched_cpu,
        (sched_rss, rss_kib(scheduler)),
        cpu_s(tree(workers)) - workers_cpu,
    )


def _table(n: int, n0: int, samples: list[Sample]) -> str:
    """Per mode: the run on ``n`` hosts, and the controller's CPU per host beyond its
    fixed cost (start-up, imports, the cluster's connection and shard start), from the
    difference with the runs on ``n0`` hosts."""
    rows = [
        "| mode | runs | hosts ok | wall median (s) | controller CPU (s) | at N0 (s) | controller CPU/host, marginal (ms) | events per controller CPU second | scheduler CPU/host (ms) | scheduler RSS before → after (MiB) | workers CPU/host (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode in ("local", "cluster"):
        mine = [s for s in samples if s.mode == mode and s.hosts == n]
        small = [s for s in samples if s.mode == mode and s.hosts == n0]
        if not mine or not small:
            continue
        wall = statistics.median(s.wall_s for s in mine)
        ctl = statistics.median(s.controller_cpu_s for s in mine)
        ctl0 = statistics.median(s.controller_cpu_s for s in small)
        marginal = 1000 * (ctl - ctl0) / (n - n0)
        sched = statistics.median(1000 * s.scheduler_cpu_s / n for s in mine)
        work = statistics.median(1000 * s.workers_cpu_s / n for s in mine)
        rss = mine[-1].scheduler_rss_kib
        rate = f"{_EVENTS_PER_HOST * 1000 / marginal:,.0f}" if marginal > 0 else "-"
        rows.append(
            f"| {mode} | {len(mine)} | {min(s.ok for s in mine)} | {wall:.2f} | {ctl:.2f} |"
            f" {ctl0:.2f} | {marginal:.2f} | {rate} |"
            f" {sched:.3f} | {rss[0] // 1024} → {rss[1] // 1024} | {work:.2f} |"
        )
    return "\n".join(rows) + "\n"


_FLOOD_LINE = "0123456789" * 9 + "abcdefghi"  # 99 characters and a newline: 100 bytes


@dataclass
class Flood:
    mode: str
    size: int  # bytes the host printed
    wall_s: float
    lines_ok: bool  # every line came back, whole
    peak_kib: dict[str, int]  # hop -> peak PSS


def _size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text[-1:].upper() in units:
        return int(text[:-1]) * units[text[-1].upper()]
    return int(text)


def _flood(mode: str, inv: Path, size: int, cluster: DaskCluster) -> Flood:
    """One host printing ``size`` bytes in lines of 100, its output read as it comes."""
    assert cluster.scheduler is not None and cluster.scheduler.process is not None
    lines = size // 100
    command = f"yes {_FLOOD_LINE} | head -n {lines}"
    argv = [sys.executable, "-m", "hostops", "run", command, "-i", str(inv), "-n"]
    argv += ["--no-record"]
    env = dict(os.environ)
    if mode == "cluster":
        argv += ["--cluster", cluster.address]
        env.update(cluster.certs.client_environment())
    scheduler = cluster.scheduler.process.pid
    workers = [w.process.pid for w in cluster.workers.values() if w.process is not None]
    started = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env)
    hops = {
        "controller": lambda: pss_kib(tree([p.pid])),
        "scheduler": lambda: pss_kib(tree([scheduler])),
        "workers": lambda: pss_kib(tree(workers)),
    }
    peak = dict.fromkeys(hops, 0)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            for hop, measure in hops.items():
                peak[hop] = max(peak[hop], measure())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert p.stdout is not None
    count = good = 0
    rest = b""
    expected = f" | {_FLOOD_LINE}".encode()
    while chunk := p.stdout.read(1 << 20):
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        count += len(parts)
        good += sum(1 for line in parts if line.endswith(expected))
    p.wait()
    wall = time.monotonic() - started
    done.set()
    sampler.join()
    return Flood(mode, lines * 100, wall, count == good == lines and p.returncode == 0, peak)


def _flood_table(floods: list[Flood]) -> str:
    rows = [
        "| mode | bytes | every line whole | wall (s) | MB/s | controller peak (MiB) | scheduler peak (MiB) | workers peak (MiB) |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for f in floods:
        rows.append(
            f"| {f.mode} | {f.size:,} | {'yes' if f.lines_ok else '**no**'} | {f.wall_s:.1f} |"
            f" {f.size / f.wall_s / 1e6:.1f} | {f.peak_kib['controller'] // 1024} |"
            f" {f.peak_kib['scheduler'] // 1024} | {f.peak_kib['workers'] // 1024} |"
        )
    return "\n".join(rows) + "\n"


def _run_flood(size_text: str, output: Path | None) -> None:
    size = _size(size_text)
    root = Path(tempfile.mkdtemp(prefix="hostops-bench-flood-"))
    with SshdFleet(root / "fleet", 1) as fleet, DaskCluster(root / "dask") as cluster:
        cluster.add_worker("w1")
        cluster.add_worker("w2")
        inv = fleet.write_inventory(root / "inv.yaml", fleet.hosts[:1])
        floods = []
        for mode in ("local", "cluster"):
            floods.append(_flood(mode, inv, size, cluster))
            print(floods[-1], file=sys.stderr)
    table = _flood_table(floods)
    print(table)
    if output is not None:
        body = (
            "# hostops benchmark: a flood of output through a Dask cluster\n\n"
            "Written by `benchmarks/bench_cluster.py`. Reproduce:\n\n```sh\n"
            f"python benchmarks/bench_cluster.py --flood {size_text} --output"
            " benchmarks/RESULTS.md\n```\n\n"
            f"One host (a loopback sshd) prints {size // 100 * 100:,} bytes in lines of 100"
            " (`yes | head`);"
            " `hostops run` in the stream view, its stdout read by the benchmark as fast as it"
            " can (every line checked); locally, then with `--cluster` (a TLS scheduler and two"
            " workers on this same 2-core machine). Peak memory: proportional set size of each"
            " process tree, sampled every 0.2 s (controller: hostops and its aggregator;"
            " workers: the Dask workers, their nannies and shard processes; locally the"
            " cluster is idle). Load average after:"
            f" {' '.join(f'{x:.2f}' for x in os.getloadavg())}.\n\n" + table
        )
        replace_section(output, "cluster-flood", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--daemons", type=int, default=50)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--flood", metavar="SIZE", help="one host printing SIZE (e.g. 1G)")
    parser.add_argument(
        "--pin", action="store_true", help="the controller on CPU 0, everything else on CPU 1"
    )
    args = parser.parse_args()
    if args.pin:
        os.sched_setaffinity(0, {1})  # inherited by the fleet and the cluster started below
    if args.flood:
        _run_flood(args.flood, args.output)
        return
    root = Path(tempfile.mkdtemp(prefix="hostops-bench-cluster-"))
    samples: list[Sample] = []
    with SshdFleet(root / "fleet", args.daemons) as fleet, DaskCluster(root / "dask") as cluster:
        cluster.add_worker("w1")
        cluster.add_worker("w2")
        n0 = args.daemons
        invs = {n: _inventory(fleet, n, root / f"inv{n}.yaml") for n in (n0, args.hosts)}
        for _ in range(args.runs):
            for mode in ("local", "cluster"):
                for n, inv in invs.items():
                    sample = _run(mode, inv, n, cluster, args.pin)
                    print(sample, file=sys.stderr)
                    samples.append(sample)
    table = _table(args.hosts, n0, samples)
    print(table)
    if args.output is not None:
        body = (
            (
                "## The same, the controller pinned to a core of its own\n\n"
                if args.pin
                else "# hostops benchmark: a run locally and through a Dask cluster\n\n"
            )
            + "Written by `benchmarks/bench_cluster.py`. Reproduce:\n\n```sh\n"
            f"python benchmarks/bench_cluster.py --hosts {args.hosts} --daemons"
            f" {args.daemons} --runs {args.runs}{' --pin' if args.pin else ''}"
            " --output benchmarks/RESULTS.md\n```\n\n"
            f"`run uptime` on {args.hosts} hosts spread over {args.daemons} loopback sshd"
            f" daemons (and on N0 = {args.daemons} hosts, for the fixed costs); the cluster: a TLS scheduler and two workers of two threads each"
            f" on this same 2-core machine; {args.runs} run(s) per mode, interleaved"
            + (
                "; pinned: the controller (hostops and its children) alone on CPU 0, the"
                " daemons, the scheduler and the workers on CPU 1."
                if args.pin
                else "; nothing pinned: the controller shares both cores with the sessions."
            )
            + f" Load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}.\n\n"
            + table
        )
        replace_section(args.output, "cluster-pinned" if args.pin else "cluster", body)


if __name__ == "__main__":
    main()
