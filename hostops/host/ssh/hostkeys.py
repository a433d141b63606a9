"""Host keys: known_hosts files as OpenSSH reads them (hostfile.c), fingerprints, and
recording new keys.

A line is ``[@cert-authority|@revoked] PATTERNS KEYTYPE BASE64 [comment]``; PATTERNS
is one hashed name (``|1|salt|hash``) or a comma list of names with ``*`` and ``?``
wildcards and ``!`` negations (``name,!name`` never matches). For a host, every
matching plain line of every file counts: its key is known when any of them holds
it (two keys of one type are fine), changed when some hold another key and none
this one, new when none match. A matching ``@revoked`` key is refused.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import hmac
import os
import struct
from dataclasses import dataclass, field

import paramiko

from hostops.host.base import HostFailure
from hostops.host.ssh_config.patterns import match_hostname
from hostops.models import Status

CA = "@cert-authority"
REVOKED = "@revoked"
PLAIN = ""


def default_known_hosts() -> str:
    """Where known host keys live when nothing says otherwise."""
    return os.path.expanduser("~/.ssh/known_hosts")


def known_hosts_name(address: str, port: int) -> str:
    """How OpenSSH names a host in known_hosts: ``addr`` on port 22, ``[addr]:port`` otherwise."""
    return address if port == 22 else f"[{address}]:{port}"


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's way of showing a key: ``ssh-ed25519 SHA256:...``."""
    return blob_fingerprint(key.get_name(), key.asbytes())


def blob_fingerprint(key_type: str, blob: bytes) -> str:
    digest = base64.b64encode(hashlib.sha256(blob).digest())
    return f"{key_type} SHA256:{digest.decode().rstrip('=')}"


@dataclass(frozen=True)
class Entry:
    """One key line: its marker (PLAIN, CA or REVOKED), key type and blob, and where."""

    marker: str
    key_type: str
    blob: bytes
    path: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class KnownHosts:
    """One parsed known_hosts file, indexed by name.

    paramiko's ``HostKeys.lookup`` scans every entry for every lookup, which makes
    a run over N hosts with an N-line file quadratic. Lines naming only plain
    names are found through a dict; only wildcard, negated and hashed lines are
    matched one by one (a hashed one needs one HMAC: that is what hashing is for).
    """

    path: str
    skipped: list[int] = field(default_factory=list)  # lines that could not be read
    unreadable: str | None = None  # why the file could not be read (it counts as empty)
    _plain: dict[str, list[Entry]] = field(default_factory=dict)
    _patterns: list[tuple[str, Entry]] = field(default_factory=list)
    _hashed: list[tuple[bytes, bytes, Entry]] = field(default_factory=list)  # salt, hash

    @classmethod
    def load(cls, path: str) -> KnownHosts:
        """Parse ``path``. A file that is missing, or cannot be read, counts as empty, as
        with OpenSSH (``unreadable`` says why, for a warning)."""
        known = cls(path)
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for number, raw in enumerate(f, 1):
                    known._line(raw, number)
        except FileNotFoundError:
            pass
        except OSError as exc:
            known.unreadable = exc.strerror or str(exc)
        return known

    def _line(self, raw: str, number: int) -> None:
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            return
        marker = PLAIN
        if fields[0].startswith("@"):
            marker = fields.pop(0)
            if marker not in (CA, REVOKED):
                return  # OpenSSH: an unknown marker, the line is ignored
        if len(fields) < 3 or (entry := _entry(marker, fields, self.path, number)) is None:
            self.skipped.append(number)  # as OpenSSH: skip the line, the rest still counts
            return
        names = fields[0]
        if names.startswith("|1|"):
            salt_hash = _hashed_name(names)
            if salt_hash is None:
                self.skipped.append(number)
                return
            self._hashed.append((*salt_hash, entry))
        elif any(c in names for c in "*?!"):
            self._patterns.append((names, entry))
        else:
            for name in names.split(","):
                self._plain.setdefault(name.lower(), []).append(entry)

    def add(self, name: str, key_type: str, blob: bytes) -> None:
        """Know a key just recorded (accept-new)."""
        self._plain.setdefault(name.lower(), []).append(Entry(PLAIN, key_type, blob, self.path, 0))

    def matching(self, name: str) -> list[Entry]:
        """Every entry whose names match ``name`` (as OpenSSH's match_maybe_hashed)."""
        lowered = name.lower()
        found = list(self._plain.get(lowered, ()))
        found += [e for names, e in self._patterns if match_hostname(lowered, names) == 1]
        for salt, digest, entry in self._hashed:
            if hmac.compare_digest(hmac.new(salt, lowered.encode(), "sha1").digest(), digest):
                found.append(entry)
        return found


