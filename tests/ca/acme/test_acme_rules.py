"""The vendor backend's pure parts: RFC 9773 CertIDs, Retry-After and back-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from certdesk.ca.acme.ari import cert_id, serial_der_contents
from certdesk.ca.acme.problems import Backoff, parse_retry_after

NOW = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)


def _cert(serial: int, aki: bytes) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "ari")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(x509.AuthorityKeyIdentifier(aki, None, None), critical=False)
        .sign(key, hashes.SHA256())
    )


def test_ari_cert_id_matches_rfc9773_example() -> None:
    # RFC 9773 §4.1: AKI 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4 and
    # serial 00:87:65:43:21 give "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE".
    aki = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
    assert cert_id(_cert(0x87654321, aki)) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


@pytest.mark.parametrize(
    ("serial", "der"),
    [
        pytest.param(0x7F, "7f", id="ari/serial-high-bit-clear"),
        pytest.param(0x80, "0080", id="ari/serial-high-bit-set-gets-zero"),
        pytest.param(0x87654321, "0087654321", id="ari/serial-rfc-example"),
    ],
)
def test_serial_is_the_der_integer_contents(serial: int, der: str) -> None:
    assert serial_der_contents(serial).hex() == der


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("120", NOW + timedelta(seconds=120), id="retry-after/seconds"),
        pytest.param(
            "Sat, 05 Dec 2026 18:05:00 GMT", NOW + timedelta(minutes=5), id="retry-after/http-date"
        ),
        pytest.param("Sat, 05 Dec 2026 17:00:00 GMT", NOW, id="retry-after/date-in-the-past"),
        pytest.param("soon", None, id="retry-after/unreadable"),
        pytest.param(None, None, id="retry-after/absent"),
    ],
)
def test_retry_after(header: str | None, expected: datetime | None) -> None:
    assert parse_retry_after(header, NOW) == expected


@pytest.mark.parametrize(
    ("attempt", "retry_after", "wait"),
    [
        pytest.param(0, None, timedelta(seconds=1), id="backoff/first-retry"),
        pytest.param(2, None, timedelta(seconds=4), id="backoff/doubles"),
        pytest.param(0, NOW + timedelta(seconds=7), timedelta(seconds=7), id="backoff/vendor-time"),
        pytest.param(0, NOW + timedelta(hours=1), None, id="backoff/too-long-gives-up-now"),
        pytest.param(3, None, None, id="backoff/attempts-used-up"),
    ],
)
def test_backoff(attempt: int, retry_after: datetime | None, wait: timedelta | None) -> None:
    assert Backoff(attempts=4).wait(attempt, retry_after, NOW) == wait
