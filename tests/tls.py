"""Self-signed TLS certificates for the tests: a lab certificate, made on the spot.

Made with `cryptography` (a dependency already: aiortc's DTLS), for `127.0.0.1` and
`localhost`, so a test can start the real server with TLS on loopback and a client
can trust exactly that certificate: the Python SDK with an `ssl.SSLContext` holding
it, Chromium with `--ignore-certificate-errors-spki-list=<spki_sha256>` (the hash of
this certificate's public key only, not every certificate).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class LabCertificate:
    """A self-signed certificate and its key on disk, and how a client trusts it."""

    cert_file: Path
    key_file: Path
    #: base64 SHA-256 of the DER SubjectPublicKeyInfo: Chromium's SPKI pin
    spki_sha256: str

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this certificate and nothing else."""
        return ssl.create_default_context(cafile=str(self.cert_file))


def make_lab_certificate(folder: Path, name: str = "lab") -> LabCertificate:
    """Write `<name>-cert.pem` and `<name>-key.pem` (P-256, valid for a day) into `folder`."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"avatar-forcing {name}")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / f"{name}-cert.pem", folder / f"{name}-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return LabCertificate(cert_file, key_file,
                          base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii"))
