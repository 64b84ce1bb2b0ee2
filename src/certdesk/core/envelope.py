"""Envelope encryption of a generated subscriber key under a data key of its own (R12).

A key certdesk generates for a managed certificate is sealed under a fresh random 256-bit
*data key* (AES-256-GCM); the data key is then wrapped by the installation's secret box and
both are stored together (``store/data_keys.py``). Destroying that one record at the key's
download makes the sealed key unreadable for good — *crypto-shredding* — even to someone who
holds ``secrets/secretbox.key`` and a copy of the database made before the download: every
copy of the sealed key needs a data key that no longer exists anywhere.

The associated data names the submittal, so a sealed key moved to another submittal's row
does not open. Pure: no I/O, no clock; the randomness comes from the operating system's
generator through ``secrets`` and ``cryptography``.
"""

from __future__ import annotations

import secrets
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from certdesk.errors import Unavailable

DATA_KEY_BITS = 256
NONCE_BYTES = 12  # NIST SP 800-38D §8.2: 96-bit nonces; each data key seals exactly once


def subscriber_key_context(submittal_id: int) -> bytes:
    """The associated data binding a sealed key to its submittal."""
    return f"certdesk generated key of submittal {submittal_id}".encode()


def seal_under_new_data_key(plaintext: bytes, context: bytes) -> tuple[bytes, bytes]:
    """``(data_key, sealed)``: ``plaintext`` sealed under a data key made for it alone.

    The caller wraps the data key (secret box) and stores both; the bare data key must never
    be stored.
    """
    data_key = AESGCM.generate_key(bit_length=DATA_KEY_BITS)
    nonce = secrets.token_bytes(NONCE_BYTES)
    return data_key, nonce + AESGCM(data_key).encrypt(nonce, plaintext, context)


def open_with_data_key(data_key: bytes, sealed: bytes, context: bytes) -> bytes:
    """What :func:`seal_under_new_data_key` sealed; the wrong key, context or an altered
    ciphertext is a clear error, never garbage."""
    try:
        return AESGCM(data_key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context)
    except (InvalidTag, ValueError):
        raise Unavailable(
            "data_key.mismatch",
            "a stored generated key does not open with its data key: the record was altered"
            " or copied from elsewhere",
        ) from None


class Wrapper(Protocol):
    """What wraps data keys: the installation's secret box (services/secretbox.py)."""

    def seal(self, plaintext: bytes) -> bytes: ...

    def open(self, sealed: bytes) -> bytes: ...


def seal_subscriber_key(wrapper: Wrapper, submittal_id: int, key_der: bytes) -> tuple[bytes, bytes]:
    """``(wrapped_data_key, sealed_key)`` for a generated key of ``submittal_id``: the key
    under a fresh data key, the data key under ``wrapper``. The bare data key is dropped."""
    data_key, sealed = seal_under_new_data_key(key_der, subscriber_key_context(submittal_id))
    return wrapper.seal(data_key), sealed


def open_subscriber_key(
    wrapper: Wrapper, submittal_id: int, wrapped_data_key: bytes, sealed_key: bytes
) -> bytes:
    """The key :func:`seal_subscriber_key` sealed, as PKCS#8 DER."""
    data_key = wrapper.open(wrapped_data_key)
    return open_with_data_key(data_key, sealed_key, subscriber_key_context(submittal_id))
