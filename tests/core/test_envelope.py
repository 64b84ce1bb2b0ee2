"""R12 / issue 10 finding 7: generated keys sealed under data keys of their own."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from certdesk.core.envelope import (
    open_subscriber_key,
    open_with_data_key,
    seal_subscriber_key,
    seal_under_new_data_key,
    subscriber_key_context,
)
from certdesk.errors import Unavailable
from certdesk.services.secretbox import SecretBox

KEY = b"0\x81\x87 a PKCS#8 DER stands here" * 4


def test_finding7_every_key_gets_a_fresh_data_key_and_nonce() -> None:
    context = subscriber_key_context(7)
    (k1, s1), (k2, s2) = (
        seal_under_new_data_key(KEY, context),
        seal_under_new_data_key(KEY, context),
    )
    assert len(k1) == 32 and k1 != k2 and s1[:12] != s2[:12] and s1 != s2
    assert open_with_data_key(k1, s1, context) == KEY
    assert KEY not in s1


@pytest.mark.parametrize(
    "change",
    [
        pytest.param("other-submittal", id="R12/sealed-key-moved-to-another-submittal"),
        pytest.param("other-data-key", id="R12/another-data-key"),
        pytest.param("flipped-bit", id="R12/altered-ciphertext"),
        pytest.param("cut", id="R12/cut-short"),
    ],
)
def test_finding7_a_sealed_key_opens_only_with_its_data_key_and_submittal(change: str) -> None:
    data_key, sealed = seal_under_new_data_key(KEY, subscriber_key_context(1))
    context = subscriber_key_context(1)
    if change == "other-submittal":
        context = subscriber_key_context(2)
    elif change == "other-data-key":
        data_key = seal_under_new_data_key(KEY, context)[0]
    elif change == "flipped-bit":
        sealed = sealed[:-1] + bytes([sealed[-1] ^ 1])
    else:
        sealed = sealed[:10]
    with pytest.raises(Unavailable) as refused:
        open_with_data_key(data_key, sealed, context)
    assert refused.value.code == "data_key.mismatch"


def test_finding7_the_wrapped_data_key_is_all_that_opens_the_key(tmp_path: Path) -> None:
    box = SecretBox(tmp_path / "one")
    wrapped, sealed = seal_subscriber_key(box, 3, KEY)
    assert open_subscriber_key(box, 3, wrapped, sealed) == KEY
    assert Fernet(box.path.read_bytes().strip()).decrypt(wrapped) == box.open(wrapped)
    other = SecretBox(tmp_path / "other")
    other.seal(b"makes its key")
    with pytest.raises(Unavailable) as refused:
        open_subscriber_key(other, 3, wrapped, sealed)
    assert refused.value.code == "secretbox.mismatch"
