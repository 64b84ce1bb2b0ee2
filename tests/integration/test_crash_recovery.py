"""DESIGN §3.2 "a crash at any point leaves no signed certificate unrecorded".

A child process issues certificates on four threads and is SIGKILLed — at a random moment,
or while every thread is held between "intent recorded" and "signed and stored". After a
restart (``initialize``, what ``certdesk init`` and every server start run):

* no row is left ``signing``; the interrupted intents are ``void`` with a reason;
* every certificate the client received is recorded ``active`` with the identical DER;
* no serial is used twice, and no voided serial is on a delivered certificate;
* a certificate that was signed but not stored is accounted for: its serial is void and the
  recorded TBS digest is the digest of what was signed.

The unit-level tests below pin how :meth:`IssuanceService.recover` tells a live signer from
a dead one (process identity, signing lease) and that ``mark_active`` refuses a voided intent.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import select, update

from certdesk.ca.issuer import Prepared
from certdesk.clock import system_clock
from certdesk.config import Settings
from certdesk.core.keys import KeyType
from certdesk.errors import Conflict, NotFound
from certdesk.services.pki import signer_identity
from certdesk.services.pki.issuance import IssueCommand
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.setup import initialize
from certdesk.store.models import CertificateRow
from conftest import OPERATOR, ManualClock
from world.processes import certdesk_env, spawn_child, stop, wait_until

THREADS = 4
MIN_DELIVERED = 20


@dataclass(frozen=True)
class Recorded:
    serial: str
    status: str
    der: bytes | None
    fingerprint: str | None
    tbs_sha256: str
    void_reason: str | None


def recorded(settings: Settings) -> list[Recorded]:
    """Every certificate row, read through a fresh engine (as a restarted process would)."""
    rt = Runtime.open(settings)
    try:
        with rt.reads() as s:
            return [
                Recorded(
                    r.serial, r.status, r.der, r.fingerprint_sha256, r.tbs_sha256, r.void_reason
                )
                for r in s.scalars(select(CertificateRow).order_by(CertificateRow.id))
            ]
    finally:
        rt.close()


def prepare(settings: Settings) -> dict[str, str]:
    """``certdesk init`` state on the real clock plus one organization; the child's env."""
    svc = Services(Runtime.open(settings, system_clock))
    try:
        initialize(svc, with_token=False)
        svc.orgs.create(
            OPERATOR, "dmv", "Department of Motor Vehicles", self_managed=False, grants=[]
        )
    finally:
        svc.rt.close()
    return certdesk_env(settings)


def files(directory: Path) -> dict[str, bytes]:
    """Complete files in ``directory`` by name (the child writes ``.name.tmp`` first)."""
    if not directory.exists():
        return {}
    return {
        p.name.removesuffix(".der"): p.read_bytes()
        for p in directory.iterdir()
        if not p.name.startswith(".")
    }


CRASHES = [
    pytest.param(None, id="kill-at-random-moment"),
    pytest.param("before-sign", id="kill-with-intents-recorded-not-signed"),
    pytest.param("after-sign", id="kill-with-certificates-signed-not-stored"),
]


