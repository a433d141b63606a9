"""Whether to trust the key a host shows, as OpenSSH's check_host_key decides it.

The name looked up is HostKeyAlias, else ``[address]:port`` (``address`` on port 22);
every UserKnownHostsFile is read, then every GlobalKnownHostsFile. A host certificate
is trusted when a matching ``@cert-authority`` line holds its CA and the certificate
is valid for the host; otherwise (as OpenSSH) the certified key alone is looked up.
A key unknown under ``[address]:port`` but known under ``address`` is known. New keys
are recorded in the first UserKnownHostsFile under accept-new; a file that cannot be
written is warned about and the connection goes on, as with OpenSSH.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import paramiko

from hostops.host.base import HostFailure
from hostops.host.ssh import certificates
from hostops.host.ssh._paramiko import HOST_CERTIFICATE_TYPES
from hostops.host.ssh.hostkeys import (
    CA,
    PLAIN,
    REVOKED,
    Entry,
    Verdict,
    blob_fingerprint,
    check_key,
    default_known_hosts,
    known_hosts_name,
)
from hostops.models import Host, HostKeyPolicy, Status

if TYPE_CHECKING:
    from hostops.host.ssh.context import SshContext

# Names OpenSSH never writes to known_hosts (sshconnect.c: check_host_key).
_UNWRITABLE = set("@?*#[]|'\"\\")


@dataclass(frozen=True)
class Lookup:
    """What the known_hosts files say about one host, read before the handshake."""

    name: str  # the name looked up: HostKeyAlias, else [address]:port
    principal: str  # the name a host certificate must carry
    entries: list[Entry]
    user_files: tuple[str, ...]
    plain_entries: list[Entry]  # under the address without its port (asked when unknown)

    def preferred_key_types(self) -> list[str]:
        """Key types to ask the host for first: certificates when a CA line covers it,
        then the types already known (OpenSSH's order_hostkeyalgs)."""
        wanted: list[str] = []
        if any(e.marker == CA for e in self.entries):
            wanted += HOST_CERTIFICATE_TYPES
        for entry in self.entries:
            if entry.marker == PLAIN:
                wanted += _ALGORITHMS.get(entry.key_type, [entry.key_type])
        return list(dict.fromkeys(wanted))


_ALGORITHMS = {"ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]}


def lookup(host: Host, ctx: SshContext) -> Lookup:
    """The entries of every known_hosts file for ``host`` (files parsed once per process)."""
    alias = host.ssh.host_key_alias
    name = alias or known_hosts_name(host.address, host.port)
    user_files = host.ssh.known_hosts_files or (host.known_hosts or default_known_hosts(),)
    entries: list[Entry] = []
    plain_entries: list[Entry] = []
    for path in (*user_files, *host.ssh.global_known_hosts):
        known = ctx.host_keys(path)
        entries += known.matching(name)
        if not alias and host.port != 22:
            plain_entries += known.matching(host.address)
    return Lookup(name, alias or host.address, entries, user_files, plain_entries)


def still_trusted(key: paramiko.PKey, host: Host, ctx: SshContext) -> bool:
    """Whether ``key``, accepted when the connection was made, is still accepted by the
    known_hosts files and policy of ``ctx`` as they are now, without recording anything
    (a kept connection is reused only then: a key removed or changed since is never
    hidden by a warm connection; the host connects anew and meets the policy)."""
    policy = ctx.options.host_key_policy or host.host_key_policy or HostKeyPolicy.STRICT
    if policy is HostKeyPolicy.OFF:
        return True
    found = lookup(host, ctx)
    key_type, blob = key.get_name(), key.asbytes()
    certificate = _certificate(key)
    if certificate is not None:
        if _trust_certificate(certificate, found)[0]:
            return True
        key_type, blob = certificate.key_type, certificate.plain_blob
    verdict = check_key(found.entries, key_type, blob).status
    return verdict == "ok" or (
        verdict == "new" and check_key(found.plain_entries, key_type, blob).status == "ok"
    )


def verify(
    key: paramiko.PKey,
    found: Lookup,
    host: Host,
    ctx: SshContext,
    warn: Callable[[str], None],
) -> None:
    """Accept ``key`` for ``host`` or raise HostFailure (hostkey_rejected), under the
    run's --host-key-policy, else the host's StrictHostKeyChecking, else strict."""
    policy = ctx.options.host_key_policy or host.host_key_policy or HostKeyPolicy.STRICT
    key_type, blob = key.get_name(), key.asbytes()
    cert_problem = ""
    certificate = _certificate(key)
    if certificate is not None:
        trusted, cert_problem = _trust_certificate(certificate, found)
        if trusted:
            return
        key_type, blob = certificate.key_type, certificate.plain_blob  # as OpenSSH: the key alone
    verdict = check_key(found.entries, key_type, blob)
    shown = blob_fingerprint(key_type, blob)
    if verdict.status == "revoked":
        where = verdict.entry.path if verdict.entry else "known_hosts"
        if policy is not HostKeyPolicy.OFF:
            raise HostFailure(
                Status.HOSTKEY_REJECTED,
                f"host key {shown} of {found.name} is marked @revoked in {where}",
            )
        warn(
            f"host key {shown} is marked @revoked in {where}: accepted only because of"
            " --host-key-policy off"
        )
        return
    if verdict.status == "ok" or (
        verdict.status == "new" and check_key(found.plain_entries, key_type, blob).status == "ok"
    ):
        return
    if policy is HostKeyPolicy.OFF:
        warn(f"host key not verified ({shown}): --host-key-policy off")
        return
    if verdict.status == "changed":
        old = verdict.entry
        assert old is not None
        raise HostFailure(
            Status.HOSTKEY_REJECTED,
            f"HOST KEY CHANGED for {found.name}: {old.path} has"
            f" {blob_fingerprint(old.key_type, old.blob)}, the host now shows {shown}:"
            f" possible man-in-the-middle; if the change is expected, remove the old key"
            f" (line {old.line}) with: ssh-keygen -f {old.path} -R '{found.name}'",
        )
    if policy is HostKeyPolicy.ACCEPT_NEW:  # as OpenSSH: a refused certificate's key too
        if cert_problem:
            warn(cert_problem)
        _record(found, host, key_type, blob, ctx, warn)
        return
    path = found.user_files[0]
    why = f"; {cert_problem}" if cert_problem else _ca_note(found)
    raise HostFailure(
        Status.HOSTKEY_REJECTED,
        f"unknown host key for {found.name} ({shown}); verify it, then add it with: "
        f"ssh-keyscan -p {host.port} {host.address} >> {path} (or use --host-key-policy"
        f" accept-new){why}",
    )


def _certificate(key: paramiko.PKey) -> certificates.Certificate | None:
    blob = key.public_blob
    if blob is None or not blob.key_type.endswith(certificates.CERT_SUFFIX):
        return None
    try:
        return certificates.parse(blob.key_blob)
    except ValueError:
        return None


def _trust_certificate(cert: certificates.Certificate, found: Lookup) -> tuple[bool, str]:
    """(trusted, why not): a matching CA line holds the certificate's signer, and the
    certificate is valid for the host."""
    authorities = [e for e in found.entries if e.marker == CA]
    if any(e.marker == REVOKED and e.blob == cert.signature_key for e in found.entries):
        return False, "the host certificate's CA key is marked @revoked"
    signer = next((e for e in authorities if e.blob == cert.signature_key), None)
    if signer is None:
        if not authorities:
            return False, ""
        return False, (
            f"the host certificate (key id {cert.key_id!r}) is not signed by a CA known for"
            f" {found.name} ({', '.join(e.where for e in authorities)})"
        )
    problem = certificates.check_host_certificate(cert, found.principal)
    if problem is not None:
        return False, f"host certificate (key id {cert.key_id!r}) rejected: {problem}"
    return True, ""


def _ca_note(found: Lookup) -> str:
    lines = [e.where for e in found.entries if e.marker == CA]
    if not lines:
        return ""
    return f"; a @cert-authority line covers it ({lines[0]}) but the host showed no certificate"


def _record(
    found: Lookup,
    host: Host,
    key_type: str,
    blob: bytes,
    ctx: SshContext,
    warn: Callable[[str], None],
) -> None:
    """accept-new: record the key in the first UserKnownHostsFile (never a name OpenSSH
    would not write); a file that cannot be written is a warning, not a failure."""
    shown = blob_fingerprint(key_type, blob)
    path = found.user_files[0]
    if _UNWRITABLE & set(host.ssh.host_key_alias or host.address):
        warn(f"accepted new host key {shown}; not recorded: {found.name!r} is not a name to record")
        return
    try:
        ctx.record_host_key(path, found.name, key_type, blob, hashed=host.ssh.hash_known_hosts)
    except OSError as exc:
        warn(
            f"accepted new host key {shown}, but could not record it in {path}:"
            f" {exc.strerror or exc} (as ssh, connecting anyway)"
        )
        return
    warn(f"recorded new host key {shown} in {path}")


__all__ = ["Lookup", "Verdict", "lookup", "verify"]
