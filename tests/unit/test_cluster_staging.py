"""Transfers over a real channel (a socket pair, hostops.cluster.channel) between a
ControllerFiles and a ShardFiles: what the controller refuses to serve or to write, a
corrupted file refused by its checksum, and a stream's path checks."""

from __future__ import annotations

import pickle
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostops.cluster.channel import MESSAGE, Channel
from hostops.cluster.files import FILES, Receiver, StreamError, safe_name, split
from hostops.cluster.staging import ControllerFiles, ShardFiles
from hostops.fleet.dispatch import Job
from hostops.models import Host, Status
from hostops.operations import Download, Operation, Outcome, Upload


class Pair:
    """A controller and a shard end joined by a socket pair, frames dispatched as in
    hostops.cluster.source and hostops.cluster.shard; ``corrupt``: flip a byte of every
    file chunk the controller sends."""

    def __init__(self, corrupt: bool = False) -> None:
        a, b = socket.socketpair()
        self.controller_channel = Channel(a, self._to_controller, lambda: None, "c")
        self.shard_channel = Channel(b, self._to_shard, lambda: None, "s")
        self.controller = ControllerFiles(self.controller_channel)
        self.shard = ShardFiles(self.shard_channel)
        self.corrupt = corrupt
        self.controller_channel.start()
        self.shard_channel.start()

    def _to_controller(self, kind: bytes, payload: bytes) -> None:
        if kind == FILES:
            self.controller.frame(payload)
        elif kind == MESSAGE:
            assert self.controller.message(pickle.loads(payload))

    def _to_shard(self, kind: bytes, payload: bytes) -> None:
        if kind == FILES:
            if self.corrupt and split(payload)[1] == b"C":
                payload = payload[:-1] + bytes([payload[-1] ^ 1])
            self.shard.frame(payload)
        elif kind == MESSAGE:
            assert self.shard.message(pickle.loads(payload))

    def close(self) -> None:
        self.controller_channel.close(flush=False)
        self.shard_channel.close(flush=False)
        self.shard.remove()


@pytest.fixture
def pair() -> Iterator[Pair]:
    p = Pair()
    yield p
    p.close()


HOST = Host("web01", "127.0.0.1")


def _noted(pair: Pair, op: Operation) -> None:
    pair.controller.note(Job(0, HOST, op))


def _reading(seen: dict[str, bytes]) -> object:
    def perform(op: Operation) -> Outcome:
        assert isinstance(op, Upload)
        seen["path"] = op.src.encode()
        seen["data"] = Path(op.src).read_bytes()
        return Outcome(Status.OK, changed=True, files=(op.dest,))

    return perform


def test_an_upload_is_staged_on_the_shard_and_removed_after(pair: Pair, tmp_path: Path) -> None:
    src = tmp_path / "conf"
    src.write_bytes(b"x" * 600_000)
    op = Upload(str(src), "/etc/conf")
    _noted(pair, op)
    seen: dict[str, bytes] = {}
    outcome = pair.shard.transfer(op, HOST, _reading(seen))  # type: ignore[arg-type]
    assert outcome.status is Status.OK, outcome.error
    assert seen["data"] == src.read_bytes()
    staged = Path(seen["path"].decode())
    assert staged.name == "conf" and str(staged).startswith(pair.shard.root)
    assert not staged.exists()  # removed after the upload


def test_the_controller_serves_only_the_sources_of_the_jobs_it_sent(
    pair: Pair, tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("no")
    outcome = pair.shard.transfer(Upload(str(secret), "x"), HOST, _reading({}))  # type: ignore[arg-type]
    assert outcome.status is Status.FAILED
    assert outcome.error == f"local {secret}: not a source of this run"
    missing = Upload(str(tmp_path / "gone"), "x")
    _noted(pair, missing)
    outcome = pair.shard.transfer(missing, HOST, _reading({}))  # type: ignore[arg-type]
    assert outcome.error == f"local {tmp_path / 'gone'}: no such file or directory"


def test_a_corrupted_chunk_fails_the_checksum_and_nothing_runs(tmp_path: Path) -> None:
    pair = Pair(corrupt=True)
    try:
        src = tmp_path / "f"
        src.write_bytes(b"abc" * 1000)
        op = Upload(str(src), "x")
        _noted(pair, op)
        ran: dict[str, bytes] = {}
        outcome = pair.shard.transfer(op, HOST, _reading(ran))  # type: ignore[arg-type]
        assert outcome.status is Status.FAILED
        assert outcome.error == "f: checksum mismatch after the transfer"
        assert ran == {}
    finally:
        pair.close()


def test_a_download_lands_only_in_a_destination_of_this_run(pair: Pair, tmp_path: Path) -> None:
    dest = tmp_path / "out"

    def download(op: Operation) -> Outcome:
        assert isinstance(op, Download)
        written = Path(op.dest) / "web01" / "etc" / "hosts"
        written.parent.mkdir(parents=True)
        written.write_text("127.0.0.1 here\n")
        return Outcome(Status.OK, changed=True, files=(str(written),))

    op = Download("/etc/hosts", str(dest))
    refused = pair.shard.transfer(op, HOST, download)
    assert refused.status is Status.FAILED
    assert refused.error == f"{dest}: not a destination of this run for web01"
    assert not dest.exists()
    _noted(pair, op)
    first = pair.shard.transfer(op, HOST, download)
    assert first.status is Status.OK and first.changed
    assert first.files == (str(dest / "web01" / "etc" / "hosts"),)
    assert (dest / "web01" / "etc" / "hosts").read_text() == "127.0.0.1 here\n"
    again = pair.shard.transfer(op, HOST, download)
    assert again.changed is False and again.files == first.files


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../b", "a\0b"])
def test_a_stream_path_leaving_its_root_is_refused(name: str) -> None:
    with pytest.raises(StreamError):
        safe_name(name)
    receiver = Receiver(lambda _n: "/nonexistent", lambda *_: "", lambda n: n, lambda _t: None)
    receiver.feed(b"D", name.encode())
    assert receiver.done.is_set() and receiver.error is not None
    assert safe_name("a/./b") == "a/b" and safe_name("") == ""


def test_a_channel_closed_mid_transfer_fails_the_wait(tmp_path: Path) -> None:
    pair = Pair()
    src = tmp_path / "f"
    src.write_bytes(b"z" * 10)
    op = Upload(str(src), "x")  # never noted: the controller would refuse; closed first
    pair.controller_channel.close(flush=False)
    result: list[Outcome] = []
    t = threading.Thread(target=lambda: result.append(pair.shard.transfer(op, HOST, _reading({}))))  # type: ignore[arg-type]
    t.start()
    t.join(30)
    pair.close()
    assert result and result[0].status is Status.FAILED
