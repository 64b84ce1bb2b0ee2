"""The submittal form file of ``certdesk case new --submittal-file`` (R3).

One Security Certificate Submittal per file, one ``key = value`` per line; ``#`` starts a
comment; ``name`` and ``contact`` repeat. No JSON or YAML, so that a requester can fill it
in with any editor::

    # www.dmv.ca.gov and dmv.ca.gov on one SAN certificate
    name     = www.dmv.ca.gov
    name     = dmv.ca.gov
    type     = san                  # single | san | wildcard (default: from the names)
    platform = virtual              # dedicated | virtual
    software = nginx
    version  = 1.26
    key      = ec256                # ec256 ec384 rsa2048 rsa3072 rsa4096 (default: CSR's)
    delivery = 2026-12-15           # requested delivery date
    validity = 90                   # days (default: the R13 maximum)
    csr      = www.csr              # a CSR file, relative to this file
    contact  = technical:Ana Lee:ana.lee@dmv.ca.gov:916-555-0100
    contact  = billing:Accounts Payable:ap@dmv.ca.gov

A contact is ``KIND:NAME:EMAIL[:PHONE]`` (KIND technical, administrative or billing), the
same as the ``--contact`` option.

The same fields can be given as options instead of, or besides, form files
(:func:`from_options`).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from certdesk.cli.common import read_input
from certdesk.core.calendar import parse_day
from certdesk.core.text import check_text
from certdesk.errors import InvalidInput
from certdesk.services.casework.contacts import ContactInput
from certdesk.services.casework.submittals import SubmittalInput

KEYS = frozenset(
    {"name", "type", "platform", "software", "version", "key", "delivery", "validity", "csr",
     "contact", "service"}
)  # fmt: skip
_SINGLE = KEYS - {"name", "contact"}

# The options of one submittal given on the command line (instead of, or besides, files).
NameOpt = Annotated[
    list[str] | None, typer.Option("--name", help="DNS name; repeat for a SAN certificate.")
]
CertTypeOpt = Annotated[
    str | None, typer.Option("--cert-type", help="single, san or wildcard (default: inferred).")
]
PlatformOpt = Annotated[str | None, typer.Option("--platform", help="dedicated or virtual.")]
SoftwareOpt = Annotated[str, typer.Option("--software", help="Server software, e.g. nginx.")]
VersionOpt = Annotated[str, typer.Option("--software-version", help="Server software version.")]
KeyOpt = Annotated[
    str | None, typer.Option("--key", help="ec256, ec384, rsa2048, rsa3072 or rsa4096.")
]
CsrOpt = Annotated[str | None, typer.Option("--csr", help="CSR file (PEM or DER), - for stdin.")]
ValidityOpt = Annotated[int | None, typer.Option("--validity-days", help="Validity in days.")]
DeliveryOpt = Annotated[
    str | None, typer.Option("--delivery", help="Submittal's requested delivery date YYYY-MM-DD.")
]
ContactOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--contact", help="KIND:NAME:EMAIL[:PHONE]; KIND technical|administrative|billing."
    ),
]
FileOpt = Annotated[
    list[str] | None,
    typer.Option("--submittal-file", help="A submittal form file (see README); repeatable."),
]


def parse_date(text: str, what: str) -> date:
    return parse_day(text, what)


def optional_date(text: str | None, what: str) -> date | None:
    """``text`` as a date (``what`` names it in an error); None when it is empty."""
    return parse_date(text, what) if text else None


def parse_contact(text: str) -> ContactInput:
    """``KIND:NAME:EMAIL[:PHONE]`` → a contact (checked later, by the service)."""
    parts = [p.strip() for p in text.split(":", 3)]
    if len(parts) < 3:
        raise InvalidInput("contact.spec", f"contact {text!r} is not KIND:NAME:EMAIL[:PHONE]")
    return ContactInput(parts[0], parts[1], parts[2], parts[3] if len(parts) > 3 else "")


def parse_days(text: str, where: str) -> int:
    value = text.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 4:
        raise InvalidInput(
            "submittal.validity", f"{where}: validity {text!r} is not a number of days"
        )
    return int(value)


def build(
    *,
    names: list[str],
    cert_type: str | None = None,
    platform: str | None = None,
    software: str = "",
    version: str = "",
    key: str | None = None,
    delivery: date | None = None,
    validity: int | None = None,
    csr: bytes | None = None,
    contacts: list[str] | None = None,
    service: str | None = None,
) -> SubmittalInput:
    return SubmittalInput(
        names=tuple(names),
        cert_type=cert_type,
        platform=platform or "virtual",
        server_software=software,
        server_version=version,
        key_type=key,
        service_option=service,
        requested_delivery=delivery,
        validity_days=validity,
        csr=csr,
        contacts=tuple(parse_contact(c) for c in contacts or []),
    )


def read_form(path: str) -> SubmittalInput:
    """Read one submittal form; a bad line is reported with its file and line number."""
    source = Path(path)
    try:
        text = read_input(path).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("submittal.file", f"{path} is not a UTF-8 text file") from None
    check_text(text, path)
    values: dict[str, str] = {}
    names: list[str] = []
    contacts: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{path}:{number}"
        key, sep, value = (part.strip() for part in line.partition("="))
        key = key.lower()
        if not sep or key not in KEYS:
            raise InvalidInput(
                "submittal.file",
                f"{where}: expected KEY = VALUE with KEY one of {', '.join(sorted(KEYS))}",
            )
        if key == "name":
            names.append(value)
        elif key == "contact":
            contacts.append(value)
        elif key in values:
            raise InvalidInput("submittal.file", f"{where}: {key} is given twice")
        else:
            values[key] = value
    assert set(values) <= _SINGLE
    csr = None
    if "csr" in values:
        csr_path = Path(values["csr"])
        if not csr_path.is_absolute() and path != "-":
            csr_path = source.parent / csr_path
        csr = read_input(str(csr_path))
    return build(
        names=names,
        cert_type=values.get("type"),
        platform=values.get("platform"),
        software=values.get("software", ""),
        version=values.get("version", ""),
        key=values.get("key"),
        delivery=parse_date(values["delivery"], "submittal.delivery")
        if "delivery" in values
        else None,
        validity=parse_days(values["validity"], path) if "validity" in values else None,
        csr=csr,
        contacts=contacts,
        service=values.get("service"),
    )


def from_options(
    names: list[str] | None,
    cert_type: str | None,
    platform: str | None,
    software: str,
    version: str,
    key: str | None,
    csr: str | None,
    validity: int | None,
    delivery: str | None,
    contacts: list[str] | None,
) -> SubmittalInput | None:
    """The submittal described by options, or None when no name and no CSR was given."""
    if not names and csr is None:
        if cert_type or platform or software or version or key or validity or delivery or contacts:
            raise InvalidInput(
                "submittal.names", "submittal options need --name or --csr (which certificate?)"
            )
        return None
    return build(
        names=list(names or []),
        cert_type=cert_type,
        platform=platform,
        software=software,
        version=version,
        key=key,
        delivery=optional_date(delivery, "submittal.delivery"),
        validity=validity,
        csr=read_input(csr) if csr is not None else None,
        contacts=list(contacts or []),
    )
