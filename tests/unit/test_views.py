"""gather and diff views, the progress line, and the Console's status line."""

from __future__ import annotations

import os

from hostops.models import HostResult, Status
from hostops.render.console import Console
from hostops.render.views import diff_text, gather_text, group_results, progress_text


def _r(host: str, out: bytes = b"", err: bytes = b"", code: int | None = 0, **kw) -> HostResult:  # type: ignore[no-untyped-def]
    status = kw.pop("status", Status.OK if code == 0 else Status.FAILED)
    return HostResult(host, host, status, code, stdout=out, stderr=err, **kw)


def test_identical_outputs_fold_largest_group_first_in_run_order():
    results = [
        _r("web01", b"5.10\n"),
        _r("web02", b"6.1\n"),
        _r("web03", b"6.1\n"),
        _r("web04", b"6.1\n"),
        _r("db1", b"5.10\n"),
        _r("web05", b"6.1\n", code=1),  # same output, another exit code: another group
    ]
    groups = group_results(results)
    assert [g.hosts for g in groups] == [
        ("web02", "web03", "web04"),
        ("web01", "db1"),
        ("web05",),
    ]
    assert [g.label for g in groups] == ["web[02-04] (3)", "db1,web01 (2)", "web05 (1) exit 1"]


def test_hosts_that_never_ran_their_command_are_left_to_the_summary():
    results = [
        _r("a", b"x\n"),
        _r("b", code=None, status=Status.UNREACHABLE, error="connection refused"),
        _r("c", code=None, status=Status.TIMEOUT, out=b"partial\n", signal="TERM"),
    ]
    labels = [g.label for g in group_results(results)]
    assert labels == ["a (1)", "c (1) signal TERM timeout"]


def test_gather_text_blocks_with_stderr_marked_and_empty_output_said():
    results = [_r("h1", b"one\ntwo\n", b"warn\n"), _r("h2", b"one\ntwo\n", b"warn\n"), _r("h3")]
    assert gather_text(results, color=False, tty=False) == (
        b"---------------\nh[1-2] (2)\n---------------\none\ntwo\n! warn\n"
        b"---------------\nh3 (1)\n---------------\n(no output)\n"
    )


def test_gather_on_a_terminal_shows_control_characters_instead_of_obeying_them():
    text = gather_text([_r("h", b"\x1b[2Jgotcha\r\n")], color=False, tty=True)
    body = text.split(b"\n", 3)[3]  # after the (bold) header
    assert b"\x1b" not in body and body == b"^[[2Jgotcha^M\n"
    raw = gather_text([_r("h", b"\x1b[2Jgotcha\n")], color=False, tty=False)
    assert b"\x1b[2Jgotcha" in raw  # a pipe gets the raw bytes


def test_a_cut_output_says_so():
    text = gather_text([_r("h", b"a\n", truncated=True)], color=False, tty=False)
    assert b"output cut at --max-output" in text


def test_diff_shows_the_majority_once_and_the_others_as_unified_diffs():
    results = [_r(f"web{i:03d}", b"kernel 6.1\nup 3 days\n") for i in range(1, 199)]
    results += [
        _r("web199", b"kernel 5.10\nup 3 days\n"),
        _r("web200", b"kernel 5.10\nup 3 days\n"),
    ]
    text = diff_text(results, color=False, tty=False).decode()
    assert text.count("kernel 6.1") == 2  # the majority's output, and once as the diff's "-"
    assert "web[001-198] (198): the majority" in text
    assert "web[199-200] (2): differs from the majority" in text
    diff = text.split("differs from the majority\n", 1)[1]
    assert "--- majority\n+++ web[199-200]\n" in diff
    assert "-kernel 6.1\n+kernel 5.10\n up 3 days\n" in diff


def test_diff_of_a_group_that_only_ended_differently():
    text = diff_text([_r("a", b"x\n"), _r("b", b"x\n"), _r("c", b"x\n", code=3)], False, False)
    assert b"c (1) exit 3: differs from the majority" in text
    assert b"(same output; ended differently)" in text


def test_diff_coloured_on_a_terminal():
    text = diff_text([_r("a", b"x\n"), _r("b", b"x\n"), _r("c", b"y\n")], color=True, tty=True)
    assert b"\x1b[31m-x\x1b[0m" in text and b"\x1b[32m+y\x1b[0m" in text


def test_progress_text_counts_eta_and_the_last_hosts_named():
    text = progress_text(200, 150, 3, [f"web{i}" for i in range(1, 51)], 30.0, 200)
    assert text == "hostops: 150/200 done, 3 failed, 50 running, 30.0 s, ETA 10 s"
    last = progress_text(200, 197, 0, ["web07", "web08", "web09"], 40.0, 200)
    assert last.endswith("0 s: waiting for web[07-09]") or "waiting for web[07-09]" in last
    assert len(progress_text(200, 1, 0, ["x"], 1.0, 20)) == 19  # never wraps the terminal


def test_console_status_line_is_cleared_before_any_other_write(capfd):
    console = Console(color=False)
    console.status("hostops: 1/2 done")
    console.out(b"result\n")
    console.status("hostops: 2/2 done")
    console.status(None)
    out, err = capfd.readouterr()
    assert out == "result\n"
    # drawn, cleared before stdout was written, drawn again, cleared at the end
    assert err == "\r\x1b[Khostops: 1/2 done\r\x1b[K\r\x1b[Khostops: 2/2 done\r\x1b[K"
    assert os.isatty(2) is False  # (capfd: not a terminal; the aggregator decides when to draw)


def test_progress_only_on_a_terminal_and_only_for_views_that_do_not_stream(mocker):
    from hostops.fleet.aggregator import _wants_progress
    from hostops.render.console import OutputMode, ViewOptions

    console = Console(color=False)
    console.err_tty, console.out_tty = True, True
    wants = {m: _wants_progress(ViewOptions(mode=m), console) for m in OutputMode}
    assert wants == {
        OutputMode.STREAM: False,
        OutputMode.GATHER: True,
        OutputMode.DIFF: True,
        OutputMode.JSON: False,  # JSON lines on the same terminal: no line under them
        OutputMode.QUIET: True,
    }
    console.out_tty = False
    assert _wants_progress(ViewOptions(mode=OutputMode.JSON), console)  # json to a file
    console.err_tty = False
    assert not any(_wants_progress(ViewOptions(mode=m), console) for m in OutputMode)


def test_max_output_sizes():
    import pytest

    from hostops.cli.values import size as _size
    from hostops.errors import UsageError

    assert [_size(v) for v in ("0", "4096", "512K", "4M", "1.5M", "1G", "2MiB", "3mb")] == [
        0,
        4096,
        512 << 10,
        4 << 20,
        3 << 19,
        1 << 30,
        2 << 20,
        3 << 20,
    ]
    for bad in ("lots", "-1M", "M"):
        with pytest.raises(UsageError, match="--max-output"):
            _size(bad)
