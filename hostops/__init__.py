"""hostops: parallel remote-host administration over SSH.

The public API::

    from hostops import load_inventory, run
    report = run(load_inventory("inventory.yaml"), "uptime")
    for result in report.failed:
        print(result.host, result.status, result.error)
"""

from __future__ import annotations

__version__ = "0.1.0"

from hostops.console import OutputMode, ViewOptions
from hostops.credentials import Secrets, secrets_from_environment
from hostops.engine import run
from hostops.errors import ConfigError, HostopsError, InternalError, UsageError, exit_code_for
from hostops.inventory import Overrides, load_inventory
from hostops.models import (
    Connection,
    Host,
    HostKeyPolicy,
    HostResult,
    RunOptions,
    RunReport,
    Status,
)

__all__ = [
    "ConfigError",
    "Connection",
    "Host",
    "HostKeyPolicy",
    "HostResult",
    "HostopsError",
    "InternalError",
    "OutputMode",
    "Overrides",
    "RunOptions",
    "RunReport",
    "Secrets",
    "Status",
    "UsageError",
    "ViewOptions",
    "__version__",
    "exit_code_for",
    "load_inventory",
    "run",
    "secrets_from_environment",
]
