"""A webhook receiver for tests (issue 14): an HTTP server on 127.0.0.1 that records each
request, answers the status codes it is told, and checks signatures as docs/webhooks.md tells
receivers to."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from world.processes import free_port


class Receiver:
    """A webhook receiver on 127.0.0.1: records every request, answers ``codes`` in turn
    (then 200)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.codes: list[int] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append(({k: v for k, v in self.headers.items()}, body))
                code = outer.codes.pop(0) if outer.codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def stop(self) -> None:
        """Refuse connections from now on (the receiver is down)."""
        self._server.shutdown()
        self._server.server_close()

    def events(self, secret: str) -> list[dict[str, Any]]:
        """The events received, each signature checked as docs/webhooks.md tells receivers."""
        out = []
        for headers, body in self.requests:
            fields = dict(p.split("=", 1) for p in headers["Certdesk-Signature"].split(","))
            mac = hmac.new(
                secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256
            ).hexdigest()
            assert hmac.compare_digest(mac, fields["v1"]), "signature does not verify"
            event = json.loads(body)
            assert headers["Certdesk-Event"] == event["type"]
            assert headers["Certdesk-Event-Id"] == event["id"]
            out.append(event)
        return out
