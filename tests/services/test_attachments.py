"""Case attachments: stored in the database, seen and downloaded by the case's parties only
(another agency cannot tell a case or a file exists, R2), recognised from their bytes, kept
within the configured size, audited (R15): attaching, each download and each deletion.
Deleting is for cert services and the uploading organization's case editors, while the case
is not closed or cancelled. On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from certdesk.errors import CertdeskError, Conflict, Forbidden, InvalidInput, NotFound, TooLarge
from certdesk.store.models import CaseAttachment
from conftest import OPERATOR
from world.desk import DMV, Desk, delivered, desk_fixture
from world.refusals import refused

desk = desk_fixture("attachments", attachment_max_bytes=2048, attachment_max_per_case=3)

PDF = b"%PDF-1.7\n" + b"0" * 100


@pytest.mark.parametrize(
    ("who", "may_attach"),
    [
        pytest.param("ana", True, id="R2/requester-of-the-case"),
        pytest.param("abe", True, id="R2/approver-of-the-organization"),
        pytest.param("opal", True, id="R2/cert-services"),
        pytest.param("aud", False, id="R2/auditor-reads-only"),
    ],
)
def test_parties_attach_list_and_download(desk: Desk, who: str, may_attach: bool) -> None:
    number = desk.draft("ana", DMV).number
    svc = desk.services.attachments
    if not may_attach:
        refused(Forbidden, "auth.forbidden", svc.attach, desk[who], number, "a.pdf", PDF,
                state=desk.counts)  # fmt: skip
        view = svc.attach(desk["ana"], number, "a.pdf", PDF)
    else:
        view = svc.attach(desk[who], number, "C:\\scans\\signed form.pdf", PDF)
        assert view.filename == "signed form.pdf"
        assert view.uploaded_by == desk[who].name
    assert (view.content_type, view.size) == ("application/pdf", len(PDF))
    assert view.sha256 == hashlib.sha256(PDF).hexdigest()
    assert [a.id for a in svc.list(desk[who], number)] == [view.id]
    got, data = svc.fetch(desk[who], number, view.id)
    assert (got, data) == (view, PDF)
    events, _ = desk.services.audit.search(OPERATOR, object_type="case", object_id=number)
    download, attach_event = events[0], events[1]
    assert attach_event.action == "case.attach"
    assert attach_event.summary["sha256"] == view.sha256
    # R15: the download is an event of its own: who took which file, when.
    assert (download.action, download.actor) == ("case.attachment_download", desk[who].name)
    assert download.summary["attachment_id"] == view.id
    assert download.summary["sha256"] == view.sha256


def test_r15_every_download_is_one_audit_event(desk: Desk) -> None:
    number = desk.draft("ana", DMV).number
    svc = desk.services.attachments
    view = svc.attach(desk["ana"], number, "a.txt", b"minutes\n")
    for who in ("abe", "aud", "opal"):
        svc.fetch(desk[who], number, view.id)
    actions = desk.audit_actions(number)
    assert actions[-3:] == ["case.attachment_download"] * 3
    assert actions.count("case.attachment_download") == 3


@pytest.mark.parametrize("who", ["carl", "cara"])
def test_r2_another_agency_cannot_tell_a_file_exists(desk: Desk, who: str) -> None:
    number = desk.draft("ana", DMV).number
    svc = desk.services.attachments
    held = svc.attach(desk["ana"], number, "a.txt", b"minutes\n")
    made_up = number[:-4] + "9999"
    for case in (number, made_up):
        seen = refused(NotFound, "case.unknown", svc.list, desk[who], case)
        assert seen.detail == f"no case {case!r}"
        refused(NotFound, "case.unknown", svc.fetch, desk[who], case, held.id)
        refused(NotFound, "case.unknown", svc.attach, desk[who], case, "b.txt", b"x",
                state=desk.counts)  # fmt: skip


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        pytest.param("big.bin", b"x" * 2049, "attachment.too_large", id="limit/over-the-size"),
        pytest.param("empty.txt", b"", "attachment.empty", id="limit/empty"),
    ],
)
def test_limits_change_nothing(desk: Desk, name: str, data: bytes, code: str) -> None:
    number = desk.draft("ana", DMV).number
    error = TooLarge if code == "attachment.too_large" else InvalidInput
    refused(error, code, desk.services.attachments.attach, desk["ana"], number, name, data,
            state=desk.counts)  # fmt: skip


def test_a_case_holds_a_configured_number_of_files(desk: Desk) -> None:
    number = desk.draft("ana", DMV).number
    svc = desk.services.attachments
    for i in range(3):
        svc.attach(desk["ana"], number, f"{i}.txt", b"x" * 2048)
    refused(InvalidInput, "attachment.too_many", svc.attach, desk["ana"], number, "4.txt", b"x",
            state=desk.counts)  # fmt: skip


@pytest.mark.parametrize(
    ("attachment_id", "exc", "code"),
    [
        pytest.param(999_999, NotFound, "attachment.unknown", id="fetch/unknown-id"),
        pytest.param(0, InvalidInput, "attachment.id", id="fetch/zero"),
    ],
)
def test_fetch_refusals(
    desk: Desk, attachment_id: int, exc: type[CertdeskError], code: str
) -> None:
    number = desk.draft("ana", DMV).number
    refused(exc, code, desk.services.attachments.fetch, desk["ana"], number, attachment_id)


def test_another_cases_file_is_not_this_cases(desk: Desk) -> None:
    one, other = desk.draft("ana", DMV).number, desk.draft("ana", DMV).number
    held = desk.services.attachments.attach(desk["ana"], one, "a.txt", b"a\n")
    refused(NotFound, "attachment.unknown", desk.services.attachments.fetch, desk["ana"], other,
            held.id)  # fmt: skip


def _stored(desk: Desk, attachment_id: int) -> bool:
    with desk.rt.reads() as s:
        found = s.scalar(select(CaseAttachment.id).where(CaseAttachment.id == attachment_id))
        return found is not None


@pytest.mark.parametrize(
    ("uploader", "who", "allowed"),
    [
        pytest.param("ana", "ana", True, id="delete/uploader-requester"),
        pytest.param("abe", "ana", True, id="delete/org-editor-removes-approvers-file"),
        pytest.param("ana", "dan", True, id="delete/org-delegated-admin"),
        pytest.param("ana", "opal", True, id="delete/cert-services-any-file"),
        pytest.param("opal", "otto", True, id="delete/cert-services-own"),
        pytest.param("ana", "abe", False, id="delete/approver-is-no-editor"),
        pytest.param("ana", "aud", False, id="delete/auditor-reads-only"),
        pytest.param("opal", "ana", False, id="delete/agency-not-cert-services-file"),
    ],
)
def test_who_deletes_a_file(desk: Desk, uploader: str, who: str, allowed: bool) -> None:
    number = desk.draft("ana", DMV).number
    svc = desk.services.attachments
    view = svc.attach(desk[uploader], number, "a.txt", b"minutes\n")
    if not allowed:
        code = "attachment.not_yours"
        refused(Forbidden, code, svc.delete, desk[who], number, view.id, state=desk.counts)
        assert _stored(desk, view.id)
        return
    gone = svc.delete(desk[who], number, view.id)
    assert gone.sha256 == view.sha256
    assert not _stored(desk, view.id)  # the row and its bytes
    assert svc.list(desk["ana"], number) == []
    refused(NotFound, "attachment.unknown", svc.fetch, desk["ana"], number, view.id)
    events, _ = desk.services.audit.search(OPERATOR, object_type="case", object_id=number)
    assert events[0].action == "case.attachment_delete" and events[0].actor == desk[who].name
    assert (events[0].summary["filename"], events[0].summary["sha256"]) == ("a.txt", view.sha256)


@pytest.mark.parametrize("who", ["carl", "cara"])
def test_r2_another_agency_cannot_delete_or_tell(desk: Desk, who: str) -> None:
    number = desk.draft("ana", DMV).number
    held = desk.services.attachments.attach(desk["ana"], number, "a.txt", b"minutes\n")
    for case in (number, number[:-4] + "9999"):
        refused(NotFound, "case.unknown", desk.services.attachments.delete, desk[who], case,
                held.id, state=desk.counts)  # fmt: skip
    assert _stored(desk, held.id)


@pytest.mark.parametrize("ending", ["close", "cancel"])
def test_a_finished_cases_files_stay(desk: Desk, ending: str) -> None:
    svc = desk.services
    if ending == "close":
        number = delivered(desk).number
        held = svc.attachments.attach(desk["ana"], number, "a.txt", b"minutes\n")
        svc.fulfilment.close(desk["ana"], number)
    else:
        number = desk.draft("ana", DMV).number
        held = svc.attachments.attach(desk["ana"], number, "a.txt", b"minutes\n")
        svc.cases.cancel(desk["ana"], number, "not needed")
    for who in ("ana", "opal"):
        refused(Conflict, "attachment.case_finished", svc.attachments.delete, desk[who], number,
                held.id, state=desk.counts)  # fmt: skip
    assert _stored(desk, held.id)
