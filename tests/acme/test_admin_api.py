"""/api/v1/acme: who may create, list and revoke EAB keys and list and deactivate ACME accounts
(R17, R2, R10, R11), every principal against every action.

Cert services act on any organization; a delegated administrator on its own only, and another
organization's key or account answers exactly like an unknown one (404, same code, same
wording), so it cannot tell one exists; the auditor reads; a requester does nothing. A refused
call changes nothing (counts of keys, accounts and audit events); an allowed change is one
audit event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select

from certdesk.store.models import AcmeAccount, AcmeEabKey, AcmePersistRecord
from conftest import BACKENDS, OPERATOR
from world.acme import register_through
from world.api import ORG_A, ORG_B, ORG_M, World, bearer, build_world, counts, delta
from world.refusals import assert_problem

API = "/api/v1/acme"


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with build_world(request.param, tmp_path_factory.mktemp("acme-admin")) as w:
        yield w


PRINCIPALS = ("operator", "auditor", "requester-A", "delegated_admin-A", "delegated_admin-M")


def acme_counts(w: World) -> Counter[str]:
    out = counts(w.services)
    with w.services.rt.reads() as s:
        out["eab"] = s.scalar(select(func.count()).select_from(AcmeEabKey)) or 0
        out["eab.revoked"] = (
            s.scalar(
                select(func.count())
                .select_from(AcmeEabKey)
                .where(AcmeEabKey.revoked_at.is_not(None))
            )
            or 0
        )
        out["persist"] = s.scalar(select(func.count()).select_from(AcmePersistRecord)) or 0
        out["accounts.valid"] = (
            s.scalar(
                select(func.count()).select_from(AcmeAccount).where(AcmeAccount.status == "valid")
            )
            or 0
        )
    return +out


def fresh_key(w: World, org: str) -> str:
    return w.services.acme_eab.create(OPERATOR, org).kid


def fresh_account(w: World, org: str) -> int:
    new = w.services.acme_eab.create(OPERATOR, org)
    assert w.client is not None
    account_id, _ = register_through(
        w.client, w.services.rt.settings.base_url, new.kid, new.hmac_key
    )
    return account_id


@dataclass
class Call:
    method: str
    url: str
    json: Any = None


@dataclass
class Action:
    name: str
    prepare: Callable[[World], Call]
    expect: dict[str, int | str]
    effect: dict[str, int] = field(default_factory=dict)
    check: Callable[[World, str, Any], None] | None = None


F = "403:auth.forbidden"
UNSEEN = "404:org.unknown"
NO_KEY = "404:acme.eab_unknown"
NO_ACCOUNT = "404:acme.account_unknown"


def _create(org: str) -> Callable[[World], Call]:
    return lambda w: Call("POST", f"{API}/eab", {"org": org, "expires_days": 5})


def _revoke(org: str | None) -> Callable[[World], Call]:
    def prepare(w: World) -> Call:
        kid = fresh_key(w, org) if org else "kid-" + "0" * 24
        return Call("DELETE", f"{API}/eab/{kid}")

    return prepare


def _deactivate(org: str | None) -> Callable[[World], Call]:
    def prepare(w: World) -> Call:
        account_id = fresh_account(w, org) if org else 999999
        return Call("POST", f"{API}/accounts/{account_id}/deactivate")

    return prepare


def _persist(org: str | None, domain: str) -> Callable[[World], Call]:
    def prepare(w: World) -> Call:
        account_id = fresh_account(w, org) if org else 999999
        body = {"domain": domain, "persist_until": "2027-03-01T00:00:00Z"}
        return Call("POST", f"{API}/accounts/{account_id}/persist-record", body)

    return prepare


def _record_shown(w: World, who: str, body: Any) -> None:
    assert body["txt_name"] == "_validation-persist.www.alpha.ca.gov"
    assert body["txt_value"].startswith("127.0.0.1; accounturi=http")
    assert "persistUntil=1803859200" in body["txt_value"]  # 2027-03-01T00:00:00Z


def _after(w: World, make: Callable[[World, str], object], call: Call) -> Call:
    """``call``, once ``make`` gave both self-managed organizations something to list."""
    make(w, ORG_A)
    make(w, ORG_B)
    return call


def _lists() -> Callable[[World, str, Any], None]:
    def check(w: World, who: str, body: Any) -> None:
        orgs = {item["org"] for item in body}
        if who in ("operator", "auditor"):
            assert {ORG_A, ORG_B} <= orgs
        elif who == "delegated_admin-A":
            assert orgs == {ORG_A}
        else:
            assert orgs == set()  # the managed organization has none
        assert all("hmac_key" not in item for item in body)

    return check


def _shown_once(w: World, who: str, body: Any) -> None:
    assert len(body["hmac_key"]) == 43  # 256 bits, base64url
    assert w.client is not None
    listed = w.client.get(f"{API}/eab", headers=bearer(w.tokens["operator"])).json()
    assert body["kid"] in {k["kid"] for k in listed}
    assert all(body["hmac_key"] not in str(k) for k in listed)


ACTIONS = [
    Action(
        "R17/create-eab-own-org",
        _create(ORG_A),
        {
            "operator": 201,
            "auditor": F,
            "requester-A": F,
            "delegated_admin-A": 201,
            "delegated_admin-M": UNSEEN,
        },
        effect={"eab": 1},
        check=_shown_once,
    ),
    Action(
        "R17/create-eab-other-org",
        _create(ORG_B),
        {
            "operator": 201,
            "auditor": F,
            "requester-A": UNSEEN,
            "delegated_admin-A": UNSEEN,
            "delegated_admin-M": UNSEEN,
        },
        effect={"eab": 1},
    ),
    Action(
        "R11/create-eab-managed-org",
        _create(ORG_M),
        {
            "operator": "403:org.managed",
            "auditor": F,
            "requester-A": UNSEEN,
            "delegated_admin-A": UNSEEN,
            "delegated_admin-M": "403:org.managed",
        },
    ),
    Action(
        "R17/list-eab",
        lambda w: _after(w, fresh_key, Call("GET", f"{API}/eab")),
        {
            "operator": 200,
            "auditor": 200,
            "requester-A": F,
            "delegated_admin-A": 200,
            "delegated_admin-M": 200,
        },
        check=_lists(),
    ),
    Action(
        "R17/list-eab-other-org",
        lambda w: Call("GET", f"{API}/eab?org={ORG_B}"),
        {
            "operator": 200,
            "auditor": 200,
            "requester-A": UNSEEN,
            "delegated_admin-A": UNSEEN,
            "delegated_admin-M": UNSEEN,
        },
    ),
    Action(
        "R17/revoke-eab-own-org",
        _revoke(ORG_A),
        {
            "operator": 200,
            "auditor": F,
            "requester-A": F,
            "delegated_admin-A": 200,
            "delegated_admin-M": NO_KEY,
        },
        effect={"eab.revoked": 1},
    ),
    Action(
        "R17/revoke-eab-other-org",
        _revoke(ORG_B),
        {
            "operator": 200,
            "auditor": F,
            "requester-A": NO_KEY,
            "delegated_admin-A": NO_KEY,
            "delegated_admin-M": NO_KEY,
        },
        effect={"eab.revoked": 1},
    ),
    Action(
        "R17/revoke-eab-unknown",
        _revoke(None),
        {who: NO_KEY for who in PRINCIPALS},
    ),
    Action(
        "R17/list-accounts",
        lambda w: _after(w, fresh_account, Call("GET", f"{API}/accounts")),
        {
            "operator": 200,
            "auditor": 200,
            "requester-A": F,
            "delegated_admin-A": 200,
            "delegated_admin-M": 200,
        },
        check=_lists(),
    ),
    Action(
        "R17/list-accounts-other-org",
        lambda w: Call("GET", f"{API}/accounts?org={ORG_B}"),
        {
            "operator": 200,
            "auditor": 200,
            "requester-A": UNSEEN,
            "delegated_admin-A": UNSEEN,
            "delegated_admin-M": UNSEEN,
        },
    ),
    Action(
        "R17/deactivate-account-own-org",
        _deactivate(ORG_A),
        {
            "operator": 200,
            "auditor": F,
            "requester-A": F,
            "delegated_admin-A": 200,
            "delegated_admin-M": NO_ACCOUNT,
        },
        effect={"accounts.valid": -1},
    ),
    Action(
        "R17/deactivate-account-other-org",
        _deactivate(ORG_B),
        {
            "operator": 200,
            "auditor": F,
            "requester-A": NO_ACCOUNT,
            "delegated_admin-A": NO_ACCOUNT,
            "delegated_admin-M": NO_ACCOUNT,
        },
        effect={"accounts.valid": -1},
    ),
    Action(
        "R17/persist-record-own-org",
        _persist(ORG_A, "www.alpha.ca.gov"),
        {
            "operator": 200,
            "auditor": F,
            "requester-A": F,
            "delegated_admin-A": 200,
            "delegated_admin-M": NO_ACCOUNT,
        },
        effect={"persist": 1},
        check=_record_shown,
    ),
    Action(
        "R17/persist-record-other-org",
        _persist(ORG_B, "www.bravo.ca.gov"),
        {
            "operator": 200,
            "auditor": F,
            "requester-A": NO_ACCOUNT,
            "delegated_admin-A": NO_ACCOUNT,
            "delegated_admin-M": NO_ACCOUNT,
        },
        effect={"persist": 1},
    ),
    Action(
        "R2/persist-record-name-outside-grants",
        _persist(ORG_A, "www.bravo.ca.gov"),
        {
            "operator": "400:name.not_granted",
            "auditor": F,
            "requester-A": F,
            "delegated_admin-A": "400:name.not_granted",
            "delegated_admin-M": NO_ACCOUNT,
        },
    ),
    Action(
        "R17/persist-record-unknown-account",
        _persist(None, "www.alpha.ca.gov"),
        {who: NO_ACCOUNT for who in PRINCIPALS},
    ),
    Action(
        "R17/deactivate-account-unknown",
        _deactivate(None),
        {who: NO_ACCOUNT for who in PRINCIPALS},
    ),
]


def _cells() -> Iterator[Any]:
    for action in ACTIONS:
        for who in PRINCIPALS:
            yield pytest.param(action, who, action.expect[who], id=f"{action.name}/{who}")


def test_every_action_has_an_expectation_for_every_principal() -> None:
    for action in ACTIONS:
        assert set(action.expect) == set(PRINCIPALS), action.name


@pytest.mark.parametrize(("action", "who", "expected"), list(_cells()))
def test_matrix(world: World, action: Action, who: str, expected: int | str) -> None:
    assert world.client is not None
    call = action.prepare(world)
    before = acme_counts(world)
    resp = world.client.request(
        call.method, call.url, json=call.json, headers=bearer(world.tokens[who])
    )
    changed = delta(before, acme_counts(world))
    if isinstance(expected, int):
        assert resp.status_code == expected, resp.text
        assert changed == ({**action.effect, "audit": 1} if action.effect else {})
        if action.check is not None:
            action.check(world, who, resp.json())
        return
    status, code = expected.split(":", 1)
    assert_problem(resp, int(status), code)
    assert changed == {}, f"a refused call changed {changed}"


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("eab", id="R17/other-org-eab-key-looks-unknown"),
        pytest.param("account", id="R17/other-org-account-looks-unknown"),
    ],
)
def test_other_org_object_looks_like_an_unknown_one(world: World, kind: str) -> None:
    """A delegated administrator cannot tell another organization's key or account from one
    that does not exist: the same status, code and wording."""
    assert world.client is not None
    headers = bearer(world.tokens["delegated_admin-A"])
    if kind == "eab":
        real, unknown = fresh_key(world, ORG_B), "kid-" + "f" * 24
        calls = [("DELETE", f"{API}/eab/{kid}", kid) for kid in (real, unknown)]
    else:
        real_id, unknown_id = fresh_account(world, ORG_B), 987654
        calls = [("POST", f"{API}/accounts/{n}/deactivate", str(n)) for n in (real_id, unknown_id)]
    answers = []
    for method, url, ident in calls:
        body = world.client.request(method, url, headers=headers).json()
        answers.append((body["status"], body["code"], body["detail"].replace(ident, "<id>")))
    assert answers[0] == answers[1]
    assert answers[0][0] == 404
