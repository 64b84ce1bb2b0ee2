"""The members of a backup archive (see :mod:`certdesk.services.backup`): copying the data
directory's files, their digests, writing the sealed tar, and unpacking and checking one."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO

from certdesk.backup_archive import OpeningReader, SealingWriter
from certdesk.errors import Conflict, InvalidInput

FORMAT = 1
MANIFEST = "manifest.json"
# Archive folders and the data-directory folders they come from.
FILE_ROOTS = {"files/ca/": "ca", "files/secrets/": "secrets"}
_TABLE = re.compile(r"db/([a-z0-9_]+)\.jsonl")


def files_under(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())


def copy_tree(root: Path, into: Path, prefix: str) -> list[tuple[str, Path]]:
    """Copy every file under ``root`` (but temporary dot-files) into ``into``."""
    out = []
    for path in files_under(root):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue  # a file being written right now (secretbox.py, keystore.py)
        if path.is_symlink() or not path.is_file():
            raise Conflict("backup.odd_file", f"{path} is not a regular file; refusing to follow")
        copy = into / rel
        copy.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copyfile(path, copy)
        os.chmod(copy, 0o600)
        out.append((prefix + rel.as_posix(), copy))
    return out


def digest(path: Path) -> dict[str, Any]:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"sha256": h.hexdigest(), "size": path.stat().st_size}


def write_archive(
    out: BinaryIO, passphrase: bytes, manifest: dict[str, Any], members: list[tuple[str, Path]]
) -> None:
    sealed = SealingWriter(out, passphrase)
    with tarfile.open(fileobj=sealed, mode="w|gz") as tar:  # type: ignore[call-overload]
        add(tar, MANIFEST, io.BytesIO(json.dumps(manifest, indent=2).encode()))
        for name, path in members:
            with open(path, "rb") as f:
                add(tar, name, f)
    sealed.close()


def add(tar: tarfile.TarFile, name: str, data: BinaryIO) -> None:
    data.seek(0, os.SEEK_END)
    info = tarfile.TarInfo(name)
    info.size = data.tell()
    info.mode = 0o600
    data.seek(0)
    tar.addfile(info, data)


def publish(out: Path, write: Any) -> None:
    """Write ``out`` through a private temporary file and rename(2): complete or absent."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise InvalidInput("file.unwritable", f"cannot write {out}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        raise InvalidInput("file.unwritable", f"cannot write {out}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(out.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def member_path(name: str) -> Path | None:
    """Where an archive member goes under the scratch folder; None for a name never written."""
    if name == MANIFEST or _TABLE.fullmatch(name):
        return Path(name)
    for prefix, folder in FILE_ROOTS.items():
        if name.startswith(prefix):
            parts = name[len(prefix) :].split("/")
            if all(p and not p.startswith(".") for p in parts):
                return Path(folder, *parts)
    return None


def extract(reader: OpeningReader, scratch: Path, source: str) -> dict[str, Any]:
    """Unpack every member into ``scratch`` (0600); return the manifest."""
    damaged = InvalidInput("backup.damaged", f"{source} is not a readable certdesk backup")
    try:
        with tarfile.open(fileobj=reader, mode="r|gz") as tar:  # type: ignore[call-overload]
            for member in tar:
                rel = member_path(member.name)
                if rel is None or not member.isfile():
                    raise InvalidInput(
                        "backup.damaged", f"{source} holds an unexpected member {member.name!r}"
                    )
                target = scratch / rel
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                data = tar.extractfile(member)
                assert data is not None  # a regular file always has data
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(data, out)
    except (tarfile.TarError, EOFError, zlib.error, FileExistsError):
        # Authenticated bytes that are no tar of ours (a duplicate or truncated member).
        raise damaged from None
    except OSError as exc:
        raise InvalidInput("backup.unpack", f"cannot unpack {source}: {exc}") from None
    try:
        manifest = json.loads((scratch / MANIFEST).read_text())
    except (OSError, ValueError):
        raise damaged from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InvalidInput(
            "backup.unsupported", f"{source} has a manifest this release cannot read"
        )
    return manifest


def verify(manifest: dict[str, Any], scratch: Path, source: str) -> None:
    """Every member is the one the manifest lists (SHA-256, size), and nothing else."""
    try:
        listed = dict(manifest["members"])
        tables = dict(manifest["tables"])
        present = {
            p.relative_to(scratch).as_posix() for p in files_under(scratch) if p.name != MANIFEST
        }
        expected = {member_path(name) for name in listed}
        if None in expected or {e.as_posix() for e in expected if e} != present:
            raise ValueError("members differ from the manifest")
        for name, want in listed.items():
            rel = member_path(name)
            assert rel is not None
            if digest(scratch / rel) != want:
                raise ValueError(f"{name} differs from its manifest entry")
        for table, rows in tables.items():
            path = scratch / "db" / f"{table}.jsonl"
            with open(path, "rb") as f:
                if sum(1 for _line in f) - 1 != rows:
                    raise ValueError(f"{table} has not {rows} rows")
    except (KeyError, TypeError, ValueError, OSError) as exc:
        raise InvalidInput(
            "backup.damaged", f"{source} does not match its manifest: {exc}"
        ) from None
