"""``certdesk webhook add|list|remove|deliveries``: outbound webhooks (issue 14).

``add`` prints the signing secret once (it is stored only sealed); docs/webhooks.md says how
a receiver checks the ``Certdesk-Signature`` header.
"""

from __future__ import annotations

from typing import Annotated

import typer

from certdesk.cli.common import MAX_ID, OPERATOR, emit_json, services
from certdesk.services.lifecycle.webhooks import WebhookView

webhook_app = typer.Typer(
    help="Outbound webhooks: signed JSON events for cases and certificates.",
    no_args_is_help=True,
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
IdArg = Annotated[
    int, typer.Argument(help="The webhook's number (see webhook list).", min=1, max=MAX_ID)
]


def register(app: typer.Typer) -> None:
    app.add_typer(webhook_app, name="webhook")


def _line(w: WebhookView) -> str:
    events = ",".join(w.events) or "all events"
    return "\t".join([str(w.id), w.org or "cert-services", w.url, events, w.label or "-"])


@webhook_app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="The receiver: https://…, or http://127.0.0.1…")],
    org: Annotated[
        str | None,
        typer.Option(
            "--org",
            help="The organization whose events it receives; none: every"
            " organization's (cert services).",
        ),
    ] = None,
    event: Annotated[
        list[str] | None,
        typer.Option("--event", help="Only this event type (repeatable); none: every event."),
    ] = None,
    label: Annotated[str, typer.Option("--label", help="What it is for.")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Add a webhook; prints its signing secret once."""
    new = services().webhooks.add(OPERATOR, url, org_code=org, events=event or (), label=label)
    if json_out:
        emit_json({"webhook": new.webhook.as_dict(), "secret": new.secret})
        return
    typer.echo(_line(new.webhook))
    typer.echo(f"secret: {new.secret}")
    typer.echo("(the signing secret is shown only this once; keep it with the receiver)", err=True)


@webhook_app.command("list")
def list_webhooks(
    org: Annotated[str | None, typer.Option("--org", help="Only this organization's.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List webhooks: number, organization, address, events, label."""
    found = services().webhooks.listing(OPERATOR, org)
    if json_out:
        emit_json([w.as_dict() for w in found])
        return
    for w in found:
        typer.echo(_line(w))


@webhook_app.command("remove")
def remove(webhook_id: IdArg, json_out: JsonOpt = False) -> None:
    """Remove a webhook; deliveries still waiting for it are not sent."""
    gone = services().webhooks.remove(OPERATOR, webhook_id)
    if json_out:
        emit_json(gone.as_dict())
        return
    typer.echo(f"webhook {gone.id} ({gone.url}) is removed")


@webhook_app.command("deliveries")
def deliveries(
    webhook_id: IdArg,
    status: Annotated[
        str | None, typer.Option(help="pending, sending, delivered or failed.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    json_out: JsonOpt = False,
) -> None:
    """The delivery log of a webhook, newest first."""
    found = services().webhooks.deliveries(OPERATOR, webhook_id, status=status, limit=limit)
    if json_out:
        emit_json([d.as_dict() for d in found])
        return
    for d in found:
        answer = str(d.last_status) if d.last_status is not None else "-"
        when = d.delivered_at or d.next_attempt_at
        shown = when.isoformat().replace("+00:00", "Z") if when else "-"
        late = " late" if d.late else ""
        typer.echo(
            f"{d.id}\t{d.event_type}\t{d.status}{late}\tattempts {d.attempts}\t{answer}\t{shown}"
            f"\t{d.event_id}\t{d.last_error or ''}".rstrip()
        )