@pytest.mark.slow
@pytest.mark.parametrize("pause_at", CRASHES)
def test_sigkill_during_issuance_burst_loses_nothing(
    settings: Settings, tmp_path: Path, pause_at: str | None
) -> None:
    env = prepare(settings)
    out, held, pause = tmp_path / "delivered", tmp_path / "held", tmp_path / "pause"
    args = ["issue", "--org", "dmv", "--out", str(out), "--ready", str(tmp_path / "ready")]
    args += ["--threads", str(THREADS)]
    if pause_at:
        args += ["--pause-file", str(pause), "--pause-at", pause_at, "--held", str(held)]
    log = tmp_path / "child.log"
    child = spawn_child(args, env, log)
    in_flight: set[str] = set()
    delay = random.uniform(0, 0.3)
    try:
        wait_until(
            lambda: len(files(out)) >= MIN_DELIVERED,
            timeout=60,
            what=f"{MIN_DELIVERED} deliveries",
            alive=[(child, log)],
        )
        if pause_at is None:
            print(f"killing {delay:.3f}s after {MIN_DELIVERED} deliveries")  # shown on failure
            time.sleep(delay)
        else:
            pause.touch()
            wait_until(
                lambda: len(files(held)) == THREADS,
                timeout=30,
                what=f"all {THREADS} threads held {pause_at}",
                alive=[(child, log)],
            )
            in_flight = set(files(held))
            status = {r.serial: r.status for r in recorded(settings)}
            # The kill lands exactly between step 3 (intent) and step 5 (store).
            assert {status.get(s) for s in in_flight} == {"signing"}
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        stop(child)
    assert child.returncode == -signal.SIGKILL, log.read_text(errors="replace")

    # Restart: what `certdesk init` and every server start run, in a fresh process state.
    restarted = Services(Runtime.open(settings, system_clock))
    try:
        voided = initialize(restarted, with_token=False).voided
    finally:
        restarted.rt.close()

    rows = recorded(settings)
    by_serial = {r.serial: r for r in rows}
    assert len(by_serial) == len(rows), "a serial was recorded twice"
    assert [r.serial for r in rows if r.status == "signing"] == []
    void = {r.serial: r for r in rows if r.status == "void"}
    assert set(voided) == set(void)
    for r in void.values():
        assert r.void_reason and "signer died" in r.void_reason
        assert r.der is None

    delivered = files(out)
    assert len(delivered) >= MIN_DELIVERED
    delivered_serials = []
    for name, der in delivered.items():
        cert = x509.load_der_x509_certificate(der)
        serial = format(cert.serial_number, "x")
        delivered_serials.append(serial)
        assert serial == name
        row = by_serial.get(serial)
        assert row is not None, f"delivered certificate {serial} is not in the inventory"
        assert row.status == "active"
        assert row.der == der
        assert row.fingerprint == hashlib.sha256(der).hexdigest()
        assert row.tbs_sha256 == hashlib.sha256(cert.tbs_certificate_bytes).hexdigest()
    assert len(set(delivered_serials)) == len(delivered_serials)
    assert not set(delivered_serials) & set(void), "a voided serial was delivered"

    # Only a thread killed between its commit and its fsync can leave an active row undelivered.
    active = {r.serial for r in rows if r.status == "active"}
    assert len(active - set(delivered)) <= THREADS

    if pause_at is not None:
        assert in_flight and in_flight <= set(void), "a held intent was not voided"
        assert set(delivered) == active, "nothing can be stored while every thread is held"
    if pause_at == "after-sign":
        # Signed but never stored: the serial is still accounted for, and the recorded
        # intent is exactly the TBS that was signed.
        for serial, der in files(held).items():
            signed = x509.load_der_x509_certificate(der)
            tbs = hashlib.sha256(signed.tbs_certificate_bytes).hexdigest()
            assert void[serial].tbs_sha256 == tbs

    # Service goes on after the restart, with a serial nobody has seen.
    svc = Services(Runtime.open(settings, system_clock))
    try:
        csr = svc.csrs.generate(["after-restart.dmv.ca.gov"], KeyType.EC256)
        again = svc.issuance.issue(OPERATOR, IssueCommand("dmv", csr.csr_pem))
    finally:
        svc.rt.close()
    assert again.serial not in by_serial


# --- recovery rules, in-process -----------------------------------------------------------


def other_process(settings: Settings, clock: ManualClock) -> Services:
    """A second certdesk on the same database (its own engine), e.g. a server restarting."""
    return Services(Runtime.open(settings, clock))


def hold_in_sign(
    services: Services, monkeypatch: pytest.MonkeyPatch, while_held: Callable[[str], None]
) -> None:
    """Call ``while_held(serial)`` inside step 4, with the intent recorded and nothing signed."""
    ca = services.authority.issuing().ca
    original = ca.sign

    def sign(prepared: Prepared) -> x509.Certificate:
        while_held(format(prepared.request.serial, "x"))
        return original(prepared)

    monkeypatch.setattr(ca, "sign", sign)


def status_of(services: Services, serial: str) -> Recorded:
    with services.rt.reads() as s:
        r = s.scalars(select(CertificateRow).where(CertificateRow.serial == serial)).one()
        return Recorded(
            r.serial, r.status, r.der, r.fingerprint_sha256, r.tbs_sha256, r.void_reason
        )


LEASE = 60


@pytest.mark.parametrize(
    ("elapsed", "voided"),
    [
        pytest.param(0, False, id="live/just-started"),
        pytest.param(LEASE - 1, False, id="live/1s-before-lease-end"),
        pytest.param(LEASE, False, id="live/at-lease-end"),
        pytest.param(LEASE + 1, True, id="expired/1s-after-lease-end"),
        pytest.param(10 * LEASE, True, id="expired/long-after"),
    ],
)
def test_recover_spares_a_live_signer_until_its_lease_expires(
    services: Services,
    settings: Settings,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    elapsed: int,
    voided: bool,
) -> None:
    assert settings.signing_lease_seconds == LEASE
    services.orgs.create(OPERATOR, "dmv", "DMV", self_managed=False, grants=[])
    restarted = other_process(settings, clock)
    seen: dict[str, object] = {}

    def while_held(serial: str) -> None:
        seen["serial"] = serial
        seen["at-once"] = restarted.issuance.recover()
        clock.advance(seconds=elapsed)
        seen["later"] = restarted.issuance.recover()
        seen["row"] = status_of(services, serial)

    hold_in_sign(services, monkeypatch, while_held)
    csr = services.csrs.generate(["www.dmv.ca.gov"], KeyType.EC256)
    try:
        if voided:
            # mark_active must refuse: the certificate is never handed out.
            with pytest.raises(Conflict) as err:
                services.issuance.issue(OPERATOR, IssueCommand("dmv", csr.csr_pem))
            assert err.value.code == "issuance.voided"
        else:
            issued = services.issuance.issue(OPERATOR, IssueCommand("dmv", csr.csr_pem))
            assert issued.serial == seen["serial"]
    finally:
        restarted.rt.close()

    serial = str(seen["serial"])
    assert seen["at-once"] == []
    assert seen["later"] == ([serial] if voided else [])
    after = status_of(services, serial)
    if voided:
        assert after.status == "void"
        assert after.der is None
        assert after.void_reason is not None and "lease expired" in after.void_reason
        with pytest.raises(NotFound):
            services.inventory.show(OPERATOR, serial)
    else:
        assert after.status == "active"
        assert after.der is not None


