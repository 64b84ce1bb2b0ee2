"""Fulfilment, the R8 window, key downloads, cost and usage, delegated set-up (R2, R8, R10,
R11, R12), through the service layer on SQLite and PostgreSQL.

One populated certdesk per backend (``tests/world/desk.py``); every test works on cases and
organizations of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy import func, select

from certdesk.core.costs import certificate_cost, certificate_days
from certdesk.errors import Conflict, Forbidden, InvalidInput, NotFound
from certdesk.services.casework.cases import CaseInput
from certdesk.services.casework.delegation import AdminInput
from certdesk.services.casework.window import Reissue
from certdesk.services.pki.revocation import Reason
from certdesk.store.models import (
    AuditRow,
    Case,
    CertificateRow,
    DataKey,
    Notice,
    Organization,
    User,
)
from conftest import AUDITOR, OPERATOR
from world.csr import make_csr
from world.desk import (
    CHP,
    DMV,
    START,
    Desk,
    add_agency,
    approved_case,
    certificates,
    delivered,
    desk_fixture,
    leaf,
    setup_case,
    snapshot,
    sub,
)
from world.refusals import refused

PASSWORD = "correct horse battery staple"


desk = desk_fixture("fulfil")


@pytest.fixture(autouse=True)
def _start(desk: Desk) -> None:
    desk.at(START)


def row(desk: Desk, serial: str) -> CertificateRow:
    with desk.services.rt.reads() as s:
        found = s.scalars(select(CertificateRow).where(CertificateRow.serial == serial)).one()
        s.expunge(found)
        return found


# --------------------------------------------------------------------------- fulfilment


def test_fulfil_issues_every_submittal_and_opens_the_r8_window(desk: Desk) -> None:
    agency_key_csr = make_csr([f"{desk.unique('api')}.dmv.ca.gov"])
    names = [f"{desk.unique(n)}.dmv.ca.gov" for n in ("www", "portal", "forms")]
    view = desk.approved(
        DMV,
        submittals=(
            sub(names[0], validity_days=90, platform="dedicated"),  # certdesk makes the key
            sub(csr=agency_key_csr),  # the agency's CSR
            sub(names[1], names[2]),  # SAN, certdesk's key
        ),
    )
    desk.clock.advance(hours=2)
    view = desk.services.fulfilment.fulfil(desk["opal"], view.number)
    assert view.state == "delivered"
    assert view.delivered_at == desk.clock.now
    assert view.window_ends_at == desk.clock.now + timedelta(days=25)  # R8
    assert [h["event"] for h in view.history][-2:] == ["start", "fulfil"]
    assert desk.audit_actions(view.number)[-1] == "case.fulfil"

    got = certificates(desk, view.number)
    assert got.window_open and [c.submittal_id for c in got.certificates] == [
        s.id for s in view.submittals
    ]
    assert [c.key for c in got.certificates] == ["stored", "agency", "stored"]
    assert got.certificates[0].names == (names[0],) and got.certificates[0].platform == "dedicated"
    assert got.certificates[2].names == (names[1], names[2])
    # The agency's certificate carries the agency's key.
    csr = x509.load_pem_x509_csr(agency_key_csr)
    assert leaf(got, 1).public_key() == csr.public_key()
    # Each chain is leaf then issuing CA, signed by it.
    for i, c in enumerate(got.certificates):
        chain = x509.load_pem_x509_certificates(c.fullchain_pem.encode())
        assert len(chain) == 2 and leaf(got, i).issuer == chain[1].subject
        chain[0].verify_directly_issued_by(chain[1])
        assert row(desk, c.serial).case_id is not None


def test_fulfil_refusals_change_nothing(desk: Desk) -> None:
    svc = desk.services
    draft = desk.draft("ana")
    refused(
        Conflict,
        "case.state",
        lambda: svc.fulfilment.fulfil(desk["opal"], draft.number),
        state=desk.snapshot,
    )
    approved = desk.approved(DMV)
    refused(
        Forbidden,
        "auth.forbidden",
        lambda: svc.fulfilment.fulfil(desk["ana"], approved.number),
        state=desk.snapshot,
    )
    refused(
        NotFound,
        "case.unknown",
        lambda: svc.fulfilment.fulfil(desk["opal"], "CS-2026-999999"),
        state=desk.snapshot,
    )
    refused(
        NotFound,
        "case.unknown",
        lambda: svc.fulfilment.fulfil(desk["carl"], "x"),
        state=desk.snapshot,
    )


def test_self_managed_submittal_without_csr_is_refused_before_anything_is_issued(
    desk: Desk,
) -> None:
    agency = add_agency(desk, "sm", self_managed=True)
    view = approved_case(
        desk,
        agency.code,
        agency.requester,
        agency.approver,
        [sub(f"www.{agency.code}.ca.gov", service_option="self-managed")],
    )
    detail = refused(
        Conflict,
        "submittal.csr_required",
        lambda: desk.services.fulfilment.fulfil(desk["opal"], view.number),
        state=desk.snapshot,
    ).detail
    assert "R12" in detail


def test_a_failed_issuance_is_retried_without_issuing_twice(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = desk.services
    view = desk.approved(
        DMV, submittals=tuple(sub(f"{desk.unique('r')}.dmv.ca.gov") for _ in range(3))
    )
    real = svc.issuance.request
    calls: list[str] = []

    def flaky(actor: Any, cmd: Any, **kw: Any) -> Any:
        calls.append(cmd.org_code)
        if len(calls) == 2:
            raise Conflict("ca.test", "the second issuance fails once")
        return real(actor, cmd, **kw)

    monkeypatch.setattr(svc.issuance, "request", flaky)
    with pytest.raises(Conflict):
        svc.fulfilment.fulfil(desk["opal"], view.number)
    shown = svc.cases.show(OPERATOR, view.number)
    assert shown.state == "in_progress"
    assert [s.certificate_serial is not None for s in shown.submittals] == [True, False, False]
    with svc.rt.reads() as s:  # the lease was released
        case = s.scalars(select(Case).where(Case.number == view.number)).one()
        assert (case.lease_holder, case.lease_actor, case.lease_until) == (None, None, None)

    done = svc.fulfilment.fulfil(desk["opal"], view.number)
    assert done.state == "delivered" and len(calls) == 4  # 1 ok, 1 failed, then the 2 left
    assert len(certificates(desk, view.number).certificates) == 3


@pytest.mark.parametrize(
    "csr", [False, True], ids=["fulfil/adopt-with-generated-key", "fulfil/adopt-with-agency-csr"]
)
def test_a_certificate_stored_but_never_linked_is_adopted_on_retry(
    desk: Desk, monkeypatch: pytest.MonkeyPatch, csr: bool
) -> None:
    """The process dies after the pipeline committed the certificate, before linking it."""
    svc = desk.services
    name = f"{desk.unique('crash')}.dmv.ca.gov"
    view = desk.approved(DMV, submittals=(sub(name, csr=make_csr([name]) if csr else None),))
    real = svc.issuance.request
    stored: list[str] = []

    def dies_after_storing(actor: Any, cmd: Any, **kw: Any) -> Any:
        stored.append(real(actor, cmd, **kw).serial)
        raise RuntimeError("process died")

    monkeypatch.setattr(svc.issuance, "request", dies_after_storing)
    with pytest.raises(RuntimeError):
        svc.fulfilment.fulfil(desk["opal"], view.number)
    monkeypatch.setattr(svc.issuance, "request", real)
    done = svc.fulfilment.fulfil(desk["opal"], view.number)
    assert [s.certificate_serial for s in done.submittals] == stored
    with svc.rt.reads() as s:
        assert (
            s.scalar(
                select(func.count()).select_from(CertificateRow).where(CertificateRow.names == name)
            )
            == 1
        )
    assert "submittal.certificate" in desk.audit_actions(view.number)


def test_two_fulfilments_of_one_case_do_not_run_at_once(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = desk.services
    view = desk.approved(DMV)
    real = svc.issuance.request
    seen: list[str] = []

    def meanwhile(actor: Any, cmd: Any, **kw: Any) -> Any:
        try:
            svc.fulfilment.fulfil(desk["otto"], view.number)
        except Conflict as exc:
            seen.append(exc.code)
        return real(actor, cmd, **kw)

    monkeypatch.setattr(svc.issuance, "request", meanwhile)
    assert svc.fulfilment.fulfil(desk["opal"], view.number).state == "delivered"
    assert seen == ["case.busy"]


# --------------------------------------------------------------------------- R12 key download


def test_generated_key_is_sealed_and_downloadable_once(desk: Desk) -> None:
    svc = desk.services
    view = delivered(desk, sub(f"{desk.unique('key')}.dmv.ca.gov"))
    sub_id = view.submittals[0].id
    with svc.rt.reads() as s:
        stored = s.get(DataKey, sub_id)
        assert stored is not None
    # AES-GCM under a data key of its own; the data key wrapped by the secret box (Fernet).
    assert b"PRIVATE" not in stored.sealed_key and stored.wrapped_data_key[:1] == b"g"

    refused(
        InvalidInput,
        "pkcs12.password",
        lambda: svc.window.download_key(desk["ana"], view.number, sub_id, "short"),
        state=desk.snapshot,
    )
    bundle = svc.window.download_key(desk["ana"], view.number, sub_id, PASSWORD)
    key, cert, extra = pkcs12.load_key_and_certificates(bundle, PASSWORD.encode())
    assert cert is not None and key is not None and len(extra) == 1
    assert cert.serial_number == int(view.submittals[0].certificate_serial or "0", 16)
    assert key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(bundle, b"wrong password here")
    with svc.rt.reads() as s:
        assert s.get(DataKey, sub_id) is None  # shredded: tests/store/test_data_keys.py
    assert certificates(desk, view.number).certificates[0].key == "downloaded"
    detail = refused(
        Conflict,
        "key.downloaded",
        lambda: svc.window.download_key(desk["ana"], view.number, sub_id, PASSWORD),
        state=desk.snapshot,
    ).detail
    assert "cannot be downloaded again" in detail
    assert "submittal.key_download" in desk.audit_actions(view.number)


@pytest.mark.parametrize(
    ("state", "password", "code"),
    [
        pytest.param("agency-csr", PASSWORD, "key.none", id="R12/agency-csr-no-key"),
        pytest.param("approved", PASSWORD, "case.not_delivered", id="R12/not-delivered"),
        pytest.param("generated", "eleven-char", "pkcs12.password", id="R12/short-password"),
        pytest.param("generated", "x" * 1025, "pkcs12.password", id="R12/long-password"),
        pytest.param("downloaded", PASSWORD, "key.downloaded", id="R12/second-download"),
    ],
)
def test_key_download_refusals(desk: Desk, state: str, password: str, code: str) -> None:
    svc = desk.services
    name = f"{desk.unique('kr')}.dmv.ca.gov"
    if state == "approved":
        view = desk.approved(DMV, submittals=(sub(name),))
    else:
        view = delivered(desk, sub(csr=make_csr([name])) if state == "agency-csr" else sub(name))
    sub_id = view.submittals[0].id
    if state == "downloaded":
        svc.window.download_key(desk["ana"], view.number, sub_id, PASSWORD)
    kind = InvalidInput if code == "pkcs12.password" else Conflict
    refused(
        kind,
        code,
        lambda: svc.window.download_key(desk["ana"], view.number, sub_id, password),
        state=desk.snapshot,
    )


# --------------------------------------------------------------------------- R8 window


@pytest.mark.parametrize(
    ("after", "allowed"),
    [
        pytest.param(timedelta(days=24), True, id="R8/day-24-inside"),
        pytest.param(timedelta(days=25) - timedelta(seconds=1), True, id="R8/last-second"),
        pytest.param(timedelta(days=25), False, id="R8/day-25-closed"),
        pytest.param(timedelta(days=40), False, id="R8/day-40-closed"),
    ],
)
@pytest.mark.parametrize("action", ["revoke", "reissue"])
def test_window_edges(desk: Desk, after: timedelta, allowed: bool, action: str) -> None:
    svc = desk.services
    view = delivered(desk)
    serial = view.submittals[0].certificate_serial
    assert serial is not None
    desk.clock.advance(seconds=after.total_seconds())

    def act() -> Any:
        if action == "revoke":
            return svc.window.revoke(desk["ana"], view.number, serial, Reason.KEY_COMPROMISE)
        return svc.window.reissue(desk["ana"], view.number, Reissue(view.submittals[0].id))

    if not allowed:
        detail = refused(Conflict, "case.window_closed", act, state=desk.snapshot).detail
        assert "open a new case (R8)" in detail
        assert row(desk, serial).status == "active"
        return
    result = act()
    if action == "revoke":
        assert row(desk, serial).status == "revoked"
        return
    new = result.certificates[-1]
    assert new.renewal_of == serial and new.submittal_id == view.submittals[0].id
    assert new.cost_cents == 0  # R11: the case was charged at delivery
    # The replaced certificate may still be installed: valid until the window closes, then
    # the worker revokes it (superseded).
    old = row(desk, serial)
    assert old.status == "active" and old.retire_at is not None
    assert view.window_ends_at is not None and old.retire_at >= view.window_ends_at
    assert svc.retirements.retire_due(old.retire_at).revoked >= 1
    assert (row(desk, serial).status, row(desk, serial).revocation_reason) == (
        "revoked",
        "superseded",
    )


PRINCIPALS = {
    "requester": ("ana", None),
    "delegated_admin": ("dan", None),
    "operator": ("opal", None),
    "approver": ("abe", Forbidden),
    "auditor": (None, Forbidden),
    "other-org": ("carl", NotFound),
}


@pytest.mark.parametrize("who", list(PRINCIPALS), ids=[f"R8/{p}" for p in PRINCIPALS])
@pytest.mark.parametrize("action", ["revoke", "reissue", "download", "read"])
def test_who_may_act_on_a_delivered_case(desk: Desk, who: str, action: str) -> None:
    svc = desk.services
    view = delivered(desk)
    login, error = PRINCIPALS[who]
    actor = desk[login] if login else AUDITOR
    sub_id, serial = view.submittals[0].id, view.submittals[0].certificate_serial or ""
    calls: dict[str, Callable[[], Any]] = {
        "revoke": lambda: svc.window.revoke(actor, view.number, serial, Reason.UNSPECIFIED),
        "reissue": lambda: svc.window.reissue(actor, view.number, Reissue(sub_id)),
        "download": lambda: svc.window.download_key(actor, view.number, sub_id, PASSWORD),
        "read": lambda: svc.window.certificates_of_case(actor, view.number),
    }
    if action == "read" and error is Forbidden:
        error = None  # approvers and auditors read what a case delivered
    if error is None:
        calls[action]()
        return
    code = "case.unknown" if error is NotFound else "auth.forbidden"
    refused(error, code, calls[action], state=desk.snapshot)


def test_window_revoke_shows_in_crl_and_history(desk: Desk) -> None:
    svc = desk.services
    view = delivered(desk)
    serial = view.submittals[0].certificate_serial or ""
    refused(
        NotFound,
        "cert.unknown",
        lambda: svc.window.revoke(desk["ana"], view.number, "abcdef", Reason.UNSPECIFIED),
        state=desk.snapshot,
    )
    got = svc.window.revoke(desk["ana"], view.number, serial, Reason.KEY_COMPROMISE)
    assert got.certificates[0].status == "revoked"
    assert got.certificates[0].revocation_reason == "keyCompromise"
    crl = x509.load_der_x509_crl(svc.revocation.crl(svc.authority.issuing().slug))
    entry = crl.get_revoked_certificate_by_serial_number(int(serial, 16))
    assert entry is not None
    history = svc.cases.show(desk["ana"], view.number).history
    assert history[-1]["event"] == "revoke" and history[-1]["to"] == "delivered"
    refused(
        Conflict,
        "cert.revoked",
        lambda: svc.window.revoke(desk["ana"], view.number, serial, Reason.UNSPECIFIED),
        state=desk.snapshot,
    )


def test_reissue_with_changes_replaces_the_certificate_on_the_same_case(desk: Desk) -> None:
    svc = desk.services
    first = f"{desk.unique('chg')}.dmv.ca.gov"
    view = delivered(desk, sub(first))
    sub_id = view.submittals[0].id
    svc.window.download_key(desk["ana"], view.number, sub_id, PASSWORD)
    extra = f"{desk.unique('chg')}.dmv.ca.gov"
    got = svc.window.reissue(
        desk["ana"],
        view.number,
        Reissue(sub_id, names=(first, extra), platform="dedicated", validity_days=30),
    )
    old, new = got.certificates
    assert (old.status, old.submittal_id, old.revocation_reason) == ("active", None, None)
    assert old.retire_at == shown_window_end(desk, view.number)  # the overlap: until then
    assert new.names == (first, extra) and new.platform == "dedicated"
    assert new.renewal_of == old.serial and new.key == "stored"  # a new key, downloadable once
    shown = svc.cases.show(desk["ana"], view.number)
    assert shown.submittals[0].names == (first, extra)
    assert shown.submittals[0].cert_type == "san"
    assert shown.state == "delivered" and shown.history[-1]["event"] == "reissue"
    svc.window.download_key(desk["ana"], view.number, sub_id, PASSWORD)
    assert desk.audit_actions(view.number)[-2:] == ["case.reissue", "submittal.key_download"]


def shown_window_end(desk: Desk, number: str) -> Any:
    return desk.services.window.certificates_of_case(desk["opal"], number).window_ends_at


def revocations_of(desk: Desk, serial: str) -> list[str]:
    return [a for a in desk.audit_actions(serial) if a == "cert.revoke"]


def test_r8_reissued_certificate_is_revoked_once_after_the_overlap(desk: Desk) -> None:
    """The replaced certificate stays valid until the window closes; then one worker pass
    revokes it (superseded, audited once); further passes, or a second worker, change
    nothing; a revocation by a person during the overlap ends the schedule."""
    svc = desk.services
    view = delivered(desk)
    old_serial = view.submittals[0].certificate_serial
    assert old_serial is not None
    svc.window.reissue(desk["ana"], view.number, Reissue(view.submittals[0].id))
    ends = shown_window_end(desk, view.number)
    # (Other tests' certificates share this desk: only this one's fate is asserted.)
    svc.retirements.retire_due(ends - timedelta(seconds=1))
    assert row(desk, old_serial).status == "active"
    assert svc.retirements.retire_due(ends).revoked >= 1
    svc.retirements.retire_due(ends)  # nothing twice
    gone = row(desk, old_serial)
    assert (gone.status, gone.revocation_reason, gone.retire_at) == ("revoked", "superseded", None)
    assert revocations_of(desk, old_serial) == ["cert.revoke"]

    # Revoked by a person during the overlap: the worker has nothing left to do.
    other = delivered(desk)
    serial = other.submittals[0].certificate_serial
    assert serial is not None
    svc.window.reissue(desk["ana"], other.number, Reissue(other.submittals[0].id))
    svc.window.revoke(desk["ana"], other.number, serial, Reason.KEY_COMPROMISE)
    assert row(desk, serial).retire_at is None
    svc.retirements.retire_due(shown_window_end(desk, other.number))
    assert revocations_of(desk, serial) == ["cert.revoke"]
    assert row(desk, serial).revocation_reason == "keyCompromise"


def test_reissue_is_judged_like_a_new_submittal(desk: Desk) -> None:
    svc = desk.services
    view = delivered(desk)
    sub_id = view.submittals[0].id

    def reissue(who: str, **kw: Any) -> Callable[[], Any]:
        return lambda: svc.window.reissue(desk[who], view.number, Reissue(sub_id, **kw))

    refused(
        InvalidInput,
        "name.not_granted",
        reissue("ana", names=("www.chp.ca.gov",)),
        state=desk.snapshot,
    )
    refused(
        InvalidInput,
        "name.outside_suffixes",
        reissue("opal", names=("www.example.com",)),
        state=desk.snapshot,
    )
    refused(
        InvalidInput, "submittal.validity", reissue("ana", validity_days=999), state=desk.snapshot
    )
    refused(NotFound, "submittal.unknown", lambda: svc.window.reissue(
        desk["ana"], view.number, Reissue(999_999)
    ), state=desk.snapshot)  # fmt: skip
    # A new CSR brings its names and key.
    name = f"{desk.unique('csr')}.dmv.ca.gov"
    got = svc.window.reissue(desk["ana"], view.number, Reissue(sub_id, csr=make_csr([name])))
    assert got.certificates[-1].names == (name,) and got.certificates[-1].key == "agency"


# --------------------------------------------------------------------------- complete, close


def test_complete_revoke_delete_and_question_cases(desk: Desk) -> None:
    svc = desk.services
    target = delivered(desk).submittals[0].certificate_serial or ""
    other = delivered(desk).submittals[0].certificate_serial or ""

    def case(kind: str, serial: str | None = None) -> str:
        opened = svc.cases.open(
            desk["ana"], CaseInput(DMV, kind, f"a {kind}", target_serial=serial)
        )
        svc.cases.submit(desk["ana"], opened.number)
        if kind != "question":
            svc.approvals.approve(desk["abe"], opened.number)
            svc.approvals.approve(desk["opal"], opened.number)
        return opened.number

    revoke = case("revoke", target)
    done = svc.fulfilment.complete(desk["opal"], revoke, reason=Reason.KEY_COMPROMISE)
    assert done.state == "closed" and done.closed_at == desk.clock.now
    assert row(desk, target).revocation_reason == "keyCompromise"
    delete = case("delete", other)
    assert svc.fulfilment.complete(desk["opal"], delete).state == "closed"
    assert row(desk, other).revocation_reason == "cessationOfOperation"

    question = case("question")
    refused(
        InvalidInput,
        "case.answer",
        lambda: svc.fulfilment.complete(desk["opal"], question),
        state=desk.snapshot,
    )
    answered = svc.fulfilment.complete(desk["opal"], question, comment="Use the SAN form.")
    assert answered.state == "closed" and answered.comments[-1]["text"] == "Use the SAN form."

    new = desk.approved(DMV)
    refused(
        Conflict,
        "case.type",
        lambda: svc.fulfilment.complete(desk["opal"], new.number),
        state=desk.snapshot,
    )
    refused(
        Forbidden,
        "auth.forbidden",
        lambda: svc.fulfilment.complete(desk["ana"], revoke),
        state=desk.snapshot,
    )


def test_close_ends_the_window_and_a_change_case_supersedes_its_target(desk: Desk) -> None:
    svc = desk.services
    original = delivered(desk)
    old = original.submittals[0].certificate_serial or ""
    name = original.submittals[0].names[0]
    change = approved_case(
        desk, DMV, desk["ana"], desk["abe"], [sub(name, platform="dedicated")],
        type="change", target_serial=old,
    )  # fmt: skip
    change = svc.fulfilment.fulfil(desk["opal"], change.number)
    new = change.submittals[0].certificate_serial or ""
    assert row(desk, new).renewal_of == row(desk, old).id
    assert row(desk, old).status == "active"  # still in service during the window
    refused(
        Forbidden,
        "auth.forbidden",
        lambda: svc.fulfilment.close(desk["abe"], change.number),
        state=desk.snapshot,
    )
    closed = svc.fulfilment.close(desk["ana"], change.number)
    assert closed.state == "closed" and closed.closed_at == desk.clock.now
    assert row(desk, old).revocation_reason == "superseded"
    refused(
        Conflict,
        "case.window_closed",
        lambda: svc.window.revoke(desk["ana"], change.number, new, Reason.UNSPECIFIED),
        state=desk.snapshot,
    )
    refused(
        Conflict,
        "case.state",
        lambda: svc.fulfilment.close(desk["ana"], change.number),
        state=desk.snapshot,
    )


# --------------------------------------------------------------------------- renewals (R6)


def test_renewal_case_is_prefilled_and_links_its_predecessor(desk: Desk) -> None:
    svc = desk.services
    name = f"{desk.unique('ren')}.dmv.ca.gov"
    original = delivered(
        desk, sub(name, platform="dedicated", server_software="nginx", validity_days=60)
    )
    old = original.submittals[0]
    renewal = svc.fulfilment.open_renewal(desk["ana"], old.certificate_serial or "")
    assert renewal.summary.type == "renewal" and renewal.state == "draft"
    assert renewal.target_serial == old.certificate_serial
    fresh = renewal.submittals[0]
    assert (fresh.names, fresh.platform, fresh.server_software, fresh.validity_days) == (
        (name,), "dedicated", "nginx", 60,
    )  # fmt: skip
    assert [c.email for c in fresh.contacts] == [c.email for c in old.contacts]
    refused(
        Conflict,
        "case.renewal_open",
        lambda: svc.fulfilment.open_renewal(desk["ana"], old.certificate_serial or ""),
        state=desk.snapshot,
    )
    refused(
        NotFound,
        "cert.unknown",
        lambda: svc.fulfilment.open_renewal(desk["carl"], old.certificate_serial or ""),
        state=desk.snapshot,
    )
    svc.cases.submit(desk["ana"], renewal.number)
    svc.approvals.approve(desk["abe"], renewal.number)
    svc.approvals.approve(desk["opal"], renewal.number)
    done = svc.fulfilment.fulfil(desk["opal"], renewal.number)
    new = certificates(desk, done.number).certificates[0]
    assert new.renewal_of == old.certificate_serial
    assert row(desk, old.certificate_serial or "").status == "active"  # expires on its own


# --------------------------------------------------------------------------- R11 cost, usage


@pytest.mark.parametrize(
    ("rate", "days", "cents"),
    [
        pytest.param(36500, 90, 9000, id="R11/365-dollars-a-year-for-90-days"),
        pytest.param(36500, 198, 19800, id="R11/default-validity"),
        pytest.param(100, 1, 0, id="R11/0.27-cents-rounds-down"),
        pytest.param(183, 1, 1, id="R11/0.501-cents-rounds-up"),
        pytest.param(365, 1, 1, id="R11/exact-cent"),
        pytest.param(0, 200, 0, id="R11/no-rate-no-cost"),
    ],
)
def test_certificate_cost(rate: int, days: int, cents: int) -> None:
    assert certificate_cost(rate, days) == cents


@pytest.mark.parametrize(
    ("validity", "days"),
    [
        pytest.param(timedelta(days=90, hours=7), 90, id="R11/90-days-to-17h-pacific"),
        pytest.param(timedelta(hours=7), 1, id="R11/same-day-counts-one"),
    ],
)
def test_certificate_days_are_pacific_calendar_days(validity: timedelta, days: int) -> None:
    assert certificate_days(START, START + validity) == days


def test_cost_recorded_for_managed_only_and_usage_is_exact(desk: Desk) -> None:
    svc = desk.services
    managed = add_agency(desk, "cost", rate=36500)
    selfm = add_agency(desk, "self", self_managed=True, rate=99999)  # never applies
    m = approved_case(
        desk, managed.code, managed.requester, managed.approver,
        [sub(f"a.{managed.code}.ca.gov", validity_days=90, platform="dedicated"),
         sub(f"b.{managed.code}.ca.gov", validity_days=30)],
    )  # fmt: skip
    m = svc.fulfilment.fulfil(desk["opal"], m.number)
    costs = [c.cost_cents for c in certificates(desk, m.number).certificates]
    assert costs == [9000, 3000]  # 365.00 a year x 90 and 30 days
    name = f"www.{selfm.code}.ca.gov"
    sm = approved_case(
        desk, selfm.code, selfm.requester, selfm.approver,
        [sub(csr=make_csr([name]), service_option="self-managed")],
    )  # fmt: skip
    sm = svc.fulfilment.fulfil(desk["opal"], sm.number)
    assert [c.cost_cents for c in certificates(desk, sm.number).certificates] == [None]
    # Out of the period: issued the next month.
    desk.clock.advance(days=40)
    later = approved_case(
        desk, managed.code, managed.requester, managed.approver,
        [sub(f"c.{managed.code}.ca.gov", validity_days=30)],
    )  # fmt: skip
    svc.fulfilment.fulfil(desk["opal"], later.number)

    day = START.date()
    report = svc.reports.usage(desk["aud"], managed.code, day, day + timedelta(days=2))
    assert [r.as_dict() for r in report.rows] == [
        {
            "organization": managed.code, "name": f"Agency {managed.code}",
            "service": "managed", "certificates": 2, "dedicated": 1, "virtual": 1,
            "cost_cents": 12000,
        }
    ]  # fmt: skip
    assert report.as_csv() == (
        "organization,name,service,certificates,dedicated,virtual,cost_cents,cost\r\n"
        f"{managed.code},Agency {managed.code},managed,2,1,1,12000,120.00\r\n"
        "TOTAL,,,2,1,1,12000,120.00\r\n"
    )
    everyone = svc.reports.usage(OPERATOR, None, day, day)
    rows = {r.org_code: r for r in everyone.rows}
    assert (rows[selfm.code].certificates, rows[selfm.code].cost_cents) == (1, 0)
    assert everyone.total.certificates == sum(r.certificates for r in everyone.rows)
    whole = svc.reports.usage(OPERATOR, managed.code, day, day + timedelta(days=60))
    assert (whole.total.certificates, whole.total.cost_cents) == (3, 15000)
    # Who may read it, and bad periods.
    own = svc.reports.usage(managed.admin, None, day, day)
    assert [r.org_code for r in own.rows] == [managed.code]
    refused(
        NotFound,
        "org.unknown",
        lambda: svc.reports.usage(managed.admin, DMV, day, day),
        state=desk.snapshot,
    )
    refused(
        Forbidden,
        "auth.forbidden",
        lambda: svc.reports.usage(desk["ana"], None, day, day),
        state=desk.snapshot,
    )
    refused(
        InvalidInput,
        "report.period",
        lambda: svc.reports.usage(OPERATOR, None, day, day - timedelta(days=1)),
        state=desk.snapshot,
    )


def test_set_cost_is_operator_only_and_audited(desk: Desk) -> None:
    svc = desk.services
    agency = add_agency(desk, "rate")
    view = svc.costs.set_cost(OPERATOR, agency.code, 1234)
    assert (view.cents_per_year, view.effective_cents_per_year) == (1234, 1234)
    assert svc.costs.set_cost(OPERATOR, agency.code, None).as_dict()["default"] is True
    refused(
        Forbidden,
        "auth.forbidden",
        lambda: svc.costs.set_cost(agency.admin, agency.code, 1),
        state=desk.snapshot,
    )
    refused(
        NotFound,
        "org.unknown",
        lambda: svc.costs.set_cost(desk["ana"], agency.code, 1),
        state=desk.snapshot,
    )
    refused(
        InvalidInput,
        "cost.rate",
        lambda: svc.costs.set_cost(OPERATOR, agency.code, -1),
        state=desk.snapshot,
    )
    with svc.rt.reads() as s:
        changes = s.scalars(
            select(AuditRow.summary).where(
                AuditRow.action == "org.cost", AuditRow.object_id == agency.code
            )
        ).all()
    assert len(changes) == 2


# --------------------------------------------------------------------------- R2/R10 set-up


def test_delegated_setup_applies_itself_at_the_last_approval(desk: Desk) -> None:
    svc = desk.services
    agency = add_agency(desk, "da")
    login = f"{agency.code}-boss"
    number = setup_case(desk, agency, [AdminInput("Bo Boss", f"bo@{agency.code}.ca.gov", login)])
    view = svc.approvals.approve(desk["opal"], number)
    assert view.state == "closed" and view.history[-1]["event"] == "complete"
    org = svc.orgs.get(OPERATOR, agency.code)
    assert org.self_managed  # R11
    assert sorted(org.grants) == sorted(
        [f"zone:{agency.code}.ca.gov", f"zone:apps.{agency.code}.ca.gov"]
    )  # R2: the existing zone grant is kept once
    person = svc.accounts.get(OPERATOR, login)
    assert [str(r) for r in person.roles] == ["delegated_admin"] and not person.enrolled
    with svc.rt.reads() as s:
        mail = s.scalars(
            select(Notice).where(Notice.contact_email == f"bo@{agency.code}.ca.gov")
        ).one()
    assert "/enroll/" in mail.body_text  # R10: an enrollment link, never a password
    assert desk.audit_actions(number)[-1] == "case.complete"
    with svc.rt.reads() as s:
        actions = set(
            s.scalars(select(AuditRow.action).where(AuditRow.object_id == agency.code)).all()
        )
    assert {"grant.add", "org.service"} <= actions


def test_delegated_setup_interrupted_is_finished_by_complete(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = desk.services
    agency = add_agency(desk, "dacr")
    admins = [
        AdminInput(f"Admin {i}", f"a{i}@{agency.code}.ca.gov", f"{agency.code}-a{i}")
        for i in (1, 2)
    ]
    number = setup_case(desk, agency, admins)
    real = svc.accounts.create
    made: list[str] = []

    def crashes_second(actor: Any, login_id: str, **kw: Any) -> Any:
        if made:
            raise RuntimeError("process died")
        made.append(login_id)
        return real(actor, login_id, **kw)

    monkeypatch.setattr(svc.accounts, "create", crashes_second)
    with pytest.raises(RuntimeError):
        svc.approvals.approve(desk["opal"], number)
    assert svc.cases.show(OPERATOR, number).state == "approved"
    assert svc.orgs.get(OPERATOR, agency.code).self_managed
    monkeypatch.setattr(svc.accounts, "create", real)
    done = svc.fulfilment.complete(desk["opal"], number)
    assert done.state == "closed"
    assert len(svc.orgs.get(OPERATOR, agency.code).grants) == 2
    assert {u.login_id for u in svc.accounts.list_users(OPERATOR, agency.code)} >= {
        a.login_id for a in admins
    }
    with svc.rt.reads() as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(Notice)
                .where(Notice.contact_email.like(f"%@{agency.code}.ca.gov"))
            )
            == 2
        )


@pytest.mark.parametrize(
    "login",
    [
        pytest.param("new", id="R2/new-login-gets-an-account"),
        pytest.param("same-person", id="R2/same-person-kept-and-given-the-role"),
        pytest.param("taken", id="R2/another-persons-login-refused"),
    ],
)
def test_delegated_setup_and_existing_logins(desk: Desk, login: str) -> None:
    svc = desk.services
    agency = add_agency(desk, "dalg")
    existing = agency.requester.name.removeprefix("user:")
    admin = {
        "new": AdminInput("New Person", f"np@{agency.code}.ca.gov", f"{agency.code}-np"),
        # add_person's address: the same person, already a requester of the organization.
        "same-person": AdminInput("Same", f"{existing}@example.ca.gov", existing),
        "taken": AdminInput("New Person", f"np@{agency.code}.ca.gov", existing),
    }[login]
    number = setup_case(desk, agency, [admin])
    before = snapshot(desk)
    view = svc.approvals.approve(desk["opal"], number)
    if login != "taken":
        assert view.state == "closed"
        roles = {str(r) for r in svc.accounts.get(OPERATOR, admin.login_id).roles}
        assert roles == (
            {"delegated_admin"} if login == "new" else {"requester", "delegated_admin"}
        )
        assert svc.orgs.get(OPERATOR, agency.code).self_managed
        return
    assert view.state == "approved"
    assert "not set up automatically" in view.comments[-1]["text"]
    assert existing not in view.comments[-1]["text"]  # issue 10 finding 8: no login named
    # Only the approval and the comment were written: no grant, account, mail or flag.
    assert snapshot(desk)[3:] == before[3:]
    with svc.rt.reads() as s:
        org = s.scalars(select(Organization).where(Organization.code == agency.code)).one()
        assert not org.self_managed
        assert (
            s.scalar(select(func.count()).select_from(User).where(User.login_id == existing)) == 1
        )
    refused(
        Conflict,
        "user.exists",
        lambda: svc.fulfilment.complete(desk["opal"], number),
        state=desk.snapshot,
    )
    assert svc.cases.cancel(desk["opal"], number).state == "cancelled"


def test_other_orgs_cases_are_not_found(desk: Desk) -> None:
    svc = desk.services
    view = delivered(desk, org=CHP)
    for call in (
        lambda: svc.window.certificates_of_case(desk["ana"], view.number),
        lambda: svc.fulfilment.close(desk["ana"], view.number),
    ):
        refused(NotFound, "case.unknown", call, state=desk.snapshot)
    refused(
        NotFound,
        "cert.unknown",
        lambda: svc.fulfilment.open_renewal(
            desk["ana"], view.submittals[0].certificate_serial or ""
        ),
        state=desk.snapshot,
    )
