"""A command on an SSH connection: its process group, sudo, forwarded stdin, keepalives, kills."""

from __future__ import annotations

import re
import secrets
import select
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import paramiko

from hostops.credentials import ENV_SUDO_PASSWORD
from hostops.host.base import STDERR, STDOUT, HostFailure, Sink
from hostops.host.ssh._paramiko import exit_signal, leads_groups
from hostops.host.ssh.failures import reason
from hostops.host.ssh.keepalive import Keepalive
from hostops.host.ssh.shell import login_command
from hostops.host.ssh.watchdog import watchdog
from hostops.host.stdin import Feed, Source
from hostops.models import Status

_CHUNK = 65536
_FEED_WAIT_S = 0.01  # first wait for the SSH window to reopen while stdin is being sent
_TICK_MAX_S = 0.5  # and the longest (drive's tick)
# hostops's own lines on a command's stderr: \x1e (record separator) + tag + a nonce per
# command, so they cannot be confused with real output. See Markers.
_MARK = "\x1ehostops-{kind}:{nonce}:"
_MARK_LIMIT = 65536  # output bytes to hold back while looking for the markers
_KILL_WAIT_S = 5.0


@dataclass
class LoginShell:
    """What the commands of one connection learnt of its login shell."""

    # False once it refused the report of :func:`_echo_reported` (fish: ``$$``).
    echoes_pid: bool = True


@dataclass(frozen=True, repr=False)
class Sudo:
    """Run the command with sudo as ``user`` (None: root); ``password`` answers its prompt."""

    user: str | None
    password: str | None

    def __repr__(self) -> str:
        return f"Sudo(user={self.user!r}, password={'<hidden>' if self.password else None})"

    def prefix(self, prompt: str) -> str:
        """``sudo -S -p PROMPT [-u USER] --``: the password is read from stdin, never argv."""
        user = f"-u {shlex.quote(self.user)} " if self.user else ""
        return f"sudo -S -p {shlex.quote(prompt)} {user}--"


