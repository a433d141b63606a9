"""The controller's side of a cluster run: :class:`ClusterWorkers`, the engine's
WorkerSource (hostops.fleet.engine) over shard processes on Dask workers.

Each Dask worker runs as many shard processes as it has threads (so a worker machine
uses all its cores: the engine's process pool stretched over machines). A shard is a
Dask task (hostops.cluster.shard.run_shard) that connects back to this process's
listener over the channel (hostops.cluster.channel); to the engine it is one worker
slot whose pipe is in this process (hostops.cluster.relay: jobs by host index, a
window of held jobs: hostops.cluster.window), its events written as they are to the
run's event pipe in batches (the aggregator, views, JSON and run record are the local
ones), and the aggregator's flow-control counters go down to it as they move.

A shard that never connects back is given up: its site's other shards run its hosts,
or, when none of its site's connected, they end ``error`` saying why (the engine's
dispatcher strands the site: hostops.fleet.dispatch).

A shard whose channel ends without its goodbye is a lost worker: its hosts that
started and did not finish end ``error`` ("cluster worker W lost"); the engine gives
those it never started to other shards of their site (hostops.fleet.dispatch), so no
host ever runs twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import secrets as tokens
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from hostops.cluster.channel import (
    EVENT,
    HELLO,
    MESSAGE,
    Channel,
    ChannelClosed,
    read_frame,
)
from hostops.cluster.files import FILES
from hostops.cluster.payload import Payloads
from hostops.cluster.relay import EngineEnd, EventPipe
from hostops.cluster.resolve import Resolution
from hostops.cluster.shards import WorkerInfo, site_of
from hostops.cluster.staging import ControllerFiles
from hostops.cluster.window import window
from hostops.credentials import Secrets
from hostops.errors import ClusterError
from hostops.fleet.dispatch import DONE, RETURNED, STARTED, WorkerSlot
from hostops.fleet.engine import Attached
from hostops.fleet.events import HostFinished, HostWarning
from hostops.fleet.flow import BUDGET, Counters, counters_at
from hostops.fleet.worker import WorkerSpec
from hostops.models import Host, Status

_LOST = -9  # the exit code of a shard whose channel ended without its goodbye
_FLOW_TICK_S = 0.05
# The longest wait between two looks at the counters (while little or no output is
# consumed): how late a credit can be (a host is held back only once BUDGET, four
# steps, is unconsumed, and the next step is then due within this).
_FLOW_IDLE_S = 0.4
# Credit goes down in steps: a host held back has BUDGET bytes unconsumed by the shard's
# account, so once the aggregator consumed them a step is always due (never stuck), and
# a host printing little costs no message at all.
_CREDIT_STEP = BUDGET // 4
_HELLO_S = 30.0


class Launcher(Protocol):
    """Starts shard tasks on the cluster (hostops.cluster.connect.DaskLauncher)."""

    def launch(
        self,
        worker: WorkerInfo,
        key: str,
        controller: str,
        token: str,
        ended: Callable[[str], None],
    ) -> Callable[[], None]:
        """Submit a shard task pinned to ``worker``; ``ended(reason)`` is called when it
        ends (its reason, "" if it ended well). Returns a function that cancels it."""
        ...


@dataclass(frozen=True)
class ListenAt:
    """Where the controller's channel listener binds, and its TLS (None: plain)."""

    host: str
    tls: ssl.SSLContext | None


