"""The secret box (services/secretbox.py): one key per installation, kept for the life of a
process once read, and named in the database by a fingerprint that reveals nothing of it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from certdesk.errors import Unavailable
from certdesk.services.secretbox import KEY_FILE, SecretBox


def _remove(path: Path) -> None:
    path.unlink()


def _replace(path: Path) -> None:
    path.write_bytes(Fernet.generate_key() + b"\n")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_remove, id="pinned/key-file-removed"),
        pytest.param(_replace, id="pinned/key-file-replaced"),
    ],
)
def test_a_box_keeps_the_key_it_read(tmp_path: Path, change: Callable[[Path], None]) -> None:
    key_file = tmp_path / "secrets" / KEY_FILE
    box = SecretBox(tmp_path / "secrets")
    fingerprint = box.fingerprint(create=True)
    csrf = box.derive("console-csrf")
    sealed = box.seal(b"totp seed")
    change(key_file)
    # A running process never seals under, or derives from, a key it did not start with.
    assert box.fingerprint(create=True) == fingerprint
    assert box.derive("console-csrf") == csrf
    assert box.open(box.seal(b"x")) == b"x"
    assert box.open(sealed) == b"totp seed"
    assert SecretBox(tmp_path / "secrets").exists() == (change is _replace)


def test_the_fingerprint_names_the_key_without_revealing_it(tmp_path: Path) -> None:
    one = SecretBox(tmp_path / "one")
    two = SecretBox(tmp_path / "two")
    first = one.fingerprint(create=True)
    assert first == SecretBox(tmp_path / "one").fingerprint(create=False)  # stable
    assert two.fingerprint(create=True) != first  # another key, another name
    key = (tmp_path / "one" / KEY_FILE).read_bytes().strip()
    assert key.decode() not in first and len(first) == 32


def test_a_missing_key_is_not_made_when_not_asked(tmp_path: Path) -> None:
    box = SecretBox(tmp_path / "secrets")
    with pytest.raises(Unavailable) as caught:
        box.fingerprint(create=False)
    assert caught.value.code == "secretbox.no_key"
    assert not box.exists()
