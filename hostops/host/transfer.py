"""The parts of a transfer that are not SFTP: local files and directories, where a
download lands, and the shell commands run on the host beside SFTP (hashing, installing
as root). See hostops.host.sftp."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import posixpath
import secrets
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from hostops.host.base import HostFailure
from hostops.models import Status
from hostops.safefs import file_name, private_subdir

TMP_SUFFIX = ".hostops-tmp"  # of files being written, next to their destination
_HASH_BATCH = 16384  # characters of quoted paths per hashing command
REASONS = {  # one-line reasons for the errno values a transfer meets
    errno.ENOENT: "no such file or directory",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "not a directory",
    errno.EISDIR: "is a directory",
    errno.ENOSPC: "no space left on device",
    errno.EEXIST: "already exists",
    errno.ELOOP: "is a symbolic link (not followed)",
}
_NEW_FILE_MODE = 0o644  # a new file installed as root without a mode


def download_path(local_dir: str, host: str, remote: str) -> str:
    """Where ``remote`` from ``host`` is downloaded: ``local_dir/NAME/<remote path>``,
    NAME the host's :func:`hostops.safefs.file_name` (``/etc/hosts`` ->
    ``local_dir/web01/etc/hosts``; a relative path stays relative; host ``a/b`` is
    ``a%2Fb``). Raises ValueError for a path that would leave ``local_dir/NAME``."""
    relative = posixpath.normpath(remote).lstrip("/")
    if relative == ".." or relative.startswith("../"):
        raise ValueError(f"{remote}: leads outside the host's directory")
    parts = [local_dir, file_name(host)] + ([] if relative == "." else relative.split("/"))
    return os.path.join(*parts)


@dataclass(frozen=True)
class Ownership:
    """Who installed files belong to (as root only): user and group names or numbers;
    None keeps the replaced file's (root's for a new one)."""

    owner: str | None = None
    group: str | None = None

    def __bool__(self) -> bool:
        return bool(self.owner or self.group)

    def matches(self, said: str) -> bool:
        """Whether ``stat -c '%U %u %G %g'`` output ``said`` is already this ownership."""
        parts = said.split()
        if len(parts) != 4:
            return False
        return (self.owner is None or self.owner in parts[:2]) and (
            self.group is None or self.group in parts[2:]
        )

    @property
    def spec(self) -> str:
        """``chown``'s OWNER:GROUP (either may be empty: that part is left)."""
        return f"{self.owner or ''}:{self.group or ''}"


def backup_name(dest: str, stamp: str) -> str:
    """Where ``backup: true`` keeps a file before it is replaced: ``DEST.STAMP~``."""
    return f"{dest}.{stamp}~"


def root_install_command(
    items: Sequence[tuple[str, str, int | None]],
    directories: Sequence[str] = (),
    modes: Sequence[tuple[str, int]] = (),
    ownership: Ownership | None = None,
    chowns: Sequence[str] = (),
    backups: Sequence[tuple[str, str]] = (),
) -> str:
    """The shell script that puts staged files in place, to be run as root.

    ``items`` are (staged file, destination, mode or None). Each is copied next
    to its destination with ``install`` (owner and mode: the replaced file's,
    or root's and 0644 for a new one; ``mode`` and ``ownership`` win when
    given), then renamed over it, so the switch is atomic. ``directories`` are
    created first (``mkdir -p``), ``backups`` (file, copy) copied first
    (``cp -p``); ``modes`` are (path, mode) to chmod and ``chowns`` paths to
    give to ``ownership`` (identical files whose mode or owner differs). Needs
    GNU or busybox ``stat -c``; stops at the first error.
    """
    q = shlex.quote
    lines = [
        "set -e",
        "hostops_install() {",
        '  if [ -e "$2" ]; then m=$(stat -c %a -- "$2"); o=$(stat -c %u:%g -- "$2")',
        f"  else m={_NEW_FILE_MODE:o}; o=0:0; fi",
        '  if [ -n "$4" ]; then m=$4; fi',
        "  u=${5:-${o%:*}}; g=${6:-${o#*:}}",
        '  install -m "$m" -o "$u" -g "$g" -- "$1" "$3"',
        '  mv -f -- "$3" "$2"',
        "}",
    ]
    lines += [f"mkdir -p -- {q(d)}" for d in directories]
    lines += [f"cp -p -- {q(f)} {q(copy)}" for f, copy in backups]
    ownership = ownership or Ownership()
    who = f"{q(ownership.owner or '')} {q(ownership.group or '')}"
    for staged, dest, mode in items:
        wanted = f"{mode:04o}" if mode is not None else ""
        lines.append(
            f"hostops_install {q(staged)} {q(dest)} {q(temp_name(dest))} {q(wanted)} {who}"
        )
    lines += [f"chmod {mode:04o} -- {q(path)}" for path, mode in modes]
    lines += [f"chown -- {q(ownership.spec)} {q(path)}" for path in chowns]
    return "\n".join(lines)


