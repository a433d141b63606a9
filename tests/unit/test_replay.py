"""A recorded run shown again renders as the live view rendered it (``hostops show``)."""

from __future__ import annotations

import dataclasses
import time

import pytest

from hostops.fleet.aggregator import Aggregator, Sinks
from hostops.fleet.events import HostFinished, HostStarted, Output
from hostops.host.base import STDERR, STDOUT
from hostops.models import Host, RunReport, Status
from hostops.render.console import Console, OutputMode, ViewOptions, summary_text
from hostops.render.replay import replay

# Per host: stdout chunks, stderr chunks, status, exit code. Unfinished last lines, a
# line split over chunks, identical and different outputs, a host with no output.
RUNS = {
    "web01": ([b"up 3 days\n", b"load 0.1"], [b"warn"], Status.OK, 0),
    "web02": ([b"up 3 ", b"days\nload 0.1"], [b"warn"], Status.OK, 0),
    "web03": ([b"up 1 day\n"], [], Status.FAILED, 2),
    "db1": ([], [b"no such command\n"], Status.FAILED, 127),
}


def _live(mode: OutputMode) -> RunReport:
    """The aggregator's rendering of RUNS (fed host by host) on fds 1 and 2, and its report."""
    hosts = [Host(n, f"10.0.0.{i}") for i, n in enumerate(RUNS, 1)]
    view = ViewOptions(mode=mode, color=False, progress=False)
    agg = Aggregator(hosts, view, Console(color=False), time.monotonic(), Sinks(1 << 20))
    for name, (out, err, status, code) in RUNS.items():
        agg.handle(HostStarted(name, 1))
        for chunk in out:
            agg.handle(Output(name, STDOUT, chunk))
        for chunk in err:
            agg.handle(Output(name, STDERR, chunk))
        agg.handle(HostFinished(name, status, code, None, 0.5, None if code == 0 else "exit"))
    return dataclasses.replace(agg.report(), duration_s=1.25)


@pytest.mark.parametrize("mode", list(OutputMode))
def test_replay_renders_what_the_live_view_rendered(mode: OutputMode, capfd) -> None:
    report = _live(mode)
    live = capfd.readouterr()
    replay(report, ViewOptions(mode=mode, color=False, progress=False), Console(color=False))
    again = capfd.readouterr()
    assert again.out == live.out
    assert again.err == live.err + summary_text(report, color=False)
    if mode is OutputMode.STREAM:  # a line split over chunks, and unfinished last lines
        assert "web02 | up 3 days\nweb02 | load 0.1\n" in again.out
        assert "web01 ! warn\n" in again.err and "db1   ! no such command\n" in again.err


def test_replay_without_a_mode_renders_nothing(capfd) -> None:
    report = _live(OutputMode.QUIET)
    capfd.readouterr()
    replay(report, ViewOptions(progress=False), Console(color=False))
    assert capfd.readouterr() == ("", "")
