"""STYLE habit 11: every setting is one row of a table, each shape has one parser, and a value
that does not parse is refused in one line naming the variable and the problem."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from certdesk.config import Settings, bad_setting, env_name
from certdesk.config.shapes import DAYS_PROBLEM


def _read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str) -> Any:
    """The setting ``variable`` as ``value`` in the environment makes it."""
    monkeypatch.setenv(variable, value)
    settings = Settings(data_dir=tmp_path)
    field = next(
        n for n, f in Settings.model_fields.items() if env_name(n, f.validation_alias) == variable
    )
    return getattr(settings, field)


def _refusal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str) -> str:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        Settings(data_dir=tmp_path)
    return bad_setting(caught.value)


@pytest.mark.parametrize(
    ("variable", "value", "parsed"),
    [
        pytest.param("CERTDESK_WINDOW_DAYS", " 30 ", 30, id="whole/trimmed"),
        pytest.param("CERTDESK_DIGEST_HOUR", "23", 23, id="whole/at-upper-bound"),
        pytest.param("CERTDESK_MAX_VALIDITY_DAYS", "90", 90, id="whole/optional-given"),
        pytest.param("CERTDESK_REISSUE_OVERLAP_HOURS", "0", 0, id="duration/zero-allowed"),
        pytest.param("CERTDESK_NOTICE_RETRY_SECONDS", "1", 1, id="duration/at-lower-bound"),
        pytest.param("CERTDESK_VERIFY_TIMEOUT_SECONDS", "2.5", 2.5, id="duration/fractional"),
        pytest.param("CERTDESK_RENEWAL_LIFETIME_FRACTION", "0.5", 0.5, id="fraction/inside"),
        pytest.param("CERTDESK_NOTICE_DIGEST", "no", False, id="flag/no"),
        pytest.param("CERTDESK_NOTICE_DIGEST", "1", True, id="flag/one"),
        pytest.param("CERTDESK_LOG_LEVEL", " DEBUG ", "debug", id="choice/folded"),
        pytest.param("CERTDESK_SQLITE_SYNCHRONOUS", "normal", "normal", id="choice/exact"),
        pytest.param("CERTDESK_ALLOWED_SUFFIXES", "CA.gov, example.gov,", ("ca.gov", "example.gov"),
                     id="list/names-lower-cased"),
        pytest.param("CERTDESK_CONTRACT_NOTICE_TO", "a@x.gov , b@x.gov", ("a@x.gov", "b@x.gov"),
                     id="list/text-in-order"),
        pytest.param("CERTDESK_ACME_VA_ALLOW_RANGES", "", (), id="list/text-empty"),
        pytest.param("CERTDESK_VERIFY_ALLOW_NETWORKS", "10.0.0.0/8, ::1", ("10.0.0.0/8", "::1"),
                     id="list/networks"),
        pytest.param("CERTDESK_NOTICE_DAYS", "7,30,30,1", (30, 7, 1),
                     id="list/days-distinct-farthest-first"),
        pytest.param("CERTDESK_HOLIDAYS", "2027-07-05,2027-01-01",
                     (date(2027, 7, 5), date(2027, 1, 1)), id="list/dates"),
        pytest.param("CERTDESK_HOLIDAYS", " ", None, id="list/dates-empty-is-default-calendar"),
        pytest.param("CERTDESK_NOTICE_TEMPLATE_DIR", "/srv/notices", Path("/srv/notices"),
                     id="path/given"),
        pytest.param("CERTDESK_TLS_CERT_FILE", "  ", None, id="path/blank-is-none"),
        pytest.param("CERTDESK_SECRETS_DIR", "", None, id="path/own-variable-name"),
    ],
)  # fmt: skip
def test_each_shape_parses_what_the_environment_gives(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str, parsed: object
) -> None:
    assert _read(monkeypatch, tmp_path, variable, value) == parsed


IP_PORT = "must be an IP address and a port, e.g. 127.0.0.1:53 or [::1]:53, not "


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        pytest.param("CERTDESK_WINDOW_DAYS", "soon", "Input should be a valid integer, unable to"
                     " parse string as an integer", id="whole/not-a-number"),
        pytest.param("CERTDESK_WINDOW_DAYS", "0", "Input should be greater than or equal to 1",
                     id="whole/below-bound"),
        pytest.param("CERTDESK_DIGEST_HOUR", "24", "Input should be less than or equal to 23",
                     id="whole/above-bound"),
        pytest.param("CERTDESK_MAX_VALIDITY_DAYS", "", "Input should be a valid integer, unable to"
                     " parse string as an integer", id="whole/optional-empty"),
        pytest.param("CERTDESK_REISSUE_OVERLAP_HOURS", "-1",
                     "Input should be greater than or equal to 0", id="duration/negative"),
        pytest.param("CERTDESK_VERIFY_TIMEOUT_SECONDS", "0", "Input should be greater than 0",
                     id="duration/zero"),
        pytest.param("CERTDESK_RENEWAL_LIFETIME_FRACTION", "1", "Input should be less than 1",
                     id="fraction/whole"),
        pytest.param("CERTDESK_NOTICE_DIGEST", "maybe", "Input should be a valid boolean, unable"
                     " to interpret input", id="flag/maybe"),
        pytest.param("CERTDESK_LOG_FORMAT", "xml", "Input should be 'auto', 'json' or 'console'",
                     id="choice/folded-unknown"),
        pytest.param("CERTDESK_CA_KEY_TYPE", "EC256", "Input should be 'ec256' or 'rsa2048'",
                     id="choice/exact-case"),
        pytest.param("CERTDESK_VERIFY_ALLOW_NETWORKS", "10.0.0.0/8,lan",
                     "not a CIDR range: 'lan'", id="list/networks-bad-item"),
        pytest.param("CERTDESK_ACME_VA_ALLOW_RANGES", "127.0.0.0/8,localhost",
                     "not a CIDR range: 'localhost'", id="list/networks-acme-va-bad-item"),
        pytest.param("CERTDESK_NOTICE_DAYS", "30,0", DAYS_PROBLEM, id="list/days-zero"),
        pytest.param("CERTDESK_CONTRACT_NOTICE_DAYS", "30,x", DAYS_PROBLEM, id="list/days-word"),
        pytest.param("CERTDESK_NOTICE_DAYS", "", DAYS_PROBLEM, id="list/days-empty"),
        pytest.param("CERTDESK_HOLIDAYS", "2027-13-01", "month must be in 1..12",
                     id="list/dates-bad-date"),
        # Each of these once passed as text and failed where it was first used (a traceback).
        pytest.param("CERTDESK_ACME_VA_ADDRESS", "localhost", "not an IP address: 'localhost'",
                     id="address/a-name"),
        pytest.param("CERTDESK_ACME_VA_DNS_SERVER", "127.0.0.1", IP_PORT + "'127.0.0.1'",
                     id="address-port/no-port"),
        pytest.param("CERTDESK_ACME_VA_DNS_SERVER", "http://[::1", IP_PORT + "'http://[::1'",
                     id="address-port/url"),
        pytest.param("CERTDESK_ACME_VA_DNS_SERVER", "[::1]:70000", IP_PORT + "'[::1]:70000'",
                     id="address-port/port-out-of-range"),
        pytest.param("CERTDESK_BASE_URL", "http://[::1", "not a URL: 'http://[::1' (Invalid IPv6"
                     " URL)", id="url/unclosed-ipv6"),
        pytest.param("CERTDESK_BASE_URL", "certdesk.example.gov", "must be an http:// or https://"
                     " URL with a host, not 'certdesk.example.gov'", id="url/no-scheme"),
        pytest.param("CERTDESK_DATABASE_URL", "http://[::1", "not an SQLAlchemy URL (e.g."
                     " postgresql+psycopg://user@host/db); leave it unset for SQLite under the"
                     " data directory", id="database-url/unparsable"),
        pytest.param("CERTDESK_WORKER_INTERVAL_SECONDS", "99999999999999999999",
                     "must be at most 315,360,000", id="duration/seconds-past-ten-years"),
        pytest.param("CERTDESK_NOTICE_LATE_GRACE_HOURS", "87601", "must be at most 87,600",
                     id="duration/hours-past-ten-years"),
        pytest.param("CERTDESK_ACME_ORDERS_PER_HOUR_ORG", "2147483648",
                     "must be at most 2,147,483,647", id="count/past-32-bits"),
    ],
)  # fmt: skip
def test_a_value_a_shape_cannot_parse_is_named_with_its_problem(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str, message: str
) -> None:
    assert _refusal(monkeypatch, tmp_path, variable, value) == f"bad setting {variable}: {message}"


@pytest.mark.parametrize(
    ("given", "field", "parsed"),
    [
        pytest.param({"notice_days": [7, 30, 7]}, "notice_days", (30, 7), id="list/days-from-code"),
        pytest.param({"holidays": None}, "holidays", None, id="list/dates-none-from-code"),
        pytest.param({"tls_key_file": ""}, "tls_key_file", None, id="path/blank-from-code"),
        pytest.param({"log_level": "WARNING"}, "log_level", "warning", id="choice/from-code"),
    ],
)
def test_each_shape_parses_what_code_gives(
    tmp_path: Path, given: dict[str, object], field: str, parsed: object
) -> None:
    assert getattr(Settings(data_dir=tmp_path, **given), field) == parsed  # type: ignore[arg-type]


def test_two_sources_of_one_secret_are_refused_naming_both(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CERTDESK_CA_PASSPHRASE", "x")
    message = _refusal(monkeypatch, tmp_path, "CERTDESK_CA_PASSPHRASE_FILE", str(tmp_path / "p"))
    assert message == "set CERTDESK_CA_PASSPHRASE or CERTDESK_CA_PASSPHRASE_FILE, not both"


def test_secrets_stay_out_of_the_repr(tmp_path: Path) -> None:
    secrets = {"ca_passphrase": "s3cret-one", "smtp_url": "smtp://u:s3cret-two@h"}
    shown = repr(Settings(data_dir=tmp_path, import_password="s3cret-three", **secrets))
    assert "s3cret" not in shown


def test_every_row_has_help_and_a_safe_default(tmp_path: Path) -> None:
    """A row without help text would be a setting README cannot describe; every default
    parses (the embedded default works with no configuration)."""
    assert [n for n, f in Settings.model_fields.items() if not f.description] == []
    Settings(data_dir=tmp_path)


@pytest.mark.parametrize("value", [pytest.param("", id="empty"), pytest.param("  ", id="blank")])
def test_an_empty_data_dir_is_refused_not_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    # An empty CERTDESK_DATA_DIR would be ".", and every process makes its data directory
    # private, recursively: refused before anything is opened.
    monkeypatch.setenv("CERTDESK_DATA_DIR", value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert bad_setting(caught.value) == (
        "bad setting CERTDESK_DATA_DIR: must name a directory;"
        " leave the variable unset for the default"
    )
