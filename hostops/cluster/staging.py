"""Uploads and downloads of a cluster run, at both ends of a shard's channel (the
streams themselves: hostops.cluster.files).

On the shard (:class:`ShardFiles`, the fleet worker's ``transfer`` hook): an upload's
source is pulled from the controller into a private temporary directory on the worker
machine, each file's checksum verified, the Upload run from there, the copy removed
after; a download runs into such a directory and its files are pushed back into the
controller's destination, where the controller writes them as a local ``get`` would
(``DEST/HOST/path``, a file rewritten only through a temporary file, ``changed`` when
its content differs) and answers with what it wrote.

On the controller (:class:`ControllerFiles`): only the sources and destinations of the
jobs it sent to that shard are served, so a worker cannot read or write anything else
on the controller.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import posixpath
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from hostops.cluster.channel import Channel, ChannelClosed
from hostops.cluster.files import (
    Entry,
    Receiver,
    StreamError,
    Window,
    end_stream,
    send_tree,
    split,
)
from hostops.errors import HostopsError
from hostops.fleet.dispatch import Job
from hostops.host.base import HostFailure
from hostops.host.transfer import download_path, local_sha256, local_tree, make_local_dir
from hostops.models import Host, Status
from hostops.operations import Download, Operation, Outcome, Upload
from hostops.safefs import private_dir

_WAIT_S = 0.5
_LOST = "the cluster's controller is gone"


class _Streams:
    """The streams of one end of a channel: receivers, send windows, answers."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.lock = threading.Lock()
        self.receivers: dict[int, Receiver] = {}
        self.windows: dict[int, Window] = {}
        self.answers: dict[int, tuple[threading.Event, list[object]]] = {}
        self._ids = itertools.count(1)

    def new_id(self) -> int:
        with self.lock:
            return next(self._ids)

    def ack(self, sid: int) -> Callable[[int], None]:
        def send(total: int) -> None:
            with contextlib.suppress(ChannelClosed):
                self.channel.send_message(("ack", sid, total))

        return send

    def feed(self, payload: bytes) -> Receiver | None:
        """A file frame to its stream's receiver; that receiver if the stream ended."""
        sid, kind, data = split(payload)
        receiver = self.receivers.get(sid)
        if receiver is None:
            return None
        receiver.feed(kind, data)
        if receiver.done.is_set():
            with self.lock:
                self.receivers.pop(sid, None)
            return receiver
        return None

    def acked(self, sid: int, total: int) -> None:
        window = self.windows.get(sid)
        if window is not None:
            window.ack(total)

    def closed(self) -> None:
        """The channel ended: every stream fails, every wait ends."""
        with self.lock:
            receivers, self.receivers = list(self.receivers.values()), {}
            windows = list(self.windows.values())
            answers = list(self.answers.values())
        for receiver in receivers:
            receiver.fail(_LOST)
        for window in windows:
            window.close()
        for event, _ in answers:
            event.set()


