"""Files over a cluster run's channel: a tree of files streamed from one end to the
other, in chunks, with a window of unacknowledged bytes (bounded memory on both ends),
each file's SHA-256 checked by the receiver before it is put in place.

Frames of kind ``F`` carry a stream's entries: an 8-byte stream id, an entry byte and
its data (``D`` a directory, ``B`` a file begins, ``C`` a chunk of it, ``Z`` its end
with its SHA-256, ``E`` the stream's end: JSON, its error if it failed). The receiver
acknowledges the bytes it wrote (a message ``("ack", id, bytes)``); the sender never
has more than :data:`WINDOW` bytes unacknowledged. Paths in a stream are relative and
checked (no ``..``, no absolute path): a peer never writes outside the stream's root.

Uploads (``put``, a playbook's ``script:``/``put:``/``template:``) are pulled: the shard
asks for the source the controller's job named (:mod:`hostops.cluster.staging`); a
download's files are pushed back by the shard into the controller's destination.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import struct
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from hostops.cluster.channel import Channel, ChannelClosed

FILES = b"F"
CHUNK = 256 << 10
WINDOW = 4 << 20  # bytes a stream may have sent and not yet acknowledged
_HEAD = struct.Struct("!Qc")
DIRECTORY, BEGIN, DATA, END_FILE, END = b"D", b"B", b"C", b"Z", b"E"


class StreamError(Exception):
    """A stream failed: its error, one line."""


@dataclass(frozen=True)
class Entry:
    """One entry of a tree to send: a directory (``path`` None) or a file read from ``path``."""

    name: str  # relative, '/'-separated; "" is the root itself
    path: str | None = None


def safe_name(name: str) -> str:
    """``name`` if it is relative and stays below its root; raises StreamError."""
    normal = posixpath.normpath(name) if name else "."
    if normal.startswith("/") or normal == ".." or normal.startswith("../") or "\0" in normal:
        raise StreamError(f"refused path in a file stream: {name!r}")
    return "" if normal == "." else normal


class Window:
    """The sender's side of a stream's flow control: acknowledged bytes, waited for."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._acked = 0
        self._closed = False

    def ack(self, total: int) -> None:
        with self._cond:
            self._acked = max(self._acked, total)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wait(self, sent: int) -> None:
        """Until no more than WINDOW of ``sent`` bytes are unacknowledged."""
        with self._cond:
            while sent - self._acked > WINDOW:
                if self._closed:
                    raise ChannelClosed
                self._cond.wait(1.0)


def send_tree(
    channel: Channel,
    sid: int,
    entries: Iterable[Entry],
    window: Window,
    skipped: Iterable[str] = (),
) -> None:
    """Send ``entries`` as stream ``sid`` and end it, telling the receiver what the
    sender ``skipped`` (an OSError reading a file ends it with that error). Raises
    ChannelClosed when the channel is gone."""

    def frame(kind: bytes, data: bytes = b"") -> None:
        channel.send(FILES, _HEAD.pack(sid, kind) + data)

    sent = 0
    error = None
    try:
        for entry in entries:
            if entry.path is None:
                frame(DIRECTORY, entry.name.encode())
                continue
            with open(entry.path, "rb") as f:
                frame(BEGIN, entry.name.encode())
                digest = hashlib.sha256()
                while chunk := f.read(CHUNK):
                    digest.update(chunk)
                    frame(DATA, chunk)
                    sent += len(chunk)
                    window.wait(sent)
                frame(END_FILE, digest.hexdigest().encode())
    except OSError as exc:
        error = f"local {getattr(exc, 'filename', None) or '?'}: {exc.strerror or exc}"
    end_stream(channel, sid, error, skipped)


def end_stream(channel: Channel, sid: int, error: str | None, skipped: Iterable[str] = ()) -> None:
    """End stream ``sid``: with ``error`` (it failed) or not, naming what was skipped."""
    end = json.dumps({"error": error, "skipped": list(skipped)}).encode()
    channel.send(FILES, _HEAD.pack(sid, END) + end)


