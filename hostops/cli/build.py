"""Typed builders: option groups (hostops.cli.options) in, library values out.

``select`` (inventory + pattern + rerun -> hosts), ``connection_settings`` (ssh_config
and the command line's overrides), ``run_options``, ``view_options`` and
``ask_secrets``: each reads its groups by field name, so a value can be followed
from the option to the library.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from hostops.cli.options import (
    Auth,
    Display,
    Execution,
    HostSettings,
    Locking,
    Rerun,
    SudoAs,
    Targets,
)
from hostops.cli.values import keepalive, size
from hostops.cluster.resolve import Resolution, hop_names
from hostops.credentials import (
    ENV_KEY_PASSPHRASE,
    ENV_PASSWORD,
    ENV_SUDO_PASSWORD,
    Secrets,
    secrets_from_environment,
)
from hostops.errors import ConfigError, NothingToDo, UsageError
from hostops.host.settings import Overrides, resolve_all
from hostops.host.ssh_config import SshConfig
from hostops.inventory import (
    Inventory,
    build,
    load_raw,
    pattern_warning,
    raw_from_host_list,
    require_hosts,
    resolve_hosts,
    select_names,
)
from hostops.journal import RunState, find_run, load_run, parse_statuses, run_state
from hostops.keeper import persist
from hostops.models import Host, HostKeyPolicy, RunOptions
from hostops.render.console import Console, ViewOptions
from hostops.safefs import private_dir
from hostops.vault import load_vault


@dataclass(frozen=True)
class Selection:
    """The inventory, and the hosts selected from it with their settings resolved."""

    inventory: Inventory
    hosts: list[Host]
    # Set when the hosts are resolved on the cluster's workers (``hosts`` then as the
    # inventory gave them): how they resolve there (hostops.cluster.resolve).
    on_workers: Resolution | None = None


@dataclass(frozen=True)
class ConnectionSettings:
    """What the command line adds to the inventory's settings: the ssh_config to read
    and the settings that override every host's."""

    ssh_config: SshConfig
    overrides: Overrides


def select(
    targets: Targets,
    settings: HostSettings,
    rerun: Rerun,
    timing: Overrides | None = None,
    *,
    play_dir: str | None = None,
    host_key_policy: HostKeyPolicy | None = None,
    on_workers: bool = False,
) -> Selection:
    """The inventory and the selected hosts, their connection settings resolved with the
    command line's (``timing``: its time limits, see :func:`timing`); with
    ``--rerun``, only those that ended with those statuses in a recorded run.
    ``play_dir``: a playbook's directory, whose group_vars/ and host_vars/ count too.
    ``on_workers``: a cluster run: the hosts are resolved on the workers where they run
    (their ssh_config, ``~``, files), not here; the files the command line names are
    the workers' too (their pre-flight checks them).

    Raises UsageError (files named on the command line must exist: see
    :func:`given_files`), ConfigError (an inventory with no hosts, unless
    ``--allow-empty``: then NothingToDo), or NothingToDo when the rerun leaves no host."""
    if not on_workers:
        given_files(settings, host_key_policy)
    if rerun.from_run is not None and rerun.rerun is None:
        raise UsageError("--from-run needs --rerun STATUSES (which of its hosts to run)")
    if targets.host_list is not None and targets.hosts:
        raise UsageError("give --hosts FILE or --host LIST, not both")
    sources = _inventory_sources(targets)
    vault = load_vault([str(f) for f in targets.vault_password_file or ()], targets.vault_id or ())
    if targets.host_list is not None:
        raw = raw_from_host_list(targets.host_list, source="--host")
        raw.vault = vault  # for a playbook's own vaulted vars
    elif sources:
        raw = load_raw(sources, vault=vault)
        if play_dir is not None:
            raw.play_dirs = [play_dir]
    else:
        raise UsageError("no hosts: give --hosts FILE (or set HOSTOPS_INVENTORY) or --host LIST")
    connection = None if on_workers else connection_settings(settings, timing)
    inventory = build(raw)
    if not inventory.names and targets.allow_empty:
        raise NothingToDo(f"{raw.path}: no hosts in this inventory: nothing to run")
    try:
        require_hosts(inventory)
    except ConfigError as exc:
        raise ConfigError(f"{exc.reason} (--allow-empty accepts that)", path=exc.path) from None
    base = os.path.dirname(os.fspath(sources[0])) if sources else "."
    names = select_names(inventory, targets.limit, base_dir=base or ".")
    differs = pattern_warning(inventory, targets.limit, names)
    if differs:
        raw.warnings.append(differs)
    if rerun.rerun is not None:
        names = _rerun_names(names, rerun.rerun, rerun.from_run)
    if connection is None:
        given = resolve_hosts(inventory, names)
        hops = [n for n in sorted(hop_names(given)) if n in inventory.raw.hosts]
        where = Resolution(
            _ssh_config_choice(settings),
            command_line_overrides(settings, timing),
            dict(zip(hops, resolve_hosts(inventory, hops), strict=True)),
        )
        return Selection(inventory, given, where)
    hosts = resolve_all(
        resolve_hosts(inventory, names),
        ssh_config=connection.ssh_config,
        overrides=connection.overrides,
        inventory_host=lambda name: (
            resolve_hosts(inventory, [name])[0] if name in inventory.raw.hosts else None
        ),
    )
    return Selection(inventory, hosts)


