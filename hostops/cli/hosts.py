"""What every command that reaches hosts (run, put, get, play) does with its options
before and around the library call: select the hosts, ask for secrets, build the
run's options and view, and keep the run record."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hostops.cli.build import (
    Selection,
    ask_secrets,
    run_options,
    select,
    timing,
    view_options,
)
from hostops.cli.edge import describe
from hostops.cli.options import Execution, Locking, Reach, Results, SudoAs
from hostops.cluster import cluster_address
from hostops.credentials import Secrets
from hostops.errors import exit_code_for, lost_code
from hostops.host.settings import ignored_options
from hostops.journal import Journal, RecordPath
from hostops.models import Host, HostKeyPolicy, RunOptions, RunReport
from hostops.render.console import Console, ViewOptions, output_lost, take_output_lost


@dataclass(frozen=True)
class HostOptions:
    """The option groups every command that reaches hosts takes."""

    reach: Reach
    execution: Execution
    results: Results
    sudo_as: SudoAs = field(default_factory=SudoAs)  # get has none of them
    locking: Locking = field(default_factory=Locking)  # nor a lock


@dataclass(frozen=True)
class Prepared:
    """What a command that reaches hosts has made of its options."""

    selection: Selection
    options: RunOptions
    view: ViewOptions
    secrets: Secrets


def prepare(
    console: Console, given: HostOptions, *, sudo: bool, play_dir: str | None = None
) -> Prepared:
    """Select the hosts, build the run's options (``sudo``: commands run with sudo) and
    view, and ask for secrets (before any worker exists, under the console lock).
    ``play_dir``: as for :func:`hostops.cli.build.select`."""
    reach, results = given.reach, given.results
    limits = timing(given.execution)
    selection = select(
        reach.targets,
        reach.settings,
        results.rerun,
        limits,
        play_dir=play_dir,
        host_key_policy=reach.auth.host_key_policy,
        on_workers=cluster_address(reach.cluster.cluster) is not None,
    )
    for warning in selection.inventory.raw.warnings:
        console.message("warning", warning)
    ignored = ignored_options(selection.hosts)
    if ignored:
        console.message(
            "warning",
            'ssh_config options hostops ignores (README, "ssh_config"): ' + ", ".join(ignored),
        )
    options = run_options(
        given.execution,
        reach.auth,
        results.display,
        given.locking,
        sudo=sudo,
        sudo_user=given.sudo_as.sudo_user,
    )
    options = dataclasses.replace(options, debug=results.debug)  # library records shown
    secrets = ask_secrets(console, selection, reach.auth, given.sudo_as)
    if options.host_key_policy is HostKeyPolicy.OFF:
        console.message(
            "warning",
            "--host-key-policy off: host keys are not verified; anyone on the path can impersonate a host",
        )
    view = view_options(results.display, results.no_color)
    return Prepared(selection, options, view, secrets)


def recorded(
    console: Console,
    *,
    argv: list[str],
    what: str,
    prepared: Prepared,
    no_record: bool,
    go: Callable[[RecordPath | None], RunReport],
    hosts: Sequence[Host] | None = None,
) -> int:
    """Run ``go`` with a run record (unless ``no_record``) of ``hosts`` (default: the
    selected ones) whose end line is written whatever happens; returns the exit code."""
    names = [h.name for h in (prepared.selection.hosts if hosts is None else hosts)]
    journal = (
        None
        if no_record
        else Journal.start(
            argv,
            what,
            names,
            prepared.options,
            warn=lambda text: console.message("warning", text),
        )
    )
    try:
        report = go(journal.record if journal else None)
    except BaseException as exc:
        if journal is not None:  # the code the command line will exit with (edge.main)
            code = exit_code_for(exc)
            journal.finish(None, code if output_lost() is None else lost_code(code), describe(exc))
        raise
    if journal is not None and report.failed:
        console.message(
            "note",
            f"run {journal.id} recorded: 'hostops show {journal.id}' shows it again,"
            f" '--rerun failed' runs the failed hosts again",
        )
    mine = take_output_lost()  # this process's (a playbook's recap): said here, once
    lost = report.output_lost or mine
    report = dataclasses.replace(report, output_lost=lost)
    code = exit_code_for(report)
    if lost:
        where = (
            ""
            if journal is None
            else f"; every result is in run {journal.id}: 'hostops show {journal.id}'"
        )
        console.message(
            "error", f"cannot write {lost}: the output is incomplete (the run went on){where}"
        )
    if journal is not None:
        journal.finish(report, code)
    return code
