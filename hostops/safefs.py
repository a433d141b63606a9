"""Files and directories hostops writes for the user: private, never through a link.

Another local user must not read what hostops writes (remote output, run records) nor
plant anything it will read or write through (a link to a file of the user's, a
forged run record). So: directories hostops creates are 0700 and files 0600,
whatever the umask; a directory the user names (``--out-dir``, ``get``'s LOCAL_DIR)
or the state directory must be owned by the user (or root) and writable by nobody
else (its group only if that is the user's private group), as OpenSSH's
StrictModes asks of ``~/.ssh``; files are opened with
``O_NOFOLLOW`` (``O_EXCL`` when created) and must be the user's own.

Host names become file names through :func:`file_name`, one-to-one.
"""

from __future__ import annotations

import errno
import grp
import hashlib
import os
import pwd
import re
import stat
from pathlib import Path

from hostops.errors import UsageError

_DIR_MODE = 0o700
_FILE_MODE = 0o600
# Characters that stay as they are in a file name; any other is %XX (its UTF-8 bytes).
_KEEP = re.compile(r"[^%/\x00-\x1f\x7f]")
_MAX_NAME = 200  # bytes: room for suffixes (.out, .status, .tmp) under NAME_MAX (255)


class UnsafePath(UsageError):
    """A directory or file another user could tamper with (exit 2, one line)."""


def file_name(host: str) -> str:
    """``host`` as a file name, one-to-one: ``%``, ``/``, control characters and a
    whole name ``.`` or ``..`` (or empty) are written ``%XX``; anything else stays. So
    ``a/b`` is ``a%2Fb`` and ``a_b`` stays ``a_b``. A name that would be longer than
    200 bytes is cut and ends in ``%~`` and 16 hex digits of its SHA-256 (no name
    written otherwise contains ``%~``)."""
    if host in ("", ".", ".."):
        encoded = "".join(f"%{b:02X}" for b in host.encode()) or "%"
    else:
        encoded = "".join(c if _KEEP.fullmatch(c) else _escape(c) for c in host)
    data = encoded.encode("utf-8", "surrogateescape")
    if len(data) <= _MAX_NAME:
        return encoded
    digest = hashlib.sha256(host.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    head = data[: _MAX_NAME - 18].decode("utf-8", "ignore")
    head = re.sub(r"%[0-9A-F]?$", "", head)  # never half an escape
    return f"{head}%~{digest}"


def _escape(c: str) -> str:
    return "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogateescape"))


def private_dir(path: Path, what: str) -> Path:
    """Make sure ``path`` is a directory that only this user can write: create it
    (and missing parents) 0700 whatever the umask, or check the existing one with
    :func:`check_dir`. Returns ``path``; raises UsageError (one line)."""
    missing = []
    at = path
    while not os.path.lexists(at) and at != at.parent:
        missing.append(at)
        at = at.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, _DIR_MODE)  # the umask can only take bits away
        except FileExistsError:
            pass  # made meanwhile (another hostops): checked below
        except OSError as exc:
            raise UsageError(f"{what} {directory}: {exc.strerror}") from None
    check_dir(path, what)
    return path


def check_dir(path: Path, what: str) -> None:
    """Refuse (UnsafePath) a directory that is a link, is not a directory, is owned by
    another user (root excepted) or is writable by group or others."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise UsageError(f"{what} {path}: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePath(f"{what} {path}: is a symbolic link (not followed)")
    if not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{what} {path}: not a directory")
    if st.st_uid not in (os.geteuid(), 0):
        raise UnsafePath(f"{what} {path}: owned by another user (uid {st.st_uid})")
    if st.st_mode & 0o002 or (st.st_mode & 0o020 and not _private_group(st.st_gid)):
        who = "others" if st.st_mode & 0o002 else "its group"
        raise UnsafePath(
            f"{what} {path}: writable by {who} (mode {stat.S_IMODE(st.st_mode):04o});"
            f" 'chmod go-w {path}' or choose another directory"
        )
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {path}: not writable")


def _private_group(gid: int) -> bool:
    """Whether group ``gid`` is this user's own (a user private group, as umask 002
    systems make: named after the user, the user's primary group, no other member),
    so that its write bit lets nobody else in; OpenSSH's StrictModes allows it too."""
    try:
        user = pwd.getpwuid(os.geteuid())
        group = grp.getgrgid(gid)
    except KeyError:
        return False
    return (
        gid == user.pw_gid and group.gr_name == user.pw_name and set(group.gr_mem) <= {user.pw_name}
    )


def open_private(
    path: str | os.PathLike[str], flags: int, exclusive: bool = False, create: bool = True
) -> int:
    """Open ``path`` for writing (``flags``: O_WRONLY with O_TRUNC or O_APPEND...),
    created 0600 unless not ``create`` (with O_EXCL when ``exclusive``), never through
    a symbolic link (OSError ELOOP), and only if the file is this user's
    (PermissionError); an existing file is made 0600. Returns the descriptor."""
    flags |= os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    flags |= os.O_EXCL if exclusive else 0
    try:
        fd = os.open(path, flags, _FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "is a symbolic link (not followed)", path) from None
        raise
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or not stat.S_ISREG(st.st_mode):
            raise PermissionError(errno.EPERM, "not a regular file of this user", path)
        if stat.S_IMODE(st.st_mode) != _FILE_MODE:
            os.fchmod(fd, _FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def private_subdir(path: str) -> None:
    """Create ``path`` (0700) unless it is a directory already; a link there is refused
    (OSError ELOOP), never followed."""
    try:
        os.mkdir(path, _DIR_MODE)
        return
    except FileExistsError:
        pass
    if stat.S_ISLNK(os.lstat(path).st_mode):
        raise OSError(errno.ELOOP, "is a symbolic link (not followed)", path)
    if not os.path.isdir(path):
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", path)
