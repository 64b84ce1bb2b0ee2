"""The worker's re-checks of delivered certificates (R14): results on the certificate's
timeline, and "not in the inventory" / "renewed but the old one is still served" mailed to
the contacts and cert services exactly once per finding, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import trustme
from sqlalchemy import select

from certdesk.store import endpoints as endpoint_store
from certdesk.store.models import CertificateRow, Notice
from world.cli import Cli, operator_cli
from world.csr import ec_key, make_csr
from world.processes import free_port
from world.tlsservers import Served, leaf, s_server

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def cli(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Cli]:
    with operator_cli(
        capsys, tmp_path, monkeypatch,
        data_dir=tmp_path / "var", database_url=database_url, ca_passphrase=PASSPHRASE,
        verify_allow_networks="127.0.0.0/8", verify_address="127.0.0.1",
        verify_interval_hours="1", verify_timeout_seconds="3", verify_port=str(free_port()),
    ) as cli:  # fmt: skip
        cli.ok("init")
        cli.ok("org", "create", "dmv", "--name", "Motor Vehicles", "--self-managed")
        cli.ok("org", "grant", "dmv", "zone:dmv.ca.gov")
        yield cli


def issue(cli: Cli, tmp: Path, tag: str, renewal_of: str | None = None) -> tuple[str, Served]:
    key = ec_key()
    csr = cli.write(f"{tag}.csr", make_csr(["www.dmv.ca.gov"], key=key))
    chain = tmp / f"{tag}.chain.pem"
    extra = ["--renewal-of", renewal_of] if renewal_of else []
    out = cli.json("cert", "issue", "--org", "dmv", "--csr", csr, "--out", chain, *extra)
    from cryptography.hazmat.primitives import serialization

    key_file = tmp / f"{tag}.key.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return out["serial"], Served(chain, key_file, chain.read_bytes())


def mails(cli: Cli) -> list[tuple[str, str]]:
    with cli.services.rt.reads() as s:
        rows = s.execute(
            select(Notice.reason, Notice.contact_email).where(Notice.reason.like("endpoint.%"))
        )
        return sorted((r, e) for r, e in rows)


def checks(cli: Cli, serial: str) -> list[str]:
    with cli.services.rt.reads() as s:
        cert_id = s.scalar(select(CertificateRow.id).where(CertificateRow.serial == serial))
        return [c.severity for c in endpoint_store.checks_of(s, certificate_id=cert_id)]


def test_unknown_then_stale_each_mailed_once(cli: Cli, tmp_path: Path) -> None:
    port = int(cli.services.rt.settings.verify_port)
    old, old_served = issue(cli, tmp_path, "old")
    stranger = leaf(trustme.CA(), tmp_path, "www.dmv.ca.gov", tag="stranger")

    # R14: a stranger answers for the certificate's name: one mail per recipient, once.
    with s_server(stranger, port=port):
        report = cli.json("worker", "--once")
        assert report["endpoints"]["endpoints"] == 1, report
        assert report["endpoints"]["findings_mailed"] == 1
        later = cli.services.rt.clock() + timedelta(hours=2)
        assert cli.services.rechecks.run(later).findings_mailed == 0  # same finding: no mail
    assert [r for r, _e in mails(cli)] == [f"endpoint.inventory.unknown#{_id(cli, old)}"]
    assert checks(cli, old)[:2] == ["critical", "critical"]  # untrusted CA, on the timeline

    # R14: renewed, but the old certificate is still served: mailed once about the old one,
    # although both the old and the new certificate's names are checked.
    new, _ = issue(cli, tmp_path, "new", renewal_of=old)
    with s_server(old_served, port=port):
        t = cli.services.rt.clock() + timedelta(hours=4)
        first = cli.services.rechecks.run(t)
        assert first.endpoints == 2 and first.findings_mailed == 1
        assert cli.services.rechecks.run(t + timedelta(hours=2)).findings_mailed == 0
    stale = [r for r, _e in mails(cli) if "stale" in r]
    assert stale == [f"endpoint.inventory.stale#{_id(cli, old)}"]
    assert checks(cli, new)  # the successor's check is on its own timeline


def test_unreachable_name_is_recorded_not_mailed(cli: Cli) -> None:
    serial, _ = issue(cli, cli.tmp, "only")
    report = cli.services.rechecks.run()
    assert report.unreachable == 1 and report.findings_mailed == 0
    assert checks(cli, serial) == ["unreachable"]
    assert mails(cli) == []


def _id(cli: Cli, serial: str) -> int:
    with cli.services.rt.reads() as s:
        found = s.scalar(select(CertificateRow.id).where(CertificateRow.serial == serial))
        assert found is not None
        return found


def test_external_expiry_notice_once_per_step(cli: Cli, tmp_path: Path) -> None:
    """R9 and R18: an external certificate's contacts are reminded like any other, once per
    configured day, and the worker's verify job does it every pass."""
    from datetime import UTC, datetime

    ca = trustme.CA()
    now = datetime.now(UTC)
    soon = ca.issue_cert(
        "old.dmv.ca.gov", not_before=now - timedelta(days=80), not_after=now + timedelta(days=10)
    )
    pem = cli.write("old.pem", soon.cert_chain_pems[0].bytes())
    (added,) = cli.json("import", pem, "--contact", "ops@dmv.ca.gov")["added"]
    report = cli.json("worker", "--once")
    assert report["endpoints"]["expiry_mailed"] == 1, report
    assert cli.services.rechecks.external_expiry() == 0  # the 14-day notice is sent
    with cli.services.rt.reads() as s:
        (row,) = s.scalars(select(Notice).where(Notice.reason.like("endpoint.ext.%")))
    assert row.reason == f"endpoint.ext.expiry.14#{added['id']}"
    assert row.contact_email == "ops@dmv.ca.gov"
    assert "old.dmv.ca.gov" in row.subject and "expires in" in row.subject
    assert "P" in row.body_text.split("expires")[1]  # Pacific time, zone shown (PST/PDT)
    later = cli.services.rt.clock() + timedelta(days=4)
    assert cli.services.rechecks.external_expiry(later) == 1  # the 7-day step, once
    assert cli.services.rechecks.external_expiry(later) == 0


def test_verify_matches_a_certificate_certdesk_issued(cli: Cli, tmp_path: Path) -> None:
    """R14: the served leaf is found in the inventory by its SHA-256, and the chain leads
    to certdesk's own root (trusted without configuration)."""
    import json

    serial, served = issue(cli, tmp_path, "mine")
    with s_server(served) as port:
        result = cli("verify", f"127.0.0.1:{port}", "--sni", "www.dmv.ca.gov", "--json")
    assert result.code == 5, result.out  # only HSTS is missing (s_server -www sends none)
    report = json.loads(result.out)
    assert report["inventory"] == {"kind": "certificate", "serial": serial, "status": "active"}
    codes = {f["code"] for f in report["findings"]}
    assert "chain.untrusted" not in codes and "inventory.unknown" not in codes, codes
    assert report["certificate"]["chain_trusted"] is True
    assert checks(cli, serial) == ["warning"]  # on the certificate's timeline
