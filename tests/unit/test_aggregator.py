"""The Aggregator as pure logic: events in, rendered lines (fds 1 and 2) and a RunReport out."""

from __future__ import annotations

import json
import random
import time

import pytest

from hostops.fleet.aggregator import Aggregator, Sinks, gather_s
from hostops.fleet.events import (
    HostFinished,
    HostStarted,
    HostWarning,
    Interrupt,
    Output,
    WorkerDied,
    WorkerDone,
)
from hostops.host.base import STDERR, STDOUT
from hostops.models import Host, HostResult, RunReport, Status, WorkerStats
from hostops.render.console import MAX_LINE, Console, OutputMode, ViewOptions, summary_text

MAX_KEPT = 1 << 20  # --max-output of these tests
_QUIET = None  # no mode given: the default view, which renders nothing


def _agg(names: list[str], mode: OutputMode | None = OutputMode.STREAM) -> Aggregator:
    hosts = [Host(n, f"addr-{n}") for n in names]
    view = ViewOptions() if mode is _QUIET else ViewOptions(mode=mode)
    return Aggregator(hosts, view, Console(color=False), time.monotonic(), Sinks(MAX_KEPT))


def _ok(host: str, duration: float = 0.1) -> HostFinished:
    return HostFinished(host, Status.OK, 0, None, duration, None)


def _feed(agg: Aggregator, *events) -> None:
    for e in events:
        agg.handle(e)


# --------------------------------------------------------------------------- stream mode


def test_line_split_across_chunks_is_reassembled(capfd):
    agg = _agg(["web01"])
    agg.handle(Output("web01", STDOUT, b"a"))
    assert capfd.readouterr().out == ""  # no half line is ever written
    agg.handle(Output("web01", STDOUT, b"b\n"))
    assert capfd.readouterr().out == "web01 | ab\n"


def test_many_lines_in_one_chunk_and_a_pending_rest(capfd):
    agg = _agg(["h"])
    agg.handle(Output("h", STDOUT, b"x\ny\nz"))
    assert capfd.readouterr().out == "h | x\nh | y\n"
    agg.handle(Output("h", STDOUT, b"z\n\n"))
    assert capfd.readouterr().out == "h | zz\nh | \n"


def test_names_padded_to_the_longest(capfd):
    agg = _agg(["a", "longname", "mid"])
    _feed(
        agg,
        Output("a", STDOUT, b"1\n"),
        Output("longname", STDOUT, b"2\n"),
        Output("mid", STDOUT, b"3\n"),
    )
    assert capfd.readouterr().out == "a        | 1\nlongname | 2\nmid      | 3\n"


def test_stderr_lines_go_to_fd2(capfd):
    agg = _agg(["web01", "db"])
    _feed(agg, Output("db", STDERR, b"oops\n"), Output("web01", STDOUT, b"fine\n"))
    cap = capfd.readouterr()
    assert cap.err == "db    ! oops\n"
    assert cap.out == "web01 | fine\n"


def test_partial_last_line_flushed_on_finish(capfd):
    agg = _agg(["h"])
    _feed(agg, Output("h", STDOUT, b"done\nno newline"), Output("h", STDERR, b"err tail"))
    cap = capfd.readouterr()
    assert cap.out == "h | done\n"
    assert cap.err == ""
    agg.handle(_ok("h"))
    cap = capfd.readouterr()
    assert cap.out == "h | no newline\n"
    assert cap.err == "h ! err tail\n"
    # Nothing is flushed twice.
    agg.report()
    assert capfd.readouterr().out == ""


def test_pending_line_of_one_host_not_flushed_by_another(capfd):
    agg = _agg(["a", "b"])
    _feed(agg, Output("a", STDOUT, b"partial"), Output("b", STDOUT, b"x\n"), _ok("b"))
    assert capfd.readouterr().out == "b | x\n"
    agg.handle(_ok("a"))
    assert capfd.readouterr().out == "a | partial\n"


def test_stdout_and_stderr_pending_are_separate(capfd):
    agg = _agg(["h"])
    _feed(
        agg,
        Output("h", STDOUT, b"out-"),
        Output("h", STDERR, b"err-"),
        Output("h", STDOUT, b"1\n"),
        Output("h", STDERR, b"2\n"),
    )
    cap = capfd.readouterr()
    assert cap.out == "h | out-1\n"
    assert cap.err == "h ! err-2\n"


