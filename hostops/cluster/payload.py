"""The hosts a shard is sent at the start of a cluster run: only those it may run.

A shard runs the hosts of its worker's sites and those without a site (the engine's
dispatcher never gives it another: hostops.fleet.dispatch, ``WorkerSlot.serves``), so
it is sent those, at their places in the run (jobs name their host by index:
hostops.cluster.relay), and not the whole inventory: with S sites of N/S hosts each, a
run sends each shard N/S hosts instead of N (~0.25 KB each pickled). A job for a host a
shard was not sent (none today) would go whole, as a Job naming its Host.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass

from hostops.cluster.resolve import Resolution
from hostops.cluster.shards import site_of
from hostops.models import Host


@dataclass(frozen=True)
class ShardHosts:
    """What a shard is sent: the run's size, the places of its hosts, the hosts as the
    inventory gave them and how they resolve on its machine (None: resolved)."""

    total: int
    places: tuple[int, ...]
    hosts: tuple[Host, ...]
    resolution: Resolution | None

    def at_places(self) -> list[Host | None]:
        """The run's hosts by place, resolved here; None at the places of the others."""
        resolved = (
            list(self.hosts) if self.resolution is None else self.resolution.resolve(self.hosts)
        )
        return _by_place(self.total, self.places, resolved)


class Payloads:
    """Each shard's hosts for one run, pickled once per set of sites."""

    def __init__(self, hosts: Sequence[Host], resolution: Resolution | None) -> None:
        self._hosts = hosts
        self._sites = [site_of(h) for h in hosts]
        self._resolution = resolution
        self._made: dict[frozenset[str], tuple[bytes, list[Host | None]]] = {}

    def for_sites(self, sites: frozenset[str]) -> tuple[bytes, list[Host | None]]:
        """The pickled ShardHosts for a shard serving ``sites``, and the run's hosts by
        place as it holds them (None: not sent to it)."""
        if sites not in self._made:
            places = tuple(i for i, site in enumerate(self._sites) if site is None or site in sites)
            mine = tuple(self._hosts[i] for i in places)
            data = pickle.dumps(
                ShardHosts(len(self._hosts), places, mine, self._resolution),
                protocol=pickle.HIGHEST_PROTOCOL,
            )
            self._made[sites] = (data, _by_place(len(self._hosts), places, mine))
        return self._made[sites]


def _by_place(total: int, places: Sequence[int], hosts: Sequence[Host]) -> list[Host | None]:
    """``hosts`` at their ``places`` in a run of ``total`` hosts; None elsewhere."""
    found: list[Host | None] = [None] * total
    for place, host in zip(places, hosts, strict=True):
        found[place] = host
    return found
