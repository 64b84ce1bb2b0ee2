"""Every link on every console page leads somewhere: a crawl, as each kind of person.

Starting at the dashboard, the crawler follows every same-site link of every page it
reaches (GET only: forms are not submitted) and asks that each answers 200 — a link the
console shows to someone is never a dead end, an error or a refusal for that someone —
and that each HTML page has exactly one ``<h1>``.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from collections import deque
from collections.abc import Iterator

import pytest

from conftest import OPERATOR
from world.console import console_desk, visitor
from world.desk import DMV, Desk, sub

HREF = re.compile(r'href="([^"]+)"')
MAX_PAGES = 150  # per person; the demo data below is small, so the crawl ends well before


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    with console_desk("sqlite", tmp_path_factory.mktemp("console-links")) as d:
        svc = d.services
        view = d.approved(DMV, submittals=(sub("crawl.dmv.ca.gov"),))
        svc.fulfilment.fulfil(d["opal"], view.number)
        d.pending("ana")
        d.draft("ana")
        svc.cases.comment(d["ana"], view.number, "Installed; thanks.")
        svc.tokens.create(OPERATOR, role=d["ana"].role, org_code=DMV, label="crawler")
        yield d


def links(page: str) -> list[str]:
    out = []
    for raw in HREF.findall(page):
        href = html.unescape(raw)
        parts = urllib.parse.urlsplit(href)
        if parts.scheme or parts.netloc or not href.startswith("/"):
            continue  # another site (the template's home page, say)
        if href.startswith(("/static/", "/openapi.json", "/docs")):
            continue
        out.append(urllib.parse.urlunsplit(("", "", parts.path, parts.query, "")))
    return out


@pytest.mark.parametrize("login", ["ana", "abe", "dan", "opal", "aud"])
def test_every_link_a_person_is_shown_opens(desk: Desk, login: str) -> None:
    with visitor(desk, login) as v:
        seen = {"/"}
        todo = deque(["/"])
        broken = []
        while todo and len(seen) <= MAX_PAGES:
            url = todo.popleft()
            response = v.get(url)
            if response.status_code != 200:
                broken.append((url, response.status_code))
                continue
            if not response.headers["content-type"].startswith("text/html"):
                continue  # a download (PEM, CSV, …)
            assert response.text.count("<h1") == 1, f"{url}: one <h1> per page"
            for link in links(response.text):
                if link not in seen:
                    seen.add(link)
                    todo.append(link)
        assert not broken, f"{login} was shown links that do not open: {broken}"
        assert len(seen) > 10, seen  # the crawl went somewhere
