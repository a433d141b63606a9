"""File transfer with one host over SFTP: atomic uploads that skip identical content,
and downloads into a directory per host.

Uploads (:meth:`SftpSession.upload`)

- A file is written under a temporary name next to its destination (created
  exclusively: never through an existing file or link), acknowledged write by
  write, flushed to disk (OpenSSH's ``fsync@openssh.com``), given its mode, then
  renamed over the destination (``posix-rename@openssh.com``). Readers see
  the old file or the new one, never a part; a link at the destination is
  replaced, not followed.
- A destination of the same size is compared by SHA-256 computed on the host
  (``sha256sum``, one command for all candidates): 64 hex digits cross the
  network where reading the file back would cost its whole size. Identical
  files are not written (their mtime stays). A host that cannot hash gets the
  file uploaded.
- The mode: the one asked for, else the replaced file's, else the server's
  default for new files.
- A directory is mirrored into the destination directory, created as needed;
  symbolic links to directories and special files are skipped (reported).
- With ``as_root`` (sudo): files go to a private staging directory (mode 0700)
  as the login user, then one command run through ``as_root`` installs each
  next to its destination (keeping the replaced file's owner and mode unless
  a mode is given; new files root's, 0644) and renames it over it, see
  :func:`root_install_command`. How ``as_root`` reaches root (sudo, its
  password) is the caller's business.

Downloads (:meth:`SftpSession.download`) go to ``LOCAL_DIR/HOST/<remote path>``
(:func:`download_path`); names a host sends that could leave that directory
(``..``, ``/``) are refused, and remote links are not followed inside a
directory. Local files are replaced atomically too.

Failures are HostFailure: ``failed`` with "no such file or directory",
"permission denied", ...; ``timeout`` when the host stops answering;
``error`` when the connection is lost.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import posixpath
import secrets
import shlex
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import paramiko

from hostops.errors import UsageError
from hostops.host.base import STDOUT, ExecOutcome, HostFailure, RunningCommand, drive
from hostops.host.ssh._paramiko import settle_sftp_file
from hostops.host.ssh.failures import REMOTE_ERRORS, reason
from hostops.host.transfer import (
    REASONS,
    TMP_SUFFIX,
    Ownership,
    backup_name,
    download_path,
    hash_batches,
    hash_command,
    local_failure,
    local_sha256,
    local_tree,
    make_local_dir,
    open_local,
    root_install_command,
    temp_name,
)
from hostops.models import Status
from hostops.safefs import private_dir

_CHUNK = 32768  # paramiko's largest SFTP write
_PREFETCH = 64  # concurrent reads: OpenSSH's sftp-server serves at most 64
# A destination the login user may not stat (in /root, say); only uploads as root see it.
_HIDDEN = paramiko.SFTPAttributes()


@dataclass(frozen=True)
class TransferResult:
    """What an upload or download did.

    ``files``: paths whose content (or, for an upload, mode) changed: remote
    paths for an upload, local ones for a download. ``unchanged``: those
    already identical (an upload does not write them; a download transfers
    them, then finds the local copy was the same).
    ``skipped``: not transferred at all (links to directories, special files).
    """

    changed: bool
    bytes: int  # bytes sent or received
    files: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True)
class CommandOutput:
    """A command's end and output."""

    outcome: ExecOutcome
    stdout: bytes
    stderr: bytes


RootRunner = Callable[[str], CommandOutput]  # runs a shell command as root (e.g. through sudo)


class SftpConnection(Protocol):
    """What a transfer needs from a connection (SshConnection has both)."""

    def open_sftp(self, timeout: float) -> paramiko.SFTPClient: ...

    def start(self, command: str, sudo: bool = False) -> RunningCommand: ...


