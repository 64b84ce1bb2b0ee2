"""Certificate Transparency monitoring (issue 15, part 3; R18) against a real log on loopback
that the test builds (tests/world/ctlog.py), on SQLite and PostgreSQL, as an RFC 6962 log and
as a static-CT (tiled) log."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import pytest
from cryptography import x509
from sqlalchemy import select

from certdesk.errors import Conflict, Forbidden, InvalidInput
from certdesk.jobs.worker import Worker
from certdesk.services.setup import LOCAL_OPERATOR as OPERATOR
from certdesk.services.transparency.watch import WatchReport
from certdesk.store.models import CtFinding, CtLog, Notice
from world.ctlog import Authority, Served, TestLog, serving
from world.desk import CHP, DMV, Desk, desk_fixture
from world.mail import FakeTransport
from world.refusals import refused

desk = desk_fixture("ct")

KINDS = [pytest.param(False, id="rfc6962"), pytest.param(True, id="static-ct")]


@pytest.fixture(params=KINDS)
def tiled(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def served() -> Iterator[Served]:
    with serving(TestLog()) as s:
        yield s


def follow(desk: Desk, served: Served, *, tiled: bool) -> str:
    name = desk.unique("log")
    desk.services.ct_logs.add(
        OPERATOR, name, served.url, served.log.public_pem, tiled=tiled, start=0
    )
    return name


def watch(desk: Desk, name: str, **kw: object) -> WatchReport:
    return desk.services.ct_watch.run(OPERATOR, only=name, **kw)  # type: ignore[arg-type]


def findings(desk: Desk, name: str) -> list[CtFinding]:
    with desk.rt.reads() as s:
        log_id = s.scalars(select(CtLog.id).where(CtLog.name == name)).one()
        return list(
            s.scalars(select(CtFinding).where(CtFinding.log_id == log_id).order_by(CtFinding.id))
        )


def state(desk: Desk, name: str) -> tuple[int, int, str]:
    with desk.rt.reads() as s:
        row = s.scalars(select(CtLog).where(CtLog.name == name)).one()
        return row.position, row.verified_size, row.last_error


def mails(desk: Desk, finding_id: int) -> list[str]:
    with desk.rt.reads() as s:
        rows = s.scalars(select(Notice).where(Notice.reason == f"ct.finding#{finding_id}"))
        return sorted(n.contact_email for n in rows)


def test_r18_bad_tree_head_signature_is_refused(desk: Desk, served: Served, tiled: bool) -> None:
    ca = Authority()
    served.log.add_certificate(ca.certificate(f"{desk.unique('bad')}.dmv.ca.gov"), ca.cert)
    served.log.publish()
    served.log.forge_signature = True
    name = follow(desk, served, tiled=tiled)
    report = watch(desk, name)
    (one,) = report.logs
    assert one.code == "ct.bad_signature"
    assert one.read == 0
    assert state(desk, name) == (0, 0, one.error)
    assert findings(desk, name) == []
    assert not any("tile/data" in r or "get-entries" in r for r in served.log.requests)


def test_r1_names_outside_the_suffixes_are_ignored(desk: Desk, served: Served, tiled: bool) -> None:
    ca = Authority()
    for names in (
        ("www.example.com",),
        ("evilca.gov",),  # a look-alike, not under ca.gov
        ("dmv.ca.gov.example.com",),
    ):
        served.log.add_certificate(ca.certificate(*names), ca.cert)
    ungranted = f"{desk.unique('portal')}.parks.ca.gov"  # a state name no grant covers
    served.log.add_certificate(ca.certificate(ungranted, "www.example.org"), ca.cert)
    served.log.publish()
    name = follow(desk, served, tiled=tiled)
    report = watch(desk, name)
    (one,) = report.logs
    assert (one.read, one.state_names, one.error) == (4, 1, "")
    (f,) = findings(desk, name)
    # Cert services' alone: no organization's grant covers it, and only the state name counts.
    assert (f.org_id, f.names) == (None, ungranted)
    assert mails(desk, f.id) == ["opal@example.ca.gov", "otto@example.ca.gov"]


def test_r18_certificates_certdesk_issued_are_not_findings(
    desk: Desk, served: Served, tiled: bool
) -> None:
    own = desk.issued(DMV, f"{desk.unique('own')}.dmv.ca.gov")
    mine, issuer = own.certificate, own.chain[0]
    served.log.add_certificate(mine, issuer)
    # A precertificate of certdesk's issuer and serial is certdesk's (issuer + serial).
    twin = Authority(name="twin")
    pre, final = twin.precertificate(*own.names)
    served.log.add_precertificate(_as(pre, mine), _as(final, mine), twin)
    served.log.publish()
    name = follow(desk, served, tiled=tiled)
    (one,) = watch(desk, name).logs
    assert (one.read, one.state_names, one.known, one.findings) == (2, 2, 2, 0)
    assert findings(desk, name) == []


def test_r18_certificates_certdesk_imported_are_not_findings(
    desk: Desk, served: Served, tiled: bool
) -> None:
    ca = Authority()
    pre, final = ca.precertificate(f"{desk.unique('imp')}.dmv.ca.gov")
    desk.services.external.add(OPERATOR, final, source="import")
    served.log.add_precertificate(pre, final, ca)
    served.log.add_certificate(final, ca.cert)
    served.log.publish()
    name = follow(desk, served, tiled=tiled)
    (one,) = watch(desk, name).logs
    assert (one.read, one.state_names, one.known, one.findings) == (2, 2, 2, 0)
    assert findings(desk, name) == []


def _as(cert: x509.Certificate, like: x509.Certificate) -> x509.Certificate:
    """``cert`` re-signed with ``like``'s issuer name and serial (any key: only names count)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(like.issuer)
        .public_key(cert.public_key())
        .serial_number(like.serial_number)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
    )
    for ext in cert.extensions:
        builder = builder.add_extension(ext.value, ext.critical)
    return builder.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())


