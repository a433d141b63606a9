"""Sites proven by isolation: network namespaces, each holding one site's sshd hosts,
that this process (the controller, the scheduler) cannot reach. Needs root and
``ip`` (iproute2).

Layout (``tag`` keeps two fixtures apart)::

    this namespace                      namespace hostops-TAG-SITE (one per site)
    bridge hob-TAG 10.200.0.1/24 ----- veth: 10.200.0.(10+i)/24  (its dask worker)
    route unreachable 10.201.0.0/16     lo: 10.201.i.1, 10.201.i.2, ... (its sshd hosts)

Addresses in 127.0.0.0/8 cannot be used: every namespace has a loopback of its own,
so a host there and one here could share an address. The namespaces have no default
route and the hosts' range is ``unreachable`` here: nothing is ever sent off this
machine (a connection to a host from here fails at once with "no route").
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostops.testing.fleet import FleetHost, SshdFleet

BRIDGE_NET = "10.200.0"  # the bridge and the workers' side of it
HOSTS_NET = "10.201"  # the sites' hosts: 10.201.<site>.<n>, inside their namespace only
_SSH_PORT = 2222  # a namespace's ports are its own: any one is free there
_LISTENING = "Server listening on {address} port {port}."


def ip(*args: str) -> None:
    """Run ``ip ARGS``; a failure raises with ip's own message."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


class NetnsSshdFleet(SshdFleet):
    """sshd daemons inside the network namespace ``netns``, on ``addresses`` there;
    ready when sshd logs that it listens (this process cannot connect to them)."""

    def __init__(self, root: Path, netns: str, addresses: list[str], **kw: Any) -> None:
        super().__init__(root, len(addresses), **kw)
        self.netns = netns
        for host, address in zip(self.hosts, addresses, strict=True):
            host.address = address

    def _pick_port(self, host: FleetHost) -> int:
        return _SSH_PORT

    def _answers(self, host: FleetHost) -> bool:
        line = _LISTENING.format(address=host.address, port=host.port)
        return line in host.log.read_text(errors="replace")

    def _argv(self, host: FleetHost, key: Path) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *super()._argv(host, key)]


@dataclass
class Site:
    """One site: its namespace, its worker's address, its sshd hosts."""

    name: str
    netns: str
    worker_address: str
    fleet: NetnsSshdFleet

    @property
    def prefix(self) -> list[str]:
        """The command prefix that runs a command inside the site's namespace."""
        return ["ip", "netns", "exec", self.netns]


@dataclass
class IsolatedSites:
    """Namespaces for ``sites`` (name -> number of hosts) under ``root``. Use as a context
    manager: the namespaces, the bridge, the route and every daemon are removed on
    exit, whatever happened."""

    root: Path
    sites: dict[str, int]
    tag: str = field(default_factory=lambda: f"{os.getpid() % 100000}")
    started: list[Site] = field(default_factory=list)
    _undo: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"hob-{self.tag}"

    @property
    def bridge_address(self) -> str:
        """This namespace's address on the bridge: the scheduler listens here."""
        return f"{BRIDGE_NET}.1"

    def __enter__(self) -> IsolatedSites:
        if os.geteuid() != 0:
            raise RuntimeError("network namespaces need root (CI runs as root)")
        try:
            self._network()
            for i, (name, count) in enumerate(self.sites.items(), start=1):
                self.started.append(self._site(i, name, count))
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _do(self, undo: tuple[str, ...], *args: str) -> None:
        ip(*args)
        self._undo.append(undo)

    def _network(self) -> None:
        self._do(("link", "del", self.bridge), "link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.bridge_address}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        route = ("unreachable", f"{HOSTS_NET}.0.0/16")
        self._do(("route", "del", *route), "route", "add", *route)

    def _site(self, index: int, name: str, count: int) -> Site:
        netns = f"hostops-{self.tag}-{name}"
        self._do(("netns", "del", netns), "netns", "add", netns)
        veth = f"hov-{self.tag}-{index}"
        ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
        ip("link", "set", veth, "master", self.bridge, "up")
        worker_address = f"{BRIDGE_NET}.{10 + index}"
        ip("-n", netns, "addr", "add", f"{worker_address}/24", "dev", "eth0")
        ip("-n", netns, "link", "set", "eth0", "up")
        ip("-n", netns, "link", "set", "lo", "up")
        addresses = [f"{HOSTS_NET}.{index}.{n + 1}" for n in range(count)]
        for address in addresses:
            ip("-n", netns, "addr", "add", f"{address}/32", "dev", "lo")
        fleet = NetnsSshdFleet(self.root / name, netns, addresses, name_format=f"{name}-{{:02d}}")
        site = Site(name, netns, worker_address, fleet)
        fleet.start()
        return site

    def stop(self) -> None:
        """Stop the daemons, then undo every change in reverse order (a namespace's
        deletion takes its veth with it)."""
        for site in self.started:
            site.fleet.stop()
        for undo in reversed(self._undo):
            with contextlib.suppress(RuntimeError):  # gone already: nothing to undo
                ip(*undo)
        self._undo.clear()
