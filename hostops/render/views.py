"""Views of many hosts' results at once: ``gather`` folds hosts with identical output
into one block under a compact host set; ``diff`` shows the majority's output once
and every other group as a unified diff against it. And the progress line.

Pure functions of results to bytes: :class:`hostops.render.console.Console` writes them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hostops.models import HostResult, Status
from hostops.ranges import fold
from hostops.render.console import (
    BOLD,
    HOST_COLOR,
    RESET,
    STATUS_COLOR,
    OutputMode,
    visible,
    visible_text,
)

_ADDED = "\033[32m"
_REMOVED = "\033[31m"
_TRUNCATED = b"[hostops: output cut at --max-output; --out-dir keeps all of it]"
# Statuses whose command ran (or began to): their output is worth showing.
_RAN = frozenset({Status.OK, Status.FAILED, Status.TIMEOUT, Status.ERROR, Status.INTERRUPTED})


@dataclass(frozen=True)
class Group:
    """Hosts that ended the same way with the same output, in run order."""

    hosts: tuple[str, ...]
    sample: HostResult  # any member: they are identical where it matters

    @property
    def label(self) -> str:
        """``web[01-05,07] (6)``, with how they ended unless it was exit 0."""
        text = f"{fold(list(self.hosts))} ({len(self.hosts)})"
        r = self.sample
        if r.exit_code not in (0, None):
            text += f" exit {r.exit_code}"
        elif r.signal:
            text += f" signal {r.signal}"
        if r.status not in (Status.OK, Status.FAILED):
            text += f" {r.status.value}"
        return visible_text(text)  # host names and a server's signal name are anyone's


def group_results(results: Iterable[HostResult]) -> list[Group]:
    """Hosts whose command ran, folded by (status, exit code, signal, stdout, stderr);
    the largest group first, ties in run order. Hosts that never ran their command
    (unreachable, ...) are left to the summary."""
    groups: dict[tuple[object, ...], list[HostResult]] = {}
    for r in results:
        if r.status in _RAN and (r.exit_code is not None or r.signal or r.stdout or r.stderr):
            key = (r.status, r.exit_code, r.signal, r.stdout, r.stderr, r.truncated)
            groups.setdefault(key, []).append(r)
    ordered = sorted(groups.values(), key=lambda members: -len(members))  # stable: run order
    return [Group(tuple(r.host for r in members), members[0]) for members in ordered]


def body(result: HostResult, tty: bool) -> list[bytes]:
    """A result's output as lines: stdout, then stderr lines marked ``! ``."""
    lines = _lines(result.stdout) + [b"! " + line for line in _lines(result.stderr)]
    if result.truncated:
        lines.append(_TRUNCATED)
    return [visible(line) for line in lines] if tty else lines


def gather_text(results: Sequence[HostResult], color: bool, tty: bool) -> bytes:
    """The ``gather`` view: one block per group, largest first."""
    out = bytearray()
    for group in group_results(results):
        out += _header(group.label, group.sample.status, color, tty)
        out += b"".join(line + b"\n" for line in body(group.sample, tty)) or b"(no output)\n"
    return bytes(out)


def diff_text(results: Sequence[HostResult], color: bool, tty: bool) -> bytes:
    """The ``diff`` view: the largest group's output, then each other group as a
    unified diff against it."""
    groups = group_results(results)
    if not groups:
        return b""
    majority, others = groups[0], groups[1:]
    base = body(majority.sample, tty)
    out = bytearray(_header(f"{majority.label}: the majority", majority.sample.status, color, tty))
    out += b"".join(line + b"\n" for line in base) or b"(no output)\n"
    for group in others:
        out += _header(f"{group.label}: differs from the majority", group.sample.status, color, tty)
        delta = against_majority(base, group, body(group.sample, tty))
        if not delta:
            out += b"(same output; ended differently)\n"
        for line in delta:
            out += _diff_line(line, color) + b"\n"
    return bytes(out)


def against_majority(base: list[bytes], group: Group, lines: list[bytes]) -> list[bytes]:
    """``lines`` (``group``'s :func:`body`) as a unified diff against ``base`` (the
    majority's), headed ``--- majority`` and ``+++ HOSTS``; empty when they are equal."""
    return list(
        difflib.diff_bytes(
            difflib.unified_diff,
            base,
            lines,
            b"majority",
            visible_text(fold(list(group.hosts))).encode(),
            lineterm=b"",
        )
    )


FOLDED = (OutputMode.GATHER, OutputMode.DIFF)  # the views shown once the hosts are done


