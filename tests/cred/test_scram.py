"""SCRAM-SHA-256 against RFC 7677's test vector, and the refusals around it (no sockets)."""

from __future__ import annotations

import base64

import pytest

import pbtyped as pb
from pbtyped.cred.saslprep import saslprep
from pbtyped.cred.scram import (
    ScramClient,
    ScramRecord,
    ScramServer,
    create_record,
    fake_record,
    parse_client_first,
    salted_password,
)

# RFC 7677, section 3: user "user", password "pencil".
CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO"
SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
CLIENT_FIRST = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
SERVER_FIRST = (
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
CLIENT_FINAL = (
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
SERVER_FINAL = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

RECORD = create_record("pencil", iterations=4096, salt=SALT)
FAILED = "login failed: unknown user or wrong password"


def rfc_server(record: ScramRecord = RECORD, *, known: bool = True) -> ScramServer:
    return ScramServer(parse_client_first(CLIENT_FIRST), record, known=known, nonce=SERVER_NONCE)


def test_rfc7677_client_messages() -> None:
    client = ScramClient("user", nonce=CLIENT_NONCE)
    assert client.first_message() == CLIENT_FIRST
    salt, iterations = client.receive_server_first(SERVER_FIRST)
    assert (salt, iterations) == (SALT, 4096)
    assert client.final_message(salted_password("pencil", salt, iterations)) == CLIENT_FINAL
    client.verify_server_final(SERVER_FINAL)  # no exception: the server proved itself


def test_rfc7677_server_messages() -> None:
    server = rfc_server()
    assert server.username == "user"
    assert server.first_message() == SERVER_FIRST
    assert server.final_message(CLIENT_FINAL) == SERVER_FINAL


def test_record_holds_no_password_and_round_trips_as_text() -> None:
    text = RECORD.to_text()
    assert text.startswith("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$")
    assert "pencil" not in text
    assert ScramRecord.from_text(text) == RECORD
    with pytest.raises(ValueError, match="not a SCRAM-SHA-256 record"):
        ScramRecord.from_text("md5$pencil")
    fresh = create_record("pencil", iterations=4096)
    assert len(fresh.salt) == 16
    assert fresh.salt != create_record("pencil", iterations=4096).salt


def test_record_creation_refuses_weak_settings() -> None:
    with pytest.raises(ValueError, match="at least 4096 iterations"):
        create_record("pencil", iterations=1000)
    with pytest.raises(ValueError, match="empty"):
        create_record("\u00ad")  # maps to nothing


def test_wrong_password_and_unknown_user_fail_alike() -> None:
    client = ScramClient("user", nonce=CLIENT_NONCE)
    client.receive_server_first(SERVER_FIRST)
    wrong = client.final_message(salted_password("pen", SALT, 4096))
    with pytest.raises(pb.UnauthorizedLogin) as bad_password:
        rfc_server().final_message(wrong)
    # The right proof for a user the server does not know still fails, with the same words.
    with pytest.raises(pb.UnauthorizedLogin) as unknown:
        rfc_server(known=False).final_message(CLIENT_FINAL)
    assert str(bad_password.value) == str(unknown.value) == FAILED


def test_fake_record_is_stable_per_name_and_shaped_like_a_real_one() -> None:
    secret = b"s" * 32
    alice = fake_record(secret, "alice", 600_000)
    assert fake_record(secret, "alice", 600_000) == alice
    assert fake_record(secret, "bob", 600_000).salt != alice.salt
    assert fake_record(b"t" * 32, "alice", 600_000).salt != alice.salt
    assert len(alice.salt) == len(create_record("x", iterations=4096).salt)
    server = ScramServer(parse_client_first(CLIENT_FIRST), alice, known=False)
    first = server.first_message()
    assert first.startswith("r=" + CLIENT_NONCE)
    assert first.endswith(",i=600000")


def test_client_rejects_a_server_that_does_not_know_the_verifier() -> None:
    client = ScramClient("user", nonce=CLIENT_NONCE)
    client.receive_server_first(SERVER_FIRST)
    client.final_message(salted_password("pencil", SALT, 4096))
    forged = "v=" + base64.b64encode(b"\0" * 32).decode()
    with pytest.raises(pb.UnauthorizedLogin, match="could not prove"):
        client.verify_server_final(forged)
    with pytest.raises(pb.UnauthorizedLogin, match="the server refused: other-error"):
        client.verify_server_final("e=other-error")


@pytest.mark.parametrize(
    ("server_first", "message"),
    [
        ("r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "does not extend ours"),
        ("r=someoneElsesNonce123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "does not extend ours"),
        (SERVER_FIRST.replace("i=4096", "i=1"), "asks for 1 iterations"),
        (SERVER_FIRST.replace("i=4096", "i=99999999"), "asks for 99999999 iterations"),
        (SERVER_FIRST.replace("s=W22", "s=!!!"), "the salt is not base64"),
        ("m=ext," + SERVER_FIRST, "mandatory extensions"),
        ("garbage", "bad attribute in server-first"),
    ],
)
def test_client_refuses_bad_server_first(server_first: str, message: str) -> None:
    client = ScramClient("user", nonce=CLIENT_NONCE)
    with pytest.raises(pb.UnauthorizedLogin, match=message):
        client.receive_server_first(server_first)


@pytest.mark.parametrize(
    ("client_first", "message"),
    [
        ("y,,n=user,r=rOprNGfwEbeRWgbNEkqO", "only the GS2 header 'n,,'"),
        ("n,a=admin,n=user,r=rOprNGfwEbeRWgbNEkqO", "only the GS2 header 'n,,'"),
        ("n,,r=rOprNGfwEbeRWgbNEkqO,n=user", "must start with 'nr'"),
        ("n,,n=us=2Xer,r=rOprNGfwEbeRWgbNEkqO", "bad escape"),
        ("n,,n=user,r=short", "bad nonce"),
        ("n,,n=,r=rOprNGfwEbeRWgbNEkqO", "1 to 256 characters"),
        ("n,,n=user,r=" + "x" * 3000, "too long"),
    ],
)
def test_server_refuses_bad_client_first(client_first: str, message: str) -> None:
    with pytest.raises(pb.UnauthorizedLogin, match=message):
        parse_client_first(client_first)


@pytest.mark.parametrize(
    ("client_final", "message"),
    [
        (CLIENT_FINAL.replace("c=biws", "c=eSws"), "channel binding"),
        (CLIENT_FINAL.replace("$k0,", "$k1,"), "nonce does not match"),
        (CLIENT_FINAL.rsplit(",p=", 1)[0], "must end with a proof"),
        (CLIENT_FINAL.rsplit(",p=", 1)[0] + ",p=***", "the proof is not base64"),
        (CLIENT_FINAL.rsplit(",p=", 1)[0] + ",p=AAAA", FAILED),
    ],
)
def test_server_refuses_bad_client_final(client_final: str, message: str) -> None:
    with pytest.raises(pb.UnauthorizedLogin, match=message):
        rfc_server().final_message(client_final)


def test_user_names_are_escaped_and_prepared() -> None:
    client = ScramClient("a,b=c", nonce=CLIENT_NONCE)
    assert client.first_message() == "n,,n=a=2Cb=3Dc,r=" + CLIENT_NONCE
    assert parse_client_first(client.first_message()).username == "a,b=c"


@pytest.mark.parametrize(
    ("text", "prepared"),
    [  # RFC 4013, section 3
        ("I\u00adX", "IX"),
        ("user", "user"),
        ("USER", "USER"),
        ("\u00aa", "a"),
        ("\u2168", "IX"),
        ("a\u00a0b", "a b"),  # a non-ASCII space maps to a space
    ],
)
def test_saslprep_maps_and_normalises(text: str, prepared: str) -> None:
    assert saslprep(text) == prepared


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("\u0007", "prohibited character U\\+0007"),
        ("\u0627\u0031", "must start and end"),
        ("\u0627a\u0627", "mixes right-to-left"),
        ("\u0221", "unassigned code point U\\+0221"),
    ],
)
def test_saslprep_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        saslprep(text)


def test_saslprep_query_profile_admits_unassigned() -> None:
    assert saslprep("\u0221", allow_unassigned=True) == "\u0221"
