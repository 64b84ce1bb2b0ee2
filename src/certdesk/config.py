"""Settings from the environment (``CERTDESK_*``), each with a safe default (STYLE habit 11).

Settings are built once by the adapter that starts (CLI command, server, worker) and passed
down; nothing reads the environment at import time.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from certdesk.core.names import DEFAULT_SUFFIXES, MAX_NAMES_CEILING, MAX_NAMES_PER_CERT

ENV_PREFIX = "CERTDESK_"


def env_name(field: str, alias: object) -> str:
    """The environment variable of a setting."""
    return alias if isinstance(alias, str) else ENV_PREFIX + field.upper()


class SettingsError(ValueError):
    """The environment names a setting certdesk does not have (a typo never falls back)."""


def check_environment(environ: Mapping[str, str]) -> None:
    """Refuse ``CERTDESK_*`` variables that are no setting, naming the nearest real one.

    A misspelled ``CERTDESK_DATABSE_URL`` would otherwise be ignored and the SQLite default
    used without a word.
    """
    known = {
        env_name(name, field.validation_alias) for name, field in Settings.model_fields.items()
    }
    unknown = sorted(
        k for k in environ if k.upper().startswith(ENV_PREFIX) and k.upper() not in known
    )
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.8)
        hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
    noun = "setting" if len(unknown) == 1 else "settings"
    raise SettingsError(
        f"unknown {noun} {', '.join(hints)}; the settings are listed in README.md (Configuration)"
    )


def _comma_list(value: str) -> list[str]:
    """A comma-separated setting as it arrives from the environment, items trimmed."""
    return [p.strip() for p in value.split(",") if p.strip()]


class Settings(BaseSettings):
    """Every setting certdesk reads; documented in README.md (Configuration)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", populate_by_name=True)

    data_dir: Path = Field(default=Path("var"), description="Where keys, secrets and SQLite live.")
    database_url: str = Field(
        default="", description="SQLAlchemy URL; empty means SQLite at DATA_DIR/certdesk.db."
    )
    base_url: str = Field(
        default="http://127.0.0.1:8080",
        description="Public URL of this server; used in AIA, CRL DP and OCSP URLs.",
    )
    pki_base_url: str = Field(
        default="",
        description="Public plain-HTTP URL written into certificates (AIA, CRL DP, OCSP);"
        " empty means BASE_URL.",
    )
    ca_passphrase: str = Field(
        default="",
        description="Passphrase of the CA key files; empty means a generated secret file.",
        repr=False,
    )
    ca_passphrase_file: Path | None = Field(
        default=None,
        description="File holding the CA key passphrase (instead of CA_PASSPHRASE).",
    )
    secrets_dir_setting: Path | None = Field(
        default=None,
        validation_alias="CERTDESK_SECRETS_DIR",
        description="Directory of the secret-box key and generated CA passphrase;"
        " empty: DATA_DIR/secrets.",
    )
    audit_checkpoint_dir: Path | None = Field(
        default=None,
        description="R15: directory the worker writes signed audit checkpoints to;"
        " empty: DATA_DIR/audit-checkpoints.",
    )
    ca_key_type: Literal["ec256", "rsa2048"] = Field(
        default="ec256", description="Key of the issuing intermediate made by init."
    )
    allowed_suffixes: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_SUFFIXES, description="R1: the DNS suffixes certificates may be under."
    )
    max_names_per_cert: int = Field(
        default=MAX_NAMES_PER_CERT,
        ge=1,
        le=MAX_NAMES_CEILING,
        description="R1: the most DNS names one certificate may carry (CSRs, issuance, cases,"
        " renewals).",
    )
    max_validity_days: int | None = Field(
        default=None,
        description="R13: operator maximum validity in days (never above the CA/B maximum).",
    )
    sqlite_synchronous: Literal["full", "normal"] = Field(
        default="full",
        description="SQLite durability: full survives power loss; normal only a killed process.",
    )
    server_threads: int = Field(
        default=8,
        ge=1,
        le=256,
        description="Threads per server process for blocking work (each request holds one).",
    )
    crl_validity_hours: int = Field(default=168, description="CRL nextUpdate - thisUpdate.")
    ocsp_validity_hours: int = Field(default=96, description="OCSP nextUpdate - thisUpdate.")
    signing_lease_seconds: int = Field(
        default=60,
        description="A 'signing' row older than this is left over from a crash and is voided.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info",
        description="debug, info, warning or error; one-shot CLI commands show warnings and up"
        " unless it is set.",
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto",
        description="json (one object a line) or console (for a person); auto: json unless"
        " stderr is a terminal.",
    )
    tls_cert_file: Path | None = Field(
        default=None,
        description="PEM certificate chain 'certdesk serve' answers https with (set with"
        " TLS_KEY_FILE, or neither: plain http, e.g. behind a TLS proxy).",
    )
    tls_key_file: Path | None = Field(
        default=None,
        description="Unencrypted PEM private key of TLS_CERT_FILE (mode 0600, owner certdesk).",
    )

    # R10 accounts
    password_max_age_days: int = Field(
        default=90, ge=1, description="R10: a password expires after this many days."
    )
    password_min_length: int = Field(default=12, ge=8, description="Shortest password accepted.")
    lockout_threshold: int = Field(
        default=5, ge=1, description="R10: failed logins in a row that lock an account."
    )
    lockout_minutes: int = Field(default=15, ge=1, description="R10: how long a lockout lasts.")
    enrollment_hours: int = Field(
        default=72, ge=1, description="R10: lifetime of a single-use enrollment or reset link."
    )
    session_hours: int = Field(default=12, ge=1, description="Lifetime of a login session.")
    first_operator_login: str = Field(
        default="admin", description="Login ID of the operator account `init` creates."
    )
    first_operator_email: str = Field(
        default="operator@certdesk.invalid",
        description="E-mail of that account (init prints its enrollment link; no mail is sent).",
    )
    console_idle_minutes: int = Field(
        default=30, ge=1, description="R10: a console session ends after this long unused."
    )
    console_assets_dir: Path | None = Field(
        default=None,
        description="The California State Web Template's dist/ folder; empty means"
        " node_modules/@cagovweb/state-template/dist under the working directory.",
    )
    training_url: str = Field(
        default="",
        description="R10: training material link sent with every enrollment (empty: none).",
    )
    smtp_url: str = Field(
        default="",
        description="smtp://[user:pass@]host:port, smtps://… or smtp+starttls://…; empty: mail"
        " stays in the outbox.",
        repr=False,
    )
    smtp_connections: int = Field(
        default=1,
        ge=1,
        le=32,
        description="SMTP connections one worker sends mail on at once.",
    )
    mail_from: str = Field(
        default="certdesk@localhost", description="Sender address of mail certdesk sends."
    )

    # Case attachments and vendor contracts (issue 14)
    attachment_max_bytes: int = Field(
        default=5 * 1024 * 1024,
        ge=1,
        le=64 * 1024 * 1024,
        description="Largest file that can be attached to a case, in bytes (files are stored in"
        " the database).",
    )
    attachment_max_per_case: int = Field(
        default=50, ge=1, le=1000, description="Most files one case can hold."
    )
    contract_notice_days: Annotated[tuple[int, ...], NoDecode] = Field(
        default=(90, 30),
        description="Comma-separated days before a vendor contract ends on which cert services"
        " are told, once each.",
    )
    contract_notice_to: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Comma-separated addresses for vendor contract notices; empty: every"
        " cert services (operator) account's email.",
    )

    # R4/R5 cases
    holidays: Annotated[tuple[date, ...] | None, NoDecode] = Field(
        default=None,
        description="R5: comma-separated YYYY-MM-DD dates replacing the California holiday"
        " calendar; empty: the holidays package's US/CA calendar.",
    )
    target_business_days: int = Field(default=3, ge=0, description="R5: target turnaround.")
    due_business_days: int = Field(default=5, ge=0, description="R5: due turnaround.")
    window_days: int = Field(
        default=25,
        ge=1,
        description="R8: days after delivery for testing, revocation or changes on the same case.",
    )
    reissue_overlap_hours: int | None = Field(
        default=None,
        ge=0,
        description="R8: hours the certificate an in-window reissue replaced stays valid before"
        " the worker revokes it (empty: until the case's window closes; 0: at once).",
    )

    # R6 renewals and the lifecycle worker
    renewal_margin_days: int = Field(
        default=7,
        ge=0,
        description="R6: a renewal is delivered at least this many days before the old"
        " certificate expires.",
    )
    renewal_lifetime_fraction: float = Field(
        default=2 / 3,
        gt=0,
        lt=1,
        description="R6: a renewal opens at the latest at this fraction of the validity period.",
    )
    worker_interval_seconds: int = Field(
        default=60,
        ge=1,
        description="Pause between two passes of 'certdesk worker'; /readyz expects a worker"
        " heartbeat within three times this.",
    )

    # R9 notices
    notice_days: Annotated[tuple[int, ...], NoDecode] = Field(
        default=(90, 60, 30, 14, 7, 1),
        description="R9: comma-separated days before expiry on which renewal notices go out.",
    )
    notice_digest: bool = Field(
        default=True,
        description="R9: a contact with several notices in one pass gets one digest email.",
    )
    notice_late_grace_hours: int = Field(
        default=24,
        ge=0,
        description="R9: a notice sent more than this long after its moment is marked late.",
    )
    notice_template_dir: Path | None = Field(
        default=None,
        description="Directory of notice templates that replace the packaged ones by name;"
        " empty: the packaged templates.",
    )
    notice_max_attempts: int = Field(
        default=8,
        ge=1,
        description="R9: attempts at a notice the SMTP server refuses temporarily (4xx) before"
        " it is marked failed.",
    )
    notice_retry_seconds: int = Field(
        default=300,
        ge=1,
        description="R9: first retry delay of a notice; doubled per attempt, at most 12 hours.",
    )
    # Mail by role and event, preferences and webhooks (issue 14)
    approval_reminder_days: int = Field(
        default=2,
        ge=0,
        description="Business days a case waits for approval before its approvers are"
        " reminded (once per round); 0: no reminders.",
    )
    digest_hour: int = Field(
        default=7,
        ge=0,
        le=23,
        description="Hour (Pacific) at which the daily digest goes to people who chose it.",
    )
    cert_services_email: str = Field(
        default="",
        description="Team mailbox of Certificate Services, told of what cert services"
        " hear (new cases, questions, late cases, unreachable contacts) besides its people.",
    )
    webhook_max_attempts: int = Field(
        default=12,
        ge=1,
        description="Attempts at a webhook delivery before it is marked failed.",
    )
    webhook_retry_seconds: int = Field(
        default=30,
        ge=1,
        description="First retry delay of a webhook delivery; doubled per attempt, at most"
        " 12 hours.",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How long a webhook receiver may take to answer one delivery.",
    )

    # R11 cost
    cost_cents_per_year: int = Field(
        default=0,
        ge=0,
        description="R11: default cost of a managed certificate per certificate-year, in cents"
        " (an organization may have its own).",
    )

    # The ACME server (RFC 8555, R17) and its validation authority (VA).
    acme_terms_of_service_url: str = Field(
        default="",
        description="ACME: the terms of service the directory names; empty means the short"
        " text certdesk serves at BASE_URL/acme/terms.",
    )
    acme_nonce_seconds: int = Field(
        default=3600, ge=60, description="ACME: how long an unused Replay-Nonce stays good."
    )
    acme_order_hours: int = Field(
        default=168, ge=1, description="ACME: how long an order may wait to be finalized."
    )
    acme_eab_days: int = Field(
        default=30,
        ge=1,
        description="ACME: how long a new EAB key may wait to bind an account, unless"
        " 'acme eab create --expires' says otherwise.",
    )
    acme_va_address: str = Field(
        default="",
        description="ACME VA, tests and labs: connect every validation to this IP address"
        " instead of resolving the name (its range is then allowed).",
    )
    acme_va_http_port: int = Field(
        default=80, ge=1, le=65535, description="ACME VA: the port http-01 connects to."
    )
    acme_va_tls_port: int = Field(
        default=443,
        ge=1,
        le=65535,
        description="ACME VA: the port tls-alpn-01 connects to (and https redirects of"
        " http-01 without a port of their own).",
    )
    acme_issuer_domain_name: str = Field(
        default="",
        description="ACME: the issuer domain name dns-persist-01 records must name; empty"
        " means the host of CERTDESK_BASE_URL.",
    )
    acme_va_dns_server: str = Field(
        default="",
        description="ACME VA: host:port of the DNS resolver dns-01 (and http-01's name"
        " lookups) ask; empty means the system's resolver.",
    )
    acme_va_allow_ranges: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="ACME VA: comma-separated address ranges (CIDR) validation may connect to"
        " although they are loopback, link-local or private (refused otherwise).",
    )
    acme_va_workers: int = Field(
        default=4,
        ge=1,
        le=64,
        description="ACME VA: validations run at once per server process (a bounded pool).",
    )
    # Endpoint verification and discovery (R14, R18).
    verify_allow_networks: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Verification and discovery: comma-separated CIDR ranges that may be"
        " connected to although they are loopback, private or reserved (refused otherwise).",
    )
    verify_ca_file: Path | None = Field(
        default=None,
        description="Verification: a PEM file of further trusted roots (an internal CA), on"
        " top of the system's and certdesk's own.",
    )
    verify_timeout_seconds: float = Field(
        default=5.0, gt=0, le=120, description="Verification: deadline of each connection."
    )
    verify_concurrency: int = Field(
        default=8, ge=1, le=256, description="Verification and discovery: endpoints at once."
    )
    import_password: str = Field(
        default="",
        repr=False,
        description="certdesk import: the PKCS#12 password when --password is not given"
        " (keeps it out of the process list).",
    )
    verify_port: int = Field(
        default=443, ge=1, le=65535, description="The port the worker's re-checks connect to."
    )
    verify_address: str = Field(
        default="",
        description="Tests and labs: connect every verification to this address instead of"
        " resolving the name (still subject to the allowed networks).",
    )
    verify_interval_hours: int = Field(
        default=0,
        ge=0,
        le=24 * 30,
        description="The worker re-checks each delivered certificate's names this often"
        " (0: never; connecting to servers is the operator's decision).",
    )
    # Rate limits (issue 13): counted in the database, so every serve process shares them.
    acme_orders_per_hour_account: int = Field(
        default=300, ge=1, description="ACME: new orders one account may place per hour."
    )
    acme_orders_per_hour_org: int = Field(
        default=1000,
        ge=1,
        description="ACME: new orders all accounts of one organization may place per hour.",
    )
    acme_pending_authz_account: int = Field(
        default=300,
        ge=1,
        description="ACME: unexpired pending authorizations one account may hold.",
    )
    acme_pending_authz_org: int = Field(
        default=1000,
        ge=1,
        description="ACME: unexpired pending authorizations one organization may hold.",
    )
    acme_authz_reuse_days: int = Field(
        default=10,
        ge=0,
        le=398,
        description="ACME: days a validation is reused for the account's new orders (0: never;"
        " capped at what SC-081 allows at the time).",
    )
    acme_shortlived_days: int = Field(
        default=7,
        ge=1,
        le=47,
        description="ACME: validity in days of the 'shortlived' profile.",
    )

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("allowed_suffixes", mode="before")
    @classmethod
    def _split_suffixes(cls, value: object) -> object:
        # Environment variables arrive as one string: "ca.gov,california.gov".
        if isinstance(value, str):
            return tuple(p.lower() for p in _comma_list(value))
        return value

    @field_validator("verify_allow_networks")
    @classmethod
    def _check_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"not a CIDR range: {item!r}") from None
        return value

    @field_validator("acme_va_allow_ranges", "verify_allow_networks", mode="before")
    @classmethod
    def _split_ranges(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(s.strip() for s in value.split(",") if s.strip())
        return value

    @field_validator("holidays", mode="before")
    @classmethod
    def _split_holidays(cls, value: object) -> object:
        if isinstance(value, str):
            parts = _comma_list(value)
            return tuple(date.fromisoformat(p) for p in parts) if parts else None
        return value

    @field_validator("contract_notice_to", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(_comma_list(value))
        return value

    @field_validator("notice_days", "contract_notice_days", mode="before")
    @classmethod
    def _split_notice_days(cls, value: object) -> object:
        # "90,60,30,14,7,1" from the environment; whole days of at least 1, distinct.
        if isinstance(value, str):
            parts = _comma_list(value)
            if not all(p.isascii() and p.isdigit() for p in parts):
                raise ValueError("notice days must be whole days of at least 1, e.g. 90,60,30")
            value = tuple(int(p) for p in parts)
        if isinstance(value, tuple | list):
            if not value or any(isinstance(d, bool) or int(d) < 1 for d in value):
                raise ValueError("notice days must be whole days of at least 1, e.g. 90,60,30")
            return tuple(sorted({int(d) for d in value}, reverse=True))
        return value

    @model_validator(mode="after")
    def _one_passphrase_source(self) -> Settings:
        if self.ca_passphrase and self.ca_passphrase_file is not None:
            raise ValueError("set CERTDESK_CA_PASSPHRASE or CERTDESK_CA_PASSPHRASE_FILE, not both")
        return self

    @field_validator(
        "notice_template_dir",
        "console_assets_dir",
        "ca_passphrase_file",
        "audit_checkpoint_dir",
        "secrets_dir_setting",
        "tls_cert_file",
        "tls_key_file",
        mode="before",
    )
    @classmethod
    def _empty_path(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    def model_post_init(self, context: Any, /) -> None:
        # Every process that reads settings (CLI, each server process, worker) refuses a
        # misspelled CERTDESK_* variable instead of silently using a default.
        check_environment(os.environ)

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL, defaulting to SQLite under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'certdesk.db').resolve()}"

    @property
    def pki_url(self) -> str:
        """The base of the URLs certificates carry (BR §7.1.2.7.7: plain HTTP, public)."""
        return self.pki_base_url or self.base_url

    @property
    def audit_checkpoints(self) -> Path:
        """Where the worker writes signed audit checkpoints (R15)."""
        return self.audit_checkpoint_dir or self.data_dir / "audit-checkpoints"

    @property
    def ca_dir(self) -> Path:
        return self.data_dir / "ca"

    @property
    def secrets_dir(self) -> Path:
        """Where the secret-box key and the generated CA passphrase live; hosts of one
        installation share it (CERTDESK_SECRETS_DIR, by default DATA_DIR/secrets)."""
        return self.secrets_dir_setting or self.data_dir / "secrets"
