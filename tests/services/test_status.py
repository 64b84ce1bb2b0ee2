"""``certdesk status``'s reading (services/status.py), on SQLite and PostgreSQL.

Each row sets up a state of the installation with the manual clock and names the findings it
must produce (by code) and the level they add up to: nothing (healthy), attention (it
serves; exit 1) or unavailable (this host cannot serve; exit 4).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from certdesk.config import Settings
from certdesk.errors import Unavailable
from certdesk.jobs.worker import Worker
from certdesk.services.pki.issuance import IssueCommand
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.status import CA_WARNING_DAYS, Level, Status, read_status
from certdesk.store import crls as crl_store
from certdesk.store.db import alembic_config
from certdesk.store.schema import head_revision
from conftest import OPERATOR, ManualClock
from world.csr import make_csr

Setup = Callable[[Services, ManualClock], None]


def _nothing(_svc: Services, _clock: ManualClock) -> None:
    pass


def _worker_pass(svc: Services, _clock: ManualClock) -> None:
    assert Worker(svc, worker_id="w1").run_pass().errors == []


def _worker_killed(svc: Services, clock: ManualClock) -> None:
    _worker_pass(svc, clock)  # its row stays: a killed worker does not leave
    clock.advance(seconds=3 * svc.rt.settings.worker_interval_seconds + 1)


def _worker_killed_and_replaced(svc: Services, clock: ManualClock) -> None:
    _worker_killed(svc, clock)
    assert Worker(svc, worker_id="w2").run_pass().errors == []


def _worker_ran_once(svc: Services, _clock: ManualClock) -> None:
    assert Worker(svc, worker_id="cron").once().errors == []


def _crl_past_next_update(svc: Services, clock: ManualClock) -> None:
    issuers = [row for row, _ in svc.authority.all_certificates()]
    with svc.rt.reads() as s:
        crls = [crl_store.latest(s, row.id) for row in issuers]
    clock.now = max(c.next_update for c in crls if c is not None) + timedelta(minutes=1)


def _intermediate_near_its_end(svc: Services, clock: ManualClock) -> None:
    loaded = svc.authority.issuing()
    not_after = loaded.ca.certificate.not_valid_after_utc
    clock.now = not_after - timedelta(days=CA_WARNING_DAYS - 1)
    svc.housekeeping.refresh_crls()  # fresh CRLs: only the CA is to look at


def _expired_certificate_waiting(svc: Services, clock: ManualClock) -> None:
    svc.orgs.create(
        OPERATOR, "dmv", "Motor Vehicles", self_managed=True, grants=["zone:dmv.ca.gov"]
    )
    issued = svc.issuance.issue(
        OPERATOR, IssueCommand(org_code="dmv", csr=make_csr(["gone.dmv.ca.gov"]), days=1)
    )
    clock.now = issued.not_after + timedelta(hours=1)


def _expired_certificate_just_now(svc: Services, clock: ManualClock) -> None:
    _expired_certificate_waiting(svc, clock)
    clock.now -= timedelta(hours=1) - timedelta(seconds=60)  # a worker would not be late yet


def _schema_outdated(svc: Services, _clock: ManualClock) -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_revision(head_revision())
    assert head is not None
    with svc.rt.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head.down_revision})


CASES = [
    pytest.param(_nothing, set(), None, id="healthy/fresh-install-no-worker"),
    pytest.param(_worker_pass, set(), None, id="healthy/worker-beating"),
    pytest.param(_worker_ran_once, set(), None, id="healthy/cron-pass-left-no-heartbeat"),
    pytest.param(_worker_killed_and_replaced, set(), None, id="healthy/dead-worker-replaced"),
    pytest.param(_worker_killed, {"worker.stale"}, Level.ATTENTION, id="attention/worker-stale"),
    pytest.param(
        _crl_past_next_update, {"crl.expired"}, Level.ATTENTION, id="attention/crl-past-nextUpdate"
    ),
    pytest.param(
        _intermediate_near_its_end, {"ca.expiring"}, Level.ATTENTION, id="attention/ca-near-end"
    ),
    pytest.param(
        _expired_certificate_waiting,
        {"backlog.expiry"},
        Level.ATTENTION,
        id="attention/expiry-waits-for-a-worker",
    ),
    pytest.param(_expired_certificate_just_now, set(), None, id="healthy/expiry-not-late-yet"),
    pytest.param(
        _schema_outdated, {"schema.outdated"}, Level.UNAVAILABLE, id="unavailable/schema-outdated"
    ),
]


@pytest.fixture
def restore_schema(services: Services) -> Iterator[None]:
    yield
    with services.rt.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head_revision()})


@pytest.mark.parametrize(("setup", "codes", "level"), CASES)
def test_status_findings(
    services: Services,
    clock: ManualClock,
    restore_schema: None,
    setup: Setup,
    codes: set[str],
    level: Level | None,
) -> None:
    setup(services, clock)
    status = read_status(services)
    assert {f.code for f in status.findings} == codes, status.findings
    assert status.level is level
    assert status.as_dict()["status"] == ("healthy" if level is None else str(level))
    if level is Level.UNAVAILABLE:
        assert status.workers is None  # another schema's tables are not read
        return
    _check_report(services, status)


def _check_report(services: Services, status: Status) -> None:
    assert status.schema.current == status.schema.head
    assert status.ca_key == "ok"
    issuers = services.authority.all_certificates()
    assert {c.id for c in status.cas} == {row.slug for row, _ in issuers}
    for ca in status.cas:
        assert ca.days_left == (ca.not_after - status.now) // timedelta(days=1)
    assert {c.ca for c in status.crls} == {row.slug for row, _ in issuers}
    assert all(c.number is not None and c.number >= 1 for c in status.crls)
    assert status.outbox == {"pending": 0, "failed": 0}
    assert set(status.notices) >= {"pending", "retrying", "sending", "sent", "failed"}


def test_worker_pass_is_reported(services: Services, clock: ManualClock) -> None:
    assert Worker(services, worker_id="w1").run_pass().errors == []
    clock.advance(seconds=30)
    (worker,) = read_status(services).workers.workers  # type: ignore[union-attr]
    assert worker.worker_id == "w1" and worker.healthy
    assert worker.last_pass_at == clock.now - timedelta(seconds=30)
    assert worker.last_pass_seconds is not None and worker.last_pass_seconds >= 0


def test_an_unusable_ca_key_is_unavailable(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    settings = services.rt.settings
    locked = Services(
        Runtime.open(Settings(**{**settings.model_dump(), "ca_passphrase": "wrong"}), clock)
    )
    try:
        status = read_status(locked)
    finally:
        locked.rt.close()
    assert status.ca_key == "ca.key_locked"
    assert {f.code for f in status.findings} == {"ca.key_locked"}
    assert status.level is Level.UNAVAILABLE


@pytest.mark.parametrize("backend", ["postgresql"])
def test_an_unreachable_database_raises_unavailable(settings: Settings, clock: ManualClock) -> None:
    down = Settings(
        **{
            **settings.model_dump(),
            "database_url": "postgresql+psycopg://postgres@127.0.0.1:1/nowhere",
        }
    )
    svc = Services(Runtime.open(down, clock))
    try:
        with pytest.raises(Unavailable) as err:
            read_status(svc)
    finally:
        svc.rt.close()
    assert err.value.code == "database.unreachable"
    assert "CERTDESK_DATABASE_URL" in err.value.detail
