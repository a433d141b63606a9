"""How a plain command learns its process group on OpenSSH: the login shell, which sshd
made the leader of a new session, echoes its own pid (fish, which refuses ``$$``: a
/bin/sh reports the shell's pid), then runs the command itself. Checked with the real
shells a host may have as login shell (scripts/test installs tcsh, fish and zsh), each
started as sshd starts it: in a new session, ``SHELL -c COMMAND``."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from unittest.mock import MagicMock

import paramiko
import pytest

from hostops.host.ssh._paramiko import leads_groups
from hostops.host.ssh.command import (
    LoginShell,
    Markers,
    SshCommand,
    Sudo,
    _echo_reported,
    _runs_something,
    _sh_reported,
)

NONCE = "0badc0de"
REPORT = f"\x1ehostops-pgid:{NONCE}:".encode()
FISH = "/usr/bin/fish"
ECHOING = ["/bin/sh", "/bin/bash", "/usr/bin/zsh", "/usr/bin/tcsh"]  # the echo's report
SHELLS = [*ECHOING, FISH]
Form = Callable[[str, str], str]


def _form(shell: str) -> Form:
    """The report that works in ``shell``: fish gets the /bin/sh, once it refused the echo."""
    return _sh_reported if shell == FISH else _echo_reported


def _as_sshd_starts(
    shell: str, command: str, form: Form | None = None
) -> tuple[subprocess.Popen[bytes], bytes, bytes]:
    proc = subprocess.Popen(
        [shell, "-c", (form or _form(shell))(command, NONCE)],
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
    proc, out, err = _as_sshd_starts(shell, f"{assign}; echo out $x; echo err >/dev/stderr; exit 3")
    assert proc.returncode == 3, (shell, err)
    shown = {"out": out, "err": err}
    marked = "err" if shell == FISH else "out"  # /bin/sh's report is on stderr
    assert shown[marked].startswith(REPORT + f"{proc.pid}\n".encode())  # the group's leader
    seen: list[tuple[str, bytes]] = []
    markers = Markers(NONCE, last="pgid", on_marker=lambda k, v: seen.append((k, v)))
    shown[marked] = markers.feed(shown[marked]) + markers.flush()
    assert seen == [("pgid", str(proc.pid).encode())]
    assert shown == {"out": b"out 7\n", "err": b"err\n"}


def test_fish_refuses_the_echo_whole_and_says_so_quoting_it() -> None:
    """What SshCommand._echo_refused looks for: nothing ran (fish parses the whole
    script first), no report on stdout, and the report's line quoted on stderr."""
    _, out, err = _as_sshd_starts(FISH, "echo ran", _echo_reported)
    assert out == b"", err
    assert REPORT + b"$$" in err


@pytest.mark.parametrize("shell", SHELLS)
def test_a_background_job_in_the_command_does_not_take_the_report_along(shell: str) -> None:
    """tcsh puts everything before a ``&`` on its line into the background job (a subshell
    of its own): on the same line as such a command, the report would name that subshell."""
    proc, out, err = _as_sshd_starts(shell, "sleep 0.2 & echo fg")
    assert out.endswith(b"fg\n"), (shell, out, err)  # (tcsh also says "[1] PID" first)
    reported = err if shell == FISH else out
    assert reported.startswith(REPORT + f"{proc.pid}\n".encode()), shell


@pytest.mark.parametrize("shell", ["/bin/bash", "/usr/bin/zsh"])
@pytest.mark.parametrize("nothing", ["", "# a comment", "\\\n"])
def test_the_echo_tells_the_shells_pid_even_with_nothing_after_it(shell: str, nothing: str) -> None:
    """A builtin is not exec'd: unlike /bin/sh's report (below), the echo's needs no
    command after it."""
    proc, out, _ = _as_sshd_starts(shell, nothing, _echo_reported)
    assert out == REPORT + f"{proc.pid}\n".encode()


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
    """Why a command that runs nothing is not given /bin/sh's report: bash and zsh exec
    the last command of ``-c`` themselves, so a report with nothing after it names their
    parent."""
    _, _, err = _as_sshd_starts(shell, nothing, _sh_reported)
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


OPENSSH = "SSH-2.0-OpenSSH_9.2"


@pytest.mark.parametrize(
    ("banner", "command", "kwargs", "form"),
    [
        (OPENSSH, "uptime", {}, "echo"),
        (OPENSSH, "# a comment", {}, "echo"),
        (OPENSSH, "cat", {"stdin": b"data"}, "sh"),  # stdin goes at once: no second try
        (OPENSSH, "# a comment", {"stdin": b"data"}, "wrapper"),
        (OPENSSH, "uptime", {"shell": LoginShell(echoes_pid=False)}, "sh"),  # fish, learnt
        (OPENSSH, "uptime", {"sudo": Sudo(None, None)}, "wrapper"),
        (OPENSSH, "uptime", {"tty": True}, "wrapper"),
        ("SSH-2.0-dropbear_2022.83", "uptime", {}, "wrapper"),
    ],
)
def test_what_is_sent_for_each_server_and_command(
    banner: str, command: str, kwargs: dict[str, object], form: str
) -> None:
    transport = MagicMock(spec=paramiko.Transport)
    transport.remote_version = banner
    chan = transport.open_session.return_value
    SshCommand(transport, command, **kwargs)  # type: ignore[arg-type]
    (sent,), _ = chan.exec_command.call_args
    assert _form_of(sent, command) == form, sent


