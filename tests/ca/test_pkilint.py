"""Every certificate the built-in CA makes passes pkilint's CA/B Forum TLS linter (DESIGN §7).

Certificates come from the real pipeline (``IssuanceService.issue``) for every subscriber
key type (R12), under both issuing-CA key types, plus a SAN certificate with a wildcard, the
root and the intermediate. Each is written to a PEM file and linted once, in-process with the
same calls ``lint_cabf_serverauth_cert lint`` makes (a subprocess per certificate would pay
pkilint's one-second import each time); one test runs the console script itself and checks
that it reports the same findings.

Findings: no FATAL or ERROR, ever. WARNINGs must be exactly the ones predicted from the
certificate by :func:`expected_warnings` (two known, documented there); NOTICE/INFO must be
in :data:`KNOWN_NOTES`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pkilint.cabf.serverauth.serverauth_constants import CertificateType

from certdesk.config import Settings
from certdesk.core.calendar import max_validity_days
from certdesk.core.keys import KeyType
from certdesk.services.pki.issuance import IssueCommand
from certdesk.services.registry import Services
from conftest import OPERATOR, ManualClock
from world.authority import (
    ORG,
    PUBLIC_BASE_URL,
    SUBSCRIBER_KEY_TYPES,
    hierarchy,
    issue,
    open_ca_services,
)
from world.pkilint import BLOCKING, DV, Linted, pkilint_serverauth

ROOT = CertificateType.ROOT_CA
# The intermediate is operated by the same party as the root ("internal"), carries the
# serverAuth EKU and no name constraints ("unconstrained"): BR §7.1.2.6 / §7.1.2.10.
TLS_CA = CertificateType.INTERNAL_UNCONSTRAINED_TLS_CA

SAN_NAMES = ("portal.dmv.ca.gov", "www.portal.dmv.ca.gov", "dmv.ca.gov", "*.apps.dmv.ca.gov")

# BR §6.3.2: "Subscriber Certificates SHOULD NOT be issued for the maximum possible validity
# period" -- pkilint warns above (maximum - 1) days. certdesk's default validity is the
# maximum minus one day, its inclusive span within that (core/calendar.validity_for), so a
# default leaf never gets this WARNING; a leaf asked for the whole maximum (an explicit
# days=200 issued before 17:00 Pacific) does.
VALIDITY_SHOULD_NOT = "cabf.serverauth.certificate_validity_period_exceeds_{days}_days"
# BR §7.1.2.7.11: for RSA keys digitalSignature SHOULD be set and keyEncipherment MAY, but
# both together is NOT RECOMMENDED. The profile sets both on RSA leaves on purpose (TLS 1.2
# RSA key transport for legacy clients), so RSA leaves get this WARNING.
RSA_BOTH_KU = "cabf.serverauth.subscriber_rsa_digitalsignature_and_keyencipherment_present"

# NOTICE/INFO findings seen and accepted. Method 1 is how RFC 5280 §4.2.1.2 suggests an SKI
# is made (SHA-1 of the public key), which is what certdesk does.
KNOWN_NOTES = frozenset({"pkix.subject_key_identifier_method_1_identified"})

NOTES = frozenset({"NOTICE", "INFO", "DEBUG"})


def expected_warnings(linted: Linted) -> set[str]:
    """The WARNINGs pkilint should report, predicted from the certificate itself.

    Only the two documented above; anything else pkilint warns about is a failure, and so
    is a predicted warning that does not appear (the prediction is then out of date).
    """
    cert = linted.cert
    if linted.cert_type is not DV:
        return set()
    expected = set()
    limit = max_validity_days(cert.not_valid_before_utc)
    inclusive = cert.not_valid_after_utc - cert.not_valid_before_utc + timedelta(seconds=1)
    if inclusive > timedelta(days=limit - 1):
        expected.add(VALIDITY_SHOULD_NOT.format(days=limit - 1))
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    if isinstance(cert.public_key(), rsa.RSAPublicKey) and (
        ku.digital_signature and ku.key_encipherment
    ):
        expected.add(RSA_BOTH_KU)
    return expected


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


# --------------------------------------------------------------------------- the corpus

CA_KEY_TYPES = ("ec256", "rsa2048")


def _corpus_ids() -> list[str]:
    ids = []
    for ca in CA_KEY_TYPES:
        ids += [f"{ca}-ca/leaf-{kt}" for kt in SUBSCRIBER_KEY_TYPES]
        ids += [f"{ca}-ca/san-wildcard", f"{ca}-ca/leaf-ec256-90-days"]
        ids += [f"{ca}-ca/leaf-ec256-200-days"]
        ids += [f"{ca}-ca/root", f"{ca}-ca/intermediate"]
    return ids


CORPUS_IDS = _corpus_ids()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Linted]:
    """Every certificate written first, then each linted once (pkilint is slow)."""
    out_dir = tmp_path_factory.mktemp("pkilint")
    written: dict[str, tuple[Path, CertificateType]] = {}

    def write(case: str, cert: x509.Certificate, cert_type: CertificateType) -> None:
        path = out_dir / (case.replace("/", "--") + ".pem")
        path.write_bytes(_pem(cert))
        written[case] = (path, cert_type)

    for ca in CA_KEY_TYPES:
        desk = open_ca_services(
            tmp_path_factory.mktemp(f"desk-{ca}"), ManualClock(), ca_key_type=ca
        )
        try:
            for kt in SUBSCRIBER_KEY_TYPES:
                leaf = issue(desk, [f"{kt}.dmv.ca.gov"], kt)
                write(f"{ca}-ca/leaf-{kt}", leaf.certificate, DV)
            san = issue(desk, SAN_NAMES, KeyType.EC256)
            write(f"{ca}-ca/san-wildcard", san.certificate, DV)
            short = issue(desk, ["short.dmv.ca.gov"], KeyType.EC256, days=90)
            write(f"{ca}-ca/leaf-ec256-90-days", short.certificate, DV)
            # ManualClock: 10:00 PST on 2026-11-26, 200-day maximum; 199 days 6 h inclusive.
            longest = issue(desk, ["longest.dmv.ca.gov"], KeyType.EC256, days=200)
            write(f"{ca}-ca/leaf-ec256-200-days", longest.certificate, DV)
            h = hierarchy(desk)
            write(f"{ca}-ca/root", h.root, ROOT)
            write(f"{ca}-ca/intermediate", h.intermediate, TLS_CA)
        finally:
            desk.rt.close()
    assert sorted(written) == sorted(CORPUS_IDS)
    return {case: pkilint_serverauth(path, ct) for case, (path, ct) in written.items()}


@pytest.mark.parametrize("case", [pytest.param(c, id=f"pkilint/{c}") for c in CORPUS_IDS])
def test_no_fatal_or_error_findings(corpus: dict[str, Linted], case: str) -> None:
    linted = corpus[case]
    blocking = [str(f) for f in linted.findings if f.severity in BLOCKING]
    assert blocking == []


@pytest.mark.parametrize("case", [pytest.param(c, id=f"pkilint/{c}") for c in CORPUS_IDS])
def test_warnings_are_exactly_the_known_ones(corpus: dict[str, Linted], case: str) -> None:
    linted = corpus[case]
    assert linted.codes(frozenset({"WARNING"})) == expected_warnings(linted), [
        str(f) for f in linted.findings
    ]


@pytest.mark.parametrize("case", [pytest.param(c, id=f"pkilint/{c}") for c in CORPUS_IDS])
def test_notices_are_known(corpus: dict[str, Linted], case: str) -> None:
    assert corpus[case].codes(NOTES) <= KNOWN_NOTES


@pytest.mark.parametrize("case", [pytest.param(c, id=f"pkilint/{c}") for c in CORPUS_IDS])
def test_pkilint_detects_the_intended_certificate_type(
    corpus: dict[str, Linted], case: str
) -> None:
    """The reserved policy OID, EKU and basicConstraints say what each certificate is."""
    assert corpus[case].detected is corpus[case].cert_type


@pytest.mark.parametrize(
    "case",
    [
        pytest.param("ec256-ca/leaf-ec256-90-days", id="pkilint/ec-leaf-below-max-is-clean"),
        pytest.param("rsa2048-ca/leaf-ec256-90-days", id="pkilint/ec-leaf-rsa-ca-is-clean"),
        pytest.param("ec256-ca/root", id="pkilint/root-is-clean"),
        pytest.param("ec256-ca/intermediate", id="pkilint/intermediate-is-clean"),
    ],
)
def test_without_the_two_known_warnings_the_profile_lints_clean(
    corpus: dict[str, Linted], case: str
) -> None:
    """An EC leaf below the validity maximum, and the CA certificates, get no WARNING at all."""
    assert corpus[case].codes(frozenset({"WARNING"}) | BLOCKING) == set()


def test_known_warnings_actually_occur(corpus: dict[str, Linted]) -> None:
    """Keeps the prediction honest: both documented WARNINGs are seen where expected."""
    assert corpus["ec256-ca/leaf-rsa2048"].codes(frozenset({"WARNING"})) == {RSA_BOTH_KU}
    for ca in CA_KEY_TYPES:
        assert corpus[f"{ca}-ca/leaf-ec256-200-days"].codes(frozenset({"WARNING"})) == {
            VALIDITY_SHOULD_NOT.format(days=199)
        }


def test_default_leaf_has_no_warning(corpus: dict[str, Linted]) -> None:
    """BR §6.3.2: the default validity (199 days) stays below pkilint's 199-day WARNING."""
    for ca in CA_KEY_TYPES:
        for case in (f"{ca}-ca/leaf-ec256", f"{ca}-ca/leaf-ec384", f"{ca}-ca/san-wildcard"):
            assert corpus[case].codes(frozenset({"WARNING"})) == set(), case


