"""A command on an SSH connection: its process group, sudo, forwarded stdin, keepalives, kills."""

from __future__ import annotations

import secrets
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import paramiko

from hostops.credentials import ENV_SUDO_PASSWORD
from hostops.host.base import STDERR, STDOUT, HostFailure, Sink
from hostops.host.ssh._paramiko import exit_signal, leads_groups, readable_event
from hostops.host.ssh.failures import reason
from hostops.host.ssh.keepalive import Keepalive
from hostops.host.ssh.reading import drain
from hostops.host.ssh.shell import login_command
from hostops.host.ssh.watchdog import watchdog
from hostops.host.stdin import Feed, Source
from hostops.models import Status

_CHUNK = 65536
_FEED_WAIT_S = 0.01  # first wait for the SSH window to reopen while stdin is being sent
_TICK_MAX_S = 0.5  # and the longest (drive's tick)
# hostops's own lines in a command's output: \x1e (record separator) + tag + a nonce per
# command, so they cannot be confused with real output. See Markers.
_MARK = "\x1ehostops-{kind}:{nonce}:"
_MARK_LIMIT = 4096  # bytes of a marker line that may be held back before its end comes
_KILL_WAIT_S = 5.0


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
    session's command in a new session) and runs the command itself, after two lines
    on which it reports its own pid: with its builtin ``echo`` on stdout, or (fish)
    through a ``/bin/sh`` on stderr (see :func:`_reported`); both streams pass on as
    they come, the report taken out (see Markers). Elsewhere, and with sudo or a
    terminal, a wrapper makes the group and reports it on stderr.

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
    ) -> None:
        self._transport = transport
        self._tty = tty
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
        # The group is learnt at the start, not asked of sshd at the kill: OpenSSH 7.9+
        # can signal a session's group over its channel, but not once the login shell
        # has exited while its children still hold the output open (sshd then has "no
        # pid for session"), nor on a root login before 10.0. The report starts no
        # program on the host (fish: one); the wrapper two (~2 ms of its CPU per
        # command), for sudo (another user's group), a terminal (stty), other servers.
        self._pgid: int | None = None
        self._reported = False  # the pgid marker came (with a pid or, elvish, without)
        self._markers: dict[str, Markers] = {}  # by stream; none: passed on as it comes
        if sudo is None and not tty and leads_groups(transport):
            sent = _reported(command, nonce)
            for stream in (STDOUT, STDERR):
                self._markers[stream] = Markers(nonce, last="pgid", on_marker=self._marker)
        else:
            sent = self._wrapped(command, nonce, stdin)
            # On a terminal both streams are one, read as stdout.
            self._markers[STDOUT if tty else STDERR] = Markers(
                nonce, last="started" if sudo else "pgid", on_marker=self._marker
            )
        with watchdog(start_timeout, transport.close):
            try:
                self._chan = transport.open_session(timeout=start_timeout)
                self._readable = readable_event(self._chan)
                if environment:  # SendEnv/SetEnv: "env" requests, before the command
                    self._chan.update_environment(dict(environment))
                if tty:
                    self._chan.get_pty(term="xterm", width=200, height=50)
                self._chan.exec_command(sent)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise HostFailure(
                    Status.ERROR, f"cannot start the command: {reason(exc)}"
                ) from None
        self._chan.setblocking(False)

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
            self._reported = True
            # One number in the value: `\ PID #` from the echo of _reported, PID from a
            # /bin/sh; none where the shell gives no pid (elvish: see _reported).
            numbers = [word for word in value.split() if word.isdigit()]
            if len(numbers) == 1:
                self._pgid = int(numbers[0])
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
            # After EOF the readable event stays set for good: waiting on it would
            # spin until the exit status arrives, so wait on the status itself.
            chan.status_event.wait(wait_s)
        elif not (chan.recv_ready() or chan.recv_stderr_ready() or chan.closed):
            self._readable.wait(wait_s)
        # Each stream its own bound: stderr read while stdout floods, and the reverse.
        got = drain(chan.recv_ready, chan.recv, lambda data: self._take(sink, STDOUT, data))
        got |= drain(
            chan.recv_stderr_ready, chan.recv_stderr, lambda data: self._take(sink, STDERR, data)
        )
        if got or chan.status_event.is_set():
            self._alive.heard()
        self._alive.check(self.signal_group)
        # Ended: exit status (or signal) and EOF both in, or the channel closed
        # (which is also how a lost connection shows).
        ended = chan.closed or (chan.eof_received and chan.status_event.is_set())
        if ended and not (chan.recv_ready() or chan.recv_stderr_ready()):
            for stream in self._markers:
                self._give_up(sink, stream)
            chan.close()  # now, not when the collector finds it: the server's session ends
            return True
        if (
            self._sudo is not None
            and not all(markers.done for markers in self._markers.values())
            and time.monotonic() - self._begun > self._start_timeout
        ):
            # A prompt hostops did not recognise (sudoers' passprompt_override?) would
            # otherwise wait for a password until --timeout, or forever.
            raise HostFailure(
                Status.FAILED, f"sudo did not start the command within {self._start_timeout:g} s"
            )
        return False

    def _take(self, sink: Sink, stream: str, data: bytes) -> None:
        """Pass on what ``data`` of ``stream`` has of the command's own output. Once the
        report came, on either stream, the other has nothing more to look for (where both
        are searched: the report is all there is; the wrapper's one stream may still hold
        sudo's "started", after output the command already wrote on the other)."""
        markers = self._markers.get(stream)
        if markers is not None:
            data = markers.feed(data)
        if data:
            sink(stream, data)
        if self._reported and markers is not None:
            for other, others in self._markers.items():
                if other != stream and not others.done:
                    self._give_up(sink, other)

    def _give_up(self, sink: Sink, stream: str) -> None:
        """Stop looking for markers on ``stream``, and pass on what it held back."""
        rest = self._markers[stream].give_up()
        if rest:
            sink(stream, rest)

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


