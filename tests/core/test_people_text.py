"""R19: what people read — times on the state's wall clock with the zone shown, one sentence
per error code and state, audit events in words, CSV for spreadsheets — and R8's overlap."""

from __future__ import annotations

import ast
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from certdesk.core import audit_text, messages
from certdesk.core.exports import CASE_COLUMNS, to_csv
from certdesk.core.wall_clock import pacific_day, pacific_time, pacific_timestamp
from certdesk.core.workflow import retire_at

SRC = Path(__file__).resolve().parents[2] / "src" / "certdesk"


# --- times (R7, R19) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "shown", "day"),
    [
        # R7: 17:00 Pacific is 00:00 UTC the next day in summer: the person reads the 21st.
        pytest.param(
            datetime(2027, 6, 22, 0, 0, tzinfo=UTC), "21 Jun 2027, 17:00 PDT", "21 Jun 2027",
            id="R7/expiry-summer",
        ),
        pytest.param(
            datetime(2027, 1, 16, 1, 0, tzinfo=UTC), "15 Jan 2027, 17:00 PST", "15 Jan 2027",
            id="R7/expiry-winter",
        ),
        # The hour of the spring change: 02:30 does not exist, 10:30 UTC is 03:30 PDT.
        pytest.param(
            datetime(2027, 3, 14, 10, 30, tzinfo=UTC), "14 Mar 2027, 03:30 PDT", "14 Mar 2027",
            id="R19/dst-starts",
        ),
        # A naive value read back from a database is UTC.
        pytest.param(
            datetime(2027, 6, 22, 0, 0), "21 Jun 2027, 17:00 PDT", "21 Jun 2027", id="naive-is-utc"
        ),
        pytest.param("2027-06-22T00:00:00Z", "21 Jun 2027, 17:00 PDT", "21 Jun 2027", id="iso-z"),
    ],
)  # fmt: skip
def test_r19_times_are_pacific_with_the_zone(instant: object, shown: str, day: str) -> None:
    assert pacific_time(instant) == shown  # type: ignore[arg-type]
    assert pacific_day(instant) == day  # type: ignore[arg-type]


def test_r19_dates_and_empty_values() -> None:
    assert pacific_day(date(2027, 6, 21)) == "21 Jun 2027"  # a date is already a Pacific day
    assert pacific_day("2027-06-21") == "21 Jun 2027"
    assert pacific_time(None) == "—" and pacific_time(None, empty="") == ""
    assert pacific_timestamp(datetime(2027, 6, 22, tzinfo=UTC)) == "2027-06-21 17:00 PDT"
    assert pacific_timestamp(None) == ""


# --- the message catalogue ----------------------------------------------------------------------


def _raised_codes() -> set[str]:
    """Every literal code given to an error class in the source."""
    errors = {"InvalidInput", "PolicyRefusal", "Unauthorized", "Forbidden", "NotFound"}
    errors |= {"Conflict", "Unavailable", "CertdeskError"}
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            first = node.args[0]
            if name in errors and isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.add(first.value)
    return found


def test_r19_every_raised_error_code_has_a_sentence_of_its_own_or_its_family() -> None:
    codes = _raised_codes()
    assert len(codes) > 100, "the scan found the codes"
    missing = sorted(
        c for c in codes if c not in messages.CODES and c.split(".")[0] not in messages.FAMILIES
    )
    assert missing == []


@pytest.mark.parametrize(
    ("code", "detail", "sentence", "specifics"),
    [
        pytest.param(
            "name.not_granted",
            "www.chp.ca.gov is not granted to dmv (R2)",
            "Your organization may not obtain a certificate for this name.",
            "www.chp.ca.gov is not granted to dmv",
            id="R2/detail-without-rule",
        ),
        pytest.param(
            "token.org", "a requester token needs --org", messages.CODES["token.org"], "",
            id="R19/cli-words-hidden",
        ),
        pytest.param(
            "user.org", "operator accounts belong to no organization; omit --org",
            messages.CODES["user.org"], "", id="R19/option-hidden",
        ),
        pytest.param(
            "auth.forbidden", "user:aud may not cert.revoke", "You may not do this.", "",
            id="R19/action-code-hidden",
        ),
        pytest.param(
            "brand.new_code", "something specific", messages.KINDS["conflict"],
            "something specific", id="unknown-family-falls-back-to-kind",
        ),
    ],
)  # fmt: skip
def test_r19_errors_for_people(code: str, detail: str, sentence: str, specifics: str) -> None:
    kind = "conflict" if code.startswith("brand") else "invalid"
    assert messages.for_people(code, detail, kind) == (sentence, specifics)


def test_r19_no_sentence_names_a_rule_or_a_code() -> None:
    texts = [*messages.CODES.values(), *messages.FAMILIES.values(), *messages.KINDS.values()]
    texts += list(messages.STATES.values())
    for text in texts:
        assert not re.search(r"\bR\d{1,2}\b", text), text
        assert not re.search(r"\b[a-z]+_[a-z]+\b|\b[a-z]+\.[a-z_]+\b", text), text


