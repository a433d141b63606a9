"""One-line reasons for what paramiko and the network raise because of what a host did.

Every exception in :data:`REMOTE_ERRORS` is a remote condition (a host that hung up,
speaks another protocol, prints from its shell's start-up files, ...): it becomes the
host's failure with the line :func:`reason` gives, never an "internal error".
"""

from __future__ import annotations

import re

import paramiko

# paramiko.SSHException covers its transport, channel, auth and key errors;
# SFTPError is apart from it; EOFError and OSError come from the socket under it.
REMOTE_ERRORS: tuple[type[BaseException], ...] = (
    paramiko.SSHException,
    paramiko.SFTPError,
    EOFError,
    OSError,
)

_BANNER = "Error reading SSH protocol banner"
_OTHER_PROTOCOL = re.compile(r'Indecipherable protocol version "(.*)"', re.S)
_ERRNO = re.compile(r"^\[Errno -?\d+\]\s*")
# What paramiko's SFTP client says when the first bytes it reads are not an SFTP
# packet: on a real host, text that the login shell's start-up files printed before
# the sftp-server started (OpenSSH's sftp: "Received message too long").
_SFTP_GARBAGE = ("Garbage packet received", "Incompatible sftp protocol")
SHELL_PRINTS = (
    "the remote shell's start-up files (~/.bashrc, ~/.profile, /etc/bash.bashrc) print text"
    " in non-interactive sessions, which breaks SFTP: make them print nothing unless"
    " interactive (e.g. '[[ $- == *i* ]] || return' before any output in ~/.bashrc)"
)


def reason(exc: BaseException) -> str:
    """Why ``exc`` happened, in one line without Python's decorations:
    ``no SSH banner: connection reset by peer``, not
    ``Error reading SSH protocol banner[Errno 104] Connection reset by peer``."""
    if isinstance(exc, paramiko.SFTPError) and str(exc) in _SFTP_GARBAGE:
        return SHELL_PRINTS
    if isinstance(exc, OSError) and exc.strerror:
        return _plain(exc.strerror)
    text = str(exc).strip()
    if text.startswith(_BANNER):
        return f"no SSH banner: {_plain(text[len(_BANNER) :]) or 'connection closed'}"
    other = _OTHER_PROTOCOL.match(text)
    if other:
        first = other[1].strip()[:60]
        return f"no SSH banner: the server speaks another protocol ({first!r})"
    if isinstance(exc, EOFError) or not text:
        return "connection closed by the remote side"
    return text.splitlines()[0]


def _plain(text: str) -> str:
    """``[Errno 104] Connection reset by peer`` -> ``connection reset by peer``."""
    text = _ERRNO.sub("", text.strip()).rstrip(":. ")
    return text[:1].lower() + text[1:]