class SshCommand:
    """A remote command in its own process group, which hostops can signal as a whole.

    Its process group id is reported first, and a kill is ``kill`` to that group on a
    second channel. On OpenSSH the login shell leads the group (sshd starts every
    session's command in a new session) and runs the command itself, after its own
    ``echo`` of its pid on stdout (see :func:`_echo_reported`); a login shell that
    cannot parse that line (fish) runs nothing, and the command is sent again after a
    ``/bin/sh`` that reports the shell's pid on stderr (:func:`_sh_reported`), as it
    is at once with forwarded stdin. Elsewhere, and with sudo or a terminal, a wrapper
    makes the group and reports it on stderr.

    With ``sudo``, the login shell execs sudo (so the group is still the one
    reported), sudo's password prompt is a marker line that is answered with
    the password over stdin and taken out of stderr, and a last marker says
    that sudo let the command start.

    With ``tty``, the session gets a pseudo-terminal first (as ``ssh -t``), for
    sudoers' ``requiretty`` and tools that insist on a terminal: the command's
    stdout and stderr are then one stream (the terminal), read as stdout, and the
    markers are taken out of it. The terminal's echo and newline translation are
    turned off first, so a sudo password is never echoed and lines end in ``\n``.
    Nothing is sent to its stdin but the sudo password. Kills still go to the
    process group reported (closing the channel also hangs the terminal up).
    """

    def __init__(
        self,
        transport: paramiko.Transport,
        command: str,
        keepalive_s: float = 0.0,
        keepalive_count: int = 0,
        start_timeout: float = 10.0,
        sudo: Sudo | None = None,
        stdin: Source = None,
        tty: bool = False,
        environment: Mapping[str, str] | None = None,
        shell: LoginShell | None = None,
    ) -> None:
        self._transport = transport
        self._tty = tty
        self._command = command
        self._environment = environment
        self._shell = LoginShell() if shell is None else shell
        if tty:
            stdin = None
        # Forwarded stdin, sent as the channel's window allows (see _feed); None once
        # end-of-file was sent. With sudo, only after sudo let the command start.
        self._stdin: Feed | None = Feed(stdin)
        self._feeding = sudo is None
        self._feed_wait = _FEED_WAIT_S
        self._alive = Keepalive(transport, keepalive_s, keepalive_count)
        self._sudo = sudo
        self._start_timeout = start_timeout
        self._begun = time.monotonic()
        self._password_sent = False
        nonce = secrets.token_hex(4)
        self._nonce = nonce
        self._pgid: int | None = None
        # The group is learnt at the start, not asked of sshd at the kill: OpenSSH 7.9+
        # can signal a session's group over its channel, but not once the login shell
        # has exited while its children still hold the output open (sshd then has "no
        # pid for session"), nor on a root login before 10.0. Host CPU per command (see
        # benchmarks/RESULTS.md, "Server cost"): the echo nothing, /bin/sh one program
        # start (~1.4 ms), the wrapper two (~2 ms); the wrapper is for sudo (another
        # user's group), a terminal (stty) and other servers.
        self._markers = Markers(nonce, last="started" if sudo else "pgid", on_marker=self._marker)
        self._chan = self._open(self._sent(stdin))

    def _sent(self, stdin: Source) -> str:
        """What is sent to the host for the command (see the class), and where the
        markers will be: ``_marked``, the stream with them, and ``_other``, the other
        one's bytes held back until the report is in (None: passed on as they come)."""
        command, nonce = self._command, self._nonce
        self._marked = STDOUT if self._tty else STDERR
        self._other: bytes | None = None
        if self._sudo is not None or self._tty or not leads_groups(self._transport):
            return self._wrapped(command, nonce, stdin)
        if not stdin and self._shell.echoes_pid:
            self._marked, self._other = STDOUT, b""
            return _echo_reported(command, nonce)
        if _runs_something(command):
            return _sh_reported(command, nonce)
        return self._wrapped(command, nonce, stdin)

    def _open(self, sent: str) -> paramiko.Channel:
        """A session channel running ``sent``, non-blocking."""
        with watchdog(self._start_timeout, self._transport.close):
            try:
                chan = self._transport.open_session(timeout=self._start_timeout)
                if self._environment:  # SendEnv/SetEnv: "env" requests, before the command
                    chan.update_environment(dict(self._environment))
                if self._tty:
                    chan.get_pty(term="xterm", width=200, height=50)
                chan.exec_command(sent)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise HostFailure(
                    Status.ERROR, f"cannot start the command: {reason(exc)}"
                ) from None
        chan.setblocking(False)
        return chan

    def _wrapped(self, command: str, nonce: str, stdin: Source) -> str:
        """``command`` in the wrapper that reports its process group (and runs sudo)."""
        # The login shell gets only `exec /bin/sh -c ...` (see hostops.host.ssh.shell), which
        # makes its $$ lead a process group of its own (OpenSSH's sessions do; dropbear's
        # do not) and reports it first: that group is the command and all its children.
        report = f'echo "{_MARK.format(kind="pgid", nonce=nonce)}$$" >&2; '
        if self._tty:
            report = "stty -echo -onlcr 2>/dev/null; " + report
        sudo = self._sudo
        if sudo is None:
            # The command itself is the login shell's to run, as `ssh host COMMAND` does.
            script = report + 'exec "${SHELL:-/bin/sh}" -c "$1"'
            return login_command(script, command, own_group=True)
        # No pty: sudo runs the command in its own (our) process group.
        started = _MARK.format(kind="started", nonce=nonce)
        # Without forwarded stdin, the command's is /dev/null: the password went there.
        quiet = "" if stdin or self._tty else "exec </dev/null\n"
        inner = f"printf '{started}\\n' >&2\n{quiet}{command}"
        prompt = _MARK.format(kind="prompt", nonce=nonce) + "\n"
        script = report + f"exec {sudo.prefix(prompt)} /bin/sh -c {shlex.quote(inner)}"
        return login_command(script, own_group=True)

    def _marker(self, kind: str, value: bytes) -> None:
        if kind == "pgid":
            self._pgid = int(value) if value.isdigit() else None
        elif kind == "started":  # sudo let the command start: stdin is the command's now
            self._feeding = True
            self._feed()
        elif kind == "prompt":
            self._answer_sudo()

    def _answer_sudo(self) -> None:
        assert self._sudo is not None
        if self._sudo.password is None:
            raise HostFailure(
                Status.FAILED,
                f"sudo asked for a password: give it with --ask-sudo-pass or {ENV_SUDO_PASSWORD}",
            )
        if self._password_sent:  # sudo asks again only when the password was wrong
            raise HostFailure(
                Status.FAILED,
                f"sudo: wrong password (from --ask-sudo-pass or {ENV_SUDO_PASSWORD})",
            )
        self._password_sent = True
        self._chan.settimeout(_KILL_WAIT_S)
        try:
            self._chan.sendall((self._sudo.password + "\n").encode())
        except (TimeoutError, paramiko.SSHException, EOFError, OSError) as exc:
            raise HostFailure(Status.ERROR, f"cannot answer sudo's prompt: {reason(exc)}") from None
        finally:
            self._chan.setblocking(False)

    def _feed(self) -> None:
        """Send as much forwarded stdin as the window takes now, then end-of-file (at
        once when there is none: a command that reads stdin sees EOF, not a hang).
        Never blocks: a command that does not read its stdin must not hold us."""
        if self._stdin is None or not self._feeding:
            return
        sent = False
        try:
            while (chunk := self._stdin.next()) and self._chan.send_ready():
                self._stdin.sent(self._chan.send(bytes(chunk[:_CHUNK])))
                sent = True
            # paramiko has no descriptor that wakes us when the window reopens (nor does
            # a growing spool): look again soon while data moves, less and less often
            # while it does not.
            self._feed_wait = _FEED_WAIT_S if sent else min(2 * self._feed_wait, _TICK_MAX_S)
            if chunk is None:
                self._chan.shutdown_write()
                self._stdin = None
        except (TimeoutError, paramiko.SSHException, EOFError, OSError):
            if self._stdin is not None:
                self._stdin.close()
            self._stdin = None  # the channel is going: pump sees it closed

    def pump(self, sink: Sink, wait_s: float) -> bool:
        self._feed()
        if self._stdin is not None:
            wait_s = min(wait_s, self._feed_wait)
        chan = self._chan
        if chan.eof_received:
            # After EOF the channel's pipe stays readable for good: select() would
            # spin until the exit status arrives, so wait on the status itself.
            chan.status_event.wait(wait_s)
        elif not (chan.recv_ready() or chan.recv_stderr_ready() or chan.closed):
            # poll, not select: select() fails on descriptors past 1024 (big fan-outs).
            waiter = select.poll()
            waiter.register(chan.fileno(), select.POLLIN)
            waiter.poll(wait_s * 1000)
        got = False
        while chan.recv_ready():
            self._take(sink, STDOUT, chan.recv(_CHUNK))
            got = True
        while chan.recv_stderr_ready():
            self._take(sink, STDERR, chan.recv_stderr(_CHUNK))
            got = True
        if got or chan.status_event.is_set():
            self._alive.heard()
        self._alive.check(self.signal_group)
        # Ended: exit status (or signal) and EOF both in, or the channel closed
        # (which is also how a lost connection shows).
        ended = chan.closed or (chan.eof_received and chan.status_event.is_set())
        if ended and not (chan.recv_ready() or chan.recv_stderr_ready()):
            if self._echo_refused():
                self._send_again()
                return False
            rest = self._markers.flush()
            if rest:
                sink(self._marked, rest)
            if self._other:
                sink(STDERR, self._other)
            # Now, not when the collector finds it: the channel's pipe pair (poll) is
            # closed only by close(), and at hundreds of sessions the fds add up.
            chan.close()
            return True
        if (
            self._sudo is not None
            and not self._markers.done
            and time.monotonic() - self._begun > self._start_timeout
        ):
            # A prompt hostops did not recognise (sudoers' passprompt_override?) would
            # otherwise wait for a password until --timeout, or forever.
            raise HostFailure(
                Status.FAILED, f"sudo did not start the command within {self._start_timeout:g} s"
            )
        return False

    def _take(self, sink: Sink, stream: str, data: bytes) -> None:
        """Pass on what ``data`` has of the command's own output. With the echo's report
        (on stdout), stderr is held back until the report is in: a login shell that
        refused the report (see _echo_refused) must not be heard."""
        if stream == self._marked:
            data = self._markers.feed(data)
            if data:
                sink(stream, data)
            if self._markers.done and self._other is not None:
                held, self._other = self._other, None
                if held:
                    sink(STDERR, held)
            return
        if self._other is not None:
            self._other += data
            if len(self._other) < _MARK_LIMIT:
                return
            data, self._other = self._other, None
        if data:
            sink(stream, data)

    def _echo_refused(self) -> bool:
        """Whether the login shell ran nothing because it could not parse the report of
        :func:`_echo_reported`: no report came, and stderr (all of it still held) quotes
        the report's line, as fish does (``$$ is not the pid``) for a script it refuses
        whole. Other shells run a script line by line, and every one of them reports."""
        tag = _MARK.format(kind="pgid", nonce=self._nonce).encode()
        return self._other is not None and not self._markers.done and tag in self._other

    def _send_again(self) -> None:
        """The command again, on a new channel, after a /bin/sh's report (or in the
        wrapper), and so every later command of the connection."""
        self._shell.echoes_pid = False
        self._chan.close()
        self._stdin = Feed(None)  # end-of-file for the new channel (the echo had no stdin)
        self._markers = Markers(self._nonce, last="pgid", on_marker=self._marker)
        self._chan = self._open(self._sent(None))

    def signal_group(self, name: str, wait_s: float | None = None) -> bool:
        wait_s = _KILL_WAIT_S if wait_s is None else wait_s
        if not self._transport.is_active() or self._pgid is None:
            self._chan.close()  # all that can be done; the command may live on
            return False
        kill = _session_kill(name, self._pgid)
        if self._sudo is not None:  # the command runs as another user: so must its kill
            kill = f"exec {self._sudo.prefix('')} /bin/sh -c {shlex.quote(kill)}"
        kill = login_command(f"{kill} 2>/dev/null")  # a login shell's own kill may differ
        killer = None
        deadline = time.monotonic() + wait_s
        try:
            killer = self._transport.open_session(timeout=wait_s)
            killer.settimeout(wait_s)
            killer.exec_command(kill)
            if self._sudo is not None and self._sudo.password is not None:
                killer.sendall((self._sudo.password + "\n").encode())  # kill never reads it
            killer.shutdown_write()
            # Bounded: a host that stops answering now must not hold this thread.
            left = max(0.0, deadline - time.monotonic())
            return killer.status_event.wait(left) and killer.exit_status == 0
        except (TimeoutError, paramiko.SSHException, EOFError, OSError):
            self._chan.close()
            return False
        finally:
            if killer is not None:
                killer.close()

    def result(self) -> tuple[int | None, str | None]:
        sig = exit_signal(self._chan)
        if sig:
            return None, sig
        status = self._chan.exit_status
        return (status, None) if status >= 0 else (None, None)

    def lost(self) -> str | None:
        if self._chan.exit_status >= 0 or exit_signal(self._chan):
            return None
        return "connection lost before the command finished"


