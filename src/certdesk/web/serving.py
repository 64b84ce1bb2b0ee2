"""How ``certdesk serve`` runs under uvicorn: the HTTP protocol of its connections."""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol

# What ``certdesk serve`` passes to uvicorn as ``http=``.
HTTP_PROTOCOL = "certdesk.web.serving:NoDelayH11Protocol"


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with Nagle's algorithm off on every TCP connection.

    With ``--workers`` above 1 uvicorn binds the listening socket itself and leaves its
    ``proto`` at 0, so asyncio does not set TCP_NODELAY on accepted connections (uvicorn
    issue #3149). A response then goes out as a header segment and a body segment held back
    until the client acknowledges the first: every request after the first on a kept-alive
    connection waits out the client's delayed ACK, about 40 ms on Linux. A certificate
    issued over a kept-alive connection took 56 ms instead of 10 ms.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
