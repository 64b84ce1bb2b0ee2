"""The new-case form's pieces (R3): which parts a case type shows, beside which field a
refusal is shown, and the CSR files a refused form keeps.

Which parts a type carries is asked of :mod:`certdesk.core.cases` (the same sets the
service checks with); nothing here decides whether a case is acceptable.
"""

from __future__ import annotations

import base64
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.datastructures import FormData, UploadFile

from certdesk.core.cases import MAY_TARGET, NEEDS_TARGET, TAKES_SUBMITTALS
from certdesk.core.workflow import CaseType
from certdesk.errors import CertdeskError

__all__ = ["TYPE_HINTS", "Parts", "field_of", "kept_csrs", "parts_of"]

# What each kind of case is for, in the words of the type chooser.
TYPE_HINTS = {
    CaseType.NEW: "New certificates for names your agency holds. Cert services issues them.",
    CaseType.RENEWAL: "Renew a certificate before it expires, with the same or changed details.",
    CaseType.CHANGE: "Change a certificate that was delivered more than 25 days ago.",
    CaseType.REVOKE: "Revoke a certificate: it stops being trusted.",
    CaseType.DELETE: "Retire a certificate that is no longer used.",
    CaseType.CSR: "Certificates from CSR files your servers generated.",
    CaseType.QUESTION: "Ask cert services a question.",
    CaseType.DELEGATED_ADMIN_SETUP: "Start self-managed (delegated) administration: names your"
    " agency may issue for, and its administrators.",
}

# Where a case-level refusal is shown: the field's name (its id is ``f-`` + name).
_CASE_FIELDS = {
    "case.title": "title",
    "case.description": "description",
    "case.requested_delivery": "requested_delivery",
    "case.delivery_past": "requested_delivery",
    "case.target": "target_certificate",
    "case.type": "type",
    "case.admin": "admins",
    "case.admin_login": "admins",
    "case.delegated_admin": "grants",
    "org.unknown": "org",
}
# Where a submittal's refusal is shown, by code (then by family); the rest go to its names.
_SUBMITTAL_FIELDS = {
    "submittal.delivery": "requested_delivery",
    "submittal.delivery_past": "requested_delivery",
    "submittal.validity": "validity_days",
    "validity.too_long": "validity_days",
    "validity.too_short": "validity_days",
    "submittal.cert_type": "cert_type",
    "submittal.key_type": "key_type",
    "submittal.platform": "platform",
    "submittal.contacts": "contact_email",
    "contact.email": "contact_email",
    "contact.phone": "contact_phone",
}
_SUBMITTAL_FAMILIES = {"csr": "csr_pem", "key": "csr_pem", "submittal.csr": "csr_pem"}


@dataclass(frozen=True)
class Parts:
    """The parts of the form a case type shows."""

    submittals: bool
    target: bool
    target_required: bool
    delegated: bool
    question: bool


def parts_of(kind: CaseType) -> Parts:
    return Parts(
        submittals=kind in TAKES_SUBMITTALS,
        target=kind in MAY_TARGET,
        target_required=kind in NEEDS_TARGET,
        delegated=kind is CaseType.DELEGATED_ADMIN_SETUP,
        question=kind is CaseType.QUESTION,
    )


def field_of(error: CertdeskError, fieldsets: Sequence[int]) -> str | None:
    """The form field ``error`` is about, or None (then it is shown at the top only).

    ``fieldsets`` maps the submittals sent to the service (in order) to the fieldsets they
    came from: blank fieldsets are left out, so the third fieldset may be the second
    submittal. A refusal read from a fieldset before the service saw it carries
    ``fieldset`` itself.
    """
    code = error.code
    index = error.extra.get("fieldset")
    if index is None and isinstance(error.extra.get("submittal"), int):
        sent = error.extra["submittal"]
        index = fieldsets[sent] if 0 <= sent < len(fieldsets) else None
    if index is None:
        if code.startswith("grant."):
            return "grants"
        return _CASE_FIELDS.get(code)
    prefix = f"s{index}_"
    if code in _SUBMITTAL_FIELDS:
        return prefix + _SUBMITTAL_FIELDS[code]
    for family, name in _SUBMITTAL_FAMILIES.items():
        if code == family or code.startswith(family + "."):
            return prefix + name
    return prefix + "names"


def _as_pem(data: bytes) -> str | None:
    """A chosen CSR file as PEM text (a DER file wrapped), or None if it is neither."""
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        try:
            return text.decode("ascii")
        except UnicodeDecodeError:
            return None
    # DER is wrapped byte for byte: its last byte (a signature's) may be 0x0a or 0x20, which
    # strip() would have cut off, and the kept text would no longer be the file chosen.
    if data[:1] != b"\x30":  # DER starts with a SEQUENCE
        return None
    body = "\n".join(textwrap.wrap(base64.b64encode(data).decode("ascii"), 64))
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}\n-----END CERTIFICATE REQUEST-----"


def kept_csrs(form: FormData, count: int, limit: int) -> dict[str, str]:
    """The CSR files chosen in a refused form, as the pasted text of their fieldsets: a
    browser cannot be given a file back, so the text is kept instead (never both)."""
    out: dict[str, str] = {}
    for i in range(count):
        prefix = f"s{i}_"
        chosen = form.get(prefix + "csr_file")
        pasted = form.get(prefix + "csr_pem")
        if not isinstance(chosen, UploadFile) or not chosen.filename:
            continue
        if isinstance(pasted, str) and pasted.strip():
            continue
        chosen.file.seek(0)
        pem = _as_pem(chosen.file.read(limit + 1)[:limit])
        if pem is not None:
            out[prefix + "csr_pem"] = pem
            out[prefix + "csr_kept"] = chosen.filename
    return out
