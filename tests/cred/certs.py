"""Test certificates made at test time with the ``openssl`` command (no ``cryptography``).

A CA, a server certificate for 127.0.0.1/localhost and a client certificate it signed, and a
second, untrusted ("rogue") CA with its own client certificate.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Certificates", "have_openssl", "make_certificates"]

_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


@dataclass(frozen=True)
class Certificates:
    """Paths of the PEM files (each key unencrypted, beside its certificate)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_ca: Path
    rogue_client_cert: Path
    rogue_client_key: Path


def have_openssl() -> bool:
    """True if the ``openssl`` command is on PATH."""
    return shutil.which("openssl") is not None


def _run(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


def _key_args(key: Path) -> list[str | Path]:
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key]


def _ca(directory: Path, config: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _run(
        "req", "-x509", "-new", *_key_args(key), "-out", cert, "-days", "2",
        "-subj", f"/CN=pbtyped {name}", "-config", config, "-extensions", "ca_ext",
    )  # fmt: skip
    return cert, key


def _leaf(
    directory: Path, config: Path, name: str, ca: tuple[Path, Path], extensions: str
) -> tuple[Path, Path]:
    cert, key, csr = (directory / f"{name}.{ext}" for ext in ("pem", "key", "csr"))
    _run("req", "-new", *_key_args(key), "-out", csr, "-subj", f"/CN={name}", "-config", config)
    _run(
        "x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-out", cert, "-days", "2",
        "-set_serial", str(secrets.randbits(63)), "-extfile", config, "-extensions", extensions,
    )  # fmt: skip
    return cert, key


def make_certificates(directory: Path) -> Certificates:
    """Create every test certificate in ``directory``."""
    config = directory / "openssl.cnf"
    config.write_text(_CONFIG)
    ca = _ca(directory, config, "ca")
    rogue = _ca(directory, config, "rogue-ca")
    server = _leaf(directory, config, "server", ca, "server_ext")
    client = _leaf(directory, config, "client", ca, "client_ext")
    rogue_client = _leaf(directory, config, "rogue-client", rogue, "client_ext")
    return Certificates(ca[0], *server, *client, rogue[0], *rogue_client)
