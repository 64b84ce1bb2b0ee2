"""Which paths a person's browser reads (the console) and which answer machines.

Kept outside the console package: importing ``certdesk.web.console`` loads every console page
(and with them the API routers), so the problem renderer, which the routers import, asks here.
"""

from __future__ import annotations

# Paths that answer machines, not people: they keep their own caching rules.
# /.well-known/acme-challenge/ answers a vendor's http-01 validation (web/challenges.py).
MACHINE_PREFIXES = (
    "/api/",
    "/acme",
    "/crl",
    "/ca/",
    "/ocsp",
    "/healthz",
    "/readyz",
    "/metrics",
    "/.well-known/acme-challenge/",
)


def is_console_path(path: str) -> bool:
    # /docs and /redoc set their own policy (web/apidocs.py).
    return not path.startswith(MACHINE_PREFIXES) and path not in (
        "/openapi.json",
        "/docs",
        "/redoc",
    )
