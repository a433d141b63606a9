"""``hostops play``: a playbook on the selected hosts.

No ``from __future__ import annotations``: typer evaluates these annotations.
"""

import contextlib
import dataclasses
import os
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from hostops.cli.clustered import asked_secrets, cluster_run
from hostops.cli.edge import argv_of, debug_lines, guarded
from hostops.cli.hosts import HostOptions, prepare, recorded
from hostops.cli.options import Execution, Locking, Reach, Results, SudoAs, grouped
from hostops.cli.values import extra_vars, words
from hostops.credentials import plaintexts
from hostops.errors import EXIT_FAILED
from hostops.inventory import every_host, with_vault
from hostops.journal import RecordPath
from hostops.liblog import route_library_logs
from hostops.models import RunReport
from hostops.render.console import Console, summary_text
from hostops.render.views import diffs_text, recap_text
from hostops.vault import Vault, mask


@grouped
def play(
    ctx: typer.Context,
    playbook: Annotated[
        Path, typer.Argument(metavar="PLAYBOOK", help="Playbook file (YAML: a list of plays).")
    ],
    *,
    check: Annotated[
        bool,
        typer.Option("--check", help="Show what each task would do on each host; run nothing."),
    ] = False,
    diff: Annotated[
        bool,
        typer.Option(
            "--diff",
            help="Show what templates change on each host as a unified diff (with --check: what they would change).",
        ),
    ] = False,
    tags: Annotated[
        str | None,
        typer.Option(
            "--tags", help="Only the plays and tasks with one of these tags: 'a,b' (as Ansible)."
        ),
    ] = None,
    skip_tags: Annotated[
        str | None,
        typer.Option(
            "--skip-tags", help="Leave out the plays and tasks with one of these tags: 'a,b'."
        ),
    ] = None,
    list_tasks: Annotated[
        bool,
        typer.Option(
            "--list-tasks", help="List the tasks that would run (with their tags); run nothing."
        ),
    ] = False,
    list_hosts: Annotated[
        bool,
        typer.Option("--list-hosts", help="List the hosts each play would run on; run nothing."),
    ] = False,
    force_handlers: Annotated[
        bool,
        typer.Option(
            "--force-handlers",
            help="Run notified handlers on a host even when it failed afterwards.",
        ),
    ] = False,
    extra_var: Annotated[
        list[str] | None,
        typer.Option(
            "--extra-var",
            "-e",
            help="KEY=VALUE variable for every host (over play vars); repeat for several.",
        ),
    ] = None,
    reach: Reach,
    sudo_as: SudoAs,
    execution: Execution,
    locking: Locking,
    results: Results,
) -> None:
    """Run PLAYBOOK's plays on the selected hosts: tasks in order, in batches, one
    connection per host for the whole playbook."""
    given = HostOptions(
        reach=reach, execution=execution, results=results, sudo_as=sudo_as, locking=locking
    )
    # The fleet (multiprocessing, paramiko) only now: --help and parse errors never load it.
    from hostops.fleet.engine import console_lock
    from hostops.fleet.rollout import check_plan, play_plan

    lock = console_lock()
    console = Console(lock, color=False if results.no_color else None)
    if results.debug:  # this process's library records too, under the lock from now on
        route_library_logs(partial(debug_lines, console))

    def body() -> int:
        from hostops.playbook import list_hosts as hosts_listing  # Jinja2: only for playbooks
        from hostops.playbook import list_tasks as tasks_listing
        from hostops.playbook import load_playbook
        from hostops.playbook import prepare as bind
        from hostops.playbook import with_vault as with_playbook_vault
        from hostops.playbook.recap import recap_line

        book = load_playbook(playbook)
        variables = extra_vars(extra_var or [])
        # group_vars/ and host_vars/ beside the playbook count too, as in Ansible.
        play_dir = os.path.dirname(os.path.abspath(playbook))
        prepared = prepare(console, given, sudo=False, play_dir=play_dir)  # sudo: per task
        inventory, selected = prepared.selection.inventory, prepared.selection.hosts
        # Vaulted variables decrypt when a template uses them (and only then need a password).
        vault = inventory.raw.vault or Vault()
        book = with_playbook_vault(book, vault)  # the plays' own !vault vars
        secrets = prepared.secrets.masking(plaintexts([p.vars for p in book.plays], vault))
        plan = bind(
            book,
            [with_vault(h, vault) for h in every_host(inventory, selected)],
            limit={h.name for h in selected},
            extra_vars=variables,
            tags=words(tags),
            skip_tags=words(skip_tags),
        )
        if list_tasks or list_hosts:
            listed = (tasks_listing(plan) if list_tasks else []) + (
                hosts_listing(plan) if list_hosts else []
            )
            console.out("".join(line + "\n" for line in listed).encode(), plain=True)
            return 0
        on_cluster = cluster_run(
            console,
            given.reach.cluster,
            plan.hosts,
            prepared.options,
            secrets,
            asked_secrets(given.reach.auth, given.sudo_as.ask_sudo_pass),
            resolution=prepared.selection.on_workers,
        )
        if check:  # templates' hosts are reached to read their files: the diffs
            with on_cluster:
                report = check_plan(plan, options=prepared.options, lock=lock, secrets=secrets)
            lines = "".join(line + "\n" for line in report.lines())
            console.out(mask(lines).encode(), plain=True)  # vaulted values: never shown
            # A check that foresees a failure must not pass as a gate would (exit 0).
            errors = report.errors()
            for line in errors:
                console.message("check", mask(f"would fail on {line}"))
            return EXIT_FAILED if errors else 0

        def go(record: RecordPath | None) -> RunReport:
            # The recap comes before the summary: the aggregator leaves the summary to us.
            quiet = dataclasses.replace(prepared.view, summary=False)
            with on_cluster:
                done = play_plan(
                    plan,
                    options=prepared.options,
                    view=quiet,
                    lock=lock,
                    record=record,
                    secrets=secrets,
                    raise_fd_limit=True,  # hostops's own process: fit the fan-out
                    force_handlers=force_handlers,
                    diff=diff,
                )
                if record is not None:  # for `hostops report`; a full disk: the record stops
                    with contextlib.suppress(OSError):
                        record.append([recap_line(done.result, mask)])
            if diff:  # vaulted values a template used: never shown
                console.out(mask(diffs_text(done.result)).encode(), plain=True)
            if prepared.view.mode is not None:
                color = console.err_color
                text = recap_text(done.result, color) + summary_text(done.report, color)
                console.err(text.encode())
            return done.report

        return recorded(
            console,
            argv=argv_of(ctx),
            what=f"play {playbook}",
            prepared=prepared,
            no_record=results.no_record,
            go=go,
            hosts=plan.hosts,  # the hosts the plays run on, not every host selected
        )

    raise typer.Exit(guarded(console, body, results.debug))
