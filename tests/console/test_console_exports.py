"""A list page and its download agree: /certificates, /cases and /audit and their
/exports/… CSV read the same query string through one filter, so for every filter the CSV
holds exactly the rows the list shows, for whoever asks (R19 pages, R15 audit, R2 who sees
what)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import pytest

from certdesk.services.pki.revocation import Reason
from conftest import OPERATOR
from world.console import Browsers, browsers, console_desk
from world.desk import CHP, DMV, START, Desk

LISTS = {
    # list path -> (the pattern of a row's key on the page, the CSV column holding it)
    "/certificates": (r'<a href="/certificates/([0-9a-f]+)" class="serial">', "Serial"),
    "/cases": (r'<td><a href="/cases/([^"]+)">', "Case"),
    "/audit": (r'<tr id="event-([0-9]+)"', "Event"),
}


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    with console_desk("sqlite", tmp_path_factory.mktemp("console-exports")) as d:
        d.at(START)
        for org in (DMV, CHP):
            d.issue(org)
            d.issue(org, f"filter.{org}.ca.gov")
        revoked = d.issue(DMV)
        d.services.revocation.revoke(OPERATOR, revoked, Reason.UNSPECIFIED)
        d.draft("ana", DMV, title="Filter me")
        d.pending("carl", CHP)
        d.approved(DMV)
        yield d


@pytest.fixture(scope="module")
def browser(desk: Desk) -> Iterator[Browsers]:
    with browsers(desk) as of:
        for login in ("ana", "opal", "aud"):
            of(login).get("/")  # signed in: the log holds their sign-ins
        yield of


def listed(browser: Browsers, who: str, path: str, query: str) -> list[str]:
    """The keys of every row the list shows, page after page."""
    pattern, _ = LISTS[path]
    keys: list[str] = []
    url: str | None = f"{path}?{query}"
    while url:
        page = browser(who).get(url)
        assert page.status_code == 200, page.text[:500]
        keys += re.findall(pattern, page.text)
        more = re.search(r'href="(/[a-z]+\?[^"]*cursor=[^"]*)"', page.text)
        url = more.group(1).replace("&amp;", "&") if more else None
    return keys


def exported(browser: Browsers, who: str, path: str, query: str) -> list[str]:
    _, column = LISTS[path]
    got = browser(who).get(f"/exports{path}?{query}{'&' if query else ''}format=csv")
    assert got.status_code == 200, got.text[:500]
    assert got.headers["content-type"].startswith("text/csv")
    return [row[column] for row in csv.DictReader(io.StringIO(got.text))]


@pytest.mark.parametrize(
    ("who", "path", "query"),
    [
        pytest.param("opal", "/certificates", "", id="certificates/everything"),
        pytest.param("ana", "/certificates", "", id="certificates/own-organization-only"),
        pytest.param("opal", "/certificates", "org=chp", id="certificates/org"),
        pytest.param("opal", "/certificates", "q=filter", id="certificates/text"),
        pytest.param("opal", "/certificates", "name=filter.dmv", id="certificates/older-name-word"),
        pytest.param("ana", "/certificates", "status=revoked", id="certificates/status"),
        pytest.param("opal", "/certificates", "expiring=365&org=dmv", id="certificates/expiring"),
        pytest.param("opal", "/certificates", "expiring=1", id="certificates/expiring-none"),
        pytest.param("opal", "/certificates", "limit=2", id="certificates/paged"),
        pytest.param("opal", "/cases", "", id="cases/everything"),
        pytest.param("ana", "/cases", "", id="cases/own-organization-only"),
        pytest.param("opal", "/cases", "state=draft", id="cases/state"),
        pytest.param("opal", "/cases", "type=new&org=chp", id="cases/type-and-org"),
        pytest.param("opal", "/cases", "org=+chp+", id="cases/org-with-spaces"),
        pytest.param("opal", "/cases", "q=filter", id="cases/text"),
        pytest.param("opal", "/cases", "overdue=1", id="cases/overdue"),
        pytest.param("opal", "/cases", "limit=1", id="cases/paged"),
        pytest.param("aud", "/audit", "", id="audit/sign-ins-folded"),
        pytest.param("aud", "/audit", "sign_ins=1", id="audit/sign-ins-shown"),
        pytest.param("aud", "/audit", "kind=Sign-ins", id="audit/sign-ins-by-kind"),
        pytest.param("aud", "/audit", "action=session.create", id="audit/sign-ins-by-action"),
        pytest.param("aud", "/audit", "actor=ana", id="audit/actor-as-typed"),
        pytest.param("aud", "/audit", "actor=user:carl", id="audit/actor-as-recorded"),
        pytest.param("aud", "/audit", "kind=Cases", id="audit/kind"),
        pytest.param("aud", "/audit", "type=cert", id="audit/object-type"),
        pytest.param("aud", "/audit", "start=2026-11-26&end=2026-11-26", id="audit/days"),
        pytest.param("aud", "/audit", "limit=3&sign_ins=1", id="audit/paged"),
    ],
)
def test_a_list_and_its_csv_export_hold_the_same_rows(
    desk: Desk, browser: Browsers, who: str, path: str, query: str
) -> None:
    shown = listed(browser, who, path, query)
    paging = {"limit", "cursor"}
    filters = "&".join(p for p in query.split("&") if p and p.split("=")[0] not in paging)
    assert exported(browser, who, path, filters) == shown


@pytest.mark.parametrize(
    ("path", "query"),
    [
        pytest.param("/certificates", "expiring=soon", id="certificates/bad-expiring"),
        pytest.param("/cases", "state=lost", id="cases/unknown-state"),
        pytest.param("/audit", "start=yesterday", id="audit/bad-day"),
    ],
)
def test_a_filter_the_list_refuses_the_export_refuses(
    browser: Browsers, path: str, query: str
) -> None:
    page = browser("opal").get(f"{path}?{query}")
    download = browser("opal").get(f"/exports{path}?{query}&format=csv")
    assert 400 <= page.status_code < 500, page.text[:500]
    assert download.status_code == page.status_code, download.text[:500]
