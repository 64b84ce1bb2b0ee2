"""http-01 answers through the database (RFC 8555 §8.3): the publisher an ``Http01Solver``
uses in one process and the lookup the route serves in another, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from certdesk.ca.acme.solvers import ChallengeTask, Http01Solver
from certdesk.errors import InvalidInput
from certdesk.services.pki.challenges import DEFAULT_LIFETIME, ChallengePublisher
from certdesk.services.registry import Services
from certdesk.store.models import AcmeChallenge
from conftest import ManualClock

TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
THUMBPRINT = "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
KEY_AUTH = f"{TOKEN}.{THUMBPRINT}"


def stored(services: Services) -> int:
    with services.rt.reads() as s:
        return s.scalar(select(func.count()).select_from(AcmeChallenge)) or 0


def test_published_answer_is_looked_up_until_withdrawn(services: Services) -> None:
    publisher = services.challenges
    assert publisher.lookup(TOKEN) is None
    publisher.publish(TOKEN, KEY_AUTH)
    assert publisher.lookup(TOKEN) == KEY_AUTH
    # Another process sees the same answer: the database is the only place it lives.
    other = ChallengePublisher(services.rt)
    assert other.lookup(TOKEN) == KEY_AUTH
    other.withdraw(TOKEN)
    assert publisher.lookup(TOKEN) is None
    assert stored(services) == 0
    publisher.withdraw(TOKEN)  # withdrawing what is gone is no error


def test_publishing_again_replaces_the_answer_and_its_expiry(
    services: Services, clock: ManualClock
) -> None:
    publisher = ChallengePublisher(services.rt, lifetime=timedelta(minutes=10))
    publisher.publish(TOKEN, KEY_AUTH)
    clock.advance(minutes=9)
    other = f"{TOKEN}.{THUMBPRINT[::-1]}"
    publisher.publish(TOKEN, other)  # a resumed order presents its answer again
    clock.advance(minutes=9)
    assert publisher.lookup(TOKEN) == other
    assert stored(services) == 1


@pytest.mark.parametrize(
    ("age", "served"),
    [
        pytest.param(timedelta(0), True, id="R17/http01-fresh"),
        pytest.param(DEFAULT_LIFETIME - timedelta(seconds=1), True, id="R17/http01-last-second"),
        pytest.param(DEFAULT_LIFETIME, False, id="R17/http01-expired-at-lifetime"),
        pytest.param(DEFAULT_LIFETIME + timedelta(days=3), False, id="R17/http01-long-expired"),
    ],
)
def test_an_expired_answer_is_never_served(
    services: Services, clock: ManualClock, age: timedelta, served: bool
) -> None:
    services.challenges.publish(TOKEN, KEY_AUTH)
    clock.advance(seconds=age.total_seconds())
    assert (services.challenges.lookup(TOKEN) == KEY_AUTH) is served


def test_purge_removes_only_expired_answers(services: Services, clock: ManualClock) -> None:
    short = ChallengePublisher(services.rt, lifetime=timedelta(minutes=5))
    short.publish(TOKEN, KEY_AUTH)
    long_token = "x" * 43
    services.challenges.publish(long_token, f"{long_token}.{THUMBPRINT}")
    assert services.challenges.purge_expired() == 0
    clock.advance(minutes=5)
    assert services.challenges.purge_expired() == 1
    assert stored(services) == 1
    assert services.challenges.lookup(long_token) == f"{long_token}.{THUMBPRINT}"


@pytest.mark.parametrize(
    ("token", "key_authorization", "code"),
    [
        pytest.param("short", "short.x", "acme.bad_token", id="R17/http01-token-too-short"),
        pytest.param("a/../../etc" * 3, "x.y", "acme.bad_token", id="R17/http01-token-path"),
        pytest.param("a" * 129, "a" * 129 + ".x", "acme.bad_token", id="R17/http01-token-long"),
        pytest.param(TOKEN, THUMBPRINT, "acme.bad_key_authorization", id="R17/http01-no-dot"),
        pytest.param(
            TOKEN, f"{'b' * 43}.{THUMBPRINT}", "acme.bad_key_authorization", id="R17/http01-other"
        ),
        pytest.param(
            TOKEN, f"{TOKEN}.{THUMBPRINT}\n", "acme.bad_key_authorization", id="R17/http01-newline"
        ),
        pytest.param(
            TOKEN, f"{TOKEN}.{'t' * 300}", "acme.bad_key_authorization", id="R17/http01-huge"
        ),
    ],
)
def test_a_malformed_answer_is_refused_and_not_stored(
    services: Services, token: str, key_authorization: str, code: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        services.challenges.publish(token, key_authorization)
    assert refused.value.code == code
    assert stored(services) == 0


def test_the_publisher_is_an_http01_solvers_publish_and_withdraw(services: Services) -> None:
    solver = Http01Solver(services.challenges.publish, services.challenges.withdraw)
    task = ChallengeTask("www.dmv.ca.gov", False, "http-01", TOKEN, KEY_AUTH)
    solver.present([task])
    assert services.challenges.lookup(TOKEN) == KEY_AUTH
    solver.cleanup([task])
    assert services.challenges.lookup(TOKEN) is None