PRINT_IDENTITY = (
    "from certdesk.services.pki import signer_identity; print(signer_identity.current())"
)


def dead_signer() -> str:
    """The identity of a process that ran on this host and has exited (and been reaped)."""
    done = subprocess.run(
        [sys.executable, "-c", PRINT_IDENTITY],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.strip()


def crash_in_sign(services: Services, monkeypatch: pytest.MonkeyPatch) -> str:
    """Leave a ``signing`` intent behind, as a process dying in step 4 does; its serial."""
    held: list[str] = []

    def die(serial: str) -> None:
        held.append(serial)
        raise KeyboardInterrupt  # stands in for the process going away

    hold_in_sign(services, monkeypatch, die)
    csr = services.csrs.generate(["www.dmv.ca.gov"], KeyType.EC256)
    with pytest.raises(KeyboardInterrupt):
        services.issuance.issue(OPERATOR, IssueCommand("dmv", csr.csr_pem))
    monkeypatch.undo()
    return held[0]


def test_recover_voids_a_dead_signers_intent_before_the_lease_ends(
    services: Services, settings: Settings, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    services.orgs.create(OPERATOR, "dmv", "DMV", self_managed=False, grants=[])
    alive = crash_in_sign(services, monkeypatch)
    dead = crash_in_sign(services, monkeypatch)
    with services.rt.sessions.begin() as s:
        s.execute(
            update(CertificateRow).where(CertificateRow.serial == dead).values(signer=dead_signer())
        )

    assert services.issuance.recover() == [dead]
    assert status_of(services, alive).status == "signing"  # this process still runs
    reason = status_of(services, dead).void_reason
    assert reason is not None and "signer died" in reason
    # A later recovery does not touch the void row again, and serials stay reserved.
    clock.advance(seconds=LEASE + 1)
    assert services.issuance.recover() == [alive]
    assert {status_of(services, s).status for s in (alive, dead)} == {"void"}


def test_recover_all_dead_voids_regardless_of_lease(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    services.orgs.create(OPERATOR, "dmv", "DMV", self_managed=False, grants=[])
    serial = crash_in_sign(services, monkeypatch)
    assert services.issuance.recover() == []
    assert services.issuance.recover(all_dead=True) == [serial]


# --- who is the signer ----------------------------------------------------------------------


@contextmanager
def zombie() -> Iterator[str]:
    """A child that has exited but is not reaped yet: its /proc entry is still there."""
    proc = subprocess.Popen(
        [sys.executable, "-c", PRINT_IDENTITY], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        signer = proc.stdout.readline().strip()
        proc.stdout.close()
        stat = Path(f"/proc/{proc.pid}/stat")
        deadline = time.monotonic() + 30
        while stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline, "child did not exit"
            time.sleep(0.01)
        yield signer
    finally:
        proc.wait(timeout=30)


@contextmanager
def given(signer: Callable[[], str]) -> Iterator[str]:
    yield signer()


def recycled_pid() -> str:
    """This process's pid with another start time: a new process that got a dead one's pid."""
    host, pid, start = signer_identity.current().rsplit(":", 2)
    return f"{host}:{pid}:{int(start) + 1}"


@pytest.mark.parametrize(
    ("signer", "dead"),
    [
        pytest.param(lambda: given(signer_identity.current), False, id="alive/this-process"),
        pytest.param(lambda: given(dead_signer), True, id="dead/exited-and-reaped"),
        pytest.param(zombie, True, id="dead/exited-not-yet-reaped"),
        pytest.param(lambda: given(recycled_pid), True, id="dead/pid-reused"),
        pytest.param(
            lambda: given(lambda: f"elsewhere.example:{os.getpid()}:1"),
            False,
            id="unknown/another-host",
        ),
        pytest.param(
            lambda: given(lambda: signer_identity.current().rsplit(":", 1)[0] + ":?"),
            False,
            id="unknown/no-start-time",
        ),
        pytest.param(lambda: given(lambda: "garbage"), False, id="unknown/malformed"),
    ],
)
def test_signer_identity(signer: Callable[[], AbstractContextManager[str]], dead: bool) -> None:
    with signer() as identity:
        assert signer_identity.is_dead(identity) is dead
