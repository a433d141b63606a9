"""Connecting to a Dask scheduler, listing its workers, and their pre-flight: the only
module of hostops that imports ``distributed`` (imported only when a cluster is used).

TLS comes from Dask's own configuration (``distributed.comm.tls.*``: a YAML file in
~/.config/dask/ or ``DASK_DISTRIBUTED__COMM__TLS__CA_FILE``,
``..._TLS__CLIENT__CERT``, ``..._TLS__CLIENT__KEY``), and so does the time allowed to
connect (``distributed.comm.timeouts.connect``). README, "Cluster".
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping, Sequence

import dask.config
from dask.utils import parse_timedelta
from distributed import Client
from distributed.security import Security

from hostops._version import __version__
from hostops.cluster.address import ClusterAddress
from hostops.cluster.channel import server_context
from hostops.cluster.preflight import WorkerReport, check_hosts
from hostops.cluster.resolve import Resolution
from hostops.cluster.shard import run_shard
from hostops.cluster.shards import WorkerInfo, sites_of_resources
from hostops.cluster.source import ListenAt
from hostops.errors import ClusterError
from hostops.models import Host

_TLS_KEYS = (
    ("distributed.comm.tls.ca-file", "DASK_DISTRIBUTED__COMM__TLS__CA_FILE"),
    ("distributed.comm.tls.client.cert", "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT"),
)


def connect_timeout() -> float:
    """Seconds allowed to reach the scheduler: Dask's ``distributed.comm.timeouts.connect``."""
    seconds = parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), "s")
    return float(seconds) if seconds else 30.0


def security(address: ClusterAddress) -> Security:
    """Dask's Security for ``address`` from Dask's configuration. Raises ClusterError for a
    tls:// address without a CA file and a client certificate configured."""
    if address.encrypted:
        missing = [env for key, env in _TLS_KEYS if not dask.config.get(key, None)]
        if missing:
            raise ClusterError(
                f"cluster {address}: tls:// needs a client certificate and the cluster's CA:"
                f" set {', '.join(missing)} (README, 'Cluster')"
            )
    return Security()


def connect(address: ClusterAddress) -> Client:
    """A client of the scheduler at ``address``. Raises ClusterError (exit 2) naming the
    address when it cannot be reached in :func:`connect_timeout` seconds or refuses us
    (a TLS handshake refused, a certificate not trusted)."""
    settings = security(address)
    timeout = connect_timeout()
    try:
        return Client(str(address), security=settings, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:  # CommClosedError is an OSError too
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ClusterError(f"cluster {address}: cannot connect: {reason}") from None


def workers(client: Client) -> list[WorkerInfo]:
    """The workers the scheduler knows now, by name (then address)."""
    info: Mapping[str, Mapping[str, object]] = client.scheduler_info()["workers"]
    found = []
    for address, worker in info.items():
        resources = worker.get("resources") or {}
        assert isinstance(resources, Mapping)
        threads = worker.get("nthreads")
        found.append(
            WorkerInfo(
                address=address,
                name=str(worker.get("name", address)),
                sites=sites_of_resources(resources),
                threads=threads if isinstance(threads, int) else 1,
            )
        )
    return sorted(found, key=lambda w: (w.name, w.address))


def preflight(
    client: Client,
    hosts: Mapping[str, Sequence[Host]],
    resolution: Resolution | None,
    names: Mapping[str, str],
) -> dict[str, WorkerReport]:
    """Run :func:`check_hosts` on each worker of ``hosts`` (address -> its hosts, without
    their variables), once, never elsewhere, never again: they are resolved there with
    ``resolution`` (None: they are already). ``names``: worker address -> name.

    Raises ClusterError (exit 2) naming the worker: its first problem (a file), a
    hostops of another version, or the check itself failing there (hostops missing)."""
    futures = {
        address: client.submit(
            check_hosts,
            tuple(chosen),
            resolution,
            workers=[address],
            allow_other_workers=False,
            retries=0,
            pure=False,
        )
        for address, chosen in hosts.items()
    }
    reports: dict[str, WorkerReport] = {}
    for address, future in futures.items():
        where = f"cluster worker {names.get(address, address)}"
        try:
            report = future.result()
        except Exception as exc:  # raised on the worker, or the worker lost
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise ClusterError(f"{where}: pre-flight failed: {reason}") from None
        if report.version != __version__:
            raise ClusterError(
                f"{where} ({report.hostname}): hostops {report.version} there,"
                f" {__version__} here: install the same version"
            )
        if report.problems:
            more = f" (and {len(report.problems) - 1} more)" if len(report.problems) > 1 else ""
            raise ClusterError(f"{where} ({report.hostname}): {report.problems[0]}{more}")
        reports[address] = report
    return reports


class DaskLauncher:
    """Submits shard tasks (hostops.cluster.source.Launcher): pinned to their worker
    (and its site's resource), never retried, never reused, the arguments only the
    controller's channel address and a one-time token."""

    def __init__(self, client: Client, address: ClusterAddress) -> None:
        self._client = client
        self._encrypted = address.encrypted

    def launch(
        self,
        worker: WorkerInfo,
        key: str,
        controller: str,
        token: str,
        ended: Callable[[str], None],
    ) -> Callable[[], None]:
        future = self._client.submit(
            run_shard,
            controller,
            token,
            self._encrypted,
            key=key,
            workers=[worker.address],
            allow_other_workers=False,
            retries=0,
            pure=False,
        )

        def done(f: object) -> None:
            status = future.status
            if status == "finished":
                code = future.result()
                ended("" if code == 0 else f"its shard process exited with code {code}")
            elif status == "error":
                reason = " ".join(str(future.exception()).split())
                ended(reason or "the task failed")
            else:
                ended(f"the task was {status}")

        future.add_done_callback(done)

        def cancel() -> None:
            if not future.done():
                future.cancel()

        return cancel


def listen_at(address: ClusterAddress) -> ListenAt:
    """Where the controller's channel listener binds: the address this machine reaches
    the scheduler from (``$HOSTOPS_CLUSTER_LISTEN`` overrides it), with the client's
    certificate and the cluster's CA for a tls:// cluster."""
    import os

    host = os.environ.get("HOSTOPS_CLUSTER_LISTEN", "").strip()
    if not host:
        family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
        try:
            info = socket.getaddrinfo(address.host, address.port, family, socket.SOCK_DGRAM)
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect(info[0][4])  # no packet is sent: the route is looked up
                host = str(probe.getsockname()[0])
        except OSError as exc:
            raise ClusterError(f"cluster {address}: no route to it: {exc}") from None
    tls = None
    if address.encrypted:
        ca = dask.config.get("distributed.comm.tls.ca-file")
        cert = dask.config.get("distributed.comm.tls.client.cert")
        key = dask.config.get("distributed.comm.tls.client.key", None) or cert
        tls = server_context(ca, cert, key)
    return ListenAt(host, tls)
