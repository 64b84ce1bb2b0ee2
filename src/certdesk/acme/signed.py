"""A signed ACME request checked (RFC 8555 §6.2-6.5): the envelope parsed, its ``url``
compared with where it was sent, the key found (``kid``: the account's, ``jwk``: its own),
the signature verified, then the nonce used.

Parsed account keys are kept per process (:class:`AccountKeys`), keyed by the account and
its key's thumbprint: the account's row (status, thumbprint) is still read on every request,
so a keyChange or a deactivation done by another process is seen at once — a changed
thumbprint simply misses the cache. Once this process knows an account's key, a request is
verified under it first, and the account's row is read in the transaction that uses the
nonce (one transaction per request instead of two); if the row's key is no longer that one,
the transaction is rolled back, the nonce stays unused, and the request is checked again
under the key now stored.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from josepy.jwk import JWK

from certdesk.acme import jws as acme_jws
from certdesk.acme.views import Links
from certdesk.core.acme_states import AccountStatus
from certdesk.errors import InvalidInput, NotFound, Unauthorized
from certdesk.services.acme.accounts import AccountView, KeyChanged
from certdesk.services.registry import Services

# Parsed keys kept per process; past this many the cache starts again (accounts are few).
MAX_KEYS = 4096


@dataclass(frozen=True)
class Signed:
    env: acme_jws.Envelope
    account: AccountView | None  # set for kid requests

    @property
    def own(self) -> AccountView:
        """The account of a kid request (the only kind the account resources accept)."""
        assert self.account is not None
        return self.account


class AccountKeys:
    """Parsed account keys by (account id, thumbprint), and the one last seen per account."""

    def __init__(self) -> None:
        self._keys: dict[tuple[int, str], JWK] = {}
        self._latest: dict[int, tuple[str, JWK]] = {}
        self._lock = threading.Lock()

    def key(self, account: AccountView) -> JWK:
        ident = (account.id, account.thumbprint)
        found = self._keys.get(ident)
        if found is None:
            found = JWK.json_loads(account.jwk)
            with self._lock:
                if len(self._keys) >= MAX_KEYS:
                    self._keys.clear()
                    self._latest.clear()
                self._keys[ident] = found
        self._latest[account.id] = (account.thumbprint, found)
        return found

    def latest(self, account_id: int) -> tuple[str, JWK] | None:
        """The thumbprint and key this process last read for the account, if any."""
        return self._latest.get(account_id)


def as_id(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        raise NotFound("acme.not_found", "no such object")
    return int(text)


def envelope(links: Links, path: str, body: bytes, content_type: str) -> acme_jws.Envelope:
    env = acme_jws.parse(body, content_type)
    # §6.4: the url in the header is the URL this request was sent to, as the server names it.
    expected = links.site + path
    if env.url != expected:
        raise Unauthorized("acme.unauthorized", f"the JWS url {env.url!r} is not {expected!r}")
    return env


def check(
    svc: Services, links: Links, keys: AccountKeys, env: acme_jws.Envelope, jwk_ok: bool
) -> Signed:
    account: AccountView | None = None
    if env.kid is not None:
        prefix = links.url("/acct/")
        if not env.kid.startswith(prefix):
            raise InvalidInput("acme.account_does_not_exist", "kid is not an account URL here")
        account_id = as_id(env.kid.removeprefix(prefix))
        known = _known_key_checked(keys, account_id, env)
        if known is not None:
            try:
                return _with_known_key(svc, keys, env, account_id, known)
            except KeyChanged:
                pass  # read it again below, as on the account's first request here
        try:
            account = svc.acme_accounts.current(account_id)
        except NotFound:
            raise InvalidInput("acme.account_does_not_exist", "no such account") from None
        key = keys.key(account)
    else:
        if not jwk_ok or env.jwk is None:
            raise InvalidInput("acme.malformed", "this request must be signed with kid")
        key = env.jwk
    acme_jws.verify_signature(env, key)
    # §6.5: the nonce is used only once the signature holds (nobody else can burn it).
    if not svc.acme_nonces.use(env.nonce):
        raise InvalidInput("acme.bad_nonce", "the nonce is unknown, used or expired")
    return _signed(env, account)


def _known_key_checked(keys: AccountKeys, account_id: int, env: acme_jws.Envelope) -> str | None:
    """The thumbprint of the account key this process knows if the signature holds under it;
    None when there is none or it does not verify (then the account is read first, and its
    key decides which problem to answer)."""
    latest = keys.latest(account_id)
    if latest is None:
        return None
    thumbprint, key = latest
    try:
        acme_jws.verify_signature(env, key)
    except InvalidInput:
        return None
    return thumbprint


def _with_known_key(
    svc: Services, keys: AccountKeys, env: acme_jws.Envelope, account_id: int, thumbprint: str
) -> Signed:
    """The signature holds under the key this process knew: the account is read and the
    nonce used in one transaction, in which the key must still be that one."""
    try:
        used, account = svc.acme_nonces.use_signed(env.nonce, account_id, thumbprint)
    except NotFound:
        raise InvalidInput("acme.account_does_not_exist", "no such account") from None
    keys.key(account)
    if not used:
        raise InvalidInput("acme.bad_nonce", "the nonce is unknown, used or expired")
    return _signed(env, account)


def _signed(env: acme_jws.Envelope, account: AccountView | None) -> Signed:
    if account is not None and account.status is not AccountStatus.VALID:
        raise Unauthorized("acme.account_deactivated", f"the account is {account.status}")
    return Signed(env, account)


def post_as_get(signed: Signed) -> None:
    if signed.env.payload != b"":
        raise InvalidInput("acme.malformed", "POST-as-GET needs an empty payload (§6.3)")
