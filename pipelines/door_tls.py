"""TLS for every door of a machine: `https://` pages and `wss://` conversations.

A kiosk page served over https may not open a `ws://` socket (browsers block mixed
content), so every door a page reaches must speak TLS once one does: the single
server (`avatar-forcing serve`), a fleet's public door (Ray Serve's proxy) and each
kiosk machine's direct door (docs/FLEET.md). All of them take the same two files
from `[server]`: `tls_cert_file` (the certificate chain, PEM: Let's Encrypt's
`fullchain.pem`) and `tls_key_file` (its private key, PEM: `privkey.pem`).

`check_tls_files` loads both into a real `ssl.SSLContext` once, at start-up, so a
missing file, a file that is not PEM, or a key that belongs to another certificate
is a `TLSFileError` naming the file and the problem, not a traceback from deep
inside uvicorn on the first connection.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TLSFileError", "TLSFiles", "check_tls_files"]


class TLSFileError(ValueError):
    """The TLS certificate or key cannot be used (the message names the file)."""


@dataclass(frozen=True)
class TLSFiles:
    """A certificate chain and its private key, both PEM files, checked to match."""

    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        """A server-side context holding the pair (what uvicorn builds from the files)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context


def check_tls_files(cert_file: Path | None, key_file: Path | None) -> TLSFiles | None:
    """The pair as `TLSFiles` after loading it once; None when neither is set.

    Raises:
        TLSFileError: only one of the two is set, a file is missing or unreadable,
            a file is not PEM, or the key does not belong to the certificate.
    """
    if cert_file is None and key_file is None:
        return None
    if cert_file is None or key_file is None:
        given, missing = (("tls_cert_file", "tls_key_file") if key_file is None
                          else ("tls_key_file", "tls_cert_file"))
        raise TLSFileError(f"server.{given} is set but server.{missing} is not: TLS needs both "
                           "the certificate (fullchain.pem) and its private key (privkey.pem)")
    cert_file, key_file = Path(cert_file).expanduser(), Path(key_file).expanduser()
    for setting, path in (("tls_cert_file", cert_file), ("tls_key_file", key_file)):
        _check_readable(setting, path)
    _check_pem(cert_file, "CERTIFICATE", "tls_cert_file", "a PEM certificate (fullchain.pem)")
    _check_pem(key_file, "PRIVATE KEY", "tls_key_file", "a PEM private key (privkey.pem)")
    files = TLSFiles(cert_file, key_file)
    try:
        files.server_context()
    except ssl.SSLError as error:
        if "KEY_VALUES_MISMATCH" in str(error) or "key values mismatch" in str(error):
            raise TLSFileError(f"server.tls_key_file {key_file} is not the private key of the "
                               f"certificate in server.tls_cert_file {cert_file}") from None
        raise TLSFileError(f"cannot use the TLS pair server.tls_cert_file {cert_file} and "
                           f"server.tls_key_file {key_file}: {error}") from None
    except OSError as error:  # a file vanished or changed under us
        raise TLSFileError(f"cannot read the TLS pair {cert_file}, {key_file}: {error}") from None
    return files


def _check_readable(setting: str, path: Path) -> None:
    """Raise `TLSFileError` unless `path` is a file this process can read."""
    if not path.exists():
        raise TLSFileError(f"server.{setting} not found: {path}")
    if not path.is_file():
        raise TLSFileError(f"server.{setting} is not a file: {path}")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as error:
        raise TLSFileError(f"server.{setting} cannot be read: {path}: {error.strerror}") from None


def _check_pem(path: Path, label: str, setting: str, what: str) -> None:
    """Raise `TLSFileError` unless the file holds a PEM block whose label ends in `label`
    (`CERTIFICATE`; `PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`)."""
    text = path.read_bytes().decode("ascii", errors="replace")
    if not any(line.startswith("-----BEGIN ") and line.rstrip().endswith(f"{label}-----")
               for line in text.splitlines()):
        raise TLSFileError(f"server.{setting} {path} is not {what}: no "
                           f"'-----BEGIN ... {label}-----' line in it")
