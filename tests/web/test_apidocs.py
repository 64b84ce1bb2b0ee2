"""/docs and /redoc come from certdesk itself: every asset URL is local and answers with its
type, and each page's Content-Security-Policy admits exactly its own inline script.

(That the pages also render and work in a real browser under that policy is
tests/console/test_console_journeys.py's test_api_docs_work_in_a_browser.)
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest

from certdesk.services.registry import Services
from certdesk.web.app import create_app
from world.api import TestClient

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])  # no database work here

CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}


class _Page(HTMLParser):
    """The URLs a page loads (``src``, ``href``) and the bodies of its inline scripts."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self._in_inline_script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]
        self._in_inline_script = tag == "script" and "src" not in found

    def handle_endtag(self, tag: str) -> None:
        self._in_inline_script = False

    def handle_data(self, data: str) -> None:
        if self._in_inline_script:
            self.inline_scripts.append(data)


def _directives(csp: str) -> dict[str, list[str]]:
    parts = (d.split() for d in csp.split(";") if d.strip())
    return {words[0]: words[1:] for words in parts}


def _sha256(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services)) as c:
        yield c


@pytest.mark.parametrize(
    ("path", "assets"),
    [
        pytest.param(
            "/docs",
            {"/static/apidocs/swagger-ui-bundle.js", "/static/apidocs/swagger-ui.css"},
            id="apidocs/swagger-ui",
        ),
        pytest.param("/redoc", {"/static/apidocs/redoc.standalone.js"}, id="apidocs/redoc"),
    ],
)
def test_docs_page_loads_only_local_assets(client: TestClient, path: str, assets: set[str]) -> None:
    resp = client.get(path)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert not re.search(r"https?:|//[a-z]", resp.text), "no absolute URL, no CDN, no web font"
    page = _Page(resp.text)
    assert assets <= set(page.urls)
    for url in page.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        expected = CONTENT_TYPES[url[url.rindex(".") :]]
        # nosniff is on: a script served as anything else would not run.
        assert asset.headers["content-type"].split(";")[0] == expected, url
        assert asset.headers["x-content-type-options"] == "nosniff"
    assert "/openapi.json" in resp.text
    assert client.get("/openapi.json").status_code == 200


@pytest.mark.parametrize(
    ("path", "inline_scripts", "styles"),
    [
        # Swagger UI is started by one inline script; it writes no <style> elements.
        pytest.param("/docs", 1, ["'self'"], id="csp/swagger-ui-script-by-hash"),
        # ReDoc needs no inline script, but its styled-components write <style> at run time.
        pytest.param("/redoc", 0, ["'self'", "'unsafe-inline'"], id="csp/redoc-inline-styles"),
    ],
)
def test_docs_page_csp_admits_its_own_script_only(
    client: TestClient, path: str, inline_scripts: int, styles: list[str]
) -> None:
    resp = client.get(path)
    page = _Page(resp.text)
    assert len(page.inline_scripts) == inline_scripts
    csp = _directives(resp.headers["content-security-policy"])
    assert csp["script-src"] == ["'self'", *(_sha256(s) for s in page.inline_scripts)]
    assert csp["style-src"] == styles
    assert csp["default-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    sources = {s for values in csp.values() for s in values}
    assert not {s for s in sources if "http" in s or s in ("*", "'unsafe-eval'")}


def test_fastapis_cdn_pages_are_off(client: TestClient) -> None:
    app = client.app
    assert getattr(app, "docs_url", "?") is None
    assert getattr(app, "redoc_url", "?") is None
    for path in ("/docs", "/redoc"):
        assert "cdn.jsdelivr.net" not in client.get(path).text
