"""/api/v1/issuers and the issuer on organizations and certificates (R16), against pebble
with EAB required, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from vendor_world import (
    EAB_HMAC,
    EAB_KID,
    FAST_BACKOFF,
    PEBBLE_LINT_TOLERATED,
    Pebble,
    running_pebble,
    unique_names,
)

from certdesk.services.pki.vendor_backends import Tuning
from certdesk.store import vendors as vendor_store
from conftest import BACKENDS
from world.api import ORG_A, World, bearer, build_world
from world.csr import csr_text
from world.refusals import assert_problem

pytestmark = pytest.mark.timeout(180)
API = "/api/v1"


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    with running_pebble(tmp_path_factory.mktemp("pebble"), always_valid=True) as server:
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with build_world(request.param, tmp_path_factory.mktemp("vendor-api")) as w:
        w.services.vendor_backends.tune(
            Tuning(poll_interval=timedelta(milliseconds=50), backoff=FAST_BACKOFF)
        )
        yield w


def _as(world: World, who: str, method: str, url: str, body: Any = None) -> Any:
    assert world.client is not None
    return world.client.request(method, url, json=body, headers=bearer(world.tokens[who]))


def _body(pebble: Pebble, name: str, **kw: Any) -> dict[str, Any]:
    return {
        "name": name,
        "acme_directory": pebble.endpoint.directory_url,
        "eab_kid": EAB_KID,
        "eab_hmac_key": EAB_HMAC,
        "ca_bundle": Path(str(pebble.ca_bundle)).read_text(),
        "trust_anchors": "".join(
            c.public_bytes(serialization.Encoding.PEM).decode() for c in pebble.roots()
        ),
        "solver": "http-01",
        "lint_tolerate": sorted(PEBBLE_LINT_TOLERATED),
        **kw,
    }


def test_operators_add_list_show_and_disable_vendors(world: World, pebble: Pebble) -> None:
    name = world.unique("api-vendor")
    added = _as(world, "operator", "POST", f"{API}/issuers", _body(pebble, name))
    assert added.status_code == 201, added.text
    assert added.json()["name"] == name and added.json()["active"] is True
    assert EAB_HMAC not in added.text
    listed = _as(world, "auditor", "GET", f"{API}/issuers")
    assert listed.status_code == 200 and name in [v["name"] for v in listed.json()]
    shown = _as(world, "operator", "GET", f"{API}/issuers/{name.upper()}")
    assert shown.status_code == 200 and shown.json()["eab_kid"] == EAB_KID
    off = _as(world, "operator", "POST", f"{API}/issuers/{name}/disable")
    assert off.status_code == 200 and off.json()["active"] is False


@pytest.mark.parametrize(
    ("who", "change", "status", "code"),
    [
        pytest.param("operator", {"eab_hmac_key": EAB_HMAC[::-1]}, 403, "acme.eab_refused",
                     id="R17/wrong-eab-key"),
        pytest.param("delegated_admin-A", {}, 403, "auth.forbidden", id="R16/deny-agency"),
        pytest.param("auditor", {}, 403, "auth.forbidden", id="R16/deny-auditor-add"),
        pytest.param("operator", {"acme_directory": "https://127.0.0.1:1/dir"}, 400,
                     "issuer.unreachable", id="R16/directory-unreachable"),
    ],
)  # fmt: skip
def test_refused_adds_store_nothing(
    world: World, pebble: Pebble, who: str, change: dict[str, str], status: int, code: str
) -> None:
    before = _as(world, "operator", "GET", f"{API}/issuers").json()
    refused = _as(world, who, "POST", f"{API}/issuers", _body(pebble, "refused", **change))
    assert_problem(refused, status, code)
    assert EAB_HMAC not in refused.text
    assert _as(world, "operator", "GET", f"{API}/issuers").json() == before


def test_an_organizations_issuer_and_its_certificates(world: World, pebble: Pebble) -> None:
    name = world.unique("api-vendor")
    assert _as(world, "operator", "POST", f"{API}/issuers", _body(pebble, name)).status_code == 201
    changed = _as(world, "operator", "PATCH", f"{API}/orgs/{ORG_A}", {"issuer": name})
    assert changed.status_code == 200, changed.text
    assert changed.json()["issuer"] == name
    try:
        denied = _as(
            world, "delegated_admin-A", "PATCH", f"{API}/orgs/{ORG_A}", {"issuer": "builtin"}
        )
        assert_problem(denied, 403, "auth.forbidden")
        names = [n.replace("dmv.ca.gov", "alpha.ca.gov") for n in unique_names("api")]
        issued = _as(
            world, "delegated_admin-A", "POST", f"{API}/certificates",
            {"org": ORG_A, "csr": csr_text(names)},
        )  # fmt: skip
        assert issued.status_code == 201, issued.text
        assert issued.json()["issuer"] == name
        serial = issued.json()["serial"]
        shown = _as(world, "delegated_admin-A", "GET", f"{API}/certificates/{serial}")
        assert shown.json()["issuer"] == name
    finally:
        back = _as(world, "operator", "PATCH", f"{API}/orgs/{ORG_A}", {"issuer": "builtin"})
        assert back.json()["issuer"] == "builtin"
    unknown = _as(world, "operator", "PATCH", f"{API}/orgs/{ORG_A}", {"issuer": "nosuch"})
    assert_problem(unknown, 404, "issuer.unknown")


def test_rollover_replaces_the_account_key_for_cert_services_only(
    world: World, pebble: Pebble
) -> None:
    name = world.unique("roll")
    added = _as(world, "operator", "POST", f"{API}/issuers", _body(pebble, name))
    assert added.status_code == 201, added.text
    with world.rt.reads() as s:
        before = vendor_store.by_slug(s, name)
    assert before is not None
    refused = _as(world, "requester-A", "POST", f"{API}/issuers/{name}/rollover")
    assert refused.status_code in (403, 404), refused.text
    done = _as(world, "operator", "POST", f"{API}/issuers/{name}/rollover")
    assert done.status_code == 200 and done.json()["name"] == name, done.text
    with world.rt.reads() as s:
        after = vendor_store.by_slug(s, name)
    assert after is not None and after.account_key_sealed != before.account_key_sealed
    assert after.account_url == before.account_url
    unknown = _as(world, "operator", "POST", f"{API}/issuers/nosuch/rollover")
    assert_problem(unknown, 404, "issuer.unknown")


def test_a_grants_issuer_is_chosen_by_cert_services_only(world: World, pebble: Pebble) -> None:
    name = world.unique("grant")
    assert _as(world, "operator", "POST", f"{API}/issuers", _body(pebble, name)).status_code == 201
    url = f"{API}/orgs/{ORG_A}/grants/issuer"
    body = {"grant": "zone:alpha.ca.gov", "issuer": name}
    refused = _as(world, "requester-A", "PUT", url, body)
    assert refused.status_code == 403, refused.text
    done = _as(world, "operator", "PUT", url, body)
    assert done.status_code == 200, done.text
    assert done.json()["grant_issuers"] == {"zone:alpha.ca.gov": name}
    assert _as(world, "auditor", "GET", f"{API}/orgs/{ORG_A}").json()["grant_issuers"] == {
        "zone:alpha.ca.gov": name
    }
    unknown = _as(world, "operator", "PUT", url, {"grant": "zone:nosuch.ca.gov", "issuer": name})
    assert_problem(unknown, 404, "grant.unknown")
    cleared = _as(world, "operator", "PUT", url, {**body, "issuer": "organization"})
    assert cleared.status_code == 200 and cleared.json()["grant_issuers"] == {}
