"""Request ids, the access log and the metrics of one server process, through the app.

The JSON log format is the one a server writes under a service manager (``logs.py``); the
lines are read from stderr as a log collector would. Several server processes are in
``tests/integration/test_logs_and_metrics.py``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from certdesk import logs
from certdesk.core.access import Actor, Role
from certdesk.metrics import MULTIPROC_ENV, shared_directory
from certdesk.store.models import CrlRow, Issuer
from certdesk.web.access import actor_kind
from conftest import BACKENDS
from world.api import ORG_A, World, bearer, build_world
from world.csr import csr_text

API = "/api/v1"
HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with build_world(request.param, tmp_path_factory.mktemp("obs")) as w:
        yield w


@pytest.fixture
def log_lines(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """JSON logging at info, as under a service manager; call it for the lines so far."""
    logs.install("info", "json")

    def lines() -> list[dict[str, Any]]:
        err = capsys.readouterr().err
        parsed = [json.loads(line) for line in err.splitlines()]  # every line is JSON
        return [x for x in parsed if x["logger"] != "httpx"]  # the test client's own lines

    capsys.readouterr()
    yield lines
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, logs._StderrHandler)]:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)


def access_line(lines: list[dict[str, Any]], request_id: str) -> dict[str, Any]:
    found = [x for x in lines if x.get("event") == "request" and x["request_id"] == request_id]
    assert len(found) == 1, lines
    return found[0]


def samples(world: World) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = world.client.get("/metrics").text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


# --------------------------------------------------------------------------- request ids


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        pytest.param("abc123", True, id="request-id/sane"),
        pytest.param("A-b_c.9", True, id="request-id/all-allowed-characters"),
        pytest.param("r" * 128, True, id="request-id/longest"),
        pytest.param("r" * 129, False, id="request-id/too-long"),
        pytest.param("", False, id="request-id/empty"),
        pytest.param("abc 123", False, id="request-id/space"),
        pytest.param("a;b=c", False, id="request-id/separators"),
        pytest.param("ab\u00e9", False, id="request-id/not-ascii"),
        pytest.param(None, False, id="request-id/absent"),
    ],
)
def test_request_id_is_kept_when_sane_else_generated(
    world: World, log_lines: Any, sent: str | None, kept: bool
) -> None:
    headers = {"X-Request-ID": sent.encode("utf-8")} if sent is not None else {}
    resp = world.client.get("/healthz", headers=headers)  # type: ignore[arg-type]
    assert resp.status_code == 200
    echoed = resp.headers["x-request-id"]
    if kept:
        assert echoed == sent
    else:
        assert HEX_ID.fullmatch(echoed), echoed
    line = access_line(log_lines(), echoed)
    assert (line["route"], line["status"], line["actor"]) == ("/healthz", 200, "anonymous")


def test_the_access_line(world: World, log_lines: Any) -> None:
    resp = world.client.get(
        f"{API}/orgs/{'x' * 40}",
        headers={"X-Request-ID": "req-1", **bearer(world.tokens["operator"])},
    )
    assert resp.headers["x-request-id"] == "req-1"
    line = access_line(log_lines(), "req-1")
    assert line["route"] == "/api/v1/orgs/{code}"
    assert (line["method"], line["status"], line["actor"]) == ("GET", 404, "operator")
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["level"] == "info" and line["logger"] == "certdesk.access"


def test_the_access_line_has_the_template_never_secrets(world: World, log_lines: Any) -> None:
    serial = world.certs[ORG_A]
    token = world.tokens["requester-A"]
    resp = world.client.get(
        f"{API}/certificates/{serial}?token=querysecret123",
        headers={
            "X-Request-ID": "tmpl",
            "Cookie": "certdesk_session=cookiesecret456",
            **bearer(token),
        },
    )
    assert resp.status_code == 200
    lines = log_lines()
    line = access_line(lines, "tmpl")
    assert line["route"] == "/api/v1/certificates/{serial}"
    assert line["actor"] == "requester"
    text = json.dumps(lines)
    for secret in (serial, token, token.split("_", 2)[2], "querysecret123", "cookiesecret456"):
        assert secret not in text


def test_an_unmatched_path_is_logged_without_its_query(world: World, log_lines: Any) -> None:
    resp = world.client.get(
        "/api/v2/nothing-here?token=querysecret789", headers={"X-Request-ID": "lost"}
    )
    assert resp.status_code == 404
    lines = log_lines()
    assert access_line(lines, "lost")["route"] == "/api/v2/nothing-here"
    assert "querysecret789" not in json.dumps(lines)
    assert (
        samples(world)[
            (
                "certdesk_http_request_duration_seconds_count",
                frozenset({("method", "GET"), ("route", "unmatched"), ("status", "404")}),
            )
        ]
        >= 1
    )


def test_an_unexpected_error_still_has_an_id_and_an_access_line(
    world: World, log_lines: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_a: object, **_k: object) -> None:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(world.services.inventory, "search", explode)
    resp = world.client.get(
        f"{API}/certificates", headers={"X-Request-ID": "fire", **bearer(world.tokens["operator"])}
    )
    assert resp.status_code == 500
    assert resp.headers["x-request-id"] == "fire"
    lines = log_lines()
    assert access_line(lines, "fire")["status"] == 500
    # The error's own line (problems.py) is tied to the request too.
    assert any(x["event"] == "unhandled error" and x["request_id"] == "fire" for x in lines)


@pytest.mark.parametrize(
    ("actor", "kind"),
    [
        pytest.param(None, "anonymous", id="actor/none"),
        pytest.param(Actor("token:ab", Role.OPERATOR), "operator", id="actor/operator-token"),
        pytest.param(Actor("token:cd", Role.REQUESTER, org_id=1), "requester", id="actor/token"),
        pytest.param(
            Actor("jdoe", Role.REQUESTER, org_id=1, user_id=7), "session", id="actor/person"
        ),
    ],
)
def test_actor_kind(actor: Actor | None, kind: str) -> None:
    assert actor_kind(actor) == kind


# --------------------------------------------------------------------------- metrics


def test_request_durations_are_by_route_template(world: World) -> None:
    key = (
        "certdesk_http_request_duration_seconds_count",
        frozenset(
            {("method", "GET"), ("route", "/api/v1/certificates/{serial}"), ("status", "200")}
        ),
    )
    before = samples(world).get(key, 0)
    for serial in world.certs.values():
        resp = world.client.get(
            f"{API}/certificates/{serial}", headers=bearer(world.tokens["operator"])
        )
        assert resp.status_code == 200
    after = samples(world)
    assert after[key] == before + 3
    assert not any("pid" in dict(labels) for _name, labels in after)


def _ocsp_get(world: World, der: bytes) -> None:
    resp = world.client.get("/ocsp/" + quote(base64.b64encode(der).decode(), safe=""))
    assert resp.status_code == 200


def test_ocsp_and_crl_requests_are_counted(world: World) -> None:
    token = world.tokens["operator"]
    issued = world.client.post(
        f"{API}/certificates",
        json={"org": ORG_A, "csr": csr_text([f"{world.unique('ocsp')}.alpha.ca.gov"])},
        headers=bearer(token),
    ).json()
    leaf = x509.load_pem_x509_certificate(issued["certificate"].encode())
    issuer = x509.load_pem_x509_certificate(issued["chain"].encode())
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build()
    good = request.public_bytes(serialization.Encoding.DER)
    before = samples(world)

    def count(name: str, **labels: str) -> float:
        return samples(world).get((name, frozenset(labels.items())), 0) - before.get(
            (name, frozenset(labels.items())), 0
        )

    _ocsp_get(world, good)
    _ocsp_get(world, good)
    _ocsp_get(world, b"not an OCSP request")
    resp = world.client.post(
        "/ocsp", content=good, headers={"Content-Type": "application/ocsp-request"}
    )
    assert resp.status_code == 200
    world.client.post(
        f"{API}/certificates/{issued['serial']}/revoke",
        json={"reason": "superseded"},
        headers=bearer(token),
    )
    _ocsp_get(world, good)
    with world.services.rt.reads() as s:
        slugs = list(s.scalars(select(Issuer.slug)))
    for each in slugs:
        assert world.client.get(f"/crl/{each}.crl").status_code == 200
    assert world.client.get("/crl/nosuch.crl").status_code == 404
    assert count("certdesk_ocsp_requests_total", status="good") == 3
    assert count("certdesk_ocsp_requests_total", status="revoked") == 1
    assert count("certdesk_ocsp_requests_total", status="malformed_request") == 1
    assert count("certdesk_crl_requests_total") == len(slugs)


def test_ca_not_after_and_crl_next_update(world: World) -> None:
    with world.services.rt.reads() as s:
        issuers = {i.slug: i for i in s.scalars(select(Issuer))}
        newest: dict[str, CrlRow] = {}
        for crl in s.scalars(select(CrlRow).order_by(CrlRow.number)):
            newest[next(k for k, v in issuers.items() if v.id == crl.issuer_id)] = crl
    got = samples(world)
    for slug, issuer in issuers.items():
        labels = frozenset({("issuer", slug)})
        assert got[("certdesk_ca_certificate_not_after_timestamp_seconds", labels)] == (
            issuer.not_after.timestamp()
        )
        if slug in newest:
            assert got[("certdesk_crl_next_update_timestamp_seconds", labels)] == (
                newest[slug].next_update.timestamp()
            )
    assert newest, "init publishes a CRL per CA"


# --------------------------------------------------------------------------- shared directory


def test_the_shared_directory_is_private_fresh_and_removed(tmp_path: Path) -> None:
    root = tmp_path / "run" / "metrics"
    root.mkdir(parents=True)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = root / gone.stdout.strip()  # a serve process that is no more
    alive = root / str(os.getppid())  # another serve process that still runs
    junk = root / "not-a-pid"
    for d in (stale, alive, junk):
        d.mkdir()
        (d / "counter_1.db").write_bytes(b"x")
    assert MULTIPROC_ENV not in os.environ
    with shared_directory(tmp_path) as mine:
        assert os.environ[MULTIPROC_ENV] == str(mine)
        assert mine == root / str(os.getpid()) and list(mine.iterdir()) == []
        for private in (tmp_path / "run", root, mine):
            assert private.stat().st_mode & 0o777 == 0o700
        assert sorted(p.name for p in root.iterdir()) == sorted([alive.name, mine.name])
    assert MULTIPROC_ENV not in os.environ
    assert [p.name for p in root.iterdir()] == [alive.name]


# Each child is a server process of its own in multiprocess mode: it counts, then prints
# what a scrape answered by it shows.
CHILD = """
import sys
from prometheus_client import Gauge
from certdesk.metrics import Metrics
m = Metrics()
Gauge("certdesk_test_constant", "Same in every process.", registry=m.registry).set(1)
for _ in range(int(sys.argv[1])):
    m.crl_requests.inc()
    m.observe_request("GET", "/crl/{slug}.crl", 200, 0.01)
