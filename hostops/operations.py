"""Operations on one host (a command, an upload, a download) and how they ended:
what the engine's workers carry out, for ``hostops run``, ``put``, ``get`` and
playbooks alike, and the :class:`Executor` contract between the playbook runner
and the engine.

The runner decides what runs where and in which order; an :class:`Executor`
runs one step at a time on many hosts at once, over connections it keeps
open for the whole playbook, and reports an :class:`Outcome` per host. Every
operation is fully rendered: the executor never sees a template.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

from hostops.errors import UsageError
from hostops.models import Status


class Purpose(str, enum.Enum):
    """Why a step runs; lets an executor show the task's own output and hide the rest."""

    TASK = "task"  # the task's action itself
    PROBE = "probe"  # creates/removes check (see probe_command)
    UPLOAD = "upload"  # a script task's upload, before it runs
    CLEANUP = "cleanup"  # removal of an uploaded script, after it ran

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Step:
    """Which step of the playbook an ``execute`` call is, for progress and output."""

    play: str  # the play's title
    task: str  # the task's title
    number: int  # the task's number in its play, from 1
    purpose: Purpose = Purpose.TASK
    attempt: int = 1  # > 1 when retried (`retries`/`until`)
    item: str | None = None  # a looped task: which item (its label) this step runs
    handler: bool = False  # a handler (``number`` counts the play's handlers)


@dataclass(frozen=True)
class Command:
    """Run ``command`` in the host's login shell, as ``hostops run`` does.

    ``command`` is a complete POSIX shell text (``cwd`` and ``env`` of the task
    are already in it). With ``sudo`` True, the executor runs all of it as root,
    or as ``sudo_user`` (for instance ``sudo -S sh -c <quoted command>``);
    ``sudo`` None: as the run's RunOptions.sudo says. ``timeout`` bounds it as ``--timeout`` does (the whole process group
    stopped). ``on_controller``: run it on this machine, as ``connection:
    local`` does, instead of on the host (``delegate_to: localhost``). ``tty``:
    with a pseudo-terminal (stdout and stderr then arrive merged, as stdout).
    """

    command: str
    sudo: bool | None = None  # None: as the run's RunOptions.sudo says; False: never
    timeout: float | None = None
    stdin: bool = False  # send the run's standard input, then EOF
    sudo_user: str | None = None
    on_controller: bool = False
    tty: bool = False


@dataclass(frozen=True)
class Upload:
    """Upload the local file or directory ``src`` (an absolute path) to ``dest``.

    ``dest`` relative is relative to the login user's home. A file replaces
    ``dest`` atomically, and is not written when ``dest`` already has the same
    content; a directory's tree is mirrored into ``dest``. With ``sudo`` the
    files are moved into place as root (or the sudo user), given to
    ``owner``/``group`` when named (a file whose owner differs counts as
    changed); ``sudo`` None: as the host's inventory become says
    (``ansible_become``), else the run's ``--sudo``, as for commands. ``backup``: a file
    about to be replaced is first copied to ``DEST.YYYYmmdd-HHMMSS~``.
    ``parents``: make the missing parent directories of ``dest`` (``mkdir -p``)
    instead of failing. See hostops.host.sftp. An empty ``dest`` raises UsageError.
    """

    src: str
    dest: str
    mode: int | None = None
    sudo: bool | None = None  # None: the host's become (ansible_become), else the run's
    timeout: float | None = None
    owner: str | None = None
    group: str | None = None
    backup: bool = False
    dry_run: bool = False  # compare only: ``changed`` and ``files`` say what would be written
    parents: bool = False
    follow_links: bool = False  # links to directories followed too (links to files always are)

    def __post_init__(self) -> None:
        _named("dest", self.dest)


@dataclass(frozen=True)
class Download:
    """Download the remote file or directory ``src`` into ``dest/HOST/<src>`` (``dest``
    an absolute local directory), so hosts never collide. An empty ``src`` raises
    UsageError."""

    src: str
    dest: str
    timeout: float | None = None
    follow_links: bool = False  # remote links followed (else skipped, and reported)

    def __post_init__(self) -> None:
        _named("src", self.src)


def _named(field: str, path: str) -> None:
    """A remote path left empty (an unset variable, ``"$DEST"``) would name the login
    user's home: a put there writes into it, a get copies all of it. Never silently."""
    if not path.strip():
        raise UsageError(
            "the remote path is empty: name it ('.' for the home directory)", argument=field
        )


Operation = Command | Upload | Download


def localize(op: Operation, cwd: str) -> Operation:
    """``op`` with its paths on the controller (an upload's source, a download's
    destination) made absolute against ``cwd``: for a process whose working directory
    is not the caller's (the background process of warm runs)."""
    if isinstance(op, Upload) and not os.path.isabs(op.src):
        return dataclasses.replace(op, src=os.path.join(cwd, op.src))
    if isinstance(op, Download) and not os.path.isabs(op.dest):
        return dataclasses.replace(op, dest=os.path.join(cwd, op.dest))
    return op


@dataclass(frozen=True)
class Outcome:
    """How an operation ended on one host.

    For a Command: its status (ok, failed, timeout, ...), exit code and output
    (raw bytes; an executor may cap what it keeps). For an Upload or
    Download: ``status`` ok or why not, ``changed`` when some file's content
    differed (a file written), ``files`` the absolute paths concerned, written
    or already up to date (remote paths for an upload, local ones for a
    download; for an upload of one file, ``files[0]`` is its remote path).
    """

    status: Status
    exit_code: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    error: str | None = None
    changed: bool = False
    files: tuple[str, ...] = ()
    duration_s: float = 0.0
    signal: str | None = None  # the signal that ended a command, when known
    attempts: int = 1  # connection attempts (--connect-retries) made for it
    skipped: tuple[str, ...] = ()  # transfers: entries not transferred (links, special files)
    reused: bool = False  # over a connection kept from an earlier run (--persist)
    connect_s: float | None = None  # seconds spent connecting; None: no connection made


class Executor(Protocol):
    """Runs steps on hosts; implemented by the engine (persistent connection per host)."""

    def execute(self, step: Step, operations: Mapping[str, Operation]) -> Mapping[str, Outcome]:
        """Run ``operations[host]`` on every host named, all at once; return when every
        one ended, with an Outcome for each. A host that cannot be reached is an
        Outcome (``unreachable``, ...), never an exception. Hosts are named as
        in the inventory (``Host.name`` of ``PlaybookPlan.hosts``)."""
        ...

    def finished(self, hosts: Collection[str]) -> None:
        """Nothing more will run on ``hosts`` in this playbook: their connections may close."""
        ...
