"""The pure rules behind organization contacts, case attachments and vendor contracts: which
submittals a contact replacement reaches (R9), what a stored file is recognised as and the
name it is kept under, and when cert services are warned of a contract's end."""

from __future__ import annotations

from datetime import date

import pytest

from certdesk.core.attachments import (
    OCTET_STREAM,
    AttachmentLimits,
    check_upload,
    clean_filename,
    sniff,
)
from certdesk.core.contacts import replacement_reaches
from certdesk.core.contracts import ContractTerms, check_terms, notice_reason, warning_due
from certdesk.errors import InvalidInput


@pytest.mark.parametrize(
    ("case_state", "cert_status", "reached"),
    [
        pytest.param("draft", None, True, id="R9/replace-reaches-a-draft"),
        pytest.param("pending_approval", None, True, id="R9/replace-reaches-a-case-in-approval"),
        pytest.param("in_progress", None, True, id="R9/replace-reaches-a-case-being-worked"),
        pytest.param("delivered", "active", True, id="R9/replace-reaches-a-delivered-case"),
        pytest.param("closed", "active", True, id="R9/replace-reaches-a-certificate-in-force"),
        pytest.param("closed", "revoked", False, id="R9/history-keeps-a-revoked-certificate"),
        pytest.param("closed", "expired", False, id="R9/history-keeps-an-expired-certificate"),
        pytest.param("closed", "superseded", False, id="R9/history-keeps-a-renewed-certificate"),
        pytest.param("cancelled", None, False, id="R9/history-keeps-a-cancelled-case"),
        pytest.param("closed", None, False, id="R9/history-keeps-a-closed-case"),
    ],
)
def test_replacement_reaches(case_state: str, cert_status: str | None, reached: bool) -> None:
    assert replacement_reaches(case_state, cert_status) is reached


PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
ZIP = b"PK\x03\x04\x14\x00\x06\x00"


@pytest.mark.parametrize(
    ("data", "name", "kind"),
    [
        pytest.param(PDF, "a.pdf", "application/pdf", id="sniff/pdf"),
        pytest.param(PDF, "a.html", "application/pdf", id="sniff/name-does-not-decide"),
        pytest.param(PNG, "a.png", "image/png", id="sniff/png"),
        pytest.param(b"\xff\xd8\xff\xe0\x00\x10JFIF", "a.jpg", "image/jpeg", id="sniff/jpeg"),
        pytest.param(b"GIF89a\x01\x00", "a.gif", "image/gif", id="sniff/gif"),
        pytest.param(ZIP, "a.zip", "application/zip", id="sniff/zip"),
        pytest.param(ZIP, "Form.DOCX", "application/vnd.openxmlformats-officedocument"
                     ".wordprocessingml.document", id="sniff/docx-is-a-zip-named-docx"),
        pytest.param(b"notes\nline two\n", "a.txt", "text/plain", id="sniff/text"),
        pytest.param("Señor\n".encode(), "a.txt", "text/plain", id="sniff/utf8-text"),
        pytest.param(b"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n", "a.csr",
                     "application/x-pem-file", id="sniff/pem"),
        pytest.param(b"<html><script>alert(1)</script>", "a.txt", OCTET_STREAM,
                     id="sniff/html-is-never-served-as-html"),
        pytest.param(b'  <svg xmlns="http://www.w3.org/2000/svg"/>', "a.svg", OCTET_STREAM,
                     id="sniff/svg-is-never-an-image"),
        pytest.param(b"text\x00with nul", "a.txt", OCTET_STREAM, id="sniff/nul-is-binary"),
        pytest.param(b"\xc3\x28 not utf-8", "a.txt", OCTET_STREAM, id="sniff/not-utf8"),
        pytest.param(b"\x1b[31mred", "a.txt", OCTET_STREAM, id="sniff/escape-codes"),
    ],
)  # fmt: skip
def test_sniff(data: bytes, name: str, kind: str) -> None:
    assert sniff(data, name) == kind


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        pytest.param("report.pdf", "report.pdf", id="name/plain"),
        pytest.param("C:\\Users\\ana\\report.pdf", "report.pdf", id="name/windows-path"),
        pytest.param("../../etc/passwd", "passwd", id="name/traversal"),
        pytest.param("a\r\nX-Evil: 1.txt", "aX-Evil: 1.txt",
                     id="name/no-header-injection"),
        pytest.param("  spaced   out  .txt ", "spaced out .txt", id="name/spaces"),
        pytest.param("...", "attachment", id="name/nothing-left"),
        pytest.param("", "attachment", id="name/empty"),
        pytest.param("x" * 300 + ".pdf", "x" * 196 + ".pdf", id="name/long-keeps-extension"),
        pytest.param("Cafe\u0301.txt", "Caf\u00e9.txt", id="name/nfc"),
    ],
)  # fmt: skip
def test_clean_filename(given: str, kept: str) -> None:
    assert clean_filename(given) == kept