def _form_of(sent: str, command: str) -> str:
    nonce = sent.split(":")[1] if ":" in sent else ""
    forms = {"echo": _echo_reported(command, nonce), "sh": _sh_reported(command, nonce)}
    named = [name for name, form in forms.items() if sent == form]
    return named[0] if named else "wrapper" if sent.startswith("exec /bin/sh -c") else sent


class _Channel:
    """The little of a paramiko channel that SshCommand.pump reads, fed by the test."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.out, self.err = b"", b""
        self.closed = self.eof_received = self.eof_sent = False
        self.exit_status = -1
        self.status_event = MagicMock()
        self.status_event.is_set.side_effect = lambda: self.exit_status >= 0
        self._fd = os.open(os.devnull, os.O_RDONLY)  # poll() finds it readable at once

    def exec_command(self, command: str) -> None:
        self.sent.append(command)

    def end(self, status: int) -> None:
        self.eof_received, self.exit_status = True, status

    def recv_ready(self) -> bool:
        return bool(self.out)

    def recv_stderr_ready(self) -> bool:
        return bool(self.err)

    def recv(self, n: int) -> bytes:
        data, self.out = self.out, b""
        return data

    def recv_stderr(self, n: int) -> bytes:
        data, self.err = self.err, b""
        return data

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        self.closed = True

    def shutdown_write(self) -> None:
        self.eof_sent = True

    def setblocking(self, flag: bool) -> None:
        pass

    def fileno(self) -> int:
        return self._fd


def _connected(*channels: _Channel) -> MagicMock:
    transport = MagicMock(spec=paramiko.Transport)
    transport.remote_version = OPENSSH
    transport.open_session.side_effect = list(channels)
    return transport


def _report(sent: str, pid: int) -> bytes:
    nonce = sent.split(":")[1]
    return f"\x1ehostops-pgid:{nonce}:{pid}\n".encode()


def test_a_login_shell_that_refuses_the_echo_gets_the_command_again_unheard() -> None:
    """fish's answer to the echo (the real one: see the fish test above) is not shown; the
    command is sent again after /bin/sh's report, as is every later one of the connection."""
    first, second = _Channel(), _Channel()
    shell = LoginShell()
    command = SshCommand(_connected(first, second), "echo ran", shell=shell)
    (line, _) = first.sent[0].split("\n", 1)
    first.err = b"fish: $$ is not the pid. In fish, please use $fish_pid.\n" + line.encode()
    first.end(0)  # fish 3.6 exits 0 after refusing a script
    heard: list[tuple[str, bytes]] = []
    assert command.pump(lambda stream, data: heard.append((stream, data)), 0.0) is False
    assert heard == [] and first.closed and shell.echoes_pid is False
    assert _form_of(second.sent[0], "echo ran") == "sh", second.sent
    command.pump(lambda stream, data: heard.append((stream, data)), 0.0)
    assert second.eof_sent  # a command that reads its stdin is not left waiting
    second.err, second.out = _report(second.sent[0], 4242), b"ran\n"
    second.end(0)
    assert command.pump(lambda stream, data: heard.append((stream, data)), 0.0) is True
    assert heard == [("stdout", b"ran\n")]
    assert command.result() == (0, None)


def test_stderr_waits_for_the_echos_report_then_all_of_it_is_passed_on() -> None:
    chan = _Channel()
    command = SshCommand(_connected(chan), "false")
    heard: list[tuple[str, bytes]] = []
    chan.err = b"an rc file's word\n"
    assert command.pump(lambda stream, data: heard.append((stream, data)), 0.0) is False
    assert heard == []
    chan.out = _report(chan.sent[0], 77) + b"out\n"
    chan.end(1)
    assert command.pump(lambda stream, data: heard.append((stream, data)), 0.0) is True
    assert heard == [("stdout", b"out\n"), ("stderr", b"an rc file's word\n")]
    assert command.result() == (1, None)


def test_a_report_that_never_comes_holds_nothing_back_for_good() -> None:
    """A login shell that ran the command without the report (rbash refusing nothing,
    a shell hostops does not know): every byte still comes out, at the end at the latest."""
    chan = _Channel()
    command = SshCommand(_connected(chan), "true")
    heard: list[tuple[str, bytes]] = []
    chan.out, chan.err = b"out\n", b"err\n"
    chan.end(0)
    assert command.pump(lambda stream, data: heard.append((stream, data)), 0.0) is True
    assert sorted(heard) == [("stderr", b"err\n"), ("stdout", b"out\n")]
