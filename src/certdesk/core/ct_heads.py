"""Signed tree heads of Certificate Transparency logs and their signatures.

An RFC 6962 log answers ``get-sth`` with JSON (§4.3); a static-CT log serves a checkpoint,
a signed note (c2sp.org/tlog-checkpoint, c2sp.org/signed-note) whose RFC 6962 note signature
carries the same timestamp and TreeHeadSignature (c2sp.org/static-ct-api). Either way the
log's key signs the TLS encoding of

    struct { Version version; SignatureType signature_type = tree_hash;
             uint64 timestamp; uint64 tree_size; opaque sha256_root_hash[32]; }

as a DigitallySigned (RFC 5246 §4.7): SHA-256 with ECDSA (logs today) or RSA PKCS#1 v1.5.
A head whose signature does not verify with the configured key is refused
(``ct.bad_signature``) before anything of the log is believed.

Pure: parsing and signature checks with ``cryptography``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from certdesk.errors import InvalidInput

__all__ = [
    "LogKey",
    "TreeHead",
    "head_signature_input",
    "load_log_key",
    "parse_checkpoint",
    "parse_sth",
]

_SHA256, _RSA, _ECDSA = 4, 1, 3  # RFC 5246 §7.4.1.4.1 HashAlgorithm / SignatureAlgorithm
_NOTE_RFC6962 = 0x05  # c2sp.org/signed-note signature type of RFC 6962 note signatures
_MAX_SIZE = 2**63  # tree_size is a uint64; nothing real comes near


@dataclass(frozen=True)
class LogKey:
    """A log's public key and its RFC 6962 §3.2 LogID (SHA-256 of the DER SubjectPublicKeyInfo)."""

    der: bytes
    key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey

    @property
    def log_id(self) -> bytes:
        return hashlib.sha256(self.der).digest()

    def note_key_id(self, name: str) -> bytes:
        """The 4-byte key ID of this key's RFC 6962 note signatures under key ``name``."""
        return hashlib.sha256(
            name.encode() + b"\n" + bytes([_NOTE_RFC6962]) + self.log_id
        ).digest()[:4]


@dataclass(frozen=True)
class TreeHead:
    size: int
    root: bytes
    timestamp_ms: int


def load_log_key(data: bytes) -> LogKey:
    """A log's public key from PEM or DER SubjectPublicKeyInfo (ECDSA P-256 or RSA ≥ 2048)."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except (ValueError, TypeError):
        raise InvalidInput(
            "ct.bad_key", "the log's public key is not a PEM or DER public key"
        ) from None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise InvalidInput(
                "ct.bad_key", f"a log key on {key.curve.name} is not allowed (P-256 only)"
            )
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise InvalidInput("ct.bad_key", f"an RSA log key of {key.key_size} bits is too small")
    else:
        raise InvalidInput("ct.bad_key", "a log key is ECDSA P-256 or RSA (RFC 6962 §2.1.4)")
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return LogKey(der, key)


def head_signature_input(timestamp_ms: int, size: int, root: bytes) -> bytes:
    """The TLS encoding of a TreeHeadSignature (RFC 6962 §3.5): v1, tree_hash, ..."""
    return struct.pack(">BBQQ", 0, 1, timestamp_ms, size) + root


def _bad_signature(detail: str) -> InvalidInput:
    return InvalidInput("ct.bad_signature", detail)


def _verify(key: LogKey, digitally_signed: bytes, message: bytes) -> None:
    """Check a TLS DigitallySigned over ``message`` (hash, algorithm, opaque<0..2^16-1>)."""
    if len(digitally_signed) < 4:
        raise _bad_signature("the tree head signature is truncated")
    hash_alg, sig_alg, length = struct.unpack(">BBH", digitally_signed[:4])
    signature = digitally_signed[4:]
    if length != len(signature):
        raise _bad_signature("the tree head signature's length does not match")
    if hash_alg != _SHA256:
        raise _bad_signature(f"the tree head is signed with hash {hash_alg}, not SHA-256")
    try:
        if isinstance(key.key, ec.EllipticCurvePublicKey) and sig_alg == _ECDSA:
            key.key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key.key, rsa.RSAPublicKey) and sig_alg == _RSA:
            key.key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise _bad_signature("the tree head's signature algorithm is not the log key's")
    except InvalidSignature:
        raise _bad_signature(
            "the tree head's signature does not verify with the log's public key"
        ) from None


def _head(size: object, root: bytes, timestamp: object) -> TreeHead:
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < _MAX_SIZE:
        raise _bad_signature(f"the tree size {size!r} is not a count of entries")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp < 0:
        raise _bad_signature(f"the tree head timestamp {timestamp!r} is not a time")
    if len(root) != 32:
        raise _bad_signature("the tree head's root hash is not 32 bytes")
    return TreeHead(size, root, timestamp)


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise _bad_signature(f"the tree head's {what} is missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _bad_signature(f"the tree head's {what} is not base64") from None


def parse_sth(payload: object, key: LogKey) -> TreeHead:
    """A ``get-sth`` answer (RFC 6962 §4.3), its signature verified with ``key``."""
    if not isinstance(payload, dict):
        raise _bad_signature("the log's get-sth answer is not a JSON object")
    head = _head(
        payload.get("tree_size"),
        _b64(payload.get("sha256_root_hash"), "root hash"),
        payload.get("timestamp"),
    )
    signature = _b64(payload.get("tree_head_signature"), "signature")
    _verify(key, signature, head_signature_input(head.timestamp_ms, head.size, head.root))
    return head


def parse_checkpoint(text: str, key: LogKey) -> tuple[str, TreeHead]:
    """A static-CT checkpoint: (origin, head), its RFC 6962 note signature verified.

    The note is ``origin\\nsize\\nbase64 root\\n`` (no extension lines for this signature
    type), a blank line, then signature lines ``— name base64(key ID || signature)``; the
    one whose name is the origin and whose key ID is this key's counts, others (witnesses)
    are ignored as c2sp.org/signed-note says.
    """
    body, sep, signatures = text.partition("\n\n")
    if not sep:
        raise _bad_signature("the checkpoint has no signature lines")
    lines = body.split("\n")
    if len(lines) != 3:
        raise _bad_signature("the checkpoint's body is not origin, size and root hash")
    origin, size_text, root_text = lines
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise _bad_signature(f"the checkpoint's size {size_text!r} is not a number")
    wanted = key.note_key_id(origin)
    for line in signatures.split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014" or parts[1] != origin:
            continue
        blob = _b64(parts[2], "note signature")
        if blob[:4] != wanted:
            continue
        if len(blob) < 4 + 8:
            raise _bad_signature("the checkpoint's signature is truncated")
        timestamp = int.from_bytes(blob[4:12], "big")
        head = _head(int(size_text), _b64(root_text, "root hash"), timestamp)
        _verify(key, blob[12:], head_signature_input(head.timestamp_ms, head.size, head.root))
        return origin, head
    raise _bad_signature("the checkpoint carries no signature by the log's key")
