"""The wire protocol and the result model survive pickling; the JSON shape is fixed."""

from __future__ import annotations

import json
import pickle

import pytest

from hostops.fleet.events import (
    MAX_EVENT_BYTES,
    EndOfRun,
    HostFinished,
    HostStarted,
    HostWarning,
    Interrupt,
    LibraryLog,
    Output,
    Skipped,
    WorkerDied,
    WorkerDone,
    library_log_events,
)
from hostops.host.base import STDERR, STDOUT
from hostops.models import (
    Host,
    HostKeyPolicy,
    HostResult,
    RunOptions,
    RunReport,
    Status,
    Transport,
    WorkerStats,
)
from hostops.render.console import json_line

_RESULT = HostResult(
    host="web01",
    address="10.0.0.1",
    status=Status.FAILED,
    exit_code=3,
    signal=None,
    stdout=b"out\x00\xff\n",
    stderr=b"err\r\n",
    duration_s=1.23456,
    error="exit 3",
)

_OBJECTS = [
    HostStarted("web01", 1234),
    Output("web01", STDOUT, b"line\n\xff\x00partial"),
    Output("web01", STDERR, b""),
    HostWarning("web01", "accepted new host key"),
    LibraryLog("web01", "paramiko.transport: Traceback (most recent call last):\n  ..."),
    Skipped("web01", ("/etc/nginx/sites-enabled/default",)),
    HostFinished("web01", Status.OK, 0, None, 0.5, None),
    HostFinished("web02", Status.TIMEOUT, None, "KILL", 30.0, "timed out after 30 s"),
    WorkerDone(WorkerStats(1234, hosts=5, known_hosts_loads=1, key_loads=2)),
    WorkerDied(1234, -9),
    WorkerDied(99, None),
    Interrupt(),
    EndOfRun(),
    WorkerStats(1),
    _RESULT,
    HostResult("h", "h", Status.OK),
    RunReport(
        results=(_RESULT, HostResult("h", "h", Status.SKIPPED)),
        duration_s=2.5,
        workers=(WorkerStats(1, 2, 3, 4), WorkerStats(5)),
        interrupted=True,
        warnings=("w1", "w2"),
    ),
    RunReport(results=(), duration_s=0.0),
    Host("web01", "10.0.0.1", 2222, "root", ("/k",), "/kh", Transport.LOCAL),
    RunOptions(workers=2, forks=8, timeout=1.5, host_key_policy=HostKeyPolicy.ACCEPT_NEW),
]


@pytest.mark.parametrize("obj", _OBJECTS, ids=lambda o: type(o).__name__)
@pytest.mark.parametrize("protocol", [pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL])
def test_pickle_round_trip(obj, protocol):
    back = pickle.loads(pickle.dumps(obj, protocol=protocol))
    assert back == obj
    assert type(back) is type(obj)


def test_every_event_class_is_covered():
    classes = {type(o) for o in _OBJECTS}
    for cls in (
        HostStarted,
        Output,
        HostWarning,
        LibraryLog,
        Skipped,
        HostFinished,
        WorkerDone,
        WorkerDied,
        Interrupt,
        EndOfRun,
        RunReport,
        HostResult,
        WorkerStats,
    ):
        assert cls in classes


def test_status_enum_identity_survives_pickle():
    ev = pickle.loads(pickle.dumps(HostFinished("h", Status.AUTH_FAILED, None, None, 0.0, "x")))
    assert ev.status is Status.AUTH_FAILED
    report = pickle.loads(pickle.dumps(RunReport((_RESULT,), 1.0)))
    assert report.results[0].status is Status.FAILED
    assert report.failed == (_RESULT,)


def test_events_are_distinguishable_after_pickle():
    a = pickle.loads(pickle.dumps(Output("h", STDOUT, b"x")))
    b = pickle.loads(pickle.dumps(Output("h", STDERR, b"x")))
    assert a != b
    assert a.stream == STDOUT
    assert b.stream == STDERR


_KEYS = {
    "host",
    "address",
    "status",
    "exit_code",
    "signal",
    "stdout",
    "stderr",
    "duration_s",
    "error",
    "truncated",  # added with the output cap
    "attempts",  # added with --connect-retries
    "changed",  # added with put, get and play
    "tasks_done",  # added with the incomplete status (play: tasks done of those planned)
    "tasks_total",
    "skipped",  # added with reported skips (links, special files) of put and get
    "reused",  # added with warm runs (--persist)
}


def test_to_json_has_exactly_the_guaranteed_keys():
    assert set(_RESULT.to_json()) == _KEYS
    assert set(HostResult("h", "a", Status.OK).to_json()) == _KEYS


def test_to_json_values():
    d = _RESULT.to_json()
    assert d["host"] == "web01"
    assert d["address"] == "10.0.0.1"
    assert d["status"] == "failed"
    assert type(d["status"]) is str  # the value, not the enum
    assert d["exit_code"] == 3
    assert d["signal"] is None
    assert d["stdout"] == "out\x00\ufffd\n"  # invalid UTF-8 replaced
    assert d["stderr"] == "err\r\n"
    assert d["duration_s"] == pytest.approx(1.235)
    assert d["error"] == "exit 3"


@pytest.mark.parametrize("status", list(Status))
def test_to_json_status_is_plain_string(status):
    d = HostResult("h", "a", status).to_json()
    assert type(d["status"]) is str
    assert d["status"] == status.value
    assert json.loads(json.dumps(d))["status"] == status.value


def test_to_json_signal_and_no_exit_code():
    d = HostResult("h", "a", Status.TIMEOUT, None, "KILL", error="timed out").to_json()
    assert d["exit_code"] is None
    assert d["signal"] == "KILL"
    assert d["error"] == "timed out"


def test_to_json_invalid_utf8_everywhere_is_serialisable():
    r = HostResult("h", "a", Status.OK, 0, None, b"\xc3\x28\xa0\xa1", b"\xff\xfe", 0.0)
    d = r.to_json()
    assert d["stdout"] == "\ufffd(\ufffd\ufffd"
    assert d["stderr"] == "\ufffd\ufffd"
    assert isinstance(json.dumps(d), str)


def test_json_line_is_one_parseable_line():
    line = json_line(HostResult("h", "a", Status.OK, 0, None, "é\nx\n".encode(), b"\xff", 0.1))
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1  # embedded newlines are escaped
    obj = json.loads(line)
    assert obj["stdout"] == "é\nx\n"
    assert obj["stderr"] == "\ufffd"
    assert set(obj) == _KEYS


def test_report_helpers():
    ok = HostResult("a", "a", Status.OK)
    skipped = HostResult("b", "b", Status.SKIPPED)
    bad = HostResult("c", "c", Status.TIMEOUT)
    report = RunReport((ok, skipped, bad), 1.0)
    assert report.succeeded == (ok,)
    assert report.failed == (bad,)
    assert report.counts() == {Status.OK: 1, Status.SKIPPED: 1, Status.TIMEOUT: 1}


def test_a_long_library_record_becomes_events_of_whole_lines_that_fit_a_pipe_write():
    lines = [f"line {i} " + "x" * (i * 37 % 1000) for i in range(200)]
    events = library_log_events("h" * 500, "\n".join(lines))
    assert all(len(pickle.dumps(e)) <= MAX_EVENT_BYTES for e in events)
    assert [line for e in events for line in e.text.split("\n")] == lines
