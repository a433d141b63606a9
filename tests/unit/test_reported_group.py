"""How a plain command learns its process group on OpenSSH: the login shell, which sshd
made the leader of a new session, reports its own pid on two lines before the command
(its builtin echo on stdout; fish: a /bin/sh on stderr), then runs the command itself.
Checked with the real shells a host may have as login shell (scripts/test installs
them), each started as sshd starts it (in a new session, ``SHELL -c COMMAND``), its
output read by SshCommand as if it came over the channel."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from unittest.mock import MagicMock

import paramiko
import pytest

from hostops.host.ssh._paramiko import leads_groups
from hostops.host.ssh.command import SshCommand, Sudo

OPENSSH = "SSH-2.0-OpenSSH_9.2"
FISH = "/usr/bin/fish"
# [argv0 ...]: busybox is its ash when told so.
SHELLS = {
    "sh": ["/bin/sh"],
    "bash": ["/bin/bash"],
    "rbash": ["/bin/rbash"],
    "zsh": ["/usr/bin/zsh"],
    "ksh": ["/bin/ksh"],
    "mksh": ["/bin/mksh"],
    "ash": ["/bin/busybox", "ash"],
    "tcsh": ["/usr/bin/tcsh"],
    "csh": ["/usr/bin/bsd-csh"],
    "fish": [FISH],
}


class _Buffer:
    """A paramiko channel's buffer, as SshCommand waits on it: always readable."""

    def set_event(self, event: threading.Event) -> None:
        event.set()


