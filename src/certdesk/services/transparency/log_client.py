"""Reading Certificate Transparency logs over HTTP: RFC 6962 (``get-sth``,
``get-sth-consistency``, ``get-entries``) and static-CT (``checkpoint``, data tiles).

Both give the monitor the same four things (:class:`LogReader`): the current signed head,
verified with the log's key; a consistency proof where the log serves one; the compact range
to start reading from at any entry (RFC 6962: one ``get-entry-and-proof``, its audit path
checked against the head; static-CT: hash tiles); and the entries of a range, parsed in bulk
(a ``get-entries`` answer carries up to the log's page size, a data tile 256 entries; never
one request per entry). A log that cannot be reached or answers
with an HTTP error is :class:`Unavailable`; one that answers with something malformed or
badly signed is refused (:class:`InvalidInput`, ``ct.*``).
"""

from __future__ import annotations

import base64
import binascii
from typing import Protocol

import httpx

from certdesk.core.ct_entries import TILE_WIDTH, LogEntry, parse_get_entry, parse_tile, tile_path
from certdesk.core.ct_heads import LogKey, TreeHead, parse_checkpoint, parse_sth
from certdesk.core.ct_merkle import CompactRange, compact_from_inclusion, node_hash
from certdesk.errors import InvalidInput, Unavailable

__all__ = ["LogReader", "RfcLog", "TiledLog", "reader_for"]

TIMEOUT = httpx.Timeout(30.0, connect=10.0)
MAX_PROOF = 64  # hashes in a consistency proof of any tree below 2^64 entries


class LogReader(Protocol):
    """What the monitor needs of a log, whatever its API."""

    def head(self) -> TreeHead: ...

    def consistency(self, first: int, second: int) -> list[bytes] | None:
        """The log's proof that ``first`` entries are a prefix of ``second`` (None: the
        log serves no proofs; the compact range proves it once the entries are read)."""
        ...

    def entries(self, start: int, end: int, head_size: int) -> list[LogEntry]:
        """Entries ``[start, end)`` (at least one; fewer than asked when the log pages)."""
        ...

    def compact_range(self, size: int, head: TreeHead) -> CompactRange:
        """The compact range of entries ``[0, size)`` (``size`` at most ``head.size``),
        without reading those entries: where the monitor starts when it starts at ``size``."""
        ...


class _Http:
    def __init__(self, name: str, base: str, client: httpx.Client) -> None:
        self.name = name
        self.base = base.rstrip("/")
        self.client = client

    def get(self, path: str, params: dict[str, int] | None = None) -> httpx.Response:
        url = f"{self.base}/{path}"
        try:
            r = self.client.get(url, params=params, timeout=TIMEOUT)
        except httpx.HTTPError as exc:
            raise Unavailable(
                "ct.unreachable", f"log {self.name}: {type(exc).__name__} at {url}"
            ) from None
        if r.status_code != 200:
            raise Unavailable("ct.unreachable", f"log {self.name}: HTTP {r.status_code} at {url}")
        return r

    def json(self, path: str, params: dict[str, int] | None = None) -> dict[str, object]:
        r = self.get(path, params)
        try:
            data = r.json()
        except ValueError:
            raise InvalidInput("ct.bad_answer", f"log {self.name}: {path} is not JSON") from None
        if not isinstance(data, dict):
            raise InvalidInput("ct.bad_answer", f"log {self.name}: {path} is not a JSON object")
        return data


