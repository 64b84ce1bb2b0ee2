"""Organizations (R2, R4, R6, R11): the list, a new organization, and one organization's
service option (managed or self-managed), grants, approval policy, renewal auto-approval and
cost per certificate-year.

Cert services manage; auditors read every organization; an agency's people read their own
(another organization's page is not found). The services decide all of that.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from certdesk.core.access import Action, Actor
from certdesk.core.workflow import Step
from certdesk.errors import CertdeskError, InvalidInput
from certdesk.services.people.orgs import OrgView
from certdesk.services.reporting.reports import dollars
from certdesk.web.console.frame import Console, ConsoleDep, ViewerDep

router = APIRouter()

Short = Annotated[str, Form(max_length=300)]
Long = Annotated[str, Form(max_length=50_000)]
Flag = Annotated[str, Form(max_length=8)]
STEP_LABELS = {Step.ORG_APPROVER: "an approver of the agency", Step.OPERATOR: "cert services"}


# -- shared with the other administration pages (people, tokens, contacts) ---------------------


def visible_orgs(c: Console, who: Actor) -> list[OrgView]:
    """Every organization for cert services and auditors; the caller's own otherwise."""
    return c.services.orgs.list_all(who)


def own_org(c: Console, who: Actor) -> str | None:
    """The code of the caller's organization; None for cert services and auditors."""
    if who.is_global:
        return None
    found = visible_orgs(c, who)
    return found[0].code if found else None


def org_options(orgs: Sequence[OrgView], blank: str | None = None) -> list[tuple[str, str]]:
    """(code, "code — name") pairs for a select, optionally after a blank choice."""
    options = [("", blank)] if blank is not None else []
    return options + [(o.code, f"{o.code} — {o.name}") for o in orgs]


# -- the list and a new organization ----------------------------------------------------------


def _list_page(
    request: Request,
    c: Console,
    who: Actor,
    *,
    form: dict[str, Any] | None = None,
    error: CertdeskError | None = None,
) -> Response:
    context: dict[str, Any] = {
        "orgs": visible_orgs(c, who),
        "may_manage": who.may(Action.ORG_MANAGE),
        "form": form or {"code": "", "name": "", "self_managed": False, "grants": ""},
    }
    if error is not None:
        return c.refused(request, "orgs.html", error, **context)
    return c.page(request, "orgs.html", **context)


@router.get("/orgs")
def org_list(request: Request, c: ConsoleDep, who: ViewerDep) -> Response:
    return _list_page(request, c, who)


@router.post("/orgs")
def org_create(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    code: Short,
    name: Short,
    grants: Long = "",
    self_managed: Flag = "",
) -> Response:
    lines = [line.strip() for line in grants.splitlines() if line.strip()]
    try:
        org = c.services.orgs.create(who, code, name, self_managed=bool(self_managed), grants=lines)
    except CertdeskError as exc:
        form = {"code": code, "name": name, "self_managed": bool(self_managed), "grants": grants}
        return _list_page(request, c, who, form=form, error=exc)
    return c.redirect(f"/orgs/{org.code}", flash=f"Organization {org.code} is created.")


# -- one organization -------------------------------------------------------------------------


def _detail_page(
    request: Request,
    c: Console,
    who: Actor,
    code: str,
    *,
    error: CertdeskError | None = None,
    **form: Any,
) -> Response:
    svc = c.services
    org = svc.orgs.get(who, code)  # not found for another agency: the error page
    context: dict[str, Any] = {
        "org": org,
        "policy": svc.approvals.policy(who, org.code),
        "cost": svc.costs.show(who, org.code),
        "auto_approve": svc.renewals.auto_approves(who, org.code),
        "may_manage": who.may(Action.ORG_MANAGE),
        # R16: cert services pin a grant's issuer; the choices are the active vendors.
        "issuer_choices": (
            [("organization", "the organization's"), ("builtin", "certdesk's own CA")]
            + [(v.name, v.title) for v in svc.vendors.list(who) if v.active]
            if who.may(Action.ISSUER_MANAGE)
            else []
        ),
        "grant_issuers": dict(org.grant_issuers),
        "steps": [(str(step), label) for step, label in STEP_LABELS.items()],
        "step_labels": {str(k): v for k, v in STEP_LABELS.items()},
        "dollars": dollars,
        "form": {"kind": "zone", "name": "", "case_type": "", "cost": "", **form},
    }
    if error is not None:
        return c.refused(request, "org.html", error, **context)
    return c.page(request, "org.html", **context)


@router.get("/orgs/{code}")
def org_detail(request: Request, c: ConsoleDep, who: ViewerDep, code: str) -> Response:
    return _detail_page(request, c, who, code[:64])


# The service options of R11 as the form names them: value -> (self_managed, how it reads).
SERVICES = {
    "managed": (False, "managed by cert services"),
    "self-managed": (True, "self-managed (delegated administrators)"),
}


