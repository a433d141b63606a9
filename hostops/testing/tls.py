"""Generated TLS material for a test Dask cluster: a CA and certificates it signs.

Dask's TLS (``distributed.comm.tls``) authenticates both ends with certificates signed
by one CA and does not check host names, so one certificate per role (scheduler,
worker, client) is what a real deployment needs too; the README's "Cluster" section
shows the same files used by ``dask scheduler`` and ``dask worker``.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_DAYS = 7  # test material: short-lived on purpose


@dataclass(frozen=True)
class CertPair:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class ClusterCerts:
    """A CA and one certificate per role, all under one directory."""

    ca: Path
    scheduler: CertPair
    worker: CertPair
    client: CertPair

    def client_environment(self) -> dict[str, str]:
        """Dask's configuration, as environment variables, for a client of this cluster:
        the same variables the README documents for ``hostops --cluster tls://...``."""
        return {
            "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(self.ca),
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(self.client.cert),
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(self.client.key),
            "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
        }


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_DAYS))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(issuer_key, hashes.SHA256())


def make_cluster_certs(directory: Path, *, ca_name: str = "hostops test CA") -> ClusterCerts:
    """Write a new CA and scheduler, worker and client certificates it signs into
    ``directory`` (keys 0600). Each call makes a new CA: certificates of another call
    are not trusted by this one's."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate(ca_name, ca_key, _name(ca_name), ca_key, ca=True)
    ca_path = directory / "ca.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pairs = {}
    for role in ("scheduler", "worker", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(f"hostops-{role}", key, ca_cert.subject, ca_key, ca=False)
        pair = CertPair(directory / f"{role}.pem", directory / f"{role}.key")
        pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, pair.key)
        pairs[role] = pair
    return ClusterCerts(ca_path, pairs["scheduler"], pairs["worker"], pairs["client"])
