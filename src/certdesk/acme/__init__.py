"""The ACME server's front end (RFC 8555; Boulder's WFE): HTTP and JWS in, services out.

Translation only: :mod:`certdesk.acme.frontend` answers ``/acme/…`` (a lean ASGI app in front
of the FastAPI app), :mod:`certdesk.acme.signed` and :mod:`certdesk.acme.jws` check each
request's JWS (§6), :mod:`certdesk.acme.account_resources` and
:mod:`certdesk.acme.order_resources` speak the protocol's resources, :mod:`certdesk.acme.views`
shapes its objects, :mod:`certdesk.acme.problems` turns certdesk's errors into RFC 8555
problem documents. Policy, storage and validation are the services' (services/acme).
"""
