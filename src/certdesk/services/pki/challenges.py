"""http-01 answers published for a vendor's validation (RFC 8555 §8.3), through the database.

The process that drives a vendor order (the worker, or the web process for ``cert issue``)
is not always the one answering ``/.well-known/acme-challenge/<token>``: :meth:`publish` and
:meth:`withdraw` are the pair a :class:`certdesk.ca.acme.solvers.Http01Solver` is built with,
:meth:`lookup` is what the route serves. An answer left behind by a process that died is
never served after its expiry, and :meth:`purge_expired` removes it for good.

Answers are not audited (R15 covers changes to the service's records): they are transient
protocol state, and the order they belong to is audited where it is placed and completed.
"""

from __future__ import annotations

from datetime import timedelta

from certdesk.ca.acme.solvers import check_token
from certdesk.errors import InvalidInput
from certdesk.services.runtime import Runtime
from certdesk.store import challenges

# How long an answer stays served. A vendor validates within seconds of being told the
# answer is in place, but an order driven past its time box (a Pending handle) keeps its
# challenges pending at the vendor until the worker resumes it, which presents the answers
# again with a new expiry; a day covers a worker that is down for a night.
DEFAULT_LIFETIME = timedelta(hours=24)


class ChallengePublisher:
    """Token → key authorization, shared by every process of the installation."""

    def __init__(self, rt: Runtime, lifetime: timedelta = DEFAULT_LIFETIME) -> None:
        if lifetime <= timedelta(0):
            raise ValueError("an answer's lifetime must be positive")
        self._rt = rt
        self.lifetime = lifetime

    def publish(self, token: str, key_authorization: str) -> None:
        """Serve ``key_authorization`` at the token's URL until withdrawn or expired."""
        check_token(token)
        # RFC 8555 §8.1: the key authorization is the token, ".", and the base64url
        # thumbprint of the account key.
        head, dot, thumbprint = key_authorization.partition(".")
        if (
            head != token
            or not dot
            or len(key_authorization) > challenges.KEY_AUTHORIZATION_MAX
            or not thumbprint.replace("-", "").replace("_", "").isalnum()
            or not thumbprint.isascii()
        ):
            raise InvalidInput(
                "acme.bad_key_authorization",
                "a key authorization is the token, a dot and the account key's thumbprint",
            )
        now = self._rt.clock()
        with self._rt.transaction() as conn:
            challenges.put(conn, token, key_authorization, expires_at=now + self.lifetime, now=now)

    def withdraw(self, token: str) -> None:
        """Stop serving ``token`` (nothing happens if it was never published)."""
        with self._rt.transaction() as conn:
            challenges.remove(conn, token)

    def lookup(self, token: str) -> str | None:
        """The answer to serve for ``token``; None if unknown, withdrawn or expired."""
        with self._rt.reading() as conn:
            return challenges.answer(conn, token, self._rt.clock())

    def purge_expired(self) -> int:
        """Delete answers past their expiry (for the housekeeping pass); how many went."""
        with self._rt.transaction() as conn:
            return challenges.purge_expired(conn, self._rt.clock())
