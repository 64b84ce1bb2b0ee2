"""``certdesk backup`` while certificates are being issued, cases opened and a worker runs;
``certdesk restore`` of it into a new data directory and database (SQLite and PostgreSQL).

The backup is taken by the real command in its own process, while a child process issues
certificates on two threads, a ``certdesk worker`` runs, and a thread of this process opens
cases. What the backup holds is then bounded from both sides: everything committed before
the backup started is restored, and nothing restored was not committed by the time it
ended. Every restored change is whole: an issued certificate has its audit event and an
audit event its certificate; a case has its opening event. The restored installation's audit
chain verifies, its CA signs, and its CRL numbers continue above those published before.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import MetaData, func, select

from certdesk.clock import system_clock
from certdesk.config import Settings
from certdesk.core.keys import KeyType
from certdesk.services.casework.cases import CaseInput
from certdesk.services.pki.issuance import IssueCommand
from certdesk.services.pki.revocation import Reason
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.setup import initialize
from certdesk.store.models import AuditRow, Case, CertificateRow, CrlRow
from conftest import OPERATOR, scratch_database
from world.processes import CERTDESK, certdesk_env, run_cli, spawn_child, stop, wait_until

PASSPHRASE = "backup passphrase for the test"
ISSUED_BEFORE = 6  # certificates the child delivers before the backup starts


@dataclass(frozen=True)
class State:
    """What an installation holds, as far as the backup's promises go."""

    certs: dict[str, tuple[str, bytes | None]]  # serial -> (status, DER)
    cases: set[str]
    issue_events: set[str]  # serials with a cert.issue audit event
    case_events: set[str]  # case numbers with a case.open audit event
    crl_numbers: dict[int, int]  # issuer id -> newest CRL number


def read_state(svc: Services) -> State:
    with svc.rt.reads() as s:
        certs = {
            serial: (status, der)
            for serial, status, der in s.execute(
                select(CertificateRow.serial, CertificateRow.status, CertificateRow.der)
            )
        }
        cases = set(s.scalars(select(Case.number)))
        events = s.execute(
            select(AuditRow.action, AuditRow.object_id).where(
                AuditRow.action.in_(["cert.issue", "case.open"])
            )
        ).all()
        newest = select(CrlRow.issuer_id, func.max(CrlRow.number)).group_by(CrlRow.issuer_id)
        crls = {issuer: number for issuer, number in s.execute(newest)}
    return State(
        certs,
        cases,
        {oid for action, oid in events if action == "cert.issue"},
        {oid for action, oid in events if action == "case.open"},
        crls,
    )


def settings_in(folder: Path, url: str) -> Settings:
    # No CERTDESK_CA_PASSPHRASE: the CA passphrase lives in secrets/, so restore must bring it.
    return Settings(data_dir=folder / "data", database_url=url, ca_passphrase="")


@contextmanager
def installation(backend: str, folder: Path, tag: str) -> Iterator[Settings]:
    folder.mkdir()
    with scratch_database(backend, folder, tag) as url:
        yield settings_in(folder, url)


