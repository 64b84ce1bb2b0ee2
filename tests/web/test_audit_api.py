"""/api/v1/audit (R15): auditors read and verify; agency tokens may not."""

from __future__ import annotations

from fastapi.testclient import TestClient

from certdesk.core.access import Role
from certdesk.services.registry import Services
from certdesk.web.app import create_app
from conftest import OPERATOR


def test_audit_api(services: Services) -> None:
    services.orgs.create(OPERATOR, "dmv", "DMV", self_managed=True, grants=["zone:dmv.ca.gov"])
    auditor = services.tokens.create(OPERATOR, role=Role.AUDITOR, org_code=None).secret
    agency = services.tokens.create(OPERATOR, role=Role.DELEGATED_ADMIN, org_code="dmv").secret
    with TestClient(create_app(services)) as client:
        page = client.get("/api/v1/audit", headers={"Authorization": f"Bearer {auditor}"})
        assert page.status_code == 200
        actions = [e["action"] for e in page.json()["items"]]
        assert actions[:3] == ["token.create", "token.create", "org.create"]
        verified = client.get(
            "/api/v1/audit/verify", headers={"Authorization": f"Bearer {auditor}"}
        )
        assert verified.json() == {
            "events": 5,
            "intact": True,
            "first_bad_event": None,
            "reason": None,
        }
        refused = client.get("/api/v1/audit", headers={"Authorization": f"Bearer {agency}"})
        assert refused.status_code == 403
