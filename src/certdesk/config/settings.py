"""Settings from the environment (``CERTDESK_*``), each with a safe default (STYLE habit 11):
the table of them, one row a setting (:mod:`certdesk.config.shapes` says how a row reads).

Settings are built once by the adapter that starts (CLI command, server, worker) and passed
down; nothing reads the environment at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from certdesk.config.endpoints import EndpointSettings
from certdesk.config.environment import ENV_PREFIX, env_name, refuse_unknown
from certdesk.config.shapes import (
    FOLD,
    DatabaseUrl,
    DateList,
    DayList,
    DirPath,
    NameList,
    OptionalPath,
    TextList,
    WebUrl,
    bounded,
    setting,
)
from certdesk.core.names import DEFAULT_SUFFIXES, MAX_NAMES_CEILING, MAX_NAMES_PER_CERT


def check_environment(environ: Mapping[str, str]) -> None:
    """Refuse ``CERTDESK_*`` variables that are no setting, naming the nearest real one."""
    refuse_unknown(
        environ, {env_name(name, f.validation_alias) for name, f in Settings.model_fields.items()}
    )


class Settings(BaseSettings, EndpointSettings):
    """Every setting certdesk reads; documented in README.md (Configuration)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", populate_by_name=True)

    data_dir: DirPath = setting(Path("var"), "Where keys, secrets and SQLite live.")
    database_url: DatabaseUrl = setting(
        "", "SQLAlchemy URL; empty means SQLite at DATA_DIR/certdesk.db."
    )
    base_url: WebUrl = setting(
        "http://127.0.0.1:8080", "Public URL of this server; used in AIA, CRL DP and OCSP URLs."
    )
    pki_base_url: WebUrl = setting(
        "",
        "Public plain-HTTP URL written into certificates (AIA, CRL DP, OCSP);"
        " empty means BASE_URL.",
    )
    ca_passphrase: str = setting(
        "", "Passphrase of the CA key files; empty means a generated secret file.", secret=True
    )
    ca_passphrase_file: OptionalPath = setting(
        None, "File holding the CA key passphrase (instead of CA_PASSPHRASE)."
    )
    secrets_dir_setting: OptionalPath = setting(
        None,
        "Directory of the secret-box key and generated CA passphrase; empty: DATA_DIR/secrets.",
        env="CERTDESK_SECRETS_DIR",
    )
    audit_checkpoint_dir: OptionalPath = setting(
        None,
        "R15: directory the worker writes signed audit checkpoints to;"
        " empty: DATA_DIR/audit-checkpoints.",
    )
    ca_key_type: Literal["ec256", "rsa2048"] = setting(
        "ec256", "Key of the issuing intermediate made by init."
    )
    allowed_suffixes: NameList = setting(
        DEFAULT_SUFFIXES, "R1: the DNS suffixes certificates may be under."
    )
    max_names_per_cert: int = setting(
        MAX_NAMES_PER_CERT,
        "R1: the most DNS names one certificate may carry (CSRs, issuance, cases, renewals).",
        ge=1,
        le=MAX_NAMES_CEILING,
    )
    max_validity_days: int | None = setting(
        None, "R13: operator maximum validity in days (never above the CA/B maximum)."
    )
    sqlite_synchronous: Literal["full", "normal"] = setting(
        "full", "SQLite durability: full survives power loss; normal only a killed process."
    )
    server_threads: int = setting(
        8, "Threads per server process for blocking work (each request holds one).", ge=1, le=256
    )
    crl_validity_hours: int = setting(168, "CRL nextUpdate - thisUpdate.")
    ocsp_validity_hours: int = setting(96, "OCSP nextUpdate - thisUpdate.")
    signing_lease_seconds: int = setting(
        60, "A 'signing' row older than this is left over from a crash and is voided."
    )
    log_level: Annotated[Literal["debug", "info", "warning", "error"], FOLD] = setting(
        "info",
        "debug, info, warning or error; one-shot CLI commands show warnings and up"
        " unless it is set.",
    )
    log_format: Annotated[Literal["auto", "json", "console"], FOLD] = setting(
        "auto",
        "json (one object a line) or console (for a person); auto: json unless"
        " stderr is a terminal.",
    )
    tls_cert_file: OptionalPath = setting(
        None,
        "PEM certificate chain 'certdesk serve' answers https with (set with"
        " TLS_KEY_FILE, or neither: plain http, e.g. behind a TLS proxy).",
    )
    tls_key_file: OptionalPath = setting(
        None, "Unencrypted PEM private key of TLS_CERT_FILE (mode 0600, owner certdesk)."
    )

    # R10 accounts
    password_max_age_days: int = setting(90, "R10: a password expires after this many days.", ge=1)
    password_min_length: int = setting(12, "Shortest password accepted.", ge=8)
    lockout_threshold: int = setting(5, "R10: failed logins in a row that lock an account.", ge=1)
    lockout_minutes: int = setting(15, "R10: how long a lockout lasts.", ge=1)
    enrollment_hours: int = setting(
        72, "R10: lifetime of a single-use enrollment or reset link.", ge=1
    )
    session_hours: int = setting(12, "Lifetime of a login session.", ge=1)
    first_operator_login: str = setting("admin", "Login ID of the operator account `init` creates.")
    first_operator_email: str = setting(
        "operator@certdesk.invalid",
        "E-mail of that account (init prints its enrollment link; no mail is sent).",
    )
    console_idle_minutes: int = setting(
        30, "R10: a console session ends after this long unused.", ge=1
    )
    console_assets_dir: OptionalPath = setting(
        None,
        "The California State Web Template's dist/ folder; empty means"
        " node_modules/@cagovweb/state-template/dist under the working directory.",
    )
    training_url: str = setting(
        "", "R10: training material link sent with every enrollment (empty: none)."
    )
    smtp_url: str = setting(
        "",
        "smtp://[user:pass@]host:port, smtps://… or smtp+starttls://…; empty: mail"
        " stays in the outbox.",
        secret=True,
    )
    smtp_connections: int = setting(
        1, "SMTP connections one worker sends mail on at once.", ge=1, le=32
    )
    mail_from: str = setting("certdesk@localhost", "Sender address of mail certdesk sends.")

    # Case attachments and vendor contracts (issue 14)
    attachment_max_bytes: int = setting(
        5 * 1024 * 1024,
        "Largest file that can be attached to a case, in bytes (files are stored in the database).",
        ge=1,
        le=64 * 1024 * 1024,
    )
    attachment_max_per_case: int = setting(50, "Most files one case can hold.", ge=1, le=1000)
    contract_notice_days: DayList = setting(
        (90, 30),
        "Comma-separated days before a vendor contract ends on which cert services"
        " are told, once each.",
    )
    contract_notice_to: TextList = setting(
        (),
        "Comma-separated addresses for vendor contract notices; empty: every"
        " cert services (operator) account's email.",
    )

    # R4/R5 cases
    holidays: DateList = setting(
        None,
        "R5: comma-separated YYYY-MM-DD dates replacing the California holiday"
        " calendar; empty: the holidays package's US/CA calendar.",
    )
    target_business_days: int = setting(3, "R5: target turnaround.", ge=0)
    due_business_days: int = setting(5, "R5: due turnaround.", ge=0)
    window_days: int = setting(
        25, "R8: days after delivery for testing, revocation or changes on the same case.", ge=1
    )
    reissue_overlap_hours: int | None = setting(
        None,
        "R8: hours the certificate an in-window reissue replaced stays valid before"
        " the worker revokes it (empty: until the case's window closes; 0: at once).",
        ge=0,
    )

    # R6 renewals and the lifecycle worker
    renewal_margin_days: int = setting(
        7,
        "R6: a renewal is delivered at least this many days before the old certificate expires.",
        ge=0,
    )
    renewal_lifetime_fraction: float = setting(
        2 / 3,
        "R6: a renewal opens at the latest at this fraction of the validity period.",
        gt=0,
        lt=1,
    )
    worker_interval_seconds: int = setting(
        60,
        "Pause between two passes of 'certdesk worker'; /readyz expects a worker"
        " heartbeat within three times this.",
        ge=1,
    )

    # R9 notices
    notice_days: DayList = setting(
        (90, 60, 30, 14, 7, 1),
        "R9: comma-separated days before expiry on which renewal notices go out.",
    )
    notice_digest: bool = setting(
        True, "R9: a contact with several notices in one pass gets one digest email."
    )
    notice_late_grace_hours: int = setting(
        24, "R9: a notice sent more than this long after its moment is marked late.", ge=0
    )
    notice_template_dir: OptionalPath = setting(
        None,
        "Directory of notice templates that replace the packaged ones by name;"
        " empty: the packaged templates.",
    )
    notice_max_attempts: int = setting(
        8,
        "R9: attempts at a notice the SMTP server refuses temporarily (4xx) before"
        " it is marked failed and Certificate Services is told.",
        ge=1,
    )
    notice_retry_seconds: int = setting(
        300, "R9: first retry delay of a notice; doubled per attempt, at most 12 hours.", ge=1
    )
    # Mail by role and event, preferences and webhooks (issue 14)
    approval_reminder_days: int = setting(
        2,
        "Business days a case waits for approval before its approvers are"
        " reminded (once per round); 0: no reminders.",
        ge=0,
    )
    digest_hour: int = setting(
        7, "Hour (Pacific) at which the daily digest goes to people who chose it.", ge=0, le=23
    )
    cert_services_email: str = setting(
        "",
        "Team mailbox of Certificate Services, told of what cert services"
        " hear (new cases, questions, late cases, unreachable contacts) besides its people.",
    )
    webhook_max_attempts: int = setting(
        12, "Attempts at a webhook delivery before it is marked failed.", ge=1
    )
    webhook_retry_seconds: int = setting(
        30, "First retry delay of a webhook delivery; doubled per attempt, at most 12 hours.", ge=1
    )
    webhook_timeout_seconds: float = setting(
        10.0, "How long a webhook receiver may take to answer one delivery.", gt=0
    )

    # R11 cost
    cost_cents_per_year: int = setting(
        0,
        "R11: default cost of a managed certificate per certificate-year, in cents"
        " (an organization may have its own).",
        ge=0,
    )

    @model_validator(mode="after")
    def _numbers_in_reach(self) -> Settings:
        # A duration or a count larger than the date arithmetic or the database's integers
        # can hold (CERTDESK_WORKER_INTERVAL_SECONDS=99999999999999999999) is refused here,
        # not as an OverflowError wherever it is first used.
        for name in type(self).model_fields:
            problem = bounded(name, getattr(self, name))
            if problem:
                raise ValueError(f"bad setting {ENV_PREFIX}{name.upper()}: {problem}")
        return self

    @model_validator(mode="after")
    def _one_passphrase_source(self) -> Settings:
        if self.ca_passphrase and self.ca_passphrase_file is not None:
            raise ValueError("set CERTDESK_CA_PASSPHRASE or CERTDESK_CA_PASSPHRASE_FILE, not both")
        return self

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
