"""``certdesk acme …`` (R17, RFC 9773), in-process through ``run``, on SQLite and PostgreSQL:
EAB keys (the HMAC key printed once), accounts, and ``renew-early``, the operator's lever
that makes the renewal information of every active certificate of an issuer or an
organization say "renew now" (audited)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from certdesk.cli import common
from certdesk.store.models import AcmeEabKey, AuditRow, CertificateRow
from conftest import OPERATOR
from world.cli import Cli, operator_cli
from world.csr import make_csr


def counts() -> dict[str, int]:
    """What a refused command must leave as it was."""
    with common.services().rt.reads() as s:
        out = {
            m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0
            for m in (AcmeEabKey, AuditRow)
        }
        out["marked"] = (
            s.scalar(
                select(func.count())
                .select_from(CertificateRow)
                .where(CertificateRow.replace_requested_at.is_not(None))
            )
            or 0
        )
        return out


@pytest.fixture
def cli(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Cli]:
    """Initialized, with the self-managed dmv and the managed chp."""
    with operator_cli(
        capsys, tmp_path, monkeypatch,
        data_dir=tmp_path / "var",
        database_url=database_url,
        ca_passphrase="cli-test-passphrase",
        base_url="https://desk.cdt.ca.gov",
    ) as runner:  # fmt: skip
        runner._state = counts  # what a refused command must leave as it was
        runner.ok("init")
        runner.ok(
            "org", "create", "dmv", "--name", "DMV", "--self-managed", "--grant", "zone:dmv.ca.gov"
        )
        runner.ok("org", "create", "chp", "--name", "CHP", "--grant", "zone:chp.ca.gov")
        yield runner


def test_r17_eab_key_printed_once_listed_and_revoked(cli: Cli) -> None:
    new = cli.json("acme", "eab", "create", "--org", "dmv", "--expires", "3", "--json")
    assert new["org"] == "dmv" and len(new["hmac_key"]) == 43
    listed = cli.json("acme", "eab", "list", "--json")
    assert [k["kid"] for k in listed] == [new["kid"]]
    assert new["hmac_key"] not in cli.ok("acme", "eab", "list", "--json").out
    assert cli.json("acme", "eab", "revoke", new["kid"], "--json")["state"] == "revoked"
    assert "already revoked" in cli.fails("acme", "eab", "revoke", new["kid"])


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        pytest.param(("acme", "eab", "create", "--org", "chp"), 1, "managed", id="r11/managed-org"),
        pytest.param(
            ("acme", "eab", "create", "--org", "nosuch"), 3, "no organization", id="r17/unknown-org"
        ),
        pytest.param(
            ("acme", "eab", "revoke", "kid-nosuch"), 3, "no EAB key", id="r17/unknown-kid"
        ),
        pytest.param(
            ("acme", "account", "deactivate", "99"), 3, "no ACME account", id="r17/unknown-account"
        ),
        pytest.param(("acme", "renew-early"), 1, "exactly one", id="rfc9773/renew-early-neither"),
        pytest.param(
            ("acme", "renew-early", "--org", "dmv", "--issuer", "x"),
            1,
            "exactly one",
            id="rfc9773/renew-early-both",
        ),
        pytest.param(
            ("acme", "renew-early", "--issuer", "nosuch"),
            3,
            "no issuer",
            id="rfc9773/renew-early-unknown-issuer",
        ),
        pytest.param(
            ("acme", "renew-early", "--org", "nosuch"),
            3,
            "no organization",
            id="rfc9773/renew-early-unknown-org",
        ),
    ],
)
def test_refusals_change_nothing(cli: Cli, args: tuple[str, ...], code: int, says: str) -> None:
    assert says in cli.fails(*args, code=code)


def test_rfc9773_renew_early_marks_active_certificates_once(cli: Cli) -> None:
    svc = cli.services
    from certdesk.services.pki.issuance import IssueCommand

    serial = svc.issuance.issue(
        OPERATOR, IssueCommand(org_code="dmv", csr=make_csr(["a.dmv.ca.gov"]))
    ).serial
    svc.issuance.issue(OPERATOR, IssueCommand(org_code="chp", csr=make_csr(["a.chp.ca.gov"])))
    assert cli.json("acme", "renew-early", "--org", "dmv", "--json")["marked"] == 1
    assert cli.json("acme", "renew-early", "--org", "dmv", "--json")["marked"] == 0
    events, _ = svc.audit.search(OPERATOR, action="acme.renew_early")
    assert len(events) == 2
    issuer = svc.inventory.show(OPERATOR, serial).issuer
    # Every certificate of the issuer: chp's too (dmv's is marked already).
    assert "1 certificate(s) marked" in cli.ok("acme", "renew-early", "--issuer", issuer).out


@pytest.fixture
def account_id(cli: Cli) -> int:
    """An ACME account of dmv, registered through the real protocol (EAB)."""
    from certdesk.web.app import create_app
    from world.acme import register_through
    from world.api import TestClient

    new = cli.services.acme_eab.create(OPERATOR, "dmv")
    with TestClient(create_app(cli.services)) as client:
        number, _key = register_through(
            client, cli.services.rt.settings.base_url, new.kid, new.hmac_key
        )
    return number


def test_r17_persist_record_shows_the_txt_record_to_publish(cli: Cli, account_id: int) -> None:
    out = cli.ok(
        "acme", "persist-record", "--account", str(account_id),
        "--domain", "*.www.dmv.ca.gov", "--until", "2027-06-30",
    ).out  # fmt: skip
    assert out.startswith(
        '_validation-persist.www.dmv.ca.gov. IN TXT "desk.cdt.ca.gov;'
        " accounturi=https://desk.cdt.ca.gov/acme/account-hash/sha-256/"
    )
    assert out.rstrip().endswith('; policy=wildcard; persistUntil=1814313600"')
    shown = cli.json(
        "acme", "persist-record", "--account", str(account_id), "--domain", "api.dmv.ca.gov",
        "--json",
    )  # fmt: skip
    assert shown["txt_name"] == "_validation-persist.api.dmv.ca.gov"
    assert shown["wildcard"] is False and shown["persist_until"] is None
    assert "persistUntil" not in shown["txt_value"]
    listed = cli.services.acme_persist.records(OPERATOR, "dmv")
    assert sorted(r.name for r in listed) == ["api.dmv.ca.gov", "www.dmv.ca.gov"]
    events, _ = cli.services.audit.search(OPERATOR, action="acme.persist.show")
    assert len(events) == 2


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        pytest.param(("--account", "999", "--domain", "www.dmv.ca.gov"), 3, "no ACME account",
                     id="r17/persist-unknown-account"),
        pytest.param(("--domain", "www.chp.ca.gov"), 1, "no grant", id="r2/persist-outside-grant"),
        pytest.param(("--domain", "x_y.dmv.ca.gov"), 1, "R1", id="r1/persist-bad-name"),
        pytest.param(("--domain", "www.dmv.ca.gov", "--until", "2020-01-01"), 1, "future",
                     id="r17/persist-until-past"),
        pytest.param(("--domain", "www.dmv.ca.gov", "--until", "soon"), 2, "not a date",
                     id="r17/persist-until-not-a-date"),
    ],
)  # fmt: skip
def test_persist_record_refusals_change_nothing(
    cli: Cli, account_id: int, args: tuple[str, ...], code: int, says: str
) -> None:
    head = () if "--account" in args else ("--account", str(account_id))
    assert says in cli.fails("acme", "persist-record", *head, *args, code=code)
