"""Nothing written to a terminal is obeyed but hostops's own colours and redraws: C0, C1
(U+0080-U+009F, which VTE and screen obey: CSI U+009B, OSC U+009D) and bidirectional
controls are shown, whatever their source; pipes keep raw output bytes."""

from __future__ import annotations

import os
import re
import threading

import pytest

from hostops.models import HostResult, RunReport, Status
from hostops.render.console import (
    Console,
    StreamRenderer,
    summary_text,
    terminal_safe,
    visible,
    visible_text,
)
from hostops.render.views import diff_text, gather_text, progress_text

CSI_C1 = "\u009b"
OSC_C1 = "\u009d"
RLO = "\u202e"  # right-to-left override
# Each hostile piece: ESC sequences, C1 controls as UTF-8, a lone 8-bit CSI byte, bidi.
HOSTILE = f"a\x1b[2K\x1b]0;t\x07{CSI_C1}2J{OSC_C1}0;t\x9c{RLO}gnp.exe\u2066x\u2069\u200f\u061cz"
HOSTILE_BYTES = HOSTILE.encode() + b"\x9b1A"
# Bytes a terminal would act on: ESC, C0 but tab and newline, DEL, C1 (both forms), bidi.
_OBEYED = re.compile(
    rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|(?<![\xc0-\xff])[\x80-\x9f]"
    rb"|\xe2\x80[\x8e\x8f\xaa-\xae]|\xe2\x81[\xa6-\xa9]|\xd8\x9c"
)
# hostops's own sequences, the only ones allowed on a terminal.
_OWN = re.compile(rb"\x1b\[[0-9;]*[mKJF]|\r(?=\x1b\[K)")


def _obeyed(data: bytes) -> list[bytes]:
    return _OBEYED.findall(_OWN.sub(b"", data))


def test_visible_shows_c0_c1_bidi_and_stray_c1_bytes_and_keeps_the_rest():
    shown = visible(HOSTILE_BYTES)
    assert _obeyed(shown) == [] and b"\x1b" not in shown
    assert shown.startswith(b"a^[[2K^[]0;t^G\\u009b2J\\u009d0;t\\u009c\\u202egnp.exe")
    assert shown.endswith(b"\\u061cz\\x9b1A")
    # Text that needs nothing is returned as it is: UTF-8 (Chinese, accents), tabs,
    # invalid UTF-8 that is no control.
    for fine in ("主机 café €", "a\tb"):
        assert visible(fine.encode()) == fine.encode()
    assert visible(b"\xff\xfe ok") == b"\xff\xfe ok"
    assert visible(b"l1\nl2") == b"l1^Jl2" and visible(b"l1\nl2", newlines=True) == b"l1\nl2"


def test_terminal_safe_keeps_only_hostops_sequences():
    ours = b"\x1b[36mweb01\x1b[0m | x\n\r\x1b[K\x1b[3F\x1b[J"
    assert terminal_safe(ours) == ours
    assert _obeyed(terminal_safe(ours + HOSTILE_BYTES)) == []
    assert terminal_safe(b"\x1b]0;title\x07") == b"^[]0;title^G"


def _result(host: str, out: bytes = b"", **kw: object) -> HostResult:
    return HostResult(host, "127.0.0.1", kw.pop("status", Status.OK), exit_code=0, stdout=out, **kw)


def test_every_view_of_hostile_names_errors_signals_and_output_is_inert_on_a_terminal():
    name = "web" + HOSTILE
    results = [
        _result(name, HOSTILE_BYTES + b"\n"),
        _result("plain", b"x\n"),
        HostResult(
            name + "2",
            "a",
            Status.ERROR,
            signal="KILL" + HOSTILE,
            error="server said " + HOSTILE,
        ),
    ]
    report = RunReport(tuple(results), 1.0)
    texts = [
        gather_text(results, color=True, tty=True),
        gather_text(results, color=False, tty=True),
        diff_text(results, color=True, tty=True),
        summary_text(report, color=True).encode(),
        summary_text(report, color=False).encode(),
        progress_text(3, 1, 0, [name], 1.0, 200).encode(),
    ]
    for text in texts:
        assert _obeyed(text) == [], text
        # no ESC that is not one of hostops's own sequences
        assert b"\x1b" not in _OWN.sub(b"", text), text


def test_console_on_a_terminal_shows_what_callers_did_not_clean(monkeypatch):
    """The last line of defence: the console itself, for any text from any source."""
    master, slave = os.openpty()
    saved = os.dup(1), os.dup(2)
    try:
        os.dup2(slave, 1)
        os.dup2(slave, 2)
        console = Console(threading.Lock(), color=True)
        assert console.out_tty and console.err_tty
        StreamRenderer([name := "h" + HOSTILE], console).lines(name, "stdout", [HOSTILE_BYTES])
        console.message("warning", "host key of " + HOSTILE)
        console.out(("inventory " + HOSTILE + "\x1b[8m\n").encode(), plain=True)
        console.err(b"raw " + HOSTILE_BYTES + b"\n")
        console.status("hostops: 1/2 " + HOSTILE)
        console.status(None)
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(slave)
    data = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    os.close(master)
    data = data.replace(b"\r\n", b"\n")  # the pty's output processing (ONLCR)
    assert _obeyed(data) == [], data
    assert b"inventory a^[[2K" in data and b"^[[8m" in data  # plain: not even colours
    assert data.count(b"\\u202e") >= 5


@pytest.mark.parametrize("tty", [False, True])
def test_pipes_keep_the_raw_output_bytes(tty):
    text = gather_text([_result("h", HOSTILE_BYTES + b"\n")], color=False, tty=tty)
    assert (HOSTILE_BYTES in text) is (not tty)


def test_gather_headers_cannot_be_forged_by_output_on_a_terminal():
    """An output line that copies a header exactly is still not bold (a header is, on a
    terminal, colour or not): the two never look the same."""
    forged = b"---------------\nweb02 (1)\n---------------\nall fine\n"
    real = gather_text([_result("web02", b"ok\n")], color=False, tty=True)
    text = gather_text([_result("web01", forged)], color=False, tty=True)
    lines = text.split(b"\n")
    headers = [line for line in lines if line.startswith(b"\x1b[1m")]
    assert len(headers) == 3 and b"web01 (1)" in headers[1]
    assert b"\x1b[1mweb02 (1)\x1b[0m" in real and b"\x1b[1mweb02 (1)" not in text
    assert visible_text(HOSTILE).count("\\u") == 8
