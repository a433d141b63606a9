"""The runner's framing (hostops.host.ssh.runner_program): frames cut anywhere in the
stream come out whole, and the real program, started with pipes as the runner's session,
answers them as hostops's client expects (on every Python that can run it here)."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import paramiko
import pytest
from old_python import OLDEST
from pytest_mock import MockerFixture

from hostops.host.base import HostFailure
from hostops.host.ssh import runner_program as program
from hostops.host.ssh.runner import Runner, RunnerCommand, RunnerGone, argv
from hostops.testing.pytest_plugin import blocked_writing_to_a_pipe, wait_for

FRAMES = [
    (program.STDOUT, b"hello\n"),
    (program.EXIT, b""),
    (program.STDERR, bytes(range(256)) * 300),
    (program.PGID, b"12345"),
]


def test_frames_split_at_every_byte_come_out_whole() -> None:
    stream = b"".join(program.frame(kind, payload) for kind, payload in FRAMES)
    for cut in range(0, len(stream), 97):
        reader = program.FrameReader()
        got = reader.feed(stream[:cut]) + reader.feed(stream[cut:])
        assert got == FRAMES
        assert not reader.partial()
    reader = program.FrameReader()
    got = [f for byte in range(len(stream[:400])) for f in reader.feed(stream[byte : byte + 1])]
    assert got == FRAMES[:2]
    assert reader.partial()  # the third is still coming


def test_a_frame_too_big_is_a_broken_stream() -> None:
    with pytest.raises(ValueError, match="out of step"):
        program.FrameReader().feed(program.HEADER.pack(b"O", program.MAX_PAYLOAD + 1))


@pytest.mark.parametrize(
    ("number", "name"),
    [(signal.SIGTERM, "TERM"), (signal.SIGKILL, "KILL"), (signal.SIGCHLD, "SIG@openssh.com")],
)
def test_signal_names_are_sshds(number: int, name: str) -> None:
    assert program.signal_name(number) == name


class _Session:
    """The program started as hostops starts it (the bootstrap, then its source on
    stdin), with pipes in place of the SSH session."""

    def __init__(self, python: str, shell: str = "/bin/sh") -> None:
        source = Path(program.__file__).read_bytes()
        self.proc = subprocess.Popen(
            argv(python, len(source)),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "SHELL": shell},
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(source)
        self.proc.stdin.flush()
        self.reader = program.FrameReader()
        self.frames: list[tuple[bytes, bytes]] = []

    def send(self, kind: bytes, payload: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(program.frame(kind, payload))
        self.proc.stdin.flush()

    def until(self, kind: bytes) -> list[tuple[bytes, bytes]]:
        """Frames read up to and with the first of ``kind``."""
        assert self.proc.stdout is not None
        while not any(k == kind for k, _ in self.frames):
            data = os.read(self.proc.stdout.fileno(), 65536)
            assert data, self.proc.stderr.read() if self.proc.stderr else "ended"
            self.frames += self.reader.feed(data)
        at = next(i for i, (k, _) in enumerate(self.frames) if k == kind) + 1
        got, self.frames = self.frames[:at], self.frames[at:]
        return got

    def run(self, command: bytes) -> tuple[int, bytes, bytes, bytes]:
        self.send(program.COMMAND, command)
        got = self.until(program.EXIT)
        assert got[0][0] == program.PGID
        out = b"".join(p for k, p in got if k == program.STDOUT)
        err = b"".join(p for k, p in got if k == program.STDERR)
        return int(got[0][1]), out, err, got[-1][1]

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(timeout=10) == 0


@pytest.fixture(params=sorted({sys.executable, OLDEST}))
def session(request: pytest.FixtureRequest) -> _Session:
    return _Session(request.param)


def test_the_program_is_python_3_6_grammar() -> None:
    source = Path(program.__file__).read_text()
    tree = ast.parse(source, feature_version=(3, 6))  # SyntaxError on anything newer
    futures = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "__future__"
        for alias in node.names
    ]
    assert "annotations" not in futures  # Python 3.7+


def test_the_program_runs_commands_as_an_exec_channel(session: _Session) -> None:
    assert session.until(program.READY)[0][0] == program.READY
    pgid, out, err, end = session.run(b"echo out; echo err >&2; ps -o pgid= -p $$; exit 3")
    assert (out.split()[0], err, end) == (b"out", b"err\n", b"exit 3")
    assert int(out.split()[1]) == pgid  # its own process group, reported first
    _, out, _, end = session.run(b"printf 'no newline'; kill -TERM $$")
    assert (out, end) == (b"no newline", b"signal TERM")
    _, out, _, end = session.run(b"(sleep 0.3; echo late) & echo early")
    assert (out, end) == (b"early\nlate\n", b"exit 0")
    _, out, _, _ = session.run(b"cat; head -c 300000 /dev/zero | wc -c")
    assert out == b"300000\n"
    session.close()


def test_a_kill_frame_signals_the_whole_group(session: _Session) -> None:
    session.until(program.READY)
    session.send(program.COMMAND, b"sleep 60 & echo $!; wait")
    pgid = int(session.until(program.PGID)[-1][1])
    child = int(session.until(program.STDOUT)[-1][1])
    session.send(program.KILL, b"TERM %d" % pgid)
    assert session.until(program.KILLED)[-1][1] == b"1"
    assert session.until(program.EXIT)[-1][1] == b"signal TERM"
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the background sleep outlived its group's TERM"
    for group in (b"0", b"1", b"-5", b"999999999"):  # none the runner may (or can) signal
        session.send(program.KILL, b"TERM " + group)
        assert session.until(program.KILLED)[-1][1] == b"0"
    session.close()


def test_output_is_gathered_but_never_held_for_the_exit(session: _Session) -> None:
    """Frames wait a few ms to leave together (a short command's process group, output
    and exit in one write), never longer: a command that prints and then runs on gets
    its output to the client while it runs, and a kill is answered at once."""
    session.until(program.READY)
    session.send(program.COMMAND, b"echo first; exec sleep 60")
    got = session.until(program.STDOUT)
    assert [k for k, _ in got] == [program.PGID, program.STDOUT]
    assert got[-1][1] == b"first\n"  # the exit is a minute away: nothing waited for it
    session.send(program.KILL, b"KILL %d" % int(got[0][1]))
    assert session.until(program.KILLED)[-1][1] == b"1"
    assert session.until(program.EXIT)[-1][1] == b"signal KILL"
    _, out, err, end = session.run(b"echo a; echo b >&2")
    assert (out, err, end) == (b"a\n", b"b\n", b"exit 0")
    session.close()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_unread_output_blocks_the_command_and_kills_still_work(session: _Session) -> None:
    """Flow control: while nobody reads the session, the runner stops reading the
    command's pipes (the command blocks writing, as behind a full SSH window) instead of
    buffering without end, and still reads and answers a kill."""
    session.until(program.READY)
    session.send(program.COMMAND, b"exec yes")
    pgid = int(session.until(program.PGID)[-1][1])
    assert wait_for(lambda: blocked_writing_to_a_pipe(pgid), timeout=20)
    session.send(program.KILL, b"KILL %d" % pgid)
    got = session.until(program.EXIT)
    assert (program.KILLED, b"1") in got
    assert got[-1] == (program.EXIT, b"signal KILL")
    held = sum(len(p) for k, p in got if k == program.STDOUT)
    assert held < 4 * 1024 * 1024  # what the pipes and the runner's bound hold, no more
    session.close()


def test_a_shell_that_cannot_run_is_exit_127_with_its_reason() -> None:
    session = _Session(sys.executable, shell="/nonexistent/sh")
    session.until(program.READY)
    _, out, err, end = session.run(b"echo never")
    assert (out, end) == (b"", b"exit 127")
    assert err == b"hostops runner: /nonexistent/sh: No such file or directory\n"
    session.close()


def test_no_thread_for_a_runner_leaves_it_for_the_next_parking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    runner = Runner(object(), "python3", {}, 1.0)  # type: ignore[arg-type]  # never used
    assert runner.describe() == "gone" and not runner.unavailable
    assert not runner.wanted({})  # so the next parking starts another


def test_a_silent_runner_fails_the_host_and_never_hands_the_command_on(
    mocker: MockerFixture,
) -> None:
    # The command frame went out and no process group came back in time: it may have
    # started, so it must not fall back to an exec channel (RunnerGone) and run twice.
    runner = mocker.Mock(reader=program.FrameReader())
    chan = mocker.Mock()
    chan.recv.side_effect = TimeoutError
    with pytest.raises(HostFailure, match="not run again"):
        RunnerCommand(runner, chan, mocker.Mock(), "true", 0.0, 0, 0.5)
    chan.sendall.assert_called_once()
    runner.close.assert_called_once()
    chan.recv.side_effect = [b""]  # the runner's channel ended instead: nothing started
    with pytest.raises(RunnerGone):
        RunnerCommand(runner, chan, mocker.Mock(), "true", 0.0, 0, 0.5)


def test_a_runner_whose_channel_closes_as_it_is_sent_says_the_hosts_reason(
    mocker: MockerFixture,
) -> None:
    """The shell fails to start Python and the channel closes while the program is still
    being sent: the reason is the shell's words on stderr, not the send's "Socket is
    closed" (whichever came first, hostops persist said one or the other)."""
    chan = mocker.Mock(spec=paramiko.Channel)
    chan.sendall.side_effect = OSError("Socket is closed")
    said = [b"hostops: 1: exec: /nonexistent/python3: not found\n"]
    chan.recv_stderr_ready.side_effect = lambda: bool(said)
    chan.recv_stderr.side_effect = lambda n: said.pop()
    transport = mocker.Mock(spec=paramiko.Transport)
    transport.open_session.return_value = chan
    runner = Runner(transport, "/nonexistent/python3", {}, 5.0)
    assert wait_for(lambda: runner.unavailable)
    assert runner.describe() == "unavailable: hostops: 1: exec: /nonexistent/python3: not found"
    chan.close.assert_called()
