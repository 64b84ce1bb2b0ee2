"""``certdesk backup`` and ``certdesk restore``: the database, the CA keys and the secrets in
one encrypted file, taken while the server and worker run.

A backup holds, inside the envelope of ``certdesk/backup_archive.py`` (a gzip'd tar):

* ``manifest.json``: format, certdesk version, schema revision, backend, when it was made,
  the row count of every table, and the SHA-256 and size of every other member;
* ``db/<table>.jsonl``: every table's rows, read from one consistent snapshot
  (``store/backup.py``);
* ``files/ca/…`` and ``files/secrets/…``: the CA key files (already encrypted with the CA
  passphrase) and the secrets (the secret-box key, the CA passphrase file when the passphrase
  is not configured), copied after the snapshot. They are written once and never changed,
  so the copies match it; the backup checks that every CA key the snapshot's issuers use is
  there.

Restore goes the other way into an empty data directory and an empty database, and checks
before it changes anything: the passphrase, every member against the manifest, the CA keys
against the CA passphrase the restored installation will use. Then it writes the key files
and loads the database in one transaction; if loading fails, the files it wrote are removed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import certdesk
from certdesk.backup_archive import OpeningReader, check_passphrase
from certdesk.ca.keystore import PASSPHRASE_FILE, read_private_key, resolve_passphrase
from certdesk.errors import Conflict, InvalidInput, Unavailable
from certdesk.services import backup_members as archive
from certdesk.services.backup_members import FILE_ROOTS, FORMAT
from certdesk.services.runtime import Runtime
from certdesk.store import backup as backup_store
from certdesk.store import restore as restore_store
from certdesk.store.schema import known_revisions, setup_lock

DB_PREFIX = "db/"
_ENCRYPTED_KEY = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"


@dataclass(frozen=True)
class BackupReport:
    path: Path
    manifest: dict[str, Any]


@dataclass(frozen=True)
class RestoreReport:
    manifest: dict[str, Any]
    files: list[str]


class BackupService:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    # ------------------------------------------------------------------ backup

    def create(self, out: Path, passphrase: bytes) -> BackupReport:
        """Write a backup of the running installation to ``out`` (0600, complete or absent)."""
        check_passphrase(passphrase)
        settings = self._rt.settings
        if not out.parent.is_dir():
            raise InvalidInput("backup.no_folder", f"cannot write {out}: no folder {out.parent}")
        with self._scratch(".backup-") as scratch:
            (scratch / "db").mkdir()
            with backup_store.snapshot(self._rt.engine, scratch) as conn:
                revision = backup_store.revision(conn)
                if revision is None:
                    raise Unavailable(
                        "backup.no_schema", "the database has no certdesk schema: run init first"
                    )
                tables = backup_store.dump(conn, scratch / "db")
                key_files = backup_store.referenced_key_files(conn)
            (scratch / "snapshot.db").unlink(missing_ok=True)
            members = [(f"db/{t.name}.jsonl", scratch / "db" / f"{t.name}.jsonl") for t in tables]
            for prefix, folder in FILE_ROOTS.items():
                members += archive.copy_tree(self._root(folder), scratch / folder, prefix)
            names = {name for name, _path in members}
            lost = [k for k in key_files if f"files/ca/{k}" not in names]
            if lost:
                raise Conflict(
                    "backup.key_missing",
                    f"the CA key file {settings.ca_dir / lost[0]} is missing: nothing to back up"
                    " the CA with",
                )
            manifest = {
                "format": FORMAT,
                "certdesk_version": certdesk.__version__,
                "schema_revision": revision,
                "backend": self._rt.engine.dialect.name,
                "created_at": self._rt.clock().isoformat(),
                "ca_passphrase": "file"
                if f"files/secrets/{PASSPHRASE_FILE}" in names
                else "setting",
                "tables": {t.name: t.rows for t in tables},
                "members": {name: archive.digest(path) for name, path in members},
            }
            archive.publish(out, lambda f: archive.write_archive(f, passphrase, manifest, members))
        return BackupReport(out, manifest)

    # ------------------------------------------------------------------ restore

    def restore(self, source: Path, passphrase: bytes) -> RestoreReport:
        """Restore the backup ``source`` into this installation, which must be empty."""
        self._refuse_unless_empty(None)
        try:
            f = open(source, "rb")  # closed by the with-block below
        except OSError as exc:
            raise InvalidInput("file.unreadable", f"cannot read {source}: {exc.strerror}") from None
        with f, self._scratch(".restore-") as scratch:
            reader = OpeningReader(f, passphrase, name=str(source))
            manifest = archive.extract(reader, scratch, str(source))
            archive.verify(manifest, scratch, str(source))
            revision = str(manifest["schema_revision"])
            if revision not in known_revisions():
                raise InvalidInput(
                    "backup.newer_schema",
                    f"{source} was made by a newer certdesk (schema {revision},"
                    f" certdesk {manifest['certdesk_version']}); restore it with that release",
                )
            self._refuse_unless_empty(revision)
            self._check_ca_keys(scratch, manifest)
            # Under the set-up lock: an `init` or `db upgrade` started meanwhile waits, then
            # finds the restored installation (and the emptiness check inside holds).
            with setup_lock(self._rt.engine):
                placed = self._place_files(scratch)
                try:
                    with self._rt.engine.begin() as conn:
                        tables = sorted(manifest["tables"])
                        restore_store.load(conn, revision, scratch / "db", tables)
                except BaseException:
                    for path in placed:
                        path.unlink(missing_ok=True)
                    raise
        self._tighten_permissions()
        files = sorted(
            n.removeprefix("files/") for n in manifest["members"] if n.startswith("files/")
        )
        return RestoreReport(manifest, files)

    def _root(self, folder: str) -> Path:
        """Where an archive folder lives in this installation (secrets may be elsewhere:
        CERTDESK_SECRETS_DIR)."""
        settings = self._rt.settings
        return settings.ca_dir if folder == "ca" else settings.secrets_dir

    def _refuse_unless_empty(self, revision: str | None) -> None:
        for folder in FILE_ROOTS.values():
            held = archive.files_under(self._root(folder))
            if held:
                raise Conflict(
                    "restore.data_dir_not_empty",
                    f"the data directory already holds keys ({held[0]}); restore only into an"
                    " empty CERTDESK_DATA_DIR (and CERTDESK_SECRETS_DIR)",
                )
        with self._rt.engine.connect() as conn:
            restore_store.refuse_unless_empty(conn, revision)

    def _check_ca_keys(self, scratch: Path, manifest: dict[str, Any]) -> None:
        """The restored CA must sign: its keys must open with the passphrase it will use."""
        settings = self._rt.settings
        configured = settings.ca_passphrase
        staged_secrets = scratch / "secrets"
        if (
            not configured
            and settings.ca_passphrase_file is None
            and manifest.get("ca_passphrase") == "setting"
        ):
            raise Conflict(
                "restore.ca_passphrase",
                "the backup's CA keys are locked with a configured passphrase, and neither"
                " CERTDESK_CA_PASSPHRASE nor CERTDESK_CA_PASSPHRASE_FILE is set: set one to"
                " the passphrase the backed-up installation used",
            )
        keys = [
            p
            for p in archive.files_under(scratch / "ca")
            if p.read_bytes().startswith(_ENCRYPTED_KEY)
        ]
        if not keys:
            return
        try:
            phrase = resolve_passphrase(
                configured,
                staged_secrets,
                create=False,
                passphrase_file=settings.ca_passphrase_file,
            )
            for key in keys:
                read_private_key(key, phrase)
        except Unavailable:
            where = (
                "CERTDESK_CA_PASSPHRASE"
                if configured
                else "CERTDESK_CA_PASSPHRASE_FILE"
                if settings.ca_passphrase_file
                else f"the backup's {PASSPHRASE_FILE}"
            )
            raise Conflict(
                "restore.ca_passphrase",
                f"the backup's CA keys cannot be decrypted with {where}; set"
                " CERTDESK_CA_PASSPHRASE to the value the backed-up installation used",
            ) from None

    def _place_files(self, scratch: Path) -> list[Path]:
        placed: list[Path] = []
        try:
            for folder in FILE_ROOTS.values():
                for staged in archive.files_under(scratch / folder):
                    final = self._root(folder) / staged.relative_to(scratch / folder)
                    final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                    fd = os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    placed.append(final)
                    with os.fdopen(fd, "wb") as out:
                        out.write(staged.read_bytes())
                        out.flush()
                        os.fsync(out.fileno())
        except FileExistsError as exc:
            for path in placed[:-1]:
                path.unlink(missing_ok=True)
            raise Conflict(
                "restore.data_dir_not_empty", f"{exc.filename} appeared during the restore"
            ) from None
        except BaseException:
            for path in placed:
                path.unlink(missing_ok=True)
            raise
        return placed

    def _tighten_permissions(self) -> None:
        settings = self._rt.settings
        folders = [self._root(f) for f in FILE_ROOTS.values()]
        for root in [f for f in folders if f.is_dir()]:
            for path in [root, *root.rglob("*")]:
                os.chmod(path, 0o700 if path.is_dir() else 0o600)
        os.chmod(settings.data_dir, 0o700)
        url = self._rt.engine.url
        if url.get_backend_name() == "sqlite" and url.database:
            db = Path(url.database).resolve()
            if db.parent == settings.data_dir.resolve():
                for path in db.parent.glob(db.name + "*"):
                    os.chmod(path, 0o600)

    @contextlib.contextmanager
    def _scratch(self, prefix: str) -> Iterator[Path]:
        """A private (0700) folder in the data directory, where the plaintext already lives."""
        data_dir = self._rt.settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=data_dir, prefix=prefix) as name:
            yield Path(name)
