"""0027: files attached before it are attributed to the organization of the account or token
that attached them (whose case editors may then delete them); anything else stays cert
services'. Logs followed before it were read from entry 0. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, text

from certdesk.store.db import make_engine
from conftest import scratch_database
from world.migrations import alembic_step

AT = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)

# attachment id -> (uploaded_by, the organization it is attributed to)
UPLOADS = {
    1: ("user:ana", 1),  # a dmv requester
    2: ("token:abcdef012345", 1),  # a dmv token
    3: ("token:0123456789ab", None),  # an operator token
    4: ("user:opal", None),  # an operator account
    5: ("cli:operator", None),  # the command line
    6: ("user:gone", None),  # an account that no longer exists
}


def _old_rows(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO organizations (id, code, name, self_managed, created_at,"
                " auto_approve_renewals) VALUES (1, 'dmv', 'dmv', false, :at, false)"
            ),
            {"at": AT},
        )
        for uid, login, org in ((1, "ana", 1), (2, "opal", None)):
            conn.execute(
                text(
                    "INSERT INTO users (id, login_id, name, email, org_id, must_change_password,"
                    " failed_logins, totp_enabled, disabled, created_at) VALUES (:id, :login,"
                    " :login, :email, :org, false, 0, false, false, :at)"
                ),
                {"id": uid, "login": login, "email": f"{login}@x.ca.gov", "org": org, "at": AT},
            )
        for tid, prefix, org in ((1, "abcdef012345", 1), (2, "0123456789ab", None)):
            conn.execute(
                text(
                    "INSERT INTO api_tokens (id, prefix, token_hash, role, org_id, label,"
                    " created_at) VALUES (:id, :prefix, :hash, 'requester', :org, '', :at)"
                ),
                {"id": tid, "prefix": prefix, "hash": "0" * 64, "org": org, "at": AT},
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
        for aid, (by, _org) in UPLOADS.items():
            conn.execute(
                text(
                    "INSERT INTO case_attachments (id, case_id, filename, content_type, size,"
                    " sha256, data, uploaded_by, created_at) VALUES (:id, 1, 'a.txt',"
                    " 'text/plain', 1, :sha, :data, :by, :at)"
                ),
                {"id": aid, "sha": "0" * 64, "data": b"x", "by": by, "at": AT},
            )


def test_0027_attributes_old_files_to_their_uploaders_organization(
    backend: str, tmp_path: Path
) -> None:
    with scratch_database(backend, tmp_path, "m0027") as url:
        engine = make_engine(url)
        try:
            alembic_step(engine, "upgrade", "0022")
            _old_rows(engine)
            alembic_step(engine, "upgrade", "0027")
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT id, uploaded_by_org_id FROM case_attachments"))
                got = {r.id: r.uploaded_by_org_id for r in rows}
            assert got == {aid: org for aid, (_by, org) in UPLOADS.items()}
            alembic_step(engine, "downgrade", "0022")
            alembic_step(engine, "upgrade", "0027")
        finally:
            engine.dispose()
