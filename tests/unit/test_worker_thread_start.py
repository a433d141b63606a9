"""What a worker tells the engine. A session thread that cannot start: the job goes
back to the engine and is never also run by this worker (ThreadPoolExecutor queues a
job before it starts the thread for it, so a thread that frees up later would otherwise
still run it). New connections' first answers: only the first few, and only for the
adaptive concurrency."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from pytest_mock import MockerFixture

from hostops.credentials import Secrets
from hostops.fleet import worker
from hostops.fleet.adaptive import FAR_ANSWERS
from hostops.fleet.dispatch import DONE, HEARD, RETURNED, STARTED, Job
from hostops.models import Host, RunOptions, Status
from hostops.operations import Command, Outcome


class _Conn:
    """The engine's end of a worker's pipe: jobs in, messages out."""

    def __init__(self) -> None:
        self.inbox: queue.Queue[object] = queue.Queue()
        self.sent: list[tuple[Any, ...]] = []

    def poll(self, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (timeout or 0.0)
        while self.inbox.empty() and time.monotonic() < deadline:
            time.sleep(0.005)
        return not self.inbox.empty()

    def recv(self) -> object:
        return self.inbox.get_nowait()

    def send(self, message: Any) -> None:
        self.sent.append(tuple(message))


def _job(index: int) -> Job:
    return Job(index, Host(f"h{index}", "127.0.0.1"), Command("true"))


def _serve(
    mocker: MockerFixture,
    conn: _Conn,
    run_job: Callable[..., Outcome],
    jobs: int | list[object],
    spec: worker.WorkerSpec,
) -> None:
    """The worker serving ``jobs`` (a number of jobs, or the messages themselves) with
    ``run_job`` in place of the real one, to the end (None)."""
    mocker.patch.object(worker, "run_job", run_job)
    for message in [_job(i) for i in range(jobs)] if isinstance(jobs, int) else jobs:
        conn.inbox.put(message)
    conn.inbox.put(None)
    worker.serve(
        spec,
        conn,
        mocker.Mock(),
        threading.Event(),
        Secrets(),
        None,
        lambda: False,
        kept=worker.Kept(),
        context=mocker.Mock(),
    )


def test_a_job_whose_thread_cannot_start_runs_nowhere_here(mocker: MockerFixture) -> None:
    conn = _Conn()
    ran: list[str] = []
    first_running = threading.Event()
    release_first = threading.Event()

    def run_job(job: Job, *args: object, **kwargs: object) -> Outcome:
        ran.append(job.host.name)
        if job.index == 0:
            first_running.set()
            release_first.wait(10)
        return Outcome(Status.OK, exit_code=0)

    mocker.patch.object(worker, "run_job", run_job)
    start = threading.Thread.start
    pool_threads = [0]

    def limited_start(thread: threading.Thread) -> None:
        if thread.name.startswith("session"):
            pool_threads[0] += 1
            if pool_threads[0] > 1:  # the pool's second thread: the process limit
                raise RuntimeError("can't start new thread")
        start(thread)

    mocker.patch.object(threading.Thread, "start", limited_start)
    mocker.patch.object(worker, "_NO_THREAD_TRIES", 0)
    events = mocker.Mock()
    spec = worker.WorkerSpec(RunOptions(), threads=4)
    server = threading.Thread(
        target=worker.serve,
        args=(spec, conn, events, threading.Event(), Secrets(), None, lambda: False),
        kwargs={"kept": worker.Kept(), "context": mocker.Mock()},
        name="engine-side",
    )
    conn.inbox.put(_job(0))
    server.start()
    assert first_running.wait(10)
    conn.inbox.put(_job(1))  # no idle thread, and none can start
    for _ in range(200):
        if (RETURNED, "h1") in conn.sent:
            break
        release_first.wait(0.05)
    assert (RETURNED, "h1") in conn.sent
    release_first.set()  # the first thread frees up and finds h1's job still queued
    conn.inbox.put(None)
    server.join(10)
    assert not server.is_alive()
    assert ran == ["h0"]  # h1 went back to the engine: it never ran here
    kinds = [(kind, name) for kind, name, *_ in conn.sent]
    assert kinds == [(STARTED, "h0"), (STARTED, "h1"), (RETURNED, "h1"), (DONE, "h0")]


def test_a_job_that_starts_runs_once(mocker: MockerFixture) -> None:
    """The plain path, for contrast: every job runs once and is reported done."""
    conn = _Conn()
    ran: list[str] = []

    def run_job(job: Job, *args: object, **kwargs: object) -> Outcome:
        ran.append(job.host.name)
        return Outcome(Status.OK, exit_code=0)

    _serve(mocker, conn, run_job, 3, worker.WorkerSpec(RunOptions(), threads=2))
    assert sorted(ran) == ["h0", "h1", "h2"]
    assert sorted(n for kind, n, *_ in conn.sent if kind == DONE) == ["h0", "h1", "h2"]


@pytest.mark.parametrize("told", [FAR_ANSWERS, 0])
def test_first_answers_are_told_only_as_many_as_asked(mocker: MockerFixture, told: int) -> None:
    """The first ``first_answers`` new connections' first answers go to the engine (its
    governor reads them), and no more; with none asked (no governor: --forks, a warm
    run's shared workers), no connection is timed."""
    conn = _Conn()
    offered: list[bool] = []

    def run_job(job: Job, *args: object, **kwargs: object) -> Outcome:
        heard = kwargs["heard"]
        offered.append(heard is not None)
        if callable(heard):
            heard(job.host.name, 0.125)
        return Outcome(Status.OK, exit_code=0)

    spec = worker.WorkerSpec(RunOptions(), threads=1, first_answers=told)
    _serve(mocker, conn, run_job, FAR_ANSWERS + 5, spec)
    answers = [m for m in conn.sent if m[0] == HEARD]
    assert len(answers) == told
    assert all(waited == 0.125 for _, _, waited in answers)
    assert any(offered) is (told > 0)


def test_a_list_of_jobs_is_told_started_at_once_and_each_runs_once(mocker: MockerFixture) -> None:
    """A list of jobs in one message (a worker the engine sends batches,
    hostops.fleet.dispatch): one "started" naming all of them, before any runs."""
    conn = _Conn()
    ran: list[str] = []
    started_first: list[bool] = []

    def run_job(job: Job, *args: object, **kwargs: object) -> Outcome:
        started_first.append(conn.sent[0] == (STARTED, "h0", "h1", "h2"))
        ran.append(job.host.name)
        return Outcome(Status.OK, exit_code=0)

    messages: list[object] = [[_job(0), _job(1), _job(2)], [_job(3)]]
    _serve(mocker, conn, run_job, messages, worker.WorkerSpec(RunOptions(), threads=2))
    assert sorted(ran) == ["h0", "h1", "h2", "h3"] and all(started_first)
    assert (STARTED, "h3") in conn.sent
    assert sorted(n for kind, n, *_ in conn.sent if kind == DONE) == ["h0", "h1", "h2", "h3"]