@dataclass
class Received:
    """What a receiver wrote: files in the order they came (absolute paths), and the
    paths the sender skipped."""

    files: list[str] = field(default_factory=list)
    directories: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class Receiver:
    """The receiving side of one stream, fed frames in order (in the channel's pump
    thread). ``scratch(name)``: the directory a file is written in before it is verified;
    ``place(name, tmp, sha256)`` puts it in place and returns its path; ``directory(name)``
    makes a directory; ``ack(total)`` tells the sender the bytes written. :attr:`done` is
    set at the stream's end; :attr:`error` says why it failed."""

    def __init__(
        self,
        scratch: Callable[[str], str],
        place: Callable[[str, str, str], str],
        directory: Callable[[str], str],
        ack: Callable[[int], None],
    ) -> None:
        self._scratch = scratch
        self._place = place
        self._directory = directory
        self._ack = ack
        self._file: tuple[str, str, int, hashlib._Hash] | None = None  # name, tmp, fd, digest
        self._written = 0
        self.result = Received()
        self.error: str | None = None
        self.done = threading.Event()

    def feed(self, kind: bytes, data: bytes) -> None:
        if self.done.is_set():
            return
        try:
            self._feed(kind, data)
        except (OSError, StreamError) as exc:
            self.fail(str(exc) if isinstance(exc, StreamError) else _oserror(exc))

    def fail(self, error: str) -> None:
        """End the stream with ``error`` (the channel closed, a file refused)."""
        if self._file is not None:
            _name, tmp, fd, _digest = self._file
            self._file = None
            with contextlib.suppress(OSError):
                os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if self.error is None:
            self.error = error
        self.done.set()

    def _feed(self, kind: bytes, data: bytes) -> None:
        if kind == DIRECTORY:
            self.result.directories.append(self._directory(safe_name(data.decode())))
        elif kind == BEGIN:
            name = safe_name(data.decode())
            fd, tmp = tempfile.mkstemp(dir=self._scratch(name), suffix=".hostops-tmp")
            self._file = (name, tmp, fd, hashlib.sha256())
        elif kind == DATA and self._file is not None:
            _name, _tmp, fd, digest = self._file
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            digest.update(data)
            self._written += len(data)
            self._ack(self._written)
        elif kind == END_FILE and self._file is not None:
            name, tmp, fd, digest = self._file
            self._file = None
            os.close(fd)
            if digest.hexdigest() != data.decode():
                os.unlink(tmp)
                raise StreamError(f"{name or 'file'}: checksum mismatch after the transfer")
            self.result.files.append(self._place(name, tmp, digest.hexdigest()))
        elif kind == END:
            end = json.loads(data)
            self.result.skipped = [str(p) for p in end.get("skipped", ())]
            error = end.get("error")
            if error:
                self.fail(str(error))
            self.done.set()
        else:
            raise StreamError(f"unexpected entry {kind!r} in a file stream")


def split(payload: bytes) -> tuple[int, bytes, bytes]:
    """A ``F`` frame's stream id, entry kind and data."""
    sid, kind = _HEAD.unpack_from(payload)
    return sid, kind, payload[_HEAD.size :]


def tree_entries(root: str, top: str | None = None) -> Iterator[Entry]:
    """Every directory and regular file below ``root`` (``top``: the name of ``root``
    itself in the stream; None: ""), parents first, names sorted; links not followed."""
    base = "" if top is None else top
    if not os.path.isdir(root):
        yield Entry(base, root)
        return
    for at, dirnames, filenames in os.walk(root):
        dirnames.sort()
        relative = os.path.relpath(at, root)
        name = base if relative == "." else posixpath.join(base, *relative.split(os.sep))
        yield Entry(name)
        for file in sorted(filenames):
            path = os.path.join(at, file)
            if os.path.isfile(path) and not os.path.islink(path):
                yield Entry(posixpath.join(name, file), path)


def _oserror(exc: OSError) -> str:
    where = exc.filename if exc.filename else "?"
    return f"local {where}: {exc.strerror or exc}"
