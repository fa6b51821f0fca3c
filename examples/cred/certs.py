"""Throw-away certificates for the demo, made with the ``openssl`` command.

A CA and a server certificate for 127.0.0.1 signed by it. In production your certificates come
from your CA; the client trusts that CA (``client_context(cafile=...)``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["make_demo_certificates"]

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
"""
_EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


def make_demo_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """Create ``ca.pem``, ``server.pem`` and ``server.key`` in ``directory``; return them."""
    config = directory / "openssl.cnf"
    config.write_text(_CONFIG)
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key, csr = directory / "server.pem", directory / "server.key", directory / "server.csr"
    _openssl(
        "req", "-x509", "-new", *_EC_KEY, "-keyout", ca_key, "-out", ca, "-days", "1",
        "-subj", "/CN=Demo Bank CA", "-config", config, "-extensions", "ca_ext",
    )  # fmt: skip
    _openssl(
        "req", "-new", *_EC_KEY, "-keyout", key, "-out", csr,
        "-subj", "/CN=127.0.0.1", "-config", config,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-set_serial", "1",
        "-days", "1", "-out", cert, "-extfile", config, "-extensions", "server_ext",
    )  # fmt: skip
    return ca, cert, key
