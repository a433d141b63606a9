"""The one edge between errors and the process: every failure becomes one line on
stderr and its exit code here (the codes themselves: hostops.errors.exit_code_for)."""

from __future__ import annotations

import errno
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, cast

import typer

from hostops.cli.completion import COMPLETE_VAR, complete
from hostops.cli.configured import load
from hostops.cli.words import check_command_words
from hostops.errors import (
    EXIT_USAGE,
    HostopsError,
    NothingToDo,
    UsageError,
    exit_code_for,
    lost_code,
)
from hostops.liblog import route_library_logs
from hostops.render.console import Console, output_not_written, take_output_lost


class _ClickError(Protocol):
    """What is used of click's exceptions."""

    exit_code: int
    ctx: Any  # click.Context | None

    def format_message(self) -> str: ...


def _click_class(name: str) -> type[Exception]:
    # typer raises click's exception classes (vendored in recent typer): find them through
    # a public one rather than importing a click that may not be the one typer uses.
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)


_CLICK_EXCEPTION = _click_class("ClickException")
_USAGE_ERROR = _click_class("UsageError")

# A write's failures that are no bug of hostops's (a full disk, a closed descriptor).
_UNWRITABLE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EBADF}

# Library parameters that errors name (HostopsError.argument), as the command line
# calls them.
_FLAGS = {"limit": "--limit", "statuses": "--rerun", "sudo": "--sudo"}


@dataclass(frozen=True)
class Invocation:
    """What ``main`` was called with, for the commands (``typer.Context.obj``)."""

    argv: tuple[str, ...]


def argv_of(ctx: typer.Context) -> list[str]:
    """This invocation's arguments (for the run record)."""
    invocation = ctx.obj
    assert isinstance(invocation, Invocation), "commands run through hostops.cli.main"
    return list(invocation.argv)


def describe(exc: BaseException) -> str:
    """The one-line message of ``exc`` in the command line's words: a library parameter
    the message starts with is named as its option."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if not isinstance(exc, HostopsError):
        return f"internal error: {type(exc).__name__}"
    text = str(exc)
    flag = _FLAGS.get(exc.argument or "")
    if flag is not None and exc.argument is not None and text.startswith(exc.argument):
        return flag + text[len(exc.argument) :]
    return text


def traceback_wanted(debug: bool) -> bool:
    """Whether a failure shows its traceback: ``--debug`` given, or HOSTOPS_DEBUG set
    (which also reaches failures before the options are read)."""
    return debug or bool(os.environ.get("HOSTOPS_DEBUG"))


def guarded(console: Console, body: Callable[[], int], debug: bool) -> int:
    """Run a command's body: what it raises becomes one line on stderr and its exit code."""
    try:
        return body()
    except NothingToDo as exc:
        console.message("note", describe(exc))
        return exit_code_for(exc)
    except KeyboardInterrupt as exc:
        console.message("error", describe(exc))
        return exit_code_for(exc)
    except Exception as exc:  # a bug in hostops: one line, the traceback only with --debug
        text = describe(exc) if isinstance(exc, HostopsError) else f"{describe(exc)}: {exc}"
        console.message("error", text)
        if traceback_wanted(debug):
            traceback.print_exc()
        return exit_code_for(exc)


def debug_lines(console: Console, host: str | None, text: str) -> None:
    """A library's log record (``--debug``), one ``hostops: debug:`` line per line."""
    for line in text.splitlines():
        console.message("debug", f"{host}: {line}" if host else line)


def main(args: list[str]) -> int:
    """The command line proper (hostops.entry.main comes first): parse ``args``, run the
    command; one-line errors, defined exit codes, no tracebacks by default. Output that
    could not all be written (a full disk under ``> out.txt``) is never a success: one
    line says so, and the exit code is 4 (an interruption's 130 stays)."""
    code = _command(args)
    lost = take_output_lost()  # what a run's record did not already say (hosts.recorded)
    if lost is None:
        return code
    Console().message("error", f"cannot write {lost}: the output is incomplete")
    return lost_code(code)


def _command(args: list[str]) -> int:
    from hostops.cli.commands import command_line  # its commands import this module

    # paramiko's records and tracebacks: never on stderr by Python's last-resort handler
    route_library_logs(
        partial(debug_lines, Console()) if traceback_wanted("--debug" in args) else None
    )
    command = command_line(args)
    instruction = os.environ.get(COMPLETE_VAR)
    if instruction is not None:  # the shell's completion script asks (hostops completion)
        return complete(command, instruction)
    try:
        check_command_words(command, args)
    except UsageError as exc:
        Console().message("error", str(exc))
        return EXIT_USAGE
    try:
        configured = load(command, os.environ)
    except HostopsError as exc:  # the configuration file: before any command
        Console().message("error", describe(exc))
        return exit_code_for(exc)
    try:
        code = command.main(
            args=args,
            prog_name="hostops",
            standalone_mode=False,
            obj=Invocation(tuple(args)),
            default_map=configured.default_map,
        )
        return int(code or 0)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        Console().message("error", "interrupted")
        return exit_code_for(KeyboardInterrupt())
    except _USAGE_ERROR as caught:
        usage = cast(_ClickError, caught)
        if type(usage).__name__ == "NoArgsIsHelpError":  # `hostops` alone: the help, as it is
            Console().err(usage.format_message().encode() + b"\n", plain=True)
            return EXIT_USAGE
        hint = f" (see '{usage.ctx.command_path} --help')" if usage.ctx else ""
        Console().message("error", f"{usage.format_message()}{hint}")
        return EXIT_USAGE
    except _CLICK_EXCEPTION as caught:
        failure = cast(_ClickError, caught)
        Console().message("error", failure.format_message())
        return failure.exit_code
    except HostopsError as exc:  # before a command's body
        Console().message("error", describe(exc))
        return exit_code_for(exc)
    except Exception as exc:  # a bug outside every command's body (parsing the options)
        if isinstance(exc, OSError) and exc.filename is None and exc.errno in _UNWRITABLE:
            # Nothing but the help or a usage text is written before a command's body,
            # and to stdout: `hostops --help > /dev/full`. Said as for every command (main).
            output_not_written(exc.strerror or str(exc))
            return 0
        Console().message("error", f"internal error: {type(exc).__name__}: {exc}")
        if traceback_wanted(False):
            traceback.print_exc()
        return exit_code_for(exc)