@router.post("/orgs/{code}/service")
def service_set(
    request: Request, c: ConsoleDep, who: ViewerDep, code: str, service: Short
) -> Response:
    try:
        if service not in SERVICES:
            raise InvalidInput(
                "org.service", f"{service.strip()[:40]!r} is not managed or self-managed"
            )
        self_managed, what = SERVICES[service]
        org = c.services.orgs.set_service(who, code, self_managed=self_managed)
    except CertdeskError as exc:
        return _detail_page(request, c, who, code, error=exc)
    return c.redirect(f"/orgs/{org.code}", flash=f"{org.code} is now {what}.")


@router.post("/orgs/{code}/grants")
def grant_add(
    request: Request, c: ConsoleDep, who: ViewerDep, code: str, kind: Short, name: Short
) -> Response:
    grant = f"{kind.strip()}:{name.strip()}"
    try:
        org = c.services.orgs.add_grant(who, code, grant)
    except CertdeskError as exc:
        return _detail_page(request, c, who, code, error=exc, kind=kind, name=name)
    return c.redirect(f"/orgs/{org.code}", flash=f"{org.code} now holds {grant}.")


@router.post("/orgs/{code}/grants/issuer")
def grant_issuer_set(
    request: Request, c: ConsoleDep, who: ViewerDep, code: str, grant: Short, issuer: Short
) -> Response:
    try:
        issuer_id = c.services.vendors.grant_choice(who, issuer)
        org = c.services.orgs.set_grant_issuer(who, code, grant, issuer_id, issuer.strip().lower())
    except CertdeskError as exc:
        return _detail_page(request, c, who, code, error=exc)
    chosen = dict(org.grant_issuers).get(grant.strip().lower())
    said = f"come from {chosen}" if chosen else "come from the organization's issuer"
    return c.redirect(f"/orgs/{org.code}", flash=f"Certificates under {grant} now {said}.")


@router.post("/orgs/{code}/grants/remove")
def grant_remove(
    request: Request, c: ConsoleDep, who: ViewerDep, code: str, grant: Short
) -> Response:
    try:
        org = c.services.orgs.remove_grant(who, code, grant)
    except CertdeskError as exc:
        return _detail_page(request, c, who, code, error=exc)
    return c.redirect(f"/orgs/{org.code}", flash=f"{org.code} no longer holds {grant}.")


@router.post("/orgs/{code}/policy")
def policy_set(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    code: str,
    case_type: Short,
    action: Flag = "set",
    step_org_approver: Flag = "",
    step_operator: Flag = "",
) -> Response:
    steps: list[str] | None = None
    if action != "default":
        chosen = {Step.ORG_APPROVER: step_org_approver, Step.OPERATOR: step_operator}
        steps = [str(step) for step, on in chosen.items() if on]
    try:
        view = c.services.approvals.set_policy(who, code, case_type, steps)
    except CertdeskError as exc:
        return _detail_page(request, c, who, code, error=exc, case_type=case_type)
    return c.redirect(
        f"/orgs/{view.org_code}", flash=f"The approval policy for {case_type} cases is saved."
    )


def _cents(text: str) -> int:
    """A dollar amount as typed (``125``, ``125.5``, ``$1,250.00``) in whole cents."""
    cleaned = text.strip().removeprefix("$").replace(",", "")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        amount = Decimal("NaN")
    if (
        not amount.is_finite()
        or abs(amount) >= 10**9  # check_rate's limit is far below; quantize needs a bound
        or amount != amount.quantize(Decimal("0.01"))
    ):
        raise InvalidInput(
            "cost.rate", f"{text.strip()[:40]!r} is not an amount in dollars, like 125.00"
        )
    return int(amount * 100)


@router.post("/orgs/{code}/cost")
def cost_set(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    code: str,
    cost: Short = "",
    action: Flag = "set",
) -> Response:
    try:
        cents = None if action == "default" else _cents(cost)
        view = c.services.costs.set_cost(who, code, cents)
    except CertdeskError as exc:
        return _detail_page(request, c, who, code, error=exc, cost=cost)
    return c.redirect(
        f"/orgs/{view.org_code}",
        flash=f"{view.org_code} now costs {dollars(view.effective_cents_per_year)}"
        " per certificate-year.",
    )


@router.post("/orgs/{code}/auto-approve")
def auto_approve_set(
    request: Request, c: ConsoleDep, who: ViewerDep, code: str, enabled: Flag = ""
) -> Response:
    on = enabled == "1"
    try:
        c.services.renewals.set_auto_approve(who, code, on)
    except CertdeskError as exc:
        return _detail_page(request, c, who, code, error=exc)
    what = "approved automatically" if on else "approved by people"
    return c.redirect(f"/orgs/{code.strip().lower()}", flash=f"Unchanged renewals are now {what}.")
