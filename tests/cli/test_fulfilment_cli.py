"""``certdesk case fulfil|complete|close|certificates|download-key|revoke|reissue|renew``,
``certdesk report usage`` and ``certdesk org set-cost`` (R8, R11, R12).

The commands run in this process through ``certdesk.cli.main.run`` against one populated
certdesk per backend (``tests/world/desk.py``); the CLI acts as the local operator.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from certdesk.cli import fulfilment as fulfil_cli
from certdesk.cli import reports as report_cli
from certdesk.services.casework.cases import CaseInput
from world.cli import Cli
from world.desk import (
    DMV,
    START,
    Desk,
    add_agency,
    approved_case,
    delivered,
    desk_fixture,
    sub,
)

PASSWORD = "correct horse battery staple"


desk = desk_fixture("fulfilcli")


@pytest.fixture
def cli(
    desk: Desk,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Cli]:
    desk.at(START)
    monkeypatch.setattr(fulfil_cli, "services", lambda: desk.services)
    monkeypatch.setattr(report_cli, "services", lambda: desk.services)
    yield Cli(capsys, tmp_path, desk=desk, state=desk.snapshot)
    structlog.reset_defaults()


def test_fulfil_certificates_and_key_download(cli: Cli) -> None:
    desk = cli.desk
    view = desk.approved(DMV, submittals=(sub(f"{desk.unique('www')}.dmv.ca.gov"),))
    out = cli.ok("case", "fulfil", view.number)
    serial = out.out.split("\t")[0]
    assert f"case {view.number} is delivered" in out.err and len(serial) >= 30
    cli.fails("case", "fulfil", view.number)  # delivered already

    files = cli.tmp / "certs"
    files.mkdir()
    listing = cli.ok("case", "certificates", view.number, "--out", files).out
    assert serial in listing and "key stored" in listing
    chain = x509.load_pem_x509_certificates((files / f"{serial}.pem").read_bytes())
    assert len(chain) == 2 and format(chain[0].serial_number, "x") == serial
    assert cli.json("case", "certificates", view.number)["window_open"] is True

    secret = cli.tmp / "pw"
    secret.write_text(PASSWORD + "\n")
    short = cli.tmp / "short"
    short.write_text("short\n")
    target = cli.tmp / "www.p12"
    sub_id = str(view.submittals[0].id)
    key_cmd = ["case", "download-key", view.number, "--submittal", sub_id]
    assert "at least" in cli.fails(*key_cmd, "--password-file", short, "--out", target)
    target.write_bytes(b"")
    assert "refusing to overwrite" in cli.fails(
        *key_cmd, "--password-file", secret, "--out", target
    )
    target.unlink()
    done = cli.ok(*key_cmd, "--password-file", secret, "--out", target)
    assert "cannot be downloaded again" in done.err
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    key, cert, _ = pkcs12.load_key_and_certificates(target.read_bytes(), PASSWORD.encode())
    assert key is not None and cert is not None and format(cert.serial_number, "x") == serial
    again = cli.fails(*key_cmd, "--password-file", secret, "--out", cli.tmp / "again.p12")
    assert "downloaded" in again and "R12" in again


def test_window_revoke_and_reissue_and_the_closed_window(cli: Cli) -> None:
    desk = cli.desk
    view = delivered(desk)
    serial = view.submittals[0].certificate_serial or ""
    got = cli.json("case", "revoke", view.number, "--serial", serial, "--reason", "keyCompromise")
    assert got["certificates"][0]["revocation_reason"] == "keyCompromise"
    assert "unknown reason" in cli.fails(
        "case", "revoke", view.number, "--serial", serial, "--reason", "bogus"
    )
    sub_id = str(view.submittals[0].id)
    changed = cli.json(
        "case", "reissue", view.number, "--submittal", sub_id, "--platform", "dedicated"
    )
    assert changed["certificates"][1]["renewal_of"] == serial
    desk.clock.advance(days=25)
    err = cli.fails("case", "reissue", view.number, "--submittal", sub_id)
    assert "open a new case (R8)" in err


def test_complete_close_and_renew(cli: Cli) -> None:
    desk = cli.desk
    svc = desk.services
    question = svc.cases.open(desk["ana"], CaseInput(DMV, "question", "Which form?"))
    svc.cases.submit(desk["ana"], question.number)
    assert "needs the answer" in cli.fails("case", "complete", question.number)
    done = cli.json("case", "complete", question.number, "--comment", "The SAN form.")
    assert done["state"] == "closed"

    view = delivered(desk)
    number = cli.ok("case", "renew", view.submittals[0].certificate_serial or "").out.strip()
    renewal = svc.cases.show(desk["ana"], number)
    assert renewal.summary.type == "renewal"
    assert renewal.target_serial == view.submittals[0].certificate_serial
    assert "closed" in cli.ok("case", "close", view.number).out
    cli.fails("case", "close", view.number)


def test_usage_report_and_set_cost(cli: Cli) -> None:
    desk = cli.desk
    agency = add_agency(desk, "clic")
    assert "--cents-per-year N or --default" in cli.fails("org", "set-cost", agency.code)
    cli.fails("org", "set-cost", agency.code, "--cents-per-year", "-5")
    assert (
        cli.json("org", "set-cost", agency.code, "--cents-per-year", "36500")[
            "effective_cents_per_year"
        ]
        == 36500
    )
    case = approved_case(
        desk, agency.code, agency.requester, agency.approver,
        [sub(f"a.{agency.code}.ca.gov", validity_days=90),
         sub(f"b.{agency.code}.ca.gov", validity_days=90, platform="dedicated")],
    )  # fmt: skip
    desk.services.fulfilment.fulfil(desk["opal"], case.number)
    day = START.date().isoformat()
    period = ["--org", agency.code, "--from", day, "--to", day]
    csv = cli.ok("report", "usage", *period, "--csv").out
    assert csv.splitlines() == [
        "organization,name,service,certificates,dedicated,virtual,cost_cents,cost",
        f"{agency.code},Agency {agency.code},managed,2,1,1,18000,180.00",
        "TOTAL,,,2,1,1,18000,180.00",
    ]
    data = cli.json("report", "usage", *period)
    assert data["total"] == {"certificates": 2, "dedicated": 1, "virtual": 1, "cost_cents": 18000}
    text = cli.ok("report", "usage", *period).out
    assert f"{agency.code}\tmanaged\t2\t1\t1\t180.00" in text
    assert "not a date" in cli.fails("report", "usage", "--from", "yesterday", "--to", day)
    assert "before it starts" in cli.fails("report", "usage", "--from", day, "--to", "2026-01-01")
    assert "default" in cli.ok("org", "set-cost", agency.code, "--default").out


def test_case_issuer_chooses_a_submittals_issuer(cli: Cli) -> None:
    """R16: cert services choose one submittal's issuer (vendors: tests/ca/acme)."""
    desk = cli.desk
    view = desk.approved(DMV, submittals=(sub(f"{desk.unique('iss')}.dmv.ca.gov"),))
    sub_id = str(view.submittals[0].id)
    unknown = cli.fails("case", "issuer", view.number, sub_id, "--issuer", "nosuch", code=3)
    assert "no vendor issuer named 'nosuch'" in unknown
    assert "has no submittal" in cli.fails(
        "case", "issuer", view.number, "999999", "--issuer", "builtin", code=3
    )
    shown = cli.json("case", "issuer", view.number, sub_id, "--issuer", "builtin")
    assert shown["number"] == view.number
    assert "submittal.issuer" in desk.audit_actions(view.number)
    out = cli.ok("case", "fulfil", view.number)
    assert f"case {view.number} is delivered" in out.err
    # Delivered: its certificate is issued, the issuer stays (refused, exit 1).
    cli.fails("case", "issuer", view.number, sub_id, "--issuer", "builtin")