def test_r18_unknown_certificate_is_one_finding_with_one_mail_each(
    desk: Desk, served: Served, tiled: bool
) -> None:
    host = f"{desk.unique('www')}.dmv.ca.gov"
    dee = f"{desk.unique('dee')}@dmv.ca.gov"
    desk.org_contact(DMV, "Dee", dee)
    ca = Authority()
    pre, final = ca.precertificate(host, f"{desk.unique('x')}.chp.ca.gov")
    served.log.add_precertificate(pre, final, ca)
    served.log.add_certificate(final, ca.cert)  # the same certificate, logged again
    served.log.publish()
    name = follow(desk, served, tiled=tiled)
    (one,) = watch(desk, name).logs
    assert (one.read, one.findings, one.error) == (2, 2, "")  # DMV's part and CHP's part
    got = findings(desk, name)
    by_org = {f.org_id: f for f in got}
    dmv = desk.services.orgs.get(OPERATOR, DMV).id
    chp = desk.services.orgs.get(OPERATOR, CHP).id
    assert set(by_org) == {dmv, chp}
    assert by_org[dmv].names == host and by_org[dmv].precert
    assert by_org[dmv].serial == format(final.serial_number, "x")
    assert dee in mails(desk, by_org[dmv].id)
    assert dee not in mails(desk, by_org[chp].id)
    assert "opal@example.ca.gov" in mails(desk, by_org[chp].id)
    # What people read: the agency sees its own finding only, with its own names.
    page = desk.services.ct_findings.search(desk["ana"])
    mine = [f for f in page.items if f.log == name]
    assert [f.headline for f in mine] == [f"unknown issuer for {host}"]
    assert [f for f in desk.services.ct_findings.search(desk["eve"]).items if f.log == name] == []
    # Again, and in a second log: nothing new, no second mail.
    before = mails(desk, by_org[dmv].id)
    assert watch(desk, name).logs[0].findings == 0
    with serving(TestLog()) as other:
        other.log.add_certificate(final, ca.cert)
        other.log.publish()
        second = follow(desk, other, tiled=not tiled)
        assert watch(desk, second).logs[0].findings == 0
    assert mails(desk, by_org[dmv].id) == before
    assert [f.id for f in findings(desk, name)] == [f.id for f in got]


