"""Renewal information (RFC 9773), ``replaces`` on newOrder and ACME profiles
(draft-aaron-acme-profiles), spoken to by certbot's ``acme`` library over real HTTP on SQLite
and PostgreSQL.

The suggested window follows R6 (core/acme_renewal.py): it opens when the worker would open
the renewal and closes early enough to keep the renewal margin; it is "now" for a revoked
certificate or one cert services asked to have replaced (``acme renew-early``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import josepy as jose
import pytest
import requests
from acme import client as acme_client
from acme import messages
from cryptography import x509

from certdesk.core.access import Actor, Role
from certdesk.errors import Forbidden, InvalidInput, NotFound
from conftest import BACKENDS, OPERATOR
from world.acme import (
    NS,
    ORG,
    OTHER,
    AcmeWorld,
    acme_world,
    issue,
    poll_ready,
    post,
    problem,
    solve_http01,
)
from world.csr import make_csr


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AcmeWorld]:
    with acme_world(request.param, tmp_path_factory.mktemp("acme-ari")) as w:
        yield w


def leaf_of(order: messages.OrderResource) -> x509.Certificate:
    return x509.load_pem_x509_certificates(order.fullchain_pem.encode())[0]


def cert_id(leaf: x509.Certificate) -> str:
    # certbot's own encoding of the identifier (RFC 9773 §4.1), not certdesk's.
    return acme_client._renewal_info_path_component(leaf)


def renewal_info(world: AcmeWorld, ident: str) -> requests.Response:
    return requests.get(f"{world.base}/acme/renewal-info/{ident}", timeout=10)


def window(world: AcmeWorld, leaf: x509.Certificate) -> tuple[datetime, datetime]:
    resp = renewal_info(world, cert_id(leaf))
    assert resp.status_code == 200, resp.text
    assert resp.headers["Retry-After"] == "21600"  # RFC 9773 §4.2: when to ask again
    body = messages.RenewalInfo.from_json(resp.json())
    return body.suggested_window.start, body.suggested_window.end


def new_order_raw(
    world: AcmeWorld, acme: acme_client.ClientV2, payload: dict[str, Any]
) -> requests.Response:
    """A newOrder with fields certbot's library does not send (``replaces``)."""
    return acme._post(acme.directory["newOrder"], _Raw(payload))


def signed_new_order(
    world: AcmeWorld, acme: acme_client.ClientV2, payload: dict[str, Any]
) -> requests.Response:
    """A newOrder sent past certbot's library, which raises ConflictError on any 409 before
    reading the problem document."""
    return post(world, "/acme/new-order", payload, acme.net.key, kid=acme.net.account.uri)


class _Raw(jose.JSONDeSerializable):
    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload

    def to_partial_json(self) -> dict[str, Any]:
        return self.payload

    @classmethod
    def from_json(cls, jobj: Any) -> _Raw:
        return cls(jobj)


# --- the directory ---------------------------------------------------------------------------


def test_rfc9773_directory_names_renewal_info_and_profiles(world: AcmeWorld) -> None:
    body = requests.get(world.directory_url, timeout=10).json()
    assert body["renewalInfo"] == world.base + "/acme/renewal-info"
    assert body["keyChange"] == world.base + "/acme/key-change"
    assert set(body["meta"]["profiles"]) == {"default", "shortlived"}


# --- the suggested window (RFC 9773 §4.2) ------------------------------------------------------


def test_rfc9773_r6_window_of_a_fresh_certificate(world: AcmeWorld) -> None:
    acme = world.registered()
    leaf = leaf_of(issue(world, acme, "ari.alpha.ca.gov"))
    start, end = window(world, leaf)
    now = world.clock()
    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    assert now < start < end
    # R6: the lifetime fraction (2/3) opens it for a 199-day certificate …
    assert abs((start - (not_before + (not_after - not_before) * 2 / 3)).total_seconds()) < 2
    # … and it closes so that the renewal is delivered at least 7 days before expiry.
    assert end <= not_after - timedelta(days=7)


def test_rfc9773_short_lived_window_is_not_now(world: AcmeWorld) -> None:
    acme = world.registered()
    leaf = leaf_of(issue(world, acme, "short.alpha.ca.gov", profile="shortlived"))
    start, end = window(world, leaf)
    assert world.clock() < start < end < leaf.not_valid_after_utc


