"""``hostops cluster``: the cluster's workers, their sites, and how the selected hosts
would be split over them, after the same checks a run on it makes (address, secrets,
connection, sites, the workers' pre-flight). Nothing runs on a host.

No ``from __future__ import annotations``: typer evaluates these annotations.
"""

import typer

from hostops.cli.build import select
from hostops.cli.edge import guarded
from hostops.cli.options import Auth, ClusterUse, DebugOpt, HostSettings, Rerun, Targets, grouped
from hostops.credentials import secrets_from_environment
from hostops.errors import UsageError
from hostops.render.console import Console


@grouped
def cluster(
    *,
    use: ClusterUse,
    targets: Targets,
    settings: HostSettings,
    auth: Auth,
    debug: DebugOpt = False,
) -> None:
    """Show the cluster's workers and sites, and how the selected hosts would be split."""
    console = Console()

    def body() -> int:
        # Dask is imported here, not with the command line: without a cluster it never is.
        from hostops.cli.clustered import asked_secrets, checked
        from hostops.cluster import cluster_address
        from hostops.cluster.show import cluster_text

        address = cluster_address(use.cluster)
        if address is None:
            raise UsageError("no cluster: give --cluster ADDRESS (or set HOSTOPS_CLUSTER)")
        selection = select(targets, settings, Rerun(), on_workers=True)
        secrets = secrets_from_environment(selection.hosts, vault=selection.inventory.raw.vault)
        named = [*asked_secrets(auth), *secrets.given()]
        with checked(console, address, selection.hosts, selection.on_workers, named) as cluster:
            text = cluster_text(cluster.workers, cluster.shards, cluster.reports)
        console.out(text.encode(), plain=True)
        for line in selection.inventory.raw.warnings:
            console.message("warning", line)
        return 0

    raise typer.Exit(guarded(console, body, debug))