class RfcLog:
    """An RFC 6962 log at ``url`` (the prefix before ``/ct/v1/``)."""

    def __init__(self, name: str, url: str, key: LogKey, client: httpx.Client) -> None:
        self._http = _Http(name, url, client)
        self._key = key
        self.name = name

    def head(self) -> TreeHead:
        return parse_sth(self._http.json("ct/v1/get-sth"), self._key)

    def consistency(self, first: int, second: int) -> list[bytes] | None:
        data = self._http.json("ct/v1/get-sth-consistency", {"first": first, "second": second})
        return self._hashes(data.get("consistency"), "consistency proof")

    def _hashes(self, proof: object, what: str) -> list[bytes]:
        if not isinstance(proof, list) or len(proof) > MAX_PROOF:
            raise InvalidInput("ct.bad_answer", f"log {self.name}: no {what}")
        try:
            hashes = [base64.b64decode(h, validate=True) for h in proof]
        except (binascii.Error, ValueError, TypeError):
            raise InvalidInput(
                "ct.bad_answer", f"log {self.name}: the {what} is not base64"
            ) from None
        if any(len(h) != 32 for h in hashes):
            raise InvalidInput("ct.bad_answer", f"log {self.name}: a proof hash is not 32 bytes")
        return hashes

    def compact_range(self, size: int, head: TreeHead) -> CompactRange:
        """RFC 6962 §4.8 ``get-entry-and-proof`` of entry ``size - 1`` in the head's tree:
        its audit path, checked against the head's root, holds the range."""
        if size == 0:
            return CompactRange()
        params = {"leaf_index": size - 1, "tree_size": head.size}
        data = self._http.json("ct/v1/get-entry-and-proof", params)
        entry = parse_get_entry(size - 1, data)
        path = self._hashes(data.get("audit_path"), "audit path")
        return compact_from_inclusion(size - 1, head.size, entry.leaf_hash, path, head.root)

    def entries(self, start: int, end: int, head_size: int) -> list[LogEntry]:
        # RFC 6962 §4.6: end is inclusive; a log may answer with fewer entries (its page).
        data = self._http.json("ct/v1/get-entries", {"start": start, "end": end - 1})
        items = data.get("entries")
        if not isinstance(items, list) or not items or len(items) > end - start:
            raise InvalidInput(
                "ct.bad_answer",
                f"log {self.name}: get-entries {start}-{end - 1} answered no usable entries",
            )
        return [parse_get_entry(start + i, item) for i, item in enumerate(items)]


class TiledLog:
    """A static-CT log at ``url`` (its monitoring prefix)."""

    def __init__(self, name: str, url: str, key: LogKey, client: httpx.Client) -> None:
        self._http = _Http(name, url, client)
        self._key = key
        self.name = name
        self._last: tuple[str, list[LogEntry]] = ("", [])  # a batch may end inside a tile

    def head(self) -> TreeHead:
        text = self._http.get("checkpoint").text
        return parse_checkpoint(text, self._key)[1]

    def consistency(self, first: int, second: int) -> list[bytes] | None:
        return None  # proofs are built from tiles; the compact range proves the same

    def entries(self, start: int, end: int, head_size: int) -> list[LogEntry]:
        """The data tile holding ``start``: full when the head has it whole, else the
        partial tile of the head's width (static-CT: never an arbitrary partial tile)."""
        n = start // TILE_WIDTH
        first = n * TILE_WIDTH
        path = f"tile/data/{tile_path(n)}"
        width = min(TILE_WIDTH, head_size - first)
        if width < TILE_WIDTH:
            path += f".p/{width}"
        if self._last[0] == path:
            tile = self._last[1]
        else:
            tile = list(parse_tile(first, self._http.get(path).content))
            if len(tile) != width:
                raise InvalidInput(
                    "ct.bad_answer", f"log {self.name}: data tile {n} does not hold {width} entries"
                )
            self._last = (path, tile)
        return [e for e in tile if start <= e.index < end]

    def compact_range(self, size: int, head: TreeHead) -> CompactRange:
        """The range's perfect subtrees, each read from one hash tile (c2sp.org/tlog-tiles:
        tile ``L`` holds the roots of subtrees of 256**L entries) and hashed up the few
        levels inside the tile. Not proven here: the root check when the monitor reaches a
        head proves it (and at once when ``size`` is the head's)."""
        hashes: list[bytes] = []
        start = 0
        for height in reversed(range(size.bit_length())):
            if size >> height & 1:
                hashes.append(self._node(height, start >> height, head.size))
                start += 1 << height
        return CompactRange(size, hashes)

    def _node(self, height: int, index: int, tree_size: int) -> bytes:
        level, below = divmod(height, 8)
        first, count = index << below, 1 << below  # the node's hashes at the tile level
        n = first // TILE_WIDTH
        width = min(TILE_WIDTH, (tree_size >> (8 * level)) - n * TILE_WIDTH)
        path = f"tile/{level}/{tile_path(n)}" + (f".p/{width}" if width < TILE_WIDTH else "")
        data = self._http.get(path).content
        if len(data) != 32 * width:
            raise InvalidInput(
                "ct.bad_answer", f"log {self.name}: hash tile {level}/{n} does not hold {width}"
            )
        offset = first - n * TILE_WIDTH
        nodes = [data[32 * k : 32 * k + 32] for k in range(offset, offset + count)]
        while len(nodes) > 1:
            nodes = [node_hash(nodes[k], nodes[k + 1]) for k in range(0, len(nodes), 2)]
        return nodes[0]


def reader_for(name: str, url: str, key: LogKey, *, tiled: bool, client: httpx.Client) -> LogReader:
    return TiledLog(name, url, key, client) if tiled else RfcLog(name, url, key, client)
