"""Screenshots of the console's main pages, for README.md (``make screenshots``).

    python scripts/screenshots.py docs/screenshots

Builds a demo certdesk in a temporary directory (the organizations, people and data of the
browser tests: tests/world/browser.py), serves it on a free loopback port, and writes
one PNG per page, 1280 pixels wide, the whole page down to at most 2000 pixels. Chromium is
Debian's /usr/bin/chromium, driven by Playwright; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]

with warnings.catch_warnings():
    # world.browser imports Starlette's TestClient, which warns about httpx; not used here.
    warnings.simplefilter("ignore")
    from playwright.sync_api import FloatRect, Page

    from world.browser import SELF_MANAGED_ADMIN, Demo, live_site, populate, send_csr

WIDTH = int(os.environ.get("SCREENSHOT_WIDTH", "1280"))
MAX_HEIGHT = 2000


@dataclass(frozen=True)
class Shot:
    file: str
    who: str | None  # None: nobody signed in
    path: str  # filled in from the demo's values
    then: Callable[[Page], None] | None = None


def issue_refused(page: Page) -> None:
    send_csr(page, "www.dmv.ca.gov")  # the self-managed sos holds no grant for it (R2)


SHOTS = (
    Shot("login", None, "/login"),
    Shot("dashboard", "opal", "/"),
    Shot("certificates", "opal", "/certificates"),
    Shot("certificate", "opal", "/certificates/{serial}"),
    Shot("issue-refused", SELF_MANAGED_ADMIN, "/issue", issue_refused),
    Shot("cases", "opal", "/cases"),
    Shot("case-new", "ana", "/cases/new?type=new"),
    Shot("case-kinds", "ana", "/cases/new"),
    Shot("search", "opal", "/search?q=dmv.ca.gov"),
    Shot("revoke", "opal", "/certificates/{serial}/revoke"),
    Shot("dashboard-approver", "abe", "/"),
    Shot("help", None, "/help"),
    Shot("case", "opal", "/cases/{delivered}"),
    Shot("orgs", "opal", "/orgs"),
    Shot("users", "opal", "/users"),
    Shot("tokens", "opal", "/tokens"),
    Shot("contacts", "ana", "/contacts"),
    Shot("reports", "opal", "/reports"),
    Shot("audit", "opal", "/audit"),
)


def values_of(demo: Demo) -> dict[str, str]:
    return {"serial": demo.serials["www.dmv.ca.gov"], "delivered": demo.delivered}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the PNG files")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        viewport = {"width": WIDTH, "height": 900}
        with live_site(Path(tmp), viewport=viewport) as site:
            values = values_of(populate(site.desk))
            for shot in SHOTS:
                page = site.page_as(shot.who) if shot.who else site.anonymous()
                response = page.goto(shot.path.format(**values))
                if shot.then is not None:
                    shot.then(page)
                elif response is None or not response.ok:
                    status = response.status if response else "no answer"
                    print(f"warning: {shot.path} answered {status}", file=sys.stderr)
                height = int(page.evaluate("document.documentElement.scrollHeight"))
                target = out / f"{shot.file}.png"
                if height > MAX_HEIGHT:
                    clip = FloatRect(x=0, y=0, width=WIDTH, height=MAX_HEIGHT)
                    page.screenshot(path=target, full_page=True, clip=clip)
                else:
                    page.screenshot(path=target, full_page=True)
                print(f"{target}  ({min(height, MAX_HEIGHT)} px high)")
    print(f"{len(SHOTS)} screenshots in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
