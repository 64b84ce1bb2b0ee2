"""dns-persist-01 (draft-ietf-acme-dns-persist, CA/B ballot SC-088) through certdesk's VA
against a real ``named`` (bind9 on loopback, CERTDESK_ACME_VA_DNS_SERVER), with certbot's
``acme`` library as the client.

1. The challenge path: the client publishes ``_validation-persist.NAME`` and answers the
   dns-persist-01 challenge; every accepted form of the record and every refusal.
2. The standing path: certdesk shows the record (``acme persist-record``); once it is in the
   DNS, a new order's authorization is valid at once (no challenge answered) — until the
   record's persistUntil, which no authorization outlives.
3. The warning before persistUntil: mail to the organization's delegated administrators,
   each stage once.
4. keyChange: the records naming the account by a hash of its old key are marked to be
   republished, and the organization is told which, with their new values, once, audited.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import josepy as jose
import pytest
from acme import challenges, client, messages
from sqlalchemy import select

from ca.acme.vendor_world import ZONE, Bind9, running_bind9
from certdesk.core.acme_persist import hashed_account_uri
from certdesk.store.models import AuditRow, Notice
from conftest import BACKENDS, OPERATOR
from world.acme import NS, AcmeWorld, account_key, acme_world, poll_ready, rollover
from world.csr import make_csr

ORG = "dmv"  # self-managed, zone:dmv.ca.gov (the zone bind9 serves)
ISSUER = "certdesk.cdt.ca.gov"


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bind9]:
    with running_bind9(tmp_path_factory.mktemp("named")) as server:
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, named: Bind9
) -> Iterator[AcmeWorld]:
    with acme_world(
        request.param,
        tmp_path_factory.mktemp("acme-persist"),
        acme_va_dns_server=f"127.0.0.1:{named.port}",
        acme_issuer_domain_name=ISSUER,
    ) as w:
        w.services.orgs.create(
            OPERATOR, ORG, "Motor Vehicles", self_managed=True, grants=[f"zone:{ZONE}"]
        )
        w.services.accounts.create(
            OPERATOR,
            "dana",
            name="Dana Admin",
            email="dana@dmv.ca.gov",
            org_code=ORG,
            roles=["delegated_admin"],
            mail=False,
        )
        yield w


@dataclass(frozen=True)
class Ctx:
    """What a record is made of, for one account and one name."""

    world: AcmeWorld
    acme: client.ClientV2
    name: str

    @property
    def account_url(self) -> str:
        return str(self.acme.net.account.uri)

    @property
    def account_id(self) -> int:
        return int(self.account_url.rsplit("/", 1)[1])

    @property
    def thumbprint(self) -> str:
        return jose.b64encode(self.acme.net.key.thumbprint()).decode()

    @property
    def prefix(self) -> str:
        return self.world.base + "/acme/account-hash/"

    def hashed(self, domain: str) -> str:
        return hashed_account_uri(self.prefix, domain, self.thumbprint, self.account_url)

    def at(self, **delta: float) -> int:
        return int((self.world.clock() + timedelta(**delta)).timestamp())


def publish(named: Bind9, name: str, *values: str) -> None:
    named.update(*((f"_validation-persist.{name}", "TXT", f'"{v}"') for v in values))


def persist_challenge(authz: messages.AuthorizationResource) -> messages.ChallengeBody:
    return next(c for c in authz.body.challenges if c.to_partial_json()["type"] == "dns-persist-01")


def answer(acme: client.ClientV2, order: messages.OrderResource) -> messages.OrderResource:
    for authz in order.authorizations:
        acme.answer_challenge(persist_challenge(authz), challenges.DNS01Response())
    return poll_ready(acme, order)


Record = Callable[[Ctx], str | None]

CASES = [
    pytest.param(
        False, lambda c: f"{ISSUER}; accounturi={c.hashed(c.name)}", None,
        id="persist/hashed-account-uri-valid",
    ),
    pytest.param(
        False, lambda c: f"{ISSUER}; accounturi={c.hashed('*')}", None,
        id="persist/hashed-any-domain-uri-valid",
    ),
    pytest.param(
        False, lambda c: f"{ISSUER.upper()};accounturi={c.account_url};future=x", None,
        id="persist/plain-account-url-unknown-param-ignored-valid",
    ),
    pytest.param(
        True, lambda c: f"{ISSUER}; accounturi={c.account_url}; policy=WILDCARD", None,
        id="persist/wildcard-with-policy-valid",
    ),
    pytest.param(
        True, lambda c: f"{ISSUER}; accounturi={c.account_url}", "unauthorized",
        id="persist/wildcard-without-policy-refused",
    ),
    pytest.param(
        False, lambda c: f"otherca.example; accounturi={c.account_url}", "incorrectResponse",
        id="persist/other-issuer-refused",
    ),
    pytest.param(
        False, lambda c: f"{ISSUER}; accounturi={c.world.base}/acme/acct/999999",
        "unauthorized", id="persist/other-account-refused",
    ),
    pytest.param(
        False, lambda c: f"{ISSUER}; accounturi={c.prefix}sha-512/abc", "malformed",
        id="persist/unaccepted-hash-refused",
    ),
    pytest.param(
        False, lambda c: f"{ISSUER}; accounturi={c.account_url}; persistUntil={c.at(hours=-1)}",
        "unauthorized", id="persist/persist-until-passed-refused",
    ),
    pytest.param(
        False, lambda c: f"{ISSUER}; accounturi={c.account_url}; persistUntil=soon",
        "malformed", id="persist/persist-until-not-a-number-refused",
    ),
    pytest.param(False, lambda c: None, "dns", id="persist/no-record-is-dns"),
]  # fmt: skip


@pytest.mark.parametrize(("wildcard", "record", "outcome"), CASES)
def test_persist_challenge_through_the_va(
    world: AcmeWorld, named: Bind9, wildcard: bool, record: Record, outcome: str | None
) -> None:
    acme = world.registered(ORG)
    name = f"p{secrets.token_hex(3)}.{ZONE}"
    order = acme.new_order(make_csr([f"*.{name}" if wildcard else name]))
    assert order.body.status == messages.STATUS_PENDING  # no standing record known yet
    value = record(Ctx(world, acme, name))
    if value is not None:
        publish(named, name, "otherca.example; accounturi=https://elsewhere/1", value)
    order = answer(acme, order)
    authz = acme.poll(order.authorizations[0])[0]
    chall = persist_challenge(authz).to_partial_json()
    if outcome is None:
        assert order.body.status == messages.STATUS_READY, chall
        assert chall["status"] == "valid" and chall["issuerDomainNames"] == [ISSUER]
        # The VA remembers the record it proved: certdesk uses it and watches it from now on.
        known = {r.name: r for r in world.services.acme_persist.records(OPERATOR, ORG)}
        assert known[name].last_valid_at is not None and known[name].wildcard is wildcard
    else:
        assert order.body.status == messages.STATUS_INVALID
        assert chall["error"]["type"] == NS + outcome, chall["error"]


def test_persist_until_bounds_the_authorization(world: AcmeWorld, named: Bind9) -> None:
    acme = world.registered(ORG)
    name = f"until{secrets.token_hex(3)}.{ZONE}"
    order = acme.new_order(make_csr([name]))
    ctx = Ctx(world, acme, name)
    publish(named, name, f"{ISSUER}; accounturi={ctx.account_url}; persistUntil={ctx.at(hours=5)}")
    order = answer(acme, order)
    assert order.body.status == messages.STATUS_READY
    authz = acme.poll(order.authorizations[0])[0]
    assert authz.body.expires is not None
    assert int(authz.body.expires.timestamp()) <= ctx.at(hours=5)


def test_standing_record_proves_new_orders_without_a_challenge(
    world: AcmeWorld, named: Bind9
) -> None:
    acme = world.registered(ORG)
    name = f"standing{secrets.token_hex(3)}.{ZONE}"
    ctx = Ctx(world, acme, name)
    # Before the record is in the DNS: an ordinary pending order.
    until = world.clock() + timedelta(days=3)
    shown = world.services.acme_persist.show(OPERATOR, ctx.account_id, name, persist_until=until)
    assert shown.txt_value == (
        f"{ISSUER}; accounturi={ctx.hashed(name)}; persistUntil={int(until.timestamp())}"
    )
    assert acme.new_order(make_csr([name])).body.status == messages.STATUS_PENDING
    # Published: the next order is ready at once, proved by the record (draft §4.4).
    publish(named, name, shown.txt_value)
    order = acme.new_order(make_csr([name]))
    assert order.body.status == messages.STATUS_READY
    proved = [c.to_partial_json() for c in order.authorizations[0].body.challenges]
    assert [(c["type"], c["status"]) for c in proved] == [("dns-persist-01", "valid")]
    order = acme.finalize_order(order, datetime.now() + timedelta(seconds=30))
    assert "BEGIN CERTIFICATE" in order.fullchain_pem
    saved = world.clock.now
    try:
        # After persistUntil neither the record nor the earlier proof serves (no reuse).
        world.clock.advance(days=3, seconds=1)
        assert acme.new_order(make_csr([name])).body.status == messages.STATUS_PENDING
    finally:
        world.clock.now = saved


def test_standing_record_warns_administrators_before_it_ends(
    world: AcmeWorld, named: Bind9
) -> None:
    acme = world.registered(ORG)
    name = f"warn{secrets.token_hex(3)}.{ZONE}"
    ctx = Ctx(world, acme, name)
    now = world.clock()
    until = now + timedelta(days=40)
    shown = world.services.acme_persist.show(OPERATOR, ctx.account_id, name, persist_until=until)
    persist = world.services.acme_persist

    def mails() -> list[Notice]:
        with world.services.rt.reads() as s:
            return list(
                s.scalars(select(Notice).where(Notice.reason.like(f"acme.persist#{shown.id}@%")))
            )

    persist.warn(now)
    assert mails() == []  # 40 days out: nothing yet
    assert persist.warn(now + timedelta(days=11)) >= 1
    first = mails()
    assert [(m.contact_email, m.reason.rsplit("-", 1)[1]) for m in first] == [
        ("dana@dmv.ca.gov", "30d")
    ]
    assert shown.txt_name in first[0].body_text and "PST" in first[0].body_text
    assert "R17" not in first[0].body_text  # plain language
    persist.warn(now + timedelta(days=12))
    assert len(mails()) == 1  # each stage once
    persist.warn(until - timedelta(days=6))
    assert sorted(m.reason.rsplit("-", 1)[1] for m in mails()) == ["30d", "7d"]
    persist.warn(until + timedelta(seconds=1))
    assert len(mails()) == 2  # lapsed: nothing more to warn about


def test_r17_key_change_tells_the_organization_which_records_to_republish(
    world: AcmeWorld, named: Bind9
) -> None:
    acme = world.registered(ORG)
    name = f"rekey{secrets.token_hex(3)}.{ZONE}"
    before = Ctx(world, acme, name)
    persist = world.services.acme_persist
    shown = persist.show(OPERATOR, before.account_id, name)
    assert shown.republish_since is None
    publish(named, name, shown.txt_value)
    # RFC 8555 §7.3.5: the account's key changes; the hashed accounturi changes with it.
    new_key = account_key()
    assert rollover(world, acme, new_key).status_code == 200
    acme.net.key = new_key
    after = Ctx(world, acme, name)
    [view] = [r for r in persist.records(OPERATOR, ORG) if r.name == name]
    assert view.republish_since == world.clock()
    assert view.txt_value == f"{ISSUER}; accounturi={after.hashed(name)}" != shown.txt_value
    # The organization's delegated administrator and the account's contact are told once,
    # with the old and the new value, in plain words; the event is audited.
    with world.services.rt.reads() as s:
        mails = list(
            s.scalars(select(Notice).where(Notice.reason.like(f"acme.rekey#{before.account_id}@%")))
        )
        events = list(
            s.scalars(
                select(AuditRow).where(
                    AuditRow.action == "acme.persist.republish",
                    AuditRow.object_id == str(before.account_id),
                )
            )
        )
    assert sorted(m.contact_email for m in mails) == ["dana@dmv.ca.gov", "ops@alpha.ca.gov"]
    for mail in mails:
        assert shown.txt_value in mail.body_text and view.txt_value in mail.body_text
        assert "PST" in mail.body_text and "R17" not in mail.body_text
    assert len(events) == 1
    # The old record no longer proves the name; the republished one does, and the mark goes.
    assert acme.new_order(make_csr([name])).body.status == messages.STATUS_PENDING
    named.update((f"_validation-persist.{name}", "TXT", ""))
    publish(named, name, view.txt_value)
    assert acme.new_order(make_csr([name])).body.status == messages.STATUS_READY
    [view] = [r for r in persist.records(OPERATOR, ORG) if r.name == name]
    assert view.republish_since is None
