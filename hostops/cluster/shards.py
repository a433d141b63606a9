"""Sites and shards: which hosts run on which cluster worker (pure functions, no Dask).

A host's inventory variable ``site`` (per host or per group) pins it to the workers
that declare the Dask resource ``hostops-site-SITE`` (``dask worker ... --resources
hostops-site-dc1=1``); a host without one may run on any worker. The plan balances the
hosts over the workers, each host on exactly one, in inventory order within a shard.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hostops.errors import ConfigError, UsageError
from hostops.models import Host
from hostops.ranges import fold

SITE_VAR = "site"
SITE_RESOURCE_PREFIX = "hostops-site-"
# Dask reads `--resources "a=1,b=2"`: a site name must survive that (no ',', '=', space).
SITE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")


@dataclass(frozen=True)
class WorkerInfo:
    """One Dask worker as the scheduler knows it: its address, its name and the sites
    its resources declare."""

    address: str
    name: str
    sites: frozenset[str] = frozenset()
    threads: int = 1


@dataclass(frozen=True)
class Shard:
    """The hosts one worker runs for one site (None: hosts without a site)."""

    worker: WorkerInfo
    site: str | None
    hosts: tuple[str, ...]


def site_resource(site: str) -> str:
    """The Dask resource a worker declares to serve ``site``."""
    return SITE_RESOURCE_PREFIX + site


def sites_of_resources(resources: Mapping[str, float]) -> frozenset[str]:
    """The sites a worker's Dask resources declare (those > 0 named ``hostops-site-*``)."""
    return frozenset(
        name[len(SITE_RESOURCE_PREFIX) :]
        for name, amount in resources.items()
        if name.startswith(SITE_RESOURCE_PREFIX) and amount > 0
    )


def site_of(host: Host) -> str | None:
    """``host``'s site (its variable ``site``), or None. Raises ConfigError naming the
    host for a value that is not a site name."""
    value = host.vars.get(SITE_VAR)
    if value is None:
        return None
    if not isinstance(value, str) or not SITE_NAME.match(value):
        raise ConfigError(
            f"host {host.name}: site must be a name (letters, digits, '.', '_', '-'), not {value!r}"
        )
    return value


def plan_shards(hosts: Iterable[Host], workers: Sequence[WorkerInfo]) -> list[Shard]:
    """Split ``hosts`` over ``workers``: each host with a site on a worker of that site,
    the others on any worker, so that the busiest worker has as few hosts as can be
    (sites with fewer workers are placed first; ties go to the worker listed first).

    Returns the non-empty shards, by worker (in ``workers``' order), then site (None
    last). Raises UsageError when there is no worker, ConfigError naming a site that
    no worker serves and its hosts (folded: ``web[01-05]``), or a host's bad site."""
    by_site: dict[str | None, list[str]] = {}
    for host in hosts:
        by_site.setdefault(site_of(host), []).append(host.name)
    if not workers:
        raise UsageError("the cluster has no worker: start one with 'dask worker ADDRESS'")
    missing = [s for s in by_site if s is not None and not any(s in w.sites for w in workers)]
    if missing:
        lost = sorted(missing)[0]
        raise ConfigError(
            f"site {lost}: no cluster worker serves it (resource {site_resource(lost)}),"
            f" for hosts {fold(by_site[lost])}"
        )
    load = [0] * len(workers)
    placed: dict[tuple[int, str | None], list[str]] = {}

    def eligible(site: str | None) -> list[int]:
        return [i for i, w in enumerate(workers) if site is None or site in w.sites]

    # Sites with the fewest workers first: they have the least choice.
    order = sorted((s for s in by_site if s is not None), key=lambda s: (len(eligible(s)), s))
    sites: list[str | None] = [*order, *([None] if None in by_site else [])]
    for site in sites:
        names = by_site[site]
        counts = _fill([load[i] for i in eligible(site)], len(names))
        start = 0
        for i, count in zip(eligible(site), counts, strict=True):
            if count:
                placed[(i, site)] = names[start : start + count]
                load[i] += count
                start += count
    return [
        Shard(workers[i], site, tuple(names))
        for (i, site), names in sorted(
            placed.items(), key=lambda kv: (kv[0][0], kv[0][1] is None, kv[0][1] or "")
        )
    ]


def _fill(loads: list[int], count: int) -> list[int]:
    """How many of ``count`` new hosts each worker gets, given its ``loads``: one at a time
    to the least loaded (the first of equals), which minimises the largest total."""
    extra = [0] * len(loads)
    heap = [(load, i) for i, load in enumerate(loads)]
    heapq.heapify(heap)
    for _ in range(count):
        load, i = heapq.heappop(heap)
        extra[i] += 1
        heapq.heappush(heap, (load + 1, i))
    return extra
