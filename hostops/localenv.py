"""The environment of every local subprocess hostops starts (DESIGN.md §3b), and the names
of the environment variables that hold hostops's own secrets.

Dynamic inventory scripts, vault password scripts, ProxyCommand, ``Match exec`` and
``connection: local`` commands get this process's environment without the variables
that hold secrets (``HOSTOPS_PASSWORD``, ``HOSTOPS_SUDO_PASSWORD``, ..., and the hosts'
``password_env`` variables).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

ENV_PASSWORD = "HOSTOPS_PASSWORD"
ENV_KEY_PASSPHRASE = "HOSTOPS_KEY_PASSPHRASE"
ENV_SUDO_PASSWORD = "HOSTOPS_SUDO_PASSWORD"
SECRET_ENV_VARS = (ENV_PASSWORD, ENV_KEY_PASSPHRASE, ENV_SUDO_PASSWORD)


def child_environment(
    secret_names: Iterable[str] = (), environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A copy of this process's environment (or ``environ``) without hostops's secret
    variables and ``secret_names`` (e.g. the ``password_env`` variables of a run's hosts)."""
    drop = {*SECRET_ENV_VARS, *secret_names}
    source = os.environ if environ is None else environ
    return {k: v for k, v in source.items() if k not in drop}
