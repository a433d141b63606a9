"""Connection settings of a cluster run, read on the worker where a host runs.

A cluster run's hosts leave the controller as the inventory gave them, with the
command line's overrides and which ssh_config to read (:class:`Resolution`); each
worker resolves them with the host layer's own function
(hostops.host.settings.resolve_all), so ssh_config, ``~``, identity files,
known_hosts and the agent are the worker machine's, as ``ssh`` run there would see
them. Its pre-flight (hostops.cluster.preflight) does the same first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from hostops.host.settings import Overrides, resolve_all
from hostops.host.ssh_config import SshConfig
from hostops.models import Host


@dataclass(frozen=True)
class Resolution:
    """How a worker resolves a run's hosts: ``ssh_config`` True reads the worker's
    default files (``~/.ssh/config``, then ``/etc/ssh/ssh_config``), a path that file
    there, False none; ``overrides``: the command line's; ``hops``: the inventory
    entries of the jump hosts the hosts name (a hop named only by the worker's
    ssh_config is taken as ssh takes it, not from the inventory)."""

    ssh_config: bool | str = True
    overrides: Overrides = field(default_factory=Overrides)
    hops: Mapping[str, Host] = field(default_factory=dict)

    def resolve(self, hosts: Iterable[Host]) -> list[Host]:
        """``hosts`` resolved here. Raises ConfigError (one line: the host, FILE:LINE)."""
        return resolve_all(
            hosts,
            ssh_config=SshConfig.chosen(self.ssh_config),
            overrides=self.overrides,
            inventory_host=self.hops.get,
        )

    def without_vars(self) -> Resolution:
        """This resolution without the hops' variables (see :func:`without_vars`)."""
        hops = without_vars(list(self.hops.values()))
        return dataclasses.replace(self, hops={h.name: h for h in hops})


def hop_names(hosts: Sequence[Host]) -> set[str]:
    """The host names of the jump chains ``hosts`` give (``[user@]host[:port],...``)."""
    names = set()
    for host in hosts:
        for hop in (host.jump or "").split(","):
            name = hop.strip().rpartition("@")[2]
            name = name[1:].partition("]")[0] if name.startswith("[") else name.partition(":")[0]
            if name and name.lower() != "none":
                names.add(name)
    return names


def without_vars(hosts: Sequence[Host]) -> tuple[Host, ...]:
    """``hosts`` without their variables: what a pre-flight task carries (its arguments
    are the scheduler's to see: no inventory value, vaulted or not, goes there)."""
    return tuple(dataclasses.replace(h, vars={}) for h in hosts)