def files_of(data_dir: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under the data directory's ca/ and secrets/: mode and content."""
    return {
        str(p.relative_to(data_dir)): (p.stat().st_mode & 0o777, p.read_bytes())
        for folder in ("ca", "secrets")
        for p in sorted((data_dir / folder).rglob("*"))
        if p.is_file()
    }


def row_counts(settings: Settings) -> dict[str, int]:
    rt = Runtime.open(settings)
    try:
        meta = MetaData()
        with rt.engine.connect() as conn:
            meta.reflect(conn)
            return {
                name: conn.scalar(select(func.count()).select_from(table)) or 0
                for name, table in meta.tables.items()
            }
    finally:
        rt.close()


def certdesk(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CERTDESK), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def populate(svc: Services) -> bytes:
    """An installation in use: an organization, certificates (one revoked), CRLs, a case,
    and a secret sealed with the secret-box key (made on first use); returns that secret."""
    initialize(svc, with_token=False)
    svc.orgs.create(OPERATOR, "dmv", "Department of Motor Vehicles", self_managed=False, grants=[])
    serials = []
    for n in range(3):
        csr = svc.csrs.generate([f"seed-{n}.dmv.ca.gov"], KeyType.EC256)
        serials.append(svc.issuance.issue(OPERATOR, IssueCommand("dmv", csr.csr_pem)).serial)
    svc.revocation.revoke(OPERATOR, serials[0], Reason("keyCompromise"))
    for issuer, _cert in svc.authority.all_certificates():
        svc.revocation.publish_crl(issuer.slug)
    open_case(svc, "before the backup")
    return svc.secretbox.seal(b"a TOTP seed")


def open_case(svc: Services, title: str) -> str:
    return svc.cases.open(OPERATOR, CaseInput(org_code="dmv", type="new", title=title)).number


@pytest.mark.slow
def test_online_backup_restores_every_committed_change(backend: str, tmp_path: Path) -> None:
    with (
        installation(backend, tmp_path / "src", "bksrc") as source,
        installation(backend, tmp_path / "dst", "bkdst") as target,
    ):
        passphrase = tmp_path / "passphrase"
        passphrase.write_text(PASSPHRASE + "\n")
        archive = tmp_path / "certdesk.bak"
        svc = Services(Runtime.open(source, system_clock))
        try:
            sealed = populate(svc)
            before, during, after = backup_while_busy(svc, source, tmp_path, passphrase, archive)
            source_files = files_of(source.data_dir)
        finally:
            svc.rt.close()
        print(  # shown on failure: how much happened while the backup ran
            f"certificates: {len(before.certs)} before, {len(after.certs)} after the backup;"
            f" cases: {len(before.cases)} before, {len(after.cases)} after; {during} opened"
        )
        assert archive.stat().st_mode & 0o777 == 0o600
        assert [p.name for p in archive.parent.glob(".certdesk.bak*")] == []

        env = certdesk_env(target)
        target.data_dir.mkdir(parents=True)
        assert row_counts(target) == {}

        # A wrong passphrase is refused before anything is written.
        wrong = tmp_path / "wrong"
        wrong.write_text("not the passphrase at all\n")
        refused = certdesk(env, "restore", str(archive), "--passphrase-file", str(wrong))
        assert refused.returncode == 1, refused
        assert (
            refused.stderr == f"error: wrong passphrase for {archive} (or its header was altered)\n"
        )
        assert files_of(target.data_dir) == {}
        assert row_counts(target) == {}

        restored = run_cli(["restore", str(archive), "--passphrase-file", str(passphrase)], env)
        assert restored["backend"] == backend

        # The data: bounded by what was committed before and after the backup.
        rsvc = Services(Runtime.open(target, system_clock))
        try:
            check_restored(read_state(rsvc), before, after)
            # Keys and secrets come back byte for byte, private.
            assert files_of(target.data_dir) == source_files
            assert {mode for mode, _ in source_files.values()} == {0o600}
            for folder in (target.data_dir, target.ca_dir, target.secrets_dir):
                assert folder.stat().st_mode & 0o777 == 0o700
            assert rsvc.secretbox.open(sealed) == b"a TOTP seed"
        finally:
            rsvc.rt.close()

        # Interrupted issuances in the snapshot are voided by init, as after a crash.
        run_cli(["init"], env)
        assert run_cli(["audit", "verify"], env)["intact"] is True
        check_ca_still_works(target, before)

        # Over a database and data directory that now hold data: refused, nothing changed.
        counts, files = row_counts(target), files_of(target.data_dir)
        again = certdesk(env, "restore", str(archive), "--passphrase-file", str(passphrase))
        assert again.returncode == 1, again
        assert again.stderr.startswith("error: the data directory already holds keys")
        assert again.stderr.count("\n") == 1
        assert (row_counts(target), files_of(target.data_dir)) == (counts, files)


def backup_while_busy(
    svc: Services, source: Settings, tmp: Path, passphrase: Path, archive: Path
) -> tuple[State, int, State]:
    """Run ``certdesk backup`` while a child issues, a worker runs and cases are opened."""
    env = certdesk_env(source)
    delivered, ready, log = tmp / "delivered", tmp / "ready", tmp / "child.log"
    worker_log = tmp / "worker.log"
    stop_cases = threading.Event()
    opened: list[str] = []
    errors: list[BaseException] = []

    def keep_opening_cases() -> None:
        try:
            while not stop_cases.is_set():
                opened.append(open_case(svc, f"during the backup {len(opened)}"))
        except BaseException as exc:
            errors.append(exc)

    child = spawn_child(
        ["issue", "--org", "dmv", "--threads", "2", "--out", str(delivered), "--ready", str(ready)],
        env,
        log,
    )
    with open(worker_log, "wb") as out:
        worker = subprocess.Popen(
            [str(CERTDESK), "worker", "--interval", "0.5"], env=env, stdout=out, stderr=out
        )
    cases = threading.Thread(target=keep_opening_cases, daemon=True)
    try:
        wait_until(
            lambda: delivered.exists() and len(list(delivered.glob("*.der"))) >= ISSUED_BEFORE,
            timeout=120,
            what="certificates issued before the backup",
            alive=[(child, log)],
        )
        cases.start()
        before = read_state(svc)
        done = certdesk(env, "backup", "--out", str(archive), "--passphrase-file", str(passphrase))
        after = read_state(svc)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"backup written: {archive} (")
    finally:
        stop_cases.set()
        if cases.is_alive():
            cases.join(timeout=60)
        stop(child)
        stop(worker)
    assert not errors, errors
    return before, len(opened), after


