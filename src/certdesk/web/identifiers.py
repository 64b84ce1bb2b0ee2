"""The identifiers in API paths and filters, with the shapes the OpenAPI document states.

The services parse these themselves and refuse with their own problem codes (``cert.serial``,
``org.unknown``, ``case.unknown``, ``ca.unknown``), which clients and the console rely on;
so the shapes below are stated in the document (``pattern``, ``maxLength``) but enforced by
the services, not by request validation, and the patterns accept exactly what the services
parse (tests/web/test_api_schema.py checks each against its service's parser):

* a certificate serial: up to 40 hex digits (any case, optionally ``0x``-prefixed), or pairs
  of hex digits separated by colons, as browsers show them
  (:func:`certdesk.services.visibility.parse_serial`);
* an organization code: a letter, then 1-31 letters, digits or ``-``; any case
  (:func:`certdesk.services.people.orgs.normalize_code`);
* a case number: ``CS-YYYY-NNNNNN``; any case
  (:mod:`certdesk.services.casework.casefile`);
* a built-in CA's id: 16 lower-case hex digits (:func:`certdesk.ca.local.spki_slug`);
* a vendor issuer's name: a letter or digit, then up to 31 letters, digits or ``-``; any case
  (:func:`certdesk.services.pki.vendor_settings.check_name`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

SERIAL_PATTERN = r"^(0[xX])?[0-9A-Fa-f]{1,40}$|^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){0,19}$"
SERIAL_MAX = 59  # 20 colon-separated pairs
ORG_CODE_PATTERN = r"^[A-Za-z][A-Za-z0-9-]{1,31}$"
CASE_NUMBER_PATTERN = r"^[Cc][Ss]-[0-9]{4}-[0-9]{6,9}$"
CA_SLUG_PATTERN = r"^[0-9a-f]{16}$"
ISSUER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$"


def _shape(pattern: str, max_length: int) -> dict[str, object]:
    return {"pattern": pattern, "maxLength": max_length}


_SERIAL = _shape(SERIAL_PATTERN, SERIAL_MAX)
_ORG = _shape(ORG_CODE_PATTERN, 32)
_CASE = _shape(CASE_NUMBER_PATTERN, 17)

Serial = Annotated[
    str,
    Path(
        description="Certificate serial, hex",
        examples=["6f8e83c7e77926d0"],
        json_schema_extra=_SERIAL,
    ),
]
IssuerName = Annotated[
    str,
    Path(
        description="Vendor issuer name",
        examples=["vendor"],
        json_schema_extra=_shape(ISSUER_NAME_PATTERN, 32),
    ),
]
OrgCode = Annotated[
    str, Path(description="Organization code", examples=["dmv"], json_schema_extra=_ORG)
]
CaseNumber = Annotated[
    str, Path(description="Case number", examples=["CS-2026-000123"], json_schema_extra=_CASE)
]
CaSlug = Annotated[
    str,
    Path(description="Id of a built-in CA", json_schema_extra=_shape(CA_SLUG_PATTERN, 16)),
]
OrgFilter = Annotated[
    str | None, Query(description="Only this organization (its code)", json_schema_extra=_ORG)
]
SerialFilter = Annotated[
    str | None, Query(description="A certificate's serial", json_schema_extra=_SERIAL)
]
CaseFilter = Annotated[str | None, Query(description="A case's number", json_schema_extra=_CASE)]
