"""Runs over a Dask cluster (``--cluster``): addresses, sites and shards, the workers'
pre-flight. Only :mod:`hostops.cluster.connect` imports ``distributed``, and nothing
imports it without a cluster given: a local run never loads Dask.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hostops.cluster.address import ClusterAddress

# The variable naming the cluster when --cluster is not given. This and cluster_address
# live here, not in .address, so that a local run (most runs) never loads the address
# parser: its regular expressions and classes were ~5 ms of every command's start.
ENV_CLUSTER = "HOSTOPS_CLUSTER"


def cluster_address(
    option: str | None, environ: Mapping[str, str] = os.environ
) -> ClusterAddress | None:
    """The cluster to use: ``--cluster``, else ``$HOSTOPS_CLUSTER``; None: none (a local run).
    Raises UsageError for a malformed address."""
    if option is not None:
        text, source = option, "--cluster"
    else:
        text, source = environ.get(ENV_CLUSTER, "").strip(), f"${ENV_CLUSTER}"
        if not text:
            return None
    from hostops.cluster.address import parse_address

    return parse_address(text, source=source)
