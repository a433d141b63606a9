"""The command line: options in, one library call, an exit code out. The only typer user."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Optional

import typer

from hostops import __version__
from hostops.console import Console, OutputMode, ViewOptions
from hostops.engine import console_lock
from hostops.engine import run as run_engine
from hostops.errors import EXIT_USAGE, HostopsError, exit_code_for
from hostops.inventory import apply_overrides, load_inventory
from hostops.models import HostKeyPolicy, RunOptions

# typer raises click's exception classes (vendored in recent typer): find them through
# a public one rather than importing a click that may not be the one typer uses.
_CLICK_EXCEPTION = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")

app = typer.Typer(
    name="hostops",
    help="Run commands on many hosts over SSH at once, and see clearly what happened on every host.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _positive(value: Optional[int]) -> Optional[int]:  # noqa: UP045 - typer reads the annotation
    if value is not None and value < 1:
        raise typer.BadParameter("must be at least 1")
    return value


def _seconds(value: Optional[float]) -> Optional[float]:  # noqa: UP045
    if value is not None and value <= 0:
        raise typer.BadParameter("must be more than 0 seconds")
    return value


def _print_version(value: bool) -> None:
    if value:
        print(f"hostops {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Run commands on many hosts over SSH at once, and see clearly what happened on every host."""


@app.command()
def run(
    command: Annotated[
        str, typer.Argument(help="Shell command to run on every host (by the remote login shell).")
    ],
    hosts: Annotated[
        Path,
        typer.Option(
            "--hosts",
            "-i",
            envvar="HOSTOPS_INVENTORY",
            help="Inventory file (YAML).",
            show_default=False,
        ),
    ],
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Log in as this user on every host.")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", "-p", min=1, max=65535, help="SSH port for every host."),
    ] = None,
    identity: Annotated[
        Optional[list[Path]],  # noqa: UP045
        typer.Option(
            "--identity", help="Private key file; repeat for several. Replaces the inventory's."
        ),
    ] = None,
    known_hosts: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--known-hosts",
            help="known_hosts file for every host [default: inventory, else ~/.ssh/known_hosts]",
        ),
    ] = None,
    host_key_policy: Annotated[
        HostKeyPolicy,
        typer.Option(
            "--host-key-policy",
            help="Unknown or changed host keys: strict refuses both, accept-new records unknown ones, off accepts anything.",
        ),
    ] = HostKeyPolicy.STRICT,
    no_agent: Annotated[
        bool, typer.Option("--no-agent", help="Do not use the SSH agent (SSH_AUTH_SOCK).")
    ] = False,
    forks: Annotated[
        int,
        typer.Option("--forks", "-f", callback=_positive, help="Hosts handled at once, in total."),
    ] = 64,
    workers: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--workers",
            callback=_positive,
            help="Worker processes [default: CPU count].",
            show_default=False,
        ),
    ] = None,
    connect_timeout: Annotated[
        float,
        typer.Option(
            "--connect-timeout", callback=_seconds, help="Seconds to connect and authenticate."
        ),
    ] = 10.0,
    timeout: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            "--timeout",
            "-t",
            callback=_seconds,
            help="Seconds the command may run; then it is killed and the host reported as timeout. [default: none]",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        OutputMode,
        typer.Option(
            "--output", "-o", help="stream: lines as they arrive; json: one JSON object per host."
        ),
    ] = OutputMode.STREAM,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colours (also: NO_COLOR set).")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks of internal errors.")
    ] = False,
) -> None:
    """Run COMMAND on every host of the inventory, in parallel."""
    lock = console_lock()
    console = Console(lock, color=False if no_color else None)
    try:
        host_list = load_inventory(hosts)
        host_list = apply_overrides(
            host_list,
            user=user,
            port=port,
            identity_files=tuple(str(p) for p in identity or ()),
            known_hosts=str(known_hosts) if known_hosts else None,
        )
        options = RunOptions(
            workers=workers,
            forks=forks,
            connect_timeout=connect_timeout,
            timeout=timeout,
            host_key_policy=host_key_policy,
            use_agent=not no_agent,
        )
        if host_key_policy is HostKeyPolicy.OFF:
            console.message(
                "warning",
                "--host-key-policy off: host keys are not verified; anyone on the path can impersonate a host",
            )
        view = ViewOptions(mode=output, color=False if no_color else None)
        report = run_engine(host_list, command, options, view, lock)
    except HostopsError as exc:
        console.message("error", str(exc))
        if debug:
            traceback.print_exc()
        raise typer.Exit(exit_code_for(exc)) from None
    except KeyboardInterrupt as exc:
        console.message("error", "interrupted")
        raise typer.Exit(exit_code_for(exc)) from None
    raise typer.Exit(exit_code_for(report))


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: one-line errors, defined exit codes, no tracebacks by default."""
    args = sys.argv[1:] if argv is None else argv
    command = typer.main.get_command(app)
    try:
        return int(command.main(args=args, prog_name="hostops", standalone_mode=False) or 0)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        Console().message("error", "interrupted")
        return exit_code_for(KeyboardInterrupt())
    except _USAGE_ERROR as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        Console().message("error", f"{exc.format_message()}{hint}")
        return EXIT_USAGE
    except _CLICK_EXCEPTION as exc:
        Console().message("error", exc.format_message())
        return exc.exit_code
    except Exception as exc:  # a bug in hostops: one line, the traceback only with --debug
        Console().message("error", f"internal error: {type(exc).__name__}: {exc}")
        if "--debug" in args or os.environ.get("HOSTOPS_DEBUG"):
            traceback.print_exc()
        return exit_code_for(exc)