def test_interleaved_chunks_never_mix_within_a_line(capfd):
    agg = _agg(["h1", "h2"])
    _feed(
        agg,
        Output("h1", STDOUT, b"one-"),
        Output("h2", STDOUT, b"two-"),
        Output("h1", STDOUT, b"a\none-"),
        Output("h2", STDOUT, b"b\n"),
        Output("h1", STDOUT, b"c\n"),
    )
    assert capfd.readouterr().out == "h1 | one-a\nh2 | two-b\nh1 | one-c\n"


def test_random_interleaving_keeps_every_line_whole(capfd):
    rng = random.Random(1234)
    names = ["alpha", "b", "gamma-long"]
    width = max(map(len, names))
    lines = {
        n: [f"{n}-line-{i}-{'x' * rng.randrange(0, 40)}".encode() for i in range(40)] for n in names
    }
    chunks: dict[str, list[bytes]] = {}
    for n in names:
        blob = b"".join(line + b"\n" for line in lines[n])
        cuts = sorted(rng.sample(range(1, len(blob)), 60))
        chunks[n] = [blob[i:j] for i, j in zip([0, *cuts], [*cuts, len(blob)], strict=True)]
    agg = _agg(names)
    while any(chunks.values()):
        n = rng.choice([k for k, v in chunks.items() if v])
        agg.handle(Output(n, STDOUT, chunks[n].pop(0)))
    out = capfd.readouterr().out.encode()
    seen: dict[str, list[bytes]] = {n: [] for n in names}
    for row in out.split(b"\n")[:-1]:
        prefix, sep, line = row.partition(b" | ")
        assert sep, row
        name = prefix.decode()
        assert len(name) == width
        seen[name.rstrip()].append(line)
    assert seen == lines


def test_line_endings_and_odd_bytes_passed_through(capfd):
    agg = _agg(["h"])
    agg.handle(Output("h", STDOUT, b"crlf\r\n\x00nul\xff\n"))
    assert capfd.readouterr().out == "h | crlf\r\nh | \x00nul\ufffd\n"


def test_endless_line_is_passed_on_in_pieces(capfd):
    agg = _agg(["h"])
    data = b"x" * (MAX_LINE + 10)
    agg.handle(Output("h", STDOUT, data))
    out = capfd.readouterr().out
    assert out == "h | " + "x" * MAX_LINE + "\n"
    agg.handle(_ok("h"))
    assert capfd.readouterr().out == "h | " + "x" * 10 + "\n"
    (result,) = agg.report().results
    assert result.stdout == data[:MAX_KEPT]  # all of it was shown, 1 MiB of it kept
    assert result.truncated