def hash_command(paths: Sequence[str]) -> str:
    """A command printing one line per path, in order: its SHA-256 in hex (``sha256sum``,
    else ``shasum -a 256``), or ``-`` when it cannot be read or hashed."""
    quoted = " ".join(shlex.quote(p) for p in paths)
    return (
        f'for f in {quoted}; do {{ sha256sum || shasum -a 256; }} 2>/dev/null <"$f" || echo -; done'
    )


def temp_name(dest: str) -> str:
    directory, base = posixpath.split(dest)
    return posixpath.join(directory, f".{base}.{secrets.token_hex(4)}{TMP_SUFFIX}")


def hash_batches(pairs: Sequence[tuple[str, str]]) -> Iterator[list[tuple[str, str]]]:
    """Pairs in groups whose quoted paths fit one command line comfortably."""
    batch: list[tuple[str, str]] = []
    length = 0
    for pair in pairs:
        cost = len(shlex.quote(pair[1])) + 1
        if batch and length + cost > _HASH_BATCH:
            yield batch
            batch, length = [], 0
        batch.append(pair)
        length += cost
    if batch:
        yield batch


def local_tree(
    src: str, dest: str, follow_links: bool = False
) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """(remote directories parents first, (local file, remote file) pairs, skipped local
    paths). Links to files are followed; links to directories only with
    ``follow_links``, each directory once (a loop ends there, reported as skipped);
    dangling links, FIFOs, sockets and devices are skipped."""
    directories = []
    pairs = []
    skipped = []
    seen = {_identity(src)}
    for root, dirnames, filenames in os.walk(src, followlinks=follow_links):
        dirnames.sort()
        relative = os.path.relpath(root, src)
        remote = dest if relative == "." else posixpath.join(dest, *relative.split(os.sep))
        directories.append(remote)
        for name in list(dirnames):
            path = os.path.join(root, name)
            if os.path.islink(path) and (not follow_links or _identity(path) in seen):
                skipped.append(path)  # a link to a directory: may loop
                dirnames.remove(name)
            elif follow_links:
                seen.add(_identity(path))
        for name in sorted(filenames):
            path = os.path.join(root, name)
            if os.path.isfile(path):  # a link to a file is followed: its content is sent
                pairs.append((path, posixpath.join(remote, name)))
            else:
                skipped.append(path)
    return directories, pairs, skipped


def _identity(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


@contextlib.contextmanager
def open_local(path: str) -> Iterator[BinaryIO]:
    try:
        f = open(path, "rb")  # noqa: SIM115 -- errors must be told apart from remote ones
    except OSError as exc:
        raise local_failure(exc, path) from None
    with f:
        yield f


def local_sha256(path: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise local_failure(exc, path) from None
    return digest.hexdigest()


def make_local_dir(path: str, base: str) -> None:
    """Create ``path``'s directories below ``base`` (0700), refusing any symbolic link
    among them: a link planted there must not send a host's files elsewhere."""
    relative = os.path.relpath(path, base)
    at = base
    try:
        for part in [] if relative == "." else relative.split(os.sep):
            at = os.path.join(at, part)
            private_subdir(at)
    except OSError as exc:
        raise local_failure(exc, at) from None


def local_failure(exc: OSError, path: str) -> HostFailure:
    reason = REASONS.get(exc.errno or -1) or exc.strerror or str(exc)
    return HostFailure(Status.FAILED, f"local {path}: {reason}")
