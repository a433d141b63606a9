"""OpenSSH certificates (PROTOCOL.certkeys): read one, and check a host certificate as
OpenSSH's sshkey_cert_check_host does: signed by the CA, a host certificate, valid now,
and naming the host among its principals (an empty list names every host)."""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

import paramiko

HOST_CERTIFICATE = 2
CERT_SUFFIX = "-cert-v01@openssh.com"
# OpenSSH's default CASignatureAlgorithms: no SHA-1 RSA signatures.
CA_SIGNATURE_ALGORITHMS = frozenset(
    {
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
        "rsa-sha2-512",
        "rsa-sha2-256",
    }
)
# The public key fields that follow the nonce, per certified key type (their SSH types).
_KEY_FIELDS = {
    "ssh-ed25519": ("string",),
    "ssh-rsa": ("mpint", "mpint"),
    "ecdsa-sha2-nistp256": ("string", "string"),
    "ecdsa-sha2-nistp384": ("string", "string"),
    "ecdsa-sha2-nistp521": ("string", "string"),
}


@dataclass(frozen=True)
class Certificate:
    """The fields of an OpenSSH certificate that a check needs."""

    key_type: str  # the certified key's plain type (ssh-ed25519)
    plain_blob: bytes  # the certified key alone, as known_hosts would hold it
    cert_type: int  # 1 user, 2 host
    key_id: str
    principals: tuple[str, ...]
    valid_after: int
    valid_before: int
    signature_key: bytes  # the CA's public key blob
    signature: bytes
    signed: bytes  # everything the signature covers


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def raw(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("truncated certificate")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint32(self) -> int:
        return int(struct.unpack(">I", self.raw(4))[0])

    def uint64(self) -> int:
        return int(struct.unpack(">Q", self.raw(8))[0])

    def string(self) -> bytes:
        return self.raw(self.uint32())


def parse(blob: bytes) -> Certificate:
    """Read a certificate blob. Raises ValueError for one that is not a certificate of a
    supported key type, or is truncated."""
    r = _Reader(blob)
    cert_name = r.string().decode("ascii", "replace")
    if not cert_name.endswith(CERT_SUFFIX):
        raise ValueError(f"not a certificate: {cert_name}")
    key_type = cert_name[: -len(CERT_SUFFIX)]
    if key_type not in _KEY_FIELDS:
        raise ValueError(f"unsupported certificate type {cert_name}")
    r.string()  # nonce
    start = r.pos
    for _ in _KEY_FIELDS[key_type]:
        r.string()  # an mpint is a string on the wire
    plain = _string(key_type.encode()) + blob[start : r.pos]
    r.uint64()  # serial
    cert_type = r.uint32()
    key_id = r.string().decode("utf-8", "replace")
    names = _Reader(r.string())
    principals = []
    while names.pos < len(names.data):
        principals.append(names.string().decode("utf-8", "replace"))
    valid_after, valid_before = r.uint64(), r.uint64()
    r.string()  # critical options
    r.string()  # extensions
    r.string()  # reserved
    signature_key = r.string()
    signed_end = r.pos
    signature = r.string()
    return Certificate(
        key_type,
        plain,
        cert_type,
        key_id,
        tuple(principals),
        valid_after,
        valid_before,
        signature_key,
        signature,
        blob[:signed_end],
    )


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def check_host_certificate(cert: Certificate, name: str, now: float | None = None) -> str | None:
    """Why ``cert`` cannot vouch for host ``name`` (None: it can), the CA aside."""
    now = time.time() if now is None else now
    if cert.cert_type != HOST_CERTIFICATE:
        return "the certificate is not a host certificate"
    if now < cert.valid_after:
        return f"the certificate is not valid yet (from {_when(cert.valid_after)})"
    if now >= cert.valid_before:
        return f"the certificate expired ({_when(cert.valid_before)})"
    if cert.principals and name not in cert.principals:
        return f"the certificate is for {', '.join(cert.principals)}, not {name}"
    return _check_signature(cert)


def _check_signature(cert: Certificate) -> str | None:
    algorithm = _Reader(cert.signature).string().decode("ascii", "replace")
    if algorithm not in CA_SIGNATURE_ALGORITHMS:
        return f"the CA signed it with {algorithm}, which OpenSSH does not accept"
    ca_type = _Reader(cert.signature_key).string().decode("ascii", "replace")
    try:
        ca = paramiko.PKey.from_type_string(ca_type, cert.signature_key)
        valid = ca.verify_ssh_sig(cert.signed, paramiko.Message(cert.signature))
    except (paramiko.SSHException, ValueError, TypeError) as exc:
        return f"cannot read the CA key of the certificate: {exc}"
    return None if valid else "the CA's signature on the certificate is not valid"


def _when(stamp: int) -> str:
    if stamp >= 2**63:
        return "forever"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))
