"""Run records: written as the run goes, read back whole or cut short, found by reference."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest
from full_disk import full_disk

from hostops.errors import UsageError
from hostops.journal import (
    Journal,
    RunState,
    find_run,
    history_json,
    history_text,
    host_line,
    iter_summaries,
    list_runs,
    load_run,
    parse_statuses,
    run_state,
    runs_dir,
)
from hostops.models import HostResult, RunOptions, RunReport, Status


def _start(tmp_path: Path, hosts: list[str], command: str = "uptime") -> Journal:
    journal = Journal.start(["run", command], command, hosts, RunOptions(forks=7), tmp_path)
    assert journal is not None
    return journal


def _finished(tmp_path: Path, hosts: list[str], command: str = "uptime") -> Journal:
    journal = _start(tmp_path, hosts, command)
    journal.finish(RunReport((), 0.1), 0)
    return journal


def test_a_record_is_written_as_the_run_goes_and_read_back(tmp_path):
    j = _start(tmp_path, ["a", "b", "c"])
    path = Path(j.record.path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # outputs may be confidential
    header = json.loads(path.read_text().splitlines()[0])
    assert header["type"] == "run" and header["id"] == j.id
    assert header["options"]["forks"] == 7 and header["hosts"] == ["a", "b", "c"]
    results = [
        HostResult("c", "10.0.0.3", Status.FAILED, 2, stdout=b"out\n", error="exit 2"),
        HostResult("a", "10.0.0.1", Status.OK, 0, stdout="é\n".encode()),
        HostResult("b", "10.0.0.2", Status.UNREACHABLE, error="connection refused"),
    ]
    for r in results:  # in the order they finish
        j.record.append([host_line(r)])
    j.finish(RunReport(tuple(results), 1.5), 3)
    past = load_run(path)
    assert past.complete and past.missing == []
    assert [r.host for r in past.results] == ["a", "b", "c"]  # the run's order
    assert past.results[2] == results[0]  # every field comes back
    assert past.hosts_with(parse_statuses("failed")) == ["b", "c"]
    assert past.hosts_with(parse_statuses("unreachable,ok")) == ["a", "b"]
    assert past.end is not None and past.end["exit_code"] == 3


def test_rerun_failed_takes_every_host_a_rollout_left_unfinished():
    wanted = parse_statuses("failed")
    assert {Status.INCOMPLETE, Status.NOT_RUN, Status.INTERRUPTED} <= wanted
    assert not {Status.OK, Status.SKIPPED} & wanted
    assert parse_statuses("incomplete,not_run") == {Status.INCOMPLETE, Status.NOT_RUN}


def test_a_record_cut_by_a_crash_keeps_what_finished(tmp_path):
    j = _start(tmp_path, ["a", "b", "c"])
    j.record.append([host_line(HostResult("b", "b", Status.OK, 0))])
    with open(j.record.path, "a") as f:
        f.write('{"type": "host", "host": "c", "sta')  # the process died mid-line
    past = load_run(Path(j.record.path))
    assert not past.complete
    assert [r.host for r in past.results] == ["b"] and past.missing == ["a", "c"]
    assert "did not finish" in history_text([past]) and "2 not recorded" in history_text([past])


def test_a_broken_line_inside_a_record_is_an_error_naming_it(tmp_path):
    j = _start(tmp_path, ["a"])
    with open(j.record.path, "a") as f:
        f.write("garbage\n")
    with pytest.raises(UsageError, match=r"\.jsonl:2: not a run record line"):
        load_run(Path(j.record.path))


def test_find_run_by_last_prefix_and_distance(tmp_path):
    ids = [_finished(tmp_path, ["a"], f"echo {i}").id for i in range(3)]
    assert ids == sorted(ids)  # ids sort in time order, even within one second
    assert find_run(None, tmp_path).name == f"{ids[2]}.jsonl"
    assert find_run("last", tmp_path).name == f"{ids[2]}.jsonl"
    assert find_run("last-2", tmp_path).name == f"{ids[0]}.jsonl"
    assert find_run(ids[1], tmp_path).name == f"{ids[1]}.jsonl"
    with pytest.raises(UsageError, match="only 3 finished run"):
        find_run("last-3", tmp_path)
    with pytest.raises(UsageError, match="ambiguous"):
        find_run(ids[0][:8], tmp_path)
    with pytest.raises(UsageError, match="no recorded run 'nope'"):
        find_run("nope", tmp_path)


def test_no_records_yet_is_a_clear_error(tmp_path):
    with pytest.raises(UsageError, match="no run records in"):
        find_run(None, tmp_path / "none")


def test_retention_keeps_the_newest(tmp_path, monkeypatch):
    monkeypatch.setenv("HOSTOPS_KEEP_RUNS", "3")
    ids = [_finished(tmp_path, ["a"]).id for _ in range(5)]
    assert [p.name for p in list_runs(tmp_path)] == [f"{i}.jsonl" for i in ids[2:]]


def test_retention_never_prunes_a_run_in_progress(tmp_path, monkeypatch):
    """A long rollout's record outlives any number of short runs after it (its hostops
    is alive and it has no end line); one whose hostops died is pruned as usual."""
    monkeypatch.setenv("HOSTOPS_KEEP_RUNS", "2")
    rollout = _start(tmp_path, ["a"], "long rollout")  # this process: alive
    dead = _start(tmp_path, ["a"], "crashed")
    _set_pid(Path(dead.record.path), _dead_pid())
    short = [_finished(tmp_path, ["a"]).id for _ in range(4)]
    names = [p.name for p in list_runs(tmp_path)]
    assert names == [f"{rollout.id}.jsonl"] + [f"{i}.jsonl" for i in short[2:]]
    assert run_state(Path(rollout.record.path)) is RunState.IN_PROGRESS
    rollout.record.append([host_line(HostResult("a", "a", Status.OK, 0))])  # still its own
    assert load_run(Path(rollout.record.path)).results[0].host == "a"


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def _set_pid(path: Path, pid: int) -> None:
    lines = path.read_text().splitlines(keepends=True)
    header = json.loads(lines[0])
    header["pid"] = pid
    path.write_text(json.dumps(header) + "\n" + "".join(lines[1:]))


def test_last_is_the_last_finished_run(tmp_path):
    """``last`` (and --rerun's default) passes over a run still in progress and a
    headerless record (a full disk, an older hostops); an id still finds any run."""
    done = _finished(tmp_path, ["a"], "done")
    crashed = _start(tmp_path, ["a"], "crashed")
    _set_pid(Path(crashed.record.path), _dead_pid())
    running = _start(tmp_path, ["a"], "running")
    (tmp_path / "99999999-999999-999999.jsonl").write_bytes(b"")
    assert find_run("last", tmp_path).name == f"{crashed.id}.jsonl"  # ended, without an end
    assert find_run("last-1", tmp_path).name == f"{done.id}.jsonl"
    assert find_run(running.id, tmp_path).name == f"{running.id}.jsonl"
    assert run_state(tmp_path / "99999999-999999-999999.jsonl") is RunState.BROKEN
    with pytest.raises(
        UsageError, match=r"only 2 finished run\(s\) recorded \(1 still in progress\)"
    ):
        find_run("last-2", tmp_path)


def test_a_full_disk_warns_once_and_leaves_no_record(tmp_path):
    """With no space left, the run goes on without a record (no 0-byte file that would
    break 'show last'), and says so once."""
    with full_disk(tmp_path / "disk") as disk:
        (disk / "runs").mkdir(mode=0o700)
        told: list[str] = []
        journal = Journal.start([], "x", ["a"], RunOptions(), disk / "runs", warn=told.append)
        assert journal is None
        assert len(told) == 1 and "No space left on device: running without a run record" in told[0]
        assert list((disk / "runs").iterdir()) == []


def test_retention_zero_keeps_no_record_and_bad_values_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HOSTOPS_KEEP_RUNS", "0")
    assert Journal.start([], "x", ["a"], RunOptions(), tmp_path) is None
    monkeypatch.setenv("HOSTOPS_KEEP_RUNS", "lots")
    with pytest.raises(UsageError, match="HOSTOPS_KEEP_RUNS: expected a number"):
        Journal.start([], "x", ["a"], RunOptions(), tmp_path)


def test_records_live_under_xdg_state_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert runs_dir() == tmp_path / "hostops" / "runs"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert runs_dir() == tmp_path / "home" / ".local" / "state" / "hostops" / "runs"


def test_unknown_status_names_the_choices():
    with pytest.raises(UsageError, match=r"unknown status 'broken'.*failed or any of: ok, failed"):
        parse_statuses("timeout,broken")
    assert parse_statuses("failed") == frozenset(Status) - {Status.OK, Status.SKIPPED}


def test_history_lists_newest_first_with_counts(tmp_path):
    for command, status in (("first", Status.OK), ("second", Status.TIMEOUT)):
        j = _start(tmp_path, ["a"], command)
        j.record.append([host_line(HostResult("a", "a", status))])
        j.finish(RunReport((HostResult("a", "a", status),), 0.25), 0)
    runs = list(iter_summaries(tmp_path))
    lines = history_text(runs).splitlines()
    assert lines[0].split() == ["RUN", "STARTED", "HOSTS", "TIME", "RESULT", "COMMAND"]
    assert lines[1].endswith("1 timeout  second") and lines[2].endswith("1 ok       first")
    first = json.loads(history_json(runs).splitlines()[1])
    assert first["command"] == "first" and first["counts"] == {"ok": 1} and first["complete"]


def test_a_record_read_back_as_a_report_accounts_for_every_host(tmp_path):
    """What ``hostops show`` renders: the run's hosts in order, a host whose line never
    came as an error saying so, the recorded duration and interruption."""
    j = _start(tmp_path, ["a", "b", "c"])
    c = HostResult("c", "10.0.0.3", Status.FAILED, 2, stdout=b"out\n", truncated=True)
    j.record.append([host_line(c)])
    j.record.append([host_line(HostResult("a", "10.0.0.1", Status.OK, 0))])
    j.finish(RunReport((c,), 2.25, interrupted=True), 130)
    report = load_run(Path(j.record.path)).report()
    assert [r.host for r in report.results] == ["a", "b", "c"]
    assert report.results[2] == c
    missing = report.results[1]
    assert (missing.status, missing.address) == (Status.ERROR, "b")
    assert missing.error is not None and "no result in the run record" in missing.error
    assert report.duration_s == 2.25 and report.interrupted


def test_a_record_cut_before_its_end_line_reports_no_duration(tmp_path):
    j = _start(tmp_path, ["a"])
    j.record.append([host_line(HostResult("a", "a", Status.OK, 0))])
    report = load_run(Path(j.record.path)).report()
    assert report.duration_s == 0.0 and not report.interrupted
    assert [r.status for r in report.results] == [Status.OK]
