"""Host keys: known_hosts files as OpenSSH reads them, fingerprints, and recording new keys."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import re

import paramiko

from hostops.host.base import HostFailure
from hostops.models import Status


def default_known_hosts() -> str:
    """Where known host keys live when the inventory does not say."""
    return os.path.expanduser("~/.ssh/known_hosts")


def known_hosts_name(address: str, port: int) -> str:
    """How OpenSSH names a host in known_hosts: ``addr`` on port 22, ``[addr]:port`` otherwise."""
    return address if port == 22 else f"[{address}]:{port}"


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's way of showing a key: ``ssh-ed25519 SHA256:...``."""
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest())
    return f"{key.get_name()} SHA256:{digest.decode().rstrip('=')}"


class KnownHosts:
    """A parsed known_hosts file, indexed by host name.

    paramiko's ``HostKeys.lookup`` scans every entry for every lookup, which
    makes a run over N hosts with an N-line file quadratic. Plain names are
    looked up in a dict here; only hashed entries (``HashKnownHosts yes``)
    still need one HMAC each, since that is what hashing is for.
    """

    def __init__(self) -> None:
        self._plain: dict[str, dict[str, paramiko.PKey]] = {}
        self._hashed: list[tuple[str, str, paramiko.PKey]] = []  # (salt, hash, key)
        self.skipped: list[int] = []  # line numbers of lines that could not be read
        self.unsupported: list[int] = []  # @cert-authority lines
        self.authorities: list[tuple[int, str]] = []  # (line, host patterns) of those lines
        self.revoked: set[str] = set()  # base64 key blobs from @revoked lines

    @classmethod
    def load(cls, path: str) -> KnownHosts:
        """Parse ``path`` (a missing file is an empty one). Raises HostFailure if unreadable."""
        known = cls()
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for lineno, raw in enumerate(f, 1):
                    line = raw.strip()
                    if not line or line.startswith("#"):
                        continue
                    if line.startswith("@revoked"):  # refused for any host, under any policy
                        fields = line.split()
                        if len(fields) >= 4:
                            known.revoked.add(fields[3])
                        continue
                    if line.startswith("@"):  # @cert-authority: host certificates unsupported
                        known.unsupported.append(lineno)
                        fields = line.split()
                        if len(fields) >= 2:
                            known.authorities.append((lineno, fields[1]))
                        continue
                    try:
                        entry = paramiko.hostkeys.HostKeyEntry.from_line(line, lineno)
                    except (paramiko.hostkeys.InvalidHostKey, paramiko.SSHException, ValueError):
                        entry = None
                    if entry is None:  # as OpenSSH does: skip the line, the rest still counts
                        known.skipped.append(lineno)
                        continue
                    for name in entry.hostnames:
                        if name.startswith("|1|"):
                            _, _, salt, digest = name.split("|", 3)
                            known._hashed.append((salt, digest, entry.key))
                        else:
                            known.add(name, entry.key)
        except FileNotFoundError:
            pass
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise HostFailure(Status.ERROR, f"cannot read known_hosts {path}: {exc}") from None
        return known

    def add(self, name: str, key: paramiko.PKey) -> None:
        self._plain.setdefault(name, {}).setdefault(key.get_name(), key)

    def authority_lines(self, name: str) -> list[int]:
        """Lines of @cert-authority entries whose host patterns match ``name``."""
        found = []
        for lineno, patterns in self.authorities:
            matched = False
            for pattern in patterns.split(","):
                if pattern.startswith("!"):
                    if _matches(name, pattern[1:]):
                        matched = False
                        break
                elif _matches(name, pattern):
                    matched = True
            if matched:
                found.append(lineno)
        return found

    def lookup(self, name: str) -> dict[str, paramiko.PKey]:
        """Key type -> key for ``name`` (empty if unknown)."""
        found = dict(self._plain.get(name, {}))
        for salt, digest, key in self._hashed:
            if paramiko.HostKeys.hash_host(name, salt).split("|")[3] == digest:
                found.setdefault(key.get_name(), key)
        return found


def _matches(name: str, pattern: str) -> bool:
    """OpenSSH's host patterns: ``*`` and ``?`` are wildcards, everything else is literal
    (``[addr]:port`` brackets included), case-insensitive."""
    wildcards = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(wildcards, name, re.IGNORECASE) is not None


def append_host_key(path: str, name: str, key: paramiko.PKey) -> None:
    """accept-new: append ``name``'s key to ``path``, safely against concurrent writers.

    The file is locked; lines another worker appended since we parsed it are
    checked textually (no re-parse), so a key recorded elsewhere meanwhile is
    compared, not duplicated. Raises HostFailure if it was recorded differently.
    """
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    line = f"{name} {key.get_name()} {key.get_base64()}\n"
    with open(path, "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            f.seek(0)
            for existing in f:
                fields = existing.split()
                if (
                    len(fields) >= 3
                    and name in fields[0].split(",")
                    and fields[1] == key.get_name()
                ):
                    if fields[2] != key.get_base64():
                        raise HostFailure(
                            Status.HOSTKEY_REJECTED,
                            f"host key for {name} was recorded differently by another session meanwhile",
                        )
                    break
            else:
                f.write(line)
                f.flush()
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
