"""Settings from the environment (``CERTDESK_*``), each with a safe default (STYLE habit 11).

Settings are built once by the adapter that starts (CLI command, server, worker) and passed
down; nothing reads the environment at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from certdesk.core.names import DEFAULT_SUFFIXES


class Settings(BaseSettings):
    """Every setting certdesk reads; documented in README.md (Configuration)."""

    model_config = SettingsConfigDict(env_prefix="CERTDESK_", extra="ignore")

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
    ca_key_type: Literal["ec256", "rsa2048"] = Field(
        default="ec256", description="Key of the issuing intermediate made by init."
    )
    allowed_suffixes: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_SUFFIXES, description="R1: the DNS suffixes certificates may be under."
    )
    max_validity_days: int | None = Field(
        default=None,
        description="R13: operator maximum validity in days (never above the CA/B maximum).",
    )
    crl_validity_hours: int = Field(default=168, description="CRL nextUpdate - thisUpdate.")
    ocsp_validity_hours: int = Field(default=96, description="OCSP nextUpdate - thisUpdate.")
    signing_lease_seconds: int = Field(
        default=60,
        description="A 'signing' row older than this is left over from a crash and is voided.",
    )
    log_level: str = Field(default="info", description="debug, info, warning or error.")

    @field_validator("allowed_suffixes", mode="before")
    @classmethod
    def _split_suffixes(cls, value: object) -> object:
        # Environment variables arrive as one string: "ca.gov,california.gov".
        if isinstance(value, str):
            return tuple(s.strip().lower() for s in value.split(",") if s.strip())
        return value

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
    def ca_dir(self) -> Path:
        return self.data_dir / "ca"

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"