LIMITS = AttachmentLimits(max_bytes=10, max_per_case=2)


@pytest.mark.parametrize(
    ("data", "already", "code"),
    [
        pytest.param(b"x" * 10, 0, None, id="upload/at-the-limit"),
        pytest.param(b"x" * 11, 0, "attachment.too_large", id="upload/over-the-limit"),
        pytest.param(b"", 0, "attachment.empty", id="upload/empty"),
        pytest.param(b"x", 2, "attachment.too_many", id="upload/case-full"),
    ],
)
def test_check_upload(data: bytes, already: int, code: str | None) -> None:
    if code is None:
        check_upload(data, LIMITS, already)
        return
    with pytest.raises(InvalidInput) as info:
        check_upload(data, LIMITS, already)
    assert info.value.code == code


def terms(**kw: object) -> ContractTerms:
    base: dict[str, object] = {
        "vendor": "Example CA",
        "number": "V-2026-01",
        "licences_total": 500,
        "licences_used": None,
        "starts_on": date(2026, 1, 1),
        "ends_on": date(2027, 1, 1),
    }
    return ContractTerms(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        pytest.param({}, None, id="contract/ok"),
        pytest.param({"vendor": "  Example   CA "}, None, id="contract/vendor-spaces-folded"),
        pytest.param({"vendor": " "}, "contract.vendor", id="contract/no-vendor"),
        pytest.param({"number": "V/1"}, "contract.number", id="contract/slash-in-number"),
        pytest.param({"number": ""}, "contract.number", id="contract/no-number"),
        pytest.param({"licences_total": -1}, "contract.licences", id="contract/negative"),
        pytest.param({"licences_used": -2}, "contract.licences", id="contract/negative-used"),
        pytest.param({"ends_on": date(2025, 12, 31)}, "contract.dates",
                     id="contract/ends-before-it-starts"),
        pytest.param({"notes": "a\x00b"}, "contract.notes", id="contract/control-in-notes"),
    ],
)  # fmt: skip
def test_check_terms(kw: dict[str, object], code: str | None) -> None:
    if code is None:
        assert check_terms(terms(**kw)).vendor == "Example CA"
        return
    with pytest.raises(InvalidInput) as info:
        check_terms(terms(**kw))
    assert info.value.code == code


END = date(2027, 3, 31)
DAYS = (90, 30)


@pytest.mark.parametrize(
    ("today", "recorded", "due"),
    [
        pytest.param(date(2026, 12, 30), set(), None, id="warn/91-days-before-nothing"),
        pytest.param(date(2026, 12, 31), set(), 90, id="warn/90-days-before"),
        pytest.param(date(2027, 1, 1), {"contract.ends.90"}, None, id="warn/90-sent-once"),
        pytest.param(date(2027, 1, 20), set(), 90, id="warn/90-late-still-sent"),
        pytest.param(date(2027, 3, 1), {"contract.ends.90"}, 30, id="warn/30-days-before"),
        pytest.param(date(2027, 3, 2), {"contract.ends.90", "contract.ends.30"}, None,
                     id="warn/30-sent-once"),
        pytest.param(date(2027, 3, 20), set(), 30, id="warn/recorded-late-only-the-nearest"),
        pytest.param(date(2027, 3, 31), set(), 30, id="warn/last-day"),
        pytest.param(date(2027, 4, 1), set(), None, id="warn/ended-nothing"),
    ],
)  # fmt: skip
def test_warning_due(today: date, recorded: set[str], due: int | None) -> None:
    assert warning_due(END, today, DAYS, recorded) == due
    if due is not None:
        assert warning_due(END, today, DAYS, recorded | {notice_reason(due)}) is None
