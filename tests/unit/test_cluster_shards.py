"""The shard planner: sites pin hosts to their workers, the rest balance over all."""

from __future__ import annotations

from collections import Counter

import pytest

from hostops.cluster.shards import (
    Shard,
    WorkerInfo,
    plan_shards,
    site_of,
    site_resource,
    sites_of_resources,
)
from hostops.errors import ConfigError, UsageError
from hostops.models import Host


def hosts(names: str, site: str | None = None) -> list[Host]:
    vars_ = {"site": site} if site else {}
    return [Host(name=n, address=n, vars=vars_) for n in names.split()]


def worker(name: str, *sites: str) -> WorkerInfo:
    return WorkerInfo(address=f"tls://{name}:1", name=name, sites=frozenset(sites))


def split(shards: list[Shard]) -> dict[tuple[str, str | None], tuple[str, ...]]:
    return {(s.worker.name, s.site): s.hosts for s in shards}


def test_sites_come_from_resources() -> None:
    assert sites_of_resources({"hostops-site-dc1": 1, "GPU": 2, "hostops-site-x": 0}) == {"dc1"}
    assert site_resource("dc1") == "hostops-site-dc1"


def test_hosts_of_a_site_run_only_on_its_workers() -> None:
    plan = plan_shards(
        hosts("a1 a2 a3 a4", "dc1") + hosts("b1 b2", "dc2"),
        [worker("w1", "dc1"), worker("w2", "dc2"), worker("w3", "dc1")],
    )
    assert split(plan) == {
        ("w1", "dc1"): ("a1", "a2"),
        ("w2", "dc2"): ("b1", "b2"),
        ("w3", "dc1"): ("a3", "a4"),
    }


def test_hosts_without_a_site_fill_the_least_loaded_workers() -> None:
    plan = plan_shards(
        hosts("a1 a2 a3 a4", "dc1") + hosts("n1 n2 n3 n4 n5 n6"),
        [worker("w1", "dc1"), worker("w2"), worker("w3")],
    )
    load = Counter({s.worker.name: len(s.hosts) for s in plan})
    assert load == {"w1": 4, "w2": 3, "w3": 3}
    assert split(plan)[("w2", None)] == ("n1", "n2", "n3")  # inventory order kept in a shard


def test_every_host_is_in_exactly_one_shard_and_the_split_is_balanced() -> None:
    names = [f"h{i:03}" for i in range(101)]
    all_hosts = [Host(name=n, address=n) for n in names]
    plan = plan_shards(all_hosts, [worker(f"w{i}") for i in range(7)])
    placed = [h for s in plan for h in s.hosts]
    assert sorted(placed) == names
    sizes = [len(s.hosts) for s in plan]
    assert max(sizes) - min(sizes) <= 1 and len(sizes) == 7


def test_a_site_with_fewer_workers_is_placed_first() -> None:
    # w1 serves dc1 and dc2, w2 only dc2: dc1's hosts must go to w1, dc2's then to w2.
    plan = plan_shards(
        hosts("x1 x2", "dc2") + hosts("y1 y2", "dc1"),
        [worker("w1", "dc1", "dc2"), worker("w2", "dc2")],
    )
    assert split(plan) == {("w1", "dc1"): ("y1", "y2"), ("w2", "dc2"): ("x1", "x2")}


def test_a_site_no_worker_serves_is_an_error_naming_it_and_its_hosts() -> None:
    with pytest.raises(ConfigError) as caught:
        plan_shards(hosts("web01 web02 web03", "dc3") + hosts("n1"), [worker("w1", "dc1")])
    assert str(caught.value) == (
        "site dc3: no cluster worker serves it (resource hostops-site-dc3), for hosts web[01-03]"
    )
    assert caught.value.exit_code == 2


def test_no_worker_at_all_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no worker"):
        plan_shards(hosts("a"), [])


@pytest.mark.parametrize("bad", ["dc 1", "a,b", "x=1", "", 7, ["dc1"]])
def test_a_bad_site_value_names_the_host(bad: object) -> None:
    host = Host(name="web01", address="w", vars={"site": bad})
    with pytest.raises(ConfigError, match=r"^host web01: site must be a name"):
        site_of(host)


def test_no_site_is_none() -> None:
    assert site_of(Host(name="a", address="a")) is None
