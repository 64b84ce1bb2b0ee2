"""The ACME server's front end (RFC 8555; Boulder's WFE): HTTP and JWS in, services out.

Translation only: :mod:`certdesk.acme.jws` checks each request's JWS (§6), the router in
:mod:`certdesk.acme.wfe` speaks the protocol's resources, :mod:`certdesk.acme.problems`
turns certdesk's errors into RFC 8555 problem documents. Policy, storage and validation are
the services' (services/acme).
"""
