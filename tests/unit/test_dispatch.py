"""The dispatcher's account of hosts: one per free thread, dead workers' hosts never run twice."""

from __future__ import annotations

import multiprocessing

from hostops.dispatch import DONE, STARTED, Dispatcher, WorkerSlot
from hostops.models import Host


class FakeProcess:
    """Just what the dispatcher uses of a worker process."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.sentinel = object()
        self.exitcode: int | None = None

    def join(self, timeout: float | None = None) -> None:
        pass


def _setup(n_hosts: int, threads: tuple[int, ...]):  # type: ignore[no-untyped-def]
    hosts = [Host(f"h{i:02d}", f"10.0.0.{i}") for i in range(n_hosts)]
    slots, far = [], []
    for i, n in enumerate(threads):
        mine, theirs = multiprocessing.Pipe()
        slots.append(WorkerSlot(FakeProcess(100 + i), mine, free=n))  # type: ignore[arg-type]
        far.append(theirs)
    lost: list[tuple[int, int | None, tuple[str, ...]]] = []
    d = Dispatcher(hosts, slots, lambda pid, code, names: lost.append((pid, code, names)))
    return d, far, lost


def _received(conn) -> list:  # type: ignore[no-untyped-def]
    """The hosts (or None) a worker was sent; each host comes with its index in the run."""
    out = []
    while conn.poll():
        item = conn.recv()
        if item is not None:
            index, host = item
            assert host.name == f"h{index:02d}"
            item = host
        out.append(item)
    return out


def test_one_host_per_free_thread_then_more_as_threads_free_up():
    d, (w0, w1), _ = _setup(6, (2, 1))
    d.dispatch()
    assert [h.name for h in _received(w0)] == ["h00", "h01"]
    assert [h.name for h in _received(w1)] == ["h02"]
    w1.send((STARTED, "h02"))
    w1.send((DONE, "h02"))
    d.handle([d.slots[1].conn])
    d.dispatch()
    assert [h.name for h in _received(w1)] == ["h03"]
    assert _received(w0) == []


def test_end_signal_only_when_nothing_is_pending_or_in_flight():
    d, (w0,), _ = _setup(2, (2,))
    d.dispatch()
    _received(w0)
    w0.send((STARTED, "h00"))
    w0.send((DONE, "h00"))
    d.handle([d.slots[0].conn])
    d.dispatch()
    assert _received(w0) == []  # h01 still running
    w0.send((STARTED, "h01"))
    w0.send((DONE, "h01"))
    d.handle([d.slots[0].conn])
    d.dispatch()
    assert _received(w0) == [None]


def test_dead_worker_in_flight_reported_unstarted_given_to_others_in_order():
    d, (w0, w1), lost = _setup(6, (3, 1))
    d.dispatch()
    assert [h.name for h in _received(w0)] == ["h00", "h01", "h02"]
    assert [h.name for h in _received(w1)] == ["h03"]
    w0.send((STARTED, "h00"))
    w0.send((DONE, "h00"))
    w0.send((STARTED, "h01"))  # h01 running, h02 given but never started
    dead = d.slots[0]
    dead.process.exitcode = -9  # type: ignore[attr-defined]
    d.handle([dead.conn, dead.process.sentinel])
    # Every host it started: h00's result may have died in its buffer (the aggregator
    # keeps results it already has); h02 was never started, so it runs elsewhere.
    assert lost == [(100, -9, ("h00", "h01"))]
    assert [h.name for h in d.pending] == ["h02", "h04", "h05"]
    w1.send((STARTED, "h03"))
    w1.send((DONE, "h03"))
    d.handle([d.slots[0].conn])
    d.dispatch()
    assert [h.name for h in _received(w1)] == ["h02"]  # never run twice: h01 is not resent


def test_finish_after_ctrl_c_sends_every_worker_its_end_signal_once():
    d, (w0, w1), _ = _setup(5, (1, 1))
    d.dispatch()
    _received(w0), _received(w1)
    d.drop_pending()
    d.finish()
    d.finish()
    assert _received(w0) == [None] and _received(w1) == [None]


def test_never_more_than_32_unacknowledged_hosts_in_a_workers_pipe():
    d, (w0,), _ = _setup(600, (600,))
    d.dispatch()
    first = _received(w0)
    assert len(first) == 32  # the pipe's buffer always holds them: no send can block
    for host in first:
        w0.send((STARTED, host.name))
    d.handle([d.slots[0].conn])
    d.dispatch()
    assert len(_received(w0)) == 32


def test_a_dead_worker_with_hosts_still_pending_is_replaced_once_per_worker():
    d, (w0,), lost = _setup(4, (1,))
    spawned = []

    def spawn() -> WorkerSlot:
        mine, theirs = multiprocessing.Pipe()
        spawned.append(theirs)
        return WorkerSlot(FakeProcess(200 + len(spawned)), mine, free=1)  # type: ignore[arg-type]

    d._spawn = spawn
    d.dispatch()
    assert [h.name for h in _received(w0)] == ["h00"]
    w0.send((STARTED, "h00"))
    dead = d.slots[0].process
    dead.exitcode = -9
    d.handle([dead.sentinel])
    assert lost == [(100, -9, ("h00",))]
    assert len(spawned) == 1 and len(d.processes) == 2  # the replacement
    d.dispatch()
    assert [h.name for h in _received(spawned[0])] == ["h01"]  # the rest runs there
    # the replacement dies too: no third worker (one replacement per original worker)
    d.slots[0].process.exitcode = -9
    d.handle([d.slots[0].process.sentinel])
    assert len(spawned) == 1 and d.slots == []
