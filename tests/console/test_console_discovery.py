"""Discovery from the console (R18), in headless Chromium with axe: cert services start a
discovery on the external certificates page; the job's page shows its progress, refreshed in
place while it runs, and then what was found. Agencies may not start one nor see a job;
bad targets are refused in plain words. Real TLS servers on loopback (openssl s_server)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from world.browser import AXE, Site, axe_violations, live_site
from world.tlsservers import leaf, s_server


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with live_site(
        tmp_path_factory.mktemp("discovery"), init_scripts=(AXE,), bypass_csp=True
    ) as site:
        # Discovery may try loopback here, as CERTDESK_VERIFY_ALLOW_NETWORKS would allow.
        site.desk.services.verification.reach.allowed = (ipaddress.ip_network("127.0.0.0/8"),)
        yield site


@pytest.fixture
def silent() -> Iterator[int]:
    """A port that accepts connections and never answers the TLS handshake: its endpoint
    takes the whole connection deadline, so the job is seen running."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


def test_r18_cert_services_start_a_discovery_and_watch_it_finish(
    site: Site, silent: int, tmp_path: Path
) -> None:
    served = leaf(trustme.CA(), tmp_path, "found.dmv.ca.gov")
    page = site.page_as("opal")
    with s_server(served) as port:
        page.goto("/external")
        assert axe_violations(page) == []
        page.fill("#f-targets", f"127.0.0.1:{port}\n127.0.0.1:{silent}\n10.0.0.1:443")
        page.get_by_role("button", name="Start the discovery").click()
        page.wait_for_url("**/external/discovery/*")
        job = page.locator("#discovery-job")
        assert job.get_attribute("data-finished") == "no"  # the silent endpoint holds it
        assert "of 3 endpoints tried" in page.locator("#job-state").inner_text()
        assert axe_violations(page) == []
        url = page.url
        # The page's script refreshes the job in place: no reload, no click.
        page.wait_for_selector("#discovery-job[data-finished='yes']", timeout=30_000)
        assert page.url == url
    state = page.locator("#job-state").inner_text()
    assert "Finished." in state and "3 of 3 endpoints tried; 1 served a certificate" in state
    found = page.locator("#discovery-found").inner_text()
    assert f"127.0.0.1:{port}" in found and "added now, as external" in found
    assert "1 may not be tried from here" in page.locator("#discovery-job").inner_text()
    assert axe_violations(page) == []
    page.get_by_role("link", name="See the external certificates").click()
    assert "found.dmv.ca.gov" in page.locator("#external").inner_text()


def test_r18_bad_targets_are_refused_in_plain_words_and_agencies_see_no_job(site: Site) -> None:
    page = site.page_as("opal")
    page.goto("/external")
    page.fill("#f-targets", "10.0.0.0/8:443")
    with page.expect_response("**/external/discover") as answered:
        page.get_by_role("button", name="Start the discovery").click()
    assert answered.value.status == 400
    assert "more addresses than one run scans" in page.locator("#form-error").inner_text()
    assert page.locator("#f-targets").input_value() == "10.0.0.0/8:443"  # kept to correct
    assert axe_violations(page) == []
    desk = site.desk
    job = desk.services.discovery_jobs.start(desk["opal"], ["127.0.0.1:9"])
    agency = site.page_as("ana")
    for url in (f"/external/discovery/{job.id}", f"/external/discovery/{job.id + 1000}"):
        answer = agency.goto(url)
        assert answer is not None and answer.status == 404
    agency.goto("/external")
    assert agency.get_by_role("button", name="Start the discovery").count() == 0
