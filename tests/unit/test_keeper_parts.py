"""The parts of warm runs that need no sshd: the --persist setting, the reuse identity, the
parked connections' bookkeeping, and the plumbing a worker of the background process
uses to reach a run it did not start (event pipe, flow counters by descriptor)."""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from pytest_mock import MockerFixture

from hostops import run
from hostops.credentials import Secrets
from hostops.fleet.adaptive import FAR_ANSWERS, START
from hostops.fleet.engine import use_worker_source
from hostops.fleet.events import EventQueue, EventWriter, HostWarning, Output
from hostops.fleet.flow import counters_at, counters_file
from hostops.fleet.intake import EventReader
from hostops.fleet.worker import WorkerSpec
from hostops.host.settings import reuse_identity
from hostops.keeper import persist, source
from hostops.keeper.parked import Parked
from hostops.keeper.source import KeptWorkers
from hostops.keeper.worker import KeeperWorker
from hostops.models import Host, HostKeyPolicy, RunOptions, SshSettings, Status, Transport
from hostops.operations import Command, Download, Upload, localize


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10m", 600),
        ("90s", 90),
        ("90", 90),
        ("2h", 7200),
        ("1d", 86400),
        ("1.5m", 90),
        ("0", 0),
        ("no", 0),
        ("OFF", 0),
        ("false", 0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert persist.parse(text) == seconds


@pytest.mark.parametrize("text", ["", "10x", "-1m", "m", "1 m", "10mm"])
def test_not_durations(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        persist.parse(text)


@pytest.mark.parametrize(
    ("argv", "env", "wanted"),
    [
        (["run", "--persist", "10m", "uptime"], {}, 600),
        (["run", "--persist=2m", "uptime"], {}, 120),
        (["put", "a", "b"], {"HOSTOPS_PERSIST": "1m"}, 60),
        (["run", "uptime"], {}, None),
        (["run", "--persist", "10m", "--no-persist", "x"], {}, None),  # the last wins
        (["run", "--no-persist", "--persist", "10m", "x"], {}, 600),
        (["run", "--no-persist", "x"], {"HOSTOPS_PERSIST": "1m"}, None),
        (["run", "--persist", "0", "x"], {"HOSTOPS_PERSIST": "1m"}, None),
        (["run", "--persist", "bad", "x"], {}, None),  # the command line says why
        (["inventory", "--persist", "1m"], {}, None),  # not a command that runs warm
        (["persist"], {"HOSTOPS_PERSIST": "1m"}, None),
        (["run", "--help"], {"HOSTOPS_PERSIST": "1m"}, None),
        (["run", "--", "--persist", "1m"], {}, None),  # after --, words are the command's
        ([], {"HOSTOPS_PERSIST": "1m"}, None),
    ],
)
def test_which_commands_go_warm(argv: list[str], env: dict[str, str], wanted: float | None) -> None:
    assert persist.wanted(argv, env) == wanted


_HOST = Host(
    "web01",
    "10.0.0.1",
    22,
    user="ops",
    identity_files=("/k/id",),
    known_hosts="/k/known_hosts",
    connection_id="c" * 64,
)


def test_another_host_identity_is_another_reuse_identity() -> None:
    options, env = RunOptions(), {"SSH_AUTH_SOCK": "/a"}
    other = dataclasses.replace(_HOST, connection_id="d" * 64)  # any resolved setting (below)
    assert reuse_identity(_HOST, options, env) != reuse_identity(other, options, env)


@pytest.mark.parametrize(
    ("options", "env"),
    [
        (RunOptions(host_key_policy=HostKeyPolicy.ACCEPT_NEW), {"SSH_AUTH_SOCK": "/a"}),
        (RunOptions(host_key_policy=HostKeyPolicy.OFF), {"SSH_AUTH_SOCK": "/a"}),
        (RunOptions(use_agent=False), {"SSH_AUTH_SOCK": "/a"}),
        (RunOptions(connect_timeout=3.0), {"SSH_AUTH_SOCK": "/a"}),
        (RunOptions(), {"SSH_AUTH_SOCK": "/b"}),
        (RunOptions(), {}),
    ],
)
def test_the_runs_own_settings_count_too(options: RunOptions, env: dict[str, str]) -> None:
    base = reuse_identity(_HOST, RunOptions(), {"SSH_AUTH_SOCK": "/a"})
    assert reuse_identity(_HOST, options, env) != base


def test_what_does_not_change_the_connection_does_not_count() -> None:
    base = reuse_identity(_HOST, RunOptions(), {"SSH_AUTH_SOCK": "/a"})
    same = RunOptions(forks=3, timeout=5.0, sudo=True, persist=60.0, max_output=10)
    assert reuse_identity(_HOST, same, {"SSH_AUTH_SOCK": "/a", "OTHER": "x"}) == base


@pytest.mark.parametrize(
    "change",
    [
        {"address": "10.0.0.2"},
        {"port": 2222},
        {"user": "root"},
        {"identity_files": ("/k/other",)},
        {"known_hosts": "/k/other_known"},
        {"connection": Transport.LOCAL},
        {"password_env": "PW"},
        {"host_key_policy": HostKeyPolicy.ACCEPT_NEW},
        {"ssh": SshSettings(proxy_command="nc %h %p")},
        {"jump_hosts": (Host("j", "10.0.0.9"),)},
    ],
)
def test_every_resolved_setting_is_in_the_connection_identity(change: dict[str, object]) -> None:
    # connection_id is computed from these fields when the settings are resolved: a host
    # without one (the library's own Host) falls back on the same digest.
    plain = dataclasses.replace(_HOST, connection_id=None)
    other = dataclasses.replace(plain, **change)
    options, env = RunOptions(), {}
    assert reuse_identity(plain, options, env) != reuse_identity(other, options, env)


class _Client:
    """What Parked uses of a HostClient."""

    def __init__(self, name: str) -> None:
        self.host = Host(name, "10.0.0.1", user="ops")
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def runner_state(self) -> str | None:
        return "ready"


def test_parked_connections_are_taken_by_identity_once_each() -> None:
    counts: list[int] = []
    parked = Parked(counts.append)
    a, b = _Client("a"), _Client("b")
    parked.park("k1", a, 60)  # type: ignore[arg-type]  # a stand-in
    parked.park("k2", b, 60)  # type: ignore[arg-type]
    assert parked.holds("k1") and not parked.holds("k3")
    assert parked.take("k3") is None
    assert parked.take("k1") is a
    assert parked.take("k1") is None  # in use: not handed out twice
    assert not parked.holds("k1")
    described = {d["host"]: d for d in parked.describe()}
    assert described["a"]["channels"] == 1 and described["b"]["channels"] == 0
    assert described["a"]["runner"] == "ready"
    parked.park("k1", a, 60)  # type: ignore[arg-type]  # given back
    assert parked.take("k1") is a
    parked.drop(a)  # type: ignore[arg-type]
    assert a.closed
    # Heard only when the number changed: giving a connection back changes nothing.
    assert counts == [1, 2, 1]


def test_parked_connections_expire_after_their_time_since_last_use() -> None:
    parked = Parked()
    a, b = _Client("a"), _Client("b")
    parked.park("k1", a, 1.0)  # type: ignore[arg-type]
    parked.park("k2", b, 100.0)  # type: ignore[arg-type]
    now = time.monotonic()
    assert parked.expire(now) == 2
    assert parked.expire(now + 2.0) == 1
    assert a.closed and not b.closed
    parked.close_all()
    assert b.closed
    assert parked.describe() == []


def test_a_connection_in_use_never_expires_under_its_run() -> None:
    parked = Parked()
    a = _Client("a")
    parked.park("k", a, 0.5)  # type: ignore[arg-type]
    assert parked.take("k") is a
    assert parked.expire(time.monotonic() + 10) == 1
    parked.close_all()
    assert not a.closed  # its run closes or parks it


def test_an_event_writer_feeds_the_run_queue_through_a_handed_descriptor() -> None:
    ctx = multiprocessing.get_context("fork")
    queue = EventQueue(ctx)
    writer = EventWriter(os.dup(queue.writer_fd()))
    events = [Output("h", "stdout", b"x" * 3000), HostWarning("h", "careful")]
    for event in events:
        writer.put(event)
    writer.close(lambda: False)  # written by now, in order
    queue.put(HostWarning(None, "from the queue itself"))
    got = [queue.get(timeout=5) for _ in range(3)]
    assert got[:2] == events
    assert got[2] == HostWarning(None, "from the queue itself")
    queue.close()
    queue.join_thread()


def test_an_event_writer_never_makes_its_caller_wait_for_the_reader() -> None:
    """A session keeps its timeouts while the aggregator is behind: far more than a pipe
    holds is put, nobody reading, and every put returns; then it all arrives, in order."""
    ctx = multiprocessing.get_context("fork")
    queue = EventQueue(ctx)
    writer = EventWriter(os.dup(queue.writer_fd()))
    sent = [Output("h", "stdout", bytes([i % 256]) * 3000) for i in range(200)]  # ~600 KB
    putting = threading.Thread(target=lambda: [writer.put(e) for e in sent], daemon=True)
    putting.start()
    putting.join(timeout=60)  # a put that waited for a reader would wait forever
    assert not putting.is_alive()
    got = [queue.get(timeout=5) for _ in sent]
    assert got == sent
    writer.close(lambda: False)
    queue.close()
    queue.join_thread()


def test_closing_an_event_writer_waits_for_a_slow_reader_until_its_run_is_gone() -> None:
    """A pager read slowly: close() writes everything first (the run's end comes after
    it); once the run is gone, what is left is dropped and close() returns."""
    r, w = os.pipe()
    writer = EventWriter(w)
    sent = [Output("h", "stdout", bytes([i % 256]) * 3000) for i in range(100)]  # ~300 KB
    for event in sent:
        writer.put(event)
    reader = EventReader(r)
    got: list[object] = []

    def read_slowly() -> None:
        while len(got) < len(sent):
            got.extend(reader.read(5.0))
            time.sleep(0.05)

    reading = threading.Thread(target=read_slowly, daemon=True)
    reading.start()
    writer.close(lambda: False)  # returns once all of it is in the pipe
    reading.join(timeout=60)
    assert got == sent

    r2, w2 = os.pipe()
    stuck = EventWriter(w2)
    for event in sent:  # more than the pipe holds, and nobody reads
        stuck.put(event)
    asked: list[bool] = []
    closing = threading.Thread(target=lambda: stuck.close(lambda: asked.append(True) or True))
    closing.start()
    closing.join(timeout=60)
    assert not closing.is_alive() and asked  # it asked, and gave up the rest
    os.close(r2)  # the run's end: the writer's last write fails, its thread ends
    os.close(r)


def test_an_event_writer_refuses_what_cannot_be_written_atomically() -> None:
    ctx = multiprocessing.get_context("fork")
    queue = EventQueue(ctx)
    writer = EventWriter(os.dup(queue.writer_fd()))
    with pytest.raises(ValueError, match="use output_events"):
        writer.put(Output("h", "stdout", b"x" * 5000))
    writer.close(lambda: True)
    queue.close()


def test_flow_counters_in_a_memory_file_are_shared_through_the_descriptor() -> None:
    mine, fd = counters_file(3)
    theirs = counters_at(os.dup(fd), 3)
    os.close(fd)
    mine[2] = 12345
    assert theirs[2] == 12345
    theirs[0] = 7
    assert mine[0] == 7


def test_controller_paths_are_made_absolute_against_the_callers_directory() -> None:
    up = localize(Upload("rel/file", "/dest"), "/home/me")
    assert isinstance(up, Upload) and up.src == "/home/me/rel/file"
    down = localize(Download("/etc/hosts", "out"), "/home/me")
    assert isinstance(down, Download) and down.dest == "/home/me/out"
    absolute = Upload("/abs/file", "dest")
    assert localize(absolute, "/home/me") is absolute
    command = Command("ls")
    assert localize(command, "/home/me") is command


def test_an_expired_connection_is_no_longer_offered() -> None:
    parked = Parked()
    a = _Client("a")
    parked.park("k", a, 1.0)  # type: ignore[arg-type]
    assert parked.expire(time.monotonic() + 2.0) == 0
    assert a.closed
    assert not parked.holds("k")  # the run would be routed to a closed connection
    assert parked.take("k") is None


class _Stuck(_Client):
    def close(self) -> None:
        raise OSError("the socket is gone")


def test_a_connection_that_fails_to_close_does_not_keep_the_others() -> None:
    parked = Parked()
    stuck, b = _Stuck("stuck"), _Client("b")
    parked.park("k1", stuck, 1.0)  # type: ignore[arg-type]
    parked.park("k2", b, 1.0)  # type: ignore[arg-type]
    assert parked.expire(time.monotonic() + 2.0) == 0  # and it did not raise
    assert b.closed and parked.describe() == []


def test_a_run_given_no_worker_of_the_background_process_forks_its_own() -> None:
    use_worker_source(KeptWorkers([]))  # none could take a channel (hostops.keeper.server)
    try:
        report = run([Host("here", "localhost", connection=Transport.LOCAL)], "echo hi")
    finally:
        use_worker_source(None)
    assert [(r.status, r.stdout) for r in report.results] == [(Status.OK, b"hi\n")]


def test_a_run_forking_its_own_workers_after_all_sizes_them_as_a_run_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fallback above runs the command's --workers (not the background process's
    pool size) and, without --forks, reads the first answers its governor grows by."""
    from hostops.fleet import engine

    seen = tmp_path / "specs"
    real = engine.worker_main

    def recording(spec: WorkerSpec, *args: object) -> None:  # runs in the forked worker
        with open(seen, "a") as out:
            out.write(f"{spec.options.workers} {spec.threads} {spec.first_answers}\n")
        real(spec, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "worker_main", recording)
    hosts = [Host(f"h{i}", "localhost", connection=Transport.LOCAL) for i in range(START + 1)]
    use_worker_source(KeptWorkers([]))
    try:
        report = run(hosts, "true", options=RunOptions(workers=1))
    finally:
        use_worker_source(None)
    assert {r.status for r in report.results} == {Status.OK}
    assert seen.read_text().splitlines() == [f"1 {START + 1} {FAR_ANSWERS}"]


@pytest.mark.parametrize("other", ["ended", "stuck", "stuck-full"])
def test_a_worker_that_cannot_take_the_run_leaves_its_share_to_the_others(
    other: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``stuck-full``: a stopped worker whose channel's buffer is already full, as the
    keys of a few thousand hosts fill it: the send itself must give up, not wait."""
    live, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # a worker of the background process's kind, keeping nothing
        live.close()
        KeeperWorker(None).serve_channel(theirs.fileno())
        os._exit(0)
    theirs.close()
    # Ended after its channel was made, or stuck (stopped): it never answers.
    bad, far = socket.socketpair()
    if other == "ended":
        far.close()
    if other == "stuck-full":
        bad.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                bad.send(b"x" * 65536)
        bad.setblocking(True)
    # One deadline for all answers: the live one's too, a fork on a busy machine.
    monkeypatch.setattr(source, "ANSWER_S", 3.0)
    stuck: list[int] = []
    workers = KeptWorkers([(pid + 1_000_000, bad), (pid, live)], on_stuck=stuck.append)
    hosts = [Host(f"h{i}", "localhost", connection=Transport.LOCAL) for i in range(2)]
    use_worker_source(workers)
    try:  # planned for two workers (a session each), run by the one left
        report = run(hosts, "echo hi", options=RunOptions(forks=2))
    finally:
        use_worker_source(None)
    assert [(r.status, r.stdout) for r in report.results] == [(Status.OK, b"hi\n")] * 2
    # Given up for the runs to come too: where its talk stands is not known.
    assert workers.size == 1
    # A stuck one is said so, for the background process to replace (an ended one it
    # notices itself: its control socket closes).
    assert stuck == ([] if other == "ended" else [pid + 1_000_000])
    if other.startswith("stuck"):
        far.settimeout(5)
        while far.recv(65536):  # what it was sent, then the end
            pass
        far.close()
    live.close()
    bad.close()
    os.waitpid(pid, 0)  # its channel closed: it ended


def test_a_run_start_cut_by_ctrl_c_gives_up_the_workers_it_had_asked(
    mocker: MockerFixture,
) -> None:
    ours, far = socket.socketpair()
    workers = KeptWorkers([(os.getpid() + 1_000_000, ours)])
    mocker.patch.object(source.Connection, "poll", side_effect=KeyboardInterrupt)
    events, flow = os.open(os.devnull, os.O_WRONLY), os.open(os.devnull, os.O_RDONLY)
    host = Host("h", "localhost", connection=Transport.LOCAL)
    spec = WorkerSpec(RunOptions(), 1)
    with pytest.raises(KeyboardInterrupt):
        workers.attach(spec, (1,), [host], events, flow, Secrets())
    # Asked, and left waiting for the rest of a talk that was cut: a later run of this
    # process must not take up that talk midway, so the worker hears the end instead.
    assert workers.size == 0
    far.settimeout(5)
    while far.recv(65536):  # what it was sent, then the end
        pass
    for fd in (events, flow):
        os.close(fd)
    far.close()
    ours.close()
