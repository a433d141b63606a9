"""Forwarded standard input: what a command's stdin is fed from.

``hostops run 'bash -s' < fix.sh`` sends hostops's own stdin to every host. It is
read as it arrives into a private spool file (see :class:`Spooler`), so the run
starts at once, however slow the writer (``sleep 6 | hostops run ...``), and every
host's command (later batches and retries too) reads it from the start. A
:class:`Spool` names the file and a marker that exists once the data is complete:
it crosses process boundaries as two paths.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from typing import BinaryIO

_CHUNK = 65536


@dataclass(frozen=True)
class Spool:
    """Forwarded stdin in a file that grows until ``done`` exists (all of it is in)."""

    path: str
    done: str


Source = bytes | Spool | None  # what a command's forwarded stdin comes from


class Feed:
    """One command's reader of its forwarded stdin, from the start."""

    def __init__(self, source: Source) -> None:
        self._data = memoryview(source if isinstance(source, bytes) else b"")
        self._spool = source if isinstance(source, Spool) else None
        self._file: BinaryIO | None = None

    def next(self) -> memoryview | None:
        """The bytes to send now: empty when more is still to come from the spool,
        None at the end (then send end-of-file)."""
        if self._data or self._spool is None:
            return self._data if self._data else None
        if self._file is None:
            self._file = open(self._spool.path, "rb")  # noqa: SIM115  # kept open across calls
        done = os.path.exists(self._spool.done)  # before reading: nothing written earlier is missed
        self._data = memoryview(self._file.read(_CHUNK))
        if not self._data and done:
            self.close()
            return None
        return self._data

    def sent(self, count: int) -> None:
        """``count`` bytes of what :meth:`next` gave were sent."""
        self._data = self._data[count:]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._spool = None
        self._data = memoryview(b"")


class Spooler:
    """Copies a file descriptor (hostops's stdin) into a private spool file (mode 0600,
    in a private directory) as the data arrives. A stdin that never closes (a CI
    runner's) holds nothing up: commands that do not read it end as usual. Use as a
    context manager: leaving it stops the copy and removes the files.

    The copy is a ``cat`` child process, not a thread: a thread here would make the
    engine start its workers with forkserver instead of the cheaper fork.
    """

    def __init__(self, fd: int = 0) -> None:
        self._dir = tempfile.mkdtemp(prefix="hostops-stdin-")  # mode 0700
        path = os.path.join(self._dir, "stdin")
        self.spool = Spool(path, path + ".done")
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self._copy = subprocess.Popen(
            ["/bin/sh", "-c", 'cat >>"$1"; : >"$2"', "sh", path, self.spool.done],
            stdin=fd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # so that its cat goes with it (killpg), Ctrl-C or not
        )

    def __enter__(self) -> Spooler:
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._copy.pid, signal.SIGKILL)
        self._copy.wait()
        shutil.rmtree(self._dir, ignore_errors=True)
