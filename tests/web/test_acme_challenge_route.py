"""``GET /.well-known/acme-challenge/{token}`` through the app (RFC 8555 §8.3): the answer a
vendor's validation fetches, with no credentials and outside the console's machinery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import BACKENDS
from world.api import World, bearer, build_world
from world.refusals import assert_problem

TOKEN = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
KEY_AUTH = f"{TOKEN}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
URL = f"/.well-known/acme-challenge/{TOKEN}"


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with build_world(request.param, tmp_path_factory.mktemp("challenge")) as w:
        yield w


@pytest.fixture
def published(world: World) -> Iterator[str]:
    world.services.challenges.publish(TOKEN, KEY_AUTH)
    yield TOKEN
    world.services.challenges.withdraw(TOKEN)


def test_the_answer_is_the_key_authorization_alone(world: World, published: str) -> None:
    assert world.client is not None
    resp = world.client.get(URL)
    assert resp.status_code == 200
    assert resp.content == KEY_AUTH.encode()  # no newline, no JSON
    assert resp.headers["content-type"] == "application/octet-stream"
    assert resp.headers["cache-control"] == "no-store"
    # Outside the console: no session or CSRF cookie, no console page policy.
    assert "set-cookie" not in resp.headers
    assert "content-security-policy" not in resp.headers


def test_no_credentials_are_needed_and_a_token_changes_nothing(
    world: World, published: str
) -> None:
    assert world.client is not None
    with_token = world.client.get(URL, headers=bearer(world.tokens["requester-A"]))
    assert with_token.content == world.client.get(URL).content == KEY_AUTH.encode()


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        pytest.param("A" * 43, 404, "acme.challenge_unknown", id="R17/http01-route-unknown"),
        pytest.param("short", 400, "acme.bad_token", id="R17/http01-route-token-short"),
        pytest.param("abc%2E" * 4, 400, "acme.bad_token", id="R17/http01-route-token-dots"),
        pytest.param("a" * 129, 400, "acme.bad_token", id="R17/http01-route-too-long"),
        pytest.param("", 404, "http.404", id="R17/http01-route-no-token"),
        pytest.param(f"{TOKEN}/x", 404, "http.404", id="R17/http01-route-deeper"),
    ],
)
def test_unknown_or_malformed_tokens_are_problems_not_pages(
    world: World, published: str, path: str, status: int, code: str
) -> None:
    assert world.client is not None
    resp = world.client.get(f"/.well-known/acme-challenge/{path}")
    assert_problem(resp, status, code)


def test_a_withdrawn_or_expired_answer_is_not_served(world: World) -> None:
    assert world.client is not None
    challenges = world.services.challenges
    challenges.publish(TOKEN, KEY_AUTH)
    challenges.withdraw(TOKEN)
    assert_problem(world.client.get(URL), 404, "acme.challenge_unknown")
    challenges.publish(TOKEN, KEY_AUTH)
    try:
        world.clock.advance(seconds=challenges.lifetime.total_seconds())
        assert_problem(world.client.get(URL), 404, "acme.challenge_unknown")
    finally:
        challenges.withdraw(TOKEN)


def test_the_route_is_in_the_openapi_document(world: World) -> None:
    assert world.client is not None
    doc = world.client.get("/openapi.json").json()
    op = doc["paths"]["/.well-known/acme-challenge/{token}"]["get"]
    assert op["operationId"] == "acme_challenge"
    assert "security" not in op
    assert set(op["responses"]) == {"200", "400", "404", "422", "503"}
    problem = "#/components/schemas/Problem"
    assert (
        op["responses"]["404"]["content"]["application/problem+json"]["schema"]["$ref"] == problem
    )
    assert "application/octet-stream" in op["responses"]["200"]["content"]
    (param,) = op["parameters"]
    assert param["schema"]["maxLength"] == 128


def test_no_console_page_for_the_path(world: World, tmp_path: Path) -> None:
    """A browser asking gets the same problem document as a validator (a machine path)."""
    assert world.client is not None
    resp = world.client.get(
        "/.well-known/acme-challenge/" + "B" * 43, headers={"Accept": "text/html"}
    )
    assert_problem(resp, 404, "acme.challenge_unknown")
