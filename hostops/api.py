"""The functions of the public API, in one dialect: the natural positional arguments
(the hosts, what to do), then keyword-only options; results are typed dataclasses.

The plumbing the command line adds (its console lock, the run record) is not here: it
calls hostops.fleet.rollout directly.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from hostops.batches import Count
from hostops.credentials import Secrets
from hostops.errors import UsageError
from hostops.fleet.rollout import PlayReport, operate, play_plan
from hostops.host.settings import Overrides, resolve_all
from hostops.host.ssh_config import SshConfig
from hostops.inventory import Sources, build, load_raw, resolve_hosts, select_names
from hostops.models import Host, RunOptions, RunReport
from hostops.operations import Command, Operation
from hostops.render.console import ViewOptions
from hostops.vault import Vault


def run(
    hosts: Sequence[Host],
    command: str,
    *,
    options: RunOptions | None = None,
    view: ViewOptions | None = None,
    secrets: Secrets | None = None,
    stdin: bytes | None = None,
    raise_fd_limit: bool = False,
) -> RunReport:
    """Run ``command`` (a shell command line) on every host in parallel and return every
    host's result, in the order of ``hosts``.

    ``options``: how the run goes (default ``RunOptions()``). ``view``: what is shown
    on the terminal while it goes (default: nothing). ``secrets``: the passwords and
    passphrase to authenticate with; None: read from the environment
    (:func:`secrets_from_environment`). ``stdin``: bytes sent to every command's
    standard input. ``raise_fd_limit``: raise this process's open-file limit when
    the fan-out needs it; without it, ``options.forks`` (or the adaptive ceiling, when
    it is None) is capped to the limit, with a warning in the report.

    Host failures are values in the report, never exceptions. Raises UsageError for an
    empty ``command``, ConfigError for settings this version cannot act on (``sudo``
    on ``connection: local`` hosts) or an unset ``password_env``, InternalError when
    hostops itself fails (its aggregator process is lost), and KeyboardInterrupt only
    if a third Ctrl-C cuts the stop short.
    """
    if not command.strip():  # a shell runs nothing and says 0: never a silent success
        raise UsageError("command is empty: nothing to run", argument="command")
    return run_operation(
        hosts,
        Command(command, stdin=stdin is not None),
        options=options,
        view=view,
        secrets=secrets,
        stdin=stdin,
        raise_fd_limit=raise_fd_limit,
    )


def run_operation(
    hosts: Sequence[Host],
    operation: Operation,
    *,
    batch: Count | None = None,
    max_fail: Count | None = None,
    options: RunOptions | None = None,
    view: ViewOptions | None = None,
    secrets: Secrets | None = None,
    stdin: bytes | None = None,
    raise_fd_limit: bool = False,
) -> RunReport:
    """Carry out ``operation`` (a :class:`Command`, :class:`Upload` or
    :class:`Download`) on every host, in batches of ``batch`` hosts (all at once when
    None), and return every host's result.

    After a batch with more failed hosts than ``max_fail`` allows (default: every
    host of the batch), no further batch starts: its hosts end ``not_run``. The other
    arguments, and what is raised: as for :func:`run`.
    """
    return operate(
        hosts,
        operation,
        batch=batch,
        max_fail=max_fail,
        options=options,
        view=view,
        secrets=secrets,
        stdin=stdin,
        raise_fd_limit=raise_fd_limit,
    )


def play(
    playbook: str | os.PathLike[str],
    hosts: Sequence[Host],
    *,
    limit: Collection[str] | None = None,
    extra_vars: Mapping[str, Any] | None = None,
    options: RunOptions | None = None,
    view: ViewOptions | None = None,
    secrets: Secrets | None = None,
    raise_fd_limit: bool = False,
) -> PlayReport:
    """Load the playbook file, check it against ``hosts`` and run it, one connection per
    host for the whole playbook.

    ``hosts``: every inventory host (plays match their ``hosts`` patterns against
    them); ``limit``: the names of those that may run (default: all). ``extra_vars``:
    variables for every host, over the plays' own. The other arguments: as for
    :func:`run`. A broken playbook raises ConfigError (``FILE:LINE: ...``) before
    anything runs; host failures are results.
    """
    from hostops.playbook import load_playbook, prepare  # Jinja2: only for playbooks

    plan = prepare(load_playbook(playbook), list(hosts), limit=limit, extra_vars=extra_vars)
    return play_plan(
        plan, options=options, view=view, secrets=secrets, raise_fd_limit=raise_fd_limit
    )


def load_inventory(
    path: Sources,
    *,
    limit: str | None = None,
    ssh_config: SshConfig | str | os.PathLike[str] | bool | None = True,
    overrides: Overrides | None = None,
    vault: Vault | None = None,
) -> list[Host]:
    """Read an inventory source ``path`` (a hostops YAML, Ansible YAML or INI file, a
    directory of them, a dynamic inventory script) or a list of them, merged in order,
    and return
    the hosts ``limit`` selects (a host pattern; default: all), in run order, with every
    connection setting resolved as ``hostops run`` resolves it.

    ``ssh_config``: True (the default, as the command line): ~/.ssh/config, then
    /etc/ssh/ssh_config; a path: only that file (``--ssh-config``); False or None: none
    (``--no-ssh-config``); or an :class:`SshConfig`. ``overrides``: settings over every
    host's, as the command line's ``--user``, ``--port``, ... give them. ``vault``:
    opens vaulted files (``hostops.vault.load_vault``). Raises ConfigError
    (``FILE:LINE: ...``) for any bad input, ssh_config included.
    """
    inv = build(load_raw(path, vault=vault))
    return resolve_all(
        resolve_hosts(inv, select_names(inv, limit)),
        ssh_config=SshConfig.chosen(ssh_config),
        overrides=overrides,
        inventory_host=lambda name: (
            resolve_hosts(inv, [name])[0] if name in inv.raw.hosts else None
        ),
    )