class _Shard:
    """One shard process, as the engine sees a worker process (WorkerProcess)."""

    def __init__(self, worker: WorkerInfo, number: int) -> None:
        self.worker = worker
        self.number = number
        self.channel: Channel | None = None
        self.connected = threading.Event()
        self.failure: str | None = None  # why it never connected
        self.cancel_task: Callable[[], None] = lambda: None
        self._pid = 0
        self._code: int | None = None
        self._clean = False  # it said goodbye
        self._killed = False  # given up by the engine
        self._end_r, self._end_w = socket.socketpair()
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}  # host -> its index, started and not done
        self._index: dict[str, int] = {}  # host -> its place in the run
        self._credit: dict[int, int] = {}  # index -> the consumed count last sent
        self.link: EngineEnd | None = None  # the engine's pipe to it, once bound
        self._events: EventPipe | None = None
        self.sock: socket.socket | None = None  # its connection, once it said hello
        self.remote_pid = 0
        self._files: ControllerFiles | None = None

    # -- the engine's WorkerProcess ----------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def sentinel(self) -> int:
        return self._end_r.fileno()

    @property
    def exitcode(self) -> int | None:
        return self._code

    def join(self, timeout: float | None = None) -> None:
        if self.channel is not None:
            self.channel.join(timeout)

    def kill(self) -> None:
        """Give it up (a second Ctrl-C, a grace time over): its channel closes, so its
        sessions are cancelled; its hosts are the engine's to report."""
        self._killed = True
        if self.channel is not None:
            self.channel.close(flush=False)
        else:
            self._ended()

    def is_alive(self) -> bool:
        return self._code is None

    # -- the relay ---------------------------------------------------------------------
    def bind(
        self,
        first: tuple[Any, ...],
        hosts: list[Host | None],
        events_fd: int,
        index: dict[str, int],
        held: int,
    ) -> EngineEnd:
        """Start relaying (the shard connected), after sending it ``first``; ``hosts``:
        the run's by place as the shard was sent them in ``first``, None where it was not
        (jobs name them by index: hostops.cluster.payload);
        ``index``: their places (which flow-control counter is whose); ``held``: its
        window (hostops.cluster.window). Returns the engine's pipe to the shard."""
        self._index = index
        assert self.sock is not None
        sock, self.sock = self.sock, None
        self._pid = self.remote_pid
        self._events = EventPipe(events_fd)
        self.channel = Channel(
            sock, self._frame, self._ended, f"shard-{self.number}", flush=self._events.flush
        )
        self._files = ControllerFiles(self.channel)
        self.link = EngineEnd(self._to_shard, hosts, self._files.note, low=held // 2)
        self.channel.send_message(first)
        self.channel.start()
        return self.link

    def _to_shard(self, message: bytes) -> None:
        """A pickled message from the engine, onto the channel."""
        assert self.channel is not None
        try:
            self.channel.send(MESSAGE, message)
        except ChannelClosed:
            raise OSError("the shard's channel is closed") from None

    def _frame(self, kind: bytes, payload: bytes) -> None:
        if kind == EVENT:
            assert self._events is not None
            self._events.add(payload)  # written as it came, unread (flushed per read)
            return
        assert self._files is not None
        if kind == FILES:
            self._files.frame(payload)
            return
        if kind != MESSAGE:
            return
        message = pickle.loads(payload)  # read, then passed on as it came
        if message == ("bye",):
            self._clean = True
            return
        if len(message) > 2 and self._files.message(message):
            return
        what, name = message[0], message[1]
        with self._lock:
            if what == STARTED:
                self._running[name] = self._index.get(name, 0)
            elif what in (DONE, RETURNED):
                self._running.pop(name, None)
        assert self.link is not None
        self.link.put(message)

    def send_credit(self, consumed: Counters) -> None:
        """Tell the shard how much of its running hosts' output the aggregator consumed."""
        with self._lock:
            indexes = list(self._running.values())
        moved = {}
        for i in indexes:
            value = consumed[i]
            if value - self._credit.get(i, 0) >= _CREDIT_STEP:
                moved[i] = self._credit[i] = value
        if moved and self.channel is not None:
            with contextlib.suppress(ChannelClosed):
                self.channel.send_message(("flow", moved))

    def _ended(self) -> None:
        """The channel closed (or never opened): lost unless it said goodbye."""
        if self._files is not None:
            self._files.closed()
        if not self._clean and not self._killed:
            self.cancel_task()  # never again: Dask would run a lost task elsewhere
            why = f"cluster worker {self.worker.name} lost"
            with self._lock:
                running = list(self._running)
            if self._events is not None and running:
                writer = self._events
                writer.add(pickle.dumps(HostWarning(None, why + f" (shard {self.number})")))
                for name in running:
                    event = HostFinished(name, Status.ERROR, None, None, 0.0, why)
                    writer.add(pickle.dumps(event))
        self._code = 0 if self._clean else _LOST
        # A byte, not EOF: a process forked since (the aggregator) holds a copy of end_w.
        with contextlib.suppress(OSError):
            self._end_w.send(b"\0")
        if self._events is not None:
            self._events.close()


class ClusterWorkers:
    """Shard processes on a Dask cluster's workers, as an engine's WorkerSource.
    :meth:`start` launches and waits for them (before any engine: failures are exit 2
    before anything runs); :meth:`close` cancels what is left."""

    private = False  # the engine neither grows nor replaces shards: they run what they get

    def __init__(
        self,
        launcher: Launcher,
        listen: ListenAt,
        workers: Sequence[WorkerInfo],
        resolution: Resolution | None = None,
    ) -> None:
        self._launcher = launcher
        self._resolution = resolution  # the shards resolve the hosts (None: resolved)
        self._tls = listen.tls
        family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
        self._server = socket.socket(family, socket.SOCK_STREAM)
        self._server.bind((listen.host, int(os.environ.get("HOSTOPS_CLUSTER_PORT", "0"))))
        self._server.listen(128)
        host, port = self._server.getsockname()[:2]
        self.address = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        self._workers = list(workers)
        self._waiting: dict[str, _Shard] = {}  # token -> shard not connected yet
        self._ready: list[_Shard] = []
        self._run_id = tokens.token_hex(4)
        self._launched = 0
        self._lock = threading.Lock()
        self._all: list[_Shard] = []
        threading.Thread(target=self._accept, name="cluster-listener", daemon=True).start()
        self.size = 0
        self.warnings: list[str] = []  # shards that never connected (start)
        self.stranded: dict[str, str] = {}  # site -> why none of its shards connected

    def start(self, hosts: Sequence[Host], forks: int, timeout: float) -> None:
        """Launch the shards ``hosts`` need (one per worker thread, at most ``forks``
        in all, at least one on a worker of each of their sites) and wait until each
        connected. Raises ClusterError naming the worker whose shard failed."""
        sites = {site_of(h) for h in hosts}
        useful = [w for w in self._workers if None in sites or w.sites & sites]
        # Interleaved: the first shards cover every worker, hence every site.
        order = [
            w
            for n in range(max((w.threads for w in useful), default=0))
            for w in useful
            if n < w.threads
        ]
        chosen = order[: max(1, min(forks, len(hosts)))]
        for site in sites - {None}:
            if not any(site in w.sites for w in chosen):
                chosen.append(next(w for w in order if site in w.sites))
        shards = [self._launch(w) for w in chosen]
        deadline = time.monotonic() + timeout
        for shard in shards:
            while not shard.connected.wait(0.1):
                if shard.failure is not None or time.monotonic() > deadline:
                    break
        self._ready = [s for s in shards if s.connected.is_set()]
        for shard in shards:
            if not shard.connected.is_set():
                self._give_up(shard, timeout)
        failed = [s for s in shards if not s.connected.is_set()]
        if not self._ready:
            first = failed[0]
            raise ClusterError(
                f"cluster worker {first.worker.name}: {first.failure}"
                + (f" (and {len(failed) - 1} more shards)" if len(failed) > 1 else "")
            )
        self.warnings = [
            f"cluster worker {s.worker.name}: its shard never connected: {s.failure};"
            " its hosts run on the other shards of their site"
            for s in failed
        ]
        # A site only failed shards would have served: its hosts end error, saying why.
        for site in sorted(s for s in sites if s is not None):
            if not any(site in s.worker.sites for s in self._ready):
                why = "; ".join(
                    f"cluster worker {s.worker.name}: {s.failure}"
                    for s in failed
                    if site in s.worker.sites
                )
                self.stranded[site] = f"site {site}: its shards never connected ({why})"
        self.size = len(self._ready)

    def _give_up(self, shard: _Shard, timeout: float) -> None:
        """A shard that did not connect in time (or whose task ended): never used, its task
        cancelled, a connection it makes later refused."""
        with self._lock:
            for token in [t for t, s in self._waiting.items() if s is shard]:
                del self._waiting[token]
        if shard.failure is None:
            shard.failure = (
                f"it did not connect back to {self.address} in {timeout:.0f} s"
                " (README, 'Cluster': firewalls)"
            )
        shard.cancel_task()
        shard.kill()

    def _launch(self, worker: WorkerInfo) -> _Shard:
        shard = _Shard(worker, self._launched)
        token = tokens.token_hex(16)
        with self._lock:
            self._waiting[token] = shard
        key = f"hostops-shard-{self._run_id}-{self._launched}"
        self._launched += 1

        def ended(reason: str) -> None:
            if not shard.connected.is_set():
                shard.failure = reason or "it ended before connecting"

        shard.cancel_task = self._launcher.launch(worker, key, self.address, token, ended)
        self._all.append(shard)
        return shard

    def _accept(self) -> None:
        while True:
            try:
                sock, _peer = self._server.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._greet, args=(sock,), daemon=True).start()

    def _greet(self, sock: socket.socket) -> None:
        """A connection to the listener: a shard of this run shows its token, once."""
        try:
            sock.settimeout(_HELLO_S)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_side=True)
            kind, payload = read_frame(sock)
            # JSON, never a pickle: who has not shown a token may not run code here.
            hello = json.loads(payload) if kind == HELLO else {}
            token = hello.get("token") if isinstance(hello, dict) else None
            with self._lock:
                shard = self._waiting.pop(token, None) if isinstance(token, str) else None
            if shard is None:
                sock.close()
                return
            sock.settimeout(None)
            shard.sock = sock
            shard.remote_pid = int(hello.get("pid", 0))
            shard.connected.set()
        except (OSError, ValueError, ChannelClosed):
            with contextlib.suppress(OSError):
                sock.close()

    def attach(
        self,
        spec: WorkerSpec,
        threads: tuple[int, ...],
        hosts: list[Host],
        events_fd: int,
        flow_fd: int,
        secrets: Secrets,
        budgets: tuple[int, ...] | None = None,
    ) -> Attached:
        """Give the run to the connected shards (``threads[i]`` sessions to the i-th;
        a shared source: the engine gives no ``budgets``)."""
        if not self._ready:
            self.start(hosts, sum(threads), _HELLO_S)
        shards, self._ready = self._ready, []
        wire_spec = replace(spec, consumed=None)  # the counters go down as messages
        consumed = counters_at(flow_fd, len(hosts))
        index = {h.name: i for i, h in enumerate(hosts)}
        slots = []
        # Each shard the hosts it may run, as given, and how they resolve there.
        payloads = Payloads(hosts, self._resolution)
        for shard, n in zip(
            shards, list(threads) + [1] * (len(shards) - len(threads)), strict=True
        ):
            inventory, given = payloads.for_sites(shard.worker.sites)
            first = ("run", replace(wire_spec, threads=n), secrets, inventory)
            held = window(n)
            link = shard.bind(first, given, events_fd, index, held)
            slots.append(
                WorkerSlot(shard, link, free=n + held, sites=shard.worker.sites, window=held)
            )
        threading.Thread(target=self._flow, args=(shards, consumed), daemon=True).start()
        if self.warnings:
            said = EventPipe(events_fd)
            for text in self.warnings:
                said.add(pickle.dumps(HostWarning(None, text)))
            said.close()
        return Attached(slots, {}, dict(self.stranded))

    def _flow(self, shards: list[_Shard], consumed: Counters) -> None:
        """The aggregator's consumed counters, down to the shards as they move. The next
        look comes when a credit step could be due at the pace output was consumed
        since the last one, between every _FLOW_TICK_S and every _FLOW_IDLE_S: each
        wake-up costs ~0.15 ms of CPU here, and 20 a second made the controller's cost
        grow with a run's length (hosts printing little, or nothing, owe no credit)."""
        last: list[int] = []
        last_total = 0
        tick = _FLOW_TICK_S
        while any(s.is_alive() for s in shards):
            now = list(consumed[:])  # one copy, in C
            total = sum(now)
            moved, last_total = total - last_total, total
            if now != last:
                for shard in shards:
                    if shard.is_alive():
                        shard.send_credit(now)
                last = now
            # No host can have moved a whole step before the total did.
            tick = (
                _FLOW_IDLE_S
                if moved <= 0
                else min(_FLOW_IDLE_S, max(_FLOW_TICK_S, tick * _CREDIT_STEP / moved))
            )
            time.sleep(tick)

    def close(self) -> None:
        """Stop listening; cancel every shard task still on the cluster."""
        with contextlib.suppress(OSError):
            self._server.close()
        for shard in self._all:
            if shard.is_alive():
                shard.kill()
            shard.cancel_task()
