"""The console's external certificates (R18): cert services import files and adopt; an
agency sees its own external certificates only; a certificate's page shows its checks."""

from __future__ import annotations

import trustme

from world.console import console_desk, text_of, visitor
from world.desk import DMV, Desk, desk_fixture, sub

desk = desk_fixture("console-external", backend="sqlite", opener=console_desk)


def test_import_list_and_adopt(desk: Desk) -> None:
    ca = trustme.CA()
    mine = ca.issue_cert("portal.dmv.ca.gov").cert_chain_pems[0].bytes()
    stray = ca.issue_cert("www.unclaimed.ca.gov").cert_chain_pems[0].bytes()
    with visitor(desk, "ana") as ana:
        refused = ana.post("/external/import", files={"files": ("a.pem", mine, "text/plain")})
        assert refused.status_code == 403
    with visitor(desk, "opal") as opal:
        done = opal.post(
            "/external/import",
            files=[
                ("files", ("a.pem", mine, "text/plain")),
                ("files", ("b.pem", stray, "text/plain")),
            ],
        )
        page = opal.follow(done)
        text = text_of(page)
        assert "2 certificate(s) added" in text
        assert "portal.dmv.ca.gov" in text and "www.unclaimed.ca.gov" in text
        assert "assign an organization first" in text
        again = text_of(opal.follow(opal.post(
            "/external/import", files={"files": ("a.pem", mine, "text/plain")}
        )))  # fmt: skip
        assert "0 certificate(s) added, 1 already known" in again
        (ext,) = [v for v in desk.services.external.list(desk["opal"]) if v.organization == DMV]
        case_page = opal.follow(opal.post(f"/external/{ext.id}/adopt"))
        assert "replaces the external certificate" in text_of(case_page)
        assert "portal.dmv.ca.gov" in text_of(case_page)
    with visitor(desk, "ana") as ana:
        text = text_of(ana.get("/external"))
        assert "portal.dmv.ca.gov" in text and "www.unclaimed.ca.gov" not in text
        assert "Import certificates" not in text
    with visitor(desk, "carl") as carl:
        assert "portal.dmv.ca.gov" not in text_of(carl.get("/external"))


def test_certificate_page_shows_endpoint_checks(desk: Desk) -> None:
    view = desk.approved(DMV, submittals=(sub(f"{desk.unique('checked')}.dmv.ca.gov"),))
    number = desk.services.fulfilment.fulfil(desk["opal"], view.number).number
    serial = desk.services.window.certificates_of_case(desk["opal"], number).certificates[0].serial
    with visitor(desk, "ana") as ana:
        before = text_of(ana.get(f"/certificates/{serial}"))
        assert "No server answering for this certificate's names has been checked yet" in before
    desk.services.rechecks.run()  # nothing resolves here: recorded as not reachable
    with visitor(desk, "ana") as ana:
        after = text_of(ana.get(f"/certificates/{serial}"))
        assert "Installed endpoints" in after and "not reachable" in after