def test_rfc9773_revoked_certificate_renews_now(world: AcmeWorld) -> None:
    acme = world.registered()
    leaf = leaf_of(issue(world, acme, "gone.alpha.ca.gov"))
    acme.revoke(leaf, 1)
    start, end = window(world, leaf)
    assert start < end <= world.clock()


def test_rfc9773_unknown_cert_id_is_not_found(world: AcmeWorld) -> None:
    resp = renewal_info(world, "AAAA.AQ")
    assert resp.status_code == 404
    assert resp.json()["type"] == NS + "malformed"


@pytest.mark.parametrize(
    "ident",
    [
        pytest.param("not-a-cert-id", id="rfc9773/no-dot-400"),
        pytest.param("AAAA.AQ.AQ", id="rfc9773/two-dots-400"),
        pytest.param(".AQ", id="rfc9773/empty-key-identifier-400"),
        pytest.param("AAAA.AQ==", id="rfc9773/padding-400"),
        pytest.param("AA+A.AQ", id="rfc9773/not-base64url-400"),
        pytest.param("AAAA.AAE", id="rfc9773/non-minimal-serial-400"),
        pytest.param("AAAA.gA", id="rfc9773/negative-serial-400"),
    ],
)
def test_rfc9773_malformed_cert_id_is_malformed(world: AcmeWorld, ident: str) -> None:
    resp = renewal_info(world, ident)
    assert resp.status_code == 400
    problem = resp.json()
    assert problem["type"] == NS + "malformed"
    assert "certID" in problem["detail"]


def test_rfc9773_cert_id_with_another_key_identifier_is_unknown(world: AcmeWorld) -> None:
    acme = world.registered()
    leaf = leaf_of(issue(world, acme, "akid.alpha.ca.gov"))
    serial_part = cert_id(leaf).split(".")[1]
    assert renewal_info(world, f"AAECAwQ.{serial_part}").status_code == 404


# --- the operator's lever: renew early --------------------------------------------------------


def test_rfc9773_renew_early_by_organization_moves_windows_to_now(world: AcmeWorld) -> None:
    acme = world.registered(OTHER)
    leaf = leaf_of(issue(world, acme, "early.bravo.ca.gov"))
    assert window(world, leaf)[0] > world.clock()
    marked = world.services.acme_renewal_info.renew_early(OPERATOR, org_code=OTHER)
    assert marked >= 1
    start, end = window(world, leaf)
    assert start < end <= world.clock()
    # Marked once: asking again marks nothing more, and a new certificate is not marked.
    assert world.services.acme_renewal_info.renew_early(OPERATOR, org_code=OTHER) == 0
    fresh = leaf_of(issue(world, acme, "later.bravo.ca.gov"))
    assert window(world, fresh)[0] > world.clock()


def test_rfc9773_renew_early_by_issuer(world: AcmeWorld) -> None:
    acme = world.registered()
    leaf = leaf_of(issue(world, acme, "issuer-wide.alpha.ca.gov"))
    issuer = world.services.inventory.show(OPERATOR, format(leaf.serial_number, "x")).issuer
    assert world.services.acme_renewal_info.renew_early(OPERATOR, issuer_slug=issuer) >= 1
    assert window(world, leaf)[1] <= world.clock()


DELEGATE = Actor(name="da", role=Role.DELEGATED_ADMIN, org_id=1)


@pytest.mark.parametrize(
    ("actor", "kwargs", "error", "code"),
    [
        pytest.param(OPERATOR, {}, InvalidInput, "acme.renew_early", id="renew-early/neither"),
        pytest.param(
            OPERATOR,
            {"issuer_slug": "x", "org_code": ORG},
            InvalidInput,
            "acme.renew_early",
            id="renew-early/both",
        ),
        pytest.param(
            OPERATOR,
            {"issuer_slug": "nosuch"},
            NotFound,
            "issuer.unknown",
            id="renew-early/unknown-issuer",
        ),
        pytest.param(
            OPERATOR, {"org_code": "nosuch"}, NotFound, "org.unknown", id="renew-early/unknown-org"
        ),
        pytest.param(
            DELEGATE,
            {"issuer_slug": "nosuch"},
            Forbidden,
            "auth.forbidden",
            id="renew-early/delegated-admin-refused",
        ),
    ],
)
def test_rfc9773_renew_early_refusals(
    world: AcmeWorld, actor: Actor, kwargs: dict[str, str], error: type[Exception], code: str
) -> None:
    with pytest.raises(error) as exc:
        world.services.acme_renewal_info.renew_early(actor, **kwargs)
    assert exc.value.code == code  # type: ignore[attr-defined]


