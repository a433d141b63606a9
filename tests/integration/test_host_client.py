"""The single-host layer on its own, against real sshd: hostops.connect / HostClient, as a
script uses it, and the one fleet rule it depends on (Command.sudo None = the run's --sudo)."""

from __future__ import annotations

import socket
import time

import pytest

import hostops
from hostops import Command, HostClient, HostFailure, RunOptions, Status, run_operation
from hostops.host.base import STDOUT
from hostops.testing import SshdFleet


def test_connect_and_run_collects_output_and_status(sshd_fleet: SshdFleet) -> None:
    with hostops.connect(sshd_fleet.host(0)) as client:
        outcome, out, err = client.run("echo out; echo err >&2; exit 3")
        again, out2, _ = client.run("echo second")  # same connection, second command
    assert (outcome.status, outcome.exit_code) == (Status.FAILED, 3)
    assert (out, err) == (b"out\n", b"err\n")
    assert (again.status, out2) == (Status.OK, b"second\n")
    assert again.attempts == 1
    assert not client.connected  # closed by the context manager


def test_perform_streams_to_the_sink_and_reports_a_timeout(sshd_fleet: SshdFleet) -> None:
    seen: list[tuple[str, bytes]] = []
    with HostClient(sshd_fleet.host(1)) as client:
        outcome = client.perform(
            Command("echo before; sleep 30", timeout=1), lambda s, d: seen.append((s, d))
        )
    assert outcome.status is Status.TIMEOUT
    assert (STDOUT, b"before\n") in seen


def test_an_unreachable_host_raises_host_failure_with_its_status(sshd_fleet: SshdFleet) -> None:
    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        host = hostops.Host("closed", "127.0.0.1", port)
        with pytest.raises(HostFailure) as caught:
            hostops.connect(host, options=RunOptions(connect_retries=1))
    assert caught.value.status is Status.UNREACHABLE
    assert caught.value.attempts == 2
    assert caught.value.exit_code == 3


def test_perform_never_raises_for_a_host_failure(sshd_fleet: SshdFleet) -> None:
    host = sshd_fleet.host(2, known_hosts="/dev/null")  # nothing trusted: strict refuses
    outcome = HostClient(host).perform(Command("true"), lambda s, d: None)
    assert outcome.status is Status.HOSTKEY_REJECTED
    assert "unknown host key" in (outcome.error or "")


def test_command_sudo_false_is_honoured_under_the_runs_sudo(sshd_fleet: SshdFleet) -> None:
    """RunOptions(sudo=True) applies to commands that do not say (sudo None) — and never
    to one that says sudo=False (before, False could not opt out)."""
    hosts = [sshd_fleet.host(3)]
    options = RunOptions(sudo=True, sudo_user="nobody")
    as_run = run_operation(hosts, Command("id -un"), options=options)
    opted_out = run_operation(hosts, Command("id -un", sudo=False), options=options)
    assert as_run.results[0].stdout == b"nobody\n"
    assert opted_out.results[0].stdout == f"{sshd_fleet.user}\n".encode()


def test_a_new_connection_tells_how_long_its_first_answer_took(sshd_fleet: SshdFleet) -> None:
    """Once per connection (the adaptive concurrency's distance signal), not per command."""
    heard: list[float] = []
    started = time.monotonic()
    with HostClient(sshd_fleet.host(1), heard=heard.append) as client:
        for _ in range(2):
            assert client.perform(Command("true"), lambda s, d: None).status is Status.OK
    assert len(heard) == 1
    assert 0.0 <= heard[0] < time.monotonic() - started
