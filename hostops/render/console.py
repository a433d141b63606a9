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
import select
import termios
import warnings
from collections.abc import Iterable
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass

from hostops.errors import UsageError
from hostops.models import HostResult, RunReport, Status
from hostops.ranges import fold
from hostops.render.reasons import generalize

RESET = "\033[0m"
STATUS_COLOR = {
    Status.OK: "\033[32m",
    Status.FAILED: "\033[31m",
    Status.TIMEOUT: "\033[31m",
    Status.ERROR: "\033[31m",
    Status.UNREACHABLE: "\033[33m",
    Status.AUTH_FAILED: "\033[33m",
    Status.HOSTKEY_REJECTED: "\033[33m",
    Status.SKIPPED: "\033[2m",
    Status.INTERRUPTED: "\033[35m",
    Status.INCOMPLETE: "\033[31m",
    Status.NOT_RUN: "\033[31m",
}
HOST_COLOR = "\033[36m"
_ERR_COLOR = "\033[31m"
_CLEAR_LINE = b"\r\033[K"
_SLOWEST = 5


class OutputMode(str, enum.Enum):
    """How results are shown (``--output``)."""

    STREAM = "stream"  # lines as they arrive: "web01 | line"
    GATHER = "gather"  # after the run: hosts with identical output folded into one block
    DIFF = "diff"  # after the run: the majority's output, the others as diffs against it
    JSON = "json"  # one JSON object per host, as each finishes
    QUIET = "quiet"  # the summary only

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ViewOptions:
    """What the aggregator renders, and how."""

    mode: OutputMode | None = None  # None: render nothing (scripts use the RunReport)
    color: bool | None = None  # None: on a TTY, unless NO_COLOR is set
    summary: bool = True
    live: bool = False  # gather/diff: redrawn on a TTY as hosts finish
    out_dir: str | None = None  # every host's output also written to DIR/HOST.{out,err,status}
    progress: bool | None = None  # None: on a TTY, for views that do not stream lines


def use_color(fd: int, choice: bool | None) -> bool:
    """Colour only on a TTY, never with NO_COLOR set (https://no-color.org)."""
    if choice is not None:
        return choice
    return "NO_COLOR" not in os.environ and os.isatty(fd)


_TERMINAL: list[int | None] = [None]  # see use_terminal


def use_terminal(fd: int | None) -> None:
    """Ask for secrets on the terminal open as ``fd`` rather than on ``/dev/tty``: for the
    process that carries out a warm run, which has no controlling terminal of its own
    and is handed its caller's."""
    _TERMINAL[0] = fd


def _ask_on(fd: int, text: str, prompt: str) -> str:
    """``getpass`` on the terminal ``fd``: echo off while the line is typed."""
    old = termios.tcgetattr(fd)
    quiet = list(old)
    quiet[3] &= ~termios.ECHO
    # Echo off (and input typed before the prompt dropped) first, then the prompt, as
    # getpass does: an answer typed as soon as the prompt shows is neither echoed nor
    # flushed away.
    termios.tcsetattr(fd, termios.TCSAFLUSH, quiet)
    try:
        os.write(fd, text.encode())
        with open(os.dup(fd), "rb", buffering=0) as tty:
            line = tty.readline()
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, old)
        os.write(fd, b"\n")
    if not line:
        raise UsageError(f"no {prompt.lower()} given")
    return line.decode(errors="replace").rstrip("\r\n")


_LOST: list[str] = []  # why this process's writes to standard output failed (the first)


def output_lost() -> str | None:
    """Why some of this process's output could not be written ("standard output: No
    space left on device"); None if all of it was. A reader that went away (``| head``)
    is no loss: it asked for no more. Nor is standard error's: it carries messages and
    the summary, whose verdict the exit code gives anyway (and ``2>&-`` asks for none)."""
    return f"standard output: {_LOST[0]}" if _LOST else None


def output_not_written(why: str) -> None:
    """Standard output could not be written (``why``): :func:`output_lost` says so (the
    first reason only)."""
    if not _LOST:
        _LOST.append(why)


