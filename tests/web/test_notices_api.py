"""/api/v1/notices and /api/v1/notices/preview/{serial} (R9): who sees which notices, what a
preview shows, and the notice counts on /metrics. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from certdesk.core.access import Role
from certdesk.web.app import create_app
from conftest import OPERATOR
from world.api import TestClient, bearer
from world.desk import Desk
from world.mail import FakeTransport
from world.notices import Snapshots, open_notice_desk
from world.refusals import assert_problem


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snapshots]:
    made = Snapshots(tmp_path_factory.mktemp("notice-api-snapshots"))
    yield made
    made.close()


@dataclass
class Api:
    desk: Desk
    client: TestClient
    tokens: dict[str, str]
    serials: dict[str, str]  # org -> a certificate with notices


@pytest.fixture
def api(backend: str, tmp_path: Path, snapshots: Snapshots) -> Iterator[Api]:
    fake = FakeTransport()
    fake.refuse["carl@chp.ca.gov"] = (550, "5.1.1 no such mailbox")
    with open_notice_desk(snapshots.clone(backend, tmp_path), tmp_path, transport=fake) as desk:
        serials = {org: desk.issue(org, days=100) for org in ("dmv", "chp")}
        desk.attach([serials["dmv"]], [("Ana", "ana@dmv.ca.gov")])
        desk.attach([serials["chp"]], [("Carl", "carl@chp.ca.gov")])
        desk.services.notices.run(desk.clock() + timedelta(days=12), "w1")
        tokens = desk.services.tokens
        secrets = {
            "operator": tokens.create(OPERATOR, role=Role.OPERATOR, org_code=None),
            "auditor": tokens.create(OPERATOR, role=Role.AUDITOR, org_code=None),
            "dmv": tokens.create(OPERATOR, role=Role.REQUESTER, org_code="dmv"),
            "chp": tokens.create(OPERATOR, role=Role.APPROVER, org_code="chp"),
        }
        with TestClient(create_app(desk.services), raise_server_exceptions=False) as client:
            yield Api(desk, client, {k: v.secret for k, v in secrets.items()}, serials)


def _subjects(api: Api, who: str, **params: str) -> list[tuple[str, str, str]]:
    resp = api.client.get("/api/v1/notices", headers=bearer(api.tokens[who]), params=params)
    assert resp.status_code == 200, resp.text
    return sorted((n["subject"], n["status"], n["reason"]) for n in resp.json()["items"])


@pytest.mark.parametrize(
    ("who", "params", "expected"),
    [
        pytest.param("operator", {}, {"dmv": "sent", "chp": "failed"}, id="R9/operator-all"),
        pytest.param("auditor", {}, {"dmv": "sent", "chp": "failed"}, id="R9/auditor-all"),
        pytest.param("dmv", {}, {"dmv": "sent"}, id="R9/agency-own-only"),
        pytest.param("chp", {}, {"chp": "failed"}, id="R9/other-agency-own-only"),
        pytest.param("operator", {"status": "failed"}, {"chp": "failed"}, id="R9/status"),
        pytest.param("operator", {"cert": "dmv"}, {"dmv": "sent"}, id="R9/by-certificate"),
    ],
)
def test_who_sees_which_notices(
    api: Api, who: str, params: dict[str, str], expected: dict[str, str]
) -> None:
    if "cert" in params:
        params = {"cert": api.serials[params["cert"]]}
    want = sorted((api.serials[org], status, "expiry.90") for org, status in expected.items())
    assert _subjects(api, who, **params) == want


def test_notice_fields_and_refusals(api: Api) -> None:
    op = bearer(api.tokens["operator"])
    (failed,) = api.client.get("/api/v1/notices?status=failed", headers=op).json()["items"]
    assert failed["contact_email"] == "carl@chp.ca.gov" and failed["attempts"] == 1
    assert "no such mailbox" in failed["last_error"] and failed["sent_at"] is None
    assert failed["subject_type"] == "certificate" and failed["late"] is True  # 2 days late
    chp_cert = api.serials["chp"]
    assert_problem(
        api.client.get(f"/api/v1/notices?cert={chp_cert}", headers=bearer(api.tokens["dmv"])),
        404,
        "cert.unknown",
    )
    assert api.client.get("/api/v1/notices?status=lost", headers=op).status_code == 422
    assert_problem(api.client.get("/api/v1/notices"), 401, "auth.token")


def test_preview(api: Api) -> None:
    serial = api.serials["dmv"]
    resp = api.client.get(
        f"/api/v1/notices/preview/{serial}?reason=expiry.30", headers=bearer(api.tokens["dmv"])
    )
    assert resp.status_code == 200, resp.text
    (mail,) = resp.json()
    assert mail["to"] == "ana@dmv.ca.gov" and mail["reason"] == "expiry.30"
    assert mail["subject"].endswith(f"({serial}) expires in 30 days")
    assert serial in mail["text"] and "<table>" in mail["html"] and mail["problem"] is None
    assert_problem(
        api.client.get(f"/api/v1/notices/preview/{serial}", headers=bearer(api.tokens["chp"])),
        404,
        "cert.unknown",
    )
    assert_problem(
        api.client.get(
            f"/api/v1/notices/preview/{serial}?reason=soon", headers=bearer(api.tokens["dmv"])
        ),
        400,
        "notice.reason",
    )


def test_metrics_count_notices_by_status(api: Api) -> None:
    text = api.client.get("/metrics").text
    samples = {
        s.labels.get("status"): s.value
        for family in text_string_to_metric_families(text)
        if family.name == "certdesk_notices"
        for s in family.samples
    }
    assert (samples["sent"], samples["failed"], samples["retrying"]) == (1, 1, 0)