class ShardFiles:
    """A shard's transfers over its channel (see the module docstring). Its
    :meth:`transfer` is hostops.fleet.worker's ``transfer`` hook; :meth:`frame` and
    :meth:`message` take what the controller sends for it."""

    def __init__(self, channel: Channel) -> None:
        self._streams = _Streams(channel)
        self.root = tempfile.mkdtemp(prefix="hostops-shard-")  # 0700: this user's only

    def frame(self, payload: bytes) -> None:
        self._streams.feed(payload)

    def message(self, message: tuple[object, ...]) -> bool:
        """Take ``message`` if it is a transfer's (an ack, an answer); False if not."""
        what, sid = message[0], message[1]
        if what == "ack" and isinstance(sid, int) and isinstance(message[2], int):
            self._streams.acked(sid, message[2])
            return True
        if what == "pushed" and isinstance(sid, int):
            with self._streams.lock:
                waiting = self._streams.answers.get(sid)
                window = self._streams.windows.get(sid)
            if window is not None:  # the controller read all it will: stop sending
                window.close()
            if waiting is not None:
                waiting[1].append(message[2])
                waiting[0].set()
            return True
        return False

    def closed(self) -> None:
        self._streams.closed()

    def remove(self) -> None:
        """Remove every staged file (the shard's run is over)."""
        shutil.rmtree(self.root, ignore_errors=True)

    def transfer(
        self, op: Upload | Download, host: Host, perform: Callable[[Operation], Outcome]
    ) -> Outcome:
        """``op`` on ``host`` with its controller-side files moved over the channel."""
        work = tempfile.mkdtemp(dir=self.root)
        try:
            if isinstance(op, Upload):
                return self._upload(op, work, perform)
            return self._download(op, host, work, perform)
        except (StreamError, HostFailure) as exc:
            status = exc.status if isinstance(exc, HostFailure) else Status.FAILED
            return Outcome(status, error=str(exc))
        except OSError as exc:
            return Outcome(Status.ERROR, error=f"cluster staging: {exc}")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _upload(self, op: Upload, work: str, perform: Callable[[Operation], Outcome]) -> Outcome:
        top = os.path.join(work, "src")
        os.mkdir(top, 0o700)

        def target(name: str) -> str:
            return os.path.join(top, *name.split("/")) if name else top

        def place(name: str, tmp: str, _sha: str) -> str:
            os.replace(tmp, target(name))
            return target(name)

        def directory(name: str) -> str:
            os.makedirs(target(name), 0o700, exist_ok=True)
            return target(name)

        streams = self._streams
        sid = streams.new_id()
        receiver = Receiver(lambda _n: work, place, directory, streams.ack(sid))
        with streams.lock:
            streams.receivers[sid] = receiver
        self._send(("pull", sid, op.src, op.follow_links))
        while not receiver.done.wait(_WAIT_S):
            if streams.channel.closed.is_set():
                receiver.fail(_LOST)
        if receiver.error is not None:
            return Outcome(Status.FAILED, error=receiver.error)
        name = posixpath.basename(op.src.rstrip("/")) or "root"
        outcome = perform(dataclasses.replace(op, src=target(name)))
        return dataclasses.replace(outcome, skipped=(*receiver.result.skipped, *outcome.skipped))

    def _download(
        self, op: Download, host: Host, work: str, perform: Callable[[Operation], Outcome]
    ) -> Outcome:
        outcome = perform(dataclasses.replace(op, dest=work))
        here = download_path(work, host.name, ".")
        if not os.path.isdir(here):
            return outcome  # nothing came: nothing to push (the outcome says why)
        streams = self._streams
        sid = streams.new_id()
        window, answer = Window(), threading.Event()
        said: list[object] = []
        with streams.lock:
            streams.windows[sid] = window
            streams.answers[sid] = (answer, said)
        try:
            self._send(("push", sid, host.name, op.dest))
            send_tree(streams.channel, sid, _pushed(here, outcome.files), window)
            while not answer.wait(_WAIT_S):
                if streams.channel.closed.is_set():
                    break
        except ChannelClosed:
            pass
        finally:
            with streams.lock:
                streams.windows.pop(sid, None)
                streams.answers.pop(sid, None)
        if not said or not isinstance(said[0], dict):
            return Outcome(Status.ERROR, error=_LOST)
        written, unchanged = list(said[0]["written"]), list(said[0]["unchanged"])
        if said[0]["error"]:
            return Outcome(Status.FAILED, error=str(said[0]["error"]), files=(*written, *unchanged))
        return dataclasses.replace(outcome, files=(*written, *unchanged), changed=bool(written))

    def _send(self, message: tuple[object, ...]) -> None:
        try:
            self._streams.channel.send_message(message)
        except ChannelClosed:
            raise StreamError(_LOST) from None


def _pushed(here: str, files: tuple[str, ...]) -> Iterator[Entry]:
    """A download's tree below ``here``: its directories, then its files in the order
    the download wrote them."""
    for at, dirnames, _ in os.walk(here):
        dirnames.sort()
        relative = os.path.relpath(at, here)
        yield Entry("" if relative == "." else relative.replace(os.sep, "/"))
    for path in files:
        yield Entry(os.path.relpath(path, here).replace(os.sep, "/"), path)


