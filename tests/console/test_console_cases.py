"""The case pages of the console (R3, R4, R5, R8, R12): the list, the new-case form with
several submittals, the case page and every action on it, through a browser-like client.

Each refusal is checked on the page (status, the problem named) and in the database (nothing
changed, through ``world.desk.snapshot``); each success on the page and in the services.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import pkcs12

from certdesk.core.wall_clock import pacific_day, pacific_time
from world.console import (
    PASSWORD,
    Browsers,
    Visitor,
    browsers,
    console_desk,
    rule_numbers,
    text_of,
    visitor,
)
from world.csr import make_csr
from world.desk import DMV, START, Desk, snapshot, sub
from world.refusals import unchanged

NUMBER = re.compile(r"^/cases/(CS-[0-9]{4}-[0-9]{6,9})$")


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    with console_desk("sqlite", tmp_path_factory.mktemp("consolecases")) as d:
        yield d


@pytest.fixture(autouse=True)
def _start(desk: Desk) -> None:
    desk.at(START)


@pytest.fixture(scope="module")
def browser(desk: Desk) -> Iterator[Browsers]:
    with browsers(desk) as of:
        yield of


def opened(resp: httpx.Response) -> str:
    """The case number a successful form post redirected to."""
    said = re.findall(r'data-code="([^"]+)"|class="field-error"[^>]*>(.*?)</p>', resp.text, re.S)
    assert resp.status_code == 303, (resp.status_code, said or text_of(resp)[:600])
    found = NUMBER.match(resp.headers["location"])
    assert found, resp.headers["location"]
    return found.group(1)


def refused_form(desk: Desk, status: int, resp_of: Any) -> str:
    """Post a refused form: the status, the page (HTML, not a problem document), its text,
    and nothing changed."""
    with unchanged(desk.snapshot):
        resp = resp_of()
    assert resp.status_code == status, (resp.status_code, text_of(resp)[:800])
    assert "text/html" in resp.headers["content-type"]
    return text_of(resp)


def delivered(desk: Desk, *names: str) -> str:
    """A dmv case delivered by cert services, one submittal per name (keys generated)."""
    view = desk.approved(DMV, submittals=tuple(sub(n) for n in names))
    return desk.services.fulfilment.fulfil(desk["opal"], view.number).number


def serial_of(desk: Desk, number: str, index: int = 0) -> str:
    return (
        desk.services.window.certificates_of_case(desk["opal"], number).certificates[index].serial
    )


# --- the whole flow in the browser -------------------------------------------------------------


def test_case_from_form_to_delivered_chain(desk: Desk, browser: Callable[[str], Visitor]) -> None:
    """R3-R5, R8, R12: ana opens a case with a CSR file, a pasted CSR and a name only; abe and
    cert services approve; cert services delivers; ana downloads the chain and the key once."""
    svc = desk.services
    n = desk.unique("flow")
    uploaded, pasted, generated = f"www{n}.dmv.ca.gov", f"api{n}.dmv.ca.gov", f"key{n}.dmv.ca.gov"
    ana = browser("ana")
    chooser = ana.get("/cases/new")  # first: what the case is about
    assert chooser.status_code == 200 and 'href="/cases/new?type=new"' in chooser.text
    assert 'name="s0_names"' not in chooser.text
    form = ana.get("/cases/new?type=new&submittals=3")
    assert form.status_code == 200
    assert all(f'name="s{i}_names"' in form.text for i in range(3))
    assert 'enctype="multipart/form-data"' in form.text
    resp = ana.post(
        "/cases/new",
        {
            "fieldsets": "4",
            "org": DMV,
            "type": "new",
            "title": "Permits portal",
            "description": "Three certificates",
            "s0_platform": "dedicated",
            "s0_contact_name": "Ana Lee",
            "s0_contact_email": "ana.lee@dmv.ca.gov",
            "s1_csr_pem": make_csr([pasted]).decode(),
            "s2_names": generated,
            "s2_validity_days": "90",
            "s3_platform": "virtual",  # a blank fieldset: left out
            "action": "draft",
        },
        files={"s0_csr_file": ("www.csr", make_csr([uploaded]), "application/pkcs10")},
    )
    number = opened(resp)
    page = ana.follow(resp)
    assert "saved as a draft" in text_of(page)
    case = svc.cases.show(desk["ana"], number)
    assert case.state == "draft"
    assert [s.names for s in case.submittals] == [(uploaded,), (pasted,), (generated,)]
    assert [s.csr_pem is not None for s in case.submittals] == [True, True, False]
    assert case.submittals[0].platform == "dedicated"
    assert [c.email for c in case.submittals[0].contacts] == ["ana.lee@dmv.ca.gov"]
    assert case.submittals[2].validity_days == 90
    for name in (uploaded, pasted, generated):
        assert name in text_of(page)
    assert f'action="/cases/{number}/submit"' in page.text

    page = ana.follow(ana.post(f"/cases/{number}/submit"))
    assert "The case is submitted" in text_of(page)
    assert "Still needed: an approver of the organization (dmv), cert services" in text_of(page)
    assert f'action="/cases/{number}/approve"' not in page.text  # a requester decides nothing

    abe = browser("abe")
    page = abe.get(f"/cases/{number}")
    assert f'action="/cases/{number}/approve"' in page.text
    page = abe.follow(abe.post(f"/cases/{number}/approve", {"approve_note": "ok by dmv"}))
    assert "You approved the case" in text_of(page)
    assert "Still needed: cert services" in text_of(page)

    opal = browser("opal")
    page = opal.follow(opal.post(f"/cases/{number}/approve"))
    assert svc.cases.show(desk["opal"], number).state == "approved"
    due = svc.cases.show(desk["opal"], number).summary.due_date
    assert due is not None and f"Due date {pacific_day(due)}" in text_of(page)  # R19
    page = opal.follow(opal.post(f"/cases/{number}/start", {"start_note": "on it"}))
    assert svc.cases.show(desk["opal"], number).state == "in_progress"
    page = opal.follow(opal.post(f"/cases/{number}/fulfil"))
    assert "The certificates are issued" in text_of(page)
    delivery = svc.window.certificates_of_case(desk["ana"], number)
    assert delivery.state == "delivered" and len(delivery.certificates) == 3
    by_name = {c.names[0]: c for c in delivery.certificates}

    ana = browser("ana")
    page = ana.get(f"/cases/{number}")
    assert "Delivered certificates" in text_of(page)
    chain_url = f"/cases/{number}/certificates/{by_name[uploaded].serial}?format=chain"
    assert f'href="{chain_url}"' in page.text
    # The certificate's own page links back to the case that delivered it (R3).
    cert_page = ana.get(f"/certificates/{by_name[uploaded].serial}")
    assert "Delivered through case" in text_of(cert_page)
    assert f'href="/cases/{number}"' in cert_page.text
    resp = ana.get(chain_url)
    assert resp.status_code == 200
    assert "attachment" in resp.headers["content-disposition"]
    chain = x509.load_pem_x509_certificates(resp.content)
    assert len(chain) == 2
    san = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [uploaded]
    chain[0].verify_directly_issued_by(chain[1])
    roots = [c for issuer, c in svc.authority.all_certificates() if issuer.is_root]
    assert any(_issued_by(chain[1], root) for root in roots)
    leaf = ana.get(chain_url.replace("format=chain", "format=pem"))
    assert len(x509.load_pem_x509_certificates(leaf.content)) == 1

    # R12: the generated key, once, in a password-protected PKCS#12.
    key_sub = by_name[generated].submittal_id
    key_url = f"/cases/{number}/submittals/{key_sub}/key"
    assert f'action="{key_url}"' in page.text
    text = refused_form(
        desk,
        400,
        lambda: ana.post(key_url, {"password": PASSWORD, "confirm_password": "other"}),
    )
    assert "the two passwords differ" in text
    resp = ana.post(key_url, {"password": PASSWORD, "confirm_password": PASSWORD})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/x-pkcs12"
    assert resp.headers["cache-control"] == "no-store"
    key, cert, _extra = pkcs12.load_key_and_certificates(resp.content, PASSWORD.encode())
    assert key is not None and cert is not None
    assert format(cert.serial_number, "x") == by_name[generated].serial
    text = refused_form(
        desk,
        409,
        lambda: ana.post(key_url, {"password": PASSWORD, "confirm_password": PASSWORD}),
    )
    assert "cannot be downloaded again" in text
    page = ana.get(f"/cases/{number}")
    assert f'action="{key_url}"' not in page.text
    assert "downloaded once and erased" in text_of(page)

    page = ana.follow(ana.post(f"/cases/{number}/comment", {"comment": "Installed, works."}))
    assert "Installed, works." in text_of(page)
    comments = svc.cases.show(desk["ana"], number).comments
    assert [(c["actor"], c["text"]) for c in comments] == [("user:ana", "Installed, works.")]


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# --- R4: approvals ---------------------------------------------------------------------------


def test_self_approval_is_refused_and_shown(desk: Desk, browser: Callable[[str], Visitor]) -> None:
    """R4: bea (requester and approver) may not approve her own case."""
    number = desk.pending("bea").number
    bea = browser("bea")
    page = bea.get(f"/cases/{number}")
    assert "another approver decides on it" in text_of(page)
    assert f'action="/cases/{number}/approve"' not in page.text
    text = refused_form(desk, 403, lambda: bea.post(f"/cases/{number}/approve"))
    assert "You cannot approve a case you requested" in text
    assert "case.self_approval" not in text and "(R4)" not in text  # R19: no codes, no rules
    assert f"Case {number}" in text  # the case page again, with the error on top
    assert desk.services.cases.show(desk["bea"], number).state == "pending_approval"


def test_forged_approval_by_a_requester_is_refused(
    desk: Desk, browser: Callable[[str], Visitor]
) -> None:
    """R4: ana (requester only) is offered no decision, and a forged one changes nothing."""
    number = desk.pending("bea").number
    ana = browser("ana")
    assert f'action="/cases/{number}/approve"' not in ana.get(f"/cases/{number}").text
    text = refused_form(desk, 403, lambda: ana.post(f"/cases/{number}/approve"))
    assert "Not done" in text
    refused_form(desk, 403, lambda: ana.post(f"/cases/{number}/fulfil"))
    assert desk.services.cases.show(desk["ana"], number).approvals == ()


def test_rejection_reason_reaches_the_requester(
    desk: Desk, browser: Callable[[str], Visitor]
) -> None:
    """R4: a rejection needs a reason; the requester sees it and may resubmit."""
    number = desk.pending("ana").number
    abe = browser("abe")
    text = refused_form(
        desk, 400, lambda: abe.post(f"/cases/{number}/reject", {"reject_reason": " "})
    )
    assert "needs a reason" in text
    abe.follow(abe.post(f"/cases/{number}/reject", {"reject_reason": "Wrong host name"}))
    assert desk.services.cases.show(desk["ana"], number).state == "rejected"
    ana = browser("ana")
    page = ana.get(f"/cases/{number}")
    assert "Wrong host name" in text_of(page)
    assert "Resubmit for approval" in text_of(page)
    page = ana.follow(ana.post(f"/cases/{number}/submit"))
    view = desk.services.cases.show(desk["ana"], number)
    assert (view.state, view.approval_round) == ("pending_approval", 2)


# --- who sees what ---------------------------------------------------------------------------


def test_another_organizations_case_is_not_found(
    desk: Desk, browser: Callable[[str], Visitor]
) -> None:
    number = desk.draft("ana").number
    carl = browser("carl")
    resp = carl.get(f"/cases/{number}")
    assert resp.status_code == 404
    assert "Not found" in text_of(resp)
    refused_form(desk, 404, lambda: carl.post(f"/cases/{number}/comment", {"comment": "hi"}))
    refused_form(desk, 404, lambda: carl.post(f"/cases/{number}/cancel"))
    assert number not in carl.get("/cases").text
    aud = browser("aud")
    page = aud.get(f"/cases/{number}")  # an auditor reads every case, and acts on none
    assert page.status_code == 200
    assert f'action="/cases/{number}/' not in page.text
    assert aud.get("/cases/new").status_code == 403


def test_a_form_without_csrf_token_changes_nothing(
    desk: Desk, browser: Callable[[str], Visitor]
) -> None:
    number = desk.draft("ana").number
    ana = browser("ana")
    ana.get(f"/cases/{number}")
    refused_form(
        desk, 403, lambda: ana.post(f"/cases/{number}/comment", {"comment": "x"}, csrf=False)
    )
    assert desk.services.cases.show(desk["ana"], number).comments == ()


# --- the new-case form: refusals ------------------------------------------------------------


def _csr_both() -> dict[str, Any]:
    return {"s0_csr_pem": make_csr(["both.dmv.ca.gov"]).decode()}


@pytest.mark.parametrize(
    ("fields", "with_file", "shown"),
    [
        pytest.param(
            {"title": "  ", "s0_names": "a.dmv.ca.gov"}, False, "needs a title", id="R3/no-title"
        ),
        pytest.param(
            {"s0_csr_pem": "not a csr"}, False, "not a certificate request", id="R12/bad-csr"
        ),
        pytest.param(
            {"s0_names": "www.chp.ca.gov"},
            False,
            "may not obtain a certificate for this name",
            id="R2/other-agency-name",
        ),
        pytest.param(
            {"s0_names": "www.example.com"},
            False,
            "not under a state domain",
            id="R1/not-a-state-name",
        ),
        pytest.param(_csr_both(), True, "not both", id="R12/file-and-pasted"),
        pytest.param({"requested_delivery": "soon"}, False, "is not a date", id="R5/bad-date"),
        pytest.param({"requested_delivery": "2020-01-01"}, False, "in the past", id="R5/past-date"),
        pytest.param(
            {"s1_server_software": "nginx"}, False, "at least one DNS name", id="R3/no-name"
        ),
    ],
)
def test_a_refused_new_case_keeps_the_form_and_creates_nothing(
    desk: Desk,
    browser: Callable[[str], Visitor],
    fields: dict[str, str],
    with_file: bool,
    shown: str,
) -> None:
    data = {"fieldsets": "3", "org": DMV, "type": "new", "title": "Kept title", "action": "submit"}
    data |= {"s0_names": "", "s2_names": ""} | fields
    files = {"s0_csr_file": ("a.csr", make_csr(["both.dmv.ca.gov"]), "application/pkcs10")}
    ana = browser("ana")
    before = snapshot(desk)
    resp = ana.post("/cases/new", data, files=files if with_file else None)
    assert resp.status_code == 400, text_of(resp)[:800]
    assert snapshot(desk) == before
    text = text_of(resp)
    assert shown in text
    assert not rule_numbers(text)  # R19: no rule number on the page
    assert "Open a case" in text
    for name, value in fields.items():
        if value.strip() and name != "s0_csr_pem":
            assert f'value="{value}"' in resp.text or f">{value}</textarea>" in resp.text, name


def test_more_submittal_forms_keep_what_was_typed(
    desk: Desk, browser: Callable[[str], Visitor]
) -> None:
    ana = browser("ana")
    assert 'name="s4_names"' in ana.get("/cases/new?type=new&submittals=5").text
    # One certificate at a time: a new form shows one, "add another" adds one.
    one = ana.get("/cases/new?type=new").text
    assert 'name="s0_names"' in one and 'name="s1_names"' not in one
    before = desk.counts()
    resp = ana.post(
        "/cases/new",
        {
            "fieldsets": "1",
            "org": DMV,
            "title": "Many",
            "s0_names": "m.dmv.ca.gov",
            "action": "more",
        },
    )
    assert resp.status_code == 200
    assert 'name="s1_names"' in resp.text and 'name="s2_names"' not in resp.text
    assert ">m.dmv.ca.gov</textarea>" in resp.text and 'value="Many"' in resp.text
    assert desk.counts() == before


def test_operator_opens_for_an_organization_and_submits_at_once(
    desk: Desk, browser: Callable[[str], Visitor]
) -> None:
    opal = browser("opal")
    form = opal.get("/cases/new?type=new")
    assert '<option value="chp"' in form.text  # cert services choose the organization
    resp = opal.post(
        "/cases/new",
        {"fieldsets": "1", "org": "chp", "title": "For chp", "s0_names": "x.chp.ca.gov",
         "action": "submit"},
    )  # fmt: skip
    number = opened(resp)
    assert "is submitted" in text_of(opal.follow(resp))
    view = desk.services.cases.show(desk["opal"], number)
    assert (view.summary.org_code, view.state) == ("chp", "pending_approval")


# --- revising a draft ------------------------------------------------------------------------


def test_a_draft_is_revised_in_the_browser(desk: Desk, browser: Callable[[str], Visitor]) -> None:
    svc = desk.services
    number = desk.draft("ana").number
    url = f"/cases/{number}"
    ana = browser("ana")
    page = ana.follow(
        ana.post(
            url + "/edit",
            {"title": "New title", "description": "Why", "requested_delivery": "2026-12-24"},
        )
    )
    assert "The case is revised" in text_of(page)
    view = svc.cases.show(desk["ana"], number)
    assert (view.summary.title, view.description) == ("New title", "Why")
    assert str(view.summary.requested_delivery) == "2026-12-24"

    name = f"{desk.unique('add')}.dmv.ca.gov"
    ana.follow(
        ana.post(url + "/submittals", {"s0_names": name},
                 files={"s0_csr_file": ("x.csr", make_csr([name]), "application/pkcs10")})
    )  # fmt: skip
    subs = svc.cases.show(desk["ana"], number).submittals
    assert len(subs) == 2 and subs[1].names == (name,) and subs[1].csr_pem

    text = refused_form(
        desk, 400, lambda: ana.post(url + "/submittals", {"s0_names": "x.chp.ca.gov"})
    )
    assert "may not obtain a certificate for this name" in text
    refused_form(desk, 400, lambda: ana.post(url + "/submittals", {"s0_platform": "virtual"}))

    ana.follow(ana.post(f"{url}/submittals/{subs[0].id}/remove"))
    assert [s.id for s in svc.cases.show(desk["ana"], number).submittals] == [subs[1].id]
    refused_form(desk, 404, lambda: ana.post(f"{url}/submittals/{subs[0].id}/remove"))

    page = ana.follow(ana.post(url + "/cancel", {"cancel_reason": "not needed"}))
    assert "The case is cancelled" in text_of(page)
    assert f'action="{url}/edit"' not in page.text
    refused_form(desk, 409, lambda: ana.post(url + "/edit", {"title": "Late"}))
    assert svc.cases.show(desk["ana"], number).state == "cancelled"


def test_a_question_is_answered_by_cert_services(
    desk: Desk, browser: Callable[[str], Visitor]
) -> None:
    ana = browser("ana")
    resp = ana.post(
        "/cases/new",
        {"fieldsets": "1", "org": DMV, "type": "question", "title": "EV certificates?",
         "description": "Do you offer EV?", "action": "submit"},
    )  # fmt: skip
    number = opened(resp)
    assert desk.services.cases.show(desk["ana"], number).state == "submitted"
    opal = browser("opal")
    page = opal.get(f"/cases/{number}")
    assert "Answer and close" in text_of(page)
    text = refused_form(
        desk, 400, lambda: opal.post(f"/cases/{number}/complete", {"complete_comment": ""})
    )
    assert "needs the answer" in text
    opal.follow(opal.post(f"/cases/{number}/complete", {"complete_comment": "No, OV only."}))
    view = desk.services.cases.show(desk["ana"], number)
    assert view.state == "closed" and view.comments[-1]["text"] == "No, OV only."


# --- R8: the 25-day window -------------------------------------------------------------------


def test_window_revoke_and_reissue_inside_the_window(
    desk: Desk, browser: Callable[[str], Visitor]
) -> None:
    svc = desk.services
    number = delivered(desk, f"{desk.unique('win')}.dmv.ca.gov", f"{desk.unique('win')}.dmv.ca.gov")
    first, second = serial_of(desk, number, 0), serial_of(desk, number, 1)
    ana = browser("ana")
    page = ana.get(f"/cases/{number}")
    assert "The 25-day window is open" in text_of(page)
    # Revocation is a link to its own page, which states the consequence and asks why.
    assert f"/cases/{number}/revoke?serial={first}" in page.text
    assert f'action="/cases/{number}/revoke"' not in page.text
    confirm = ana.get(f"/cases/{number}/revoke?serial={first}")
    assert 'name="serial" value="' + first in confirm.text
    assert "cannot be undone" in text_of(confirm) and 'value="keyCompromise"' in confirm.text
    page = ana.follow(
        ana.post(f"/cases/{number}/revoke", {"serial": first, "reason": "keyCompromise"})
    )
    assert f"Certificate {first} is revoked" in text_of(page)
    text = refused_form(desk, 409, lambda: ana.post(f"/cases/{number}/revoke", {"serial": first}))
    assert "already revoked" in text

    sub_id = svc.cases.show(desk["ana"], number).submittals[1].id
    form = ana.get(f"/cases/{number}/reissue?submittal_id={sub_id}")
    ends = svc.window.certificates_of_case(desk["ana"], number).window_ends_at
    assert f"stays valid until {pacific_time(ends)}" in text_of(form)
    page = ana.follow(
        ana.post(f"/cases/{number}/reissue", {"submittal_id": str(sub_id), "validity_days": "30"})
    )
    assert "replacement certificate is issued" in text_of(page)
    assert f"stays valid until {pacific_time(ends)}" in text_of(page)
    certs = {c.serial: c for c in svc.window.certificates_of_case(desk["ana"], number).certificates}
    assert (certs[first].status, certs[first].revocation_reason) == ("revoked", "keyCompromise")
    # R8: the replaced certificate stays valid until the window closes (it may be installed).
    assert certs[second].status == "active" and certs[second].retire_at == ends
    (new,) = [c for c in certs.values() if c.renewal_of == second]
    assert new.submittal_id == sub_id and new.status == "active"
    # A refused reissue shows its own page again, the choices kept.
    text = refused_form(
        desk,
        400,
        lambda: ana.post(
            f"/cases/{number}/reissue", {"submittal_id": str(sub_id), "names": "x.chp.ca.gov"}
        ),
    )
    assert "may not obtain a certificate for this name" in text and "What happens" in text


def test_window_actions_after_25_days_need_a_new_case(desk: Desk) -> None:
    number = delivered(desk, f"{desk.unique('late')}.dmv.ca.gov")
    serial = serial_of(desk, number)
    desk.clock.advance(days=25, seconds=1)
    with visitor(desk, "ana") as ana:
        page = ana.get(f"/cases/{number}")
        assert "window of this case is closed" in text_of(page)
        assert f'action="/cases/{number}/revoke"' not in page.text
        text = refused_form(
            desk, 409, lambda: ana.post(f"/cases/{number}/revoke", {"serial": serial})
        )
        assert "open a new case" in text and "(R8)" not in text
    cert = desk.services.window.certificates_of_case(desk["ana"], number).certificates[0]
    assert cert.status == "active"


def test_close_and_renewal_from_the_case_page(
    desk: Desk, browser: Callable[[str], Visitor]
) -> None:
    number = delivered(desk, f"{desk.unique('ren')}.dmv.ca.gov")
    serial = serial_of(desk, number)
    ana = browser("ana")
    page = ana.follow(ana.post(f"/cases/{number}/close"))
    assert "The case is closed" in text_of(page)
    resp = ana.post("/cases/renewal", {"renew_serial": serial})
    renewal = opened(resp)
    assert "Renewal case" in text_of(ana.follow(resp))
    text = refused_form(desk, 409, lambda: ana.post("/cases/renewal", {"renew_serial": serial}))
    assert "already open" in text
    view = desk.services.cases.show(desk["ana"], renewal)
    assert (view.summary.type, view.state, view.target_serial) == ("renewal", "draft", serial)
    assert desk.services.cases.show(desk["ana"], number).state == "closed"


# --- the list ---------------------------------------------------------------------------------


def test_list_filters_and_pages(desk: Desk, browser: Callable[[str], Visitor]) -> None:
    mine = [desk.draft("ana").number for _ in range(3)]
    chp = desk.draft("carl", "chp").number
    ana = browser("ana")
    first = ana.get("/cases?state=draft&limit=2")
    assert first.status_code == 200
    shown = re.findall(r'<a href="/cases/(CS-[0-9-]+)">', first.text)
    assert shown == [mine[2], mine[1]]
    next_url = re.search(r'href="(/cases\?[^"]*cursor=[^"]*)" rel="next"', first.text)
    assert next_url is not None
    second = ana.get(next_url.group(1).replace("&amp;", "&"))
    assert re.findall(r'<a href="/cases/(CS-[0-9-]+)">', second.text)[0] == mine[0]
    assert chp not in first.text + second.text
    bad = ana.get("/cases?state=bogus")
    assert bad.status_code == 400 and "unknown state" in text_of(bad)
    assert ana.get("/cases?org=chp").status_code == 404  # not visible: not found
    opal = browser("opal")
    page = opal.get("/cases?org=chp")
    assert chp in page.text and mine[0] not in page.text
    assert 'name="org"' in page.text


def test_overdue_and_expedite_badges(desk: Desk) -> None:
    svc = desk.services
    late = desk.approved(DMV).number
    quick = desk.draft("ana", requested_delivery=START.date())
    svc.cases.submit(desk["ana"], quick.number)
    svc.approvals.approve(desk["abe"], quick.number)
    svc.approvals.approve(desk["opal"], quick.number)
    waiting = desk.pending("ana").number  # not approved: it cannot be late (R5)
    desk.clock.advance(days=20)
    with visitor(desk, "opal") as opal:
        page = opal.get("/cases?overdue=1")
        rows = dict(re.findall(r'<a href="/cases/(CS-[0-9-]+)">.*?(<td>.*?)</tr>', page.text, re.S))
        assert 'class="badge overdue"' in rows[late] and "expedite" not in rows[late]
        assert 'class="badge expedite"' in rows[quick.number]
        assert waiting not in rows
        detail = opal.get(f"/cases/{quick.number}")
        assert "expedite" in text_of(detail) and "overdue" in text_of(detail)


def test_a_revoke_case_names_its_certificate_and_cert_services_completes_it(
    desk: Desk, browser: Callable[[str], Visitor]
) -> None:
    svc = desk.services
    serial = serial_of(desk, delivered(desk, f"{desk.unique('gone')}.dmv.ca.gov"))
    ana = browser("ana")
    base = {
        "fieldsets": "1",
        "org": DMV,
        "type": "revoke",
        "title": "Retire it",
        "action": "submit",
    }
    text = refused_form(desk, 400, lambda: ana.post("/cases/new", base))
    assert "names the certificate it is about" in text
    number = opened(ana.post("/cases/new", base | {"target_certificate": serial}))
    svc.approvals.approve(desk["abe"], number)
    svc.approvals.approve(desk["otto"], number)
    opal = browser("opal")
    page = opal.get(f"/cases/{number}")
    assert 'name="complete_reason"' in page.text and f"/certificates/{serial}" in page.text
    opal.follow(opal.post(f"/cases/{number}/complete", {"complete_reason": "keyCompromise"}))
    assert svc.cases.show(desk["ana"], number).state == "closed"
    cert = svc.inventory.show(desk["ana"], serial)
    assert (cert.status, cert.revocation_reason) == ("revoked", "keyCompromise")


def test_delegated_admin_setup_carries_grants_and_people(
    desk: Desk, browser: Callable[[str], Visitor]
) -> None:
    dan = browser("dan")
    base = {
        "fieldsets": "1",
        "org": DMV,
        "type": "delegated_admin_setup",
        "title": "Delegate apps",
        "grants": "zone:apps.dmv.ca.gov\nhost:portal.dmv.ca.gov",
        "action": "draft",
    }
    text = refused_form(desk, 400, lambda: dan.post("/cases/new", base | {"admins": "Ada only"}))
    assert "is not Name:email:login" in text
    resp = dan.post("/cases/new", base | {"admins": "Ada Admin:ada@dmv.ca.gov:ada.admin"})
    number = opened(resp)
    page = dan.follow(resp)
    assert "zone:apps.dmv.ca.gov" in text_of(page) and "ada.admin" in text_of(page)
    dan.follow(dan.post(f"/cases/{number}/edit", {"grants": "zone:apps.dmv.ca.gov"}))
    setup = desk.services.cases.show(desk["dan"], number).delegated_setup
    assert setup["grants"] == ["zone:apps.dmv.ca.gov"]
    assert [a["login_id"] for a in setup["admins"]] == ["ada.admin"]


def test_approval_policy_address_leads_to_the_organization_page(
    browser: Callable[[str], Visitor],
) -> None:
    """R4: policies are shown and set on the organization page (orgs.py)."""
    resp = browser("eve").get("/cases/approval-policy")
    assert (resp.status_code, resp.headers["location"]) == (303, "/orgs/edd")
    assert browser("opal").get("/cases/approval-policy?org=chp").headers["location"] == "/orgs/chp"


def test_unknown_case_number_and_download_format(
    desk: Desk, browser: Callable[[str], Visitor]
) -> None:
    number = delivered(desk, f"{desk.unique('fmt')}.dmv.ca.gov")
    serial = serial_of(desk, number)
    ana = browser("ana")
    assert ana.get("/cases/CS-1999-000001").status_code == 404
    assert ana.get("/cases/nonsense").status_code == 404
    resp = ana.get(f"/cases/{number}/certificates/{serial}?format=der")
    assert resp.status_code == 400 and "use pem or chain" in text_of(resp)
    assert ana.get(f"/cases/{number}/certificates/abc123?format=pem").status_code == 404
    carl = browser("carl")
    assert carl.get(f"/cases/{number}/certificates/{serial}").status_code == 404


# --- the form of each case type (issue 14) ---------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "shows", "hides"),
    [
        pytest.param("new", ["s0_names"], ["target_certificate", "grants"], id="R3/new"),
        pytest.param(
            "question", ["description"], ["s0_names", "target_certificate"], id="question"
        ),
        pytest.param("revoke", ["target_certificate"], ["s0_names", "grants"], id="revoke"),
        pytest.param(
            "delegated_admin_setup", ["grants", "admins"], ["s0_names"], id="R2/delegated"
        ),
        pytest.param("renewal", ["target_certificate", "s0_names"], ["grants"], id="R6/renewal"),
    ],
)
def test_each_case_type_has_its_own_form(
    browser: Callable[[str], Visitor], kind: str, shows: list[str], hides: list[str]
) -> None:
    page = browser("ana").get(f"/cases/new?type={kind}")
    assert page.status_code == 200
    for name in shows:
        assert f'name="{name}"' in page.text, name
    for name in hides:
        assert f'name="{name}"' not in page.text, name


def test_a_refusal_is_shown_beside_its_field_and_the_csr_file_is_kept(
    desk: Desk, browser: Callable[[str], Visitor]
) -> None:
    """The second certificate's name is not dmv's (R2): the error sits beside that field,
    tied to it for screen readers; the CSR file chosen for the first comes back as text."""
    ana = browser("ana")
    csr = make_csr([f"{desk.unique('kept')}.dmv.ca.gov"], der=True)
    data = {
        "fieldsets": "3",
        "org": DMV,
        "type": "new",
        "title": "Two sites",
        "s1_names": "",
        "s2_names": "www.chp.ca.gov",
        "action": "submit",
    }
    files = {"s0_csr_file": ("site.der", csr, "application/pkcs10")}
    with unchanged(desk.snapshot):
        resp = ana.post("/cases/new", data, files=files)
    assert resp.status_code == 400
    error = re.search(r'<p class="field-error" id="f-s2_names-error">(.*?)</p>', resp.text, re.S)
    assert error and "may not obtain a certificate for this name" in error.group(1)
    assert 'aria-describedby="f-s2_names-hint f-s2_names-error"' in resp.text
    assert 'aria-invalid="true"' in resp.text and resp.text.count('class="field-error"') == 1
    # The DER file is back as PEM text in the first fieldset; sent again, the case opens.
    kept = re.search(r'id="f-s0_csr_pem"[^>]*>(-----BEGIN CERTIFICATE REQUEST-----.*?)</textarea>',
                     resp.text, re.S)  # fmt: skip
    assert kept and "site.der" in text_of(resp)
    again = ana.post(
        "/cases/new",
        {**data, "s2_names": "", "s0_csr_pem": html.unescape(kept.group(1))},
    )
    number = opened(again)
    view = desk.services.cases.show(desk["ana"], number)
    assert len(view.submittals) == 1 and view.submittals[0].csr_pem