def test_output_kept_is_capped_per_stream_but_not_below_the_cap(capfd):
    agg = _agg(["h", "g"], OutputMode.JSON)
    chunk = b"y" * 65536
    for _ in range(MAX_KEPT // len(chunk) * 3):
        agg.handle(Output("h", STDOUT, chunk))
    agg.handle(Output("h", STDERR, b"small\n"))
    agg.handle(Output("g", STDOUT, b"z" * MAX_KEPT))
    agg.handle(_ok("h"))
    agg.handle(_ok("g"))
    h, g = agg.report().results
    assert (len(h.stdout), h.stderr, h.truncated) == (MAX_KEPT, b"small\n", True)
    assert (len(g.stdout), g.truncated) == (MAX_KEPT, False)  # exactly the cap: nothing lost
    assert json.loads(capfd.readouterr().out.splitlines()[0])["truncated"] is True


# --------------------------------------------------------------------------- JSON mode


def test_json_mode_one_object_per_finished_host(capfd):
    agg = _agg(["a", "b"], OutputMode.JSON)
    _feed(
        agg,
        HostStarted("a", 10),
        HostStarted("b", 10),
        Output("a", STDOUT, b"hello\n"),
        Output("b", STDERR, b"bad\xff"),
        HostWarning("a", "accepted new host key"),
    )
    cap = capfd.readouterr()
    assert cap.out == ""  # output is held until the host finishes
    assert "accepted new host key" in cap.err
    agg.handle(HostFinished("b", Status.FAILED, 2, None, 0.25, "exit 2"))
    agg.handle(_ok("a"))
    cap = capfd.readouterr()
    rows = cap.out.splitlines()
    assert len(rows) == 2
    b, a = (json.loads(r) for r in rows)
    assert b == {
        "host": "b",
        "address": "addr-b",
        "status": "failed",
        "exit_code": 2,
        "signal": None,
        "stdout": "",
        "stderr": "bad\ufffd",
        "duration_s": 0.25,
        "error": "exit 2",
        "truncated": False,
        "attempts": 1,
        "changed": None,
        "tasks_done": None,
        "tasks_total": None,
        "skipped": [],
        "reused": False,
    }
    assert a["host"] == "a"
    assert a["status"] == "ok"
    assert a["stdout"] == "hello\n"
    assert " | " not in cap.out
    assert " ! " not in cap.err


def test_json_mode_report_adds_objects_only_for_hosts_without_result(capfd):
    agg = _agg(["a", "b", "c"], OutputMode.JSON)
    _feed(agg, HostStarted("a", 1), _ok("a"), HostStarted("b", 2), WorkerDied(2, -9))
    agg.report()
    objs = [json.loads(r) for r in capfd.readouterr().out.splitlines()]
    assert [o["host"] for o in objs] == ["a", "b", "c"]
    assert [o["status"] for o in objs] == ["ok", "error", "error"]


def test_default_view_writes_nothing(capfd):
    agg = _agg(["a"], _QUIET)
    _feed(agg, Output("a", STDOUT, b"x\n"), Output("a", STDERR, b"y\n"), _ok("a"))
    report = agg.report()
    cap = capfd.readouterr()
    assert (cap.out, cap.err) == ("", "")
    assert report.results[0].stdout == b"x\n"
    assert report.results[0].stderr == b"y\n"


# --------------------------------------------------------------------------- results


def test_result_fields_from_host_and_event():
    agg = _agg(["web01"], _QUIET)
    _feed(
        agg,
        HostStarted("web01", 7),
        Output("web01", STDOUT, b"o"),
        Output("web01", STDERR, b"e"),
        HostFinished("web01", Status.TIMEOUT, None, "KILL", 3.5, "timed out after 3 s"),
    )
    assert agg.report().results == (
        HostResult(
            host="web01",
            address="addr-web01",
            status=Status.TIMEOUT,
            exit_code=None,
            signal="KILL",
            stdout=b"o",
            stderr=b"e",
            duration_s=3.5,
            error="timed out after 3 s",
        ),
    )


@pytest.mark.parametrize("mode", [*OutputMode, _QUIET])
def test_output_bytes_kept_exactly(mode, capfd):
    agg = _agg(["h"], mode)
    out_chunks = [b"\x00\xff", b"line\r\n", b"\n\n", b"\xe2\x82", b"\xac end-no-newline"]
    err_chunks = [b"e1\n", b"", b"\x1b[31mred\x1b[0m"]
    for o, e in zip(out_chunks, [*err_chunks, b"", b""], strict=True):
        agg.handle(Output("h", STDOUT, o))
        agg.handle(Output("h", STDERR, e))
    agg.handle(_ok("h"))
    (r,) = agg.report().results
    assert r.stdout == b"".join(out_chunks)
    assert r.stderr == b"".join(err_chunks)
    capfd.readouterr()


def test_results_in_inventory_order_regardless_of_finish_order():
    names = ["c1", "a2", "b3", "z4"]
    agg = _agg(names, _QUIET)
    for n in ["z4", "a2", "c1", "b3"]:
        agg.handle(HostFinished(n, Status.OK, 0, None, 0.1, None))
    assert [r.host for r in agg.report().results] == names


def test_unfinished_hosts_are_not_run_errors():
    agg = _agg(["a", "b", "c"], _QUIET)
    _feed(agg, _ok("b"))
    report = agg.report()
    assert [r.status for r in report.results] == [Status.ERROR, Status.OK, Status.ERROR]
    for r in (report.results[0], report.results[2]):
        assert "not run" in (r.error or "")
        assert r.exit_code is None
    assert report.results[1].error is None
    assert report.interrupted is False


def test_after_interrupt_unfinished_hosts_are_interrupted():
    agg = _agg(["a", "b", "c"], _QUIET)
    _feed(
        agg, HostStarted("a", 1), _ok("a"), HostFinished("b", Status.FAILED, 1, None, 0.1, "exit 1")
    )
    agg.handle(Interrupt())
    report = agg.report()
    assert [r.status for r in report.results] == [Status.OK, Status.FAILED, Status.INTERRUPTED]
    assert report.results[1].error == "exit 1"  # a real result is never overwritten
    assert "interrupt" in (report.results[2].error or "")
    assert report.interrupted is True


def test_worker_died_marks_only_its_unfinished_hosts(capfd):
    agg = _agg(["a", "b", "c", "d"])
    _feed(
        agg,
        HostStarted("a", 100),
        HostStarted("b", 100),
        HostStarted("c", 200),
        Output("b", STDOUT, b"half"),
        _ok("a"),
    )
    capfd.readouterr()
    agg.handle(WorkerDied(100, -9))
    cap = capfd.readouterr()
    assert cap.out == "b | half\n"  # the dead host's partial line is not lost
    assert "100" in cap.err  # the warning names the worker
    _feed(agg, _ok("c"))
    report = agg.report()
    a, b, c, d = report.results
    assert (a.status, a.error) == (Status.OK, None)
    assert (b.status, b.error) == (Status.ERROR, "worker died")
    assert b.stdout == b"half"
    assert c.status is Status.OK  # another worker's host
    assert d.status is Status.ERROR  # never started anywhere: not run
    assert "not run" in (d.error or "")
    assert any("100" in w for w in report.warnings)


def test_worker_died_for_unknown_pid_changes_no_result():
    agg = _agg(["a"], _QUIET)
    _feed(agg, HostStarted("a", 1), WorkerDied(999, 1), _ok("a"))
    assert agg.report().results[0].status is Status.OK


def test_warnings_and_worker_stats_reach_the_report(capfd):
    agg = _agg(["a"], _QUIET)
    stats = WorkerStats(5, hosts=1, known_hosts_loads=1, key_loads=0)
    _feed(agg, HostWarning("a", "key accepted"), WorkerDone(stats), _ok("a"))
    report = agg.report()
    assert report.workers == (stats,)
    assert report.warnings == ("a: key accepted",)
    assert capfd.readouterr().err == ""  # a run that renders nothing prints nothing


def test_warnings_are_shown_when_rendering_and_file_warnings_once(capfd):
    agg = _agg(["a", "b"])
    _feed(
        agg,
        HostWarning("a", "key accepted"),
        HostWarning(None, "kh: bad line 3"),
        HostWarning(None, "kh: bad line 3"),
    )
    assert (
        capfd.readouterr().err
        == "hostops: warning: a: key accepted\nhostops: warning: kh: bad line 3\n"
    )


# --------------------------------------------------------------------------- summary


def _summary_report(interrupted: bool = False) -> RunReport:
    return RunReport(
        results=(
            HostResult("ok-host", "x", Status.OK, 0),
            HostResult("web01", "x", Status.FAILED, 3, error="exit 3"),
            HostResult("web02", "x", Status.FAILED, 1, error="exit 1"),
            HostResult("slow", "x", Status.TIMEOUT, None, "TERM", error="timed out after 5 s"),
            HostResult("gone", "x", Status.UNREACHABLE, error="connection refused\n  (port 22)"),
            HostResult("nokey", "x", Status.AUTH_FAILED, error="authentication failed"),
            HostResult("evil", "x", Status.HOSTKEY_REJECTED, error="host key changed"),
            HostResult("dead", "x", Status.ERROR, error="worker died"),
            HostResult("later", "x", Status.INTERRUPTED, error="interrupted before it started"),
            HostResult("skip", "x", Status.SKIPPED),
        ),
        duration_s=1.5,
        interrupted=interrupted,
    )


def test_summary_counts_per_status():
    text = summary_text(_summary_report(), color=False)
    head = text.splitlines()[0]
    assert "10 hosts" in head
    assert "1.50 s" in head
    for part in (
        "1 ok",
        "2 failed",
        "1 timeout",
        "1 unreachable",
        "1 auth_failed",
        "1 hostkey_rejected",
        "1 error",
        "1 interrupted",
        "1 skipped",
    ):
        assert part in head


def test_summary_lists_every_non_ok_host_with_its_reason():
    text = summary_text(_summary_report(), color=False)
    body = text.splitlines()[1:]
    expected = {
        "web01": ("failed", "exit 3"),
        "web02": ("failed", "exit 1"),
        "slow": ("timeout", "timed out after 5 s"),
        "gone": ("unreachable", "connection refused (port 22)"),  # one line
        "nokey": ("auth_failed", "authentication failed"),
        "evil": ("hostkey_rejected", "host key changed"),
        "dead": ("error", "worker died"),
        "later": ("interrupted", "interrupted before it started"),
    }
    for host, (status, reason) in expected.items():
        rows = [r for r in body if r.split() and host in r.split() and "slowest:" not in r]
        assert len(rows) == 1, (host, body)
        assert status in rows[0].split()
        assert rows[0].rstrip().endswith(reason)
    assert not any("ok-host" in r for r in body if "slowest:" not in r)
    assert text.endswith("\n")
    assert "\033" not in text


def test_summary_host_order_is_report_order():
    body = summary_text(_summary_report(), color=False).splitlines()[1:]
    hosts = [r.split()[1] for r in body if len(r.split()) > 1]
    assert hosts[:3] == ["web01", "web02", "slow"]


def test_summary_interrupted_and_singular():
    report = RunReport((HostResult("a", "a", Status.OK),), 0.5, interrupted=True)
    text = summary_text(report, color=False)
    assert "1 host " in text
    assert "1 hosts" not in text
    assert "interrupted" in text


def test_summary_all_ok_has_no_host_lines():
    report = RunReport((HostResult("a", "a", Status.OK), HostResult("b", "b", Status.OK)), 0.5)
    assert summary_text(report, color=False).splitlines() == [
        "hostops: 2 hosts in 0.50 s: 2 ok",
        "  slowest: a 0.00 s, b 0.00 s",
    ]


def test_summary_color_only_when_asked():
    assert "\033[" in summary_text(_summary_report(), color=True)


def test_summary_folds_hosts_that_failed_the_same_way():
    results = [
        HostResult(f"web{i:02d}", "a", Status.FAILED, 1, error="exit 1") for i in (1, 2, 3, 5)
    ]
    results += [
        HostResult("db1", "d", Status.UNREACHABLE, error="connection refused"),
        HostResult("web04", "a", Status.FAILED, 2, error="exit 2"),
        HostResult("ok1", "o", Status.OK),
    ]
    text = summary_text(RunReport(results=tuple(results), duration_s=1.0), color=False)
    assert text.splitlines()[1:-1] == [
        "  failed       web[01-03,05]  exit 1",
        "  failed       web04          exit 2",
        "  unreachable  db1            connection refused",
    ]


def test_control_characters_are_made_visible_on_a_terminal_only(capfd):
    console = Console(color=False)
    console.out_tty = True  # as on a terminal
    agg = Aggregator(
        [Host("web01", "a"), Host("web02", "b")],
        ViewOptions(OutputMode.STREAM),
        console,
        time.monotonic(),
    )
    agg.handle(Output("web01", STDOUT, b"x\rweb02 | fake\x1b]0;title\x07\tok\n"))
    assert capfd.readouterr().out == "web01 | x^Mweb02 | fake^[]0;title^G\tok\n"
    console.out_tty = False  # a pipe or a file: the raw bytes
    agg.handle(Output("web01", STDOUT, b"a\rb\n"))
    assert capfd.readouterr().out == "web01 | a\rb\n"


def test_attempts_reach_the_result():
    agg = _agg(["a"], _QUIET)
    agg.handle(HostFinished("a", Status.UNREACHABLE, None, None, 1.0, "refused", 3))
    assert agg.report().results[0].attempts == 3


def test_out_dir_gets_raw_bytes_as_they_arrive_and_a_status_line(tmp_path):
    hosts = [Host("web/1", "a"), Host("web2", "b")]
    view = ViewOptions(mode=OutputMode.QUIET, out_dir=str(tmp_path))
    (tmp_path / "web2.out").write_bytes(b"from an earlier run\n")
    agg = Aggregator(hosts, view, Console(color=False), time.monotonic(), Sinks(4))
    agg.handle(Output("web/1", STDOUT, b"\x1b[31mred"))
    assert (tmp_path / "web%2F1.out").read_bytes() == b"\x1b[31mred"  # at once, raw
    agg.handle(Output("web/1", STDOUT, b" more\n"))
    agg.handle(Output("web/1", STDERR, b"oops\n"))
    agg.handle(HostFinished("web/1", Status.FAILED, 3, None, 0.1, "exit 3"))
    agg.handle(HostFinished("web2", Status.UNREACHABLE, None, None, 0.1, "connection\nrefused"))
    assert (tmp_path / "web%2F1.out").read_bytes() == b"\x1b[31mred more\n"  # not cut at 4 bytes
    assert (tmp_path / "web%2F1.err").read_bytes() == b"oops\n"
    assert (tmp_path / "web%2F1.status").read_text() == "failed 3 exit 3\n"
    assert (tmp_path / "web2.out").read_bytes() == b""  # replaced, not appended to
    assert (tmp_path / "web2.status").read_text() == "unreachable - connection refused\n"
    (r1, _r2) = agg.report().results
    assert r1.stdout == b"\x1b[31" and r1.truncated  # --max-output 4: cut in the report only


def test_results_are_appended_to_the_record_as_they_arrive(tmp_path):
    from hostops.journal import RecordPath

    record = RecordPath(str(tmp_path / "run.jsonl"))
    (tmp_path / "run.jsonl").write_bytes(b"")  # made with its header by Journal.start
    agg = Aggregator(
        [Host("a", "a"), Host("b", "b")],
        ViewOptions(),
        Console(),
        time.monotonic(),
        Sinks(record=record),
    )
    agg.handle(_ok("b"))
    lines = [json.loads(x) for x in (tmp_path / "run.jsonl").read_text().splitlines()]
    assert [(x["type"], x["host"], x["status"]) for x in lines] == [("host", "b", "ok")]
    agg.report()  # "a" never got a result: it is still accounted for
    lines = [json.loads(x) for x in (tmp_path / "run.jsonl").read_text().splitlines()]
    assert [x["host"] for x in lines] == ["b", "a"] and lines[1]["status"] == "error"


def _many_failures() -> RunReport:
    """200 hosts failing for 3 causes, each reason naming the host's address, port or key."""
    results = []
    for i in range(1, 201):
        name, address, port = f"node{i:03d}", f"127.42.{i // 250}.{i % 250}", 2000 + i
        if i <= 80:
            status, why = Status.UNREACHABLE, f"connect to {address}:{port}: Connection refused"
        elif i <= 150:
            key = f"SHA256:{'abcdefghij'[i % 10] * 43}"
            why = (
                f"unknown host key for [{address}]:{port} (ssh-ed25519 {key}); verify it, then"
                f" add it with: ssh-keyscan -p {port} {address} >> ~/.ssh/known_hosts"
                " (or use --host-key-policy accept-new)"
            )
            status = Status.HOSTKEY_REJECTED
        else:
            status, why = (
                Status.AUTH_FAILED,
                f"permission denied for root@{address} (1 key(s) tried)",
            )
        results.append(HostResult(name, address, status, error=why))
    return RunReport(results=tuple(results), duration_s=3.0)


def test_summary_groups_reasons_that_differ_only_by_host_details():
    lines = summary_text(_many_failures(), color=False).splitlines()
    assert len(lines) <= 15, "\n".join(lines)
    body = lines[1:-1]
    # One group per cause, the names folded, the per-host parts taken out ...
    assert [line.split()[:2] for line in body if not line.startswith("      ")] == [
        ["unreachable", "node[001-080]"],
        ["auth_failed", "node[151-200]"],
        ["hostkey_rejected", "node[081-150]"],
    ]
    assert "connect to <address>:<port>: Connection refused" in body[0]
    # ... and each group's first host shown once in full.
    assert "e.g. node001: connect to 127.42.0.1:2001: Connection refused" in lines[2]
    assert any("e.g. node081: unknown host key for [127.42.0.81]:2081" in line for line in body)


def test_summary_keeps_reasons_that_really_differ_apart():
    results = (
        HostResult("a", "10.0.0.1", Status.FAILED, 1, error="exit 1"),
        HostResult("b", "10.0.0.2", Status.FAILED, 2, error="exit 2"),
        HostResult("c", "10.0.0.3", Status.UNREACHABLE, error="connect to 10.0.0.3:22: timed out"),
        HostResult("d", "10.0.0.4", Status.UNREACHABLE, error="connect to 10.0.0.4:22: refused"),
    )
    body = summary_text(RunReport(results, 1.0), color=False).splitlines()[1:-1]
    assert body == [
        "  failed       a  exit 1",
        "  failed       b  exit 2",
        "  unreachable  c  connect to 10.0.0.3:22: timed out",
        "  unreachable  d  connect to 10.0.0.4:22: refused",
    ]


def test_events_gather_longer_as_a_busy_run_goes_on_never_past_50_ms() -> None:
    """A read every 2 % of the run so far (10-50 ms): a short run's output lags 10 ms at
    most, a long run's aggregator wakes a fifth as often."""
    assert [gather_s(t) for t in (0.0, 0.5, 1.0, 2.5, 600.0)] == pytest.approx(
        [0.01, 0.01, 0.02, 0.05, 0.05]
    )