# --- replaces (RFC 9773 §5) -------------------------------------------------------------------


def test_rfc9773_replaces_links_the_renewal_and_only_once(world: AcmeWorld) -> None:
    acme = world.registered()
    old = leaf_of(issue(world, acme, "renew.alpha.ca.gov"))
    ident = cert_id(old)
    csr = make_csr(["renew.alpha.ca.gov"])
    resp = new_order_raw(
        world,
        acme,
        {"identifiers": [{"type": "dns", "value": "renew.alpha.ca.gov"}], "replaces": ident},
    )
    assert resp.status_code == 201, resp.text
    body = messages.Order.from_json(resp.json())
    assert resp.json()["replaces"] == ident
    order = messages.OrderResource(
        body=body,
        uri=resp.headers["Location"],
        authorizations=[
            acme._authzr_from_response(acme._post_as_get(u)) for u in body.authorizations
        ],
        csr_pem=csr,
    )
    solve_http01(world, acme, order)
    order = acme.finalize_order(poll_ready(acme, order), datetime.now() + timedelta(seconds=30))
    new = leaf_of(order)
    shown = world.services.inventory.show(OPERATOR, format(new.serial_number, "x"))
    assert shown.renewal_of == format(old.serial_number, "x")
    # Replacing it again is refused: it already has its replacement (RFC 9773 §5: 409).
    payload = {"identifiers": [{"type": "dns", "value": "renew.alpha.ca.gov"}], "replaces": ident}
    problem(signed_new_order(world, acme, payload), 409, "alreadyReplaced")


def test_rfc9773_pending_replacement_counts_as_replaced(world: AcmeWorld) -> None:
    acme = world.registered()
    ident = cert_id(leaf_of(issue(world, acme, "twice.alpha.ca.gov")))
    payload = {"identifiers": [{"type": "dns", "value": "twice.alpha.ca.gov"}], "replaces": ident}
    assert new_order_raw(world, acme, payload).status_code == 201
    problem(signed_new_order(world, acme, payload), 409, "alreadyReplaced")


def test_rfc9773_replacing_another_orgs_certificate_looks_unknown(world: AcmeWorld) -> None:
    theirs = leaf_of(issue(world, world.registered(OTHER), "theirs.bravo.ca.gov"))
    acme = world.registered()
    answers = []
    for ident in (cert_id(theirs), "AAECAwQ.AQ"):
        with pytest.raises(messages.Error) as exc:
            new_order_raw(
                world,
                acme,
                {"identifiers": [{"type": "dns", "value": "x.alpha.ca.gov"}], "replaces": ident},
            )
        answers.append((exc.value.typ, exc.value.detail))
    assert answers[0] == answers[1] and answers[0][0] == NS + "malformed"


def test_rfc9773_replacement_must_share_a_name(world: AcmeWorld) -> None:
    acme = world.registered()
    ident = cert_id(leaf_of(issue(world, acme, "one.alpha.ca.gov")))
    with pytest.raises(messages.Error) as exc:
        new_order_raw(
            world,
            acme,
            {"identifiers": [{"type": "dns", "value": "two.alpha.ca.gov"}], "replaces": ident},
        )
    assert exc.value.typ == NS + "malformed"


# --- profiles (draft-aaron-acme-profiles) ------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "days"),
    [
        pytest.param(None, 199, id="profiles/none-is-default-199-days"),
        pytest.param("default", 199, id="profiles/default-199-days"),
        pytest.param("shortlived", 7, id="profiles/shortlived-7-days"),
    ],
)
def test_profiles_select_the_validity(world: AcmeWorld, profile: str | None, days: int) -> None:
    acme = world.registered()
    order = issue(world, acme, f"p{days}{profile or ''}.alpha.ca.gov", profile=profile)
    leaf = leaf_of(order)
    # R7: 17:00 Pacific on the final day, so a little less or more than whole days.
    span = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert timedelta(days=days - 1) < span <= timedelta(days=days + 1)
    resp = acme._post_as_get(order.uri).json()
    assert resp.get("profile") == profile


def test_profiles_unknown_profile_is_invalid_profile(world: AcmeWorld) -> None:
    acme = world.registered()
    with pytest.raises(messages.Error) as exc:
        acme.new_order(make_csr(["np.alpha.ca.gov"]), profile="forever")
    assert exc.value.typ == NS + "invalidProfile"
    assert "default" in (exc.value.detail or "")