def test_console_script_reports_the_same_findings(corpus: dict[str, Linted]) -> None:
    """``lint_cabf_serverauth_cert lint -t DV-FINAL-CERTIFICATE leaf.pem``, as documented."""
    script = Path(sys.executable).parent / "lint_cabf_serverauth_cert"
    assert script.exists(), f"pkilint's console script is missing: {script}"
    linted = corpus["rsa2048-ca/leaf-rsa2048"]
    proc = subprocess.run(
        [str(script), "lint", "-t", "DV-FINAL-CERTIFICATE", "-f", "JSON", str(linted.pem_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report: dict[str, Any] = json.loads(proc.stdout)
    codes = {
        (d["severity"], d["code"])
        for result in report["results"]
        for d in result["finding_descriptions"]
    }
    assert codes == {(f.severity, f.code) for f in linted.findings}
    # The exit code counts findings at or above the threshold (INFO by default).
    assert proc.returncode == len(linted.findings)


# --------------------------------------------------------------------------- both backends


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The shared ``services`` fixture, but with a public HTTP base URL (see world.authority)."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        base_url=PUBLIC_BASE_URL,
        ca_passphrase="test-passphrase",
    )


@pytest.mark.parametrize(
    "key_type",
    [
        pytest.param(KeyType.EC256, id="pkilint/backend-leaf-ec256"),
        pytest.param(KeyType.RSA2048, id="pkilint/backend-leaf-rsa2048"),
    ],
)
def test_pipeline_leaf_lints_clean_on_each_backend(
    services: Services, tmp_path: Path, key_type: KeyType
) -> None:
    """The CSR certdesk generates itself, issued on SQLite and on PostgreSQL."""
    services.orgs.create(OPERATOR, ORG, "DMV", self_managed=True, grants=["zone:dmv.ca.gov"])
    csr = services.csrs.generate(["www.dmv.ca.gov", "*.www.dmv.ca.gov"], key_type)
    issued = services.issuance.issue(OPERATOR, IssueCommand(org_code=ORG, csr=csr.csr_pem))
    leaf_file = tmp_path / "leaf.pem"
    leaf_file.write_text(issued.pem())
    linted = pkilint_serverauth(leaf_file, DV)
    assert [str(f) for f in linted.findings if f.severity in BLOCKING] == []
    assert linted.codes(frozenset({"WARNING"})) == expected_warnings(linted)
    assert linted.codes(NOTES) <= KNOWN_NOTES
