"""The certificate pages of the console: the inventory list (filters, keyset paging), one
certificate (chain, timeline, audit trail), downloads, revocation, and direct issuance by a
delegated administrator (R2) or cert services, through a browser-like client.

The pages only translate; what they must get right is that each form reaches the same
service as the API with the signed-in person, that refusals come back as the form with the
reason (and the rule) and change nothing, and that another agency's certificate is a 404.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7
from sqlalchemy import func, select

from certdesk.core.access import Role
from certdesk.services.pki.issuance import IssueCommand
from certdesk.services.pki.revocation import Reason
from certdesk.store.models import CertificateRow
from conftest import OPERATOR
from world.console import Browsers, browsers, code_of, console_desk, rule_numbers, set_password
from world.console import text_of as raw_text
from world.csr import make_csr
from world.desk import Desk, add_person

SSA = "ssa"  # self-managed; its delegated administrator "sam" issues directly (R2, R11)
PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----")


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    with console_desk("sqlite", tmp_path_factory.mktemp("console-certificates")) as d:
        d.services.orgs.create(
            OPERATOR, SSA, "Social Security", self_managed=True, grants=["zone:ssa.ca.gov"]
        )
        d.people["sam"] = add_person(d.services, "sam", SSA, [Role.DELEGATED_ADMIN])
        set_password(d, "sam")
        yield d


@pytest.fixture(scope="module")
def browser(desk: Desk) -> Iterator[Browsers]:
    with browsers(desk) as of:
        yield of


def issue(desk: Desk, org: str, *names: str, renewal_of: str | None = None) -> str:
    """A certificate made by cert services through the service; returns its serial."""
    issued = desk.services.issuance.issue(
        OPERATOR, IssueCommand(org, make_csr(names), renewal_of=renewal_of)
    )
    return issued.serial


def fresh(desk: Desk, org: str = "dmv") -> str:
    return issue(desk, org, f"{desk.unique('www')}.{org}.ca.gov")


def text_of(response: httpx.Response) -> str:
    """The visible text with entities decoded (quotes in error details are escaped)."""
    return html.unescape(raw_text(response))


def cert_count(desk: Desk) -> int:
    """Every certificate row, intents and voided ones included."""
    with desk.services.rt.reads() as s:
        return int(s.scalar(select(func.count()).select_from(CertificateRow)) or 0)


def status_of(desk: Desk, serial: str) -> str:
    return desk.services.inventory.show(OPERATOR, serial).status


def serials_on(page_html: str) -> list[str]:
    return re.findall(r'<a href="/certificates/([0-9a-f]+)" class="serial">', page_html)


# --- the list -------------------------------------------------------------------------------


def test_list_shows_only_own_organization(desk: Desk, browser: Browsers) -> None:
    mine, theirs = fresh(desk, "dmv"), fresh(desk, "chp")
    page = browser("ana").get("/certificates")
    assert page.status_code == 200
    shown = serials_on(page.text)
    assert mine in shown and theirs not in shown
    assert 'name="org"' not in page.text  # the organization filter is for global roles
    everything = serials_on(browser("aud").get("/certificates?limit=500").text)
    assert {mine, theirs} <= set(everything)
    assert 'name="org"' in browser("aud").get("/certificates").text


def test_list_filters_by_name_status_org_and_expiry(desk: Desk, browser: Browsers) -> None:
    name = f"{desk.unique('filter')}.dmv.ca.gov"
    wanted = issue(desk, "dmv", name)
    other = fresh(desk, "dmv")
    by_name = browser("ana").get(f"/certificates?name={name}")
    assert serials_on(by_name.text) == [wanted]
    assert f'value="{name}"' in by_name.text  # the form keeps the filter

    revoked = fresh(desk, "dmv")
    desk.services.revocation.revoke(OPERATOR, revoked, Reason.UNSPECIFIED)
    only_revoked = serials_on(browser("ana").get("/certificates?status=revoked").text)
    assert revoked in only_revoked and wanted not in only_revoked and other not in only_revoked

    chp = fresh(desk, "chp")
    of_chp = serials_on(browser("opal").get("/certificates?org=chp&limit=500").text)
    assert chp in of_chp and wanted not in of_chp

    # Everything here expires within the 200-day maximum (R13), nothing within one day.
    soon = serials_on(browser("ana").get("/certificates?expiring=1").text)
    later = serials_on(browser("ana").get("/certificates?expiring=365&limit=500").text)
    assert soon == [] and wanted in later
    assert "No certificate matches these filters" in text_of(
        browser("ana").get("/certificates?expiring=1")
    )


def test_keyset_paging_keeps_the_filters(desk: Desk, browser: Browsers) -> None:
    made = {fresh(desk, "edd") for _ in range(5)}
    v = browser("opal")
    seen: list[str] = []
    url: str | None = "/certificates?org=edd&status=active&limit=2"
    pages = 0
    while url:
        page = v.get(url)
        assert page.status_code == 200, page.text[:500]
        rows = serials_on(page.text)
        assert len(rows) <= 2
        seen += rows
        pages += 1
        found = re.search(
            r'<a class="btn btn-outline-primary" href="([^"]+)" rel="next">', page.text
        )
        url = found.group(1).replace("&amp;", "&") if found else None
        if url:
            assert "org=edd" in url and "status=active" in url and "limit=2" in url
            assert "cursor=" in url
    expected = [
        c.serial
        for c in desk.services.inventory.search(OPERATOR, org_code="edd", status="active").items
    ]
    assert seen == expected  # newest first, no row twice, none skipped
    assert made <= set(seen) and pages >= 3


@pytest.mark.parametrize(
    ("login", "query", "status", "says"),
    [
        pytest.param("ana", "status=bogus", 400, "unknown status 'bogus'", id="bad/status"),
        pytest.param("ana", "cursor=abc", 400, "page of results", id="bad/cursor"),
        pytest.param("ana", "expiring=soon", 400, "cannot read duration", id="bad/expiring"),
        pytest.param("opal", "org=nosuch", 404, "no organization with code", id="bad/unknown-org"),
        pytest.param(
            "ana", "org=chp", 404, "no organization with code 'chp'", id="R2/other-org-filter-404"
        ),
        pytest.param("ana", "limit=0", 400, "limit", id="bad/limit"),
    ],
)
def test_bad_filter_is_a_page_naming_the_problem(
    desk: Desk, browser: Browsers, login: str, query: str, status: int, says: str
) -> None:
    page = browser(login).get(f"/certificates?{query}")
    assert page.status_code == status
    assert "text/html" in page.headers["content-type"]
    assert says in text_of(page)
    assert serials_on(page.text) == []


# --- one certificate ------------------------------------------------------------------------


def test_detail_shows_facts_chain_and_timeline(desk: Desk, browser: Browsers) -> None:
    name = f"{desk.unique('detail')}.dmv.ca.gov"
    serial = issue(desk, "dmv", name)
    view = desk.services.inventory.show(OPERATOR, serial)
    page = browser("ana").get(f"/certificates/{serial}")
    assert page.status_code == 200
    text = text_of(page)
    for fact in (name, "Motor Vehicles", "Valid", view.key_type, view.issuer):
        assert fact in text
    assert view.fingerprint_sha256 and view.fingerprint_sha256 in text
    assert view.requested_by in text
    # The chain: the leaf, then the issuing CA, each as PEM in <pre> with subject and issuer.
    pems = re.findall(r'<pre class="pem"[^>]*>(.*?)</pre>', page.text, re.S)
    certs = [x509.load_pem_x509_certificate(p.encode()) for p in pems]
    assert len(certs) == 2
    assert format(certs[0].serial_number, "x") == serial
    assert certs[0].issuer == certs[1].subject
    assert certs[1].subject.rfc4514_string() in text
    # The timeline: issued, expires; a requester sees no audit trail (no audit.read).
    timeline = re.search(r'<ol class="timeline" id="timeline">(.*?)</ol>', page.text, re.S)
    assert timeline is not None
    assert "Issued" in timeline.group(1) and "Expires" in timeline.group(1)
    assert "Audit events" not in text and "issued certificate" not in text
    assert "cert.issue" not in text  # no raw action code on a page (R19)
    # A requester may not revoke: no form (R8 revocations go through the case).
    assert f"/certificates/{serial}/revoke" not in page.text


def test_auditor_sees_audit_events_of_the_certificate(desk: Desk, browser: Browsers) -> None:
    serial = fresh(desk)
    page = browser("aud").get(f"/certificates/{serial}")
    assert page.status_code == 200
    table = re.search(r'<table class="data" id="cert-audit">(.*?)</table>', page.text, re.S)
    assert table is not None
    assert "issued certificate" in table.group(1) and "cert services" in table.group(1)
    assert "cert.issue" not in table.group(1)  # raw codes stay in the log (R19)
    assert f"/certificates/{serial}/revoke" not in page.text  # auditors read only


def test_timeline_links_renewal_both_ways(desk: Desk, browser: Browsers) -> None:
    old = fresh(desk)
    new = issue(desk, "dmv", desk.services.inventory.show(OPERATOR, old).names[0], renewal_of=old)
    old_page = text_of(browser("ana").get(f"/certificates/{old}"))
    new_page = browser("ana").get(f"/certificates/{new}")
    assert f"Replaced by (renewal or reissue) {new}" in old_page
    assert f"Issued as the replacement of {old}" in text_of(new_page)
    assert f'<a href="/certificates/{old}">{old}</a>' in new_page.text


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/certificates/{serial}", id="detail"),
        pytest.param("/certificates/{serial}/download?format=pem", id="download"),
        pytest.param("/certificates/{serial}/download?format=p7b", id="download-p7b"),
    ],
)
def test_other_organizations_certificate_is_not_found(
    desk: Desk, browser: Browsers, path: str
) -> None:
    serial = fresh(desk, "chp")
    made_up = ("f" if serial[0] != "f" else "e") + serial[1:]  # same shape, nobody's
    for login in ("ana", "dan", "sam"):
        page = browser(login).get(path.format(serial=serial))
        assert page.status_code == 404, (login, page.status_code)
        assert "BEGIN CERTIFICATE" not in page.text
        # Issue 10 finding 4: the very page a made-up serial gets, but for the serial typed.
        unknown = browser(login).get(path.format(serial=made_up))
        assert page.text.replace(serial, "<serial>") == unknown.text.replace(made_up, "<serial>")
    assert browser("cara").get(path.format(serial=serial)).status_code == 200


def test_unknown_serial_is_not_found(desk: Desk, browser: Browsers) -> None:
    page = browser("ana").get("/certificates/abcdef0123")
    assert page.status_code == 404 and "no certificate with serial" in text_of(page)
    assert browser("ana").get("/certificates/not-hex").status_code == 400


# --- downloads ------------------------------------------------------------------------------


def test_downloads_are_parseable_with_the_apis_headers(desk: Desk, browser: Browsers) -> None:
    serial = fresh(desk)
    v = browser("ana")

    def get(fmt: str) -> bytes:
        r = v.get(f"/certificates/{serial}/download?format={fmt}")
        assert r.status_code == 200, r.text[:300]
        api = {"pem": "pem", "chain": "chain.pem", "der": "cer", "p7b": "p7b"}[fmt]
        assert r.headers["content-disposition"] == f'attachment; filename="{serial}.{api}"'
        media = {
            "pem": "application/x-pem-file",
            "chain": "application/x-pem-file",
            "der": "application/pkix-cert",
            "p7b": "application/pkcs7-mime",
        }[fmt]
        assert r.headers["content-type"].startswith(media)
        return r.content

    leaf = x509.load_pem_x509_certificate(get("pem"))
    assert format(leaf.serial_number, "x") == serial
    chain = x509.load_pem_x509_certificates(get("chain"))
    assert len(chain) == 2 and chain[0] == leaf
    assert x509.load_der_x509_certificate(get("der")) == leaf
    bundle = pkcs7.load_der_pkcs7_certificates(get("p7b"))
    assert leaf in bundle and chain[1] in bundle


def test_unknown_download_format_is_400(desk: Desk, browser: Browsers) -> None:
    serial = fresh(desk)
    page = browser("ana").get(f"/certificates/{serial}/download?format=pfx")
    assert page.status_code == 400
    assert "text/html" in page.headers["content-type"]
    assert "unknown format 'pfx'" in text_of(page)


# --- revocation -----------------------------------------------------------------------------


def test_operator_revokes_with_a_reason(desk: Desk, browser: Browsers) -> None:
    serial = fresh(desk)
    v = browser("opal")
    page = v.get(f"/certificates/{serial}")
    # The certificate page only links to revocation; its own page says what it does.
    assert f'href="/certificates/{serial}/revoke"' in page.text
    assert 'action="/certificates/' not in page.text
    confirm = v.get(f"/certificates/{serial}/revoke")
    assert f'action="/certificates/{serial}/revoke"' in confirm.text
    assert 'value="keyCompromise"' in confirm.text and "cannot be undone" in text_of(confirm)
    done = v.post(f"/certificates/{serial}/revoke", {"reason": "keyCompromise"})
    shown = v.follow(done)
    assert "is revoked (the private key was exposed)" in text_of(shown)
    assert "revoked" in text_of(shown) and "reason: The private key was exposed" in text_of(shown)
    assert f'href="/certificates/{serial}/revoke"' not in shown.text  # no second time
    assert v.get(f"/certificates/{serial}/revoke").status_code == 403
    view = desk.services.inventory.show(OPERATOR, serial)
    assert view.status == "revoked" and view.revocation_reason == "keyCompromise"
    events, _ = desk.services.audit.search(OPERATOR, object_type="certificate", object_id=serial)
    assert [e.action for e in events][:1] == ["cert.revoke"] and events[0].actor == "user:opal"


def test_delegated_admin_revokes_own_self_managed_certificate(
    desk: Desk, browser: Browsers
) -> None:
    serial = issue(desk, SSA, f"{desk.unique('rv')}.ssa.ca.gov")
    v = browser("sam")
    assert f'href="/certificates/{serial}/revoke"' in v.get(f"/certificates/{serial}").text
    assert f'action="/certificates/{serial}/revoke"' in v.get(f"/certificates/{serial}/revoke").text
    v.follow(v.post(f"/certificates/{serial}/revoke", {"reason": "cessationOfOperation"}))
    assert status_of(desk, serial) == "revoked"


@pytest.mark.parametrize(
    ("login", "reason", "status", "says"),
    [
        pytest.param("aud", "unspecified", 403, "You may not do this", id="auditor-forbidden"),
        pytest.param("ana", "unspecified", 403, "You may not do this", id="requester-forbidden"),
        pytest.param("dan", "unspecified", 403, "is managed", id="R11/da-of-managed-org"),
        pytest.param("opal", "because", 400, "unknown reason 'because'", id="bad/reason"),
    ],
)
def test_refused_revocation_shows_the_page_again_and_changes_nothing(
    desk: Desk, browser: Browsers, login: str, reason: str, status: int, says: str
) -> None:
    serial = fresh(desk)
    page = browser(login).get(f"/certificates/{serial}")  # signed in (audited) before counting
    audit_before = desk.counts()["audit"]
    if login != "opal":  # only who may revoke this certificate is offered the form
        assert f"/certificates/{serial}/revoke" not in page.text
        assert browser(login).get(f"/certificates/{serial}/revoke").status_code == 403
    refused = browser(login).post(f"/certificates/{serial}/revoke", {"reason": reason})
    assert refused.status_code == status
    text = text_of(refused)
    assert says in text and "Not done" in text
    assert "cert.revoke" not in text  # no raw code (R19)
    assert serial in text  # the certificate's (or its revocation's) page again
    assert status_of(desk, serial) == "active"
    assert desk.counts()["audit"] == audit_before


def test_revoking_another_organizations_certificate_is_404(desk: Desk, browser: Browsers) -> None:
    serial = issue(desk, SSA, f"{desk.unique('x')}.ssa.ca.gov")
    refused = browser("dan").post(f"/certificates/{serial}/revoke", {"reason": "unspecified"})
    assert refused.status_code == 404
    assert status_of(desk, serial) == "active"


def test_revoke_without_csrf_token_is_refused(desk: Desk, browser: Browsers) -> None:
    serial = fresh(desk)
    refused = browser("opal").post(
        f"/certificates/{serial}/revoke", {"reason": "unspecified"}, csrf=False
    )
    assert refused.status_code == 403
    assert status_of(desk, serial) == "active"


# --- direct issuance ------------------------------------------------------------------------


def test_delegated_admin_issues_a_granted_name(desk: Desk, browser: Browsers) -> None:
    v = browser("sam")
    form = v.get("/issue")
    assert form.status_code == 200
    assert "zone:ssa.ca.gov" in text_of(form) and 'name="org"' not in form.text  # fixed org
    name = f"{desk.unique('app')}.ssa.ca.gov"
    before = cert_count(desk)
    done = v.post(
        "/issue", {"csr": make_csr([name]).decode(), "platform": "dedicated", "days": "30"}
    )
    assert done.status_code == 200, text_of(done)[:800]
    serial = re.search(r'<a href="/certificates/([0-9a-f]+)" class="serial">', done.text)
    assert serial is not None
    view = desk.services.inventory.show(OPERATOR, serial.group(1))
    assert view.org_code == SSA and view.names == (name,) and view.platform == "dedicated"
    assert view.requested_by == "user:sam"
    assert cert_count(desk) == before + 1
    pems = re.findall(r'<pre class="pem"[^>]*>(.*?)</pre>', done.text, re.S)
    leaf = x509.load_pem_x509_certificate(pems[0].encode())
    assert format(leaf.serial_number, "x") == view.serial
    assert len(x509.load_pem_x509_certificates(pems[1].encode())) == 2  # fullchain
    assert f"/certificates/{view.serial}/download?format=chain" in done.text
    assert (view.not_after - view.not_before).days <= 31


def test_delegated_admin_uploads_a_der_csr_file(desk: Desk, browser: Browsers) -> None:
    name = f"{desk.unique('file')}.ssa.ca.gov"
    done = browser("sam").post(
        "/issue",
        {"csr": "", "platform": "virtual"},
        files={"csr_file": ("request.der", make_csr([name], der=True), "application/pkcs10")},
    )
    assert done.status_code == 200, text_of(done)[:800]
    assert name in text_of(done)
    assert desk.services.inventory.search(OPERATOR, name=name).items[0].org_code == SSA


@pytest.mark.parametrize(
    ("name", "rule", "says"),
    [
        pytest.param(
            "www.dmv.ca.gov", "name.not_granted", "www.dmv.ca.gov", id="R2/another-agencys-zone"
        ),
        pytest.param(
            "ssa.example.com",
            "name.outside_suffixes",
            "ssa.example.com",
            id="R1/not-a-state-suffix",
        ),
        pytest.param("*.ca.gov", "name.wildcard_on_suffix", "*.ca.gov", id="R1/wildcard-on-suffix"),
    ],
)
def test_refused_name_shows_the_form_with_the_rule_and_issues_nothing(
    desk: Desk, browser: Browsers, name: str, rule: str, says: str
) -> None:
    csr = make_csr([f"{desk.unique('ok')}.ssa.ca.gov", name]).decode()
    before, audit_before = cert_count(desk), desk.counts()["audit"]
    refused = browser("sam").post("/issue", {"csr": csr, "platform": "dedicated", "days": "12"})
    assert refused.status_code == 400
    text = text_of(refused)
    assert code_of(refused) == rule and says in text and "Not done" in text
    assert not rule_numbers(text)  # no rule number on a page (R19)
    assert 'id="issue-form"' in refused.text  # the form again, its values kept
    assert "BEGIN CERTIFICATE REQUEST" in refused.text and 'value="12"' in refused.text
    assert re.search(r'<option value="dedicated" selected>', refused.text)
    assert cert_count(desk) == before and desk.counts()["audit"] == audit_before


@pytest.mark.parametrize(
    ("data", "files", "says"),
    [
        pytest.param({"csr": "not a csr"}, None, "csr.unparseable", id="R12/garbage"),
        pytest.param({"csr": ""}, None, "paste the CSR", id="missing"),
        pytest.param(
            {"csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----"},
            None,
            "csr.unparseable",
            id="R12/broken-pem",
        ),
        pytest.param(
            {"csr": make_csr(["a.ssa.ca.gov"]).decode()},
            {"csr_file": ("r.pem", make_csr(["b.ssa.ca.gov"]), "application/x-pem-file")},
            "not both",
            id="pasted-and-uploaded",
        ),
        pytest.param(
            {"csr": make_csr(["c.ssa.ca.gov"]).decode(), "days": "ten"},
            None,
            "not a whole number of days",
            id="bad/days",
        ),
        pytest.param(
            {"csr": make_csr(["d.ssa.ca.gov"]).decode(), "days": "999"},
            None,
            "validity",
            id="R13/too-long",
        ),
        pytest.param(
            {"csr": make_csr(["e.ssa.ca.gov"]).decode(), "platform": "cloud"},
            None,
            "platform must be",
            id="bad/platform",
        ),
    ],
)
def test_bad_request_is_400_naming_the_problem(
    desk: Desk,
    browser: Browsers,
    data: dict[str, str],
    files: dict[str, tuple[str, bytes, str]] | None,
    says: str,
) -> None:
    before = cert_count(desk)
    refused = browser("sam").post("/issue", data, files=files)
    assert refused.status_code == 400
    assert says in text_of(refused) or says == code_of(refused)
    assert 'id="issue-form"' in refused.text
    assert cert_count(desk) == before


def test_operator_issues_for_any_organization(desk: Desk, browser: Browsers) -> None:
    v = browser("opal")
    assert 'name="org"' in v.get("/issue").text
    name = f"{desk.unique('op')}.chp.ca.gov"
    done = v.post("/issue", {"org": "chp", "csr": make_csr([name]).decode()})
    assert done.status_code == 200, text_of(done)[:800]
    assert desk.services.inventory.search(OPERATOR, name=name).items[0].org_code == "chp"
    before = cert_count(desk)
    missing = v.post("/issue", {"org": "", "csr": make_csr(["z.chp.ca.gov"]).decode()})
    assert missing.status_code == 400 and "organization" in text_of(missing)
    unknown = v.post("/issue", {"org": "nosuch", "csr": make_csr(["z.chp.ca.gov"]).decode()})
    assert unknown.status_code == 404 and "no organization with code" in text_of(unknown)
    assert cert_count(desk) == before


def test_managed_and_requesting_people_do_not_issue(desk: Desk, browser: Browsers) -> None:
    managed = browser("dan").get("/issue")
    assert managed.status_code == 200 and 'id="issue-form"' not in managed.text
    assert "managed organization" in text_of(managed)
    before = cert_count(desk)
    refused = browser("dan").post(
        "/issue", {"csr": make_csr([f"{desk.unique('m')}.dmv.ca.gov"]).decode()}
    )
    assert refused.status_code == 403 and code_of(refused) == "org.managed"
    assert "R11" not in text_of(refused)
    page = browser("ana").get("/issue")
    assert page.status_code == 403
    assert (
        browser("ana").post("/issue", {"csr": make_csr(["q.dmv.ca.gov"]).decode()}).status_code
        == 403
    )
    assert cert_count(desk) == before


def test_check_names_shows_each_verdict_with_its_rule(desk: Desk, browser: Browsers) -> None:
    page = browser("sam").get("/issue/check?names=www.ssa.ca.gov,+www.dmv.ca.gov+bad_name.ca.gov")
    assert page.status_code == 200
    rows = re.findall(r"<tr>(.*?)</tr>", page.text, re.S)[1:]
    verdicts = [" ".join(re.sub(r"<[^>]+>", " ", r).split()) for r in rows]
    assert verdicts[0].startswith("www.ssa.ca.gov allowed")
    assert verdicts[1].startswith("www.dmv.ca.gov refused")
    assert verdicts[2].startswith("bad_name.ca.gov refused")
    assert not any(re.search(r"\bR\d{1,2}\b", v) for v in verdicts)  # R19
    # Cert services judge R1 alone, or an organization's grants when it is named.
    opal = browser("opal")
    assert "www.dmv.ca.gov allowed" in text_of(opal.get("/issue/check?names=www.dmv.ca.gov"))
    refused = opal.get("/issue/check?names=www.dmv.ca.gov&org=chp")
    assert "refused" in text_of(refused) and code_of(refused) == "name.not_granted"
    assert opal.get("/issue/check?names=a.ca.gov&org=nosuch").status_code == 404