@pytest.mark.parametrize(
    ("state", "label"),
    [
        ("pending_approval", "Waiting for approval"),
        ("active", "Valid"),
        ("keyCompromise", "The private key was exposed"),
        ("delegated_admin_setup", "Delegated administration"),
        ("some_new_state", "Some new state"),
    ],
)
def test_r19_states_read_as_words(state: str, label: str) -> None:
    assert messages.state_label(state) == label


def test_r19_every_case_certificate_and_notice_state_has_a_label() -> None:
    from certdesk.core.certificates import CertStatus
    from certdesk.core.notices import NoticeState
    from certdesk.core.workflow import CaseType, State

    for enum in (State, CertStatus, NoticeState, CaseType):
        assert {str(v) for v in enum} <= set(messages.STATES), enum


# --- the audit log in words (R15, R19) ----------------------------------------------------------


def _recorded_actions() -> set[str]:
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "record":
                strs = [a.value for a in node.args if isinstance(a, ast.Constant)]
                strs = [s for s in strs if isinstance(s, str) and "." in s and ":" not in s]
                found.update(strs[:1])
    return found


def test_r15_every_recorded_action_reads_as_words() -> None:
    actions = _recorded_actions()
    assert {"case.approve", "cert.revoke", "session.create"} <= actions
    assert sorted(actions - set(audit_text.ACTIONS)) == []


@pytest.mark.parametrize(
    ("actor", "action", "kind", "obj", "who", "what"),
    [
        ("user:ana", "case.approve", "case", "CS-2027-000012", "ana",
         "approved case CS-2027-000012"),
        ("system:worker", "cert.revoke", "certificate", "ab12", "certdesk",
         "revoked certificate ab12"),
        ("user:opal", "session.create", "user", "opal", "opal", "signed in as opal"),
        ("cli:operator", "grant.add", "organization", "dmv", "cert services (command line)",
         "added a domain grant to organization dmv"),
        ("token:cd_1234", "made.up", "thing_kind", "7", "API token cd_1234",
         "made up thing kind 7"),
    ],
)  # fmt: skip
def test_r15_who_did_what(
    actor: str, action: str, kind: str, obj: str, who: str, what: str
) -> None:
    assert audit_text.who(actor) == who
    assert audit_text.describe(action, kind, obj) == what


def test_r15_sign_ins_are_one_kind() -> None:
    assert {audit_text.kind_of(a) for a in audit_text.SIGN_IN_ACTIONS} == {"Sign-ins"}
    assert audit_text.kind_of("case.submit") == "Cases" and audit_text.kind_of("x.y") == "Other"


# --- CSV for spreadsheets -----------------------------------------------------------------------


def test_r19_csv_has_headings_pacific_times_and_no_formulas() -> None:
    row = {
        "number": "CS-2027-000001",
        "organization": "dmv",
        "type": "New certificate",
        "state": "Delivered",
        "title": '=HYPERLINK("http://evil")',
        "opened_by": "user:ana",
        "created_at": datetime(2027, 6, 22, 0, 0, tzinfo=UTC),
        "target_date": date(2027, 6, 25),
        "due_date": None,
        "overdue": False,
        "expedite": True,
        "submittals": 2,
    }
    lines = to_csv(CASE_COLUMNS, [row]).split("\r\n")
    assert lines[0].startswith("Case,Organization,Type,State,Title")
    cells = lines[1].split(",")
    assert "2027-06-21 17:00 PDT" in cells and "2027-06-25" in cells
    assert cells[-3:] == ["no", "yes", "2"]
    assert "'=HYPERLINK" in lines[1]  # a formula is kept as text (CSV injection)


# --- R8: the overlap of an in-window reissue ----------------------------------------------------

NOW = datetime(2027, 5, 3, 18, 0, tzinfo=UTC)
WINDOW_END = NOW + timedelta(days=20)


@pytest.mark.parametrize(
    ("window_end", "hours", "expected"),
    [
        pytest.param(WINDOW_END, None, WINDOW_END, id="R8/default-until-window-closes"),
        pytest.param(WINDOW_END, 48, NOW + timedelta(hours=48), id="R8/configured-hours"),
        pytest.param(WINDOW_END, 0, None, id="R8/zero-revokes-at-once"),
        pytest.param(NOW - timedelta(minutes=5), None, NOW + timedelta(hours=1),
                     id="R8/window-ending-gives-an-hour"),
    ],
)  # fmt: skip
def test_r8_replaced_certificate_retires_after_the_overlap(
    window_end: datetime, hours: int | None, expected: datetime | None
) -> None:
    assert retire_at(window_end, NOW, hours) == expected
