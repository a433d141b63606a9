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

import gc

# Importing hostops (paramiko, cryptography, PyYAML, typer) makes some 100,000
# objects and no garbage: the collector's passes over them cost ~0.1 s of CPU,
# a third of a start-up (measured: 0.34 -> 0.23 s user for `import hostops.cli`).
_collecting = gc.isenabled()
gc.disable()
try:
    from hostops._version import __version__
    from hostops.api import load_inventory, play, run, run_operation
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
    from hostops.fleet.rollout import PlayReport
    from hostops.host.client import HostClient, Limits, connect
    from hostops.host.settings import Overrides
    from hostops.host.ssh_config import SshConfig
    from hostops.models import (
        Host,
        HostKeyPolicy,
        HostResult,
        RunOptions,
        RunReport,
        Status,
        Transport,
    )
    from hostops.operations import Command, Download, Upload
    from hostops.render.console import OutputMode, ViewOptions
finally:
    if _collecting:
        gc.enable()


__all__ = [
    "Command",
    "ConfigError",
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
    "Transport",
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
