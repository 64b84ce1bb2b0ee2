"""A refused new-case form gives a chosen CSR file back as text (R3): the text must be the file.

A browser cannot be handed a file again, so ``kept_csrs`` puts a DER file into its fieldset
as PEM. A DER CSR ends with its signature's last byte, which is ASCII whitespace (0x09 to 0x0d,
0x20) for about 1 key in 43; the kept text once lost that byte, and the form sent again was
refused as an unreadable CSR.
"""

from __future__ import annotations

import io

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from starlette.datastructures import FormData, Headers, UploadFile

from certdesk.web.console.case_form import kept_csrs
from world.csr import build_csr

WHITESPACE_BYTES = (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20)
LIMIT = 64 * 1024
PEM = "-----BEGIN CERTIFICATE REQUEST-----\nAA==\n-----END CERTIFICATE REQUEST-----"


def der_ending_in(last: int) -> bytes:
    """A DER CSR whose last byte is ``last`` (fresh keys until one signs so)."""
    for _ in range(20_000):
        der: bytes = build_csr(["kept.dmv.ca.gov"]).public_bytes(serialization.Encoding.DER)
        if der[-1] == last:
            return der
    raise AssertionError(f"no CSR ending in {last:#04x}")  # pragma: no cover


def chosen(content: bytes, name: str = "site.der") -> FormData:
    upload = UploadFile(
        io.BytesIO(content), filename=name, headers=Headers({"content-type": "application/pkcs10"})
    )
    return FormData([("s0_csr_file", upload), ("s0_csr_pem", "")])


@pytest.mark.parametrize("last", WHITESPACE_BYTES, ids=lambda b: f"r3-der-ends-{b:#04x}")
def test_r3_a_kept_der_file_is_the_file_chosen_whatever_its_last_byte(last: int) -> None:
    der = der_ending_in(last)
    kept = kept_csrs(chosen(der), 1, LIMIT)
    assert kept["s0_csr_kept"] == "site.der"
    back = x509.load_pem_x509_csr(kept["s0_csr_pem"].encode())
    assert back.public_bytes(serialization.Encoding.DER) == der
    assert back.is_signature_valid


@pytest.mark.parametrize(
    ("content", "kept"),
    [
        pytest.param(b"\n  " + PEM.encode() + b"\n\n", PEM, id="r3-pem-file-kept-trimmed"),
        pytest.param(b"not a csr", None, id="r3-neither-pem-nor-der-not-kept"),
        pytest.param(b"", None, id="r3-empty-file-not-kept"),
        pytest.param(b" \x30\x03\x02\x01\x00", None, id="r3-der-after-a-space-not-kept"),
    ],
)
def test_r3_what_a_chosen_file_is_kept_as(content: bytes, kept: str | None) -> None:
    assert kept_csrs(chosen(content), 1, LIMIT).get("s0_csr_pem") == kept
