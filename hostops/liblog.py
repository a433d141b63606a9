"""Where the log records of the libraries hostops uses (paramiko above all) go.

paramiko logs errors and whole tracebacks (a banner timeout, a peer that answers
with HTTP or closes at once, a refused channel) from its transport threads. With no
handler configured, Python's last-resort handler prints them on stderr, outside the
console lock, in the middle of other hosts' lines. hostops's processes route every
record, warning and uncaught thread exception to one function instead: nowhere by
default, as ``hostops: debug:`` lines (under the console lock) with ``--debug``.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable

# A transport thread named by thread_name() is about that host: its records say so.
_THREAD_PREFIX = "hostops:"
_HOST_LEVEL = logging.INFO  # with --debug: paramiko's INFO and above (not its packet dumps)

Emit = Callable[[str | None, str], None]  # (host or None, text of one record)


def thread_name(host: str) -> str:
    """The name to give a thread that works for ``host`` (paramiko's transport thread),
    so that its log records are attributed to that host."""
    return _THREAD_PREFIX + host


class _Route(logging.Handler):
    def __init__(self, emit: Emit | None) -> None:
        super().__init__(_HOST_LEVEL)
        self._emit = emit
        self._busy = threading.local()  # a record logged while emitting one: dropped

    def emit(self, record: logging.LogRecord) -> None:
        if self._emit is None or getattr(self._busy, "on", False):
            return
        self._busy.on = True
        try:
            name = record.threadName or ""
            host = name[len(_THREAD_PREFIX) :] if name.startswith(_THREAD_PREFIX) else None
            text = f"{record.name}: {record.getMessage()}"
            if record.exc_info:
                text += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            self._emit(host, text)
        except Exception:  # a log record must never take a session down
            pass
        finally:
            self._busy.on = False


def route_library_logs(emit: Emit | None) -> None:
    """Send every log record of this process (INFO and above), every ``warnings``
    warning and every exception that ends a thread to ``emit`` (None: drop them),
    replacing the root logger's handlers. For hostops's own processes only: a
    program that uses hostops as a library keeps its logging as it configured it."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(_Route(emit))
    # The level decides whether paramiko builds a record at all (see host.ssh._paramiko.quieten).
    root.setLevel(_HOST_LEVEL if emit is not None else logging.CRITICAL + 1)
    logging.captureWarnings(True)
    log = logging.getLogger("hostops.thread")

    def thread_died(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        exc_info = (args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)
        name = args.thread.name if args.thread is not None else "?"
        # logged from this thread, so its name (and host) is the record's
        log.error("uncaught exception in thread %s", name, exc_info=exc_info)

    threading.excepthook = thread_died
