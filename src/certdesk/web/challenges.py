"""``/.well-known/acme-challenge/{token}``: certdesk answering a vendor's http-01 validation.

RFC 8555 §8.3: the vendor's validation servers fetch this URL over plain HTTP on port 80 of
the name being validated (forwarded to certdesk) and compare the body with the key
authorization. No authentication (the vendor has no credentials here), no console session
or CSRF machinery (web/paths.py lists the path as a machine path): the answers are public
by design, and exist only while one of certdesk's own orders is being validated.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from certdesk.ca.acme.solvers import TOKEN_MAX_LENGTH, TOKEN_PATTERN, check_token
from certdesk.errors import InvalidInput, NotFound
from certdesk.web.deps import ServicesDep
from certdesk.web.problems import ANY_ROUTE, problems

PREFIX = "/.well-known/acme-challenge"
# RFC 8555 §8.3: the token is base64url (no padding). The shape is stated in the document
# and enforced by check_token, with certdesk's own problem code.

router = APIRouter(tags=["acme-challenge"], responses=ANY_ROUTE)

ChallengeToken = Annotated[
    str,
    Path(
        description="The token of an http-01 challenge (base64url)",
        examples=["evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"],
        json_schema_extra={"pattern": TOKEN_PATTERN, "maxLength": TOKEN_MAX_LENGTH},
    ),
]

_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The key authorization (RFC 8555 §8.1), as the body",
        "content": {"application/octet-stream": {"schema": {"type": "string"}}},
    }
}


@router.get(
    PREFIX + "/{token}", response_class=Response, responses={**problems(404, 422), **_ANSWER}
)
def acme_challenge(token: ChallengeToken, svc: ServicesDep) -> Response:
    """The key authorization for a challenge certdesk is answering; 404 when it answers none
    (unknown, withdrawn or expired)."""
    try:
        check_token(token)
    except InvalidInput:
        raise InvalidInput(
            "acme.bad_token", "a challenge token is base64url: letters, digits, '-' and '_'"
        ) from None
    answer = svc.challenges.lookup(token)
    if answer is None:
        raise NotFound("acme.challenge_unknown", "no challenge is being answered with this token")
    # RFC 8555 §8.3: the body is the key authorization, nothing else (no newline).
    return Response(
        answer.encode("ascii"),
        media_type="application/octet-stream",
        headers={"Cache-Control": "no-store"},
    )