def given_files(settings: HostSettings, host_key_policy: HostKeyPolicy | None) -> None:
    """Files named on the command line must exist: a usage error before anything runs,
    never a failure of every host. A known_hosts file only under the strict policy
    (None: not given, strict by default): accept-new may create it."""
    for path in settings.identity or ():
        _must_exist(path, "--identity")
    if settings.known_hosts is not None and host_key_policy in (None, HostKeyPolicy.STRICT):
        _must_exist(settings.known_hosts, "--known-hosts")
    if settings.ssh_config is not None:
        _must_exist(settings.ssh_config, "--ssh-config")


def _must_exist(path: Path, flag: str) -> None:
    if not path.expanduser().exists():
        raise UsageError(f"{flag} {path}: no such file")


def _inventory_sources(targets: Targets) -> list[Path]:
    """The inventory sources: ``--hosts``, else $HOSTOPS_INVENTORY (a comma-separated
    list) unless a host list is given."""
    if targets.hosts:
        return list(targets.hosts)
    listed = os.environ.get("HOSTOPS_INVENTORY")
    if targets.host_list is not None or not listed:
        return []
    return [Path(p.strip()) for p in listed.split(",") if p.strip()]


def timing(execution: Execution) -> Overrides:
    """The time limits of connections the command line gives (``--connect-timeout``,
    ``--keepalive``, ``--connect-retries``): over ssh_config's for every host; those not
    given leave ssh_config's, else RunOptions' defaults. Raises UsageError."""
    return Overrides(
        connect_timeout=execution.connect_timeout,
        server_alive=None if execution.keepalive is None else keepalive(execution.keepalive),
        connection_attempts=(
            None if execution.connect_retries is None else execution.connect_retries + 1
        ),
    )


def connection_settings(
    settings: HostSettings, timing: Overrides | None = None
) -> ConnectionSettings:
    """The ssh_config to read and the overrides of ``settings`` (and ``timing``). Raises
    UsageError for contradicting options, ConfigError for a broken ssh_config."""
    return ConnectionSettings(
        SshConfig.chosen(_ssh_config_choice(settings)), command_line_overrides(settings, timing)
    )


def _ssh_config_choice(settings: HostSettings) -> bool | str:
    """The ssh_config the command line chooses: True the default files, False none, a
    path. Raises UsageError."""
    if settings.ssh_config is not None and settings.no_ssh_config:
        raise UsageError("give --ssh-config or --no-ssh-config, not both")
    if settings.no_ssh_config:
        return False
    return True if settings.ssh_config is None else str(settings.ssh_config)


