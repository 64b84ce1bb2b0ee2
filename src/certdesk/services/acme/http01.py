"""http-01 (RFC 8555 §8.3): GET ``http://NAME/.well-known/acme-challenge/TOKEN`` answers the
key authorization.

§8.3 leaves the limits to the server; these follow Boulder's:

1. at most :data:`MAX_REDIRECTS` redirects, each to ``http`` or ``https`` only, and only to
   the standard ports (80 for http, 443 for https) or the ports a lab configured
   (``CERTDESK_ACME_VA_HTTP_PORT``, ``CERTDESK_ACME_VA_TLS_PORT``): a redirect must not turn
   the VA into a port scanner of someone else's hosts;
2. a redirect's host goes through the same address rules as the first request
   (validation.Targets: no loopback, private or link-local address unless configured);
3. at most :data:`MAX_BODY_BYTES` of the answer are read; a longer answer fails;
4. https is fetched without checking the server's certificate (§8.3), with SNI set.

Plain http (every first request) goes through the standard library's ``http.client``, about
a tenth of an ``httpx.Client``'s CPU per fetch (docs/performance.md, ACME round 2); https
redirects, rare, through ``httpx``.
"""

from __future__ import annotations

import http.client
from datetime import datetime
from urllib.parse import urlsplit

import httpx

from certdesk.services.acme.validation import (
    TIMEOUT_SECONDS,
    Targets,
    ValidationFailed,
    ValidationTask,
)

MAX_REDIRECTS = 10
MAX_BODY_BYTES = 8192  # a key authorization is ~90 bytes; anything long is not one
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class Http01:
    def __init__(self, targets: Targets, port: int, tls_port: int = 443) -> None:
        self._targets = targets
        self._port = port
        self._tls_port = tls_port
        # One TLS context for every validation (building one costs about a millisecond): no
        # certificate check on https (RFC 8555 §8.3: the VA follows redirects to https
        # without validating the server's certificate); SNI carries the name.
        self._tls = httpx.create_ssl_context(verify=False)

    def validate(self, task: ValidationTask) -> datetime | None:
        url = f"http://{task.name}/.well-known/acme-challenge/{task.token}"
        for hop in range(MAX_REDIRECTS + 1):
            status, location, body = self._get(url, redirected=hop > 0)
            if status in REDIRECT_STATUSES and location:
                url = str(httpx.URL(url).join(location))
                continue
            if status != 200:
                raise ValidationFailed("unauthorized", f"{url} answered HTTP {status}")
            if body.strip() != task.key_authorization.encode():
                raise ValidationFailed(
                    "incorrectResponse", f"{url} did not answer the key authorization"
                )
            return None
        raise ValidationFailed("connection", f"more than {MAX_REDIRECTS} redirects")

    def _port_for(self, url: str, scheme: str, port: int | None, redirected: bool) -> int:
        """The port to connect to; a redirect's explicit port must be a standard or a
        configured one (rule 1 of the module's docstring)."""
        allowed = {80, self._port} if scheme == "http" else {443, self._tls_port}
        if port is None:
            return self._port if scheme == "http" else self._tls_port
        if redirected and port not in allowed:
            shown = " or ".join(str(p) for p in sorted(allowed))
            raise ValidationFailed(
                "connection", f"redirect to {url!r}: {scheme} is only followed to port {shown}"
            )
        return port

    def _get(self, url: str, *, redirected: bool) -> tuple[int, str | None, bytes]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationFailed("connection", f"redirect to {url!r} is not http or https")
        try:
            explicit = parts.port
        except ValueError:
            raise ValidationFailed("connection", f"redirect to {url!r}: bad port") from None
        port = self._port_for(url, parts.scheme, explicit, redirected)
        host = parts.hostname
        ip = self._targets.address(host)
        path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        if parts.scheme == "http":
            return self._get_plain(url, str(ip), port, host, path)
        shown = f"[{ip}]" if ip.version == 6 else str(ip)
        target = f"{parts.scheme}://{shown}:{port}{path}"
        try:
            with httpx.Client(verify=self._tls, timeout=TIMEOUT_SECONDS, trust_env=False) as client:
                with client.stream(
                    "GET",
                    target,
                    headers={"Host": host, "User-Agent": "certdesk-va"},
                    extensions={"sni_hostname": host},
                ) as resp:
                    body = b""
                    for chunk in resp.iter_bytes():
                        body += chunk
                        if len(body) > MAX_BODY_BYTES:
                            raise _too_long(url)
                    return resp.status_code, resp.headers.get("location"), body
        except httpx.HTTPError as exc:
            raise ValidationFailed(
                "connection", f"fetching {url} failed: {type(exc).__name__}"
            ) from None

    def _get_plain(
        self, url: str, ip: str, port: int, host: str, path: str
    ) -> tuple[int, str | None, bytes]:
        """One plain-http GET of ``path`` at ``ip``:``port`` for ``host`` (rules 3 and 4)."""
        conn = http.client.HTTPConnection(ip, port, timeout=TIMEOUT_SECONDS)
        try:
            conn.putrequest("GET", path, skip_host=True)  # Accept-Encoding: identity
            conn.putheader("Host", host)
            conn.putheader("User-Agent", "certdesk-va")
            conn.endheaders()
            resp = conn.getresponse()
            body = resp.read(MAX_BODY_BYTES + 1)
            if len(body) > MAX_BODY_BYTES:
                raise _too_long(url)
            return resp.status, resp.getheader("location"), body
        except (OSError, http.client.HTTPException) as exc:
            raise ValidationFailed(
                "connection", f"fetching {url} failed: {type(exc).__name__}"
            ) from None
        finally:
            conn.close()


def _too_long(url: str) -> ValidationFailed:
    return ValidationFailed("unauthorized", f"{url}: the response is over {MAX_BODY_BYTES} bytes")
