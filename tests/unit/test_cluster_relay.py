"""The engine's in-process pipe to a shard (hostops.cluster.relay) and the shard's window
of held jobs (hostops.cluster.window): compact jobs, wake-ups, the ledger kept exact."""

from __future__ import annotations

import pickle
import queue
from multiprocessing.connection import wait

from hostops.cluster.relay import EngineEnd, ShardJobs
from hostops.cluster.window import ShardInbox
from hostops.fleet.dispatch import DONE, STARTED, Flag, Job, Release
from hostops.models import Host, Status
from hostops.operations import Command

HOSTS = [Host(name=f"h{i}", address=f"10.0.0.{i}") for i in range(4)]
OP = Command("uptime")


def _pair(low: int = 0) -> tuple[EngineEnd, list[bytes]]:
    sent: list[bytes] = []
    return EngineEnd(sent.append, HOSTS, low=low), sent


def test_jobs_travel_by_index_and_the_operation_only_when_it_changes() -> None:
    end, sent = _pair()
    other = Command("true")
    for job in (Job(0, HOSTS[0], OP), Job(1, HOSTS[1], OP), Job(2, HOSTS[2], other)):
        end.send(job)
    wire = [pickle.loads(b) for b in sent]
    assert wire[1] == ("job", 1, None, False, True, True, False)  # no host, no operation
    assert all(b"10.0.0" not in b for b in sent)
    shard = ShardJobs(HOSTS)
    assert [shard.decode(w) for w in wire] == [
        Job(0, HOSTS[0], OP),
        Job(1, HOSTS[1], OP),
        Job(2, HOSTS[2], other),
    ]


def test_a_job_for_a_host_the_shard_was_not_given_goes_whole() -> None:
    end, sent = _pair()
    stranger = Host(name="h1", address="elsewhere")
    end.send(Job(0, HOSTS[0], OP))
    end.send(Job(1, stranger, OP))
    end.send(Job(2, HOSTS[2], OP))  # the operation again: the whole job reset it
    shard = ShardJobs(HOSTS)
    decoded = [shard.decode(pickle.loads(b)) for b in sent]
    assert decoded == [Job(0, HOSTS[0], OP), Job(1, stranger, OP), Job(2, HOSTS[2], OP)]


def test_started_and_done_while_jobs_are_held_wake_nobody_but_are_read_in_order() -> None:
    end, _ = _pair(low=1)
    for i in range(3):
        end.send(Job(i, HOSTS[i], OP))
    end.put((STARTED, "h0"))
    end.put((DONE, "h0", None))  # h1, h2 still held (2 > low)
    assert wait([end], timeout=0) == []
    end.put((STARTED, "h1"))
    end.put((DONE, "h1", None))  # one held: wake
    assert wait([end], timeout=1) == [end]
    got = []
    while end.poll():
        got.append(end.recv())
    assert got == [(STARTED, "h0"), (DONE, "h0", None), (STARTED, "h1"), (DONE, "h1", None)]
    assert wait([end], timeout=0) == []  # read out: quiet again
    end.put(("returned", "h2"))
    assert wait([end], timeout=1) == [end]


def _inbox(threads: int) -> tuple[ShardInbox, queue.Queue[object], list[object]]:
    q: queue.Queue[object] = queue.Queue()
    told: list[object] = []
    eof = object()
    return ShardInbox(q, ShardJobs(HOSTS), threads, told.append, eof), q, told


def _compact(i: int) -> object:
    return ("job", i, OP, False, True, True, False)


def test_a_shard_holds_jobs_beyond_its_threads_until_one_is_done() -> None:
    inbox, q, told = _inbox(threads=1)
    for i in range(2):
        q.put(_compact(i))
    q.put(None)  # the end of the run: behind the held job
    assert inbox.poll(0.1)
    assert inbox.recv() == Job(0, HOSTS[0], OP)
    assert not inbox.poll(0.05)  # h1 held: no thread for it yet
    inbox.send((DONE, "h0", None))
    assert told == [(DONE, "h0", None)]
    assert inbox.poll(0.1) and inbox.recv() == Job(1, HOSTS[1], OP)
    inbox.send((DONE, "h1", None))
    assert inbox.poll(0.1) and inbox.recv() is None


def test_ctrl_c_answers_every_held_job_not_started_and_passes_first() -> None:
    inbox, q, told = _inbox(threads=1)
    for i in range(3):
        q.put(_compact(i))
    q.put(Release(("h0",)))
    assert inbox.poll(0.1) and inbox.recv() == Job(0, HOSTS[0], OP)
    q.put(Flag("cancel"))
    assert inbox.poll(0.1) and inbox.recv() == Flag("cancel")
    assert [(m[0], m[1]) for m in told] == [(DONE, "h1"), (DONE, "h2")]  # type: ignore[index]
    assert all(m[2].status is Status.INTERRUPTED for m in told)  # type: ignore[index]
    assert inbox.poll(0.1) and inbox.recv() == Release(("h0",))  # never started, never told
