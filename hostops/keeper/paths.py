"""Where the background process's socket lives, and the checks that keep it private.

``$XDG_RUNTIME_DIR/hostops/`` (a per-user tmpfs that the login manager makes private),
else ``hostops-UID`` under the system temp directory. The directory must be a real
directory of ours, closed to everyone else: anything else is refused, never repaired
(someone may have made it to catch our connections). Standard library only.
"""

from __future__ import annotations

import os
import stat
import zlib
from collections.abc import Mapping

SOCKET = "keeper.sock"


class PlaceError(Exception):
    """The socket's directory cannot be trusted or made: one line naming it."""


def runtime_dir(environ: Mapping[str, str] | None = None) -> str:
    """The private directory for this user's socket, made (mode 0700) if missing.
    Raises PlaceError when it is not a directory of ours closed to others."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_RUNTIME_DIR", "")
    if base and os.path.isabs(base) and os.path.isdir(base):
        path = os.path.join(base, "hostops")
    else:
        import tempfile  # only here: ~6 ms of the thin client's start-up otherwise

        path = os.path.join(tempfile.gettempdir(), f"hostops-{os.getuid()}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise PlaceError(f"{path}: cannot make the directory: {exc.strerror}") from None
    check_private(path)
    return path


def check_private(path: str) -> None:
    """Raise PlaceError unless ``path`` is a directory (not a link) owned by this user,
    with no permission for group or others."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise PlaceError(f"{path}: {exc.strerror}") from None
    uid = os.getuid()
    if not stat.S_ISDIR(st.st_mode):
        raise PlaceError(f"{path}: not a directory: refused for the background process")
    if st.st_uid != uid:
        raise PlaceError(
            f"{path}: owned by uid {st.st_uid}, not by you (uid {uid}):"
            " refused for the background process"
        )
    if st.st_mode & 0o077:
        raise PlaceError(
            f"{path}: mode {stat.S_IMODE(st.st_mode):04o} lets others in: refused for the"
            f" background process (chmod 700 {path})"
        )


def code_stamp() -> str:
    """What identifies the hostops code on disk (every module's size and time): a
    background process started from other code (an upgrade, an edit) is never used."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    seen = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                st = os.stat(os.path.join(folder, name))
                seen.append(f"{folder}/{name}:{st.st_size}:{st.st_mtime_ns}")
    # Two checksums, 64 bits: this tells versions of one's own code apart, nobody picks
    # the inputs (the socket is the user's alone), and hashlib would load OpenSSL on
    # every warm command (~4.5 ms of its start-up).
    listing = "\n".join(sorted(seen)).encode()
    return f"{zlib.crc32(listing):08x}{zlib.adler32(listing):08x}"


def socket_path(environ: Mapping[str, str] | None = None) -> str:
    """The socket of this user's background process (see runtime_dir)."""
    return os.path.join(runtime_dir(environ), SOCKET)