def take_output_lost() -> str | None:
    """:func:`output_lost`, then forget it: it is said once."""
    lost = output_lost()
    _LOST.clear()
    return lost


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
        self._status_shown = False

    def out(self, data: bytes, plain: bool = False) -> None:
        """Write ``data`` to stdout. ``plain``: it holds none of hostops's own terminal
        sequences (colours), so on a terminal every control in it is made visible."""
        self._write(1, data, plain)

    def err(self, data: bytes, plain: bool = False) -> None:
        """Write ``data`` to stderr; ``plain`` as for :meth:`out`."""
        self._write(2, data, plain)

    def message(self, kind: str, text: str) -> None:
        """``hostops: KIND: text`` on stderr, one line."""
        line = f"hostops: {kind}: {_one_line(text)}"
        if self.err_color and kind == "error":
            line = f"{_ERR_COLOR}{line}{RESET}"
        self.err((line + "\n").encode())

    def ask_secret(self, prompt: str, instead: str) -> str:
        """Ask for a secret on the controlling terminal (``/dev/tty``, or the one handed
        over by :func:`use_terminal`), without echo, under the console lock, whatever
        stdin and stdout are. Raises UsageError when there is no terminal, naming
        ``instead`` (the environment variable to use then)."""
        handed = _TERMINAL[0]
        if handed is not None:
            with self._lock:
                return _ask_on(handed, f"hostops: {prompt}: ", prompt)
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

    def status(self, text: str | None) -> None:
        """Show ``text`` as the one status line at the bottom of the terminal (stderr),
        replacing the last one; None removes it. Other writes remove it first, so it
        never mixes with output; the caller redraws it."""
        if text is None:
            if self._status_shown:
                self._write(2, b"")
            return
        with self._lock:
            self._raw(2, _CLEAR_LINE + text.encode())
            self._status_shown = True

    def _write(self, fd: int, data: bytes, plain: bool = False) -> None:
        if (not data and not self._status_shown) or fd in self._closed:
            return
        with self._lock:
            if self._status_shown:
                self._status_shown = False
                self._raw(2, _CLEAR_LINE)
            self._raw(fd, data, plain)

    def _raw(self, fd: int, data: bytes, plain: bool = False) -> None:
        # Whatever the caller made of it: on a terminal, nothing but hostops's own
        # sequences is obeyed (and none at all in a plain text).
        if self.out_tty if fd == 1 else self.err_tty:
            data = visible(data, newlines=True) if plain else terminal_safe(data)
        view = memoryview(data)
        while view and fd not in self._closed:
            try:
                n = os.write(fd, view)
            except BrokenPipeError:  # `hostops ... | head`: stop writing, keep running
                self._closed.add(fd)
                return
            except BlockingIOError:  # a non-blocking descriptor we were handed: wait for room
                select.select([], [fd], [])
                continue
            except OSError as exc:  # a full disk, an I/O error: stop writing there, keep
                self._closed.add(fd)  # running (the hosts' results are all still kept)
                if fd == 1:  # and say so at the end (see output_lost)
                    output_not_written(exc.strerror or str(exc))
                return
            view = view[n:]


# A line longer than this is passed on in pieces, so one endless line cannot
# exhaust memory; far above any real line (tests use lines of 4 KiB and more).
MAX_LINE = 1 << 20


class StreamRenderer:
    """``host | line`` for stdout, ``host ! line`` for stderr, names padded to the longest."""

    def __init__(self, names: Iterable[str], console: Console) -> None:
        self._width = max((len(visible_text(n)) for n in names), default=0)
        self._console = console
        self._pending: dict[str, dict[str, bytes]] = {}  # host -> stream -> unfinished line

    def feed(self, host: str, stream: str, data: bytes) -> None:
        """Output as it arrives: its whole lines are shown, an unfinished one waits for
        its end (or for :meth:`flush`); a line longer than MAX_LINE goes in pieces."""
        pending = self._pending.setdefault(host, {})
        lines = (pending.pop(stream, b"") + data).split(b"\n")
        rest = lines.pop()
        while len(rest) > MAX_LINE:
            lines.append(rest[:MAX_LINE])
            rest = rest[MAX_LINE:]
        if rest:
            pending[stream] = rest
        if lines:
            self.lines(host, stream, lines)

    def flush(self, host: str) -> None:
        """``host`` is done: its unfinished lines are shown as they are."""
        for stream, rest in sorted(self._pending.pop(host, {}).items()):
            self.lines(host, stream, [rest])

    def lines(self, host: str, stream: str, lines: list[bytes]) -> None:
        out = stream == "stdout"
        color = self._console.out_color if out else self._console.err_color
        name = visible_text(host).ljust(self._width)
        prefix = (f"{HOST_COLOR}{name}{RESET}" if color else name).encode()
        sep = b" | " if out else b" ! "
        if self._console.out_tty if out else self._console.err_tty:
            lines = [visible(line) for line in lines]
        blob = b"".join(prefix + sep + line + b"\n" for line in lines)
        (self._console.out if out else self._console.err)(blob)


# What a terminal may obey rather than show: C0 controls and DEL, C1 controls (U+0080 to
# U+009F: VTE and GNU screen take U+009B as CSI, U+009D as OSC), bidirectional
# formatting (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069: they reorder what
# follows on the line), and bytes 0x80-0x9F that are not part of UTF-8 (8-bit C1 on a
# terminal that is not in UTF-8). Tab passes; newline passes only in whole blobs.
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\udc80-\udc9f"
_CONTROL = re.compile(f"[\n{_UNSAFE}]")
_CONTROL_BUT_NEWLINE = re.compile(f"[{_UNSAFE}]")
# A quick test for "nothing to do": no byte that can start or be any of the above.
_MAYBE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f-\x9f\xd8\xe2]")
# hostops's own terminal sequences: colours (SGR), clear to the end of the line or the
# screen, cursor up N lines (the live view). Nothing else reaches a terminal.
_OWN = re.compile(rb"\x1b\[[0-9;]*[mKJF]|\r(?=\x1b\[K)")
BOLD = "\033[1m"  # on a terminal, gather and diff headers: no output line can be bold


