"""0020: contacts copied onto submittals become one organization contact per address, named
by the submittals in the role each copy had (R9: the notices keep their recipients); the
downgrade copies them back. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, text

from certdesk.store.db import make_engine
from conftest import scratch_database
from world.migrations import alembic_step

AT = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)

# (id, org, submittal, kind, name, email) as a release before 0020 stored them.
BEFORE = [
    (1, 1, None, "technical", "Ana Lee", "ana@dmv.ca.gov"),
    (2, 1, 1, "technical", "Ana L.", "ANA@dmv.ca.gov"),
    (3, 1, 1, "billing", "Ben Ko", "ben@dmv.ca.gov"),
    (4, 1, 2, "technical", "Ben", "ben@dmv.ca.gov"),
    (5, 1, 2, "technical", "Ben Ko", "Ben@dmv.ca.gov"),  # the same person twice on one
    (6, 1, 3, "administrative", "Cy", "cy@dmv.ca.gov"),
    (7, 2, None, "billing", "Ben at CHP", "ben@dmv.ca.gov"),  # another organization's
]


def _old_rows(engine: Engine) -> None:
    with engine.begin() as conn:
        for org_id, code in ((1, "dmv"), (2, "chp")):
            conn.execute(
                text(
                    "INSERT INTO organizations (id, code, name, self_managed, created_at,"
                    " auto_approve_renewals) VALUES (:id, :code, :code, false, :at, false)"
                ),
                {"id": org_id, "code": code, "at": AT},
            )
        conn.execute(
            text(
                "INSERT INTO cases (id, number, org_id, type, state, title, description,"
                " opened_by, expedite, approval_steps, approval_round, created_at, updated_at)"
                " VALUES (1, 'CS-2026-000001', 1, 'new', 'draft', 't', '', 'ana', false, '', 0,"
                " :at, :at)"
            ),
            {"at": AT},
        )
        for sid in (1, 2, 3):
            conn.execute(
                text(
                    "INSERT INTO submittals (id, case_id, names, cert_type, platform,"
                    " server_software, server_version, key_type, service_option, created_at)"
                    " VALUES (:id, 1, :names, 'single', 'virtual', '', '', 'ec256', 'managed',"
                    " :at)"
                ),
                {"id": sid, "names": f"www{sid}.dmv.ca.gov", "at": AT},
            )
        for cid, org_id, sid, kind, name, email in BEFORE:
            conn.execute(
                text(
                    "INSERT INTO contacts (id, org_id, submittal_id, kind, name, email, phone,"
                    " created_at, updated_at) VALUES (:id, :org, :sid, :kind, :name, :email,"
                    " '', :at, :at)"
                ),
                {"id": cid, "org": org_id, "sid": sid, "kind": kind, "name": name,
                 "email": email, "at": AT},
            )  # fmt: skip
        if engine.dialect.name == "postgresql":  # rows written with ids, as a sequence would
            conn.execute(text("SELECT setval('contacts_id_seq', 7)"))


def test_0020_folds_submittal_copies_into_organization_contacts_and_back(
    backend: str, tmp_path: Path
) -> None:
    with scratch_database(backend, tmp_path, "m0020") as url:
        engine = make_engine(url)
        try:
            alembic_step(engine, "upgrade", "0015")
            _old_rows(engine)
            alembic_step(engine, "upgrade", "0020")
            with engine.connect() as conn:
                contacts = {
                    (r.org_id, r.address): (r.id, r.name, bool(r.org_wide))
                    for r in conn.execute(
                        text("SELECT id, org_id, address, name, org_wide FROM contacts")
                    )
                }
                links = sorted(
                    tuple(r)
                    for r in conn.execute(
                        text("SELECT submittal_id, contact_id, kind FROM submittal_contacts")
                    )
                )
            assert contacts == {
                (1, "ana@dmv.ca.gov"): (1, "Ana Lee", True),  # the organization's record wins
                (1, "ben@dmv.ca.gov"): (3, "Ben Ko", False),  # only submittals named him
                (1, "cy@dmv.ca.gov"): (6, "Cy", False),
                (2, "ben@dmv.ca.gov"): (7, "Ben at CHP", True),  # organizations stay apart
            }
            assert links == [
                (1, 1, "technical"),
                (1, 3, "billing"),
                (2, 3, "technical"),
                (3, 6, "administrative"),
            ]
            alembic_step(engine, "downgrade", "0015")
            with engine.connect() as conn:
                back = sorted(
                    (r.org_id, r.submittal_id or 0, r.kind, r.email)
                    for r in conn.execute(
                        text("SELECT org_id, submittal_id, kind, email FROM contacts")
                    )
                )
            assert back == [
                (1, 0, "technical", "ana@dmv.ca.gov"),
                (1, 1, "billing", "ben@dmv.ca.gov"),
                (1, 1, "technical", "ana@dmv.ca.gov"),
                (1, 2, "technical", "ben@dmv.ca.gov"),
                (1, 3, "administrative", "cy@dmv.ca.gov"),
                (2, 0, "billing", "ben@dmv.ca.gov"),
            ]
        finally:
            engine.dispose()
