"""How a stored file is handed to a browser or a client: always as a download.

RFC 6266 §4.3 / RFC 8187: the name goes in ``filename*`` (UTF-8, percent-encoded) with a
plain-ASCII ``filename`` for old clients. ``nosniff`` stops a browser from guessing another
type than the one stated, and the sandbox CSP keeps anything opened in place inert.
"""

from __future__ import annotations

import re
from urllib.parse import quote

_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9 !#$&+,.;=@^_`{}~()\[\]-]")


def disposition(filename: str) -> str:
    """``Content-Disposition`` for downloading ``filename``."""
    fallback = _UNSAFE_ASCII.sub("_", filename.encode("ascii", "replace").decode()) or "file"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def download_headers(filename: str) -> dict[str, str]:
    return {
        "Content-Disposition": disposition(filename),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "no-store",
    }
