"""RFC 8555 §6.7 problem documents: certdesk's errors in the protocol's words, and the
:class:`Answer` every ACME resource returns (certdesk/acme/frontend.py sends it)."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from certdesk.errors import CertdeskError, Kind

PROBLEM = "application/problem+json"
JSON = "application/json"
NS = "urn:ietf:params:acme:error:"

# Stable certdesk codes → (RFC 8555 problem type, HTTP status).
CODES: dict[str, tuple[str, int]] = {
    "acme.bad_nonce": ("badNonce", 400),
    "acme.bad_signature_algorithm": ("badSignatureAlgorithm", 400),
    "acme.bad_public_key": ("badPublicKey", 400),
    "acme.malformed": ("malformed", 400),
    "acme.unsupported_media_type": ("malformed", 415),
    "acme.unauthorized": ("unauthorized", 403),
    "acme.account_does_not_exist": ("accountDoesNotExist", 400),
    "acme.account_deactivated": ("unauthorized", 403),
    "acme.external_account_required": ("externalAccountRequired", 400),
    "acme.eab_unusable": ("unauthorized", 403),
    "acme.order_not_ready": ("orderNotReady", 403),
    "acme.bad_csr": ("badCSR", 400),
    "acme.invalid_contact": ("invalidContact", 400),
    "acme.unsupported_contact": ("unsupportedContact", 400),
    "acme.rejected_identifier": ("rejectedIdentifier", 400),
    "acme.unsupported_identifier": ("unsupportedIdentifier", 400),
    "acme.bad_revocation_reason": ("badRevocationReason", 400),
    "acme.already_revoked": ("alreadyRevoked", 400),
    "acme.not_found": ("malformed", 404),
    "acme.rate_limited": ("rateLimited", 429),
    "acme.key_in_use": ("malformed", 409),  # RFC 8555 §7.3.5, with Location of the other
    # RFC 9773 §5: MUST be 409. lego falls back to an order without "replaces" only on a 409
    # alreadyReplaced; certbot's library (which reads any 409 as a conflict) sends no
    # "replaces" at all.
    "acme.already_replaced": ("alreadyReplaced", 409),
    "acme.invalid_profile": ("invalidProfile", 400),  # draft-aaron-acme-profiles
    "acme.renewal_info_unknown": ("malformed", 404),
    "acme.method_not_allowed": ("malformed", 405),
    "org.managed": ("unauthorized", 403),
    "cert.revoked": ("alreadyRevoked", 400),
}

_BY_KIND: dict[Kind, tuple[str, int]] = {
    Kind.INVALID: ("malformed", 400),
    Kind.UNAUTHORIZED: ("unauthorized", 403),
    Kind.FORBIDDEN: ("unauthorized", 403),
    Kind.NOT_FOUND: ("malformed", 404),
    Kind.CONFLICT: ("malformed", 409),
    Kind.UNAVAILABLE: ("serverInternal", 503),
}


@dataclass
class Answer:
    """One HTTP answer of the ACME server: status, body, media type, extra headers."""

    status: int = 200
    body: bytes = b""
    media_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Work still under way that the answer may wait for, a short bounded time, before
    # ``then`` builds the answer again (a challenge's validation: frontend.py).
    wait: Future[Any] | None = None
    then: Callable[[], Answer] | None = None


def json_answer(body: dict[str, Any], status: int = 200, location: str | None = None) -> Answer:
    headers = {"Location": location} if location else {}
    # Compact UTF-8, as Starlette's JSONResponse wrote it.
    data = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Answer(status, data.encode("utf-8"), JSON, headers)


def acme_type(exc: CertdeskError) -> tuple[str, int]:
    return CODES.get(exc.code) or _BY_KIND[exc.kind]


def subproblems(exc: CertdeskError) -> list[dict[str, Any]]:
    """RFC 8555 §6.7.1: one subproblem per rejected identifier, naming its rule (R1/R2)."""
    verdicts = exc.extra.get("verdicts")
    if exc.code != "acme.rejected_identifier" or not isinstance(verdicts, list):
        return []
    return [
        {
            "type": NS + "rejectedIdentifier",
            "detail": f"{v['name']}: {v['rule']}: {v['reason']}",
            "identifier": {"type": "dns", "value": v["name"]},
            "rule": v["rule"],
        }
        for v in verdicts
        if isinstance(v, dict) and not v.get("allowed")
    ]


def render(
    kind: str,
    status: int,
    detail: str,
    *,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    body: dict[str, Any] = {"type": NS + kind, "detail": detail, "status": status}
    body.update(extra or {})
    answer = json_answer(body, status)
    answer.media_type = PROBLEM
    answer.headers.update(headers or {})
    return answer


def from_error(exc: CertdeskError, base_url: str = "") -> Answer:
    kind, status = acme_type(exc)
    extra: dict[str, Any] = {"code": exc.code}
    if (subs := subproblems(exc)) != []:
        extra["subproblems"] = subs
    rule = exc.extra.get("rule")
    if isinstance(rule, str):
        extra["rule"] = rule
    algorithms = exc.extra.get("algorithms")
    if isinstance(algorithms, list):
        extra["algorithms"] = algorithms  # RFC 8555 §6.2: the algorithms accepted
    headers = {"Retry-After": "2"} if status == 503 else None
    if exc.code == "acme.key_in_use" and isinstance(exc.extra.get("account_id"), int):
        headers = {"Location": f"{base_url}/acct/{exc.extra['account_id']}"} if base_url else None
    retry = exc.extra.get("retry_after")
    if isinstance(retry, int) and not isinstance(retry, bool):
        headers = {"Retry-After": str(retry)}  # RFC 8555 §6.6: when the limit lets go
    return render(kind, status, exc.detail, extra=extra, headers=headers)
