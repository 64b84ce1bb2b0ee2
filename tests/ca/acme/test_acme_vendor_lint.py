"""Pebble's certificates through the vendor pre-storage lint (R16): what pebble 2.4.0 breaks
is exactly what ``vendor_world.PEBBLE_LINT_TOLERATED`` documents, pkilint agrees, and a
vendor issuer that tolerates nothing refuses pebble's certificate with the findings named."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from vendor_world import (
    PEBBLE_LINT_TOLERATED,
    Pebble,
    RecordingJournal,
    csr_for,
    issuer_for,
    registered,
    request_for,
    running_pebble,
    unique_names,
)

from certdesk.ca.acme.solvers import ChallengeResponses, Http01Solver
from certdesk.ca.arrival import ArrivalRefused
from certdesk.ca.issuer import IssuedChain
from certdesk.ca.vendor_lint import vendor_findings
from world.pkilint import BLOCKING, pkilint_cert

pytestmark = pytest.mark.timeout(120)

# pkilint's ERRORs on a pebble leaf, each the counterpart of a tolerated finding:
PKILINT_FOR_TOLERATED = {
    # lint.ec_key_encipherment (EC leaves only)
    "pkix.key_usage_value_prohibited_for_ec",
    "cabf.serverauth.subscriber_prohibited_ku_present",
    # lint.policies
    "cabf.serverauth.subscriber.certificate_policies_extension_absent",
}
# The lab's OCSP URL (PEBBLE_OCSP_URL) is under the reserved .invalid: not a public name.
PKILINT_LAB_ONLY = {"cabf.internal_domain_name"}


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    with running_pebble(tmp_path_factory.mktemp("pebble"), always_valid=True) as server:
        yield server


def _solver() -> Http01Solver:
    store = ChallengeResponses()  # PEBBLE_VA_ALWAYS_VALID: pebble never fetches the answer
    return Http01Solver(store.publish, store.withdraw)


def test_pebbles_findings_are_exactly_the_tolerated_ones(pebble: Pebble, tmp_path: Path) -> None:
    issued = issuer_for(pebble, registered(pebble), _solver()).issue(
        request_for(unique_names("lint")), RecordingJournal()
    )
    assert isinstance(issued, IssuedChain)
    findings = vendor_findings(issued.leaf, issued.chain[0])
    assert {f.code for f in findings} == PEBBLE_LINT_TOLERATED
    linted = pkilint_cert(issued.leaf, tmp_path)
    assert linted.codes(BLOCKING) == PKILINT_FOR_TOLERATED | PKILINT_LAB_ONLY


def test_an_rsa_leaf_from_pebble_lacks_only_the_policy(pebble: Pebble) -> None:
    names = unique_names("rsa")
    rsa_request = replace(
        request_for(names), csr=csr_for(names, rsa.generate_private_key(65537, 2048))
    )
    issued = issuer_for(pebble, registered(pebble), _solver()).issue(
        rsa_request, RecordingJournal()
    )
    assert isinstance(issued, IssuedChain)
    assert [f.code for f in vendor_findings(issued.leaf, issued.chain[0])] == ["lint.policies"]


def test_a_vendor_tolerating_nothing_refuses_pebbles_certificate(pebble: Pebble) -> None:
    issuer = issuer_for(pebble, registered(pebble), _solver(), lint_tolerate=frozenset())
    with pytest.raises(ArrivalRefused) as refused:
        issuer.issue(request_for(unique_names("strict")), RecordingJournal())
    assert refused.value.code == "vendor.lint"
    assert set(refused.value.extra["findings"]) == PEBBLE_LINT_TOLERATED
    assert "certificate policy" in refused.value.detail