class ControllerFiles:
    """The controller's side of one shard's transfers. :meth:`note` sees each job sent
    to the shard to learn what the shard may ask for."""

    def __init__(self, channel: Channel) -> None:
        self._streams = _Streams(channel)
        self._sources: set[tuple[str, bool]] = set()
        self._destinations: set[tuple[str, str]] = set()
        self._pushes: dict[int, tuple[list[str], list[str]]] = {}  # written, unchanged

    def note(self, job: Job) -> None:
        if not isinstance(job.op, (Upload, Download)):
            return
        with self._streams.lock:
            if isinstance(job.op, Upload):
                self._sources.add((job.op.src, job.op.follow_links))
            elif isinstance(job.op, Download):
                self._destinations.add((job.host.name, job.op.dest))

    def frame(self, payload: bytes) -> None:
        sid = split(payload)[0]
        receiver = self._streams.feed(payload)
        if receiver is not None:
            pushed = self._pushes.pop(sid, ([], []))
            answer = {"written": pushed[0], "unchanged": pushed[1], "error": receiver.error}
            with contextlib.suppress(ChannelClosed):
                self._streams.channel.send_message(("pushed", sid, answer))

    def message(self, message: tuple[object, ...]) -> bool:
        """Take ``message`` if it is a transfer's (pull, push, ack); False if not."""
        what, sid = message[0], message[1]
        if not isinstance(sid, int):
            return False
        if what == "ack" and isinstance(message[2], int):
            self._streams.acked(sid, message[2])
        elif what == "pull":
            src, follow = message[2], message[3]
            with self._streams.lock:
                allowed = (src, follow) in self._sources
                window = self._streams.windows[sid] = Window()
            threading.Thread(
                target=self._serve, args=(sid, str(src), bool(follow), allowed, window), daemon=True
            ).start()
        elif what == "push":
            self._receive(sid, str(message[2]), str(message[3]))
        else:
            return False
        return True

    def closed(self) -> None:
        self._streams.closed()

    def _serve(self, sid: int, src: str, follow: bool, allowed: bool, window: Window) -> None:
        """Send ``src`` (a file or a tree, walked as the upload walks it) as stream ``sid``."""
        channel = self._streams.channel
        try:
            if not allowed:
                end_stream(channel, sid, f"local {src}: not a source of this run")
            elif not os.path.exists(src):  # as a local upload says it
                end_stream(channel, sid, f"local {src}: no such file or directory")
            else:
                top = posixpath.basename(src.rstrip("/")) or "root"
                if os.path.isdir(src):
                    directories, pairs, skipped = local_tree(src, top, follow)
                    entries = [*(Entry(d) for d in directories), *(Entry(r, p) for p, r in pairs)]
                    send_tree(channel, sid, entries, window, skipped)
                else:
                    send_tree(channel, sid, [Entry(top, src)], window)
        except ChannelClosed:
            pass
        finally:
            with self._streams.lock:
                self._streams.windows.pop(sid, None)

    def _receive(self, sid: int, host: str, dest: str) -> None:
        """A download's files from the shard, written into ``dest/HOST/``."""
        written: list[str] = []
        unchanged: list[str] = []
        self._pushes[sid] = (written, unchanged)
        base = os.path.abspath(dest)
        root = download_path(base, host, ".")

        def target(name: str) -> str:
            return os.path.join(root, *name.split("/")) if name else root

        def scratch(name: str) -> str:
            at = os.path.dirname(target(name))
            make_local_dir(at, base)
            return at

        def place(name: str, tmp: str, sha: str) -> str:
            path = target(name)
            same = os.path.isfile(path) and local_sha256(path) == sha
            os.replace(tmp, path)
            (unchanged if same else written).append(path)
            return path

        def directory(name: str) -> str:
            make_local_dir(target(name), base)
            return target(name)

        receiver = Receiver(scratch, place, directory, self._streams.ack(sid))
        with self._streams.lock:
            allowed = (host, dest) in self._destinations
        if not allowed:
            receiver.fail(f"{dest}: not a destination of this run for {host}")
        else:
            try:
                private_dir(Path(base), "local")  # as a local get: 0700, or refused
            except HostopsError as exc:
                receiver.fail(str(exc))
        with self._streams.lock:
            self._streams.receivers[sid] = receiver
