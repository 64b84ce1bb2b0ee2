"""The console's vendor CA page (issue 12): cert services add a vendor with its external
account binding (pebble here), see it and disable it; auditors read; agencies are refused.
The HMAC key goes to the vendor once and never appears on a page or in the database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from vendor_world import EAB_HMAC, EAB_KID, PEBBLE_LINT_TOLERATED, Pebble, running_pebble

from certdesk.store import vendors as vendor_store
from certdesk.store.models import AcmeIssuerRow
from conftest import OPERATOR
from world.console import Browsers, browsers, console_desk, text_of
from world.desk import DMV, Desk, desk_fixture

pytestmark = pytest.mark.timeout(180)

desk = desk_fixture("vendor-console", backend="sqlite", opener=console_desk)


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    with running_pebble(tmp_path_factory.mktemp("pebble"), always_valid=True) as server:
        yield server


@pytest.fixture(scope="module")
def browser(desk: Desk) -> Iterator[Browsers]:
    with browsers(desk) as of:
        yield of


def _form(pebble: Pebble, name: str, **change: object) -> dict[str, object]:
    roots = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in pebble.roots())
    return {
        "name": name,
        "directory": pebble.endpoint.directory_url,
        "eab_kid": EAB_KID,
        "eab_hmac_key": EAB_HMAC,
        "solver": "http-01",
        "ca_bundle": Path(str(pebble.ca_bundle)).read_text(),
        "trust_anchors": roots,
        "lint_tolerate": sorted(PEBBLE_LINT_TOLERATED),
        **change,
    }


def test_cert_services_add_see_and_disable_a_vendor(
    desk: Desk, pebble: Pebble, browser: Browsers
) -> None:
    opal = browser("opal")
    empty = opal.get("/issuers")
    assert empty.status_code == 200 and "No vendor CA yet" in text_of(empty)
    added = opal.follow(opal.post("/issuers", _form(pebble, "pebble-console")))
    assert added.status_code == 200, added.text[:500]
    page = text_of(added)
    assert "Vendor pebble-console is added" in page and "takes orders" in page
    assert EAB_HMAC not in added.text
    view = desk.services.vendors.show(OPERATOR, "pebble-console")
    assert view.account_url.startswith(f"https://127.0.0.1:{pebble.port}/")
    assert view.lint_tolerate == tuple(sorted(PEBBLE_LINT_TOLERATED))
    with desk.rt.reads() as s:
        stored = " ".join(str(r.__dict__) for r in s.query(AcmeIssuerRow))
    assert EAB_HMAC not in stored
    # Auditors read the page without the forms.
    seen = browser("aud").get("/issuers")
    assert seen.status_code == 200 and "pebble-console" in seen.text
    assert 'action="/issuers"' not in seen.text
    # Disable: no new orders.
    done = opal.follow(opal.post("/issuers/pebble-console/disable", {}))
    assert "takes no new orders" in text_of(done) and "disabled" in text_of(done)
    assert desk.services.vendors.show(OPERATOR, "pebble-console").active is False


@pytest.mark.parametrize(
    ("change", "says"),
    [
        pytest.param(
            {"directory": "http://plain.example/dir"}, "must be https", id="R16/not-https"
        ),
        pytest.param({"eab_hmac_key": EAB_HMAC[::-1]}, "", id="R17/wrong-hmac"),
        pytest.param({"solver": "smoke-signals"}, "challenges", id="bad/solver"),
        pytest.param({"lint_tolerate": ["lint.nosuch"]}, "lint.nosuch", id="bad/lint-code"),
    ],
)
def test_a_refused_vendor_changes_nothing_and_keeps_no_key(
    desk: Desk, pebble: Pebble, browser: Browsers, change: dict[str, object], says: str
) -> None:
    opal = browser("opal")
    before = desk.counts()
    refused = opal.post("/issuers", _form(pebble, "refusedvendor", **change))
    assert refused.status_code in (400, 403, 409, 422), refused.text[:500]
    assert says in text_of(refused)
    assert EAB_HMAC not in refused.text and EAB_HMAC[::-1] not in refused.text
    assert desk.counts() == before


def test_agencies_do_not_see_vendors(browser: Browsers) -> None:
    dan = browser("dan")
    assert 'href="/issuers"' not in dan.get("/").text
    assert dan.get("/issuers").status_code == 403
    assert dan.post("/issuers/pebble-console/disable", {}).status_code == 403


def test_cert_services_replace_a_vendors_account_key(
    desk: Desk, pebble: Pebble, browser: Browsers
) -> None:
    opal = browser("opal")
    opal.follow(opal.post("/issuers", _form(pebble, "pebble-roll")))
    page = opal.get("/issuers")
    assert 'action="/issuers/pebble-roll/rollover"' in page.text
    assert 'action="/issuers/pebble-roll/rollover"' not in browser("aud").get("/issuers").text
    before = _sealed_key(desk, "pebble-roll")
    done = opal.follow(opal.post("/issuers/pebble-roll/rollover", {}))
    assert "now uses a new key" in text_of(done), done.text[:500]
    assert _sealed_key(desk, "pebble-roll") != before
    assert browser("dan").post("/issuers/pebble-roll/rollover", {}).status_code == 403


def _sealed_key(desk: Desk, name: str) -> bytes:
    with desk.rt.reads() as s:
        found = vendor_store.by_slug(s, name)
    assert found is not None
    return found.account_key_sealed


def test_cert_services_pin_a_grants_issuer_on_the_organization_page(
    desk: Desk, pebble: Pebble, browser: Browsers
) -> None:
    opal = browser("opal")
    opal.follow(opal.post("/issuers", _form(pebble, "pebble-grant")))
    grant = desk.services.orgs.get(OPERATOR, DMV).grants[0]
    page = opal.get(f"/orgs/{DMV}")
    assert 'action="/orgs/dmv/grants/issuer"' in page.text and "pebble-grant" in page.text
    done = opal.follow(
        opal.post(f"/orgs/{DMV}/grants/issuer", {"grant": grant, "issuer": "pebble-grant"})
    )
    assert f"Certificates under {grant} now come from pebble-grant" in text_of(done), done.text[
        :500
    ]
    assert dict(desk.services.orgs.get(OPERATOR, DMV).grant_issuers) == {grant: "pebble-grant"}
    assert "grant.issuer" in desk.audit_actions(DMV)
    # An unknown issuer is refused on the page and changes nothing.
    refused = opal.post(f"/orgs/{DMV}/grants/issuer", {"grant": grant, "issuer": "nosuch"})
    assert refused.status_code == 404 and "nosuch" in text_of(refused)
    back = opal.follow(
        opal.post(f"/orgs/{DMV}/grants/issuer", {"grant": grant, "issuer": "organization"})
    )
    assert "come from the organization" in text_of(back), text_of(back)[:400]
    assert desk.services.orgs.get(OPERATOR, DMV).grant_issuers == ()
    # Auditors see the issuer but no form.
    assert 'action="/orgs/dmv/grants/issuer"' not in browser("aud").get(f"/orgs/{DMV}").text
