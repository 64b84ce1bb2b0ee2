"""Discovery through the API is a background job (R18): ``POST /api/v1/discover`` answers
202 with the job's ``Location``; the job shows its progress and, once done, the report; the
serve process's pool runs it (a worker takes what no server runs, and what a dead runner
left). Real TLS servers on loopback (openssl s_server), on SQLite and PostgreSQL."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from certdesk.jobs.worker import Worker
from certdesk.services.discovery.jobs import LEASE
from certdesk.store import discovery_jobs as job_store
from conftest import BACKENDS
from world.api import World, bearer, build_world
from world.refusals import assert_problem
from world.tlsservers import leaf, s_server

API = "/api/v1"


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with build_world(request.param, tmp_path_factory.mktemp("discovery-jobs")) as world:
        yield world


@pytest.fixture
def loopback(world: World) -> Iterator[None]:
    """Discovery may connect to 127.0.0.0/8 (as CERTDESK_VERIFY_ALLOW_NETWORKS would say)."""
    reach = world.services.verification.reach
    reach.allowed = (ipaddress.ip_network("127.0.0.0/8"),)
    try:
        yield
    finally:
        reach.allowed = ()


def call(world: World, who: str, method: str, url: str, **kw: Any) -> httpx.Response:
    assert world.client is not None
    return world.client.request(method, url, headers=bearer(world.tokens[who]), **kw)


def finished(world: World, url: str, who: str = "operator") -> dict[str, Any]:
    """The job at ``url`` once it is done or failed (polled, as a client would)."""
    deadline = time.monotonic() + 60
    while True:
        job: dict[str, Any] = call(world, who, "GET", url).json()
        if job["state"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_r18_discovery_answers_202_and_the_job_shows_the_report(
    world: World, loopback: None, tmp_path: Path
) -> None:
    ca = trustme.CA()
    served = leaf(ca, tmp_path, "found.alpha.ca.gov")
    with s_server(served) as port:
        quiet = f"127.0.0.1:{port + 1 if port < 65535 else port - 1}"
        body = {"targets": [f"127.0.0.1:{port}", quiet, "10.0.0.1:443"]}
        resp = call(world, "operator", "POST", f"{API}/discover", json=body)
        assert resp.status_code == 202, resp.text
        job = resp.json()
        assert resp.headers["location"] == f"{API}/discover/jobs/{job['id']}"
        assert (job["total"], job["targets"]) == (3, body["targets"])
        assert job["state"] in ("queued", "running", "done")
        done = finished(world, resp.headers["location"])
    assert done["state"] == "done", done
    assert (done["tried"], done["found"]) == (3, 1)
    report = done["result"]
    # 10.0.0.1 is a private address discovery may not connect to: refused, never tried.
    assert (report["answered"], report["refused"], report["new_external"]) == (1, 1, 1)
    assert [f["endpoint"] for f in report["found"]] == [f"127.0.0.1:{port}"]
    assert done["finished_at"] is not None and done["requested_by"].startswith("token:")
    listed = call(world, "requester-A", "GET", f"{API}/external").json()
    assert ["found.alpha.ca.gov"] in [v["names"] for v in listed]


def test_r18_private_ranges_stay_refused_in_a_job(world: World) -> None:
    resp = call(world, "operator", "POST", f"{API}/discover", json={"targets": ["127.0.0.1:9"]})
    done = finished(world, resp.headers["location"])
    assert done["state"] == "done" and done["result"]["refused"] == 1
    assert (done["tried"], done["found"], done["result"]["answered"]) == (1, 0, 0)


@pytest.mark.parametrize(
    ("who", "targets", "status", "code"),
    [
        pytest.param("delegated_admin-A", ["127.0.0.1:443"], 403, "auth.forbidden",
                     id="R18/agency-may-not-discover"),
        pytest.param("auditor", ["127.0.0.1:443"], 403, "auth.forbidden",
                     id="R18/auditor-may-not-discover"),
        pytest.param("operator", ["10.0.0.0/8:443"], 400, "endpoint.too_many",
                     id="R18/range-too-large"),
        pytest.param("operator", ["https://x.ca.gov/"], 400, "endpoint.bad_target",
                     id="R18/url-is-no-target"),
    ],
)  # fmt: skip
def test_r18_a_refused_discovery_queues_nothing(
    world: World, who: str, targets: list[str], status: int, code: str
) -> None:
    with world.services.rt.reads() as s:
        before = job_store.claimable(s, world.clock.now + 2 * LEASE, 1000)
    resp = call(world, who, "POST", f"{API}/discover", json={"targets": targets})
    assert_problem(resp, status, code)
    assert "location" not in resp.headers
    with world.services.rt.reads() as s:
        assert job_store.claimable(s, world.clock.now + 2 * LEASE, 1000) == before


def test_r2_a_job_is_its_organizations(world: World) -> None:
    resp = call(world, "operator", "POST", f"{API}/discover", json={"targets": ["127.0.0.1:9"]})
    url = resp.headers["location"]
    finished(world, url)
    made_up = f"{API}/discover/jobs/{int(url.rsplit('/', 1)[1]) + 10_000}"
    for who in ("requester-A", "delegated_admin-A"):
        mine, other = call(world, who, "GET", url), call(world, who, "GET", made_up)
        assert_problem(mine, 404, "discovery.unknown_job")
        assert mine.json()["detail"].rsplit(" ", 1)[0] == other.json()["detail"].rsplit(" ", 1)[0]
    assert_problem(call(world, "operator", "GET", made_up), 404, "discovery.unknown_job")
    assert_problem(call(world, "auditor", "GET", url), 403, "auth.forbidden")


def test_r18_the_worker_runs_what_no_server_runs_and_a_dead_runners_job(world: World) -> None:
    svc = world.services
    operator = svc.tokens.authenticate(world.tokens["operator"])
    queued = svc.discovery_jobs.start(operator, ["127.0.0.1:9"])  # queued, no server takes it
    abandoned = svc.discovery_jobs.start(operator, ["127.0.0.1:8"])
    now = world.clock.now
    with svc.rt.sessions.begin() as s:  # a runner that claimed it and died
        assert job_store.claim(s, abandoned.id, "serve:dead", now, now + LEASE)
    Worker(svc).once()
    assert svc.discovery_jobs.get(operator, queued.id).state == "done"
    assert svc.discovery_jobs.get(operator, abandoned.id).state == "running"  # lease holds
    world.clock.now = now + LEASE + timedelta(seconds=1)
    try:
        Worker(svc).once()
    finally:
        world.clock.now = now
    again = svc.discovery_jobs.get(operator, abandoned.id)
    assert (again.state, again.tried, again.result is not None) == ("done", 1, True)
    # The dead runner cannot write over what the worker recorded.
    with svc.rt.sessions.begin() as s:
        assert not job_store.progress(s, abandoned.id, "serve:dead", 0, 0, now + LEASE)
