"""The issuance pipeline (DESIGN §3.2) through the service layer, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from certdesk.core.access import Role
from certdesk.core.keys import KeyType
from certdesk.errors import CertdeskError, NotFound
from certdesk.services.pki.issuance import IssueCommand, Platform
from certdesk.services.registry import Services
from certdesk.store.models import CertificateName, CertificateRow
from conftest import OPERATOR, ManualClock, org_actor

PACIFIC = ZoneInfo("America/Los_Angeles")


@pytest.fixture
def orgs(services: Services) -> Services:
    services.orgs.create(
        OPERATOR,
        "dmv",
        "Motor Vehicles",
        self_managed=True,
        grants=["zone:dmv.ca.gov", "host:permits.ca.gov"],
    )
    services.orgs.create(
        OPERATOR, "cdt", "Technology", self_managed=False, grants=["zone:cdt.ca.gov"]
    )
    return services


def _csr(services: Services, *names: str, key: KeyType = KeyType.EC256) -> bytes:
    return services.csrs.generate(list(names), key).csr_pem


def _counts(services: Services) -> tuple[int, int]:
    with services.rt.reads() as s:
        certs = s.scalar(select(func.count()).select_from(CertificateRow)) or 0
        names = s.scalar(select(func.count()).select_from(CertificateName)) or 0
    return certs, names


def test_pipeline_records_active_row_with_the_delivered_bytes(orgs: Services) -> None:
    issued = orgs.issuance.issue(
        OPERATOR,
        IssueCommand(
            "dmv", _csr(orgs, "www.dmv.ca.gov", "dmv.ca.gov"), platform=Platform.DEDICATED
        ),
    )
    with orgs.rt.reads() as s:
        row = s.scalars(select(CertificateRow).where(CertificateRow.serial == issued.serial)).one()
    assert row.status == "active"
    assert row.der == issued.certificate.public_bytes(serialization.Encoding.DER)
    assert row.platform == "dedicated"
    assert row.names == "www.dmv.ca.gov,dmv.ca.gov"
    assert format(issued.certificate.serial_number, "x") == issued.serial
    san = issued.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["www.dmv.ca.gov", "dmv.ca.gov"]


@pytest.mark.parametrize(
    ("role", "org", "names", "expected"),
    [
        pytest.param(
            Role.DELEGATED_ADMIN,
            "dmv",
            ["www.dmv.ca.gov"],
            None,
            id="R2/allow/delegated-admin-zone",
        ),
        pytest.param(
            Role.DELEGATED_ADMIN,
            "dmv",
            ["*.apps.dmv.ca.gov"],
            None,
            id="R2/allow/delegated-admin-deep-wildcard",
        ),
        pytest.param(
            Role.DELEGATED_ADMIN,
            "dmv",
            ["permits.ca.gov"],
            None,
            id="R2/allow/delegated-admin-host",
        ),
        pytest.param(
            Role.DELEGATED_ADMIN,
            "dmv",
            ["www.permits.ca.gov"],
            "name.not_granted",
            id="R2/deny/host-grant-no-subdomain",
        ),
        pytest.param(
            Role.DELEGATED_ADMIN,
            "dmv",
            ["www.dmv.ca.gov", "www.cdt.ca.gov"],
            "name.not_granted",
            id="R2/deny/one-name-outside-grant",
        ),
        pytest.param(
            Role.DELEGATED_ADMIN,
            "dmv",
            ["www.dmv.ca.gov.evil.com"],
            "name.lookalike",
            id="R1/deny/lookalike-suffix",
        ),
        pytest.param(
            Role.DELEGATED_ADMIN,
            "cdt",
            ["www.cdt.ca.gov"],
            "org.managed",
            id="R11/deny/delegated-admin-of-managed-org",
        ),
        pytest.param(
            Role.REQUESTER,
            "dmv",
            ["www.dmv.ca.gov"],
            "auth.forbidden",
            id="R4/deny/requester-issues-directly",
        ),
        pytest.param(
            Role.OPERATOR, "dmv", ["www.cdt.ca.gov"], None, id="R2/allow/operator-any-r1-name"
        ),
        pytest.param(
            Role.OPERATOR,
            "dmv",
            ["www.example.com"],
            "name.outside_suffixes",
            id="R1/deny/operator-outside-suffixes",
        ),
    ],
)
def test_who_may_issue_which_names(
    orgs: Services, role: Role, org: str, names: list[str], expected: str | None
) -> None:
    actor = OPERATOR if role is Role.OPERATOR else org_actor(orgs, org, role)
    before = _counts(orgs)
    if expected is None:
        issued = orgs.issuance.issue(actor, IssueCommand(org, _csr(orgs, *names)))
        assert list(issued.names) == names
        assert _counts(orgs)[0] == before[0] + 1
        return
    csr = _raw_csr(names)
    with pytest.raises(CertdeskError) as err:
        orgs.issuance.issue(actor, IssueCommand(org, csr))
    assert err.value.code == expected
    assert _counts(orgs) == before  # a refusal changes nothing


def _raw_csr(names: list[str]) -> bytes:
    """A CSR for any names (csrs.generate refuses non-R1 names itself)."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def test_other_org_looks_unknown(orgs: Services) -> None:
    actor = org_actor(orgs, "dmv", Role.DELEGATED_ADMIN)
    with pytest.raises(NotFound):
        orgs.issuance.issue(actor, IssueCommand("cdt", _raw_csr(["www.cdt.ca.gov"])))


