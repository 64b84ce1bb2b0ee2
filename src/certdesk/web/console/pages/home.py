"""The dashboard: what expires in the next 120 days, and the cases that wait for someone."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from certdesk.core.access import Action
from certdesk.core.workflow import State
from certdesk.services.casework.cases import CaseFilter
from certdesk.web.console.frame import ConsoleDep, ViewerDep

router = APIRouter()

LISTED = 10


@router.get("/")
def dashboard(request: Request, c: ConsoleDep, who: ViewerDep) -> Response:
    svc = c.services
    ahead = svc.inventory.forecast(who) if who.may(Action.CERT_READ) else None
    waiting = []
    if who.may(Action.CASE_APPROVE) and not who.is_global:
        waiting = svc.cases.search(
            who, CaseFilter(state=State.PENDING_APPROVAL, limit=LISTED)
        ).items
    overdue = []
    if who.may(Action.CASE_WORK) or who.is_global:
        overdue = svc.cases.search(who, CaseFilter(overdue=True, limit=LISTED)).items
    mine = (
        svc.cases.search(who, CaseFilter(limit=LISTED)).items if who.may(Action.CASE_READ) else []
    )
    peak = max((w.count for w in ahead.weeks), default=0) if ahead else 0
    return c.page(
        request,
        "dashboard.html",
        title="Dashboard",
        ahead=ahead,
        peak=max(peak, 1),
        waiting=waiting,
        overdue=overdue,
        recent=mine,
        may_approve=who.may(Action.CASE_APPROVE) and not who.is_global,
        may_work=who.may(Action.CASE_WORK) or who.is_global,
    )
