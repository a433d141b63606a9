"""hostops: parallel remote-host administration over SSH.

The public API::

    from hostops import load_inventory, play, run
    hosts = load_inventory("inventory.yaml")
    report = run(hosts, "uptime")
    for result in report.failed:
        print(result.host, result.status, result.error)
    done = play("site.yaml", hosts)          # done.result: per task; done.report: per host

``run_operation(hosts, Upload(...) | Download(...) | Command(...), batch=Count(5))``
carries out one operation in rolling batches. One host, from a script::

    with connect(hosts[0]) as client:
        outcome, out, err = client.run("uptime")
"""

from __future__ import annotations

import gc
import os

# Importing hostops (paramiko, cryptography, PyYAML, typer) makes some 100,000
# objects and no garbage: the collector's passes over them cost ~0.1 s of CPU,
# a third of a start-up (measured: 0.34 -> 0.23 s user for `import hostops.cli`).
_collecting = gc.isenabled()
gc.disable()

from hostops._version import __version__
from hostops.batches import Count
from hostops.credentials import Secrets, secrets_from_environment
from hostops.errors import (
    ConfigError,
    HostFailure,
    HostopsError,
    InternalError,
    UsageError,
    exit_code_for,
)
from hostops.fleet.engine import run
from hostops.fleet.rollout import PlayReport, play, run_operation
from hostops.host.client import HostClient, Limits, connect
from hostops.host.settings import Overrides, resolve_all
from hostops.host.ssh_config import SshConfig
from hostops.inventory import build, load_raw, resolve_hosts, select_names
from hostops.models import (
    Connection,
    Host,
    HostKeyPolicy,
    HostResult,
    RunOptions,
    RunReport,
    Status,
)
from hostops.operations import Command, Download, Upload
from hostops.render.console import OutputMode, ViewOptions

if _collecting:
    gc.enable()


def load_inventory(
    path: str | os.PathLike[str],
    *,
    limit: str | None = None,
    ssh_config: SshConfig | str | os.PathLike[str] | bool | None = True,
    overrides: Overrides | None = None,
) -> list[Host]:
    """Read an inventory and return the selected hosts, in file order, with every
    connection setting resolved as ``hostops run`` resolves it.

    ``limit``: a host pattern (README, "Host patterns"). ``ssh_config``: True (the
    default, as the CLI): ~/.ssh/config then /etc/ssh/ssh_config; a path: only that
    file (``--ssh-config``); False or None: none (``--no-ssh-config``).
    ``overrides``: settings for every host, as the command line gives them. Raises
    ConfigError for any bad input (inventory or ssh_config).
    """
    inv = build(load_raw(path))
    return resolve_all(
        resolve_hosts(inv, select_names(inv, limit)),
        ssh_config=SshConfig.chosen(ssh_config),
        overrides=overrides,
        inventory_host=lambda name: (
            resolve_hosts(inv, [name])[0] if name in inv.raw.hosts else None
        ),
    )


__all__ = [
    "Command",
    "ConfigError",
    "Connection",
    "Count",
    "Download",
    "Host",
    "HostClient",
    "HostFailure",
    "HostKeyPolicy",
    "HostResult",
    "HostopsError",
    "InternalError",
    "Limits",
    "OutputMode",
    "Overrides",
    "PlayReport",
    "RunOptions",
    "RunReport",
    "Secrets",
    "SshConfig",
    "Status",
    "Upload",
    "UsageError",
    "ViewOptions",
    "__version__",
    "connect",
    "exit_code_for",
    "load_inventory",
    "play",
    "run",
    "run_operation",
    "secrets_from_environment",
]
