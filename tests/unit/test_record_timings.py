"""What `hostops report` needs in a run record: per-host timings, step lines, the
playbook recap line, who ran it; and records of older versions still loading."""

from __future__ import annotations

import json
import time
from pathlib import Path

from hostops.fleet.aggregator import Aggregator, Sinks
from hostops.fleet.events import Heading, HostFinished, HostStarted
from hostops.journal import MAX_STEPS, Journal, RecordPath, Timing, host_line, load_run
from hostops.models import Host, HostResult, RunOptions, RunReport, Status
from hostops.playbook.recap import recap_line
from hostops.playbook.results import PlaybookResult, PlayResult, TaskHostResult, TaskResult
from hostops.render.console import Console, ViewOptions


def _record(tmp_path: Path, hosts: list[str]) -> tuple[Journal, Path]:
    journal = Journal.start(["run", "true"], "true", hosts, RunOptions(), tmp_path)
    assert journal is not None
    return journal, Path(journal.record.path)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_aggregator_records_when_each_host_started_connected_and_finished(tmp_path):
    journal, path = _record(tmp_path, ["a", "b", "c"])
    started = time.monotonic()
    hosts = [Host(n, f"addr-{n}") for n in "abc"]
    agg = Aggregator(
        hosts, ViewOptions(), Console(color=False), started, Sinks(record=journal.record)
    )
    agg.handle(Heading("batch 1/2: a,b"))
    agg.handle(HostStarted("a", 1))
    agg.handle(HostStarted("b", 1))
    # connected 0.05 s after it started; it ended a second later (a playbook's host)
    later = time.monotonic() + 1.0
    agg.handle(HostFinished("a", Status.OK, 0, None, 0.2, None, connect_s=0.05, ended_at=later))
    agg.handle(HostFinished("b", Status.UNREACHABLE, None, None, 0.1, "refused"))
    agg.handle(Heading("batch 2/2: c"))
    # c never started: the rollout stopped
    agg.handle(HostFinished("c", Status.NOT_RUN, None, None, 0.0, "not run"))
    agg.report()
    lines = _lines(path)
    hosts_t = {line["host"]: line.get("t") for line in lines if line["type"] == "host"}
    start, connected, end = hosts_t["a"]
    assert 0 <= start <= connected <= end
    assert abs(connected - start - 0.05) < 0.002 and end == round(later - started, 3)
    assert hosts_t["b"][1] is None  # no connection made
    assert hosts_t["c"] is None  # never started: no timing at all
    steps = [line for line in lines if line["type"] == "step"]
    assert [s["text"] for s in steps] == ["batch 1/2: a,b", "batch 2/2: c"]
    assert steps[0]["t"] <= start
    past = load_run(path)
    assert set(past.timings) == {"a", "b"} and past.timings["b"].connected is None
    assert [text for _, text in past.steps] == ["batch 1/2: a,b", "batch 2/2: c"]


def test_a_host_reported_after_its_end_keeps_its_own_end(tmp_path):
    """A playbook's hosts are reported at the playbook's end: ``ended_at`` says when
    each one's last step ended."""
    journal, path = _record(tmp_path, ["a"])
    started = time.monotonic()
    agg = Aggregator(
        [Host("a", "x")], ViewOptions(), Console(color=False), started, Sinks(record=journal.record)
    )
    agg.handle(HostStarted("a", 1))
    ended = time.monotonic()
    time.sleep(0.05)
    agg.handle(HostFinished("a", Status.OK, 0, None, 0.0, None, ended_at=ended))
    (line,) = [x for x in _lines(path) if x["type"] == "host"]
    assert line["t"][2] == round(ended - started, 3)


def test_step_lines_are_capped(tmp_path):
    journal, path = _record(tmp_path, ["a"])
    agg = Aggregator(
        [Host("a", "x")], ViewOptions(), Console(color=False), 0.0, Sinks(record=journal.record)
    )
    for i in range(MAX_STEPS + 5):
        agg.handle(Heading(f"task {i}"))
    assert sum(x["type"] == "step" for x in _lines(path)) == MAX_STEPS


def test_timing_round_trips_and_refuses_what_is_not_one():
    t = Timing(1.23456, None, 2.5)
    assert t.to_json() == [1.235, None, 2.5]
    assert Timing.from_json(t.to_json()) == Timing(1.235, None, 2.5)
    for bad in (None, [], [1, 2], "x", [None, 1, 2], [1, 2, "3"]):
        assert Timing.from_json(bad) is None


def test_the_header_says_who_ran_it_and_where_from(tmp_path, monkeypatch):
    monkeypatch.setenv("USER", "alice")
    monkeypatch.setenv("LOGNAME", "alice")
    _journal, path = _record(tmp_path, ["a"])
    header = _lines(path)[0]
    assert header["user"] == "alice" and header["controller"]


def test_an_older_record_without_timings_steps_or_user_still_loads(tmp_path):
    path = tmp_path / "20250101-000000-000000.jsonl"
    header = {
        "type": "run",
        "id": path.stem,
        "started": "2025-01-01T00:00:00+00:00",
        "argv": ["run", "x"],
        "command": "x",
        "hosts": ["a"],
        "options": {},
    }
    result = HostResult("a", "a", Status.OK, 0, stdout=b"hi\n", duration_s=0.3)
    end = {"type": "end", "exit_code": 0, "duration_s": 0.4}
    old_line = {"type": "host", **result.to_json()}
    path.write_text("".join(json.dumps(x) + "\n" for x in (header, old_line, end)))
    past = load_run(path)
    assert past.timings == {} and past.steps == [] and past.recap is None
    assert past.results == [result]
    assert host_line(result) == old_line  # no timing known: the line is as it was


def _play_result() -> PlaybookResult:
    t1 = TaskResult(
        1,
        "install",
        "run",
        (
            TaskHostResult("a", Status.OK, changed=True),
            TaskHostResult("b", Status.OK),
            TaskHostResult("c", Status.FAILED, exit_code=1, error="exit 1"),
        ),
    )
    t2 = TaskResult(
        2,
        "restart s3cret",
        "run",
        (
            TaskHostResult("a", Status.OK),
            TaskHostResult("b", Status.TIMEOUT, error="timed out"),
        ),
    )
    play = PlayResult(1, "web", ("a", "b", "c"), (("a", "b", "c"),), (t1, t2), not_run=())
    return PlaybookResult((play,), 1.0, planned={"a": 2, "b": 2, "c": 2})


def test_the_recap_line_counts_per_task_and_says_where_hosts_stopped():
    line = recap_line(_play_result(), lambda s: s.replace("s3cret", "********"))
    assert line["type"] == "recap"
    (play,) = line["plays"]
    assert play["count"] == 3 and play["batches"] == 1
    t1, t2 = play["tasks"]
    assert (t1["ok"], t1["changed"], t1["failed"], t1["skipped"]) == (1, 1, 1, 0)
    assert t1["stopped"] == "c" and t2["stopped"] == "b"
    assert t2["name"] == "restart ********"  # vaulted values masked
    assert json.loads(json.dumps(line)) == line  # a JSON line as it is


def test_the_recap_line_is_read_back(tmp_path):
    journal, path = _record(tmp_path, ["a", "b", "c"])
    journal.record.append([recap_line(_play_result())])
    journal.finish(RunReport((), 1.0), 1)
    assert load_run(path).recap["plays"][0]["tasks"][1]["stopped"] == "b"


def test_a_record_path_still_pickles_for_the_aggregator():
    import pickle

    record = RecordPath("/x")
    assert pickle.loads(pickle.dumps(record)) == record
