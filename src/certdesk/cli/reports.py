"""``certdesk report usage`` and ``certdesk org set-cost`` (R11), ``certdesk report sla`` (R5)."""

from __future__ import annotations

from typing import Annotated

import typer

from certdesk.cli.common import OPERATOR, emit_json, services
from certdesk.cli.orgs import org_app
from certdesk.cli.submittal_form import parse_date
from certdesk.errors import InvalidInput
from certdesk.services.reporting.reports import dollars, year_to_date

report_app = typer.Typer(
    help="Reports: usage and cost per organization (R11), turnaround performance (R5).",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
    org_app.command("set-cost")(set_cost)


@report_app.command("usage")
def usage(
    start: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (Pacific).")],
    end: Annotated[str, typer.Option("--to", help="Last day, included, YYYY-MM-DD.")],
    org: Annotated[str | None, typer.Option("--org", help="One organization.")] = None,
    csv_out: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Certificates issued per organization and platform, and managed cost, in a period."""
    if csv_out and json_out:
        raise InvalidInput("report.format", "give --csv or --json, not both")
    report = services().reports.usage(
        OPERATOR, org, parse_date(start, "report.from"), parse_date(end, "report.to")
    )
    if json_out:
        emit_json(report.as_dict())
        return
    if csv_out:
        typer.echo(report.as_csv(), nl=False)
        return
    typer.echo(f"usage {report.start} to {report.end}")
    typer.echo("organization\tservice\tcertificates\tdedicated\tvirtual\tcost")
    lines = [(r, "self-managed" if r.self_managed else "managed") for r in report.rows]
    for row, service in [*lines, (report.total, "-")]:
        typer.echo(
            f"{row.org_code}\t{service}\t{row.certificates}\t{row.dedicated}"
            f"\t{row.virtual}\t{dollars(row.cost_cents)}"
        )


def set_cost(
    code: Annotated[str, typer.Argument(help="Organization code.")],
    cents_per_year: Annotated[
        int | None,
        typer.Option("--cents-per-year", help="Cost of a managed certificate-year, in cents."),
    ] = None,
    default: Annotated[
        bool, typer.Option("--default", help="Use CERTDESK_COST_CENTS_PER_YEAR again.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Set an organization's cost per managed certificate-year (R11; audited)."""
    if default == (cents_per_year is not None):  # both, or neither
        raise InvalidInput("cost.rate", "give --cents-per-year N or --default")
    view = services().costs.set_cost(OPERATOR, code, None if default else cents_per_year)
    if json_out:
        emit_json(view.as_dict())
        return
    source = "default" if view.cents_per_year is None else "own rate"
    typer.echo(
        f"{view.org_code}\t{dollars(view.effective_cents_per_year)} per certificate-year ({source})"
    )


@report_app.command("sla")
def sla(
    start: Annotated[
        str | None,
        typer.Option("--from", "--start", help="First day, YYYY-MM-DD (Pacific); default 1 Jan."),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", "--end", help="Last day, included, YYYY-MM-DD; default today."),
    ] = None,
    org: Annotated[str | None, typer.Option("--org", help="One organization.")] = None,
    csv_out: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """R5 performance: cases delivered in a period within their target and due dates."""
    if csv_out and json_out:
        raise InvalidInput("report.format", "give --csv or --json, not both")
    svc = services()
    first, last = year_to_date(svc.rt.clock())
    report = svc.reports.sla(
        OPERATOR,
        org,
        parse_date(start, "report.from") if start is not None else first,
        parse_date(end, "report.to") if end is not None else last,
    )
    if json_out:
        emit_json(report.as_dict())
        return
    if csv_out:
        typer.echo(report.as_csv(), nl=False)
        return
    typer.echo(
        f"turnaround {report.start} to {report.end} (target +{report.target_business_days},"
        f" due +{report.due_business_days} business days)"
    )
    typer.echo("organization\tdelivered\twithin target\twithin due\tlate\tmean business days")
    for code, count in [*((r.org_code, r.count) for r in report.rows), ("TOTAL", report.total)]:
        typer.echo(
            f"{code}\t{count.delivered}\t{_share(count.within_target, count.within_target_pct)}"
            f"\t{_share(count.within_due, count.within_due_pct)}\t{count.late}"
            f"\t{'-' if count.mean_business_days is None else count.mean_business_days}"
        )


def _share(n: int, pct: float | None) -> str:
    return f"{n}" if pct is None else f"{n} ({pct}%)"
