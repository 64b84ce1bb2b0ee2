"""One account's connection to a vendor's ACME server (RFC 8555 §7.1.1 directory, §6.2 JWS).

Every request goes through :meth:`AcmeSession.call`, which retries transient failures with
:class:`~certdesk.ca.acme.problems.Backoff` and turns everything else into certdesk's error
family. A session belongs to one thread (``acme``'s nonce pool is not shared safely).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
from acme import client, errors, messages
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from josepy.interfaces import JSONDeSerializable
from josepy.jwa import ES256, ES384, RS256, JWASignature
from josepy.jwk import JWK

from certdesk.ca.acme.problems import Backoff, headers_retry_after, is_transient, refusal
from certdesk.errors import Conflict, Unavailable

T = TypeVar("T")
Clock = Callable[[], datetime]
Sleep = Callable[[float], None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Endpoint:
    """Where the vendor is and which CA bundle its HTTPS certificate chains to."""

    directory_url: str
    ca_bundle: str | None = None  # None: the system store
    timeout: float = 30.0
    user_agent: str = "certdesk"


def signing_alg(key: JWK) -> JWASignature:
    """The JWS algorithm for an account key (RFC 7518 §3.1): ES256/ES384 or RS256."""
    inner = unwrap(key)
    if isinstance(inner, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return ES384 if inner.curve.key_size >= 384 else ES256
    if isinstance(inner, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return RS256
    raise TypeError("account keys are EC or RSA")


def unwrap(key: JWK) -> object:
    """The ``cryptography`` key inside a josepy JWK (josepy wraps it for comparisons)."""
    inner: object = key.key
    return getattr(inner, "_wrapped", inner)


class _Network(client.ClientNetwork):
    """``acme``'s network that keeps the last response's headers (for Retry-After)."""

    last_headers: Mapping[str, str] | None = None

    def _send_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        self.last_headers = None
        response = super()._send_request(method, url, *args, **kwargs)
        self.last_headers = response.headers
        return response


class AcmeSession:
    """The directory, the account key and (once registered) the account URL of one vendor."""

    def __init__(
        self,
        endpoint: Endpoint,
        key: JWK,
        *,
        account_url: str | None = None,
        clock: Clock = _utcnow,
        sleep: Sleep = time.sleep,
        backoff: Backoff | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.clock = clock
        self.sleep = sleep
        self.backoff = backoff or Backoff()
        self.net = _Network(
            key, alg=signing_alg(key), user_agent=endpoint.user_agent, timeout=int(endpoint.timeout)
        )
        if endpoint.ca_bundle is not None:
            # requests takes a CA bundle path in ``verify``; an explicit path also wins over
            # REQUESTS_CA_BUNDLE from the environment.
            self.net.verify_ssl = endpoint.ca_bundle  # type: ignore[assignment]
        directory = self.call(
            "reading the directory",
            lambda: client.ClientV2.get_directory(endpoint.directory_url, self.net),
        )
        self.client = client.ClientV2(directory, self.net)
        self.account_url: str | None = None
        if account_url is not None:
            self.use_account(account_url)

    @property
    def directory(self) -> messages.Directory:
        return self.client.directory

    @property
    def key(self) -> JWK:
        key: JWK | None = self.net.key
        assert key is not None
        return key

    def use_account(self, account_url: str) -> None:
        """Sign from now on with ``kid`` = this account (RFC 8555 §6.2)."""
        self.account_url = account_url
        self.net.account = messages.RegistrationResource(
            uri=account_url, body=messages.Registration()
        )

    def retry_after(self) -> datetime | None:
        """The last response's Retry-After, as an instant."""
        return headers_retry_after(self.net.last_headers, self.clock())

    def call(self, during: str, op: Callable[[], T]) -> T:
        """Run ``op``; retry transient failures; raise certdesk errors for the rest."""
        attempt = 0
        while True:
            try:
                return op()
            except messages.Error as err:
                if not is_transient(err):
                    raise refusal(err, during=during) from err
                final: Exception = refusal(err, during=during)
            except errors.ConflictError:
                raise  # RFC 8555 §7.3.1 "account exists": the caller reads its Location
            except errors.ClientError as err:
                if not isinstance(err, errors.NonceError):
                    raise Conflict(
                        "acme.unexpected",
                        f"the vendor's answer was not understood ({during}): {_short(err)}",
                    ) from err
                final = Unavailable("acme.vendor_busy", f"the vendor's nonces failed ({during})")
                final.__cause__ = err
            except requests.RequestException as err:
                final = Unavailable(
                    "acme.unreachable",
                    f"the vendor's ACME server did not answer ({during}): {_short(err)}",
                )
                final.__cause__ = err
            retry_after = self.retry_after()
            wait = self.backoff.wait(attempt, retry_after, self.clock())
            if wait is None:
                if retry_after is not None and isinstance(final, Unavailable):
                    final.extra["retry_after"] = retry_after
                raise final
            self.sleep(wait.total_seconds())
            attempt += 1

    def post_as_get(self, url: str, during: str) -> requests.Response:
        """RFC 8555 §6.3 POST-as-GET, through :meth:`call`."""
        return self.call(during, lambda: self.post(url, None))

    def post(self, url: str, obj: JSONDeSerializable | None) -> requests.Response:
        """One signed POST (no retry of its own; wrap it in :meth:`call`)."""
        return self.net.post(url, obj, new_nonce_url=self.directory["newNonce"])

    def close(self) -> None:
        self.net.session.close()


def _short(err: Exception) -> str:
    text = str(err) or type(err).__name__
    return text if len(text) <= 200 else text[:200] + "…"
