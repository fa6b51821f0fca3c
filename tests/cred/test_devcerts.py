"""Issue 12, item 5: ``pbtyped certs DIR`` writes a development CA, server and client
certificates for localhost that work for mutual TLS on 127.0.0.1, keys private, nothing
overwritten without ``--force``."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import stat
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

import pbtyped as pb
from pbtyped.cli import main as cli
from pbtyped.cred import client_context, devcerts, server_context
from pbtyped.cred.devcerts import DevCertificates, write_dev_certificates

from .realms import Counting

NAMES = ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")


def _contents(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _printed_context(out: str, name: str) -> ssl.SSLContext:
    """The context built by the line ``name = ...`` of the printed usage, run as printed."""
    (line,) = (line for line in out.splitlines() if line.startswith(f"    {name} = "))
    code = line.split(" = ", 1)[1]
    context = eval(code, {"server_context": server_context, "client_context": client_context})
    assert isinstance(context, ssl.SSLContext)
    return context


def test_the_printed_usage_serves_mutual_tls_on_127_0_0_1(run, tmp_path: Path, capsys) -> None:
    """The command's files, used exactly as its output says, make a mutual-TLS connection that
    verifies under VERIFY_X509_STRICT (Python 3.13's default); a client without the client
    certificate is refused before any root method runs."""
    directory = tmp_path / "certs"
    assert cli(["certs", str(directory)]) == 0
    out = capsys.readouterr().out
    assert sorted(p.name for p in directory.iterdir()) == sorted(NAMES)
    lines = out.splitlines()
    assert lines[0].startswith(
        "wrote a development CA and certificates for localhost, 127.0.0.1, ::1, valid until "
    )
    assert lines[1:4] == [
        f"  {directory}/ca.pem      the CA both sides trust (its key was not kept)",
        f"  {directory}/server.pem  the server's certificate; its key is {directory}/server.key",
        f"  {directory}/client.pem  the client's certificate; its key is {directory}/client.key",
    ]
    server_tls = _printed_context(out, "server_tls")
    client_tls = _printed_context(out, "client_tls")
    for context in (server_tls, client_tls):
        context.verify_flags |= ssl.VERIFY_X509_STRICT
    bare_client = client_context(directory / "ca.pem")  # trusts the server, has no certificate

    async def body() -> None:
        root = Counting()
        async with pb.serve(root, "127.0.0.1", 0, ssl=server_tls) as server:
            async with pb.connect("127.0.0.1", server.port, ssl=client_tls, timeout=10) as client:
                assert await (await client.root()).call_remote("hello") == "hello"
                (conn,) = server.connections
                assert conn._transport is not None
                peer = conn._transport.get_extra_info("peercert")
                assert peer["subject"] == ((("commonName", "pbtyped development client"),),)
            with pytest.raises((pb.ConnectionLost, ssl.SSLError, ConnectionResetError)):
                async with pb.connect(
                    "127.0.0.1", server.port, ssl=bare_client, timeout=10
                ) as client:
                    await (await client.root()).call_remote("hello")
        assert root.calls == 1

    run(body)


def test_keys_are_private_and_certificates_readable(tmp_path: Path) -> None:
    written = write_dev_certificates(tmp_path / "new" / "certs")
    assert _mode(written.server_key) == 0o600
    assert _mode(written.client_key) == 0o600
    for cert in (written.ca, written.server_cert, written.client_cert):
        assert _mode(cert) & 0o700 == 0o600  # the owner reads and writes; the umask rules the rest


def test_certificates_name_localhost_and_their_purpose(tmp_path: Path) -> None:
    written = write_dev_certificates(tmp_path, days=2)
    ca, server, client = map(_certificate, (written.ca, written.server_cert, written.client_cert))
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert (constraints.value.ca, constraints.value.path_length) == (True, 0)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    for leaf, purpose in (
        (server, ExtendedKeyUsageOID.SERVER_AUTH),
        (client, ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        assert leaf.issuer == ca.subject
        leaf.verify_directly_issued_by(ca)
        assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
            purpose
        ]
    for cert in (ca, server, client):
        assert cert.not_valid_after_utc == written.expires
        validity = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert validity == datetime.timedelta(days=2, hours=1)  # an hour early for clock skew


def test_existing_files_are_not_overwritten(tmp_path: Path, capsys) -> None:
    directory = tmp_path / "certs"
    assert cli(["certs", str(directory)]) == 0
    capsys.readouterr()
    before = _contents(directory)
    assert cli(["certs", str(directory)]) == 2
    assert capsys.readouterr() == (
        "",
        f"error: refusing to overwrite {directory}/ca.pem, {directory}/server.pem, "
        f"{directory}/server.key, {directory}/client.pem, {directory}/client.key "
        "(nothing was written): use --force, or force=True, to replace them\n",
    )
    assert _contents(directory) == before


def test_one_existing_file_or_link_is_enough_to_refuse(tmp_path: Path) -> None:
    (tmp_path / "client.key").write_text("mine\n")
    (tmp_path / "ca.pem").symlink_to(tmp_path / "nowhere")  # a dangling link counts too
    with pytest.raises(FileExistsError, match=r"refusing to overwrite .*ca\.pem, .*client\.key "):
        write_dev_certificates(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.pem", "client.key"]
    assert (tmp_path / "client.key").read_text() == "mine\n"
    assert not (tmp_path / "nowhere").exists()


def test_force_replaces_the_files_and_never_writes_through_a_link(tmp_path: Path) -> None:
    directory = tmp_path / "certs"
    first = write_dev_certificates(directory)
    old_ca = first.ca.read_bytes()
    first.server_key.chmod(0o644)  # a key someone loosened must not keep its mode
    elsewhere = tmp_path / "elsewhere.key"
    elsewhere.write_text("not a key\n")
    first.client_key.unlink()
    first.client_key.symlink_to(elsewhere)

    second = write_dev_certificates(directory, force=True)
    assert second.ca.read_bytes() != old_ca  # a new CA
    assert _mode(second.server_key) == 0o600
    assert not second.client_key.is_symlink()
    assert _mode(second.client_key) == 0o600
    assert elsewhere.read_text() == "not a key\n"
    # The new files belong together: the server's certificate was signed by the new CA.
    _certificate(second.server_cert).verify_directly_issued_by(_certificate(second.ca))


def test_a_link_planted_after_the_check_is_not_written_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack: in a shared folder, a link named client.key appears between the check for
    existing files and the writes (simulated by hiding it from the check). The key is not
    written through it into a file the attacker can read: the write fails."""
    planted = tmp_path / "attacker-readable"
    planted.write_text("")
    (tmp_path / "client.key").symlink_to(planted)
    monkeypatch.setattr(devcerts.os.path, "lexists", lambda path: False)
    with pytest.raises(FileExistsError):
        write_dev_certificates(tmp_path)
    assert planted.read_text() == ""


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_days_out_of_range_are_refused(tmp_path: Path, capsys, days: int) -> None:
    with pytest.raises(ValueError, match=rf"^days must be from 1 to 3650, not {days}$"):
        write_dev_certificates(tmp_path / "api", days=days)
    assert cli(["certs", str(tmp_path / "cli"), "--days", str(days)]) == 2
    assert capsys.readouterr().err == f"error: days must be from 1 to 3650, not {days}\n"
    assert list(tmp_path.iterdir()) == []


def test_without_cryptography_the_command_says_what_to_install(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cryptography", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "pbtyped.cred.devcerts")
    assert cli(["certs", str(tmp_path / "certs")]) == 2
    assert capsys.readouterr().err == (
        "error: pbtyped.cred.devcerts needs the cryptography package: "
        "pip install 'pbtyped[certs]'\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_the_python_api_returns_the_paths_it_wrote(tmp_path: Path) -> None:
    written = write_dev_certificates(str(tmp_path))
    assert written == DevCertificates(
        ca=tmp_path / "ca.pem",
        server_cert=tmp_path / "server.pem",
        server_key=tmp_path / "server.key",
        client_cert=tmp_path / "client.pem",
        client_key=tmp_path / "client.key",
        expires=written.expires,
    )
    assert written.expires.tzinfo is datetime.UTC
