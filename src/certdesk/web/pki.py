"""Public PKI endpoints: CA certificates (AIA), CRLs and OCSP. No authentication."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote

from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from certdesk.errors import InvalidInput
from certdesk.services.registry import Services
from certdesk.web.deps import ServicesDep
from certdesk.web.identifiers import CaSlug
from certdesk.web.inputs import takes_raw_body
from certdesk.web.problems import ANY_ROUTE, problems

router = APIRouter(tags=["pki"], responses=ANY_ROUTE)
MAX_OCSP_REQUEST = 8 * 1024


@router.get(
    "/ca/{slug}.cer",
    response_class=Response,
    responses={**problems(404, 422), 200: {"content": {"application/pkix-cert": {}}}},
)
def ca_certificate(slug: CaSlug, svc: ServicesDep) -> Response:
    """The DER certificate of a built-in CA (the caIssuers URL in issued certificates)."""
    cert = svc.authority.certificate(slug)
    return Response(
        cert.public_bytes(serialization.Encoding.DER), media_type="application/pkix-cert"
    )


@router.get(
    "/crl/{slug}.crl",
    response_class=Response,
    responses={**problems(404, 422), 200: {"content": {"application/pkix-crl": {}}}},
)
def crl(slug: CaSlug, svc: ServicesDep) -> Response:
    """The current DER CRL of a built-in CA (RFC 5280 §5)."""
    der = svc.revocation.crl(slug)
    svc.rt.metrics.crl_requests.inc()
    return Response(
        der,
        media_type="application/pkix-crl",
        headers={"Cache-Control": "public, max-age=300"},
    )


def _ocsp_response(svc: Services, data: bytes) -> Response:
    svc.rt.metrics.ocsp_requests.labels(answer_of(data)).inc()
    return Response(
        data, media_type="application/ocsp-response", headers={"Cache-Control": "max-age=300"}
    )


_OCSP: dict[int | str, dict[str, Any]] = {200: {"content": {"application/ocsp-response": {}}}}


@router.post("/ocsp", response_class=Response, responses=_OCSP)
@takes_raw_body
async def ocsp_post(request: Request, svc: ServicesDep) -> Response:
    """RFC 6960 §A.1: a DER OCSPRequest in the body."""
    body = await request.body()
    if len(body) > MAX_OCSP_REQUEST:
        raise InvalidInput("ocsp.too_large", "OCSP request too large")
    return _ocsp_response(svc, await run_in_threadpool(svc.revocation.ocsp, body))


@router.get("/ocsp/{encoded:path}", response_class=Response, responses={**problems(422), **_OCSP})
def ocsp_get(encoded: str, svc: ServicesDep) -> Response:
    """RFC 6960 §A.1: the base64 DER request, URL-encoded, as the last path segment."""
    try:
        der = base64.b64decode(unquote(encoded), validate=False)
    except (binascii.Error, ValueError):
        der = b""
    return _ocsp_response(svc, svc.revocation.ocsp(der))


def answer_of(data: bytes) -> str:
    """The label of an OCSP response: the certificate status of a successful one (good,
    revoked, unknown), else its responseStatus (malformed_request, unauthorized, ...)."""
    response = ocsp.load_der_ocsp_response(data)
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        return response.response_status.name.lower()
    statuses = {single.certificate_status.name.lower() for single in response.responses}
    return statuses.pop() if len(statuses) == 1 else "successful"
