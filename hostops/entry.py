"""The ``hostops`` console script: what needs no parsing (``--version``) is answered
first; a warm command (``--persist``) goes to the background process before anything
heavy is imported; every other command to the command line, a cold run's after its
early process is forked (hostops.keeper.early).

Keep this module's imports to the standard library's few: it runs on every start.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
from typing import NoReturn

from hostops._version import __version__

# Allocations between two young-generation collections of the command line's process (and
# of the workers it forks). Start-up makes tens of thousands of objects that live for the
# whole run (modules, classes, the hosts; ~32k tracked once the run path is imported): at
# Python's default of 700 the collector ran ~90 times over them for nothing (10-13 ms of
# CPU, ~5% of the process's at N=10, measured with gc.callbacks). Garbage in cycles is
# still collected, only in larger steps.
_GC_YOUNG = 50_000


def main(argv: list[str] | None = None) -> int:
    """Run the ``hostops`` command line ``argv`` (default: sys.argv[1:])."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:  # as the root's --version prints it, without loading typer
        return _say(f"hostops {__version__}\n")
    from hostops.keeper import client

    code = client.main(args)
    if code is not None:
        return code
    from hostops.keeper import early

    if early.wanted(args):
        # First, so that the workers' code loads on another CPU while this one reads the
        # command line and the inventory (see hostops.keeper.early).
        workers = early.start()
        atexit.register(workers.close)  # console() runs it: the command waits for them
        from hostops.fleet.engine import use_worker_source

        use_worker_source(workers)
    from hostops.cli import main as command_line

    return command_line(args)


def _say(text: str) -> int:
    """Write ``text`` on stdout: exit code 0, or 1 if stdout is a closed pipe (``| head
    -0``; quietly, as click does for the rest of the command line), or 4 with one line
    on stderr if it cannot be written (a full disk), as for every command."""
    try:
        print(text, end="", flush=True)  # as print does: nothing without a stdout (>&-)
    except OSError as exc:
        # Python's advice for SIGPIPE: nothing more goes to the pipe, not even at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        if isinstance(exc, BrokenPipeError):
            return 1
        with contextlib.suppress(OSError):  # stderr too: the exit code says it alone
            sys.stderr.write(f"hostops: error: cannot write standard output: {exc.strerror}\n")
            sys.stderr.flush()
        return 4  # hostops.errors.EXIT_INTERNAL, not imported for this
    return 0


def _hold_standard_descriptors() -> None:
    """A standard descriptor closed at the start (``2>&-``) would be the number the next
    file opened gets -- a run record, a socket -- and output meant for it would be
    written there. Each such place is held by /dev/null opened read-only: a write there
    fails (EBADF), as on the closed descriptor, and is said as lost output (stdout:
    hostops.render.console), and a read is an end of file."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            held = os.open(os.devnull, os.O_RDONLY)
            if held != fd:
                os.dup2(held, fd, inheritable=True)
                os.close(held)


def console() -> NoReturn:
    """The process's whole life (the console script, ``python -m hostops``): :func:`main`,
    then the exit handlers and a flush of the standard streams, then the exit, without
    tearing the interpreter down module by module: every object hostops loaded would be
    freed one by one for nothing (~30 ms of CPU at the end of each run, measured)."""
    gc.set_threshold(_GC_YOUNG, *gc.get_threshold()[1:])
    _hold_standard_descriptors()
    code = main()
    atexit._run_exitfuncs()  # what sys.exit would run: multiprocessing's, logging's
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):  # a closed pipe: let the interpreter say it, as always
        sys.exit(code)
    os._exit(code)
