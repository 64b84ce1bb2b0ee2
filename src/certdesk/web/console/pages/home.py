"""The dashboard: the asker's work queue first, then what expires in the next 120 days."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from certdesk.core.access import Action
from certdesk.web.console.frame import ConsoleDep, ViewerDep

router = APIRouter()

# The work queue's sections, in the order a person works them, with their headings and what
# an empty one says (a section that is not the viewer's work is not shown at all).
SECTIONS = (
    ("awaiting_approval", "Awaiting your approval", "No case waits for your approval."),
    ("ready_to_fulfil", "Ready to fulfil", "No approved case waits to be issued."),
    ("overdue", "Overdue cases", "No case is overdue."),
    ("ordering", "Ordering at a vendor", "No case waits for a vendor's certificate."),
    ("failed_notices", "Mail that could not be sent", "Every notice was delivered."),
    ("mine", "Your cases", "You have not opened a case yet."),
)


@router.get("/")
def dashboard(request: Request, c: ConsoleDep, who: ViewerDep) -> Response:
    svc = c.services
    ahead = svc.inventory.forecast(who) if who.may(Action.CERT_READ) else None
    queue = svc.work_queue.of(who)
    sections = [
        (key, heading, empty, getattr(queue, key))
        for key, heading, empty in SECTIONS
        if key in queue.sections
    ]
    peak = max((w.count for w in ahead.weeks), default=0) if ahead else 0
    return c.page(
        request,
        "dashboard.html",
        title="Dashboard",
        ahead=ahead,
        peak=max(peak, 1),
        sections=sections,
        may_open=who.may(Action.CASE_OPEN) and not who.is_global,
    )
