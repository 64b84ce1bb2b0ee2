"""Small secrets at rest (TOTP seeds): Fernet under a key file in the secrets directory.

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) authenticates what it decrypts,
so a row copied from another installation or altered in the database is refused rather than
read as garbage. The key is generated on first use into ``secrets/secretbox.key`` with mode
0600 from the moment it exists; every process sharing the database must see the same file
(like the CA key files). Losing it makes the sealed secrets unreadable: back it up with them.

Once read, a box keeps its key for the life of the process: the start-up check
(services/startup.py) compares that key with the fingerprint the database recorded, and a key
file removed or replaced later never makes a running process seal under another key.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from certdesk.errors import Unavailable

KEY_FILE = "secretbox.key"


class SecretBox:
    def __init__(self, secrets_dir: Path) -> None:
        self._path = secrets_dir / KEY_FILE
        self._master: bytes | None = None
        self._fernet: Fernet | None = None

    def seal(self, plaintext: bytes) -> bytes:
        """Encrypt ``plaintext``, creating the key file if this installation has none yet."""
        return self._key(create=True).encrypt(plaintext)

    def open(self, sealed: bytes) -> bytes:
        """Decrypt what :meth:`seal` made; a wrong key or altered data is a clear error."""
        try:
            return self._key(create=False).decrypt(sealed)
        except InvalidToken:
            raise Unavailable(
                "secretbox.mismatch",
                f"a stored secret cannot be decrypted with {self._path}; was the key replaced?",
            ) from None

    @property
    def path(self) -> Path:
        return self._path

    def exists(self) -> bool:
        return self._path.exists()

    def fingerprint(self, *, create: bool) -> str:
        """A short public name of the key (HMAC of a fixed label; reveals nothing of it).

        The database records it, so that a process holding another key — a second host
        that made its own instead of sharing the first one's — refuses to start.
        """
        return hmac.new(
            self._load(create=create), b"certdesk secretbox fingerprint", "sha256"
        ).hexdigest()[:32]

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for ``purpose`` (the console's CSRF tokens), derived from the key
        file with HKDF-SHA256, so every process sharing the data directory agrees on it."""
        master = self._load(create=True)
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
        return hkdf.derive(master)

    def _key(self, *, create: bool) -> Fernet:
        if self._fernet is None:
            self._fernet = Fernet(self._load(create=create))
        return self._fernet

    def _load(self, *, create: bool) -> bytes:
        if self._master is None:
            self._master = self._load_file(create=create)
        return self._master

    def _load_file(self, *, create: bool) -> bytes:
        try:
            return self._read()
        except FileNotFoundError:
            if not create:
                raise Unavailable(
                    "secretbox.no_key", f"the secret key file {self._path} is missing"
                ) from None
        key = Fernet.generate_key()
        self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Written complete to a private temporary file, then published with link(2), which
        # fails if the name exists: when two processes create the key at once, one wins and
        # the other reads the winner's key, and nobody ever reads a half-written file.
        tmp = self._path.with_name(f".{KEY_FILE}.{os.getpid()}.{os.urandom(4).hex()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(key + b"\n")
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, self._path)
            except FileExistsError:
                return self._read()
        finally:
            tmp.unlink(missing_ok=True)
        return key

    def _read(self) -> bytes:
        key = self._path.read_bytes().strip()
        try:
            Fernet(key)
        except ValueError:
            raise Unavailable(
                "secretbox.bad_key", f"{self._path} does not hold a Fernet key"
            ) from None
        return key