def _reported(command: str, nonce: str) -> str:
    r"""``command`` for an OpenSSH login shell, after two lines on which the shell reports
    its own pid: sshd made it lead a session and process group of its own, so that group
    is the command and all its children, as in the wrapper; the login shell runs the
    command itself, as `ssh host COMMAND` has it do. TAG stands for the pgid marker::

        'echo' 'TAG\' "$$" '#'
        # ' >/dev/null; /bin/sh -c 'echo "TAG$PPID" >&2'

    sh, bash, zsh, ksh, mksh, yash, busybox ash, csh and tcsh read a backslash in single
    quotes as itself: line 1 echoes ``TAG\ PID #`` on stdout with their builtin echo (no
    program starts on the host; stdout, as csh cannot write one line to stderr alone),
    and line 2 is a comment. fish reads ``\'`` in single quotes as a quote and a ``#``
    within a word as itself: its echo's argument goes on into line 2, where its output
    goes to /dev/null, and a ``/bin/sh`` it starts reports its pid (``$PPID``) on stderr.
    elvish echoes ``TAG\ $$ #``, with no pid: it runs the command without a group to
    kill. ``'echo'`` is quoted so that no alias of the user's replaces it (a function
    still would). The backslash ends its word, so no echo reads it as an escape. Lines
    of their own, not ``;``: csh and tcsh put everything before a ``&`` on the same line
    into that background job."""
    tag = _MARK.format(kind="pgid", nonce=nonce)
    by_echo = f"'echo' '{tag}\\' \"$$\" '#'"
    by_sh = f"# ' >/dev/null; /bin/sh -c 'echo \"{tag}$PPID\" >&2'"
    return f"{by_echo}\n{by_sh}\n{command}"


class Markers:
    """Takes hostops's own lines (``\\x1ehostops-KIND:NONCE:VALUE\\n``) out of one stream
    of a command's output, wherever they are and however the packets split them, and
    reports each one, until the ``last`` kind of marker has been seen.

    Output passes on as it comes, but for a marker still on its way: a line begun with
    a tag, until its end (at most ``_MARK_LIMIT`` bytes, else it passes as it is), and
    an end of the data that may be the start of a tag (a few bytes).
    """

    _KINDS = ("pgid", "prompt", "started")

    def __init__(self, nonce: str, last: str, on_marker: Callable[[str, bytes], None]) -> None:
        self._tags = {k: _MARK.format(kind=k, nonce=nonce).encode() for k in self._KINDS}
        self._longest = max(len(tag) for tag in self._tags.values())
        self._last = last
        self._on_marker = on_marker
        self._held = b""
        self.done = False  # the last marker was seen: nothing more to look for

    def feed(self, data: bytes) -> bytes:
        """The bytes that may be passed on now."""
        if self.done:
            return data
        held, self._held = self._held + data, b""
        passed = []
        while not self.done:
            found = [(held.find(tag), kind) for kind, tag in self._tags.items()]
            at, kind = min(((i, k) for i, k in found if i >= 0), default=(-1, ""))
            if at < 0:
                break
            end = held.find(b"\n", at)
            if end < 0:
                if len(held) - at <= _MARK_LIMIT:  # the rest of the marker is on its way
                    passed.append(held[:at])
                    self._held = held[at:]
                    return b"".join(passed)
                end = at + len(self._tags[kind])  # no line of ours: output, looked past
                passed.append(held[:end])
                held = held[end:]
                continue
            passed.append(held[:at])
            value, held = held[at + len(self._tags[kind]) : end], held[end + 1 :]
            self.done = kind == self._last
            self._on_marker(kind, value)
        if not self.done:
            # Hold back an end that may be a tag's beginning (each begins with \x1e).
            start = held.rfind(b"\x1e", max(0, len(held) - self._longest))
            if start >= 0 and any(t.startswith(held[start:]) for t in self._tags.values()):
                self._held, held = held[start:], held[:start]
        passed.append(held)
        return b"".join(passed)

    def give_up(self) -> bytes:
        """Stop looking for markers: what is held back; from now on everything passes."""
        self.done = True
        held, self._held = self._held, b""
        return held
