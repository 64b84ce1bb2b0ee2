"""A case on the command line: how ``certdesk case`` commands print a case and a case
summary (the JSON of ``--json`` is the service's own view)."""

from __future__ import annotations

import typer

from certdesk.cli.common import emit_json
from certdesk.services.casework.casefile import CaseSummary, CaseView


def print_summary(c: CaseSummary) -> None:
    """One line of ``certdesk case list``: number, state, organization, type, due, flags, title."""
    flags = [f for f, on in (("EXPEDITE", c.expedite), ("OVERDUE", c.overdue)) if on]
    due = f"due {c.due_date}" if c.due_date else "-"
    typer.echo(
        f"{c.number}\t{c.state}\t{c.org_code}\t{c.type}\t{due}\t{' '.join(flags) or '-'}\t{c.title}"
    )


def print_case(view: CaseView, json_out: bool) -> None:
    """A case as ``certdesk case show`` prints it, or its view as JSON (``--json``)."""
    if json_out:
        emit_json(view.as_dict())
        return
    data = view.as_dict()
    typer.echo(f"{data['number']}  {data['title']}")
    typer.echo(
        f"  organization  {data['organization']}   type {data['type']}   state {data['state']}"
    )
    typer.echo(f"  opened by     {data['opened_by']} at {data['created_at']}")
    if data["description"]:
        typer.echo(f"  description   {data['description']}")
    if data["target_certificate"]:
        typer.echo(f"  certificate   {data['target_certificate']}")
    if data["requested_delivery"]:
        typer.echo(f"  requested     {data['requested_delivery']}")
    approval = data["approval"]
    if approval["round"]:
        steps = ", ".join(approval["steps"]) or "none"
        waiting = ", ".join(approval["outstanding"]) or "-"
        typer.echo(f"  approvals     round {approval['round']}: {steps}; waiting for {waiting}")
    if data["approved_at"]:
        flags = " EXPEDITE" if data["expedite"] else ""
        flags += " OVERDUE" if data["overdue"] else ""
        typer.echo(
            f"  turnaround    approved {data['approved_at']}, target {data['target_date']},"
            f" due {data['due_date']}{flags}"
        )
    setup = data["delegated_admin"]
    if setup:
        typer.echo(f"  grants        {' '.join(setup['grants']) or '-'}")
        for admin in setup["admins"]:
            typer.echo(f"  admin         {admin['name']} <{admin['email']}> ({admin['login_id']})")
    for sub in data["submittals"]:
        typer.echo(
            f"  submittal {sub['id']}   {sub['cert_type']} {', '.join(sub['names'])}"
            f" ({sub['platform']}, {sub['key_type']}{', CSR' if sub['csr'] else ''})"
        )
        for c in sub["contacts"]:
            typer.echo(f"    {c['kind']:<14} {c['name']} <{c['email']}> {c['phone']}".rstrip())
        if sub["certificate"]:
            typer.echo(f"    certificate    {sub['certificate']}")
        if (order := sub["order"]) is not None:
            status = f" (vendor: {order['vendor_status']})" if order["vendor_status"] else ""
            typer.echo(f"    order          {order['state']} at {order['issuer']}{status}")
            if order["problem"] and order["state"] != "issued":
                problem = order["problem"]
                typer.echo(f"    vendor said    {problem.get('detail') or problem.get('type')}")
    for a in data["approvals"]:
        reason = f": {a['reason']}" if a["reason"] else ""
        typer.echo(
            f"  decision      round {a['round']} {a['step']} {a['decision']} by {a['actor']}"
            f" at {a['at']}{reason}"
        )
    for c in data["comments"]:
        typer.echo(f"  comment       {c['at']} {c['actor']}: {c['text']}")
    for h in data["history"]:
        note = f" ({h['note']})" if h["note"] else ""
        typer.echo(
            f"  history       {h['at']} {h['actor']} {h['event']} {h['from']}->{h['to']}{note}"
        )
