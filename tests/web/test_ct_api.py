"""/api/v1/ct (issue 15, part 3; R18): cert services follow logs, findings as each principal
may see them (an agency only its own organization's), refusals as problem documents.
SQLite and PostgreSQL; the log is a loopback log the test builds (tests/world/ctlog.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conftest import BACKENDS, OPERATOR
from world.api import World, bearer, build_world
from world.ctlog import Authority, TestLog, serving
from world.refusals import assert_problem


def call(world: World, who: str, method: str, url: str, body: Any = None, **params: Any) -> Any:
    assert world.client is not None
    headers = bearer(world.tokens[who])
    return world.client.request(method, url, json=body, headers=headers, params=params or None)


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with build_world(request.param, tmp_path_factory.mktemp("ct-api")) as w:
        yield w


def test_r18_logs_and_findings_through_the_api(world: World) -> None:
    ca = Authority()
    with serving(TestLog()) as served:
        served.log.add_certificate(ca.certificate("shop.alpha.ca.gov"), ca.cert)
        served.log.add_certificate(ca.certificate("www.bravo.ca.gov"), ca.cert)
        served.log.add_certificate(ca.certificate("mail.mgd.ca.gov"), ca.cert)
        served.log.publish()
        body = {
            "name": "api-log",
            "url": served.url,
            "public_key": served.log.public_pem.decode(),
            "start": "0",
        }
        r = call(world, "operator", "POST", "/api/v1/ct/logs", body)
        assert r.status_code == 201, r.text
        assert r.json()["kind"] == "rfc6962"
        world.services.ct_watch.run(OPERATOR, only="api-log")
    (listed,) = call(world, "auditor", "GET", "/api/v1/ct/logs").json()
    assert (listed["name"], listed["position"], listed["findings"]) == ("api-log", 3, 3)
    every = call(world, "operator", "GET", "/api/v1/ct/findings").json()["items"]
    assert {f["org"] for f in every} == {"alpha", "bravo", "mgd"}
    # An agency sees its own organization's findings only.
    alpha = call(world, "requester-A", "GET", "/api/v1/ct/findings").json()["items"]
    assert [(f["headline"], f["org"]) for f in alpha] == [
        ("unknown issuer for shop.alpha.ca.gov", "alpha")
    ]
    mgd = call(world, "delegated_admin-M", "GET", "/api/v1/ct/findings").json()["items"]
    assert [f["names"] for f in mgd] == [["mail.mgd.ca.gov"]]
    # Paging.
    first = call(world, "operator", "GET", "/api/v1/ct/findings", limit=2).json()
    rest = call(world, "operator", "GET", "/api/v1/ct/findings", cursor=first["next_cursor"])
    assert len(first["items"]) == 2 and len(rest.json()["items"]) == 1


@pytest.mark.parametrize(
    ("who", "body", "status", "code"),
    [
        pytest.param("requester-A", {}, 403, "auth.forbidden", id="R18/agency-may-not-add"),
        pytest.param("auditor", {}, 403, "auth.forbidden", id="R18/auditor-may-not-add"),
        pytest.param("operator", {"url": "ftp://x/y"}, 400, "ct.bad_url", id="R18/bad-url"),
        pytest.param("operator", {"public_key": "junk"}, 400, "ct.bad_key", id="R18/bad-key"),
        pytest.param("operator", {"name": "Bad Name"}, 400, "ct.bad_name", id="R18/bad-name"),
    ],
)
def test_r18_log_add_refusals(
    world: World, who: str, body: dict[str, str], status: int, code: str
) -> None:
    with serving(TestLog()) as served:
        full = {
            "name": "refused",
            "url": served.url,
            "public_key": served.log.public_pem.decode(),
            **body,
        }
        before = call(world, "operator", "GET", "/api/v1/ct/logs").json()
        assert_problem(call(world, who, "POST", "/api/v1/ct/logs", full), status, code)
        assert call(world, "operator", "GET", "/api/v1/ct/logs").json() == before


def test_r18_agencies_do_not_see_the_logs_and_bad_cursors_are_refused(world: World) -> None:
    assert_problem(call(world, "requester-A", "GET", "/api/v1/ct/logs"), 403, "auth.forbidden")
    r = call(world, "operator", "GET", "/api/v1/ct/findings", cursor="x1")
    assert_problem(r, 400, "ct.cursor")


def test_r18_a_new_log_is_read_from_its_head_unless_told_otherwise(world: World) -> None:
    ca = Authority()
    with serving(TestLog()) as served:
        for host in ("a.alpha.ca.gov", "b.alpha.ca.gov", "c.alpha.ca.gov"):
            served.log.add_certificate(ca.certificate(host), ca.cert)
        served.log.publish()
        body = {"url": served.url, "public_key": served.log.public_pem.decode()}
        r = call(world, "operator", "POST", "/api/v1/ct/logs", {**body, "name": "from-head"})
        assert r.status_code == 201, r.text
        assert (r.json()["first_entry"], r.json()["position"]) == (3, 3)
        r = call(world, "operator", "POST", "/api/v1/ct/logs",
                 {**body, "name": "from-two", "start": "2"})  # fmt: skip
        assert (r.json()["first_entry"], r.json()["verified_size"]) == (2, 3)
        beyond = call(world, "operator", "POST", "/api/v1/ct/logs",
                      {**body, "name": "beyond", "start": "4"})  # fmt: skip
        assert_problem(beyond, 400, "ct.start_beyond_head")
        word = call(world, "operator", "POST", "/api/v1/ct/logs",
                    {**body, "name": "word", "start": "soon"})  # fmt: skip
        assert_problem(word, 422, "request.invalid")
        world.services.ct_watch.run(OPERATOR, only="from-two")
    listed = {v["name"]: v for v in call(world, "auditor", "GET", "/api/v1/ct/logs").json()}
    assert (listed["from-two"]["position"], listed["from-two"]["findings"]) == (3, 1)
    assert "beyond" not in listed and "word" not in listed
