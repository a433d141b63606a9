"""A shard is sent only the hosts it may run (hostops.cluster.payload): its sites' and
those without a site, at their places in the run; its jobs still name them by index."""

from __future__ import annotations

import pickle

from hostops.cluster.payload import Payloads, ShardHosts
from hostops.cluster.relay import EngineEnd, ShardJobs
from hostops.cluster.resolve import Resolution
from hostops.fleet.dispatch import Job
from hostops.models import Host
from hostops.operations import Command

OP = Command("uptime")


def _hosts() -> list[Host]:
    sites = ["dc1", "dc2", None, "dc1", "dc2", "dc2"] * 50
    return [
        Host(
            name=f"h{i:03d}",
            address=f"10.0.{i // 256}.{i % 256}",
            vars={} if site is None else {"site": site},
        )
        for i, site in enumerate(sites)
    ]


def test_a_shard_receives_its_sites_hosts_and_the_unpinned_ones_at_their_places() -> None:
    hosts = _hosts()
    data, held = Payloads(hosts, None).for_sites(frozenset({"dc1"}))
    received: ShardHosts = pickle.loads(data)
    at = received.at_places()
    assert len(at) == len(hosts) == received.total
    for i, host in enumerate(hosts):
        expected = host if host.vars.get("site") in (None, "dc1") else None
        assert at[i] == expected
        assert held[i] == expected
    assert {h.vars.get("site") for h in received.hosts} == {"dc1", None}
    everything = pickle.dumps((hosts, None), protocol=pickle.HIGHEST_PROTOCOL)
    assert len(data) < 0.6 * len(everything)  # 150 of 300 hosts (and their places)


def test_a_worker_without_sites_receives_only_the_unpinned_hosts() -> None:
    hosts = _hosts()
    received: ShardHosts = pickle.loads(Payloads(hosts, None).for_sites(frozenset())[0])
    assert received.hosts == tuple(h for h in hosts if "site" not in h.vars)


def test_shards_of_the_same_sites_share_one_pickle() -> None:
    payloads = Payloads(_hosts(), None)
    assert payloads.for_sites(frozenset({"dc2"}))[0] is payloads.for_sites(frozenset({"dc2"}))[0]


def test_the_shard_resolves_only_its_hosts_there() -> None:
    hosts = _hosts()
    resolution = Resolution(ssh_config=False)
    received: ShardHosts = pickle.loads(
        Payloads(hosts, resolution).for_sites(frozenset({"dc2"}))[0]
    )
    at = received.at_places()
    mine = [i for i, h in enumerate(hosts) if h.vars.get("site") in (None, "dc2")]
    assert [i for i, h in enumerate(at) if h is not None] == mine
    assert [at[i] for i in mine] == resolution.resolve([hosts[i] for i in mine])


def test_jobs_for_a_shards_hosts_go_by_index_any_other_whole() -> None:
    hosts = _hosts()
    _data, held = Payloads(hosts, None).for_sites(frozenset({"dc1"}))
    sent: list[bytes] = []
    end = EngineEnd(sent.append, held)
    end.send(Job(0, hosts[0], OP))  # dc1: sent to it, by index
    end.send(Job(1, hosts[1], OP))  # dc2: never sent to it (the dispatcher would not)
    wire = [pickle.loads(b) for b in sent]
    assert wire[0][:2] == ("job", 0)
    assert isinstance(wire[1], Job)
    shard = ShardJobs(held)
    assert [shard.decode(w) for w in wire] == [Job(0, hosts[0], OP), Job(1, hosts[1], OP)]
