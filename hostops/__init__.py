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
import importlib
import typing

from hostops._version import __version__

if typing.TYPE_CHECKING:
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

# Every export, by the module that defines it: imported on first use (PEP 562), so that
# `import hostops` (and every `hostops.x` submodule, the command line's included) does
# not pay for paramiko, multiprocessing and the rest until they are needed.
_EXPORTS = {
    "hostops.api": ("load_inventory", "play", "run", "run_operation"),
    "hostops.batches": ("Count",),
    "hostops.credentials": ("Secrets", "secrets_from_environment"),
    "hostops.errors": (
        "ConfigError",
        "HostFailure",
        "HostopsError",
        "InternalError",
        "UsageError",
        "exit_code_for",
    ),
    "hostops.fleet.rollout": ("PlayReport",),
    "hostops.host.client": ("HostClient", "Limits", "connect"),
    "hostops.host.settings": ("Overrides",),
    "hostops.host.ssh_config": ("SshConfig",),
    "hostops.models": (
        "Host",
        "HostKeyPolicy",
        "HostResult",
        "RunOptions",
        "RunReport",
        "Status",
        "Transport",
    ),
    "hostops.operations": ("Command", "Download", "Upload"),
    "hostops.render.console": ("OutputMode", "ViewOptions"),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'hostops' has no attribute {name!r}")
    # Importing the API (paramiko, cryptography, PyYAML) makes some 100,000 objects and
    # no garbage: the collector's passes over them would cost ~0.1 s of CPU.
    collecting = gc.isenabled()
    gc.disable()
    try:
        value = getattr(importlib.import_module(home), name)
    finally:
        if collecting:
            gc.enable()
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))


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
