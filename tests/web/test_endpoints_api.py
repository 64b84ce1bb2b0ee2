"""The API of install verification and external certificates (R14, R18): upload, list per
organization, contacts, adopt, verify, and who may do which."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from conftest import BACKENDS
from world.api import ORG_A, World, bearer, build_world
from world.refusals import assert_problem
from world.tlsservers import leaf, s_server

API = "/api/v1"


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with build_world(request.param, tmp_path_factory.mktemp("endpoints")) as world:
        yield world


def call(world: World, who: str, method: str, url: str, **kw: object):  # type: ignore[no-untyped-def]
    assert world.client is not None
    return world.client.request(method, url, headers=bearer(world.tokens[who]), **kw)  # type: ignore[arg-type]


def upload(world: World, who: str, *pems: bytes):  # type: ignore[no-untyped-def]
    files = [("files", (f"c{i}.pem", pem, "application/x-pem-file")) for i, pem in enumerate(pems)]
    return call(world, who, "POST", f"{API}/external/import", files=files)


def test_upload_list_contacts_adopt(world: World, tmp_path: Path) -> None:
    ca = trustme.CA()
    mine = leaf(ca, tmp_path, "shop.alpha.ca.gov", tag="mine")
    stray = leaf(ca, tmp_path, "www.nowhere.ca.gov", tag="stray")
    refused = upload(world, "requester-A", mine.leaf_pem)
    assert_problem(refused, 403, "auth.forbidden")
    resp = upload(world, "operator", mine.leaf_pem, stray.leaf_pem, b"not a certificate")
    assert resp.status_code == 201, resp.text
    body = resp.json()
    owners = {v["names"][0]: v["organization"] for v in body["added"]}
    assert owners == {"shop.alpha.ca.gov": ORG_A, "www.nowhere.ca.gov": None}
    assert len(body["errors"]) == 1
    ext = {v["names"][0]: v["id"] for v in body["added"]}

    # The agency sees its own external certificate and not the unassigned one.
    listed = call(world, "requester-A", "GET", f"{API}/external").json()
    assert [v["names"] for v in listed] == [["shop.alpha.ca.gov"]]
    hidden = call(world, "requester-A", "GET", f"{API}/external/{ext['www.nowhere.ca.gov']}")
    assert_problem(hidden, 404, "external.not_found")

    # Contacts by the agency (R9), adoption by cert services, once.
    url = f"{API}/external/{ext['shop.alpha.ca.gov']}"
    put = call(world, "requester-A", "PUT", f"{url}/contacts",
               json={"contacts": [{"name": "Ann", "email": "ann@alpha.ca.gov"}]})  # fmt: skip
    assert put.status_code == 200 and put.json()["contacts"][0]["email"] == "ann@alpha.ca.gov"
    bad = call(world, "requester-A", "PUT", f"{url}/contacts",
               json={"contacts": [{"name": "X", "email": "no address"}]})  # fmt: skip
    assert_problem(bad, 400, "contact.bad_email")
    assert_problem(call(world, "requester-A", "POST", f"{url}/adopt"), 403, "auth.forbidden")
    adopted = call(world, "operator", "POST", f"{url}/adopt")
    assert adopted.status_code == 200, adopted.text
    case = adopted.json()["adopted_case"]
    shown = call(world, "operator", "GET", f"{API}/cases/{case}").json()
    assert shown["submittals"][0]["contacts"][0]["email"] == "ann@alpha.ca.gov"
    assert_problem(call(world, "operator", "POST", f"{url}/adopt"), 409, "external.adopted")
    unassigned = f"{API}/external/{ext['www.nowhere.ca.gov']}/adopt"
    assert_problem(call(world, "operator", "POST", unassigned), 409, "external.unassigned")


def test_verify_refuses_loopback_then_verifies_when_allowed(world: World, tmp_path: Path) -> None:
    ca = trustme.CA()
    served = leaf(ca, tmp_path, "www.alpha.ca.gov")
    with s_server(served) as port:
        body = {"endpoint": f"127.0.0.1:{port}", "sni": "www.alpha.ca.gov"}
        assert_problem(
            call(world, "delegated_admin-A", "POST", f"{API}/verify", json=body),
            403,
            "auth.forbidden",
        )
        refused = call(world, "operator", "POST", f"{API}/verify", json=body)
        assert_problem(refused, 400, "endpoint.address_not_allowed")
        reach = world.services.verification.reach
        reach.allowed = (ipaddress.ip_network("127.0.0.0/8"),)
        try:
            resp = call(world, "operator", "POST", f"{API}/verify", json=body)
        finally:
            reach.allowed = ()
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["severity"] == "critical"  # trustme's root is not trusted here
    assert {f["code"] for f in report["findings"]} >= {"chain.untrusted", "inventory.unknown"}
