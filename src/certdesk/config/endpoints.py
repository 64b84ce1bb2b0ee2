"""Settings of the machines certdesk talks to: its ACME server (RFC 8555, R17), that server's
validation authority, and endpoint verification and discovery (R14, R18).

Rows of the settings table (:mod:`certdesk.config.shapes` says how a row reads); part of
:class:`certdesk.config.Settings`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from certdesk.config.shapes import AddressPort, IpAddress, NetworkList, WebUrl, setting


class EndpointSettings(BaseModel):
    """The ACME server's and endpoint verification's rows of :class:`Settings`."""

    # The ACME server (RFC 8555, R17) and its validation authority (VA).
    acme_terms_of_service_url: WebUrl = setting(
        "",
        "ACME: the terms of service the directory names; empty means the short"
        " text certdesk serves at BASE_URL/acme/terms.",
    )
    acme_nonce_seconds: int = setting(
        3600, "ACME: how long an unused Replay-Nonce stays good.", ge=60
    )
    acme_order_hours: int = setting(168, "ACME: how long an order may wait to be finalized.", ge=1)
    acme_eab_days: int = setting(
        30,
        "ACME: how long a new EAB key may wait to bind an account, unless"
        " 'acme eab create --expires' says otherwise.",
        ge=1,
    )
    acme_va_address: IpAddress = setting(
        "",
        "ACME VA, tests and labs: connect every validation to this IP address"
        " instead of resolving the name (its range is then allowed).",
    )
    acme_va_http_port: int = setting(80, "ACME VA: the port http-01 connects to.", ge=1, le=65535)
    acme_va_tls_port: int = setting(
        443,
        "ACME VA: the port tls-alpn-01 connects to (and https redirects of"
        " http-01 without a port of their own).",
        ge=1,
        le=65535,
    )
    acme_issuer_domain_name: str = setting(
        "",
        "ACME: the issuer domain name dns-persist-01 records must name; empty"
        " means the host of CERTDESK_BASE_URL.",
    )
    acme_va_dns_server: AddressPort = setting(
        "",
        "ACME VA: IP:port of the DNS resolver dns-01 (and http-01's name"
        " lookups) ask; empty means the system's resolver.",
    )
    acme_va_allow_ranges: NetworkList = setting(
        (),
        "ACME VA: comma-separated address ranges (CIDR) validation may connect to"
        " although they are loopback, link-local or private (refused otherwise).",
    )
    acme_va_workers: int = setting(
        4, "ACME VA: validations run at once per server process (a bounded pool).", ge=1, le=64
    )
    # Endpoint verification and discovery (R14, R18).
    verify_allow_networks: NetworkList = setting(
        (),
        "Verification and discovery: comma-separated CIDR ranges that may be"
        " connected to although they are loopback, private or reserved (refused otherwise).",
    )
    verify_ca_file: Path | None = setting(
        None,
        "Verification: a PEM file of further trusted roots (an internal CA), on"
        " top of the system's and certdesk's own.",
    )
    verify_timeout_seconds: float = setting(
        5.0, "Verification: deadline of each connection.", gt=0, le=120
    )
    verify_concurrency: int = setting(
        8, "Verification and discovery: endpoints at once.", ge=1, le=256
    )
    import_password: str = setting(
        "",
        "certdesk import: the PKCS#12 password when --password is not given"
        " (keeps it out of the process list).",
        secret=True,
    )
    verify_port: int = setting(443, "The port the worker's re-checks connect to.", ge=1, le=65535)
    verify_address: str = setting(
        "",
        "Tests and labs: connect every verification to this address instead of"
        " resolving the name (still subject to the allowed networks).",
    )
    verify_interval_hours: int = setting(
        0,
        "The worker re-checks each delivered certificate's names this often"
        " (0: never; connecting to servers is the operator's decision).",
        ge=0,
        le=24 * 30,
    )
    # Rate limits (issue 13): counted in the database, so every serve process shares them.
    acme_orders_per_hour_account: int = setting(
        300, "ACME: new orders one account may place per hour.", ge=1
    )
    acme_orders_per_hour_org: int = setting(
        1000, "ACME: new orders all accounts of one organization may place per hour.", ge=1
    )
    acme_pending_authz_account: int = setting(
        300, "ACME: unexpired pending authorizations one account may hold.", ge=1
    )
    acme_pending_authz_org: int = setting(
        1000, "ACME: unexpired pending authorizations one organization may hold.", ge=1
    )
    acme_authz_reuse_days: int = setting(
        10,
        "ACME: days a validation is reused for the account's new orders (0: never;"
        " capped at what SC-081 allows at the time).",
        ge=0,
        le=398,
    )
    acme_shortlived_days: int = setting(
        7, "ACME: validity in days of the 'shortlived' profile.", ge=1, le=47
    )