m.ocsp_requests.labels("good").inc()
sys.stdout.write(m.exposition().decode())
m.close()
"""


def test_server_processes_add_up_their_counters(tmp_path: Path) -> None:
    with shared_directory(tmp_path) as shared:
        env = {**os.environ, MULTIPROC_ENV: str(shared)}
        shown = []
        for count in (2, 3):
            done = subprocess.run(
                [sys.executable, "-c", CHILD, str(count)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            shown.append(done.stdout)
    first, second = (
        {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        for text in shown
    )
    route = frozenset({("method", "GET"), ("route", "/crl/{slug}.crl"), ("status", "200")})
    assert first[("certdesk_crl_requests_total", frozenset())] == 2
    assert second[("certdesk_crl_requests_total", frozenset())] == 5
    assert second[("certdesk_http_request_duration_seconds_count", route)] == 5
    assert second[("certdesk_ocsp_requests_total", frozenset({("status", "good")}))] == 2
    assert second[("certdesk_issuance_seconds_count", frozenset())] == 0
    assert second[("certdesk_test_constant", frozenset())] == 1
    assert "pid" not in shown[1]
    for name in ("certdesk_crl_requests_total", "certdesk_test_constant"):
        assert len(re.findall(rf"^{name} ", shown[1], re.M)) == 1