def _session_kill(name: str, leader: int) -> str:
    """A sh script that sends signal ``name`` to the process group ``leader`` and to every
    other group of the session it leads, and succeeds if any signal was sent. The command's
    session is all of it (sshd, or the wrapper's setsid, made it), but not always one
    group: tcsh and csh put each background job in a group of its own, even without a
    terminal. ``ps -A -o sid= -o pgid=`` (``sid`` is no POSIX keyword, but Linux's and
    FreeBSD's ps have it); where it fails, the leader's group alone."""
    return (
        f"s={leader}; ok=1; kill -s {name} -- -$s 2>/dev/null && ok=0; "
        "for g in $(ps -A -o sid= -o pgid= 2>/dev/null"
        " | awk -v s=$s '$1 == s && $2 != s && !seen[$2]++ {print $2}'); do "
        f"kill -s {name} -- -$g 2>/dev/null && ok=0; done; exit $ok"
    )


def _runs_something(command: str) -> bool:
    """Whether some line of ``command`` runs something after the report of
    :func:`_sh_reported`: bash and zsh exec the last command of their ``-c`` string
    themselves, and a /bin/sh left last (an empty command, only comments, a lone line
    continuation) would tell the pid of sshd, its parent. (A builtin's report, as
    :func:`_echo_reported`'s, cannot be exec'd.)"""
    joined = re.sub(r"\\\r?\n", "", command)  # line continuations
    return any(line.strip() and not line.strip().startswith("#") for line in joined.splitlines())


