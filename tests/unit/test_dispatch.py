"""The dispatcher's account of hosts: one per free thread, dead workers' hosts never run twice."""

from __future__ import annotations

import multiprocessing

from hostops.fleet import dispatch
from hostops.fleet.dispatch import DONE, STARTED, Dispatcher, Job, Release, WorkerSlot
from hostops.models import Host, Status
from hostops.operations import Command, Outcome


class FakeProcess:
    """Just what the dispatcher uses of a worker process."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.sentinel = object()
        self.exitcode: int | None = None

    def join(self, timeout: float | None = None) -> None:
        pass


def _setup(n_hosts: int, threads: tuple[int, ...], **job: bool):  # type: ignore[no-untyped-def]
    hosts = [Host(f"h{i:02d}", f"10.0.0.{i}") for i in range(n_hosts)]
    slots, far = [], []
    for i, n in enumerate(threads):
        mine, theirs = multiprocessing.Pipe()
        slots.append(WorkerSlot(FakeProcess(100 + i), mine, free=n))  # type: ignore[arg-type]
        far.append(theirs)
    lost: list[tuple[int, int | None, tuple[str, ...]]] = []
    d = Dispatcher(hosts, slots, lambda pid, code, names: lost.append((pid, code, names)))
    d.submit([Job(i, h, Command("true"), **job) for i, h in enumerate(hosts)])
    return d, far, lost


def _received(conn) -> list:  # type: ignore[no-untyped-def]
    """The hosts (or None) a worker was sent; each host comes with its index in the run."""
    out = []
    while conn.poll():
        item = conn.recv()
        if isinstance(item, Job):
            assert item.host.name == f"h{item.index:02d}"
            item = item.host
        out.append(item)
    return out


def test_one_host_per_free_thread_then_more_as_threads_free_up():
    d, (w0, w1), _ = _setup(6, (2, 1))
    d.dispatch()
    assert [h.name for h in _received(w0)] == ["h00", "h01"]
    assert [h.name for h in _received(w1)] == ["h02"]
    w1.send((STARTED, "h02"))
    w1.send((DONE, "h02", None))
    d.handle([d.slots[1].conn])
    d.dispatch()
    assert [h.name for h in _received(w1)] == ["h03"]
    assert _received(w0) == []


def test_busy_until_every_job_is_done_then_the_end_signal_on_finish():
    d, (w0,), _ = _setup(2, (2,))
    d.dispatch()
    _received(w0)
    w0.send((STARTED, "h00"))
    w0.send((DONE, "h00", None))
    d.handle([d.slots[0].conn])
    d.dispatch()
    assert d.busy() and _received(w0) == []  # h01 still running
    w0.send((STARTED, "h01"))
    w0.send((DONE, "h01", None))
    d.handle([d.slots[0].conn])
    assert not d.busy() and set(d.outcomes) == {"h00", "h01"}
    d.finish()
    assert _received(w0) == [None]


def test_dead_worker_in_flight_reported_unstarted_given_to_others_in_order():
    d, (w0, w1), lost = _setup(6, (3, 1))
    d.dispatch()
    assert [h.name for h in _received(w0)] == ["h00", "h01", "h02"]
    assert [h.name for h in _received(w1)] == ["h03"]
    w0.send((STARTED, "h00"))
    w0.send((DONE, "h00", None))
    w0.send((STARTED, "h01"))  # h01 running, h02 given but never started
    dead = d.slots[0]
    dead.process.exitcode = -9  # type: ignore[attr-defined]
    d.handle([dead.conn, dead.process.sentinel])
    # Every host it started: h00's result may have died in its buffer (the aggregator
    # keeps results it already has); h02 was never started, so it runs elsewhere.
    assert lost == [(100, -9, ("h00", "h01"))]
    assert [j.host.name for j in d.pending] == ["h02", "h04", "h05"]
    w1.send((STARTED, "h03"))
    w1.send((DONE, "h03", None))
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


def test_when_no_replacement_can_start_the_other_workers_take_the_rest():
    d, (w0, w1), _ = _setup(4, (1, 1))
    asked = []
    d._spawn = lambda: asked.append(True)  # returns None: none could be started
    d.dispatch()
    assert [h.name for h in _received(w0)] == ["h00"]
    assert [h.name for h in _received(w1)] == ["h01"]
    w0.send((STARTED, "h00"))
    dead = d.slots[0].process
    dead.exitcode = -9
    d.handle([dead.sentinel])
    assert asked == [True] and len(d.slots) == 1  # nothing was added
    w1.send((STARTED, "h01"))
    w1.send((DONE, "h01", None))
    d.handle([d.slots[0].conn])
    d.dispatch()
    assert [h.name for h in _received(w1)] == ["h02"]  # the rest runs on the other


def test_a_kept_connection_binds_the_hosts_next_jobs_to_its_worker():
    d, (w0, w1), _ = _setup(2, (1, 1), keep=True, final=False, collect=True)
    d.dispatch()
    first = {0: _received(w0), 1: _received(w1)}
    holder = 0 if [h.name for h in first[0]] == ["h00"] else 1
    far = (w0, w1)
    for i, conn in enumerate(far):
        name = first[i][0].name
        conn.send((STARTED, name))
        conn.send((DONE, name, Outcome(Status.OK, 0)))
    d.handle([s.conn for s in d.slots])
    assert d.outcomes["h00"] == Outcome(Status.OK, 0) and not d.busy()
    # the next step: h00 must go back to the worker that holds its connection
    d.submit([Job(0, first[holder][0], Command("true"), keep=True, final=False)])
    d.dispatch()
    assert [h.name for h in _received(far[holder])] == ["h00"]
    assert _received(far[1 - holder]) == []
    d.release(["h00", "h01"])
    assert _received(far[holder]) == [Release(("h00",))]
    assert _received(far[1 - holder]) == [Release(("h01",))]


def test_a_dead_worker_ends_its_running_playbook_jobs_as_errors_not_host_results():
    d, (w0,), lost = _setup(2, (2,), keep=True, final=False)
    d.dispatch()
    _received(w0)
    w0.send((STARTED, "h00"))
    w0.send((STARTED, "h01"))
    w0.send((DONE, "h01", None))
    dead = d.slots[0]
    dead.process.exitcode = -9  # type: ignore[attr-defined]
    d.handle([dead.conn, dead.process.sentinel])
    assert d.outcomes["h00"] == Outcome(Status.ERROR, error="worker died")
    assert lost == [(100, -9, ())]  # no host result for the aggregator to close
    assert d.owner == {}  # its connections died with it


def _sited(sites: list[str | None], slot_sites: list[frozenset[str]]):  # type: ignore[no-untyped-def]
    hosts = [
        Host(f"h{i:02d}", f"10.0.0.{i}", vars={"site": s} if s else {}) for i, s in enumerate(sites)
    ]
    slots, far = [], []
    for i, served in enumerate(slot_sites):
        mine, theirs = multiprocessing.Pipe()
        slot = WorkerSlot(FakeProcess(100 + i), mine, free=8, sites=served)  # type: ignore[arg-type]
        slots.append(slot)
        far.append(theirs)
    stranded: list[tuple[list[str], str]] = []
    d = Dispatcher(
        hosts,
        slots,
        lambda pid, code, names: None,
        on_stranded=lambda jobs, why: stranded.append(([j.host.name for j in jobs], why)),
    )
    d.submit([Job(i, h, Command("true")) for i, h in enumerate(hosts)])
    return d, far, stranded


def test_a_host_with_a_site_goes_only_to_slots_of_that_site():
    d, (a, b), _ = _sited(
        ["dc1", "dc2", "dc1", None, "dc2"], [frozenset({"dc1"}), frozenset({"dc2"})]
    )
    d.dispatch()
    got_a = [h.name for h in _received(a)]
    got_b = [h.name for h in _received(b)]
    assert sorted(got_a + got_b) == ["h00", "h01", "h02", "h03", "h04"]
    assert {"h00", "h02"} <= set(got_a) and not {"h01", "h04"} & set(got_a)
    assert {"h01", "h04"} <= set(got_b) and not {"h00", "h02"} & set(got_b)


def test_a_site_whose_last_slot_died_fails_its_waiting_hosts_at_once():
    d, (a, b), stranded = _sited(
        ["dc1", "dc2", "dc2", "dc2"], [frozenset({"dc1"}), frozenset({"dc2"})]
    )
    d.slots[1].free = 1
    d.dispatch()
    assert [h.name for h in _received(b)] == ["h01"]
    b.send((STARTED, "h01"))
    d.handle([d.slots[1].conn])
    d.slots[1].process.exitcode = -9  # type: ignore[misc]
    d.handle([d.slots[1].process.sentinel])
    assert stranded == [(["h02", "h03"], "site dc2: no worker left")]
    assert d.outcomes["h02"] == Outcome(Status.ERROR, error="site dc2: no worker left")
    assert not d.pending  # h01 started: never given to another worker
    assert [h.name for h in _received(a)] == ["h00"]


def test_windows_fill_only_once_every_workers_threads_have_a_host():
    """Slots that take jobs beyond their threads (a cluster shard's window): with fewer
    hosts than threads plus windows, every thread gets one before any window does."""
    hosts = [Host(f"h{i:02d}", f"10.0.0.{i}") for i in range(6)]
    slots, far = [], []
    for i, (threads, window) in enumerate([(3, 3), (2, 2)]):
        mine, theirs = multiprocessing.Pipe()
        slot = WorkerSlot(FakeProcess(100 + i), mine, free=threads + window, window=window)  # type: ignore[arg-type]
        slots.append(slot)
        far.append(theirs)
    d = Dispatcher(hosts, slots, lambda pid, code, names: None)
    d.submit([Job(i, h, Command("true")) for i, h in enumerate(hosts[:5])])
    d.dispatch()
    assert [len(_received(w)) for w in far] == [3, 2]
    d.submit([Job(5, hosts[5], Command("true"))])
    d.dispatch()
    assert [len(_received(w)) for w in far] == [1, 0]  # a window now: the most free first


def test_a_site_no_slot_serves_from_the_start_fails_at_once_with_the_reason_given():
    d, (a, _b), stranded = _sited(["dc1", "gone"], [frozenset({"dc1"}), frozenset({"dc2"})])
    assert stranded == [(["h01"], "site gone: no worker left")]
    d.stranded["other"] = "site other: its shards never connected (cluster worker w9: x)"
    d.submit([Job(2, Host("h02", "10.0.0.9", vars={"site": "other"}), Command("true"))])
    assert stranded[-1] == (
        ["h02"],
        "site other: its shards never connected (cluster worker w9: x)",
    )
    d.dispatch()
    assert [h.name for h in _received(a)] == ["h00"]
    assert not d.pending  # nothing waits for a worker that never comes


def _batched(n_hosts: int, free: int, command: str = "true"):  # type: ignore[no-untyped-def]
    hosts = [Host(f"h{i:02d}", f"10.0.0.{i}") for i in range(n_hosts)]
    mine, theirs = multiprocessing.Pipe()
    slot = WorkerSlot(FakeProcess(100), mine, free=free, batches=True)  # type: ignore[arg-type]
    d = Dispatcher(hosts, [slot], lambda pid, code, names: None)
    # Each job a command text of its own (pickle writes a shared one once).
    d.submit([Job(i, h, Command(f"{command} #{i}")) for i, h in enumerate(hosts)])
    return d, theirs


def _names(jobs: list[Job]) -> list[str]:
    return [j.host.name for j in jobs]


def test_a_worker_that_takes_batches_gets_one_list_per_dispatch_and_one_started_for_all():
    d, w0 = _batched(150, 120)
    d.dispatch()
    first = w0.recv()
    assert not w0.poll()  # one message, with a job for every free thread: small jobs
    assert _names(first) == [f"h{i:02d}" for i in range(120)]  # (not 32 at a time)
    slot = d.slots[0]
    assert slot.free == 0 and len(slot.unacked) == 120
    w0.send((STARTED, *_names(first)))
    w0.send((DONE, "h00", None))
    d.handle([slot.conn])
    assert slot.started == {f"h{i:02d}" for i in range(120)}  # final jobs stay
    assert slot.unacked == {}  # one "started" accounts for the whole list
    d.dispatch()
    assert _names(w0.recv()) == ["h120"]
    assert slot.free == 0 and len(d.pending) == 29


def test_a_list_stays_within_the_bytes_a_worker_may_have_unstarted():
    """Large jobs (a 10 KB command each): a list is cut until what the worker has not
    said "started" for fits in _UNACKED_BYTES (60 KiB); the rest waits, in order, and
    goes once it said "started". A lone job larger than that still goes when nothing
    else is unstarted."""
    d, w0 = _batched(12, 12, command="x" * 10_000)
    slot = d.slots[0]
    names = [f"h{i:02d}" for i in range(12)]
    d.dispatch()
    first = _names(w0.recv())
    assert not w0.poll()  # one list
    assert 3 <= len(first) < 12
    assert len(first) * 10_000 < sum(slot.unacked.values()) <= dispatch._UNACKED_BYTES
    assert first + [j.host.name for j in d.pending] == names  # the rest back, in order
    d.dispatch()
    assert not w0.poll()  # full: nothing more until the worker says "started"
    w0.send((STARTED, *first))
    d.handle([slot.conn])
    assert slot.unacked == {}
    d.dispatch()
    second = _names(w0.recv())
    assert second == names[len(first) : len(first) + len(second)] and second
    huge, w1 = _batched(1, 1, command="x" * 100_000)
    huge.dispatch()
    assert _names(w1.recv()) == ["h00"]


def test_a_batch_that_cannot_be_sent_goes_back_to_its_queues_in_order():
    d, w0 = _batched(4, 3)
    slot = d.slots[0]
    kept = Job(4, Host("h04", "10.0.0.4"), Command("true"))
    slot.queue.append(kept)  # a host whose connection this worker keeps: taken first
    w0.close()  # the worker is gone: the send fails
    d.dispatch()
    assert list(slot.queue) == [kept]
    assert [j.host.name for j in d.pending] == ["h00", "h01", "h02", "h03"]
    assert slot.free == 3 and slot.sent == {} and d.owner == {}
