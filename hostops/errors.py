"""The one exception tree of hostops, and the one place exit codes are decided.

::

    HostopsError                 exit 4 unless a subclass says otherwise
    ├── UsageError               exit 2: a bad option or argument, nothing ran
    ├── ConfigError (ValueError) exit 2: a broken inventory, nothing ran
    ├── ClusterError             exit 2: the cluster (--cluster) cannot be used, nothing ran
    ├── NothingToDo              exit 0: the selection is empty for a good reason (--rerun)
    ├── InternalError            exit 4: hostops itself failed (aggregator lost, ...)
    └── HostFailure              one host failed (unreachable, auth, ...): raised inside the
                                 host layer (HostClient.connect), turned into a value
                                 (``HostResult.status``) before it reaches the fleet

Host failures reach the exit code as values, through :func:`exit_code_for`.
"""

from __future__ import annotations

from hostops.models import RunReport, Status

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130

_UNREACHABLE = frozenset({Status.UNREACHABLE, Status.AUTH_FAILED, Status.HOSTKEY_REJECTED})
_FAILED = frozenset(
    {Status.FAILED, Status.TIMEOUT, Status.ERROR, Status.INCOMPLETE, Status.NOT_RUN}
)


class HostopsError(Exception):
    """Root of every error hostops raises. ``str(err)`` is the one-line message.

    ``argument``: the parameter of the API the error is about (``"limit"``), if it is
    about one; the message then starts with that name, which a front end may replace
    by its own for it (the command line says ``--limit``).
    """

    exit_code = EXIT_INTERNAL

    def __init__(self, *args: object, argument: str | None = None) -> None:
        super().__init__(*args)
        self.argument = argument


class UsageError(HostopsError):
    """A bad argument (of a function of the API, or on the command line); nothing ran."""

    exit_code = EXIT_USAGE


class ConfigError(HostopsError, ValueError):
    """A broken input file. The message starts with ``FILE:LINE:`` when the line is known."""

    exit_code = EXIT_USAGE

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        argument: str | None = None,
    ):
        self.path = path
        self.line = line
        self.reason = message
        where = path or ""
        if path and line is not None:
            where = f"{path}:{line}"
        super().__init__(f"{where}: {message}" if where else message, argument=argument)


class ClusterError(HostopsError):
    """The Dask cluster of ``--cluster`` cannot be used: the scheduler unreachable or
    refusing us, a worker whose pre-flight failed. The message names the address or the
    worker; nothing ran."""

    exit_code = EXIT_USAGE


class NothingToDo(HostopsError):
    """Nothing to run, and rightly so: ``--rerun failed`` after a run where none failed."""

    exit_code = EXIT_OK


class InternalError(HostopsError):
    """hostops itself failed: a lost aggregator, an unexpected bug."""

    exit_code = EXIT_INTERNAL


class HostFailure(HostopsError):
    """One host failed, with the ``status`` it ends in. Raised inside the host layer;
    the fleet turns it into that host's result, never lets it end a run."""

    def __init__(self, status: Status, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.transient = transient  # worth another try (--connect-retries): refused, reset, timeout
        self.attempts = 1  # connection attempts made when it was given up

    @property
    def exit_code(self) -> int:  # type: ignore[override]  # a class attribute elsewhere
        """3 for a host that could not be reached or trusted, else 1 (as in exit_code_for)."""
        return EXIT_UNREACHABLE if self.status in _UNREACHABLE else EXIT_FAILED


def lost_code(code: int) -> int:
    """The exit code of a command that would end with ``code`` but could not write all
    its output (a full disk): 4, unless interrupted (130)."""
    return code if code == EXIT_INTERRUPTED else EXIT_INTERNAL


def exit_code_for(outcome: RunReport | BaseException) -> int:
    """Map a finished run, or the exception that ended it, to the process exit code.

    Precedence: 130 (interrupted) > 4 (internal; or output that could not all be
    written, ``output_lost``) > 3 (unreachable, auth,
    host key) > 1 (failed, timeout, error, incomplete, not_run) > 0 (every host ok
    or skipped).
    A run that hostops itself could not finish has no report: it ends with an
    InternalError, whose code is 4.
    """
    if isinstance(outcome, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(outcome, HostopsError):
        return outcome.exit_code
    if isinstance(outcome, BaseException):
        return EXIT_INTERNAL
    statuses = {r.status for r in outcome.results}
    if outcome.interrupted or Status.INTERRUPTED in statuses:
        return EXIT_INTERRUPTED
    if outcome.output_lost:  # the run went on, but what it showed is incomplete
        return EXIT_INTERNAL
    if statuses & _UNREACHABLE:
        return EXIT_UNREACHABLE
    if statuses & _FAILED:
        return EXIT_FAILED
    return EXIT_OK
