"""``hostops cluster``'s text: the workers, their sites, and the split of the hosts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hostops.cluster.preflight import WorkerReport
from hostops.cluster.shards import Shard, WorkerInfo
from hostops.ranges import fold


def _table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def cluster_text(
    workers: Sequence[WorkerInfo],
    shards: Sequence[Shard],
    reports: Mapping[str, WorkerReport],
) -> str:
    """Two tables: each worker (name, address, machine, sites, threads, hosts it would
    run), then each shard (worker, site, how many hosts, which, folded)."""
    load = {w.address: 0 for w in workers}
    for shard in shards:
        load[shard.worker.address] += len(shard.hosts)
    rows = [("WORKER", "ADDRESS", "MACHINE", "SITES", "THREADS", "HOSTS")]
    for w in workers:
        report = reports.get(w.address)
        rows.append(
            (
                w.name,
                w.address,
                report.hostname if report else "-",
                ",".join(sorted(w.sites)) or "-",
                str(w.threads),
                str(load[w.address]),
            )
        )
    lines = _table(rows)
    lines.append("")
    shard_rows = [("SHARD", "SITE", "HOSTS", "")]
    for shard in shards:
        shard_rows.append(
            (shard.worker.name, shard.site or "(any)", str(len(shard.hosts)), fold(shard.hosts))
        )
    lines += _table(shard_rows)
    total = sum(len(s.hosts) for s in shards)
    used = len({s.worker.address for s in shards})
    lines.append(f"{total} hosts on {used} of {len(workers)} workers")
    return "\n".join(lines) + "\n"
