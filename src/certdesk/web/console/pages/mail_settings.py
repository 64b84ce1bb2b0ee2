"""The signed-in person's mail settings (issue 14): for each kind of mail, at once, in the
daily digest, or off (the safety notices offer no "off")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from certdesk.core.mail_kinds import Kind
from certdesk.errors import CertdeskError
from certdesk.web.console.frame import ConsoleDep, ViewerDep

router = APIRouter()

MODE_WORDS = {"immediate": "At once", "digest": "In the daily digest", "off": "Not at all"}


def _page(
    request: Request, c: ConsoleDep, who: ViewerDep, error: CertdeskError | None = None
) -> Response:
    prefs = c.services.mail_preferences.show(who)
    rows = [
        {
            "kind": p.kind,
            "label": p.label,
            "mode": p.mode,
            "options": [(m, w) for m, w in MODE_WORDS.items() if not (p.safety and m == "off")],
        }
        for p in prefs
    ]
    hour = c.services.rt.settings.digest_hour
    context: dict[str, Any] = {
        "rows": rows,
        "digest_hour": f"{hour % 12 or 12}:00 {'a.m.' if hour < 12 else 'p.m.'}",
    }
    if error is not None:
        return c.refused(request, "mail_settings.html", error, **context)
    return c.page(request, "mail_settings.html", **context)


@router.get("/account/mail")
def mail_settings(request: Request, c: ConsoleDep, who: ViewerDep) -> Response:
    return _page(request, c, who)


@router.post("/account/mail")
async def mail_settings_save(request: Request, c: ConsoleDep, who: ViewerDep) -> Response:
    form = await request.form()
    wanted = {
        k.value: str(form.get(f"mode-{k.value}", ""))[:20]
        for k in Kind
        if form.get(f"mode-{k.value}") is not None
    }
    try:
        c.services.mail_preferences.set(who, wanted)
    except CertdeskError as exc:
        return _page(request, c, who, exc)
    return c.redirect("/account/mail", flash="Your mail settings are saved.")
