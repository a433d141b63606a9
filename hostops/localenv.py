"""The environment of every local subprocess hostops starts (DESIGN.md §3b).

Dynamic inventory scripts, vault password scripts, ProxyCommand, ``Match exec`` and
``connection: local`` commands get this process's environment without the variables
that hold hostops's secrets (``HOSTOPS_PASSWORD``, ``HOSTOPS_SUDO_PASSWORD``, ...).
"""

from __future__ import annotations

import os
from collections.abc import Iterable


def subprocess_environment(secret_names: Iterable[str] = ()) -> dict[str, str]:
    """A copy of ``os.environ`` without hostops's secret variables and ``secret_names``
    (e.g. the ``password_env`` variables of a run's hosts)."""
    from hostops.credentials import SECRET_ENV_VARS  # credentials imports the inventory

    drop = {*SECRET_ENV_VARS, *secret_names}
    return {k: v for k, v in os.environ.items() if k not in drop}
