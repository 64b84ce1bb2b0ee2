"""The ACME page (R17): registration (EAB) keys and ACME accounts in the console, as a browser
uses it (forms, CSRF, no JavaScript).

A delegated administrator makes its own organization's keys; the HMAC key is on the page that
answers the form, once, and the key registers a real ACME account; another organization's key
or account is not found; cert services make keys for any self-managed organization; the
auditor reads; a requester has no such page. Refused forms change nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from certdesk.store.models import AcmeAccount, AcmeEabKey, AuditRow
from conftest import OPERATOR
from world.acme import register_through
from world.console import Browsers, browsers, console_desk, text_of
from world.desk import CHP, DMV, Desk, desk_fixture

HMAC = re.compile(r'<code class="secret hmac">([A-Za-z0-9_-]{43})</code>')
KID = re.compile(r'<code class="kid">(kid-[0-9a-f]{24})</code>')

desk = desk_fixture("console-acme", backend="sqlite", opener=console_desk)


@pytest.fixture(scope="module")
def browser(desk: Desk) -> Iterator[Browsers]:
    # ACME is delegated administration: dmv manages its own certificates here, chp does not.
    desk.services.orgs.set_service(OPERATOR, DMV, self_managed=True)
    with browsers(desk) as of:
        yield of


def state(desk: Desk) -> dict[str, Any]:
    with desk.services.rt.reads() as s:
        return {
            m.__tablename__: s.scalar(select(func.count()).select_from(m))
            for m in (AcmeEabKey, AcmeAccount, AuditRow)
        } | {
            "revoked": s.scalar(
                select(func.count())
                .select_from(AcmeEabKey)
                .where(AcmeEabKey.revoked_at.is_not(None))
            ),
            "valid": s.scalar(
                select(func.count()).select_from(AcmeAccount).where(AcmeAccount.status == "valid")
            ),
        }


def test_r17_delegated_admin_key_shown_once_registers_a_client(
    desk: Desk, browser: Browsers
) -> None:
    dan = browser("dan")
    page = dan.get("/acme")
    assert page.status_code == 200 and '<a href="/acme"' in page.text
    made = dan.post("/acme/eab", {"days": "5", "org_code": CHP})  # the org field is ignored
    assert made.status_code == 200 and "shown only this once" in made.text
    hmac_key, kid = HMAC.findall(made.text), KID.findall(made.text)
    assert len(set(hmac_key)) == 1 and len(kid) == 1
    key = next(k for k in desk.services.acme_eab.list(OPERATOR) if k.kid == kid[0])
    assert key.org_code == DMV  # its own organization, whatever the form said

    # The listing never shows the HMAC key again.
    listing = dan.get("/acme")
    assert kid[0] in listing.text and hmac_key[0] not in listing.text

    # The key registers an ACME client, bound to dmv; the page lists the account.
    account_id, _ = register_through(
        dan.client, desk.services.rt.settings.base_url, kid[0], hmac_key[0]
    )
    listing = dan.get("/acme")
    assert f"Deactivate account {account_id}" in listing.text
    gone = dan.follow(dan.post(f"/acme/accounts/{account_id}/deactivate"))
    assert f"ACME account {account_id} is deactivated" in text_of(gone)
    assert desk.services.acme_accounts.get(account_id).status == "deactivated"


def test_r17_another_orgs_key_and_account_are_not_found(desk: Desk, browser: Browsers) -> None:
    desk.services.orgs.create(
        OPERATOR, "sos2", "Other", self_managed=True, grants=["zone:sos2.ca.gov"]
    )
    theirs = desk.services.acme_eab.create(OPERATOR, "sos2")
    bound = desk.services.acme_eab.create(OPERATOR, "sos2")
    dan = browser("dan")
    account_id, _ = register_through(
        dan.client, desk.services.rt.settings.base_url, bound.kid, bound.hmac_key
    )
    before = state(desk)
    for url in (f"/acme/eab/{theirs.kid}/revoke", f"/acme/accounts/{account_id}/deactivate"):
        resp = dan.post(url)
        assert resp.status_code == 404, url
    assert "sos2" not in dan.get("/acme").text
    assert dan.get("/acme?org=sos2").status_code == 404
    assert state(desk) == before


@pytest.mark.parametrize(
    ("who", "path", "data", "status", "says"),
    [
        pytest.param(
            "dan", "/acme/eab", {"days": "abc"}, 400, "as digits", id="r17/days-not-digits"
        ),
        pytest.param(
            "dan", "/acme/eab", {"days": "999"}, 400, "1 to 365 days", id="r17/days-too-many"
        ),
        pytest.param(
            "opal", "/acme/eab", {"org_code": CHP}, 403, "managed", id="r11/managed-org-gets-no-key"
        ),
        pytest.param("aud", "/acme/eab", {"org_code": DMV}, 403, "", id="r17/auditor-reads-only"),
        pytest.param("ana", "/acme/eab", {}, 403, "", id="r17/requester-makes-no-key"),
    ],
)
def test_r17_refused_forms_change_nothing(
    desk: Desk, browser: Browsers, who: str, path: str, data: dict[str, str], status: int, says: str
) -> None:
    visitor = browser(who)  # signed in (an audited event) before counting
    before = state(desk)
    resp = visitor.post(path, data)
    assert resp.status_code == status, resp.text[:300]
    assert says in resp.text and not HMAC.search(resp.text)
    assert state(desk) == before


def test_r17_csrf_is_required(desk: Desk, browser: Browsers) -> None:
    dan = browser("dan")
    before = state(desk)
    assert dan.post("/acme/eab", {}, csrf=False).status_code == 403
    assert state(desk) == before


def test_r17_operator_makes_keys_for_any_self_managed_org(desk: Desk, browser: Browsers) -> None:
    opal = browser("opal")
    page = opal.get("/acme")
    assert f'value="{DMV}"' in page.text and f'value="{CHP}"' not in page.text  # managed: no
    made = opal.post("/acme/eab", {"org_code": DMV})
    kid = KID.findall(made.text)[0]
    assert kid in opal.get(f"/acme?org={DMV}").text
    gone = opal.follow(opal.post(f"/acme/eab/{kid}/revoke"))
    assert f"Key {kid} is revoked" in text_of(gone)


@pytest.mark.parametrize(
    ("who", "status", "forms"),
    [
        pytest.param("aud", 200, False, id="r17/auditor-sees-no-forms"),
        pytest.param("dan", 200, True, id="r17/delegated-admin-has-forms"),
        pytest.param("ana", 403, False, id="r17/requester-has-no-page"),
    ],
)
def test_r17_who_sees_the_page(
    desk: Desk, browser: Browsers, who: str, status: int, forms: bool
) -> None:
    page = browser(who).get("/acme")
    assert page.status_code == status
    assert ("Create key" in page.text) is forms
    nav = browser(who).get("/").text
    assert ('<a href="/acme"' in nav) is (status == 200)


def test_r17_delegated_admin_gets_the_standing_dns_record(desk: Desk, browser: Browsers) -> None:
    new = desk.services.acme_eab.create(OPERATOR, DMV)
    dan = browser("dan")
    account_id, _ = register_through(
        dan.client, desk.services.rt.settings.base_url, new.kid, new.hmac_key
    )
    page = dan.get("/acme")
    assert 'id="persist-form"' in page.text and f'value="{account_id}"' in page.text
    shown = dan.post(
        "/acme/persist",
        {"account": str(account_id), "domain": "*.www.dmv.ca.gov", "until": "2027-06-30"},
    )
    assert shown.status_code == 200, shown.text[:300]
    text = text_of(shown)
    assert "_validation-persist.www.dmv.ca.gov" in text
    assert "policy=wildcard; persistUntil=1814313600" in text
    assert "R17" not in text  # plain language
    listed = dan.get("/acme")
    assert 'id="persist-records"' in listed.text and "www.dmv.ca.gov" in listed.text


@pytest.mark.parametrize(
    ("data", "says"),
    [
        pytest.param({"domain": "www.dmv.ca.gov"}, "choose the ACME account", id="r17/no-account"),
        pytest.param({"domain": "www.chp.ca.gov"}, "no grant", id="r2/persist-outside-grants"),
        pytest.param(
            {"domain": "www.dmv.ca.gov", "until": "someday"}, "as a date", id="r17/bad-date"
        ),
        pytest.param(
            {"domain": "www.dmv.ca.gov", "until": "2020-01-01"}, "future", id="r17/date-past"
        ),
    ],
)
def test_r17_refused_persist_forms_change_nothing(
    desk: Desk, browser: Browsers, data: dict[str, str], says: str
) -> None:
    new = desk.services.acme_eab.create(OPERATOR, DMV)
    dan = browser("dan")
    account_id, _ = register_through(
        dan.client, desk.services.rt.settings.base_url, new.kid, new.hmac_key
    )
    form = {"account": str(account_id)} if says != "choose the ACME account" else {}
    before = state(desk)
    resp = dan.post("/acme/persist", form | data)
    assert 400 <= resp.status_code < 500, resp.text[:300]
    assert says in resp.text
    assert state(desk) == before
