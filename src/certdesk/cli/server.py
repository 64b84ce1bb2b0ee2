"""``certdesk init``, ``serve`` and ``crl``."""

from __future__ import annotations

import os
from contextlib import ExitStack
from typing import Annotated

import structlog
import typer

from certdesk import logs
from certdesk.cli.common import emit_json, program, schema_in_change, services
from certdesk.config import Settings
from certdesk.links import compliance_warning
from certdesk.metrics import shared_directory
from certdesk.services.setup import initialize

log = structlog.get_logger("certdesk.serve")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("serve")(serve)
    app.command("crl")(crl)


def init(
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Migrate the database, create the built-in CA and the first operator token (idempotent)."""
    with schema_in_change():
        svc = services()
    report = initialize(svc)
    settings = svc.rt.settings
    if json_out:
        emit_json(
            {
                "database": svc.rt.engine.url.render_as_string(hide_password=True),
                "created_ca": report.created_ca,
                "issuers": [{"id": s, "name": n, "root": r} for s, n, r in report.issuers],
                "operator_token": report.operator_token.secret if report.operator_token else None,
                "operator_account": {
                    "login_id": report.operator_account.user.login_id,
                    "enrollment_link": report.operator_account.link,
                }
                if report.operator_account
                else None,
                "voided": report.voided,
            }
        )
        return
    typer.echo(f"database: {svc.rt.engine.url.render_as_string(hide_password=True)} (migrated)")
    verb = "created" if report.created_ca else "present"
    for slug, name, is_root in report.issuers:
        kind = "root CA" if is_root else "issuing CA"
        typer.echo(f"{kind} {verb}: {name} (id {slug})")
    typer.echo(f"CA keys: encrypted files under {settings.ca_dir} (mode 0600)")
    _warn_pki_url(settings)
    if report.voided:
        typer.echo(
            f"voided {len(report.voided)} interrupted issuance(s): {', '.join(report.voided)}"
        )
    if report.operator_token:
        typer.echo("")
        typer.echo("First operator API token (shown once; store it now):")
        typer.echo(f"  {report.operator_token.secret}")
        typer.echo("Use it as:  Authorization: Bearer <token>")
    else:
        typer.echo(
            "operator token: already created (make another:"
            f" {program()} token create --role operator)"
        )
    if report.operator_account:
        account = report.operator_account
        typer.echo("")
        typer.echo(f"Console: the operator account {account.user.login_id!r} was created.")
        typer.echo("Open this single-use link to choose its password, then sign in:")
        typer.echo(f"  {account.link}")
        typer.echo(f"(valid until {account.expires_at:%Y-%m-%d %H:%M} UTC)")
    else:
        typer.echo(
            f"console: sign in at {settings.base_url}/login; a new password link for an"
            f" operator: {program()} user reset LOGIN"
        )


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Server processes (default: one per core)."),
    ] = None,
) -> None:
    """Serve the API, console, CRLs, OCSP and health endpoints (uvicorn).

    https when CERTDESK_TLS_CERT_FILE and CERTDESK_TLS_KEY_FILE are set, else plain http.
    """
    import uvicorn

    from certdesk.web.serving import has_uvloop, http_protocol, tls_files

    # The TLS files first: a wrong one is a usage error whatever state the database is in.
    tls = tls_files(Settings())
    settings = services().rt.settings  # refuses an old schema or another installation's key
    logs.configure(settings)  # stderr is the server's log from here on
    for warning in tls.warnings if tls else ():
        log.warning(warning)
    scheme = "https" if tls else "http"
    typer.echo(
        f"certdesk serving on {scheme}://{host}:{port} (API docs: /docs, OpenAPI: /openapi.json)"
    )
    typer.echo(f"URLs in certificates (AIA, CRL, OCSP) start with: {settings.pki_url}")
    problem = compliance_warning(settings.pki_url)
    if problem:
        log.warning(
            f"{problem}; fine for a local trial, but set CERTDESK_PKI_BASE_URL to the public"
            " http:// address of this server before issuing real certificates"
        )
    typer.echo(
        f"console: open {scheme}://{host}:{port}/ and sign in with the account 'init' printed"
        f" (no password yet, or forgotten: {program()} user reset LOGIN prints a new link)"
    )
    typer.echo(
        "API: Authorization: Bearer <token>  — the operator token printed by 'init',"
        f" or a new one: {program()} token create --role operator"
    )
    if workers is None:
        workers = min(len(os.sched_getaffinity(0)), 64)
    with ExitStack() as stack:
        if workers > 1:
            # Counters of N processes add up (metrics.py); one process needs no files.
            stack.enter_context(shared_directory(settings.data_dir))
        uvicorn.run(
            "certdesk.web.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level,
            log_config=None,  # logs.py configured the loggers, in every server process
            access_log=False,  # certdesk writes its own access line (web/access.py)
            http=http_protocol(),
            loop="uvloop" if has_uvloop() else "asyncio",
            ssl_certfile=tls.cert_file if tls else None,
            ssl_keyfile=tls.key_file if tls else None,
        )


def crl(
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Publish a fresh CRL for every built-in CA now."""
    svc = services()
    out = []
    for issuer, _cert in svc.authority.all_certificates():
        published = svc.revocation.publish_crl(issuer.slug)
        out.append(
            {
                "issuer": issuer.slug,
                "name": issuer.name,
                "number": published.number,
                "url": svc.rt.linker.crl(issuer.slug),
            }
        )
    if json_out:
        emit_json(out)
        return
    for item in out:
        typer.echo(f"CRL #{item['number']} for {item['name']}: {item['url']}")


def _warn_pki_url(settings: Settings) -> None:
    problem = compliance_warning(settings.pki_url)
    if problem:
        typer.echo(
            f"note: {problem}; fine for a local trial, but set CERTDESK_PKI_BASE_URL to the"
            " public http:// address of this server before issuing real certificates",
            err=True,
        )