def folded_text(
    mode: OutputMode | None, results: Sequence[HostResult], color: bool, tty: bool
) -> bytes:
    """The gather or diff view of ``results`` for ``mode``; nothing for the other views."""
    if mode is OutputMode.GATHER:
        return gather_text(results, color, tty)
    if mode is OutputMode.DIFF:
        return diff_text(results, color, tty)
    return b""


def progress_text(
    total: int, done: int, failed: int, running: Sequence[str], elapsed: float, width: int
) -> str:
    """``42/200 done, 3 failed, 64 running, 12.3 s, ETA 40 s``; the running hosts named
    once only a few remain. Cut to ``width``."""
    parts = [f"{done}/{total} done"]
    if failed:
        parts.append(f"{failed} failed")
    parts.append(f"{len(running)} running")
    parts.append(f"{elapsed:.1f} s")
    if done and done < total:
        parts.append(f"ETA {elapsed / done * (total - done):.0f} s")
    text = "hostops: " + ", ".join(parts)
    if 0 < len(running) <= 5:
        text += f": waiting for {visible_text(fold(list(running)))}"
    return text[: max(width - 1, 0)]


def _lines(data: bytes) -> list[bytes]:
    if not data:
        return []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def _header(label: str, status: Status, color: bool, tty: bool) -> bytes:
    """A group's header. On a terminal it is bold (with or without colour): output
    lines reach a terminal with every control made visible, so none can look like one."""
    rule = "-" * min(max(len(label), 15), 78)
    if color:
        tint = HOST_COLOR if status is Status.OK else STATUS_COLOR[status]
        label = f"{tint}{label}{RESET}"
    text = f"{rule}\n{label}\n{rule}"
    if tty:
        text = "\n".join(f"{BOLD}{line}{RESET}" for line in text.split("\n"))
    return f"{text}\n".encode()


def _diff_line(line: bytes, color: bool) -> bytes:
    if not color or line.startswith((b"+++", b"---")):
        return line
    if line.startswith(b"+"):
        return _ADDED.encode() + line + RESET.encode()
    if line.startswith(b"-"):
        return _REMOVED.encode() + line + RESET.encode()
    return line


def recap_text(result: Any, color: bool) -> str:
    """A playbook's recap (stderr, before the summary): per play, per task, how many
    hosts were ok, changed, failed, skipped; and why a play or the playbook stopped."""
    lines = []
    statuses = result.host_statuses()  # the summary's, so that the two agree
    for play in result.plays:
        lines.append(
            f"hostops: play {play.number} {visible_text(repr(play.name))}"
            f" on {visible_text(fold(list(play.hosts))) or 'no host'}"
        )
        names = {t.number: visible_text(f"{t.number} {t.name!r}") for t in play.tasks}
        width = max((len(name) for name in names.values()), default=0)
        for t in play.tasks:
            counts = [
                (t.ok, "ok", Status.OK),
                (t.changed, "changed", Status.OK),
                (t.failed, "failed", Status.FAILED),
                (t.skipped, "skipped", Status.SKIPPED),
            ]
            cells = []
            for n, word, status in counts:
                cell = f"{n:>4} {word}"
                if color and n and word != "ok":
                    cell = f"{STATUS_COLOR[status]}{cell}{RESET}"
                cells.append(cell)
            ignored = f" ({t.ignored} ignored)" if t.ignored else ""
            kind = "handler" if t.handler else "task"
            lines.append(f"  {kind} {names[t.number].ljust(width)} {' '.join(cells)}{ignored}")
        if play.stopped:
            lines.append(f"  play stopped: {visible_text(play.stopped)}")
        never: dict[Status, list[str]] = {}
        for host in play.not_run:
            never.setdefault(statuses.get(host, Status.NOT_RUN), []).append(host)
        for status, hosts in never.items():
            lines.append(f"  never started: {visible_text(fold(hosts))} ({status.value})")
    if result.stopped:
        lines.append(f"hostops: playbook stopped: {visible_text(result.stopped)}")
    return "".join(line + "\n" for line in lines)


def diffs_text(result: Any) -> str:
    """``play --diff``: per task and host, the unified diff of what its templates changed
    (a looped task's items in order); empty when nothing changed."""
    out = []
    for play in result.plays:
        for task in play.tasks:
            for r in task.results:
                parts = [i.diff for i in r.items or (r,) if i.diff]
                if parts:
                    where = f"{play.name}: task {task.number} {task.name!r} on {r.host}"
                    out.append(f"hostops: diff: {visible_text(where)}\n")
                    out += parts
    return "".join(out)