class SftpSession:
    """File transfers with one host over one SFTP session, opened on first use.

    ``timeout``: longest wait for any one SFTP reply. Not thread-safe: one
    session per host, used by the thread that owns the host.
    """

    def __init__(self, conn: SftpConnection, *, timeout: float = 30.0) -> None:
        self._conn = conn
        self._timeout = timeout
        self._client: paramiko.SFTPClient | None = None
        self._home: str | None = None

    @property
    def _sftp(self) -> paramiko.SFTPClient:
        if self._client is None:
            self._client = self._conn.open_sftp(self._timeout)
        return self._client

    def close(self) -> None:
        """Close the SFTP session (the connection stays open)."""
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                client.close()

    def run(self, command: str, *, sudo: bool = False) -> CommandOutput:
        """Run ``command`` as the login user (or as root with ``sudo``); its output is
        collected (keep it small)."""
        out: list[bytes] = []
        err: list[bytes] = []

        def sink(stream: str, data: bytes) -> None:
            (out if stream == STDOUT else err).append(data)

        running = self._conn.start(command, sudo=sudo)
        outcome = drive(running, sink, timeout=None, cancel=None, grace_s=2.0)
        return CommandOutput(outcome, b"".join(out), b"".join(err))

    def absolute(self, path: str) -> str:
        """``path`` made absolute: relative paths start in the login user's home."""
        if path.startswith("/"):
            return posixpath.normpath(path)
        if self._home is None:
            with self._failures("home directory"):
                self._home = self._sftp.normalize(".")
        return posixpath.normpath(posixpath.join(self._home, path))

    # -- uploads ------------------------------------------------------------------
    def upload(
        self,
        local: str,
        remote: str,
        *,
        mode: int | None = None,
        as_root: RootRunner | None = None,
        ownership: Ownership | None = None,
        backup: bool = False,
        dry_run: bool = False,
        parents: bool = False,
        follow_links: bool = False,
    ) -> TransferResult:
        """Upload the local file or directory ``local`` to ``remote`` (see the module
        docstring). A file goes into ``remote`` if that is a directory or ends with
        ``/``. ``ownership`` (with ``as_root`` only): whose the files become; a file
        owned otherwise counts as changed. ``backup``: a file about to be replaced
        is first copied to :func:`backup_name` (stamped with the local time).
        ``dry_run``: compare only (sizes, checksums, modes, owners) and write
        nothing; the result says which files would be written. A missing parent
        directory of the destination is a failure, or with ``parents`` is made
        (``mkdir -p``: as root with ``as_root``, the remote umask's mode).
        ``follow_links``: links to directories are followed too (each directory
        once). Raises HostFailure."""
        if ownership and as_root is None:
            raise HostFailure(
                Status.FAILED, "owner and group need sudo (only root gives files away)"
            )
        src = os.path.abspath(os.path.expanduser(local))
        if not os.path.exists(src):
            raise HostFailure(Status.FAILED, f"local {local}: no such file or directory")
        dest = self.absolute(remote)
        if os.path.isdir(src):
            directories, pairs, skipped = local_tree(src, dest, follow_links)
            listings = {d: self._listing(d) for d in directories}
            current = {
                d: (listings[posixpath.dirname(d)] or {}).get(posixpath.basename(d))
                for _, d in pairs
            }
            create = [d for d in directories if listings[d] is None]
        else:
            # As root, a destination the login user may not even look at is no error.
            attrs = self._stat(dest, hidden_ok=as_root is not None)
            if remote.endswith("/") or (attrs is not None and stat.S_ISDIR(attrs.st_mode or 0)):
                dest = posixpath.join(dest, os.path.basename(src))
                attrs = self._stat(dest, hidden_ok=as_root is not None)
            pairs, skipped, create = [(src, dest)], [], []
            current = {dest: attrs}
        create = [*self._missing(posixpath.dirname(dest), parents, as_root), *create]
        same = self._identical(pairs, current, as_root)
        todo = [(s, d) for s, d in pairs if d not in same]
        hidden = [d for d in same if current[d] is _HIDDEN]
        modes = self._root_modes(hidden, as_root) if mode is not None and as_root else {}

        def mode_of(d: str) -> int | None:  # identical files: they exist
            found = current[d]
            if found is None or found is _HIDDEN:
                return modes.get(d)
            return stat.S_IMODE(found.st_mode or 0)

        chmods = [(d, mode) for d in same if mode is not None and mode_of(d) != mode]
        chowns = self._foreign(sorted(same), ownership, as_root) if ownership and as_root else []
        stamp = time.strftime("%Y%m%d-%H%M%S")
        backups = [(d, backup_name(d, stamp)) for _, d in todo if backup and current[d] is not None]
        if dry_run:
            sent = 0
        elif as_root is None:
            for path, copy in backups:
                self._copy(path, copy)
            sent = self._write_direct(create, todo, current, mode, chmods)
        else:
            install = _RootInstall(create, todo, mode, chmods, ownership, chowns, backups)
            sent = self._write_as_root(install, as_root)
        fixed = [*dict(chmods), *chowns]
        written = tuple(d for _, d in todo) + tuple(dict.fromkeys(fixed))
        return TransferResult(
            changed=bool(written),
            bytes=sent,
            files=written,
            unchanged=tuple(d for _, d in pairs if d in same and d not in fixed),
            skipped=tuple(skipped),
        )

    def _missing(self, directory: str, parents: bool, as_root: RootRunner | None) -> list[str]:
        """``directory`` and its ancestors that do not exist, outermost first: to be made
        when ``parents``, else a failure naming the outermost."""
        missing: list[str] = []
        while (
            directory != posixpath.dirname(directory)
            and self._stat(directory, hidden_ok=as_root is not None) is None
        ):
            missing.append(directory)
            directory = posixpath.dirname(directory)
        if missing and not parents:
            raise HostFailure(
                Status.FAILED,
                f"remote directory {missing[-1]} does not exist (--parents creates it, as mkdir -p)",
            )
        return missing[::-1]

    def _copy(self, path: str, copy: str) -> None:
        done = self.run(f"cp -p -- {shlex.quote(path)} {shlex.quote(copy)}")
        if done.outcome.status is not Status.OK:
            said = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise HostFailure(Status.FAILED, f"backup of {path}: {said[-1] if said else 'failed'}")

    @staticmethod
    def _foreign(paths: Sequence[str], ownership: Ownership, as_root: RootRunner) -> list[str]:
        """Those of ``paths`` not owned as ``ownership`` says (as root sees them)."""
        if not paths:
            return []
        q = " ".join(shlex.quote(p) for p in paths)
        output = as_root(f"for f in {q}; do stat -c '%U %u %G %g' -- \"$f\" || echo -; done")
        said = output.stdout.decode("utf-8", "replace").splitlines()
        if len(said) != len(paths):
            return list(paths)  # cannot tell: set it
        return [p for p, line in zip(paths, said, strict=True) if not ownership.matches(line)]

    @staticmethod
    def _root_modes(paths: Sequence[str], as_root: RootRunner) -> dict[str, int]:
        """The permission bits of ``paths`` as root sees them (those it cannot tell: absent)."""
        if not paths:
            return {}
        output = as_root("stat -c '%a %n' -- " + " ".join(shlex.quote(p) for p in paths))
        modes = {}
        for line in output.stdout.decode("utf-8", "replace").splitlines():
            bits, _, name = line.partition(" ")
            with contextlib.suppress(ValueError):
                modes[name] = int(bits, 8)
        return modes

    def _stat(self, path: str, hidden_ok: bool = False) -> paramiko.SFTPAttributes | None:
        """The attributes of ``path`` (links followed), None if it does not exist; with
        ``hidden_ok``, :data:`_HIDDEN` when the login user may not look (root will)."""
        try:
            return self._sftp.stat(path)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None
            if hidden_ok and exc.errno in (errno.EACCES, errno.EPERM):
                return _HIDDEN
            raise self._failure(exc, f"remote {path}") from None
        except (EOFError, paramiko.SSHException) as exc:
            raise self._failure(exc, f"remote {path}") from None

    def _listing(self, directory: str) -> dict[str, paramiko.SFTPAttributes] | None:
        """The entries of a remote directory by name, None if it does not exist."""
        try:
            return {a.filename: a for a in self._sftp.listdir_attr(directory)}
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise self._failure(exc, f"remote {directory}") from None
        except (EOFError, paramiko.SSHException) as exc:
            raise self._failure(exc, f"remote {directory}") from None

    def _real(self, path: str) -> str:
        """``path`` with every link resolved, on the host (SFTP realpath)."""
        with self._failures(f"remote {path}"):
            return str(self._sftp.normalize(path))

    def _identical(
        self,
        pairs: Sequence[tuple[str, str]],
        current: dict[str, paramiko.SFTPAttributes | None],
        as_root: RootRunner | None,
    ) -> set[str]:
        """Destinations that already hold their source's content: same size, then same
        SHA-256 computed on the host (as root with ``as_root``: it may read what we cannot)."""
        candidates = []
        for src, dest in pairs:
            attrs = current[dest]
            if attrs is _HIDDEN or (
                attrs is not None
                and stat.S_ISREG(attrs.st_mode or 0)
                and attrs.st_size == os.path.getsize(src)
            ):
                candidates.append((src, dest))  # hidden: root's hash tells (or "-": absent)
        same: set[str] = set()
        for batch in hash_batches(candidates):
            command = hash_command([d for _, d in batch])
            output = (as_root or self.run)(command)
            digests = output.stdout.decode("ascii", "replace").splitlines()
            if output.outcome.status is not Status.OK or len(digests) != len(batch):
                continue  # cannot tell: upload them
            for (src, dest), line in zip(batch, digests, strict=True):
                if line.split(" ", 1)[0] == local_sha256(src):
                    same.add(dest)
        return same

    def _write_direct(
        self,
        create: Sequence[str],
        todo: Sequence[tuple[str, str]],
        current: dict[str, paramiko.SFTPAttributes | None],
        mode: int | None,
        chmods: Sequence[tuple[str, int]],
    ) -> int:
        for directory in create:
            with self._failures(f"create remote directory {directory}"):
                try:
                    self._sftp.mkdir(directory)
                except TimeoutError:
                    raise  # replies may come out of step now: ask nothing more
                except OSError:
                    # Made meanwhile by another host sharing this home (NFS) or another
                    # run: a directory is what was wanted, as with mkdir -p.
                    if not self._is_directory(directory):
                        raise
        sent = 0
        for src, dest in todo:
            attrs = current.get(dest)
            keep = stat.S_IMODE(attrs.st_mode) if attrs is not None and attrs.st_mode else None
            sent += self._put_file(src, dest, mode if mode is not None else keep)
        for path, wanted in chmods:
            with self._failures(f"chmod remote {path}"):
                self._sftp.chmod(path, wanted)
        return sent

    def _put_file(self, src: str, dest: str, mode: int | None) -> int:
        """Write ``src`` to a fresh temporary file next to ``dest``, then rename it over."""
        tmp = temp_name(dest)
        sftp = self._sftp
        try:
            with self._failures(f"upload to {dest}"):
                size = 0
                with sftp.open(tmp, "wx") as remote_file, open_local(src) as local_file:
                    remote_file.set_pipelined(True)
                    while chunk := local_file.read(_CHUNK):
                        remote_file.write(chunk)
                        size += len(chunk)
                    remote_file.flush()
                    settle_sftp_file(remote_file)
                if mode is not None:
                    sftp.chmod(tmp, mode)
                sftp.posix_rename(tmp, dest)
        except BaseException:
            if self._client is not None:  # still usable: leave nothing behind
                with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                    sftp.remove(tmp)
            raise
        return size

    def _write_as_root(self, install: _RootInstall, as_root: RootRunner) -> int:
        create, todo, mode, chmods = install.create, install.todo, install.mode, install.chmods
        if not (create or todo or chmods or install.chowns):
            return 0
        staging = f"/tmp/.hostops-{secrets.token_hex(8)}" if todo else None
        try:
            items = []
            sent = 0
            if staging is not None:
                with self._failures(f"create staging directory {staging}"):
                    self._sftp.mkdir(staging, 0o700)  # fails if it exists: nobody else's
            for number, (src, dest) in enumerate(todo):
                staged = f"{staging}/{number}"
                sent += self._put_file(src, staged, 0o600)
                items.append((staged, dest, mode))
            result = as_root(
                root_install_command(
                    items, create, chmods, install.ownership, install.chowns, install.backups
                )
            )
            if result.outcome.status is not Status.OK:
                said = result.stderr.decode("utf-8", "replace").strip().splitlines()
                why = said[-1] if said else result.outcome.error or "failed"
                raise HostFailure(result.outcome.status, f"installing as root: {why}")
            return sent
        finally:
            if staging is not None and self._client is not None:
                with contextlib.suppress(HostFailure):
                    self.run(f"rm -rf -- {shlex.quote(staging)}")

    # -- downloads ----------------------------------------------------------------
    def download(
        self, remote: str, local_dir: str, host: str, follow_links: bool = False
    ) -> TransferResult:
        """Download the remote file or directory ``remote`` into
        ``local_dir/host/<remote>`` (see :func:`download_path`). Links inside a
        directory are skipped (reported), or followed with ``follow_links`` (each
        directory once: a loop ends). Raises HostFailure."""
        base = os.path.abspath(local_dir)
        try:
            target = download_path(base, host, remote)
            private_dir(Path(base), "local")  # made 0700, or refused if others can write it
        except (ValueError, UsageError) as exc:
            raise HostFailure(Status.FAILED, str(exc)) from None
        src = self.absolute(remote)
        attrs = self._stat(src)
        if attrs is None:
            raise HostFailure(Status.FAILED, f"remote {remote}: no such file or directory")
        if stat.S_ISDIR(attrs.st_mode or 0):
            files, skipped = self._remote_tree(src, target, base, follow_links)
        elif stat.S_ISREG(attrs.st_mode or 0):
            files, skipped = [(src, target, attrs)], []
        else:
            raise HostFailure(Status.FAILED, f"remote {remote}: not a regular file or directory")
        written: list[str] = []
        unchanged: list[str] = []
        received = 0
        for path, local, file_attrs in files:
            size, changed = self._get_file(path, local, file_attrs.st_size or 0, base)
            received += size
            (written if changed else unchanged).append(local)
        return TransferResult(
            changed=bool(written),
            bytes=received,
            files=tuple(written),
            unchanged=tuple(unchanged),
            skipped=tuple(skipped),
        )

    def _remote_tree(
        self, root: str, local_root: str, base: str, follow_links: bool = False
    ) -> tuple[list[tuple[str, str, paramiko.SFTPAttributes]], list[str]]:
        """Regular files under ``root`` with their local paths; what was skipped. Empty
        directories are created locally as they are found."""
        files = []
        skipped = []
        stack = [(root, local_root)]
        seen = {self._real(root)} if follow_links else set()  # directories entered
        while stack:
            directory, local = stack.pop()
            make_local_dir(local, base)
            for listed in sorted((self._listing(directory) or {}).values(), key=_name):
                entry = listed
                name = entry.filename
                path = posixpath.join(directory, name)
                if follow_links and stat.S_ISLNK(entry.st_mode or 0):
                    target = self._stat(path)  # what the link points to; None: dangling
                    if target is not None and stat.S_ISDIR(target.st_mode or 0):
                        real = self._real(path)
                        if real in seen:
                            skipped.append(path)  # a loop, or a directory already taken
                            continue
                        seen.add(real)
                    if target is not None:
                        target.filename = name
                        entry = target
                if name in (".", "..") or "/" in name or "\0" in name:
                    skipped.append(path)  # a well-behaved server never sends these
                elif stat.S_ISDIR(entry.st_mode or 0):
                    if follow_links and not stat.S_ISLNK(entry.st_mode or 0):
                        seen.add(self._real(path))  # so that no link enters it again
                    stack.append((path, os.path.join(local, name)))
                elif stat.S_ISREG(entry.st_mode or 0):
                    files.append((path, os.path.join(local, name), entry))
                else:
                    skipped.append(path)
        return files, skipped

    def _get_file(self, path: str, local: str, size: int, base: str) -> tuple[int, bool]:
        """Download ``path`` to ``local`` through a temporary file; (bytes, content differed)."""
        make_local_dir(os.path.dirname(local), base)
        digest = hashlib.sha256()
        received = 0
        try:
            fd, tmp = tempfile.mkstemp(
                dir=os.path.dirname(local),
                prefix=f".{os.path.basename(local)}.",
                suffix=TMP_SUFFIX,
            )
        except OSError as exc:
            raise local_failure(exc, os.path.dirname(local)) from None
        try:
            with (
                os.fdopen(fd, "wb") as out,
                self._failures(f"download {path}"),
                self._sftp.open(path, "rb") as remote_file,
            ):
                remote_file.prefetch(size, _PREFETCH)
                while chunk := remote_file.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
            changed = not (os.path.isfile(local) and local_sha256(local) == digest.hexdigest())
            os.replace(tmp, local)
        except OSError as exc:
            raise local_failure(exc, local) from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return received, changed

    def _is_directory(self, path: str) -> bool:
        try:
            return stat.S_ISDIR(self._sftp.stat(path).st_mode or 0)
        except TimeoutError:
            raise  # replies may come out of step now: never taken for "no"
        except OSError:
            return False

    # -- failures -----------------------------------------------------------------
    @contextlib.contextmanager
    def _failures(self, what: str) -> Iterator[None]:
        """Turn what paramiko raises into a HostFailure about ``what``."""
        try:
            yield
        except HostFailure:
            raise
        except REMOTE_ERRORS as exc:
            raise self._failure(exc, what) from None

    def _failure(self, exc: BaseException, what: str) -> HostFailure:
        if isinstance(exc, TimeoutError):
            self._drop()  # replies may still come, out of step: never reuse this session
            return HostFailure(Status.TIMEOUT, f"{what}: no SFTP reply within {self._timeout:g} s")
        if isinstance(exc, (EOFError, paramiko.SSHException, paramiko.SFTPError)):
            self._drop()  # an SFTPError: replies out of step, never reuse this session
            return HostFailure(Status.ERROR, f"{what}: connection lost: {reason(exc)}")
        why = REASONS.get(getattr(exc, "errno", None) or -1) or str(exc).strip() or "failed"
        return HostFailure(Status.FAILED, f"{what}: {why}")

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


@dataclass(frozen=True)
class _RootInstall:
    """What an upload as root does in its one command (see root_install_command)."""

    create: Sequence[str]
    todo: Sequence[tuple[str, str]]
    mode: int | None
    chmods: Sequence[tuple[str, int]]
    ownership: Ownership | None
    chowns: Sequence[str]
    backups: Sequence[tuple[str, str]]


def _name(attrs: paramiko.SFTPAttributes) -> str:
    return attrs.filename
