"""Forwarded stdin is spooled as it arrives: the run starts at once, commands that do
not read stdin end even when it never closes (a CI runner's), and commands that read
it get all of it, however late it comes (issue 14)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from held import held, release, started

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import json_results, wait_for


def _hostops(inv: Path, command: str, *options: str, stdin: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hostops", "run", command, "--hosts", str(inv), "-o", "json",
         *options],
        stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_a_stdin_that_never_closes_holds_nothing_up(fleet20: tuple[SshdFleet, Path]) -> None:
    _fleet, inv = fleet20
    read_end, write_end = os.pipe()  # we keep the write end open: no end-of-file, ever
    try:
        proc = _hostops(inv, "echo hi", stdin=read_end)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert proc.returncode == 0, err
    assert {o["stdout"] for o in json_results(out).values()} == {"hi\n"}


def test_stdin_that_comes_late_reaches_every_command_in_full(
    fleet20: tuple[SshdFleet, Path], tmp_path: Path
) -> None:
    _fleet, inv = fleet20
    read_end, write_end = os.pipe()
    try:
        # Every host's command has started (and holds) before any stdin exists.
        proc = _hostops(inv, f"{held(tmp_path)}; cat", "--batch", "10", stdin=read_end)
        assert wait_for(lambda: started(tmp_path) == 10, timeout=60)
        os.write(write_end, b"late\n")
        os.write(write_end, b"and later\n")
    finally:
        os.close(read_end)
        os.close(write_end)
        release(tmp_path)  # once stdin has ended, as a sleep would have outlasted it
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    results = json_results(out)
    # The second batch (started after the end of stdin) replays it from the start.
    assert len(results) == 20
    assert {o["stdout"] for o in results.values()} == {"late\nand later\n"}


def test_n_is_no_stdin(fleet20: tuple[SshdFleet, Path]) -> None:
    _fleet, inv = fleet20
    proc = _hostops(inv, "cat", "-n", stdin=subprocess.PIPE)
    out, err = proc.communicate("not for them", timeout=60)
    assert proc.returncode == 0, err
    assert {o["stdout"] for o in json_results(out).values()} == {""}