def _echo_reported(command: str, nonce: str) -> str:
    """``command`` for an OpenSSH login shell, after a line on which the shell itself
    reports its pid on stdout: sshd made the login shell lead a session and process
    group of its own, so that group is the command and all its children, as in the
    wrapper, and the login shell runs the command itself, as `ssh host COMMAND` has it
    do. ``echo`` is a builtin and ``$$`` the shell's own pid in sh, bash, zsh, ksh, csh
    and tcsh alike, so the report starts no program on the host; stdout, as csh and
    tcsh cannot send one line to stderr alone. fish refuses ``$$`` and with it the
    whole script: see SshCommand._echo_refused. A line of its own, not ``;``: csh and
    tcsh put everything before a ``&`` on the same line into that background job (a
    subshell, whose ``$$`` is still the shell's, but whose output would wait for it)."""
    return f'echo "{_MARK.format(kind="pgid", nonce=nonce)}$$"\n{command}'


def _sh_reported(command: str, nonce: str) -> str:
    """``command`` for an OpenSSH login shell, after a line on which a ``/bin/sh``
    reports the shell's pid on stderr, for login shells that refuse the line of
    :func:`_echo_reported` (fish) and for commands with forwarded stdin (which is
    sent at once, so the command must not be sent twice). ``/bin/sh -c 'WORD'`` reads
    the same in every login shell (tcsh and fish too), as the WORD has no ``!``,
    backslash, newline or single quote (see hostops.host.ssh.shell). A line of its
    own, not ``;``: csh and tcsh put everything before a ``&`` on the same line into
    that background job, whose subshell would then be the report's parent."""
    report = f'echo "{_MARK.format(kind="pgid", nonce=nonce)}$PPID" >&2'
    return f"/bin/sh -c {shlex.quote(report)}\n{command}"


