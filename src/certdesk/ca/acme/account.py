"""ACME accounts: a generated key, registration with External Account Binding, key rollover.

The key is handed back to the caller as PEM to seal (certdesk's secret box); this layer never
writes it anywhere. RFC 8555 §7.3 (newAccount), §7.3.4 (EAB), §7.3.5 (key change), §7.3.6
(deactivation).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from acme import errors as acme_errors
from acme import jws, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.jwk import JWK, JWKEC

from certdesk.ca.acme.problems import Backoff
from certdesk.ca.acme.session import AcmeSession, Endpoint, signing_alg, unwrap
from certdesk.errors import Conflict, InvalidInput


def new_account_key() -> JWKEC:
    """A fresh P-256 account key (ES256 is the algorithm every ACME server accepts)."""
    return JWKEC(key=ec.generate_private_key(ec.SECP256R1()))


def key_to_pem(key: JWK) -> bytes:
    """The private key as unencrypted PKCS#8 PEM, for the caller to seal at once."""
    private = unwrap(key)
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        raise TypeError("certdesk account keys are EC keys")
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def key_from_pem(pem: bytes) -> JWKEC:
    private = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        raise InvalidInput("acme.account_key", "an ACME account key must be an EC private key")
    return JWKEC(key=private)


@dataclass(frozen=True)
class ExternalAccountBinding:
    """The vendor's key id and base64url HMAC key (RFC 8555 §7.3.4); never logged."""

    kid: str
    hmac_key: str = field(repr=False)
    alg: str = "HS256"


@dataclass(frozen=True)
class Account:
    """A registered account: the URL is its ``kid``; the key must be sealed by the caller."""

    url: str
    key: JWK = field(repr=False)
    status: str

    def key_pem(self) -> bytes:
        return key_to_pem(self.key)


def register(
    endpoint: Endpoint,
    binding: ExternalAccountBinding,
    *,
    key: JWK | None = None,
    contact: tuple[str, ...] = (),
    session: AcmeSession | None = None,
    backoff: Backoff | None = None,
) -> Account:
    """Create (or find again, for the same key) the account bound to ``binding``.

    A vendor that refuses the binding raises ``Forbidden`` (``acme.eab_refused``) with the
    vendor's problem document.
    """
    key = key or new_account_key()
    own = session is None
    session = session or AcmeSession(endpoint, key, backoff=backoff)
    try:
        try:
            eab = messages.ExternalAccountBinding.from_data(
                account_public_key=key.public_key(),
                kid=binding.kid,
                hmac_key=binding.hmac_key,
                directory=session.directory,
                hmac_alg=binding.alg,
            )
        except (ValueError, TypeError) as err:
            raise InvalidInput(
                "acme.eab_key", f"the external account binding key is not usable: {err}"
            ) from err
        new_reg = messages.NewRegistration.from_data(
            email=",".join(contact) if contact else None,
            terms_of_service_agreed=True,
            external_account_binding=eab,
        )
        try:
            regr = session.call("registration", lambda: session.client.new_account(new_reg))
            url = regr.uri
            status = str(regr.body.status or "valid")
        except acme_errors.ConflictError as existing:
            # RFC 8555 §7.3.1: the key already has an account; its URL is in Location.
            url = str(existing.location)
            status = "valid"
        if not url:
            raise Conflict("acme.refused", "the vendor created an account without a URL")
        session.use_account(url)
        return Account(url=url, key=key, status=status)
    finally:
        if own:
            session.close()


def rollover(session: AcmeSession, new_key: JWK) -> Account:
    """Replace the account key (RFC 8555 §7.3.5); the session signs with ``new_key`` after.

    The inner JWS is signed by the new key with its ``jwk`` and the keyChange URL, carrying
    the account URL and the old public key; the outer one is an ordinary request by the old
    key. Until this returns, the old key stays the account's key: the caller seals the new
    key first and switches its record only after success.
    """
    account_url = session.account_url
    if account_url is None:
        raise Conflict("acme.no_account", "key rollover needs a registered account")
    url = session.directory["keyChange"]
    old_public = session.key.public_key()
    payload = json.dumps({"account": account_url, "oldKey": old_public.to_partial_json()})
    inner = jws.JWS.sign(
        payload.encode(), key=new_key, alg=signing_alg(new_key), nonce=None, url=url, kid=None
    )
    session.call("key rollover", lambda: session.post(url, inner))
    session.net.key = new_key
    session.net.alg = signing_alg(new_key)
    return Account(url=account_url, key=new_key, status="valid")


def deactivate(session: AcmeSession) -> None:
    """RFC 8555 §7.3.6: the vendor will refuse every later request from this account."""
    if session.account_url is None:
        raise Conflict("acme.no_account", "deactivation needs a registered account")
    body = messages.UpdateRegistration(status=messages.STATUS_DEACTIVATED)
    session.call("deactivation", lambda: session.post(str(session.account_url), body))


__all__ = [
    "Account",
    "ExternalAccountBinding",
    "deactivate",
    "key_from_pem",
    "key_to_pem",
    "new_account_key",
    "register",
    "rollover",
]
