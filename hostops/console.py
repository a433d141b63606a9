"""The only writer to the terminal. Every write takes the one console lock and is whole lines.

Remote output is written as raw bytes, a whole line per write call, never
through a formatting library: markup or soft-wrapping applied to untrusted
host output would change it.
"""

from __future__ import annotations

import contextlib
import enum
import getpass
import json
import os
import re
import warnings
from collections.abc import Iterable
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass

from hostops.errors import UsageError
from hostops.inventory.ranges import fold
from hostops.models import HostResult, RunReport, Status

_RESET = "\033[0m"
_STATUS_COLOR = {
    Status.OK: "\033[32m",
    Status.FAILED: "\033[31m",
    Status.TIMEOUT: "\033[31m",
    Status.ERROR: "\033[31m",
    Status.UNREACHABLE: "\033[33m",
    Status.AUTH_FAILED: "\033[33m",
    Status.HOSTKEY_REJECTED: "\033[33m",
    Status.SKIPPED: "\033[2m",
    Status.INTERRUPTED: "\033[35m",
}
_HOST_COLOR = "\033[36m"
_ERR_COLOR = "\033[31m"


class OutputMode(str, enum.Enum):
    """How results are shown (``--output``)."""

    STREAM = "stream"  # lines as they arrive: "web01 | line"
    JSON = "json"  # one JSON object per host, as each finishes

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ViewOptions:
    """What the aggregator renders, and how."""

    mode: OutputMode | None = None  # None: render nothing (scripts use the RunReport)
    color: bool | None = None  # None: on a TTY, unless NO_COLOR is set
    summary: bool = True


def use_color(fd: int, choice: bool | None) -> bool:
    """Colour only on a TTY, never with NO_COLOR set (https://no-color.org)."""
    if choice is not None:
        return choice
    return "NO_COLOR" not in os.environ and os.isatty(fd)


class Console:
    """Writes to stdout and stderr under one lock, a whole blob per call."""

    def __init__(
        self, lock: ContextManager[object] | None = None, color: bool | None = None
    ) -> None:
        self._lock = lock if lock is not None else contextlib.nullcontext()
        self.out_color = use_color(1, color)
        self.err_color = use_color(2, color)
        # Remote output is untrusted: on a terminal, control characters are shown,
        # not obeyed (a host must not move the cursor, retitle the window or
        # rewrite another host's line). Pipes and files get the raw bytes.
        self.out_tty = os.isatty(1)
        self.err_tty = os.isatty(2)
        self._closed: set[int] = set()

    def out(self, data: bytes) -> None:
        self._write(1, data)

    def err(self, data: bytes) -> None:
        self._write(2, data)

    def message(self, kind: str, text: str) -> None:
        """``hostops: KIND: text`` on stderr, one line."""
        line = f"hostops: {kind}: {_one_line(text)}"
        if self.err_color and kind == "error":
            line = f"{_ERR_COLOR}{line}{_RESET}"
        self.err((line + "\n").encode())

    def ask_secret(self, prompt: str, instead: str) -> str:
        """Ask for a secret on the controlling terminal (``/dev/tty``), without echo, under
        the console lock, whatever stdin and stdout are. Raises UsageError when there
        is no terminal, naming ``instead`` (the environment variable to use then)."""
        try:
            os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
        except OSError:
            raise UsageError(
                f"cannot ask for the {prompt.lower()}: no terminal; set {instead} instead"
            ) from None
        with self._lock, warnings.catch_warnings():
            # getpass falls back to an echoing stdin with only a warning: never that.
            warnings.simplefilter("error", getpass.GetPassWarning)
            try:
                return getpass.getpass(f"hostops: {prompt}: ")
            except (EOFError, getpass.GetPassWarning):
                raise UsageError(f"no {prompt.lower()} given") from None

    def _write(self, fd: int, data: bytes) -> None:
        if not data or fd in self._closed:
            return
        with self._lock:
            view = memoryview(data)
            while view:
                try:
                    n = os.write(fd, view)
                except BrokenPipeError:  # `hostops ... | head`: stop writing, keep running
                    self._closed.add(fd)
                    return
                view = view[n:]


class StreamRenderer:
    """``host | line`` for stdout, ``host ! line`` for stderr, names padded to the longest."""

    def __init__(self, names: Iterable[str], console: Console) -> None:
        self._width = max((len(n) for n in names), default=0)
        self._console = console

    def lines(self, host: str, stream: str, lines: list[bytes]) -> None:
        out = stream == "stdout"
        color = self._console.out_color if out else self._console.err_color
        name = host.ljust(self._width)
        prefix = (f"{_HOST_COLOR}{name}{_RESET}" if color else name).encode()
        sep = b" | " if out else b" ! "
        if self._console.out_tty if out else self._console.err_tty:
            lines = [visible(line) for line in lines]
        blob = b"".join(prefix + sep + line + b"\n" for line in lines)
        (self._console.out if out else self._console.err)(blob)


_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def visible(data: bytes) -> bytes:
    """Control characters (but tab) in caret notation: ESC becomes ``^[``, CR ``^M``."""
    return _CONTROL.sub(lambda m: b"^" + bytes([m[0][0] ^ 0x40]), data)


def json_line(result: HostResult) -> bytes:
    """One ``--output json`` line."""
    return json.dumps(result.to_json(), ensure_ascii=False).encode() + b"\n"


def summary_text(report: RunReport, color: bool) -> str:
    """The end-of-run summary: counts per status, time, and every host that did not succeed,
    grouped by status and reason."""
    counts = report.counts()
    parts = []
    for status in Status:
        if counts.get(status):
            text = f"{counts[status]} {status.value}"
            parts.append(f"{_STATUS_COLOR[status]}{text}{_RESET}" if color else text)
    n = len(report.results)
    head = (
        f"hostops: {n} host{'s' if n != 1 else ''} in {report.duration_s:.2f} s: {', '.join(parts)}"
    )
    lines = [head]
    # Hosts that failed the same way share one line, their names folded: web[03-07].
    groups: dict[tuple[Status, str], list[str]] = {}
    for r in report.failed:
        groups.setdefault((r.status, _one_line(r.error or "")), []).append(r.host)
    order = list(Status)
    rows = sorted(
        ((status, fold(hosts), why) for (status, why), hosts in groups.items()),
        key=lambda row: order.index(row[0]),
    )
    width = max((len(h) for _, h, _ in rows), default=0)
    status_width = max((len(st.value) for st, _, _ in rows), default=0)
    for st, hosts, why in rows:
        label = st.value.ljust(status_width)
        if color:
            label = f"{_STATUS_COLOR[st]}{label}{_RESET}"
        lines.append(f"  {label}  {hosts.ljust(width)}  {why}".rstrip())
    if report.interrupted:
        lines.append("  the run was interrupted (Ctrl-C)")
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    """One line, with any control character a server sent made visible."""
    return visible(" ".join(text.split()).encode("utf-8", "replace")).decode("utf-8", "replace")
