"""The dns-persist-01 record's rules (core/acme_persist.py, draft-ietf-acme-dns-persist):
its syntax (an RFC 8659 issue-value), which record proves an authorization, the hashed
account URI, and when the warnings before persistUntil are due."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from certdesk.core.acme_persist import (
    RecordRefused,
    account_uris,
    hashed_account_uri,
    parse_record,
    record_value,
    satisfying,
    warning_due,
)
from certdesk.core.acme_states import b64url

NOW = datetime(2026, 12, 1, tzinfo=UTC)
URL = "https://desk.example/acme/acct/7"
PREFIX = "https://desk.example/acme/account-hash/"
THUMB = "A" * 43
ACCOUNTS = account_uris(PREFIX, "www.dmv.ca.gov", THUMB, URL)


def test_hashed_account_uri_follows_the_draft() -> None:
    domain = b"www.dmv.ca.gov"
    digest = hashlib.sha256(bytes([len(domain)]) + domain + THUMB.encode() + URL.encode())
    expected = PREFIX + "sha-256/" + b64url(digest.digest())
    assert hashed_account_uri(PREFIX, "www.dmv.ca.gov", THUMB, URL) == expected
    assert expected in ACCOUNTS and URL in ACCOUNTS
    assert hashed_account_uri(PREFIX, "*", THUMB, URL) in ACCOUNTS


@pytest.mark.parametrize(
    ("text", "issuer", "accounturi", "wildcard", "until"),
    [
        pytest.param("ca.example; accounturi=u", "ca.example", "u", False, None,
                     id="persist/basic"),
        pytest.param(
            " CA.Example ;accounturi=u;policy=Wildcard; persistUntil=1767225600 ",
            "ca.example", "u", True, datetime(2026, 1, 1, tzinfo=UTC), id="persist/spaces-and-case",
        ),
        pytest.param("ca.example; accounturi=u; x-new=1", "ca.example", "u", False, None,
                     id="persist/unknown-tag-ignored"),
        pytest.param("ca.example; accounturi=u; policy=other", "ca.example", "u", False, None,
                     id="persist/other-policy-is-none"),
        pytest.param("ca.example;", "ca.example", None, False, None, id="persist/no-params"),
    ],
)  # fmt: skip
def test_parse_record(
    text: str, issuer: str, accounturi: str | None, wildcard: bool, until: datetime | None
) -> None:
    record = parse_record(text)
    assert (record.issuer, record.accounturi, record.wildcard, record.persist_until) == (
        issuer,
        accounturi,
        wildcard,
        until,
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("; accounturi=u", id="persist/no-issuer"),
        pytest.param("ca.example; accounturi", id="persist/tag-without-value"),
        pytest.param("ca.example; accounturi=u; accounturi=v", id="persist/duplicate-tag"),
        pytest.param("ca.example; persistUntil=-5", id="persist/negative-until"),
        pytest.param("ca.example; persistUntil=12x", id="persist/until-not-integer"),
        pytest.param("ca.example; accounturi=a b", id="persist/space-in-value"),
    ],
)
def test_malformed_records_are_refused(text: str) -> None:
    with pytest.raises(RecordRefused) as exc:
        parse_record(text)
    assert exc.value.acme_type == "malformed"


def _judge(values: list[str], *, wildcard: bool = False) -> str | None:
    try:
        satisfying(values, issuers=("ca.example",), accounts=ACCOUNTS, wildcard=wildcard, now=NOW)
    except RecordRefused as exc:
        return exc.acme_type
    return None


LATER = int((NOW + timedelta(days=1)).timestamp())
EARLIER = int((NOW - timedelta(seconds=1)).timestamp())


@pytest.mark.parametrize(
    ("values", "wildcard", "outcome"),
    [
        pytest.param([f"ca.example; accounturi={URL}"], False, None, id="persist/plain-url"),
        pytest.param([f"other.example; accounturi={URL}", f"ca.example; accounturi={URL}"],
                     False, None, id="persist/other-ca-record-ignored"),
        pytest.param([f"ca.example; accounturi={URL}; persistUntil={LATER}"], False, None,
                     id="persist/until-ahead"),
        pytest.param([f"ca.example; accounturi={URL}; persistUntil={EARLIER}"], False,
                     "unauthorized", id="persist/until-passed"),
        pytest.param([f"ca.example; accounturi={URL}"], True, "unauthorized",
                     id="persist/wildcard-needs-policy"),
        pytest.param([f"ca.example; accounturi={URL}; policy=wildcard"], True, None,
                     id="persist/wildcard-with-policy"),
        pytest.param(["ca.example; accounturi=https://desk.example/acme/acct/8"], False,
                     "unauthorized", id="persist/other-account"),
        pytest.param([f"ca.example; accounturi={PREFIX}sha-384/abc"], False, "malformed",
                     id="persist/hash-not-accepted"),
        pytest.param(["ca.example; policy=wildcard"], False, "malformed",
                     id="persist/no-accounturi"),
        pytest.param([f"other.example; accounturi={URL}"], False, "incorrectResponse",
                     id="persist/no-record-of-this-ca"),
        pytest.param([f"ca.example; accounturi={URL}; persistUntil=x",
                      f"ca.example; accounturi={URL}"], False, None,
                     id="persist/one-good-record-among-bad-ones"),
    ],
)  # fmt: skip
def test_satisfying(values: list[str], wildcard: bool, outcome: str | None) -> None:
    assert _judge(values, wildcard=wildcard) == outcome


def test_record_value_round_trips() -> None:
    until = datetime(2027, 6, 30, tzinfo=UTC)
    text = record_value("ca.example", URL, wildcard=True, persist_until=until)
    assert text == f"ca.example; accounturi={URL}; policy=wildcard; persistUntil=1814313600"
    record = parse_record(text)
    assert record.wildcard and record.persist_until == until


UNTIL = NOW + timedelta(days=40)


@pytest.mark.parametrize(
    ("now", "warned", "due"),
    [
        pytest.param(NOW, None, None, id="persist-warn/40-days-out-none"),
        pytest.param(UNTIL - timedelta(days=30), None, 30, id="persist-warn/30-days"),
        pytest.param(UNTIL - timedelta(days=20), 30, None, id="persist-warn/30-sent-once"),
        pytest.param(UNTIL - timedelta(days=6), 30, 7, id="persist-warn/7-days"),
        pytest.param(UNTIL - timedelta(hours=2), None, 1, id="persist-warn/late-sends-nearest"),
        pytest.param(UNTIL - timedelta(hours=2), 1, None, id="persist-warn/1-sent-once"),
        pytest.param(UNTIL, None, None, id="persist-warn/lapsed-none"),
    ],
)
def test_warning_due(now: datetime, warned: int | None, due: int | None) -> None:
    assert warning_due(UNTIL, warned, now) == due
    assert warning_due(None, None, now) is None