def check_restored(restored: State, before: State, after: State) -> None:
    # Everything committed before the backup started is there, exactly as it was.
    finished_before = {s for s, (status, _der) in before.certs.items() if status != "signing"}
    for serial in finished_before:
        assert restored.certs[serial] == before.certs[serial], serial
    assert before.cases <= restored.cases
    # Nothing that was not committed by the time the backup ended.
    assert set(restored.certs) <= set(after.certs)
    assert restored.cases <= after.cases
    # Every change is whole: an issued certificate has its audit event and the event its
    # certificate; a row still `signing` (intent recorded, not yet signed) has none.
    assert restored.issue_events == {s for s, (_st, der) in restored.certs.items() if der}
    for serial, (status, der) in restored.certs.items():
        if status == "signing":
            assert der is None and serial not in restored.issue_events
        else:
            assert der == after.certs[serial][1], serial
    assert restored.case_events == restored.cases
    for issuer, number in restored.crl_numbers.items():
        assert before.crl_numbers[issuer] <= number <= after.crl_numbers[issuer]


def check_ca_still_works(target: Settings, before: State) -> None:
    """The restored CA signs, and its CRL numbers continue above the ones before."""
    svc = Services(Runtime.open(target, system_clock))
    try:
        csr = svc.csrs.generate(["after-restore.dmv.ca.gov"], KeyType.EC256)
        issued = svc.issuance.issue(OPERATOR, IssueCommand("dmv", csr.csr_pem))
        issuing = svc.authority.certificate(svc.authority.issuing().slug)
        issued.certificate.verify_directly_issued_by(issuing)
        for issuer, cert in svc.authority.all_certificates():
            published = svc.revocation.publish_crl(issuer.slug)
            assert published.number > before.crl_numbers[issuer.id]
            key = cert.public_key()
            assert isinstance(key, ec.EllipticCurvePublicKey)
            assert x509.load_der_x509_crl(published.der).is_signature_valid(key)
    finally:
        svc.rt.close()
