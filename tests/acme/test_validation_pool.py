"""Validations run in the bounded validation pool, outside every request transaction
(services/acme/validation.py, issue 13): the client's answer to a challenge returns while
the VA is still at work, the database is not held meanwhile (another client orders and
another challenge is answered), and the result is recorded once the VA is done.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime

import pytest
from acme import challenges, messages

from certdesk.core.acme_states import ChallengeType
from certdesk.services.acme.validation import ValidationTask, Validator
from conftest import BACKENDS
from world.acme import AcmeWorld, acme_world, poll_ready
from world.csr import make_csr


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AcmeWorld]:
    with acme_world(request.param, tmp_path_factory.mktemp("acme-pool")) as w:
        yield w


class Held:
    """A VA that holds every validation until released, noting the thread it ran on."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.threads: list[str] = []

    def validate(self, task: ValidationTask) -> datetime | None:
        self.threads.append(threading.current_thread().name)
        self.started.set()
        assert self.release.wait(20), "never released"
        return None


def test_validation_runs_in_the_pool_outside_the_request(world: AcmeWorld) -> None:
    held = Held()
    validators: dict[ChallengeType, Validator] = (
        world.services.acme_orders.authorizations._validators
    )
    saved = validators[ChallengeType.HTTP01]
    validators[ChallengeType.HTTP01] = held
    try:
        acme = world.registered()
        order = acme.new_order(make_csr(["pool.alpha.ca.gov"]))
        chall = next(
            c
            for c in order.authorizations[0].body.challenges
            if isinstance(c.chall, challenges.HTTP01)
        )
        answered = acme.answer_challenge(chall, chall.response(acme.net.key))
        # The answer came back while the VA holds the validation.
        assert answered.body.status == messages.STATUS_PROCESSING
        assert held.started.wait(10)
        # Nothing is locked meanwhile: another account orders (a write transaction).
        other = world.registered()
        placed = other.new_order(make_csr(["other.alpha.ca.gov"]))
        assert placed.body.status == messages.STATUS_PENDING
        assert acme.poll(order.authorizations[0])[0].body.status == messages.STATUS_PENDING
        held.release.set()
        assert poll_ready(acme, order).body.status == messages.STATUS_READY
        assert held.threads and all(t.startswith("certdesk-va") for t in held.threads)
    finally:
        held.release.set()
        validators[ChallengeType.HTTP01] = saved
