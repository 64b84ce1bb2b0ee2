"""/help: the service guidelines in plain language, readable without signing in (the seed's
"alternative format": accessible HTML instead of a document sent on request)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from certdesk.core.access import Action
from certdesk.web.console.frame import ConsoleDep, SignInNeeded

router = APIRouter()


@router.get("/help")
def help_page(request: Request, c: ConsoleDep) -> Response:
    # Signed-in people keep their navigation; everyone else reads the same page.
    who = None
    if c.cookies.session_of(request) is not None:
        try:
            who = c.actor_of(request)
        except SignInNeeded:
            pass
    settings = c.services.rt.settings
    return c.page(
        request,
        "help.html",
        title="Help and service guidelines",
        suffixes=settings.allowed_suffixes,
        password_days=settings.password_max_age_days,
        window_days=settings.window_days,
        target_days=settings.target_business_days,
        due_days=settings.due_business_days,
        renew_days_before=settings.renewal_margin_days,
        may_open=who is not None and who.may(Action.CASE_OPEN),
    )
