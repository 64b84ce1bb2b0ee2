"""RFC 8555 §7.1.6 status rules of the ACME server (core/acme_states.py), as tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from certdesk.core.acme_states import (
    AuthzStatus as A,
)
from certdesk.core.acme_states import (
    ChallengeStatus as C,
)
from certdesk.core.acme_states import (
    ChallengeType,
    authz_status,
    dns01_txt,
    identifier_base,
    key_authorization,
    offered_challenges,
    order_status,
)
from certdesk.core.acme_states import (
    OrderStatus as O,
)

NOW = datetime(2027, 1, 4, 12, tzinfo=UTC)
LATER = NOW + timedelta(days=1)
EARLIER = NOW - timedelta(seconds=1)


@pytest.mark.parametrize(
    ("stored", "authzs", "expires", "expected"),
    [
        pytest.param(O.PENDING, [A.PENDING, A.VALID], LATER, O.PENDING, id="7.1.6/pending"),
        pytest.param(O.PENDING, [A.VALID, A.VALID], LATER, O.READY, id="7.1.6/all-valid-ready"),
        pytest.param(O.PENDING, [A.VALID, A.INVALID], LATER, O.INVALID, id="7.1.6/one-invalid"),
        pytest.param(O.PENDING, [A.DEACTIVATED], LATER, O.INVALID, id="7.1.6/deactivated"),
        pytest.param(O.PENDING, [A.EXPIRED], LATER, O.INVALID, id="7.1.6/authz-expired"),
        pytest.param(O.PENDING, [A.VALID], EARLIER, O.INVALID, id="7.1.6/order-expired"),
        pytest.param(O.PENDING, [A.VALID], NOW, O.INVALID, id="7.1.6/expires-now"),
        pytest.param(O.PENDING, [], LATER, O.PENDING, id="7.1.6/no-authz-not-ready"),
        pytest.param(O.PROCESSING, [A.VALID], EARLIER, O.PROCESSING, id="7.1.6/processing-kept"),
        pytest.param(O.VALID, [A.EXPIRED], EARLIER, O.VALID, id="7.1.6/valid-kept"),
        pytest.param(O.INVALID, [A.VALID], LATER, O.INVALID, id="7.1.6/invalid-kept"),
    ],
)
def test_order_status(stored: O, authzs: list[A], expires: datetime, expected: O) -> None:
    assert order_status(stored, authzs, expires, NOW) is expected


@pytest.mark.parametrize(
    ("stored", "challenges", "expires", "expected"),
    [
        pytest.param(A.PENDING, [C.PENDING, C.PENDING], LATER, A.PENDING, id="7.1.6/pending"),
        pytest.param(A.PENDING, [C.PROCESSING], LATER, A.PENDING, id="7.1.6/processing"),
        pytest.param(A.PENDING, [C.VALID, C.PENDING], LATER, A.VALID, id="7.1.6/one-valid"),
        pytest.param(A.PENDING, [C.INVALID, C.PENDING], LATER, A.INVALID, id="7.1.6/one-failed"),
        pytest.param(A.PENDING, [C.PENDING], EARLIER, A.EXPIRED, id="7.1.6/expired-pending"),
        pytest.param(A.VALID, [C.VALID], EARLIER, A.EXPIRED, id="7.1.6/expired-valid"),
        pytest.param(A.DEACTIVATED, [C.VALID], LATER, A.DEACTIVATED, id="7.5.2/deactivated"),
        pytest.param(A.REVOKED, [C.VALID], LATER, A.REVOKED, id="7.1.6/revoked"),
    ],
)
def test_authz_status(stored: A, challenges: list[C], expires: datetime, expected: A) -> None:
    assert authz_status(stored, challenges, expires, NOW) is expected


def test_key_authorization_and_dns01_value() -> None:
    # RFC 8555 §8.1 and §8.4; the digest is base64url of SHA-256 without padding.
    ka = key_authorization("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", "9jg46WB3rR")
    assert ka == "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR"
    value = dns01_txt(ka)
    assert len(value) == 43 and "=" not in value and "+" not in value


@pytest.mark.parametrize(
    ("name", "base", "wildcard", "offered"),
    [
        pytest.param(
            "www.dmv.ca.gov",
            "www.dmv.ca.gov",
            False,
            (
                ChallengeType.HTTP01,
                ChallengeType.DNS01,
                ChallengeType.TLSALPN01,
                ChallengeType.DNSPERSIST01,
            ),
            id="7.1.3/plain",
        ),
        pytest.param(
            "*.dmv.ca.gov",
            "dmv.ca.gov",
            True,
            (ChallengeType.DNS01, ChallengeType.DNSPERSIST01),
            id="7.1.3/wildcard-dns-only",
        ),
    ],
)
def test_identifier_base_and_challenges(
    name: str, base: str, wildcard: bool, offered: tuple[ChallengeType, ...]
) -> None:
    assert identifier_base(name) == (base, wildcard)
    assert offered_challenges(wildcard) == offered
