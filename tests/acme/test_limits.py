"""Rate limits, authorization reuse and key roll-over of the ACME server (issue 13, R17), over
real HTTP with certbot's ``acme`` library on SQLite and PostgreSQL.

- Rate limits per account and per organization (new orders per hour, pending
  authorizations), answered ``rateLimited`` (429) with ``Retry-After`` (RFC 8555 §6.6), and
  counted in the database: a second set of services on the same database (another process)
  sees the same counts.
- Authorization reuse (RFC 8555 §7.1.4) within CERTDESK_ACME_AUTHZ_REUSE_DAYS, never across
  accounts, never a plain name's proof for a wildcard.
- keyChange (RFC 8555 §7.3.5).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import josepy as jose
import pytest
import requests
from acme import messages

from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from conftest import BACKENDS, OPERATOR
from world.acme import (
    AcmeWorld,
    account_key,
    acme_world,
    nonce,
    poll_ready,
    post,
    problem,
    rollover,
    solve_http01,
)
from world.csr import make_csr

LIMITS = {
    "acme_orders_per_hour_account": 3,
    "acme_orders_per_hour_org": 5,
    "acme_pending_authz_account": 4,
    "acme_pending_authz_org": 6,
}
_codes = itertools.count(1)


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AcmeWorld]:
    with acme_world(request.param, tmp_path_factory.mktemp("acme-limits"), **LIMITS) as w:
        yield w


def fresh_org(world: AcmeWorld) -> str:
    """An organization of its own per test, so that organization counts start at zero."""
    code = f"lim{next(_codes)}"
    world.services.orgs.create(
        OPERATOR, code, code.upper(), self_managed=True, grants=[f"zone:{code}.ca.gov"]
    )
    return code


def order(world: AcmeWorld, acme: Any, *names: str) -> requests.Response:
    return post(
        world,
        "/acme/new-order",
        {"identifiers": [{"type": "dns", "value": n} for n in names]},
        acme.net.key,
        kid=acme.net.account.uri,
    )


def limited(resp: requests.Response, most_seconds: int) -> int:
    """A rateLimited problem whose Retry-After is at most ``most_seconds`` (+1 rounding)."""
    problem(resp, 429, "rateLimited")
    retry = int(resp.headers["Retry-After"])
    assert 0 < retry <= most_seconds + 1, retry
    return retry


# --- rate limits ------------------------------------------------------------------------------


def test_limits_account_orders_per_hour(world: AcmeWorld) -> None:
    org = fresh_org(world)
    acme = world.registered(org)
    for i in range(3):
        assert order(world, acme, f"o{i}.{org}.ca.gov").status_code == 201
    world.clock.advance(minutes=10)
    try:
        retry = limited(order(world, acme, f"o3.{org}.ca.gov"), 3600)
        assert 3000 <= retry <= 3001  # the oldest order leaves the hour in 50 minutes
        # Another account of the organization is not held back by this account's limit.
        assert order(world, world.registered(org), f"p.{org}.ca.gov").status_code == 201
        world.clock.advance(seconds=retry)
        assert order(world, acme, f"o4.{org}.ca.gov").status_code == 201
    finally:
        world.clock.advance(seconds=-retry, minutes=-10)


def test_limits_organization_orders_per_hour(world: AcmeWorld) -> None:
    org = fresh_org(world)
    first, second = world.registered(org), world.registered(org)
    for i in range(3):
        assert order(world, first, f"a{i}.{org}.ca.gov").status_code == 201
    for i in range(2):
        assert order(world, second, f"b{i}.{org}.ca.gov").status_code == 201
    limited(order(world, world.registered(org), f"c.{org}.ca.gov"), 3600)
    # Another organization is not affected.
    other = fresh_org(world)
    assert order(world, world.registered(other), f"x.{other}.ca.gov").status_code == 201


def test_limits_account_pending_authorizations(world: AcmeWorld) -> None:
    org = fresh_org(world)
    acme = world.registered(org)
    resp = order(world, acme, *[f"n{i}.{org}.ca.gov" for i in range(4)])
    assert resp.status_code == 201
    # One more pending authorization would be the fifth: refused until the first expires
    # (authorizations wait 7 days) or the client gives some up.
    limited(order(world, acme, f"n4.{org}.ca.gov"), 7 * 86400 + 1)
    first_authz = resp.json()["authorizations"][0]
    gave_up = post(
        world,
        first_authz.removeprefix(world.base),
        {"status": "deactivated"},
        acme.net.key,
        kid=acme.net.account.uri,
    )
    assert gave_up.status_code == 200, gave_up.text
    assert order(world, acme, f"n4.{org}.ca.gov").status_code == 201


def test_limits_organization_pending_authorizations(world: AcmeWorld) -> None:
    org = fresh_org(world)
    first, second = world.registered(org), world.registered(org)
    assert order(world, first, *[f"f{i}.{org}.ca.gov" for i in range(4)]).status_code == 201
    limited(order(world, second, *[f"s{i}.{org}.ca.gov" for i in range(3)]), 7 * 86400 + 1)
    assert order(world, second, *[f"s{i}.{org}.ca.gov" for i in range(2)]).status_code == 201


def test_limits_are_shared_by_every_process(world: AcmeWorld) -> None:
    """The counts live in the database: services opened separately on the same database
    (as another ``serve`` process would) refuse the order this world's server just filled."""
    org = fresh_org(world)
    acme = world.registered(org)
    for i in range(3):
        assert order(world, acme, f"m{i}.{org}.ca.gov").status_code == 201
    other = Services(Runtime.open(world.services.rt.settings, world.clock))
    try:
        account = other.acme_accounts.get(int(acme.net.account.uri.rsplit("/", 1)[1]))
        from certdesk.errors import Conflict

        with pytest.raises(Conflict) as exc:
            other.acme_orders.new_order(account, [f"m3.{org}.ca.gov"])
        assert exc.value.code == "acme.rate_limited"
    finally:
        other.rt.close()


