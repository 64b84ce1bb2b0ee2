"""Discovery from the console (R18): cert services name endpoints and ranges on the external
certificates page; the discovery runs in the background (services/discovery/jobs.py) and its
page shows the progress — refreshed in place by a small script, or by a link without one —
and, once done, what was found. A job is its requester's organization's: anyone else gets
the page of a job that does not exist."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response

from certdesk.core.messages import for_people
from certdesk.errors import CertdeskError, InvalidInput
from certdesk.web.console.frame import ConsoleDep, ViewerDep
from certdesk.web.console.pages.external import external_page

router = APIRouter()

JobId = Annotated[int, Path(ge=1, le=2**31 - 1)]
MAX_LINES = 100  # as the API's list of targets
STATE_WORDS = {
    "queued": "Waiting to start.",
    "running": "Running.",
    "done": "Finished.",
    "failed": "Stopped: the discovery could not be completed.",
}


def _targets(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise InvalidInput("endpoint.bad_target", "name at least one endpoint or range")
    if len(lines) > MAX_LINES:
        raise InvalidInput("endpoint.too_many", f"at most {MAX_LINES} lines at once")
    for line in lines:
        if len(line) > 100:
            raise InvalidInput("endpoint.bad_target", f"{line[:40]}… is not an endpoint")
    return lines


@router.post("/external/discover")
def discover(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    targets: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    try:
        job = c.services.discovery_jobs.start(who, _targets(targets))
    except CertdeskError as exc:
        return external_page(request, c, who, error=exc, targets=targets)
    c.services.discovery_jobs.run_soon(job.id)
    return c.redirect(f"/external/discovery/{job.id}")


@router.get("/external/discovery/{job_id}")
def discovery_job(request: Request, c: ConsoleDep, who: ViewerDep, job_id: JobId) -> Response:
    job = c.services.discovery_jobs.get(who, job_id)
    error_words = ""
    if job.error:
        code, _, detail = job.error.partition(": ")
        sentence, specifics = for_people(code, detail, "invalid")
        error_words = f"{sentence} {specifics}".strip()
    return c.page(
        request,
        "discovery_job.html",
        title=f"Discovery {job.id}",
        job=job,
        state_words=STATE_WORDS.get(job.state, job.state),
        error_words=error_words,
    )
