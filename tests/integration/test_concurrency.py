"""Several certdesk processes on one database (DESIGN §7: the same tests on SQLite and
PostgreSQL): concurrent issuance loses nothing and reuses no serial; concurrent revocations
publish CRLs with distinct, increasing numbers, and the newest CRL lists every revocation."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import select

from certdesk.ca.issuer import RevokedEntry
from certdesk.clock import system_clock
from certdesk.config import Settings
from certdesk.core.keys import KeyType
from certdesk.services.pki.issuance import IssueCommand
from certdesk.services.pki.revocation import Reason
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.setup import initialize
from certdesk.store.models import CertificateRow, CrlRow
from conftest import OPERATOR
from world.processes import certdesk_env, spawn_child, stop, wait_until

PROCESSES = 3
THREADS = 2
PER_THREAD = 15
BURST = ["issue", "--org", "dmv", "--threads", str(THREADS), "--count", str(PER_THREAD)]


def open_services(settings: Settings) -> Services:
    """certdesk on the real clock (children sign with it too), initialized, with one org."""
    svc = Services(Runtime.open(settings, system_clock))
    initialize(svc, with_token=False)
    svc.orgs.create(OPERATOR, "dmv", "Department of Motor Vehicles", self_managed=False, grants=[])
    return svc


def release_together(
    settings: Settings, tmp_path: Path, commands: list[list[str]], *, timeout: float
) -> None:
    """Start one child per command, wait until all loaded the CA, release them at once."""
    env = certdesk_env(settings)
    go = tmp_path / "go"
    children = []
    try:
        for n, command in enumerate(commands):
            ready, log = tmp_path / f"ready-{n}", tmp_path / f"child-{n}.log"
            args = [command[0], "--ready", str(ready), "--go", str(go), *command[1:]]
            children.append((spawn_child(args, env, log), log, ready))
        wait_until(
            lambda: all(ready.exists() for _, _, ready in children),
            timeout=60,
            what="children ready",
            alive=[(p, log) for p, log, _ in children],
        )
        go.touch()
        for proc, log, _ in children:
            proc.wait(timeout=timeout)
            assert proc.returncode == 0, log.read_text(errors="replace")
    finally:
        for proc, _, _ in children:
            stop(proc)


@pytest.mark.slow
def test_processes_issuing_at_once_all_succeed_with_unique_serials(
    settings: Settings, tmp_path: Path
) -> None:
    svc = open_services(settings)
    try:
        outs = [tmp_path / f"out-{n}" for n in range(PROCESSES)]
        release_together(
            settings,
            tmp_path,
            [[*BURST, "--out", str(out)] for out in outs],
            timeout=120,
        )
        with svc.rt.reads() as s:
            rows = list(s.scalars(select(CertificateRow)))
        issuing = svc.authority.issuing().ca.certificate
    finally:
        svc.rt.close()

    expected = PROCESSES * THREADS * PER_THREAD
    delivered = {p.stem: p.read_bytes() for out in outs for p in out.glob("*.der")}
    assert len(delivered) == expected
    assert len(rows) == expected
    assert {r.status for r in rows} == {"active"}
    serials = [r.serial for r in rows]
    assert len(set(serials)) == expected
    by_serial = {r.serial: r for r in rows}
    names: set[str] = set()
    for serial, der in delivered.items():
        assert by_serial[serial].der == der
        cert = x509.load_der_x509_certificate(der)
        assert format(cert.serial_number, "x") == serial
        cert.verify_directly_issued_by(issuing)
        names.add(by_serial[serial].names)
    assert len(names) == expected  # every request got its own certificate


def crl_history(svc: Services, slug: str) -> list[tuple[int, x509.CertificateRevocationList]]:
    issuer_id = svc.authority.by_slug(slug).issuer_id
    with svc.rt.reads() as s:
        rows = s.scalars(select(CrlRow).where(CrlRow.issuer_id == issuer_id)).all()
        return sorted((r.number, x509.load_der_x509_crl(r.der)) for r in rows)


def revoked_serials(crl: x509.CertificateRevocationList) -> set[str]:
    return {format(r.serial_number, "x") for r in crl}


def assert_consistent_history(history: list[tuple[int, x509.CertificateRevocationList]]) -> None:
    """CRL numbers are 1..n with no gap; the signed number matches; nothing is un-revoked."""
    assert [n for n, _ in history] == list(range(1, len(history) + 1))
    previous: set[str] = set()
    for number, crl in history:
        assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == number
        listed = revoked_serials(crl)
        assert previous <= listed, f"CRL {number} dropped {previous - listed}"
        previous = listed


@pytest.mark.slow
def test_concurrent_revocations_publish_increasing_complete_crls(
    settings: Settings, tmp_path: Path
) -> None:
    svc = open_services(settings)
    try:
        slug = svc.authority.issuing().slug
        serials = []
        for n in range(6):
            csr = svc.csrs.generate([f"r{n}.dmv.ca.gov"], KeyType.EC256)
            serials.append(svc.issuance.issue(OPERATOR, IssueCommand("dmv", csr.csr_pem)).serial)
        before = len(crl_history(svc, slug))
        # Two processes, three revocations each, released together.
        release_together(
            settings,
            tmp_path,
            [["revoke", *serials[0::2]], ["revoke", *serials[1::2]]],
            timeout=60,
        )
        history = crl_history(svc, slug)
        served = x509.load_der_x509_crl(svc.revocation.crl(slug))
    finally:
        svc.rt.close()

    assert_consistent_history(history)
    assert len(history) == before + len(serials)  # one CRL per revocation, none lost
    newest_number, newest = history[-1]
    assert served.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == (
        newest_number
    )
    assert revoked_serials(newest) == set(serials)
    for entry in newest:
        reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        assert reason is x509.ReasonFlags.key_compromise


def test_crl_built_from_a_stale_read_never_wins(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interleave two revocations by hand: A reads the revoked list (only A), B revokes and
    publishes, then A signs and stores. A must not publish a CRL without B under a number
    that hides B's CRL; it retries with the next number and the newest CRL lists both."""
    services.orgs.create(OPERATOR, "dmv", "DMV", self_managed=False, grants=[])
    a, b = (
        services.issuance.issue(
            OPERATOR,
            IssueCommand("dmv", services.csrs.generate([f"{n}.dmv.ca.gov"], KeyType.EC256).csr_pem),
        ).serial
        for n in ("a", "b")
    )
    loaded = services.authority.issuing()
    original = loaded.ca.sign_crl
    a_has_read, b_published = threading.Event(), threading.Event()
    built: list[tuple[str, int, set[str]]] = []

    def sign_crl(
        revoked: list[RevokedEntry], *, number: int, this_update: datetime, next_update: datetime
    ) -> bytes:
        who = threading.current_thread().name
        built.append((who, number, {format(e.serial, "x") for e in revoked}))
        if who == "revoke-a" and not b_published.is_set():
            a_has_read.set()
            assert b_published.wait(30)
        return original(revoked, number=number, this_update=this_update, next_update=next_update)

    monkeypatch.setattr(loaded.ca, "sign_crl", sign_crl)
    errors: list[BaseException] = []

    def revoke_a() -> None:
        try:
            services.revocation.revoke(OPERATOR, a, Reason.KEY_COMPROMISE)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=revoke_a, name="revoke-a")
    thread.start()
    try:
        assert a_has_read.wait(30)
        services.revocation.revoke(OPERATOR, b, Reason.SUPERSEDED)
    finally:
        b_published.set()
        thread.join(30)
    assert not errors

    first = built[0]
    assert first[0] == "revoke-a" and first[2] == {a}  # the stale read happened
    history = crl_history(services, loaded.slug)
    assert_consistent_history(history)
    assert revoked_serials(history[-1][1]) == {a, b}
    assert revoked_serials(x509.load_der_x509_crl(services.revocation.crl(loaded.slug))) == {a, b}