def _shown(m: re.Match[str]) -> str:
    c = ord(m[0])
    if c < 0x20 or c == 0x7F:
        return "^" + chr(c ^ 0x40)  # caret notation, as cat -v: ESC is ^[, CR ^M
    if 0xDC80 <= c <= 0xDC9F:  # a byte that is not UTF-8
        return f"\\x{c - 0xDC00:02x}"
    return f"\\u{c:04x}"  # C1 and bidi controls (also a valid JSON escape of the same)


def visible(data: bytes, newlines: bool = False) -> bytes:
    """``data`` safe to write to a terminal, every control shown instead of obeyed:
    C0 controls (but tab; newline too unless ``newlines``) and DEL in caret notation
    (ESC ``^[``, CR ``^M``), C1 and bidirectional controls as ``\\u009b``, stray bytes
    0x80-0x9F as ``\\x9b``. Anything else, invalid UTF-8 included, is left as it is."""
    if not _MAYBE.search(data):
        return data
    pattern = _CONTROL_BUT_NEWLINE if newlines else _CONTROL
    text = data.decode("utf-8", "surrogateescape")
    return pattern.sub(_shown, text).encode("utf-8", "surrogateescape")


def visible_text(text: str) -> str:
    """:func:`visible` for a string (a host name, a server's message) on one line."""
    return visible(text.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")


def terminal_safe(data: bytes) -> bytes:
    """What may reach a terminal of a blob about to be written: hostops's own sequences
    (colours, clearing, the live view's cursor moves) and newlines as they are, every
    other control made visible, whatever its source (remote output, a host name, an
    error text a server sent, an inventory variable)."""
    if not _MAYBE.search(data):
        return data
    out = bytearray()
    at = 0
    for m in _OWN.finditer(data):
        out += visible(data[at : m.start()], newlines=True) + m[0]
        at = m.end()
    out += visible(data[at:], newlines=True)
    return bytes(out)


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
            parts.append(f"{STATUS_COLOR[status]}{text}{RESET}" if color else text)
    n = len(report.results)
    changes = [r.changed for r in report.results if r.changed is not None]
    if changes:  # put, get, play: how many hosts were changed
        parts.append(f"{sum(changes)} changed")
    head = (
        f"hostops: {n} host{'s' if n != 1 else ''} in {report.duration_s:.2f} s: {', '.join(parts)}"
    )
    lines = [head]
    # Hosts that failed the same way share one line, their names folded: web[03-07]; a
    # reason that differs only by the host's address, port or key is the same way (it
    # is shown generalized, then once in full for the group's first host).
    groups: dict[tuple[Status, str], list[tuple[str, str]]] = {}
    # Skipped hosts too when something says why (a rollout stopped by --max-fail).
    listed = [
        r
        for r in report.results
        if r.status is not Status.OK and (r.error or r.status is not Status.SKIPPED)
    ]
    for r in listed:
        why = _one_line(r.error or "")
        key = (r.status, generalize(why, r.host, r.address))
        groups.setdefault(key, []).append((visible_text(r.host), why))
    order = list(Status)
    rows = sorted(
        (
            (status, fold([h for h, _ in members]), template, members)
            for (status, template), members in groups.items()
        ),
        key=lambda row: order.index(row[0]),
    )
    width = max((len(h) for _, h, _, _ in rows), default=0)
    status_width = max((len(st.value) for st, _, _, _ in rows), default=0)
    for st, hosts, template, members in rows:
        label = st.value.ljust(status_width)
        if color:
            label = f"{STATUS_COLOR[st]}{label}{RESET}"
        same = len({why for _, why in members}) == 1
        lines.append(
            f"  {label}  {hosts.ljust(width)}  {members[0][1] if same else template}".rstrip()
        )
        if not same:
            first, why = members[0]
            lines.append(f"  {' ' * status_width}  e.g. {first}: {why}")
    if n > 1:
        slow = sorted(report.results, key=lambda r: -r.duration_s)[:_SLOWEST]
        lines.append(
            "  slowest: " + ", ".join(f"{visible_text(r.host)} {r.duration_s:.2f} s" for r in slow)
        )
    skipped = [r for r in report.results if r.skipped]
    if skipped:  # put/get: entries left out (links, special files) are never silent
        counts_text = ", ".join(f"{visible_text(r.host)} {len(r.skipped)}" for r in skipped)
        lines.append(
            f"  not transferred: {sum(len(r.skipped) for r in skipped)} entries"
            f" (links, special files; --follow-links follows links; names in JSON): {counts_text}"
        )
    if report.interrupted:
        lines.append("  the run was interrupted (Ctrl-C)")
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    """One line, with any control character a server sent made visible."""
    return visible(" ".join(text.split()).encode("utf-8", "replace")).decode("utf-8", "replace")
