"""tls-alpn-01 (RFC 8737) through certdesk's VA against a real TLS responder on loopback
(tests/world/tls_alpn.py): the VA connects to CERTDESK_ACME_VA_ADDRESS on
CERTDESK_ACME_VA_TLS_PORT with SNI and ALPN ``acme-tls/1`` and judges the certificate (§3).

End to end through the ACME server with certbot's ``acme`` library (an order proved by
tls-alpn-01 is issued; a wrong answer makes the authorization invalid), then each refusal of
§3 and §4 against the validator itself.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta

import josepy as jose
import pytest
from acme import challenges, client, messages
from cryptography import x509

from certdesk.config import Settings
from certdesk.core.acme_states import ChallengeType, key_authorization
from certdesk.services.acme.tls_alpn01 import TlsAlpn01
from certdesk.services.acme.validation import Targets, ValidationFailed, ValidationTask
from conftest import BACKENDS, OPERATOR
from world.acme import NS, AcmeWorld, acme_world, poll_ready
from world.csr import make_csr
from world.processes import free_port
from world.tls_alpn import TlsAlpnResponder, challenge_cert


@pytest.fixture(scope="module")
def responder() -> Iterator[TlsAlpnResponder]:
    server = TlsAlpnResponder()
    yield server
    server.close()


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    responder: TlsAlpnResponder,
) -> Iterator[AcmeWorld]:
    with acme_world(
        request.param, tmp_path_factory.mktemp("acme-alpn"), acme_va_tls_port=responder.port
    ) as w:
        yield w


def tls_alpn_challenge(
    acme: client.ClientV2, authz: messages.AuthorizationResource
) -> tuple[messages.ChallengeBody, str]:
    """The authorization's tls-alpn-01 challenge and its key authorization (RFC 8555 §8.1)."""
    chall = next(c for c in authz.body.challenges if c.to_partial_json()["type"] == "tls-alpn-01")
    thumbprint = jose.b64encode(acme.net.key.thumbprint()).decode()
    return chall, key_authorization(chall.to_partial_json()["token"], thumbprint)


def test_8737_order_proved_by_tls_alpn01_is_issued(
    world: AcmeWorld, responder: TlsAlpnResponder
) -> None:
    acme = world.registered()
    name = f"alpn{secrets.token_hex(3)}.alpha.ca.gov"
    order = acme.new_order(make_csr([name]))
    chall, key_auth = tls_alpn_challenge(acme, order.authorizations[0])
    responder.answer(name, challenge_cert(name, key_auth))
    acme.answer_challenge(chall, challenges.DNS01Response())  # the empty object {} (§7.5.1)
    order = poll_ready(acme, order)
    assert order.body.status == messages.STATUS_READY, order.body
    authz = acme.poll(order.authorizations[0])[0]
    proved = [c.to_partial_json() for c in authz.body.challenges if c.status.name == "valid"]
    assert [c["type"] for c in proved] == ["tls-alpn-01"]
    order = acme.finalize_order(order, datetime.now() + timedelta(seconds=30))
    leaf = x509.load_pem_x509_certificates(order.fullchain_pem.encode())[0]
    view = world.services.inventory.show(OPERATOR, format(leaf.serial_number, "x"))
    assert view.org_code == "alpha" and view.status == "active"


def test_8737_wrong_answer_makes_the_authorization_invalid(
    world: AcmeWorld, responder: TlsAlpnResponder
) -> None:
    acme = world.registered()
    name = f"alpnbad{secrets.token_hex(3)}.alpha.ca.gov"
    order = acme.new_order(make_csr([name]))
    chall, key_auth = tls_alpn_challenge(acme, order.authorizations[0])
    responder.answer(name, challenge_cert(name, key_auth + "x"))
    acme.answer_challenge(chall, challenges.DNS01Response())
    assert poll_ready(acme, order).body.status == messages.STATUS_INVALID
    authz = acme.poll(order.authorizations[0])[0]
    failed = next(c for c in authz.body.challenges if c.to_partial_json()["type"] == "tls-alpn-01")
    assert failed.to_partial_json()["error"]["type"] == NS + "incorrectResponse"


# --- each rule of RFC 8737 §3 and §4, against the validator -----------------------------------

NAME = "www.alpha.ca.gov"
KEY_AUTH = key_authorization("tok-" + "b" * 39, "thumb")


@pytest.mark.parametrize(
    ("cert_kwargs", "alpn", "outcome"),
    [
        pytest.param({}, ("acme-tls/1",), None, id="8737-3/good-certificate-valid"),
        pytest.param(
            {"digest": b"\x00" * 32}, ("acme-tls/1",), "incorrectResponse", id="8737-3/wrong-digest"
        ),
        pytest.param(
            {"critical": False}, ("acme-tls/1",), "unauthorized", id="8737-3/not-critical"
        ),
        pytest.param(
            {"with_identifier": False},
            ("acme-tls/1",),
            "unauthorized",
            id="8737-3/no-acme-identifier",
        ),
        pytest.param(
            {"san": ("other.alpha.ca.gov",)},
            ("acme-tls/1",),
            "unauthorized",
            id="8737-3/wrong-name",
        ),
        pytest.param(
            {"san": (NAME, "extra.alpha.ca.gov")},
            ("acme-tls/1",),
            "unauthorized",
            id="8737-3/second-name",
        ),
        pytest.param({}, ("http/1.1",), "tls", id="8737-4/alpn-not-negotiated"),
    ],
)
def test_8737_validator_judges_the_certificate(
    cert_kwargs: dict[str, object], alpn: tuple[str, ...], outcome: str | None
) -> None:
    responder = TlsAlpnResponder(alpn=alpn)
    try:
        responder.answer(NAME, challenge_cert(NAME, KEY_AUTH, **cert_kwargs))  # type: ignore[arg-type]
        va = TlsAlpn01(
            Targets(Settings(acme_va_address="127.0.0.1", ca_passphrase="x")), responder.port
        )
        task = ValidationTask(1, ChallengeType.TLSALPN01, NAME, "tok", KEY_AUTH)
        if outcome is None:
            assert va.validate(task) is None
        else:
            with pytest.raises(ValidationFailed) as exc:
                va.validate(task)
            assert exc.value.acme_type == outcome, exc.value.detail
    finally:
        responder.close()


def test_8737_nothing_listening_is_connection() -> None:
    va = TlsAlpn01(Targets(Settings(acme_va_address="127.0.0.1", ca_passphrase="x")), free_port())
    task = ValidationTask(1, ChallengeType.TLSALPN01, NAME, "tok", KEY_AUTH)
    with pytest.raises(ValidationFailed) as exc:
        va.validate(task)
    assert exc.value.acme_type == "connection"


def test_8737_refuses_a_loopback_address_unless_configured() -> None:
    """Without CERTDESK_ACME_VA_ADDRESS the VA resolves the name and refuses special-purpose
    addresses, as for http-01."""
    va = TlsAlpn01(Targets(Settings(ca_passphrase="x")), 443)
    task = ValidationTask(1, ChallengeType.TLSALPN01, "127.0.0.1", "tok", KEY_AUTH)
    with pytest.raises(ValidationFailed) as exc:
        va.validate(task)
    assert exc.value.acme_type == "connection"