# --- authorization reuse (§7.1.4, SC-081) -----------------------------------------------------


def proved(world: AcmeWorld, acme: Any, *names: str) -> None:
    first = acme.new_order(make_csr(list(names)))
    solve_http01(world, acme, first)
    assert poll_ready(acme, first).body.status == messages.STATUS_READY


def test_reuse_within_the_period_is_ready_at_once(world: AcmeWorld) -> None:
    org = fresh_org(world)
    acme = world.registered(org)
    proved(world, acme, f"www.{org}.ca.gov")
    world.clock.advance(days=9)
    try:
        again = acme.new_order(make_csr([f"www.{org}.ca.gov"]))
        assert again.body.status == messages.STATUS_READY
        assert again.authorizations[0].body.status == messages.STATUS_VALID
        # Another account of the same organization proves the name itself.
        other = world.registered(org).new_order(make_csr([f"www.{org}.ca.gov"]))
        assert other.body.status == messages.STATUS_PENDING
        # A plain name's proof is not a wildcard's.
        wild = acme.new_order(make_csr([f"*.www.{org}.ca.gov"]))
        assert wild.body.status == messages.STATUS_PENDING
    finally:
        world.clock.advance(days=-9)


def test_reuse_ends_after_the_period(world: AcmeWorld) -> None:
    org = fresh_org(world)
    acme = world.registered(org)
    proved(world, acme, f"old.{org}.ca.gov")
    world.clock.advance(days=10, seconds=1)
    try:
        again = acme.new_order(make_csr([f"old.{org}.ca.gov"]))
        assert again.body.status == messages.STATUS_PENDING
    finally:
        world.clock.advance(days=-10, seconds=-1)


# --- keyChange (§7.3.5) -----------------------------------------------------------------------


