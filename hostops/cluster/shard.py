"""A shard process: one slot of a cluster run's engine, on a Dask worker's machine.

:func:`run_shard` is the Dask task (its arguments: the controller's channel address and
a one-time token, never a secret). It starts ``python -m hostops.cluster.shard`` as a
child process (a Dask worker may be daemonic: multiprocessing refuses it children, a
subprocess it does not), which connects back to the controller over the channel
(hostops.cluster.channel), proves the token, receives the run's spec and secrets there,
and serves jobs with the fleet's own worker loop (hostops.fleet.worker.serve) until the
controller ends the run. It dies with its Dask worker (``PR_SET_PDEATHSIG``) and
cancels its sessions when the channel closes.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import os
import pickle
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.reduction import ForkingPickler
from typing import Any

from hostops.cluster.channel import EVENT, HELLO, MESSAGE, Channel, ChannelClosed, client_context
from hostops.cluster.files import FILES
from hostops.cluster.payload import ShardHosts
from hostops.cluster.relay import ShardJobs
from hostops.cluster.staging import ShardFiles
from hostops.cluster.window import ShardInbox
from hostops.fleet.events import MAX_EVENT_BYTES, Event
from hostops.fleet.worker import serve

_PR_SET_PDEATHSIG = 1
_CONNECT_S = 30.0
_EOF = object()


@dataclass(frozen=True)
class ShardTls:
    """The worker's TLS material, as paths on its machine."""

    ca: str
    cert: str
    key: str


def _worker_tls() -> ShardTls | None:
    """The TLS material of the Dask worker running this task (its ``--tls-*`` files or
    Dask configuration); None without TLS."""
    from distributed import get_worker  # in the worker, where Dask is loaded anyway

    security = get_worker().security
    ca = getattr(security, "tls_ca_file", None)
    cert = getattr(security, "tls_worker_cert", None)
    key = getattr(security, "tls_worker_key", None) or cert
    if not (ca and cert):
        return None
    return ShardTls(str(ca), str(cert), str(key))


def run_shard(controller: str, token: str, encrypted: bool) -> int:
    """The Dask task of one shard: run the shard process and return its exit code.
    ``controller``: HOST:PORT of the run's channel listener; ``token``: proves to it
    that this process was started for that run (valid once)."""
    tls = _worker_tls() if encrypted else None
    if encrypted and tls is None:
        raise RuntimeError("the cluster is tls:// but this worker has no TLS certificate")
    info = {
        "controller": controller,
        "token": token,
        "tls": None if tls is None else [tls.ca, tls.cert, tls.key],
        "parent": os.getpid(),
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "hostops.cluster.shard"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    assert child.stdin is not None
    with child.stdin:
        child.stdin.write(json.dumps(info).encode() + b"\n")
    return child.wait()


def _sender(channel: Channel) -> Callable[[object], None]:
    """A message to the controller (OSError once it is gone, as a pipe says)."""

    def send(message: object) -> None:
        try:
            channel.send_message(message)
        except ChannelClosed:
            raise OSError("the controller is gone") from None

    return send


class _Events:
    """The run's events, each pickled here and sent up the channel as it is."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    def put(self, obj: Event) -> None:
        data = bytes(ForkingPickler.dumps(obj))
        if len(data) > MAX_EVENT_BYTES:
            raise ValueError(f"event too big for an atomic write: {len(data)} bytes")
        with contextlib.suppress(ChannelClosed):  # the controller is gone: nobody reads
            self._channel.send(EVENT, data)


def _die_with_parent(parent: int) -> None:
    """Be killed when the Dask worker that started us dies, as its child process would."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before prctl
        os._exit(1)


def _connect(controller: str, tls: list[str] | None) -> socket.socket:
    host, _, port = controller.rpartition(":")
    sock = socket.create_connection((host.strip("[]"), int(port)), timeout=_CONNECT_S)
    if tls is not None:
        sock = client_context(*tls).wrap_socket(sock)
    sock.settimeout(None)
    return sock


def main() -> int:
    """Entry point of ``python -m hostops.cluster.shard`` (see :func:`run_shard`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the controller's to decide
    info = json.loads(sys.stdin.readline())
    _die_with_parent(info["parent"])
    inbox: queue.Queue[object] = queue.Queue()
    run: queue.Queue[tuple[Any, ...]] = queue.Queue()
    consumed: list[int] = []
    files: list[ShardFiles] = []  # once the channel exists

    def on_frame(kind: bytes, payload: bytes) -> None:
        if kind == FILES:
            files[0].frame(payload)
            return
        if kind != MESSAGE:
            return
        message = pickle.loads(payload)
        if isinstance(message, tuple) and len(message) > 2 and files[0].message(message):
            return
        if isinstance(message, tuple) and message and message[0] == "flow":
            for index, value in message[1].items():
                consumed[index] = value
        elif isinstance(message, tuple) and message and message[0] == "run":
            run.put(message)
        else:
            inbox.put(message)

    def on_close() -> None:
        files[0].closed()
        inbox.put(_EOF)
        run.put(("closed",))

    channel = Channel(_connect(info["controller"], info["tls"]), on_frame, on_close, "shard")
    files.append(ShardFiles(channel))
    try:
        return _serve(info, channel, files[0], run, inbox, consumed)
    finally:
        files[0].remove()


def _serve(
    info: dict[str, Any],
    channel: Channel,
    files: ShardFiles,
    run: queue.Queue[tuple[Any, ...]],
    inbox: queue.Queue[object],
    consumed: list[int],
) -> int:
    channel.start()
    hello = {"token": info["token"], "pid": os.getpid(), "host": socket.gethostname()}
    channel.send(HELLO, json.dumps(hello).encode())
    first = run.get()
    if first[0] != "run":
        return 1
    _kind, spec, secrets, inventory = first
    given: ShardHosts = pickle.loads(inventory)
    # Resolved here: ssh_config, ~ and the files they name are this machine's (the
    # pre-flight resolved them too: an error now is one that came since).
    hosts = given.at_places()
    consumed.extend([0] * max(given.total, 1))
    spec = dataclasses.replace(spec, consumed=consumed)
    parent = info["parent"]
    serve(
        spec,
        ShardInbox(inbox, ShardJobs(hosts), spec.threads, _sender(channel), _EOF),
        _Events(channel),
        threading.Event(),
        secrets,
        threading.Event(),
        lambda: channel.closed.is_set() or os.getppid() != parent,
        transfer=files.transfer,
    )
    with contextlib.suppress(ChannelClosed):
        channel.send_message(("bye",))
    channel.close()
    channel.join(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
