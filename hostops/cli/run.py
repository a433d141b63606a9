"""``hostops run``, ``put`` and ``get``: one operation on every selected host, in batches.

No ``from __future__ import annotations``: typer evaluates these annotations.
"""

import contextlib
import os
import stat
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from hostops.cli.build import make_dir
from hostops.cli.clustered import asked_secrets, cluster_run
from hostops.cli.edge import argv_of, debug_lines, guarded
from hostops.cli.hosts import HostOptions, prepare, recorded
from hostops.cli.options import (
    Execution,
    FollowLinksOpt,
    Locking,
    Reach,
    Results,
    Rollout,
    SudoAs,
    grouped,
)
from hostops.cli.values import count, mode
from hostops.errors import UsageError
from hostops.liblog import route_library_logs
from hostops.operations import Command, Download, Operation, Upload
from hostops.render.console import Console


@grouped
def run(
    ctx: typer.Context,
    command: Annotated[
        list[str],
        typer.Argument(
            metavar="COMMAND...",
            help="Shell command to run on every host (by the remote login shell); several words are joined with spaces, as ssh does. Words starting with '-': quote the command or put it after --.",
            show_default=False,
        ),
    ],
    *,
    reach: Reach,
    sudo: Annotated[
        bool, typer.Option("--sudo", help="Run the command with sudo (as root) on every host.")
    ] = False,
    sudo_as: SudoAs,
    no_stdin: Annotated[
        bool,
        typer.Option(
            "--no-stdin",
            "-n",
            help="Do not send hostops's standard input to the commands (sent when it is a file or a pipe, as it arrives).",
        ),
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Pre-flight: connect, check the host key, log in and (with sudo) check that sudo lets you in, running 'true' instead of COMMAND; each host says what a real run would hit.",
        ),
    ] = False,
    tty: Annotated[
        bool,
        typer.Option(
            "--tty",
            "-t",
            help="Run the command on a pseudo-terminal (as ssh -t: sudoers' requiretty, tools that want a terminal); its stdout and stderr arrive merged, as stdout.",
        ),
    ] = False,
    execution: Execution,
    locking: Locking,
    rollout: Rollout,
    results: Results,
) -> None:
    """Run COMMAND on every selected host, in parallel."""
    line = " ".join(command)  # as ssh joins its command words
    if not line.strip() and not check:  # `hostops run "$CMD"` with CMD unset: never a success
        raise UsageError('COMMAND is empty: nothing to run (an unset variable in "$CMD"?)')
    forwarded = not check and not no_stdin and _stdin_forwarded()
    # A check runs a no-op the way the command would run: same login, sudo and terminal.
    _operate(
        argv_of(ctx),
        what=f"run --check {line}" if check else line,
        operation=lambda: Command("true" if check else line, stdin=forwarded, tty=tty),
        given=HostOptions(reach, execution, results, sudo_as, locking),
        sudo=sudo_as.with_sudo(sudo),
        rollout=rollout,
        stdin=forwarded,
    )


@grouped
def put(
    ctx: typer.Context,
    local: Annotated[
        Path, typer.Argument(metavar="LOCAL", help="Local file or directory to upload.")
    ],
    remote: Annotated[
        str,
        typer.Argument(
            metavar="REMOTE",
            help="Where on every host (a directory's tree is mirrored into it).",
        ),
    ],
    *,
    mode_text: Annotated[
        str | None,
        typer.Option(
            "--mode", help="File mode to set, in octal: 0644. [default: kept, or umask's]"
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="List the files that would be written on each host (content, mode or owner differ); write nothing.",
        ),
    ] = False,
    parents: Annotated[
        bool,
        typer.Option(
            "--parents",
            help="Make REMOTE's missing parent directories (as mkdir -p; as root with --sudo).",
        ),
    ] = False,
    reach: Reach,
    sudo: Annotated[
        bool,
        typer.Option(
            "--sudo",
            help="Install as root: upload to a private temp file, then move it into place with sudo.",
        ),
    ] = False,
    sudo_as: SudoAs,
    follow_links: FollowLinksOpt = False,
    execution: Execution,
    locking: Locking,
    rollout: Rollout,
    results: Results,
) -> None:
    """Upload LOCAL to REMOTE on every selected host (SFTP): atomic replace, files whose
    content is already there are not written; a host is 'changed' when some file was."""

    def upload() -> Upload:
        if not local.exists():
            raise UsageError(f"{local}: no such file or directory")
        # Not --sudo: as the host's inventory says (ansible_become), as commands.
        wanted = sudo_as.with_sudo(sudo) or None
        return Upload(
            str(local.resolve()),
            remote,
            mode(mode_text),
            wanted,
            parents=parents,
            dry_run=check,
            follow_links=follow_links,
        )

    _operate(
        argv_of(ctx),
        what=f"put {'--check ' if check else ''}{local} {remote}",
        operation=upload,
        given=HostOptions(reach, execution, results, sudo_as, locking),
        sudo=False,  # the upload moves its files with sudo itself
        rollout=rollout,
    )