def test_7_3_5_key_change_rolls_the_account_over(world: AcmeWorld) -> None:
    acme = world.registered(fresh_org(world))
    old, new = acme.net.key, account_key("ec384")
    resp = rollover(world, acme, new)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Location"] == acme.net.account.uri
    # The old key no longer speaks for the account; the new one does.
    problem(
        post(world, "/acme/new-account", {"onlyReturnExisting": True}, old),
        400,
        "accountDoesNotExist",
    )
    found = post(world, "/acme/new-account", {"onlyReturnExisting": True}, new, alg=jose.ES384)
    assert found.status_code == 200 and found.headers["Location"] == acme.net.account.uri


def test_7_3_5_after_a_key_change_the_old_key_is_refused_and_leaves_its_nonce_unused(
    world: AcmeWorld,
) -> None:
    acme = world.registered(fresh_org(world))
    old, new, kid = acme.net.key, account_key("ec384"), acme.net.account.uri
    orders = f"/acme/acct/{kid.rsplit('/', 1)[1]}/orders"
    # The server has verified this account under its old key (and keeps that key at hand).
    assert post(world, orders, None, old, kid=kid).status_code == 200
    assert rollover(world, acme, new).status_code == 200
    kept = nonce(world)
    problem(post(world, orders, None, old, kid=kid, use_nonce=kept), 400, "malformed")
    # §6.5: a refused signature burns no nonce; the new key speaks for the account.
    resp = post(world, orders, None, new, kid=kid, alg=jose.ES384, use_nonce=kept)
    assert resp.status_code == 200, resp.text
    problem(
        post(world, orders, None, new, kid=kid, alg=jose.ES384, use_nonce=kept), 400, "badNonce"
    )


@pytest.mark.parametrize(
    ("tamper", "status", "kind"),
    [
        pytest.param(
            {"account": "https://elsewhere/acct/1"}, 403, "unauthorized", id="7.3.5/other-account"
        ),
        pytest.param(
            {"url": "https://elsewhere/key-change"}, 400, "malformed", id="7.3.5/inner-url-differs"
        ),
        pytest.param(
            {"signer": account_key()}, 400, "malformed", id="7.3.5/inner-not-signed-by-new-key"
        ),
        pytest.param({"with_jwk": False}, 400, "malformed", id="7.3.5/inner-without-jwk"),
    ],
)
def test_7_3_5_key_change_refusals(
    world: AcmeWorld, tamper: dict[str, Any], status: int, kind: str
) -> None:
    org = fresh_org(world)
    acme = world.registered(org)
    problem(rollover(world, acme, account_key(), **tamper), status, kind)
    # The account still answers to its old key.
    assert order(world, acme, f"still.{org}.ca.gov").status_code == 201


def test_7_3_5_key_of_another_account_is_a_conflict(world: AcmeWorld) -> None:
    org = fresh_org(world)
    acme, other = world.registered(org), world.registered(org)
    resp = rollover(world, acme, other.net.key)
    problem(resp, 409, "malformed")
    assert resp.headers["Location"] == other.net.account.uri


# --- Retry-After on a processing order (§7.4) --------------------------------------------------


def test_7_4_processing_order_says_when_to_look_again(world: AcmeWorld) -> None:
    """Finalization here is synchronous, so ``processing`` lasts only while the certificate is
    signed; the order is put in that state as a finalization in another process would."""
    from certdesk.core.acme_states import OrderStatus
    from certdesk.store import acme_server as acme_store

    org = fresh_org(world)
    acme = world.registered(org)
    resp = order(world, acme, f"proc.{org}.ca.gov")
    order_url = resp.headers["Location"]
    with world.services.rt.sessions.begin() as s:
        assert acme_store.mark_order(
            s,
            int(order_url.rsplit("/", 1)[1]),
            OrderStatus.PROCESSING,
            expect=[OrderStatus.PENDING],
        )
    polled = post(
        world, order_url.removeprefix(world.base), None, acme.net.key, kid=acme.net.account.uri
    )
    assert polled.json()["status"] == "processing"
    assert polled.headers["Retry-After"] == "1"
    pending = post(
        world,
        resp.json()["authorizations"][0].removeprefix(world.base),
        None,
        acme.net.key,
        kid=acme.net.account.uri,
    )
    assert "Retry-After" not in pending.headers
