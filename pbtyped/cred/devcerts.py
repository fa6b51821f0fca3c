"""Development certificates for TLS on one machine: a CA, a server and a client certificate.

``pbtyped certs DIR`` writes them; :func:`write_dev_certificates` does the same from Python.
The server certificate names ``localhost``, ``127.0.0.1`` and ``::1``; the client certificate
serves mutual TLS (``server_context(..., client_ca=)``). They are for development and tests
only: the keys are unencrypted, and the CA's own key is never written, so nothing else can
ever be signed by it. Needs the ``cryptography`` package: ``pip install 'pbtyped[certs]'``.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ModuleNotFoundError as exc:
    raise ModuleNotFoundError(
        f"{__name__} needs the cryptography package: pip install 'pbtyped[certs]'",
        name=exc.name,
    ) from exc

__all__ = ["LOCALHOST", "DevCertificates", "write_dev_certificates"]

#: The names the server certificate is valid for.
LOCALHOST = ("localhost", "127.0.0.1", "::1")

_MAX_DAYS = 3650
# A certificate valid from the moment it is made is refused by a peer whose clock is a little
# behind ours (a container, a VM): start its validity an hour early.
_CLOCK_SKEW = datetime.timedelta(hours=1)
_KEY_MODE = 0o600
_CERT_MODE = 0o644


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


_CA_NAME = _name("pbtyped development CA")
_CLIENT_NAME = "pbtyped development client"


@dataclass(frozen=True, kw_only=True, slots=True)
class DevCertificates:
    """The PEM files :func:`write_dev_certificates` wrote; each key is unencrypted, mode 0600."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    expires: datetime.datetime
    """When the server and client certificates (and the CA) stop being valid, in UTC."""

    def usage(self) -> str:
        """What was written and how to pass it to ``serve(..., ssl=)`` and ``connect(..., ssl=)``.

        This is what ``pbtyped certs`` prints.
        """
        width = max(len(str(path)) for path in (self.ca, self.server_cert, self.client_cert))
        names = ", ".join(LOCALHOST)
        return f"""\
wrote a development CA and certificates for {names}, valid until {self.expires:%Y-%m-%d %H:%M} UTC:
  {self.ca!s:{width}}  the CA both sides trust (its key was not kept)
  {self.server_cert!s:{width}}  the server's certificate; its key is {self.server_key}
  {self.client_cert!s:{width}}  the client's certificate; its key is {self.client_key}
Use them (mutual TLS: the server accepts only clients with a certificate this CA signed):
    import pbtyped as pb
    from pbtyped.cred import client_context, server_context

    server_tls = server_context({str(self.server_cert)!r}, {str(self.server_key)!r}, client_ca={str(self.ca)!r})
    async with pb.serve(root, "127.0.0.1", 8800, ssl=server_tls) as server: ...

    client_tls = client_context({str(self.ca)!r}, certfile={str(self.client_cert)!r}, keyfile={str(self.client_key)!r})
    async with pb.connect("127.0.0.1", 8800, ssl=client_tls) as client: ...
Leave out client_ca=, certfile= and keyfile= and only the server is authenticated.
For development only: the keys are unencrypted; do not add this CA to a system's trust store.
"""  # noqa: E501 - the lines a user copies stay whole


def write_dev_certificates(
    directory: str | os.PathLike[str], *, force: bool = False, days: int = 365
) -> DevCertificates:
    """Write ``ca.pem``, ``server.pem``/``server.key`` and ``client.pem``/``client.key``.

    ``directory`` is created if it is missing. Keys are written with mode 0600, certificates
    with 0644 (both less the umask). If any of the five files exists, nothing is written and
    :class:`FileExistsError` names them, unless ``force`` is true: then they are replaced (a
    symbolic link in their place is replaced, never followed). The certificates are valid for
    ``days`` days (1 to 3650).
    """
    if not 1 <= days <= _MAX_DAYS:
        raise ValueError(f"days must be from 1 to {_MAX_DAYS}, not {days!r}")
    folder = Path(directory)
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    expires = now + datetime.timedelta(days=days)
    files = DevCertificates(
        ca=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
        expires=expires,
    )
    existing = [str(path) for path in _paths(files) if os.path.lexists(path)]
    if existing and not force:
        raise FileExistsError(
            f"refusing to overwrite {', '.join(existing)} (nothing was written): "
            "use --force, or force=True, to replace them"
        )
    ca = _Issuer(now - _CLOCK_SKEW, expires)
    server_cert, server_key = ca.leaf("localhost", ExtendedKeyUsageOID.SERVER_AUTH, _localhost())
    client_cert, client_key = ca.leaf(_CLIENT_NAME, ExtendedKeyUsageOID.CLIENT_AUTH, None)
    folder.mkdir(parents=True, exist_ok=True)
    for path, data, mode in (
        (files.ca, _pem(ca.certificate), _CERT_MODE),
        (files.server_key, _private_pem(server_key), _KEY_MODE),
        (files.server_cert, _pem(server_cert), _CERT_MODE),
        (files.client_key, _private_pem(client_key), _KEY_MODE),
        (files.client_cert, _pem(client_cert), _CERT_MODE),
    ):
        _write(path, data, mode, force=force)
    return files


def _paths(files: DevCertificates) -> tuple[Path, ...]:
    return (files.ca, files.server_cert, files.server_key, files.client_cert, files.client_key)


def _localhost() -> x509.SubjectAlternativeName:
    host, *addresses = LOCALHOST
    return x509.SubjectAlternativeName(
        [x509.DNSName(host), *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in addresses)]
    )


class _Issuer:
    """A CA made for one run: it signs the leaf certificates, and its key is never written."""

    def __init__(self, not_before: datetime.datetime, not_after: datetime.datetime) -> None:
        self._not_before = not_before
        self._not_after = not_after
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.certificate = self._sign(
            _CA_NAME,
            self._key.public_key(),
            [
                (x509.BasicConstraints(ca=True, path_length=0), True),
                (_key_usage(certificates=True), True),
            ],
        )

    def leaf(
        self,
        common_name: str,
        purpose: x509.ObjectIdentifier,
        names: x509.SubjectAlternativeName | None,
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """A new key and its certificate for ``purpose`` (server or client authentication)."""
        key = ec.generate_private_key(ec.SECP256R1())
        extensions: list[tuple[x509.ExtensionType, bool]] = [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (_key_usage(certificates=False), True),
            (x509.ExtendedKeyUsage([purpose]), False),
            (x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), False),
        ]
        if names is not None:
            extensions.append((names, False))
        return self._sign(_name(common_name), key.public_key(), extensions), key

    def _sign(
        self,
        subject: x509.Name,
        public_key: ec.EllipticCurvePublicKey,
        extensions: list[tuple[x509.ExtensionType, bool]],
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(_CA_NAME)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._not_before)
            .not_valid_after(self._not_after)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(self._key, hashes.SHA256())


def _key_usage(*, certificates: bool) -> x509.KeyUsage:
    # A CA signs certificates (and CRLs); a leaf signs TLS handshakes (ECDSA), nothing else.
    return x509.KeyUsage(
        digital_signature=not certificates,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=certificates,
        crl_sign=certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int, *, force: bool) -> None:
    if force:
        path.unlink(missing_ok=True)  # a link is removed, not followed
    # O_EXCL: the file is ours from its creation, with its mode; a file or link that appeared
    # since the check fails the write instead of being written through.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
