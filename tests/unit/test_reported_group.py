"""How a plain command learns its process group on OpenSSH: the login shell, which sshd
made the leader of a new session, starts a /bin/sh that reports the shell's pid, then
runs the command itself. Checked with the real shells a host may have as login shell
(scripts/test installs tcsh, fish and zsh), each started as sshd starts it: in a new
session, ``SHELL -c COMMAND``."""

from __future__ import annotations

import os
import subprocess
from unittest.mock import MagicMock

import paramiko
import pytest

from hostops.host.ssh._paramiko import leads_groups
from hostops.host.ssh.command import Markers, SshCommand, Sudo, _reported, _runs_something

NONCE = "0badc0de"
SHELLS = ["/bin/sh", "/bin/bash", "/usr/bin/zsh", "/usr/bin/tcsh", "/usr/bin/fish"]


def _as_sshd_starts(shell: str, command: str) -> tuple[subprocess.Popen[bytes], bytes, bytes]:
    proc = subprocess.Popen(
        [shell, "-c", _reported(command, NONCE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    out, err = proc.communicate(timeout=30)
    return proc, out, err


@pytest.mark.parametrize("shell", SHELLS)
def test_the_login_shell_reports_its_own_pid_then_runs_the_command(shell: str) -> None:
    # Each shell's own syntax for a variable, as `ssh host COMMAND` would need it.
    assign = {"/usr/bin/tcsh": "set x = 7", "/usr/bin/fish": "set x 7"}.get(shell, "x=7")
    proc, out, err = _as_sshd_starts(shell, f"{assign}; echo out $x; exit 3")
    assert (proc.returncode, out) == (3, b"out 7\n"), (shell, err)
    assert err == f"\x1ehostops-pgid:{NONCE}:{proc.pid}\n".encode()  # the group's leader
    seen: list[tuple[str, bytes]] = []
    markers = Markers(NONCE, last="pgid", on_marker=lambda k, v: seen.append((k, v)))
    assert markers.feed(err) + markers.flush() == b""  # nothing of it shows
    assert seen == [("pgid", str(proc.pid).encode())]


@pytest.mark.parametrize("shell", SHELLS)
def test_a_background_job_in_the_command_does_not_take_the_report_along(shell: str) -> None:
    """tcsh puts everything before a ``&`` on its line into the background job (a subshell
    of its own): on the same line as such a command, the report would name that subshell."""
    proc, out, err = _as_sshd_starts(shell, "sleep 0.2 & echo fg")
    assert out.endswith(b"fg\n"), (shell, out, err)  # (tcsh also says "[1] PID" first)
    assert err == f"\x1ehostops-pgid:{NONCE}:{proc.pid}\n".encode(), shell


@pytest.mark.parametrize(
    ("shell", "nothing"),
    [
        ("/bin/bash", ""),
        ("/usr/bin/zsh", ""),
        ("/usr/bin/zsh", "# a comment"),
        ("/usr/bin/zsh", "\\\n"),
    ],
)
def test_a_report_left_last_would_tell_the_wrong_pid(shell: str, nothing: str) -> None:
    """Why a command that runs nothing keeps the wrapper: bash and zsh exec the last
    command of ``-c`` themselves, so a report with nothing after it names their parent."""
    _, _, err = _as_sshd_starts(shell, nothing)
    told = int(err.decode().rsplit(":", 1)[1])
    assert told == os.getpid()  # this test: the shell's parent, as sshd would be
    assert not _runs_something(nothing)


def test_which_commands_run_something() -> None:
    for nothing in ("# a comment", "  \n ", "\\\n", "\\\n# a comment", "\n#!/bin/sh\n"):
        assert not _runs_something(nothing), nothing
    for something in ("true # and a comment", "# a comment\ntrue", "echo \\\n hi"):
        assert _runs_something(something), something


@pytest.mark.parametrize(
    ("banner", "expected"),
    [
        ("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", True),
        ("SSH-2.0-OpenSSH_7.4", True),
        ("SSH-2.0-OpenSSH_10.0", True),
        ("SSH-2.0-OpenSSH_for_Windows_8.1", False),  # no process groups there
        ("SSH-2.0-dropbear_2022.83", False),  # its shells share dropbear's group
        ("", False),
    ],
)
def test_which_servers_start_commands_in_a_group_of_their_own(banner: str, expected: bool) -> None:
    transport = MagicMock(spec=paramiko.Transport)
    transport.remote_version = banner
    assert leads_groups(transport) is expected


@pytest.mark.parametrize(
    ("banner", "command", "sudo", "tty", "reported"),
    [
        ("SSH-2.0-OpenSSH_9.2", "uptime", None, False, True),
        ("SSH-2.0-OpenSSH_9.2", "# a comment", None, False, False),
        ("SSH-2.0-OpenSSH_9.2", "uptime", Sudo(None, None), False, False),
        ("SSH-2.0-OpenSSH_9.2", "uptime", None, True, False),
        ("SSH-2.0-dropbear_2022.83", "uptime", None, False, False),
    ],
)
def test_what_is_sent_for_each_server_and_command(
    banner: str, command: str, sudo: Sudo | None, tty: bool, reported: bool
) -> None:
    transport = MagicMock(spec=paramiko.Transport)
    transport.remote_version = banner
    chan = transport.open_session.return_value
    SshCommand(transport, command, sudo=sudo, tty=tty)
    (sent,), _ = chan.exec_command.call_args
    assert sent.startswith("/bin/sh -c 'echo") is reported, sent
    assert sent.endswith(f" >&2'\n{command}") is reported
    assert sent.startswith("exec /bin/sh -c") is not reported  # the wrapper
