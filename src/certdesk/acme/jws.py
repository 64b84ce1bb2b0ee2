"""JWS checks of RFC 8555 §6.2-6.5, with josepy (through certbot's ``acme.jws``, which knows
the ``nonce``, ``url`` and ``kid`` header fields); no hand-written signature code.

Every POST is a flattened JWS (``protected``, ``payload``, ``signature``; no unprotected
header) whose protected header carries an accepted ``alg``, exactly one of ``jwk`` (newAccount,
revokeCert by certificate key) and ``kid`` (the account URL), the ``url`` the request was sent
to, and a ``nonce`` this server handed out and nobody used. POST-as-GET has an empty payload.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from acme import jws as acme_jws
from cryptography.hazmat.primitives import serialization
from josepy import b64
from josepy.errors import DeserializationError
from josepy.jwa import ES256, ES384, RS256, JWASignature
from josepy.jwk import JWK, JWKEC, JWKRSA, JWKOct

from certdesk.core.keys import key_type_of
from certdesk.errors import InvalidInput, PolicyRefusal, Unauthorized

# RFC 8555 §6.2: servers MUST accept ES256 and SHOULD accept EdDSA; RS256 is what most
# clients use with RSA keys. josepy verifies these three.
ALGORITHMS: dict[str, JWASignature] = {
    "ES256": ES256,
    "ES384": ES384,
    "RS256": RS256,
}
# What josepy raises on a JWS or jwk it cannot read: a missing member is a KeyError, a
# member of the wrong JSON type a TypeError or AttributeError.
UNREADABLE = (DeserializationError, ValueError, TypeError, KeyError, AttributeError)

# RFC 8555 §7.3.4: the external account binding is a MAC (RFC 7518 §3.2). HS256 is what most
# clients send; Posh-ACME (and cert-manager's older keyAlgorithm) can be set to HS384 or HS512,
# and pebble takes all three.
EAB_ALGORITHMS = ("HS256", "HS384", "HS512")
MEDIA_TYPE = "application/jose+json"
MAX_BODY = 64 * 1024


# RFC 8555 §6.1: base64url without padding; a value with trailing "=" MUST be refused, and
# so is anything outside the URL-safe alphabet (Python's decoder would drop it silently).
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64decode(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise InvalidInput("acme.malformed", f"{what} is not base64url text")
    if _B64URL.fullmatch(text) is None:
        raise InvalidInput(
            "acme.malformed", f"{what} is not base64url without padding (RFC 8555 §6.1)"
        )
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidInput("acme.malformed", f"{what} is not base64url") from None


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise ValueError("duplicate member")
    return dict(pairs)


def header_json(text: object, what: str) -> Any:
    """A JOSE header: RFC 7515 §4 lets a parser take the last of duplicate names, but then
    any proxy or log that takes the first reads another ``url``, ``nonce`` or ``kid`` than
    this server verified; a header naming a member twice is refused instead."""
    try:
        return json.loads(b64decode(text, what), object_pairs_hook=_unique_members)
    except (ValueError, RecursionError):
        raise InvalidInput(
            "acme.malformed", f"{what} is not JSON with unique member names"
        ) from None


@dataclass(frozen=True)
class Envelope:
    """A parsed, not yet verified request: what the key lookup needs."""

    jws: acme_jws.JWS
    alg: str
    url: str
    nonce: str
    kid: str | None
    jwk: JWK | None
    payload: bytes


def parse(body: bytes, content_type: str) -> Envelope:
    if content_type.partition(";")[0].strip().lower() != MEDIA_TYPE:
        raise InvalidInput(
            "acme.unsupported_media_type", f"ACME requests are {MEDIA_TYPE} (RFC 8555 §6.2)"
        )
    if len(body) > MAX_BODY:
        raise InvalidInput("acme.malformed", "the request is too large")
    try:
        outer = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidInput("acme.malformed", "the body is not JSON") from None
    if not isinstance(outer, dict) or set(outer) != {"protected", "payload", "signature"}:
        raise InvalidInput(
            "acme.malformed",
            "the body must be a flattened JWS with exactly protected, payload and signature",
        )
    header = header_json(outer["protected"], "the protected header")
    b64decode(outer["signature"], "the signature")
    if not isinstance(header, dict):
        raise InvalidInput("acme.malformed", "the protected header is not a JSON object")
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise InvalidInput(
            "acme.bad_signature_algorithm",
            f"algorithm {alg!r} is not accepted",
            algorithms=sorted(ALGORITHMS),
        )
    has_kid, has_jwk = "kid" in header, "jwk" in header
    if has_kid == has_jwk:
        raise InvalidInput(
            "acme.malformed", "the protected header must hold exactly one of kid and jwk"
        )
    url, nonce = header.get("url"), header.get("nonce")
    if not isinstance(url, str) or not url:
        raise InvalidInput("acme.malformed", "the protected header has no url")
    if not isinstance(nonce, str) or not nonce:
        raise InvalidInput("acme.bad_nonce", "the protected header has no nonce")
    try:
        parsed = acme_jws.JWS.from_json(outer)
        jwk = parsed.signature.combined.jwk if has_jwk else None
    except UNREADABLE:
        raise InvalidInput("acme.malformed", "the JWS cannot be read") from None
    if jwk is not None:
        public_jwk(jwk)
    kid = header.get("kid")
    if has_kid and not isinstance(kid, str):
        raise InvalidInput("acme.malformed", "kid is not a URL")
    return Envelope(parsed, alg, url, nonce, kid, jwk, b64decode(outer["payload"], "payload"))


def verify_signature(env: Envelope, key: JWK) -> None:
    """The signature under ``key`` (the account's, or the request's own ``jwk``)."""
    try:
        ok = env.jws.verify(key)
    except Exception:  # josepy raises on a key that does not fit the algorithm
        ok = False
    if not ok:
        raise InvalidInput("acme.malformed", "JWS signature verification failed")


def payload_json(env: Envelope) -> dict[str, Any]:
    if env.payload == b"":
        raise InvalidInput("acme.malformed", "this request needs a payload")
    try:
        data = json.loads(env.payload)
    except (ValueError, RecursionError):
        raise InvalidInput("acme.malformed", "the payload is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidInput("acme.malformed", "the payload is not a JSON object")
    return data


def public_jwk(key: JWK) -> None:
    """An account key is an EC or RSA key (RFC 8555 §6.2 asks for an asymmetric signature); a
    ``jwk`` josepy reads as another kind (``oct``: a shared secret) is ``badPublicKey``."""
    if not isinstance(key, JWKEC | JWKRSA):
        raise InvalidInput(
            "acme.bad_public_key",
            f"the jwk is a {key.typ!r} key; an account key is an EC or RSA public key",
        )


def check_account_key(key: JWK) -> None:
    """RFC 8555 §6.7 ``badPublicKey``: an account key is as strong as R12 asks of certificate
    keys (RSA 2048, 3072 or 4096 bits with exponent 65537, ECDSA P-256 or P-384). A weak
    account key would let anyone who factors it order and revoke for the organization."""
    # josepy wraps the key (a "comparable" proxy); R12's check wants cryptography's own.
    public = serialization.load_der_public_key(spki(key))
    try:
        key_type_of(public)
    except PolicyRefusal:
        curve = getattr(public, "curve", None)
        size = f"{public.key_size}-bit" if hasattr(public, "key_size") else ""
        what = f"{key.typ} {curve.name if curve is not None else size}".strip()
        raise InvalidInput(
            "acme.bad_public_key",
            f"the account key ({what}) is not accepted; use RSA 2048, 3072 or 4096 bits or "
            "ECDSA P-256 or P-384",
        ) from None


def thumbprint(key: JWK) -> str:
    """RFC 7638 SHA-256 thumbprint, base64url."""
    return b64.b64encode(key.thumbprint()).decode("ascii")


def spki(key: JWK) -> bytes:
    public = key.public_key().key
    return public.public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def eab_kid_and_proof(
    eab: object, account_key: JWK, new_account_url: str
) -> tuple[str, acme_jws.JWS]:
    """RFC 8555 §7.3.4: the inner JWS of ``externalAccountBinding``: a MAC, a ``kid``, the
    newAccount ``url``, no ``nonce``, and the outer request's account key as payload. The MAC
    itself is checked with :func:`check_eab_mac` once the services opened the key."""
    if not isinstance(eab, dict) or set(eab) != {"protected", "payload", "signature"}:
        raise InvalidInput("acme.malformed", "externalAccountBinding is not a flattened JWS")
    header = header_json(eab["protected"], "externalAccountBinding.protected")
    # The algorithm first: josepy looks an unknown one up in its registry (a KeyError).
    if not isinstance(header, dict) or header.get("alg") not in EAB_ALGORITHMS:
        raise InvalidInput(
            "acme.bad_signature_algorithm",
            "externalAccountBinding must be signed with " + ", ".join(EAB_ALGORITHMS),
            algorithms=list(EAB_ALGORITHMS),
        )
    try:
        inner = acme_jws.JWS.from_json(eab)
        bound_key = JWK.json_loads(b64decode(eab["payload"], "externalAccountBinding"))
    except UNREADABLE:
        raise InvalidInput("acme.malformed", "externalAccountBinding cannot be read") from None
    if "nonce" in header:
        raise InvalidInput("acme.malformed", "externalAccountBinding must not carry a nonce")
    if header.get("url") != new_account_url:
        raise Unauthorized("acme.unauthorized", "externalAccountBinding names another url")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidInput("acme.malformed", "externalAccountBinding has no kid")
    if thumbprint(bound_key) != thumbprint(account_key):
        raise Unauthorized(
            "acme.eab_unusable", "externalAccountBinding binds another key than the account's"
        )
    return kid, inner


def check_eab_mac(inner: acme_jws.JWS, hmac_key: bytes) -> None:
    try:
        ok = inner.verify(JWKOct(key=hmac_key))
    except Exception:
        ok = False
    if not ok:
        raise Unauthorized(
            "acme.eab_unusable", "the external account binding key is unknown, used or revoked"
        )


@dataclass(frozen=True)
class KeyChange:
    """The inner JWS of a keyChange request (RFC 8555 §7.3.5), verified under its own key."""

    new_key: JWK
    account: str  # the account URL the inner payload names
    old_key: JWK


def key_change(outer: Envelope) -> KeyChange:
    """RFC 8555 §7.3.5 steps on the inner JWS: a flattened JWS with ``jwk`` (the new key),
    no ``kid`` and no ``nonce``, the same ``url`` as the outer one, signed by the new key;
    its payload names the account and its old key. What the account must match is checked
    by the caller (it knows the account)."""
    inner = payload_json(outer)
    if set(inner) != {"protected", "payload", "signature"}:
        raise InvalidInput("acme.malformed", "the keyChange payload is not a flattened JWS")
    header = header_json(inner["protected"], "the inner protected header")
    if not isinstance(header, dict):
        raise InvalidInput("acme.malformed", "the inner protected header is not an object")
    if header.get("alg") not in ALGORITHMS:
        raise InvalidInput(
            "acme.bad_signature_algorithm",
            f"algorithm {header.get('alg')!r} is not accepted",
            algorithms=sorted(ALGORITHMS),
        )
    if "jwk" not in header or "kid" in header:
        raise InvalidInput("acme.malformed", "the inner JWS must carry jwk and no kid")
    if "nonce" in header:
        raise InvalidInput("acme.malformed", "the inner JWS must not carry a nonce")
    if header.get("url") != outer.url:
        raise InvalidInput("acme.malformed", "the inner JWS names another url")
    try:
        parsed = acme_jws.JWS.from_json(inner)
        new_key = parsed.signature.combined.jwk
        body = json.loads(b64decode(inner["payload"], "inner payload"))
        old_key = JWK.json_loads(json.dumps(body["oldKey"])) if isinstance(body, dict) else None
    except UNREADABLE:
        raise InvalidInput("acme.malformed", "the inner JWS cannot be read") from None
    if new_key is None or old_key is None or not isinstance(body.get("account"), str):
        raise InvalidInput("acme.malformed", "the inner payload needs account and oldKey")
    public_jwk(new_key)
    try:
        ok = parsed.verify(new_key)
    except Exception:  # josepy raises on a key that does not fit the algorithm
        ok = False
    if not ok:
        raise InvalidInput("acme.malformed", "the inner JWS is not signed by its jwk")
    return KeyChange(new_key, body["account"], old_key)
