"""Console form fields and query parameters refuse NUL and lone surrogates (issue 10, finding
5), alike on SQLite and PostgreSQL; uploaded files are bytes and are not text-checked.

SQLite used to store a NUL in a case title that PostgreSQL refused. Now every console input
is refused before the page runs: a 400 page in the console's frame, nothing changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conftest import BACKENDS
from world.console import Browsers, browsers, console_desk, text_of
from world.csr import make_csr
from world.desk import DMV, START, Desk, snapshot


@pytest.fixture(scope="module", params=BACKENDS)
def desk(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Desk]:
    with console_desk(request.param, tmp_path_factory.mktemp("consoleinputs")) as d:
        d.at(START)
        yield d


@pytest.fixture(scope="module")
def browser(desk: Desk) -> Iterator[Browsers]:
    with browsers(desk) as of:
        yield of


def _new_case(title: str, names: str = "x.dmv.ca.gov") -> dict[str, str]:
    return {
        "fieldsets": "1",
        "org": DMV,
        "type": "new",
        "title": title,
        "action": "save",
        "s0_names": names,
    }


# A DER CSR is full of NUL bytes: as an uploaded file it is bytes, not text, and is accepted.
_DER_FILE = {"s0_csr_file": ("a.der", make_csr(["der.dmv.ca.gov"], der=True), "application/pkcs10")}


@pytest.mark.parametrize(
    ("method", "path", "data", "files", "shown"),
    [
        pytest.param("POST", "/cases/new", _new_case("T\x00"), None,
                     "form.title: character 2 is a NUL", id="sec/bad-characters/form-nul"),
        pytest.param("POST", "/cases/new", _new_case("ok", "x.dmv.ca.gov\x00"), _DER_FILE,
                     "form.s0_names: character 13 is a NUL",
                     id="sec/bad-characters/multipart-nul"),
        pytest.param("POST", "/cases/new", {**_new_case("ok"), "t\x00": "1"}, None,
                     "form: character 2 is a NUL", id="sec/bad-characters/form-key-nul"),
        pytest.param("GET", "/cases?org=dm%00v", None, None,
                     "query.org: character 3 is a NUL", id="sec/bad-characters/query-nul"),
        pytest.param("GET", "/certificates/ab%00cd", None, None,
                     "path: character", id="sec/bad-characters/path-nul"),
    ],
)  # fmt: skip
def test_console_refuses_bad_characters(
    desk: Desk,
    browser: Browsers,
    method: str,
    path: str,
    data: dict[str, str] | None,
    files: dict[str, Any] | None,
    shown: str,
) -> None:
    ana = browser("ana")
    before = snapshot(desk), desk.counts()
    resp = ana.post(path, data, files=files) if method == "POST" else ana.get(path)
    assert resp.status_code == 400, text_of(resp)[:800]
    assert "text/html" in resp.headers["content-type"]
    assert shown in text_of(resp)
    assert (snapshot(desk), desk.counts()) == before


def test_an_uploaded_file_with_nul_bytes_is_not_text(desk: Desk, browser: Browsers) -> None:
    data = _new_case("DER upload", "der.dmv.ca.gov")
    resp = browser("ana").post("/cases/new", data, files=_DER_FILE)
    assert resp.status_code == 303, text_of(resp)[:800]


@pytest.mark.parametrize(
    "method", [pytest.param("GET", id="page"), pytest.param("POST", id="remove")]
)
def test_a_webhook_number_past_the_database_integers_is_no_webhook(
    desk: Desk, browser: Browsers, method: str
) -> None:
    # 99999999999999999999999 reached SQLite as a number it cannot hold: a 500.
    opal = browser("opal")
    path = "/webhooks/99999999999999999999999" + ("/remove" if method == "POST" else "")
    before = snapshot(desk), desk.counts()
    resp = opal.get(path) if method == "GET" else opal.post(path, {})
    assert 400 <= resp.status_code < 500, text_of(resp)[:800]
    assert "text/html" in resp.headers["content-type"]
    assert (snapshot(desk), desk.counts()) == before