class _Channel:
    """The little of a paramiko channel that SshCommand.pump reads, fed by the test."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.out, self.err = b"", b""
        self.closed = self.eof_received = False
        self.exit_status = -1
        self.status_event = MagicMock()
        self.status_event.is_set.side_effect = lambda: self.exit_status >= 0
        self.in_buffer = self.in_stderr_buffer = _Buffer()

    def exec_command(self, command: str) -> None:
        self.sent.append(command)

    def end(self, status: int) -> None:
        self.eof_received, self.exit_status = True, status

    def recv_ready(self) -> bool:
        return bool(self.out)

    def recv_stderr_ready(self) -> bool:
        return bool(self.err)

    def recv(self, n: int) -> bytes:
        data, self.out = self.out[:n], self.out[n:]
        return data

    def recv_stderr(self, n: int) -> bytes:
        data, self.err = self.err[:n], self.err[n:]
        return data

    def close(self) -> None:
        self.closed = True

    def shutdown_write(self) -> None:
        pass

    def get_pty(self, **size: object) -> None:
        pass

    def setblocking(self, flag: bool) -> None:
        pass


def _started(command: str, banner: str = OPENSSH, **kwargs: object) -> tuple[SshCommand, _Channel]:
    chan = _Channel()
    transport = MagicMock(spec=paramiko.Transport)
    transport.remote_version = banner
    transport.open_session.return_value = chan
    return SshCommand(transport, command, **kwargs), chan  # type: ignore[arg-type]


Heard = list[tuple[str, bytes]]


def _pumped(cmd: SshCommand) -> Heard:
    heard: Heard = []
    cmd.pump(lambda stream, data: heard.append((stream, data)), 0.0)
    return heard


def _shown(heard: Heard, stream: str) -> bytes:
    return b"".join(data for s, data in heard if s == stream)


def _as_sshd_starts(
    shell: list[str], command: str, home: Path | None = None
) -> tuple[int, int, SshCommand, Heard]:
    """``command`` as hostops sends it, run by ``shell`` (its argv) as sshd starts it (with
    ``home``'s start-up files), and read back by SshCommand: the shell's pid and exit
    status, the SshCommand, what it passed on."""
    cmd, chan = _started(command)
    env = None if home is None else {**os.environ, "HOME": str(home), "ZDOTDIR": str(home)}
    proc = subprocess.Popen(
        [*shell, "-c", chan.sent[0]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=env,
    )
    chan.out, chan.err = proc.communicate(timeout=30)
    chan.end(proc.returncode)
    heard = _pumped(cmd)
    assert chan.closed, "the command should have ended"
    return proc.pid, proc.returncode, cmd, heard


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_the_login_shell_reports_its_own_pid_then_runs_the_command(shell: str) -> None:
    # Each shell's own syntax for a variable, as `ssh host COMMAND` would need it.
    assign = {"tcsh": "set x = 7", "csh": "set x = 7", "fish": "set x 7"}.get(shell, "x=7")
    err = "" if shell == "rbash" else "echo err >/dev/stderr; "  # rbash redirects nothing
    pid, status, cmd, heard = _as_sshd_starts(SHELLS[shell], f"{assign}; echo out $x; {err}exit 3")
    assert cmd._pgid == pid  # the group's leader: the login shell itself
    shown = (status, _shown(heard, "stdout"), _shown(heard, "stderr"))
    assert shown == (3, b"out 7\n", b"err\n" if err else b""), shell


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_a_background_job_in_the_command_does_not_take_the_report_along(shell: str) -> None:
    """tcsh puts everything before a ``&`` on its line into the background job (a subshell
    of its own): the report's lines are lines of their own."""
    pid, _, cmd, heard = _as_sshd_starts(SHELLS[shell], "sleep 0.2 & echo fg")
    assert _shown(heard, "stdout").endswith(b"fg\n"), heard  # (tcsh says "[1] PID" first)
    assert cmd._pgid == pid, shell


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
@pytest.mark.parametrize("nothing", ["", "# a comment", "\\\n"])
def test_a_command_that_runs_nothing_still_tells_the_shells_pid(shell: str, nothing: str) -> None:
    """bash and zsh exec the last command of ``-c`` themselves: a program left last would
    tell sshd's pid. The echo is a builtin (line 2 a comment), and fish execs nothing."""
    pid, status, cmd, heard = _as_sshd_starts(SHELLS[shell], nothing)
    assert (cmd._pgid, status, heard) == (pid, 0, [])


@pytest.mark.parametrize(
    ("shell", "rc"), [("zsh", ".zshenv"), ("tcsh", ".tcshrc"), ("csh", ".cshrc")]
)
def test_an_echo_alias_of_the_users_does_not_touch_the_report(
    shell: str, rc: str, tmp_path: Path
) -> None:
    alias = "alias echo='echo -n A:'" if shell == "zsh" else "alias echo 'echo -n A:'"
    (tmp_path / rc).write_text(alias + "\n")
    pid, _, cmd, heard = _as_sshd_starts(SHELLS[shell], "echo hi", home=tmp_path)
    assert (cmd._pgid, heard) == (pid, [("stdout", b"A: hi")])  # the alias is the user's


def test_elvish_runs_the_command_without_a_group_to_kill() -> None:
    """elvish (no ``$$``) echoes the report without a pid: the command runs, nothing of
    the report shows, and a kill will say the host did not confirm it."""
    _, status, cmd, heard = _as_sshd_starts(["/usr/bin/elvish"], "echo out; exit 3")
    assert (cmd._pgid, status, heard) == (None, 3, [("stdout", b"out\n")])


@pytest.mark.parametrize(
    ("banner", "command", "kwargs", "reported"),
    [
        (OPENSSH, "uptime", {}, True),
        (OPENSSH, "# a comment", {}, True),
        (OPENSSH, "cat", {"stdin": b"data"}, True),
        (OPENSSH, "uptime", {"sudo": Sudo(None, None)}, False),
        (OPENSSH, "uptime", {"tty": True}, False),
        ("SSH-2.0-dropbear_2022.83", "uptime", {}, False),
    ],
)
def test_what_is_sent_for_each_server_and_command(
    banner: str, command: str, kwargs: dict[str, object], reported: bool
) -> None:
    _, chan = _started(command, banner, **kwargs)
    (sent,) = chan.sent
    assert sent.startswith("'echo' '\x1ehostops-pgid:") is reported, sent
    assert sent.endswith(f" >&2'\n{command}") is reported
    assert sent.startswith("exec /bin/sh -c") is not reported  # the wrapper


def test_output_before_the_report_streams_and_a_late_report_still_counts() -> None:
    """A start-up file that prints, then takes its time (conda, nvm, an NFS home): what it
    printed is passed on at once, and the report that follows is still taken out."""
    cmd, chan = _started("false")
    tag = chan.sent[0].split("'")[3].rstrip("\\")
    chan.out, chan.err = b"banner\n", b"an rc file's word\n"
    assert _pumped(cmd) == [("stdout", b"banner\n"), ("stderr", b"an rc file's word\n")]
    chan.out = f"{tag}\\ 77 #\nout\n".encode()
    chan.end(1)
    assert _pumped(cmd) == [("stdout", b"out\n")]
    assert cmd._pgid == 77 and cmd.result() == (1, None)


def test_sudos_started_marker_is_taken_out_after_the_commands_first_output() -> None:
    """The command's first stdout is read before the stderr that says sudo started it
    (both arrived between two reads): "started" is still taken out, not shown."""
    cmd, chan = _started("id -un", sudo=Sudo(None, None))
    nonce = chan.sent[0].split("hostops-pgid:")[1].split(":")[0]
    chan.err = f"\x1ehostops-pgid:{nonce}:4242\n".encode()
    assert _pumped(cmd) == []
    chan.out, chan.err = b"root\n", f"\x1ehostops-started:{nonce}:\n".encode()
    chan.end(0)
    assert _pumped(cmd) == [("stdout", b"root\n")]
    assert cmd._pgid == 4242 and cmd.result() == (0, None)


def test_output_of_what_never_reports_streams_as_it_comes() -> None:
    """What runs instead of the command (an authorized_keys command=, a ForceCommand)."""
    cmd, chan = _started("uptime")
    chan.out, chan.err = b"backup started\n", b"ignored: uptime\n"
    assert _pumped(cmd) == [("stdout", b"backup started\n"), ("stderr", b"ignored: uptime\n")]
    chan.out = b"backup done\n"
    assert _pumped(cmd) == [("stdout", b"backup done\n")]
    assert cmd._pgid is None


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
