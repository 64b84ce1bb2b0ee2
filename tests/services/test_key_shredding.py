"""Issue 10 finding 7 (R12): an erased generated key cannot be recovered.

A generated key is sealed under a data key of its own, wrapped by the secret box; the one
PKCS#12 download destroys both (crypto-shredding). These tests read the raw database files
(``tests/database_files.py``) on SQLite and PostgreSQL: before the download they find the
sealed key and the wrapped data key there (so the scan can see them), afterwards not a piece
of either, and an attacker holding the files *and* ``secretbox.key`` cannot open the key.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic import command
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from certdesk.core.envelope import open_with_data_key, subscriber_key_context
from certdesk.errors import Conflict, Unavailable
from certdesk.services.casework.casefile import CaseView
from certdesk.services.casework.window import Reissue
from certdesk.services.startup import upgrade_schema
from certdesk.store.db import alembic_config, make_engine
from certdesk.store.models import DataKey
from certdesk.store.schema import current_revision, head_revision, upgrade
from conftest import BACKENDS
from world.database_files import fernet_tokens, raw_files, remnants
from world.desk import START, Desk, certificates, delivered, desk_fixture, open_desk, sub

PASSWORD = "correct horse battery staple"
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


desk = desk_fixture("shred")


@dataclass(frozen=True)
class Stored:
    """What the database held for one generated key before it was shredded."""

    submittal_id: int
    wrapped_data_key: bytes
    sealed_key: bytes


def stored(desk: Desk, submittal_id: int) -> Stored:
    with desk.services.rt.reads() as s:
        row = s.get(DataKey, submittal_id)
        assert row is not None, f"submittal {submittal_id} holds no generated key"
        return Stored(submittal_id, row.wrapped_data_key, row.sealed_key)


def files(desk: Desk) -> dict[str, bytes]:
    return raw_files(desk.services.rt.settings.database_url)


def attack(desk: Desk, found: dict[str, bytes], key: Stored) -> bytes | None:
    """What someone holding the database files and ``secretbox.key`` recovers of ``key``:
    every secret-box token in the files opened, every 32-byte plaintext tried as the data
    key of the sealed key (which the attacker is even given, as from an old backup)."""
    box = desk.services.secretbox
    context = subscriber_key_context(key.submittal_id)
    for token in fernet_tokens(found):
        try:
            plain = box.open(token)
        except Unavailable:
            continue  # not a token of this box, or cut short in the file
        if len(plain) != 32:
            continue
        try:
            return open_with_data_key(plain, key.sealed_key, context)
        except Unavailable:
            continue
    return None


def generated(desk: Desk, key_type: str = "ec256") -> CaseView:
    desk.at(START)
    return delivered(desk, sub(f"{desk.unique('shred')}.dmv.ca.gov", key_type=key_type))


def download(desk: Desk, view: CaseView) -> PrivateKey:
    sub_id = view.submittals[0].id
    bundle = desk.services.window.download_key(desk["ana"], view.number, sub_id, PASSWORD)
    key, _cert, _chain = pkcs12.load_key_and_certificates(bundle, PASSWORD.encode())
    assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    return key


def der(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def private_part(key: PrivateKey) -> bytes:
    """The secret numbers alone (the DER also carries the public key, which the CSR and
    the certificate rightly hold)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        value = key.private_numbers().private_value
        return value.to_bytes((value.bit_length() + 7) // 8)
    numbers = key.private_numbers()
    return b"".join(n.to_bytes((n.bit_length() + 7) // 8) for n in (numbers.d, numbers.p))


# RSA-4096 makes the sealed key big enough for PostgreSQL to move it to a TOAST table.
@pytest.mark.parametrize("key_type", ["ec256", "rsa4096"])
def test_finding7_downloaded_key_leaves_no_ciphertext_in_database_files(
    desk: Desk, key_type: str
) -> None:
    view = generated(desk, key_type)
    key = stored(desk, view.submittals[0].id)
    before = files(desk)
    # The scan sees what is there: both pieces are in the files while the key is stored.
    assert remnants(before, key.sealed_key) != []
    assert remnants(before, key.wrapped_data_key) != []

    secret = private_part(download(desk, view))

    after = files(desk)
    assert remnants(after, key.sealed_key) == []
    assert remnants(after, key.wrapped_data_key) == []
    assert remnants(before, secret) == [] and remnants(after, secret) == []  # never in clear
    if desk.backend == "sqlite":
        assert after.get("certdesk.db-wal", b"") == b""  # truncated after the download


def test_finding7_remaining_data_cannot_open_the_key_even_with_the_secret_box(
    desk: Desk,
) -> None:
    view = generated(desk)
    key = stored(desk, view.submittals[0].id)
    recovered = attack(desk, files(desk), key)
    assert recovered is not None  # while stored, the files and the box key open it

    assert recovered == der(download(desk, view))
    assert attack(desk, files(desk), key) is None
    with desk.services.rt.reads() as s:
        assert s.get(DataKey, key.submittal_id) is None


def test_finding7_key_downloads_once_and_a_second_download_is_refused(desk: Desk) -> None:
    view = generated(desk)
    sub_id = view.submittals[0].id
    assert certificates(desk, view.number).certificates[0].key == "stored"
    download(desk, view)
    assert certificates(desk, view.number).certificates[0].key == "downloaded"
    with pytest.raises(Conflict) as refused:
        desk.services.window.download_key(desk["ana"], view.number, sub_id, PASSWORD)
    assert refused.value.code == "key.downloaded"
    assert "cannot be downloaded again" in refused.value.detail
    assert "reissue the certificate with a new key" in refused.value.detail


def test_finding7_reissue_shreds_the_replaced_key(desk: Desk) -> None:
    view = generated(desk)
    sub_id = view.submittals[0].id
    old = stored(desk, sub_id)
    desk.services.window.reissue(desk["ana"], view.number, Reissue(submittal_id=sub_id))
    new = stored(desk, sub_id)
    assert new.wrapped_data_key != old.wrapped_data_key
    after = files(desk)
    assert remnants(after, old.sealed_key) == []
    assert remnants(after, old.wrapped_data_key) == []
    assert remnants(after, new.wrapped_data_key) != []  # the new key is stored, not lost
    assert attack(desk, after, old) is None


# --------------------------------------------------------------------- the upgrade to 0006


def _legacy_erase(url: str, submittal_id: int) -> None:
    """What the release before 0006 did at a download: set the column NULL, on a connection
    without secure_delete (SQLite's default build; Debian's turns it on)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        conn = sqlite3.connect(str(parsed.database))
        try:
            conn.execute("PRAGMA secure_delete=OFF")
            conn.execute("UPDATE submittals SET generated_key = NULL WHERE id = ?", (submittal_id,))
            conn.commit()
        finally:
            conn.close()
        return
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE submittals SET generated_key = NULL WHERE id = :id"),
                {"id": submittal_id},
            )
    finally:
        engine.dispose()


def _legacy_keys(engine: Engine) -> dict[int, bytes]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, generated_key FROM submittals WHERE generated_key IS NOT NULL")
        ).all()
    return {int(i): bytes(k) for i, k in rows}


@pytest.mark.parametrize("backend", BACKENDS)
def test_finding7_upgrade_from_0005_reseals_stored_keys_and_scrubs_erased_ones(
    backend: str, tmp_path: Path
) -> None:
    with open_desk(backend, tmp_path) as desk:
        svc = desk.services
        engine, url = svc.rt.engine, svc.rt.settings.database_url
        kept, erased = generated(desk), generated(desk)
        kept_id, erased_id = kept.submittals[0].id, erased.submittals[0].id
        # A database of the previous schema: 0005 keeps keys sealed by the secret box alone
        # in submittals.generated_key (the downgrade writes them exactly so).
        cfg = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as conn:
            cfg.attributes.update(connection=conn, wrapper=svc.secretbox)
            command.downgrade(cfg, "0005")
        assert current_revision(engine) == "0005"
        legacy = _legacy_keys(engine)
        assert set(legacy) == {kept_id, erased_id}
        _legacy_erase(url, erased_id)  # one key downloaded under the old release
        before = raw_files(url)
        assert remnants(before, legacy[erased_id]) != []  # the finding, reproduced
        assert svc.secretbox.open(legacy[erased_id])  # ... and it opens with the box

        with pytest.raises(Unavailable) as refused:
            upgrade(engine)  # no secret box: refused, nothing changed
        assert refused.value.code == "schema.needs_secret_key"
        assert "1 generated key(s)" in refused.value.detail
        assert current_revision(engine) == "0005" and _legacy_keys(engine) == {
            kept_id: legacy[kept_id]
        }

        was, now = upgrade_schema(svc)  # what `certdesk db upgrade` runs
        assert (was.current, now.current) == ("0005", head_revision())

        after = raw_files(url)
        for old in legacy.values():
            assert remnants(after, old) == []
        with svc.rt.reads() as s:
            assert s.get(DataKey, erased_id) is None
        key = stored(desk, kept_id)
        assert remnants(after, key.wrapped_data_key) != []
        # The re-sealed key is the same key: its certificate and it make one PKCS#12.
        assert der(download(desk, kept)) == svc.secretbox.open(legacy[kept_id])
        assert remnants(raw_files(url), key.wrapped_data_key) == []