def command_line_overrides(settings: HostSettings, timing: Overrides | None = None) -> Overrides:
    """The settings the command line gives every host (and ``timing``)."""
    return dataclasses.replace(
        timing or Overrides(),
        user=settings.user,
        port=settings.port,
        identity_files=tuple(str(p) for p in settings.identity or ()),
        known_hosts=str(settings.known_hosts) if settings.known_hosts else None,
        jump=settings.jump,
    )


def _rerun_names(selected: list[str], rerun: str, from_run: str | None) -> list[str]:
    """``selected`` narrowed to the hosts of a recorded run that ended with ``rerun``."""
    statuses = parse_statuses(rerun)
    path = find_run(from_run)
    if run_state(path) is RunState.IN_PROGRESS:  # named by id: its results are not all in
        raise UsageError(f"run {path.stem} is still in progress: --rerun needs a finished run")
    past = load_run(path)
    wanted = set(past.hosts_with(statuses))
    names = [n for n in selected if n in wanted]
    if not names:
        what = (
            f"no host with status {rerun}"
            if not wanted
            else "none of its hosts with status " + rerun
        )
        raise NothingToDo(f"run {past.id} has {what} among the selected hosts: nothing to run")
    return names


def run_options(
    execution: Execution,
    auth: Auth,
    display: Display,
    locking: Locking,
    *,
    sudo: bool,
    sudo_user: str | None,
) -> RunOptions:
    """The run's options (the connections' time limits are per host: :func:`timing`).
    ``sudo``: commands run with sudo (``hostops run``; put and playbooks decide it per
    operation). Raises UsageError for a malformed value."""
    return RunOptions(
        lock=locking.lock,
        lock_timeout=locking.lock_timeout,
        workers=execution.workers,
        forks=execution.forks,
        timeout=execution.timeout,
        host_key_policy=auth.host_key_policy,
        use_agent=not auth.no_agent,
        idle_timeout=execution.idle_timeout,
        max_output=size(display.max_output),
        sudo=sudo,
        sudo_user=sudo_user,
        persist=persist_seconds(execution),
    )


def persist_seconds(execution: Execution) -> float | None:
    """``--persist`` in seconds; None when off. Raises UsageError for a malformed value."""
    if execution.no_persist or execution.persist is None:
        return None
    try:
        return persist.parse(execution.persist) or None
    except ValueError as exc:
        raise UsageError(f"--persist: {exc}") from None


def view_options(display: Display, no_color: bool) -> ViewOptions:
    """The live view of a run; ``--out-dir`` is made (UsageError if it cannot be)."""
    if display.out_dir is not None:
        make_dir(display.out_dir, "--out-dir")
    return ViewOptions(
        mode=display.output,
        color=False if no_color else None,
        live=display.live,
        out_dir=str(display.out_dir) if display.out_dir else None,
    )


def ask_secrets(console: Console, selection: Selection, auth: Auth, sudo_as: SudoAs) -> Secrets:
    """The secrets of a run: those asked for (on the terminal, under the console lock,
    before any worker exists), the others from the environment and the inventory's
    vaulted variables."""
    return secrets_from_environment(
        selection.hosts,
        vault=selection.inventory.raw.vault,
        password=console.ask_secret("SSH password", ENV_PASSWORD) if auth.ask_pass else None,
        key_passphrase=(
            console.ask_secret("Key passphrase", ENV_KEY_PASSPHRASE) if auth.ask_key_pass else None
        ),
        sudo_password=(
            console.ask_secret("sudo password", ENV_SUDO_PASSWORD)
            if sudo_as.ask_sudo_pass
            else None
        ),
    )


def make_dir(path: Path, what: str) -> None:
    """Create ``path`` (and its parents) 0700 for writing, or check the existing one: a
    directory another user could plant files in is refused (see hostops.safefs).
    UsageError naming ``what`` if it cannot be used."""
    private_dir(path, what)