@grouped
def get(
    ctx: typer.Context,
    remote: Annotated[
        str, typer.Argument(metavar="REMOTE", help="Remote file or directory on every host.")
    ],
    local_dir: Annotated[
        Path,
        typer.Argument(
            metavar="LOCAL_DIR",
            help="Local directory: each host's copy goes to LOCAL_DIR/HOST/REMOTE.",
        ),
    ],
    *,
    reach: Reach,
    follow_links: FollowLinksOpt = False,
    execution: Execution,
    results: Results,
) -> None:
    """Download REMOTE from every selected host into LOCAL_DIR/HOST/… (hosts never collide)."""

    def download() -> Download:
        op = Download(remote, str(local_dir.resolve()), follow_links=follow_links)
        make_dir(local_dir, "LOCAL_DIR")  # once the rest is known to be right
        return op

    _operate(
        argv_of(ctx),
        what=f"get {remote} {local_dir}",
        operation=download,
        given=HostOptions(reach=reach, execution=execution, results=results),
        sudo=False,
        rollout=Rollout(),
    )


def _operate(
    argv: list[str],
    *,
    what: str,
    operation: Callable[[], Operation],
    given: HostOptions,
    sudo: bool,
    rollout: Rollout,
    stdin: bool = False,
) -> None:
    """The body of run, put and get: ``operation()`` on every selected host, in batches.
    ``sudo``: the commands run with sudo; ``stdin``: hostops's standard input goes to
    every command, spooled as it arrives."""
    # The fleet (multiprocessing, paramiko) only now: --help and parse errors never load it.
    from hostops.fleet.engine import console_lock
    from hostops.fleet.rollout import operate
    from hostops.host.stdin import Spooler

    lock = console_lock()
    console = Console(lock, color=False if given.results.no_color else None)
    if given.results.debug:  # this process's library records too, under the lock from now on
        route_library_logs(partial(debug_lines, console))

    def body() -> int:
        serial = count(rollout.batch, "--batch")
        limit = count(rollout.max_fail, "--max-fail", minimum=0)
        if limit is not None and serial is None:
            raise UsageError("--max-fail needs --batch (a failure limit per batch)")
        op = operation()
        prepared = prepare(console, given, sudo=sudo)
        with contextlib.ExitStack() as stack:
            stack.enter_context(
                cluster_run(
                    console,
                    given.reach.cluster,
                    prepared.selection.hosts,
                    prepared.options,
                    prepared.secrets,
                    asked_secrets(given.reach.auth, given.sudo_as.ask_sudo_pass),
                    stdin=stdin,
                    resolution=prepared.selection.on_workers,
                )
            )
            spool = stack.enter_context(Spooler(0)).spool if stdin else None
            return recorded(
                console,
                argv=argv,
                what=what,
                prepared=prepared,
                no_record=given.results.no_record,
                go=lambda record: operate(
                    prepared.selection.hosts,
                    op,
                    batch=serial,
                    max_fail=limit,
                    options=prepared.options,
                    view=prepared.view,
                    lock=lock,
                    record=record,
                    secrets=prepared.secrets,
                    stdin=spool,
                    raise_fd_limit=True,  # hostops's own process: fit the fan-out
                ),
            )

    raise typer.Exit(guarded(console, body, given.results.debug))


def _stdin_forwarded() -> bool:
    """Whether hostops's standard input is sent to the commands: when it is a file or a
    pipe (``< fix.sh``, ``cat x |``); not a terminal or /dev/null."""
    try:
        st = os.fstat(0)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) or stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode)