def _entry(marker: str, fields: list[str], path: str, number: int) -> Entry | None:
    """The key of a line, or None when OpenSSH could not read it either."""
    key_type, text = fields[1], fields[2]
    try:
        blob = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(blob) < 4:
        return None
    (length,) = struct.unpack(">I", blob[:4])
    if blob[4 : 4 + length] != key_type.encode():
        return None
    return Entry(marker, key_type, blob, path, number)


def hash_name(name: str) -> str:
    """``|1|salt|hash``: how OpenSSH writes a name under HashKnownHosts."""
    salt = os.urandom(20)
    digest = hmac.new(salt, name.encode(), "sha1").digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def _names(field: str, name: str) -> bool:
    """The names field of a line (hashed or patterns) matches ``name``."""
    if field.startswith("|1|"):
        salt_hash = _hashed_name(field)
        return salt_hash is not None and hmac.compare_digest(
            hmac.new(salt_hash[0], name.encode(), "sha1").digest(), salt_hash[1]
        )
    return match_hostname(name, field) == 1


def _hashed_name(text: str) -> tuple[bytes, bytes] | None:
    parts = text.split("|")
    if len(parts) != 4:
        return None
    try:
        return base64.b64decode(parts[2]), base64.b64decode(parts[3])
    except (binascii.Error, ValueError):
        return None


@dataclass(frozen=True)
class Verdict:
    """What the known_hosts files say about a key for a name (OpenSSH's HostStatus)."""

    status: str  # "ok", "new", "changed" or "revoked"
    entry: Entry | None = None  # the matching line (ok) or one that differs (changed)


def check_key(entries: list[Entry], key_type: str, blob: bytes) -> Verdict:
    """OpenSSH's check_key_in_hostkeys for a plain key over the entries matching a name."""
    verdict = Verdict("new")
    for entry in entries:
        if entry.marker != PLAIN:
            continue
        if entry.key_type == key_type and entry.blob == blob:
            verdict = Verdict("ok", entry)
            break
        verdict = Verdict("changed", entry)
    revoked = next((e for e in entries if e.marker == REVOKED and e.blob == blob), None)
    return Verdict("revoked", revoked) if revoked else verdict


def append_host_key(
    path: str, name: str, key_type: str, blob: bytes, *, hashed: bool = False
) -> None:
    """accept-new: append ``name``'s key to ``path``, safely against concurrent writers.

    The file is locked; lines another worker appended since we parsed it are
    checked textually (no re-parse), so a key recorded elsewhere meanwhile is
    compared, not duplicated. Raises HostFailure if it was recorded differently,
    OSError if the file cannot be written.
    """
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    name = name.lower()  # as OpenSSH writes it
    encoded = base64.b64encode(blob).decode()
    line = f"{hash_name(name) if hashed else name} {key_type} {encoded}\n"
    with open(path, "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            f.seek(0)
            for existing in f:
                fields = existing.split()
                if len(fields) >= 3 and fields[1] == key_type and _names(fields[0], name):
                    if fields[2] != encoded:
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