@pytest.mark.parametrize(
    ("now", "days", "max_days"),
    [
        pytest.param(datetime(2026, 11, 26, 18, 0, tzinfo=UTC), None, 200, id="R13/default-200"),
        pytest.param(datetime(2027, 3, 15, 12, 0, tzinfo=UTC), None, 100, id="R13/default-100"),
        pytest.param(datetime(2029, 3, 15, 12, 0, tzinfo=UTC), None, 47, id="R13/default-47"),
        pytest.param(datetime(2026, 11, 26, 18, 0, tzinfo=UTC), 30, 200, id="R13/operator-30"),
    ],
)
def test_validity_follows_r13_and_expires_at_1700_pacific(
    orgs: Services, clock: ManualClock, now: datetime, days: int | None, max_days: int
) -> None:
    clock.now = now
    issued = orgs.issuance.issue(
        OPERATOR, IssueCommand("dmv", _csr(orgs, "a.dmv.ca.gov"), days=days)
    )
    cert = issued.certificate
    local_end = cert.not_valid_after_utc.astimezone(PACIFIC)
    assert local_end.time() == time(17, 0)  # R7
    period = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert period.total_seconds() + 1 <= max_days * 86400  # R13, inclusive
    if days is not None:
        assert (local_end.date() - now.astimezone(PACIFIC).date()).days == days


def test_too_long_validity_is_refused_and_nothing_recorded(orgs: Services) -> None:
    before = _counts(orgs)
    with pytest.raises(CertdeskError) as err:
        orgs.issuance.issue(OPERATOR, IssueCommand("dmv", _csr(orgs, "a.dmv.ca.gov"), days=201))
    assert err.value.code == "validity.too_long"
    assert _counts(orgs) == before


def test_lint_failure_signs_nothing_and_records_nothing(orgs: Services, clock: ManualClock) -> None:
    # Eight years on, a 47-day certificate would outlive the issuing CA: the pre-signing lint
    # must stop it before any intent is recorded.
    clock.now = datetime(2034, 11, 20, tzinfo=UTC)
    before = _counts(orgs)
    with pytest.raises(CertdeskError) as err:
        orgs.issuance.issue(OPERATOR, IssueCommand("dmv", _csr(orgs, "a.dmv.ca.gov")))
    assert err.value.code == "lint.validity"
    assert _counts(orgs) == before


def test_renewal_links_to_the_certificate_it_replaces(orgs: Services) -> None:
    first = orgs.issuance.issue(OPERATOR, IssueCommand("dmv", _csr(orgs, "a.dmv.ca.gov")))
    second = orgs.issuance.issue(
        OPERATOR, IssueCommand("dmv", _csr(orgs, "a.dmv.ca.gov"), renewal_of=first.serial)
    )
    assert orgs.inventory.show(OPERATOR, second.serial).renewal_of == first.serial
    with pytest.raises(NotFound):
        orgs.issuance.issue(
            OPERATOR, IssueCommand("cdt", _csr(orgs, "a.cdt.ca.gov"), renewal_of=first.serial)
        )


@pytest.mark.parametrize("key", list(KeyType), ids=lambda k: f"R12/allow/{k}")
def test_every_accepted_key_type_issues(orgs: Services, key: KeyType) -> None:
    if key in (KeyType.RSA3072, KeyType.RSA4096) and orgs.rt.engine.dialect.name != "sqlite":
        pytest.skip("slow RSA key generation: covered once on SQLite")
    issued = orgs.issuance.issue(OPERATOR, IssueCommand("dmv", _csr(orgs, "k.dmv.ca.gov", key=key)))
    assert orgs.inventory.show(OPERATOR, issued.serial).key_type == str(key)