class Markers:
    """Takes hostops's own lines (``\\x1ehostops-KIND:NONCE:VALUE\\n``) out of a command's
    output, wherever they are and however the packets split them, and reports each one.

    Everything is held back until the ``last`` kind of marker has been seen,
    so that a marker cut across packets is still recognised and never shown;
    at most ``_MARK_LIMIT`` bytes are held (then the rest passes as it is).
    """

    _KINDS = ("pgid", "prompt", "started")

    def __init__(self, nonce: str, last: str, on_marker: Callable[[str, bytes], None]) -> None:
        self._tags = {k: _MARK.format(kind=k, nonce=nonce).encode() for k in self._KINDS}
        self._last = last
        self._on_marker = on_marker
        self._held = b""
        self.done = False  # the last marker was seen (or too much came before it)

    def feed(self, data: bytes) -> bytes:
        """The stderr bytes that may be passed on now."""
        if self.done:
            return data
        self._held += data
        while not self.done:
            found = [(self._held.find(tag), kind) for kind, tag in self._tags.items()]
            at, kind = min(((i, k) for i, k in found if i >= 0), default=(-1, ""))
            if at < 0:
                break
            end = self._held.find(b"\n", at)
            if end < 0:
                return b""  # the rest of the marker is still on its way
            value = self._held[at + len(self._tags[kind]) : end]
            self._held = self._held[:at] + self._held[end + 1 :]
            self.done = kind == self._last
            self._on_marker(kind, value)
        if not self.done and len(self._held) < _MARK_LIMIT:
            return b""
        self.done = True
        return self.flush()

    def flush(self) -> bytes:
        """What is held back, when the command has ended."""
        held, self._held = self._held, b""
        return held
