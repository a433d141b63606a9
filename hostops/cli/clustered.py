"""``--cluster`` on the commands that reach hosts: the checks before anything runs
(address, secrets, the scheduler, sites, the workers' pre-flight), then the run's
engine attached to shard processes on the cluster's workers (hostops.cluster.source).

Dask is imported here only when a cluster is given: without one, nothing changes.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hostops.cli.options import Auth, ClusterUse
from hostops.credentials import Secrets
from hostops.errors import UsageError
from hostops.models import Host, RunOptions
from hostops.render.console import Console

if TYPE_CHECKING:
    from hostops.cluster.address import ClusterAddress
    from hostops.cluster.preflight import WorkerReport
    from hostops.cluster.resolve import Resolution
    from hostops.cluster.shards import Shard, WorkerInfo


@dataclass
class Checked:
    """A cluster that passed the checks, its client connected."""

    address: ClusterAddress
    client: Any  # distributed.Client: Dask is imported only in hostops.cluster
    workers: list[WorkerInfo]
    shards: list[Shard]
    reports: dict[str, WorkerReport]


def asked_secrets(auth: Auth, ask_sudo_pass: bool = False) -> list[str]:
    """The secrets the command line asks for, by option."""
    return [
        flag
        for flag, on in (
            ("--ask-pass", auth.ask_pass),
            ("--ask-key-pass", auth.ask_key_pass),
            ("--ask-sudo-pass", ask_sudo_pass),
        )
        if on
    ]


@contextlib.contextmanager
def checked(
    console: Console,
    address: ClusterAddress,
    hosts: Sequence[Host],
    resolution: Resolution | None,
    secrets: Sequence[str],
) -> Iterator[Checked]:
    """Connect to the cluster at ``address`` and check it can run ``hosts`` (resolved on
    the workers with ``resolution``; None: already resolved) with ``secrets`` (their
    names): the plain-text warning, the secrets refused over tcp://, every site served,
    every worker's pre-flight. Raises UsageError, ConfigError or ClusterError (exit 2)
    before anything runs."""
    from hostops.cluster.address import plain_text_warning, refuse_plain_secrets
    from hostops.cluster.preflight import hosts_to_check
    from hostops.cluster.shards import plan_shards

    warning = plain_text_warning(address)
    if warning:
        console.message("warning", warning)
    refuse_plain_secrets(address, secrets)

    from hostops.cluster.connect import connect, preflight, workers

    client = connect(address)
    try:
        found = workers(client)
        shards = plan_shards(hosts, found)
        bare = resolution.without_vars() if resolution is not None else None
        reports = preflight(
            client, hosts_to_check(shards, hosts), bare, {w.address: w.name for w in found}
        )
        yield Checked(address, client, found, shards, reports)
    finally:
        client.close()


def cluster_run(
    console: Console,
    use: ClusterUse,
    hosts: Sequence[Host],
    options: RunOptions,
    secrets: Secrets,
    asked: Sequence[str],
    *,
    stdin: bool = False,
    resolution: Resolution | None = None,
) -> contextlib.AbstractContextManager[object]:
    """Within it, every engine of this process runs on the cluster ``use`` names (none:
    a local run, nothing done), ``hosts`` resolved on the workers with ``resolution``
    (hostops.cluster.resolve; None: resolved already); files to and from the hosts go over the shards'
    channels (hostops.cluster.staging). Raises UsageError for what a cluster run
    cannot do (``--persist``, forwarded stdin), and as :func:`checked`."""
    from hostops.cluster import cluster_address

    address = cluster_address(use.cluster)
    if address is None:
        return contextlib.nullcontext()
    if options.persist is not None:
        raise UsageError(
            "--persist cannot be used with --cluster (give --no-persist): the cluster's workers connect"
        )
    if stdin:
        raise UsageError(
            "standard input is not forwarded over --cluster: give -n (--no-stdin) or run locally"
        )
    return _attached(console, address, hosts, resolution, options, [*asked, *secrets.given()])


@contextlib.contextmanager
def _attached(
    console: Console,
    address: ClusterAddress,
    hosts: Sequence[Host],
    resolution: Resolution | None,
    options: RunOptions,
    secrets: Sequence[str],
) -> Iterator[object]:
    from hostops.cluster.connect import DaskLauncher, connect_timeout, listen_at
    from hostops.cluster.source import ClusterWorkers
    from hostops.fleet.engine import use_worker_source

    with checked(console, address, hosts, resolution, secrets) as cluster:
        used = {s.worker.address for s in cluster.shards}
        source = ClusterWorkers(
            DaskLauncher(cluster.client, address),
            listen_at(address),
            [w for w in cluster.workers if w.address in used],
            resolution,
        )
        try:
            # Without --forks: a shard per worker thread (their sessions start as the engine says).
            source.start(hosts, options.forks or len(hosts), connect_timeout() + 30.0)
            # This process is hostops's own: what is loaded by now (Dask's client, the
            # inventory) lives until it ends; the collector need not scan it again and
            # again while the run allocates (measured: ~0.03 ms less CPU per host).
            gc.freeze()
            use_worker_source(source)
            yield source
        finally:
            use_worker_source(None)
            source.close()