def test_r18_a_restart_resumes_from_the_saved_position(
    desk: Desk, served: Served, tiled: bool
) -> None:
    ca = Authority()
    hosts = [f"{desk.unique('r')}.edd.ca.gov" for _ in range(5)]
    for i in range(300):
        names = (hosts[i // 60],) if i % 60 == 7 else (f"h{i}.example.net",)
        served.log.add_certificate(ca.certificate(*names), ca.cert)
    served.log.publish()
    name = follow(desk, served, tiled=tiled)
    first = watch(desk, name, max_entries=130, batch=50).logs[0]
    assert (first.read, first.findings) == (130, 3)
    assert state(desk, name)[:2] == (130, 0)  # not yet proven: the head is further
    # The log fails in the middle of the next pass: what was recorded stays, nothing twice.
    served.log.entries_down_from = 256
    broken = watch(desk, name, batch=50).logs[0]
    assert broken.code == "ct.unreachable"
    assert (broken.read, state(desk, name)[0]) == (100, 230)
    served.log.entries_down_from = None
    served.log.requests.clear()
    for i in range(40):
        served.log.add_certificate(ca.certificate(f"n{i}.example.net"), ca.cert)
    served.log.publish()
    # The next pass reads on from 230, not from 0.
    rest = watch(desk, name, batch=50).logs[0]
    assert (rest.read, rest.position, rest.verified_size, rest.error) == (110, 340, 340, "")
    assert sorted(f.names for f in findings(desk, name)) == sorted(hosts)
    fetched = [r for r in served.log.requests if "get-entries" in r or "tile/data" in r]
    if tiled:
        assert fetched == ["/tile/data/000", "/tile/data/001.p/84"]  # each tile once
    else:
        starts = [int(r.split("start=")[1].split("&")[0]) for r in fetched]
        assert min(starts) == 230


def test_r18_a_log_that_rewrites_its_history_is_refused(
    desk: Desk, served: Served, tiled: bool
) -> None:
    ca = Authority()
    for i in range(10):
        served.log.add_certificate(ca.certificate(f"a{i}.example.net"), ca.cert)
    served.log.publish()
    name = follow(desk, served, tiled=tiled)
    assert watch(desk, name).logs[0].verified_size == 10
    # A fork: entry 3 replaced, then more entries, all signed with the log's key.
    forked = TestLog()
    forked.key = served.log.key
    for i, e in enumerate(served.log.entries):
        if i == 3:
            forked.add_certificate(ca.certificate("other.example.net"), ca.cert)
        else:
            forked.entries.append(e)
    for i in range(5):
        forked.add_certificate(ca.certificate(f"b{i}.example.net"), ca.cert)
    forked.publish()
    with serving(forked) as fork:
        with desk.rt.sessions.begin() as s:
            s.execute(CtLog.__table__.update().where(CtLog.name == name).values(url=fork.url))
        (one,) = watch(desk, name).logs
    assert one.code == "ct.inconsistent"
    assert state(desk, name)[:2] == (10, 10)


def test_r18_a_log_that_shrinks_below_what_was_read_is_refused(
    desk: Desk, served: Served, tiled: bool
) -> None:
    ca = Authority()
    for i in range(300):
        served.log.add_certificate(ca.certificate(f"s{i}.example.net"), ca.cert)
    served.log.publish()
    name = follow(desk, served, tiled=tiled)
    assert watch(desk, name, max_entries=130).logs[0].position == 130  # not yet proven
    served.log.publish(100)  # a head of fewer entries than certdesk read, validly signed
    (one,) = watch(desk, name).logs
    assert one.code == "ct.inconsistent"
    assert state(desk, name)[:2] == (130, 0)


def test_r18_log_add_refuses_bad_input(desk: Desk, served: Served) -> None:
    name = follow(desk, served, tiled=False)

    def logs() -> list[str]:
        return [v.name for v in desk.services.ct_logs.list(OPERATOR)]

    add = partial(desk.services.ct_logs.add, start=0)
    key = served.log.public_pem
    refused(
        Conflict, "ct.log_exists", lambda: add(OPERATOR, name, served.url, key, tiled=False),
        state=logs,
    )  # fmt: skip
    for log_name, url, pem, code in (
        ("ok", "ftp://127.0.0.1/log", key, "ct.bad_url"),
        ("ok", served.url, b"not a key", "ct.bad_key"),
        ("Bad name!", served.url, key, "ct.bad_name"),
    ):
        refused(
            InvalidInput, code, partial(add, OPERATOR, log_name, url, pem, tiled=False),
            state=logs,
        )  # fmt: skip
    refused(
        Forbidden, "auth.forbidden", lambda: add(desk["aud"], "ok", served.url, key, tiled=False),
        state=logs,
    )  # fmt: skip


def test_r18_the_worker_follows_the_logs_and_the_finding_mail_goes_out_once(
    desk: Desk, served: Served
) -> None:
    host = f"{desk.unique('w')}.edd.ca.gov"
    ca = Authority()
    served.log.add_certificate(ca.certificate(host), ca.cert)
    served.log.publish()
    name = follow(desk, served, tiled=False)
    transport = FakeTransport()
    worker = Worker(desk.services, transport=transport)
    first = worker.once()
    assert first.ct is not None
    (mine,) = [p for p in first.ct["logs"] if p["log"] == name]
    assert (mine["read"], mine["findings"]) == (1, 1)
    worker.once()  # the mail job of the next pass sends what the ct job queued
    worker.once()
    subjects = [m["Subject"] for m in transport.sent if host in str(m["Subject"])]
    assert subjects == [f"Certificate Transparency: unknown issuer for {host}"] * 2  # opal, otto
    (f,) = findings(desk, name)
    body = next(m for m in transport.sent if host in str(m["Subject"])).get_content()
    assert (f.serial in body and "PST" in body) or "PDT" in body
