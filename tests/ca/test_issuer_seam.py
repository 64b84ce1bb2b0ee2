"""The issuer seam (issue 12): the built-in CA behind ``Issuer.issue`` with a journal, and the
arrival checks applied to its certificates like to a vendor's (R16)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from certdesk.ca.acme.backend import AcmeIssuer
from certdesk.ca.arrival import ArrivalRefused, check_arrival
from certdesk.ca.hierarchy import create_hierarchy
from certdesk.ca.issuer import (
    Intent,
    IssuedChain,
    Issuer,
    IssueRequest,
    Pending,
    SigningIntent,
)
from certdesk.ca.local import LocalCA
from certdesk.ca.profile import IssuerUrls
from certdesk.errors import Conflict

NOW = datetime.now(UTC).replace(microsecond=0)
NAMES = ("www.dmv.ca.gov", "api.dmv.ca.gov")


class Journal:
    def __init__(self) -> None:
        self.intents: list[Intent] = []

    def record(self, intent: Intent) -> None:
        self.intents.append(intent)


def _urls(slug: str) -> IssuerUrls:
    return IssuerUrls(
        ca_issuers=f"http://pki.cdt.ca.gov/ca/{slug}.der",
        ocsp=None,
        crl=f"http://pki.cdt.ca.gov/crl/{slug}.crl",
    )


@pytest.fixture(scope="module")
def local() -> tuple[LocalCA, x509.Certificate]:
    root, inter = create_hierarchy(NOW, key_type="ec256", urls_for=_urls)
    ca = LocalCA(
        certificate=inter.certificate,
        key=inter.key,
        parents=[root.certificate],
        urls=_urls(inter.slug),
        suffixes=("ca.gov",),
    )
    return ca, root.certificate


def _request(names: tuple[str, ...] = NAMES, days: int = 90) -> IssueRequest:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )
    return IssueRequest(
        csr=csr,
        names=names,
        not_before=NOW,
        not_after=NOW + timedelta(days=days) - timedelta(seconds=1),
        max_days=200,
    )


def test_both_backends_are_issuers(local: tuple[LocalCA, x509.Certificate]) -> None:
    # mypy checks the full signatures (the TYPE_CHECKING assignments in both modules);
    # here the runtime check that the seam's members are there.
    assert isinstance(local[0], Issuer)
    assert all(callable(getattr(AcmeIssuer, m)) for m in ("issue", "resume", "revoke"))


def test_local_issue_journals_the_signing_intent_before_signing(
    local: tuple[LocalCA, x509.Certificate],
) -> None:
    ca, root = local
    journal = Journal()
    request = _request()
    issued = ca.issue(request, journal)
    assert ca.backend == "local"
    (intent,) = journal.intents
    assert isinstance(intent, SigningIntent)
    assert intent.serial == issued.leaf.serial_number
    assert intent.tbs_sha256 == hashlib.sha256(issued.leaf.tbs_certificate_bytes).hexdigest()
    # The arrival checks are backend-neutral: the built-in CA's leaf passes them too.
    assert check_arrival(issued, request, anchors=[root], now=NOW) == issued


def test_a_refusing_journal_means_nothing_is_signed(
    local: tuple[LocalCA, x509.Certificate],
) -> None:
    ca, _ = local

    class Refusing:
        def record(self, intent: Intent) -> None:
            raise Conflict("test.refused", "the intent could not be recorded")

    with pytest.raises(Conflict):
        ca.issue(_request(), Refusing())


def test_the_local_ca_has_nothing_to_resume(local: tuple[LocalCA, x509.Certificate]) -> None:
    ca, _ = local
    pending = Pending(backend="acme", handle={"order_url": "https://x"}, state="pending")
    with pytest.raises(Conflict):
        ca.resume(_request(), pending, Journal())


@pytest.mark.parametrize(
    ("change", "code"),
    [
        pytest.param({"names": ("www.dmv.ca.gov",)}, "vendor.names", id="R16/arrival-names"),
        pytest.param({"csr": "other-key"}, "vendor.key_mismatch", id="R16/arrival-key"),
        pytest.param({"max_days": 30}, "vendor.validity", id="R13/arrival-validity"),
        pytest.param({"anchors": "none"}, "vendor.no_anchor", id="R16/arrival-no-anchor"),
    ],
)
def test_arrival_refuses(
    local: tuple[LocalCA, x509.Certificate], change: dict[str, object], code: str
) -> None:
    ca, root = local
    request = _request()
    issued: IssuedChain = ca.issue(request, Journal())
    anchors = [] if change.get("anchors") == "none" else [root]
    fields = {k: v for k, v in change.items() if k != "anchors"}
    if fields.get("csr") == "other-key":
        fields["csr"] = _request().csr
    with pytest.raises(ArrivalRefused) as refused:
        check_arrival(issued, replace(request, **fields), anchors=anchors, now=NOW)  # type: ignore[arg-type]
    assert refused.value.code == code
