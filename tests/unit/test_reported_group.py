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
from hostops.host.ssh.command import Markers, SshCommand, Sudo, _ends_in_a_command, _reported

NONCE = "0badc0de"
SHELLS = ["/bin/sh", "/bin/bash", "/usr/bin/zsh", "/usr/bin/tcsh", "/usr/bin/fish"]


@pytest.mark.parametrize("shell", SHELLS)
def test_the_login_shell_reports_its_own_pid_then_runs_the_command(shell: str) -> None:
    # Each shell's own syntax for a variable, as `ssh host COMMAND` would need it.
    assign = {"/usr/bin/tcsh": "set x = 7", "/usr/bin/fish": "set x 7"}.get(shell, "x=7")
    proc = subprocess.Popen(
        [shell, "-c", _reported(f"{assign}; echo out $x; exit 3", NONCE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out) == (3, b"out 7\n"), (shell, err)
    assert err == f"\x1ehostops-pgid:{NONCE}:{proc.pid}\n".encode()  # the group's leader
    seen: list[tuple[str, bytes]] = []
    markers = Markers(NONCE, last="pgid", on_marker=lambda k, v: seen.append((k, v)))
    assert markers.feed(err) + markers.flush() == b""  # nothing of it shows
    assert seen == [("pgid", str(proc.pid).encode())]


@pytest.mark.parametrize("shell", ["/bin/bash", "/usr/bin/zsh"])
def test_a_report_left_last_would_tell_the_wrong_pid(shell: str) -> None:
    """Why a blank or comment-only command keeps the wrapper: bash and zsh exec the last
    command of ``-c`` themselves, so a report with nothing after it names their parent."""
    done = subprocess.run(
        [shell, "-c", _reported("# only a comment", NONCE)],
        check=False,
        capture_output=True,
        start_new_session=True,
        timeout=30,
    )
    told = int(done.stderr.decode().rsplit(":", 1)[1])
    assert told == os.getpid()  # this test: the shell's parent, as sshd would be
    assert not _ends_in_a_command("# only a comment")
    assert not _ends_in_a_command("  \n ")
    assert _ends_in_a_command("true # and a comment")


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
    assert sent.endswith(f"; {command}") is reported
    assert sent.startswith("exec /bin/sh -c") is not reported  # the wrapper
